"""Input validation shared by the kernels: every message names the argument and the expected shape."""

from __future__ import annotations

import torch


def check_tensor(name: str, x: object, ndim: int | tuple[int, ...], shape_doc: str) -> torch.Tensor:
    """Check that ``x`` is a tensor of the given rank(s).

    Args:
        name: the argument's name, quoted in the error.
        x: the value to check.
        ndim: the accepted number of dimensions, or a tuple of them.
        shape_doc: the expected shape as a reader would write it, e.g. ``"(batch, dim, L)"``.

    Raises:
        ValueError: ``x`` is not a tensor or has another rank.
    """
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a tensor of shape {shape_doc}, got {type(x).__name__}")
    if x.dim() not in ranks:
        raise ValueError(f"{name}: expected shape {shape_doc}, got {tuple(x.shape)}")
    return x


def check_dim(name: str, x: torch.Tensor, axis: int, size: int, shape_doc: str) -> None:
    """Check that ``x.shape[axis] == size``; raise a ValueError naming ``name`` and ``shape_doc`` otherwise."""
    if x.shape[axis] != size:
        raise ValueError(f"{name}: expected shape {shape_doc} with size {size} at dim {axis}, got {tuple(x.shape)}")


def check_float(name: str, x: torch.Tensor) -> None:
    """Check that ``x`` holds floating-point values."""
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got {x.dtype}")
