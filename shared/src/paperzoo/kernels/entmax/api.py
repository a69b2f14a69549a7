"""Public entmax functions: input validation and dispatch (re-exported by the package ``__init__``)."""

from __future__ import annotations

import math
import numbers

import torch

from paperzoo.kernels._checks import check_float, check_tensor
from paperzoo.kernels._dispatch import backend
from paperzoo.kernels.entmax.mappings import entmax15_torch, entmax_bisect_torch, sparsemax_torch
from paperzoo.kernels.entmax.reference import entmax_attention_reference, entmax_reference
from paperzoo.kernels.entmax.torch import entmax_attention_torch


def _check_x(x: object, dim: int) -> torch.Tensor:
    x = check_tensor("x", x, tuple(range(1, 65)), "(..., n) with at least one dim")
    check_float("x", x)
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim: expected an int in [{-x.dim()}, {x.dim() - 1}] for x of shape {tuple(x.shape)}")
    return x


def _check_alpha(alpha: object, x: torch.Tensor, dim: int, name: str = "alpha") -> float | torch.Tensor:
    """Return alpha as a float, or as a float tensor broadcastable to x with size 1 along ``dim``."""
    if isinstance(alpha, torch.Tensor) and alpha.numel() == 1 and not alpha.requires_grad:
        alpha = float(alpha)
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        alpha = float(alpha)
        if not alpha > 1 or not math.isfinite(alpha):
            raise ValueError(f"{name}: expected a finite float > 1 (alpha = 1 is softmax), got {alpha}")
        return alpha
    if not isinstance(alpha, torch.Tensor):
        raise ValueError(f"{name}: expected a float > 1 or a tensor broadcastable to x, got {type(alpha).__name__}")
    check_float(name, alpha)
    try:
        shape = torch.broadcast_shapes(alpha.shape, x.shape)
    except RuntimeError:
        raise ValueError(
            f"{name}: expected a tensor broadcastable to x {tuple(x.shape)}, got {tuple(alpha.shape)}"
        ) from None
    if shape != x.shape:
        raise ValueError(f"{name}: broadcasting {tuple(alpha.shape)} with x {tuple(x.shape)} changes x's shape")
    axis = dim % x.dim() - (x.dim() - alpha.dim())
    if axis >= 0 and alpha.shape[axis] != 1:
        raise ValueError(f"{name}: expected size 1 along dim {dim} (one alpha per slice), got {tuple(alpha.shape)}")
    if not bool((alpha > 1).all()):
        raise ValueError(f"{name}: every entry must be > 1 (alpha = 1 is softmax)")
    return alpha


def sparsemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sparsemax (alpha = 2): the Euclidean projection of ``x`` onto the simplex along ``dim``; exact, sort-based.

    Args:
        x: scores, any shape.
        dim: the dim that sums to one.

    Returns:
        probabilities of ``x``'s shape and dtype, with exact zeros.
    """
    x = _check_x(x, dim)
    if backend(x) == "reference":
        return entmax_reference(x, 2.0, dim).to(x.dtype)
    return sparsemax_torch(x, dim)


def entmax15(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """1.5-entmax along ``dim``: ``p = [x / 2 - tau]_+ ** 2``; exact, sort-based.

    Args:
        x: scores, any shape.
        dim: the dim that sums to one.

    Returns:
        probabilities of ``x``'s shape and dtype, with exact zeros.
    """
    x = _check_x(x, dim)
    if backend(x) == "reference":
        return entmax_reference(x, 1.5, dim).to(x.dtype)
    return entmax15_torch(x, dim)


def entmax_bisect(x: torch.Tensor, alpha: float | torch.Tensor = 1.5, dim: int = -1, n_iter: int = 50) -> torch.Tensor:
    """alpha-entmax along ``dim`` for any alpha > 1, by bisection on the threshold.

    Differentiable in ``x`` and, when ``alpha`` is a tensor, in ``alpha``. alpha = 1 would be softmax and is not
    accepted here (use :func:`entmax` or ``torch.softmax``).

    Args:
        x: scores, any shape.
        alpha: a float > 1, or a tensor broadcastable to ``x`` with size 1 along ``dim``.
        dim: the dim that sums to one.
        n_iter: bisection steps; 50 reaches float64 resolution, 25 is enough for float32.

    Returns:
        probabilities of ``x``'s shape and dtype.

    Raises:
        ValueError: alpha <= 1, a bad alpha shape, or a bad ``x``.
    """
    x = _check_x(x, dim)
    alpha = _check_alpha(alpha, x, dim)
    if not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter: expected a positive int, got {n_iter!r}")
    if backend(x) == "reference":
        return entmax_reference(x, alpha, dim).to(x.dtype)
    return entmax_bisect_torch(x, alpha, dim, n_iter)


def entmax(x: torch.Tensor, alpha: float | torch.Tensor, dim: int = -1) -> torch.Tensor:
    """alpha-entmax along ``dim``: softmax for alpha = 1, :func:`entmax15` for 1.5, :func:`sparsemax` for 2,
    bisection (:func:`entmax_bisect`) for any other alpha > 1 or a tensor alpha.

    Raises:
        ValueError: alpha < 1, or a bad ``x``.
    """
    x = _check_x(x, dim)
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool) and float(alpha) == 1.0:
        return torch.softmax(x, dim)
    alpha = _check_alpha(alpha, x, dim)
    if isinstance(alpha, float) and alpha == 1.5:
        return entmax15(x, dim)
    if isinstance(alpha, float) and alpha == 2.0:
        return sparsemax(x, dim)
    return entmax_bisect(x, alpha, dim)


def _check_attention(q, k, v, mask) -> torch.Tensor | None:
    q = check_tensor("q", q, 4, "(batch, heads, Lq, d)")
    k = check_tensor("k", k, 4, "(batch, heads, Lk, d)")
    v = check_tensor("v", v, 4, "(batch, heads, Lk, dv)")
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_float(name, t)
    batch, heads, lq, d = q.shape
    lk = k.shape[2]
    if k.shape[:2] != (batch, heads) or k.shape[3] != d:
        raise ValueError(f"k: expected shape (batch, heads, Lk, d) = ({batch}, {heads}, Lk, {d}), got {tuple(k.shape)}")
    if v.shape[:3] != (batch, heads, lk):
        raise ValueError(
            f"v: expected shape (batch, heads, Lk, dv) = ({batch}, {heads}, {lk}, dv), got {tuple(v.shape)}"
        )
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k, v: expected one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k, v: expected one device, got {q.device}, {k.device}, {v.device}")
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError(
            f"mask: expected a bool tensor broadcastable to (batch, heads, Lq, Lk) = {(batch, heads, lq, lk)}"
        )
    if mask.dim() > 4:
        raise ValueError(f"mask: expected shape broadcastable to {(batch, heads, lq, lk)}, got {tuple(mask.shape)}")
    mask = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape))
    for size, full in zip(mask.shape, (batch, heads, lq, lk), strict=True):
        if size not in (1, full):
            raise ValueError(
                f"mask: expected shape broadcastable to (batch, heads, Lq, Lk) = {(batch, heads, lq, lk)}, "
                f"got {tuple(mask.shape)}"
            )
    return mask.to(q.device)


def entmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alpha: float = 1.5,
    causal: bool = False,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Attention with alpha-entmax in place of softmax: ``entmax_alpha(scale * q k^T) @ v`` over keys.

    The layout is that of ``torch.nn.functional.scaled_dot_product_attention``. The full ``[Lq, Lk]`` attention
    matrix is never stored: on CUDA, fused Triton kernels find each row's threshold blockwise over keys
    (as AdaSplash does); elsewhere queries are processed in chunks, forward and backward. alpha = 1 would be
    softmax attention (use scaled_dot_product_attention); it is not accepted here.

    Args:
        q: ``[B, H, Lq, d]`` queries.
        k: ``[B, H, Lk, d]`` keys.
        v: ``[B, H, Lk, dv]`` values.
        alpha: a float > 1 (1.5 and 2 use exact thresholds on CPU).
        causal: query i attends keys j <= i (top-left aligned, like scaled_dot_product_attention's is_causal).
        mask: bool, broadcastable to ``[B, H, Lq, Lk]``, True = attend; combined with ``causal``.
        scale: score scale, default ``1 / sqrt(d)``.

    Returns:
        ``[B, H, Lq, dv]`` in q's dtype. A query whose keys are all masked gets zeros (and zero gradients).

    Raises:
        ValueError: alpha <= 1, or shapes, dtypes or devices that do not match.
    """
    mask = _check_attention(q, k, v, mask)
    if isinstance(alpha, torch.Tensor) and alpha.numel() == 1:
        alpha = float(alpha)
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not (1 < float(alpha) < math.inf):
        raise ValueError(f"alpha: expected a float > 1 (alpha = 1 is softmax attention), got {alpha!r}")
    alpha = float(alpha)
    if scale is not None and not (isinstance(scale, numbers.Real) and math.isfinite(scale)):
        raise ValueError(f"scale: expected a finite float or None, got {scale!r}")
    which = backend(q, k, v)
    if which == "reference":
        return entmax_attention_reference(q, k, v, alpha, causal, mask, scale).to(q.dtype)
    if which == "triton":
        from paperzoo.kernels.entmax.triton import entmax_attention_triton

        return entmax_attention_triton(q, k, v, alpha, causal, mask, scale)
    return entmax_attention_torch(q, k, v, alpha, causal, mask, scale)
