"""The one warm-up + cosine schedule and OptimConfig."""

from __future__ import annotations

import math

import pytest
import torch

from paperzoo.core import OptimConfig, warmup_constant, warmup_cosine


def test_warmup_rises_linearly_then_the_cosine_decays_to_the_floor():
    factor = warmup_cosine(4, 14)
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(9) == pytest.approx(0.5)
    assert factor(14) == pytest.approx(0.0)
    assert factor(100) == pytest.approx(0.0)
    assert warmup_cosine(0, 10, min_ratio=0.1)(10) == pytest.approx(0.1)
    assert warmup_cosine(5, 5)(7) == 1.0


def test_constant_after_warmup():
    factor = warmup_constant(3)
    assert [factor(s) for s in range(5)] == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    assert warmup_constant(0)(0) == 1.0


def test_build_steps_the_rate_per_optimiser_step():
    param = torch.nn.Parameter(torch.zeros(2))
    built = OptimConfig(lr=0.1, warmup_steps=2, weight_decay=0.01).build([param], total_steps=10)
    opt, sched = built["optimizer"], built["lr_scheduler"]["scheduler"]
    assert isinstance(opt, torch.optim.AdamW)
    assert built["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(10):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert rates[:2] == pytest.approx([0.05, 0.1])
    assert rates[6] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    capped = OptimConfig(lr=1.0, warmup_steps=50).factor(100, warmup_steps=10)
    assert capped(9) == 1.0


@pytest.mark.parametrize(("field", "value"), [("lr", 0.0), ("warmup_steps", -1), ("schedule", "linear")])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"optim.{field}"):
        OptimConfig(**{field: value})
