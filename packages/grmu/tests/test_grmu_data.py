"""Data: group shift, group-concentrated forget sets, REWEIGHT's weights, bad input."""

import pytest
import torch

from paperzoo.grmu.config import DataConfig
from paperzoo.grmu.data import (
    GroupData,
    GroupShiftDataModule,
    forget_split,
    group_of,
    index_batches,
    make_splits,
    reweight_weights,
    train_loader,
)


@pytest.fixture(scope="module")
def splits():
    return make_splits(DataConfig(n_train=4000, n_val=400, n_test=800), seed=3)


def test_group_encoding_is_a_plus_y_times_attrs():
    y, a = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    assert group_of(y, a).tolist() == [0, 1, 2, 3]


def test_train_is_shifted_and_test_is_balanced(splits):
    train, test = splits["train"], splits["test"]
    assert train.x.shape == (4000, 3, 16, 16)
    assert 0.87 < float((train.a == train.y).float().mean()) < 0.93
    assert torch.bincount(test.g, minlength=4).tolist() == [200, 200, 200, 200]


def test_splits_are_deterministic_in_the_seed():
    cfg = DataConfig(n_train=100, n_val=10, n_test=20)
    a = make_splits(cfg, seed=1)["train"].x
    b = make_splits(cfg, seed=1)["train"].x
    c = make_splits(cfg, seed=2)["train"].x
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_forget_set_is_a_ratio_of_one_group(splits):
    train = splits["train"]
    forget, retain = forget_split(train, (1, 0), 0.9, torch.Generator().manual_seed(0))
    members = int(((train.y == 1) & (train.a == 0)).sum())
    assert forget.numel() == int(0.9 * members)
    assert bool(((train.y[forget] == 1) & (train.a[forget] == 0)).all())
    assert forget.numel() + retain.numel() == len(train)
    assert not set(forget.tolist()) & set(retain.tolist())


def test_reweight_restores_original_group_frequencies(splits):
    train = splits["train"]
    _forget, retain = forget_split(train, (1, 0), 0.9, torch.Generator().manual_seed(0))
    w = reweight_weights(train.g, train.g[retain])
    n_tr = torch.bincount(train.g, minlength=4).float()
    n_r = torch.bincount(train.g[retain], minlength=4).float()
    torch.testing.assert_close(w, n_tr / n_r)
    # Untouched groups keep weight 1; only the depleted group is up-weighted. Not inverse frequency.
    assert w[[0, 1, 3]].tolist() == [1.0, 1.0, 1.0]
    assert w[2] > 5
    torch.testing.assert_close((w * n_r), n_tr)


@pytest.mark.parametrize("ratio", [0.0, -0.1, 1.5])
def test_bad_ratio(splits, ratio):
    with pytest.raises(ValueError, match=r"forget ratio: expected a value in \(0, 1\]"):
        forget_split(splits["train"], (1, 0), ratio, torch.Generator())


def test_group_not_in_data(splits):
    with pytest.raises(ValueError, match=r"forget group: .* not in the data"):
        forget_split(splits["train"], (2, 0), 0.5, torch.Generator())


def test_forget_set_selecting_nothing():
    data = GroupData(torch.zeros(5, 3, 16, 16), torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 0, 0, 0, 1]))
    with pytest.raises(ValueError, match="selects no sample"):
        forget_split(data, (1, 0), 0.5, torch.Generator())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "imagenet"}, "kind: expected one of groupshift, digits, waterbirds, celeba, got 'imagenet'"),
        ({"n_train": 0}, "n_train: expected a positive value, got 0"),
        ({"p_align": 0.4}, r"p_align: expected a probability in \(0.5, 1\), got 0.4"),
        ({"kind": "celeba"}, "root: expected the folder kind 'celeba' reads its data from, got None"),
    ],
)
def test_data_config_rejects_bad_values(options, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(**options)


def test_train_loader_follows_index_batches_epoch_after_epoch(splits):
    """The loader of ``fit`` and of ``reproduce``'s training draws each epoch's order from one generator, as
    :func:`index_batches` does, and leaves torch's global generator alone."""
    train = splits["train"]
    weights = torch.rand(len(train), generator=torch.Generator().manual_seed(1))
    for w in (None, weights):
        loader = train_loader(train, 512, torch.Generator().manual_seed(7), w)
        reference = torch.Generator().manual_seed(7)
        global_state = torch.get_rng_state()
        for _epoch in range(2):
            expected = list(index_batches(len(train), 512, reference, w))
            got = list(loader)
            assert len(got) == len(loader) == len(expected) == 8
            for (x, y, a, g), idx in zip(got, expected):
                assert torch.equal(x, train.x[idx])
                assert torch.equal(y, train.y[idx])
                assert torch.equal(a, train.a[idx])
                assert torch.equal(g, train.g[idx])
        assert torch.equal(torch.get_rng_state(), global_state)


def test_datamodule_trains_on_the_seeded_loader():
    cfg = DataConfig(n_train=300, n_val=40, n_test=40)
    dm = GroupShiftDataModule(cfg, batch_size=64, seed=4)
    assert torch.equal(dm.splits["train"].x, make_splits(cfg, seed=4)["train"].x)
    first = next(iter(dm.train_dataloader()))[1]
    order = next(index_batches(300, 64, torch.Generator().manual_seed(4)))
    assert torch.equal(first, dm.splits["train"].y[order])
