"""S5: one multi-input multi-output diagonal SSM over all channels, run with a parallel associative scan.

``x_k = Λ̄ x_{k-1} + B̄ u_k`` with ``Λ`` from the eigenvalues of HiPPO-LegS's normal part (conjugate pairs
implicit), ``y_k = 2 Re(C x_k) + D u_k``. The linear recurrence is computed with the Hillis-Steele scan
(``log2 L`` vectorised steps): the operator ``(a, b) ∘ (a', b') = (a a', a' b + b')`` is associative.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from paperzoo.ssmsurvey.layers.common import OutputStage, check_sequence, log_uniform_dt
from paperzoo.ssmsurvey.layers.discretize import hippo_legs_normal_eigvals


def parallel_linear_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """States of ``x_k = a x_{k-1} + b_k`` from ``x_{-1} = 0`` by an associative (Hillis-Steele) scan.

    Args:
        a: ``[P]`` time-invariant decays (complex or real).
        b: ``[B, L, P]`` inputs.

    Returns:
        ``[B, L, P]`` states.
    """
    L = b.shape[1]
    x, a_pow, shift = b, a, 1
    while shift < L:
        x = torch.cat([x[:, :shift], x[:, shift:] + a_pow * x[:, :-shift]], dim=1)
        a_pow = a_pow * a_pow
        shift *= 2
    return x


class S5(nn.Module):
    """S5 layer (MIMO, ZOH, parallel scan), then the output stage.

    Args:
        d_model: channels ``H`` (inputs and outputs of the one MIMO system).
        d_state: state size ``P`` (``P / 2`` complex modes kept, conjugates implicit).
        dt_min: smallest initial step size.
        dt_max: largest initial step size.
        gated: GLU output stage.
    """

    def __init__(
        self, d_model: int, d_state: int = 64, dt_min: float = 1e-3, dt_max: float = 1e-1, gated: bool = True
    ) -> None:
        super().__init__()
        if d_state % 2:
            raise ValueError(f"d_state: S5 needs an even state size, got {d_state}")
        H, M = d_model, d_state // 2
        eig = hippo_legs_normal_eigvals(d_state)
        eig = eig[eig.imag > 0]
        eig = eig[torch.argsort(eig.imag)][:M].to(torch.complex64)
        self.d_model = H
        self.log_L_real = nn.Parameter(torch.log(-eig.real))
        self.L_imag = nn.Parameter(eig.imag.clone())
        self.B = nn.Parameter(torch.view_as_real(torch.randn(M, H, dtype=torch.complex64) / math.sqrt(2 * H)))
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, M, dtype=torch.complex64) / math.sqrt(M)))
        self.D = nn.Parameter(torch.randn(H))
        self.log_dt = nn.Parameter(log_uniform_dt(M, dt_min, dt_max))
        self.out = OutputStage(H, gated)

    def ssm(self, u: torch.Tensor) -> torch.Tensor:
        """``[B, L, H] -> [B, L, H]`` without the output stage."""
        check_sequence("u", u, self.d_model)
        Lam = torch.complex(-self.log_L_real.exp(), self.L_imag)  # [M]
        Ld = torch.exp(self.log_dt.exp() * Lam)
        Bd = ((Ld - 1) / Lam)[:, None] * torch.view_as_complex(self.B)  # [M, H]
        b = torch.einsum("mh,blh->blm", Bd, u.to(Bd.dtype))  # [B, L, M]
        x = parallel_linear_scan(Ld, b)
        y = 2 * torch.einsum("hm,blm->blh", torch.view_as_complex(self.C), x).real
        return y.to(u.dtype) + self.D * u

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``[B, L, H] -> [B, L, H]``."""
        return self.out(self.ssm(u))
