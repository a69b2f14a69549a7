"""alpha-entmax mappings and entmax attention (PyTorch path) against the `entmax` package and the reference."""

from __future__ import annotations

import math
import zlib

import entmax as entmax_pkg
import pytest
import torch

from paperzoo.kernels.entmax import entmax, entmax15, entmax_attention, entmax_bisect, sparsemax
from paperzoo.kernels.entmax import torch as entmax_torch_path
from paperzoo.kernels.entmax.mappings import entmax15_threshold, sparsemax_threshold
from paperzoo.kernels.entmax.reference import entmax_attention_reference, entmax_reference
from paperzoo.testing import rel_rms

# Relative-RMS tolerances per input dtype (outputs and gradients).
TOL = {torch.float64: 1e-9, torch.float32: 2e-5, torch.float16: 5e-3}


def peer_mapping(alpha: float):
    """The `entmax` package's mapping for ``alpha`` (last dim)."""
    if alpha == 1.5:
        return lambda x: entmax_pkg.entmax15(x, dim=-1)
    if alpha == 2.0:
        return lambda x: entmax_pkg.sparsemax(x, dim=-1)
    return lambda x: entmax_pkg.entmax_bisect(x, alpha, dim=-1, n_iter=80)


def ours_mapping(alpha: float):
    if alpha == 1.5:
        return entmax15
    if alpha == 2.0:
        return sparsemax
    return lambda x, dim=-1: entmax_bisect(x, alpha, dim=dim)


# ---------------------------------------------------------------------------------------------- mappings


@pytest.mark.parametrize("alpha", [1.5, 2.0, 1.3, 2.6])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
@pytest.mark.parametrize(("shape", "dim"), [((7, 63), -1), ((3, 500, 2), 1), ((4, 1), 1)])
def test_mapping_matches_entmax_package(alpha, dtype, shape, dim):
    gen = torch.Generator().manual_seed(zlib.crc32(repr((alpha, dtype, shape)).encode()))
    x = (2 * torch.randn(shape, generator=gen, dtype=torch.float64)).to(dtype).requires_grad_()
    grad_out = torch.randn(shape, generator=gen, dtype=torch.float64)
    y = ours_mapping(alpha)(x, dim=dim)
    (gx,) = torch.autograd.grad(y, x, grad_out.to(dtype))
    assert y.dtype == dtype
    assert gx.dtype == dtype

    x64 = x.detach().double().movedim(dim, -1).requires_grad_()
    y_ref = peer_mapping(alpha)(x64)
    (gx_ref,) = torch.autograd.grad(y_ref, x64, grad_out.movedim(dim, -1))
    assert rel_rms(y.movedim(dim, -1), y_ref) < TOL[dtype]
    assert rel_rms(gx.movedim(dim, -1), gx_ref) < TOL[dtype]


@pytest.mark.parametrize("alpha", [1.5, 2.0, 1.7])
def test_mapping_invariants_and_exact_zeros(alpha):
    gen = torch.Generator().manual_seed(1)
    x = 3 * torch.randn(16, 257, generator=gen)
    p = ours_mapping(alpha)(x)
    assert (p >= 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(16), atol=1e-5, rtol=0)
    # Sparse output: many entries exactly zero, and every zero lies below the kept entries of its row.
    assert (p == 0).float().mean() > 0.5
    kept_min = torch.where(p > 0, x, torch.full_like(x, math.inf)).amin(-1)
    dropped_max = torch.where(p == 0, x, torch.full_like(x, -math.inf)).amax(-1)
    assert (dropped_max <= kept_min).all()


