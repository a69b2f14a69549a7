"""Unit tests of PLADIS' equation, its patching rules and its bad-input errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from entmax import entmax15 as ref_entmax15
from entmax import sparsemax as ref_sparsemax

from paperzoo.kernels import entmax_attention
from paperzoo.pladis.attention import (
    DenseAttention,
    PladisCrossAttention,
    apply_pladis,
    attention_layers,
    remove_pladis,
)
from paperzoo.pladis.config import ModelConfig
from paperzoo.pladis.model import TinyDiT


def _qkv(seed=0, b=2, h=3, lq=7, lk=11, d=8):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, n, d, generator=g, dtype=torch.float64) * 1.5 for n in (lq, lk, lk))


def _explicit(q, k, v, alpha, lam):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    ref = ref_entmax15 if alpha == 1.5 else ref_sparsemax
    probs = (1 - lam) * torch.softmax(scores, -1) + lam * ref(scores, dim=-1)
    return probs @ v, torch.softmax(scores, -1), ref(scores, dim=-1)


@pytest.mark.parametrize("alpha", [1.5, 2.0])
@pytest.mark.parametrize("lam", [0.0, 1.0, 2.0, 3.0])
def test_pladis_matches_the_equation_with_the_entmax_package(alpha, lam):
    q, k, v = _qkv()
    expected, _, _ = _explicit(q, k, v, alpha, lam)
    got = PladisCrossAttention(alpha, lam)(q, k, v)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_lambda_zero_is_dense_attention_and_lambda_one_is_entmax_attention():
    q, k, v = _qkv(1)
    torch.testing.assert_close(PladisCrossAttention(1.5, 0.0)(q, k, v), F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(PladisCrossAttention(1.5, 1.0)(q, k, v), entmax_attention(q, k, v, alpha=1.5))


def test_linear_two_kernel_form_equals_the_mixed_map():
    """The GPU path's identity: mixing maps then multiplying by V == mixing the two attention outputs."""
    q, k, v = _qkv(2)
    lam = 2.0
    two_kernel = (1 - lam) * F.scaled_dot_product_attention(q, k, v) + lam * entmax_attention(q, k, v, alpha=1.5)
    torch.testing.assert_close(PladisCrossAttention(1.5, lam)(q, k, v), two_kernel, atol=1e-10, rtol=1e-10)


def test_extrapolation_moves_mass_from_leaked_keys_to_the_support():
    q, k, v = _qkv(3)
    _, dense, sparse = _explicit(q, k, v, 1.5, 2.0)
    mixed = -dense + 2 * sparse
    torch.testing.assert_close(mixed.sum(-1), torch.ones_like(mixed.sum(-1)))
    off_support = sparse == 0
    assert off_support.any(), "entmax15 must give exact zeros on these scores"
    assert bool((mixed[off_support] < 0).all())
    assert bool((mixed[~off_support] > dense[~off_support] - 1e-12).sum() > 0)


def test_shifted_convention_is_lambda_plus_one():
    q, k, v = _qkv(4)
    shifted = PladisCrossAttention(1.5, 1.0, convention="shifted")(q, k, v)
    torch.testing.assert_close(shifted, PladisCrossAttention(1.5, 2.0)(q, k, v))


def test_apply_pladis_patches_every_cross_attention_and_no_self_attention():
    model = TinyDiT(ModelConfig(dim=32, depth=3, heads=2))
    assert apply_pladis(model) == 3
    for layer in attention_layers(model, "cross"):
        assert isinstance(layer.processor, PladisCrossAttention)
        assert (layer.processor.alpha, layer.processor.lam) == (1.5, 2.0)
    for layer in attention_layers(model, "self"):
        assert isinstance(layer.processor, DenseAttention)
    assert apply_pladis(model, layers="self") == 3
    assert all(isinstance(m.processor, DenseAttention) for m in attention_layers(model, "cross"))
    assert remove_pladis(model) == 3
    assert not any(isinstance(m.processor, PladisCrossAttention) for m in attention_layers(model, "all"))


def test_pladis_adds_no_parameters_and_lambda_zero_keeps_outputs():
    torch.manual_seed(0)
    model = TinyDiT(ModelConfig(dim=32, depth=2, heads=2))
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    x, t, tokens = torch.randn(3, 3, 16, 16), torch.rand(3), torch.randint(0, 20, (3, 9))
    n_params = sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        vanilla = model(x, t, tokens)
        apply_pladis(model, lam=0.0)
        same = model(x, t, tokens)
        apply_pladis(model, lam=2.0)
        changed = model(x, t, tokens)
    assert sum(p.numel() for p in model.parameters()) == n_params
    torch.testing.assert_close(same, vanilla, atol=1e-5, rtol=1e-5)
    assert (changed - vanilla).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 1.0}, "alpha: expected a finite number > 1"),
        ({"alpha": 0.5}, "alpha"),
        ({"lam": -0.5}, "lam: expected a finite number >= 0"),
        ({"convention": "other"}, "lambda_convention"),
    ],
)
def test_bad_arguments_raise_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PladisCrossAttention(**kwargs)
    with pytest.raises(ValueError, match=match):
        apply_pladis(TinyDiT(ModelConfig(dim=16, depth=1, heads=2)), **kwargs)


def test_model_without_cross_attention_is_refused():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.MultiheadAttention(4, 2))
    with pytest.raises(ValueError, match="has no cross-attention layer"):
        apply_pladis(model)


def test_model_input_errors_name_the_argument():
    model = TinyDiT(ModelConfig(dim=16, depth=1, heads=2))
    with pytest.raises(ValueError, match=r"x: expected shape \(B, 3, 16, 16\)"):
        model(torch.randn(2, 3, 8, 8), torch.rand(2), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="t: expected shape"):
        model(torch.randn(2, 3, 16, 16), torch.rand(3), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="tokens"):
        model(torch.randn(2, 3, 16, 16), torch.rand(2), torch.full((2, 4), 999))
