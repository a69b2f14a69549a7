"""One seed of the acceptance experiment: pre-train, unlearn with every method, evaluate.

Kept apart from :mod:`paperzoo.grmu.reproduce` (which gathers the seeds into claims) so that the CLI's
``unlearn`` command and the tests can run single stages.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch

from paperzoo.core import load_stage, save_stage
from paperzoo.grmu.config import DataConfig, ModelConfig, TrainConfig, UnlearnConfig
from paperzoo.grmu.data import GroupData, forget_split, make_splits
from paperzoo.grmu.methods import APPROXIMATE, UnlearnTask, retrain
from paperzoo.grmu.metrics import avg_gap, evaluate, tow
from paperzoo.grmu.mine import MutualInformation, estimate, tune
from paperzoo.grmu.model import Classifier, build_model
from paperzoo.grmu.module import train_classifier

# name -> (method, reweight, overrides of UnlearnConfig)
SYSTEMS: dict[str, tuple[str, bool, dict]] = {
    "finetune": ("finetune", False, {}),
    "l1_sparse": ("l1_sparse", False, {}),
    "scrub": ("scrub", False, {}),
    "salun": ("salun", False, {}),
    "neggrad_plus": ("neggrad_plus", False, {}),
    "finetune_rw": ("finetune", True, {}),
    "l1_sparse_rw": ("l1_sparse", True, {}),
    "scrub_rw": ("scrub", True, {}),
    "miu": ("miu", True, {}),
    "miu_no_rw": ("miu", False, {}),
    "miu_no_cal": ("miu", True, {"calibration": False}),
    "miu_no_forget": ("miu", True, {"forgetting_epochs": 0}),
}
EXACT = ("retrain", "retrain_rw")
PROBE_LR = 0.01


@dataclass
class ExperimentConfig:
    """The acceptance experiment: pre-train on GroupShift, forget most of the minority group, unlearn with every
    method, evaluate.

    ``data``, ``model`` and ``train`` are what ``fit --config configs/tiny.yaml`` trains with (its ``data.data``,
    ``model.model``, ``model.optim``, ``data.batch_size`` and ``trainer.max_epochs``).
    """

    data: DataConfig = field(default_factory=DataConfig)
    """The data: 20k group-shifted GroupShift training samples (p(a = y) = 0.9), group-balanced val and test."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The classifier: the 2-conv CNN with 64-d features."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Pre-training and retraining: 8 epochs of SGD 0.05 with a per-step cosine, batch 128."""
    unlearn: UnlearnConfig = field(default_factory=UnlearnConfig)
    """The approximate methods' budget (10 epochs) and knobs."""
    forget_group: tuple[int, int] = (1, 0)
    """The forget group (y*, a*): the minority (1, 0)."""
    ratio: float = 0.9
    """The unlearning ratio r of the main comparison."""
    extra_ratio: float = 0.5
    """A second ratio, run with ``extra_systems`` (0 to skip)."""
    extra_systems: tuple[str, ...] = ("finetune", "miu")
    """The approximate systems run at ``extra_ratio``."""
    systems: tuple[str, ...] = tuple(SYSTEMS)
    """The approximate systems run at ``ratio``."""
    probe_batches: int = 300
    """DV-ascent batches of the fresh MINE probe that measures group information."""

    def __post_init__(self) -> None:
        if self.model.size != self.data.size:
            raise ValueError(f"model.size: expected the data's image side {self.data.size}, got {self.model.size}")
        if len(self.forget_group) != 2 or min(self.forget_group) < 0:
            raise ValueError(f"forget_group: expected a pair (y*, a*) of non-negative labels, got {self.forget_group}")
        self.forget_group = (int(self.forget_group[0]), int(self.forget_group[1]))
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"ratio: expected a value in (0, 1], got {self.ratio}")
        if not 0.0 <= self.extra_ratio <= 1.0:
            raise ValueError(f"extra_ratio: expected a value in (0, 1], or 0 for none, got {self.extra_ratio}")
        for name in (*self.systems, *self.extra_systems):
            if name not in SYSTEMS:
                raise ValueError(f"systems: expected names among {', '.join(SYSTEMS)}, got {name!r}")
        if self.probe_batches <= 0:
            raise ValueError(f"probe_batches: expected a positive number of batches, got {self.probe_batches}")


