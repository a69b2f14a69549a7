"""The acceptance experiment (spec §6): Part A, Hopfield retrieval; Part B, text alignment of a tiny DiT.

Per seed: train the base model once (flow matching, condition dropout), train the attribute classifier on
real images, then sample the same prompts from the same initial noise under every setting: vanilla,
PLADIS (α = 1.5, λ = 2) on all cross-attention layers, λ = 0 through the PLADIS code path, the λ sweep,
PLADIS on self-attention instead (ablation), and CFG (w = 3) with and without PLADIS.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from paperzoo.core import StageProgress, StepProgress, cached, load_stage, quiet_trainer, save_stage, seed_all
from paperzoo.eval import Claim, ResultsRecord, plot_curves, write_outputs
from paperzoo.pladis.attention import apply_pladis, remove_pladis
from paperzoo.pladis.data import ShapesDataModule, make_dataset
from paperzoo.pladis.eval import NFECounter, alignment, classifier_features, frechet_distance, train_classifier
from paperzoo.pladis.hopfield import hopfield_experiment
from paperzoo.pladis.module import PladisFlowModule, generate

PAPER = "PLADIS: Pushing the Limits of Attention in Diffusion Models at Inference Time by Leveraging Sparsity"


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything Part B depends on (the base-model cache key includes the training fields).

    Attributes:
        dim: DiT width.
        depth: DiT blocks.
        n_fillers: distractor words per prompt.
        n_train: training images.
        train_steps: optimiser steps of the base model.
        lr: learning rate.
        n_samples: prompts (and images) per setting.
        n_real: real images for the Fréchet distance.
        steps: Euler steps.
        cfg: CFG scale w.
        alpha: entmax α.
        lam: PLADIS λ.
        sweep: the λ values of the sweep.
        classifier_steps: training steps of the attribute classifier.
    """

    dim: int = 96
    depth: int = 4
    n_fillers: int = 8
    n_train: int = 8192
    train_steps: int = 1200
    lr: float = 2e-3
    n_samples: int = 1024
    n_real: int = 2048
    steps: int = 25
    cfg: float = 3.0
    alpha: float = 1.5
    lam: float = 2.0
    sweep: tuple[float, ...] = (0.0, 1.0, 1.5, 2.0, 3.0, 4.0)
    classifier_steps: int = 400


QUICK = ExperimentConfig(
    dim=64,
    depth=3,
    n_train=2048,
    train_steps=60,
    n_samples=128,
    n_real=256,
    steps=8,
    sweep=(0.0, 2.0),
    classifier_steps=60,
)


def train_base_model(cfg: ExperimentConfig, seed: int, advance=lambda n=1: None) -> PladisFlowModule:
    """The base model of one seed, trained with Lightning (or read from the stage cache)."""
    key = {"seed": seed, **{k: v for k, v in asdict(cfg).items() if k in ("dim", "depth", "n_fillers", "n_train")}}
    key |= {"train_steps": cfg.train_steps, "lr": cfg.lr, "version": 1}
    seed_all(seed)
    module = PladisFlowModule(dim=cfg.dim, depth=cfg.depth, lr=cfg.lr)
    state = load_stage("pladis/base", key)
    if state is not None:
        module.load_state_dict(state)
        advance(cfg.train_steps)
        return module.eval()
    data = ShapesDataModule(n_train=cfg.n_train, n_val=128, n_fillers=cfg.n_fillers, seed=seed)
    trainer = quiet_trainer(max_steps=cfg.train_steps, limit_val_batches=0, callbacks=[StepProgress(advance)])
    trainer.fit(module, datamodule=data)
    save_stage("pladis/base", key, module.state_dict())
    return module.eval()


def _paired_ci_low(a: torch.Tensor, b: torch.Tensor) -> float:
    """Lower end of the 95% normal CI of mean(a − b) over paired images (percentage points)."""
    d = (a - b) * 100
    return float(d.mean() - 1.96 * d.std(unbiased=True) / math.sqrt(d.numel()))


