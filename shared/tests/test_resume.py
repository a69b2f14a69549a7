"""reproduce survives interruption and divergence: stages resume, outputs are atomic, a NaN arm is a result."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import paperzoo.eval.results as results_module
from paperzoo.eval import Claim, ResultsRecord, write_results

HERE = Path(__file__).parent


def start(tmp_path: Path, out: Path, *extra: str, block: bool = False, nan: str = "") -> subprocess.Popen:
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        PYTHONPATH=str(HERE),
        PAPERZOO_CACHE=str(tmp_path / "cache"),
        RESUME_TOY_MARKS=str(marks),
        RESUME_TOY_BLOCK=str(tmp_path / "go") if block else "",
        RESUME_TOY_NAN=nan,
        OMP_NUM_THREADS="1",
        # Library deprecation warnings would share stderr with the one line under test.
        PYTHONWARNINGS="ignore",
    )
    command = [sys.executable, str(HERE / "resume_toy.py"), "reproduce", "--seeds", "0", "1", "--out", str(out), *extra]
    # A pytest-xdist worker ignores SIGINT, and a child would inherit that: give it the default handling back, so
    # that Python turns SIGINT into KeyboardInterrupt as it does in a terminal.
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def computed(tmp_path: Path, seed: int, arm: str) -> int:
    path = tmp_path / "marks" / f"computed-{seed}-{arm}"
    return len(path.read_text().splitlines()) if path.exists() else 0


def per_seed(out: Path) -> dict:
    return {c["id"]: c["per_seed"] for c in json.loads((out / "results.json").read_text())["claims"]}


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_resumes_from_its_finished_stages(tmp_path, how):
    out = tmp_path / "out"
    proc = start(tmp_path, out, block=True)
    wait_for(tmp_path / "marks" / "started-0-b", proc)  # arm a of seed 0 is finished and cached
    proc.send_signal(how)
    _, err = proc.communicate(timeout=120)
    if how == signal.SIGINT:
        assert proc.returncode == 130
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert "1 finished stage(s) kept" in lines[0]
        assert "resume with: " in lines[0]
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not (out / "results.json").exists()
    assert not list(out.glob(".*.tmp")) if out.exists() else True
    (tmp_path / "go").touch()
    again = start(tmp_path, out)
    stdout, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "seed 0: a: cached" in stdout
    assert computed(tmp_path, 0, "a") == 1  # not recomputed
    assert computed(tmp_path, 0, "b") == 1
    fresh = start(tmp_path, tmp_path / "fresh", "--fresh")
    assert fresh.communicate(timeout=300)[0].count("cached") == 0
    assert fresh.returncode == 0
    assert computed(tmp_path, 0, "a") == 2
    assert per_seed(out) == per_seed(tmp_path / "fresh")


def test_a_diverging_arm_is_a_failed_claim_not_a_crash(tmp_path):
    out = tmp_path / "out"
    proc = start(tmp_path, out, nan="b")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    record = json.loads((out / "results.json").read_text())
    claims = {c["id"]: c for c in record["claims"]}
    assert claims["a-fits"]["passed"]  # the other arm ran on, on every seed
    assert all(math.isnan(v) for v in claims["a-beats-b"]["per_seed"]["b"])
    assert not claims["a-beats-b"]["passed"]
    md = (out / "results.md").read_text()
    assert "non-finite values: an arm diverged" in md
    assert "## Diverged arms" in md
    assert "seed 1: b: the training loss became non-finite" in md


def test_a_killed_write_leaves_the_previous_results(tmp_path, monkeypatch):
    claim = Claim("c", "d", metric="m", method="a", baseline=None, per_seed={"a": [1.0]}, margin=0.5)
    write_results(ResultsRecord("toy", "t", "cmd", [0], [claim]), tmp_path)
    before = (tmp_path / "results.json").read_text()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(results_module.os, "replace", killed)
    changed = Claim("c", "d", metric="m", method="a", baseline=None, per_seed={"a": [0.0]}, margin=0.5)
    with pytest.raises(KeyboardInterrupt):
        write_results(ResultsRecord("toy", "t", "cmd", [0], [changed]), tmp_path)
    assert (tmp_path / "results.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]
