"""Efficiency measured side by side: forward time against sequence length, and decode time per step.

Times are medians over repeats after warm-up, at batch and width large enough that the tensor work, not
Python, dominates. Slopes are least-squares fits of ``log time`` on ``log L``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from paperzoo.eval import median_time
from paperzoo.ssmsurvey.model import build_mixer

__all__ = ["decode_times", "forward_times"]


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
        steps: timed repeats per context for the Transformer, spread over 5 interleaved rounds; Mamba's
            sub-millisecond step gets ten times as many.
        seed: initialisation seed.

    Returns:
        ``{"mamba": [...], "transformer": [...]}``, one median per context.
    """
    torch.manual_seed(seed)
    mamba = build_mixer("mamba", d_model).eval()
    attn = build_mixer("transformer", d_model).eval()
    x = torch.randn(batch, d_model)
    dh = d_model // attn.n_heads
    calls: dict[str, list[Callable[[], object]]] = {"mamba": [], "transformer": []}
    for T in contexts:
        conv, h = mamba.init_state(batch)
        state = (conv.normal_(), h.normal_())
        calls["mamba"].append(lambda s=state: mamba.step(x, s))
        cache = (torch.randn(batch, attn.n_heads, T, dh), torch.randn(batch, attn.n_heads, T, dh))
        calls["transformer"].append(lambda c=cache: attn.step(x, c))
    # The contexts are timed in interleaved rounds, and each gets the median of its rounds: a slow spell of the
    # machine then falls on every context alike. Timed one after the other, the first context of a committed run
    # read 0.81 ms for a Mamba step that took 0.50 at the next two (max/min 1.62 on that seed, 1.02 on the
    # others). A Mamba step takes under a millisecond, so it gets ten times the Transformer's repeats.
    rounds = 5
    per_round = {"mamba": max(1, 10 * steps // rounds), "transformer": max(1, steps // rounds)}
    samples: dict[str, list[list[float]]] = {k: [[] for _ in contexts] for k in calls}
    with torch.no_grad():
        for fns in calls.values():
            for fn in fns:
                median_time(fn, repeats=1, warmup=steps)  # warm-up only: at least 0.25 s per call
        for _ in range(rounds):
            for name, fns in calls.items():
                for i, fn in enumerate(fns):
                    samples[name][i].append(median_time(fn, repeats=per_round[name], warmup=1, min_warmup_s=0.0))
    return {name: [statistics.median(r) for r in rows] for name, rows in samples.items()}