def evaluate_seed(cfg: ExperimentConfig, seed: int, progress: StageProgress) -> dict:
    """Part B for one seed: every setting's alignment, FD, NFE and time on identical prompts and noise."""
    with progress.stage(f"seed {seed}: train base model", cfg.train_steps) as advance:
        module = train_base_model(cfg, seed, advance)
    model = module.model
    with progress.stage(f"seed {seed}: train attribute classifier", 1) as advance:
        clf_key = {"seed": seed, "steps": cfg.classifier_steps, "version": 1}
        classifier = cached("pladis/classifier", clf_key, lambda: train_classifier(seed, steps=cfg.classifier_steps))
        advance()
    test = make_dataset(cfg.n_samples, cfg.n_fillers, 50_000 + seed)
    real = classifier_features(classifier, make_dataset(cfg.n_real, 0, 60_000 + seed)["images"])
    noise = torch.randn((cfg.n_samples, 3, 16, 16), generator=torch.Generator().manual_seed(70_000 + seed))

    settings = {"vanilla": (0.0, None, "cross"), "cfg": (cfg.cfg, None, "cross")}
    settings["pladis"] = (0.0, cfg.lam, "cross")
    settings["cfg+pladis"] = (cfg.cfg, cfg.lam, "cross")
    settings["pladis_self"] = (0.0, cfg.lam, "self")
    for lam in cfg.sweep:
        if lam != cfg.lam:
            settings[f"lam={lam:g}"] = (0.0, lam, "cross")
    out: dict = {"acc": {}, "fd": {}, "nfe": {}, "time": {}, "samples": {}}
    correct = {}
    stage = progress.stage(f"seed {seed}: sample {len(settings)} settings", len(settings))
    with stage as advance, torch.no_grad():
        for name, (w, lam, layers) in settings.items():
            remove_pladis(model)
            if lam is not None:
                apply_pladis(model, cfg.alpha, lam, layers=layers)
            counter = NFECounter(model)
            start = time.perf_counter()
            images = generate(counter, test["tokens"], noise, cfg.steps, w)
            out["time"][name] = (time.perf_counter() - start) / cfg.n_samples
            correct[name] = alignment(classifier, images, test["attributes"])
            out["acc"][name] = float(correct[name].mean() * 100)
            out["fd"][name] = frechet_distance(classifier_features(classifier, images), real)
            out["nfe"][name] = counter.nfe_per_sample(cfg.n_samples)
            if name in ("vanilla", "lam=0"):
                out["samples"][name] = images
            advance()
    remove_pladis(model)
    # The paper's central cost claim: PLADIS adds no model evaluation.
    assert out["nfe"]["pladis"] == out["nfe"]["vanilla"], out["nfe"]
    assert out["nfe"]["cfg+pladis"] == out["nfe"]["cfg"], out["nfe"]
    out["ci_low"] = _paired_ci_low(correct["pladis"], correct["vanilla"])
    out["ci_low_cfg"] = _paired_ci_low(correct["cfg+pladis"], correct["cfg"])
    if "lam=0" in out["samples"]:
        out["lambda0_diff"] = float((out["samples"]["lam=0"] - out["samples"]["vanilla"]).abs().max())
    out.pop("samples")
    return out


