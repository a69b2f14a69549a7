"""Benchmark of the selective scan and the SSD scan against the plain step loop, side by side in one run.

CPU: forward + backward time of the chunked PyTorch path against the step-loop algorithm of
``mamba_ssm``'s ``selective_scan_ref`` (precompute ``exp(delta * A)`` and ``delta * B * u``, then one Python
step per time index, autograd through the loop). Two loop variants are timed: indexing the precomputed
tensors per step, as ``selective_scan_ref`` does (its backward writes a full-size gradient per step), and
``unbind``-ing them once (one gradient node for all steps), the faster way to write the same loop.
For the SSD scan the loop precomputes ``exp(dt * A)`` and ``dt * x`` and forms ``x B^T`` inside the step
(precomputing the ``(batch, L, heads, headdim, dstate)`` input tensor would take 134 MB at the goal size).
Memory: the bytes autograd keeps for the backward pass, per time step, at growing L.

GPU (only when CUDA is available): the Triton paths against the PyTorch paths, and the Triton selective
scan's forward bandwidth (every input read once, the output written once) against the measured copy
bandwidth of the device.

    uv run python shared/bench/bench_scan.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from paperzoo.core import saved_for_backward
from paperzoo.kernels.selective_scan import selective_scan_torch
from paperzoo.kernels.ssd_scan import ssd_scan_torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call, in seconds."""
    fn()
    samples = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def selective_step_loop(u, delta, A, B, C, unbind: bool) -> torch.Tensor:
    """The step loop of ``selective_scan_ref``: ``(batch, dim, L)`` inputs, ``(batch, dstate, L)`` B and C."""
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))  # [b, d, L, n]
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)  # [b, d, L, n]
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    if unbind:
        for a_t, x_t, c_t in zip(deltaA.unbind(2), deltaB_u.unbind(2), C.unbind(2)):
            h = a_t * h + x_t
            ys.append(torch.einsum("bdn,bn->bd", h, c_t))
    else:
        for t in range(u.shape[2]):
            h = deltaA[:, :, t] * h + deltaB_u[:, :, t]
            ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    return torch.stack(ys, dim=2)


def ssd_step_loop(x, dt, A, B, C, unbind: bool) -> torch.Tensor:
    """The SSD recurrence one step at a time; ``(batch, L, heads, headdim)`` x, one group of B and C."""
    decay = torch.exp(dt * A)  # [b, L, h]
    dtx = dt.unsqueeze(-1) * x  # [b, L, h, p]
    h = x.new_zeros(x.shape[0], x.shape[2], x.shape[3], B.shape[-1])  # [b, h, p, n]
    ys = []
    steps = (
        zip(decay.unbind(1), dtx.unbind(1), B[:, :, 0].unbind(1), C[:, :, 0].unbind(1))
        if unbind
        else ((decay[:, t], dtx[:, t], B[:, t, 0], C[:, t, 0]) for t in range(x.shape[1]))
    )
    for a_t, dtx_t, b_t, c_t in steps:
        h = a_t[..., None, None] * h + dtx_t.unsqueeze(-1) * b_t[:, None, None, :]
        ys.append(torch.einsum("bhpn,bn->bhp", h, c_t))
    return torch.stack(ys, dim=1)


def selective_inputs(batch, dim, dstate, L, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    kw = {"generator": g, "device": device}
    return {
        "u": torch.randn(batch, dim, L, **kw),
        "delta": F.softplus(torch.randn(batch, dim, L, **kw) - 2.0),
        "A": -torch.arange(1, dstate + 1, device=device, dtype=torch.float32).repeat(dim, 1),
        "B": torch.randn(batch, dstate, L, **kw),
        "C": torch.randn(batch, dstate, L, **kw),
    }


def ssd_inputs(batch, L, heads, headdim, dstate, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    kw = {"generator": g, "device": device}
    return {
        "x": torch.randn(batch, L, heads, headdim, **kw),
        "dt": F.softplus(torch.randn(batch, L, heads, **kw) - 2.0),
        "A": -torch.rand(heads, **kw) * 4 - 0.5,
        "B": torch.randn(batch, L, 1, dstate, **kw),
        "C": torch.randn(batch, L, 1, dstate, **kw),
    }


def fwd_bwd(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor]) -> Callable[[], None]:
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}

    def run() -> None:
        out = fn(**leaves)
        out = out[0] if isinstance(out, tuple) else out
        out.float().square().mean().backward()

    return run


def saved_bytes(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor]) -> int:
    """Bytes autograd stores for the backward pass of one call."""
    leaves = {k: v.detach().requires_grad_() for k, v in inputs.items()}
    return saved_for_backward(fn, **leaves)[1]


