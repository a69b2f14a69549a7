"""Typed configs: dataclasses whose fields carry docstrings, shared by the model, the LightningModule, the CLI
and the experiment, so that a signature is written once.

A package's ``config.py`` holds them; ``Model(cfg)`` builds from one; the LightningModule takes them whole::

    class MyModule(pl.LightningModule):
        def __init__(self, model: ModelConfig = ModelConfig(), optim: OptimConfig = OptimConfig()) -> None:
            super().__init__()
            self.cfg = as_config(ModelConfig, model)
            self.optim = as_config(OptimConfig, optim)
            save_config_hparams(self, model=self.cfg, optim=self.optim)

LightningCLI (jsonargparse) parses the dataclasses as nested options (``--model.model.dim 64``, or a ``model:``
block in the YAML); ``save_config_hparams`` stores them as plain dicts, so ``load_from_checkpoint`` rebuilds the
module from a checkpoint without unpickling any class.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def as_config(cls: type[T], value: Any) -> T:
    """``value`` as a ``cls`` dataclass: returned as it is when it already is one, built from a dict otherwise.

    Nested dataclass fields are built from nested dicts; lists become tuples where the field is a tuple.

    Raises:
        TypeError: ``value`` is neither; or the dict has keys ``cls`` does not know (named in the message).
    """
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"expected a {cls.__name__} or a dict of its fields, got {type(value).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise TypeError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, item in value.items():
        hint = hints.get(key)
        target = _dataclass_in(hint)
        if target is not None and isinstance(item, dict):
            item = as_config(target, item)
        elif _is_tuple(hint) and isinstance(item, list):
            item = tuple(item)
        kwargs[key] = item
    return cls(**kwargs)


def _dataclass_in(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg) and isinstance(arg, type):
                return arg
    return None


def _is_tuple(hint: Any) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


def config_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as a plain dict (nested dataclasses too)."""
    return dataclasses.asdict(cfg)


def save_config_hparams(module: Any, **configs: Any) -> None:
    """``module.save_hyperparameters`` with each config stored as a plain dict, so checkpoints reload anywhere."""
    module.save_hyperparameters({name: config_dict(cfg) for name, cfg in configs.items()})
