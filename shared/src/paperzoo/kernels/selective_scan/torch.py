"""The selective scan in chunked PyTorch: the fast path on a CPU.

The recurrence ``h_t = a_t * h_{t-1} + x_t`` (``a_t = exp(delta_t * A)``, ``x_t = delta_t * B_t * u_t``) is
run in chunks of ``T`` steps. Within a chunk every chunk advances at once: one vectorised step per position
computes the local state (started from zero) and the cumulative decay ``prod a`` (the exponential of a
cumulative log-decay that never exceeds zero, so it cannot overflow). Between chunks one step per chunk
carries the state, and a last pass adds ``cumulative decay * carried state`` to every position. That is
``T + L / T`` Python steps instead of ``L`` (about ``2 sqrt(L)``), and only products of decays, never a
quotient, so it stays as stable as the plain loop.

The gradient of the recurrence is the same scan run backwards in time (``g_t = dh_t + a_{t+1} g_{t+1}``),
written as a ``torch.autograd.Function`` so that autograd stores two ``(L, batch, dim, dstate)`` tensors
(``a`` and ``h``) rather than one graph node per step; memory grows linearly in ``L``.

The sequence is processed in time blocks of a bounded number of state elements (``BLOCK_ELEMENTS``), each
block starting from the state the previous one ended with. Every pass of the chunked scan sweeps its whole
``(L, batch, dim, dstate)`` operands, so without blocks the time per step jumps once they outgrow the CPU's
last-level cache (measured on a 32 MiB L3: 4x from L = 256 to 512 at batch 8, dim 128, dstate 16) and the
log-log slope of time against ``L`` reads 1.4-1.6 for an algorithm that is linear. With blocks the
working set no longer depends on ``L``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# State elements (Lb * batch * dim * dstate) per time block: 4 MiB in float32 per operand, so that the
# block's decays, inputs, states and decay products (about 16 MiB) stay inside a typical last-level cache.
# Measured on one thread (batch 8, dim 128, dstate 16, forward): 16, 32, 68, 134 ms at L = 256..2048 (slope
# 1.04) against 16, 50, 214, 428 ms unblocked (1.64); 2^19 and 2^21 were slower. The training shape of
# ssmsurvey (batch 32, L = 80) ran forward + backward in 64 ms instead of 104 on the idle machine, but 69 vs 68
# side by side with another job on the second core.
BLOCK_ELEMENTS = 1 << 20


def auto_chunk(L: int) -> int:
    """Chunk length that balances the steps within chunks against the steps between them."""
    return max(1, math.ceil(math.sqrt(L)))


def time_blocks(L: int, per_step: int, chunk_size: int | None) -> tuple[int, int]:
    """Block length ``Lb`` (time steps per block) and chunk length for a scan of ``L`` steps.

    Args:
        L: sequence length.
        per_step: state elements per time step (``batch * dim * dstate``).
        chunk_size: the caller's chunk length, or None to pick about ``sqrt(Lb)``.

    Returns:
        ``(Lb, chunk)`` with ``Lb`` a multiple of ``chunk``; ``Lb >= L`` when one block holds everything.
    """
    Lb = max(1, min(L, BLOCK_ELEMENTS // max(1, per_step)))
    chunk = chunk_size or auto_chunk(Lb)
    return max(chunk, Lb // chunk * chunk), chunk


def _forward_scan(a: torch.Tensor, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """States of ``h_t = a_t h_{t-1} + x_t`` from ``h_{-1} = 0``.

    Args:
        a: ``(Lp, *S)`` decays, ``Lp`` a multiple of ``chunk``.
        x: ``(Lp, *S)`` inputs.
        chunk: chunk length.

    Returns:
        ``(Lp, *S)`` states; allocated as NaN and written everywhere.
    """
    Lp, S = a.shape[0], a.shape[1:]
    nc = Lp // chunk
    av, xv = a.view(nc, chunk, *S), x.view(nc, chunk, *S)
    h = torch.full_like(av, float("nan"))  # [nc, T, *S] states from a zero start in each chunk
    P = torch.empty_like(av)  # [nc, T, *S] decay from the chunk's start to each step
    h[:, 0] = xv[:, 0]
    P[:, 0] = av[:, 0]
    for t in range(1, chunk):
        torch.addcmul(xv[:, t], av[:, t], h[:, t - 1], out=h[:, t])
        torch.mul(P[:, t - 1], av[:, t], out=P[:, t])
    starts = torch.empty((nc, *S), dtype=a.dtype, device=a.device)  # [nc, *S] state entering each chunk
    carry = torch.zeros(S, dtype=a.dtype, device=a.device)
    for c in range(nc):
        starts[c] = carry
        carry = torch.addcmul(h[c, -1], P[c, -1], carry)
    h.addcmul_(P, starts.unsqueeze(1))
    return h.view(Lp, *S)


def _backward_scan(a: torch.Tensor, gh: torch.Tensor, chunk: int) -> torch.Tensor:
    """Adjoints ``g_t = gh_t + a_{t+1} g_{t+1}`` (with ``g_{Lp} = 0``) by the same chunked scheme, reversed."""
    Lp, S = a.shape[0], a.shape[1:]
    nc = Lp // chunk
    av, gv = a.view(nc, chunk, *S), gh.view(nc, chunk, *S)
    g = torch.full_like(av, float("nan"))  # [nc, T, *S] adjoints from a zero end in each chunk
    Q = torch.empty_like(av)  # [nc, T, *S] decay from each step to the chunk's end
    g[:, -1] = gv[:, -1]
    Q[:, -1] = 1.0
    for t in range(chunk - 2, -1, -1):
        torch.addcmul(gv[:, t], av[:, t + 1], g[:, t + 1], out=g[:, t])
        torch.mul(Q[:, t + 1], av[:, t + 1], out=Q[:, t])
    ends = torch.empty((nc, *S), dtype=a.dtype, device=a.device)  # [nc, *S] adjoint arriving from the right
    carry = torch.zeros(S, dtype=a.dtype, device=a.device)
    for c in range(nc - 1, -1, -1):
        ends[c] = carry
        carry = av[c, 0] * torch.addcmul(g[c, 0], Q[c, 0], carry)
    g.addcmul_(Q, ends.unsqueeze(1))
    return g.view(Lp, *S)


class LinearScan(torch.autograd.Function):
    """``h_t = a_t * h_{t-1} + x_t`` along dim 0 from a zero state, with the reversed scan as backward."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, x: torch.Tensor, chunk: int) -> torch.Tensor:
        a, x = a.contiguous(), x.contiguous()
        h = _forward_scan(a, x, chunk)
        ctx.save_for_backward(a, h)
        ctx.chunk = chunk
        return h

    @staticmethod
    def backward(ctx, gh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        a, h = ctx.saved_tensors
        g = _backward_scan(a, gh.contiguous(), ctx.chunk)
        grad_a = torch.empty_like(a)
        grad_a[0] = 0.0
        torch.mul(g[1:], h[:-1], out=grad_a[1:])
        return grad_a, g, None


def _time_first(t: torch.Tensor, Lp: int, dtype: torch.dtype) -> torch.Tensor:
    """``(..., L)`` to a contiguous ``(Lp, ...)`` in ``dtype``, zero-padded at the end."""
    t = t.to(dtype).movedim(-1, 0).contiguous()
    if Lp > t.shape[0]:
        t = torch.cat([t, t.new_zeros(Lp - t.shape[0], *t.shape[1:])])
    return t


def _per_channel(M: torch.Tensor, Lp: int, dtype: torch.dtype) -> torch.Tensor:
    """Grouped B or C, ``(batch, [groups,] dstate, L)``, as ``(Lp, batch, groups, 1, dstate)``."""
    if M.dim() == 3:
        M = M.unsqueeze(1)
    return _time_first(M, Lp, dtype).unsqueeze(-2)  # [Lp, b, g, 1, n]


def selective_scan_torch(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    chunk_size: int | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan, chunked; same arguments and results as :func:`selective_scan_ref`.

    Args:
        chunk_size: steps per chunk; ``None`` picks about ``sqrt(Lb)`` for the time block ``Lb`` (see
            :func:`time_blocks`). Any value gives the same result.
    """
    dtype_in = u.dtype
    compute = torch.float64 if u.dtype == torch.float64 else torch.float32
    batch, dim, L = u.shape
    dstate = A.shape[1]
    Lb, chunk = time_blocks(L, batch * dim * dstate, chunk_size)
    Lp = math.ceil(L / chunk) * chunk

    delta = delta.to(compute)
    if delta_bias is not None:
        delta = delta + delta_bias.to(compute)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    # Padding delta with zeros makes the padded steps a_t = 1, x_t = 0: they leave the state unchanged.
    dt = _time_first(delta, Lp, compute)  # [Lp, b, d]
    ut = _time_first(u, Lp, compute)  # [Lp, b, d]
    Bt = _per_channel(B, Lp, compute)  # [Lp, b, gB, 1, n]
    Ct = _per_channel(C, Lp, compute)  # [Lp, b, gC, 1, n]
    gB, gC = Bt.shape[2], Ct.shape[2]
    A = A.to(compute)

    ys = []
    state = None  # [b, d, n] state after the previous block
    for s in range(0, Lp, Lb):  # Lb and Lp are multiples of chunk, so every block is too
        e = min(s + Lb, Lp)
        a = torch.exp(dt[s:e].unsqueeze(-1) * A)  # [l, b, d, n]
        x = ((dt[s:e] * ut[s:e]).view(e - s, batch, gB, -1, 1) * Bt[s:e]).view(e - s, batch, dim, dstate)
        if state is not None:
            # h_s = a_s h_{s-1} + x_s: fold the carried state into the block's first input. In place: x is a
            # fresh product that no backward node keeps, so this avoids copying the whole block.
            x[0] += a[0] * state
        h = LinearScan.apply(a, x, chunk)  # [l, b, d, n]
        state = h[-1]
        ys.append((h.view(e - s, batch, gC, dim // gC, dstate) @ Ct[s:e].transpose(-1, -2)).view(e - s, batch, dim))
    y = torch.cat(ys)[:L]  # [L, b, d]
    if D is not None:
        y = y + D.to(compute) * ut[:L]
    if z is not None:
        y = y * F.silu(_time_first(z, L, compute))
    y = y.permute(1, 2, 0).to(dtype_in).contiguous()  # [b, d, L]
    # Padded steps keep the state, so the state after Lp steps is the state after L.
    return (y, state) if return_last_state else y