def customise(
    base: ExperimentConfig,
    forget_group: tuple[int, int],
    *,
    kind: str | None = None,
    root: str | None = None,
    size: int | None = None,
    n_train: int | None = None,
    target: str | None = None,
    sensitive: str | None = None,
    arch: str = "cnn",
    weights: str | None = None,
) -> ExperimentConfig:
    """``base`` with the data, model and forget-group options of the CLI (``unlearn``, ``reproduce``).

    A data option of None keeps ``base``'s; ``size`` sets the data's and the model's image side.

    Raises:
        ValueError: a value the configs reject (named in the message).
    """
    options = {"kind": kind, "root": root, "size": size, "n_train": n_train, "target": target, "sensitive": sensitive}
    data = replace(base.data, **{k: v for k, v in options.items() if v is not None})
    model = replace(base.model, size=data.size, arch=arch, weights=weights)
    return replace(base, data=data, model=model, forget_group=forget_group)


def checked_splits(cfg: ExperimentConfig, seed: int) -> dict[str, GroupData]:
    """The seed's splits, after checking that the model can be built and the forget group is in the data.

    Bad input (a missing local file or checkpoint, an absent forget group) fails here, before any training.

    Raises:
        ValueError, FileNotFoundError: with a one-line message naming the problem.
    """
    build_model(cfg.model)
    splits = make_splits(cfg.data, seed)
    forget_split(splits["train"], cfg.forget_group, cfg.ratio, torch.Generator())
    return splits


def pretrain(splits: dict[str, GroupData], cfg: ExperimentConfig, seed: int, progress=None) -> Classifier:
    """The original model θ_o, cached under ``$PAPERZOO_CACHE/grmu/original`` by (data, model, budget, seed).

    It is trained by :func:`~paperzoo.grmu.module.train_classifier`: ``PretrainModule`` and the training loader
    of ``fit``, with the seed's own generator.
    """
    key = {"data": asdict(cfg.data), "seed": seed, "model": asdict(cfg.model), "train": asdict(cfg.train)}
    state = load_stage("grmu/original", {**key, "version": 2})
    model = build_model(cfg.model)
    if state is not None:
        model.load_state_dict(state)
        if progress is not None:
            progress(cfg.train.epochs)
        return model.eval()
    gen = torch.Generator().manual_seed(10_000 + seed)
    model = train_classifier(splits["train"], cfg.model, cfg.train, gen, progress=progress)
    save_stage("grmu/original", {**key, "version": 2}, model.state_dict())
    return model


def group_information(
    model: Classifier,
    train: GroupData,
    forget_idx: torch.Tensor,
    retain_idx: torch.Tensor,
    cfg: ExperimentConfig,
    held_out: GroupData,
) -> dict[str, float]:
    """Group information in a model's features, measured by fresh probes tuned on the full training set.

    - ``MI_retain``: a fresh MINE critic (DV ascent, ``probe_batches`` batches), its DV bound on D_r (nats).
    - ``GI_forget``: a linear group probe (multinomial logistic regression on Z) fit on held-out,
      group-balanced samples (the validation set), its mean log p(g | z) + log |G| on D_f: the nats of
      evidence the forget samples' features give for their own group, above chance. D_f holds a single
      group, so a DV bound on D_f alone is 0 by construction; and a probe fit on D_tr would have seen D_f.
    """
    gen = torch.Generator().manual_seed(12345)
    torch.manual_seed(12345)
    g = train.g
    n_groups = 4
    model.eval()
    with torch.no_grad():
        z = torch.cat([model.features(train.x[i : i + 4096]) for i in range(0, len(train), 4096)])
    # Standardised features give every model's probe the same scale to work with.
    z = standardise(z, z)
    probe = MutualInformation(model.feat_dim, n_groups, cfg.unlearn.mine_hidden)

    def probe_batches():
        for _ in range(cfg.probe_batches):
            idx = torch.randint(0, len(train), (cfg.unlearn.batch_size,), generator=gen)
            yield idx, g[idx]

    # The probe's own learning rate: it must not change with the method's mine_lr.
    tune(probe, lambda idx: z[idx], probe_batches(), PROBE_LR, generator=gen)
    probe.eval()
    return {
        "MI_retain": estimate(probe, z[retain_idx], g[retain_idx], gen),
        "GI_forget": linear_group_information(model, held_out, train.subset(forget_idx), n_groups),
    }


