"""The original SSM: a dense, randomly initialised continuous system, discretised and run recurrently.

Each of the ``H`` channels is a single-input single-output system with its own dense ``A [N, N]``,
``B [N, 1]``, ``C [1, N]`` and scalar ``D``. The recurrent mode costs ``O(L N^2)`` per channel.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from paperzoo.ssmsurvey.layers.common import OutputStage, causal_fft_conv, check_sequence, log_uniform_dt
from paperzoo.ssmsurvey.layers.discretize import bilinear, zoh


class LTISSM(nn.Module):
    """Dense LTI SSM layer: ``x_k = Ā x_{k-1} + B̄ u_k``, ``y_k = C x_k + D u_k``, then the output stage.

    Args:
        d_model: channels ``H``.
        d_state: state size ``N`` per channel.
        discretization: ``"zoh"`` or ``"bilinear"``.
        dt_min: smallest initial step size.
        dt_max: largest initial step size.
        gated: GLU output stage (see :class:`OutputStage`).
        output_from_previous_state: the survey's pseudo-code variant ``y_k = C x_{k-1} + D u_k``.
        mode: ``"recurrent"`` (the original SSM's ``O(L N^2)`` loop over the batch) or ``"conv"`` (the same
            LTI system as a convolution with :meth:`kernel`; faster to train on a CPU, identical output).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        discretization: str = "zoh",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        gated: bool = True,
        output_from_previous_state: bool = False,
        mode: str = "recurrent",
    ) -> None:
        super().__init__()
        if discretization not in ("zoh", "bilinear"):
            raise ValueError(f"discretization: expected 'zoh' or 'bilinear', got {discretization!r}")
        if mode not in ("conv", "recurrent"):
            raise ValueError(f"mode: expected 'conv' or 'recurrent', got {mode!r}")
        self.mode = mode
        H, N = d_model, d_state
        self.d_model, self.d_state = H, N
        self.discretization = discretization
        self.output_from_previous_state = output_from_previous_state
        # Random dense A: circular-law eigenvalues shifted into the left half plane (a disc around -1).
        self.A = nn.Parameter(torch.randn(H, N, N) / math.sqrt(N) - torch.eye(N))
        self.B = nn.Parameter(torch.randn(H, N, 1) / math.sqrt(N))
        self.C = nn.Parameter(torch.randn(H, 1, N) / math.sqrt(N))
        self.D = nn.Parameter(torch.randn(H))
        self.log_dt = nn.Parameter(log_uniform_dt(H, dt_min, dt_max))
        self.out = OutputStage(H, gated)

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Ā [H, N, N], B̄ [H, N, 1])``."""
        fn = zoh if self.discretization == "zoh" else bilinear
        return fn(self.A, self.B, self.log_dt.exp())

    def kernel(self, L: int) -> torch.Tensor:
        """The convolution kernel ``K_l = C Ā^l B̄`` for ``l < L``; ``[H, L]``.

        Built by doubling: the block ``Ā^l B̄`` for ``l < 2m`` is ``[V, Ā^m V]`` from ``V`` for ``l < m``, so
        ``log2 L`` batched matrix products instead of ``L`` steps.
        """
        Ad, Bd = self.discrete()
        V, power = Bd, Ad  # [H, N, m], [H, N, N] = Ā^m
        while V.shape[-1] < L:
            V = torch.cat([V, power @ V], dim=-1)
            power = power @ power
        return (self.C @ V[..., :L])[:, 0, :]

    def ssm(self, u: torch.Tensor, mode: str | None = None) -> torch.Tensor:
        """The SSM alone (no output stage) in ``mode`` (default: the layer's): ``[B, L, H] -> [B, L, H]``."""
        check_sequence("u", u, self.d_model)
        if (mode or self.mode) == "conv" and not self.output_from_previous_state:
            L = u.shape[1]
            K = self.kernel(L).to(u.dtype)  # [H, L]
            return causal_fft_conv(u.transpose(1, 2), K).transpose(1, 2) + self.D * u
        Ad, Bd = self.discrete()
        Bt, L, H = u.shape
        x = u.new_zeros(Bt, H, self.d_state)  # [B, H, N]
        ys = []
        for k in range(L):
            prev = x
            x = torch.einsum("hnm,bhm->bhn", Ad, x) + Bd[None, :, :, 0] * u[:, k, :, None]
            state = prev if self.output_from_previous_state else x
            ys.append((state * self.C[None, :, 0, :]).sum(-1))
        return torch.stack(ys, dim=1) + self.D * u

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``[B, L, H] -> [B, L, H]``."""
        return self.out(self.ssm(u))
