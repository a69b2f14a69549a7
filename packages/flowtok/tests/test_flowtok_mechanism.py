"""Mechanism test: a reduced form of the acceptance experiment on synthetic image latents.

Image latents are a fixed random code per attribute combination plus a size direction scaled by a random
size; captions go through a frozen random text encoder. A small FlowTok (projector + DiT) must carry the
sampled text latent to the right code (nearest-code accuracy) with 20 Euler steps, and give varied sizes. The
same trained model fails when the text does not set x0 (a Gaussian source, the "wrong source" mistake), which
shows that this test detects a broken mechanism.
"""

from __future__ import annotations

import pytest
import torch

from paperzoo.flowtok import transport
from paperzoo.flowtok.config import FlowConfig, ModelConfig, flow_optim
from paperzoo.flowtok.data import all_combinations, combo_index, generate
from paperzoo.flowtok.module import FlowTokT2IModule
from paperzoo.flowtok.text_encoder import TextEncoder


def _latents(attrs: torch.Tensor, size: torch.Tensor, codes: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    return codes[combo_index(attrs)] + size.view(-1, 1, 1) * direction  # [M, 8, 8]


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(64, 8, 8, generator=g)
    direction = torch.randn(8, 8, generator=g) * 0.5
    data = generate(4096, g)
    size = torch.randn(4096, generator=g)
    text_encoder = TextEncoder(64).eval().requires_grad_(False)
    with torch.no_grad():
        text = text_encoder(data.tokens)
    z = _latents(data.attrs, size, codes, direction)
    module = FlowTokT2IModule(
        ModelConfig(width=64, depth=2, heads=4),
        FlowConfig(gamma_kl=1e-4, kl_form="crossflow", guidance=1.0),
        flow_optim(lr=3e-3, warmup_steps=20),
        pretrained=False,
    )
    opt = module.optim.build(module.parameters(), total_steps=1000)
    optimizer, scheduler = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    module.train()
    for _step in range(1000):
        idx = torch.randint(0, 4096, (128,), generator=g)
        loss = module.losses(z[idx], text[idx])["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    module.eval()
    evals = generate(64, g, all_combinations(1))
    with torch.no_grad():
        eval_text = text_encoder(evals.tokens)
    return module, codes, direction, evals, eval_text


def _accuracy(samples: torch.Tensor, codes: torch.Tensor, direction: torch.Tensor, attrs: torch.Tensor) -> float:
    # Remove the size component, then pick the nearest code.
    unit = direction / direction.norm()
    along = (samples * unit).sum(dim=(1, 2), keepdim=True)
    flat = (samples - along * unit).flatten(1)
    code_flat = (codes - (codes * unit).sum(dim=(1, 2), keepdim=True) * unit).flatten(1)
    nearest = torch.cdist(flat, code_flat).argmin(dim=1)
    return float((nearest == combo_index(attrs)).float().mean())


def test_text_latent_flows_to_the_right_image_latent(trained):
    module, codes, direction, evals, eval_text = trained
    with torch.no_grad():
        samples = module.generate(eval_text, torch.Generator().manual_seed(1), steps=20)
    acc = _accuracy(samples, codes, direction, evals.attrs)
    assert acc >= 0.75, f"compositional accuracy {acc:.3f} < 0.75"


def test_a_gaussian_source_fails_the_same_check(trained):
    module, codes, direction, evals, _eval_text = trained
    noise = torch.randn(64, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        samples = transport.sample(module.dit, noise, steps=20)
    assert _accuracy(samples, codes, direction, evals.attrs) < 0.75 / 2


def test_the_gaussian_text_latent_gives_varied_sizes(trained):
    module, _, direction, _evals, eval_text = trained
    repeated = eval_text[:16].repeat_interleave(8, dim=0)
    with torch.no_grad():
        samples = module.generate(repeated, torch.Generator().manual_seed(3), steps=20)
    size = (samples * direction).sum(dim=(1, 2)) / direction.pow(2).sum()
    spread = size.view(16, 8).std(dim=1).mean()
    assert spread >= 0.5, f"per-caption size std {spread:.3f} < 0.5 (data: 1.0)"
    module.projector.stochastic = False
    try:
        with torch.no_grad():
            samples = module.generate(repeated, torch.Generator().manual_seed(3), steps=20)
    finally:
        module.projector.stochastic = True
    size = (samples * direction).sum(dim=(1, 2)) / direction.pow(2).sum()
    assert size.view(16, 8).std(dim=1).mean() < 1e-4
