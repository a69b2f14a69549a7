"""Fused guided Euler step in Triton: one pass over memory, forward and backward.

``out = x + dt * (v_uncond + scale * (v_cond - v_uncond))`` reads ``x``, ``v_cond`` and ``v_uncond`` once
and writes ``out`` once, computing in float32 whatever the storage dtype (the unfused PyTorch expression
makes five passes with three temporaries). ``dt = t_next - t`` with ``t = 0`` the source and ``t = 1`` the
target; a negative ``dt`` steps from 1 towards 0. The backward kernel reads the output gradient once and
writes the two velocity gradients (``d x = d out`` needs no kernel).

Importing this module never fails: without triton, calling :func:`guided_euler_step` raises a RuntimeError.
"""

from __future__ import annotations

import torch

from paperzoo.kernels._dispatch import triton_interpreting

try:
    import triton
    import triton.language as tl
except Exception:  # triton is optional (Linux only)
    triton = None

BLOCK = 1024

if triton is not None:

    @triton.jit
    def _guided_euler_fwd(x_ptr, vc_ptr, vu_ptr, out_ptr, n, scale, dt, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask).to(tl.float32)
        vc = tl.load(vc_ptr + offs, mask=mask).to(tl.float32)
        vu = tl.load(vu_ptr + offs, mask=mask).to(tl.float32)
        out = x + dt * (vu + scale * (vc - vu))
        tl.store(out_ptr + offs, out.to(out_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _guided_euler_bwd(
        g_ptr,
        dvc_ptr,
        dvu_ptr,
        n,
        w_cond,
        w_uncond,
        WRITE_COND: tl.constexpr,
        WRITE_UNCOND: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        g = tl.load(g_ptr + offs, mask=mask).to(tl.float32)
        if WRITE_COND:
            tl.store(dvc_ptr + offs, (w_cond * g).to(dvc_ptr.dtype.element_ty), mask=mask)
        if WRITE_UNCOND:
            tl.store(dvu_ptr + offs, (w_uncond * g).to(dvu_ptr.dtype.element_ty), mask=mask)


def _empty(like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # NaN-poisoned under the interpreter (the tests), so that an element the kernel misses shows up
    if triton_interpreting():
        return torch.full(like.shape, float("nan"), dtype=dtype, device=like.device)
    return torch.empty(like.shape, dtype=dtype, device=like.device)


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(n, BLOCK),)


class GuidedEulerStep(torch.autograd.Function):
    """Autograd wrapper of the fused kernels; ``scale`` and ``dt`` are Python numbers."""

    @staticmethod
    def forward(ctx, x, v_cond, v_uncond, scale, dt):
        dtype = torch.promote_types(torch.promote_types(x.dtype, v_cond.dtype), v_uncond.dtype)
        x, v_cond, v_uncond = x.contiguous(), v_cond.contiguous(), v_uncond.contiguous()
        out = _empty(x, dtype)
        n = x.numel()
        if n > 0:
            _guided_euler_fwd[_grid(n)](x, v_cond, v_uncond, out, n, float(scale), float(dt), BLOCK=BLOCK)
        ctx.scale, ctx.dt = float(scale), float(dt)
        ctx.dtypes = (x.dtype, v_cond.dtype, v_uncond.dtype)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x_dtype, vc_dtype, vu_dtype = ctx.dtypes
        need_x, need_cond, need_uncond = ctx.needs_input_grad[:3]
        g = grad_out.contiguous()
        d_x = g.to(x_dtype) if need_x else None
        d_cond = _empty(g, vc_dtype) if need_cond else None
        d_uncond = _empty(g, vu_dtype) if need_uncond else None
        n = g.numel()
        if (need_cond or need_uncond) and n > 0:
            # a pointer that is never written stands in for a gradient nobody asked for
            _guided_euler_bwd[_grid(n)](
                g,
                d_cond if need_cond else g,
                d_uncond if need_uncond else g,
                n,
                ctx.dt * ctx.scale,
                ctx.dt * (1.0 - ctx.scale),
                WRITE_COND=need_cond,
                WRITE_UNCOND=need_uncond,
                BLOCK=BLOCK,
            )
        return d_x, d_cond, d_uncond, None, None


def guided_euler_step(
    x: torch.Tensor, v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float, dt: float
) -> torch.Tensor:
    """Fused ``x + dt * (v_uncond + scale * (v_cond - v_uncond))`` (``dt = t_next - t``, ``t = 0`` source).

    Args:
        x: the state at ``t``, shape ``(batch, ...)``, on CUDA (or the CPU under ``TRITON_INTERPRET=1``).
        v_cond: conditional velocity, ``x``'s shape and device.
        v_uncond: unconditional velocity, ``x``'s shape and device.
        scale: guidance scale, a Python number.
        dt: step size, a Python number.

    Returns:
        The state at ``t + dt``, ``x``'s shape, in the promoted dtype of the three tensors.

    Raises:
        RuntimeError: triton does not import, or the tensors are on the CPU outside the interpreter.
    """
    if triton is None:
        raise RuntimeError("the Triton guided Euler step needs triton, which does not import on this machine")
    if not x.is_cuda and not triton_interpreting():
        raise RuntimeError("the Triton guided Euler step needs CUDA tensors (or TRITON_INTERPRET=1 on the CPU)")
    return GuidedEulerStep.apply(x, v_cond, v_uncond, scale, dt)
