"""``paperzoo-grmu``'s own commands beside fit/validate/test/predict (pre-training) and reproduce: unlearn, demo."""

from __future__ import annotations

from dataclasses import replace

import torch

from paperzoo.core import CliError
from paperzoo.grmu import PAPER
from paperzoo.grmu.data import forget_split
from paperzoo.grmu.experiment import SYSTEMS, ExperimentConfig, checked_splits, customise, pretrain
from paperzoo.grmu.methods import APPROXIMATE, UnlearnTask, retrain
from paperzoo.grmu.metrics import evaluate

main = PAPER.main


def unlearn(
    method: str = "miu",
    ratio: float = 0.9,
    forget_y: int = 1,
    forget_a: int = 0,
    seed: int = 0,
    n_train: int = 20000,
    kind: str = "groupshift",
    root: str | None = None,
    size: int = 16,
    arch: str = "cnn",
    weights: str | None = None,
    target: str = "Attractive",
    sensitive: str = "Male",
) -> int:
    """Pre-train (cached), forget a group-concentrated set with one method, and print its metrics.

    With ``--kind waterbirds --root DIR`` (or ``celeba``) the data are the paper's benchmark read from a local
    folder in its official layout; ``--n_train`` caps the training split and ``--size`` sets the image side.

    Args:
        method: retrain, retrain_rw, or an approximate system (finetune, l1_sparse, scrub, salun, neggrad_plus,
            their _rw variants, miu, miu_no_rw, miu_no_cal, miu_no_forget).
        ratio: the unlearning ratio r in (0, 1].
        forget_y: target of the forget group.
        forget_a: sensitive attribute of the forget group.
        seed: data and model seed.
        n_train: training samples (at most, for a local benchmark).
        kind: groupshift, digits, waterbirds or celeba.
        root: the local benchmark's folder.
        size: image side.
        arch: cnn (the acceptance experiment's) or resnet18 (the paper's backbone).
        weights: a local ResNet-18 checkpoint (e.g. torchvision's ImageNet weights saved with torch.save).
        target: CelebA's target attribute (Attractive, or Blond_Hair as in the paper's other split).
        sensitive: CelebA's sensitive attribute.
    """
    known = ["retrain", "retrain_rw", *SYSTEMS]
    if method not in known:
        raise CliError(f"--method: unknown method {method!r}; expected one of: {', '.join(known)}")
    options = {"kind": kind, "root": root, "size": size, "n_train": n_train, "target": target, "sensitive": sensitive}
    try:
        cfg = customise(ExperimentConfig(ratio=ratio), (forget_y, forget_a), arch=arch, weights=weights, **options)
        splits = checked_splits(cfg, seed)
    except (ValueError, FileNotFoundError) as err:
        raise CliError(str(err)) from err
    gen = torch.Generator().manual_seed(seed)
    forget_idx, retain_idx = forget_split(splits["train"], cfg.forget_group, ratio, gen)
    original = pretrain(splits, cfg, seed)
    task = UnlearnTask(splits["train"], forget_idx, retain_idx, reweight=False)
    if method.startswith("retrain"):
        model = retrain(task.with_reweight(method == "retrain_rw"), cfg.model, cfg.train, gen)
    else:
        name, reweight, overrides = SYSTEMS[method]
        model = APPROXIMATE[name](original, task.with_reweight(reweight), replace(cfg.unlearn, **overrides), gen)
    for label, m in (("original", original), (method, model)):
        metrics = evaluate(m, splits, forget_idx, retain_idx, cfg.forget_group, seed)
        print(f"{label:>14}: " + "  ".join(f"{k} {v:5.1f}" for k, v in metrics.items()))
    return 0


def demo(ratio: float = 0.9, seed: int = 0) -> int:
    """Forget 90% of the minority group with Retrain, Retrain + REWEIGHT and MIU; print GA and EO.

    Args:
        ratio: the unlearning ratio r in (0, 1].
        seed: data and model seed.
    """
    if not 0 < ratio <= 1:
        raise CliError(f"--ratio: expected a value in (0, 1], got {ratio}")
    print("GroupShift: y = stroke orientation, a = background colour; forget group (y=1, a=0), the minority.")
    for method in ("retrain", "retrain_rw", "miu"):
        unlearn(method=method, ratio=ratio, seed=seed, n_train=8000)
    return 0
