"""The acceptance experiment (spec section 6): equivalences, long memory, content selection, efficiency."""

from __future__ import annotations

import time
from pathlib import Path

from paperzoo.core import CliError, StageProgress, run_jobs
from paperzoo.eval import Claim, ResultsRecord, loglog_slope, plot_curves, write_outputs
from paperzoo.ssmsurvey.efficiency import decode_times, forward_times
from paperzoo.ssmsurvey.experiment import Run, equivalence_checks, train_and_evaluate
from paperzoo.ssmsurvey.model import ERAS

PAPER = "Technologies on Effectiveness and Efficiency: A Survey of State Spaces Models (arXiv 2503.11224)"
RESULTS = Path(__file__).resolve().parents[3] / "results"

COPY = {"lag": 128, "n_data": 8, "n_tokens": 8}
SELECT = {"length": 256, "n_data": 16, "n_tokens": 8}
MQAR = {"n_pairs": 8, "n_keys": 32, "n_values": 32}


def runs(quick: bool) -> list[Run]:
    """Every training run of one seed; ``quick`` shrinks the budgets for the tests."""
    scale = 0.25 if quick else 1.0

    def steps(n: int) -> int:
        return max(20, int(n * scale))

    copy = {"task": "copy_memory", "task_kwargs": COPY, "steps": steps(250), "n_layers": 1, "d_model": 64}
    # Selective copying as the spec has it: 16 data tokens among 256 positions, 2 layers, d = 64. At 2000 steps Mamba
    # reached 0.93 / 0.78 / 0.62 on seeds 0 / 1 / 2 (about 1,500 s each on one thread), and seed 1 was still rising
    # at 3000 steps of a 4000-step schedule (0.83), so every model gets 4000. At 64 positions, the length used
    # before, the LTI model without gating could place about 60% of the tokens (0.61 over three seeds): the bar of
    # 0.5 was set for 256. The quick run keeps a short budget at 64 positions.
    # Every model here trains at the package's one learning rate, 3e-3. A peak of 8e-3 (until 2026-11-27) made
    # Mamba's outcome depend on the seed and the schedule's length: 0.78 / 0.90 / 1.00 after 4000 steps, and seed 0
    # had been at 0.93 after a 2000-step schedule. At 3e-3 seeds 0 and 1 rise steadily to 0.93 and 0.95 (0.85 and
    # 0.87 at step 2500).
    select_task = {**SELECT, "length": 64} if quick else SELECT
    select_steps = steps(700) if quick else 4000
    # MQAR is learnt late and abruptly: on seed 0, d = 32 at 400 steps gave 0.15, d = 64 at 1000 steps (batch 64)
    # 0.21, at 3000 steps 0.84. The quick run keeps the short budget.
    mqar_steps = steps(400) if quick else 5000
    select = {"task": "selective_copy", "task_kwargs": select_task, "steps": select_steps, "d_model": 64}
    # Matched parameters at equal width: the ablations spend the parameters that selection or gating would use on
    # a larger state (S4D N = 222: 67082 parameters; Mamba with Δ, B, C fixed N = 56: 67178; Mamba 66954).
    no_gate = {"gated": False, "l_max": 2 * select_task["length"], "d_state": 222}
    # The selective-copying Mamba runs are by far the longest (about 0.5 s per step on one thread beside a second
    # job, 34 minutes for 4000 steps); reproduce hands the runs to its workers in this order.
    return [
        Run("mamba", "mamba", **select),
        Run("mamba_mqar", "mamba", "mqar", MQAR, mqar_steps, d_model=64, batch_size=64),
        Run("s4d_no_gate", "s4d", mixer_kwargs=no_gate, **select),
        Run("mamba_fixed", "mamba", mixer_kwargs={"selective": False, "d_state": 56}, **select),
        Run("s4d_hippo", "s4d", mixer_kwargs={"init": "lin", "d_state": 64, "l_max": 512}, **copy),
        Run("lti_dense", "lti", mixer_kwargs={"d_state": 64, "mode": "conv"}, **copy),
    ]


LENGTHS = [256, 512, 1024, 2048]
CONTEXTS = [512, 2048, 8192]


