"""The CLI: a fit smoke test and one-line errors for bad input."""

from pathlib import Path

import pytest
import torch

from paperzoo.core import checked_config
from paperzoo.grmu.cli import main
from paperzoo.grmu.data import GroupShiftDataModule
from paperzoo.grmu.module import PretrainModule


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.fast_dev_run=true", "--data.n_train=400", "--data.n_val=80", "--data.n_test=80"]
    assert main(args) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["unlearn", "--ratio", "0"], "forget ratio: expected a value in (0, 1]"),
        (["unlearn", "--ratio", "1.5"], "forget ratio: expected a value in (0, 1]"),
        (["unlearn", "--forget_y", "3"], "forget group: (y=3, a=0) is not in the data"),
        (["unlearn", "--ratio", "0.0001", "--n_train", "2000"], "selects no sample"),
        (["unlearn", "--method", "bogus"], "--method: unknown method 'bogus'"),
        (["demo", "--ratio", "2"], "--ratio: expected a value in (0, 1]"),
        (["fit", "--data.p_align=1.5"], "p_align"),
    ],
)
def test_bad_input_gives_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err


def test_unlearn_with_a_missing_checkpoint_gives_one_line(capsys):
    assert main(["unlearn", "--arch", "resnet18", "--size", "32", "--weights", "/nonexistent/r18.pt"]) != 0
    err = capsys.readouterr().err.strip()
    assert "weights: no checkpoint at /nonexistent/r18.pt" in err
    assert "\n" not in err


@pytest.mark.parametrize(("name", "low", "high"), [("tiny", 1e4, 1e5), ("gpu", 11.1e6, 11.3e6)])
def test_configs_build(name, low, high):
    """Each config's keys match the classes and its model builds (on the meta device). The GPU config's model
    is ResNet-18 with a 2-class head: 11.18M parameters (torchvision's 11.69M less 998 of the 1000 classes)."""
    cfg = checked_config(main, Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml")
    GroupShiftDataModule(**cfg["data"])
    with torch.device("meta"):
        module = PretrainModule(**cfg["model"])
    assert low < sum(p.numel() for p in module.parameters()) < high
