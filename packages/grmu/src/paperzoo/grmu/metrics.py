"""The paper's evaluation (``method/metrics.py`` of the reference code), in percent.

- RA, UA, TA: accuracy on the retain set, the forget set and the test set.
- MIA: a random forest on per-sample cross-entropy, trained on retain (members) vs validation
  (non-members), tested on forget vs test; "MIA" is the fraction of forget samples predicted non-member.
- EO: mean over target classes of |acc(a) − acc(a′)| over pairs of sensitive values, on the test set.
- GA: test accuracy on the forget group (y*, a*).
- ToW = 100 · Π_{m ∈ {RA, UA, TA}} (1 − |m − m_ref| / 100); Avg. Gap = mean |m − m_ref| over
  {RA, UA, TA, MIA, EO, GA}.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.grmu.data import GroupData

GAP_METRICS = ("RA", "UA", "TA", "MIA", "EO", "GA")


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions and per-sample cross-entropy. ``[N, C, S, S], [N] -> [N], [N]``."""
    model.eval()
    preds, losses = [], []
    for i in range(0, x.shape[0], batch):
        logits = model(x[i : i + batch])
        preds.append(logits.argmax(1))
        losses.append(F.cross_entropy(logits, y[i : i + batch], reduction="none"))
    return torch.cat(preds), torch.cat(losses)


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy in percent (nan for an empty set)."""
    return float((pred == y).float().mean() * 100) if y.numel() else float("nan")


def equalized_odds(pred: torch.Tensor, y: torch.Tensor, a: torch.Tensor) -> float:
    """EO: mean over target classes of the mean |acc(a) − acc(a′)| over pairs of attribute values, in points."""
    gaps = []
    for cls in y.unique().tolist():
        accs = [accuracy(pred[(y == cls) & (a == v)], y[(y == cls) & (a == v)]) for v in a.unique().tolist()]
        accs = [v for v in accs if not np.isnan(v)]
        pairs = list(itertools.combinations(accs, 2))
        if pairs:
            gaps.append(float(np.mean([abs(p - q) for p, q in pairs])))
    return float(np.mean(gaps)) if gaps else 0.0


def mia_score(
    loss_retain: torch.Tensor, loss_val: torch.Tensor, loss_forget: torch.Tensor, loss_test: torch.Tensor, seed: int
) -> float:
    """Loss-based membership inference: % of forget samples a random forest calls non-members.

    The forest is trained on retain (label 1) vs validation (label 0) losses, with as many retain samples
    as validation ones so that its prior is even.
    """
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    n = min(loss_retain.numel(), loss_val.numel())
    r = loss_retain.numpy()[rng.choice(loss_retain.numel(), n, replace=False)]
    v = loss_val.numpy()[rng.choice(loss_val.numel(), n, replace=False)]
    features = np.concatenate([r, v])[:, None]
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    forest = RandomForestClassifier(n_estimators=50, min_samples_leaf=20, random_state=seed, n_jobs=1)
    forest.fit(features, labels)
    return float((forest.predict(loss_forget.numpy()[:, None]) == 0).mean() * 100)


def evaluate(
    model: nn.Module,
    splits: dict[str, GroupData],
    forget_idx: torch.Tensor,
    retain_idx: torch.Tensor,
    group: tuple[int, int],
    seed: int = 0,
) -> dict[str, float]:
    """RA, UA, TA, MIA, EO and GA of ``model`` (all in percent)."""
    train, test, val = splits["train"], splits["test"], splits["val"]
    retain, forget = train.subset(retain_idx), train.subset(forget_idx)
    p_r, l_r = predict(model, retain.x, retain.y)
    p_f, l_f = predict(model, forget.x, forget.y)
    p_t, l_t = predict(model, test.x, test.y)
    _, l_v = predict(model, val.x, val.y)
    in_group = (test.y == group[0]) & (test.a == group[1])
    return {
        "RA": accuracy(p_r, retain.y),
        "UA": accuracy(p_f, forget.y),
        "TA": accuracy(p_t, test.y),
        "MIA": mia_score(l_r, l_v, l_f, l_t, seed),
        "EO": equalized_odds(p_t, test.y, test.a),
        "GA": accuracy(p_t[in_group], test.y[in_group]),
    }


def tow(metrics: dict[str, float], ref: dict[str, float]) -> float:
    """Trade-off-weighted score: 100 · Π_{RA, UA, TA} (1 − |m − m_ref| / 100)."""
    out = 100.0
    for k in ("RA", "UA", "TA"):
        out *= 1 - abs(metrics[k] - ref[k]) / 100
    return out


def avg_gap(metrics: dict[str, float], ref: dict[str, float]) -> float:
    """Avg. Gap: mean of |m − m_ref| over RA, UA, TA, MIA, EO, GA."""
    return float(np.mean([abs(metrics[k] - ref[k]) for k in GAP_METRICS]))
