"""Unlearning methods: exact (retrain, with or without REWEIGHT) and approximate (the baselines and MIU).

``APPROXIMATE[name](original, task, cfg, generator, progress)`` returns the unlearned model; the task's
``reweight`` flag selects REWEIGHT's sampler for D_r.
"""

from paperzoo.grmu.methods.baselines import finetune, l1_sparse, neggrad_plus, salun, scrub
from paperzoo.grmu.methods.common import UnlearnTask, retrain
from paperzoo.grmu.methods.miu import miu

APPROXIMATE = {
    "finetune": finetune,
    "l1_sparse": l1_sparse,
    "scrub": scrub,
    "salun": salun,
    "neggrad_plus": neggrad_plus,
    "miu": miu,
}

__all__ = [
    "APPROXIMATE",
    "UnlearnTask",
    "finetune",
    "l1_sparse",
    "miu",
    "neggrad_plus",
    "retrain",
    "salun",
    "scrub",
]
