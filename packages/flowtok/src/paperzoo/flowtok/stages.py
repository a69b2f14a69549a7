"""The pre-training stages every flow run stands on: data, mini-CLIP (stage 0), the tokenizer, the oracle.

Each stage is cached under ``$PAPERZOO_CACHE/flowtok`` keyed by its configuration and seed, so ``fit``
and ``reproduce`` train them once per seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core import cached, load_stage, quiet_trainer, save_stage
from paperzoo.flowtok.data import ShapesCaptions, generate
from paperzoo.flowtok.module import MiniClipModule, OracleModule, TokenizerModule
from paperzoo.flowtok.oracle import Oracle
from paperzoo.flowtok.text_encoder import TextEncoder
from paperzoo.flowtok.tokenizer import ImageTokenizer

# Bumped whenever a stage's architecture or recipe changes, so the cache never serves a stale artefact.
STAGE_VERSION = 2


@dataclass
class StageConfig:
    """Sizes and budgets of the pre-training stages.

    Attributes:
        num_pairs: training pairs for every stage.
        batch_size: batch size of the stages.
        text_dim: ``C``, width of the text encoder.
        clip_steps: mini-CLIP steps.
        tokenizer_width: tokenizer ViT width.
        tokenizer_depth: tokenizer encoder/decoder blocks.
        latent_dim: ``D``.
        tokenizer_steps: tokenizer steps.
        oracle_pairs: renders the oracle trains on (its own stream).
        oracle_steps: oracle steps.
    """

    num_pairs: int = 20000
    batch_size: int = 128
    text_dim: int = 64
    clip_steps: int = 150
    tokenizer_width: int = 64
    tokenizer_depth: int = 2
    latent_dim: int = 8
    tokenizer_steps: int = 1500
    oracle_pairs: int = 8000
    oracle_steps: int = 500


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
        module = MiniClipModule(cfg.text_dim)
        _fit(module, (data.images, data.tokens), cfg.clip_steps, cfg.batch_size, seed)
        return module.clip.text

    def build_tokenizer() -> torch.nn.Module:
        say(f"seed {seed}: 1-D tokenizer ({cfg.tokenizer_steps} steps)")
        torch.manual_seed(seed)
        module = TokenizerModule(cfg.tokenizer_width, cfg.tokenizer_depth, latent_dim=cfg.latent_dim)
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
        module = OracleModule()
        _fit(module, (data.images, data.attrs, data.size), cfg.oracle_steps, cfg.batch_size, seed)
        return module.oracle

    return _stage("oracle", seed, cfg, build, Oracle())
