"""Benchmark: paperzoo entmax attention against dense attention with the `entmax` package.

CPU (always): forward, batch 1, 4 heads, L 4096, d 64, alpha 1.5 by default. Each case runs in its own
subprocess so that its peak resident memory (``ru_maxrss``) belongs to it alone; the peak is reported as
``ru_maxrss`` after the call minus the resident size just before it. Time is the best of ``--repeat`` runs.

GPU (when CUDA is available): forward + backward at L 8192 against softmax ``scaled_dot_product_attention``,
dense `entmax` attention and, when it imports, ``adasplash``; memory from ``torch.cuda.max_memory_allocated``.

Usage: ``uv run python shared/bench/bench_entmax.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

CPU_CASES = ("dense_entmax_pkg", "paperzoo_chunked")


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (resource.getpagesize() // 1024)


def _dense_entmax(q, k, v, alpha, causal=False):
    import entmax
    import torch

    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])  # [B, H, L, L]
    if causal:
        lq, lk = scores.shape[-2:]
        scores = scores.masked_fill(~torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril(), -1e4)
    if alpha == 1.5:
        p = entmax.entmax15(scores, dim=-1)
    elif alpha == 2.0:
        p = entmax.sparsemax(scores, dim=-1)
    else:
        p = entmax.entmax_bisect(scores, alpha, dim=-1)
    return p @ v


def worker(case: str, length: int, heads: int, dim: int, alpha: float, repeat: int) -> dict:
    """Run one CPU case in this process and return its peak memory (MiB) and best time (s)."""
    import torch

    from paperzoo.kernels.entmax import entmax_attention

    torch.manual_seed(0)
    fn = _dense_entmax if case == "dense_entmax_pkg" else entmax_attention
    with torch.no_grad():
        small = [torch.randn(1, heads, 64, dim) for _ in range(3)]
        fn(*small, alpha)  # load code paths before measuring
        q, k, v = (torch.randn(1, heads, length, dim) for _ in range(3))
        before = _rss_kib()
        start = time.perf_counter()
        out = fn(q, k, v, alpha)
        first = time.perf_counter() - start
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        del out
        times = [first]
        for _ in range(repeat - 1):
            start = time.perf_counter()
            fn(q, k, v, alpha)
            times.append(time.perf_counter() - start)
    return {"case": case, "peak_mib": peak_kib / 1024, "time_s": min(times)}


def run_cpu(args) -> list[dict]:
    results = []
    for case in CPU_CASES:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case, "--length", str(args.length)]
        cmd += ["--heads", str(args.heads), "--dim", str(args.dim), "--alpha", str(args.alpha)]
        cmd += ["--repeat", str(args.repeat)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"case {case} failed:\n{proc.stderr}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    dense, ours = results
    print(f"CPU forward, batch 1, heads {args.heads}, L {args.length}, d {args.dim}, alpha {args.alpha}")
    print(f"{'case':<20} {'peak MiB':>10} {'time s':>9}")
    for r in results:
        print(f"{r['case']:<20} {r['peak_mib']:>10.1f} {r['time_s']:>9.3f}")
    mem_ratio = ours["peak_mib"] / dense["peak_mib"]
    time_ratio = ours["time_s"] / dense["time_s"]
    print(f"ratio paperzoo / dense entmax: memory {mem_ratio:.3f}x (goal <= 0.5), time {time_ratio:.3f}x (goal <= 1.5)")
    return results


def _cuda_measure(fn, repeat: int) -> tuple[float, float]:
    import torch

    fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeat):
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop) / 1000)
    return peak, min(times)


def run_gpu(args) -> None:
    import torch
    import torch.nn.functional as F

    from paperzoo.kernels.entmax import entmax_attention

    length = 1024 if args.quick else 8192
    torch.manual_seed(0)
    q, k, v = (
        torch.randn(1, args.heads, length, args.dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        for _ in range(3)
    )
    grad = torch.randn_like(q)

    def fwd_bwd(f):
        def run():
            out = f()
            torch.autograd.grad(out, (q, k, v), grad)

        return run

    cases = {
        "sdpa_softmax": fwd_bwd(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
        "paperzoo_triton": fwd_bwd(lambda: entmax_attention(q, k, v, args.alpha, causal=True)),
        "dense_entmax_pkg": fwd_bwd(lambda: _dense_entmax(q, k, v, args.alpha, causal=True)),
    }
    try:
        from adasplash import adasplash

        cases["adasplash"] = fwd_bwd(lambda: adasplash(q, k, v, alpha=args.alpha, is_causal=True))
    except Exception as exc:  # adasplash is optional; its absence is reported, not fatal
        print(f"adasplash not measured: {type(exc).__name__}: {exc}")
    print(f"GPU {torch.cuda.get_device_name()}, causal forward+backward, bf16, heads {args.heads}, L {length}")
    results = {}
    for name, fn in cases.items():
        try:
            results[name] = _cuda_measure(fn, args.repeat)
        except torch.cuda.OutOfMemoryError:
            print(f"{name:<20} out of memory")
            torch.cuda.empty_cache()
            continue
        print(f"{name:<20} {results[name][0]:>10.1f} MiB {results[name][1] * 1000:>9.2f} ms")
    ours = results.get("paperzoo_triton")
    for peer in ("sdpa_softmax", "adasplash", "dense_entmax_pkg"):
        if ours and peer in results:
            print(f"ratio paperzoo / {peer}: time {ours[1] / results[peer][1]:.2f}x, memory "
                  f"{ours[0] / max(results[peer][0], 1e-9):.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="L 1024 on CPU, one timed run")
    parser.add_argument("--length", type=int, default=None, help="sequence length (default 4096, 1024 with --quick)")
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=1.5)
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per case (default 3, 1 with --quick)")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU section")
    parser.add_argument("--worker", choices=CPU_CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.length = args.length or (1024 if args.quick else 4096)
    args.repeat = args.repeat or (1 if args.quick else 3)
    if args.worker:
        print(json.dumps(worker(args.worker, args.length, args.heads, args.dim, args.alpha, args.repeat)))
        return
    if not args.gpu_only:
        run_cpu(args)
    import torch

    if torch.cuda.is_available():
        run_gpu(args)
    else:
        print("no CUDA device: GPU section skipped")


if __name__ == "__main__":
    main()
