"""Vamba's modules: the Mamba-2 block, the hybrid decoder layer and the tiny video LMM.

Per decoder layer, with text states ``h [B, N, d]`` and video states ``v [B, M, d]``::

    x  = RMSNorm_in(h)
    h  = h + SA(x) + CA(q=x, kv=u)          # u = RMSNorm_in(v) if ca_layer_norm else v
    v  = v + Mamba2(RMSNorm(v))             # linear in M; seq_idx resets between packed videos
    h  = h + MLP(RMSNorm_post(h))           # video tokens skip the MLP

Text self-attends (causal, RoPE over text positions); it reads the video only through cross-attention,
which has no positions, so temporal order reaches the text only through the Mamba-2 scan over the video.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from paperzoo.kernels.ssd_scan import ssd_scan
from paperzoo.vamba.config import Mamba2Config, ModelConfig


def rope_cos_sin(positions: torch.Tensor, dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotary tables for integer ``positions [B, L]``: cos and sin ``[B, 1, L, dim]``."""
    inv = 1.0 / base ** (torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim)
    ang = positions.to(torch.float32)[..., None] * inv  # [B, L, dim/2]
    ang = torch.cat([ang, ang], dim=-1)[:, None]  # [B, 1, L, dim]
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x [B, H, L, D]`` by the tables of :func:`rope_cos_sin`."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    """Multi-head softmax attention with grouped K/V heads (GQA), on PyTorch SDPA.

    Used as causal self-attention (``kv = None``) and as cross-attention from text to video.
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, n_heads * self.head_dim, bias=True)
        self.k_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=True)
        self.v_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=True)
        self.o_proj = nn.Linear(n_heads * self.head_dim, d_model, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor | None = None,
        causal: bool = False,
        mask: torch.Tensor | None = None,
        rope_q: tuple[torch.Tensor, torch.Tensor] | None = None,
        rope_k: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Attend from ``x [B, L, d]`` to ``kv [B, S, d]`` (``x`` itself when None).

        Args:
            x: queries' states ``[B, L, d]``.
            kv: keys' and values' states ``[B, S, d]``, or None for self-attention.
            causal: causal mask (self-attention without packing).
            mask: boolean ``[B, 1, L, S]``, True where a query may attend; overrides ``causal``.
            rope_q: rotary tables for the queries, or None for no RoPE.
            rope_k: rotary tables for the keys.

        Returns:
            ``[B, L, d]``.
        """
        src = x if kv is None else kv
        b, L, _ = x.shape
        S = src.shape[1]
        q = self.q_proj(x).view(b, L, self.n_heads, self.head_dim).transpose(1, 2)  # [B, H, L, D]
        k = self.k_proj(src).view(b, S, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B, KV, S, D]
        v = self.v_proj(src).view(b, S, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if rope_q is not None:
            q = apply_rope(q, *rope_q)
        if rope_k is not None:
            k = apply_rope(k, *rope_k)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal and mask is None, enable_gqa=self.n_heads != self.n_kv_heads
        )  # [B, H, L, D]
        return self.o_proj(out.transpose(1, 2).reshape(b, L, -1))


class SwiGLU(nn.Module):
    """The Qwen2 MLP: ``down(silu(gate(x)) * up(x))``."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, hidden, bias=False)
        self.up_proj = nn.Linear(d_model, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class GatedRMSNorm(nn.Module):
    """Mamba-2's output norm with ``norm_before_gate = False``: ``RMSNorm(y * silu(z)) * w``."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        y = y * F.silu(z)
        return y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def causal_depthwise_conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, seq_idx: torch.Tensor | None
) -> torch.Tensor:
    """Causal depthwise conv1d over time that never mixes packed sequences.

    Args:
        x: ``[B, L, C]``.
        weight: ``[C, K]`` (tap ``K - 1`` multiplies the current step).
        bias: ``[C]`` or None.
        seq_idx: ``[B, L]`` sequence ids, or None.

    Returns:
        ``[B, L, C]``.
    """
    K = weight.shape[1]
    L = x.shape[1]
    xp = F.pad(x, (0, 0, K - 1, 0))  # [B, L + K - 1, C]
    if seq_idx is not None:
        sp = F.pad(seq_idx, (K - 1, 0), value=-1)  # [B, L + K - 1]
    out = x * weight[:, K - 1]
    for lag in range(1, K):
        shifted = xp[:, K - 1 - lag : K - 1 - lag + L]  # x_{t - lag}
        if seq_idx is not None:
            same = (sp[:, K - 1 - lag : K - 1 - lag + L] == seq_idx).unsqueeze(-1)
            shifted = shifted * same
        out = out + shifted * weight[:, K - 1 - lag]
    return out if bias is None else out + bias


class Mamba2Block(nn.Module):
    """The Mamba-2 mixer (SSD): in-projection, causal conv, selective scan, gated RMSNorm, out-projection.

    ``A = -exp(A_log)`` is one scalar per head; ``dt``, ``B`` and ``C`` come from the input (selective);
    ``D`` is a skip. The scan is :func:`paperzoo.kernels.ssd_scan.ssd_scan` (chunked on CPU, Triton on CUDA).
    """

    def __init__(self, cfg: Mamba2Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.recompute = cfg.recompute
        self.d_inner = cfg.expand * cfg.d_model
        self.n_heads = self.d_inner // cfg.headdim
        self.headdim, self.d_state, self.ngroups = cfg.headdim, cfg.d_state, cfg.ngroups
        self.chunk_size = cfg.chunk_size
        G, N, H = cfg.ngroups, cfg.d_state, self.n_heads
        conv_dim = self.d_inner + 2 * G * N
        self.in_proj = nn.Linear(cfg.d_model, 2 * self.d_inner + 2 * G * N + H, bias=False)
        self.conv_weight = nn.Parameter(torch.empty(conv_dim, cfg.d_conv))
        self.conv_bias = nn.Parameter(torch.zeros(conv_dim)) if cfg.conv_bias else None
        nn.init.kaiming_uniform_(self.conv_weight, a=math.sqrt(5))
        log_min, log_max = math.log(cfg.dt_min), math.log(cfg.dt_max)
        dt = torch.exp(torch.rand(H) * (log_max - log_min) + log_min)
        dt = dt.clamp(min=cfg.dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.empty(H).uniform_(*cfg.A_init_range)))
        self.D = nn.Parameter(torch.ones(H))
        self.norm = GatedRMSNorm(self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, cfg.d_model, bias=False)

    def forward(self, u: torch.Tensor, seq_idx: torch.Tensor | None = None) -> torch.Tensor:
        """Mix ``u [B, M, d]`` along time; ``seq_idx [B, M]`` resets the conv and the scan between videos."""
        zxbcdt = self.in_proj(u)  # [B, M, 2E + 2GN + H]
        if self.recompute and torch.is_grad_enabled():
            # Keep zxbcdt only; backward reruns conv, scan and norm (the fused kernel's checkpoint level 1).
            return checkpoint(self._mix, zxbcdt, seq_idx, use_reentrant=False)
        return self._mix(zxbcdt, seq_idx)

    def _mix(self, zxbcdt: torch.Tensor, seq_idx: torch.Tensor | None) -> torch.Tensor:
        """Conv, scan, gated norm and out-projection of the in-projection ``zxbcdt [B, M, 2E + 2GN + H]``."""
        b, M, _ = zxbcdt.shape
        E, G, N, H = self.d_inner, self.ngroups, self.d_state, self.n_heads
        z, xBC, dt = torch.split(zxbcdt, [E, E + 2 * G * N, H], dim=-1)
        xBC = F.silu(causal_depthwise_conv(xBC, self.conv_weight, self.conv_bias, seq_idx))
        x, Bm, Cm = torch.split(xBC, [E, G * N, G * N], dim=-1)
        y = ssd_scan(
            x.reshape(b, M, H, self.headdim),
            dt,
            -torch.exp(self.A_log),
            Bm.reshape(b, M, G, N),
            Cm.reshape(b, M, G, N),
            chunk_size=self.chunk_size,
            D=self.D,
            dt_bias=self.dt_bias,
            dt_softplus=True,
            seq_idx=seq_idx,
        )  # [B, M, H, P]
        return self.out_proj(self.norm(y.reshape(b, M, E), z))


class VambaDecoderLayer(nn.Module):
    """One hybrid layer: text SA + CA to the video, Mamba-2 on the video, MLP on the text only."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.input_layernorm = nn.RMSNorm(d, eps=1e-6)
        self.self_attn = Attention(d, cfg.n_heads, cfg.n_kv_heads)
        self.cross_attn = Attention(d, cfg.n_heads, cfg.n_kv_heads)
        self.post_attention_layernorm = nn.RMSNorm(d, eps=1e-6)
        self.mlp = SwiGLU(d, cfg.mlp_hidden)
        if cfg.alpha_balancing:
            self.alpha = nn.Parameter(torch.tensor(0.5))
        if cfg.use_mixer:
            self.vision_norm = nn.RMSNorm(d, eps=1e-6)
            self.vision_mixer = Mamba2Block(cfg.mixer)

    def forward(
        self,
        h: torch.Tensor,
        v: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        sa_mask: torch.Tensor | None = None,
        ca_mask: torch.Tensor | None = None,
        video_seq_idx: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update text ``h [B, N, d]`` and video ``v [B, M, d]``; both keep their lengths.

        Args:
            h: text states ``[B, N, d]``.
            v: video states ``[B, M, d]``.
            rope: rotary tables for the text positions.
            sa_mask: ``[B, 1, N, N]`` for packed rows (causal within a sample), or None (plain causal).
            ca_mask: ``[B, 1, N, M]`` for packed rows (a sample's own video), or None (all video).
            video_seq_idx: ``[B, M]`` for packed rows, or None.
        """
        x = self.input_layernorm(h)
        sa = self.self_attn(x, causal=True, mask=sa_mask, rope_q=rope, rope_k=rope)
        u = self.input_layernorm(v) if self.cfg.ca_layer_norm else v
        ca = self.cross_attn(x, kv=u, mask=ca_mask)
        if self.cfg.alpha_balancing:
            a = self.alpha.clamp(0.0, 1.0)
            h = h + a * sa + (1.0 - a) * ca
        else:
            h = h + sa + ca
        if self.cfg.use_mixer:
            v = v + self.vision_mixer(self.vision_norm(v), seq_idx=video_seq_idx)
        h = h + self.mlp(self.post_attention_layernorm(h))
        return h, v


class ViTBlock(nn.Module):
    """Pre-norm transformer block over the patches of one frame (no attention across frames)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class FrameEncoder(nn.Module):
    """Frame patchifier + small ViT (2D positions inside a frame, no temporal position) + projector."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        p = cfg.patch_size
        self.patch_embed = nn.Linear(cfg.channels * p * p, cfg.vit_dim)
        self.pos_embed = nn.Parameter(torch.randn(cfg.patches_per_frame, cfg.vit_dim) * 0.02)
        self.blocks = nn.ModuleList(ViTBlock(cfg.vit_dim, cfg.vit_heads) for _ in range(cfg.vit_layers))
        self.projector = nn.Sequential(nn.LayerNorm(cfg.vit_dim), nn.Linear(cfg.vit_dim, cfg.d_model))

    def check_frames(self, frames: torch.Tensor) -> None:
        """Raise ValueError unless ``frames`` is ``[B, T, C, S, S]`` with ``T <= max_frames``."""
        c = self.cfg
        shape = f"(batch, T <= {c.max_frames}, {c.channels}, {c.frame_size}, {c.frame_size})"
        if not isinstance(frames, torch.Tensor) or frames.dim() != 5:
            got = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ValueError(f"frames: expected shape {shape}, got {got}")
        _, T, C, H, W = frames.shape
        if T < 1 or c.max_frames < T:
            raise ValueError(
                f"frames: video of {T} frames is longer than max_frames = {c.max_frames}; expected shape {shape}"
                if c.max_frames < T
                else f"frames: expected at least one frame; expected shape {shape}"
            )
        if c.channels != C or H % c.patch_size or W % c.patch_size or c.frame_size**2 != H * W:
            raise ValueError(
                f"frames: {H}x{W} frames with {C} channels cannot be tiled into {c.patch_size}x{c.patch_size} "
                f"patches of this model; expected shape {shape}, got {tuple(frames.shape)}"
            )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Encode ``frames [B, T, C, S, S]`` into video tokens ``[B, T * P, d]`` (P patches per frame)."""
        self.check_frames(frames)
        b, T, C, S, _ = frames.shape
        p, g = self.cfg.patch_size, S // self.cfg.patch_size
        patches = frames.reshape(b * T, C, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b * T, g * g, C * p * p)
        x = self.patch_embed(patches) + self.pos_embed  # [B*T, P, vit_dim]
        for block in self.blocks:
            x = block(x)
        return self.projector(x).reshape(b, T * g * g, -1)  # [B, M, d]


def check_text(text: torch.Tensor, cfg: ModelConfig, batch: int) -> None:
    """Raise ValueError unless ``text`` is an integer ``[batch, N]`` tensor with ``N <= max_text``."""
    shape = f"(batch={batch}, N <= {cfg.max_text})"
    if not isinstance(text, torch.Tensor) or text.dim() != 2 or text.shape[0] != batch:
        got = tuple(text.shape) if isinstance(text, torch.Tensor) else type(text).__name__
        raise ValueError(f"text: expected integer token ids of shape {shape}, got {got}")
    if text.is_floating_point() or text.shape[1] < 1 or text.shape[1] > cfg.max_text:
        raise ValueError(f"text: expected integer token ids of shape {shape}, got {tuple(text.shape)} {text.dtype}")


def positions_from_seq_idx(seq_idx: torch.Tensor) -> torch.Tensor:
    """Position of each token inside its own sample: ``[B, L]`` ids -> ``[B, L]`` positions from 0."""
    L = seq_idx.shape[1]
    idx = torch.arange(L, device=seq_idx.device).expand_as(seq_idx)
    starts = torch.ones_like(seq_idx, dtype=torch.bool)
    starts[:, 1:] = seq_idx[:, 1:] != seq_idx[:, :-1]
    start_pos = torch.where(starts, idx, torch.zeros_like(idx)).cummax(dim=1).values
    return idx - start_pos


class LMMBase(nn.Module):
    """What every tiny LMM shares: the frame encoder, text embedding, final norm and LM head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vision = FrameEncoder(cfg)
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    @property
    def head_dim(self) -> int:
        return self.cfg.d_model // self.cfg.n_heads


class TinyLMM(LMMBase):
    """Vamba: video tokens updated by Mamba-2, text by causal SA + CA to the video; M stays intact.

    ``cfg.use_mixer = False`` gives the CA-only ablation (video tokens never change after the projector).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.layers = nn.ModuleList(VambaDecoderLayer(cfg) for _ in range(cfg.n_layers))

    def forward(
        self,
        frames: torch.Tensor,
        text: torch.Tensor,
        frame_seq_idx: torch.Tensor | None = None,
        text_seq_idx: torch.Tensor | None = None,
        packed: bool = False,
        return_video: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Next-token logits of the text.

        Args:
            frames: ``[B, T, C, S, S]`` pixels; in a packed row, several videos one after another.
            text: ``[B, N]`` token ids; in a packed row, several questions one after another.
            frame_seq_idx: ``[B, T]`` sample id of each frame (packed rows only).
            text_seq_idx: ``[B, N]`` sample id of each text token (packed rows only).
            packed: the rows hold several samples; then both ``*_seq_idx`` are required.
            return_video: also return the video states after every layer (each ``[B, M, d]``).

        Returns:
            logits ``[B, N, vocab]`` (and the list of video states).
        """
        video = self.vision(frames)  # [B, M, d]
        b, T = frames.shape[:2]
        check_text(text, self.cfg, b)
        N = text.shape[1]
        ppf = self.cfg.patches_per_frame
        sa_mask = ca_mask = video_seq_idx = None
        if packed or frame_seq_idx is not None or text_seq_idx is not None:
            if frame_seq_idx is None or text_seq_idx is None:
                raise ValueError(
                    f"a packed batch needs frame_seq_idx of shape (batch, T) = {(b, T)} and text_seq_idx of "
                    f"shape (batch, N) = {(b, N)}; got frame_seq_idx={frame_seq_idx is not None}, "
                    f"text_seq_idx={text_seq_idx is not None}"
                )
            if tuple(frame_seq_idx.shape) != (b, T) or tuple(text_seq_idx.shape) != (b, N):
                raise ValueError(
                    f"seq_idx: expected frame_seq_idx (batch, T) = {(b, T)} and text_seq_idx (batch, N) = {(b, N)}, "
                    f"got {tuple(frame_seq_idx.shape)} and {tuple(text_seq_idx.shape)}"
                )
            video_seq_idx = frame_seq_idx.repeat_interleave(ppf, dim=1)  # [B, M]
            causal = torch.ones(N, N, dtype=torch.bool, device=text.device).tril()
            sa_mask = (causal & (text_seq_idx[:, :, None] == text_seq_idx[:, None, :]))[:, None]  # [B, 1, N, N]
            ca_mask = (text_seq_idx[:, :, None] == video_seq_idx[:, None, :])[:, None]  # [B, 1, N, M]
            positions = positions_from_seq_idx(text_seq_idx)
        else:
            positions = torch.arange(N, device=text.device).expand(b, N)
        rope = rope_cos_sin(positions, self.head_dim)
        h = self.embed_tokens(text)  # [B, N, d]
        states = []
        for layer in self.layers:
            h, video = layer(h, video, rope, sa_mask, ca_mask, video_seq_idx)
            states.append(video)
        logits = self.lm_head(self.norm(h))
        return (logits, states) if return_video else logits
