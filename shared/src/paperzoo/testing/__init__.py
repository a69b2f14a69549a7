"""Helpers for the tests of every package: tolerances between tensors and the command line's one-line errors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def rel_rms(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Relative RMS error ``rms(actual - expected) / rms(expected)`` in float64.

    The measure flash-linear-attention and mamba use to compare a kernel with its reference: one number that
    does not blow up on entries near zero, as an element-wise relative error does.
    """
    actual, expected = actual.double(), expected.double()
    return ((actual - expected).pow(2).mean().sqrt() / expected.pow(2).mean().sqrt().clamp_min(1e-30)).item()


def assert_one_line_error(
    main: Callable[[list[str]], int], args: Sequence[str], capsys: Any, *fragments: str, code: int = 2
) -> str:
    """Run a package's ``main(args)``, expect exit status ``code`` and one stderr line containing ``fragments``.

    Returns:
        The error line.
    """
    status = main(list(args))
    err = capsys.readouterr().err.strip()
    assert status == code, f"exit status {status}, expected {code}; stderr: {err}"
    assert len(err.splitlines()) == 1, f"expected one error line, got:\n{err}"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err
