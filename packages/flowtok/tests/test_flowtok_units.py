"""Unit tests of FlowTok's equations and invariants (sampler, interpolation, indicator, guidance, alignment, KL)
and of bad input."""

from __future__ import annotations

import inspect

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core import quiet_trainer
from paperzoo.flowtok import transport
from paperzoo.flowtok.config import ExperimentConfig, FlowConfig, ModelConfig
from paperzoo.flowtok.data import VOCAB, encode_caption, generate, parse_attributes
from paperzoo.flowtok.model import FlowTokDiT
from paperzoo.flowtok.module import FlowTokT2IModule
from paperzoo.flowtok.projector import AlignmentHead, TextProjector, kl_divergence
from paperzoo.flowtok.reproduce import i2t_captions
from paperzoo.flowtok.text_encoder import TextEncoder
from paperzoo.flowtok.tokenizer import ImageTokenizer


def test_sampler_integrates_constant_and_straight_fields_to_their_endpoints():
    x0 = torch.randn(5, 8, 8, dtype=torch.float64)
    b = torch.randn(5, 8, 8, dtype=torch.float64)
    end = 1 - transport.SIGMA_MIN
    out = transport.sample(lambda x, t, ind: b.expand_as(x), x0, steps=20)
    torch.testing.assert_close(out, x0 + end * b)
    # The field of the straight path to `target`, v = (target - x) / (1 - t): Euler follows it exactly.
    target = torch.randn(5, 8, 8, dtype=torch.float64)
    field = lambda x, t, ind: (target - x) / (1 - t.view(-1, 1, 1))
    out = transport.sample(field, x0, steps=7)
    torch.testing.assert_close(out, target + (x0 - target) * (1 - end), rtol=0, atol=1e-9)


def test_interpolation_is_the_text_latent_at_zero_and_the_image_latent_at_one():
    z_text, z_image = torch.randn(4, 8, 8), torch.randn(4, 8, 8)
    torch.testing.assert_close(transport.interpolate(z_text, z_image, torch.zeros(4)), z_text)
    at_one = transport.interpolate(z_text, z_image, torch.ones(4))
    torch.testing.assert_close(at_one, z_image + transport.SIGMA_MIN * z_text)
    assert (at_one - z_image).abs().max() <= transport.SIGMA_MIN * z_text.abs().max() + 1e-7
    # The target is the time derivative of the path.
    t = torch.rand(4, dtype=torch.float64)
    a, b = z_text.double(), z_image.double()
    h = 1e-6
    numeric = (transport.interpolate(a, b, t + h) - transport.interpolate(a, b, t - h)) / (2 * h)
    torch.testing.assert_close(numeric, transport.velocity_target(a, b), rtol=1e-6, atol=1e-6)


def test_indicator_flags_about_ten_percent_and_swaps_only_their_targets():
    flags = transport.null_indicator(20000, 0.1, torch.Generator().manual_seed(0))
    assert abs(flags.float().mean().item() - 0.1) < 0.01
    x1 = torch.arange(64, dtype=torch.float32).view(64, 1, 1).expand(64, 2, 2).clone()
    flags = transport.null_indicator(64, 0.1, torch.Generator().manual_seed(3))
    assert flags.sum() >= 2
    out = transport.shift_flagged(x1, flags)
    kept = flags == 0
    torch.testing.assert_close(out[kept], x1[kept])
    flagged = flags == 1
    assert sorted(out[flagged][:, 0, 0].tolist()) == sorted(x1[flagged][:, 0, 0].tolist())
    assert (out[flagged] != x1[flagged]).all()
    one = torch.zeros(64, dtype=torch.long)
    one[5] = 1
    torch.testing.assert_close(transport.shift_flagged(x1, one), x1)
    assert transport.null_indicator(3, 0.0).sum() == 0


def test_guided_step_is_uncond_plus_scale_times_difference():
    torch.manual_seed(0)
    net = FlowTokDiT(ModelConfig(width=32, depth=1, heads=2))
    for p in net.parameters():
        nn.init.normal_(p, std=0.1)
    x0 = torch.randn(3, 8, 8)
    s = 2.5
    out = transport.sample(net, x0, steps=1, guidance=s)
    t = torch.zeros(3)
    v_c = net(x0, t, torch.zeros(3, dtype=torch.long))
    v_u = net(x0, t, torch.ones(3, dtype=torch.long))
    assert not torch.allclose(v_c, v_u)
    dt = 1 - transport.SIGMA_MIN
    torch.testing.assert_close(out, x0 + dt * (v_u + s * (v_c - v_u)), rtol=1e-5, atol=1e-6)