def _claims(cfg: ExperimentConfig, part_a: list, part_b: list[dict]) -> list[Claim]:
    def series(key: str, name: str) -> list[float]:
        return [r[key][name] for r in part_b]

    raw = [r.at_threshold("raw") for r in part_a]
    direction = [r.at_threshold("direction") for r in part_a]
    claims = [
        Claim(
            "hopfield-entmax",
            "Part A: at the smallest σ where softmax's raw retrieval error is >= 0.2, 1.5-entmax's raw error is "
            "<= 0.7x softmax's (M=64, d=32, β=4).",
            "raw retrieval error ‖ξ_new − ξ‖",
            "entmax",
            "softmax",
            {m: [e[1][m] for e in raw] for m in ("entmax", "softmax", "pladis")},
            op="<=",
            kind="ratio",
            margin=0.7,
        ),
        Claim(
            "hopfield-pladis",
            "Part A: at the smallest σ where softmax's direction error is >= 0.2, PLADIS (λ=2) direction error is "
            "<= 0.7x softmax's.",
            "direction error ‖ξ_new/‖ξ_new‖ − ξ‖",
            "pladis",
            "softmax",
            {m: [e[1][m] for e in direction] for m in ("pladis", "softmax", "entmax")},
            op="<=",
            kind="ratio",
            margin=0.7,
        ),
        Claim(
            "nocfg-alignment",
            "Without CFG, PLADIS (α=1.5, λ=2) raises attribute-alignment accuracy by >= 2 points absolute.",
            "alignment accuracy (%)",
            "pladis",
            "vanilla",
            {k: series("acc", k) for k in ("pladis", "vanilla", "pladis_self")},
            op=">=",
            margin=2.0,
        ),
        Claim(
            "nocfg-alignment-ci",
            "Without CFG, the lower end of the 95% CI of the alignment gain (paired over identical prompts and "
            "noise, per seed) is above 0.",
            "gain CI low (points)",
            "gain_ci_low",
            None,
            {"gain_ci_low": [r["ci_low"] for r in part_b]},
            op=">",
            margin=0.0,
        ),
        Claim(
            "nocfg-fd",
            "Without CFG, PLADIS' Fréchet distance (classifier features) is no more than 5% worse than vanilla's.",
            "FD (classifier features)",
            "pladis",
            "vanilla",
            {k: series("fd", k) for k in ("pladis", "vanilla")},
            op="<=",
            kind="ratio",
            margin=1.05,
        ),
        Claim(
            "cfg-alignment",
            f"With CFG (w={cfg.cfg:g}), PLADIS raises alignment accuracy by >= 1 point.",
            "alignment accuracy (%)",
            "cfg+pladis",
            "cfg",
            {k: series("acc", k) for k in ("cfg+pladis", "cfg")},
            op=">=",
            margin=1.0,
        ),
        Claim(
            "cfg-fd",
            f"With CFG (w={cfg.cfg:g}), PLADIS' Fréchet distance is not worse than CFG alone.",
            "FD (classifier features)",
            "cfg+pladis",
            "cfg",
            {k: series("fd", k) for k in ("cfg+pladis", "cfg")},
            op="<=",
            kind="ratio",
            margin=1.0,
        ),
        Claim(
            "nfe-equal",
            "PLADIS adds no model evaluation: its NFE per sample equals vanilla's (also asserted in the run).",
            "NFE per sample",
            "pladis",
            "vanilla",
            {k: series("nfe", k) for k in ("pladis", "vanilla", "cfg+pladis", "cfg")},
            op="<=",
            margin=0.0,
        ),
        Claim(
            "self-attn-not-better",
            "Applying PLADIS to self-attention instead does not beat applying it to all cross-attention layers.",
            "alignment accuracy (%)",
            "pladis",
            "pladis_self",
            {k: series("acc", k) for k in ("pladis", "pladis_self", "vanilla")},
            op=">=",
            margin=0.0,
        ),
    ]
    if all("lambda0_diff" in r for r in part_b):
        claims.insert(
            -1,
            Claim(
                "lambda0-identity",
                "λ = 0 through the PLADIS code path reproduces the vanilla samples (max abs difference < 1e-5).",
                "max abs diff, λ=0 vs vanilla samples",
                "lambda0_max_abs_diff",
                None,
                {"lambda0_max_abs_diff": [r["lambda0_diff"] for r in part_b]},
                op="<",
                margin=1e-5,
            ),
        )
    return claims


def run_experiment(cfg: ExperimentConfig, seeds: list[int], progress: StageProgress) -> tuple[list, list[dict]]:
    """Parts A and B for every seed."""
    part_a = [hopfield_experiment(seed) for seed in progress.track(list(seeds), "Part A: Hopfield retrieval")]
    part_b = [evaluate_seed(cfg, seed, progress) for seed in seeds]
    return part_a, part_b


