"""The GPU path: fused Triton kernels for entmax attention that never store the score matrix.

Forward (one program per block of queries, as AdaSplash does): a pass over key blocks finds each row's max
score and number of attendable keys; then Newton iterations on the threshold ``tau``, each a pass over key
blocks that accumulates ``f(tau) = sum p - 1`` and ``f'(tau)``, safeguarded by the bracket
``[max - 1, max - n^(1 - alpha)]`` (bisection whenever Newton leaves it); for alpha 1.5 and 2 a last pass
solves for ``tau`` in closed form on the found support. ``f`` is convex and decreasing, so Newton started at
the bracket's left end climbs to the root without overshooting. The output pass accumulates ``p @ v`` and
``sum p`` and divides by the latter, so rows sum to one even before full convergence.

Backward: a preprocessing pass computes, per query, ``delta = sum(g dp) / sum(g)`` with ``g = p^(2 - alpha)``
and ``dp = dout v^T``; one kernel over key blocks accumulates ``dk`` and ``dv``, another over query blocks
accumulates ``dq``; both recompute ``p`` from the saved threshold and normaliser.

Importing this module works without triton; calling :func:`entmax_attention_triton` then raises.
"""

from __future__ import annotations

import math

import torch

try:
    import triton
    import triton.language as tl
except Exception:  # triton is Linux-only; everything else must import without it
    triton = None
    tl = None

from paperzoo.kernels._dispatch import triton_interpreting

NEWTON_ITERS = 16
# Newton stops for a block of queries once |sum(p) - 1| is below this for all its rows.
F_TOLERANCE = 1e-6


def _jit(fn):
    return triton.jit(fn) if triton is not None else fn


