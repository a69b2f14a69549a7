"""Benchmark of paperzoo.kernels.flow against torchdiffeq and flow_matching, side by side in one run.

Sampler: the time per step of ``sample`` on a cheap field (``-x``, so the step is all overhead) against
torchdiffeq's fixed-grid ``odeint`` with the same grid and flow_matching's ``ODESolver`` (which calls
torchdiffeq), for Euler, midpoint and Heun, with and without the trajectory. Overhead = time per step minus
the field's own cost. On a GPU, the same on CUDA tensors, and the fused guided Euler step
``x + dt * (v_uncond + s * (v_cond - v_uncond))`` on 64M elements against the PyTorch expression
(bandwidth = the 3 reads and 1 write the step needs, over its time).

    uv run python shared/bench/bench_flow.py [--quick] [--compile]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from paperzoo.kernels.flow import guided_euler_step, sample, time_grid
from paperzoo.kernels.flow import torch as flow_torch

try:
    from torchdiffeq import odeint
except ImportError:  # the peers are dev dependencies
    odeint = None
try:
    from flow_matching.solver import ODESolver
except ImportError:
    ODESolver = None

TORCHDIFFEQ_METHOD = {"euler": "euler", "midpoint": "midpoint", "heun": "heun2"}
EVALS_PER_STEP = {"euler": 1, "midpoint": 2, "heun": 2}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, number: int) -> float:
    """Median over ``repeats`` of the mean wall time of ``number`` calls, in seconds."""
    fn()
    _sync(device)
    samples = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(number):
            fn()
        _sync(device)
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def bench_sampler(device: torch.device, steps: int, shape: tuple[int, ...], repeats: int) -> None:
    x0 = torch.randn(shape, device=device)
    grid = time_grid(steps)
    grid_t = grid.to(device=device, dtype=torch.float32)

    def field(x, t):
        return torch.neg(x)

    def field_tx(t, x):
        return torch.neg(x)

    solver = ODESolver(velocity_model=field) if ODESolver is not None else None
    t_batch = torch.zeros(shape[0], device=device)
    field_cost = time_call(lambda: field(x0, t_batch), device, repeats, 200)
    print(f"\n[{device.type}] x {tuple(shape)}, {steps} steps, field -x costs {field_cost * 1e6:.2f} us a call")
    header = f"{'method':9} {'mode':10} {'impl':15} {'us/step':>9} {'overhead us/step':>17} {'vs paperzoo':>12}"
    print(header)
    print("-" * len(header))
    with torch.no_grad():
        for method in ("euler", "midpoint", "heun"):
            for mode in ("last", "trajectory"):
                trajectory = mode == "trajectory"
                runs: dict[str, Callable[[], object]] = {
                    "paperzoo": lambda m=method, tr=trajectory: sample(field, x0, grid, m, tr),
                }
                if odeint is not None:
                    method_td = TORCHDIFFEQ_METHOD[method]
                    if trajectory:
                        runs["torchdiffeq"] = lambda m=method_td: odeint(field_tx, x0, grid_t, method=m)
                    else:
                        # the grid only sets the steps; odeint returns the two end points
                        ends = grid_t[[0, -1]]
                        runs["torchdiffeq"] = lambda m=method_td, e=ends: odeint(
                            field_tx, x0, e, method=m, options={"step_size": 1.0 / steps}
                        )[-1]
                if solver is not None:
                    runs["flow_matching"] = lambda m=TORCHDIFFEQ_METHOD[method], tr=trajectory: solver.sample(
                        x_init=x0, step_size=None, method=m, time_grid=grid_t, return_intermediates=tr
                    )
                number = max(1, 2000 // steps)
                times = {name: time_call(fn, device, repeats, number) / steps for name, fn in runs.items()}
                field_per_step = EVALS_PER_STEP[method] * field_cost
                ours = times["paperzoo"]
                for name, per_step in times.items():
                    overhead = per_step - field_per_step
                    print(
                        f"{method:9} {mode:10} {name:15} {per_step * 1e6:9.2f} {overhead * 1e6:17.2f} "
                        f"{per_step / ours:11.2f}x"
                    )


def bench_fused_step(numel: int, dtype: torch.dtype, repeats: int, use_compile: bool) -> None:
    device = torch.device("cuda")
    gen = torch.Generator(device=device).manual_seed(0)
    x, vc, vu = (torch.randn(numel, generator=gen, device=device, dtype=dtype) for _ in range(3))
    scale, dt = 4.5, -0.02
    runs: dict[str, Callable[[], object]] = {
        "expression": lambda: x + dt * (vu + scale * (vc - vu)),
        "lerp + add": lambda: x.add(torch.lerp(vu, vc, scale), alpha=dt),
        "paperzoo torch": lambda: flow_torch.guided_euler_step(x, vc, vu, scale, dt),
        "paperzoo fused": lambda: guided_euler_step(x, vc, vu, scale, dt),
    }
    if use_compile:
        compiled = torch.compile(lambda x, vc, vu: x + dt * (vu + scale * (vc - vu)))
        runs["torch.compile"] = lambda: compiled(x, vc, vu)
    with torch.no_grad():
        fused = guided_euler_step(x, vc, vu, scale, dt)
        err = (fused.double() - runs["expression"]().double()).abs().max().item()
        times = {name: time_call(fn, device, repeats, 10) for name, fn in runs.items()}
    bytes_moved = 4 * numel * x.element_size()
    print(f"\n[cuda] guided Euler step, {numel / 2**20:.0f}M elements, {dtype}, max |fused - expression| = {err:.2e}")
    header = f"{'impl':15} {'ms':>8} {'GB/s (3 reads + 1 write)':>25} {'expression / impl':>18}"
    print(header)
    print("-" * len(header))
    for name, seconds in times.items():
        print(
            f"{name:15} {seconds * 1e3:8.3f} {bytes_moved / seconds / 1e9:25.1f} {times['expression'] / seconds:17.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the expression (GPU)")
    parser.add_argument("--numel", type=int, default=64 * 2**20, help="elements of the fused-step benchmark")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU sampler tables")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    print(f"torch {torch.__version__}, {platform.machine()}, {torch.get_num_threads()} threads")
    if odeint is None or ODESolver is None:
        print("torchdiffeq or flow_matching is missing: their columns are absent")

    configs = [(50, (16, 64))] if args.quick else [(50, (16, 64)), (200, (16, 64)), (50, (64, 4096))]
    for steps, shape in [] if args.gpu_only else configs:
        bench_sampler(torch.device("cpu"), steps, shape, repeats)
    if torch.cuda.is_available():
        print(f"\nGPU: {torch.cuda.get_device_name()}")
        for steps, shape in configs:
            bench_sampler(torch.device("cuda"), steps, shape, repeats)
        numel = args.numel // 4 if args.quick else args.numel
        for dtype in (torch.float32, torch.bfloat16):
            bench_fused_step(numel, dtype, repeats, args.compile)
    else:
        print("\nno CUDA device: the GPU sections (sampler on CUDA, fused guided step) are skipped")


if __name__ == "__main__":
    main()
