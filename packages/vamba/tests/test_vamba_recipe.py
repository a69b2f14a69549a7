"""The training recipe's pieces: the curriculum over T, the frozen pretrained vision encoder, its pretraining."""

from __future__ import annotations

import pytest
import torch

from paperzoo.vamba.config import ModelConfig, SynthHourConfig
from paperzoo.vamba.data import CurriculumDataset, make_sample
from paperzoo.vamba.model import FrameEncoder
from paperzoo.vamba.module import VambaModule, pretrain_vision

SMALL = ModelConfig(d_model=32, n_heads=2, n_kv_heads=1, mlp_hidden=64, vit_dim=32, d_state=8, headdim=16, chunk_size=8)


def test_curriculum_serves_each_step_its_video_length_and_the_same_data_to_every_arm():
    cfg = SynthHourConfig(frames=16, frame_size=16)
    schedule = [(4, 2), (6, 1)]
    full = CurriculumDataset(cfg, 0, schedule, batch_size=2, start_step=0, steps=4)
    assert len(full) == 8
    assert [full[i]["frames"].shape[0] for i in range(8)] == [4, 4, 4, 4, 6, 6, 6, 6]  # last phase lasts on
    later = CurriculumDataset(cfg, 0, schedule, batch_size=2, start_step=2, steps=2)
    for i in range(4):
        assert torch.equal(later[i]["frames"], full[4 + i]["frames"])
        assert torch.equal(later[i]["text"], full[4 + i]["text"])
    direct = make_sample(SynthHourConfig(frames=4, frame_size=16), 0, "train", 3)
    assert torch.equal(full[3]["frames"], direct["frames"])
    with pytest.raises(ValueError, match="schedule"):
        CurriculumDataset(cfg, 0, [(2, 5)], batch_size=2, start_step=0, steps=1)


def test_cell_labels_describe_the_rendered_frames():
    cfg = SynthHourConfig(frames=4, frame_size=16)
    s = make_sample(cfg, 0, "train", 1)
    assert s["cell_digit"].shape == (4, 4)
    assert s["cell_marker"].shape == (4, 4)
    assert int((s["cell_digit"] < 10).sum()) == 4  # one glyph event per frame on average, one per cell at most
    assert sorted(s["cell_marker"][s["cell_marker"] > 0].tolist()) == [1, 2, 3]
    assert bool((s["cell_digit"][s["cell_marker"] > 0] < 10).all())  # markers sit on glyphs
    frame, cell = map(int, (s["cell_marker"] == 1).nonzero()[0])
    r, c = divmod(cell, 2)
    red = s["frames"][frame, :, 8 * r : 8 * r + 3, 8 * c : 8 * c + 3]
    assert torch.equal(red[0], torch.ones(3, 3))
    assert torch.equal(red[1:], torch.zeros(2, 3, 3))


def test_freeze_vision_keeps_the_encoder_fixed_in_both_stages():
    module = VambaModule(model=SMALL, arch="vamba", stage=2, freeze_vision=True)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert not any(n.startswith("vision.") for n in trainable)
    assert any(n.startswith("layers.0.mlp") for n in trainable)
    module.set_stage(1)
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    assert trainable
    assert all(("cross_attn" in n or "vision_mixer" in n or "vision_norm" in n) for n in trainable)
    unfrozen = VambaModule(model=SMALL, arch="transformer")
    assert all(p.requires_grad for p in unfrozen.model.vision.parameters())


def test_vision_pretraining_learns_the_patch_labels():
    torch.manual_seed(0)
    vision = FrameEncoder(ModelConfig(d_model=32, vit_dim=32, vit_heads=2, frame_size=16))
    for p in vision.parameters():  # as in an arm with freeze_vision: the encoder still trains here
        p.requires_grad_(False)
    before = vision.patch_embed.weight.clone()
    losses = pretrain_vision(vision, seed=0, steps=60, videos_per_step=2, frames=8)
    assert not torch.equal(before, vision.patch_embed.weight)
    assert not any(p.requires_grad for p in vision.parameters())  # frozen again afterwards
    assert sum(losses[-10:]) / 10 < 0.5 * losses[0], (losses[0], losses[-10:])
