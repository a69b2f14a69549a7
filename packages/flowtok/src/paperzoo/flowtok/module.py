"""The flow LightningModules: FlowTok text-to-image and image-to-text, and the text-as-condition baseline.

Each takes its configs whole (:class:`~paperzoo.flowtok.config.ModelConfig`,
:class:`~paperzoo.flowtok.config.FlowConfig`, ``OptimConfig``). They train on raw batches
``(images (B, 3, 32, 32), tokens (B, N), attrs (B, 3))``, which they turn into ``Z_I`` and ``T_init`` with
their frozen tokenizer and text encoder, or on precomputed batches ``(Z_I (B, N, D), T_init (B, N, C)[, tokens])``
(what ``reproduce`` feeds, to skip the frozen encoders).
"""

from __future__ import annotations

from dataclasses import replace

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import EMAWeightAveraging

from paperzoo.core import OptimConfig
from paperzoo.core.config import as_config, save_config_hparams
from paperzoo.flowtok import transport
from paperzoo.flowtok.baseline import CondFlowDiT
from paperzoo.flowtok.config import FlowConfig, ModelConfig, flow_optim
from paperzoo.flowtok.data import VOCAB
from paperzoo.flowtok.model import FlowTokDiT
from paperzoo.flowtok.projector import AlignmentHead, TextDecoder, TextProjector, kl_divergence
from paperzoo.flowtok.stages import front_ends
from paperzoo.flowtok.text_encoder import TextEncoder
from paperzoo.flowtok.tokenizer import ImageTokenizer
from paperzoo.kernels import flow

FLOW_OPTIM = flow_optim()


