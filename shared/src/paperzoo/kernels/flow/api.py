"""Public API of :mod:`paperzoo.kernels.flow` (validation and dispatch); see the package docstring.

It lives apart from ``__init__`` because the package holds a submodule named ``torch``: importing it rebinds
the package attribute ``torch``, which would shadow the library inside ``__init__``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import torch

from paperzoo.kernels._checks import check_float
from paperzoo.kernels._dispatch import backend
from paperzoo.kernels.flow import reference
from paperzoo.kernels.flow import torch as torch_impl
from paperzoo.kernels.flow import triton as triton_impl

METHODS = ("euler", "heun", "midpoint")
TRAINING_TIME_KINDS = ("uniform", "logit_normal")


def _check_grid(timesteps: object) -> torch.Tensor:
    """The grid as a float64 CPU tensor; strictly monotone, at least two finite points."""
    if isinstance(timesteps, torch.Tensor):
        grid = timesteps.detach().to(device="cpu", dtype=torch.float64)
    else:
        try:
            grid = torch.as_tensor(timesteps, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"timesteps: expected a 1-D sequence of times, got {type(timesteps).__name__}") from err
    if grid.dim() != 1:
        raise ValueError(f"timesteps: expected shape (T,), got {tuple(grid.shape)}")
    if grid.numel() < 2:
        raise ValueError(f"timesteps: expected at least 2 times (start and end), got {grid.numel()}")
    if not bool(torch.isfinite(grid).all()):
        raise ValueError(f"timesteps: expected finite times, got {grid.tolist()}")
    steps = grid[1:] - grid[:-1]
    if not (bool((steps > 0).all()) or bool((steps < 0).all())):
        raise ValueError(f"timesteps: expected a strictly increasing or decreasing grid, got {grid.tolist()}")
    return grid


def _check_number(name: str, value: object, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def _check_same_shape(names: Sequence[str], tensors: Sequence[object]) -> None:
    for name, x in zip(names, tensors):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name}: expected a tensor of shape (batch, ...), got {type(x).__name__}")
        check_float(name, x)
    first = tensors[0]
    for name, x in zip(names[1:], tensors[1:]):
        if x.shape != first.shape:
            raise ValueError(
                f"{name}: expected shape {tuple(first.shape)} (the shape of {names[0]}), got {tuple(x.shape)}"
            )
        if x.device != first.device:
            raise ValueError(f"{name}: expected a tensor on {first.device}, got {x.device}")


def _per_sample(name: str, value: object, like: torch.Tensor) -> float | torch.Tensor:
    """A number, or a tensor broadcastable to ``like``; a ``(batch,)`` tensor is viewed as ``(batch, 1, ...)``."""
    if not isinstance(value, torch.Tensor):
        return _check_number(name, value)
    check_float(name, value)
    if value.dim() == 1 and like.dim() > 1 and value.shape[0] == like.shape[0]:
        value = value.view(-1, *([1] * (like.dim() - 1)))  # [B, 1, ..., 1]
    try:
        torch.broadcast_shapes(value.shape, like.shape)
    except RuntimeError as err:
        raise ValueError(
            f"{name}: expected a number, a ({like.shape[0]},) tensor or a tensor broadcastable to "
            f"{tuple(like.shape)}, got {tuple(value.shape)}"
        ) from err
    if torch.broadcast_shapes(value.shape, like.shape) != like.shape:
        raise ValueError(f"{name}: shape {tuple(value.shape)} would broadcast {tuple(like.shape)} to a larger shape")
    return value


def sample(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    timesteps: Sequence[float] | torch.Tensor,
    method: str = "euler",
    return_trajectory: bool = False,
) -> torch.Tensor:
    """Integrate ``dx/dt = velocity(x, t)`` from ``timesteps[0]`` to ``timesteps[-1]`` over the given grid.

    Time convention: ``t = 0`` is the source and ``t = 1`` the target; the grid may run either way
    (``time_grid(steps, 1.0, 0.0)`` integrates from 1 towards 0). With ``h = t[i+1] - t[i]`` the methods are

    - ``"euler"``: ``x + h v(x, t[i])`` (the field at the left end of each step), 1 call per step;
    - ``"heun"``: ``x + h/2 (v(x, t[i]) + v(x + h v(x, t[i]), t[i+1]))``, 2 calls, second order;
    - ``"midpoint"``: ``x + h v(x + h/2 v(x, t[i]), t[i] + h/2)``, 2 calls, second order.

    Differentiable: gradients flow to ``x0`` and to the field's parameters when autograd is on.

    Args:
        velocity: ``velocity(x, t) -> v``. ``x`` has ``x0``'s shape ``(batch, ...)``; ``t`` is a tensor of
            shape ``(batch,)`` holding the current time in ``x0``'s dtype and device; ``v`` must have ``x``'s
            shape (it is cast to ``x0``'s dtype).
        x0: the state at ``timesteps[0]``: noise, text latents, a previous sample; shape ``(batch, ...)``,
            floating point. Its dtype is the integration dtype; it is not modified.
        timesteps: the grid of times, a sequence of numbers or a 1-D tensor, strictly increasing or strictly
            decreasing, at least two points (its values are read once as float64).
        method: ``"euler"``, ``"heun"`` or ``"midpoint"``.
        return_trajectory: return the states at every grid point instead of only the last one.

    Returns:
        The state at ``timesteps[-1]``, shape ``(batch, ...)``; with ``return_trajectory``, the states at every
        grid time, shape ``(len(timesteps), batch, ...)``, the first being ``x0`` and the last the sample.

    Raises:
        ValueError: ``velocity`` is not callable; ``x0`` is not a floating tensor with a batch dimension; the
            grid is not strictly monotone, has fewer than 2 points or non-finite values; ``method`` is
            unknown; ``velocity`` returns a tensor of another shape than ``x``.
    """
    if not callable(velocity):
        raise ValueError(f"velocity: expected a callable velocity(x, t), got {type(velocity).__name__}")
    if not isinstance(x0, torch.Tensor) or x0.dim() < 1:
        got = tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__
        raise ValueError(f"x0: expected a tensor of shape (batch, ...), got {got}")
    check_float("x0", x0)
    grid = _check_grid(timesteps)
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    if backend(x0) == "reference":
        return reference.sample(velocity, x0, grid.tolist(), method, bool(return_trajectory))
    return torch_impl.sample(velocity, x0, grid, method, bool(return_trajectory))


def guided(v_cond: torch.Tensor, v_uncond: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Guided velocity ``v_uncond + scale * (v_cond - v_uncond)``.

    Classifier-free guidance (``v_uncond`` from the null condition) or indicator guidance (``v_uncond`` from
    the negative indicator). Both velocities are taken at the same ``(x, t)``, ``t = 0`` source and ``t = 1``
    target. ``scale = 1`` gives ``v_cond``, ``scale = 0`` ``v_uncond``.

    Args:
        v_cond: conditional velocity, shape ``(batch, ...)``.
        v_uncond: unconditional velocity, ``v_cond``'s shape and device.
        scale: a number, a ``(batch,)`` tensor (one scale per sample), or a tensor broadcastable to
            ``v_cond``'s shape.

    Returns:
        The guided velocity, ``v_cond``'s shape, in the two velocities' promoted dtype.

    Raises:
        ValueError: the velocities differ in shape or device, are not floating point, or ``scale`` does not
            broadcast.
    """
    _check_same_shape(("v_cond", "v_uncond"), (v_cond, v_uncond))
    scale = _per_sample("scale", scale, v_cond)
    if backend(v_cond, v_uncond) == "reference":
        return reference.guided(v_cond, v_uncond, scale)
    return torch_impl.guided(v_cond, v_uncond, scale)


def guided_euler_step(
    x: torch.Tensor,
    v_cond: torch.Tensor,
    v_uncond: torch.Tensor,
    scale: float | torch.Tensor,
    dt: float | torch.Tensor,
) -> torch.Tensor:
    """One guided Euler step: ``x + dt * guided(v_cond, v_uncond, scale)``.

    ``dt = t_next - t`` with ``t = 0`` the source and ``t = 1`` the target; a negative ``dt`` steps from 1
    towards 0. On CUDA with triton, for float16/bfloat16/float32 tensors and numbers ``scale`` and ``dt``,
    this is one fused kernel that reads ``x``, ``v_cond``, ``v_uncond`` once and writes the result once
    (float32 arithmetic); elsewhere PyTorch. Differentiable in the three tensors.

    Args:
        x: the state at ``t``, shape ``(batch, ...)``.
        v_cond: conditional velocity at ``(x, t)``, ``x``'s shape and device.
        v_uncond: unconditional velocity at ``(x, t)``, ``x``'s shape and device.
        scale: guidance scale: a number, a ``(batch,)`` tensor, or a tensor broadcastable to ``x``'s shape.
        dt: step size: a number, a ``(batch,)`` tensor, or a tensor broadcastable to ``x``'s shape.

    Returns:
        The state at ``t + dt``, ``x``'s shape, in the promoted dtype of the three tensors.

    Raises:
        ValueError: the tensors differ in shape or device, are not floating point, or ``scale`` / ``dt``
            are not finite numbers or broadcastable tensors.
    """
    _check_same_shape(("x", "v_cond", "v_uncond"), (x, v_cond, v_uncond))
    scale = _per_sample("scale", scale, x)
    dt = _per_sample("dt", dt, x)
    impl = backend(x, v_cond, v_uncond)
    if impl == "reference":
        return reference.guided_euler_step(x, v_cond, v_uncond, scale, dt)
    fusable = (
        not isinstance(scale, torch.Tensor)
        and not isinstance(dt, torch.Tensor)
        and all(t.dtype in (torch.float16, torch.bfloat16, torch.float32) for t in (x, v_cond, v_uncond))
    )
    if impl == "triton" and fusable:
        return triton_impl.guided_euler_step(x, v_cond, v_uncond, scale, dt)
    return torch_impl.guided_euler_step(x, v_cond, v_uncond, scale, dt)


def shift_time(t: float | torch.Tensor, shift: float) -> float | torch.Tensor:
    """Shifted time ``shift * t / (1 + (shift - 1) * t)``: a monotone map of ``[0, 1]`` onto itself.

    ``t = 0`` is the source and ``t = 1`` the target, both fixed points. ``shift > 1`` moves times towards
    the target, so a shifted uniform grid takes its small steps near ``t = 1``; ``shift < 1`` moves them
    towards the source. ``shift_time(t, 1 / s) == 1 - shift_time(1 - t, s)``, so a package whose noise sits
    at ``t = 1`` (SD3's ``sigma`` shift) uses ``shift`` on its own time axis, and ``1 / shift`` on ours.

    Args:
        t: a number or a floating tensor of times in ``[0, 1]``.
        shift: the shift factor, a positive number (1 is the identity).

    Returns:
        The shifted times, of ``t``'s type, shape and dtype.

    Raises:
        ValueError: ``shift`` is not a positive number or ``t`` is neither a number nor a floating tensor.
    """
    shift = _check_number("shift", shift, positive=True)
    if isinstance(t, torch.Tensor):
        check_float("t", t)
    else:
        t = _check_number("t", t)
    return torch_impl.shift_time(t, shift)


def time_grid(steps: int, start: float = 0.0, end: float = 1.0, shift: float = 1.0) -> torch.Tensor:
    """A sampling grid: ``steps + 1`` uniform times from ``start`` to ``end``, then :func:`shift_time`.

    ``t = 0`` is the source and ``t = 1`` the target; ``start=1.0, end=0.0`` gives a decreasing grid that
    integrates from 1 towards 0. The shift acts on the time values (as SD3 shifts its noise levels), so the
    endpoints 0 and 1 stay where they are; an endpoint strictly inside ``(0, 1)`` moves to its shifted value.

    Args:
        steps: the number of integration steps, at least 1.
        start: the first time, in ``[0, 1]``.
        end: the last time, in ``[0, 1]``, different from ``start``.
        shift: positive shift factor (1: uniform grid).

    Returns:
        A float64 CPU tensor of shape ``(steps + 1,)``, strictly monotone; pass it to :func:`sample`.

    Raises:
        ValueError: ``steps < 1``, ``start`` or ``end`` outside ``[0, 1]``, ``start == end``, ``shift <= 0``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an integer >= 1, got {steps!r}")
    start = _check_number("start", start)
    end = _check_number("end", end)
    shift = _check_number("shift", shift, positive=True)
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: expected a time in [0, 1], got {value}")
    if start == end:
        raise ValueError(f"end: expected a time different from start ({start}), got {end}")
    return torch_impl.time_grid(steps, start, end, shift)


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """The straight path ``x_t = (1 - t) x0 + t x1``: ``t = 0`` gives the source ``x0``, ``t = 1`` ``x1``.

    Args:
        x0: source samples (noise, text latents, ...), shape ``(batch, ...)``.
        x1: target samples, ``x0``'s shape and device.
        t: a number, a ``(batch,)`` tensor of per-sample times (e.g. from :func:`sample_training_time`), or a
            tensor broadcastable to ``x0``'s shape.

    Returns:
        ``x_t``, ``x0``'s shape and dtype; differentiable in ``x0``, ``x1`` and ``t``.

    Raises:
        ValueError: ``x0`` and ``x1`` differ in shape, dtype or device, or ``t`` does not broadcast.
    """
    _check_same_shape(("x0", "x1"), (x0, x1))
    if x0.dtype != x1.dtype:
        raise ValueError(f"x1: expected dtype {x0.dtype} (the dtype of x0), got {x1.dtype}")
    return torch_impl.interpolate(x0, x1, _per_sample("t", t, x0))


def velocity_target(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """The regression target of flow matching on straight paths: ``x1 - x0``, the same at every ``t``.

    It is ``d/dt interpolate(x0, x1, t)`` with ``t = 0`` the source ``x0`` and ``t = 1`` the target ``x1``.

    Args:
        x0: source samples, shape ``(batch, ...)``.
        x1: target samples, ``x0``'s shape and device.

    Returns:
        ``x1 - x0``, ``x0``'s shape.

    Raises:
        ValueError: ``x0`` and ``x1`` differ in shape or device.
    """
    _check_same_shape(("x0", "x1"), (x0, x1))
    return torch_impl.velocity_target(x0, x1)


def sample_training_time(
    batch: int,
    kind: str = "uniform",
    *,
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Draw flow-matching training times in ``[0, 1]`` (``t = 0`` source, ``t = 1`` target).

    - ``"uniform"``: ``t ~ U[0, 1)``;
    - ``"logit_normal"``: ``t = sigmoid(u)`` with ``u ~ N(mean, std^2)`` (SD3); ``mean > 0`` favours times
      near the target, ``mean < 0`` near the source.

    The draw is then mapped by :func:`shift_time` with ``shift`` (1: no shift).

    Args:
        batch: number of times, at least 1.
        kind: ``"uniform"`` or ``"logit_normal"``.
        mean: mean of the normal before the sigmoid (``"logit_normal"`` only).
        std: positive standard deviation of the normal before the sigmoid (``"logit_normal"`` only).
        shift: positive shift factor applied after the draw.
        generator: the random generator, for repeatable draws; its device is the default ``device``.
        device: where the times live (default: the generator's device, else the CPU).
        dtype: floating dtype of the result (the draw itself is float64).

    Returns:
        Times of shape ``(batch,)``.

    Raises:
        ValueError: ``batch < 1``, an unknown ``kind``, ``std <= 0``, ``shift <= 0``, a non-floating dtype.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch: expected an integer >= 1, got {batch!r}")
    if kind not in TRAINING_TIME_KINDS:
        raise ValueError(f"kind: expected one of {', '.join(TRAINING_TIME_KINDS)}, got {kind!r}")
    mean = _check_number("mean", mean)
    std = _check_number("std", std, positive=True)
    shift = _check_number("shift", shift, positive=True)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype: expected a floating torch.dtype, got {dtype!r}")
    if device is None and generator is not None:
        device = generator.device
    return torch_impl.sample_training_time(batch, kind, mean, std, shift, generator, device, dtype)
