"""Choosing between the reference, PyTorch and Triton implementation of a kernel.

Every op in :mod:`paperzoo.kernels` has three implementations. The public function calls
:func:`backend` with its tensor inputs and runs the implementation it names:

- ``"triton"`` for CUDA tensors when triton imports,
- ``"torch"`` (the chunked PyTorch path) everywhere else,
- whatever ``PAPERZOO_KERNELS=reference|torch|triton`` forces.
"""

from __future__ import annotations

import functools
import os

import torch

BACKENDS = ("reference", "torch", "triton")


@functools.cache
def triton_available() -> bool:
    """True when triton imports (Linux with a triton wheel); never raises."""
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


def forced_backend() -> str | None:
    """The backend named by ``PAPERZOO_KERNELS``, or None when unset.

    Raises:
        ValueError: the variable names no known backend.
    """
    value = os.environ.get("PAPERZOO_KERNELS", "").strip().lower()
    if not value:
        return None
    if value not in BACKENDS:
        raise ValueError(f"PAPERZOO_KERNELS={value!r}: expected one of {', '.join(BACKENDS)}")
    return value


def triton_interpreting() -> bool:
    """True when Triton runs kernels on the CPU (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def backend(*tensors: torch.Tensor | None) -> str:
    """Pick the implementation for these inputs (``None`` entries are ignored)."""
    forced = forced_backend()
    if forced is not None:
        if forced == "triton" and not triton_available():
            raise ValueError("PAPERZOO_KERNELS=triton but triton does not import on this machine")
        return forced
    on_cuda = any(t is not None and t.is_cuda for t in tensors)
    if on_cuda and triton_available():
        return "triton"
    return "torch"
