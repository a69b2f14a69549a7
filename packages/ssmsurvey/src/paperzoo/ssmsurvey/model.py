"""The common backbone: embedding -> n x (norm -> mixer -> residual) -> norm -> head.

``mixer`` names one model of the survey's taxonomy; :data:`~paperzoo.ssmsurvey.config.ERAS` maps each to its era.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from paperzoo.ssmsurvey.baselines import CausalAttention, LSTMMixer
from paperzoo.ssmsurvey.config import ERAS, ModelConfig
from paperzoo.ssmsurvey.layers import LTISSM, S4D, S5, Mamba, Mamba2

__all__ = ["ERAS", "MIXERS", "SequenceModel", "build_mixer", "check_mixer_options"]

MIXERS: dict[str, type[nn.Module]] = {
    "lti": LTISSM,
    "s4d": S4D,
    "s5": S5,
    "mamba": Mamba,
    "mamba2": Mamba2,
    "transformer": CausalAttention,
    "lstm": LSTMMixer,
}


def check_mixer_options(name: str, options: dict[str, Any]) -> None:
    """Raise ValueError unless ``name`` is a mixer and ``options`` are keywords of its constructor.

    Raises:
        ValueError: an unknown mixer or option (the message lists the valid ones).
    """
    if name not in MIXERS:
        raise ValueError(f"mixer: unknown {name!r}; expected one of {', '.join(MIXERS)}")
    accepted = [p for p in inspect.signature(MIXERS[name]).parameters if p != "d_model"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"mixer_kwargs: {name} has no option {', '.join(unknown)}; expected some of {', '.join(accepted) or 'none'}"
        )


def build_mixer(name: str, d_model: int, **kwargs: Any) -> nn.Module:
    """The mixer called ``name`` with width ``d_model``.

    Raises:
        ValueError: an unknown name or option (the message lists the valid ones).
    """
    check_mixer_options(name, kwargs)
    return MIXERS[name](d_model, **kwargs)


class SequenceModel(nn.Module):
    """Token model over any mixer of the survey.

    Args:
        cfg: the mixer, the vocabulary (must be set), the width and the depth.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size is None:
            raise ValueError("vocab_size: expected >= 2, got None (the module takes it from the datamodule)")
        check_mixer_options(cfg.mixer, cfg.mixer_kwargs)
        self.cfg = cfg
        self.mixer_name, self.vocab_size, self.d_model = cfg.mixer, cfg.vocab_size, cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(cfg.n_layers))
        self.mixers = nn.ModuleList(
            build_mixer(cfg.mixer, cfg.d_model, **cfg.mixer_kwargs) for _ in range(cfg.n_layers)
        )
        self.norm_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of the next token or the answer at each position.

        Args:
            tokens: ``[B, L]`` int64 in ``[0, vocab_size)``.

        Returns:
            ``[B, L, vocab_size]``.
        """
        if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens: expected an integer tensor of shape [batch, length], got {tuple(tokens.shape)}")
        h = self.embed(tokens)  # [B, L, d]
        for norm, mixer in zip(self.norms, self.mixers, strict=True):
            h = h + mixer(norm(h))
        return self.head(self.norm_f(h))

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts: ``total`` and ``mixers`` (what differs between matched models)."""
        return {
            "total": sum(p.numel() for p in self.parameters()),
            "mixers": sum(p.numel() for p in self.mixers.parameters()),
        }
