"""The cache: generated datasets and stage checkpoints under ``$PAPERZOO_CACHE``, keyed by config hash.

A key is the hash of the configuration that produced an artefact, so a changed config never reads a
stale artefact and an unchanged one never recomputes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def cache_dir(*parts: str) -> Path:
    """The cache root (``$PAPERZOO_CACHE``, default ``~/.cache/paperzoo``), or a folder inside it, created."""
    root = Path(os.environ.get("PAPERZOO_CACHE") or Path.home() / ".cache" / "paperzoo").expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, str | int | float | bool) or obj is None:
        return obj
    raise TypeError(f"config_hash: cannot hash a value of type {type(obj).__name__}")


def config_hash(config: Any, length: int = 16) -> str:
    """A stable hex digest of a configuration (dicts, dataclasses, lists, numbers, strings, tensors).

    Key order does not matter; values and types do (``1`` and ``1.0`` hash alike, as JSON writes them).
    """
    text = json.dumps(_jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _atomic_save(obj: Any, path: Path) -> None:
    # Write to a temporary file first so that an interrupted run never leaves a truncated artefact behind.
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        torch.save(obj, tmp)
    os.replace(tmp.name, path)


def cached(namespace: str, config: Any, build: Callable[[], T]) -> T:
    """Return the artefact ``build()`` makes for ``config``, computing it only when it is not cached.

    Args:
        namespace: a folder under the cache root, usually ``"<package>/<what>"``.
        config: everything the artefact depends on (seed included).
        build: makes the artefact: tensors or containers of tensors that ``torch.save`` can store.
    """
    path = cache_dir(namespace) / f"{config_hash(config)}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=False)
        except Exception:
            path.unlink(missing_ok=True)
    value = build()
    _atomic_save(value, path)
    return value


def save_stage(namespace: str, config: Any, state: dict[str, Any]) -> Path:
    """Store a stage checkpoint (e.g. a pre-trained model's state_dict) keyed by its config; returns its path."""
    path = cache_dir(namespace) / f"{config_hash(config)}.ckpt"
    _atomic_save(state, path)
    return path


def load_stage(namespace: str, config: Any) -> dict[str, Any] | None:
    """The stage checkpoint stored for ``config``, or None when there is none (or it cannot be read)."""
    path = cache_dir(namespace) / f"{config_hash(config)}.ckpt"
    if not path.exists():
        return None
    try:
        return torch.load(path, weights_only=False)
    except Exception:
        return None
