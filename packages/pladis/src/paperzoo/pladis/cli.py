"""PLADIS' own commands of ``paperzoo-pladis`` (``sample``, ``evaluate``, ``hopfield-demo``, ``demo``); ``fit`` and the
other trainer commands come from the shared CLI through :data:`paperzoo.pladis.PAPER`."""

from __future__ import annotations

from pathlib import Path

import torch

from paperzoo.core import CliError, StageProgress, cached
from paperzoo.eval import frechet_distance, save_figure
from paperzoo.pladis import PAPER
from paperzoo.pladis.attention import apply_pladis, check_pladis_args, remove_pladis
from paperzoo.pladis.data import make_dataset, tokenize
from paperzoo.pladis.eval import NFECounter, alignment, classifier_features, train_classifier
from paperzoo.pladis.hopfield import hopfield_experiment
from paperzoo.pladis.module import PladisFlowModule, generate
from paperzoo.pladis.reproduce import FULL, train_base_model


def _load_model(ckpt: Path | None) -> PladisFlowModule:
    """A Lightning checkpoint from ``fit``, or the cached base model of ``reproduce``'s seed 0 (trained if absent)."""
    if ckpt is None:
        with StageProgress("pladis") as progress, progress.stage("base model (seed 0)", FULL.train_steps) as advance:
            return train_base_model(FULL, 0, advance)
    if not Path(ckpt).is_file():
        raise CliError(f"--ckpt: no such file: {ckpt}")
    return PladisFlowModule.load_from_checkpoint(str(ckpt), map_location="cpu").eval()


def _check(alpha: float, lam: float, convention: str = "standard") -> None:
    try:
        check_pladis_args(alpha, lam, convention)
    except ValueError as err:
        raise CliError(str(err)) from err


