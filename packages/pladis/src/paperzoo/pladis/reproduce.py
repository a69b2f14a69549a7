"""The acceptance experiment: Part A, Hopfield retrieval; Part B, text alignment of a tiny DiT.

Per seed: train the base model once (flow matching, condition dropout), train the attribute classifier on
real images, then sample the same prompts from the same initial noise under every setting: vanilla,
PLADIS (α = 1.5, λ = 2) on all cross-attention layers, λ = 0 through the PLADIS code path, the λ sweep,
PLADIS on self-attention instead (ablation), and CFG (w = 3) with and without PLADIS.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from paperzoo.core import StepProgress, cached, load_stage, quiet_trainer, save_stage, seed_all
from paperzoo.eval import Reproduction, frechet_distance, plot_curves
from paperzoo.pladis import PAPER
from paperzoo.pladis.attention import apply_pladis, remove_pladis
from paperzoo.pladis.config import DataConfig, ExperimentConfig, ModelConfig
from paperzoo.pladis.data import ShapesDataModule, make_dataset
from paperzoo.pladis.eval import NFECounter, alignment, classifier_features, train_classifier
from paperzoo.pladis.hopfield import METHODS, SIGMAS, hopfield_experiment
from paperzoo.pladis.module import PladisFlowModule, generate

FULL = ExperimentConfig()
QUICK = ExperimentConfig(
    model=ModelConfig(dim=64, depth=3),
    data=DataConfig(n_train=2048, n_val=128),
    train_steps=60,
    n_samples=128,
    n_real=256,
    steps=8,
    sweep=(0.0, 2.0),
    classifier_steps=60,
)

LABELS = {
    "raw_err": "raw retrieval error ‖ξ_new − ξ‖",
    "direction_err": "direction error ‖ξ_new/‖ξ_new‖ − ξ‖",
    "acc": "alignment accuracy (%)",
    "fd": "FD (classifier features)",
    "nfe": "NFE per sample",
    "time": "sampling time (s per sample)",
    "gain_ci_low": "gain CI low (points)",
    "lambda0_max_abs_diff": "max abs diff, λ=0 vs vanilla samples",
}


def train_base_model(cfg: ExperimentConfig, seed: int, advance=lambda n=1: None) -> PladisFlowModule:
    """The base model of one seed, trained with Lightning (or read from the stage cache)."""
    data = replace(cfg.data, seed=seed)
    key = {"seed": seed, "train_steps": cfg.train_steps, "version": 2}
    key |= {"model": asdict(cfg.model), "optim": asdict(cfg.optim), "flow": asdict(cfg.flow), "data": asdict(data)}
    seed_all(seed)
    module = PladisFlowModule(model=cfg.model, optim=cfg.optim, flow=cfg.flow)
    state = load_stage("pladis/base", key)
    if state is not None:
        module.load_state_dict(state)
        advance(cfg.train_steps)
        return module.eval()
    trainer = quiet_trainer(max_steps=cfg.train_steps, limit_val_batches=0, callbacks=[StepProgress(advance)])
    trainer.fit(module, datamodule=ShapesDataModule(data))
    save_stage("pladis/base", key, module.state_dict())
    return module.eval()


def settings(cfg: ExperimentConfig) -> dict[str, tuple[float, float | None, str]]:
    """Every sampling setting of Part B: ``{name: (CFG scale, PLADIS λ or None for vanilla, layers patched)}``."""
    out = {"vanilla": (0.0, None, "cross"), "cfg": (cfg.cfg, None, "cross")}
    out["pladis"] = (0.0, cfg.lam, "cross")
    out["cfg+pladis"] = (cfg.cfg, cfg.lam, "cross")
    out["pladis_self"] = (0.0, cfg.lam, "self")
    for lam in cfg.sweep:
        if lam != cfg.lam:
            out[f"lam={lam:g}"] = (0.0, lam, "cross")
    return out


def _paired_ci_low(a: torch.Tensor, b: torch.Tensor) -> float:
    """Lower end of the 95% normal CI of mean(a − b) over paired images (percentage points)."""
    d = (a - b) * 100
    return float(d.mean() - 1.96 * d.std(unbiased=True) / math.sqrt(d.numel()))


def hopfield_seed(run: Reproduction, seed: int) -> None:
    """Part A for one seed: every method's errors at the claim's σ and over the whole σ sweep, into the table."""
    result = hopfield_experiment(seed)
    _, raw = result.at_threshold("raw")
    _, direction = result.at_threshold("direction")
    for method in METHODS:
        sweep = {f"raw_err@{s:g}": result.raw[method][i] for i, s in enumerate(result.sigmas)}
        sweep |= {f"direction_err@{s:g}": result.direction[method][i] for i, s in enumerate(result.sigmas)}
        run.table.add(seed=seed, system=method, raw_err=raw[method], direction_err=direction[method], **sweep)


def evaluate_seed(run: Reproduction, cfg: ExperimentConfig, seed: int) -> None:
    """Part B for one seed: every setting's alignment, FD, NFE and time on identical prompts and noise."""
    with run.stage(f"seed {seed}: train base model", cfg.train_steps) as advance:
        module = train_base_model(cfg, seed, advance)
    model = module.model
    with run.stage(f"seed {seed}: train attribute classifier", 1) as advance:
        clf_key = {"seed": seed, "steps": cfg.classifier_steps, "version": 1}
        classifier = cached("pladis/classifier", clf_key, lambda: train_classifier(seed, steps=cfg.classifier_steps))
        advance()
    test = make_dataset(cfg.n_samples, cfg.data.n_fillers, 50_000 + seed)
    real = classifier_features(classifier, make_dataset(cfg.n_real, 0, 60_000 + seed)["images"])
    noise = torch.randn((cfg.n_samples, 3, 16, 16), generator=torch.Generator().manual_seed(70_000 + seed))

    table = run.table
    correct, samples = {}, {}
    todo = settings(cfg)
    with run.stage(f"seed {seed}: sample {len(todo)} settings", len(todo)) as advance, torch.no_grad():
        for name, (w, lam, layers) in todo.items():
            remove_pladis(model)
            if lam is not None:
                apply_pladis(model, cfg.alpha, lam, layers=layers)
            counter = NFECounter(model)
            start = time.perf_counter()
            images = generate(counter, test["tokens"], noise, cfg.steps, w)
            elapsed = (time.perf_counter() - start) / cfg.n_samples
            correct[name] = alignment(classifier, images, test["attributes"])
            table.add(
                seed=seed,
                system=name,
                acc=float(correct[name].mean() * 100),
                fd=frechet_distance(classifier_features(classifier, images), real),
                nfe=counter.nfe_per_sample(cfg.n_samples),
                time=elapsed,
            )
            if name in ("vanilla", "lam=0"):
                samples[name] = images
            advance()
    remove_pladis(model)
    # The paper's central cost claim: PLADIS adds no model evaluation.
    for method, base in (("pladis", "vanilla"), ("cfg+pladis", "cfg")):
        nfe = table.value(seed, method, "nfe"), table.value(seed, base, "nfe")
        assert nfe[0] == nfe[1], f"seed {seed}: NFE of {method} {nfe[0]} != {base} {nfe[1]}"
    table.add(seed=seed, system="gain_ci_low", gain_ci_low=_paired_ci_low(correct["pladis"], correct["vanilla"]))
    table.add(seed=seed, system="cfg_gain_ci_low", gain_ci_low=_paired_ci_low(correct["cfg+pladis"], correct["cfg"]))
    if "lam=0" in samples:
        diff = float((samples["lam=0"] - samples["vanilla"]).abs().max())
        table.add(seed=seed, system="lambda0_max_abs_diff", lambda0_max_abs_diff=diff)


