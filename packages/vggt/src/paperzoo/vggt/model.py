"""VGGT: the Alternating-Attention aggregator and its camera, dense (DPT) and track heads.

Shapes: ``B`` scenes, ``S`` frames per scene, ``P`` patch tokens per frame, ``T = 1 + R + P`` tokens per
frame (camera, ``R`` registers, patches), ``C`` the width, ``Q`` track queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paperzoo.vggt.config import ModelConfig
from paperzoo.vggt.geometry import POSE_ENCODING_DIM

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


def check_images(images: Tensor, patch_size: int) -> Tensor:
    """Validate a batch of views and return it as ``[B, S, 3, H, W]`` (a single scene ``[S, 3, H, W]`` is batched).

    Raises:
        ValueError: wrong rank, not 3 channels, no views, or a side not divisible by ``patch_size``.
    """
    if images.dim() == 4:
        images = images[None]
    if images.dim() != 5 or images.shape[2] != 3:
        raise ValueError(f"images: expected shape [B, S, 3, H, W] or [S, 3, H, W], got {tuple(images.shape)}")
    if images.shape[1] < 1:
        raise ValueError(f"images: expected at least 1 view (S >= 1) in [B, S, 3, H, W], got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(
            f"images: expected H and W divisible by the patch size {patch_size} in [B, S, 3, H, W], "
            f"got {tuple(images.shape)}"
        )
    return images


def stack_views(views: Sequence[Tensor], patch_size: int) -> Tensor:
    """Stack a scene's views ``[3, H, W]`` into ``[S, 3, H, W]``, checking that they agree.

    Raises:
        ValueError: no views, a view not ``[3, H, W]``, views of different sizes, or a side not divisible by
            ``patch_size``.
    """
    if len(views) < 1:
        raise ValueError("views: expected at least 1 view of shape [3, H, W], got none")
    first = tuple(views[0].shape)
    for index, view in enumerate(views):
        if view.dim() != 3 or view.shape[0] != 3:
            raise ValueError(f"views[{index}]: expected shape [3, H, W], got {tuple(view.shape)}")
        if tuple(view.shape) != first:
            raise ValueError(f"views[{index}]: expected shape {first} like views[0], got {tuple(view.shape)}")
    return check_images(torch.stack(list(views)), patch_size)[0]


class RotaryEmbedding2D(nn.Module):
    """2D RoPE: the first half of each head's channels rotates with the row, the second with the column.

    Args:
        head_dim: channels per head, a multiple of 4.
        base: frequency base.
    """

    def __init__(self, head_dim: int, base: float = 100.0) -> None:
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"head_dim: expected a multiple of 4 for 2D RoPE, got {head_dim}")
        quarter = head_dim // 4
        self.register_buffer(
            "inv_freq", base ** (-torch.arange(quarter, dtype=torch.float32) / quarter), persistent=False
        )

    def _rotate(self, x: Tensor, position: Tensor) -> Tensor:
        angles = position[..., None].float() * self.inv_freq  # [L, D/4]
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        first, second = x.chunk(2, dim=-1)
        return x * cos.to(x.dtype) + torch.cat([-second, first], -1) * sin.to(x.dtype)

    def forward(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate ``x`` ``[..., L, D]`` by ``positions`` ``[L, 2]`` (row, column)."""
        rows, cols = x.chunk(2, dim=-1)
        return torch.cat([self._rotate(rows, positions[:, 0]), self._rotate(cols, positions[:, 1])], dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention with QK-Norm and optional 2D RoPE (SDPA underneath)."""

    def __init__(self, dim: int, num_heads: int, rope: RotaryEmbedding2D | None = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim: expected a multiple of num_heads={num_heads}, got {dim}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.LayerNorm(dim // num_heads)
        self.k_norm = nn.LayerNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)
        self.rope = rope

    def forward(self, x: Tensor, positions: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``x`` ``[N, L, C]``, ``positions`` ``[L, 2]``, ``mask`` bool ``[L, L]`` (True: may attend)."""
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)  # [N, H, L, D]
        q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None and positions is not None:
            q, k = self.rope(q, positions), self.rope(k, positions)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))