def test_velocity_net_sees_text_only_as_x0():
    assert list(inspect.signature(FlowTokDiT.forward).parameters) == ["self", "x_t", "t", "null_indicator"]
    module = FlowTokT2IModule(ModelConfig(text_dim=48, width=64, depth=2), pretrained=False)
    for layer in module.dit.modules():
        if isinstance(layer, nn.Linear):
            assert layer.in_features != 48, "a linear layer of the DiT reads caption embeddings"
    # The caption reaches the sampler only through the projector's Z_T: with a fixed x0, the text is irrelevant.
    captured = {}
    real_sample = transport.sample

    def spy(velocity, x0, *args, **kwargs):
        captured["x0"] = x0
        return real_sample(velocity, x0, *args, **kwargs)

    text = torch.randn(4, 8, 48)
    module.eval()
    transport.sample = spy
    try:
        module.generate(text, torch.Generator().manual_seed(0))
    finally:
        transport.sample = real_sample
    mu, logvar = module.projector(text)
    z = module.projector.sample(mu, logvar, torch.Generator().manual_seed(0))
    torch.testing.assert_close(captured["x0"], z)


def test_alignment_uses_the_sampled_latent_a_learnable_temperature_and_is_symmetric():
    head = AlignmentHead(ModelConfig(text_dim=64, latent_dim=8))
    assert head.log_scale.requires_grad
    assert head.log_scale.item() == pytest.approx(torch.log(torch.tensor(1 / 0.07)).item())
    z, text = torch.randn(6, 8, 8), torch.randn(6, 8, 64)
    loss = head(z, text)
    zn = nn.functional.normalize(z.flatten(1), dim=-1)
    tn = nn.functional.normalize(head.project(text).flatten(1), dim=-1)
    logits = head.log_scale.exp() * zn @ tn.T
    labels = torch.arange(6)
    expected = 0.5 * (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert head.log_scale.grad is not None
    assert head.log_scale.grad.abs() > 0
    # The projector samples: two draws differ, the deterministic ablation returns μ.
    proj = TextProjector(ModelConfig(text_dim=64, latent_dim=8)).eval()
    mu, logvar = proj(text)
    assert not torch.allclose(proj.sample(mu, logvar), proj.sample(mu, logvar))
    proj.stochastic = False
    torch.testing.assert_close(proj.sample(mu, logvar), mu)


def test_kl_forms():
    mu, logvar = torch.randn(3, 8, 8), torch.randn(3, 8, 8)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum()  # summed over the batch too, as the reference
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)
    crossflow = (-0.5 * (1 + logvar - (0.3 * mu) ** 6 - logvar.exp())).sum()
    torch.testing.assert_close(kl_divergence(mu, logvar, "crossflow"), crossflow)
    with pytest.raises(ValueError, match="form"):
        kl_divergence(mu, logvar, "other")


def test_decoder_text_guidance_is_off_by_default_and_the_latent_path_stays_live():
    torch.manual_seed(0)
    plain = ImageTokenizer(width=32, depth=1).eval()
    z = torch.randn(2, 8, 8)
    a, b = torch.randn(2, 8, 64), torch.randn(2, 8, 64)
    torch.testing.assert_close(plain.decode(z, a), plain.decode(z, b))
    guided = ImageTokenizer(width=32, depth=1, text_guidance=True).eval()
    with pytest.raises(ValueError, match="text"):
        guided.decode(z)
    # Text swap: with guidance on the text matters, and so does the latent (no decoding from text alone).
    assert not torch.allclose(guided.decode(z, a), guided.decode(z, b))
    assert not torch.allclose(guided.decode(z, a), guided.decode(torch.randn(2, 8, 8), a))


