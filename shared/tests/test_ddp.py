"""Distributed training stays honest: two CPU processes (gloo DDP) through the CLI base both train."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def test_cpu_ddp_trains_on_both_ranks(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / "toy_cli.py"),
            "fit",
            "--trainer.accelerator=cpu",
            "--trainer.devices=2",
            "--trainer.strategy=ddp",
            "--trainer.max_epochs=1",
            "--trainer.enable_progress_bar=false",
            f"--model.marker_dir={markers}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = sorted(p.name for p in markers.glob("rank*.txt"))
    assert ranks == ["rank0.txt", "rank1.txt"]
    steps, pids = {}, set()
    for path in markers.glob("rank*.txt"):
        rows = [line.split() for line in path.read_text().splitlines()]
        steps[path.name] = [int(r[0]) for r in rows]
        pids |= {r[1] for r in rows}
        assert all(r[2] == "2" for r in rows), "world size should be 2"
    # 64 samples, batch 8, split over 2 ranks: 4 optimiser steps on each rank, in two processes.
    assert steps["rank0.txt"] == steps["rank1.txt"] == [0, 1, 2, 3]
    assert len(pids) == 2