class Block(nn.Module):
    """Pre-norm ViT block with QK-Norm attention and LayerScale."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float, layer_scale: float, rope: RotaryEmbedding2D | None = None
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, rope)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.gamma1 = nn.Parameter(torch.full((dim,), layer_scale))
        self.gamma2 = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: Tensor, positions: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        x = x + self.gamma1 * self.attn(self.norm1(x), positions, mask)
        return x + self.gamma2 * self.mlp(self.norm2(x))


class Aggregator(nn.Module):
    """Patchify every frame, add camera and register tokens, and run pairs of attention blocks.

    Frame 1 gets its own learnable camera and register tokens (index 0 of the ``(1, 2, ...)`` parameters);
    frames 2..S share the second set, which anchors the world to camera 1 and keeps the model
    equivariant to permutations of frames 2..S.

    ``cfg.attn_mode`` picks the pair: ``aa`` frame then global (the paper), ``frame`` two frame blocks
    (no cross-view mixing), ``global`` two global blocks, ``cross`` a frame block then cross-attention from
    each frame to the tokens of the other frames. Every mode has the same parameters.

    Args:
        cfg: the model's config; the aggregator reads ``patch_size``, ``dim``, ``depth`` (block pairs),
            ``num_heads``, ``mlp_ratio``, ``num_registers``, ``attn_mode``, ``layer_scale`` and ``rope_base``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        dim = cfg.dim
        self.patch_size, self.dim, self.attn_mode = cfg.patch_size, dim, cfg.attn_mode
        self.num_special = 1 + cfg.num_registers
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.camera_token = nn.Parameter(torch.randn(1, 2, 1, dim) * 0.02)
        self.register_token = nn.Parameter(torch.randn(1, 2, cfg.num_registers, dim) * 0.02)
        rope = RotaryEmbedding2D(dim // cfg.num_heads, cfg.rope_base)
        self.blocks = nn.ModuleList(
            Block(dim, cfg.num_heads, cfg.mlp_ratio, cfg.layer_scale, rope) for _ in range(2 * cfg.depth)
        )
        pair = {
            "aa": ("frame", "global"),
            "frame": ("frame", "frame"),
            "global": ("global", "global"),
            "cross": ("frame", "cross"),
        }[cfg.attn_mode]
        self.kinds = [pair[i % 2] for i in range(2 * cfg.depth)]
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    def special_tokens(self, batch: int, frames: int) -> Tensor:
        """Camera and register tokens ``[B * S, 1 + R, C]``: set 0 for frame 1, set 1 for the others."""
        tokens = torch.cat([self.camera_token, self.register_token], dim=2)  # [1, 2, 1 + R, C]
        per_frame = torch.cat([tokens[:, :1], tokens[:, 1:].expand(1, frames - 1, -1, -1)], dim=1)
        return per_frame.expand(batch, -1, -1, -1).reshape(batch * frames, self.num_special, self.dim)

    def forward(self, images: Tensor) -> tuple[list[Tensor], int]:
        """Run the aggregator.

        Args:
            images: ``[B, S, 3, H, W]`` in [0, 1].

        Returns:
            per block pair, the two blocks' outputs concatenated ``[B, S, T, 2C]``; and the index of the
            first patch token in ``T``.
        """
        images = check_images(images, self.patch_size)
        batch, frames, _, height, width = images.shape
        grid_h, grid_w = height // self.patch_size, width // self.patch_size
        x = self.patch_embed((images.flatten(0, 1) - self.mean) / self.std)  # [B*S, C, h, w]
        x = torch.cat([self.special_tokens(batch, frames), x.flatten(2).transpose(1, 2)], dim=1)  # [B*S, T, C]
        tokens = x.shape[1]
        rows, cols = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing="ij")
        # Patch positions start at 1 so that the special tokens (position 0) are not rotated.
        frame_pos = torch.cat(
            [torch.zeros(self.num_special, 2, dtype=torch.long), torch.stack([rows.flatten(), cols.flatten()], -1) + 1]
        ).to(x.device)
        global_pos = frame_pos.repeat(frames, 1)  # [S*T, 2]
        cross_mask = None
        if "cross" in self.kinds and frames > 1:
            frame_id = torch.arange(frames, device=x.device).repeat_interleave(tokens)
            cross_mask = frame_id[:, None] != frame_id[None, :]  # [S*T, S*T]
        outputs, pair = [], []
        for block, kind in zip(self.blocks, self.kinds):
            if kind == "frame":
                x = block(x.reshape(batch * frames, tokens, self.dim), frame_pos)
            else:
                mask = cross_mask if kind == "cross" else None
                x = block(x.reshape(batch, frames * tokens, self.dim), global_pos, mask)
            pair.append(x.reshape(batch, frames, tokens, self.dim))
            if len(pair) == 2:
                outputs.append(torch.cat(pair, dim=-1))
                pair = []
        return outputs, self.num_special


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation."""
    return x * (1 + scale) + shift


class CameraHead(nn.Module):
    """Camera tokens -> 9-D pose encodings, refined iteratively with adaLN conditioning on the estimate.

    Args:
        in_dim: aggregator output width (2C).
        dim: trunk width.
        trunk_depth: self-attention blocks over the frames' camera tokens.
        num_heads: heads of the trunk.
        iterations: refinement iterations.
    """

    def __init__(self, in_dim: int, dim: int, trunk_depth: int = 4, num_heads: int = 4, iterations: int = 4) -> None:
        super().__init__()
        self.iterations = iterations
        self.token_norm = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, dim)
        self.trunk = nn.ModuleList(Block(dim, num_heads, 4.0, 0.01) for _ in range(trunk_depth))
        self.trunk_norm = nn.LayerNorm(dim)
        self.empty_pose = nn.Parameter(torch.zeros(1, 1, dim))
        self.embed_pose = nn.Linear(POSE_ENCODING_DIM, dim)
        self.adaln_norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.adaln = nn.Sequential(nn.SiLU(), nn.Linear(dim, 3 * dim))
        self.pose_branch = nn.Sequential(nn.Linear(dim, dim // 2), nn.GELU(), nn.Linear(dim // 2, POSE_ENCODING_DIM))

    @staticmethod
    def activate(pose: Tensor) -> Tensor:
        """Translation and quaternion linear, field of view ReLU (as ``absT_quaR_FoV`` in the released code)."""
        return torch.cat([pose[..., :7], F.relu(pose[..., 7:])], dim=-1)

    def forward(self, camera_tokens: Tensor) -> list[Tensor]:
        """``camera_tokens`` ``[B, S, 2C]`` -> one pose encoding ``[B, S, 9]`` per iteration (last = final)."""
        tokens = self.proj(self.token_norm(camera_tokens))  # [B, S, D]
        pose, predictions = None, []
        for _ in range(self.iterations):
            condition = self.empty_pose.expand_as(tokens) if pose is None else self.embed_pose(pose.detach())
            shift, scale, gate = self.adaln(condition).chunk(3, dim=-1)
            x = gate * modulate(self.adaln_norm(tokens), shift, scale) + tokens
            for block in self.trunk:
                x = block(x)
            delta = self.pose_branch(self.trunk_norm(x))
            pose = delta if pose is None else pose + delta
            predictions.append(self.activate(pose))
        return predictions


def inverse_log(x: Tensor) -> Tensor:
    """``sign(x) (exp|x| - 1)``: the point-map activation of the released code."""
    return torch.sign(x) * torch.expm1(x.abs())


class DPTHead(nn.Module):
    """A light DPT: tokens of several block pairs reassembled to a grid, fused, upsampled to full resolution.

    A 3x3 convolution on the dense features gives depth (``exp``), the point map (``sign·expm1``), their
    confidences (``1 + exp``, so ≥ 1) and the tracking features.

    Args:
        in_dim: aggregator output width (2C).
        patch_size: the aggregator's patch side.
        num_layers: how many block pairs are read (the last ``num_layers``).
        features: fused feature width.
        out_features: dense feature width at full resolution.
        track_dim: tracking-feature channels.
    """

    def __init__(
        self,
        in_dim: int,
        patch_size: int,
        num_layers: int,
        features: int = 64,
        out_features: int = 32,
        track_dim: int = 16,
    ) -> None:
        super().__init__()
        self.patch_size, self.num_layers, self.track_dim = patch_size, num_layers, track_dim
        self.norm = nn.LayerNorm(in_dim)
        self.project = nn.ModuleList(nn.Linear(in_dim, features) for _ in range(num_layers))
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.GELU()) for _ in range(num_layers)
        )
        self.up1 = nn.Sequential(nn.Conv2d(features, out_features, 3, padding=1), nn.GELU())
        self.out = nn.Conv2d(out_features, 1 + 1 + 3 + 1 + track_dim, 3, padding=1)

    def forward(self, outputs: Sequence[Tensor], patch_start: int, image_hw: tuple[int, int]) -> dict[str, Tensor]:
        """Dense predictions from the aggregator outputs (each ``[B, S, T, 2C]``).

        Returns:
            ``depth`` ``[B, S, H, W]``, ``depth_conf`` ``[B, S, H, W]``, ``world_points`` ``[B, S, H, W, 3]``,
            ``world_points_conf`` ``[B, S, H, W]``, ``track_features`` ``[B, S, track_dim, H, W]``.
        """
        batch, frames = outputs[-1].shape[:2]
        height, width = image_hw
        grid = (height // self.patch_size, width // self.patch_size)
        x = None
        # Deepest layer first, each shallower one added after a refinement, as in DPT's fusion blocks.
        for layer, project, fuse in zip(reversed(outputs[-self.num_layers :]), self.project, self.fuse):
            feat = project(self.norm(layer[:, :, patch_start:]))  # [B, S, P, F]
            feat = feat.flatten(0, 1).transpose(1, 2).reshape(batch * frames, -1, *grid)
            x = fuse(feat if x is None else x + feat)
        # Dense features F_i at half resolution, then the 3x3 output convolution at full resolution.
        x = self.up1(F.interpolate(x, size=(height // 2, width // 2), mode="bilinear", align_corners=False))
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
        x = self.out(x).reshape(batch, frames, -1, height, width)
        return {
            "depth": x[:, :, 0].clamp(max=20).exp(),
            "depth_conf": 1 + x[:, :, 1].clamp(max=20).exp(),
            "world_points": inverse_log(x[:, :, 2:5].clamp(-20, 20)).permute(0, 1, 3, 4, 2),
            "world_points_conf": 1 + x[:, :, 5].clamp(max=20).exp(),
            "track_features": x[:, :, 6:],
        }


def bilinear_sample(features: Tensor, points: Tensor) -> Tensor:
    """Sample ``features`` ``[N, C, H, W]`` at pixel coordinates ``points`` ``[N, K, 2]`` -> ``[N, K, C]``."""
    height, width = features.shape[-2:]
    scale = torch.tensor([2 / width, 2 / height], device=points.device, dtype=points.dtype)
    grid = points * scale - 1  # pixel centres at integer + 0.5 match align_corners=False
    return F.grid_sample(features, grid[:, :, None], align_corners=False, padding_mode="border")[..., 0].transpose(1, 2)


class TrackHead(nn.Module):
    """CoTracker2-style tracking on the DPT track features.

    Query features are sampled bilinearly in frame 1; a global correlation with every frame gives the
    initial position (soft-argmax); then ``iterations`` updates read a multi-scale local correlation window
    around the current estimate and predict a position delta and a visibility logit.

    Args:
        feature_dim: tracking-feature channels.
        hidden: width of the update MLP.
        iterations: refinement iterations.
        radius: local correlation window radius (pixels at each pyramid level).
        levels: correlation pyramid levels (average-pooled by 2 each).
    """

    def __init__(
        self, feature_dim: int, hidden: int = 64, iterations: int = 4, radius: int = 2, levels: int = 2
    ) -> None:
        super().__init__()
        self.iterations, self.radius, self.levels = iterations, radius, levels
        self.feature_dim = feature_dim
        window = (2 * radius + 1) ** 2
        self.temperature = nn.Parameter(torch.tensor(1.0))
        self.update = nn.Sequential(
            nn.Linear(levels * window + 2 + hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()
        )
        self.state = nn.GRUCell(hidden, hidden)
        self.delta = nn.Linear(hidden, 3)
        self.hidden = hidden
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
        dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
        self.register_buffer("offsets", torch.stack([dx.flatten(), dy.flatten()], -1), persistent=False)

    def forward(self, features: Tensor, queries: Tensor) -> tuple[list[Tensor], Tensor]:
        """Track ``queries`` through every frame.

        Args:
            features: ``[B, S, C, H, W]`` tracking features.
            queries: ``[B, Q, 2]`` pixel coordinates ``(u, v)`` in frame 1.

        Returns:
            the tracks after each iteration, each ``[B, S, Q, 2]`` (pixels), and visibility logits ``[B, S, Q]``.
        """
        if queries.dim() != 3 or queries.shape[-1] != 2 or queries.shape[0] != features.shape[0]:
            raise ValueError(f"queries: expected shape [B={features.shape[0]}, Q, 2], got {tuple(queries.shape)}")
        batch, frames, channels, height, width = features.shape
        num_queries = queries.shape[1]
        flat = F.normalize(features.flatten(0, 1), dim=1)  # [B*S, C, H, W]
        query_feat = bilinear_sample(flat[::frames], queries)  # [B, Q, C]
        query_feat = query_feat[:, None].expand(batch, frames, num_queries, channels).flatten(0, 1)  # [B*S, Q, C]
        corr = torch.einsum("nqc,nchw->nqhw", query_feat, flat).flatten(2)  # [B*S, Q, H*W]
        weights = torch.softmax(corr * self.temperature.exp() * 10, dim=-1)
        uv = torch.stack(torch.meshgrid(torch.arange(width), torch.arange(height), indexing="xy"), -1)
        uv = uv.reshape(-1, 2).to(features) + 0.5  # [H*W, 2]
        coords = weights @ uv  # [B*S, Q, 2]
        pyramid = [flat]
        for _ in range(self.levels - 1):
            pyramid.append(F.avg_pool2d(pyramid[-1], 2))
        state = flat.new_zeros(batch * frames * num_queries, self.hidden)
        tracks = [coords.reshape(batch, frames, num_queries, 2)]
        visibility = None
        start = queries[:, None].expand(batch, frames, num_queries, 2).flatten(0, 1)
        for _ in range(self.iterations):
            local = []
            for level, feat in enumerate(pyramid):
                window = (coords[:, :, None] / 2**level + self.offsets).flatten(1, 2)  # [B*S, Q*K, 2]
                sampled = bilinear_sample(feat, window).reshape(batch * frames, num_queries, -1, channels)
                local.append(torch.einsum("nqkc,nqc->nqk", sampled, query_feat))
            motion = (coords - start) / max(height, width)
            x = torch.cat([*local, motion, state.reshape(batch * frames, num_queries, -1)], -1)
            state = self.state(self.update(x).flatten(0, 1), state)
            out = self.delta(state).reshape(batch * frames, num_queries, 3)
            coords = coords + out[..., :2]
            visibility = out[..., 2]
            tracks.append(coords.reshape(batch, frames, num_queries, 2))
        return tracks, visibility.reshape(batch, frames, num_queries)


class VGGT(nn.Module):
    """The whole model: aggregator plus camera, DPT and track heads.

    Args:
        cfg: the model's config (:class:`~paperzoo.vggt.config.ModelConfig`).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_size = cfg.patch_size
        self.aggregator = Aggregator(cfg)
        self.camera_head = CameraHead(
            2 * cfg.dim,
            cfg.camera_dim,
            trunk_depth=cfg.camera_trunk_depth,
            num_heads=cfg.num_heads,
            iterations=cfg.camera_iterations,
        )
        self.dense_head = DPTHead(
            2 * cfg.dim,
            cfg.patch_size,
            cfg.dpt_layers,
            features=cfg.dpt_features,
            out_features=cfg.dpt_out_features,
            track_dim=cfg.track_dim,
        )
        self.track_head = TrackHead(cfg.track_dim, iterations=cfg.track_iterations)

    def forward(self, images: Tensor, query_points: Tensor | None = None) -> dict[str, Tensor | list[Tensor]]:
        """Predict cameras, depth, point maps and (with ``query_points``) tracks for every frame.

        Args:
            images: ``[B, S, 3, H, W]`` (or ``[S, 3, H, W]``) in [0, 1].
            query_points: optional ``[B, Q, 2]`` pixel coordinates in frame 1 to track.

        Returns:
            ``pose_enc`` ``[B, S, 9]`` (final), ``pose_enc_list`` (every iteration), ``depth``,
            ``depth_conf``, ``world_points`` (camera-1 frame), ``world_points_conf``, ``track_features``,
            and with queries ``tracks`` (list of ``[B, S, Q, 2]``) and ``track_vis_logits`` ``[B, S, Q]``.
        """
        images = check_images(images, self.patch_size)
        outputs, patch_start = self.aggregator(images)
        poses = self.camera_head(outputs[-1][:, :, 0])
        result: dict[str, Tensor | list[Tensor]] = {"pose_enc_list": poses, "pose_enc": poses[-1]}
        result.update(self.dense_head(outputs, patch_start, images.shape[-2:]))
        if query_points is not None:
            tracks, visibility = self.track_head(result["track_features"], query_points)
            result.update(tracks=tracks, track_vis_logits=visibility)
        return result
