"""Unit tests of Vamba's equations and invariants: the Mamba-2 scan against its recurrence, packing, the SA -> CA
copy, intact video tokens, and the FLOP counter."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from paperzoo.core import saved_for_backward
from paperzoo.vamba.baselines import TransformerLMM, build_model
from paperzoo.vamba.config import Mamba2Config, ModelConfig, SynthHourConfig
from paperzoo.vamba.convert import transformer_to_vamba
from paperzoo.vamba.data import VOCAB_SIZE, collate, make_sample
from paperzoo.vamba.efficiency import analytic_flops, measured_flops, peak_tensor_memory
from paperzoo.vamba.model import Mamba2Block, TinyLMM, causal_depthwise_conv

SMALL = ModelConfig(
    vocab_size=VOCAB_SIZE, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden=64, frame_size=16,
    vit_dim=32, vit_heads=2, max_frames=16, d_state=8, headdim=16, chunk_size=8,
)  # fmt: skip
MIXER = Mamba2Config(d_model=32, d_state=8, headdim=16, chunk_size=8)


def naive_mamba2(block: Mamba2Block, u: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
    """Mamba-2 by its definition: a loop over time of h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T."""
    b, L, _ = u.shape
    E, G, N, H, P = block.d_inner, block.ngroups, block.d_state, block.n_heads, block.headdim
    z, xBC, dt = torch.split(block.in_proj(u), [E, E + 2 * G * N, H], dim=-1)
    K = block.conv_weight.shape[1]
    conv = torch.zeros_like(xBC)
    for t in range(L):
        for k in range(K):
            s = t - (K - 1 - k)
            if s < 0 or (seq_idx is not None and bool((seq_idx[:, s] != seq_idx[:, t]).any())):
                continue
            conv[:, t] += xBC[:, s] * block.conv_weight[:, k]
    xBC = F.silu(conv + block.conv_bias)
    x, Bm, Cm = torch.split(xBC, [E, G * N, G * N], dim=-1)
    x = x.reshape(b, L, H, P)
    dt = F.softplus(dt + block.dt_bias)  # [b, L, H]
    A = -torch.exp(block.A_log)
    h = torch.zeros(b, H, P, N)
    ys = []
    for t in range(L):
        if seq_idx is not None and t > 0 and bool((seq_idx[:, t] != seq_idx[:, t - 1]).any()):
            h = torch.zeros_like(h)
        decay = torch.exp(dt[:, t] * A)[:, :, None, None]
        h = decay * h + (dt[:, t, :, None, None] * x[:, t, :, :, None]) * Bm[:, t, None, None, :]
        ys.append((h * Cm[:, t, None, None, :]).sum(-1) + block.D[:, None] * x[:, t])
    y = torch.stack(ys, dim=1).reshape(b, L, E)
    return block.out_proj(block.norm(y, z))


@pytest.mark.parametrize("L", [1, 13, 37])
def test_mamba2_block_matches_naive_recurrence_forward_and_grads(L):
    torch.manual_seed(L)
    block = Mamba2Block(MIXER).double()
    u = torch.randn(2, L, 32, dtype=torch.float64, requires_grad=True)
    y = block(u)
    y_ref = naive_mamba2(block, u)
    torch.testing.assert_close(y, y_ref, rtol=1e-8, atol=1e-9)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, [u, *block.parameters()], g)
    grads_ref = torch.autograd.grad(y_ref, [u, *block.parameters()], g)
    for a, b in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_mamba2_recompute_gives_the_same_gradients_and_saves_less():
    """The recomputing mixer (the fused kernel's memory contract) is the plain one, keeping far less."""
    torch.manual_seed(0)
    plain = Mamba2Block(MIXER).double()
    lean = Mamba2Block(dataclasses.replace(MIXER, recompute=True)).double()
    lean.load_state_dict(plain.state_dict())
    u = torch.randn(2, 40, 32, dtype=torch.float64, requires_grad=True)
    seq_idx = torch.tensor([[0] * 25 + [1] * 15, [0] * 40])

    def run(block):
        y, saved = saved_for_backward(block, u, seq_idx=seq_idx)
        return y, torch.autograd.grad(y.pow(2).sum(), [u, *block.parameters()]), saved

    y, grads, saved = run(plain)
    y_lean, grads_lean, saved_lean = run(lean)
    torch.testing.assert_close(y_lean, y, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads_lean, grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)
    in_proj_out = u.shape[0] * u.shape[1] * lean.in_proj.out_features * 8
    assert saved_lean < 1.5 * (u.numel() * 8 + in_proj_out) < saved


def test_mamba2_packed_seq_idx_matches_naive_and_isolates():
    torch.manual_seed(0)
    block = Mamba2Block(MIXER).double()
    u = torch.randn(1, 29, 32, dtype=torch.float64)
    seq_idx = torch.tensor([[0] * 11 + [1] * 7 + [2] * 11])
    y = block(u, seq_idx=seq_idx)
    torch.testing.assert_close(y, naive_mamba2(block, u, seq_idx), rtol=1e-8, atol=1e-9)
    # The second packed sequence alone gives the same output as inside the pack.
    torch.testing.assert_close(y[:, 11:18], block(u[:, 11:18]), rtol=1e-8, atol=1e-9)


def test_mixer_is_selective_and_causal():
    torch.manual_seed(0)
    block = Mamba2Block(MIXER)
    u = torch.randn(1, 20, 32)
    dt_part = block.in_proj(u)[..., -block.n_heads :]
    assert dt_part.std(dim=1).min() > 0  # dt depends on the input step
    u2 = u.clone()
    u2[:, 12] += 1.0
    y, y2 = block(u), block(u2)
    torch.testing.assert_close(y[:, :12], y2[:, :12])  # causal: the past does not see the change
    assert (y[:, 12:] - y2[:, 12:]).abs().amax() > 1e-4


def test_depthwise_conv_is_causal_and_resets():
    x = torch.randn(1, 10, 3)
    w = torch.randn(3, 4)
    seq = torch.tensor([[0] * 5 + [1] * 5])
    y = causal_depthwise_conv(x, w, None, seq)
    torch.testing.assert_close(y[:, 5:], causal_depthwise_conv(x[:, 5:], w, None, None))
    ref = F.conv1d(F.pad(x.transpose(1, 2), (3, 0)), w[:, None, :], groups=3).transpose(1, 2)
    torch.testing.assert_close(causal_depthwise_conv(x, w, None, None), ref)


def _batch(n: int, frames: int = 6, pack: int = 1) -> dict:
    cfg = SynthHourConfig(frames=frames, frame_size=16)
    return collate([make_sample(cfg, 0, "train", i) for i in range(n)], pack)


def test_packed_rows_equal_separate_samples():
    torch.manual_seed(0)
    model = TinyLMM(SMALL).eval()
    single = _batch(4)
    packed = _batch(4, pack=2)
    with torch.no_grad():
        ref = model(single["frames"], single["text"])[:, -1]  # [4, V]
        out = model(packed["frames"], packed["text"], packed["frame_seq_idx"], packed["text_seq_idx"], packed=True)
    mask = packed["labels"] != -100
    torch.testing.assert_close(out[mask], ref, rtol=1e-4, atol=1e-5)


def test_sa_to_ca_copy_is_exact_and_shared_weights_equal():
    torch.manual_seed(0)
    transformer = TransformerLMM(SMALL)
    vamba = transformer_to_vamba(transformer, seed=1)
    for lv, lt in zip(vamba.layers, transformer.layers, strict=True):
        for (name, p), (_, q) in zip(lv.cross_attn.named_parameters(), lt.self_attn.named_parameters(), strict=True):
            assert torch.equal(p, q), name
        assert torch.equal(lv.self_attn.q_proj.weight, lt.self_attn.q_proj.weight)
        assert torch.equal(lv.mlp.down_proj.weight, lt.mlp.down_proj.weight)
    assert torch.equal(vamba.vision.patch_embed.weight, transformer.vision.patch_embed.weight)
    random_ca = transformer_to_vamba(transformer, ca_init="random", seed=1)
    assert not torch.equal(random_ca.layers[0].cross_attn.q_proj.weight, transformer.layers[0].self_attn.q_proj.weight)


def test_video_tokens_stay_intact_through_every_layer():
    model = TinyLMM(SMALL)
    b = _batch(2, frames=5)
    _, states = model(b["frames"], b["text"], return_video=True)
    M = 5 * SMALL.patches_per_frame
    assert len(states) == SMALL.n_layers
    assert all(s.shape == (2, M, SMALL.d_model) for s in states)
    # Changing one frame changes the text output: every video token is read.
    frames = b["frames"].clone()
    frames[:, 2] = 0.0
    assert (model(frames, b["text"]) - model(b["frames"], b["text"])).abs().amax() > 1e-5


def test_ca_only_has_no_temporal_order():
    """Without the mixer, shuffling frames leaves the answer unchanged: CA over video is a set operation."""
    model = build_model("ca_only", SMALL).eval()
    b = _batch(2, frames=6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        a = model(b["frames"], b["text"])
        c = model(b["frames"][:, perm], b["text"])
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-5)
        vamba = build_model("vamba", SMALL).eval()
        assert (vamba(b["frames"], b["text"]) - vamba(b["frames"][:, perm], b["text"])).abs().amax() > 1e-5


@pytest.mark.parametrize("arch", ["vamba", "transformer", "ca_only", "pooled"])
def test_flop_counter_matches_measured(arch):
    cfg = dataclasses.replace(SMALL, max_frames=64)
    for T in (4, 9):
        analytic = analytic_flops(arch, cfg, T, 10)["total"]
        measured = measured_flops(arch, cfg, T)
        assert abs(analytic - measured) / measured < 0.05, (arch, T, analytic, measured)


def test_flop_formulas_of_the_complexity_terms():
    cfg = dataclasses.replace(SMALL, max_frames=64)
    d, N = cfg.d_model, 10
    for T in (8, 16, 32):
        M = T * cfg.patches_per_frame
        tr = analytic_flops("transformer", cfg, T, N)
        va = analytic_flops("vamba", cfg, T, N)
        assert tr["attention_scores"] == cfg.n_layers * 4 * d * (M + N) ** 2
        assert va["attention_scores"] == cfg.n_layers * 4 * d * (M * N + N * N)
    # Vamba's measured cost has no term quadratic in M (no hidden attention over the video).
    f = [measured_flops("vamba", cfg, T) for T in (8, 16, 24)]
    assert abs((f[2] - f[1]) - (f[1] - f[0])) / (f[1] - f[0]) < 0.01
    g = [measured_flops("transformer", cfg, T) for T in (8, 16, 24)]
    assert (g[2] - g[1]) - (g[1] - g[0]) > 0.05 * (g[1] - g[0])


class _Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(1024, 1024, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def test_peak_tensor_memory_counts_the_step_only():
    # [512, 1024] float32 activations are 2 MiB each; the weight's gradient is 4 MiB. The output, its square and
    # the gradients flowing back are all alive around the weight-gradient matmul: the peak is 8-12 MiB, and
    # neither the 4 MiB weight nor the 2 MiB input (allocated before the step) is counted.
    model = _Linear()
    peak = peak_tensor_memory(model, {"x": torch.randn(512, 1024)})
    assert 7.9 <= peak <= 12.1, peak
    assert model.lin.weight.grad is not None
    # activations grow with the video: twice the frames, about twice the peak
    cfg = dataclasses.replace(ModelConfig(vocab_size=VOCAB_SIZE), max_frames=16)
    peaks = []
    for frames in (8, 16):
        torch.manual_seed(0)
        inputs = {"frames": torch.rand(1, frames, 3, 32, 32), "text": torch.randint(0, VOCAB_SIZE, (1, 10))}
        peaks.append(peak_tensor_memory(build_model("vamba", cfg), inputs))
    assert 1.5 <= peaks[1] / peaks[0] <= 2.5, peaks
