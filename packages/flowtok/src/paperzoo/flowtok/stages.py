"""The pre-training stages every flow run stands on: data, mini-CLIP (stage 0), the tokenizer, the oracle.

Each stage is a small LightningModule trained once per seed and cached under ``$PAPERZOO_CACHE/flowtok``,
keyed by its :class:`~paperzoo.flowtok.config.StageConfig` and seed, so ``fit`` and ``reproduce`` train them
once per seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core import cached, load_stage, quiet_trainer, save_stage
from paperzoo.flowtok.config import StageConfig
from paperzoo.flowtok.data import ShapesCaptions, generate
from paperzoo.flowtok.oracle import Oracle
from paperzoo.flowtok.text_encoder import MiniCLIP, TextEncoder
from paperzoo.flowtok.tokenizer import ImageTokenizer

# Bumped whenever a stage's architecture or recipe changes, so the cache never serves a stale artefact.
STAGE_VERSION = 2


class _StageModule(pl.LightningModule):
    """A pre-training stage: AdamW as ``cfg.optim`` says, over every parameter."""

    def __init__(self, cfg: StageConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def configure_optimizers(self):
        return self.cfg.optim.build(self.parameters(), total_steps=int(self.trainer.estimated_stepping_batches))


class MiniClipModule(_StageModule):
    """Stage 0: the frozen CLIP stand-in, trained contrastively on ``(image, caption)`` batches."""

    def __init__(self, cfg: StageConfig) -> None:
        super().__init__(cfg)
        self.clip = MiniCLIP(cfg.text_dim)

    def training_step(self, batch, batch_idx):
        loss = self.clip.loss(batch[0], batch[1])
        self.log("clip_loss", loss, prog_bar=True)
        return loss


class TokenizerModule(_StageModule):
    """The 1-D VAE tokenizer: reconstruction MSE plus a small KL (``cfg.tokenizer_kl_weight``)."""

    def __init__(self, cfg: StageConfig) -> None:
        super().__init__(cfg)
        self.tokenizer = ImageTokenizer(latent_dim=cfg.latent_dim, width=cfg.tokenizer_width, depth=cfg.tokenizer_depth)

    def training_step(self, batch, batch_idx):
        out = self.tokenizer.loss(batch[0], self.cfg.tokenizer_kl_weight)
        self.log("recon", out["recon"], prog_bar=True)
        return out["loss"]


class OracleModule(_StageModule):
    """The evaluation oracle, trained on ``(images, attrs, size)`` renders."""

    def __init__(self, cfg: StageConfig) -> None:
        super().__init__(cfg)
        self.oracle = Oracle()

    def training_step(self, batch, batch_idx):
        loss = self.oracle.loss(*batch)
        self.log("oracle_loss", loss, prog_bar=True)
        return loss


def _fit(module: pl.LightningModule, tensors: tuple[torch.Tensor, ...], steps: int, batch: int, seed: int) -> None:
    loader = DataLoader(
        TensorDataset(*tensors),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    quiet_trainer(max_steps=steps).fit(module, loader)


def train_data(seed: int, cfg: StageConfig) -> ShapesCaptions:
    """The training pairs of a seed (cached)."""
    key = {"stage": "data", "seed": seed, "num": cfg.num_pairs}
    return cached("flowtok/data", key, lambda: generate(cfg.num_pairs, torch.Generator().manual_seed(seed)))


def _stage(name: str, seed: int, cfg: StageConfig, build: Callable[[], torch.nn.Module], net: torch.nn.Module):
    key = {"stage": name, "version": STAGE_VERSION, "seed": seed, **asdict(cfg)}
    state = load_stage(f"flowtok/{name}", key)
    if state is None:
        state = build().state_dict()
        save_stage(f"flowtok/{name}", key, state)
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def front_ends(
    seed: int = 0, pretrained: bool = True, cfg: StageConfig | None = None, log: Callable[[str], None] | None = None
) -> tuple[TextEncoder, ImageTokenizer]:
    """The frozen text encoder and tokenizer of a seed: trained (or loaded from the cache), or random.

    Args:
        seed: seed of data and weights.
        pretrained: False returns randomly initialised frozen networks (fast, for smoke tests).
        cfg: stage sizes and budgets.
        log: prints progress lines.
    """
    cfg = cfg or StageConfig()
    torch.manual_seed(seed)
    text = TextEncoder(cfg.text_dim)
    tok = ImageTokenizer(latent_dim=cfg.latent_dim, width=cfg.tokenizer_width, depth=cfg.tokenizer_depth)
    if not pretrained:
        return text.eval().requires_grad_(False), tok.eval().requires_grad_(False)
    data = train_data(seed, cfg)
    say = log or (lambda _: None)

    def build_clip() -> torch.nn.Module:
        say(f"seed {seed}: stage 0, mini-CLIP ({cfg.clip_steps} steps)")
        torch.manual_seed(seed)
        module = MiniClipModule(cfg)
        _fit(module, (data.images, data.tokens), cfg.clip_steps, cfg.batch_size, seed)
        return module.clip.text

    def build_tokenizer() -> torch.nn.Module:
        say(f"seed {seed}: 1-D tokenizer ({cfg.tokenizer_steps} steps)")
        torch.manual_seed(seed)
        module = TokenizerModule(cfg)
        _fit(module, (data.images,), cfg.tokenizer_steps, cfg.batch_size, seed)
        module.tokenizer.calibrate(data.images[:4096])
        return module.tokenizer

    return _stage("clip", seed, cfg, build_clip, text), _stage("tokenizer", seed, cfg, build_tokenizer, tok)


def oracle(seed: int, cfg: StageConfig | None = None, log: Callable[[str], None] | None = None) -> Oracle:
    """The evaluation oracle of a seed, trained on its own renders (a stream no generator sees)."""
    cfg = cfg or StageConfig()

    def build() -> torch.nn.Module:
        if log:
            log(f"seed {seed}: oracle ({cfg.oracle_steps} steps)")
        data = generate(cfg.oracle_pairs, torch.Generator().manual_seed(10_000_019 + seed))
        torch.manual_seed(seed)
        module = OracleModule(cfg)
        _fit(module, (data.images, data.attrs, data.size), cfg.oracle_steps, cfg.batch_size, seed)
        return module.oracle

    return _stage("oracle", seed, cfg, build, Oracle())