@_jit
def _scores(
    q,
    k_base,
    mask_base,
    offs_m,
    n0,
    lq,
    lk,
    d,
    stride_mm,
    stride_mn,
    z_scale,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_MASK: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    """``z = (alpha - 1) * scale * q k^T`` for keys ``n0 : n0 + BLOCK_N`` ([BLOCK_M, BLOCK_N], fp32) and its mask."""
    offs_n = n0 + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    k = tl.load(
        k_base + offs_n[:, None] * d + offs_d[None, :], mask=(offs_n[:, None] < lk) & (offs_d[None, :] < d), other=0.0
    )
    z = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * z_scale
    valid = (offs_m[:, None] < lq) & (offs_n[None, :] < lk)
    if CAUSAL:
        valid = valid & (offs_n[None, :] <= offs_m[:, None])
    if HAS_MASK:
        m = tl.load(mask_base + offs_m[:, None] * stride_mm + offs_n[None, :] * stride_mn, mask=valid, other=0)
        valid = valid & (m != 0)
    return z, valid


@_jit
def _power(u, inv_am1, MODE: tl.constexpr):
    """``u ** (1 / (alpha - 1))`` for ``u >= 0`` (MODE 1: alpha 1.5, MODE 2: alpha 2, MODE 0: any alpha)."""
    if MODE == 1:
        p = u * u
    elif MODE == 2:
        p = u
    else:
        p = tl.where(u > 0, tl.exp2(inv_am1 * tl.log2(tl.maximum(u, 1e-30))), 0.0)
    return p


@_jit
def _power_slope(u, inv_am1, MODE: tl.constexpr):
    """Derivative of :func:`_power` in ``u`` (zero off the support)."""
    if MODE == 1:
        dp = 2 * u
    elif MODE == 2:
        dp = tl.where(u > 0, 1.0, 0.0)
    else:
        dp = tl.where(u > 0, inv_am1 * tl.exp2((inv_am1 - 1) * tl.log2(tl.maximum(u, 1e-30))), 0.0)
    return dp


@_jit
def _support_weight(p, two_minus_alpha, MODE: tl.constexpr):
    """``p ** (2 - alpha)`` on the support, zero elsewhere."""
    if MODE == 1:
        g = tl.sqrt(p)
    elif MODE == 2:
        g = tl.where(p > 0, 1.0, 0.0)
    else:
        g = tl.where(p > 0, tl.exp2(two_minus_alpha * tl.log2(tl.maximum(p, 1e-30))), 0.0)
    return g


@_jit
def _entmax_attn_fwd(
    Q,
    K,
    V,
    MASK,
    OUT,
    TAU,
    NORM,
    lq,
    lk,
    d,
    dv,
    heads,
    stride_mb,
    stride_mh,
    stride_mm,
    stride_mn,
    z_scale,
    alpha,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    MODE: tl.constexpr,
    N_ITER: tl.constexpr,
    F_TOL: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_MASK: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    inv_am1 = 1.0 / (alpha - 1.0)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    q = tl.load(
        Q + bh * lq * d + offs_m[:, None] * d + offs_d[None, :],
        mask=(offs_m[:, None] < lq) & (offs_d[None, :] < d),
        other=0.0,
    )
    k_base = K + bh * lk * d
    v_base = V + bh * lk * dv
    mask_base = MASK + b * stride_mb + h * stride_mh
    n_end = lk
    if CAUSAL:
        n_end = tl.minimum(lk, (pid_m + 1) * BLOCK_M)

    # Pass 1: row max of z and the number of keys each query may attend.
    z_max = tl.full([BLOCK_M], -float("inf"), tl.float32)
    count = tl.zeros([BLOCK_M], tl.float32)
    for n0 in range(0, n_end, BLOCK_N):
        z, valid = _scores(
            q, k_base, mask_base, offs_m, n0, lq, lk, d, stride_mm, stride_mn, z_scale,
            BLOCK_N, BLOCK_D, CAUSAL, HAS_MASK, DOT_PRECISION,
        )  # fmt: skip
        z_max = tl.maximum(z_max, tl.max(tl.where(valid, z, -float("inf")), 1))
        count += tl.sum(valid.to(tl.float32), 1)
    has_keys = count > 0
    z_max = tl.where(has_keys, z_max, 0.0)
    # With max z = m: f(m - 1) >= 0 (the top key alone has p = 1) and f(m - count^(1 - alpha)) <= 0.
    lo = z_max - 1.0
    hi = z_max - tl.exp2((1.0 - alpha) * tl.log2(tl.maximum(count, 1.0)))
    tau = lo

    # Safeguarded Newton on f(tau) = sum_j p_j(tau) - 1, which is convex and decreasing in tau; the block stops
    # early once every row that has keys is within F_TOL of the root (each iteration is a pass over the keys).
    step = 0
    worst = 1.0
    while (step < N_ITER) & (worst > F_TOL):
        f = tl.full([BLOCK_M], -1.0, tl.float32)
        slope = tl.zeros([BLOCK_M], tl.float32)
        for n0 in range(0, n_end, BLOCK_N):
            z, valid = _scores(
                q, k_base, mask_base, offs_m, n0, lq, lk, d, stride_mm, stride_mn, z_scale,
                BLOCK_N, BLOCK_D, CAUSAL, HAS_MASK, DOT_PRECISION,
            )  # fmt: skip
            u = tl.where(valid, tl.maximum(z - tau[:, None], 0.0), 0.0)
            f += tl.sum(_power(u, inv_am1, MODE), 1)
            slope += tl.sum(_power_slope(u, inv_am1, MODE), 1)
        lo = tl.where(f >= 0, tau, lo)
        hi = tl.where(f < 0, tau, hi)
        newton = tau + f / tl.maximum(slope, 1e-30)
        use_newton = (slope > 0) & (newton >= lo) & (newton <= hi)
        tau = tl.where(use_newton, newton, 0.5 * (lo + hi))
        worst = tl.max(tl.where(has_keys, tl.abs(f), 0.0), 0)
        step += 1

    if MODE != 0:
        # Closed form on the support found: sum_S (z - tau) = 1 (alpha 2) or sum_S (z - tau)^2 = 1 (alpha 1.5),
        # in coordinates shifted by the row max so that squares stay small.
        k_s = tl.zeros([BLOCK_M], tl.float32)
        s1 = tl.zeros([BLOCK_M], tl.float32)
        s2 = tl.zeros([BLOCK_M], tl.float32)
        for n0 in range(0, n_end, BLOCK_N):
            z, valid = _scores(
                q, k_base, mask_base, offs_m, n0, lq, lk, d, stride_mm, stride_mn, z_scale,
                BLOCK_N, BLOCK_D, CAUSAL, HAS_MASK, DOT_PRECISION,
            )  # fmt: skip
            in_support = valid & (z > tau[:, None])
            zc = tl.where(in_support, z - z_max[:, None], 0.0)
            k_s += tl.sum(in_support.to(tl.float32), 1)
            s1 += tl.sum(zc, 1)
            s2 += tl.sum(zc * zc, 1)
        k_safe = tl.maximum(k_s, 1.0)
        if MODE == 2:
            exact = (s1 - 1.0) / k_safe
        else:
            mean = s1 / k_safe
            exact = mean - tl.sqrt(tl.maximum((1.0 - (s2 - k_safe * mean * mean)) / k_safe, 0.0))
        tau = tl.where(k_s > 0, z_max + exact, tau)

    # Output pass: acc = sum_j p_j v_j, norm = sum_j p_j.
    acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)
    norm = tl.zeros([BLOCK_M], tl.float32)
    for n0 in range(0, n_end, BLOCK_N):
        z, valid = _scores(
            q, k_base, mask_base, offs_m, n0, lq, lk, d, stride_mm, stride_mn, z_scale,
            BLOCK_N, BLOCK_D, CAUSAL, HAS_MASK, DOT_PRECISION,
        )  # fmt: skip
        p = _power(tl.where(valid, tl.maximum(z - tau[:, None], 0.0), 0.0), inv_am1, MODE)
        norm += tl.sum(p, 1)
        offs_n = n0 + tl.arange(0, BLOCK_N)
        v = tl.load(
            v_base + offs_n[:, None] * dv + offs_dv[None, :],
            mask=(offs_n[:, None] < lk) & (offs_dv[None, :] < dv),
            other=0.0,
        )
        acc += tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
    norm_safe = tl.where(norm > 0, norm, 1.0)
    out = acc / norm_safe[:, None]
    row_ok = offs_m < lq
    tl.store(
        OUT + bh * lq * dv + offs_m[:, None] * dv + offs_dv[None, :],
        out.to(OUT.dtype.element_ty),
        mask=row_ok[:, None] & (offs_dv[None, :] < dv),
    )
    # Rows with no key keep tau = +inf, so every recomputed p is zero.
    tl.store(TAU + bh * lq + offs_m, tl.where(has_keys, tau, float("inf")), mask=row_ok)
    tl.store(NORM + bh * lq + offs_m, norm_safe, mask=row_ok)


@_jit
def _probs(z, valid, tau, norm, inv_am1, MODE: tl.constexpr):
    """Recompute normalised probabilities ``[BLOCK_M, BLOCK_N]`` from the saved threshold and normaliser."""
    u = tl.where(valid, tl.maximum(z - tau[:, None], 0.0), 0.0)
    return _power(u, inv_am1, MODE) / norm[:, None]


@_jit
def _entmax_attn_bwd_delta(
    Q,
    K,
    V,
    MASK,
    DOUT,
    TAU,
    NORM,
    DELTA,
    lq,
    lk,
    d,
    dv,
    heads,
    stride_mb,
    stride_mh,
    stride_mm,
    stride_mn,
    z_scale,
    alpha,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    MODE: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_MASK: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    inv_am1 = 1.0 / (alpha - 1.0)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    row_ok = offs_m < lq
    q = tl.load(
        Q + bh * lq * d + offs_m[:, None] * d + offs_d[None, :], mask=row_ok[:, None] & (offs_d[None, :] < d), other=0.0
    )
    do = tl.load(
        DOUT + bh * lq * dv + offs_m[:, None] * dv + offs_dv[None, :],
        mask=row_ok[:, None] & (offs_dv[None, :] < dv),
        other=0.0,
    )
    tau = tl.load(TAU + bh * lq + offs_m, mask=row_ok, other=float("inf"))
    norm = tl.load(NORM + bh * lq + offs_m, mask=row_ok, other=1.0)
    k_base = K + bh * lk * d
    v_base = V + bh * lk * dv
    mask_base = MASK + b * stride_mb + h * stride_mh
    n_end = lk
    if CAUSAL:
        n_end = tl.minimum(lk, (pid_m + 1) * BLOCK_M)
    weighted = tl.zeros([BLOCK_M], tl.float32)
    weight = tl.zeros([BLOCK_M], tl.float32)
    for n0 in range(0, n_end, BLOCK_N):
        z, valid = _scores(
            q, k_base, mask_base, offs_m, n0, lq, lk, d, stride_mm, stride_mn, z_scale,
            BLOCK_N, BLOCK_D, CAUSAL, HAS_MASK, DOT_PRECISION,
        )  # fmt: skip
        p = _probs(z, valid, tau, norm, inv_am1, MODE)
        g = _support_weight(p, 2.0 - alpha, MODE)
        offs_n = n0 + tl.arange(0, BLOCK_N)
        v = tl.load(
            v_base + offs_n[:, None] * dv + offs_dv[None, :],
            mask=(offs_n[:, None] < lk) & (offs_dv[None, :] < dv),
            other=0.0,
        )
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)
        weighted += tl.sum(g * dp, 1)
        weight += tl.sum(g, 1)
    delta = tl.where(weight > 0, weighted / tl.where(weight > 0, weight, 1.0), 0.0)
    tl.store(DELTA + bh * lq + offs_m, delta, mask=row_ok)


@_jit
def _entmax_attn_bwd_dkdv(
    Q,
    K,
    V,
    MASK,
    DOUT,
    TAU,
    NORM,
    DELTA,
    DK,
    DV,
    lq,
    lk,
    d,
    dv,
    heads,
    stride_mb,
    stride_mh,
    stride_mm,
    stride_mn,
    z_scale,
    scale,
    alpha,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    MODE: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_MASK: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    pid_n = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    inv_am1 = 1.0 / (alpha - 1.0)
    n0 = pid_n * BLOCK_N
    offs_n = n0 + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    col_ok = offs_n < lk
    k_base = K + bh * lk * d
    v = tl.load(
        V + bh * lk * dv + offs_n[:, None] * dv + offs_dv[None, :],
        mask=col_ok[:, None] & (offs_dv[None, :] < dv),
        other=0.0,
    )
    mask_base = MASK + b * stride_mb + h * stride_mh
    dk = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    dv_acc = tl.zeros([BLOCK_N, BLOCK_DV], tl.float32)
    m_start = 0
    if CAUSAL:
        m_start = (n0 // BLOCK_M) * BLOCK_M
    for m0 in range(m_start, lq, BLOCK_M):
        offs_m = m0 + tl.arange(0, BLOCK_M)
        row_ok = offs_m < lq
        q = tl.load(
            Q + bh * lq * d + offs_m[:, None] * d + offs_d[None, :],
            mask=row_ok[:, None] & (offs_d[None, :] < d),
            other=0.0,
        )
        do = tl.load(
            DOUT + bh * lq * dv + offs_m[:, None] * dv + offs_dv[None, :],
            mask=row_ok[:, None] & (offs_dv[None, :] < dv),
            other=0.0,
        )
        tau = tl.load(TAU + bh * lq + offs_m, mask=row_ok, other=float("inf"))
        norm = tl.load(NORM + bh * lq + offs_m, mask=row_ok, other=1.0)
        delta = tl.load(DELTA + bh * lq + offs_m, mask=row_ok, other=0.0)
        z, valid = _scores(
            q, k_base, mask_base, offs_m, n0, lq, lk, d, stride_mm, stride_mn, z_scale,
            BLOCK_N, BLOCK_D, CAUSAL, HAS_MASK, DOT_PRECISION,
        )  # fmt: skip
        p = _probs(z, valid, tau, norm, inv_am1, MODE)  # [BLOCK_M, BLOCK_N]
        dv_acc += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=DOT_PRECISION)
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)
        ds = _support_weight(p, 2.0 - alpha, MODE) * (dp - delta[:, None])
        dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=DOT_PRECISION)
    tl.store(
        DK + bh * lk * d + offs_n[:, None] * d + offs_d[None, :],
        (dk * scale).to(DK.dtype.element_ty),
        mask=col_ok[:, None] & (offs_d[None, :] < d),
    )
    tl.store(
        DV + bh * lk * dv + offs_n[:, None] * dv + offs_dv[None, :],
        dv_acc.to(DV.dtype.element_ty),
        mask=col_ok[:, None] & (offs_dv[None, :] < dv),
    )


