"""The PyTorch (CPU) path: entmax attention computed one query chunk at a time.

Forward, per chunk of queries: scores against every key, the exact threshold of each row (sort-based for
alpha 1.5 and 2, bisection otherwise), probabilities, times ``v``. Only ``out``, the row max and the
threshold are kept; the backward recomputes each chunk's scores and probabilities. Peak memory is a few
``[B, H, chunk, Lk]`` buffers instead of the ``[B, H, Lq, Lk]`` attention matrix.
"""

from __future__ import annotations

import math

import torch
from torch.autograd import Function

from paperzoo.kernels.entmax.mappings import (
    _power,
    bisect_threshold,
    entmax15_threshold,
    entmax_jvp_transpose,
    sparsemax_threshold,
)

# Elements of one [B, H, chunk, Lk] score buffer; a handful of such buffers are alive at a time.
CHUNK_ELEMENTS = 1 << 21
BISECT_ITERS = 40
# Exact thresholds first look at this many top scores per row (a partial sort); rows with a larger support
# are sorted in full, so the result does not depend on it.
TOP_SCORES = 128


def _chunk_rows(batch_heads: int, lk: int, chunk_elements: int) -> int:
    return max(1, chunk_elements // max(1, batch_heads * lk))


def _valid_block(
    mask: torch.Tensor | None, causal: bool, start: int, stop: int, lk: int, device: torch.device
) -> torch.Tensor | None:
    """Bool ``[..., stop - start, Lk]`` of attended keys for queries ``start:stop``, or None when all are."""
    valid = None
    if causal:
        rows = torch.arange(start, stop, device=device)[:, None]
        valid = torch.arange(lk, device=device)[None, :] <= rows
    if mask is not None:
        m = mask[..., start:stop, :] if mask.shape[-2] != 1 else mask
        valid = m if valid is None else valid & m
    return valid


def _threshold(z: torch.Tensor, alpha: float) -> torch.Tensor:
    if alpha == 1.5:
        return entmax15_threshold(z, TOP_SCORES)
    if alpha == 2.0:
        return sparsemax_threshold(z, TOP_SCORES)
    return bisect_threshold(z, alpha, BISECT_ITERS)


def _probabilities(
    s: torch.Tensor, valid: torch.Tensor | None, alpha: float, row_max: torch.Tensor, tau: torch.Tensor
) -> torch.Tensor:
    """``p = [(alpha - 1)(s - max) - tau]_+ ** (1/(alpha-1))``, zero on masked keys, renormalised for bisection."""
    u = (alpha - 1) * (s - row_max) - tau
    if valid is not None:
        u = u.masked_fill(~valid, -1.0)
    p = _power(u, alpha)
    if alpha not in (1.5, 2.0):
        total = p.sum(-1, keepdim=True)
        p = p / torch.where(total > 0, total, torch.ones_like(total))
    return p


def _scores(q_chunk: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    return (q_chunk * scale) @ k.transpose(-1, -2)  # [B, H, C, Lk]


def _forward_chunk(s: torch.Tensor, valid: torch.Tensor | None, alpha: float):
    """Row max, threshold and probabilities for one chunk of scores ``[B, H, C, Lk]``."""
    if valid is None:
        row_max = s.amax(-1, keepdim=True)
        z = (alpha - 1) * (s - row_max)
        tau = _threshold(z, alpha)
        return row_max, tau, _power(z - tau, alpha) if alpha in (1.5, 2.0) else None
    row_max = s.masked_fill(~valid, -math.inf).amax(-1, keepdim=True)
    any_valid = valid.any(-1, keepdim=True)
    row_max = torch.where(any_valid, row_max, torch.zeros_like(row_max))
    # Masked keys sit at z = -2, below every threshold (tau >= -1 when max z = 0), so they never enter the support.
    z = ((alpha - 1) * (s - row_max)).masked_fill(~valid, -2.0)
    tau = _threshold(z, alpha)
    # A row with no key to attend gets tau = +inf: p = 0 there, in the forward and in the recomputation.
    tau = torch.where(any_valid, tau, torch.full_like(tau, math.inf))
    return row_max, tau, None


class EntmaxAttentionChunked(Function):
    """Entmax attention that saves ``q, k, v``, row max and threshold, and recomputes scores per query chunk."""

    @staticmethod
    def forward(ctx, q, k, v, alpha, causal, mask, scale, chunk_elements):
        batch, heads, lq, _ = q.shape
        lk, dv = k.shape[-2], v.shape[-1]
        compute = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else q.dtype
        kc, vc = k.to(compute), v.to(compute)
        rows = _chunk_rows(batch * heads, lk, chunk_elements)
        out = torch.full((batch, heads, lq, dv), math.nan, dtype=q.dtype, device=q.device)
        row_max = torch.full((batch, heads, lq, 1), math.nan, dtype=compute, device=q.device)
        tau = torch.full_like(row_max, math.nan)
        for start in range(0, lq, rows):
            stop = min(lq, start + rows)
            valid = _valid_block(mask, causal, start, stop, lk, q.device)
            s = _scores(q[..., start:stop, :].to(compute), kc, scale)
            m, t, p = _forward_chunk(s, valid, alpha)
            if p is None:
                p = _probabilities(s, valid, alpha, m, t)
            out[..., start:stop, :] = (p @ vc).to(q.dtype)
            row_max[..., start:stop, :] = m
            tau[..., start:stop, :] = t
        ctx.save_for_backward(q, k, v, row_max, tau)
        ctx.config = (alpha, causal, mask, scale, rows)
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, row_max, tau = ctx.saved_tensors
        alpha, causal, mask, scale, rows = ctx.config
        lq, lk = q.shape[-2], k.shape[-2]
        compute = row_max.dtype
        kc, vc, doutc = k.to(compute), v.to(compute), dout.to(compute)
        dq = torch.full(q.shape, math.nan, dtype=compute, device=q.device)
        dk = torch.zeros(k.shape, dtype=compute, device=q.device)
        dv = torch.zeros(v.shape, dtype=compute, device=q.device)
        for start in range(0, lq, rows):
            stop = min(lq, start + rows)
            valid = _valid_block(mask, causal, start, stop, lk, q.device)
            qc = q[..., start:stop, :].to(compute)
            s = _scores(qc, kc, scale)
            p = _probabilities(s, valid, alpha, row_max[..., start:stop, :], tau[..., start:stop, :])
            do = doutc[..., start:stop, :]  # [B, H, C, dv]
            dv += p.transpose(-1, -2) @ do
            ds = entmax_jvp_transpose(p, do @ vc.transpose(-1, -2), alpha)  # [B, H, C, Lk]
            dq[..., start:stop, :] = (ds @ kc) * scale
            dk += (ds.transpose(-1, -2) @ qc) * scale
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None


def entmax_attention_torch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alpha: float = 1.5,
    causal: bool = False,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    chunk_elements: int | None = None,
) -> torch.Tensor:
    """Entmax attention by query chunks (inputs already validated).

    Args:
        q: ``[B, H, Lq, d]``.
        k: ``[B, H, Lk, d]``.
        v: ``[B, H, Lk, dv]``.
        alpha: a float > 1.
        causal: top-left aligned causal mask (query i attends keys j <= i).
        mask: bool broadcastable to ``[B, H, Lq, Lk]``, True = attend.
        scale: default ``1 / sqrt(d)``.
        chunk_elements: the size of one score buffer ``B * H * chunk * Lk`` (default ``CHUNK_ELEMENTS``); bounds
            peak memory.

    Returns:
        ``[B, H, Lq, dv]`` in q's dtype.
    """
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    chunk_elements = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
    return EntmaxAttentionChunked.apply(q, k, v, float(alpha), causal, mask, scale, chunk_elements)
