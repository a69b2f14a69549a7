"""CLI tests: a ``fit`` smoke run, one-line errors, the demo's bad inputs and the quick reproduce."""

import json

import pytest

from paperzoo.vggt.cli import main

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