def sample(
    prompt: list[str] = ["red circle left w01 w02 w03"],  # noqa: B006
    alpha: float = 1.5,
    lam: float = 2.0,
    cfg: float = 0.0,
    n: int = 8,
    steps: int = 25,
    lambda_convention: str = "standard",
    ckpt: Path | None = None,
    out: Path = Path("pladis-samples.png"),
) -> int:
    """Sample images for text prompts, vanilla (top row) and with PLADIS (bottom row), from the same noise.

    Args:
        prompt: one or more prompts, each with one shape, one colour and one position word and any fillers.
        alpha: entmax α (> 1; 1.5 = entmax15, 2 = sparsemax).
        lam: PLADIS λ (>= 0; 0 = vanilla).
        cfg: classifier-free guidance scale (0: none).
        n: images per prompt.
        steps: Euler steps.
        lambda_convention: standard (out = dense + λ(sparse − dense)) or shifted (sparse + λ(sparse − dense)).
        ckpt: a checkpoint written by fit (default: the cached base model of reproduce's seed 0).
        out: the PNG grid to write.
    """
    _check(alpha, lam, lambda_convention)
    try:
        parsed = [tokenize(p) for p in prompt]
    except ValueError as err:
        raise CliError(str(err)) from err
    length = max(t.shape[0] for t, _ in parsed)
    tokens = torch.zeros(len(parsed) * n, length, dtype=torch.long)
    for i, (t, _) in enumerate(parsed):
        tokens[i * n : (i + 1) * n, : t.shape[0]] = t
    module = _load_model(ckpt)
    noise = torch.randn((tokens.shape[0], 3, 16, 16), generator=torch.Generator().manual_seed(0))
    rows = []
    with torch.no_grad():
        for lam_value in (None, lam):
            remove_pladis(module.model)
            if lam_value is not None:
                apply_pladis(module.model, alpha, lam_value, convention=lambda_convention)
            rows.append(generate(module.model, tokens, noise, steps, cfg))
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, tokens.shape[0], figsize=(tokens.shape[0] * 0.9, 2.2), squeeze=False, dpi=120)
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            axes[r][c].imshow(((image.permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
            axes[r][c].axis("off")
    fig.suptitle(f"top: vanilla, bottom: PLADIS α={alpha:g} λ={lam:g}; " + " | ".join(prompt), fontsize=7)
    save_figure(fig, out)
    print(f"wrote {out}")
    return 0


def evaluate(
    sweep_lam: str = "0,1,1.5,2,3",
    alpha: float = 1.5,
    cfg: float = 0.0,
    n: int = 512,
    steps: int = 25,
    seed: int = 0,
    ckpt: Path | None = None,
) -> int:
    """Alignment accuracy and FD of a λ sweep on held-out prompts (same noise for every λ).

    Args:
        sweep_lam: comma-separated λ values.
        alpha: entmax α (> 1).
        cfg: classifier-free guidance scale (0: none).
        n: prompts.
        steps: Euler steps.
        seed: seeds the prompts, the noise and the attribute classifier.
        ckpt: a checkpoint written by fit (default: the cached base model of reproduce's seed 0).
    """
    try:
        lams = [float(x) for x in sweep_lam.split(",") if x.strip()]
    except ValueError as err:
        raise CliError(f"--sweep-lam: expected comma-separated numbers, got {sweep_lam!r}") from err
    for lam in lams:
        _check(alpha, lam)
    module = _load_model(ckpt)
    steps_clf = FULL.classifier_steps
    key = {"seed": seed, "steps": steps_clf, "version": 1}
    classifier = cached("pladis/classifier", key, lambda: train_classifier(seed, steps=steps_clf))
    test = make_dataset(n, FULL.data.n_fillers, 50_000 + seed)
    real = classifier_features(classifier, make_dataset(2 * n, 0, 60_000 + seed)["images"])
    noise = torch.randn((n, 3, 16, 16), generator=torch.Generator().manual_seed(70_000 + seed))
    print("| λ | alignment (%) | FD | NFE |\n|---|---|---|---|")
    with torch.no_grad():
        for lam in lams:
            remove_pladis(module.model)
            apply_pladis(module.model, alpha, lam)
            counter = NFECounter(module.model)
            images = generate(counter, test["tokens"], noise, steps, cfg)
            acc = float(alignment(classifier, images, test["attributes"]).mean() * 100)
            fd = frechet_distance(classifier_features(classifier, images), real)
            print(f"| {lam:g} | {acc:.2f} | {fd:.1f} | {counter.nfe_per_sample(n):g} |")
    return 0


def hopfield_demo(seed: int = 0, beta: float = 4.0) -> int:
    """Part A: one-step Hopfield retrieval errors of softmax, 1.5-entmax and PLADIS (λ=2) across query noise.

    Args:
        seed: seeds the stored patterns and the noise.
        beta: the inverse temperature β.
    """
    result = hopfield_experiment(seed, beta=beta)
    for measure in ("raw", "direction"):
        errors = getattr(result, measure)
        print(f"{measure} error\n| σ | softmax | entmax | pladis |\n|---|---|---|---|")
        for i, s in enumerate(result.sigmas):
            print(f"| {s:g} | " + " | ".join(f"{errors[m][i]:.3f}" for m in ("softmax", "entmax", "pladis")) + " |")
    return 0


def demo() -> int:
    """Show PLADIS on one attention row: the dense, sparse and extrapolated weights over prompt words."""
    words = ["red", "circle", "left", "w03", "w11", "w17", "w25", "w40"]
    scores = torch.tensor([[2.0, 1.6, 1.8, 0.9, 0.6, 1.0, 0.5, 0.8]])
    from paperzoo.kernels import entmax15

    dense, sparse = torch.softmax(scores, -1), entmax15(scores)
    mix = dense + 2.0 * (sparse - dense)
    print("word      " + " ".join(f"{w:>7}" for w in words))
    for name, p in (("softmax", dense), ("entmax15", sparse), ("PLADIS λ=2", mix)):
        print(f"{name:<10}" + " ".join(f"{float(x):7.3f}" for x in p[0]))
    print("PLADIS moves mass from the filler words to the attribute words (negative weights on fillers).")
    hopfield_demo()
    return 0


main = PAPER.main
