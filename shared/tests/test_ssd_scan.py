"""SSD scan (Mamba-2): the chunked PyTorch path against the step-by-step reference."""

from __future__ import annotations

import importlib

import pytest
import torch

from paperzoo.core import saved_for_backward
from paperzoo.kernels.ssd_scan import ssd_scan, ssd_scan_ref, ssd_scan_torch
from paperzoo.testing import rel_rms

torch_path = importlib.import_module("paperzoo.kernels.ssd_scan.torch")  # the package's name shadows it

TOL = {torch.float32: 2e-5, torch.float16: 3e-3}


def make_inputs(batch, L, heads, headdim, groups, dstate, dtype=torch.float32, seed=0, full_D=False):
    """Mamba-2-like inputs: negative A per head, steps positive after softplus."""
    g = torch.Generator().manual_seed(seed)
    t = {
        "x": torch.randn(batch, L, heads, headdim, generator=g),
        "dt": torch.randn(batch, L, heads, generator=g) - 1.0,
        "A": -torch.exp(torch.randn(heads, generator=g) * 0.5),
        "B": torch.randn(batch, L, groups, dstate, generator=g),
        "C": torch.randn(batch, L, groups, dstate, generator=g),
        "D": torch.randn((heads, headdim) if full_D else (heads,), generator=g),
        "z": torch.randn(batch, L, heads, headdim, generator=g),
        "dt_bias": torch.randn(heads, generator=g) * 0.5,
        "initial_states": torch.randn(batch, heads, headdim, dstate, generator=g),
    }
    return {k: v.to(dtype).requires_grad_() for k, v in t.items()}


