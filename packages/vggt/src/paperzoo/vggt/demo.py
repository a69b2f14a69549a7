"""The commands beyond Lightning's: ``demo`` (a real stereo pair to a .ply), ``evaluate`` and ``ablate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import pearsonr, spearmanr
from torch import Tensor

from paperzoo.core import CliError
from paperzoo.vggt.config import ATTN_MODES
from paperzoo.vggt.evaluate import depth_camera_points, evaluate
from paperzoo.vggt.model import stack_views
from paperzoo.vggt.module import VGGTModule

RUNS_DIR = Path("runs") / "vggt"


def latest_checkpoint(root: Path = RUNS_DIR) -> Path | None:
    """The newest ``*.ckpt`` written by ``paperzoo-vggt fit`` under ``root``, if any."""
    found = sorted(root.glob("**/checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def load_module(checkpoint: Path | None) -> tuple[VGGTModule, Path, int]:
    """Load a trained module from ``checkpoint`` or the newest one under ``runs/vggt``.

    Returns:
        the module (eval mode), the checkpoint path and the image size it was trained at.

    Raises:
        CliError: no checkpoint given or found, or the file is missing.
    """
    path = checkpoint if checkpoint is not None else latest_checkpoint()
    if path is None:
        raise CliError("no checkpoint under runs/vggt: train one first (make train PAPER=vggt) or pass --checkpoint")
    if not Path(path).is_file():
        raise CliError(f"checkpoint not found: {path}")
    module = VGGTModule.load_from_checkpoint(str(path), map_location="cpu")
    data_hparams = torch.load(path, map_location="cpu", weights_only=False).get("datamodule_hyper_parameters", {})
    return module.eval(), Path(path), int(data_hparams.get("image_size", 32))


def skimage_stereo_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-image's Middlebury motorcycle pair: left, right (uint8 HxWx3) and the left disparity (HxW)."""
    from skimage import data

    left, right, disparity = data.stereo_motorcycle()
    return left, right, disparity


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 image from ``path``.

    Raises:
        CliError: the file does not exist or is not an image.
    """
    from skimage import io

    if not Path(path).is_file():
        raise CliError(f"image file not found: {path}")
    try:
        image = io.imread(path)
    except Exception as err:
        raise CliError(f"cannot read image {path}: {err}") from err
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return image[..., :3]


def to_square_tensor(image: np.ndarray, size: int) -> Tensor:
    """Centre-crop to a square and resize to ``size`` x ``size``; returns ``[3, size, size]`` in [0, 1]."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = torch.from_numpy(np.ascontiguousarray(image[top : top + side, left : left + side])).float()
    crop = crop.permute(2, 0, 1) / 255 if crop.dim() == 3 else crop[None]
    return F.interpolate(crop[None], size=(size, size), mode="area")[0]


