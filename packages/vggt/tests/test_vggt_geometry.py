"""Unit tests of the geometry: pose encoding, normalisation invariance, AUC@30, Umeyama, unprojection."""

import math

import pytest
import torch

from paperzoo.vggt.data import SceneConfig, SceneDataset, render_scenes
from paperzoo.vggt.geometry import (
    apply_transform,
    auc_at,
    extrinsics_intrinsics_to_pose_encoding,
    matrix_to_quaternion,
    normalize_scene,
    pose_encoding_to_extrinsics_intrinsics,
    quaternion_to_matrix,
    relative_pose_errors,
    umeyama_alignment,
    unproject_depth_to_world,
)
from paperzoo.vggt.module import prepare_targets


def random_rotations(n: int, gen: torch.Generator) -> torch.Tensor:
    return quaternion_to_matrix(torch.randn(n, 4, generator=gen))


def test_quaternion_round_trip_covers_every_branch():
    gen = torch.Generator().manual_seed(0)
    # Random rotations plus rotations by ~180 degrees about each axis, where w is near 0 and another branch wins.
    half_turns = torch.tensor([[1.0, 0.0, 0.0, 0.01], [0.0, 1.0, 0.0, 0.01], [0.0, 0.0, 1.0, 0.01]])
    quats = torch.cat([torch.randn(200, 4, generator=gen), half_turns]).double()
    rotations = quaternion_to_matrix(quats)
    back = quaternion_to_matrix(matrix_to_quaternion(rotations))
    torch.testing.assert_close(back, rotations, atol=1e-9, rtol=0)
    assert (matrix_to_quaternion(rotations)[:, 3] >= 0).all()


def test_pose_encoding_round_trip():
    gen = torch.Generator().manual_seed(1)
    rotation = random_rotations(12, gen).reshape(3, 4, 3, 3)
    extrinsics = torch.cat([rotation, torch.randn(3, 4, 3, 1, generator=gen)], -1)
    intrinsics = torch.zeros(3, 4, 3, 3)
    intrinsics[..., 0, 0] = 40.0
    intrinsics[..., 1, 1] = 30.0
    intrinsics[..., 0, 2], intrinsics[..., 1, 2], intrinsics[..., 2, 2] = 32.0, 24.0, 1.0
    encoding = extrinsics_intrinsics_to_pose_encoding(extrinsics, intrinsics, (48, 64))
    assert encoding.shape == (3, 4, 9)
    extr_back, intr_back = pose_encoding_to_extrinsics_intrinsics(encoding, (48, 64))
    torch.testing.assert_close(extr_back, extrinsics, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(intr_back, intrinsics, atol=1e-4, rtol=1e-5)
    # The field of view of a 64-pixel side seen with focal 40 is 2 atan(32 / 40).
    assert encoding[0, 0, 8].item() == pytest.approx(2 * math.atan(32 / 40), abs=1e-6)


def test_loss_targets_are_invariant_to_a_global_rescaling_of_the_scene():
    scenes = render_scenes(SceneConfig(image_size=16, num_tracks=4), 3, seed=0)
    batch = {
        k: torch.stack([SceneDataset(scenes)[i][k] for i in range(3)])
        for k in ("images", "depth", "valid", "extrinsics", "intrinsics", "world_points")
    }
    scaled = dict(batch)
    factor = 3.7
    scaled["depth"] = batch["depth"] * factor
    scaled["world_points"] = batch["world_points"] * factor
    scaled["extrinsics"] = torch.cat([batch["extrinsics"][..., :3], batch["extrinsics"][..., 3:] * factor], -1)
    a, b = prepare_targets(batch), prepare_targets(scaled)
    for key in ("depth", "world_points", "extrinsics", "pose_enc"):
        torch.testing.assert_close(a[key], b[key], atol=1e-4, rtol=1e-4)
    assert b["scale"] / a["scale"] == pytest.approx(torch.full((3,), factor), rel=1e-5)
    # Normalised points live in camera 1's frame, at unit mean distance, and camera 1 becomes the identity.
    valid = a["world_points"].norm(dim=-1)[batch["valid"]]
    assert valid.mean().item() == pytest.approx(1.0, abs=1e-4)
    torch.testing.assert_close(a["extrinsics"][:, 0], torch.eye(3, 4).expand(3, 3, 4), atol=1e-5, rtol=0)


def test_normalised_points_match_depth_unprojected_in_camera_one():
    scenes = render_scenes(SceneConfig(image_size=16, num_tracks=4), 2, seed=3)
    item = SceneDataset(scenes)[0]
    extr, depth, points, _ = normalize_scene(
        item["extrinsics"][None], item["depth"][None], item["world_points"][None], item["valid"][None]
    )
    # Unprojecting the normalised depth with the normalised cameras gives the normalised camera-1 points.
    again = unproject_depth_to_world(depth[0], extr[0], item["intrinsics"])
    valid = item["valid"]
    torch.testing.assert_close(again[valid], points[0][valid], atol=1e-4, rtol=1e-4)


def test_auc_on_hand_built_cases():
    zeros = torch.zeros(10)
    assert auc_at(zeros, zeros) == pytest.approx(1.0)
    assert auc_at(zeros + 45, zeros) == 0.0
    # An error of 15 degrees passes thresholds 16..30: 15 of 30.
    assert auc_at(torch.full((4,), 15.0), torch.zeros(4)) == pytest.approx(0.5)
    # A pair counts only when both errors are below the threshold.
    assert auc_at(torch.tensor([0.0]), torch.tensor([29.5])) == pytest.approx(1 / 30)
    assert auc_at(torch.tensor([0.0, 40.0]), torch.tensor([0.0, 0.0])) == pytest.approx(0.5)


def test_relative_pose_errors_are_zero_for_a_similarity_of_the_world():
    gen = torch.Generator().manual_seed(2)
    extr = torch.cat([random_rotations(4, gen), torch.randn(4, 3, 1, generator=gen)], -1)[None]
    # Move the whole world by a rotation, translation and scale: relative poses do not change (up to scale).
    world = torch.cat([random_rotations(1, gen)[0], torch.randn(3, 1, generator=gen)], -1)
    world_inv_r = world[:, :3].T
    moved_r = extr[..., :3] @ world_inv_r
    moved_t = 2.5 * (extr[..., 3:] - moved_r @ world[:, 3:])
    rot, trans = relative_pose_errors(torch.cat([moved_r, moved_t], -1), extr)
    assert rot.shape == (1, 6)
    assert rot.max() < 1e-2
    assert trans.max() < 1e-1


def test_umeyama_recovers_a_similarity():
    gen = torch.Generator().manual_seed(4)
    source = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    rotation = random_rotations(1, gen)[0].double()
    target = 1.7 * source @ rotation.T + torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    scale, rot, trans = umeyama_alignment(source, target)
    assert scale.item() == pytest.approx(1.7)
    torch.testing.assert_close(rot, rotation)
    torch.testing.assert_close(scale * source @ rot.T + trans, target)
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        umeyama_alignment(source[:, :2], target[:, :2])


def test_apply_transform_identity():
    points = torch.randn(2, 5, 3)
    torch.testing.assert_close(apply_transform(torch.eye(3, 4).expand(2, 3, 4), points), points)