def packed_ids(batch, L, n_cuts, seed=0):
    """Non-decreasing sequence ids with ``n_cuts`` boundaries per row (ids may skip values)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(batch, L, dtype=torch.int64)
    for row in range(batch):
        for cut in torch.randperm(L - 1, generator=g)[:n_cuts] + 1:
            ids[row, cut:] += int(torch.randint(1, 3, (1,), generator=g))
    return ids


def run_and_grad(fn, inputs, gy, gfinal, **kw):
    y, final = fn(**inputs, dt_softplus=True, return_final_states=True, **kw)
    loss = (y.double() * gy).sum() + (final.double() * gfinal).sum()
    names = list(inputs)
    grads = torch.autograd.grad(loss, [inputs[k] for k in names])
    return y, final, dict(zip(names, grads))


@pytest.mark.parametrize(
    ("batch", "L", "heads", "headdim", "groups", "dstate", "chunk", "cuts", "full_D"),
    [
        (2, 1, 2, 3, 1, 4, 64, 0, False),
        (2, 63, 4, 3, 2, 5, 16, 0, True),
        (2, 63, 4, 2, 4, 3, 21, 3, False),
        (1, 63, 2, 4, 1, 8, 64, 2, False),
        (2, 500, 4, 4, 2, 8, 64, 4, False),
        (1, 500, 2, 3, 1, 4, 100, 0, True),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_torch_path_matches_reference(batch, L, heads, headdim, groups, dstate, chunk, cuts, full_D, dtype):
    inputs = make_inputs(batch, L, heads, headdim, groups, dstate, dtype, full_D=full_D)
    ref_inputs = {k: v.detach().double().requires_grad_() for k, v in inputs.items()}
    seq_idx = packed_ids(batch, L, cuts) if cuts else None
    g = torch.Generator().manual_seed(1)
    gy = torch.randn(batch, L, heads, headdim, generator=g, dtype=torch.float64)
    gfinal = torch.randn(batch, heads, headdim, dstate, generator=g, dtype=torch.float64)

    y_ref, final_ref, grads_ref = run_and_grad(ssd_scan_ref, ref_inputs, gy, gfinal, seq_idx=seq_idx)
    y, final, grads = run_and_grad(ssd_scan_torch, inputs, gy, gfinal, chunk_size=chunk, seq_idx=seq_idx)

    assert y.dtype == dtype
    assert y.shape == (batch, L, heads, headdim)
    assert final.shape == (batch, heads, headdim, dstate)
    tol = TOL[dtype]
    assert rel_rms(y, y_ref) < tol
    assert rel_rms(final, final_ref) < tol
    for name, grad in grads.items():
        assert grad.dtype == dtype, name
        assert grad.shape == inputs[name].shape, name
        assert rel_rms(grad, grads_ref[name]) < tol, name


def test_reference_matches_unrolled_sum():
    """The oracle itself against ``y_t = sum_{s<=t} exp(A sum_{s<k<=t} dt_k) dt_s (C_t . B_s) x_s``."""
    inputs = {k: v.detach().double() for k, v in make_inputs(1, 7, 2, 3, 1, 4).items()}
    x, dt, A, B, C = (inputs[k] for k in ["x", "dt", "A", "B", "C"])
    y = torch.zeros_like(x)
    for t in range(7):
        for s in range(t + 1):
            decay = torch.exp(A * dt[0, s + 1 : t + 1].sum(0))  # [h]
            cb = (C[0, t, 0] * B[0, s, 0]).sum()
            y[0, t] += (decay * dt[0, s] * cb)[:, None] * x[0, s]
    torch.testing.assert_close(ssd_scan_ref(x, dt, A, B, C), y, rtol=1e-12, atol=1e-12)


def test_packed_sequences_do_not_see_each_other():
    """A packed row gives, on each segment, exactly what that segment gives alone."""
    inputs = {k: v.detach() for k, v in make_inputs(1, 40, 2, 3, 1, 4).items()}
    inputs.pop("initial_states")
    seq_idx = torch.tensor([[0] * 13 + [1] * 20 + [5] * 7])
    y = ssd_scan_torch(**inputs, chunk_size=8, dt_softplus=True, seq_idx=seq_idx)
    assert torch.isfinite(y).all()
    for start, end in ((0, 13), (13, 33), (33, 40)):
        part = {k: v[:, start:end] if v.dim() >= 3 else v for k, v in inputs.items()}
        alone = ssd_scan_torch(**part, chunk_size=8, dt_softplus=True)
        torch.testing.assert_close(y[:, start:end], alone, rtol=1e-5, atol=1e-5)


def test_initial_state_continues_a_split_sequence():
    inputs = {k: v.detach() for k, v in make_inputs(2, 50, 4, 2, 2, 3).items()}
    inputs.pop("initial_states")
    kw = {"chunk_size": 16, "dt_softplus": True, "return_final_states": True}
    y_full, final_full = ssd_scan_torch(**inputs, **kw)
    first = {k: v[:, :21] if v.dim() >= 3 else v for k, v in inputs.items()}
    second = {k: v[:, 21:] if v.dim() >= 3 else v for k, v in inputs.items()}
    y1, h1 = ssd_scan_torch(**first, **kw)
    y2, h2 = ssd_scan_torch(**second, initial_states=h1, **kw)
    torch.testing.assert_close(torch.cat([y1, y2], dim=1), y_full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h2, final_full, rtol=1e-5, atol=1e-5)


def test_gradcheck_float64():
    inputs = {k: v.detach().double().requires_grad_() for k, v in make_inputs(1, 11, 4, 2, 2, 3).items()}
    seq_idx = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1, 3, 3]])
    names = list(inputs)

    def fn(*tensors):
        kw = dict(zip(names, tensors))
        return ssd_scan_torch(**kw, chunk_size=4, dt_softplus=True, seq_idx=seq_idx, return_final_states=True)

    assert torch.autograd.gradcheck(fn, tuple(inputs.values()))


def test_outputs_finite_with_fast_decay_and_resets():
    """Masked entries become -inf before the exponential: no inf * 0 = NaN in outputs or gradients."""
    inputs = make_inputs(1, 70, 2, 2, 1, 3)
    with torch.no_grad():
        inputs["dt"].fill_(30.0)
        inputs["A"].mul_(20.0)
    seq_idx = packed_ids(1, 70, 5)
    y, final = ssd_scan_torch(**inputs, chunk_size=32, dt_softplus=True, seq_idx=seq_idx, return_final_states=True)
    (y.sum() + final.sum()).backward()
    assert torch.isfinite(y).all()
    assert torch.isfinite(final).all()
    assert all(torch.isfinite(v.grad).all() for v in inputs.values())


def test_public_function_dispatches(monkeypatch):
    inputs = {k: v.detach() for k, v in make_inputs(2, 20, 2, 3, 1, 4).items()}
    monkeypatch.delenv("PAPERZOO_KERNELS", raising=False)
    kw = {"chunk_size": 8, "dt_softplus": True}
    torch.testing.assert_close(ssd_scan(**inputs, **kw), ssd_scan_torch(**inputs, **kw))
    monkeypatch.setenv("PAPERZOO_KERNELS", "reference")
    torch.testing.assert_close(ssd_scan(**inputs, **kw), ssd_scan_ref(**inputs, **kw), rtol=1e-5, atol=1e-5)


def _saved_bytes(L, chunk, requires_grad=True):
    """Bytes autograd keeps for the backward pass of one scan, and the bytes of its inputs."""
    inputs = make_inputs(1, L, 2, 4, 1, 8)
    if not requires_grad:
        inputs = {k: v.detach() for k, v in inputs.items()}
    total = saved_for_backward(ssd_scan_torch, **inputs, chunk_size=chunk, dt_softplus=True)[1]
    return total, sum(v.numel() * v.element_size() for v in inputs.values())


def test_memory_grows_linearly_in_length():
    ratio = _saved_bytes(2048, 32)[0] / _saved_bytes(512, 32)[0]
    assert 3.6 < ratio < 4.4


@pytest.mark.parametrize("chunk", [16, 64, 256])
def test_backward_keeps_only_the_inputs(chunk):
    """The (T, T) blocks are recomputed in backward, not kept: what is saved is the inputs, for any chunk."""
    saved, inputs = _saved_bytes(1024, chunk)
    assert saved < 1.2 * inputs  # the inputs, plus one small state per segment where L spans several
    assert _saved_bytes(1024, chunk, requires_grad=False)[0] == 0


def test_gradient_reaches_the_one_input_that_requires_it():
    inputs = {k: v.detach() for k, v in make_inputs(1, 40, 2, 3, 1, 4).items()}
    x = inputs.pop("x").requires_grad_()
    y = ssd_scan_torch(x, **inputs, chunk_size=16, dt_softplus=True)
    (grad,) = torch.autograd.grad(y.sum(), x)
    x_ref = x.detach().double().requires_grad_()
    y_ref = ssd_scan_ref(x_ref, **{k: v.double() for k, v in inputs.items()}, dt_softplus=True)
    (grad_ref,) = torch.autograd.grad(y_ref.sum(), x_ref)
    assert rel_rms(grad, grad_ref) < 2e-5


@pytest.mark.parametrize(("chunk", "cuts"), [(16, 0), (16, 5), (7, 3)])
def test_segmented_backward_matches_reference(monkeypatch, chunk, cuts):
    """Under autograd long inputs run in recomputed segments; values and gradients stay the reference's."""
    monkeypatch.setattr(torch_path, "SEGMENT_CHUNKS", 2)  # segments of 2 chunks: several boundaries below
    batch, L = 2, 150
    inputs = make_inputs(batch, L, 4, 3, 2, 5)
    ref_inputs = {k: v.detach().double().requires_grad_() for k, v in inputs.items()}
    seq_idx = packed_ids(batch, L, cuts, seed=3) if cuts else None
    g = torch.Generator().manual_seed(2)
    gy = torch.randn(batch, L, 4, 3, generator=g, dtype=torch.float64)
    gfinal = torch.randn(batch, 4, 3, 5, generator=g, dtype=torch.float64)
    y_ref, final_ref, grads_ref = run_and_grad(ssd_scan_ref, ref_inputs, gy, gfinal, seq_idx=seq_idx)
    y, final, grads = run_and_grad(ssd_scan_torch, inputs, gy, gfinal, chunk_size=chunk, seq_idx=seq_idx)
    assert rel_rms(y, y_ref) < 2e-5
    assert rel_rms(final, final_ref) < 2e-5
    for name, grad in grads.items():
        assert rel_rms(grad, grads_ref[name]) < 1e-4, name
    saved, input_bytes = _saved_bytes(L, chunk)
    assert saved < 1.2 * input_bytes  # the inputs plus one small state per segment


