"""Mamba-2 block with the SSD layer on the shared ``ssd_scan`` (scalar ``A`` per head, chunked).

``in_proj`` -> (z, xBC, dt); depthwise causal conv1d over xBC -> SiLU -> SSD over heads of size ``headdim``
-> gated RMSNorm ``norm(y * SiLU(z))`` -> ``out_proj``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.kernels.ssd_scan import ssd_scan
from paperzoo.ssmsurvey.layers.common import check_sequence
from paperzoo.ssmsurvey.layers.mamba import inverse_softplus_dt


class Mamba2(nn.Module):
    """The Mamba-2 block.

    Args:
        d_model: model width.
        d_state: SSD state size ``N``.
        d_conv: causal conv width.
        expand: ``d_inner = expand * d_model``.
        headdim: channels per head; ``heads = d_inner / headdim``.
        chunk_size: chunk length of the SSD algorithm.
        gated: multiply by ``SiLU(z)`` before the norm.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 16,
        chunk_size: int = 64,
        gated: bool = True,
    ) -> None:
        super().__init__()
        d_inner = expand * d_model
        if d_inner % headdim:
            raise ValueError(f"headdim: must divide d_inner = {d_inner}, got {headdim}")
        self.d_model, self.d_inner, self.d_state, self.headdim = d_model, d_inner, d_state, headdim
        self.heads = d_inner // headdim
        self.chunk_size, self.gated = chunk_size, gated
        self.conv_dim = d_inner + 2 * d_state
        self.in_proj = nn.Linear(d_model, d_inner * (2 if gated else 1) + 2 * d_state + self.heads, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1)
        self.dt_bias = nn.Parameter(inverse_softplus_dt(self.heads))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.heads).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm = nn.RMSNorm(d_inner)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[B, L, d_model] -> [B, L, d_model]``."""
        check_sequence("hidden", hidden, self.d_model)
        Bt, L, _ = hidden.shape
        proj = self.in_proj(hidden)
        sizes = [self.d_inner] * self.gated + [self.conv_dim, self.heads]
        parts = proj.split(sizes, dim=-1)
        z = parts[0] if self.gated else None
        xbc, dt = parts[-2], parts[-1]
        xbc = F.silu(self.conv1d(xbc.transpose(1, 2))[..., :L].transpose(1, 2))  # [B, L, conv_dim]
        x, B, C = xbc.split([self.d_inner, self.d_state, self.d_state], dim=-1)
        y = ssd_scan(
            x.reshape(Bt, L, self.heads, self.headdim).contiguous(), dt.contiguous(), -torch.exp(self.A_log),
            B[:, :, None].contiguous(), C[:, :, None].contiguous(), chunk_size=self.chunk_size, D=self.D,
            dt_bias=self.dt_bias, dt_softplus=True,
        ).reshape(Bt, L, self.d_inner)  # fmt: skip
        if z is not None:
            y = y * F.silu(z)
        return self.out_proj(self.norm(y))
