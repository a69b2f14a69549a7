"""Flow-matching training targets, the indicator trick and the guided Euler sampler, on ``paperzoo.kernels.flow``.

Time convention of the reference code (and of the shared kernel): ``t = 0`` is the source ``x0`` (the text
latent ``Z_T``, or noise for the baseline) and ``t = 1`` the image latent ``x1 = Z_I``:

- ``x_t = (1 - (1 - σ_min) t) x0 + t x1`` and ``v = x1 - (1 - σ_min) x0``, with ``σ_min = 1e-5``;
- indicator guidance: ``v = v_u + s (v_c - v_u)``, ``v_c`` with indicator 0 and ``v_u`` with indicator 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch

from paperzoo.kernels import flow

SIGMA_MIN = 1e-5
GRIDS = ("euler", "reference")


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """``x_t = (1 - (1 - σ_min) t) x0 + t x1`` for ``(B, ...)`` states and ``(B,)`` times."""
    tb = t.view(-1, *([1] * (x0.dim() - 1)))
    return flow.interpolate(x0, x1, t) + sigma_min * tb * x0


def velocity_target(x0: torch.Tensor, x1: torch.Tensor, sigma_min: float = SIGMA_MIN) -> torch.Tensor:
    """``v = x1 - (1 - σ_min) x0``, the time derivative of :func:`interpolate`."""
    return flow.velocity_target(x0, x1) + sigma_min * x0


def null_indicator(batch: int, p: float, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Flag each sample with probability ``p``; when at most one is flagged, flag none (nothing to shift).

    Returns:
        ``(batch,)`` int64 flags.
    """
    flags = (torch.rand(batch, generator=generator) < p).long()
    if int(flags.sum()) <= 1:
        flags.zero_()
    return flags.to(device) if device is not None else flags


def shift_flagged(x1: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    """Cyclically shift the targets of the flagged samples among themselves; the others stay.

    Args:
        x1: targets, ``(B, ...)``.
        flags: ``(B,)`` 0/1.

    Returns:
        A new tensor where flagged sample ``i_k`` gets the target of flagged sample ``i_{k+1}``.
    """
    idx = torch.nonzero(flags, as_tuple=True)[0]
    out = x1.clone()
    if len(idx) > 1:
        out[idx] = x1[idx.roll(-1)]
    return out


def sample(
    velocity: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    steps: int = 20,
    guidance: float = 1.0,
    grid: str = "euler",
    sigma_min: float = SIGMA_MIN,
) -> torch.Tensor:
    """Integrate the (guided) velocity from ``x0`` at ``t = 0`` to ``t = 1 - σ_min`` with Euler steps.

    Args:
        velocity: ``velocity(x, t, null_indicator) -> v`` on ``(B, ...)`` states and ``(B,)`` times/flags.
        x0: the source (text latents ``Z_T``, or noise), ``(B, ...)``.
        steps: Euler steps, at least 1.
        guidance: scale ``s``; 1 uses the conditional field only (one network call per step).
        grid: ``"euler"`` (left-endpoint Euler on ``t_i = i/n``) or ``"reference"`` (the reference code's
            loop: steps of ``1/n``, the network evaluated at ``n`` evenly spaced times from 0 to 1 inclusive).
        sigma_min: the time scaling ``(1 - σ_min)``.

    Returns:
        The sample at ``t = 1``, ``x0``'s shape.

    Raises:
        ValueError: ``steps < 1`` or an unknown grid.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    if grid not in GRIDS:
        raise ValueError(f"grid: expected one of {', '.join(GRIDS)}, got {grid!r}")
    b = len(x0)
    zeros = torch.zeros(b, dtype=torch.long, device=x0.device)
    ones = torch.ones_like(zeros)
    if grid == "euler" and guidance == 1.0:
        times = flow.time_grid(steps) * (1 - sigma_min)
        return flow.sample(lambda x, t: velocity(x, t, zeros), x0, times)
    if grid == "euler":
        times = (flow.time_grid(steps) * (1 - sigma_min)).tolist()
        evals, dts = times[:-1], [b_ - a for a, b_ in itertools.pairwise(times)]
    else:
        evals = [i / max(steps - 1, 1) * (1 - sigma_min) for i in range(steps)]
        dts = [1.0 / steps] * steps
    x = x0
    for t_eval, dt in zip(evals, dts):
        t = torch.full((b,), t_eval, dtype=x0.dtype, device=x0.device)
        if guidance == 1.0:
            x = x + dt * velocity(x, t, zeros)
            continue
        # One batched pass for the conditional (indicator 0) and the text-agnostic (indicator 1) field.
        v = velocity(torch.cat([x, x]), torch.cat([t, t]), torch.cat([zeros, ones]))
        v_cond, v_uncond = v[:b], v[b:]
        x = flow.guided_euler_step(x, v_cond, v_uncond, guidance, dt)
    return x
