"""CLI tests: a ``fit`` smoke run, its checkpoint, the configs, one-line errors and the demo's bad inputs."""

import json
from dataclasses import replace

import pytest
import torch

from paperzoo.core import OptimConfig, checked_config
from paperzoo.core.config import as_config
from paperzoo.testing import assert_one_line_error
from paperzoo.vggt import PAPER
from paperzoo.vggt.cli import main
from paperzoo.vggt.config import LossConfig, ModelConfig
from paperzoo.vggt.data import SyntheticSceneDataModule
from paperzoo.vggt.demo import load_module
from paperzoo.vggt.module import VGGTModule
from paperzoo.vggt.reproduce import FULL

SMALL_FIT = [
    "--config",
    str(PAPER.config("tiny")),
    "--model.model.dim",
    "32",
    "--model.model.depth",
    "2",
    "--model.model.dpt_layers",
    "2",
    "--model.model.camera_dim",
    "32",
    "--model.model.camera_trunk_depth",
    "1",
    "--data.num_train",
    "16",
    "--data.num_val",
    "8",
    "--data.image_size",
    "16",
    "--data.batch_size",
    "4",
]


def resolved(config_name: str) -> dict:
    """``checked_config`` of ``configs/<config_name>.yaml`` with the linked options filled in from their sources."""
    return checked_config(main, PAPER.config(config_name), links=PAPER.links)


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--trainer.fast_dev_run=true", *SMALL_FIT]) == 0


def test_fit_checkpoint_loads_back(tmp_path, monkeypatch):
    """A checkpoint written by ``fit`` rebuilds the module from its stored configs (plain dicts)."""
    monkeypatch.chdir(tmp_path)
    few_steps = ["--trainer.max_steps", "2", "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "0"]
    assert main(["fit", *SMALL_FIT, "--model.loss.track_weight", "0.1", *few_steps]) == 0
    (path,) = sorted(tmp_path.glob("runs/vggt/**/checkpoints/*.ckpt"))
    module, _, image_size = load_module(path)
    assert image_size == 16
    small = replace(FULL.model, dim=32, depth=2, dpt_layers=2, camera_dim=32, camera_trunk_depth=1)
    assert module.model_config == small
    assert module.loss_config == LossConfig(track_weight=0.1)
    assert module.optim_config == FULL.optim
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    for name, value in module.state_dict().items():
        torch.testing.assert_close(value, state[name])


def test_print_config_shows_the_nested_configs(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(PAPER.config("tiny")), "--model.optim.lr", "0.002", "--print_config"])
    assert stop.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "model:\n  model:\n    patch_size: 8\n" in printed
    assert "lr: 0.002" in printed


def test_tiny_config_trains_the_experiments_aa_model():
    """configs/tiny.yaml is the acceptance experiment's AA arm: same model, loss, optimiser, data and steps."""
    cfg = resolved("tiny")
    assert as_config(ModelConfig, cfg["model"]["model"]) == FULL.model
    assert as_config(LossConfig, cfg["model"]["loss"]) == FULL.loss
    assert as_config(OptimConfig, cfg["model"]["optim"]) == FULL.optim
    data = {k: cfg["data"][k] for k in ("num_train", "num_val", "image_size", "num_views", "num_tracks", "batch_size")}
    assert data == {k: getattr(FULL, k) for k in data}
    assert cfg["data"]["patch_size"] == FULL.model.patch_size
    assert (cfg["trainer"]["max_steps"], cfg["trainer"]["gradient_clip_val"]) == (FULL.steps, 0.25)


def test_gpu_config_builds_the_paper_scale_model():
    """configs/gpu.yaml only runs on GPUs: check its keys against the classes and build its model on the meta
    device (no memory). Before the link, its 518-pixel views met the datamodule's default patch of 8."""
    cfg = resolved("gpu")
    assert cfg["data"]["patch_size"] == cfg["model"]["model"]["patch_size"] == 14
    assert cfg["data"]["image_size"] == 518
    SyntheticSceneDataModule(**cfg["data"])  # checks 518 against the patch; nothing is rendered before setup
    with torch.device("meta"):
        module = VGGTModule(**cfg["model"])
    aggregator = module.model.aggregator
    assert (aggregator.dim, aggregator.kinds.count("frame"), aggregator.kinds.count("global")) == (1024, 24, 24)
    assert module.optim_config == OptimConfig(lr=2e-4, weight_decay=0.05, betas=(0.9, 0.95), warmup_steps=8000)
    # About 0.67B: the paper's 1.2B also counts its DINOv2 ViT-L encoder, which the patch stem replaces.
    assert 0.6e9 < sum(p.numel() for p in module.parameters()) < 0.75e9


def test_patch_size_is_set_once_for_model_and_data(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(
        main, ["fit", "--trainer.fast_dev_run=true", *SMALL_FIT, "--data.patch_size", "4"], capsys, "model.patch_size"
    )
    # 20-pixel views fit the model's patch of 4 but not the datamodule's default of 8: only the link lets them run.
    size_and_patch = ["--data.image_size", "20", "--model.model.patch_size", "4"]
    assert main(["fit", "--trainer.fast_dev_run=true", *SMALL_FIT, *size_and_patch]) == 0


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--model.model.attn_mode", "sideways", "attn_mode"),
        ("--model.model.dim", "0", "dim: expected an integer >= 1, got 0"),
        ("--model.loss.camera_loss", "l3", "camera_loss"),
        ("--model.optim.lr", "-1", "optim.lr"),
    ],
)
def test_bad_config_value_is_one_line(option, value, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = assert_one_line_error(
        main, ["fit", "--trainer.fast_dev_run=true", *SMALL_FIT, option, value], capsys, fragment
    )
    assert err.startswith("paperzoo-vggt: error:")


def test_image_size_not_divisible_by_patch_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.fast_dev_run=true", *SMALL_FIT, "--data.image_size", "20"]
    assert_one_line_error(main, args, capsys, "divisible by the patch size 8")


def test_demo_with_a_missing_image_is_one_line(capsys, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"")
    missing = str(tmp_path / "nope.png")
    args = ["demo", "--checkpoint", str(ckpt), "--left", missing, "--right", missing]
    err = assert_one_line_error(main, args, capsys)
    assert err.startswith("paperzoo-vggt: error: image file not found:")


def test_demo_without_a_checkpoint_says_what_to_do(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(main, ["demo"], capsys, "make train PAPER=vggt")


def test_unknown_ablation_mode_is_one_line(capsys):
    assert_one_line_error(main, ["ablate", "--modes", "aa", "sideways"], capsys, "sideways")


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    assert main(["reproduce", "--seeds", "0", "1", "2", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "results.json").read_text())
    failed = [c["id"] for c in record["claims"] if not c["passed"]]
    assert not failed, f"claims failed: {failed}"
