"""Metrics: EO, GA, ToW, Avg. Gap and the MIA probe on hand-checked inputs."""

import pytest
import torch

from paperzoo.grmu.experiment import standardise
from paperzoo.grmu.metrics import GAP_METRICS, accuracy, avg_gap, equalized_odds, mia_score, tow


def test_equalized_odds_by_hand():
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    a = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 1, 1])
    # y=0: acc(a=0)=100, acc(a=1)=50 -> 50; y=1: acc(a=0)=50, acc(a=1)=100 -> 50.
    assert equalized_odds(pred, y, a) == pytest.approx(50.0)
    assert equalized_odds(y, y, a) == 0.0
    assert accuracy(pred, y) == pytest.approx(75.0)


def test_tow_and_avg_gap():
    ref = dict.fromkeys(GAP_METRICS, 50.0)
    m = {**ref, "RA": 60.0, "EO": 40.0}
    assert tow(ref, ref) == pytest.approx(100.0)
    assert tow(m, ref) == pytest.approx(100 * 0.9)
    assert avg_gap(m, ref) == pytest.approx(20 / 6)


def test_mia_separates_members_from_non_members():
    gen = torch.Generator().manual_seed(0)
    low, high = torch.rand(500, generator=gen) * 0.1, 1 + torch.rand(500, generator=gen)
    # Forget samples with member-like (low) losses are called members; with high losses, non-members.
    assert mia_score(low, high, low[:100], high[:100], seed=0) < 5
    assert mia_score(low, high, high[:100], high[:100], seed=0) > 95


def test_standardise_floors_an_almost_dead_unit():
    """A unit that fires on one sample in a thousand must not reach the probes as a value in the tens."""
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(1000, 4, generator=gen)
    ref[:, 0] = 0.0
    ref[0, 0] = 1e-3  # std 3e-5: dividing by it alone would give 31.6 on that sample
    out = standardise(ref, ref)
    torch.testing.assert_close(out[:, 1:].std(0), torch.ones(3), atol=1e-4, rtol=0)
    assert float(out[:, 0].abs().max()) < 0.1