def reproduce(
    seeds: list[int] = [0, 1, 2],  # noqa: B006
    out: Path | None = None,
    quick: bool = False,
    workers: int = 1,
) -> int:
    """Run the acceptance experiment of spec section 6 and write results.json, results.md and plots.

    Args:
        seeds: seeds; every model is trained once per seed with the same budget.
        out: output folder (default: the package's results/).
        quick: a reduced run (smaller budgets and timings) for the tests.
        workers: processes that train the models side by side (one torch thread each; 2 fills a 2-core
            machine). The timings run afterwards in this process alone, so training never competes with them.
    """
    if workers < 1:
        raise CliError(f"--workers: expected a positive number of processes, got {workers}")
    out = Path(out) if out is not None else RESULTS
    start = time.time()
    plan = runs(quick)
    acc: dict[str, list[float]] = {r.name: [] for r in plan}
    params: dict[str, int] = {}
    eq: dict[str, list[float]] = {}
    slopes: dict[str, list[float]] = {"s4d": [], "mamba": [], "transformer": []}
    fwd_curves: dict[str, list[list[float]]] = {k: [] for k in slopes}
    decode: dict[str, list[list[float]]] = {"mamba": [], "transformer": []}
    lengths = LENGTHS[:2] if quick else LENGTHS
    contexts = CONTEXTS[:2] if quick else CONTEXTS
    with StageProgress("ssmsurvey") as progress:
        for seed in seeds:
            for key, value in equivalence_checks(seed).items():
                eq.setdefault(key, []).append(value)
        # Run-major order puts the three long selective-copying Mamba runs first, so that no long run is left
        # to finish alone on one core at the end (the pool takes jobs in this order).
        jobs = [(run, seed) for run in plan for seed in seeds]
        with progress.stage(f"train {len(jobs)} models ({workers} worker(s))", len(jobs)) as advance:

            def done(i: int, result: tuple[float, int]) -> None:
                run, seed = jobs[i]
                progress.log(
                    f"seed {seed} {run.name:<12} ({run.mixer}, {run.task}, {result[1]} params): acc {result[0]:.3f}"
                )
                advance()

            # Trained weights are cached per (run, seed): an interrupted run resumes, and a budget change
            # retrains only the runs it touches.
            args = [(run, seed, 512, True) for run, seed in jobs]
            trained = run_jobs(train_and_evaluate, args, workers, on_done=done)
        for (run, _), (value, n_params) in zip(jobs, trained, strict=True):  # each run's seeds are in order
            acc[run.name].append(value)
            params[run.name] = n_params
        for seed in seeds:
            with progress.stage(f"seed {seed}: efficiency", 2) as advance:
                times = forward_times(list(slopes), lengths, repeats=3 if quick else 5, seed=seed)
                for name, ts in times.items():
                    slopes[name].append(loglog_slope(lengths, ts))
                    fwd_curves[name].append(ts)
                advance()
                dec = decode_times(contexts, steps=5 if quick else 20, seed=seed)
                for name, ts in dec.items():
                    decode[name].append(ts)
                advance()
            progress.log(
                f"seed {seed} slopes "
                + ", ".join(f"{k} {v[-1]:.2f}" for k, v in slopes.items())
                + f"; decode ms mamba {[round(t * 1e3, 2) for t in decode['mamba'][-1]]}"
                f" transformer {[round(t * 1e3, 2) for t in decode['transformer'][-1]]}"
            )
    claims = build_claims(acc, eq, slopes, decode)
    config = {
        "copy_memory": COPY,
        "selective_copy": next(r.task_kwargs for r in plan if r.task == "selective_copy"),
        "mqar": MQAR,
        "runs": [r.__dict__ for r in plan],
        "parameters": params,
        "eras": ERAS,
        "lengths": lengths,
        "contexts": contexts,
        "quick": quick,
        "workers": workers,
    }
    command = "paperzoo-ssmsurvey reproduce --seeds " + " ".join(map(str, seeds)) + (" --quick" if quick else "")
    command += f" --workers {workers}" if workers > 1 else ""
    record = ResultsRecord("ssmsurvey", PAPER, command, list(seeds), claims, config=config)
    record.wall_time_s = time.time() - start
    write_outputs(record, out)
    plot_curves(
        fwd_curves, out / "forward-time.png", "sequence length L", "forward time (s)", x=lengths, logx=True, logy=True
    )
    plot_curves(
        decode, out / "decode-step.png", "context length", "decode step time (s)", x=contexts, logx=True, logy=True
    )
    (out / "eras.md").write_text(era_table(acc, params, plan))
    return 0


