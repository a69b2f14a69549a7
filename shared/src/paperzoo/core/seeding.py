"""Seeding: one call makes a run repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_all(seed: int, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA), and return a CPU generator seeded the same way.

    Data generators in the packages take that generator explicitly, so the data of a seed does not
    depend on how much randomness model initialisation consumed before it.

    Args:
        seed: any non-negative integer.
        deterministic: also ask torch for deterministic algorithms (slower on GPU).

    Raises:
        ValueError: a negative or non-integer seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    # Legacy global NumPy state: third-party code (and older sklearn) still draws from it.
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)
