"""Approximate-unlearning baselines, each starting from the original model with the same epoch budget.

Every method samples D_r with REWEIGHT's weights when ``task.reweight`` (the paper's "+ REWEIGHT" rows).
"""

from __future__ import annotations

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
from paperzoo.grmu.model import Classifier


def finetune(
    original: Classifier, task: UnlearnTask, cfg: UnlearnConfig, generator: torch.Generator, progress=None
) -> Classifier:
    """Fine-tuning (FT): cross-entropy on D_r only; forgetting comes from catastrophic forgetting."""
    return l1_sparse(original, task, cfg, generator, progress, alpha=0.0)


def l1_sparse(
    original: Classifier,
    task: UnlearnTask,
    cfg: UnlearnConfig,
    generator: torch.Generator,
    progress=None,
    alpha: float | None = None,
) -> Classifier:
    """L1-sparse (Jia et al. 2023): fine-tuning on D_r plus α_t·‖θ‖₁, with α_t decaying linearly to 0."""
    alpha = cfg.l1_alpha if alpha is None else alpha
    model = copy_model(original)
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    retain, weights = task.retain, task.retain_sample_weights()
    for epoch in range(cfg.epochs):
        set_epoch_lr(opt, cfg, epoch)
        alpha_t = alpha * (1 - epoch / cfg.epochs)
        for x, y, _g in batches(retain, cfg.batch_size, generator, weights):
            loss = F.cross_entropy(model(x), y)
            if alpha_t > 0:
                loss = loss + alpha_t * sum(p.abs().sum() for p in model.parameters())
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress is not None:
            progress()
    return model.eval()


def _kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) at a temperature, batch mean. ``[B, C], [B, C] -> []``."""
    log_s = F.log_softmax(student_logits / temperature, 1)
    log_t = F.log_softmax(teacher_logits / temperature, 1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean") * temperature**2


def scrub(
    original: Classifier, task: UnlearnTask, cfg: UnlearnConfig, generator: torch.Generator, progress=None
) -> Classifier:
    """SCRUB (Kurmanji et al. 2023): a student moves away from the teacher (the original) on D_f (max steps,
    the first ``scrub_max_epochs`` epochs) and stays close to it on D_r (min steps: γ·CE + α·KL)."""
    teacher = original.eval()
    model = copy_model(original)
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    forget, retain, weights = task.forget, task.retain, task.retain_sample_weights()
    t = cfg.scrub_temperature
    for epoch in range(cfg.epochs):
        set_epoch_lr(opt, cfg, epoch)
        if epoch < cfg.scrub_max_epochs:
            for x, _y, _g in batches(forget, cfg.batch_size, generator):
                with torch.no_grad():
                    target = teacher(x)
                loss = -_kl(model(x), target, t)
                opt.zero_grad()
                loss.backward()
                # The max step's objective is unbounded; clipping keeps it from destroying the features.
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
        for x, y, _g in batches(retain, cfg.batch_size, generator, weights):
            with torch.no_grad():
                target = teacher(x)
            logits = model(x)
            loss = cfg.scrub_gamma * F.cross_entropy(logits, y) + cfg.scrub_alpha * _kl(logits, target, t)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress is not None:
            progress()
    return model.eval()


def saliency_mask(model: Classifier, task: UnlearnTask, sparsity: float) -> dict[str, torch.Tensor]:
    """SalUn's weight saliency: 1 for the (1 − sparsity) fraction of weights with the largest |∇ CE on D_f|."""
    model.zero_grad()
    forget = task.forget
    F.cross_entropy(model(forget.x), forget.y).backward()
    grads = {n: p.grad.detach().abs() for n, p in model.named_parameters()}
    flat = torch.cat([g.flatten() for g in grads.values()])
    k = max(1, int((1 - sparsity) * flat.numel()))
    threshold = flat.topk(k).values.min()
    model.zero_grad()
    return {n: (g >= threshold).float() for n, g in grads.items()}


def salun(
    original: Classifier, task: UnlearnTask, cfg: UnlearnConfig, generator: torch.Generator, progress=None
) -> Classifier:
    """SalUn (Fan et al. 2024): random-label training on D_f plus CE on D_r, updating only salient weights.

    Forget batches (with a random wrong label) are paired with retain batches for ``forgetting_epochs``
    epochs; the remaining epochs fine-tune on D_r, still through the mask.
    """
    model = copy_model(original)
    mask = saliency_mask(model, task, cfg.salun_sparsity)
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    retain, weights = task.retain, task.retain_sample_weights()
    forget_stream = cycle(task.forget, cfg.batch_size, generator)
    n_classes = model.fc.out_features
    for epoch in range(cfg.epochs):
        set_epoch_lr(opt, cfg, epoch)
        for x, y, _g in batches(retain, cfg.batch_size, generator, weights):
            loss = F.cross_entropy(model(x), y)
            if epoch < cfg.forgetting_epochs:
                xf, yf, _gf = next(forget_stream)
                shift = torch.randint(1, n_classes, yf.shape, generator=generator)
                loss = loss + F.cross_entropy(model(xf), (yf + shift) % n_classes)
            opt.zero_grad()
            loss.backward()
            for name, p in model.named_parameters():
                p.grad.mul_(mask[name])
            opt.step()
        if progress is not None:
            progress()
    return model.eval()


def neggrad_plus(
    original: Classifier, task: UnlearnTask, cfg: UnlearnConfig, generator: torch.Generator, progress=None
) -> Classifier:
    """NegGrad+ (Kurmanji et al. 2023): β·CE on D_r − (1 − β)·CE on D_f, for ``forgetting_epochs`` epochs;
    then CE on D_r."""
    model = copy_model(original)
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    retain, weights = task.retain, task.retain_sample_weights()
    forget_stream = cycle(task.forget, cfg.batch_size, generator)
    beta = cfg.neggrad_beta
    for epoch in range(cfg.epochs):
        set_epoch_lr(opt, cfg, epoch)
        for x, y, _g in batches(retain, cfg.batch_size, generator, weights):
            loss = F.cross_entropy(model(x), y)
            if epoch < cfg.forgetting_epochs:
                xf, yf, _gf = next(forget_stream)
                loss = beta * loss - (1 - beta) * F.cross_entropy(model(xf), yf)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress is not None:
            progress()
    return model.eval()
