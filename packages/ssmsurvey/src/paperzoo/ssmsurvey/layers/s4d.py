"""S4D (diagonal structured SSM): complex diagonal ``A`` from HiPPO-derived initialisations.

Convolution mode: ``K̄_l = 2 Re(Σ_n C_n B̄_n Ā_n^l)`` (conjugate pairs implicit) from a Vandermonde product,
and ``y = K̄ * u`` by FFT in ``O(L log L)``. Recurrent mode: the same system stepped one token at a time.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from paperzoo.ssmsurvey.layers.common import OutputStage, causal_fft_conv, check_sequence, log_uniform_dt
from paperzoo.ssmsurvey.layers.discretize import bilinear_diagonal, hippo_legs_normal_eigvals, zoh_diagonal

INITS = ("lin", "inv", "real", "legs")


def s4d_init(init: str, d_state: int) -> torch.Tensor:
    """Diagonal of ``A`` for one channel.

    Args:
        init: ``"lin"`` (``-1/2 + iπn``), ``"inv"`` (``-1/2 + i(M/π)(M/(2n+1) - 1)``), ``"real"``
            (``-(n+1)``, all ``N`` modes real) or ``"legs"`` (eigenvalues of HiPPO-LegS's normal part).
        d_state: state size ``N``; complex inits keep ``M = N / 2`` modes, their conjugates implicit.

    Returns:
        ``[M]`` complex64.
    """
    if init not in INITS:
        raise ValueError(f"init: expected one of {INITS}, got {init!r}")
    if init == "real":
        return torch.complex(-(torch.arange(d_state, dtype=torch.float32) + 1), torch.zeros(d_state))
    if d_state % 2:
        raise ValueError(f"d_state: complex init {init!r} needs an even state size, got {d_state}")
    M = d_state // 2
    n = torch.arange(M, dtype=torch.float32)
    real = torch.full((M,), -0.5)
    if init == "lin":
        return torch.complex(real, math.pi * n)
    if init == "inv":
        return torch.complex(real, M / math.pi * (M / (2 * n + 1) - 1))
    eig = hippo_legs_normal_eigvals(d_state)
    eig = eig[eig.imag > 0]
    eig = eig[torch.argsort(eig.imag)][:M]
    return eig.to(torch.complex64)


class S4D(nn.Module):
    """S4D layer: ``H`` independent diagonal SSMs with state size ``N``, then the output stage.

    Args:
        d_model: channels ``H``.
        d_state: state size ``N`` per channel.
        l_max: longest sequence the convolution kernel is built for; longer inputs raise ValueError.
        init: one of ``lin``, ``inv``, ``real``, ``legs`` (see :func:`s4d_init`).
        discretization: ``"zoh"`` or ``"bilinear"``.
        dt_min: smallest initial step size.
        dt_max: largest initial step size.
        gated: GLU output stage; ``False`` is the "S4 without gating" ablation.
        mode: ``"conv"`` (FFT, training) or ``"recurrent"``.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        l_max: int = 1024,
        init: str = "lin",
        discretization: str = "zoh",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        gated: bool = True,
        mode: str = "conv",
    ) -> None:
        super().__init__()
        if discretization not in ("zoh", "bilinear"):
            raise ValueError(f"discretization: expected 'zoh' or 'bilinear', got {discretization!r}")
        if mode not in ("conv", "recurrent"):
            raise ValueError(f"mode: expected 'conv' or 'recurrent', got {mode!r}")
        H = d_model
        A = s4d_init(init, d_state).expand(H, -1).clone()  # [H, M]
        M = A.shape[1]
        self.d_model, self.d_state, self.l_max, self.mode = H, d_state, l_max, mode
        self.discretization = discretization
        # Conjugate pairs are implicit for complex inits: the kernel is 2 Re(.) of M modes.
        self.scale = 1.0 if init == "real" else 2.0
        self.log_A_real = nn.Parameter(torch.log(-A.real))
        self.A_imag = nn.Parameter(A.imag, requires_grad=init != "real")
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, M, dtype=torch.complex64) * math.sqrt(0.5)))
        self.D = nn.Parameter(torch.randn(H))
        self.log_dt = nn.Parameter(log_uniform_dt(H, dt_min, dt_max))
        self.out = OutputStage(H, gated)

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Ā [H, M], C B̄ [H, M])`` complex, with ``B = 1`` as in S4D."""
        A = torch.complex(-self.log_A_real.exp(), self.A_imag)
        fn = zoh_diagonal if self.discretization == "zoh" else bilinear_diagonal
        Ad, Bd = fn(A, torch.ones_like(A), self.log_dt.exp())
        return Ad, torch.view_as_complex(self.C) * Bd

    def kernel(self, L: int) -> torch.Tensor:
        """The convolution kernel ``K̄ [H, L]`` by a Vandermonde product ``Σ_n (C B̄)_n Ā_n^l``."""
        if self.l_max < L:
            raise ValueError(f"L: the S4D kernel is configured for l_max = {self.l_max}, got length {L}")
        Ad, CB = self.discrete()
        pos = torch.arange(L, device=Ad.device, dtype=Ad.real.dtype)
        vander = torch.exp(torch.log(Ad)[:, :, None] * pos)  # [H, M, L]
        return self.scale * torch.einsum("hm,hml->hl", CB, vander).real

    def ssm(self, u: torch.Tensor, mode: str | None = None) -> torch.Tensor:
        """The SSM alone (no output stage) in ``mode`` (default: the layer's): ``[B, L, H] -> [B, L, H]``."""
        check_sequence("u", u, self.d_model)
        L = u.shape[1]
        if self.l_max < L:
            raise ValueError(f"u: the S4D layer is configured for l_max = {self.l_max}, got length {L}")
        if (mode or self.mode) == "recurrent":
            return self.recurrent(u)
        K = self.kernel(L).to(u.dtype)  # [H, L]
        return causal_fft_conv(u.transpose(1, 2), K).transpose(1, 2) + self.D * u

    def recurrent(self, u: torch.Tensor) -> torch.Tensor:
        """``x_k = Ā x_{k-1} + B̄ u_k``, ``y_k = 2 Re(C x_k) + D u_k``, one step at a time; ``[B, L, H]``."""
        Ad, CB = self.discrete()
        cdtype = torch.complex128 if u.dtype == torch.float64 else torch.complex64
        Ad, CB = Ad.to(cdtype), CB.to(cdtype)
        x = torch.zeros(u.shape[0], self.d_model, Ad.shape[1], dtype=cdtype, device=u.device)  # [B, H, M]
        ys = []
        for k in range(u.shape[1]):
            # C is folded into the input weight (C B̄), which leaves the output C x unchanged for diagonal A.
            x = Ad * x + CB * u[:, k, :, None]
            ys.append(self.scale * x.sum(-1).real)
        return torch.stack(ys, dim=1).to(u.dtype) + self.D * u

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``[B, L, H] -> [B, L, H]``."""
        return self.out(self.ssm(u))
