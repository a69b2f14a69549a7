"""Selective scan (Mamba-1): the chunked PyTorch path against the step-by-step reference."""

from __future__ import annotations

import pytest
import torch

from paperzoo.core import saved_for_backward
from paperzoo.kernels.selective_scan import selective_scan, selective_scan_ref, selective_scan_torch
from paperzoo.kernels.selective_scan import torch as torch_path
from paperzoo.kernels.selective_scan.torch import LinearScan, time_blocks
from paperzoo.testing import rel_rms

TOL = {torch.float32: 2e-5, torch.float16: 3e-3, torch.float64: 1e-12}


def make_inputs(batch, dim, dstate, L, groups=None, dtype=torch.float32, seed=0, delta_scale=1.0):
    """Mamba-like inputs: negative A, positive steps after softplus."""
    g = torch.Generator().manual_seed(seed)
    bc_shape = (batch, dstate, L) if groups is None else (batch, groups, dstate, L)
    t = {
        "u": torch.randn(batch, dim, L, generator=g),
        "delta": torch.randn(batch, dim, L, generator=g) * delta_scale - 1.0,
        "A": -torch.exp(torch.randn(dim, dstate, generator=g) * 0.5),
        "B": torch.randn(bc_shape, generator=g),
        "C": torch.randn(bc_shape, generator=g),
        "D": torch.randn(dim, generator=g),
        "z": torch.randn(batch, dim, L, generator=g),
        "delta_bias": torch.randn(dim, generator=g) * 0.5,
    }
    return {k: v.to(dtype).requires_grad_() for k, v in t.items()}


def run_and_grad(fn, inputs, gy, glast, **kw):
    y, last = fn(**inputs, delta_softplus=True, return_last_state=True, **kw)
    loss = (y.double() * gy).sum() + (last.double() * glast).sum()
    names = list(inputs)
    grads = torch.autograd.grad(loss, [inputs[k] for k in names])
    return y, last, dict(zip(names, grads))


