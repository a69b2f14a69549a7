"""Model tests: shapes, bad input, reference-frame tokens, attention modes, heads and the track-loss path."""

import pytest
import torch

from paperzoo.core import OptimConfig, warmup_cosine
from paperzoo.vggt.config import LossConfig, ModelConfig
from paperzoo.vggt.data import SceneConfig, SceneDataset, render_scenes
from paperzoo.vggt.model import VGGT, stack_views
from paperzoo.vggt.module import VGGTModule, confidence_loss, track_loss

SMALL = {
    "patch_size": 8,
    "dim": 32,
    "depth": 2,
    "num_heads": 2,
    "camera_dim": 32,
    "camera_trunk_depth": 1,
    "dpt_layers": 2,
    "dpt_features": 16,
    "dpt_out_features": 8,
    "track_dim": 8,
    "track_iterations": 2,
    "layer_scale": 0.5,
}


def small_model(mode: str = "aa") -> VGGT:
    torch.manual_seed(0)
    return VGGT(ModelConfig(**SMALL, attn_mode=mode)).eval()


def batch_of(n: int = 2, size: int = 16) -> dict[str, torch.Tensor]:
    scenes = render_scenes(SceneConfig(image_size=size, num_tracks=4), n, seed=5)
    items = [SceneDataset(scenes)[i] for i in range(n)]
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def test_output_shapes_and_confidences():
    model = small_model()
    images = torch.rand(2, 3, 3, 16, 24)
    queries = torch.rand(2, 5, 2) * 16
    out = model(images, queries)
    assert out["pose_enc"].shape == (2, 3, 9)
    assert len(out["pose_enc_list"]) == 4
    assert out["depth"].shape == out["depth_conf"].shape == out["world_points_conf"].shape == (2, 3, 16, 24)
    assert out["world_points"].shape == (2, 3, 16, 24, 3)
    assert out["track_features"].shape == (2, 3, 8, 16, 24)
    assert out["tracks"][-1].shape == (2, 3, 5, 2)
    assert out["track_vis_logits"].shape == (2, 3, 5)
    assert (out["depth_conf"] >= 1).all()
    assert (out["world_points_conf"] >= 1).all()
    assert (out["depth"] > 0).all()


def test_single_scene_and_single_view_are_accepted():
    model = small_model()
    assert model(torch.rand(1, 3, 16, 16))["pose_enc"].shape == (1, 1, 9)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((2, 3, 3, 20, 16), "divisible by the patch size 8"),
        ((2, 0, 3, 16, 16), "at least 1 view"),
        ((2, 3, 1, 16, 16), r"\[B, S, 3, H, W\]"),
        ((16, 16), r"\[B, S, 3, H, W\]"),
    ],
)
def test_bad_images_raise_value_errors_naming_the_shape(shape, match):
    with pytest.raises(ValueError, match=match):
        small_model()(torch.rand(*shape))


def test_views_of_different_sizes_are_rejected():
    with pytest.raises(ValueError, match=r"views\[1\]: expected shape \(3, 16, 16\)"):
        stack_views([torch.rand(3, 16, 16), torch.rand(3, 16, 24)], 8)
    with pytest.raises(ValueError, match="at least 1 view"):
        stack_views([], 8)


def test_bad_module_options_raise():
    with pytest.raises(ValueError, match="attn_mode"):
        VGGTModule(model={**SMALL, "attn_mode": "sideways"})
    with pytest.raises(ValueError, match="camera_loss"):
        VGGTModule(model=SMALL, loss={"camera_loss": "l3"})


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"dim": 0}, "dim: expected an integer >= 1, got 0"),
        ({"dim": 24, "num_heads": 4, "camera_dim": 32}, "dim: expected a multiple of 16"),
        ({"camera_dim": 30, "num_heads": 4}, "camera_dim: expected a multiple of num_heads=4"),
        ({"dpt_layers": 3}, r"dpt_layers: expected 1..depth=2, got 3"),
        ({"track_iterations": 0}, "track_iterations"),
    ],
)
def test_bad_model_configs_name_the_field(changes, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**{**SMALL, **changes})


def test_module_takes_configs_whole_or_as_dicts():
    torch.manual_seed(0)
    whole = VGGTModule(model=ModelConfig(**SMALL), loss=LossConfig(track_weight=0.1), optim=OptimConfig(lr=5e-4))
    torch.manual_seed(0)
    dicts = VGGTModule(model=SMALL, loss={"track_weight": 0.1}, optim={"lr": 5e-4})
    assert whole.model_config == dicts.model_config
    assert whole.hparams == dicts.hparams
    assert whole.hparams["loss"]["track_weight"] == 0.1
    for a, b in zip(whole.parameters(), dicts.parameters()):
        torch.testing.assert_close(a, b)


class _Trainer:
    estimated_stepping_batches = 40