@_jit
def _entmax_attn_bwd_dq(
    Q,
    K,
    V,
    MASK,
    DOUT,
    TAU,
    NORM,
    DELTA,
    DQ,
    lq,
    lk,
    d,
    dv,
    heads,
    stride_mb,
    stride_mh,
    stride_mm,
    stride_mn,
    z_scale,
    scale,
    alpha,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr,
    MODE: tl.constexpr,
    CAUSAL: tl.constexpr,
    HAS_MASK: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    pid_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // heads
    h = bh % heads
    inv_am1 = 1.0 / (alpha - 1.0)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.arange(0, BLOCK_DV)
    row_ok = offs_m < lq
    q = tl.load(
        Q + bh * lq * d + offs_m[:, None] * d + offs_d[None, :], mask=row_ok[:, None] & (offs_d[None, :] < d), other=0.0
    )
    do = tl.load(
        DOUT + bh * lq * dv + offs_m[:, None] * dv + offs_dv[None, :],
        mask=row_ok[:, None] & (offs_dv[None, :] < dv),
        other=0.0,
    )
    tau = tl.load(TAU + bh * lq + offs_m, mask=row_ok, other=float("inf"))
    norm = tl.load(NORM + bh * lq + offs_m, mask=row_ok, other=1.0)
    delta = tl.load(DELTA + bh * lq + offs_m, mask=row_ok, other=0.0)
    k_base = K + bh * lk * d
    v_base = V + bh * lk * dv
    mask_base = MASK + b * stride_mb + h * stride_mh
    n_end = lk
    if CAUSAL:
        n_end = tl.minimum(lk, (pid_m + 1) * BLOCK_M)
    dq = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for n0 in range(0, n_end, BLOCK_N):
        z, valid = _scores(
            q, k_base, mask_base, offs_m, n0, lq, lk, d, stride_mm, stride_mn, z_scale,
            BLOCK_N, BLOCK_D, CAUSAL, HAS_MASK, DOT_PRECISION,
        )  # fmt: skip
        p = _probs(z, valid, tau, norm, inv_am1, MODE)
        offs_n = n0 + tl.arange(0, BLOCK_N)
        col_ok = offs_n < lk
        v = tl.load(
            v_base + offs_n[:, None] * dv + offs_dv[None, :], mask=col_ok[:, None] & (offs_dv[None, :] < dv), other=0.0
        )
        k = tl.load(
            k_base + offs_n[:, None] * d + offs_d[None, :], mask=col_ok[:, None] & (offs_d[None, :] < d), other=0.0
        )
        dp = tl.dot(do, tl.trans(v), input_precision=DOT_PRECISION)
        ds = _support_weight(p, 2.0 - alpha, MODE) * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k, input_precision=DOT_PRECISION)
    tl.store(
        DQ + bh * lq * d + offs_m[:, None] * d + offs_d[None, :],
        (dq * scale).to(DQ.dtype.element_ty),
        mask=row_ok[:, None] & (offs_d[None, :] < d),
    )


