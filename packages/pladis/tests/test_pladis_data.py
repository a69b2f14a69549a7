"""Data and evaluation helpers: prompts carry their attributes among fillers; unknown words are reported."""

import pytest
import torch

from paperzoo.eval import frechet_distance
from paperzoo.pladis.data import make_dataset, make_prompts, random_attributes, render, tokenize
from paperzoo.pladis.eval import NFECounter
from paperzoo.pladis.module import generate
from paperzoo.pladis.vocab import N_CLASSES, VOCAB


def test_prompts_hold_their_three_attribute_words_and_k_fillers():
    g = torch.Generator().manual_seed(0)
    attributes = random_attributes(50, g)
    tokens = make_prompts(attributes, 8, g)
    assert tokens.shape == (50, 11)
    first_filler = 1 + sum(N_CLASSES)
    assert bool(((tokens >= first_filler).sum(1) == 8).all())
    words = [[VOCAB[int(t)] for t in row if t < first_filler] for row in tokens]
    for row, attrs in zip(words, attributes):
        _, expected = tokenize(" ".join(row))
        assert torch.equal(expected, attrs)


def test_datasets_are_seeded_and_images_differ_by_attribute():
    a, b = make_dataset(16, 4, 3), make_dataset(16, 4, 3)
    assert torch.equal(a["images"], b["images"])
    assert torch.equal(a["tokens"], b["tokens"])
    red, blue = render(torch.tensor([[0, 0, 0], [0, 2, 0]]), torch.Generator().manual_seed(0))
    assert red.shape == (3, 16, 16)
    assert red.min() >= -1
    assert red.max() <= 1
    assert red[0].max() > 0.9
    assert blue[2].max() > 0.9
    assert red[2].max() < 0


def test_unknown_words_are_reported_not_dropped():
    with pytest.raises(ValueError, match=r"unknown words \['purple', 'blorp'\]"):
        tokenize("purple circle left blorp")
    with pytest.raises(ValueError, match="exactly one shape"):
        tokenize("red left w01")
    tokens, attributes = tokenize("Red circle left w07")
    assert tokens.shape == (4,)
    assert attributes.tolist() == [0, 0, 0]


def test_frechet_distance_is_zero_for_equal_sets_and_grows_with_a_shift():
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(0))
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1.0) == pytest.approx(6.0, rel=1e-6)


def test_nfe_counter_counts_one_call_per_step_and_two_with_cfg():
    calls = NFECounter(lambda x, t, tokens: -x)
    tokens = torch.ones(4, 5, dtype=torch.long)
    generate(calls, tokens, torch.randn(4, 3, 16, 16), steps=7, batch_size=3)
    assert calls.calls == 14
    assert calls.nfe_per_sample(4) == 7
    guided = NFECounter(lambda x, t, tokens: -x)
    generate(guided, tokens, torch.randn(4, 3, 16, 16), steps=7, cfg=3.0)
    assert guided.nfe_per_sample(4) == 14
