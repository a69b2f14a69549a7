"""The 1-D image tokenizer: a TA-TiTok-style VAE with ``K = N`` latent tokens of ``D`` channels.

Encoder: ``Z_I = Enc(P ⊕ L)``; the image patches ``P`` and ``K`` learnable latent tokens ``L`` go through a
ViT, and only the latent positions are kept, giving a Gaussian posterior ``(μ, log σ²)`` of shape ``(K, D)``.
Decoder: ``Î = Dec(Z_I ⊕ [T] ⊕ M)``; the latent tokens, optionally text-guidance tokens ``T`` (a linear map
of the text embeddings; off for the acceptance experiment), and one mask token per patch; the mask
positions are read out as pixels. RoPE replaces learned 1-D positions and SwiGLU the ViT MLP, as in FlowTok.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.flowtok.layers import Block


class ImageTokenizer(nn.Module):
    """1-D VAE for ``(B, 3, S, S)`` images in ``[0, 1]`` with latents of shape ``(K, D)``.

    Args:
        image_size: side ``S`` of the square images.
        patch: patch side (``S`` must be a multiple).
        num_tokens: ``K``, latent tokens.
        latent_dim: ``D``, channels per latent token.
        width: ViT width.
        depth: blocks in the encoder and in the decoder.
        heads: attention heads.
        text_guidance: add text tokens to the decoder input (TA-TiTok); needs ``text_dim``.
        text_dim: width ``C`` of the text embeddings used for guidance.
    """

    def __init__(
        self,
        image_size: int = 32,
        patch: int = 8,
        num_tokens: int = 8,
        latent_dim: int = 8,
        width: int = 64,
        depth: int = 2,
        heads: int = 4,
        text_guidance: bool = False,
        text_dim: int = 64,
    ) -> None:
        super().__init__()
        if image_size % patch:
            raise ValueError(f"patch: expected a divisor of image_size {image_size}, got {patch}")
        self.image_size, self.patch = image_size, patch
        self.num_tokens, self.latent_dim = num_tokens, latent_dim
        self.grid = image_size // patch
        patch_dim = 3 * patch * patch
        self.patch_in = nn.Linear(patch_dim, width)
        self.latent_tokens = nn.Parameter(0.02 * torch.randn(num_tokens, width))
        self.encoder = nn.ModuleList([Block(width, heads, 2 * width, use_rope=True, swiglu=True) for _ in range(depth)])
        self.enc_norm = nn.LayerNorm(width)
        self.to_posterior = nn.Linear(width, 2 * latent_dim)
        self.latent_in = nn.Linear(latent_dim, width)
        self.mask_token = nn.Parameter(0.02 * torch.randn(width))
        self.text_guidance = text_guidance
        self.text_in = nn.Linear(text_dim, width) if text_guidance else None
        self.decoder = nn.ModuleList([Block(width, heads, 2 * width, use_rope=True, swiglu=True) for _ in range(depth)])
        self.dec_norm = nn.LayerNorm(width)
        self.patch_out = nn.Linear(width, patch_dim)
        # Latent statistics over the training set, so the flow sees unit-scale image tokens (set by calibrate).
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))

    def _patchify(self, images: torch.Tensor) -> torch.Tensor:
        b, p, g = images.shape[0], self.patch, self.grid
        x = images.view(b, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5)  # [B, g, g, 3, p, p]
        return x.reshape(b, g * g, 3 * p * p)

    def _unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        b, p, g = x.shape[0], self.patch, self.grid
        x = x.view(b, g, g, 3, p, p).permute(0, 3, 1, 4, 2, 5)  # [B, 3, g, p, g, p]
        return x.reshape(b, 3, g * p, g * p)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior of the images.

        Args:
            images: ``(B, 3, S, S)`` in ``[0, 1]``.

        Returns:
            ``(μ, log σ²)``, each ``(B, K, D)``.
        """
        shape = (3, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != shape:
            raise ValueError(f"images: expected shape (B, {', '.join(map(str, shape))}), got {tuple(images.shape)}")
        patches = self.patch_in(self._patchify(images * 2 - 1))  # [B, P, W]
        latents = self.latent_tokens.expand(len(images), -1, -1)  # [B, K, W]
        x = torch.cat([patches, latents], dim=1)
        for block in self.encoder:
            x = block(x)
        mu, logvar = self.to_posterior(self.enc_norm(x[:, -self.num_tokens :])).chunk(2, dim=-1)  # [B, K, D]
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        """Images from latents (in the posterior's scale, not normalised).

        Args:
            z: ``(B, K, D)``.
            text: ``(B, N, C)`` text embeddings; used only with ``text_guidance``.

        Returns:
            ``(B, 3, S, S)`` images (unclamped, about ``[0, 1]``).
        """
        if z.dim() != 3 or tuple(z.shape[1:]) != (self.num_tokens, self.latent_dim):
            raise ValueError(f"z: expected shape (B, {self.num_tokens}, {self.latent_dim}), got {tuple(z.shape)}")
        parts = [self.latent_in(z)]
        if self.text_guidance:
            if text is None:
                raise ValueError("text: the decoder has text guidance on and needs text of shape (B, N, C)")
            parts.append(self.text_in(text))
        parts.append(self.mask_token.expand(len(z), self.grid * self.grid, -1))
        x = torch.cat(parts, dim=1)
        for block in self.decoder:
            x = block(x)
        pixels = self.patch_out(self.dec_norm(x[:, -self.grid * self.grid :]))  # [B, P, 3·p·p]
        return (self._unpatchify(pixels) + 1) / 2

    def loss(self, images: torch.Tensor, kl_weight: float, text: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Reconstruction MSE plus ``kl_weight`` times the posterior KL (per element)."""
        mu, logvar = self.encode(images)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = F.mse_loss(self.decode(z, text), images)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean()
        return {"loss": recon + kl_weight * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def calibrate(self, images: torch.Tensor, batch: int = 512) -> None:
        """Set the per-channel latent mean and std from ``(M, 3, S, S)`` training images."""
        mus = torch.cat([self.encode(images[i : i + batch])[0] for i in range(0, len(images), batch)])
        self.latent_mean.copy_(mus.mean(dim=(0, 1)))
        self.latent_std.copy_(mus.std(dim=(0, 1)).clamp_min(1e-4))

    @torch.no_grad()
    def to_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised image tokens ``Z_I`` (posterior mean), shape ``(B, K, D)``."""
        return (self.encode(images)[0] - self.latent_mean) / self.latent_std

    @torch.no_grad()
    def from_tokens(self, z: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, 3, S, S)`` in ``[0, 1]`` from normalised tokens ``(B, K, D)``."""
        return self.decode(z * self.latent_std + self.latent_mean, text).clamp(0.0, 1.0)