def write_ply(path: Path, points: Tensor, colors: Tensor) -> None:
    """Write an ASCII PLY point cloud: ``points`` ``[N, 3]``, ``colors`` ``[N, 3]`` in [0, 1]."""
    rgb = (colors.clamp(0, 1) * 255).round().to(torch.uint8)
    header = (
        f"ply\nformat ascii 1.0\nelement vertex {points.shape[0]}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    rows = [f"{x:.5f} {y:.5f} {z:.5f} {r} {g} {b}" for (x, y, z), (r, g, b) in zip(points.tolist(), rgb.tolist())]
    Path(path).write_text(header + "\n".join(rows) + "\n")


@torch.no_grad()
def demo(
    checkpoint: Path | None = None,
    left: Path | None = None,
    right: Path | None = None,
    out: Path = Path("vggt_demo.ply"),
) -> int:
    """Reconstruct a stereo pair (default: scikit-image's Middlebury motorcycle) and write a .ply point cloud.

    Args:
        checkpoint: a trained checkpoint (default: the newest under runs/vggt, from paperzoo-vggt fit).
        left: the first view's image file (default: the skimage motorcycle pair).
        right: the second view's image file.
        out: where to write the point cloud.
    """
    if (left is None) != (right is None):
        raise CliError("give both --left and --right, or neither for the skimage motorcycle pair")
    if left is None:
        left_image, right_image, disparity = skimage_stereo_pair()
    else:
        left_image, right_image, disparity = read_image(left), read_image(right), None
    if left_image.shape[:2] != right_image.shape[:2]:
        raise CliError(
            f"views must have the same size: left is {left_image.shape[:2]}, right is {right_image.shape[:2]}"
        )
    module, path, size = load_module(checkpoint)
    views = stack_views(
        [to_square_tensor(left_image, size), to_square_tensor(right_image, size)], module.model.patch_size
    )
    pred = module(views[None])
    points = depth_camera_points(pred, (size, size))[0].reshape(-1, 3)
    colors = views.permute(0, 2, 3, 1).reshape(-1, 3)
    write_ply(out, points, colors)
    print(f"checkpoint: {path}")
    print(f"wrote {points.shape[0]} points to {out}")
    if disparity is not None:
        gt = to_square_tensor(np.nan_to_num(disparity, nan=0.0, posinf=0.0), size)[0]
        valid = gt > 0
        inverse_depth = (1 / pred["depth"][0, 0].clamp_min(1e-6))[valid].numpy()
        pearson = pearsonr(inverse_depth, gt[valid].numpy()).statistic
        spearman = spearmanr(inverse_depth, gt[valid].numpy()).statistic
        print(
            f"inverse depth vs Middlebury disparity (frame 1, {int(valid.sum())} pixels): "
            f"Pearson {pearson:.3f} (scale- and shift-invariant), Spearman {spearman:.3f}"
        )
    return 0


def evaluate_checkpoint(checkpoint: Path | None = None, num_scenes: int = 256, seed: int = 0) -> int:
    """Evaluate a checkpoint on held-out scenes: AUC@30, AbsRel, point-map errors, confidence, tracks.

    Args:
        checkpoint: a trained checkpoint (default: the newest under runs/vggt).
        num_scenes: held-out scenes to render.
        seed: held-out data seed.
    """
    from paperzoo.vggt.data import SceneConfig, load_scenes

    if num_scenes < 1:
        raise CliError(f"--num_scenes: expected >= 1, got {num_scenes}")
    module, path, size = load_module(checkpoint)
    scenes = load_scenes(SceneConfig(image_size=size), num_scenes, 10_000_019 + seed)
    metrics = evaluate(module.model, scenes)
    print(f"checkpoint: {path}")
    for key, value in metrics.items():
        print(f"  {key:<20} {value:.4f}")
    return 0


def ablate(modes: list[str] = ["aa", "frame", "global", "cross"], seed: int = 0, quick: bool = False) -> int:  # noqa: B006
    """Train and evaluate the aggregator's attention modes with the acceptance experiment's budget (Table 5).

    Args:
        modes: attention modes among aa, frame, global, cross.
        seed: data and model seed.
        quick: a reduced budget for a smoke run.
    """
    from paperzoo.vggt.reproduce import FULL, QUICK, train_and_evaluate

    unknown = [m for m in modes if m not in ATTN_MODES]
    if unknown:
        raise CliError(f"--modes: unknown {unknown}; expected some of {list(ATTN_MODES)}")
    cfg = QUICK if quick else FULL
    datamodule = cfg.datamodule(seed)
    datamodule.setup("fit")
    print("| mode | AUC@30 | point-map error | AbsRel |\n|---|---|---|---|")
    for mode in modes:
        m = train_and_evaluate(cfg, mode, seed, datamodule)
        print(f"| {mode} | {m['auc30']:.3f} | {m['pmap_err']:.3f} | {m['abs_rel']:.3f} |", flush=True)
    return 0
