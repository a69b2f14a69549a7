"""The local benchmark loaders (Waterbirds, CelebA) on small folders built here in the official layouts."""

import json
import sys
from dataclasses import replace

import pytest
import torch
from PIL import Image

import paperzoo.grmu.reproduce as reproduce_module
from paperzoo.grmu.cli import main
from paperzoo.grmu.config import DataConfig, TrainConfig, UnlearnConfig
from paperzoo.grmu.data import forget_split, make_splits
from paperzoo.grmu.local_data import load_local_splits
from paperzoo.grmu.reproduce import quick_config
from paperzoo.testing import assert_one_line_error

# (split, y, a) of every image; every split holds all four groups.
ROWS = [(s, y, a) for s in (0, 1, 2) for y in (0, 1) for a in (0, 1) for _ in range(3)]


def _image(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 24), colour).save(path)


@pytest.fixture
def waterbirds(tmp_path):
    lines = ["img_id,img_filename,y,split,place,place_filename"]
    for i, (s, y, a) in enumerate(ROWS):
        name = f"{i:03d}.Bird/img_{i}.jpg"
        # The red channel carries y and the green one a, so the test can read the labels back off the pixels.
        _image(tmp_path / name, (200 * y, 200 * a, 50))
        lines.append(f"{i},{name},{y},{s},{a},/place/{i}.jpg")
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def _sign(v):
    return "1" if v else "-1"


@pytest.fixture
def celeba(tmp_path):
    names = ["5_o_Clock_Shadow", "Attractive", "Male", "Young"]
    attr, part = [str(len(ROWS)), " ".join(names)], []
    for i, (s, y, a) in enumerate(ROWS):
        name = f"{i + 1:06d}.jpg"
        _image(tmp_path / "img_align_celeba" / name, (200 * y, 200 * a, 50))
        attr.append(f"{name} -1 {_sign(y)}  {_sign(a)} 1")
        part.append(f"{name} {s}")
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(attr) + "\n")
    (tmp_path / "list_eval_partition.txt").write_text("\n".join(part) + "\n")
    return tmp_path


@pytest.mark.parametrize("kind", ["waterbirds", "celeba"])
def test_loader_reads_splits_labels_and_pixels(kind, request):
    root = request.getfixturevalue(kind)
    splits = load_local_splits(kind, root, size=8)
    for name in ("train", "val", "test"):
        data = splits[name]
        assert data.x.shape == (12, 3, 8, 8)
        assert data.x.dtype == torch.float32
        assert torch.bincount(data.g, minlength=4).tolist() == [3, 3, 3, 3]
        # Labels and pixels stay paired: red encodes y, green encodes a.
        torch.testing.assert_close(data.x[:, 0].mean((1, 2)), data.y.float() * 200 / 255, atol=0.01, rtol=0)
        torch.testing.assert_close(data.x[:, 1].mean((1, 2)), data.a.float() * 200 / 255, atol=0.01, rtol=0)


def test_make_splits_caps_local_splits_and_the_forget_split_works(waterbirds):
    capped = DataConfig(kind="waterbirds", root=str(waterbirds), n_train=8, n_val=4, n_test=12, size=8)
    splits = make_splits(capped, seed=1)
    assert [len(splits[n]) for n in ("train", "val", "test")] == [8, 4, 12]
    again = make_splits(capped, seed=1)
    assert torch.equal(splits["train"].x, again["train"].x)
    full = make_splits(DataConfig(kind="waterbirds", root=str(waterbirds), size=8))
    forget, retain = forget_split(full["train"], (1, 0), 1.0, torch.Generator().manual_seed(0))
    assert forget.numel() == 3
    assert retain.numel() == 9


def test_celeba_attributes_are_chosen_by_name(celeba):
    young = load_local_splits("celeba", celeba, size=8, target="Young")["train"]
    assert young.y.tolist() == [1] * 12  # "Young" is 1 for every image here
    with pytest.raises(ValueError, match="sensitive: 'Bald' is not a CelebA attribute; expected one of"):
        load_local_splits("celeba", celeba, size=8, sensitive="Bald")


def test_missing_files_name_the_file(waterbirds, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError, match=r"metadata\.csv"):
        load_local_splits("waterbirds", empty)
    with pytest.raises(FileNotFoundError, match=r"list_attr_celeba\.txt"):
        load_local_splits("celeba", empty)
    next(waterbirds.glob("000.Bird/*.jpg")).unlink()
    with pytest.raises(FileNotFoundError, match=r"image file not found: .*img_0\.jpg"):
        load_local_splits("waterbirds", waterbirds)
    with pytest.raises(ValueError, match="root: expected the folder kind 'celeba' reads its data from"):
        DataConfig(kind="celeba")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "waterbirds"], "root: expected the folder kind 'waterbirds' reads its data from"),
        (["--kind", "waterbirds", "--root", "/nonexistent/wb"], "root: /nonexistent/wb is not a folder"),
        (["--kind", "imagenet"], "kind: expected one of groupshift, digits, waterbirds, celeba"),
    ],
)
def test_unlearn_on_a_bad_local_benchmark_gives_one_line(args, message, capsys):
    assert_one_line_error(main, ["unlearn", *args], capsys, message)


def test_unlearn_runs_on_a_local_benchmark(waterbirds, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))
    assert main(["unlearn", "--method", "finetune_rw", "--kind", "waterbirds", "--root", str(waterbirds)]) == 0
    out = capsys.readouterr().out
    assert "original" in out
    assert "finetune_rw" in out
    assert "GA" in out


def test_reproduce_runs_on_a_local_benchmark_into_its_own_folder(waterbirds, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))
    # The quick experiment's budget, cut down: the data are twelve images a split.
    small = replace(
        quick_config(),
        probe_batches=10,
        train=TrainConfig(epochs=2),
        unlearn=UnlearnConfig(epochs=2, forgetting_epochs=1, mine_warmup_batches=5, mine_batches=2, mine_hidden=32),
    )
    monkeypatch.setattr(reproduce_module, "quick_config", lambda: small)
    args = ["reproduce", "--quick", "--seeds", "0", "--kind", "waterbirds", "--root", str(waterbirds)]
    assert_one_line_error(main, args, capsys, "--out: required")
    out = tmp_path / "wb"
    args = [
        "reproduce",
        "--quick",
        "--seeds",
        "0",
        "--kind",
        "waterbirds",
        "--root",
        str(waterbirds),
        "--out",
        str(out),
    ]
    # The run records the command it was started with.
    monkeypatch.setattr(sys, "argv", ["paperzoo-grmu", *args])
    assert main(args) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["data"]["kind"] == "waterbirds"
    assert "--kind waterbirds" in record["command"]
    assert {c["id"] for c in record["claims"]} >= {"A-retrain-hurts-group", "C1-miu-ga", "D2-miu-calibration"}


def test_fit_reads_a_local_benchmark(waterbirds, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.fast_dev_run=true", "--data.data.kind=waterbirds", f"--data.data.root={waterbirds}"]
    assert main(args) == 0


def test_unlearn_names_celeba_attributes(celeba, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PAPERZOO_CACHE", str(tmp_path / "cache"))
    args = ["unlearn", "--kind", "celeba", "--root", str(celeba), "--forget_a", "1", "--method", "finetune"]
    assert main([*args, "--sensitive", "Bald"]) != 0
    assert "sensitive: 'Bald' is not a CelebA attribute" in capsys.readouterr().err
    assert main([*args, "--target", "Attractive"]) == 0
