"""The paper's benchmarks read from a local folder in their official layout (nothing is downloaded).

- **Waterbirds** (``kind="waterbirds"``): ``metadata.csv`` with the columns ``img_filename``, ``y`` (1 =
  waterbird), ``split`` (0 train, 1 val, 2 test) and ``place`` (1 = water), image paths relative to the folder.
  Target y = bird type, sensitive a = place; the paper's forget groups are waterbird-on-land (1, 0) and
  landbird-on-water (0, 1).
- **CelebA** (``kind="celeba"``): ``list_attr_celeba.txt`` (a count line, a line of the 40 attribute names,
  then one ``<file> ±1 …`` line per image), ``list_eval_partition.txt`` (``<file> 0|1|2``) and the images in
  ``img_align_celeba/``, the layout torchvision also reads. Target and sensitive attribute are named (the
  paper: ``Attractive`` or ``Blond_Hair`` against ``Male``; forget group (1, 1)).

Images are resized to ``size × size`` RGB in [0, 1] and held in memory as float32: 3·size²·4 bytes each
(49 KiB at 64 px, so CelebA's 162,770 training images need about 8 GiB; cap them with ``limit``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from paperzoo.grmu.config import LOCAL_KINDS
from paperzoo.grmu.groups import GroupData

SPLITS = ("train", "val", "test")


def _read_image(path: Path, size: int) -> torch.Tensor:
    """One image file as ``[3, size, size]`` float32 in [0, 1]."""
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    with Image.open(path) as img:
        img = img.convert("RGB").resize((size, size), Image.BILINEAR)
        data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return data.view(size, size, 3).permute(2, 0, 1).float() / 255.0


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what}: expected the file {path} (the dataset's official layout)")
    return path


def waterbirds_index(root: Path) -> list[tuple[str, int, int, int]]:
    """``(relative image path, split, y, a)`` rows of Waterbirds' ``metadata.csv``."""
    meta = _require(root / "metadata.csv", "waterbirds")
    with open(meta, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"img_filename", "y", "split", "place"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{meta}: expected the columns img_filename, y, split, place; missing {sorted(missing)}")
        return [(r["img_filename"], int(r["split"]), int(r["y"]), int(r["place"])) for r in reader]


def celeba_index(root: Path, target: str, sensitive: str) -> list[tuple[str, int, int, int]]:
    """``(relative image path, split, y, a)`` rows from CelebA's attribute and partition lists."""
    attr_file = _require(root / "list_attr_celeba.txt", "celeba")
    part_file = _require(root / "list_eval_partition.txt", "celeba")
    lines = attr_file.read_text().split("\n")
    names = lines[1].split()
    for role, name in (("target", target), ("sensitive", sensitive)):
        if name not in names:
            raise ValueError(f"{role}: {name!r} is not a CelebA attribute; expected one of: {', '.join(names)}")
    ti, si = names.index(target), names.index(sensitive)
    split_of = dict(line.split() for line in part_file.read_text().split("\n") if line.strip())
    rows = []
    for line in lines[2:]:
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise ValueError(f"{attr_file}: expected {len(names) + 1} fields per line, got {len(parts)}: {line!r}")
        name, values = parts[0], parts[1:]
        if name not in split_of:
            raise ValueError(f"{part_file}: no partition for image {name}")
        # Attributes are ±1 in the official list; the group encoding wants {0, 1}.
        rows.append((f"img_align_celeba/{name}", int(split_of[name]), int(values[ti] == "1"), int(values[si] == "1")))
    return rows


def load_local_splits(
    kind: str,
    root: str | Path,
    size: int = 64,
    limit: dict[str, int] | None = None,
    seed: int = 0,
    target: str = "Attractive",
    sensitive: str = "Male",
) -> dict[str, GroupData]:
    """The train, val and test splits of a local benchmark as :class:`~paperzoo.grmu.groups.GroupData`.

    Args:
        kind: ``"waterbirds"`` or ``"celeba"``.
        root: the dataset folder, in the official layout (module docstring).
        size: image side after resizing.
        limit: at most this many samples per split (a seeded random subset), or None for all.
        seed: seeds the subset.
        target: CelebA's target attribute.
        sensitive: CelebA's sensitive attribute.

    Returns:
        ``{"train", "val", "test"}`` -> GroupData with ``x [N, 3, size, size]``, ``y [N]``, ``a [N]``.

    Raises:
        ValueError: an unknown kind, an unknown attribute, a malformed list, or an empty split.
        FileNotFoundError: a missing metadata or image file (the message names it).
    """
    if kind not in LOCAL_KINDS:
        raise ValueError(f"kind: expected one of {', '.join(LOCAL_KINDS)}, got {kind!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"root: {root} is not a folder")
    rows = waterbirds_index(root) if kind == "waterbirds" else celeba_index(root, target, sensitive)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for split_id, name in enumerate(SPLITS):
        members = [r for r in rows if r[1] == split_id]
        if not members:
            raise ValueError(f"{kind}: the {name} split is empty in {root}")
        cap = (limit or {}).get(name)
        if cap is not None and cap < len(members):
            keep = torch.randperm(len(members), generator=gen)[:cap].sort().values.tolist()
            members = [members[i] for i in keep]
        x = torch.stack([_read_image(root / r[0], size) for r in members])
        y = torch.tensor([r[2] for r in members])
        a = torch.tensor([r[3] for r in members])
        out[name] = GroupData(x, y, a)
    return out
