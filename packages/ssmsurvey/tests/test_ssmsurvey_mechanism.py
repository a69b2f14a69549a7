"""Mechanism test: a reduced acceptance experiment that a wrong implementation of the eras' mechanisms fails.

Long memory: S4D with its HiPPO-derived initialisation learns copy-memory (lag 64) in a small budget.
Selection: Mamba learns a short selective-copying task; with selection ablated (Δ, B, C fixed) it cannot.
"""

from __future__ import annotations

from paperzoo.ssmsurvey.config import ModelConfig, Run, run_optim
from paperzoo.ssmsurvey.experiment import train_and_evaluate

COPY = {"lag": 64, "n_data": 8, "n_tokens": 8}
SELECT = {"length": 32, "n_data": 4, "n_tokens": 8}


def test_structured_ssm_has_long_memory():
    model = ModelConfig("s4d", d_model=64, n_layers=1, mixer_kwargs={"init": "lin", "d_state": 64, "l_max": 256})
    run = Run("s4d", model, "copy_memory", COPY, 150)
    acc, _ = train_and_evaluate(run, seed=0, eval_size=256)
    assert acc >= 0.9


def test_selection_is_what_solves_selective_copying():
    # 600 steps at lr 8e-3 (2026-12-06, one thread): Mamba reaches 0.995 / 0.948 on seeds 0 / 1, the Δ/B/C-fixed
    # ablation 0.573 / 0.479. At 800 steps (before, 57 s of CPU against 42 s) Mamba read 0.98-1.0 and the ablation
    # 0.62-0.64; at 400 steps seed 1 fell below the bar (0.751).
    select = {"task": "selective_copy", "task_kwargs": SELECT, "steps": 600, "optim": run_optim(600, lr=8e-3)}
    acc, _ = train_and_evaluate(Run("mamba", ModelConfig("mamba", d_model=32), **select), seed=0, eval_size=256)
    fixed_model = ModelConfig("mamba", d_model=32, mixer_kwargs={"selective": False})
    fixed, _ = train_and_evaluate(Run("fixed", fixed_model, **select), 0, 256)
    assert acc >= 0.8
    assert acc - fixed >= 0.3