def test_bad_inputs_raise_clear_errors():
    net = FlowTokDiT(ModelConfig(width=32, depth=1, heads=2))
    with pytest.raises(ValueError, match=r"x_t: expected shape \(B, 8, 8\)"):
        net(torch.randn(2, 7, 8), torch.zeros(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the vocabulary: zebra"):
        encode_caption("a zebra in the top left")
    with pytest.raises(ValueError, match="empty caption"):
        encode_caption("   ")
    with pytest.raises(ValueError, match="steps"):
        transport.sample(net, torch.randn(2, 8, 8), steps=0)
    with pytest.raises(ValueError, match="steps"):
        FlowTokT2IModule(flow={"steps": 0}, pretrained=False)
    with pytest.raises(ValueError, match="ema_decay"):
        FlowTokT2IModule(flow=FlowConfig(ema_decay=1.0), pretrained=False)
    with pytest.raises(ValueError, match="heads: expected a divisor of width 64"):
        ModelConfig(width=64, heads=5)
    with pytest.raises(ValueError, match="align_target: avgpool needs text_dim"):
        ModelConfig(text_dim=60, align_target="avgpool")
    with pytest.raises(ValueError, match="kl_form: expected one of standard, crossflow"):
        FlowConfig(kl_form="other")
    with pytest.raises(ValueError, match="model: expected the stages' latent_dim"):
        ExperimentConfig(model=ModelConfig(latent_dim=4))


def _fit_tiny(ema_decay: float, callbacks: list) -> FlowTokT2IModule:
    torch.manual_seed(0)
    model = ModelConfig(text_dim=16, width=32, depth=1, heads=2)
    module = FlowTokT2IModule(model, FlowConfig(ema_decay=ema_decay), pretrained=False)
    module.attach(TextEncoder(dim=16, depth=1, heads=2), ImageTokenizer(width=16, depth=1, heads=2, latent_dim=8))
    data = TensorDataset(torch.randn(64, 8, 8), torch.randn(64, 8, 16))
    loader = DataLoader(data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    quiet_trainer(max_steps=6, callbacks=callbacks).fit(module, loader)
    return module


def test_fit_leaves_the_exponential_moving_average_of_the_weights():
    class Record(pl.Callback):
        def __init__(self) -> None:
            self.history: list[list[torch.Tensor]] = []

        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            self.history.append([p.detach().clone() for p in pl_module.dit.parameters()])

    record = Record()
    raw = _fit_tiny(0.0, [record])  # the EMA does not change the trajectory: the raw run gives every step
    averaged = _fit_tiny(0.5, [])
    expected = record.history[0]
    for step in record.history[1:]:
        expected = [0.5 * e + 0.5 * p for e, p in zip(expected, step)]
    for got, want in zip(averaged.dit.parameters(), expected):
        torch.testing.assert_close(got.detach(), want)
    assert not all(torch.equal(a, b) for a, b in zip(averaged.dit.parameters(), raw.dit.parameters()))


def test_captions_state_their_attributes():
    data = generate(50, torch.Generator().manual_seed(0))
    assert data.images.shape == (50, 3, 32, 32)
    for tokens, attrs in zip(data.tokens, data.attrs):
        assert parse_attributes(tokens) == tuple(attrs.tolist())
    assert encode_caption("a red circle in the top left").tolist()[:3] == [
        VOCAB.index(w) for w in ("a", "red", "circle")
    ]


def test_image_to_text_captions_all_or_one_template():
    data = generate(40, torch.Generator().manual_seed(1))
    assert torch.equal(i2t_captions(data.tokens, data.attrs, "all"), data.tokens)
    one = i2t_captions(data.tokens, data.attrs, "one")
    assert not torch.equal(one, data.tokens)  # the 40 captions use all three templates
    for tokens, attrs, original in zip(one, data.attrs, data.tokens):
        assert parse_attributes(tokens) == parse_attributes(original) == tuple(attrs.tolist())
        # template 0 reads "a <colour> <shape> in the ..."
        assert VOCAB[int(tokens[0])] == "a"
        assert VOCAB[int(tokens[3])] == "in"
    with pytest.raises(ValueError, match="mode"):
        i2t_captions(data.tokens, data.attrs, "some")
    with pytest.raises(ValueError, match="i2t_captions"):
        ExperimentConfig(i2t_captions="some")
