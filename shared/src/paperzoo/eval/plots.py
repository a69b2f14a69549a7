"""Plots for ``reproduce``: each claim's systems with their per-seed points, and training curves.

matplotlib runs on the Agg backend: no display is needed, files are PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from paperzoo.eval.results import Claim, ResultsRecord

METHOD_COLOR = "#1f77b4"
BASELINE_COLOR = "#d62728"
OTHER_COLOR = "#7f7f7f"


def plot_claim(claim: Claim, path: str | Path, title: str | None = None) -> Path:
    """A bar per system (mean over seeds) with each seed as a dot, and the claim's bar as a dashed line.

    The method is blue, the baseline red, other systems grey.
    """
    systems = list(claim.per_seed)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(systems) + 1.5), 3.4), dpi=110)
    for i, name in enumerate(systems):
        values = claim.per_seed[name]
        color = METHOD_COLOR if name == claim.method else BASELINE_COLOR if name == claim.baseline else OTHER_COLOR
        ax.bar(i, sum(values) / len(values), color=color, alpha=0.55, width=0.7)
        offsets = [(j - (len(values) - 1) / 2) * 0.12 for j in range(len(values))]
        ax.scatter([i + o for o in offsets], values, color=color, edgecolor="black", linewidth=0.5, zorder=3, s=22)
    ax.axhline(claim.bar, color="black", linestyle="--", linewidth=1, label=f"bar: {claim.condition()}")
    ax.set_xticks(range(len(systems)), systems, rotation=20 if len(systems) > 3 else 0, ha="right")
    ax.set_ylabel(claim.metric)
    verdict = "pass" if claim.passed else "FAIL"
    ax.set_title(title or f"{claim.id} ({verdict})", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path)
    return path


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` as ``path`` through a temporary file and a rename (an interrupted run leaves the old PNG
    whole), then close it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path


def plot_claims(record: ResultsRecord, out_dir: str | Path) -> list[Path]:
    """One PNG per claim, ``claim-<id>.png``, in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [plot_claim(c, out / f"claim-{c.id}.png") for c in record.claims]


def plot_curves(
    curves: Mapping[str, Sequence[Sequence[float]]],
    path: str | Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
    x: Sequence[float] | None = None,
    logx: bool = False,
    logy: bool = False,
) -> Path:
    """Curves of several systems, each with one line per seed and its mean in bold.

    Args:
        curves: ``{system: [values of seed 0, values of seed 1, ...]}``, each list of equal length.
        path: the PNG to write.
        xlabel: label of the x axis.
        ylabel: label of the y axis.
        title: the figure title.
        x: the x positions (default 0, 1, 2, ...).
        logx: logarithmic x axis.
        logy: logarithmic y axis.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, runs) in enumerate(curves.items()):
        color = colors[k % len(colors)]
        length = min(len(r) for r in runs)
        xs = list(x[:length]) if x is not None else list(range(length))
        for run in runs:
            ax.plot(xs, list(run[:length]), color=color, alpha=0.25, linewidth=0.8)
        mean = [sum(r[i] for r in runs) / len(runs) for i in range(length)]
        ax.plot(xs, mean, color=color, linewidth=2, label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path)
