"""The words of CompositionalShapes prompts and the image size, shared by the model's config and the data.

Token ids: ``0`` is the null token (condition dropout and CFG's unconditional pass), then the attribute
words (shapes, colours, positions), then the filler words.
"""

from __future__ import annotations

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow", "magenta", "cyan")
POSITIONS = ("left", "right", "top", "bottom")
N_FILLERS = 48
FILLERS = tuple(f"w{i:02d}" for i in range(N_FILLERS))
NULL = "<null>"
VOCAB = (NULL, *SHAPES, *COLOURS, *POSITIONS, *FILLERS)
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}
ATTRIBUTES = ("shape", "colour", "position")
N_CLASSES = (len(SHAPES), len(COLOURS), len(POSITIONS))
IMAGE_SIZE = 16