def _plots(cfg: ExperimentConfig, part_a: list, part_b: list[dict], out: Path) -> None:
    sweep = list(cfg.sweep)
    names = [("vanilla" if lam == 0 else "pladis" if lam == cfg.lam else f"lam={lam:g}") for lam in sweep]
    plot_curves(
        {"alignment accuracy (%)": [[r["acc"][n] for n in names] for r in part_b]},
        out / "lambda-sweep-alignment.png",
        "λ",
        "alignment accuracy (%)",
        "λ sweep (no CFG): alignment",
        x=sweep,
    )
    plot_curves(
        {"FD": [[r["fd"][n] for n in names] for r in part_b]},
        out / "lambda-sweep-fd.png",
        "λ",
        "Fréchet distance",
        "λ sweep (no CFG): FD",
        x=sweep,
    )
    sigmas = part_a[0].sigmas
    for measure in ("raw", "direction"):
        curves = {m: [getattr(r, measure)[m] for r in part_a] for m in ("softmax", "entmax", "pladis")}
        plot_curves(
            curves, out / f"hopfield-{measure}.png", "query noise σ", f"{measure} error", f"Part A: {measure}", x=sigmas
        )


def _summary(cfg: ExperimentConfig, part_a: list, part_b: list[dict]) -> str:
    """Markdown: the λ sweep, the σ sweep and the cost, appended to results.md."""
    names = list(part_b[0]["acc"])
    lines = ["", "## All settings (mean over seeds)", "", "| setting | alignment (%) | FD | NFE | ms / sample |"]
    lines.append("|---|---|---|---|---|")
    for n in names:
        mean = lambda key, n=n: sum(r[key][n] for r in part_b) / len(part_b)
        lines.append(f"| {n} | {mean('acc'):.2f} | {mean('fd'):.1f} | {mean('nfe'):.0f} | {1000 * mean('time'):.2f} |")
    extra = sum(r["time"]["pladis"] - r["time"]["vanilla"] for r in part_b) / len(part_b)
    lines += ["", f"Extra sampling time of PLADIS: {1000 * extra:+.2f} ms per sample ({cfg.steps} Euler steps, CPU)."]
    for measure in ("raw", "direction"):
        lines += ["", f"## Part A: {measure} error vs σ (mean over seeds)", ""]
        lines += ["| σ | " + " | ".join(("softmax", "entmax", "pladis")) + " |", "|---|---|---|---|"]
        for i, s in enumerate(part_a[0].sigmas):
            vals = [
                sum(getattr(r, measure)[m][i] for r in part_a) / len(part_a) for m in ("softmax", "entmax", "pladis")
            ]
            lines.append(f"| {s:g} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    return "\n".join(lines) + "\n"


def reproduce(seeds: list[int] = [0, 1, 2], out: Path | None = None, quick: bool = False) -> int:  # noqa: B006
    """Run the acceptance experiment (spec §6): Hopfield retrieval and end-to-end alignment over seeds.

    Args:
        seeds: the seeds; each trains its own base model and classifier.
        out: output folder (default: packages/pladis/results).
        quick: a reduced run (tiny model, few steps, few images) for tests.
    """
    cfg = QUICK if quick else ExperimentConfig()
    out = Path(out) if out is not None else Path(__file__).resolve().parents[3] / "results"
    start = time.perf_counter()
    with StageProgress("pladis") as progress:
        part_a, part_b = run_experiment(cfg, list(seeds), progress)
    claims = _claims(cfg, part_a, part_b)
    command = "paperzoo-pladis reproduce --seeds " + " ".join(map(str, seeds)) + (" --quick" if quick else "")
    record = ResultsRecord(
        "pladis", PAPER, command, list(seeds), claims, config=asdict(cfg), wall_time_s=time.perf_counter() - start
    )
    write_outputs(record, out)
    _plots(cfg, part_a, part_b, out)
    with (out / "results.md").open("a") as f:
        f.write(_summary(cfg, part_a, part_b))
    return 0


def quick_config(**changes) -> ExperimentConfig:
    """The quick configuration with some fields changed (used by tests)."""
    return replace(QUICK, **changes)
