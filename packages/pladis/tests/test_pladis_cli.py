"""The command line: a fit smoke test and one-line errors for bad PLADIS arguments and prompts."""

from pathlib import Path

import pytest
import torch

from paperzoo.core import checked_config
from paperzoo.pladis.cli import main
from paperzoo.pladis.data import ShapesDataModule
from paperzoo.pladis.module import PladisFlowModule


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "fit",
            "--trainer.fast_dev_run=true",
            "--model.dim=32",
            "--model.depth=1",
            "--data.n_train=64",
            "--data.n_val=32",
            "--data.batch_size=16",
        ]
    )
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "--alpha", "1.0"], "alpha: expected a finite number > 1"),
        (["sample", "--lam", "-1"], "lam: expected a finite number >= 0"),
        (["sample", "--prompt", "purple circle left zzz"], "unknown words ['purple', 'zzz']"),
        (["evaluate", "--sweep-lam", "0,x"], "--sweep-lam"),
        (["evaluate", "--alpha", "0.5"], "alpha"),
        (["sample", "--lambda_convention", "odd"], "lambda_convention"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("paperzoo-pladis: error:")
    assert message in err


def test_bad_config_value_is_one_line(capsys):
    assert main(["fit", "--model.cond_dropout=1.5", "--trainer.fast_dev_run=true"]) == 2
    assert "cond_dropout" in capsys.readouterr().err


def test_demo_prints_the_three_attention_rows(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "entmax15" in out
    assert "PLADIS" in out
    assert "direction error" in out


@pytest.mark.parametrize(("name", "low", "high"), [("tiny", 0.9e6, 1.1e6), ("gpu", 25e6, 35e6)])
def test_configs_build(name, low, high):
    """Each config's keys match the classes and its model builds (on the meta device): about 1.0M parameters
    for the tiny DiT of the README, about 30M for the GPU config's width 384 and 8 blocks."""
    cfg = checked_config(main, Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml")
    ShapesDataModule(**cfg["data"])
    with torch.device("meta"):
        module = PladisFlowModule(**cfg["model"])
    assert low < sum(p.numel() for p in module.parameters()) < high
