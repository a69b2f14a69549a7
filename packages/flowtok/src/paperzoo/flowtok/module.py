"""LightningModules: mini-CLIP (stage 0), the tokenizer, the oracle, FlowTok T2I and I2T, and the baseline.

Flow modules take either raw batches ``(images (B, 3, 32, 32), tokens (B, N), attrs (B, 3))``, which they
turn into ``Z_I`` and ``T_init`` with their frozen tokenizer and text encoder, or precomputed batches
``(Z_I (B, N, D), T_init (B, N, C)[, tokens])`` (what ``reproduce`` feeds, to skip the frozen encoders).
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import EMAWeightAveraging

from paperzoo.flowtok import transport
from paperzoo.flowtok.baseline import CondFlowDiT
from paperzoo.flowtok.data import CAPTION_LENGTH, VOCAB
from paperzoo.flowtok.model import FlowTokDiT
from paperzoo.flowtok.oracle import Oracle
from paperzoo.flowtok.projector import KL_FORMS, AlignmentHead, TextDecoder, TextProjector, kl_divergence
from paperzoo.flowtok.text_encoder import MiniCLIP, TextEncoder
from paperzoo.flowtok.tokenizer import ImageTokenizer
from paperzoo.kernels import flow

T_SAMPLERS = ("uniform", "logit_normal")
EMA_DECAY = 0.995  # a half-life of about 140 steps: a fraction of the 1000-step tiny budget


def _adamw(module: pl.LightningModule, lr: float, weight_decay: float, warmup: int) -> dict:
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / max(warmup, 1)))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _check_ema(ema_decay: float) -> None:
    if not 0 <= ema_decay < 1:
        raise ValueError(f"ema_decay: expected a number in [0, 1), got {ema_decay}")


def _positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name}: expected a positive number, got {value}")


class MiniClipModule(pl.LightningModule):
    """Stage 0: the frozen CLIP stand-in, trained contrastively on (image, caption) batches."""

    def __init__(self, dim: int = 64, depth: int = 2, lr: float = 2e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.clip = MiniCLIP(dim, depth)

    def training_step(self, batch, batch_idx):
        loss = self.clip.loss(batch[0], batch[1])
        self.log("clip_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return _adamw(self, self.hparams.lr, 0.0, 20)


class TokenizerModule(pl.LightningModule):
    """The 1-D VAE tokenizer: reconstruction MSE plus a small KL.

    Args:
        width: ViT width.
        depth: encoder and decoder blocks.
        num_tokens: ``K``.
        latent_dim: ``D``.
        kl_weight: weight of the per-element KL.
        lr: learning rate.
    """

    def __init__(
        self,
        width: int = 64,
        depth: int = 2,
        num_tokens: int = 8,
        latent_dim: int = 8,
        kl_weight: float = 1e-6,
        lr: float = 2e-3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.tokenizer = ImageTokenizer(num_tokens=num_tokens, latent_dim=latent_dim, width=width, depth=depth)

    def training_step(self, batch, batch_idx):
        out = self.tokenizer.loss(batch[0], self.hparams.kl_weight)
        self.log("recon", out["recon"], prog_bar=True)
        return out["loss"]

    def configure_optimizers(self):
        return _adamw(self, self.hparams.lr, 0.0, 20)


class OracleModule(pl.LightningModule):
    """The evaluation oracle, trained on ``(images, attrs, size)`` renders."""

    def __init__(self, lr: float = 2e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.oracle = Oracle()

    def training_step(self, batch, batch_idx):
        loss = self.oracle.loss(*batch)
        self.log("oracle_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return _adamw(self, self.hparams.lr, 0.0, 20)


class _FlowBase(pl.LightningModule):
    """Shared parts of the flow modules: frozen front ends, optimiser, time sampling."""

    def __init__(self) -> None:
        super().__init__()
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
            from paperzoo.flowtok.stages import front_ends

            self.attach(*front_ends(seed=self.hparams.front_end_seed, pretrained=self.hparams.pretrained))

    def _unpack(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(Z_I, T_init, tokens or None)`` of a raw or precomputed batch."""
        if batch[0].dim() == 4:
            images, tokens = batch[0], batch[1]
            with torch.no_grad():
                return self.tokenizer.to_tokens(images), self.text_encoder(tokens), tokens
        return batch[0], batch[1], (batch[2] if len(batch) > 2 else None)

    def _times(self, batch: int) -> torch.Tensor:
        return flow.sample_training_time(batch, self.hparams.t_sampler, device=self.device)

    def configure_optimizers(self):
        return _adamw(self, self.hparams.lr, self.hparams.weight_decay, self.hparams.warmup)

    def configure_callbacks(self):
        # Flow and diffusion models are evaluated with an exponential moving average of their weights (DiT,
        # U-ViT, CrossFlow). Lightning's callback keeps the average, writes it as the checkpoint's state_dict
        # (the raw weights go under "current_model_state" for resuming) and copies it into the module when
        # fit ends, so sampling after ``fit`` uses the averaged weights.
        decay = self.hparams.get("ema_decay", 0.0)
        return [_FlowEMA(decay=decay)] if decay > 0 else []


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
        num_tokens: ``N`` (caption length = image latent tokens).
        latent_dim: ``D``.
        text_dim: ``C``, width of the frozen text embeddings.
        width: DiT width.
        depth: DiT depth.
        heads: DiT heads.
        projector_depth: text projector blocks.
        stochastic: sample ``Z_T`` (False: the ``Z_T = μ`` ablation).
        gamma_kl: ``γ1``.
        gamma_align: ``γ2``.
        kl_form: ``"standard"`` or ``"crossflow"``.
        align_target: ``"mlp"`` or ``"avgpool"``.
        align_loss: ``"contrastive"`` or ``"cosine"``.
        t_sampler: ``"uniform"`` or ``"logit_normal"`` training times.
        null_prob: probability of the null indicator (target swap) per sample.
        guidance: indicator-guidance scale at sampling.
        steps: Euler steps at sampling.
        lr: learning rate.
        weight_decay: AdamW weight decay.
        warmup: linear warmup steps.
        ema_decay: decay of the exponential moving average of the weights used after training (0: none).
        pretrained: train (or load from the cache) the stage-0 text encoder and tokenizer on setup; False uses
            random frozen ones (smoke tests).
        front_end_seed: seed of those stages.
    """

    def __init__(
        self,
        num_tokens: int = CAPTION_LENGTH,
        latent_dim: int = 8,
        text_dim: int = 64,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        projector_depth: int = 2,
        stochastic: bool = True,
        gamma_kl: float = 1e-4,
        gamma_align: float = 1.0,
        kl_form: str = "standard",
        align_target: str = "mlp",
        align_loss: str = "contrastive",
        t_sampler: str = "uniform",
        null_prob: float = 0.1,
        guidance: float = 2.0,
        steps: int = 20,
        lr: float = 1e-3,
        weight_decay: float = 0.03,
        warmup: int = 50,
        ema_decay: float = EMA_DECAY,
        pretrained: bool = True,
        front_end_seed: int = 0,
    ) -> None:
        super().__init__()
        _check_ema(ema_decay)
        if kl_form not in KL_FORMS:
            raise ValueError(f"kl_form: expected one of {', '.join(KL_FORMS)}, got {kl_form!r}")
        if t_sampler not in T_SAMPLERS:
            raise ValueError(f"t_sampler: expected one of {', '.join(T_SAMPLERS)}, got {t_sampler!r}")
        if isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps: expected an integer >= 1, got {steps}")
        if not 0 <= null_prob < 1:
            raise ValueError(f"null_prob: expected a probability in [0, 1), got {null_prob}")
        _positive(lr=lr, width=width, depth=depth)
        self.save_hyperparameters()
        self.projector = TextProjector(text_dim, latent_dim, num_tokens, depth=projector_depth, stochastic=stochastic)
        self.align = AlignmentHead(text_dim, latent_dim, align_target, align_loss)
        self.dit = FlowTokDiT(num_tokens, latent_dim, width, depth, heads)

    def losses(self, z_image: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
        """All loss terms for ``Z_I`` ``(B, N, D)`` and ``T_init`` ``(B, N, C)``."""
        hp = self.hparams
        mu, logvar = self.projector(text)
        z_text = self.projector.sample(mu, logvar)  # [B, N, D], the source x0
        flags = transport.null_indicator(len(z_text), hp.null_prob, device=z_text.device)
        x1 = transport.shift_flagged(z_image, flags)
        t = self._times(len(z_text))
        x_t = transport.interpolate(z_text, x1, t)
        fm = F.mse_loss(self.dit(x_t, t, flags), transport.velocity_target(z_text, x1))
        kl = kl_divergence(mu, logvar, hp.kl_form) if hp.stochastic else torch.zeros((), device=z_text.device)
        align = self.align(z_text, text) if hp.gamma_align > 0 else torch.zeros((), device=z_text.device)
        loss = fm + hp.gamma_kl * kl + hp.gamma_align * align
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
            steps or self.hparams.steps,
            kw.get("guidance", self.hparams.guidance),
            kw.get("grid", "euler"),
        )


class CondFlowBaselineModule(_FlowBase):
    """Text-as-condition flow matching on the same tokens: Gaussian source, text tokens in the sequence.

    Args: as :class:`FlowTokT2IModule` for the shared ones.
    """

    def __init__(
        self,
        num_tokens: int = CAPTION_LENGTH,
        latent_dim: int = 8,
        text_dim: int = 64,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        t_sampler: str = "uniform",
        null_prob: float = 0.1,
        guidance: float = 2.0,
        steps: int = 20,
        lr: float = 1e-3,
        weight_decay: float = 0.03,
        warmup: int = 50,
        ema_decay: float = EMA_DECAY,
        pretrained: bool = True,
        front_end_seed: int = 0,
    ) -> None:
        super().__init__()
        _check_ema(ema_decay)
        self.save_hyperparameters()
        self.dit = CondFlowDiT(num_tokens, latent_dim, text_dim, width, depth, heads)

    def losses(self, z_image: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
        noise = torch.randn_like(z_image)
        flags = transport.null_indicator(len(z_image), self.hparams.null_prob, device=z_image.device)
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
        shape = (len(text), self.hparams.num_tokens, self.hparams.latent_dim)
        noise = torch.randn(shape, generator=generator).to(text)
        both = torch.cat([text, text])
        velocity = lambda x, t, ind: self.dit(x, t, both[: len(x)], ind)
        return transport.sample(
            velocity,
            noise,
            steps or self.hparams.steps,
            kw.get("guidance", self.hparams.guidance),
            kw.get("grid", "euler"),
        )


class FlowTokI2TModule(_FlowBase):
    """FlowTok image-to-text: a DiT flowing ``Z_I`` to ``Z_T`` (no KL, no alignment), plus a text decoder.

    The frozen text projector of a trained T2I model defines ``Z_T``; the decoder maps ``Z_T`` to caption ids.

    Args:
        projector: the trained text projector (frozen here).
        width: DiT width.
        depth: DiT depth.
        heads: DiT heads.
        steps: Euler steps at sampling.
        lr: learning rate.
        weight_decay: AdamW weight decay.
        warmup: warmup steps.
        ema_decay: decay of the weight average used after training (0: none).
    """

    def __init__(
        self,
        projector: TextProjector,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        steps: int = 20,
        lr: float = 1e-3,
        weight_decay: float = 0.03,
        warmup: int = 50,
        ema_decay: float = EMA_DECAY,
    ) -> None:
        super().__init__()
        _check_ema(ema_decay)
        self.save_hyperparameters(ignore=["projector"])
        self.hparams.t_sampler = "uniform"
        self.projector = projector.eval().requires_grad_(False)
        n, d = projector.length, projector.latent_dim
        self.dit = FlowTokDiT(n, d, width, depth, heads)
        self.decoder = TextDecoder(d, n, len(VOCAB))

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
        z_text = transport.sample(self.dit, z_image, self.hparams.steps, 1.0)
        return self.decoder(z_text).argmax(-1)
