"""The selective scan (Mamba-1, S6) written as the recurrence it is: one Python step per time index.

This is the oracle the faster paths are tested against. It computes in float32, or in float64 when
the inputs are float64, and is differentiable through autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def expand_groups(M: torch.Tensor, dim: int) -> torch.Tensor:
    """Give every channel its own copy of the grouped B or C.

    Args:
        M: ``(batch, dstate, L)`` (one group) or ``(batch, groups, dstate, L)``.
        dim: the number of channels; channel ``d`` reads group ``d // (dim // groups)``.

    Returns:
        ``(batch, dim, dstate, L)``.
    """
    if M.dim() == 3:
        return M.unsqueeze(1).expand(-1, dim, -1, -1)
    groups = M.shape[1]
    return M.repeat_interleave(dim // groups, dim=1)


def selective_scan_ref(
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
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan by its definition, looping over time.

    ``h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t``, ``y_t = <h_t, C_t> + D * u_t``,
    ``y *= silu(z)``; ``delta_bias`` is added to ``delta`` before the softplus.

    Args:
        u: ``(batch, dim, L)`` input.
        delta: ``(batch, dim, L)`` step sizes.
        A: ``(dim, dstate)`` real state matrix (diagonal per channel).
        B: ``(batch, dstate, L)`` or ``(batch, groups, dstate, L)`` input projection.
        C: ``(batch, dstate, L)`` or ``(batch, groups, dstate, L)`` output projection.
        D: ``(dim,)`` skip connection, optional.
        z: ``(batch, dim, L)`` gate, optional.
        delta_bias: ``(dim,)`` added to ``delta``, optional.
        delta_softplus: apply softplus to ``delta`` (after the bias).
        return_last_state: also return the state after the last step.

    Returns:
        ``y`` of shape ``(batch, dim, L)`` in ``u``'s dtype and, with ``return_last_state``, the last
        state ``(batch, dim, dstate)`` in the compute dtype (float32, or float64 for float64 inputs).
    """
    dtype_in = u.dtype
    compute = torch.float64 if u.dtype == torch.float64 else torch.float32
    batch, dim, L = u.shape
    u, delta, A = u.to(compute), delta.to(compute), A.to(compute)
    if delta_bias is not None:
        delta = delta + delta_bias.to(compute)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    Bd = expand_groups(B.to(compute), dim)  # [b, d, n, L]
    Cd = expand_groups(C.to(compute), dim)  # [b, d, n, L]
    h = u.new_zeros(batch, dim, A.shape[1])  # [b, d, n]
    ys = []
    for t in range(L):
        dt = delta[:, :, t, None]  # [b, d, 1]
        h = torch.exp(dt * A) * h + dt * Bd[:, :, :, t] * u[:, :, t, None]
        ys.append((h * Cd[:, :, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1) if L > 0 else u.new_zeros(batch, dim, 0)  # [b, d, L]
    if D is not None:
        y = y + D.to(compute)[:, None] * u
    if z is not None:
        y = y * F.silu(z.to(compute))
    y = y.to(dtype_in)
    return (y, h) if return_last_state else y
