"""ShapesCaption: 32×32 renders of one coloured shape in a quadrant, with fixed-length captions.

Each pair has three named attributes (shape, colour, quadrant: 4 × 4 × 4 = 64 combinations) that the caption
states, and nuisance factors it does not: the object's size, a position jitter, hue noise and background
noise. The size is what the diversity measure of the acceptance experiment looks at: a caption fixes the
attributes, never the size, so a faithful text-to-image model must draw varied sizes for one caption.

Captions have exactly ``N = 8`` tokens, from one of three templates, padded with filler words.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow")
QUADRANTS = (("top", "left"), ("top", "right"), ("bottom", "left"), ("bottom", "right"))
RGB = torch.tensor([[0.9, 0.15, 0.15], [0.15, 0.8, 0.2], [0.2, 0.3, 0.95], [0.95, 0.85, 0.15]])
FILLERS = ("<pad>", ".")
VOCAB = (
    "<pad>",
    ".",
    "a",
    "the",
    "in",
    "at",
    "of",
    "photo",
    ":",
    "top",
    "bottom",
    "left",
    "right",
    *SHAPES,
    *COLOURS,
)
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}
CAPTION_LENGTH = 8
IMAGE_SIZE = 32
SIZE_RANGE = (4.5, 7.5)
NUM_COMBOS = len(SHAPES) * len(COLOURS) * len(QUADRANTS)


def caption_words(shape: int, colour: int, quadrant: int, template: int) -> list[str]:
    """The 8 words of a caption for the attributes, from template 0, 1 or 2."""
    s, c = SHAPES[shape], COLOURS[colour]
    v, h = QUADRANTS[quadrant]
    if template == 0:
        words = ["a", c, s, "in", "the", v, h, "."]
    elif template == 1:
        words = ["photo", "of", "a", c, s, "at", v, h]
    else:
        words = [v, h, ":", "a", c, s, "."]
    return words + ["<pad>"] * (CAPTION_LENGTH - len(words))


def caption_tokens(attrs: torch.Tensor, templates: torch.Tensor | int) -> torch.Tensor:
    """Caption ids ``(M, CAPTION_LENGTH)`` of ``(M, 3)`` attributes, each from its template (or one for all)."""
    if isinstance(templates, int):
        templates = torch.full((len(attrs),), templates)
    return torch.stack(
        [
            torch.tensor([WORD_TO_ID[w] for w in caption_words(int(a[0]), int(a[1]), int(a[2]), int(k))])
            for a, k in zip(attrs, templates)
        ]
    )


def encode_caption(caption: str) -> torch.Tensor:
    """Token ids of a caption written as text, padded to ``CAPTION_LENGTH``.

    Args:
        caption: words separated by spaces, e.g. ``"a red circle in the top left"``.

    Returns:
        Token ids, shape ``(CAPTION_LENGTH,)``, int64.

    Raises:
        ValueError: an empty caption, a word outside the vocabulary, or more than ``CAPTION_LENGTH`` words.
    """
    words = caption.lower().replace(".", " . ").replace(":", " : ").split()
    if not words:
        raise ValueError("caption: expected at least one word, got an empty caption")
    unknown = [w for w in words if w not in WORD_TO_ID]
    if unknown:
        raise ValueError(f"caption: words outside the vocabulary: {', '.join(unknown)}; known words: {' '.join(VOCAB)}")
    if len(words) > CAPTION_LENGTH:
        raise ValueError(f"caption: expected at most {CAPTION_LENGTH} words, got {len(words)}")
    words = words + ["<pad>"] * (CAPTION_LENGTH - len(words))
    return torch.tensor([WORD_TO_ID[w] for w in words], dtype=torch.long)


def decode_tokens(tokens: torch.Tensor) -> str:
    """The caption text of a ``(CAPTION_LENGTH,)`` id tensor, padding removed."""
    return " ".join(VOCAB[int(i)] for i in tokens if VOCAB[int(i)] != "<pad>")


def parse_attributes(tokens: torch.Tensor) -> tuple[int, int, int]:
    """(shape, colour, quadrant) stated by a caption's ids; -1 where the caption does not state one.

    Args:
        tokens: ids, shape ``(CAPTION_LENGTH,)``.
    """
    words = [VOCAB[int(i)] for i in tokens]
    shape = next((SHAPES.index(w) for w in words if w in SHAPES), -1)
    colour = next((COLOURS.index(w) for w in words if w in COLOURS), -1)
    v = next((w for w in words if w in ("top", "bottom")), None)
    h = next((w for w in words if w in ("left", "right")), None)
    quadrant = QUADRANTS.index((v, h)) if v is not None and h is not None else -1
    return shape, colour, quadrant


def combo_index(attrs: torch.Tensor) -> torch.Tensor:
    """The combination id ``shape·16 + colour·4 + quadrant`` of ``(M, 3)`` attributes, shape ``(M,)``."""
    return attrs[:, 0] * 16 + attrs[:, 1] * 4 + attrs[:, 2]


def render(attrs: torch.Tensor, size: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Render images of the given attributes and sizes, with jitter, hue and background noise.

    Args:
        attrs: ``(M, 3)`` int64 (shape, colour, quadrant).
        size: ``(M,)`` object half-width in pixels.
        generator: randomness for the nuisance factors.

    Returns:
        Images in ``[0, 1]``, shape ``(M, 3, 32, 32)``.
    """
    m = attrs.shape[0]
    quadrant = attrs[:, 2]
    cy = 8.0 + 16.0 * (quadrant // 2).float() + (torch.rand(m, generator=generator) - 0.5) * 3.0  # [M]
    cx = 8.0 + 16.0 * (quadrant % 2).float() + (torch.rand(m, generator=generator) - 0.5) * 3.0
    grid = torch.arange(IMAGE_SIZE, dtype=torch.float32) + 0.5
    dy = grid.view(1, -1, 1) - cy.view(-1, 1, 1)  # [M, H, 1]
    dx = grid.view(1, 1, -1) - cx.view(-1, 1, 1)  # [M, 1, W]
    r = size.view(-1, 1, 1)
    circle = dx**2 + dy**2 <= r**2
    square = (dx.abs() <= 0.85 * r) & (dy.abs() <= 0.85 * r)
    # An upward triangle: below its apex, inside two slanted edges.
    triangle = (dy <= r) & (dy >= -r) & (dx.abs() <= (dy + r) * 0.55)
    bar = 0.35 * r
    cross = ((dx.abs() <= bar) & (dy.abs() <= r)) | ((dy.abs() <= bar) & (dx.abs() <= r))
    masks = torch.stack([circle, square, triangle, cross], dim=1)  # [M, 4, H, W]
    mask = masks[torch.arange(m), attrs[:, 0]].float()  # [M, H, W]
    colour = RGB[attrs[:, 1]] + 0.06 * torch.randn(m, 3, generator=generator)  # [M, 3]
    background = 0.08 + 0.04 * torch.randn(m, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    image = background * (1 - mask[:, None]) + colour[:, :, None, None] * mask[:, None]
    return image.clamp(0.0, 1.0)


@dataclass
class ShapesCaptions:
    """A generated set of pairs.

    Attributes:
        images: ``(M, 3, 32, 32)`` float in ``[0, 1]``.
        tokens: ``(M, 8)`` caption ids.
        attrs: ``(M, 3)`` (shape, colour, quadrant).
        size: ``(M,)`` object half-width in pixels.
    """

    images: torch.Tensor
    tokens: torch.Tensor
    attrs: torch.Tensor
    size: torch.Tensor


def generate(num: int, generator: torch.Generator, attrs: torch.Tensor | None = None) -> ShapesCaptions:
    """Generate ``num`` pairs, with uniform attributes unless ``attrs`` (``(num, 3)``) is given.

    Args:
        num: number of pairs.
        generator: the seeded generator; the same state gives the same pairs.
        attrs: optional fixed attributes, e.g. every combination for an evaluation set.
    """
    if attrs is None:
        attrs = torch.randint(0, 4, (num, 3), generator=generator)
    size = SIZE_RANGE[0] + (SIZE_RANGE[1] - SIZE_RANGE[0]) * torch.rand(num, generator=generator)
    templates = torch.randint(0, 3, (num,), generator=generator)
    tokens = caption_tokens(attrs, templates)
    images = render(attrs, size, generator)
    return ShapesCaptions(images=images, tokens=tokens, attrs=attrs, size=size)


def all_combinations(repeats: int) -> torch.Tensor:
    """Every (shape, colour, quadrant) combination ``repeats`` times, shape ``(64·repeats, 3)``."""
    grid = torch.cartesian_prod(torch.arange(4), torch.arange(4), torch.arange(4))  # [64, 3]
    return grid.repeat(repeats, 1)


class ShapesCaptionDataModule(pl.LightningDataModule):
    """ShapesCaption pairs as ``(image, tokens, attrs)`` batches.

    Args:
        num_pairs: training pairs.
        val_pairs: validation pairs.
        batch_size: batch size.
        seed: data seed (training and validation sets come from separate streams).
    """

    def __init__(self, num_pairs: int = 20000, val_pairs: int = 512, batch_size: int = 128, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("num_pairs", num_pairs), ("val_pairs", val_pairs), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value}")
        self.num_pairs, self.val_pairs, self.batch_size, self.seed = num_pairs, val_pairs, batch_size, seed
        self.train_set: ShapesCaptions | None = None
        self.val_set: ShapesCaptions | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = generate(self.num_pairs, torch.Generator().manual_seed(self.seed))
            self.val_set = generate(self.val_pairs, torch.Generator().manual_seed(self.seed + 7919))

    @staticmethod
    def _dataset(data: ShapesCaptions) -> TensorDataset:
        return TensorDataset(data.images, data.tokens, data.attrs)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset(self.train_set), batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset(self.val_set), batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        return self.val_dataloader()
