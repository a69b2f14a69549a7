"""Alpha-entmax mappings with closed-form backward passes (the PyTorch path).

alpha-entmax maps scores ``x`` to ``p_i = [(alpha - 1) x_i - tau]_+ ** (1 / (alpha - 1))`` with the threshold
``tau`` chosen so that ``sum(p) == 1`` (Peters, Niculae and Martins, 2019). alpha = 1 is softmax, alpha = 2
is sparsemax; for alpha > 1 the output has exact zeros.

Thresholds are computed here on ``z = (alpha - 1) * (x - max(x))``, so every threshold lies in ``[-1, 0]`` and
scores of any magnitude stay finite. The Jacobian on the support is the same for every alpha: with
``g = p ** (2 - alpha)`` (zero off the support), ``dx = g * dp - g * sum(g * dp) / sum(g)``.
"""

from __future__ import annotations

import torch
from torch.autograd import Function


def _sparsemax_from_sorted(z_sorted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Threshold ``[..., 1]`` and support size ``[..., 1]`` from scores sorted in descending order."""
    rank = torch.arange(1, z_sorted.shape[-1] + 1, device=z_sorted.device, dtype=z_sorted.dtype)
    csum = z_sorted.cumsum(-1) - 1
    # The support is the longest prefix of sorted scores for which rank * z_(k) > cumsum_k - 1.
    support = (rank * z_sorted > csum).sum(-1, keepdim=True)
    return csum.gather(-1, support - 1) / support.to(z_sorted.dtype), support


def _entmax15_from_sorted(z_sorted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Threshold ``[..., 1]`` and support size ``[..., 1]`` from half-scores sorted in descending order."""
    rank = torch.arange(1, z_sorted.shape[-1] + 1, device=z_sorted.device, dtype=z_sorted.dtype)
    mean = z_sorted.cumsum(-1) / rank
    mean_sq = (z_sorted * z_sorted).cumsum(-1) / rank
    # If the support were the top k, tau solves sum_k (z - tau)^2 = 1: tau = mean - sqrt((1 - k var) / k).
    spread = rank * (mean_sq - mean * mean)
    tau = mean - torch.sqrt(((1 - spread) / rank).clamp_min(0))
    support = (tau <= z_sorted).sum(-1, keepdim=True)
    return tau.gather(-1, support - 1), support


def _exact_threshold(z: torch.Tensor, from_sorted, top: int | None) -> torch.Tensor:
    """Threshold from the ``top`` largest entries of each row, with a full sort only for rows that need it.

    The support test is monotone along the sorted scores, so a support smaller than ``top`` found among the top
    entries is the true support; a row whose top entries are all in the support is sorted in full.
    """
    n = z.shape[-1]
    if top is None or top >= n:
        return from_sorted(torch.sort(z, dim=-1, descending=True).values)[0]
    tau, support = from_sorted(torch.topk(z, top, dim=-1, sorted=True).values)
    undecided = (support == top).squeeze(-1)
    if bool(undecided.any()):
        rows = undecided.nonzero(as_tuple=True)
        tau[rows] = from_sorted(torch.sort(z[rows], dim=-1, descending=True).values)[0]
    return tau


def sparsemax_threshold(z: torch.Tensor, top: int | None = None) -> torch.Tensor:
    """Exact sparsemax threshold along the last dim (sort-based).

    Args:
        z: ``[..., n]`` scores with ``max(z) == 0`` per row (any finite values work).
        top: when set, look at the ``top`` largest scores first and sort only rows with a larger support.

    Returns:
        ``[..., 1]`` threshold ``tau`` with ``sum(clamp(z - tau, 0)) == 1``.
    """
    return _exact_threshold(z, _sparsemax_from_sorted, top)


def entmax15_threshold(z: torch.Tensor, top: int | None = None) -> torch.Tensor:
    """Exact 1.5-entmax threshold along the last dim (sort-based).

    Args:
        z: ``[..., n]`` half-scores ``x / 2`` with ``max(z) == 0`` per row.
        top: when set, look at the ``top`` largest scores first and sort only rows with a larger support.

    Returns:
        ``[..., 1]`` threshold ``tau`` with ``sum(clamp(z - tau, 0) ** 2) == 1``.
    """
    return _exact_threshold(z, _entmax15_from_sorted, top)


def _power(u: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``clamp(u, 0) ** (1 / (alpha - 1))`` with special cases for alpha 1.5 and 2."""
    u = u.clamp_min(0)
    if isinstance(alpha, float) and alpha == 1.5:
        return u * u
    if isinstance(alpha, float) and alpha == 2.0:
        return u
    return u ** (1 / (alpha - 1))


def bisect_threshold(z: torch.Tensor, alpha: torch.Tensor | float, n_iter: int) -> torch.Tensor:
    """alpha-entmax threshold along the last dim by bisection.

    Args:
        z: ``[..., n]`` scaled scores ``(alpha - 1) * (x - max(x))``.
        alpha: a float > 1 or a tensor ``[..., 1]`` of them.
        n_iter: bisection steps; the bracket starts at width below 1 and halves each step.

    Returns:
        ``[..., 1]`` the left end of the final bracket (where ``sum(p) >= 1``).
    """
    n = z.shape[-1]
    # With max(z) = 0: at tau = -1 the largest entry alone has p = 1; at tau = -(1/n)^(alpha-1) every p <= 1/n.
    lo = torch.full_like(z[..., :1], -1.0)
    hi = -((1.0 / n) ** (alpha - 1)) * torch.ones_like(lo)
    for _ in range(n_iter):
        mid = (lo + hi) / 2
        above = _power(z - mid, alpha).sum(-1, keepdim=True) >= 1
        lo = torch.where(above, mid, lo)
        hi = torch.where(above, hi, mid)
    return lo


def _support_weights(p: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``p ** (2 - alpha)`` on the support, zero elsewhere."""
    if isinstance(alpha, float) and alpha == 2.0:
        return (p > 0).to(p.dtype)
    if isinstance(alpha, float) and alpha == 1.5:
        return p.sqrt()
    return torch.where(p > 0, p.clamp_min(torch.finfo(p.dtype).tiny) ** (2 - alpha), torch.zeros_like(p))


def entmax_jvp_transpose(p: torch.Tensor, dp: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """Vector-Jacobian product of alpha-entmax along the last dim: ``dx = g * (dp - sum(g dp) / sum(g))``."""
    g = _support_weights(p, alpha)
    g_sum = g.sum(-1, keepdim=True)
    shift = (g * dp).sum(-1, keepdim=True) / torch.where(g_sum > 0, g_sum, torch.ones_like(g_sum))
    return g * (dp - shift)


def _upcast(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class SparsemaxFunction(Function):
    """Sparsemax along the last dim with its closed-form backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        z = _upcast(x)
        z = z - z.amax(-1, keepdim=True)
        p = (z - sparsemax_threshold(z)).clamp_min(0)
        ctx.save_for_backward(p)
        return p.to(x.dtype)

    @staticmethod
    def backward(ctx, dp: torch.Tensor) -> torch.Tensor:
        (p,) = ctx.saved_tensors
        return entmax_jvp_transpose(p, dp.to(p.dtype), 2.0).to(dp.dtype)


class Entmax15Function(Function):
    """1.5-entmax along the last dim with its closed-form backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        z = _upcast(x) / 2
        z = z - z.amax(-1, keepdim=True)
        u = (z - entmax15_threshold(z)).clamp_min(0)
        p = u * u
        ctx.save_for_backward(p)
        return p.to(x.dtype)

    @staticmethod
    def backward(ctx, dp: torch.Tensor) -> torch.Tensor:
        (p,) = ctx.saved_tensors
        return entmax_jvp_transpose(p, dp.to(p.dtype), 1.5).to(dp.dtype)


class EntmaxBisectFunction(Function):
    """alpha-entmax along the last dim by bisection; differentiable in ``x`` and in ``alpha``.

    ``alpha`` is a float or a tensor ``[..., 1]`` matching ``x``'s leading dims. The output is renormalised
    to sum to one exactly.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: torch.Tensor | float, n_iter: int) -> torch.Tensor:
        xf = _upcast(x)
        a = alpha.to(xf.dtype) if isinstance(alpha, torch.Tensor) else float(alpha)
        x_shift = xf - xf.amax(-1, keepdim=True)
        z = (a - 1) * x_shift
        p = _power(z - bisect_threshold(z, a, n_iter), a)
        p = p / p.sum(-1, keepdim=True)
        ctx.alpha_is_tensor = isinstance(alpha, torch.Tensor)
        ctx.alpha_float = None if ctx.alpha_is_tensor else a
        ctx.alpha_shape = alpha.shape if ctx.alpha_is_tensor else None
        ctx.save_for_backward(p, x_shift, a if ctx.alpha_is_tensor else None)
        return p.to(x.dtype)

    @staticmethod
    def backward(ctx, dp: torch.Tensor):
        p, x_shift, a_tensor = ctx.saved_tensors
        a = a_tensor if ctx.alpha_is_tensor else ctx.alpha_float
        dpf = dp.to(p.dtype)
        dx = entmax_jvp_transpose(p, dpf, a)
        d_alpha = None
        if ctx.alpha_is_tensor and ctx.needs_input_grad[1]:
            # Differentiating p_i = u_i^(1/(a-1)), u_i = (a-1) x_i - tau(a), with sum(p) = 1 held fixed:
            # dp_i/da = (g_i (x_i - tau') - p_i log p_i) / (a - 1), g = p^(2-a),
            # tau' = (sum g x - sum p log p) / sum g. The max shift of x cancels, so x_shift serves.
            g = _support_weights(p, a)
            p_log_p = torch.where(p > 0, p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)), torch.zeros_like(p))
            tau_prime = ((g * x_shift).sum(-1, keepdim=True) - p_log_p.sum(-1, keepdim=True)) / g.sum(-1, keepdim=True)
            dp_da = (g * (x_shift - tau_prime) - p_log_p) / (a - 1)
            d_alpha = (dpf * dp_da).sum(-1, keepdim=True)
            d_alpha = _sum_to_shape(d_alpha, ctx.alpha_shape).to(a_tensor.dtype)
        return dx.to(dp.dtype), d_alpha, None


def _sum_to_shape(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a broadcast gradient back to ``shape``."""
    while t.dim() > len(shape):
        t = t.sum(0)
    for axis, size in enumerate(shape):
        if size == 1 and t.shape[axis] != 1:
            t = t.sum(axis, keepdim=True)
    return t


def _along_last(fn, x: torch.Tensor, dim: int, *args) -> torch.Tensor:
    """Apply a last-dim function along ``dim``."""
    if dim in (-1, x.dim() - 1):
        return fn(x, *args)
    return fn(x.transpose(dim, -1), *args).transpose(dim, -1)


def sparsemax_torch(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Sparsemax along ``dim`` (sort-based, closed-form backward)."""
    return _along_last(SparsemaxFunction.apply, x, dim)


def entmax15_torch(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """1.5-entmax along ``dim`` (sort-based, closed-form backward)."""
    return _along_last(Entmax15Function.apply, x, dim)


def entmax_bisect_torch(x: torch.Tensor, alpha: torch.Tensor | float, dim: int = -1, n_iter: int = 50) -> torch.Tensor:
    """alpha-entmax along ``dim`` by bisection; ``alpha`` a float or a tensor broadcastable to ``x``."""
    if isinstance(alpha, torch.Tensor):
        # Move alpha's reduced dim to the end too, so that it broadcasts as [..., 1] against the moved x.
        alpha = alpha.reshape((1,) * (x.dim() - alpha.dim()) + tuple(alpha.shape))
        if dim not in (-1, x.dim() - 1):
            alpha = alpha.transpose(dim, -1)
        return _along_last(lambda t, a, n: EntmaxBisectFunction.apply(t, a, n), x, dim, alpha, n_iter)
    return _along_last(EntmaxBisectFunction.apply, x, dim, float(alpha), n_iter)
