"""MIU: Mutual Information-aware Unlearning (the paper's approximate method).

Two MINE estimators, ψ_u on the unlearned model's features and ψ_o on the original model's, are tuned
by DV ascent on the full training set before every epoch (``mine_warmup_batches`` before epoch 0, then
``mine_batches``); during the model's updates they are frozen. The reference code's schedule alternates::

    for epoch in 1..E:
        tune ψ_u on f_θ and ψ_o on f_θo
        if epoch <= forgetting_epochs:
            for batch in D_f:           step θ on  Î_ψu(f_θ(x); g)                         (minimise)
        for batch in reweighted D_r:    step θ, φ on CE + λ·(Î_ψu(f_θ(x); g) − sg Î_ψo(f_θo(x); g))²

``schedule="summed"`` takes one step on L_retain + L_unlearn + λ·L_cal per retain batch instead.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from paperzoo.grmu.config import UnlearnConfig
from paperzoo.grmu.methods.common import (
    UnlearnTask,
    batches,
    copy_model,
    cycle,
    set_epoch_lr,
    sgd,
)
from paperzoo.grmu.mine import MutualInformation, tune
from paperzoo.grmu.model import Classifier


def _tuning_batches(task: UnlearnTask, cfg: UnlearnConfig, n: int, generator: torch.Generator):
    """``n`` batches ``(x, g)`` of the full training set D_tr (forget and retain samples alike)."""
    stream = ((x, g) for x, _y, g in cycle(task.train, cfg.batch_size, generator))
    return list(itertools.islice(stream, n))


def miu(
    original: Classifier, task: UnlearnTask, cfg: UnlearnConfig, generator: torch.Generator, progress=None
) -> Classifier:
    """Run MIU from the original model.

    Args:
        original: θ_o (not modified).
        task: the forget/retain split; ``task.reweight`` samples D_r with REWEIGHT (MIU's default).
        cfg: the budget and MIU's knobs (``forgetting_epochs``, ``mine_lr``, ``lambda_mi``, ``schedule``,
            ``calibration``, ``shared_estimator``).
        generator: the source of randomness.
        progress: called once per epoch, if given.

    Returns:
        the unlearned model.
    """
    model = copy_model(original)
    original = original.eval()
    est_u = MutualInformation(model.feat_dim, task.n_groups, cfg.mine_hidden)
    est_o = est_u if cfg.shared_estimator else MutualInformation(model.feat_dim, task.n_groups, cfg.mine_hidden)
    opt_u = opt_o = None
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    forget, retain, weights = task.forget, task.retain, task.retain_sample_weights()
    forget_stream = cycle(forget, cfg.batch_size, generator)

    def features_u(x: torch.Tensor) -> torch.Tensor:
        return model.features(x)

    for epoch in range(cfg.epochs):
        set_epoch_lr(opt, cfg, epoch)
        n_tune = cfg.mine_warmup_batches if epoch == 0 else cfg.mine_batches
        model.eval()
        opt_u = tune(est_u, features_u, _tuning_batches(task, cfg, n_tune, generator), cfg.mine_lr, opt_u, generator)
        if not cfg.shared_estimator:
            opt_o = tune(
                est_o, original.features, _tuning_batches(task, cfg, n_tune, generator), cfg.mine_lr, opt_o, generator
            )
        model.train()
        # The critics are fixed while the model moves: their gradients are dropped, not applied.
        est_u.requires_grad_(False)
        est_o.requires_grad_(False)
        forgetting = epoch < cfg.forgetting_epochs
        if forgetting and cfg.schedule == "alternating":
            for x, _y, g in batches(forget, cfg.batch_size, generator):
                loss = est_u(model.features(x), g, generator)
                opt.zero_grad()
                loss.backward()
                # With the critic frozen the bound is unbounded below; clipping keeps the features alive.
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.forget_clip)
                opt.step()
        for x, y, g in batches(retain, cfg.batch_size, generator, weights):
            z = model.features(x)
            loss = F.cross_entropy(model.fc(z), y)
            if cfg.calibration and cfg.lambda_mi > 0:
                with torch.no_grad():
                    mi_o = est_o(original.features(x), g, generator)
                loss = loss + cfg.lambda_mi * (est_u(z, g, generator) - mi_o.detach()) ** 2
            if forgetting and cfg.schedule == "summed":
                xf, _yf, gf = next(forget_stream)
                loss = loss + est_u(model.features(xf), gf, generator)
            opt.zero_grad()
            loss.backward()
            if cfg.retain_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.retain_clip)
            opt.step()
        est_u.requires_grad_(True)
        est_o.requires_grad_(True)
        if progress is not None:
            progress()
    return model.eval()
