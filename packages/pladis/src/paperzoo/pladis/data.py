"""CompositionalShapes: 16x16 RGB images of one coloured shape at a position, with prompts full of distractors.

A prompt holds the three attribute words of its image (shape, colour, position) and ``k`` random filler
words, in a random order. The fillers carry no information about the image, so any attention mass a
cross-attention query puts on them is leaked: this is the situation PLADIS is built for.

The vocabulary lives in :mod:`paperzoo.pladis.vocab`.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from paperzoo.core.config import as_config, save_config_hparams
from paperzoo.pladis.config import DataConfig
from paperzoo.pladis.vocab import (
    ATTRIBUTES,
    COLOURS,
    IMAGE_SIZE,
    N_CLASSES,
    N_FILLERS,
    NULL,
    POSITIONS,
    SHAPES,
    WORD_TO_ID,
)

_RGB = {
    "red": (1.0, 0.1, 0.1),
    "green": (0.1, 0.9, 0.1),
    "blue": (0.15, 0.25, 1.0),
    "yellow": (1.0, 0.95, 0.1),
    "magenta": (1.0, 0.1, 1.0),
    "cyan": (0.1, 0.95, 1.0),
}
# Centre (row, col) of the object for each position word, before jitter.
_CENTRES = {"left": (7.5, 4.0), "right": (7.5, 11.0), "top": (4.0, 7.5), "bottom": (11.0, 7.5)}


def _render_one(shape: int, colour: int, position: int, dy: float, dx: float, radius: float) -> torch.Tensor:
    """One image ``[3, 16, 16]`` in ``[-1, 1]``: a black background and one filled shape."""
    cy, cx = _CENTRES[POSITIONS[position]]
    cy, cx = cy + dy, cx + dx
    ys, xs = torch.meshgrid(torch.arange(IMAGE_SIZE) + 0.0, torch.arange(IMAGE_SIZE) + 0.0, indexing="ij")
    ry, rx = ys - cy, xs - cx
    name = SHAPES[shape]
    if name == "circle":
        inside = ry**2 + rx**2 <= radius**2
    elif name == "square":
        inside = (ry.abs() <= radius * 0.85) & (rx.abs() <= radius * 0.85)
    else:
        # Apex up: the half-width grows linearly from the top row to the base.
        top, base = -radius, radius * 0.9
        width = (ry - top) / (base - top) * radius
        inside = (ry >= top) & (ry <= base) & (rx.abs() <= width)
    rgb = torch.tensor(_RGB[COLOURS[colour]])
    image = torch.full((3, IMAGE_SIZE, IMAGE_SIZE), -1.0)
    image[:, inside] = (rgb * 2 - 1)[:, None]
    return image


def render(attributes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Render images for attribute triples, with a little position and size jitter.

    Args:
        attributes: ``[N, 3]`` long: shape, colour and position indices.
        generator: the random generator for the jitter.

    Returns:
        ``[N, 3, 16, 16]`` float images in ``[-1, 1]``.

    Raises:
        ValueError: ``attributes`` is not ``[N, 3]`` with indices in range.
    """
    if not isinstance(attributes, torch.Tensor) or attributes.dim() != 2 or attributes.shape[1] != 3:
        got = tuple(attributes.shape) if isinstance(attributes, torch.Tensor) else type(attributes).__name__
        raise ValueError(f"attributes: expected a long tensor of shape (N, 3), got {got}")
    for j, n in enumerate(N_CLASSES):
        if bool((attributes[:, j] < 0).any()) or bool((attributes[:, j] >= n).any()):
            raise ValueError(f"attributes: column {j} ({ATTRIBUTES[j]}) must lie in [0, {n - 1}]")
    n = attributes.shape[0]
    jitter = torch.rand(n, 3, generator=generator)
    images = [
        _render_one(int(a[0]), int(a[1]), int(a[2]), float(j[0] * 2 - 1), float(j[1] * 2 - 1), 2.6 + float(j[2]))
        for a, j in zip(attributes, jitter)
    ]
    return torch.stack(images)


