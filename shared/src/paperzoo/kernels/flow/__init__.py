"""Rectified-flow / flow-matching samplers, guidance and training helpers.

Time convention, for every function here: ``t = 0`` is the source ``x0`` (Gaussian noise, text latents, a
previous sample: any tensor) and ``t = 1`` the target. Paths are straight,
``x_t = (1 - t) x0 + t x1``, with velocity ``x1 - x0``. Sampling integrates ``dx/dt = v(x, t)`` over a grid
of times in either direction: a decreasing grid (``time_grid(steps, 1.0, 0.0)``) runs from 1 towards 0,
which is how a package whose noise sits at ``t = 1`` samples with its own field.

Public functions validate their inputs (``ValueError`` naming the argument) and dispatch: the fused Triton
guided step for CUDA tensors when triton imports, PyTorch elsewhere, the float64-capable reference loop
under ``PAPERZOO_KERNELS=reference``.
"""

from paperzoo.kernels.flow.api import (
    METHODS,
    guided,
    guided_euler_step,
    interpolate,
    sample,
    sample_training_time,
    shift_time,
    time_grid,
    velocity_target,
)

__all__ = [
    "METHODS",
    "guided",
    "guided_euler_step",
    "interpolate",
    "sample",
    "sample_training_time",
    "shift_time",
    "time_grid",
    "velocity_target",
]
