"""CLI tests: the fit smoke test, bad input as one-line errors, and the bad-tensor ValueErrors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paperzoo.core import checked_config
from paperzoo.vamba.cli import LINKS, main
from paperzoo.vamba.data import SynthHourConfig, SynthHourDataModule, collate, make_sample
from paperzoo.vamba.model import LMMConfig, TinyLMM
from paperzoo.vamba.module import VambaModule


def test_fit_fast_dev_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["fit", "--trainer.fast_dev_run=true", "--data.batch_size=2", "--trainer.enable_progress_bar=false"])
    assert rc == 0


def test_bench_rejects_non_positive_frames(capsys):
    assert main(["bench", "--frames", "16,0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--frames" in err[0]
    assert "positive" in err[0]
    assert main(["bench", "--frames", "-4"]) == 2


def test_bench_runs_small(capsys):
    assert main(["bench", "--frames", "2,4"]) == 0
    out = capsys.readouterr().out
    assert "vamba" in out
    assert "transformer" in out
    assert "attention backend" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_bench_on_cuda_without_cuda_is_one_line(capsys):
    assert main(["bench", "--frames", "4", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--device cuda" in err[0]
    assert main(["bench", "--frames", "4", "--device", "tpu"]) == 2
    assert main(["bench", "--frames", "4", "--scale", "gpu"]) == 2


def test_gpu_scale_bench_uses_the_gpu_config_model():
    import yaml

    from paperzoo.vamba.efficiency import GPU_CONFIG, gpu_scale_config

    model = yaml.safe_load(GPU_CONFIG.read_text())["model"]
    cfg = gpu_scale_config(4096)
    for key in ("d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_hidden", "d_state", "headdim", "chunk_size"):
        assert getattr(cfg, key) == model[key], key
    assert cfg.frame_size == model["frame_size"]
    assert cfg.max_frames == 4096


@pytest.mark.parametrize("name", ["tiny", "gpu"])
def test_configs_build_with_frames_at_the_models_size(name):
    """Each config's keys match the classes, its frames are rendered at the model's frame size (one option
    sets both), and its model builds (on the meta device: no memory for the GPU model)."""
    cfg = checked_config(main, Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml", LINKS)
    data = SynthHourDataModule(**cfg["data"])
    assert data.cfg.frame_size == cfg["model"]["frame_size"]
    with torch.device("meta"):
        module = VambaModule(**cfg["model"])
    assert sum(p.numel() for p in module.parameters()) > 0


def test_frame_size_is_set_once_for_model_and_data(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--trainer.fast_dev_run=true", "--data.frame_size", "16"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.frame_size" in err
    assert len(err.splitlines()) == 1


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


def test_bad_config_value_is_one_line(capsys):
    assert main(["fit", "--model.arch=lstm", "--trainer.fast_dev_run=true"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "arch" in err[0]


def test_video_longer_than_max_frames_raises():
    model = TinyLMM(LMMConfig(max_frames=8))
    with pytest.raises(ValueError, match=r"max_frames = 8.*\(batch, T <= 8, 3, 32, 32\)"):
        model(torch.zeros(1, 9, 3, 32, 32), torch.zeros(1, 10, dtype=torch.long))


def test_untileable_frames_raise():
    model = TinyLMM(LMMConfig())
    with pytest.raises(ValueError, match=r"cannot be tiled.*expected shape"):
        model(torch.zeros(1, 4, 3, 30, 30), torch.zeros(1, 10, dtype=torch.long))


def test_packed_batch_without_seq_idx_raises():
    model = TinyLMM(LMMConfig(frame_size=16))
    cfg = SynthHourConfig(frames=4, frame_size=16)
    batch = collate([make_sample(cfg, 0, "train", i) for i in range(2)], pack=2)
    with pytest.raises(ValueError, match=r"frame_seq_idx of shape \(batch, T\)"):
        model(batch["frames"], batch["text"], packed=True)


def test_convert_command_copies_self_attention(tmp_path):
    import dataclasses

    from paperzoo.vamba.baselines import TransformerLMM

    cfg = LMMConfig(d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, mlp_hidden=32, vit_dim=32, vit_heads=2)
    transformer = TransformerLMM(cfg)
    src, out = tmp_path / "t.pt", tmp_path / "v.pt"
    torch.save({"cfg": dataclasses.asdict(cfg), "state_dict": transformer.state_dict()}, src)
    assert main(["convert", "--source", str(src), "--out", str(out)]) == 0
    state = torch.load(out, weights_only=False)["state_dict"]
    assert torch.equal(state["layers.0.cross_attn.k_proj.weight"], transformer.layers[0].self_attn.k_proj.weight)
    assert main(["convert", "--source", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
