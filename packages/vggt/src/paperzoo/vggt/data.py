"""Rendered multi-view scenes: a vectorised torch ray-caster and the ``SyntheticSceneDataModule``.

A scene is a procedurally tiled ground square plus 2-6 boxes, spheres or vertical cylinders, some of them
textureless (flat colour), lit by one random directional light. Its cameras sit on a sphere around the
scene (random radius, elevation, roll and field of view) and look at a jittered centre; their azimuths
differ from camera 1's by 20-60 degrees to either side, so no single frame shows where the others are.

Every view comes with its depth, valid mask (background pixels are invalid), camera, and ground-truth
tracks: query pixels of frame 1 projected into every frame, visible when inside the image and not occluded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import lightning.pytorch as pl
import torch
from rich.progress import track
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from paperzoo.core import cached
from paperzoo.vggt.geometry import apply_transform, fov_to_focal, pixel_grid, unproject_depth_to_world

SPHERE, CYLINDER, BOX = 0, 1, 2
GROUND_HALF_SIZE = 6.0
BACKGROUND = (0.55, 0.7, 0.9)


@dataclass(frozen=True)
class SceneConfig:
    """What a generated scene set looks like.

    Attributes:
        image_size: square image side in pixels.
        num_views: views per scene.
        min_objects: fewest objects per scene.
        max_objects: most objects per scene.
        azimuth_spread: range (degrees) of each view's azimuth offset from camera 1, with a random sign.
        radius: camera distance range to the look-at point.
        elevation: camera elevation range, degrees.
        roll: camera roll range, degrees.
        fov: field-of-view range, degrees.
        textureless_prob: probability that an object is a flat colour (depth is then ambiguous inside it).
        num_tracks: query points per scene for the track head.
    """

    image_size: int = 64
    num_views: int = 4
    min_objects: int = 2
    max_objects: int = 6
    azimuth_spread: tuple[float, float] = (20.0, 60.0)
    radius: tuple[float, float] = (4.0, 5.5)
    elevation: tuple[float, float] = (20.0, 45.0)
    roll: tuple[float, float] = (-10.0, 10.0)
    fov: tuple[float, float] = (50.0, 65.0)
    textureless_prob: float = 0.3
    num_tracks: int = 16


def _uniform(low: float, high: float, shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(shape, generator=gen)


def sample_cameras(num_scenes: int, cfg: SceneConfig, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random cameras looking at each scene's centre.

    Returns:
        extrinsics ``[N, S, 3, 4]`` (world-to-camera, OpenCV axes) and intrinsics ``[N, S, 3, 3]``.
    """
    n, s = num_scenes, cfg.num_views
    offsets = _uniform(*cfg.azimuth_spread, (n, s), gen) * torch.where(torch.rand(n, s, generator=gen) < 0.5, -1, 1)
    offsets[:, 0] = 0
    azimuth = torch.deg2rad(_uniform(0, 360, (n, 1), gen) + offsets)
    elevation = torch.deg2rad(_uniform(*cfg.elevation, (n, s), gen))
    radius = _uniform(*cfg.radius, (n, s), gen)
    target = torch.stack(
        [_uniform(-0.3, 0.3, (n, s), gen), _uniform(-0.3, 0.3, (n, s), gen), _uniform(0.0, 0.5, (n, s), gen)], -1
    )
    center = target + radius[..., None] * torch.stack(
        [elevation.cos() * azimuth.cos(), elevation.cos() * azimuth.sin(), elevation.sin()], -1
    )
    forward = torch.nn.functional.normalize(target - center, dim=-1)
    up = torch.tensor([0.0, 0.0, 1.0]).expand_as(forward)
    right = torch.nn.functional.normalize(torch.cross(forward, up, dim=-1), dim=-1)
    down = torch.cross(forward, right, dim=-1)
    roll = torch.deg2rad(_uniform(*cfg.roll, (n, s), gen))[..., None]
    right, down = roll.cos() * right + roll.sin() * down, -roll.sin() * right + roll.cos() * down
    rotation = torch.stack([right, down, forward], dim=-2)  # rows: camera axes in world coordinates
    translation = -(rotation @ center[..., None])
    extrinsics = torch.cat([rotation, translation], dim=-1)
    focal = fov_to_focal(torch.deg2rad(_uniform(*cfg.fov, (n, s), gen)), cfg.image_size)
    intrinsics = torch.zeros(n, s, 3, 3)
    intrinsics[..., 0, 0] = intrinsics[..., 1, 1] = focal
    intrinsics[..., 0, 2] = intrinsics[..., 1, 2] = cfg.image_size / 2
    intrinsics[..., 2, 2] = 1
    return extrinsics, intrinsics


