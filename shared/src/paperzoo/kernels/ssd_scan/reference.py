"""The SSD scan (Mamba-2) written as its recurrence: one Python step per time index.

This is the oracle the chunked and Triton paths are tested against. It computes in float32, or in float64
when the inputs are float64, and is differentiable through autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def ssd_scan_ref(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int = 64,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: torch.Tensor | None = None,
    seq_idx: torch.Tensor | None = None,
    return_final_states: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """SSD scan by its definition, looping over time.

    ``h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T``, ``y_t = h_t C_t + D * x_t``, ``y *= silu(z)``.
    Where ``seq_idx`` changes from ``t - 1`` to ``t`` the state is reset to zero before step ``t``; the
    initial state belongs to the sequence at position 0.

    Args:
        x: ``(batch, L, heads, headdim)``.
        dt: ``(batch, L, heads)``.
        A: ``(heads,)``.
        B: ``(batch, L, groups, dstate)``; head ``h`` reads group ``h // (heads // groups)``.
        C: ``(batch, L, groups, dstate)``.
        chunk_size: unused here (the loop has no chunks); kept for the common signature.
        D: ``(heads,)`` or ``(heads, headdim)``, optional.
        z: like ``x``, optional.
        dt_bias: ``(heads,)``, added to ``dt`` before the softplus, optional.
        dt_softplus: apply softplus to ``dt``.
        initial_states: ``(batch, heads, headdim, dstate)``, optional.
        seq_idx: ``(batch, L)`` integer sequence ids, non-decreasing along ``L``, optional.
        return_final_states: also return the final state.

    Returns:
        ``y`` like ``x`` (its dtype), and with ``return_final_states`` the final state
        ``(batch, heads, headdim, dstate)`` in float32 (float64 for float64 inputs).
    """
    del chunk_size
    dtype_in = x.dtype
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    batch, L, heads, headdim = x.shape
    groups, dstate = B.shape[2], B.shape[3]
    x, dt, A = x.to(compute), dt.to(compute), A.to(compute)
    if dt_bias is not None:
        dt = dt + dt_bias.to(compute)
    if dt_softplus:
        dt = F.softplus(dt)
    Bh = B.to(compute).repeat_interleave(heads // groups, dim=2)  # [b, L, h, n]
    Ch = C.to(compute).repeat_interleave(heads // groups, dim=2)  # [b, L, h, n]
    h = x.new_zeros(batch, heads, headdim, dstate) if initial_states is None else initial_states.to(compute)
    ys = []
    for t in range(L):
        if seq_idx is not None and t > 0:
            keep = (seq_idx[:, t] == seq_idx[:, t - 1]).to(compute)  # [b]
            h = h * keep[:, None, None, None]
        decay = torch.exp(dt[:, t] * A)  # [b, h]
        inp = (dt[:, t, :, None] * x[:, t])[..., None] * Bh[:, t, :, None, :]  # [b, h, p, n]
        h = decay[..., None, None] * h + inp
        ys.append((h * Ch[:, t, :, None, :]).sum(-1))  # [b, h, p]
    y = torch.stack(ys, dim=1)  # [b, L, h, p]
    if D is not None:
        Dc = D.to(compute)
        y = y + (Dc[:, None] if Dc.dim() == 1 else Dc) * x
    if z is not None:
        y = y * F.silu(z.to(compute))
    y = y.to(dtype_in)
    return (y, h) if return_final_states else y
