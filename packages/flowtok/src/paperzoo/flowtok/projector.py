"""The text projector (a text VAE), its KL terms and the text-alignment loss.

``T_init (B, N, C)`` -> transformer -> per-token ``(μ, log σ²)`` with ``D`` channels; ``Z_T = μ + σ ⊙ ε`` is
sampled on purpose, so one caption gives varied images. The alignment loss ties the **sampled** ``Z_T`` to a
target ``T_P`` computed from ``T_init`` (a per-token MLP, or average pooling for the ablation), with a
symmetric contrastive loss at a learnable temperature (or a cosine loss for the ablation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.flowtok.config import KL_FORMS, ModelConfig
from paperzoo.flowtok.layers import Block, sincos_1d


class TextProjector(nn.Module):
    """Text VAE: frozen text embeddings to a Gaussian latent of shape ``(N, D)``.

    Args:
        cfg: the networks' config; the projector reads ``text_dim`` (``C``), ``latent_dim`` (``D``),
            ``num_tokens`` (``N``), the ``projector_*`` sizes and ``stochastic`` (False: the ``Z_T = μ`` ablation).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.text_dim, self.latent_dim, self.length = cfg.text_dim, cfg.latent_dim, cfg.num_tokens
        self.stochastic = cfg.stochastic
        width = cfg.projector_width
        self.inp = nn.Linear(cfg.text_dim, width)
        self.register_buffer("pos", sincos_1d(cfg.num_tokens, width))
        self.blocks = nn.ModuleList(
            [
                Block(width, cfg.projector_heads, cfg.projector_hidden, dropout=cfg.projector_dropout)
                for _ in range(cfg.projector_depth)
            ]
        )
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 2 * cfg.latent_dim)

    def forward(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior of the captions.

        Args:
            text: ``T_init``, shape ``(B, N, C)``.

        Returns:
            ``(μ, log σ²)``, each ``(B, N, D)``.
        """
        if text.dim() != 3 or tuple(text.shape[1:]) != (self.length, self.text_dim):
            raise ValueError(f"text: expected shape (B, {self.length}, {self.text_dim}), got {tuple(text.shape)}")
        x = self.inp(text) + self.pos
        for block in self.blocks:
            x = block(x)
        mu, logvar = self.out(self.norm(x)).chunk(2, dim=-1)
        return mu, logvar.clamp(-20.0, 10.0)

    def sample(self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``Z_T = μ + σ ⊙ ε`` (reparameterised), or ``μ`` when the projector is deterministic."""
        if not self.stochastic:
            return mu
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + eps * (0.5 * logvar).exp()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor, form: str = "standard") -> torch.Tensor:
    """KL term of the text VAE, summed over the batch, tokens and channels (the reference code's reduction).

    The flow-matching loss is a mean over elements, so this sum makes ``γ1`` weigh each latent element
    ``B·N·D`` times more than a flow-matching element, as in the reference code. With a per-sample mean
    instead, ``γ1 = 1e-4`` is too weak to keep ``σ`` away from 0: the projector then shrinks ``Z_T`` towards one
    point, because for ``t > 0`` the flow can read ``x1`` back from ``x_t ≈ t·x1``, and sampling from
    ``t = 0`` fails (measured: compositional accuracy 0.03).

    - ``"standard"``: ``KL(N(μ, σ²) || N(0, 1)) = -½ Σ (1 + log σ² - μ² - σ²)``;
    - ``"crossflow"``: the reference code's ``-½ Σ (1 + log σ² - (0.3 μ)⁶ - σ²)``.

    Args:
        mu: ``(B, N, D)``.
        logvar: ``(B, N, D)``.
        form: ``"standard"`` or ``"crossflow"``.
    """
    if form not in KL_FORMS:
        raise ValueError(f"form: expected one of {', '.join(KL_FORMS)}, got {form!r}")
    penalty = mu**2 if form == "standard" else (0.3 * mu) ** 6
    return (-0.5 * (1 + logvar - penalty - logvar.exp())).sum()


class AlignmentHead(nn.Module):
    """Alignment target ``T_P`` from ``T_init`` and the alignment loss with a learnable temperature.

    Args:
        cfg: the networks' config; the head reads ``text_dim`` (``C``), ``latent_dim`` (``D``), ``align_target``
            (``"mlp"``, a per-token MLP ``C -> h -> h -> D`` with SiLU, or ``"avgpool"``, the average over ``C / D``
            consecutive channels), ``align_loss`` (``"contrastive"``, a symmetric CE over the batch, or
            ``"cosine"``, ``1 - cos``) and ``align_hidden`` (``h``).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.target, self.loss_kind, self.latent_dim = cfg.align_target, cfg.align_loss, cfg.latent_dim
        hidden = cfg.align_hidden
        self.mlp = (
            nn.Sequential(
                nn.Linear(cfg.text_dim, hidden),
                nn.SiLU(),
                nn.Linear(hidden, hidden),
                nn.SiLU(),
                nn.Linear(hidden, cfg.latent_dim),
            )
            if cfg.align_target == "mlp"
            else None
        )
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def project(self, text: torch.Tensor) -> torch.Tensor:
        """``T_P`` of ``(B, N, C)`` embeddings, shape ``(B, N, D)``."""
        if self.mlp is not None:
            return self.mlp(text)
        b, n, c = text.shape
        return text.view(b, n, self.latent_dim, c // self.latent_dim).mean(dim=-1)

    def forward(self, z_text: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Alignment loss between the sampled ``Z_T`` ``(B, N, D)`` and ``T_P`` of ``T_init`` ``(B, N, C)``."""
        z = F.normalize(z_text.flatten(1), dim=-1)  # [B, N·D]
        target = F.normalize(self.project(text).flatten(1), dim=-1)
        if self.loss_kind == "cosine":
            return (1 - (z * target).sum(dim=-1)).mean()
        logits = self.log_scale.exp() * z @ target.T  # [B, B]
        labels = torch.arange(len(z), device=z.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


class TextDecoder(nn.Module):
    """Image-to-text head: a text latent ``Z_T`` ``(B, N, D)`` to caption-token logits ``(B, N, V)``.

    Args:
        latent_dim: ``D``.
        length: ``N``.
        vocab: vocabulary size ``V``.
        width: transformer width.
        depth: transformer blocks (6 in the paper).
        heads: attention heads.
    """

    def __init__(
        self, latent_dim: int = 8, length: int = 8, vocab: int = 21, width: int = 64, depth: int = 2, heads: int = 4
    ) -> None:
        super().__init__()
        self.latent_dim, self.length = latent_dim, length
        self.inp = nn.Linear(latent_dim, width)
        self.register_buffer("pos", sincos_1d(length, width))
        self.blocks = nn.ModuleList([Block(width, heads, 2 * width) for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, vocab)

    def forward(self, z_text: torch.Tensor) -> torch.Tensor:
        if z_text.dim() != 3 or tuple(z_text.shape[1:]) != (self.length, self.latent_dim):
            raise ValueError(f"z_text: expected shape (B, {self.length}, {self.latent_dim}), got {tuple(z_text.shape)}")
        x = self.inp(z_text) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x))