def sample_objects(num_scenes: int, cfg: SceneConfig, gen: torch.Generator) -> dict[str, Tensor]:
    """Random objects, padded to ``max_objects`` with an ``active`` mask; all tensors ``[N, M, ...]``."""
    n, m = num_scenes, cfg.max_objects
    count = torch.randint(cfg.min_objects, cfg.max_objects + 1, (n, 1), generator=gen)
    size = _uniform(0.35, 0.8, (n, m, 3), gen)
    kind = torch.randint(0, 3, (n, m), generator=gen)
    radius = size[..., 0]
    # Spheres rest on the ground; boxes and cylinders stand on it with their half-height.
    height = torch.where(kind == SPHERE, radius, size[..., 2])
    angle, dist = _uniform(0, 2 * math.pi, (n, m), gen), _uniform(0.0, 2.0, (n, m), gen).sqrt() * 1.4
    center = torch.stack([dist * angle.cos(), dist * angle.sin(), height], -1)
    return {
        "active": torch.arange(m)[None] < count,
        "kind": kind,
        "center": center,
        "size": size,
        "yaw": _uniform(0, math.pi, (n, m), gen),
        "color": _uniform(0.1, 0.95, (n, m, 3), gen),
        "textured": torch.rand(n, m, generator=gen) >= cfg.textureless_prob,
        "frequency": _uniform(6.0, 14.0, (n, m), gen),
        "ground_colors": _uniform(0.15, 0.9, (n, 16, 3), gen),
        "light": torch.nn.functional.normalize(
            torch.stack([_uniform(-1, 1, (n,), gen), _uniform(-1, 1, (n,), gen), _uniform(0.6, 1.5, (n,), gen)], -1),
            dim=-1,
        ),
    }