def test_warm_up_is_capped_at_a_tenth_of_the_run():
    module = VGGTModule(model=SMALL, optim=OptimConfig(lr=1e-3, weight_decay=0.05, warmup_steps=50))
    module._trainer = _Trainer()
    scheduler = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    # 40 steps: the 50-step warm-up becomes 4 steps, then the cosine decays over the remaining 36.
    expected = warmup_cosine(4, 40)
    assert [f(step) for f in scheduler.lr_lambdas for step in (0, 3, 4, 22, 40)] == [
        expected(step) for _ in scheduler.lr_lambdas for step in (0, 3, 4, 22, 40)
    ]
    decay, no_decay = scheduler.optimizer.param_groups
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.05, 0.0)
    # Camera and register tokens, norms and biases are not decayed; weight matrices are.
    aggregator = module.model.aggregator
    assert any(p is aggregator.camera_token for p in no_decay["params"])
    assert any(p is aggregator.patch_embed.weight for p in decay["params"])
    assert not any(p is aggregator.patch_embed.bias for p in decay["params"])


def test_reference_frame_has_its_own_tokens_and_frames_two_to_n_are_exchangeable():
    model = small_model()
    images = torch.rand(1, 4, 3, 16, 16)
    out = model(images)
    order = [0, 3, 1, 2]
    permuted = model(images[:, order])
    # Frames 2..N permute with the input: the model is equivariant over them.
    torch.testing.assert_close(permuted["pose_enc"], out["pose_enc"][:, order], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(permuted["depth"], out["depth"][:, order], atol=1e-5, rtol=1e-4)
    # Swapping the first frame is not a permutation of the outputs: frame 1 uses different tokens.
    swapped = model(images[:, [1, 0, 2, 3]])
    assert not torch.allclose(swapped["pose_enc"], out["pose_enc"][:, [1, 0, 2, 3]], atol=1e-3)
    tokens = model.aggregator.special_tokens(1, 3)
    assert not torch.allclose(tokens[0], tokens[1])
    torch.testing.assert_close(tokens[1], tokens[2])


@pytest.mark.parametrize(("mode", "mixes"), [("aa", True), ("frame", False), ("global", True), ("cross", True)])
def test_only_frame_attention_keeps_views_apart(mode, mixes):
    model = small_model(mode)
    images = torch.rand(1, 3, 3, 16, 16)
    changed = images.clone()
    changed[:, 2] = torch.rand(3, 16, 16)
    a, b = model(images), model(changed)
    frame_one_moved = (a["depth"][:, 0] - b["depth"][:, 0]).abs().max().item()
    assert (frame_one_moved > 1e-6) == mixes


def test_every_mode_has_the_same_parameters():
    counts = {
        mode: sum(p.numel() for p in small_model(mode).parameters()) for mode in ("aa", "frame", "global", "cross")
    }
    assert len(set(counts.values())) == 1


def test_track_loss_path_trains_the_track_head_and_the_aggregator():
    batch = batch_of()
    model = VGGTModule(model=SMALL)
    out = model.model(batch["images"], batch["track_queries"])
    loss = track_loss(out["tracks"], out["track_vis_logits"], batch["tracks"], batch["track_visible"])
    loss.backward()
    assert torch.isfinite(loss)
    assert model.model.track_head.delta.weight.grad.abs().sum() > 0
    assert model.model.aggregator.patch_embed.weight.grad.abs().sum() > 0
    # The loss is zero-error for perfect visible tracks: only the visibility term remains.
    perfect = track_loss(
        [batch["tracks"]], torch.where(batch["track_visible"], 20.0, -20.0), batch["tracks"], batch["track_visible"]
    )
    assert perfect.item() < 1e-6


def test_confidence_loss_prefers_low_confidence_where_the_error_is_large():
    gt = torch.zeros(1, 1, 8, 8, 1)
    pred = gt.clone()
    pred[..., :4, :] = 1.0  # large error on the left half
    valid = torch.ones(1, 1, 8, 8, dtype=torch.bool)

    def total(conf_left: float, conf_right: float) -> float:
        conf = torch.full((1, 1, 8, 8), conf_right)
        conf[..., :4] = conf_left
        return confidence_loss(pred, gt, conf, valid, gradient_weight=0.0)["total"].item()

    # With α = 0.2 the optimum is Σ = α / |err|, clamped at 1 where the error is large.
    assert total(1.0, 20.0) < total(20.0, 20.0)
    assert total(1.0, 20.0) < total(1.0, 1.0)


def test_module_training_step_runs_and_loss_is_finite():
    batch = batch_of()
    module = VGGTModule(model=SMALL)
    losses, _pred, _target = module.compute_losses(batch)
    assert set(losses) == {"loss", "camera", "depth", "pmap", "track"}
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert module.model.camera_head.pose_branch[-1].weight.grad.abs().sum() > 0
