"""Group-shifted data: GroupShift (synthetic strokes on coloured backgrounds) and ColoredDigits.

Every sample is ``(x, y, a)``: an image, the target and the sensitive attribute. The group is
``g = a + y * n_attrs`` (the paper's encoding). In training the attribute agrees with the target
(``a == y``) with probability ``p_align``; validation and test are group-balanced, so the test set
measures each group on its own.

The forget set of group-robust unlearning is concentrated in one group: a fraction ``ratio`` of that
group's training samples (:func:`forget_split`).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.grmu.local_data import LOCAL_KINDS, load_local_splits

N_CLASSES = 2
N_ATTRS = 2


def group_of(y: torch.Tensor, a: torch.Tensor, n_attrs: int = N_ATTRS) -> torch.Tensor:
    """The group index ``g = a + y * n_attrs`` (the reference code's encoding). Shapes: ``[N] -> [N]``."""
    return a + y * n_attrs


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


@dataclass
class GroupData:
    """One split: images ``x [N, 3, S, S]``, targets ``y [N]``, attributes ``a [N]``, groups ``g [N]``."""

    x: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor

    @property
    def g(self) -> torch.Tensor:
        return group_of(self.y, self.a)

    def __len__(self) -> int:
        return self.y.shape[0]

    def subset(self, idx: torch.Tensor) -> GroupData:
        return GroupData(self.x[idx], self.y[idx], self.a[idx])

    def dataset(self) -> TensorDataset:
        return TensorDataset(self.x, self.y, self.a, self.g)


def make_splits(
    kind: str = "groupshift",
    n_train: int = 20000,
    n_val: int = 2000,
    n_test: int = 4000,
    p_align: float = 0.9,
    size: int = 16,
    seed: int = 0,
    root: str | None = None,
    target: str = "Attractive",
    sensitive: str = "Male",
) -> dict[str, GroupData]:
    """Train (group-shifted), validation and test (group-balanced) splits, deterministic in ``seed``.

    ``kind="waterbirds"`` or ``"celeba"`` reads the paper's benchmark from the local folder ``root``
    (:mod:`paperzoo.grmu.local_data`); ``n_train``, ``n_val``, ``n_test`` then cap the splits (a seeded
    random subset) and ``p_align`` is unused: the data bring their own group shift. ``target`` and
    ``sensitive`` name CelebA's attributes.

    Raises:
        ValueError: an unknown ``kind``, non-positive sizes, ``p_align`` outside (0.5, 1), or a local kind
            without ``root``.
    """
    kinds = ("groupshift", "digits", *LOCAL_KINDS)
    if kind not in kinds:
        raise ValueError(f"kind: expected one of {', '.join(kinds)}, got {kind!r}")
    if min(n_train, n_val, n_test) <= 0:
        raise ValueError(f"n_train, n_val, n_test: expected positive sizes, got {n_train}, {n_val}, {n_test}")
    if kind in LOCAL_KINDS:
        if root is None:
            raise ValueError(f"root: kind {kind!r} reads a local folder; pass its path")
        limit = {"train": n_train, "val": n_val, "test": n_test}
        return load_local_splits(kind, root, size=size, limit=limit, seed=seed, target=target, sensitive=sensitive)
    if not 0.5 < p_align < 1.0:
        raise ValueError(f"p_align: expected a probability in (0.5, 1), got {p_align}")
    gen = torch.Generator().manual_seed(seed)
    render = render_groupshift if kind == "groupshift" else render_colored_digits
    out = {}
    for name, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        y, a = shifted_labels(n, p_align, gen) if name == "train" else balanced_labels(n, gen)
        out[name] = GroupData(render(y, a, gen, size=size), y, a)
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


class GroupShiftDataModule(pl.LightningDataModule):
    """GroupShift (or ColoredDigits) for pre-training: train, val and test loaders of ``(x, y, a, g)``.

    Args:
        kind: ``"groupshift"`` (synthetic strokes), ``"digits"`` (scikit-learn digits, coloured), or a local
            benchmark, ``"waterbirds"`` or ``"celeba"`` (read from ``root``).
        n_train: training samples (group-shifted).
        n_val: validation samples (group-balanced).
        n_test: test samples (group-balanced).
        p_align: p(a = y) in training.
        size: image side.
        batch_size: batch size.
        seed: the data seed.
        root: the local benchmark's folder (only for ``waterbirds`` and ``celeba``).
    """

    def __init__(
        self,
        kind: str = "groupshift",
        n_train: int = 20000,
        n_val: int = 2000,
        n_test: int = 4000,
        p_align: float = 0.9,
        size: int = 16,
        batch_size: int = 128,
        seed: int = 0,
        root: str | None = None,
    ) -> None:
        super().__init__()
        if batch_size <= 0:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
        self.kwargs = {
            "kind": kind,
            "n_train": n_train,
            "n_val": n_val,
            "n_test": n_test,
            "p_align": p_align,
            "size": size,
            "seed": seed,
            "root": root,
        }
        self.batch_size = batch_size
        self.splits = make_splits(**self.kwargs)

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.kwargs["seed"])
        return DataLoader(self.splits["train"].dataset(), batch_size=self.batch_size, shuffle=True, generator=gen)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["val"].dataset(), batch_size=512)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["test"].dataset(), batch_size=512)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()


class ColoredDigitsDataModule(GroupShiftDataModule):
    """ColoredDigits: scikit-learn's digits (0-4 vs 5-9) on a background coloured by the attribute."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("n_train", 6000)
        super().__init__(kind="digits", **kwargs)