def _intersect(origin: Tensor, direction: Tensor, objects: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Nearest hit distance and normal of rays against each object.

    Args:
        origin: ``[N, R, 3]``.
        direction: ``[N, R, 3]`` (not unit: the hit parameter is then the z-depth).
        objects: from :func:`sample_objects`.

    Returns:
        hit parameter ``[N, R, M]`` (inf where missed) and normals ``[N, R, M, 3]``.
    """
    inf = torch.tensor(float("inf"))
    o, d = origin[:, :, None], direction[:, :, None]  # [N, R, 1, 3]
    center, size = objects["center"][:, None], objects["size"][:, None]  # [N, 1, M, 3]
    yaw = objects["yaw"][:, None]
    # Rotate rays into each object's yaw-aligned frame (used by boxes and cylinders).
    cos, sin = yaw.cos(), yaw.sin()
    rel = o - center

    def to_local(v: Tensor) -> Tensor:
        return torch.stack([cos * v[..., 0] + sin * v[..., 1], -sin * v[..., 0] + cos * v[..., 1], v[..., 2]], -1)

    def to_world(v: Tensor) -> Tensor:
        return torch.stack([cos * v[..., 0] - sin * v[..., 1], sin * v[..., 0] + cos * v[..., 1], v[..., 2]], -1)

    lo, ld = to_local(rel), to_local(d.expand_as(rel))
    # Sphere.
    radius = size[..., 0]
    a = (d * d).sum(-1)
    b = 2 * (d * rel).sum(-1)
    c = (rel * rel).sum(-1) - radius**2
    disc = b * b - 4 * a * c
    t_sphere = torch.where(disc > 0, (-b - disc.clamp_min(0).sqrt()) / (2 * a), inf)
    t_sphere = torch.where(t_sphere > 1e-4, t_sphere, inf)
    n_sphere = torch.nn.functional.normalize(rel + t_sphere[..., None].nan_to_num(0, 0, 0) * d, dim=-1)
    # Vertical cylinder: side wall and top cap; the object frame's z runs from -h to h.
    half_height = size[..., 2]
    a2 = (ld[..., :2] ** 2).sum(-1).clamp_min(1e-12)
    b2 = 2 * (ld[..., :2] * lo[..., :2]).sum(-1)
    c2 = (lo[..., :2] ** 2).sum(-1) - radius**2
    disc2 = b2 * b2 - 4 * a2 * c2
    t_side = (-b2 - disc2.clamp_min(0).sqrt()) / (2 * a2)
    z_side = lo[..., 2] + t_side * ld[..., 2]
    t_side = torch.where((disc2 > 0) & (t_side > 1e-4) & (z_side.abs() <= half_height), t_side, inf)
    t_cap = (half_height - lo[..., 2]) / torch.where(
        ld[..., 2].abs() > 1e-9, ld[..., 2], torch.full_like(ld[..., 2], 1e-9)
    )
    cap_xy = lo[..., :2] + t_cap[..., None] * ld[..., :2]
    t_cap = torch.where((t_cap > 1e-4) & ((cap_xy**2).sum(-1) <= radius**2), t_cap, inf)
    side_normal_local = lo + t_side[..., None].nan_to_num(0, 0, 0) * ld
    side_normal_local = torch.nn.functional.normalize(side_normal_local * torch.tensor([1.0, 1.0, 0.0]), dim=-1)
    n_side = to_world(side_normal_local)
    n_cap = torch.zeros_like(n_side)
    n_cap[..., 2] = 1
    t_cyl = torch.minimum(t_side, t_cap)
    n_cyl = torch.where((t_side <= t_cap)[..., None], n_side, n_cap)
    # Box: slab test in the object frame.
    half = torch.stack([size[..., 0], size[..., 1], size[..., 2]], -1).expand_as(lo)
    safe_d = torch.where(ld.abs() > 1e-9, ld, torch.full_like(ld, 1e-9))
    t1, t2 = (-half - lo) / safe_d, (half - lo) / safe_d
    t_near, axis = torch.minimum(t1, t2).max(-1)
    t_far = torch.maximum(t1, t2).min(-1).values
    t_box = torch.where((t_far >= t_near) & (t_near > 1e-4), t_near, inf)
    sign = -torch.sign(ld.gather(-1, axis[..., None]))
    n_box_local = torch.zeros_like(lo).scatter(-1, axis[..., None], sign)
    n_box = to_world(n_box_local)
    kind = objects["kind"][:, None]
    t = torch.where(kind == SPHERE, t_sphere, torch.where(kind == CYLINDER, t_cyl, t_box))
    t = torch.where(objects["active"][:, None], t, inf)
    normal = torch.where(
        (kind == SPHERE)[..., None], n_sphere, torch.where((kind == CYLINDER)[..., None], n_cyl, n_box)
    )
    return t, normal


def _shade(points: Tensor, normal: Tensor, hit: Tensor, objects: dict[str, Tensor]) -> Tensor:
    """Colours ``[N, R, 3]`` of hit points; ``hit`` is the object index per ray, ``-1`` for the ground."""
    on_ground = hit < 0
    index = hit.clamp_min(0)

    def take(name: str) -> Tensor:
        value = objects[name]
        idx = index.reshape(*index.shape, *([1] * (value.dim() - 2))).expand(*index.shape, *value.shape[2:])
        return value.gather(1, idx)

    color = take("color")
    frequency = take("frequency")[..., None]
    stripes = torch.sin(frequency * points).prod(-1, keepdim=True) > 0
    textured = take("textured")[..., None]
    object_albedo = torch.where(textured, color * torch.where(stripes, 1.0, 0.45), color)
    # The ground: 0.5-unit tiles whose colours come from a per-scene palette through a hash of the tile index.
    tile = torch.floor(points[..., :2] / 0.5).long()
    palette_index = (tile[..., 0] * 7 + tile[..., 1] * 13).remainder(16)
    ground_albedo = objects["ground_colors"].gather(1, palette_index[..., None].expand(*palette_index.shape, 3))
    albedo = torch.where(on_ground[..., None], ground_albedo, object_albedo)
    lambert = (normal * objects["light"][:, None]).sum(-1, keepdim=True).clamp_min(0)
    return (albedo * (0.4 + 0.6 * lambert)).clamp(0, 1)


@torch.no_grad()
def render_scenes(
    cfg: SceneConfig, num_scenes: int, seed: int, chunk: int = 64, progress: bool = False
) -> dict[str, Tensor]:
    """Render ``num_scenes`` scenes of ``cfg.num_views`` views, deterministically from ``seed``.

    With ``progress``, a bar shows the chunks being rendered.

    Returns:
        ``images`` uint8 ``[N, S, 3, H, W]``, ``depth`` ``[N, S, H, W]``, ``valid`` bool ``[N, S, H, W]``,
        ``extrinsics`` ``[N, S, 3, 4]``, ``intrinsics`` ``[N, S, 3, 3]``, ``track_queries`` ``[N, Q, 2]``
        (pixels of frame 1), ``tracks`` ``[N, S, Q, 2]`` and ``track_visible`` bool ``[N, S, Q]``.
    """
    gen = torch.Generator().manual_seed(seed)
    extrinsics, intrinsics = sample_cameras(num_scenes, cfg, gen)
    objects = sample_objects(num_scenes, cfg, gen)
    size, views = cfg.image_size, cfg.num_views
    uv = pixel_grid(size, size).reshape(-1, 2)  # [P, 2]
    out: dict[str, list[Tensor]] = {"images": [], "depth": [], "valid": []}
    starts = range(0, num_scenes, chunk)
    if progress:
        starts = track(starts, description=f"rendering {num_scenes} scenes", transient=True)
    for start in starts:
        sl = slice(start, min(start + chunk, num_scenes))
        extr, intr = extrinsics[sl], intrinsics[sl]
        n = extr.shape[0]
        rays_cam = torch.cat(
            [(uv - intr[..., None, :2, 2]) / intr[..., None, [0, 1], [0, 1]], torch.ones(n, views, uv.shape[0], 1)], -1
        )
        rotation_c2w = extr[..., :3, :3].transpose(-1, -2)
        direction = rays_cam @ rotation_c2w.transpose(-1, -2)  # [n, S, P, 3]
        origin = (-(rotation_c2w @ extr[..., :3, 3:])).squeeze(-1)[:, :, None].expand_as(direction)
        direction, origin = direction.reshape(n, -1, 3), origin.reshape(n, -1, 3)
        sub = {k: v[sl] for k, v in objects.items()}
        t_obj, normals = _intersect(origin, direction, sub)  # [n, R, M]
        t_best, hit = t_obj.min(-1)
        t_ground = -origin[..., 2] / torch.where(
            direction[..., 2] < -1e-9, direction[..., 2], torch.full_like(t_best, -1e-9)
        )
        ground_xy = origin[..., :2] + t_ground[..., None] * direction[..., :2]
        ground_ok = (direction[..., 2] < -1e-9) & (ground_xy.abs() <= GROUND_HALF_SIZE).all(-1) & (t_ground > 0)
        t_ground = torch.where(ground_ok, t_ground, torch.full_like(t_ground, float("inf")))
        use_ground = t_ground < t_best
        depth = torch.minimum(t_best, t_ground)
        valid = torch.isfinite(depth)
        normal = normals.gather(2, hit[..., None, None].expand(*hit.shape, 1, 3)).squeeze(2)
        normal = torch.where(use_ground[..., None], torch.tensor([0.0, 0.0, 1.0]), normal)
        points = origin + depth.nan_to_num(0, 0, 0)[..., None] * direction
        color = _shade(points, normal, torch.where(use_ground, -1, hit), sub)
        color = torch.where(valid[..., None], color, torch.tensor(BACKGROUND))
        out["images"].append(
            (color.reshape(n, views, size, size, 3).permute(0, 1, 4, 2, 3) * 255).round().to(torch.uint8)
        )
        out["depth"].append(torch.where(valid, depth, 0.0).reshape(n, views, size, size))
        out["valid"].append(valid.reshape(n, views, size, size))
    scenes = {k: torch.cat(v) for k, v in out.items()}
    scenes["extrinsics"], scenes["intrinsics"] = extrinsics, intrinsics
    scenes.update(make_tracks(scenes, cfg.num_tracks, gen))
    return scenes


def make_tracks(scenes: dict[str, Tensor], num_tracks: int, gen: torch.Generator) -> dict[str, Tensor]:
    """Ground-truth tracks: valid pixels of frame 1 reprojected through ground-truth depth and poses.

    A track is visible in a frame when it lands inside the image and its depth matches the rendered depth
    there within 2% (the depth test).
    """
    depth, valid, extr, intr = scenes["depth"], scenes["valid"], scenes["extrinsics"], scenes["intrinsics"]
    n, s, h, w = depth.shape
    scores = torch.rand(n, h * w, generator=gen) + valid[:, 0].reshape(n, -1).float() * 2
    pixel = scores.topk(num_tracks, dim=1).indices  # [N, Q] flat pixel ids, valid ones first
    queries = torch.stack([pixel % w, pixel // w], -1).float() + 0.5  # [N, Q, 2]
    world = unproject_depth_to_world(depth[:, 0], extr[:, 0], intr[:, 0]).reshape(n, -1, 3)
    points = world.gather(1, pixel[..., None].expand(n, num_tracks, 3))  # [N, Q, 3]
    cam = apply_transform(extr, points[:, None].expand(n, s, num_tracks, 3))  # [N, S, Q, 3]
    z = cam[..., 2].clamp_min(1e-6)
    uv = cam[..., :2] / z[..., None] * intr[:, :, None, [0, 1], [0, 1]] + intr[:, :, None, :2, 2]
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h) & (cam[..., 2] > 0)
    col, row = uv[..., 0].floor().long().clamp(0, w - 1), uv[..., 1].floor().long().clamp(0, h - 1)
    rendered = depth.reshape(n, s, -1).gather(2, row * w + col)
    visible = inside & (rendered > 0) & ((rendered - cam[..., 2]).abs() < 0.02 * cam[..., 2])
    visible &= valid[:, :1].reshape(n, 1, -1).gather(2, pixel[:, None]).expand(n, s, num_tracks)
    return {"track_queries": queries, "tracks": uv, "track_visible": visible}


class SceneDataset(Dataset):
    """Rendered scenes as a map-style dataset of dicts (float images in [0, 1], world points included)."""

    def __init__(self, scenes: dict[str, Tensor]) -> None:
        self.scenes = scenes

    def __len__(self) -> int:
        return self.scenes["images"].shape[0]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        item = {k: v[index] for k, v in self.scenes.items()}
        item["images"] = item["images"].float() / 255
        item["world_points"] = unproject_depth_to_world(item["depth"], item["extrinsics"], item["intrinsics"])
        return item


def load_scenes(cfg: SceneConfig, num_scenes: int, seed: int, progress: bool = True) -> dict[str, Tensor]:
    """:func:`render_scenes`, cached under ``$PAPERZOO_CACHE/vggt/scenes`` by config, count and seed."""
    key = {"config": asdict(cfg), "num_scenes": num_scenes, "seed": seed, "version": 1}
    return cached("vggt/scenes", key, lambda: render_scenes(cfg, num_scenes, seed, progress=progress))


class SyntheticSceneDataModule(pl.LightningDataModule):
    """Cached rendered scenes: a training set and a held-out set from disjoint seeds.

    Args:
        num_train: training scenes.
        num_val: held-out scenes (validation, test and predict).
        image_size: square image side; must be a multiple of the model's patch size.
        num_views: views per scene.
        num_tracks: track queries per scene.
        batch_size: scenes per batch.
        seed: data seed; the held-out set uses a different stream derived from it.
        num_workers: DataLoader workers.
        patch_size: the model's patch side; ``image_size`` must be a multiple of it.
    """

    def __init__(
        self,
        num_train: int = 3000,
        num_val: int = 256,
        image_size: int = 64,
        num_views: int = 4,
        num_tracks: int = 16,
        batch_size: int = 16,
        seed: int = 0,
        num_workers: int = 0,
        patch_size: int = 8,
    ) -> None:
        super().__init__()
        if patch_size < 1 or image_size % patch_size:
            raise ValueError(
                f"image_size: expected H and W of [B, S, 3, H, W] divisible by the patch size {patch_size}, "
                f"got {image_size}"
            )
        for name, value, low in (
            ("num_train", num_train, 1),
            ("num_val", num_val, 1),
            ("image_size", image_size, 8),
            ("num_views", num_views, 1),
            ("num_tracks", num_tracks, 1),
            ("batch_size", batch_size, 1),
        ):
            if value < low:
                raise ValueError(f"{name}: expected an integer >= {low}, got {value}")
        self.save_hyperparameters()
        self.scene_config = SceneConfig(image_size=image_size, num_views=num_views, num_tracks=num_tracks)
        self.train_set: SceneDataset | None = None
        # A rendering bar for interactive runs; reproduce turns it off under its own progress display.
        self.render_progress = True
        self.val_set: SceneDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self.val_set is None:
            self.val_set = SceneDataset(
                load_scenes(self.scene_config, hp.num_val, 10_000_019 + hp.seed, self.render_progress)
            )
        if stage in (None, "fit") and self.train_set is None:
            self.train_set = SceneDataset(load_scenes(self.scene_config, hp.num_train, hp.seed, self.render_progress))

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=self.hparams.num_workers,
            drop_last=shuffle,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)
