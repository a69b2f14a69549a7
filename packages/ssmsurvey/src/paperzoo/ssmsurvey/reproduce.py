"""The acceptance experiment: equivalences, long memory, content selection, efficiency."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from paperzoo.core import CliError, run_jobs
from paperzoo.eval import Reproduction, SeedTable, atomic_write_text, loglog_slope, plot_curves
from paperzoo.ssmsurvey import PAPER
from paperzoo.ssmsurvey.config import ERAS, ModelConfig, Run
from paperzoo.ssmsurvey.efficiency import decode_times, forward_times
from paperzoo.ssmsurvey.experiment import equivalence_checks, train_and_evaluate

COPY = {"lag": 128, "n_data": 8, "n_tokens": 8}
SELECT = {"length": 256, "n_data": 16, "n_tokens": 8}
MQAR = {"n_pairs": 8, "n_keys": 32, "n_values": 32}

LENGTHS = [256, 512, 1024, 2048]
CONTEXTS = [512, 2048, 8192]
TIMED = ["s4d", "mamba", "transformer"]
"""The mixers whose forward time is fitted against the sequence length."""

LOG = {"logx": True, "logy": True}

LABELS = {
    "max_abs_difference": "max abs difference",
    "accuracy": "token accuracy",
    "parameters": "parameters",
    "slope": "log-log slope",
    "step_max_over_min": "step time max/min",
    "step_growth": "step time ratio",
}


def runs(quick: bool) -> list[Run]:
    """Every training run of one seed; ``quick`` shrinks the budgets for the tests."""
    scale = 0.25 if quick else 1.0

    def steps(n: int) -> int:
        return max(20, int(n * scale))

    copy = {"task": "copy_memory", "task_kwargs": COPY, "steps": steps(250)}
    # Selective copying at the paper's set-up: 16 data tokens among 256 positions, 2 layers, d = 64. At 2000 steps
    # Mamba reached 0.93 / 0.78 / 0.62 on seeds 0 / 1 / 2 (about 1,500 s each on one thread), and seed 1 was still
    # rising at 3000 steps of a 4000-step schedule (0.83), so every model gets 4000. At 64 positions, the length
    # used before, the LTI model without gating could place about 60% of the tokens (0.61 over three seeds): the
    # bar of 0.5 was set for 256. The quick run keeps a short budget at 64 positions.
    # Every model here trains at the package's one learning rate, 3e-3. A peak of 8e-3 (until 2026-11-27) made
    # Mamba's outcome depend on the seed and the schedule's length: 0.78 / 0.90 / 1.00 after 4000 steps, and seed 0
    # had been at 0.93 after a 2000-step schedule. At 3e-3 seeds 0 and 1 rise steadily to 0.93 and 0.95 (0.85 and
    # 0.87 at step 2500).
    select_task = {**SELECT, "length": 64} if quick else SELECT
    select_steps = steps(700) if quick else 4000
    # MQAR is learnt late and abruptly: on seed 0, d = 32 at 400 steps gave 0.15, d = 64 at 1000 steps (batch 64)
    # 0.21, at 3000 steps 0.84. The quick run keeps the short budget.
    mqar_steps = steps(400) if quick else 5000
    select = {"task": "selective_copy", "task_kwargs": select_task, "steps": select_steps}
    # Matched parameters at equal width: the ablations spend the parameters that selection or gating would use on
    # a larger state (S4D N = 222: 67082 parameters; Mamba with Δ, B, C fixed N = 56: 67178; Mamba 66954).
    no_gate = {"gated": False, "l_max": 2 * select_task["length"], "d_state": 222}
    fixed = {"selective": False, "d_state": 56}
    # Copy-memory: one layer, the same state size (64 per channel) for the structured and the original SSM.
    hippo = {"init": "lin", "d_state": 64, "l_max": 512}
    dense = {"d_state": 64, "mode": "conv"}
    # The selective-copying Mamba runs are by far the longest (about 0.5 s per step on one thread beside a second
    # job, 34 minutes for 4000 steps); reproduce hands the runs to its workers in this order.
    return [
        Run("mamba", ModelConfig("mamba", d_model=64), **select),
        Run("mamba_mqar", ModelConfig("mamba", d_model=64), "mqar", MQAR, mqar_steps, batch_size=64),
        Run("s4d_no_gate", ModelConfig("s4d", d_model=64, mixer_kwargs=no_gate), **select),
        Run("mamba_fixed", ModelConfig("mamba", d_model=64, mixer_kwargs=fixed), **select),
        Run("s4d_hippo", ModelConfig("s4d", d_model=64, n_layers=1, mixer_kwargs=hippo), **copy),
        Run("lti_dense", ModelConfig("lti", d_model=64, n_layers=1, mixer_kwargs=dense), **copy),
    ]


def reproduce(
    seeds: list[int] = [0, 1, 2],  # noqa: B006
    out: Path | None = None,
    quick: bool = False,
    workers: int = 1,
) -> int:
    """Run the acceptance experiment (equivalences, long memory, selection, efficiency) and write its results.

    Args:
        seeds: seeds; every model is trained once per seed with the same budget.
        out: output folder (default: the package's results/).
        quick: a reduced run (smaller budgets and timings) for the tests.
        workers: processes that train the models side by side (one torch thread each; 2 fills a 2-core
            machine). The timings run afterwards in this process alone, so training never competes with them.
    """
    if workers < 1:
        raise CliError(f"--workers: expected a positive number of processes, got {workers}")
    plan = runs(quick)
    lengths = LENGTHS[:2] if quick else LENGTHS
    contexts = CONTEXTS[:2] if quick else CONTEXTS
    config = {
        "copy_memory": COPY,
        "selective_copy": next(r.task_kwargs for r in plan if r.task == "selective_copy"),
        "mqar": MQAR,
        "runs": [dataclasses.asdict(r) for r in plan],
        "parameters": {},
        "eras": ERAS,
        "lengths": lengths,
        "contexts": contexts,
        "quick": quick,
        "workers": workers,
    }
    with Reproduction(PAPER, seeds, out=out, config=config, quick=quick, labels=LABELS) as run:
        table = run.table
        for seed in seeds:
            for key, value in equivalence_checks(seed).items():
                table.add(seed=seed, system=key, max_abs_difference=value)
        # Run-major order puts the three long selective-copying Mamba runs first, so that no long run is left
        # to finish alone on one core at the end (the pool takes jobs in this order).
        jobs = [(r, seed) for r in plan for seed in seeds]
        with run.stage(f"train {len(jobs)} models ({workers} worker(s))", len(jobs)) as advance:

            def done(i: int, result: tuple[float, int]) -> None:
                r, seed = jobs[i]
                run.log(
                    f"seed {seed} {r.name:<12} ({r.model.mixer}, {r.task}, {result[1]} params): acc {result[0]:.3f}"
                )
                advance()

            # Trained weights are cached per (run, seed): an interrupted run resumes, and a budget change
            # retrains only the runs it touches.
            trained = run_jobs(train_and_evaluate, [(r, seed, 512, True) for r, seed in jobs], workers, on_done=done)
        for (r, seed), (value, n_params) in zip(jobs, trained, strict=True):
            table.add(seed=seed, system=r.name, accuracy=value, parameters=n_params)
        run.config["parameters"] = {r.name: int(table.values(r.name, "parameters")[-1]) for r in plan}

        for seed in seeds:
            with run.stage(f"seed {seed}: efficiency", 2) as advance:
                times = forward_times(TIMED, lengths, repeats=3 if quick else 5, seed=seed)
                for name, ts in times.items():
                    per_length = {f"forward_s_L{n}": t for n, t in zip(lengths, ts, strict=True)}
                    table.add(seed=seed, system=name, slope=loglog_slope(lengths, ts), **per_length)
                advance()
                steps = decode_times(contexts, steps=5 if quick else 20, seed=seed)
                for name, ts in steps.items():
                    table.add(
                        seed=seed, system=name, **{f"decode_s_T{n}": t for n, t in zip(contexts, ts, strict=True)}
                    )
                mamba, attn = steps["mamba"], steps["transformer"]
                table.add(seed=seed, system="mamba_step_max_over_min", step_max_over_min=max(mamba) / min(mamba))
                table.add(seed=seed, system="transformer_step_growth", step_growth=attn[-1] / attn[0])
                advance()
            slopes = ", ".join(f"{name} {table.value(seed, name, 'slope'):.2f}" for name in TIMED)
            run.log(
                f"seed {seed} slopes {slopes}; decode ms mamba {[round(t * 1e3, 2) for t in mamba]}"
                f" transformer {[round(t * 1e3, 2) for t in attn]}"
            )

        state_claims(run)
        eras = era_table(table, plan)
        run.section("Every trained model by era", eras)
        run.out.mkdir(parents=True, exist_ok=True)
        forward = curves(table, TIMED, [f"forward_s_L{n}" for n in lengths])
        plot_curves(forward, run.out / "forward-time.png", "sequence length L", "forward time (s)", x=lengths, **LOG)
        decode = curves(table, list(steps), [f"decode_s_T{n}" for n in contexts])
        plot_curves(decode, run.out / "decode-step.png", "context length", "decode step time (s)", x=contexts, **LOG)
        atomic_write_text(run.out / "eras.md", eras)
    return 0


def state_claims(run: Reproduction) -> None:
    """Every bar of the acceptance experiment as a claim on ``run``'s table (never weakened)."""
    diff = "max_abs_difference"
    # fmt: off
    run.claim("s4d-conv-equals-recurrent-f64", "S4D convolution mode equals recurrent mode in float64",
              diff, "s4d_conv_vs_recurrent_f64", below=1e-5)
    run.claim("s4d-conv-equals-recurrent-f32", "S4D convolution mode equals recurrent mode in float32",
              diff, "s4d_conv_vs_recurrent_f32", below=1e-3)
    run.claim("zoh-matches-matrix-exp", "ZOH discretisation matches torch.matrix_exp (dense and diagonal A)",
              diff, "zoh_vs_matrix_exp", below=1e-10)
    run.claim("scan-equals-loop", "The chunked selective scan equals a sequential loop on CPU (float64)",
              diff, "scan_vs_loop", below=1e-10)
    run.claim("nonselective-mamba-is-lti", "Mamba with input-independent Δ, B, C is exactly an LTI convolution",
              diff, "nonselective_mamba_vs_lti", below=1e-10)
    recall = "recall token accuracy"
    run.claim("structured-long-memory", "S4D (HiPPO init) recalls across a lag of 128 (copy-memory)",
              "accuracy", "s4d_hippo", at_least=0.9, label=recall)
    run.claim("original-forgets", "The dense randomly initialised LTI SSM of equal state size fails copy-memory",
              "accuracy", "lti_dense", at_most=0.5, label=recall)
    run.claim("selective-copies", "Mamba solves selective copying (random positions)",
              "accuracy", "mamba", at_least=0.9)
    run.claim("lti-cannot-select", "S4D without gating fails selective copying",
              "accuracy", "s4d_no_gate", at_most=0.5)
    run.claim("selection-needed", "Mamba with selection ablated (Δ, B, C fixed) fails selective copying",
              "accuracy", "mamba_fixed", at_most=0.6)
    run.claim("mamba-mqar", "Mamba solves multi-query associative recall",
              "accuracy", "mamba_mqar", at_least=0.9)
    run.claim("ssm-linear-s4d", "S4D forward time grows linearly in L (log-log slope over L = 256..2048)",
              "slope", "s4d", at_most=1.25)
    run.claim("ssm-linear-mamba", "Mamba forward time grows linearly in L (log-log slope over L = 256..2048)",
              "slope", "mamba", at_most=1.25)
    run.claim("attention-quadratic", "Attention forward time grows quadratically in L (log-log slope)",
              "slope", "transformer", at_least=1.6)
    run.claim("decode-flat", "Mamba's recurrent decode step is flat in the context (max/min over 512..8192)",
              "step_max_over_min", "mamba_step_max_over_min", at_most=1.2)
    run.claim("kv-cache-grows", "The KV-cache Transformer's decode step grows with the context (8192 vs 512)",
              "step_growth", "transformer_step_growth", at_least=1.2)
    # fmt: on


def curves(table: SeedTable, systems: list[str], columns: list[str]) -> dict[str, list[list[float]]]:
    """``{system: [[value of each column] per seed]}``, as :func:`~paperzoo.eval.plot_curves` takes them."""
    return {name: [[table.value(seed, name, c) for c in columns] for seed in table.seeds] for name in systems}


def era_table(table: SeedTable, plan: list[Run]) -> str:
    """Every trained model as a Markdown table keyed by taxonomy era."""
    lines = ["| era | model | mixer | task | parameters | accuracy (mean over seeds) |", "|---|---|---|---|---|---|"]
    for r in sorted(plan, key=lambda r: ERAS[r.model.mixer]):
        params = int(table.values(r.name, "parameters")[-1])
        mean = table.mean(r.name, "accuracy")
        lines.append(f"| {ERAS[r.model.mixer]} | {r.name} | {r.model.mixer} | {r.task} | {params} | {mean:.3f} |")
    return "\n".join(lines) + "\n"
