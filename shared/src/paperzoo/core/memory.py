"""How much memory autograd keeps for the backward pass: the measure the kernels' memory tests and benches use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def saved_for_backward(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int]:
    """Call ``fn(*args, **kwargs)`` and count the bytes autograd stores for its backward pass.

    Every tensor saved during the call is counted at its own size (a view counts its elements, not its
    storage), including those saved by a non-reentrant checkpoint, which saves its inputs.

    Returns:
        ``(fn's result, bytes saved)``.
    """
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*args, **kwargs)
    return out, total