def _bad(**changes):
    base = {k: v.detach() for k, v in make_inputs(2, 10, 4, 3, 2, 5).items()}
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (lambda: _bad(x=torch.randn(2, 10, 12)), r"x: .*\(batch, L, heads, headdim\)"),
        (lambda: _bad(dt=torch.randn(2, 9, 4)), r"dt: .*\(batch, L, heads\)"),
        (lambda: _bad(A=torch.randn(3)), r"A: .*\(heads,\)"),
        (lambda: _bad(B=torch.randn(2, 11, 2, 5)), r"B: .*\(batch, L, groups, dstate\)"),
        (lambda: _bad(B=torch.randn(2, 10, 3, 5), C=torch.randn(2, 10, 3, 5)), r"B: groups = 3 must divide heads"),
        (lambda: _bad(C=torch.randn(2, 10, 2, 4)), r"C: .*\(batch, L, groups, dstate\)"),
        (lambda: _bad(D=torch.randn(4, 2)), r"D: .*\(heads,\) or \(heads, headdim\)"),
        (lambda: _bad(z=torch.randn(2, 10, 4, 2)), r"z: .*\(batch, L, heads, headdim\)"),
        (lambda: _bad(dt_bias=torch.randn(5)), r"dt_bias: .*\(heads,\)"),
        (lambda: _bad(initial_states=torch.randn(2, 4, 3, 4)), r"initial_states: .*\(batch, heads, headdim, dstate\)"),
        (lambda: _bad(seq_idx=torch.zeros(2, 9, dtype=torch.long)), r"seq_idx: .*\(batch, L\)"),
        (lambda: _bad(seq_idx=torch.zeros(2, 10)), r"seq_idx: expected an integer"),
        (lambda: _bad(seq_idx=torch.tensor([[0] * 5 + [1] * 5, [0] * 5 + [1, 0] + [2] * 3])), r"non-decreasing"),
    ],
)
def test_bad_inputs_raise_value_error(inputs, match):
    with pytest.raises(ValueError, match=match):
        ssd_scan(**inputs())