def add_claims(run: Reproduction, cfg: ExperimentConfig) -> None:
    """The claims, from the per-seed table."""
    run.claim(
        "hopfield-entmax",
        "Part A: at the smallest σ where softmax's raw retrieval error is >= 0.2, 1.5-entmax's raw error is "
        "<= 0.7x softmax's (M=64, d=32, β=4).",
        "raw_err",
        "entmax",
        vs="softmax",
        op="<=",
        ratio=0.7,
        report=("pladis",),
    )
    run.claim(
        "hopfield-pladis",
        "Part A: at the smallest σ where softmax's direction error is >= 0.2, PLADIS (λ=2) direction error is "
        "<= 0.7x softmax's.",
        "direction_err",
        "pladis",
        vs="softmax",
        op="<=",
        ratio=0.7,
        report=("entmax",),
    )
    run.claim(
        "nocfg-alignment",
        "Without CFG, PLADIS (α=1.5, λ=2) raises attribute-alignment accuracy by >= 2 points absolute.",
        "acc",
        "pladis",
        vs="vanilla",
        margin=2.0,
        report=("pladis_self",),
    )
    run.claim(
        "nocfg-alignment-ci",
        "Without CFG, the lower end of the 95% CI of the alignment gain (paired over identical prompts and "
        "noise, per seed) is above 0.",
        "gain_ci_low",
        "gain_ci_low",
        above=0.0,
        report=(),
    )
    run.claim(
        "nocfg-fd",
        "Without CFG, PLADIS' Fréchet distance (classifier features) is no more than 5% worse than vanilla's.",
        "fd",
        "pladis",
        vs="vanilla",
        op="<=",
        ratio=1.05,
        report=(),
    )
    run.claim(
        "cfg-alignment",
        f"With CFG (w={cfg.cfg:g}), PLADIS raises alignment accuracy by >= 1 point.",
        "acc",
        "cfg+pladis",
        vs="cfg",
        margin=1.0,
        report=(),
    )
    run.claim(
        "cfg-fd",
        f"With CFG (w={cfg.cfg:g}), PLADIS' Fréchet distance is not worse than CFG alone.",
        "fd",
        "cfg+pladis",
        vs="cfg",
        op="<=",
        ratio=1.0,
        report=(),
    )
    run.claim(
        "nfe-equal",
        "PLADIS adds no model evaluation: its NFE per sample equals vanilla's (also asserted in the run).",
        "nfe",
        "pladis",
        vs="vanilla",
        op="<=",
        margin=0.0,
        report=("cfg+pladis", "cfg"),
    )
    if run.table.has("lambda0_max_abs_diff", "lambda0_max_abs_diff"):
        run.claim(
            "lambda0-identity",
            "λ = 0 through the PLADIS code path reproduces the vanilla samples (max abs difference < 1e-5).",
            "lambda0_max_abs_diff",
            "lambda0_max_abs_diff",
            below=1e-5,
            report=(),
        )
    run.claim(
        "self-attn-not-better",
        "Applying PLADIS to self-attention instead does not beat applying it to all cross-attention layers.",
        "acc",
        "pladis",
        vs="pladis_self",
        margin=0.0,
        report=("vanilla",),
    )


