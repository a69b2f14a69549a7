"""The command line and the configs: fit smoke tests, one-line errors, checkpoints, and the YAML files."""

from dataclasses import replace

import pytest
import torch
import yaml

from paperzoo.core import OptimConfig, checked_config
from paperzoo.core.config import as_config
from paperzoo.pladis import PAPER
from paperzoo.pladis.cli import main
from paperzoo.pladis.config import DataConfig, FlowConfig, ModelConfig
from paperzoo.pladis.data import ShapesDataModule
from paperzoo.pladis.module import PladisFlowModule
from paperzoo.pladis.reproduce import FULL
from paperzoo.testing import assert_one_line_error

SMALL = [
    "--model.model.dim=32",
    "--model.model.depth=1",
    "--data.data.n_train=32",
    "--data.data.n_val=16",
    "--data.data.batch_size=16",
]


def test_fit_fast_dev_run_from_the_tiny_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(PAPER.config("tiny")), "--trainer.fast_dev_run=true", *SMALL]) == 0


def test_a_fit_checkpoint_loads_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.max_epochs=1", "--trainer.max_steps=2", "--trainer.limit_val_batches=0", *SMALL]
    assert main([*args, "--model.optim.lr=0.001"]) == 0
    (ckpt,) = sorted(tmp_path.glob("runs/**/*.ckpt"))
    loaded = PladisFlowModule.load_from_checkpoint(ckpt, map_location="cpu")
    assert loaded.cfg == ModelConfig(dim=32, depth=1)
    assert loaded.optim == OptimConfig(lr=1e-3, warmup_steps=50, schedule="constant")
    assert loaded.flow_cfg == FlowConfig()
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, saved[name], rtol=0, atol=0)


def test_print_config_shows_the_nested_configs(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(PAPER.config("tiny")), "--print_config"])
    assert stop.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert set(printed["model"]) == {"model", "optim", "flow"}
    assert printed["model"]["optim"]["schedule"] == "constant"
    assert printed["data"]["data"]["n_fillers"] == 8


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["fit", "--model.model.dim", "0", "--trainer.fast_dev_run=true"], "dim: expected an int >= 1"),
        (["fit", "--model.model.heads", "5", "--trainer.fast_dev_run=true"], "heads: expected a divisor of dim"),
        (["fit", "--model.flow.cond_dropout=1.5", "--trainer.fast_dev_run=true"], "cond_dropout"),
        (["fit", "--model.optim.schedule=cyclic", "--trainer.fast_dev_run=true"], "optim.schedule"),
        (["fit", "--data.data.batch_size=0", "--trainer.fast_dev_run=true"], "batch_size"),
    ],
)
def test_bad_config_value_is_one_line(args, fragment, capsys):
    assert_one_line_error(main, args, capsys, "paperzoo-pladis: error:", fragment)


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
    err = assert_one_line_error(main, args, capsys, message)
    assert err.startswith("paperzoo-pladis: error:")


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
    cfg = checked_config(main, PAPER.config(name))
    ShapesDataModule(**cfg["data"])
    with torch.device("meta"):
        module = PladisFlowModule(**cfg["model"])
    assert low < sum(p.numel() for p in module.parameters()) < high


def test_tiny_config_is_the_base_model_of_the_experiment():
    """configs/tiny.yaml trains the experiment's base model: the same DiT, optimiser, condition dropout and
    training data (only the validation split, unused by the experiment, is larger)."""
    cfg = checked_config(main, PAPER.config("tiny"))
    assert as_config(ModelConfig, cfg["model"]["model"]) == FULL.model
    assert as_config(OptimConfig, cfg["model"]["optim"]) == FULL.optim
    assert as_config(FlowConfig, cfg["model"]["flow"]) == FULL.flow
    data = as_config(DataConfig, cfg["data"]["data"])
    assert replace(data, n_val=FULL.data.n_val) == FULL.data