def build_claims(
    acc: dict[str, list[float]],
    eq: dict[str, list[float]],
    slopes: dict[str, list[float]],
    decode: dict[str, list[list[float]]],
) -> list[Claim]:
    """Every threshold of spec section 6 as a claim (never weakened)."""
    flat = [max(ts) / min(ts) for ts in decode["mamba"]]
    growth = [ts[-1] / ts[0] for ts in decode["transformer"]]
    claims = [
        Claim("s4d-conv-equals-recurrent-f64", "S4D convolution mode equals recurrent mode in float64",
              "max abs difference", "s4d_conv_vs_recurrent_f64", None, eq, "<", margin=1e-5),
        Claim("s4d-conv-equals-recurrent-f32", "S4D convolution mode equals recurrent mode in float32",
              "max abs difference", "s4d_conv_vs_recurrent_f32", None, eq, "<", margin=1e-3),
        Claim("zoh-matches-matrix-exp", "ZOH discretisation matches torch.matrix_exp (dense and diagonal A)",
              "max abs difference", "zoh_vs_matrix_exp", None, eq, "<", margin=1e-10),
        Claim("scan-equals-loop", "The chunked selective scan equals a sequential loop on CPU (float64)",
              "max abs difference", "scan_vs_loop", None, eq, "<", margin=1e-10),
        Claim("nonselective-mamba-is-lti", "Mamba with input-independent Δ, B, C is exactly an LTI convolution",
              "max abs difference", "nonselective_mamba_vs_lti", None, eq, "<", margin=1e-10),
        Claim("structured-long-memory", "S4D (HiPPO init) recalls across a lag of 128 (copy-memory)",
              "recall token accuracy", "s4d_hippo", None, acc, ">=", margin=0.9),
        Claim("original-forgets", "The dense randomly initialised LTI SSM of equal state size fails copy-memory",
              "recall token accuracy", "lti_dense", None, acc, "<=", margin=0.5),
        Claim("selective-copies", "Mamba solves selective copying (random positions)",
              "token accuracy", "mamba", None, acc, ">=", margin=0.9),
        Claim("lti-cannot-select", "S4D without gating fails selective copying",
              "token accuracy", "s4d_no_gate", None, acc, "<=", margin=0.5),
        Claim("selection-needed", "Mamba with selection ablated (Δ, B, C fixed) fails selective copying",
              "token accuracy", "mamba_fixed", None, acc, "<=", margin=0.6),
        Claim("mamba-mqar", "Mamba solves multi-query associative recall",
              "token accuracy", "mamba_mqar", None, acc, ">=", margin=0.9),
        Claim("ssm-linear-s4d", "S4D forward time grows linearly in L (log-log slope over L = 256..2048)",
              "log-log slope", "s4d", None, slopes, "<=", margin=1.25),
        Claim("ssm-linear-mamba", "Mamba forward time grows linearly in L (log-log slope over L = 256..2048)",
              "log-log slope", "mamba", None, slopes, "<=", margin=1.25),
        Claim("attention-quadratic", "Attention forward time grows quadratically in L (log-log slope)",
              "log-log slope", "transformer", None, slopes, ">=", margin=1.6),
        Claim("decode-flat", "Mamba's recurrent decode step is flat in the context (max/min over 512..8192)",
              "step time max/min", "mamba_step_max_over_min", None, {"mamba_step_max_over_min": flat}, "<=",
              margin=1.2),
        Claim("kv-cache-grows", "The KV-cache Transformer's decode step grows with the context (8192 vs 512)",
              "step time ratio", "transformer_step_growth", None, {"transformer_step_growth": growth}, ">=",
              margin=1.2),
    ]  # fmt: skip
    return claims


def era_table(acc: dict[str, list[float]], params: dict[str, int], plan: list[Run]) -> str:
    """Every trained model as a Markdown table keyed by taxonomy era."""
    lines = ["| era | model | mixer | task | parameters | accuracy (mean over seeds) |", "|---|---|---|---|---|---|"]
    for run in sorted(plan, key=lambda r: ERAS[r.mixer]):
        values = acc[run.name]
        mean = sum(values) / len(values) if values else float("nan")
        lines.append(
            f"| {ERAS[run.mixer]} | {run.name} | {run.mixer} | {run.task} | {params.get(run.name, 0)} | {mean:.3f} |"
        )
    return "\n".join(lines) + "\n"
