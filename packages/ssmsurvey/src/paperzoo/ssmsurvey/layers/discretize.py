"""Discretisation of ``x'(t) = A x(t) + B u(t)`` and the HiPPO-LegS matrix.

ZOH: ``Ā = exp(ΔA)``, ``B̄ = (ΔA)^{-1}(exp(ΔA) - I) ΔB``. Bilinear: ``Ā = (I - Δ/2 A)^{-1}(I + Δ/2 A)``,
``B̄ = (I - Δ/2 A)^{-1} Δ B``.
"""

from __future__ import annotations

import torch


def zoh(A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order hold for dense ``A``.

    Args:
        A: ``[..., N, N]`` continuous state matrix.
        B: ``[..., N, P]`` continuous input matrix.
        dt: ``[...]`` step sizes (broadcast against the batch dimensions of ``A``).

    Returns:
        ``(Ā [..., N, N], B̄ [..., N, P])``.
    """
    dA = dt[..., None, None] * A  # [..., N, N]
    Ad = torch.linalg.matrix_exp(dA)
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    Bd = torch.linalg.solve(dA, (Ad - eye) @ (dt[..., None, None] * B))
    return Ad, Bd


def bilinear(A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear (Tustin) discretisation for dense ``A``; shapes as in :func:`zoh`."""
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    half = dt[..., None, None] / 2 * A
    left = eye - half
    Ad = torch.linalg.solve(left, eye + half)
    Bd = torch.linalg.solve(left, dt[..., None, None] * B)
    return Ad, Bd


def zoh_diagonal(A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ZOH for diagonal ``A`` (complex or real), elementwise.

    Args:
        A: ``[H, N]`` diagonal of the state matrix per channel.
        B: ``[H, N]`` input vector per channel.
        dt: ``[H]`` step size per channel.

    Returns:
        ``(Ā [H, N], B̄ [H, N])``.
    """
    dA = dt[:, None] * A
    Ad = torch.exp(dA)
    return Ad, (Ad - 1) / A * B


def bilinear_diagonal(A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear discretisation for diagonal ``A``; shapes as in :func:`zoh_diagonal`."""
    half = dt[:, None] / 2 * A
    Ad = (1 + half) / (1 - half)
    return Ad, dt[:, None] * B / (1 - half)


def hippo_legs(N: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """HiPPO-LegS: ``A_nk = -sqrt(2n+1) sqrt(2k+1)`` for n > k, ``-(n+1)`` for n = k, 0 above the diagonal.

    Returns:
        ``[N, N]``.
    """
    r = torch.sqrt(2 * torch.arange(N, dtype=dtype) + 1)
    A = -r[:, None] * r[None, :]
    A = torch.tril(A, diagonal=-1) - torch.diag(torch.arange(N, dtype=dtype) + 1)
    return A


def hippo_legs_normal_eigvals(N: int) -> torch.Tensor:
    """Eigenvalues of the normal part of HiPPO-LegS (``A + P P^T`` with ``P_n = sqrt(n + 1/2)``), as S5 uses.

    Returns:
        ``[N]`` complex128, real part -1/2.
    """
    A = hippo_legs(N)
    p = torch.sqrt(torch.arange(N, dtype=torch.float64) + 0.5)
    S = A + p[:, None] * p[None, :]
    return torch.linalg.eigvals(S)