def bench_cpu(args: argparse.Namespace) -> None:
    cpu = torch.device("cpu")
    L = 256 if args.quick else 1024
    reps = 1 if args.quick else 3
    print(f"\n## CPU ({platform.machine()}, {torch.get_num_threads()} thread(s)), forward + backward, float32")
    print("\n| op | shape | PyTorch path ms | loop (index) ms | loop (unbind) ms | index / path | unbind / path |")
    print("|----|-------|----------------:|----------------:|-----------------:|-------------:|--------------:|")

    sel = selective_inputs(2, 128, 16, L, cpu)
    t_path = time_call(fwd_bwd(selective_scan_torch, sel), cpu, reps + 2)
    t_index = time_call(fwd_bwd(lambda **a: selective_step_loop(**a, unbind=False), sel), cpu, reps)
    t_unbind = time_call(fwd_bwd(lambda **a: selective_step_loop(**a, unbind=True), sel), cpu, reps)
    print(
        f"| selective_scan | b2 d128 n16 L{L} | {t_path * 1e3:.1f} | {t_index * 1e3:.1f} | {t_unbind * 1e3:.1f} "
        f"| {t_index / t_path:.1f}x | {t_unbind / t_path:.1f}x |"
    )

    ssd = ssd_inputs(2, L, 8, 32, 64, cpu)
    t_path = time_call(fwd_bwd(lambda **a: ssd_scan_torch(**a, chunk_size=64), ssd), cpu, reps + 2)
    t_index = time_call(fwd_bwd(lambda **a: ssd_step_loop(**a, unbind=False), ssd), cpu, reps)
    t_unbind = time_call(fwd_bwd(lambda **a: ssd_step_loop(**a, unbind=True), ssd), cpu, reps)
    print(
        f"| ssd_scan | b2 L{L} h8 p32 n64 | {t_path * 1e3:.1f} | {t_index * 1e3:.1f} | {t_unbind * 1e3:.1f} "
        f"| {t_index / t_path:.1f}x | {t_unbind / t_path:.1f}x |"
    )

    print("\nMemory kept for backward (PyTorch path), bytes per time step:")
    print("\n| L | selective_scan b2 d128 n16 | ssd_scan b2 h8 p32 n64 (chunk 64) |")
    print("|--:|---------------------------:|----------------------------------:|")
    for length in (256, 512, 1024) if args.quick else (512, 1024, 2048, 4096):
        s = saved_bytes(selective_scan_torch, selective_inputs(2, 128, 16, length, cpu))
        d = saved_bytes(lambda **a: ssd_scan_torch(**a, chunk_size=64), ssd_inputs(2, length, 8, 32, 64, cpu))
        print(f"| {length} | {s / length:,.0f} | {d / length:,.0f} |")


def bench_gpu(args: argparse.Namespace) -> None:
    from paperzoo.kernels.selective_scan.triton import selective_scan_triton
    from paperzoo.kernels.ssd_scan.triton import ssd_scan_triton

    dev = torch.device("cuda")
    reps = 3 if args.quick else 10
    print(f"\n## GPU ({torch.cuda.get_device_name(dev)})")
    big = torch.empty(256 * 2**20, device=dev)
    t_copy = time_call(lambda: big.clone(), dev, reps)
    copy_bw = 2 * big.numel() * 4 / t_copy
    print(f"\nCopy bandwidth (clone of 1 GiB, read + write): {copy_bw / 1e9:.0f} GB/s")

    batch, dim, dstate, L = (2, 512, 16, 1024) if args.quick else (8, 2048, 16, 4096)
    sel = selective_inputs(batch, dim, dstate, L, dev)
    sel["D"] = torch.randn(dim, device=dev)
    sel["z"] = torch.randn(batch, dim, L, device=dev)
    with torch.no_grad():
        t_tri = time_call(lambda: selective_scan_triton(**sel), dev, reps)
        t_torch = time_call(lambda: selective_scan_torch(**sel), dev, max(1, reps // 3))
    n_bytes = 4 * (4 * batch * dim * L + 2 * batch * dstate * L + dim * dstate + dim)
    bw = n_bytes / t_tri
    print(f"\nselective_scan b{batch} d{dim} n{dstate} L{L} float32, forward:")
    print(f"- Triton {t_tri * 1e3:.2f} ms, {bw / 1e9:.0f} GB/s = {bw / copy_bw:.2f} of copy bandwidth (goal >= 0.5)")
    print(f"- PyTorch path {t_torch * 1e3:.2f} ms ({t_torch / t_tri:.1f}x the Triton time)")
    t_tri_fb = time_call(fwd_bwd(selective_scan_triton, sel), dev, reps)
    t_torch_fb = time_call(fwd_bwd(selective_scan_torch, sel), dev, max(1, reps // 3))
    print(f"- forward + backward: Triton {t_tri_fb * 1e3:.2f} ms, PyTorch path {t_torch_fb * 1e3:.2f} ms")

    batch, L, heads, headdim, dstate = (2, 1024, 8, 64, 64) if args.quick else (8, 4096, 32, 64, 128)
    ssd = ssd_inputs(batch, L, heads, headdim, dstate, dev)
    t_tri_fb = time_call(fwd_bwd(lambda **a: ssd_scan_triton(**a, chunk_size=256), ssd), dev, reps)
    t_torch_fb = time_call(fwd_bwd(lambda **a: ssd_scan_torch(**a, chunk_size=256), ssd), dev, max(1, reps // 3))
    with torch.no_grad():
        t_tri = time_call(lambda: ssd_scan_triton(**ssd, chunk_size=256), dev, reps)
        t_torch = time_call(lambda: ssd_scan_torch(**ssd, chunk_size=256), dev, max(1, reps // 3))
    print(f"\nssd_scan b{batch} L{L} h{heads} p{headdim} n{dstate} float32 (chunk 256):")
    print(f"- forward: Triton {t_tri * 1e3:.2f} ms, PyTorch path {t_torch * 1e3:.2f} ms")
    print(f"- forward + backward: Triton {t_tri_fb * 1e3:.2f} ms, PyTorch path {t_torch_fb * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run at smaller sizes")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU section (device time is scarce)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}")
    if not args.gpu_only:
        bench_cpu(args)
    if torch.cuda.is_available():
        bench_gpu(args)
    else:
        print("\nNo CUDA device: GPU section skipped.")


if __name__ == "__main__":
    main()