def random_attributes(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[n, 3]`` uniformly random (shape, colour, position) indices."""
    return torch.stack([torch.randint(0, c, (n,), generator=generator) for c in N_CLASSES], dim=1)


def make_prompts(attributes: torch.Tensor, n_fillers: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Prompt token ids: the three attribute words and ``n_fillers`` random fillers, shuffled per prompt.

    Args:
        attributes: ``[N, 3]`` (shape, colour, position) indices.
        n_fillers: the number ``k`` of distractor words per prompt.
        generator: the random generator for the fillers and the order.

    Returns:
        ``[N, 3 + k]`` long token ids.
    """
    if n_fillers < 0:
        raise ValueError(f"n_fillers: expected a non-negative int, got {n_fillers}")
    n = attributes.shape[0]
    offsets = torch.tensor([1, 1 + len(SHAPES), 1 + len(SHAPES) + len(COLOURS)])
    words = attributes + offsets  # [N, 3]
    first_filler = 1 + sum(N_CLASSES)
    fillers = first_filler + torch.randint(0, N_FILLERS, (n, n_fillers), generator=generator)
    tokens = torch.cat([words, fillers], dim=1)  # [N, 3 + k]
    order = torch.rand(n, tokens.shape[1], generator=generator).argsort(dim=1)
    return tokens.gather(1, order)


def tokenize(prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and the attribute triple of a text prompt such as ``"red circle left w03 w17"``.

    Every word must be in :data:`~paperzoo.pladis.vocab.VOCAB`; the prompt must name exactly one shape, one colour
    and one position.

    Returns:
        ``([L] long token ids, [3] long attributes)``.

    Raises:
        ValueError: unknown words (all of them are listed) or a missing or repeated attribute.
    """
    words = prompt.lower().replace(",", " ").split()
    unknown = [w for w in words if w not in WORD_TO_ID or w == NULL]
    if unknown:
        raise ValueError(
            f"prompt {prompt!r}: unknown words {unknown}; known: shapes {list(SHAPES)}, colours {list(COLOURS)}, "
            f"positions {list(POSITIONS)}, fillers w00..w{N_FILLERS - 1:02d}"
        )
    attributes = []
    for name, values in zip(ATTRIBUTES, (SHAPES, COLOURS, POSITIONS)):
        found = [w for w in words if w in values]
        if len(found) != 1:
            raise ValueError(f"prompt {prompt!r}: expected exactly one {name} word from {list(values)}, got {found}")
        attributes.append(values.index(found[0]))
    return torch.tensor([WORD_TO_ID[w] for w in words]), torch.tensor(attributes)


def make_dataset(n: int, n_fillers: int, seed: int) -> dict[str, torch.Tensor]:
    """A seeded dataset: ``{"images": [n, 3, 16, 16], "tokens": [n, 3 + k], "attributes": [n, 3]}``."""
    generator = torch.Generator().manual_seed(seed)
    attributes = random_attributes(n, generator)
    return {
        "images": render(attributes, generator),
        "tokens": make_prompts(attributes, n_fillers, generator),
        "attributes": attributes,
    }


class ShapesDataModule(pl.LightningDataModule):
    """Train/validation/test splits of CompositionalShapes, generated from a seed.

    Args:
        data: sizes, distractor words, batch size and seed (:class:`~paperzoo.pladis.config.DataConfig`).
    """

    def __init__(self, data: DataConfig = DataConfig()) -> None:  # noqa: B008
        super().__init__()
        self.cfg = as_config(DataConfig, data)
        save_config_hparams(self, data=self.cfg)
        self.splits: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        c = self.cfg
        for name, n, offset in (("train", c.n_train, 0), ("val", c.n_val, 1), ("test", c.n_val, 2)):
            data = make_dataset(n, c.n_fillers, c.seed * 10 + offset)
            self.splits[name] = TensorDataset(data["images"], data["tokens"], data["attributes"])

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.cfg.seed)
        return DataLoader(self.splits[name], batch_size=self.cfg.batch_size, shuffle=shuffle, generator=generator)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", False)