@pytest.mark.parametrize("alpha", [1.5, 2.0, 1.3, 3.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_mapping_large_scores_stay_finite(alpha, dtype):
    gen = torch.Generator().manual_seed(2)
    x = (100 * torch.randn(8, 300, generator=gen)).to(dtype).requires_grad_()
    p = ours_mapping(alpha)(x)
    (g,) = torch.autograd.grad(p, x, torch.randn(8, 300, generator=gen).to(dtype))
    assert torch.isfinite(p).all()
    assert torch.isfinite(g).all()
    torch.testing.assert_close(p.float().sum(-1), torch.ones(8), atol=2e-3, rtol=0)
    expected = peer_mapping(alpha)(x.detach().double())
    assert rel_rms(p, expected) < (1e-2 if dtype == torch.float16 else 1e-5)


def test_threshold_partial_sort_falls_back_to_full_sort():
    gen = torch.Generator().manual_seed(3)
    # Flat rows have a support of hundreds, peaked rows a handful: both must give the exact threshold.
    z = torch.cat([0.01 * torch.randn(5, 400, generator=gen), 5 * torch.randn(5, 400, generator=gen)])
    z = z - z.amax(-1, keepdim=True)
    for threshold in (entmax15_threshold, sparsemax_threshold):
        full = threshold(z)
        partial = threshold(z, top=8)
        torch.testing.assert_close(partial, full, atol=0, rtol=0)


def test_bisect_tensor_alpha_matches_floats_and_package_gradient():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 6, 40, generator=gen, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor([1.2, 1.5, 2.4], dtype=torch.float64)[:, None, None].requires_grad_()
    p = entmax_bisect(x, alpha, dim=-1)
    for i, a in enumerate([1.2, 1.5, 2.4]):
        torch.testing.assert_close(p[i], entmax_bisect(x[i], a), atol=1e-12, rtol=0)
    grad_out = torch.randn(3, 6, 40, generator=gen, dtype=torch.float64)
    gx, galpha = torch.autograd.grad(p, (x, alpha), grad_out)
    x_ref = x.detach().clone().requires_grad_()
    alpha_ref = alpha.detach().expand(3, 6, 1).clone().requires_grad_()
    p_ref = entmax_pkg.entmax_bisect(x_ref, alpha_ref, dim=-1, n_iter=80)
    gx_ref, galpha_ref = torch.autograd.grad(p_ref, (x_ref, alpha_ref), grad_out)
    assert rel_rms(gx, gx_ref) < 1e-8
    assert rel_rms(galpha, galpha_ref.sum(1, keepdim=True)) < 1e-8
    # Along a middle dim, with one alpha per (row, column).
    x_small = torch.randn(2, 7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    alpha_small = (1.2 + torch.rand(2, 1, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t, a: entmax_bisect(t, a, dim=1), (x_small, alpha_small))


def test_entmax_dispatch():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 33, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(entmax(x, 1), torch.softmax(x, -1))
    torch.testing.assert_close(entmax(x, 1.5, dim=0), entmax15(x, dim=0))
    torch.testing.assert_close(entmax(x, 2.0), sparsemax(x))
    torch.testing.assert_close(entmax(x, 1.8), entmax_pkg.entmax_bisect(x, 1.8, n_iter=80), atol=1e-12, rtol=0)


def test_reference_backend_agrees(monkeypatch):
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(5, 41, generator=gen, dtype=torch.float64)
    fast = (entmax15(x), sparsemax(x), entmax_bisect(x, 1.4))
    monkeypatch.setenv("PAPERZOO_KERNELS", "reference")
    slow = (entmax15(x), sparsemax(x), entmax_bisect(x, 1.4))
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("alpha", [1.0, 0.5, -2.0, math.inf, math.nan])
def test_bad_alpha_raises(alpha):
    x = torch.randn(2, 5)
    q = torch.randn(1, 1, 4, 8)
    with pytest.raises(ValueError, match="alpha"):
        entmax_bisect(x, alpha)
    with pytest.raises(ValueError, match="alpha"):
        entmax_attention(q, q, q, alpha=alpha)
    if alpha != 1.0:
        with pytest.raises(ValueError, match="alpha"):
            entmax(x, alpha)


def test_bad_inputs_raise():
    x = torch.randn(2, 5)
    with pytest.raises(ValueError, match="alpha"):
        entmax_bisect(x, torch.tensor([[1.5], [0.9]]))
    with pytest.raises(ValueError, match="alpha"):
        entmax_bisect(x, torch.full((2, 5), 1.5), dim=-1)
    with pytest.raises(ValueError, match="dim"):
        entmax15(x, dim=2)
    with pytest.raises(ValueError, match="x"):
        sparsemax(torch.ones(3, dtype=torch.long))
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    with pytest.raises(ValueError, match=r"k: expected shape \(batch, heads, Lk, d\)"):
        entmax_attention(q, torch.randn(2, 3, 7, 6), v)
    with pytest.raises(ValueError, match=r"v: expected shape \(batch, heads, Lk, dv\)"):
        entmax_attention(q, k, torch.randn(2, 3, 6, 4))
    with pytest.raises(ValueError, match=r"q: expected shape \(batch, heads, Lq, d\)"):
        entmax_attention(q[0], k, v)
    with pytest.raises(ValueError, match="mask"):
        entmax_attention(q, k, v, mask=torch.ones(5, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        entmax_attention(q, k, v, mask=torch.ones(5, 7))


# --------------------------------------------------------------------------------------------- attention


def dense_peer(q, k, v, alpha, causal, mask, scale=None):
    """Dense attention with the `entmax` package, float64, masked keys excluded, empty rows zero."""
    lq, lk = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = scale * q.double() @ k.double().transpose(-1, -2)
    valid = torch.ones(lq, lk, dtype=torch.bool)
    if causal:
        valid = valid.tril()
    if mask is not None:
        valid = valid & mask
    valid = valid.expand(scores.shape)
    p = peer_mapping(alpha)(scores.masked_fill(~valid, -1e4))
    p = p * valid * valid.any(-1, keepdim=True)
    return p @ v.double()


ATTN_CASES = [
    # batch, heads, Lq, Lk, d, dv, causal, masked
    (2, 3, 63, 63, 16, 16, True, False),
    (1, 2, 17, 45, 8, 12, False, True),
    (2, 1, 50, 31, 8, 8, True, True),
    (1, 2, 33, 33, 16, 8, False, False),
]


@pytest.fixture
def small_chunks(monkeypatch):
    """Force several query chunks so that the chunk loop, not one big chunk, is what gets tested."""
    monkeypatch.setattr(entmax_torch_path, "CHUNK_ELEMENTS", 2 * 7 * 64)
    sizes = []
    scores = entmax_torch_path._scores

    def spy(q_chunk, k, scale):
        s = scores(q_chunk, k, scale)
        sizes.append(tuple(s.shape))
        return s

    monkeypatch.setattr(entmax_torch_path, "_scores", spy)
    return sizes


def attention_inputs(case, dtype, seed):
    batch, heads, lq, lk, d, dv, causal, masked = case
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, lq, d, generator=gen).to(dtype).requires_grad_()
    k = torch.randn(batch, heads, lk, d, generator=gen).to(dtype).requires_grad_()
    v = torch.randn(batch, heads, lk, dv, generator=gen).to(dtype).requires_grad_()
    mask = None
    if masked:
        mask = torch.rand(batch, 1, lq, lk, generator=gen) > 0.4
        mask[0, 0, lq // 2] = False  # a query with no key at all
    grad_out = torch.randn(batch, heads, lq, dv, generator=gen)
    return q, k, v, mask, causal, grad_out


def check_attention_against_peer(fn, case, alpha, dtype, seed=0):
    q, k, v, mask, causal, grad_out = attention_inputs(case, dtype, seed)
    out = fn(q, k, v, alpha=alpha, causal=causal, mask=mask)
    assert out.dtype == dtype
    assert not torch.isnan(out).any()
    grads = torch.autograd.grad(out, (q, k, v), grad_out.to(dtype))
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    ref = dense_peer(q64, k64, v64, alpha, causal, mask)
    ref_grads = torch.autograd.grad(ref, (q64, k64, v64), grad_out.double())
    tol = TOL[dtype] if alpha in (1.5, 2.0) else max(TOL[dtype], 1e-4)
    assert rel_rms(out, ref) < tol
    for name, g, g_ref in zip("qkv", grads, ref_grads, strict=True):
        assert not torch.isnan(g).any(), name
        assert rel_rms(g, g_ref) < tol, name
    if mask is not None:
        empty = ~(mask[0, 0, q.shape[2] // 2]).any()
        assert empty
        assert (out[0, :, q.shape[2] // 2] == 0).all()
        assert (grads[0][0, :, q.shape[2] // 2] == 0).all()


@pytest.mark.parametrize("case", ATTN_CASES)
@pytest.mark.parametrize("alpha", [1.5, 2.0, 1.3])
def test_attention_torch_matches_dense_entmax(small_chunks, case, alpha):
    check_attention_against_peer(entmax_attention, case, alpha, torch.float32)
    lq, lk = case[2], case[3]
    assert len(small_chunks) > 2
    assert max(s[-2] for s in small_chunks) < lq
    assert all(s[-1] == lk for s in small_chunks)


@pytest.mark.parametrize("case", ATTN_CASES[:3])
def test_attention_torch_float16(small_chunks, case):
    check_attention_against_peer(entmax_attention, case, 1.5, torch.float16, seed=1)


@pytest.mark.parametrize("case", ATTN_CASES[1:3])
def test_attention_reference_matches_dense_entmax(case):
    check_attention_against_peer(entmax_attention_reference, case, 1.5, torch.float64)
    check_attention_against_peer(entmax_attention_reference, case, 1.7, torch.float64)


def test_attention_large_scores_and_scale():
    gen = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, 2, 40, 16, generator=gen, requires_grad=True) for _ in range(3))
    out = entmax_attention(q, k, v, alpha=1.5, scale=100.0, causal=True)
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    assert all(torch.isfinite(t).all() for t in (out, *grads))
    ref = dense_peer(q.detach(), k.detach(), v.detach(), 1.5, True, None, scale=100.0)
    assert rel_rms(out, ref) < 1e-5


def test_reference_entmax_masked_rows():
    x = torch.randn(3, 9, dtype=torch.float64)
    mask = torch.rand(3, 9) > 0.5
    mask[1] = False
    p = entmax_reference(x, 1.5, mask=mask)
    assert (p[1] == 0).all()
    assert (p[~mask] == 0).all()
    torch.testing.assert_close(p[[0, 2]].sum(-1), torch.ones(2, dtype=torch.float64))
