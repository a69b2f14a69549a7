"""``paperzoo-ssmsurvey``: fit/validate/test/predict, plus bench, efficiency, report, demo and reproduce."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from paperzoo.core import CliError, run_cli
from paperzoo.ssmsurvey.data import TASKS, SyntheticTasks
from paperzoo.ssmsurvey.model import ERAS, MIXERS
from paperzoo.ssmsurvey.module import SSMSurveyModule
from paperzoo.ssmsurvey.reproduce import RESULTS, reproduce

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "tiny.yaml"


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
    from paperzoo.ssmsurvey.experiment import Run, train_and_evaluate

    if task not in TASKS:
        raise CliError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MIXERS]
    if unknown or not names:
        raise CliError(f"unknown model {', '.join(unknown) or repr(models)}; valid: {', '.join(MIXERS)}")
    if steps < 1:
        raise CliError(f"--steps must be positive, got {steps}")
    print("| era | model | accuracy | parameters |\n|---|---|---|---|")
    for name in names:
        kwargs = {"l_max": 4096} if name == "s4d" else {}
        acc, n = train_and_evaluate(Run(name, name, task, {}, steps, kwargs, d_model=32), seed)
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
    folder = Path(results) if results is not None else RESULTS
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
    from paperzoo.ssmsurvey.experiment import Run, train_and_evaluate
    from paperzoo.ssmsurvey.reproduce import SELECT

    for name, mixer, kwargs in (("mamba", "mamba", {}), ("s4d (no gate)", "s4d", {"gated": False, "l_max": 128})):
        run = Run(name, mixer, "selective_copy", SELECT, steps, kwargs, d_model=32, lr=5e-3)
        acc, n = train_and_evaluate(run, seed)
        print(f"{name:<14} {n:>6} params  selective-copy token accuracy {acc:.3f}")
    return 0


def main(args: list[str] | None = None) -> int:
    """Entry point of ``paperzoo-ssmsurvey``."""
    commands = {"reproduce": reproduce, "demo": demo, "bench": bench, "efficiency": efficiency, "report": report}
    return run_cli("ssmsurvey", SSMSurveyModule, SyntheticTasks, commands, default_config=DEFAULT_CONFIG, args=args)


if __name__ == "__main__":
    sys.exit(main())