def standardise(reference: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``z`` centred and scaled per unit by the mean and std of ``reference``. ``[N, D], [M, D] -> [M, D]``.

    The scale is floored at 5% of the mean std: a unit that is almost dead (std 1e-5, say, after unlearning)
    would otherwise be blown up to values in the tens wherever it does fire, and a probe trained on such
    inputs diverges (a DV bound of −1.5 nats was measured on one seed before the floor).
    """
    mean, std = reference.mean(0), reference.std(0)
    return (z - mean) / std.clamp_min(0.05 * float(std.mean()) + 1e-6)


def linear_group_information(model: Classifier, fit: GroupData, evaluate_on: GroupData, n_groups: int) -> float:
    """Mean log p(g | z) + log |G| on ``evaluate_on`` of a logistic-regression group probe fit on ``fit``.

    Args:
        model: provides the features z.
        fit: the probe's training data (group-balanced held-out samples).
        evaluate_on: the samples whose group information is measured.
        n_groups: |G|.
    """
    with torch.no_grad():
        z_fit, z_eval = model.features(fit.x), model.features(evaluate_on.x)
    z_fit, z_eval = standardise(z_fit, z_fit), standardise(z_fit, z_eval)
    if not (torch.isfinite(z_fit).all() and torch.isfinite(z_eval).all()):
        return float("nan")
    probe = torch.nn.Linear(z_fit.shape[1], n_groups)
    torch.nn.init.zeros_(probe.weight)
    torch.nn.init.zeros_(probe.bias)
    opt = torch.optim.Adam(probe.parameters(), lr=0.05)
    g_fit = fit.g
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(probe(z_fit), g_fit) + 1e-2 * probe.weight.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        log_p = torch.log_softmax(probe(z_eval), 1)[torch.arange(len(evaluate_on)), evaluate_on.g]
    return float(log_p.mean() + math.log(n_groups))


def run_ratio(
    splits: dict[str, GroupData],
    original: Classifier,
    cfg: ExperimentConfig,
    seed: int,
    ratio: float,
    systems: tuple[str, ...],
    advance: Callable[[int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Every system at one ratio: metrics (RA, UA, TA, MIA, EO, GA, ToW, AvgGap, GI_forget, MI_retain, and the
    training time ``time_s`` of all but the original) per system.

    The reference for ToW and Avg. Gap is Retrain + REWEIGHT.
    """
    train = splits["train"]
    gen = torch.Generator().manual_seed(20_000 + seed)
    forget_idx, retain_idx = forget_split(train, cfg.forget_group, ratio, gen)
    task = UnlearnTask(train, forget_idx, retain_idx, reweight=False)
    step = (lambda n=1: advance(n)) if advance is not None else None
    models: dict[str, Classifier] = {"original": original}
    times: dict[str, float] = {}
    for name in EXACT:
        start = time.perf_counter()
        models[name] = retrain(task.with_reweight(name == "retrain_rw"), cfg.model, cfg.train, gen, step)
        times[name] = time.perf_counter() - start
    for name in systems:
        method, reweight, overrides = SYSTEMS[name]
        ucfg = replace(cfg.unlearn, **overrides)
        start = time.perf_counter()
        models[name] = APPROXIMATE[method](original, task.with_reweight(reweight), ucfg, gen, step)
        times[name] = time.perf_counter() - start
    out = {}
    for name, model in models.items():
        metrics = evaluate(model, splits, forget_idx, retain_idx, cfg.forget_group, seed)
        metrics.update(group_information(model, train, forget_idx, retain_idx, cfg, splits["val"]))
        if name in times:
            metrics["time_s"] = times[name]
        out[name] = metrics
    ref = out["retrain_rw"]
    for metrics in out.values():
        metrics["ToW"] = tow(metrics, ref)
        metrics["AvgGap"] = avg_gap(metrics, ref)
    return out


def run_seed(
    cfg: ExperimentConfig, seed: int, advance: Callable[[int], None] | None = None
) -> dict[float, dict[str, dict[str, float]]]:
    """One seed: ``{0.9: {system: metrics}, 0.5: {...}}``, keyed by the unlearning ratio."""
    splits = make_splits(cfg.data, seed)
    original = pretrain(splits, cfg, seed, advance)
    results = {cfg.ratio: run_ratio(splits, original, cfg, seed, cfg.ratio, cfg.systems, advance)}
    if cfg.extra_ratio:
        results[cfg.extra_ratio] = run_ratio(splits, original, cfg, seed, cfg.extra_ratio, cfg.extra_systems, advance)
    return results


def epochs_per_seed(cfg: ExperimentConfig) -> int:
    """Training epochs one seed runs (the progress bar's total)."""
    exact = len(EXACT) * cfg.train.epochs
    total = cfg.train.epochs + exact + len(cfg.systems) * cfg.unlearn.epochs
    if cfg.extra_ratio:
        total += exact + len(cfg.extra_systems) * cfg.unlearn.epochs
    return total
