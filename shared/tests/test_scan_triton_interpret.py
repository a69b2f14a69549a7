"""The Triton scan kernels (forward and backward) run on the CPU under ``TRITON_INTERPRET=1``.

The variable must be set before triton is first imported, so each check runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.triton_interpret

COMMON = textwrap.dedent(
    """
    import torch

    from paperzoo.testing import rel_rms

    def check(name, fn, ref_fn, inputs, dtype, tol, **kw):
        leaves = {k: v.to(dtype).requires_grad_() for k, v in inputs.items()}
        ref_leaves = {k: v.detach().double().requires_grad_() for k, v in leaves.items()}
        out, state = fn(**leaves, **kw)
        ref_out, ref_state = ref_fn(**ref_leaves, **kw)
        g = torch.Generator().manual_seed(1)
        gy = torch.randn(out.shape, generator=g, dtype=torch.float64)
        gs = torch.randn(state.shape, generator=g, dtype=torch.float64)
        grads = torch.autograd.grad((out.double() * gy).sum() + (state.double() * gs).sum(), list(leaves.values()))
        ref_grads = torch.autograd.grad((ref_out * gy).sum() + (ref_state * gs).sum(), list(ref_leaves.values()))
        assert out.dtype == dtype, name
        assert not out.isnan().any(), f"{name}: NaN left in the output"
        assert rel_rms(out, ref_out) < tol, (name, rel_rms(out, ref_out))
        assert rel_rms(state, ref_state) < tol, (name, "state")
        for k, gr, ref_gr in zip(leaves, grads, ref_grads):
            assert gr.shape == leaves[k].shape, (name, k)
            assert not gr.isnan().any(), (name, k, "NaN")
            assert rel_rms(gr, ref_gr) < tol, (name, k, rel_rms(gr, ref_gr))
        print(name, "ok")
    """
)

SELECTIVE = textwrap.dedent(
    """
    from paperzoo.kernels.selective_scan import selective_scan_ref
    from paperzoo.kernels.selective_scan.triton import selective_scan_triton

    def make(batch, dim, dstate, L, groups, seed=0):
        g = torch.Generator().manual_seed(seed)
        bc = (batch, dstate, L) if groups is None else (batch, groups, dstate, L)
        return {
            "u": torch.randn(batch, dim, L, generator=g),
            "delta": torch.randn(batch, dim, L, generator=g) - 1.0,
            "A": -torch.exp(torch.randn(dim, dstate, generator=g) * 0.5),
            "B": torch.randn(bc, generator=g),
            "C": torch.randn(bc, generator=g),
            "D": torch.randn(dim, generator=g),
            "z": torch.randn(batch, dim, L, generator=g),
            "delta_bias": torch.randn(dim, generator=g) * 0.5,
        }

    kw = {"delta_softplus": True, "return_last_state": True}
    for batch, dim, dstate, L, groups, chunk in [(2, 4, 3, 1, None, 4), (2, 6, 5, 13, 3, 4), (1, 5, 2, 10, None, 16)]:
        fn = lambda chunk=chunk, **a: selective_scan_triton(**a, chunk_size=chunk)
        inputs = make(batch, dim, dstate, L, groups)
        check(f"selective {L=} {groups=}", fn, selective_scan_ref, inputs, torch.float32, 2e-5, **kw)
    check("selective fp16", selective_scan_triton, selective_scan_ref, make(1, 4, 4, 9, 2), torch.float16, 3e-3, **kw)
    """
)

SSD = textwrap.dedent(
    """
    from paperzoo.kernels.ssd_scan import ssd_scan_ref
    from paperzoo.kernels.ssd_scan.triton import ssd_scan_triton

    def make(batch, L, heads, headdim, groups, dstate, full_D, seed=0):
        g = torch.Generator().manual_seed(seed)
        return {
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

    for batch, L, heads, headdim, groups, dstate, chunk, packed in [
        (2, 1, 2, 3, 1, 4, 64, False),
        (2, 13, 4, 3, 2, 5, 4, True),
        (1, 10, 2, 2, 1, 3, 3, True),
    ]:
        seq_idx = torch.tensor([[0] * 3 + [1] * 4 + [3] * (L - 7)] * batch) if packed else None
        kw = {"dt_softplus": True, "seq_idx": seq_idx, "return_final_states": True, "chunk_size": chunk}
        inputs = make(batch, L, heads, headdim, groups, dstate, full_D=packed)
        check(f"ssd {L=} {groups=} {packed=}", ssd_scan_triton, ssd_scan_ref, inputs, torch.float32, 2e-5, **kw)
    """
)


def run_interpreted(body: str) -> str:
    env = {**os.environ, "TRITON_INTERPRET": "1", "PAPERZOO_KERNELS": ""}
    proc = subprocess.run(
        [sys.executable, "-c", COMMON + body], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_selective_scan_triton_forward_and_backward():
    pytest.importorskip("triton")
    out = run_interpreted(SELECTIVE)
    assert out.count(" ok") == 4


def test_ssd_scan_triton_forward_and_backward():
    pytest.importorskip("triton")
    out = run_interpreted(SSD)
    assert out.count(" ok") == 3