def _mode(alpha: float) -> int:
    return 1 if alpha == 1.5 else 2 if alpha == 2.0 else 0


def _launch_config(q: torch.Tensor, d: int, dv: int) -> dict:
    small = triton_interpreting() or q.device.type != "cuda"
    return {
        "BLOCK_M": 16 if small else 64,
        "BLOCK_N": 16 if small else 64,
        "BLOCK_D": max(16, triton.next_power_of_2(d)),
        "BLOCK_DV": max(16, triton.next_power_of_2(dv)),
        "DOT_PRECISION": "ieee" if q.dtype == torch.float32 else "tf32",
    }


def _mask_args(mask: torch.Tensor | None, q: torch.Tensor, shape: tuple[int, int, int, int]):
    """An int8 view of the mask broadcast to ``[B, H, Lq, Lk]`` (strides 0 on broadcast dims) and its strides."""
    if mask is None:
        return q, (0, 0, 0, 0)
    m = mask.to(device=q.device, dtype=torch.int8).expand(shape)
    return m, tuple(m.stride())


class EntmaxAttentionTriton(torch.autograd.Function):
    """Fused entmax attention: forward and backward Triton kernels, saving ``q, k, v``, tau and the normaliser."""

    @staticmethod
    def forward(ctx, q, k, v, alpha, causal, mask, scale, n_iter):
        batch, heads, lq, d = q.shape
        lk, dv = k.shape[2], v.shape[3]
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        out = torch.full((batch, heads, lq, dv), math.nan, dtype=q.dtype, device=q.device)
        tau = torch.full((batch, heads, lq), math.nan, dtype=torch.float32, device=q.device)
        norm = torch.full_like(tau, math.nan)
        mask_t, mask_strides = _mask_args(mask, q, (batch, heads, lq, lk))
        cfg = _launch_config(q, d, dv)
        grid = (triton.cdiv(lq, cfg["BLOCK_M"]), batch * heads)
        _entmax_attn_fwd[grid](
            q, k, v, mask_t, out, tau, norm, lq, lk, d, dv, heads, *mask_strides,
            (alpha - 1.0) * scale, alpha, MODE=_mode(alpha), N_ITER=n_iter, F_TOL=F_TOLERANCE, CAUSAL=causal,
            HAS_MASK=mask is not None, **cfg,
        )  # fmt: skip
        ctx.save_for_backward(q, k, v, mask_t, tau, norm)
        ctx.config = (alpha, causal, mask is not None, mask_strides, scale)
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, mask_t, tau, norm = ctx.saved_tensors
        alpha, causal, has_mask, mask_strides, scale = ctx.config
        batch, heads, lq, d = q.shape
        lk, dv = k.shape[2], v.shape[3]
        dout = dout.contiguous().to(q.dtype)
        cfg = _launch_config(q, d, dv)
        common = dict(MODE=_mode(alpha), CAUSAL=causal, HAS_MASK=has_mask, **cfg)
        delta = torch.full_like(tau, math.nan)
        grid_m = (triton.cdiv(lq, cfg["BLOCK_M"]), batch * heads)
        grid_n = (triton.cdiv(lk, cfg["BLOCK_N"]), batch * heads)
        _entmax_attn_bwd_delta[grid_m](
            q, k, v, mask_t, dout, tau, norm, delta, lq, lk, d, dv, heads, *mask_strides,
            (alpha - 1.0) * scale, alpha, **common,
        )  # fmt: skip
        dq = torch.full_like(q, math.nan)
        dk = torch.full_like(k, math.nan)
        dv_t = torch.full_like(v, math.nan)
        _entmax_attn_bwd_dkdv[grid_n](
            q, k, v, mask_t, dout, tau, norm, delta, dk, dv_t, lq, lk, d, dv, heads, *mask_strides,
            (alpha - 1.0) * scale, scale, alpha, **common,
        )  # fmt: skip
        _entmax_attn_bwd_dq[grid_m](
            q, k, v, mask_t, dout, tau, norm, delta, dq, lq, lk, d, dv, heads, *mask_strides,
            (alpha - 1.0) * scale, scale, alpha, **common,
        )  # fmt: skip
        return dq, dk, dv_t, None, None, None, None, None


def entmax_attention_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    alpha: float = 1.5,
    causal: bool = False,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    n_iter: int = NEWTON_ITERS,
) -> torch.Tensor:
    """Entmax attention with fused Triton kernels (inputs already validated; CUDA, or CPU under the interpreter).

    Args:
        q: ``[B, H, Lq, d]``.
        k: ``[B, H, Lk, d]``.
        v: ``[B, H, Lk, dv]``.
        alpha: a float > 1.
        causal: top-left aligned causal mask.
        mask: bool broadcastable to ``[B, H, Lq, Lk]``, True = attend.
        scale: default ``1 / sqrt(d)``.
        n_iter: at most this many safeguarded Newton passes over the keys before the output pass.

    Returns:
        ``[B, H, Lq, dv]`` in q's dtype.

    Raises:
        RuntimeError: triton does not import here.
    """
    if triton is None:
        raise RuntimeError("entmax_attention_triton needs triton, which does not import on this machine")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return EntmaxAttentionTriton.apply(q, k, v, float(alpha), bool(causal), mask, scale, n_iter)
