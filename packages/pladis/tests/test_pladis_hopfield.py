"""Part A: the sparse-Hopfield argument, computed through the package's PLADIS processor."""

import torch

from paperzoo.pladis.hopfield import hopfield_experiment, retrieve


def test_pladis_error_is_the_extrapolation_of_the_two_errors():
    g = torch.Generator().manual_seed(0)
    patterns = torch.nn.functional.normalize(torch.randn(64, 32, generator=g, dtype=torch.float64), dim=1)
    truth = patterns[:20]
    queries = truth + 0.3 * torch.randn(truth.shape, generator=g, dtype=torch.float64)
    e_soft = retrieve(patterns, queries, 4.0, "softmax") - truth
    e_ent = retrieve(patterns, queries, 4.0, "entmax") - truth
    e_pladis = retrieve(patterns, queries, 4.0, "pladis", lam=2.0) - truth
    torch.testing.assert_close(e_pladis, -e_soft + 2 * e_ent)


def test_sparse_retrieval_beats_softmax_at_the_first_sigma_where_softmax_errs():
    for seed in (0, 11):
        result = hopfield_experiment(seed)
        _sigma, raw = result.at_threshold("raw")
        assert raw["softmax"] >= 0.2
        assert raw["entmax"] <= 0.7 * raw["softmax"]
        _, direction = result.at_threshold("direction")
        assert direction["pladis"] <= 0.7 * direction["softmax"]
        # The extrapolation overshoots in norm: its raw error is not the measure it wins on.
        assert raw["pladis"] > raw["entmax"]
