"""The oracle: alpha-entmax by plain bisection, and dense entmax attention.

Obvious rather than fast. The threshold is found by bisection (float64 by default), and gradients come
from autograd through one implicit-function step, so they do not rely on the closed-form Jacobian the
fast paths use.
"""

from __future__ import annotations

import math

import torch


def _power(u: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``max(u, 0) ** (1 / (alpha - 1))`` whose gradient is exactly zero where ``u <= 0``."""
    positive = u > 0
    u_safe = torch.where(positive, u, torch.ones_like(u))
    return torch.where(positive, u_safe ** (1 / (alpha - 1)), torch.zeros_like(u))


def entmax_reference(
    x: torch.Tensor,
    alpha: torch.Tensor | float = 1.5,
    dim: int = -1,
    mask: torch.Tensor | None = None,
    n_iter: int = 200,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """alpha-entmax along ``dim``: ``p = [(alpha - 1) x - tau]_+ ** (1 / (alpha - 1))``, ``sum(p) = 1``.

    Args:
        x: scores of any shape.
        alpha: a float > 1, or a tensor broadcastable to ``x`` with size 1 along ``dim``.
        dim: the dim that sums to one.
        mask: optional bool tensor broadcastable to ``x``; False entries get ``p = 0``. A slice with every entry
            masked is all zeros.
        n_iter: bisection steps (the bracket has width < 1 and halves each step).
        dtype: compute dtype; the result is returned in it.

    Returns:
        the probabilities, shape of ``x``, in ``dtype``.
    """
    xf = x.to(dtype).movedim(dim, -1)
    a = alpha.to(dtype).expand(x.shape).movedim(dim, -1)[..., :1] if isinstance(alpha, torch.Tensor) else alpha
    valid = torch.ones_like(xf, dtype=torch.bool) if mask is None else mask.expand(x.shape).movedim(dim, -1)
    any_valid = valid.any(-1, keepdim=True)
    x_max = torch.where(valid, xf, torch.full_like(xf, -math.inf)).amax(-1, keepdim=True)
    x_max = torch.where(any_valid, x_max, torch.zeros_like(x_max)).detach()
    z = torch.where(valid, (a - 1) * (xf - x_max), torch.full_like(xf, -math.inf))

    def mass(tau: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return _power(z - tau, a).sum(-1, keepdim=True)

    with torch.no_grad():
        lo = torch.full_like(x_max, -1.0)
        hi = torch.zeros_like(x_max)
        for _ in range(n_iter):
            mid = (lo + hi) / 2
            above = mass(mid, z) >= 1
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        tau_star = (lo + hi) / 2
        u = z - tau_star
        positive = u > 0
        slope = -torch.where(positive, torch.where(positive, u, 1) ** (1 / (a - 1) - 1), 0).sum(-1, keepdim=True)
        slope = slope / (a - 1)
        slope = torch.where(slope < 0, slope, -torch.ones_like(slope))
    # One Newton step from the converged tau: its value does not move, its gradient is the implicit one.
    tau = tau_star - (mass(tau_star, z) - 1) / slope
    p = _power(z - tau, a)
    p = p * any_valid.to(dtype)
    return p.movedim(-1, dim)


def entmax_attention_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alpha: float = 1.5,
    causal: bool = False,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Dense entmax attention: ``entmax(scale * q k^T, masked) @ v``.

    Args:
        q: ``[B, H, Lq, d]`` queries.
        k: ``[B, H, Lk, d]`` keys.
        v: ``[B, H, Lk, dv]`` values.
        alpha: entmax alpha > 1.
        causal: query i attends keys j <= i (top-left aligned, as in scaled_dot_product_attention).
        mask: bool, broadcastable to ``[B, H, Lq, Lk]``, True = attend.
        scale: score scale, default ``1 / sqrt(d)``.
        dtype: compute dtype.

    Returns:
        ``[B, H, Lq, dv]`` in ``dtype``; rows whose keys are all masked are zero.
    """
    lq, lk, d = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    scores = scale * q.to(dtype) @ k.to(dtype).transpose(-1, -2)  # [B, H, Lq, Lk]
    valid = torch.ones(lq, lk, dtype=torch.bool, device=q.device)
    if causal:
        valid = valid.tril()
    if mask is not None:
        valid = valid & mask
    p = entmax_reference(scores, alpha, dim=-1, mask=valid.expand(scores.shape), dtype=dtype)
    return p @ v.to(dtype)
