"""Typed configs: the backbone and its mixer (:class:`ModelConfig`) and one training run of the experiment
(:class:`Run`), which holds a :class:`ModelConfig` and the shared :class:`~paperzoo.core.optim.OptimConfig`.

``SequenceModel(cfg)`` builds from a :class:`ModelConfig`; ``SSMSurveyModule(model=..., optim=...)`` takes the
two configs whole; the experiment's runs hold the same objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from paperzoo.core.optim import OptimConfig

ERAS = {
    "lti": "1 original SSM",
    "s4d": "2 structured SSM",
    "s5": "2 structured SSM",
    "mamba": "3 selective SSM",
    "mamba2": "3 selective SSM",
    "transformer": "baseline",
    "lstm": "baseline",
}
"""Every mixer of the backbone and the era of the survey's taxonomy it belongs to."""

MIXER_NAMES = tuple(ERAS)
"""The mixers :class:`ModelConfig` accepts."""

BETAS = (0.9, 0.98)
"""AdamW's running-average coefficients in every run of the package."""


@dataclass
class ModelConfig:
    """The common backbone: embedding -> ``n_layers`` x (norm -> mixer -> residual) -> norm -> head."""

    mixer: str = "mamba"
    """The sequence mixer: one of lti, s4d, s5, mamba, mamba2, transformer, lstm."""
    vocab_size: int | None = None
    """Input and output vocabulary; ``None`` takes the datamodule's (the task's)."""
    d_model: int = 64
    """Width of the residual stream."""
    n_layers: int = 2
    """Number of residual mixer blocks."""
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)
    """Options of the mixer's constructor, e.g. ``{init: lin, l_max: 128}`` for s4d, ``{selective: false}`` or
    ``{gated: false}`` for mamba, ``{d_state: 64, mode: conv}`` for lti."""

    def __post_init__(self) -> None:
        if self.mixer not in MIXER_NAMES:
            raise ValueError(f"mixer: expected one of {', '.join(MIXER_NAMES)}, got {self.mixer!r}")
        if self.vocab_size is not None and self.vocab_size < 2:
            raise ValueError(f"vocab_size: expected >= 2 (or None for the datamodule's), got {self.vocab_size}")
        if self.d_model < 1:
            raise ValueError(f"d_model: expected a positive width, got {self.d_model}")
        if self.n_layers < 1:
            raise ValueError(f"n_layers: expected a positive number of blocks, got {self.n_layers}")
        if not isinstance(self.mixer_kwargs, dict):
            raise ValueError(f"mixer_kwargs: expected a mapping of option names, got {self.mixer_kwargs!r}")
        self.mixer_kwargs = dict(self.mixer_kwargs)


def run_optim(steps: int, lr: float = 3e-3) -> OptimConfig:
    """AdamW as every run of the experiment trains: no weight decay, betas (0.9, 0.98), a linear warm-up over a
    tenth of the ``steps`` (at least one), then a cosine decay to zero at the last step.

    Args:
        steps: the run's optimiser steps.
        lr: the peak learning rate.
    """
    return OptimConfig(lr=lr, weight_decay=0.0, betas=BETAS, warmup_steps=max(1, steps // 10))


@dataclass
class Run:
    """One training run of the experiment: a model on a task with a step budget and its optimiser."""

    name: str
    """The run's name in the results (``mamba``, ``s4d_no_gate``, ...)."""
    model: ModelConfig
    """The backbone and its mixer; ``vocab_size`` stays None (the task decides it)."""
    task: str
    """The synthetic task (see ``paperzoo.ssmsurvey.data.TASKS``)."""
    task_kwargs: dict[str, Any]
    """The task generator's options, e.g. ``{length: 256, n_data: 16, n_tokens: 8}``."""
    steps: int
    """Training steps (one fresh batch each) and the length of the cosine schedule."""
    optim: OptimConfig | None = None
    """AdamW and its schedule; ``None`` is :func:`run_optim` of ``steps`` (lr 3e-3)."""
    batch_size: int = 32
    """Sequences per step."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps: expected a positive number of steps, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size: expected a positive batch size, got {self.batch_size}")
        if self.optim is None:
            self.optim = run_optim(self.steps)

    def cache_key(self) -> dict[str, Any]:
        """What the trained weights depend on, as ``$PAPERZOO_CACHE`` keys them.

        The fields are those of the flat run record this class replaced (mixer and its options, width, depth,
        task, steps, learning rate, batch), so that weights cached before keep their key. An optimiser other than
        :func:`run_optim` of the run's steps and learning rate adds itself to the key; a fixed vocabulary too.
        """
        key: dict[str, Any] = {
            "name": self.name,
            "mixer": self.model.mixer,
            "task": self.task,
            "task_kwargs": self.task_kwargs,
            "steps": self.steps,
            "mixer_kwargs": self.model.mixer_kwargs,
            "d_model": self.model.d_model,
            "n_layers": self.model.n_layers,
            "lr": self.optim.lr,
            "batch_size": self.batch_size,
        }
        if self.optim != run_optim(self.steps, self.optim.lr):
            key["optim"] = dataclasses.asdict(self.optim)
        if self.model.vocab_size is not None:
            key["vocab_size"] = self.model.vocab_size
        return key
