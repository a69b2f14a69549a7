"""PLADIS: extrapolate cross-attention from dense softmax towards sparse alpha-entmax, at inference time.

    out = Attn + λ·(At_α − Attn) = ((1 − λ)·softmax(S) + λ·entmax_α(S))·V,    S = Q Kᵀ / √d

λ = 0 is vanilla attention, λ = 1 pure entmax attention, λ > 1 (the paper's setting, default 2.0) extrapolates.
The ``shifted`` convention (``At_α + λ(At_α − Attn)``, used by one review) is the same family with λ + 1.

Attention layers of :mod:`paperzoo.pladis.model` call ``self.processor(q, k, v)``; :func:`apply_pladis`
replaces the processor of every cross-attention layer (and of no self-attention layer) with
:class:`PladisCrossAttention`. No parameter changes and the model is still called once per step.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from paperzoo.kernels import entmax, entmax_attention

CONVENTIONS = ("standard", "shifted")
LAYERS = ("cross", "self", "all")


def check_pladis_args(alpha: object, lam: object, convention: str = "standard") -> tuple[float, float]:
    """Validate PLADIS' parameters; returns ``(alpha, λ in the standard convention)``.

    Raises:
        ValueError: alpha <= 1 (alpha = 1 is softmax and would make PLADIS a no-op), a negative or
            non-finite λ, or an unknown convention.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha) or alpha <= 1:
        raise ValueError(f"alpha: expected a finite number > 1 (1.5 = entmax15, 2 = sparsemax), got {alpha!r}")
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam: expected a finite number >= 0 (0 = vanilla attention, 2 = paper default), got {lam!r}")
    if convention not in CONVENTIONS:
        raise ValueError(f"lambda_convention: expected one of {CONVENTIONS}, got {convention!r}")
    return float(alpha), float(lam) + (1.0 if convention == "shifted" else 0.0)


class DenseAttention(nn.Module):
    """The vanilla processor: ``softmax(Q Kᵀ / √d) V`` through ``scaled_dot_product_attention``."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``q [B, H, Lq, d]``, ``k [B, H, Lk, d]``, ``v [B, H, Lk, dv]`` -> ``[B, H, Lq, dv]``."""
        return F.scaled_dot_product_attention(q, k, v)


class PladisCrossAttention(nn.Module):
    """The PLADIS processor: ``((1 − λ)·softmax(S) + λ·entmax_α(S))·V`` from one set of Q, K, V.

    The mix is linear in V, so it is computed on the outputs: ``D + λ·(E − D)`` with ``D = SDPA(Q, K, V)``,
    the vanilla processor's own call, and ``E = entmax_α(S)·V``. At λ = 0 this is the vanilla output bit for
    bit. Mixing the maps instead, ``((1 − λ)·softmax(S) + λ·entmax_α(S))·V``, takes a different rounding path
    from SDPA: after 25 Euler steps its λ = 0 samples differed from vanilla by up to 1.8e-5 (seed 1 of a
    reproduce run). On CUDA ``E`` comes from the fused Triton ``entmax_attention``, so the attention matrix
    is never stored; on the CPU the scores ``S`` are computed once for entmax.

    Args:
        alpha: entmax's α > 1 (1.5: exact sort-based entmax15, 2: sparsemax, other values: bisection).
        lam: the extrapolation scale λ >= 0 (in ``convention``).
        convention: ``"standard"`` (λ = 0 vanilla, paper) or ``"shifted"`` (``At_α + λ(At_α − Attn)``).

    Raises:
        ValueError: see :func:`check_pladis_args`.
    """

    def __init__(self, alpha: float = 1.5, lam: float = 2.0, convention: str = "standard") -> None:
        super().__init__()
        self.alpha, self.lam = check_pladis_args(alpha, lam, convention)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, lam={self.lam}"

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``q [B, H, Lq, d]``, ``k [B, H, Lk, d]``, ``v [B, H, Lk, dv]`` -> ``[B, H, Lq, dv]``."""
        dense = F.scaled_dot_product_attention(q, k, v)
        if q.is_cuda:
            sparse = entmax_attention(q, k, v, alpha=self.alpha)
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [B, H, Lq, Lk]
            sparse = entmax(scores, self.alpha, dim=-1) @ v
        return dense + self.lam * (sparse - dense)


def attention_layers(model: nn.Module, layers: str = "cross") -> list[nn.Module]:
    """The attention modules of ``model`` that PLADIS would patch.

    An attention module is one with a ``processor`` attribute and a boolean ``is_cross_attention``.

    Args:
        model: any module tree.
        layers: ``"cross"`` (PLADIS), ``"self"`` (the ablation only) or ``"all"``.
    """
    if layers not in LAYERS:
        raise ValueError(f"layers: expected one of {LAYERS}, got {layers!r}")
    found = []
    for module in model.modules():
        if not hasattr(module, "processor") or not isinstance(getattr(module, "is_cross_attention", None), bool):
            continue
        if layers == "all" or module.is_cross_attention == (layers == "cross"):
            found.append(module)
    return found


def apply_pladis(
    model: nn.Module, alpha: float = 1.5, lam: float = 2.0, layers: str = "cross", convention: str = "standard"
) -> int:
    """Patch ``model`` in place: every selected attention layer computes PLADIS. No retraining.

    Layers not selected get the vanilla processor back, so calling this again replaces earlier patches.

    Args:
        model: a model whose attention modules expose ``processor`` and ``is_cross_attention``.
        alpha: entmax's α > 1.
        lam: the extrapolation scale λ >= 0.
        layers: ``"cross"`` (PLADIS: all cross-attention layers, no self-attention layer), ``"self"``
            (the paper's ablation) or ``"all"``.
        convention: ``"standard"`` or ``"shifted"`` λ.

    Returns:
        the number of patched layers.

    Raises:
        ValueError: bad α or λ, or a model without any layer of the requested kind.
    """
    check_pladis_args(alpha, lam, convention)
    targets = attention_layers(model, layers)
    if not targets:
        kind = {"cross": "cross-attention", "self": "self-attention", "all": "attention"}[layers]
        raise ValueError(
            f"model: {type(model).__name__} has no {kind} layer to patch (PLADIS needs modules with a "
            "'processor' and is_cross_attention)"
        )
    remove_pladis(model)
    for module in targets:
        module.processor = PladisCrossAttention(alpha, lam, convention)
    return len(targets)


def remove_pladis(model: nn.Module) -> int:
    """Give every attention layer of ``model`` the vanilla processor back; returns how many were patched."""
    count = 0
    for module in attention_layers(model, "all"):
        if isinstance(module.processor, PladisCrossAttention):
            count += 1
        module.processor = DenseAttention()
    return count
