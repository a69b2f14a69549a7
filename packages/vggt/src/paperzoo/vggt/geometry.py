"""Camera geometry: the pose encoding, unprojection, ground-truth normalisation, Sim(3) alignment and pose metrics.

Conventions (those of the released VGGT code):
- extrinsics are world-to-camera ``[R | t]`` in OpenCV axes (x right, y down, z forward), shape ``[..., 3, 4]``;
- intrinsics are pinhole matrices ``[..., 3, 3]``, pixel centres at integer + 0.5;
- quaternions are scalar-last ``(x, y, z, w)``;
- the 9-D pose encoding ``absT_quaR_FoV`` is ``[t (3), q (4), fov_h, fov_w]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

POSE_ENCODING_DIM = 9


def quaternion_to_matrix(quat: Tensor) -> Tensor:
    """Rotation matrices from (not necessarily unit) scalar-last quaternions.

    Args:
        quat: ``[..., 4]`` as ``(x, y, z, w)``.

    Returns:
        ``[..., 3, 3]`` rotation matrices.
    """
    x, y, z, w = F.normalize(quat, dim=-1).unbind(-1)
    matrix = torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - z * w),
            2 * (x * z + y * w),
            2 * (x * y + z * w),
            1 - 2 * (x * x + z * z),
            2 * (y * z - x * w),
            2 * (x * z - y * w),
            2 * (y * z + x * w),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    )
    return matrix.reshape(*quat.shape[:-1], 3, 3)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """Unit scalar-last quaternions ``[..., 4]`` with ``w >= 0`` from rotation matrices ``[..., 3, 3]``.

    Uses the numerically stable branch per element: the largest of ``w, x, y, z`` is recovered from the
    diagonal, the other three from the off-diagonal entries.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 * [w², x², y², z²], each from the trace and the diagonal.
    squares = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1
    ).clamp_min(1e-12)
    roots = squares.sqrt()  # 2 * |component|
    candidates = torch.stack(
        [
            # w largest: (x, y, z, w)
            torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            # x largest
            torch.stack([squares[..., 1], m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
            # y largest
            torch.stack([m[..., 0, 1] + m[..., 1, 0], squares[..., 2], m[..., 1, 2] + m[..., 2, 1]], -1),
            # z largest
            torch.stack([m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], squares[..., 3]], -1),
        ],
        dim=-2,
    )  # [..., 4 cases, 3 vector parts]
    scalars = torch.stack(
        [squares[..., 0], m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )  # w * 4|largest| per case
    quats = torch.cat([candidates, scalars[..., None]], dim=-1) / (2 * roots[..., None])  # [..., 4, 4]
    best = squares.argmax(dim=-1)
    quat = quats.gather(-2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    quat = F.normalize(quat, dim=-1)
    return torch.where(quat[..., 3:4] < 0, -quat, quat)


def extrinsics_intrinsics_to_pose_encoding(extrinsics: Tensor, intrinsics: Tensor, image_hw: tuple[int, int]) -> Tensor:
    """Encode cameras as ``absT_quaR_FoV``: ``[t (3), q (4), fov_h, fov_w]``.

    Args:
        extrinsics: ``[..., 3, 4]`` world-to-camera.
        intrinsics: ``[..., 3, 3]``.
        image_hw: the image size ``(H, W)`` in pixels.

    Returns:
        ``[..., 9]``.
    """
    height, width = image_hw
    quat = matrix_to_quaternion(extrinsics[..., :3, :3])
    fov_h = 2 * torch.atan(height / (2 * intrinsics[..., 1, 1]))
    fov_w = 2 * torch.atan(width / (2 * intrinsics[..., 0, 0]))
    return torch.cat([extrinsics[..., :3, 3], quat, fov_h[..., None], fov_w[..., None]], dim=-1)


def pose_encoding_to_extrinsics_intrinsics(pose_encoding: Tensor, image_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Invert :func:`extrinsics_intrinsics_to_pose_encoding` (principal point at the image centre).

    Args:
        pose_encoding: ``[..., 9]``.
        image_hw: ``(H, W)``.

    Returns:
        extrinsics ``[..., 3, 4]`` and intrinsics ``[..., 3, 3]``.
    """
    if pose_encoding.shape[-1] != POSE_ENCODING_DIM:
        raise ValueError(f"pose_encoding: expected shape [..., 9], got {tuple(pose_encoding.shape)}")
    height, width = image_hw
    rotation = quaternion_to_matrix(pose_encoding[..., 3:7])
    extrinsics = torch.cat([rotation, pose_encoding[..., :3, None]], dim=-1)
    fy = height / (2 * torch.tan(pose_encoding[..., 7].clamp_min(1e-3) / 2))
    fx = width / (2 * torch.tan(pose_encoding[..., 8].clamp_min(1e-3) / 2))
    intrinsics = torch.zeros(*pose_encoding.shape[:-1], 3, 3, dtype=pose_encoding.dtype, device=pose_encoding.device)
    intrinsics[..., 0, 0], intrinsics[..., 1, 1] = fx, fy
    intrinsics[..., 0, 2], intrinsics[..., 1, 2], intrinsics[..., 2, 2] = width / 2, height / 2, 1.0
    return extrinsics, intrinsics


def invert_extrinsics(extrinsics: Tensor) -> Tensor:
    """``[R | t]`` to ``[Rᵀ | -Rᵀ t]``, shape ``[..., 3, 4]``."""
    rotation_t = extrinsics[..., :3, :3].transpose(-1, -2)
    return torch.cat([rotation_t, -rotation_t @ extrinsics[..., :3, 3:]], dim=-1)


def compose_extrinsics(first: Tensor, second: Tensor) -> Tensor:
    """The transform ``first ∘ second`` (apply ``second``, then ``first``), shape ``[..., 3, 4]``."""
    rotation = first[..., :3, :3] @ second[..., :3, :3]
    translation = first[..., :3, :3] @ second[..., :3, 3:] + first[..., :3, 3:]
    return torch.cat([rotation, translation], dim=-1)


def apply_transform(transform: Tensor, points: Tensor) -> Tensor:
    """Apply ``[..., 3, 4]`` transforms to points ``[..., N, 3]`` (or ``[..., H, W, 3]`` with matching batch)."""
    shape = points.shape
    flat = points.reshape(*transform.shape[:-2], -1, 3)
    out = flat @ transform[..., :3, :3].transpose(-1, -2) + transform[..., None, :3, 3]
    return out.reshape(shape)


def pixel_grid(height: int, width: int, device: torch.device | None = None) -> Tensor:
    """Pixel centres ``[H, W, 2]`` as ``(u, v)`` with centres at integer + 0.5."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device) + 0.5, torch.arange(width, device=device) + 0.5, indexing="ij"
    )
    return torch.stack([u, v], dim=-1)


def unproject_depth(depth: Tensor, intrinsics: Tensor) -> Tensor:
    """Camera-frame points from z-depth.

    Args:
        depth: ``[..., H, W]``.
        intrinsics: ``[..., 3, 3]``.

    Returns:
        ``[..., H, W, 3]`` points in each camera's frame.
    """
    height, width = depth.shape[-2:]
    uv = pixel_grid(height, width, depth.device).to(depth.dtype)  # [H, W, 2]
    fx, fy = intrinsics[..., 0, 0, None, None], intrinsics[..., 1, 1, None, None]
    cx, cy = intrinsics[..., 0, 2, None, None], intrinsics[..., 1, 2, None, None]
    x = (uv[..., 0] - cx) / fx * depth
    y = (uv[..., 1] - cy) / fy * depth
    return torch.stack([x, y, depth], dim=-1)


def unproject_depth_to_world(depth: Tensor, extrinsics: Tensor, intrinsics: Tensor) -> Tensor:
    """World points ``[..., H, W, 3]`` from depth ``[..., H, W]`` and cameras ``[..., 3, 4]``, ``[..., 3, 3]``."""
    camera_points = unproject_depth(depth, intrinsics)
    return apply_transform(invert_extrinsics(extrinsics), camera_points)


def normalize_scene(
    extrinsics: Tensor, depth: Tensor, world_points: Tensor, valid: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The ground-truth normalisation of VGGT: anchor the world at camera 1, divide by the mean point distance.

    Only ground truth goes through this; one scale per scene.

    Args:
        extrinsics: ``[B, S, 3, 4]`` world-to-camera.
        depth: ``[B, S, H, W]``.
        world_points: ``[B, S, H, W, 3]``.
        valid: ``[B, S, H, W]`` bool.

    Returns:
        extrinsics relative to camera 1 ``[B, S, 3, 4]`` (translations scaled), depth ``[B, S, H, W]`` and
        points in the camera-1 frame ``[B, S, H, W, 3]`` divided by the scale, and the scale ``[B]``.
    """
    first_to_world = invert_extrinsics(extrinsics[:, :1])  # [B, 1, 3, 4]
    relative = compose_extrinsics(extrinsics, first_to_world)  # camera-1 frame to camera i
    first = extrinsics[:, 0]  # [B, 3, 4]
    batch = world_points.shape[0]
    points = apply_transform(first, world_points.reshape(batch, -1, 3)).reshape(world_points.shape)
    distance = points.norm(dim=-1) * valid
    scale = distance.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp_min(1)
    scale = scale.clamp_min(1e-6)  # [B]
    relative = torch.cat([relative[..., :3], relative[..., 3:] / scale[:, None, None, None]], dim=-1)
    return relative, depth / scale[:, None, None, None], points / scale[:, None, None, None, None], scale


def umeyama_alignment(source: Tensor, target: Tensor, with_scale: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Least-squares Sim(3) ``s R x + t`` mapping ``source`` to ``target`` (Umeyama 1991).

    Args:
        source: ``[N, 3]``.
        target: ``[N, 3]``.
        with_scale: estimate the scale; otherwise it is 1.

    Returns:
        scale (scalar tensor), rotation ``[3, 3]`` and translation ``[3]``.
    """
    if source.shape != target.shape or source.ndim != 2 or source.shape[-1] != 3:
        raise ValueError(
            f"source, target: expected two [N, 3] tensors, got {tuple(source.shape)}, {tuple(target.shape)}"
        )
    mu_s, mu_t = source.mean(0), target.mean(0)
    xs, xt = source - mu_s, target - mu_t
    covariance = xt.T @ xs / source.shape[0]
    u, sigma, vh = torch.linalg.svd(covariance)
    sign = torch.ones(3, dtype=source.dtype, device=source.device)
    if torch.det(u) * torch.det(vh) < 0:
        sign[-1] = -1
    rotation = u @ torch.diag(sign) @ vh
    variance = xs.pow(2).sum(1).mean()
    scale = (sigma * sign).sum() / variance if with_scale else torch.ones((), dtype=source.dtype)
    translation = mu_t - scale * rotation @ mu_s
    return scale, rotation, translation


def rotation_angle_deg(rotation: Tensor) -> Tensor:
    """The angle of rotation matrices ``[..., 3, 3]`` in degrees."""
    trace = rotation.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.rad2deg(torch.acos(((trace - 1) / 2).clamp(-1.0, 1.0)))


def relative_pose_errors(pred_extrinsics: Tensor, gt_extrinsics: Tensor) -> tuple[Tensor, Tensor]:
    """Relative rotation and translation-direction errors (degrees) over all frame pairs ``i < j``.

    RRA/RTA as in the VGGT evaluation: the translation angle is taken up to sign (``min(e, 180 - e)``), since
    the direction of a relative translation is ambiguous for a pure rotation.

    Args:
        pred_extrinsics: ``[B, S, 3, 4]``.
        gt_extrinsics: ``[B, S, 3, 4]``.

    Returns:
        rotation and translation errors, each ``[B, S (S - 1) / 2]``.
    """
    num_frames = pred_extrinsics.shape[1]
    i, j = torch.triu_indices(num_frames, num_frames, offset=1)

    def relative(extr: Tensor) -> Tensor:
        return compose_extrinsics(extr[:, j], invert_extrinsics(extr[:, i]))  # camera i to camera j

    rel_pred, rel_gt = relative(pred_extrinsics), relative(gt_extrinsics)
    rotation_error = rotation_angle_deg(rel_pred[..., :3, :3] @ rel_gt[..., :3, :3].transpose(-1, -2))
    cosine = F.cosine_similarity(rel_pred[..., 3], rel_gt[..., 3], dim=-1, eps=1e-8).clamp(-1.0, 1.0)
    translation_error = torch.rad2deg(torch.acos(cosine))
    translation_error = torch.minimum(translation_error, 180 - translation_error)
    return rotation_error, translation_error


def auc_at(rotation_error: Tensor, translation_error: Tensor, max_threshold: int = 30) -> float:
    """Pose AUC@``max_threshold``: the mean, over integer thresholds 1..max, of the fraction of pairs whose
    rotation and translation errors are both below the threshold (the smaller of RRA and RTA per pair).

    Args:
        rotation_error: any shape, degrees.
        translation_error: same shape, degrees.
    """
    error = torch.maximum(rotation_error, translation_error).flatten().double()
    if error.numel() == 0:
        raise ValueError("rotation_error: expected at least one pair")
    thresholds = torch.arange(1, max_threshold + 1, dtype=torch.float64)
    accuracy = (error[None, :] < thresholds[:, None]).double().mean(1)
    return float(accuracy.mean())


def fov_to_focal(fov_rad: float | Tensor, size: int) -> float | Tensor:
    """Focal length in pixels for a field of view (radians) across ``size`` pixels."""
    if isinstance(fov_rad, Tensor):
        return size / (2 * torch.tan(fov_rad / 2))
    return size / (2 * math.tan(fov_rad / 2))