def test_bad_chunk_size_raises_value_error():
    with pytest.raises(ValueError, match="chunk_size"):
        ssd_scan(**_bad(), chunk_size=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_matches_torch_on_gpu(dtype):
    from paperzoo.kernels.ssd_scan.triton import ssd_scan_triton

    inputs = {k: v.detach().cuda().to(dtype).requires_grad_() for k, v in make_inputs(2, 300, 8, 16, 2, 32).items()}
    ref_inputs = {k: v.detach().double().requires_grad_() for k, v in inputs.items()}
    seq_idx = packed_ids(2, 300, 3).cuda()
    gy = torch.randn(2, 300, 8, 16, device="cuda", dtype=torch.float64)
    gfinal = torch.randn(2, 8, 16, 32, device="cuda", dtype=torch.float64)
    y_ref, final_ref, grads_ref = run_and_grad(ssd_scan_torch, ref_inputs, gy, gfinal, seq_idx=seq_idx)
    y, final, grads = run_and_grad(ssd_scan_triton, inputs, gy, gfinal, seq_idx=seq_idx, chunk_size=64)
    tol = 2e-5 if dtype == torch.float32 else 2e-2
    assert rel_rms(y, y_ref) < tol
    assert rel_rms(final, final_ref) < tol
    for name, grad in grads.items():
        assert rel_rms(grad, grads_ref[name]) < tol, name