def _sweep_names(cfg: ExperimentConfig) -> list[str]:
    """The setting of each λ of the sweep, in sweep order."""
    return [("vanilla" if lam == 0 else "pladis" if lam == cfg.lam else f"lam={lam:g}") for lam in cfg.sweep]


def _plots(run: Reproduction, cfg: ExperimentConfig) -> None:
    table, seeds, out = run.table, run.table.seeds, run.out
    names = _sweep_names(cfg)
    for metric, ylabel, title, file in (
        ("acc", "alignment accuracy (%)", "λ sweep (no CFG): alignment", "lambda-sweep-alignment.png"),
        ("fd", "Fréchet distance", "λ sweep (no CFG): FD", "lambda-sweep-fd.png"),
    ):
        curve = [[table.value(seed, n, metric) for n in names] for seed in seeds]
        key = "alignment accuracy (%)" if metric == "acc" else "FD"
        plot_curves({key: curve}, out / file, "λ", ylabel, title, x=list(cfg.sweep))
    for measure in ("raw", "direction"):
        curves = {
            m: [[table.value(seed, m, f"{measure}_err@{s:g}") for s in SIGMAS] for seed in seeds] for m in METHODS
        }
        plot_curves(
            curves,
            out / f"hopfield-{measure}.png",
            "query noise σ",
            f"{measure} error",
            f"Part A: {measure}",
            x=list(SIGMAS),
        )


def _sections(run: Reproduction, cfg: ExperimentConfig) -> None:
    """The λ sweep with the cost, and the σ sweep of Part A, as extra sections of results.md."""
    table = run.table
    lines = ["| setting | alignment (%) | FD | NFE | ms / sample |", "|---|---|---|---|---|"]
    for n in settings(cfg):
        mean = lambda key, n=n: table.mean(n, key)
        lines.append(f"| {n} | {mean('acc'):.2f} | {mean('fd'):.1f} | {mean('nfe'):.0f} | {1000 * mean('time'):.2f} |")
    extra = table.mean("pladis", "time") - table.mean("vanilla", "time")
    lines += ["", f"Extra sampling time of PLADIS: {1000 * extra:+.2f} ms per sample ({cfg.steps} Euler steps, CPU)."]
    run.section("All settings (mean over seeds)", "\n".join(lines))
    for measure in ("raw", "direction"):
        lines = ["| σ | " + " | ".join(METHODS) + " |", "|---|---|---|---|"]
        for s in SIGMAS:
            values = [table.mean(m, f"{measure}_err@{s:g}") for m in METHODS]
            lines.append(f"| {s:g} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
        run.section(f"Part A: {measure} error vs σ (mean over seeds)", "\n".join(lines))


def reproduce(seeds: list[int] = [0, 1, 2], out: Path | None = None, quick: bool = False) -> int:  # noqa: B006
    """Run the acceptance experiment: Hopfield retrieval and end-to-end alignment over seeds.

    Args:
        seeds: the seeds; each trains its own base model and classifier.
        out: output folder (default: packages/pladis/results).
        quick: a reduced run (tiny model, few steps, few images) for tests.
    """
    cfg = QUICK if quick else FULL
    with Reproduction(PAPER, seeds, out=out, config=cfg, quick=quick, labels=LABELS) as run:
        for seed in run.track(list(seeds), "Part A: Hopfield retrieval"):
            hopfield_seed(run, seed)
        for seed in seeds:
            evaluate_seed(run, cfg, seed)
        add_claims(run, cfg)
        _plots(run, cfg)
        _sections(run, cfg)
    return 0
