"""Efficiency measured side by side: forward time against sequence length, and decode time per step.

Times are medians over repeats after warm-up, at batch and width large enough that the tensor work, not
Python, dominates. Slopes are least-squares fits of ``log time`` on ``log L``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch

from paperzoo.ssmsurvey.model import build_mixer


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def loglog_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def forward_times(
    mixers: list[str],
    lengths: list[int],
    batch: int = 8,
    d_model: int = 64,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Forward time (s) of one mixer layer per length, without gradients.

    Args:
        mixers: mixer names.
        lengths: sequence lengths.
        batch: batch size. At batch 2 a Mamba layer at L = 256 runs in a few milliseconds, so fixed costs
            and the load of a shared machine moved its slope between 1.13 and 1.49 over three runs; at batch 8
            the scan's tensor work dominates (slope 1.12 over L = 256..2048 on one thread, with the shared scan's
            time blocks that keep its working set in cache).
        d_model: width.
        repeats: timed repeats per point (median).
        seed: initialisation seed.

    Returns:
        ``{mixer: [seconds per length]}``.
    """
    out: dict[str, list[float]] = {}
    for name in mixers:
        torch.manual_seed(seed)
        kwargs = {"l_max": max(lengths)} if name == "s4d" else {}
        layer = build_mixer(name, d_model, **kwargs).eval()
        times = []
        for L in lengths:
            x = torch.randn(batch, L, d_model)
            with torch.no_grad():
                times.append(median_time(lambda layer=layer, x=x: layer(x), repeats=repeats))
        out[name] = times
    return out


def decode_times(
    contexts: list[int],
    batch: int = 16,
    d_model: int = 256,
    steps: int = 20,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Time (s) of one decode step after ``context`` tokens: Mamba's recurrent state vs a KV-cache Transformer.

    The Mamba state has a fixed size whatever the context; the Transformer's cache holds ``context`` keys and
    values (filled with random entries: the cost of a step does not depend on their values).

    Args:
        contexts: context lengths.
        batch: sequences decoded together.
        d_model: width.
        steps: timed repeats per context for the Transformer (medians); Mamba's sub-millisecond step gets ten
            times as many.
        seed: initialisation seed.

    Returns:
        ``{"mamba": [...], "transformer": [...]}``, one median per context.
    """
    torch.manual_seed(seed)
    mamba = build_mixer("mamba", d_model).eval()
    attn = build_mixer("transformer", d_model).eval()
    out: dict[str, list[float]] = {"mamba": [], "transformer": []}
    x = torch.randn(batch, d_model)
    with torch.no_grad():
        for T in contexts:
            conv, h = mamba.init_state(batch)
            state = (conv.normal_(), h.normal_())
            # A Mamba step takes under a millisecond: ``steps`` repeats would span a few milliseconds, where one
            # burst of another process's work moves the median (max/min 1.32 on one seed of a loaded run).
            # Ten times as many span a fraction of a second, after as many warm-up steps as the Transformer is
            # timed for (with 3, the first context of a fresh process measured 0.94 ms, the later ones 0.70).
            out["mamba"].append(median_time(lambda s=state: mamba.step(x, s), repeats=10 * steps, warmup=steps))
            dh = d_model // attn.n_heads
            cache = (torch.randn(batch, attn.n_heads, T, dh), torch.randn(batch, attn.n_heads, T, dh))
            out["transformer"].append(median_time(lambda c=cache: attn.step(x, c), repeats=steps, warmup=3))
    return out