@pytest.mark.parametrize(
    ("batch", "dim", "dstate", "L", "groups", "chunk"),
    [
        (2, 4, 3, 1, None, None),
        (2, 6, 5, 63, None, None),
        (2, 6, 5, 63, 3, 7),
        (1, 4, 4, 63, 2, 64),
        (2, 8, 4, 500, None, None),
        (1, 4, 3, 500, 2, 25),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_torch_path_matches_reference(batch, dim, dstate, L, groups, chunk, dtype):
    inputs = make_inputs(batch, dim, dstate, L, groups, dtype)
    ref_inputs = {k: v.detach().double().requires_grad_() for k, v in inputs.items()}
    g = torch.Generator().manual_seed(1)
    gy = torch.randn(batch, dim, L, generator=g, dtype=torch.float64)
    glast = torch.randn(batch, dim, dstate, generator=g, dtype=torch.float64)

    y_ref, last_ref, grads_ref = run_and_grad(selective_scan_ref, ref_inputs, gy, glast)
    y, last, grads = run_and_grad(selective_scan_torch, inputs, gy, glast, chunk_size=chunk)

    assert y.dtype == dtype
    assert y.shape == (batch, dim, L)
    assert last.shape == (batch, dim, dstate)
    tol = TOL[dtype]
    assert rel_rms(y, y_ref) < tol
    assert rel_rms(last, last_ref) < tol
    for name, grad in grads.items():
        assert grad.dtype == dtype, name
        assert grad.shape == inputs[name].shape, name
        assert rel_rms(grad, grads_ref[name]) < tol, name


@pytest.mark.parametrize(
    ("block_elements", "L", "chunk"),
    [(64 * 5, 63, None), (64 * 6, 63, 4), (64 * 10, 64, None), (1, 17, None), (64 * 8, 500, 3)],
)
def test_time_blocks_match_reference(monkeypatch, block_elements, L, chunk):
    """Long sequences run in time blocks that carry the state across; forward, last state and gradients
    must not change. ``per_step`` is 2 * 8 * 4 = 64 elements here, so these budgets give blocks of 5, 6, 10,
    1 and 8 steps (rounded to the chunk), with a shorter last block."""
    monkeypatch.setattr(torch_path, "BLOCK_ELEMENTS", block_elements)
    inputs = make_inputs(2, 8, 4, L, groups=2, dtype=torch.float32)
    Lb, used_chunk = time_blocks(L, 64, chunk)
    assert Lb < L, "the case must span several blocks"
    assert Lb % used_chunk == 0
    ref_inputs = {k: v.detach().double().requires_grad_() for k, v in inputs.items()}
    g = torch.Generator().manual_seed(2)
    gy = torch.randn(2, 8, L, generator=g, dtype=torch.float64)
    glast = torch.randn(2, 8, 4, generator=g, dtype=torch.float64)
    y_ref, last_ref, grads_ref = run_and_grad(selective_scan_ref, ref_inputs, gy, glast)
    y, last, grads = run_and_grad(selective_scan_torch, inputs, gy, glast, chunk_size=chunk)
    assert rel_rms(y, y_ref) < TOL[torch.float32]
    assert rel_rms(last, last_ref) < TOL[torch.float32]
    for name, grad in grads.items():
        assert rel_rms(grad, grads_ref[name]) < TOL[torch.float32], name


@pytest.mark.parametrize(("L", "per_step", "chunk"), [(4096, 16384, None), (300, 1, None), (4096, 16384, 100)])
def test_time_blocks_bound_the_working_set(L, per_step, chunk):
    Lb, used = time_blocks(L, per_step, chunk)
    assert Lb % used == 0
    assert Lb >= used
    assert Lb * per_step <= max(torch_path.BLOCK_ELEMENTS, used * per_step)
    assert Lb <= max(L, used)


def test_reference_matches_unrolled_sum():
    """The oracle itself against ``h_t = sum_{s<=t} exp(A sum_{s<k<=t} delta_k) delta_s B_s u_s``."""
    inputs = {k: v.detach().double() for k, v in make_inputs(1, 3, 2, 9).items()}
    u, delta, A, B, C = (inputs[k] for k in ["u", "delta", "A", "B", "C"])
    delta = torch.nn.functional.softplus(delta)
    y = torch.zeros(1, 3, 9, dtype=torch.float64)
    for t in range(9):
        for s in range(t + 1):
            decay = torch.exp(A * delta[0, :, s + 1 : t + 1].sum(-1, keepdim=True))  # [d, n]
            h_part = decay * delta[0, :, s, None] * B[0, None, :, s] * u[0, :, s, None]
            y[0, :, t] += (h_part * C[0, None, :, t]).sum(-1)
    got = selective_scan_ref(inputs["u"], inputs["delta"], A, B, C, delta_softplus=True)
    torch.testing.assert_close(got, y, rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    inputs = {k: v.detach().double().requires_grad_() for k, v in make_inputs(2, 4, 3, 11, groups=2).items()}
    names = list(inputs)

    def fn(*tensors):
        kw = dict(zip(names, tensors))
        return selective_scan_torch(**kw, delta_softplus=True, return_last_state=True, chunk_size=4)

    assert torch.autograd.gradcheck(fn, tuple(inputs.values()))


def test_large_steps_stay_finite():
    """Long steps with fast decay: the cumulative decay underflows to zero instead of overflowing."""
    inputs = make_inputs(1, 4, 8, 200, delta_scale=0.0)
    with torch.no_grad():
        inputs["delta"].fill_(40.0)
        inputs["A"].mul_(16.0)
    ref_inputs = {k: v.detach().double() for k, v in inputs.items()}
    y = selective_scan_torch(**inputs, delta_softplus=True, chunk_size=50)
    y.sum().backward()
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(v.grad).all() for v in inputs.values())
    assert rel_rms(y, selective_scan_ref(**ref_inputs, delta_softplus=True)) < TOL[torch.float32]


@pytest.mark.parametrize(("L", "chunk"), [(1, 1), (10, 3), (12, 4), (7, 16)])
def test_scan_writes_every_element(L, chunk):
    """The scan allocates its states and adjoints as NaN: none may survive, whatever the chunking."""
    g = torch.Generator().manual_seed(0)
    Lp = -(-L // chunk) * chunk
    a = torch.rand(Lp, 2, 3, generator=g).requires_grad_()
    x = torch.randn(Lp, 2, 3, generator=g).requires_grad_()
    h = LinearScan.apply(a, x, chunk)
    h.backward(torch.randn(Lp, 2, 3, generator=g))
    assert not h.isnan().any()
    assert not a.grad.isnan().any()
    assert not x.grad.isnan().any()
    expected = torch.zeros(2, 3)
    for t in range(Lp):
        expected = a[t].detach() * expected + x[t].detach()
        torch.testing.assert_close(h[t].detach(), expected)


def test_public_function_dispatches(monkeypatch):
    inputs = {k: v.detach() for k, v in make_inputs(2, 4, 3, 20).items()}
    monkeypatch.delenv("PAPERZOO_KERNELS", raising=False)
    torch.testing.assert_close(
        selective_scan(**inputs, delta_softplus=True), selective_scan_torch(**inputs, delta_softplus=True)
    )
    monkeypatch.setenv("PAPERZOO_KERNELS", "reference")
    torch.testing.assert_close(
        selective_scan(**inputs, delta_softplus=True), selective_scan_ref(**inputs, delta_softplus=True)
    )


def test_memory_grows_linearly_in_length():
    """Bytes autograd keeps for the backward pass: proportional to L, not to L * chunk or L**2."""

    def saved_bytes(L):
        return saved_for_backward(selective_scan_torch, **make_inputs(1, 8, 4, L), delta_softplus=True)[1]

    ratio = saved_bytes(4096) / saved_bytes(1024)
    assert 3.6 < ratio < 4.4


def _bad(**changes):
    base = {k: v.detach() for k, v in make_inputs(2, 4, 3, 10).items()}
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        (lambda: _bad(u=torch.randn(2, 4)), r"u: .*\(batch, dim, L\)"),
        (lambda: _bad(delta=torch.randn(2, 4, 9)), r"delta: .*\(batch, dim, L\)"),
        (lambda: _bad(A=torch.randn(5, 3)), r"A: .*\(dim, dstate\)"),
        (lambda: _bad(B=torch.randn(3, 3, 10)), r"B: .*\(batch, dstate, L\)"),
        (lambda: _bad(C=torch.randn(2, 3, 11)), r"C: .*\(batch, dstate, L\)"),
        (lambda: _bad(B=torch.randn(2, 3, 3, 10)), r"B: groups = 3 must divide dim = 4"),
        (lambda: _bad(D=torch.randn(5)), r"D: .*\(dim,\)"),
        (lambda: _bad(z=torch.randn(2, 4, 11)), r"z: .*\(batch, dim, L\)"),
        (lambda: _bad(delta_bias=torch.randn(4, 1)), r"delta_bias: .*\(dim,\)"),
        (lambda: _bad(u=torch.ones(2, 4, 10, dtype=torch.long)), r"u: expected a floating-point"),
    ],
)
def test_bad_inputs_raise_value_error(inputs, match):
    with pytest.raises(ValueError, match=match):
        selective_scan(**inputs())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_matches_torch_on_gpu(dtype):
    from paperzoo.kernels.selective_scan.triton import selective_scan_triton

    inputs = {k: v.detach().cuda().to(dtype).requires_grad_() for k, v in make_inputs(2, 64, 16, 300, 2).items()}
    ref_inputs = {k: v.detach().double().requires_grad_() for k, v in inputs.items()}
    gy = torch.randn(2, 64, 300, device="cuda", dtype=torch.float64)
    glast = torch.randn(2, 64, 16, device="cuda", dtype=torch.float64)
    y_ref, last_ref, grads_ref = run_and_grad(selective_scan_torch, ref_inputs, gy, glast)
    y, last, grads = run_and_grad(selective_scan_triton, inputs, gy, glast)
    tol = 2e-5 if dtype == torch.float32 else 2e-2
    assert rel_rms(y, y_ref) < tol
    assert rel_rms(last, last_ref) < tol
    for name, grad in grads.items():
        assert rel_rms(grad, grads_ref[name]) < tol, name
