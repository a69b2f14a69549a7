"""The common backbone: embedding -> n x (norm -> mixer -> residual) -> norm -> head.

``mixer`` names one model of the survey's taxonomy; :data:`ERAS` maps each to its era.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from paperzoo.ssmsurvey.baselines import CausalAttention, LSTMMixer
from paperzoo.ssmsurvey.layers import LTISSM, S4D, S5, Mamba, Mamba2

MIXERS: dict[str, type[nn.Module]] = {
    "lti": LTISSM,
    "s4d": S4D,
    "s5": S5,
    "mamba": Mamba,
    "mamba2": Mamba2,
    "transformer": CausalAttention,
    "lstm": LSTMMixer,
}

ERAS = {
    "lti": "1 original SSM",
    "s4d": "2 structured SSM",
    "s5": "2 structured SSM",
    "mamba": "3 selective SSM",
    "mamba2": "3 selective SSM",
    "transformer": "baseline",
    "lstm": "baseline",
}


def build_mixer(name: str, d_model: int, **kwargs: Any) -> nn.Module:
    """The mixer called ``name`` with width ``d_model``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if name not in MIXERS:
        raise ValueError(f"mixer: unknown {name!r}; expected one of {', '.join(MIXERS)}")
    return MIXERS[name](d_model, **kwargs)


class SequenceModel(nn.Module):
    """Token model over any mixer of the survey.

    Args:
        mixer: one of :data:`MIXERS`.
        vocab_size: input and output vocabulary.
        d_model: width.
        n_layers: number of residual mixer blocks.
        mixer_kwargs: passed to the mixer (e.g. ``{"init": "lin"}`` for s4d, ``{"selective": False}``).
    """

    def __init__(
        self, mixer: str, vocab_size: int, d_model: int = 64, n_layers: int = 2, mixer_kwargs: dict | None = None
    ) -> None:
        super().__init__()
        if vocab_size < 2:
            raise ValueError(f"vocab_size: expected >= 2, got {vocab_size}")
        self.mixer_name, self.vocab_size, self.d_model = mixer, vocab_size, d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.mixers = nn.ModuleList(build_mixer(mixer, d_model, **(mixer_kwargs or {})) for _ in range(n_layers))
        self.norm_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

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
