"""Reference flow samplers and guided step: the obvious per-step loop, the oracle for the other paths.

Time convention, here and in the whole :mod:`paperzoo.kernels.flow` package: ``t = 0`` is the source ``x0``
(noise, text latents, a previous sample) and ``t = 1`` the target. A decreasing grid integrates from 1
towards 0. Nothing here is fast; pass float64 tensors to get an accurate oracle. The inputs are assumed
validated by the public functions in :mod:`paperzoo.kernels.flow`, except the velocity's output shape, which
only the loop can see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _call(velocity: Velocity, x: torch.Tensor, t: float) -> torch.Tensor:
    """Evaluate ``velocity(x, t)`` with ``t`` as a ``(batch,)`` tensor and check the output's shape."""
    t_batch = torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)  # [B]
    v = velocity(x, t_batch)
    if not isinstance(v, torch.Tensor) or v.shape != x.shape:
        got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise ValueError(f"velocity: expected an output of shape {tuple(x.shape)} (the shape of x), got {got}")
    return v.to(x.dtype)


def sample(
    velocity: Velocity,
    x0: torch.Tensor,
    timesteps: Sequence[float],
    method: str = "euler",
    return_trajectory: bool = False,
) -> torch.Tensor:
    """Integrate ``dx/dt = velocity(x, t)`` over the grid ``timesteps``, one step at a time.

    Time runs from ``timesteps[0]`` (where ``x = x0``) to ``timesteps[-1]``, in either direction;
    ``t = 0`` is the source and ``t = 1`` the target. With ``h = t[i+1] - t[i]`` each step is

    - ``"euler"``: ``x + h v(x, t[i])``,
    - ``"heun"``: ``x + h/2 (k1 + k2)`` with ``k1 = v(x, t[i])``, ``k2 = v(x + h k1, t[i+1])``,
    - ``"midpoint"``: ``x + h v(x + h/2 k1, t[i] + h/2)`` with ``k1 = v(x, t[i])``.

    Args:
        velocity: ``velocity(x, t) -> v`` with ``x`` of ``x0``'s shape ``(batch, ...)``, ``t`` of shape
            ``(batch,)`` holding the current time (``x0``'s dtype), and ``v`` of ``x``'s shape.
        x0: the state at ``timesteps[0]``, shape ``(batch, ...)``; its dtype is the integration dtype.
        timesteps: the strictly monotone grid, at least two points.
        method: ``"euler"``, ``"heun"`` or ``"midpoint"``.
        return_trajectory: return every grid state instead of the last one.

    Returns:
        The state at ``timesteps[-1]``, shape ``(batch, ...)``; or, with ``return_trajectory``, the states at
        every grid point, shape ``(len(timesteps), batch, ...)``, the first being ``x0``.

    Raises:
        ValueError: ``velocity`` returned a tensor of another shape than ``x``.
    """
    ts = [float(t) for t in timesteps]
    x = x0
    states = [x0]
    for i in range(len(ts) - 1):
        t, t_next = ts[i], ts[i + 1]
        h = t_next - t
        k1 = _call(velocity, x, t)
        if method == "euler":
            x = x + h * k1
        elif method == "heun":
            k2 = _call(velocity, x + h * k1, t_next)
            x = x + (h / 2) * (k1 + k2)
        elif method == "midpoint":
            k2 = _call(velocity, x + (h / 2) * k1, t + h / 2)
            x = x + h * k2
        else:
            raise ValueError(f"method: expected 'euler', 'heun' or 'midpoint', got {method!r}")
        states.append(x)
    return torch.stack(states) if return_trajectory else x


def guided(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Guided velocity ``v_uncond + scale * (v_cond - v_uncond)``, computed in float64.

    Time-independent: the two velocities are taken at the same ``(x, t)``. ``scale = 0`` gives ``v_uncond``,
    ``scale = 1`` gives ``v_cond``; classifier-free guidance uses ``scale > 1``.

    Args:
        v_cond: conditional velocity, any shape ``(batch, ...)``.
        v_uncond: unconditional (or negative-indicator) velocity, ``v_cond``'s shape.
        scale: a number or a tensor broadcastable to ``v_cond``'s shape.

    Returns:
        The guided velocity in ``v_cond``'s and ``v_uncond``'s promoted dtype.
    """
    out_dtype = torch.promote_types(v_cond.dtype, v_uncond.dtype)
    vc, vu = v_cond.double(), v_uncond.double()
    s = scale.double() if isinstance(scale, torch.Tensor) else float(scale)
    return (vu + s * (vc - vu)).to(out_dtype)


def guided_euler_step(
    x: torch.Tensor,
    v_cond: torch.Tensor,
    v_uncond: torch.Tensor,
    scale: float | torch.Tensor,
    dt: float | torch.Tensor,
) -> torch.Tensor:
    """One guided Euler step ``x + dt * (v_uncond + scale * (v_cond - v_uncond))``, computed in float64.

    ``dt = t_next - t`` is negative when integrating from 1 towards 0 (``t = 0`` is the source).

    Args:
        x: the state at time ``t``, shape ``(batch, ...)``.
        v_cond: conditional velocity at ``(x, t)``, ``x``'s shape.
        v_uncond: unconditional velocity at ``(x, t)``, ``x``'s shape.
        scale: guidance scale, a number or a tensor broadcastable to ``x``'s shape.
        dt: step size, a number or a tensor broadcastable to ``x``'s shape.

    Returns:
        The state at ``t + dt`` in the promoted dtype of ``x``, ``v_cond`` and ``v_uncond``.
    """
    out_dtype = torch.promote_types(torch.promote_types(x.dtype, v_cond.dtype), v_uncond.dtype)
    h = dt.double() if isinstance(dt, torch.Tensor) else float(dt)
    return (x.double() + h * guided(v_cond.double(), v_uncond.double(), scale)).to(out_dtype)
