"""Mamba block with the selective SSM (S6) on the shared ``selective_scan``.

``in_proj`` (expand 2) -> depthwise causal conv1d (k = 4) -> SiLU -> S6 -> ``* SiLU(z)`` -> ``out_proj``.
S6: ``B_t = Linear_N(x_t)``, ``C_t = Linear_N(x_t)``, ``Δ_t = softplus(bias + Linear(Linear_R(x_t)))``,
``Ā_t = exp(Δ_t A)``, ``B̄_t = Δ_t B_t``, with ``A = -exp(A_log)`` real, diagonal, S4D-Real initialised.

Ablations: ``selective=False`` makes Δ, B and C learned constants (the block is then LTI, and by default runs
as the equivalent causal convolution ``K_l = Δ Σ_n C_n B_n exp(Δ A_n l)`` by FFT, as LTI SSMs train);
``gated=False`` drops the ``SiLU(z)`` gate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.kernels.selective_scan import selective_scan
from paperzoo.ssmsurvey.layers.common import causal_fft_conv, check_sequence


def inverse_softplus_dt(d: int, dt_min: float = 1e-3, dt_max: float = 1e-1) -> torch.Tensor:
    """A bias whose softplus is log-uniform in ``[dt_min, dt_max]``; ``[d]``."""
    dt = torch.exp(torch.rand(d) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    return dt + torch.log(-torch.expm1(-dt))


class Mamba(nn.Module):
    """The Mamba block.

    Args:
        d_model: model width.
        d_state: SSM state size ``N`` per channel (16 in Mamba).
        d_conv: width of the causal depthwise convolution.
        expand: inner width ``d_inner = expand * d_model``.
        dt_rank: rank ``R`` of the Δ projection; default ``ceil(d_model / 16)``.
        selective: Δ, B, C computed from the input (S6); ``False`` makes them learned constants.
        gated: multiply by ``SiLU(z)``.
        lti_mode: with ``selective=False``, ``"conv"`` (FFT convolution with the SSM's kernel, the LTI era's
            training mode) or ``"scan"`` (the shared ``selective_scan``); the two are equal (tested).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        selective: bool = True,
        gated: bool = True,
        lti_mode: str = "conv",
    ) -> None:
        super().__init__()
        if lti_mode not in ("conv", "scan"):
            raise ValueError(f"lti_mode: expected 'conv' or 'scan', got {lti_mode!r}")
        self.lti_mode = lti_mode
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = d_inner = expand * d_model
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.selective, self.gated = selective, gated
        self.in_proj = nn.Linear(d_model, 2 * d_inner if gated else d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        if selective:
            self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
            self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=False)
            nn.init.uniform_(self.dt_proj.weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        else:
            self.B_const = nn.Parameter(torch.randn(d_state) / math.sqrt(d_state))
            self.C_const = nn.Parameter(torch.randn(d_state) / math.sqrt(d_state))
        self.dt_bias = nn.Parameter(inverse_softplus_dt(d_inner))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def ssm_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Δ (before bias and softplus), B and C from the conv output ``x [B, d_inner, L]``.

        Returns:
            ``delta [B, d_inner, L]``, ``B [B, N, L]``, ``C [B, N, L]``.
        """
        Bt, _, L = x.shape
        if not self.selective:
            delta = x.new_zeros(Bt, self.d_inner, L)
            return delta, self.B_const[None, :, None].expand(Bt, -1, L), self.C_const[None, :, None].expand(Bt, -1, L)
        proj = self.x_proj(x.transpose(1, 2))  # [B, L, R + 2N]
        dt, B, C = proj.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = self.dt_proj(dt).transpose(1, 2)
        return delta, B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, L, d_model] -> [B, L, d_model]``."""
        check_sequence("hidden", hidden, self.d_model)
        L = hidden.shape[1]
        xz = self.in_proj(hidden).transpose(1, 2)  # [B, (2) d_inner, L]
        x, z = xz.chunk(2, dim=1) if self.gated else (xz, None)
        x = F.silu(self.conv1d(x)[..., :L])
        if not self.selective and self.lti_mode == "conv":
            return self.out_proj(self.lti_conv(x, z).transpose(1, 2))
        delta, B, C = self.ssm_params(x)
        A = -torch.exp(self.A_log.float())
        y = selective_scan(
            x.contiguous(), delta.contiguous(), A, B, C, self.D.float(),
            z=None if z is None else z.contiguous(), delta_bias=self.dt_bias.float(), delta_softplus=True,
        )  # fmt: skip
        return self.out_proj(y.transpose(1, 2))

    def lti_kernel(self, L: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The non-selective block's convolution kernel ``K [d_inner, L]``: ``Δ_d Σ_n C_n B_n exp(Δ_d A_dn l)``."""
        if self.selective:
            raise ValueError("lti_kernel: the selective block is not time-invariant")
        A = -torch.exp(self.A_log.to(dtype))  # [d, N]
        dt = F.softplus(self.dt_bias.to(dtype))  # [d]
        pos = torch.arange(L, device=A.device, dtype=A.dtype)
        decay = torch.exp(dt[:, None, None] * A[:, :, None] * pos)  # [d, N, L]
        return dt[:, None] * torch.einsum("n,dnl->dl", (self.C_const * self.B_const).to(dtype), decay)

    def lti_conv(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """The non-selective SSM as a causal FFT convolution, plus ``D x`` and the gate; ``[B, d_inner, L]``."""
        L = x.shape[-1]
        K = self.lti_kernel(L, x.dtype)
        y = causal_fft_conv(x, K)
        y = y + self.D.to(x.dtype)[:, None] * x
        return y if z is None else y * F.silu(z)

    def init_state(self, batch: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero decode state: ``(conv_state [B, d_inner, d_conv], ssm_state [B, d_inner, N])``."""
        return (
            torch.zeros(batch, self.d_inner, self.d_conv, device=device),
            torch.zeros(batch, self.d_inner, self.d_state, device=device),
        )

    def step(
        self, hidden: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One recurrent decode step in ``O(d_inner N)``, independent of how many tokens came before.

        Args:
            hidden: ``[B, d_model]`` the current token.
            state: from :meth:`init_state` or the previous step.

        Returns:
            ``([B, d_model], new state)``.
        """
        conv_state, h = state
        xz = self.in_proj(hidden)
        x, z = xz.chunk(2, dim=-1) if self.gated else (xz, None)
        conv_state = torch.cat([conv_state[:, :, 1:], x[:, :, None]], dim=-1)
        x = F.silu((conv_state * self.conv1d.weight[:, 0, :]).sum(-1) + self.conv1d.bias)  # [B, d_inner]
        delta, B, C = self.ssm_params(x[:, :, None])
        delta = F.softplus(delta[..., 0] + self.dt_bias)  # [B, d_inner]
        A = -torch.exp(self.A_log)
        h = torch.exp(delta[..., None] * A) * h + delta[..., None] * B[:, None, :, 0] * x[..., None]
        y = (h * C[:, None, :, 0]).sum(-1) + self.D * x
        if z is not None:
            y = y * F.silu(z)
        return self.out_proj(y), (conv_state, h)
