"""SynthHour: synthetic long-video QA whose questions need temporal order, one frame's detail, or counting.

A video is ``T`` frames of ``S x S`` RGB pixels over a noisy background. About one digit glyph per frame
(scikit-learn's 8x8 digits, white, each filling one patch cell; some frames hold two or more, some none) is
scattered over the video; three glyphs carry a coloured marker (red, green, blue: a 3x3 square in the cell's
corner). Questions, 10 tokens each:

- ORDER: "did digit a appear before digit b ?" (yes/no; a and b appear once each, in different frames);
- DETAIL: "which digit appeared with the <colour> marker ?" (10-way);
- COUNT: "how many times did digit a appear ?" (0-3).

Every answer is balanced and independent of the question's words, so text alone is at chance. Sample ``i``
of a split is a pure function of ``(seed, split, i)``: datasets are generated on the fly and repeatable.
"""

from __future__ import annotations

import dataclasses

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from paperzoo.vamba.config import SynthHourConfig

WORDS = [
    "<pad>", "<q>", "<a>", "did", "digit", "appear", "before", "which", "appeared", "with", "the", "marker",
    "how", "many", "times", "?", "red", "green", "blue", "yes", "no",
]  # fmt: skip
VOCAB = {w: i for i, w in enumerate(WORDS)} | {str(d): len(WORDS) + d for d in range(10)}
VOCAB_SIZE = len(WORDS) + 10
QTYPES = ("order", "detail", "count")
CHANCE = {"order": 0.5, "detail": 0.1, "count": 0.25}
COLOURS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
SPLITS = {"train": 0, "val": 1, "test": 2}
TEXT_LEN = 10

_GLYPHS: dict[str, np.ndarray] = {}


