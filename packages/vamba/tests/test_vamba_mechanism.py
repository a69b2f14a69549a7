"""Mechanism test: a reduced ORDER experiment that fails when the Mamba-2 scan does not carry temporal order.

Six one-patch frames hold two digit glyphs (a 3 and a 7) at random distinct frames over noise; the question
is always "did digit 3 appear before digit 7 ?". Cross-attention has no temporal position, so the answer can
reach the text only through the scan over the video: Vamba must learn it, CA-only (the ablation) must not.
The full acceptance experiment is ``test_reproduce_full`` (slow).
"""

from __future__ import annotations

import pytest
import torch

from paperzoo.vamba.baselines import build_model
from paperzoo.vamba.config import ModelConfig
from paperzoo.vamba.data import VOCAB, VOCAB_SIZE, glyphs
from paperzoo.vamba.module import answer_loss

CFG = ModelConfig(vocab_size=VOCAB_SIZE, d_model=32, n_layers=2, n_heads=2, n_kv_heads=1, mlp_hidden=64,
                frame_size=8, vit_dim=32, vit_heads=2, max_frames=8, d_state=8, headdim=16, chunk_size=8)  # fmt: skip
QUESTION = torch.tensor([VOCAB[w] for w in ["<q>", "did", "digit", "3", "appear", "before", "digit", "7", "?", "<a>"]])


def order_batch(n: int, gen: torch.Generator, T: int = 6) -> dict:
    images, labels = glyphs("train")
    threes = torch.from_numpy(images[labels == 3])
    sevens = torch.from_numpy(images[labels == 7])
    frames = (0.2 + 0.1 * torch.randn(n, T, 3, 8, 8, generator=gen)).clamp(0, 1)
    answers = torch.empty(n, dtype=torch.long)
    for i in range(n):
        a, b = torch.randperm(T, generator=gen)[:2].tolist()
        frames[i, a] = torch.maximum(frames[i, a], threes[torch.randint(len(threes), (1,), generator=gen)])
        frames[i, b] = torch.maximum(frames[i, b], sevens[torch.randint(len(sevens), (1,), generator=gen)])
        answers[i] = VOCAB["yes"] if a < b else VOCAB["no"]
    labels_t = torch.full((n, 10), -100)
    labels_t[:, -1] = answers
    return {"frames": frames, "text": QUESTION.expand(n, -1), "labels": labels_t}


def train_order(arch: str, steps: int = 400, seed: int = 0) -> float:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(arch, CFG)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        b = order_batch(32, gen)
        loss = answer_loss(model(b["frames"], b["text"]), b["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = order_batch(400, torch.Generator().manual_seed(1000 + seed))
    with torch.no_grad():
        pred = model(test["frames"], test["text"])[:, -1].argmax(-1)
    return float((pred == test["labels"][:, -1]).float().mean())


@pytest.mark.parametrize("seed", [0])
def test_scan_carries_temporal_order(seed):
    vamba = train_order("vamba", seed=seed)
    ca_only = train_order("ca_only", seed=seed)
    assert vamba >= 0.85, f"Vamba ORDER accuracy {vamba:.3f}"
    assert ca_only <= 0.65, f"CA-only ORDER accuracy {ca_only:.3f}"
