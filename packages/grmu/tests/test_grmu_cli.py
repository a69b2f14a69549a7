"""The CLI and the configs: fit, --print_config, checkpoints, one-line errors, and tiny.yaml = the experiment."""

import pytest
import torch

from paperzoo.core import checked_config
from paperzoo.core.config import as_config
from paperzoo.grmu import PAPER
from paperzoo.grmu.cli import main
from paperzoo.grmu.config import DataConfig, ModelConfig, SGDConfig
from paperzoo.grmu.experiment import ExperimentConfig
from paperzoo.grmu.module import PretrainModule
from paperzoo.testing import assert_one_line_error

SMALL_DATA = ["--data.data.n_train=400", "--data.data.n_val=80", "--data.data.n_test=80"]


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(PAPER.config("tiny")), "--trainer.fast_dev_run=true", *SMALL_DATA]) == 0


def test_fit_checkpoint_loads_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.max_steps=2", "--trainer.limit_val_batches=1", "--model.model.width=4", *SMALL_DATA]
    assert main(args) == 0
    (ckpt,) = tmp_path.glob("runs/grmu/version_0/checkpoints/*.ckpt")
    module = PretrainModule.load_from_checkpoint(ckpt)
    assert module.cfg == ModelConfig(width=4)
    assert module.optim == SGDConfig()
    assert module.forget_group == (1, 0)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    for key, value in module.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_image_side_is_set_once_for_data_and_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.max_steps=1", "--trainer.limit_val_batches=1", "--data.data.size=20", *SMALL_DATA]
    assert main(args) == 0
    (ckpt,) = tmp_path.glob("runs/grmu/version_0/checkpoints/*.ckpt")
    assert PretrainModule.load_from_checkpoint(ckpt).cfg.size == 20


def test_print_config_shows_the_nested_configs():
    cfg = checked_config(main, PAPER.config("tiny"))
    assert cfg["model"]["model"]["feat_dim"] == 64
    assert cfg["model"]["optim"]["lr"] == 0.05
    assert cfg["data"]["data"]["n_train"] == 20000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["unlearn", "--ratio", "0"], "ratio: expected a value in (0, 1]"),
        (["unlearn", "--ratio", "1.5"], "ratio: expected a value in (0, 1]"),
        (["unlearn", "--forget_y", "3"], "forget group: (y=3, a=0) is not in the data"),
        (["unlearn", "--ratio", "0.0001", "--n_train", "2000"], "selects no sample"),
        (["unlearn", "--method", "bogus"], "--method: unknown method 'bogus'"),
        (["unlearn", "--arch", "resnet18"], "size: expected at least 32 px for ResNet-18, got 16"),
        (["demo", "--ratio", "2"], "--ratio: expected a value in (0, 1]"),
        (["fit", "--data.data.p_align=1.5"], "p_align: expected a probability in (0.5, 1), got 1.5"),
        (["fit", "--model.model.feat_dim", "0"], "feat_dim: expected a positive value, got 0"),
        (["fit", "--model.model.arch", "vit"], "arch: expected one of cnn, resnet18, got 'vit'"),
        (["fit", "--data.data.size", "18"], "size: expected a multiple of 4 for the CNN, got 18"),
        (["fit", "--model.model.size", "32"], 'Linked "model.model.size" must be given via "data.data.size"'),
        (["fit", "--model.optim.lr", "-1"], "lr: expected a positive value, got -1"),
        (["fit", "--data.batch_size", "0"], "batch_size: expected a positive integer, got 0"),
    ],
)
def test_bad_input_gives_one_line(args, message, capsys):
    assert_one_line_error(main, args, capsys, message)


def test_unlearn_with_a_missing_checkpoint_gives_one_line(capsys):
    args = ["unlearn", "--arch", "resnet18", "--size", "32", "--weights", "/nonexistent/r18.pt"]
    assert_one_line_error(main, args, capsys, "weights: no checkpoint at /nonexistent/r18.pt")


@pytest.mark.parametrize(("name", "low", "high"), [("tiny", 1e4, 1e5), ("gpu", 11.1e6, 11.3e6)])
def test_configs_build(name, low, high):
    """Each config's keys match the classes and its model builds (on the meta device). The GPU config's model
    is ResNet-18 with a 2-class head: 11.18M parameters (torchvision's 11.69M less 998 of the 1000 classes)."""
    cfg = checked_config(main, PAPER.config(name), links=PAPER.links)
    data = as_config(DataConfig, cfg["data"]["data"])
    with torch.device("meta"):
        module = PretrainModule(**cfg["model"])
    assert module.cfg.size == data.size
    assert low < sum(p.numel() for p in module.parameters()) < high


def test_tiny_config_is_what_reproduce_pretrains():
    """``make train`` (fit on configs/tiny.yaml) trains the experiment's original model: the same classifier,
    optimiser and schedule, epochs, batch size, data and forget group."""
    cfg = checked_config(main, PAPER.config("tiny"), links=PAPER.links)
    experiment = ExperimentConfig()
    assert as_config(ModelConfig, cfg["model"]["model"]) == experiment.model
    assert as_config(SGDConfig, cfg["model"]["optim"]) == experiment.train.optim
    assert tuple(cfg["model"]["forget_group"]) == experiment.forget_group
    assert as_config(DataConfig, cfg["data"]["data"]) == experiment.data
    assert cfg["data"]["batch_size"] == experiment.train.batch_size
    assert cfg["trainer"]["max_epochs"] == experiment.train.epochs
