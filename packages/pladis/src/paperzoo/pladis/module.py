"""Flow-matching training of the tiny DiT with condition dropout (so CFG is available), and its sampler.

Time convention of :mod:`paperzoo.kernels.flow`: t = 0 is Gaussian noise, t = 1 the data.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from paperzoo.core.config import as_config, save_config_hparams
from paperzoo.core.optim import OptimConfig
from paperzoo.kernels import flow
from paperzoo.pladis.config import FlowConfig, ModelConfig, base_model_optim
from paperzoo.pladis.model import TinyDiT


def null_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """The unconditional prompt: every token replaced by the null token 0 (same shape)."""
    return torch.zeros_like(tokens)


def generate(
    denoiser: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    tokens: torch.Tensor,
    noise: torch.Tensor,
    steps: int = 25,
    cfg: float = 0.0,
    batch_size: int = 512,
) -> torch.Tensor:
    """Sample images with the shared Euler sampler, optionally with classifier-free guidance.

    Args:
        denoiser: ``denoiser(x, t, tokens) -> velocity`` (e.g. a :class:`TinyDiT`, possibly patched by PLADIS,
            wrapped in an NFE counter).
        tokens: ``[N, L]`` prompt tokens.
        noise: ``[N, 3, 16, 16]`` initial noise (t = 0); the same noise across settings makes them comparable.
        steps: Euler steps (the paper uses 25).
        cfg: guidance scale w; 0 (or 1) disables CFG, otherwise ``v_u + w (v_c − v_u)`` at two NFEs per step.
        batch_size: images per forward call.

    Returns:
        ``[N, 3, 16, 16]`` samples at t = 1.
    """
    if tokens.shape[0] != noise.shape[0]:
        raise ValueError(f"noise: expected {tokens.shape[0]} samples (one per prompt), got {noise.shape[0]}")
    grid = flow.time_grid(steps, 0.0, 1.0)
    out = []
    for start in range(0, tokens.shape[0], batch_size):
        tok = tokens[start : start + batch_size]
        x0 = noise[start : start + batch_size]
        if cfg in (0.0, 1.0):
            velocity = lambda x, t, tok=tok: denoiser(x, t, tok)
        else:
            empty = null_tokens(tok)
            velocity = lambda x, t, tok=tok, empty=empty: flow.guided(denoiser(x, t, tok), denoiser(x, t, empty), cfg)
        out.append(flow.sample(velocity, x0, grid, method="euler"))
    return torch.cat(out)


class PladisFlowModule(pl.LightningModule):
    """The base text-to-image model: a :class:`TinyDiT` trained by rectified-flow matching.

    PLADIS is not used in training; it patches the trained model at inference (:func:`apply_pladis`).

    Args:
        model: the DiT (:class:`~paperzoo.pladis.config.ModelConfig`).
        optim: AdamW with its warm-up (default: rate 2e-3, 50 warm-up steps, then constant).
        flow: condition dropout, and the Euler steps and CFG scale of ``predict``.
    """

    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        optim: OptimConfig = base_model_optim(),  # noqa: B008
        flow: FlowConfig = FlowConfig(),  # noqa: B008
    ) -> None:
        super().__init__()
        self.cfg = as_config(ModelConfig, model)
        self.optim = as_config(OptimConfig, optim)
        self.flow_cfg = as_config(FlowConfig, flow)
        save_config_hparams(self, model=self.cfg, optim=self.optim, flow=self.flow_cfg)
        self.model = TinyDiT(self.cfg)

    def forward(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``x [B, 3, 16, 16]``, ``t [B]``, ``tokens [B, L]`` -> velocity ``[B, 3, 16, 16]``."""
        return self.model(x, t, tokens)

    def flow_loss(self, images: torch.Tensor, tokens: torch.Tensor, generator: torch.Generator | None = None):
        """Flow-matching MSE with condition dropout; ``images [B, 3, 16, 16]``, ``tokens [B, L]``."""
        b = images.shape[0]
        noise = torch.randn(images.shape, generator=generator, device=images.device)
        t = flow.sample_training_time(b, generator=generator, device=images.device)
        if self.training and self.flow_cfg.cond_dropout > 0:
            drop = torch.rand(b, device=images.device) < self.flow_cfg.cond_dropout
            tokens = torch.where(drop[:, None], null_tokens(tokens), tokens)
        xt = flow.interpolate(noise, images, t)
        return F.mse_loss(self.model(xt, t, tokens), flow.velocity_target(noise, images))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, tokens, _ = batch
        loss = self.flow_loss(images, tokens)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def _eval_step(self, batch, stage: str) -> torch.Tensor:
        images, tokens, _ = batch
        generator = torch.Generator(device=images.device).manual_seed(0)
        loss = self.flow_loss(images, tokens, generator)
        self.log(f"{stage}/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._eval_step(batch, "test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        _, tokens, _ = batch
        generator = torch.Generator().manual_seed(batch_idx)
        noise = torch.randn((tokens.shape[0], 3, 16, 16), generator=generator).to(tokens.device)
        return generate(self.model, tokens, noise, self.flow_cfg.sample_steps, self.flow_cfg.cfg)

    def configure_optimizers(self):
        return self.optim.build(self.parameters(), total_steps=int(self.trainer.estimated_stepping_batches))
