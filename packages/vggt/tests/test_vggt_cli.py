"""CLI tests: a ``fit`` smoke run, one-line errors, the demo's bad inputs and the quick reproduce."""

import json
from pathlib import Path

import pytest
import torch

from paperzoo.core import checked_config
from paperzoo.vggt.cli import LINKS, main
from paperzoo.vggt.data import SyntheticSceneDataModule
from paperzoo.vggt.module import VGGTModule

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

SMALL_FIT = [
    "--model.dim",
    "32",
    "--model.depth",
    "2",
    "--model.dpt_layers",
    "2",
    "--model.camera_dim",
    "32",
    "--model.camera_trunk_depth",
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


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--trainer.fast_dev_run=true", *SMALL_FIT]) == 0


def test_gpu_config_builds_the_paper_scale_model():
    """configs/gpu.yaml only runs on GPUs: check its keys against the classes and build its model on the meta
    device (no memory). Before the link, its 518-pixel views met the datamodule's default patch of 8."""
    cfg = checked_config(main, CONFIGS / "gpu.yaml", LINKS)
    assert cfg["data"]["patch_size"] == cfg["model"]["patch_size"] == 14
    SyntheticSceneDataModule(**cfg["data"])  # checks 518 against the patch; nothing is rendered before setup
    with torch.device("meta"):
        module = VGGTModule(**cfg["model"])
    aggregator = module.model.aggregator
    assert (aggregator.dim, aggregator.kinds.count("frame"), aggregator.kinds.count("global")) == (1024, 24, 24)
    # About 0.67B: the paper's 1.2B also counts its DINOv2 ViT-L encoder, which the patch stem replaces.
    assert 0.6e9 < sum(p.numel() for p in module.parameters()) < 0.75e9


def test_patch_size_is_set_once_for_model_and_data(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--trainer.fast_dev_run=true", *SMALL_FIT, "--data.patch_size", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.patch_size" in err
    assert len(err.splitlines()) == 1
    # 20-pixel views fit the model's patch of 4 but not the datamodule's default of 8: only the link lets them run.
    size_and_patch = ["--data.image_size", "20", "--model.patch_size", "4"]
    assert main(["fit", "--trainer.fast_dev_run=true", *SMALL_FIT, *size_and_patch]) == 0


def test_bad_config_value_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--model.attn_mode", "sideways", "--trainer.fast_dev_run=true", *SMALL_FIT]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("paperzoo-vggt: error:")
    assert "attn_mode" in err
    assert len(err.splitlines()) == 1


def test_image_size_not_divisible_by_patch_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--trainer.fast_dev_run=true", *SMALL_FIT, "--data.image_size", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert "divisible by the patch size 8" in err
    assert len(err.splitlines()) == 1


def test_demo_with_a_missing_image_is_one_line(capsys, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"")
    assert (
        main(
            [
                "demo",
                "--checkpoint",
                str(ckpt),
                "--left",
                str(tmp_path / "nope.png"),
                "--right",
                str(tmp_path / "nope.png"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("paperzoo-vggt: error: image file not found:")


def test_demo_without_a_checkpoint_says_what_to_do(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 2
    assert "make train PAPER=vggt" in capsys.readouterr().err


def test_unknown_ablation_mode_is_one_line(capsys):
    assert main(["ablate", "--modes", "aa", "sideways"]) == 2
    assert "sideways" in capsys.readouterr().err


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    assert main(["reproduce", "--seeds", "0", "1", "2", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "results.json").read_text())
    failed = [c["id"] for c in record["claims"] if not c["passed"]]
    assert not failed, f"claims failed: {failed}"
