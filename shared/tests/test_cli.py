"""The CLI base: package commands, one-line errors with exit status 2, defaults, the non-finite stop."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from paperzoo.core import CliError, checked_config, run_cli

HERE = Path(__file__).parent


def _toy():
    spec = importlib.util.spec_from_file_location("toy_cli", HERE / "toy_cli.py")
    module = importlib.util.module_from_spec(spec)
    # jsonargparse resolves the postponed annotations through sys.modules.
    sys.modules["toy_cli"] = module
    spec.loader.exec_module(module)
    return module


toy = _toy()


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / "toy_cli.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["fit", "--model.dimm=3"], "--model.dimm"),
        (["fit", "--config", "missing.yaml"], "missing.yaml"),
        (["fit", "--model.lr=abc"], "model.lr"),
        (["fit", "--data.n=-1"], "n: expected a positive number"),
        (["reproduce", "--seeds", "x"], "--seeds"),
        (["reproduce", "--unknown"], "--unknown"),
        (["demo", "--steps", "0"], "--steps must be positive"),
        (["bogus"], "unknown command 'bogus'"),
    ],
)
def test_mistakes_print_one_line_and_exit_2(args, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert toy.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("paperzoo-toy: error:")
    assert fragment in err[0]


def linked_toy(args: list[str]) -> int:
    """The toy CLI with its data width taken from the model's, as a package with ``links`` has it."""
    commands = {"reproduce": toy.reproduce, "demo": toy.demo}
    return run_cli("toy", toy.ToyModule, toy.ToyData, commands, args=args, links={"model.dim": "data.dim"})


def test_a_link_sets_the_target_from_the_source(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Model width 5 against the data's default of 4 fails in the first matmul; the link gives the data 5 too.
    assert linked_toy(["fit", "--model.dim=5", "--trainer.fast_dev_run=true", "--trainer.logger=false"]) == 0
    assert linked_toy(["fit", "--data.dim=3", "--trainer.fast_dev_run=true"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("paperzoo-toy: error:")
    assert "model.dim" in err[0]


def test_checked_config_resolves_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  dim: 6\ntrainer:\n  max_epochs: 7\n")
    cfg = checked_config(linked_toy, config, {"model.dim": "data.dim"})
    assert cfg["model"] == {"dim": 6, "lr": 0.1, "marker_dir": "", "blow_up": -1}
    assert cfg["data"] == {"n": 64, "dim": 6, "batch_size": 8}
    assert cfg["trainer"]["max_epochs"] == 7
    assert not (tmp_path / "runs").exists()  # nothing was instantiated: no logger wrote a folder


def test_checked_config_raises_the_error_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  dimm: 6\n")
    with pytest.raises(CliError, match=r"paperzoo-toy: error: .*dimm"):
        checked_config(toy.main, config)


def test_package_commands_parse_typed_options(capsys):
    assert toy.main(["reproduce", "--seeds", "3", "4", "--quick", "--out", "x"]) == 0
    assert "reproduce seeds=[3, 4] out=x quick=True" in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    assert toy.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "validate", "test", "predict", "reproduce", "demo"):
        assert f"  {command}" in out


def test_command_help_uses_the_docstring(capsys):
    with pytest.raises(SystemExit) as exit_info:
        toy.main(["reproduce", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--seeds" in out
    assert "the seeds to run" in out


def test_fit_writes_csv_logs_under_runs(tmp_path):
    result = run_script("fit", "--trainer.max_epochs=1", "--trainer.accelerator=cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = list((tmp_path / "runs" / "toy").glob("version_*/metrics.csv"))
    assert metrics, "CSV logger wrote nothing under runs/toy"
    assert "train_loss" in metrics[0].read_text()


def test_nonfinite_loss_stops_with_a_message(tmp_path):
    result = run_script("fit", "--model.blow_up=2", "--trainer.max_epochs=3", "--trainer.accelerator=cpu", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("paperzoo-toy: error:")]
    assert len(lines) == 1
    assert "loss became nan at batch 2 of epoch 0" in lines[0]


def test_checkpoint_resumes_exactly(tmp_path):
    first = run_script("fit", "--trainer.max_epochs=1", "--trainer.accelerator=cpu", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    ckpt = next((tmp_path / "runs" / "toy").glob("version_0/checkpoints/*.ckpt"))
    resumed = run_script(
        "fit", "--trainer.max_epochs=2", "--trainer.accelerator=cpu", f"--ckpt_path={ckpt}", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    straight = run_script("fit", "--trainer.max_epochs=2", "--trainer.accelerator=cpu", cwd=tmp_path)
    assert straight.returncode == 0
    import torch

    a = torch.load(next((tmp_path / "runs" / "toy").glob("version_1/checkpoints/*.ckpt")), weights_only=False)
    b = torch.load(next((tmp_path / "runs" / "toy").glob("version_2/checkpoints/*.ckpt")), weights_only=False)
    assert a["global_step"] == b["global_step"] == 16
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(value, b["state_dict"][key])
