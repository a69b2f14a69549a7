"""Group-shifted data: GroupShift (synthetic strokes on coloured backgrounds) and ColoredDigits.

Every sample is ``(x, y, a)``: an image, the target and the sensitive attribute. The group is
``g = a + y * n_attrs`` (the paper's encoding). In training the attribute agrees with the target
(``a == y``) with probability ``p_align``; validation and test are group-balanced, so the test set
measures each group on its own.

The forget set of group-robust unlearning is concentrated in one group: a fraction ``ratio`` of that
group's training samples (:func:`forget_split`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from paperzoo.core.config import as_config
from paperzoo.grmu.config import LOCAL_KINDS, DataConfig
from paperzoo.grmu.groups import N_ATTRS, N_CLASSES, GroupData, group_of
from paperzoo.grmu.local_data import load_local_splits

__all__ = [
    "N_ATTRS",
    "N_CLASSES",
    "ColoredDigitsDataModule",
    "GroupBatches",
    "GroupData",
    "GroupShiftDataModule",
    "IndexBatchSampler",
    "forget_split",
    "group_of",
    "index_batches",
    "make_splits",
    "reweight_weights",
    "train_loader",
]


def _attributes(y: torch.Tensor, p_align: float, generator: torch.Generator) -> torch.Tensor:
    """``a == y`` with probability ``p_align``, else the other value. ``[N] -> [N]``."""
    flip = torch.rand(y.shape, generator=generator) >= p_align
    return torch.where(flip, 1 - y, y)


def balanced_labels(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets and attributes with every (y, a) group equally frequent, shuffled. Returns two ``[n]``."""
    g = torch.arange(n) % (N_CLASSES * N_ATTRS)
    g = g[torch.randperm(n, generator=generator)]
    return g // N_ATTRS, g % N_ATTRS


