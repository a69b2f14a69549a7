"""Transformer LMM -> Vamba: every shared weight is copied, and each layer's cross-attention starts as a copy
of the same layer's self-attention (which the paper finds important for stability and accuracy)."""

from __future__ import annotations

import dataclasses

import torch

from paperzoo.core.config import as_config
from paperzoo.vamba.baselines import TransformerLMM
from paperzoo.vamba.config import ModelConfig
from paperzoo.vamba.model import TinyLMM


def transformer_to_vamba(
    transformer: TransformerLMM,
    cfg: ModelConfig | None = None,
    ca_init: str = "self_attn",
    seed: int | None = None,
) -> TinyLMM:
    """Build a Vamba model from a trained Transformer LMM.

    Args:
        transformer: the source model (``video="full"``).
        cfg: the Vamba config (defaults to the transformer's, with the mixer on).
        ca_init: ``"self_attn"`` copies SA into CA; ``"random"`` keeps CA's fresh initialisation (the ablation).
        seed: seeds the new modules' initialisation (Mamba-2, and CA when random).

    Returns:
        a :class:`TinyLMM` whose vision, text embedding, SA, MLP, norms and head equal the transformer's.
    """
    if ca_init not in ("self_attn", "random"):
        raise ValueError(f"ca_init: expected 'self_attn' or 'random', got {ca_init!r}")
    cfg = cfg or dataclasses.replace(transformer.cfg, use_mixer=True)
    if seed is not None:
        torch.manual_seed(seed)
    vamba = TinyLMM(cfg)
    _, unexpected = vamba.load_state_dict(transformer.state_dict(), strict=False)
    if unexpected:
        raise ValueError(f"transformer: weights with no place in Vamba: {unexpected[:4]}")
    if ca_init == "self_attn":
        for layer_v, layer_t in zip(vamba.layers, transformer.layers, strict=True):
            layer_v.cross_attn.load_state_dict(layer_t.self_attn.state_dict())
    return vamba


def convert_checkpoint(source: str, out: str) -> TinyLMM:
    """Convert a saved ``{"cfg": dict, "state_dict": ...}`` Transformer checkpoint and save the Vamba one."""
    ckpt = torch.load(source, map_location="cpu", weights_only=False)
    cfg = as_config(ModelConfig, ckpt["cfg"])
    transformer = TransformerLMM(cfg, "full")
    transformer.load_state_dict(ckpt["state_dict"])
    vamba = transformer_to_vamba(transformer)
    torch.save({"cfg": dataclasses.asdict(vamba.cfg), "state_dict": vamba.state_dict(), "arch": "vamba"}, out)
    return vamba