def glyphs(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digit images in ``[0, 1]`` (``[n, 8, 8]``) and labels; test glyphs are held out."""
    if "images" not in _GLYPHS:
        from sklearn.datasets import load_digits

        d = load_digits()
        _GLYPHS["images"] = (d.images / 16.0).astype(np.float32)
        _GLYPHS["labels"] = d.target.astype(np.int64)
    idx = np.arange(len(_GLYPHS["labels"]))
    keep = idx % 5 == 0 if split == "test" else idx % 5 != 0
    return _GLYPHS["images"][keep], _GLYPHS["labels"][keep]


def make_sample(cfg: SynthHourConfig, seed: int, split: str, index: int) -> dict[str, torch.Tensor]:
    """One SynthHour sample: ``frames [T, 3, S, S]``, ``text [10]``, ``answer`` (token id), ``qtype`` (0-2),
    and what each patch cell shows, ``cell_digit [T, cells]`` (0-9, 10 = none) and ``cell_marker [T, cells]``
    (0 = none, 1-3 = red, green, blue), the labels of the vision pretraining."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    images, labels = glyphs(split)
    by_digit = [np.flatnonzero(labels == d) for d in range(10)]
    T, S = cfg.frames, cfg.frame_size
    cells = (S // 8) ** 2
    n_events = cfg.glyphs_per_video or T
    qtype = int(rng.integers(3))
    slots = rng.choice(T * cells, size=n_events, replace=False)  # frame * cells + cell
    digits = np.empty(n_events, dtype=np.int64)
    if qtype == 0:
        a, b = rng.choice(10, size=2, replace=False)
        while slots[0] // cells == slots[1] // cells:  # a and b in different frames
            slots[1] = rng.choice(np.setdiff1d(np.arange(T * cells), slots))
        digits[0], digits[1] = a, b
        digits[2:] = rng.choice(np.setdiff1d(np.arange(10), [a, b]), size=n_events - 2)
        answer = "yes" if slots[0] // cells < slots[1] // cells else "no"
        text = ["<q>", "did", "digit", str(a), "appear", "before", "digit", str(b), "?", "<a>"]
        markers = rng.choice(n_events, size=3, replace=False)
    elif qtype == 1:
        colour = int(rng.integers(3))
        markers = rng.choice(n_events, size=3, replace=False)
        digits[:] = rng.integers(10, size=n_events)
        target = int(rng.integers(10))
        digits[markers[colour]] = target
        answer = str(target)
        text = ["<q>", "which", "digit", "appeared", "with", "the", ("red", "green", "blue")[colour], "marker", "?"]
        text.append("<a>")
    else:
        a = int(rng.integers(10))
        count = int(rng.integers(4))
        digits[:count] = a
        digits[count:] = rng.choice(np.setdiff1d(np.arange(10), [a]), size=n_events - count)
        answer = str(count)
        text = ["<q>", "how", "many", "times", "did", "digit", str(a), "appear", "?", "<a>"]
        markers = rng.choice(n_events, size=3, replace=False)
    video = np.clip(0.2 + cfg.noise * rng.standard_normal((T, 3, S, S)), 0.0, 1.0).astype(np.float32)
    per_row = S // 8
    for e in range(n_events):
        frame, cell = divmod(int(slots[e]), cells)
        r, c = divmod(cell, per_row)
        glyph = images[rng.choice(by_digit[digits[e]])]
        patch = video[frame, :, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8]
        np.maximum(patch, glyph[None], out=patch)
    for k, e in enumerate(markers):
        frame, cell = divmod(int(slots[e]), cells)
        r, c = divmod(cell, per_row)
        video[frame, :, 8 * r : 8 * r + 3, 8 * c : 8 * c + 3] = np.asarray(COLOURS[k], np.float32)[:, None, None]
    # Per-cell contents ([T, cells]): digit 0-9 or 10 (no glyph), marker colour 1-3 or 0 (none).
    cell_digit = np.full(T * cells, 10, dtype=np.int64)
    cell_digit[slots] = digits
    cell_marker = np.zeros(T * cells, dtype=np.int64)
    cell_marker[slots[markers]] = np.arange(1, 4)
    return {
        "cell_digit": torch.from_numpy(cell_digit.reshape(T, cells)),
        "cell_marker": torch.from_numpy(cell_marker.reshape(T, cells)),
        "frames": torch.from_numpy(video),
        "text": torch.tensor([VOCAB[w] for w in text], dtype=torch.long),
        "answer": torch.tensor(VOCAB[answer], dtype=torch.long),
        "qtype": torch.tensor(qtype, dtype=torch.long),
    }


class SynthHourDataset(Dataset):
    """``size`` samples of one split, generated on access (a pure function of seed, split and index)."""

    def __init__(self, cfg: SynthHourConfig, seed: int, split: str, size: int) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {list(SPLITS)}, got {split!r}")
        self.cfg, self.seed, self.split, self.size = cfg, seed, split, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return make_sample(self.cfg, self.seed, self.split, index)


def collate(samples: list[dict[str, torch.Tensor]], pack: int = 1) -> dict[str, torch.Tensor]:
    """Stack samples into a batch; with ``pack > 1``, put ``pack`` samples one after another in each row.

    Returns:
        ``frames [B, T, 3, S, S]``, ``text [B, N]``, ``labels [B, N]`` (the answer at each question's last
        token, -100 elsewhere), ``qtype [B * pack]``; packed rows also carry ``frame_seq_idx [B, T]`` and
        ``text_seq_idx [B, N]`` and ``packed = True``.
    """
    frames = torch.stack([s["frames"] for s in samples])  # [n, T, 3, S, S]
    text = torch.stack([s["text"] for s in samples])  # [n, N]
    labels = torch.full_like(text, -100)
    labels[:, -1] = torch.stack([s["answer"] for s in samples])
    qtype = torch.stack([s["qtype"] for s in samples])
    if pack == 1:
        return {"frames": frames, "text": text, "labels": labels, "qtype": qtype}
    n = len(samples)
    if n % pack:
        raise ValueError(f"pack: batch of {n} samples is not a multiple of pack = {pack}")
    rows = n // pack
    T, N = frames.shape[1], text.shape[1]
    ids = torch.arange(pack).view(1, pack, 1)
    return {
        "frames": frames.view(rows, pack * T, *frames.shape[2:]),
        "text": text.view(rows, pack * N),
        "labels": labels.view(rows, pack * N),
        "qtype": qtype,
        "frame_seq_idx": ids.expand(rows, pack, T).reshape(rows, pack * T),
        "text_seq_idx": ids.expand(rows, pack, N).reshape(rows, pack * N),
        "packed": True,
    }


class CurriculumDataset(Dataset):
    """Training samples in step order, with the video length growing on a schedule (a curriculum over ``T``).

    Item ``i`` belongs to global optimiser step ``start_step + i // batch_size``; its video has the frames of
    the schedule phase that step falls in (the last phase lasts beyond its end). Read it in order (no
    shuffling) so that every batch holds one video length; the samples are i.i.d. draws anyway.

    Args:
        cfg: generator settings (``frames`` is overridden by the schedule).
        seed: data seed.
        schedule: ``[(frames, steps), ...]`` phases in order.
        batch_size: samples per step.
        start_step: the global step of the first item (a model that continues another's training).
        steps: steps of data to serve.
    """

    def __init__(
        self,
        cfg: SynthHourConfig,
        seed: int,
        schedule: list[tuple[int, int]],
        batch_size: int,
        start_step: int,
        steps: int,
    ) -> None:
        if not schedule or any(f < 4 or n < 0 for f, n in schedule):
            raise ValueError(f"schedule: expected [(frames >= 4, steps >= 0), ...], got {schedule!r}")
        self.cfg, self.seed, self.batch_size = cfg, seed, batch_size
        self.schedule, self.start_step, self.steps = [(int(f), int(n)) for f, n in schedule], start_step, steps
        self.cfgs = {f: dataclasses.replace(cfg, frames=f) for f, _ in self.schedule}

    def frames_at(self, step: int) -> int:
        """Frames per video at global step ``step``."""
        end = 0
        for frames, n in self.schedule:
            end += n
            if step < end:
                return frames
        return self.schedule[-1][0]

    def __len__(self) -> int:
        return self.steps * self.batch_size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        step = self.start_step + index // self.batch_size
        global_index = step * self.batch_size + index % self.batch_size
        return make_sample(self.cfgs[self.frames_at(step)], self.seed, "train", global_index)


class SynthHourDataModule(pl.LightningDataModule):
    """SynthHour splits for Lightning; stage-1 and stage-2 data are the same QA stream here.

    Args:
        seed: data seed (the splits are pure functions of it).
        frames: frames per video ``T``.
        frame_size: pixels per frame side.
        batch_size: samples per optimiser step.
        train_size: training samples per epoch.
        val_size: validation samples.
        test_size: test samples.
        pack: videos per packed row (1: no packing; rows then carry ``seq_idx``).
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        seed: int = 0,
        frames: int = 16,
        frame_size: int = 32,
        batch_size: int = 16,
        train_size: int = 16000,
        val_size: int = 256,
        test_size: int = 600,
        pack: int = 1,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (("batch_size", batch_size), ("train_size", train_size), ("pack", pack)):
            if value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value}")
        if batch_size % pack:
            raise ValueError(f"batch_size: {batch_size} must be a multiple of pack = {pack}")
        self.cfg = SynthHourConfig(frames=frames, frame_size=frame_size)
        self.seed, self.batch_size, self.pack, self.num_workers = seed, batch_size, pack, num_workers
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}

    def dataset(self, split: str) -> SynthHourDataset:
        return SynthHourDataset(self.cfg, self.seed, split, self.sizes[split])

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            self.dataset(split),
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=gen if shuffle else None,
            collate_fn=lambda s: collate(s, self.pack),
            num_workers=self.num_workers,
            drop_last=shuffle,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def curriculum_dataloader(self, schedule: list[tuple[int, int]], start_step: int, steps: int) -> DataLoader:
        """Training batches for global steps ``start_step ... start_step + steps - 1`` of a curriculum over ``T``
        (:class:`CurriculumDataset`); every model reading the same schedule sees the same data at a step."""
        dataset = CurriculumDataset(self.cfg, self.seed, schedule, self.batch_size, start_step, steps)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=False,
            collate_fn=lambda s: collate(s, self.pack),
            num_workers=self.num_workers,
            drop_last=True,
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False)