class _FlowBase(pl.LightningModule):
    """Shared parts of the flow modules: configs, frozen front ends, optimiser, time sampling, weight average.

    Args:
        model: the networks' config.
        flow: the objective, the guidance and the sampler.
        optim: AdamW and its schedule.
        pretrained: train (or load from the cache) the stage-0 text encoder and tokenizer on setup; False uses
            random frozen ones (smoke tests).
        front_end_seed: seed of those stages.
    """

    def __init__(
        self,
        model: ModelConfig | dict,
        flow: FlowConfig | dict,
        optim: OptimConfig | dict,
        pretrained: bool = True,
        front_end_seed: int = 0,
    ) -> None:
        super().__init__()
        self.cfg = as_config(ModelConfig, model)
        self.flow = as_config(FlowConfig, flow)
        self.optim = as_config(OptimConfig, optim)
        self.pretrained, self.front_end_seed = pretrained, front_end_seed
        save_config_hparams(self, model=self.cfg, flow=self.flow, optim=self.optim)
        self.hparams.update(pretrained=pretrained, front_end_seed=front_end_seed)
        self.text_encoder: TextEncoder | None = None
        self.tokenizer: ImageTokenizer | None = None

    def attach(self, text_encoder: TextEncoder, tokenizer: ImageTokenizer) -> None:
        """Attach the frozen stage-0 text encoder and tokenizer (kept frozen and in eval mode)."""
        for net in (text_encoder, tokenizer):
            net.eval().requires_grad_(False)
        self.text_encoder, self.tokenizer = text_encoder, tokenizer

    def train(self, mode: bool = True):
        super().train(mode)
        for net in (self.text_encoder, self.tokenizer):
            if net is not None:
                net.eval()
        return self

    def setup(self, stage: str) -> None:
        self.ensure_front_ends()

    def ensure_front_ends(self) -> None:
        """Attach the stage-0 front ends of ``front_end_seed`` unless ``attach`` was called (idempotent)."""
        if self.text_encoder is None:
            self.attach(*front_ends(seed=self.front_end_seed, pretrained=self.pretrained))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # A checkpoint carries the front ends it was trained with: give their weights a place to load into
        # (randomly initialised networks of the same shape; the checkpoint overwrites them).
        if self.text_encoder is None and any(k.startswith("text_encoder.") for k in checkpoint["state_dict"]):
            self.attach(*front_ends(seed=self.front_end_seed, pretrained=False))

    def _unpack(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(Z_I, T_init, tokens or None)`` of a raw or precomputed batch."""
        if batch[0].dim() == 4:
            images, tokens = batch[0], batch[1]
            with torch.no_grad():
                return self.tokenizer.to_tokens(images), self.text_encoder(tokens), tokens
        return batch[0], batch[1], (batch[2] if len(batch) > 2 else None)

    def _times(self, batch: int) -> torch.Tensor:
        return flow.sample_training_time(batch, self.flow.t_sampler, device=self.device)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return self.optim.build(params, total_steps=int(self.trainer.estimated_stepping_batches))

    def configure_callbacks(self):
        # Flow and diffusion models are evaluated with an exponential moving average of their weights (DiT,
        # U-ViT, CrossFlow). Lightning's callback keeps the average, writes it as the checkpoint's state_dict
        # (the raw weights go under "current_model_state" for resuming) and copies it into the module when
        # fit ends, so sampling after ``fit`` uses the averaged weights.
        return [_FlowEMA(decay=self.flow.ema_decay)] if self.flow.ema_decay > 0 else []


class _FlowEMA(EMAWeightAveraging):
    """Lightning's EMA callback, with the module's front ends attached before the average copies the module.

    Lightning runs the callbacks' ``setup`` before the module's, and the average must hold the same parameters
    as the module (the frozen front ends included) to be swapped with it.
    """

    def setup(self, trainer: pl.Trainer, pl_module: _FlowBase, stage: str) -> None:
        if stage == "fit":
            pl_module.ensure_front_ends()
        super().setup(trainer, pl_module, stage)


class FlowTokT2IModule(_FlowBase):
    """FlowTok text-to-image: text projector + alignment head + a DiT flowing ``Z_T`` to ``Z_I``.

    ``L = L_fm + γ1 L_kld + γ2 L_align``.

    Args:
        model: the networks (projector, alignment head, DiT).
        flow: the objective (``γ1``, ``γ2``, KL form, time sampler, null probability), guidance and sampler.
        optim: AdamW and its schedule (default: lr 1e-3, a 50-step warm-up, then constant).
        pretrained: train (or load from the cache) the stage-0 front ends on setup; False uses random ones.
        front_end_seed: seed of those stages.
    """

    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        flow: FlowConfig = FlowConfig(),  # noqa: B008
        optim: OptimConfig = FLOW_OPTIM,
        pretrained: bool = True,
        front_end_seed: int = 0,
    ) -> None:
        super().__init__(model, flow, optim, pretrained, front_end_seed)
        self.projector = TextProjector(self.cfg)
        self.align = AlignmentHead(self.cfg)
        self.dit = FlowTokDiT(self.cfg)

    def losses(self, z_image: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
        """All loss terms for ``Z_I`` ``(B, N, D)`` and ``T_init`` ``(B, N, C)``."""
        fc = self.flow
        mu, logvar = self.projector(text)
        z_text = self.projector.sample(mu, logvar)  # [B, N, D], the source x0
        flags = transport.null_indicator(len(z_text), fc.null_prob, device=z_text.device)
        x1 = transport.shift_flagged(z_image, flags)
        t = self._times(len(z_text))
        x_t = transport.interpolate(z_text, x1, t)
        fm = F.mse_loss(self.dit(x_t, t, flags), transport.velocity_target(z_text, x1))
        zero = torch.zeros((), device=z_text.device)
        kl = kl_divergence(mu, logvar, fc.kl_form) if self.cfg.stochastic else zero
        align = self.align(z_text, text) if fc.gamma_align > 0 else zero
        loss = fm + fc.gamma_kl * kl + fc.gamma_align * align
        return {"loss": loss, "fm": fm, "kl": kl, "align": align}

    def training_step(self, batch, batch_idx):
        z_image, text, _ = self._unpack(batch)
        out = self.losses(z_image, text)
        self.log_dict({f"train/{k}": v for k, v in out.items()}, prog_bar=True)
        return out["loss"]

    def validation_step(self, batch, batch_idx):
        z_image, text, _ = self._unpack(batch)
        out = self.losses(z_image, text)
        self.log_dict({f"val/{k}": v for k, v in out.items()}, prog_bar=True)

    @torch.no_grad()
    def generate(
        self, text: torch.Tensor, generator: torch.Generator | None = None, steps: int | None = None, **kw
    ) -> torch.Tensor:
        """Image tokens ``Z_I`` ``(B, N, D)`` for ``T_init`` ``(B, N, C)``: sample ``Z_T`` and flow it."""
        mu, logvar = self.projector(text)
        z_text = self.projector.sample(mu, logvar, generator)
        return transport.sample(
            self.dit,
            z_text,
            steps or self.flow.steps,
            kw.get("guidance", self.flow.guidance),
            kw.get("grid", "euler"),
        )


class CondFlowBaselineModule(_FlowBase):
    """Text-as-condition flow matching on the same tokens: Gaussian source, text tokens in the sequence.

    Args:
        model: the networks' config; the baseline's DiT reads its DiT fields and ``text_dim``.
        flow: the time sampler, null probability, guidance and sampler (``γ1``, ``γ2`` and the KL form unused).
        optim: AdamW and its schedule.
        pretrained: train (or load from the cache) the stage-0 front ends on setup; False uses random ones.
        front_end_seed: seed of those stages.
    """

    def __init__(
        self,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        flow: FlowConfig = FlowConfig(),  # noqa: B008
        optim: OptimConfig = FLOW_OPTIM,
        pretrained: bool = True,
        front_end_seed: int = 0,
    ) -> None:
        super().__init__(model, flow, optim, pretrained, front_end_seed)
        self.dit = CondFlowDiT(self.cfg)

    def losses(self, z_image: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
        noise = torch.randn_like(z_image)
        flags = transport.null_indicator(len(z_image), self.flow.null_prob, device=z_image.device)
        t = self._times(len(z_image))
        x_t = transport.interpolate(noise, z_image, t)
        fm = F.mse_loss(self.dit(x_t, t, text, flags), transport.velocity_target(noise, z_image))
        return {"loss": fm, "fm": fm}

    def training_step(self, batch, batch_idx):
        z_image, text, _ = self._unpack(batch)
        out = self.losses(z_image, text)
        self.log("train/fm", out["fm"], prog_bar=True)
        return out["loss"]

    @torch.no_grad()
    def generate(
        self, text: torch.Tensor, generator: torch.Generator | None = None, steps: int | None = None, **kw
    ) -> torch.Tensor:
        """Image tokens ``(B, N, D)`` from Gaussian noise, conditioned on ``T_init`` ``(B, N, C)``."""
        shape = (len(text), self.cfg.num_tokens, self.cfg.latent_dim)
        noise = torch.randn(shape, generator=generator).to(text)
        both = torch.cat([text, text])
        velocity = lambda x, t, ind: self.dit(x, t, both[: len(x)], ind)
        return transport.sample(
            velocity,
            noise,
            steps or self.flow.steps,
            kw.get("guidance", self.flow.guidance),
            kw.get("grid", "euler"),
        )


class FlowTokI2TModule(_FlowBase):
    """FlowTok image-to-text: a DiT flowing ``Z_I`` to ``Z_T`` (no KL, no alignment), plus a text decoder.

    The frozen text projector of a trained T2I model defines ``Z_T``; the decoder maps ``Z_T`` to caption ids.

    Args:
        projector: the trained text projector (frozen here); it sets the DiT's ``N`` and ``D``.
        model: the networks' config; the DiT reads its DiT fields.
        flow: the time sampler and the Euler steps of the reverse flow (sampled without guidance), and the
            weight average.
        optim: AdamW and its schedule.
    """

    def __init__(
        self,
        projector: TextProjector,
        model: ModelConfig = ModelConfig(),  # noqa: B008
        flow: FlowConfig = FlowConfig(),  # noqa: B008
        optim: OptimConfig = FLOW_OPTIM,
    ) -> None:
        model = replace(as_config(ModelConfig, model), num_tokens=projector.length, latent_dim=projector.latent_dim)
        super().__init__(model, flow, optim, pretrained=False)
        self.projector = projector.eval().requires_grad_(False)
        self.dit = FlowTokDiT(self.cfg)
        self.decoder = TextDecoder(self.cfg.latent_dim, self.cfg.num_tokens, len(VOCAB))

    def train(self, mode: bool = True):
        super().train(mode)
        self.projector.eval()
        return self

    def training_step(self, batch, batch_idx):
        z_image, text, tokens = self._unpack(batch)
        with torch.no_grad():
            z_text = self.projector.sample(*self.projector(text))
        t = self._times(len(z_image))
        flags = torch.zeros(len(z_image), dtype=torch.long, device=z_image.device)
        x_t = transport.interpolate(z_image, z_text, t)
        fm = F.mse_loss(self.dit(x_t, t, flags), transport.velocity_target(z_image, z_text))
        ce = F.cross_entropy(self.decoder(z_text).flatten(0, 1), tokens.flatten())
        self.log_dict({"train/fm": fm, "train/ce": ce}, prog_bar=True)
        return fm + ce

    @torch.no_grad()
    def caption(self, z_image: torch.Tensor) -> torch.Tensor:
        """Caption ids ``(B, N)`` for image tokens ``(B, N, D)``: reverse flow, then the text decoder."""
        z_text = transport.sample(self.dit, z_image, self.flow.steps, 1.0)
        return self.decoder(z_text).argmax(-1)
