"""Entmax attention's Triton kernels, run on the CPU under TRITON_INTERPRET=1 at tiny shapes.

TRITON_INTERPRET must be set before triton is first imported, so each test runs this file as a script in a
fresh process; the script compares forward output and the gradients of q, k and v against the float64
reference and exits non-zero on a mismatch. A GPU test runs the same comparison on CUDA.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# batch, heads, Lq, Lk, d, dv, causal, masked
CASES = {
    "float32": [
        ((1, 2, 21, 37, 8, 5, False, False), (1.5, 2.0, 1.25)),
        ((2, 1, 33, 17, 16, 16, True, False), (1.5, 2.0)),
        ((1, 2, 19, 40, 8, 8, True, True), (1.5, 1.25)),
    ],
    "float16": [((1, 2, 25, 31, 16, 8, False, True), (1.5, 2.0))],
}
TOL = {"float32": 1e-4, "float16": 1e-2}


def _rel_rms(actual: torch.Tensor, expected: torch.Tensor) -> float:
    actual, expected = actual.double(), expected.double()
    return ((actual - expected).pow(2).mean().sqrt() / expected.pow(2).mean().sqrt().clamp_min(1e-30)).item()


def check(dtype_name: str, device: str = "cpu") -> None:
    """Compare the Triton path with the float64 reference on every case of ``dtype_name``; raise on mismatch."""
    from paperzoo.kernels.entmax.reference import entmax_attention_reference
    from paperzoo.kernels.entmax.triton import entmax_attention_triton

    dtype = getattr(torch, dtype_name)
    for case, alphas in CASES[dtype_name]:
        batch, heads, lq, lk, d, dv, causal, masked = case
        gen = torch.Generator().manual_seed(lq * 1000 + lk)
        q = torch.randn(batch, heads, lq, d, generator=gen).to(device, dtype).requires_grad_()
        k = torch.randn(batch, heads, lk, d, generator=gen).to(device, dtype).requires_grad_()
        v = torch.randn(batch, heads, lk, dv, generator=gen).to(device, dtype).requires_grad_()
        grad_out = torch.randn(batch, heads, lq, dv, generator=gen).to(device)
        mask = None
        if masked:
            mask = (torch.rand(1, heads, lq, lk, generator=gen) > 0.4).to(device)
            mask[0, 0, 3] = False  # a query with no key to attend
        for alpha in alphas:
            out = entmax_attention_triton(q, k, v, alpha, causal, mask)
            grads = torch.autograd.grad(out, (q, k, v), grad_out.to(dtype))
            q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
            ref = entmax_attention_reference(q64, k64, v64, alpha, causal, mask)
            ref_grads = torch.autograd.grad(ref, (q64, k64, v64), grad_out.double())
            label = f"{dtype_name} case={case} alpha={alpha}"
            for name, got, want in zip(("out", "dq", "dk", "dv"), (out, *grads), (ref, *ref_grads), strict=True):
                if got.dtype != dtype or torch.isnan(got).any():
                    raise AssertionError(f"{label}: {name} has dtype {got.dtype} or NaN")
                err = _rel_rms(got, want)
                if not err < TOL[dtype_name]:
                    raise AssertionError(f"{label}: {name} relative RMS error {err:.2e} >= {TOL[dtype_name]}")
            if mask is not None and not ((out[0, 0, 3] == 0).all() and (grads[0][0, 0, 3] == 0).all()):
                raise AssertionError(f"{label}: a fully masked query has a non-zero output or gradient")
    # Scores of 100x scale stay finite and rows still sum to one (checked through v = ones).
    gen = torch.Generator().manual_seed(0)
    q, k = (torch.randn(1, 1, 17, 16, generator=gen).to(device, dtype) for _ in range(2))
    ones = torch.ones(1, 1, 17, 16, device=device, dtype=dtype)
    out = entmax_attention_triton(q, k, ones, 1.5, False, None, 100.0)
    if not torch.isfinite(out).all() or not math.isclose(out.float().mean().item(), 1.0, abs_tol=1e-3):
        raise AssertionError(f"{dtype_name}: 100x scores give {out.flatten()[:4]}")


def _run_interpreted(dtype_name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRITON_INTERPRET": "1", "PAPERZOO_KERNELS": "triton"}
    return subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), dtype_name],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.triton_interpret
@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
def test_triton_kernels_interpreted(dtype_name):
    pytest.importorskip("triton")
    result = _run_interpreted(dtype_name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
def test_triton_kernels_cuda(dtype_name):
    check(dtype_name, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_public_function_dispatches_to_triton_on_cuda():
    from paperzoo.kernels.entmax import entmax_attention

    q = torch.randn(1, 2, 70, 32, device="cuda")
    out = entmax_attention(q, q, q, alpha=1.5, causal=True)
    ref = entmax_attention(q.cpu(), q.cpu(), q.cpu(), alpha=1.5, causal=True)
    assert _rel_rms(out.cpu(), ref) < 1e-3


if __name__ == "__main__":
    check(sys.argv[1])
    print("ok")
