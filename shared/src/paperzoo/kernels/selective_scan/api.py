"""The public, validating, dispatching selective_scan (re-exported by the package).

It lives here rather than in ``__init__.py`` because the package's ``torch`` submodule would shadow
the ``torch`` library there.
"""

from __future__ import annotations

import torch

from paperzoo.kernels._checks import check_dim, check_float, check_tensor
from paperzoo.kernels._dispatch import backend
from paperzoo.kernels.selective_scan.reference import selective_scan_ref
from paperzoo.kernels.selective_scan.torch import selective_scan_torch


def _check_inputs(u, delta, A, B, C, D, z, delta_bias) -> None:
    check_tensor("u", u, 3, "(batch, dim, L)")
    batch, dim, L = u.shape
    if L < 1:
        raise ValueError(f"u: expected shape (batch, dim, L) with L >= 1, got {tuple(u.shape)}")
    check_tensor("delta", delta, 3, "(batch, dim, L)")
    if delta.shape != u.shape:
        raise ValueError(f"delta: expected shape (batch, dim, L) = {tuple(u.shape)} like u, got {tuple(delta.shape)}")
    check_tensor("A", A, 2, "(dim, dstate)")
    check_dim("A", A, 0, dim, "(dim, dstate)")
    if A.is_complex():
        raise ValueError("A: expected a real tensor of shape (dim, dstate), got a complex one")
    dstate = A.shape[1]
    for name, M in (("B", B), ("C", C)):
        doc = "(batch, dstate, L) or (batch, groups, dstate, L)"
        check_tensor(name, M, (3, 4), doc)
        check_dim(name, M, 0, batch, doc)
        check_dim(name, M, -2, dstate, doc)
        check_dim(name, M, -1, L, doc)
        if M.dim() == 4 and (M.shape[1] < 1 or dim % M.shape[1] != 0):
            raise ValueError(f"{name}: groups = {M.shape[1]} must divide dim = {dim} in {doc}, got {tuple(M.shape)}")
    for name, v in (("D", D), ("delta_bias", delta_bias)):
        if v is not None:
            check_tensor(name, v, 1, "(dim,)")
            check_dim(name, v, 0, dim, "(dim,)")
    if z is not None:
        check_tensor("z", z, 3, "(batch, dim, L)")
        if z.shape != u.shape:
            raise ValueError(f"z: expected shape (batch, dim, L) = {tuple(u.shape)} like u, got {tuple(z.shape)}")
    for name, v in (("u", u), ("delta", delta), ("A", A), ("B", B), ("C", C), ("D", D), ("z", z)):
        if v is not None:
            check_float(name, v)
    if delta_bias is not None:
        check_float("delta_bias", delta_bias)


def selective_scan(
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
    """Selective scan, dispatched to the Triton (CUDA), chunked PyTorch or reference implementation.

    ``h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t``, ``y_t = <h_t, C_t> + D * u_t``,
    ``y *= silu(z)``, from ``h_{-1} = 0``. ``delta_bias`` is added to ``delta`` before the softplus.

    Args:
        u: ``(batch, dim, L)`` input.
        delta: ``(batch, dim, L)`` step sizes.
        A: ``(dim, dstate)`` real; Mamba uses ``-exp(A_log)``.
        B: ``(batch, dstate, L)`` or ``(batch, groups, dstate, L)``; channel ``d`` reads group
            ``d // (dim // groups)``.
        C: like ``B`` (its own number of groups).
        D: ``(dim,)`` skip connection, optional.
        z: ``(batch, dim, L)`` gate, optional: ``y *= silu(z)``.
        delta_bias: ``(dim,)`` added to ``delta``, optional.
        delta_softplus: apply softplus to ``delta`` after the bias.
        return_last_state: also return the state after the last step.

    Returns:
        ``y`` ``(batch, dim, L)`` in ``u``'s dtype, and with ``return_last_state`` the last state
        ``(batch, dim, dstate)`` in float32 (float64 for float64 inputs).

    Raises:
        ValueError: a tensor has the wrong rank, size or dtype; the message names it and the expected shape.
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    which = backend(u, delta, A, B, C, D, z, delta_bias)
    if which == "reference":
        return selective_scan_ref(*args)
    if which == "triton":
        from paperzoo.kernels.selective_scan.triton import selective_scan_triton

        return selective_scan_triton(*args)
    return selective_scan_torch(*args)
