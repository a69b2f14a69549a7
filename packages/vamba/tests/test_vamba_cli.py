"""CLI tests: the fit smoke test, the configs, checkpoints, bad input as one-line errors, and the bad-tensor
ValueErrors."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from paperzoo.core import checked_config
from paperzoo.core.config import as_config
from paperzoo.testing import assert_one_line_error
from paperzoo.vamba import PAPER
from paperzoo.vamba.cli import main
from paperzoo.vamba.config import ModelConfig, SynthHourConfig
from paperzoo.vamba.data import VOCAB_SIZE, SynthHourDataModule, collate, make_sample
from paperzoo.vamba.model import TinyLMM
from paperzoo.vamba.module import VambaModule
from paperzoo.vamba.reproduce import FULL


def _in_process_peak_memory(monkeypatch) -> None:
    """Measure peak memory in this process instead of a fresh one per point (each costs an interpreter start,
    torch included); :func:`test_peak_memory_child_prints_both_measures` covers the fresh-process side."""
    from paperzoo.vamba import efficiency

    def peak(arch: str, frames: int) -> dict[str, float]:
        torch.manual_seed(0)
        cfg = efficiency.bench_config(frames)
        model = efficiency.build_model(arch, cfg)
        inputs = efficiency.sample_inputs(cfg, frames)
        return {"peak_mib": efficiency.peak_tensor_memory(model, inputs), "rss_peak_mib": float("nan")}

    monkeypatch.setattr(efficiency, "peak_memory", peak)


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["fit", "--trainer.fast_dev_run=true", "--data.batch_size=2", "--trainer.enable_progress_bar=false"])
    assert rc == 0


def test_fit_checkpoint_loads_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.max_steps=1", "--trainer.limit_val_batches=0", "--data.batch_size=2",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            "--model.model.d_model=32", "--model.model.vit_dim=32", "--model.model.mlp_hidden=64",
            "--model.arch=ca_only", "--model.stage=1"]  # fmt: skip
    assert main(args) == 0
    (ckpt,) = tmp_path.glob("runs/vamba/version_0/checkpoints/*.ckpt")
    module = VambaModule.load_from_checkpoint(ckpt)
    assert module.arch == "ca_only"
    assert module.stage == 1
    assert module.cfg.d_model == 32
    assert not module.cfg.use_mixer
    assert module.optim.lr == 0.002
    assert module.optim.warmup_steps == 20
    state = torch.load(ckpt, weights_only=False)["state_dict"]
    for name, value in module.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_print_config_shows_the_nested_model(capsys):
    try:
        status = main(["fit", "--print_config"])
    except SystemExit as stop:  # jsonargparse exits once the config is printed
        status = stop.code
    assert status in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["model"]["d_model"] == 96
    assert printed["model"]["optim"]["lr"] == 0.002
    assert "frame_size" not in printed["data"]  # linked: set by model.model.frame_size


def test_bench_rejects_non_positive_frames(capsys):
    assert_one_line_error(main, ["bench", "--frames", "16,0"], capsys, "--frames", "positive")
    assert_one_line_error(main, ["bench", "--frames", "-4"], capsys, "--frames")


def test_bench_runs_small(capsys, monkeypatch):
    _in_process_peak_memory(monkeypatch)
    assert main(["bench", "--frames", "2,4"]) == 0
    out = capsys.readouterr().out
    assert "vamba" in out
    assert "transformer" in out
    assert "attention backend" in out


def test_peak_memory_child_prints_both_measures(capsys):
    from paperzoo.vamba.efficiency import peak_memory_child

    torch_threads = torch.get_num_threads()
    try:
        peak_memory_child("vamba", 2)
    finally:
        torch.set_num_threads(torch_threads)
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(row) == {"peak_mib", "rss_peak_mib"}
    assert row["peak_mib"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_bench_on_cuda_without_cuda_is_one_line(capsys):
    assert_one_line_error(main, ["bench", "--frames", "4", "--device", "cuda"], capsys, "--device cuda")
    assert_one_line_error(main, ["bench", "--frames", "4", "--device", "tpu"], capsys, "--device")
    assert_one_line_error(main, ["bench", "--frames", "4", "--scale", "gpu"], capsys, "--scale gpu")


def test_gpu_scale_bench_uses_the_gpu_config_model():
    from paperzoo.vamba.efficiency import gpu_scale_config

    model = yaml.safe_load(PAPER.config("gpu").read_text())["model"]["model"]
    cfg = gpu_scale_config(4096)
    for key in ("d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_hidden", "vit_dim", "d_state", "headdim",
                "chunk_size", "frame_size"):  # fmt: skip
        assert getattr(cfg, key) == model[key], key
    assert cfg.max_frames == 4096
    assert cfg.vocab_size == VOCAB_SIZE


@pytest.mark.parametrize("name", ["tiny", "gpu"])
def test_configs_build_with_frames_at_the_models_size(name):
    """Each config's keys match the classes, its frames are rendered at the model's frame size (one option
    sets both, through the link ``model.model.frame_size -> data.frame_size``), and its model builds (on the
    meta device: no memory for the GPU model)."""
    cfg = checked_config(main, PAPER.config(name), PAPER.links)
    data = SynthHourDataModule(**cfg["data"])
    assert data.cfg.frame_size == cfg["model"]["model"]["frame_size"]
    with torch.device("meta"):
        module = VambaModule(**cfg["model"])
    assert module.cfg.frame_size == data.cfg.frame_size
    assert sum(p.numel() for p in module.parameters()) > 0


def test_tiny_config_is_the_experiments_model():
    cfg = checked_config(main, PAPER.config("tiny"), PAPER.links)
    assert as_config(ModelConfig, cfg["model"]["model"]) == FULL.model
    assert cfg["data"]["frames"] == FULL.frames
    assert ModelConfig().vocab_size == VOCAB_SIZE


def test_commands_point_at_where_they_live():
    commands = PAPER.load_commands()
    assert set(commands) == {"reproduce", "demo", "bench", "convert"}
    for name, fn in commands.items():
        assert PAPER.commands[name] == f"{fn.__module__}:{fn.__name__}"


def test_frame_size_is_set_once_for_model_and_data(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--trainer.fast_dev_run=true", "--data.frame_size", "16"]
    assert_one_line_error(main, args, capsys, "model.model.frame_size")


def test_device_sweep_times_both_archs_and_stops_an_arch_after_out_of_memory(monkeypatch):
    from paperzoo.vamba import efficiency

    rows = efficiency.sweep_on_device([2, 1], torch.device("cpu"), repeats=1)
    for arch in ("vamba", "transformer"):
        assert list(rows[arch]) == [1, 2]
        assert all(r["time_s"] > 0 and r["oom"] == 0.0 for r in rows[arch].values())
        assert rows[arch][2]["tokens"] == 2 * 16

    calls = []

    def fake(arch, cfg, frames, device, repeats=1):
        calls.append((arch, frames))
        oom = arch == "transformer" and frames >= 4
        return {"time_s": float("nan") if oom else 1.0, "peak_mib": 1.0, "oom": float(oom)}

    monkeypatch.setattr(efficiency, "bench_on_device", fake)
    rows = efficiency.sweep_on_device([2, 4, 8], torch.device("cpu"))
    assert ("transformer", 8) not in calls
    assert ("vamba", 8) in calls
    assert rows["transformer"][8]["oom"] == 1.0
    assert rows["vamba"][8]["oom"] == 0.0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model.arch=lstm"], "arch"),
        (["--model.model.d_model", "0"], "d_model"),
        (["--model.model.patch_size", "5"], "patch_size"),
        (["--model.optim.lr", "-1"], "lr"),
        (["--model.stage", "3"], "stage"),
    ],
)
def test_bad_config_value_is_one_line(capsys, args, fragment):
    assert_one_line_error(main, ["fit", *args, "--trainer.fast_dev_run=true"], capsys, fragment)


def test_video_longer_than_max_frames_raises():
    model = TinyLMM(ModelConfig(max_frames=8))
    with pytest.raises(ValueError, match=r"max_frames = 8.*\(batch, T <= 8, 3, 32, 32\)"):
        model(torch.zeros(1, 9, 3, 32, 32), torch.zeros(1, 10, dtype=torch.long))


def test_untileable_frames_raise():
    model = TinyLMM(ModelConfig())
    with pytest.raises(ValueError, match=r"cannot be tiled.*expected shape"):
        model(torch.zeros(1, 4, 3, 30, 30), torch.zeros(1, 10, dtype=torch.long))


def test_packed_batch_without_seq_idx_raises():
    model = TinyLMM(ModelConfig(frame_size=16))
    cfg = SynthHourConfig(frames=4, frame_size=16)
    batch = collate([make_sample(cfg, 0, "train", i) for i in range(2)], pack=2)
    with pytest.raises(ValueError, match=r"frame_seq_idx of shape \(batch, T\)"):
        model(batch["frames"], batch["text"], packed=True)


def test_convert_command_copies_self_attention(tmp_path, capsys):
    import dataclasses

    from paperzoo.vamba.baselines import TransformerLMM

    cfg = ModelConfig(d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, mlp_hidden=32, vit_dim=32, vit_heads=2)
    transformer = TransformerLMM(cfg)
    src, out = tmp_path / "t.pt", tmp_path / "v.pt"
    torch.save({"cfg": dataclasses.asdict(cfg), "state_dict": transformer.state_dict()}, src)
    assert main(["convert", "--source", str(src), "--out", str(out)]) == 0
    state = torch.load(out, weights_only=False)["state_dict"]
    assert torch.equal(state["layers.0.cross_attn.k_proj.weight"], transformer.layers[0].self_attn.k_proj.weight)
    capsys.readouterr()
    assert_one_line_error(main, ["convert", "--source", str(tmp_path / "missing.pt"), "--out", str(out)], capsys,
                          "--source")  # fmt: skip
