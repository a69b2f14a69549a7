"""PyTorch flow samplers and training helpers: the runtime path on every device.

Time convention: ``t = 0`` is the source ``x0`` and ``t = 1`` the target; a decreasing grid integrates from
1 towards 0. The sampler does all its bookkeeping (the per-step time tensors and step sizes) before the
loop, so a step costs the velocity call plus one or two fused ``add`` kernels. Inputs are assumed validated
by the public functions in :mod:`paperzoo.kernels.flow`, except the velocity's output shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _shape_error(v: object, x: torch.Tensor) -> ValueError:
    got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
    return ValueError(f"velocity: expected an output of shape {tuple(x.shape)} (the shape of x), got {got}")


def _times(ts: torch.Tensor, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One contiguous ``(batch,)`` tensor per entry of ``ts``, in ``like``'s dtype and device."""
    return ts.to(device=like.device, dtype=like.dtype)[:, None].repeat(1, batch).unbind(0)  # T x [B]


def sample(
    velocity: Velocity,
    x0: torch.Tensor,
    timesteps: torch.Tensor,
    method: str = "euler",
    return_trajectory: bool = False,
) -> torch.Tensor:
    """Integrate ``dx/dt = velocity(x, t)`` over the grid ``timesteps`` (Euler, Heun or midpoint).

    Time runs from ``timesteps[0]`` (where ``x = x0``) to ``timesteps[-1]``, in either direction;
    ``t = 0`` is the source and ``t = 1`` the target. The methods evaluate the field at the times given
    in :func:`paperzoo.kernels.flow.reference.sample`. Under autograd (an ``x0`` or a field output that
    requires grad) every step is out of place and gradients flow through the whole trajectory; otherwise a
    requested trajectory is preallocated and written in place.

    Args:
        velocity: ``velocity(x, t) -> v``; ``x`` of shape ``(batch, ...)``, ``t`` of shape ``(batch,)`` in
            ``x0``'s dtype, ``v`` of ``x``'s shape (cast to ``x0``'s dtype when it differs).
        x0: the state at ``timesteps[0]``, shape ``(batch, ...)``; its dtype is the integration dtype.
            It is never modified.
        timesteps: the strictly monotone float64 CPU grid, shape ``(T,)``, ``T >= 2``.
        method: ``"euler"``, ``"heun"`` or ``"midpoint"``.
        return_trajectory: return every grid state instead of the last one.

    Returns:
        The state at ``timesteps[-1]``, shape ``(batch, ...)``; or, with ``return_trajectory``, shape
        ``(T, batch, ...)``, the first entry equal to ``x0``.

    Raises:
        ValueError: ``velocity`` returned a tensor of another shape than ``x``.
    """
    shape, dtype = x0.shape, x0.dtype
    steps = timesteps.numel() - 1
    h = (timesteps[1:] - timesteps[:-1]).tolist()
    t_nodes = _times(timesteps, shape[0], x0)
    if method == "midpoint":
        t_mid = _times((timesteps[1:] + timesteps[:-1]) / 2, shape[0], x0)
    elif method not in ("euler", "heun"):
        raise ValueError(f"method: expected 'euler', 'heun' or 'midpoint', got {method!r}")

    def field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v = velocity(x, t)
        if not isinstance(v, torch.Tensor) or v.shape != shape:
            raise _shape_error(v, x)
        return v if v.dtype == dtype else v.to(dtype)

    grad_enabled = torch.is_grad_enabled()
    # autograd steps keep their states in a list (stacked at the end); others write a preallocated buffer
    trajectory: torch.Tensor | None = None
    states: list[torch.Tensor] = [x0]
    x = x0
    for i in range(steps):
        k1 = field(x, t_nodes[i])
        if method == "euler":
            terms = ((k1, h[i]),)
        elif method == "heun":
            k2 = field(torch.add(x, k1, alpha=h[i]), t_nodes[i + 1])
            terms = ((k1, h[i] / 2), (k2, h[i] / 2))
        else:
            k2 = field(torch.add(x, k1, alpha=h[i] / 2), t_mid[i])
            terms = ((k2, h[i]),)

        tracked = grad_enabled and (x.requires_grad or any(k.requires_grad for k, _ in terms))
        if tracked and trajectory is not None:
            states = list(trajectory[: i + 1].unbind(0))
            trajectory = None
        slot = None
        if return_trajectory and not tracked:
            if trajectory is None:
                # poisoned, so that a slot the loop failed to write cannot pass for a state
                trajectory = torch.full((steps + 1, *shape), float("nan"), dtype=dtype, device=x0.device)
                torch.stack(states, out=trajectory[: len(states)])
                states = []
            slot = trajectory[i + 1]
        (k, alpha), *rest = terms
        x_next = torch.add(x, k, alpha=alpha) if slot is None else torch.add(x, k, alpha=alpha, out=slot)
        for k, alpha in rest:
            # x_next is a fresh tensor (or this step's slot): adding in place is safe, also under autograd
            x_next.add_(k, alpha=alpha)
        x = x_next
        if return_trajectory and trajectory is None:
            states.append(x)

    if not return_trajectory:
        return x
    return trajectory if trajectory is not None else torch.stack(states)