def shifted_labels(n: int, p_align: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced targets with attributes that agree with them with probability ``p_align``."""
    y = torch.randint(0, N_CLASSES, (n,), generator=generator)
    return y, _attributes(y, p_align, generator)


def render_groupshift(
    y: torch.Tensor,
    a: torch.Tensor,
    generator: torch.Generator,
    size: int = 16,
    noise: float = 0.3,
    contrast: tuple[float, float] = (0.1, 1.5),
) -> torch.Tensor:
    """Draw GroupShift images: a faint core stroke among distractors, on a background coloured by ``a``.

    The core is one vertical (``y = 1``) or horizontal (``y = 0``) stroke of length ``size // 2`` with a
    random contrast in ``contrast``: at low contrast the noise hides it, so the target is only partly
    predictable from the shape and the attribute's prior matters. Four short distractor strokes of either
    orientation force the model to use spatial features. The background colour (red-ish for ``a = 0``,
    green-ish for ``a = 1``) is easy to read: it is the spurious feature.

    Args:
        y: targets, ``[N]`` in {0, 1}.
        a: attributes, ``[N]`` in {0, 1}.
        generator: the source of randomness.
        size: image side.
        noise: the pixel noise standard deviation.

    Returns:
        images ``[N, 3, size, size]``, float32.
    """
    n = y.shape[0]
    length = size // 2
    img = torch.zeros(n, size, size)
    # Core stroke: position such that the whole stroke fits.
    pos_long = torch.randint(0, size - length + 1, (n,), generator=generator)
    pos_short = torch.randint(1, size - 1, (n,), generator=generator)
    strength_core = contrast[0] + (contrast[1] - contrast[0]) * torch.rand(n, generator=generator)
    steps = torch.arange(length)
    rows = torch.arange(n)[:, None].expand(n, length)
    along = pos_long[:, None] + steps[None]  # [N, L]
    across = pos_short[:, None].expand(n, length)  # [N, L]
    vertical = y.bool()[:, None].expand(n, length)
    r = torch.where(vertical, along, across)
    c = torch.where(vertical, across, along)
    img[rows, r, c] += strength_core[:, None]
    # Distractors: short strokes (3 px) of random orientation and position, moderate contrast.
    for _ in range(4):
        d_long = torch.randint(0, size - 2, (n,), generator=generator)
        d_short = torch.randint(0, size, (n,), generator=generator)
        d_vert = (torch.rand(n, generator=generator) < 0.5)[:, None].expand(n, 3)
        d_along = d_long[:, None] + torch.arange(3)[None]
        d_across = d_short[:, None].expand(n, 3)
        dr = torch.where(d_vert, d_along, d_across)
        dc = torch.where(d_vert, d_across, d_along)
        img[torch.arange(n)[:, None].expand(n, 3), dr, dc] += 0.6
    # Background colour: channel 0 for a = 0, channel 1 for a = 1, with a per-image random strength.
    colour = torch.zeros(n, 3, 1, 1)
    strength = 0.4 + 0.4 * torch.rand(n, generator=generator)
    colour[torch.arange(n), a, 0, 0] = strength
    colour[:, 2, 0, 0] = 0.2
    x = img[:, None] + colour  # [N, 3, S, S]
    x = x + noise * torch.randn(x.shape, generator=generator)
    return x.float()


def render_colored_digits(
    y: torch.Tensor, a: torch.Tensor, generator: torch.Generator, size: int = 16, noise: float = 0.3
) -> torch.Tensor:
    """scikit-learn's digits (0-4 -> y = 0, 5-9 -> y = 1) upsampled to ``size`` and coloured by ``a``.

    Returns:
        images ``[N, 3, size, size]``, float32.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # [1797, 8, 8]
    labels = torch.tensor(digits.target) >= 5
    out = torch.empty(y.shape[0], 8, 8)
    for cls in (0, 1):
        pool = torch.nonzero(labels == bool(cls)).squeeze(1)
        idx = (y == cls).nonzero().squeeze(1)
        pick = pool[torch.randint(0, pool.numel(), (idx.numel(),), generator=generator)]
        out[idx] = images[pick]
    out = torch.nn.functional.interpolate(out[:, None], size=(size, size), mode="bilinear", align_corners=False)
    colour = torch.zeros(y.shape[0], 3, 1, 1)
    colour[torch.arange(y.shape[0]), a, 0, 0] = 0.5
    x = out.expand(-1, 3, -1, -1) * 0.8 + colour
    return (x + noise * torch.randn(x.shape, generator=generator)).float()


def make_splits(cfg: DataConfig, seed: int = 0) -> dict[str, GroupData]:
    """Train (group-shifted), validation and test (group-balanced) splits, deterministic in ``seed``.

    ``cfg.kind`` ``"waterbirds"`` or ``"celeba"`` reads the paper's benchmark from the local folder ``cfg.root``
    (:mod:`paperzoo.grmu.local_data`); ``n_train``, ``n_val``, ``n_test`` then cap the splits (a seeded
    random subset) and ``p_align`` is unused: the data bring their own group shift.
    """
    if cfg.kind in LOCAL_KINDS:
        limit = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
        return load_local_splits(
            cfg.kind, cfg.root, size=cfg.size, limit=limit, seed=seed, target=cfg.target, sensitive=cfg.sensitive
        )
    gen = torch.Generator().manual_seed(seed)
    render = render_groupshift if cfg.kind == "groupshift" else render_colored_digits
    out = {}
    for name, n in (("train", cfg.n_train), ("val", cfg.n_val), ("test", cfg.n_test)):
        y, a = shifted_labels(n, cfg.p_align, gen) if name == "train" else balanced_labels(n, gen)
        out[name] = GroupData(render(y, a, gen, size=cfg.size), y, a)
    return out


def forget_split(
    data: GroupData, group: tuple[int, int], ratio: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A group-concentrated forget set: a random ``ratio`` of the training samples of group ``(y*, a*)``.

    Args:
        data: the training split.
        group: the forget group ``(y*, a*)``.
        ratio: the unlearning ratio r in (0, 1].
        generator: the source of randomness.

    Returns:
        ``(forget_idx, retain_idx)``: disjoint index tensors covering the training set.

    Raises:
        ValueError: a ratio outside (0, 1], a group not present in the data, or a forget set that would be
            empty.
    """
    if not (isinstance(ratio, int | float) and 0.0 < ratio <= 1.0):
        raise ValueError(f"forget ratio: expected a value in (0, 1], got {ratio}")
    y_star, a_star = group
    present = sorted({(int(y), int(a)) for y, a in zip(data.y.tolist(), data.a.tolist())})
    if (y_star, a_star) not in present:
        raise ValueError(f"forget group: (y={y_star}, a={a_star}) is not in the data; groups present: {present}")
    members = torch.nonzero((data.y == y_star) & (data.a == a_star)).squeeze(1)
    n_forget = int(ratio * members.numel())
    if n_forget == 0:
        raise ValueError(
            f"forget set: ratio {ratio} of the {members.numel()} samples of group (y={y_star}, a={a_star}) "
            "selects no sample"
        )
    forget = members[torch.randperm(members.numel(), generator=generator)[:n_forget]].sort().values
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[forget] = False
    return forget, torch.nonzero(mask).squeeze(1)


def reweight_weights(
    g_train: torch.Tensor, g_retain: torch.Tensor, n_groups: int = N_CLASSES * N_ATTRS
) -> torch.Tensor:
    """REWEIGHT: the per-group sampling weight ``w_g = |D_tr,g| / |D_r,g|`` (1 for untouched groups).

    Groups absent from the retain set get weight 0 (nothing to sample). Shapes: ``[N_tr], [N_r] -> [G]``.
    """
    n_tr = torch.bincount(g_train, minlength=n_groups).float()
    n_r = torch.bincount(g_retain, minlength=n_groups).float()
    return torch.where(n_r > 0, n_tr / n_r.clamp_min(1), torch.zeros_like(n_r))


def index_batches(
    n: int, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None
) -> Iterator[torch.Tensor]:
    """One epoch of index batches over ``n`` items: a shuffle, or ``n`` weighted draws with replacement.

    With weights this is a weighted random sampler (what the reference code feeds REWEIGHT's weights to). The
    whole epoch's order is drawn from ``generator`` at the first batch.
    """
    order = (
        torch.randperm(n, generator=generator)
        if weights is None
        else torch.multinomial(weights.double(), n, replacement=True, generator=generator)
    )
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


class IndexBatchSampler(Sampler):
    """The batches of :func:`index_batches`, epoch after epoch, from one generator: a loader's sampler.

    Args:
        n: number of samples.
        batch_size: batch size (the last batch may be smaller).
        generator: the source of every epoch's order.
        weights: per-sample sampling weights ``[n]`` (REWEIGHT), or None for a shuffle.
    """

    def __init__(
        self, n: int, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None
    ) -> None:
        if weights is not None and weights.shape != (n,):
            raise ValueError(f"weights: expected shape [{n}], got {list(weights.shape)}")
        self.n, self.batch_size, self.generator, self.weights = n, batch_size, generator, weights

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return index_batches(self.n, self.batch_size, self.generator, self.weights)


class GroupBatches(Dataset):
    """A split indexed by a whole batch of indices at once: ``data[idx] -> (x, y, a, g)``."""

    def __init__(self, data: GroupData) -> None:
        self.x, self.y, self.a, self.g = data.x, data.y, data.a, data.g

    def __len__(self) -> int:
        return self.y.shape[0]

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx], self.a[idx], self.g[idx]


def train_loader(
    data: GroupData, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None
) -> DataLoader:
    """The training loader of ``fit`` and of every classifier trained from scratch in ``reproduce``.

    Batches of ``(x, y, a, g)``, in the order :func:`index_batches` draws from ``generator`` (shuffled, or
    sampled with ``weights``). The loader's own generator is a private one: a DataLoader draws a worker seed
    from it every epoch, and that draw must not move ``generator`` or torch's global generator.
    """
    sampler = IndexBatchSampler(len(data), batch_size, generator, weights)
    return DataLoader(GroupBatches(data), batch_size=None, sampler=sampler, generator=torch.Generator())


class GroupShiftDataModule(pl.LightningDataModule):
    """GroupShift (or ColoredDigits, or a local benchmark) for pre-training: loaders of ``(x, y, a, g)``.

    The training loader is :func:`train_loader`, the one ``reproduce`` pre-trains and retrains with.

    Args:
        data: which data, how many samples, the image side.
        batch_size: the training batch size.
        seed: the seed of the splits and of the training order.
    """

    def __init__(self, data: DataConfig = DataConfig(), batch_size: int = 128, seed: int = 0) -> None:  # noqa: B008
        super().__init__()
        if batch_size <= 0:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
        self.cfg = as_config(DataConfig, data)
        self.batch_size = batch_size
        self.seed = seed
        self.splits = make_splits(self.cfg, seed)

    def train_dataloader(self) -> DataLoader:
        return train_loader(self.splits["train"], self.batch_size, torch.Generator().manual_seed(self.seed))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["val"].dataset(), batch_size=512)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["test"].dataset(), batch_size=512)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()


class ColoredDigitsDataModule(GroupShiftDataModule):
    """ColoredDigits: scikit-learn's digits (0-4 vs 5-9) on a background coloured by the attribute.

    Args:
        data: as for :class:`GroupShiftDataModule`; ``kind`` is always ``"digits"``.
        batch_size: the training batch size.
        seed: the seed of the splits and of the training order.
    """

    def __init__(
        self,
        data: DataConfig = DataConfig(kind="digits", n_train=6000),  # noqa: B008
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(replace(as_config(DataConfig, data), kind="digits"), batch_size, seed)
