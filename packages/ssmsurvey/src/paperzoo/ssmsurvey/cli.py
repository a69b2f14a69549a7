"""``paperzoo-ssmsurvey``'s own commands besides fit/validate/test/predict and reproduce: bench, efficiency,
report and demo. ``main`` runs the whole command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from paperzoo.core import CliError
from paperzoo.ssmsurvey import PAPER
from paperzoo.ssmsurvey.config import ERAS, MIXER_NAMES, ModelConfig, Run, run_optim
from paperzoo.ssmsurvey.data import TASKS
from paperzoo.ssmsurvey.reproduce import SELECT

main = PAPER.main


def demo_runs(steps: int = 300) -> list[Run]:
    """The demo's two models on selective copying (256 positions): Mamba, and S4D without gating.

    The Mamba model is the one ``configs/tiny.yaml`` trains (d = 32, 2 layers, lr 5e-3).
    """
    optim = run_optim(steps, lr=5e-3)
    # The convolution kernel covers the whole sequence: 256 positions and the 16 answers.
    no_gate = {"gated": False, "l_max": 2 * SELECT["length"]}
    return [
        Run("mamba", ModelConfig("mamba", d_model=32), "selective_copy", SELECT, steps, optim),
        Run(
            "s4d (no gate)",
            ModelConfig("s4d", d_model=32, mixer_kwargs=no_gate),
            "selective_copy",
            SELECT,
            steps,
            optim,
        ),
    ]


def bench(
    task: str = "selective_copy", models: str = "lti,s4d,mamba,transformer", steps: int = 200, seed: int = 0
) -> int:
    """Train several models on one task with the same budget and print their accuracy by era.

    Args:
        task: one of the synthetic tasks.
        models: comma-separated mixers.
        steps: training steps per model.
        seed: seed.
    """
    from paperzoo.ssmsurvey.experiment import train_and_evaluate

    if task not in TASKS:
        raise CliError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MIXER_NAMES]
    if unknown or not names:
        raise CliError(f"unknown model {', '.join(unknown) or repr(models)}; valid: {', '.join(MIXER_NAMES)}")
    if steps < 1:
        raise CliError(f"--steps must be positive, got {steps}")
    print("| era | model | accuracy | parameters |\n|---|---|---|---|")
    for name in names:
        options = {"l_max": 4096} if name == "s4d" else {}
        model = ModelConfig(name, d_model=32, mixer_kwargs=options)
        acc, n = train_and_evaluate(Run(name, model, task, {}, steps), seed)
        print(f"| {ERAS[name]} | {name} | {acc:.3f} | {n} |", flush=True)
    return 0


def efficiency(quick: bool = False) -> int:
    """Time forward passes against L and decode steps against the context, and print slopes and ratios.

    Args:
        quick: fewer lengths and repeats.
    """
    from paperzoo.eval import loglog_slope
    from paperzoo.ssmsurvey.efficiency import decode_times, forward_times

    lengths = [256, 512] if quick else [256, 512, 1024, 2048]
    contexts = [512, 2048] if quick else [512, 2048, 8192]
    times = forward_times(["s4d", "mamba", "transformer"], lengths, repeats=3)
    for name, ts in times.items():
        print(f"{name:<12} forward ms {[round(t * 1e3, 2) for t in ts]}  slope {loglog_slope(lengths, ts):.2f}")
    dec = decode_times(contexts, steps=10)
    for name, ts in dec.items():
        ms = [round(t * 1e3, 3) for t in ts]
        print(f"{name:<12} decode ms/step at {contexts}: {ms}  max/min {max(ts) / min(ts):.2f}")
    return 0


def report(results: Path | None = None) -> int:
    """Print the committed results as a Markdown table keyed by taxonomy era.

    Args:
        results: a results folder (default: the package's results/).
    """
    folder = Path(results) if results is not None else PAPER.results_dir
    path = folder / "results.json"
    if not path.is_file():
        raise CliError(f"no results.json in {folder}; run 'paperzoo-ssmsurvey reproduce' first")
    eras = folder / "eras.md"
    if eras.is_file():
        print(eras.read_text())
    data = json.loads(path.read_text())
    for claim in data["claims"]:
        verdict = "pass" if claim["passed"] else "FAIL"
        print(f"{claim['id']:<34} {claim['method_value']:.4g} {claim['op']} {claim['margin']:g}  {verdict}")
    return 0


def demo(steps: int = 300, seed: int = 0) -> int:
    """Train Mamba and ungated S4D briefly on selective copying and print their accuracy.

    Args:
        steps: training steps per model.
        seed: seed.
    """
    from paperzoo.ssmsurvey.experiment import train_and_evaluate

    for run in demo_runs(steps):
        acc, n = train_and_evaluate(run, seed)
        print(f"{run.name:<14} {n:>6} params  selective-copy token accuracy {acc:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