def guided(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Guided velocity ``v_uncond + scale * (v_cond - v_uncond)`` as one ``lerp`` kernel.

    Both velocities are taken at the same ``(x, t)`` (``t = 0`` source, ``t = 1`` target); the formula has
    no time of its own.

    Args:
        v_cond: conditional velocity, shape ``(batch, ...)``.
        v_uncond: unconditional velocity, ``v_cond``'s shape.
        scale: a number or a tensor broadcastable to ``v_cond``'s shape.

    Returns:
        The guided velocity, ``v_cond``'s shape, in the two velocities' promoted dtype.
    """
    dtype = torch.promote_types(v_cond.dtype, v_uncond.dtype)
    if isinstance(scale, torch.Tensor):
        scale = scale.to(dtype)
    return torch.lerp(v_uncond.to(dtype), v_cond.to(dtype), scale)


def guided_euler_step(
    x: torch.Tensor,
    v_cond: torch.Tensor,
    v_uncond: torch.Tensor,
    scale: float | torch.Tensor,
    dt: float | torch.Tensor,
) -> torch.Tensor:
    """One guided Euler step ``x + dt * (v_uncond + scale * (v_cond - v_uncond))``.

    ``dt = t_next - t`` (negative when integrating from 1 towards 0; ``t = 0`` is the source). With numbers
    for ``scale`` and ``dt`` this is two fused kernels and no temporary:
    ``x + (dt scale) v_cond + (dt (1 - scale)) v_uncond``.

    Args:
        x: the state at ``t``, shape ``(batch, ...)``.
        v_cond: conditional velocity at ``(x, t)``, ``x``'s shape.
        v_uncond: unconditional velocity at ``(x, t)``, ``x``'s shape.
        scale: guidance scale, a number or a tensor broadcastable to ``x``'s shape.
        dt: step size, a number or a tensor broadcastable to ``x``'s shape.

    Returns:
        The state at ``t + dt``, ``x``'s shape, in the promoted dtype of the three tensors.
    """
    dtype = torch.promote_types(torch.promote_types(x.dtype, v_cond.dtype), v_uncond.dtype)
    x, v_cond, v_uncond = x.to(dtype), v_cond.to(dtype), v_uncond.to(dtype)
    if isinstance(scale, torch.Tensor) or isinstance(dt, torch.Tensor):
        return x + dt * guided(v_cond, v_uncond, scale)
    return torch.add(x, v_cond, alpha=dt * scale).add_(v_uncond, alpha=dt * (1.0 - scale))


def shift_time(t: float | torch.Tensor, shift: float) -> float | torch.Tensor:
    """Shifted time ``shift * t / (1 + (shift - 1) * t)``, a monotone map of ``[0, 1]`` onto itself.

    ``t = 0`` is the source and ``t = 1`` the target; both stay fixed. ``shift > 1`` pushes times towards the
    target (a uniform grid then takes its small steps near ``t = 1``), ``shift < 1`` towards the source, and
    ``shift_time(t, 1 / s) == 1 - shift_time(1 - t, s)``.

    Args:
        t: a number or a tensor of times.
        shift: the positive shift factor.

    Returns:
        The shifted times, of ``t``'s type and shape.
    """
    # 1 + (shift - 1) t written as shift t + (1 - t): t = 1 then maps to exactly 1 in floating point
    st = shift * t
    return st / (st + (1 - t))


def time_grid(
    steps: int, start: float = 0.0, end: float = 1.0, shift: float = 1.0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """``steps + 1`` times from ``start`` to ``end``, uniform then shifted: ``shift_time(linspace(start, end))``.

    ``t = 0`` is the source and ``t = 1`` the target; ``start > end`` gives a decreasing grid (1 towards 0).
    The shift acts on the time values, so the endpoints 0 and 1 stay fixed and others move.

    Returns:
        The grid, shape ``(steps + 1,)``.
    """
    uniform = torch.linspace(start, end, steps + 1, dtype=torch.float64)
    return shift_time(uniform, shift).to(dtype) if shift != 1.0 else uniform.to(dtype)


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Point of the straight path ``(1 - t) x0 + t x1`` (``t = 0`` gives the source ``x0``, ``t = 1`` ``x1``).

    Args:
        x0: source samples, shape ``(batch, ...)``.
        x1: target samples, ``x0``'s shape.
        t: a number or a tensor broadcastable to ``x0``'s shape (per-sample times already viewed as
            ``(batch, 1, ..., 1)``).

    Returns:
        ``x_t``, ``x0``'s shape; differentiable in ``x0``, ``x1`` and ``t``.
    """
    if isinstance(t, torch.Tensor):
        t = t.to(x0.dtype)
    return torch.lerp(x0, x1, t)


def velocity_target(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Velocity of the straight path, ``d/dt interpolate(x0, x1, t) = x1 - x0`` (constant in time)."""
    return x1 - x0


def sample_training_time(
    batch: int,
    kind: str = "uniform",
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Training times in ``[0, 1]`` (``t = 0`` source, ``t = 1`` target), shifted by :func:`shift_time`.

    ``"uniform"`` draws ``U[0, 1)``; ``"logit_normal"`` draws ``sigmoid(N(mean, std^2))`` (SD3's schedule).

    Returns:
        Times of shape ``(batch,)``.
    """
    if kind == "uniform":
        t = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    else:
        t = torch.sigmoid(mean + std * torch.randn(batch, generator=generator, device=device, dtype=torch.float64))
    if shift != 1.0:
        t = shift_time(t, shift)
    return t.to(dtype)
