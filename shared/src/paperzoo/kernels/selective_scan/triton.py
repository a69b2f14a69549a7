"""The selective scan in Triton: forward and backward kernels in a ``torch.autograd.Function``.

One program owns ``BLOCK_D`` channels of one batch row and walks the sequence, keeping the
``(BLOCK_D, dstate)`` state in registers; every input is read once and the output written once. The
forward stores the state at the start of every ``CHUNK`` steps. The backward walks the chunks from the
last to the first: it recomputes a chunk's states from its checkpoint into a small scratch buffer, then
runs the adjoint recurrence ``g_t = dy_t C_t + a_{t+1} g_{t+1}`` backwards through the chunk.

The kernels are written for a generic "channel" layout so that the SSD scan (Mamba-2) reuses them: a
head's ``headdim`` rows are channels that share one ``dt`` (``DL_DIV = headdim``) and one scalar ``A``
(``A_DIV = headdim``, ``dstate`` stride 0). Options the SSD scan needs (``seq_idx`` resets, an initial
state, its gradient) are compile-time switches.

Importing this module never fails; calling it without triton raises a RuntimeError.
"""

from __future__ import annotations

import math

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - exercised only where triton is missing
    triton = None

from paperzoo.kernels._dispatch import triton_interpreting

if triton is not None:

    @triton.jit
    def _softplus(x):
        return tl.where(x <= 20.0, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))), x)

    @triton.jit
    def _scan_fwd_kernel(
        u_ptr, dl_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, seq_ptr, h0_ptr,
        y_ptr, last_ptr, ck_ptr,
        dim, L, dstate, n_chunks, cpg_B, cpg_C,
        s_u_b, s_u_d, s_u_t,
        s_dl_b, s_dl_d, s_dl_t,
        s_A_d, s_A_n,
        s_B_b, s_B_g, s_B_n, s_B_t,
        s_C_b, s_C_g, s_C_n, s_C_t,
        s_seq_b, s_seq_t,
        DL_DIV: tl.constexpr, A_DIV: tl.constexpr,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
        HAS_SEQ: tl.constexpr, HAS_H0: tl.constexpr, STORE_CK: tl.constexpr,
        CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    ):  # fmt: skip
        pid_d = tl.program_id(0)
        pid_b = tl.program_id(1)
        offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        offs_n = tl.arange(0, BLOCK_N)
        mask_d = offs_d < dim
        mask_n = offs_n < dstate
        mask_dn = mask_d[:, None] & mask_n[None, :]
        grp_B = (pid_d * BLOCK_D) // cpg_B
        grp_C = (pid_d * BLOCK_D) // cpg_C

        A = tl.load(A_ptr + (offs_d // A_DIV)[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_dn, other=0.0)
        A = A.to(tl.float32)
        if HAS_D:
            Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
        if HAS_BIAS:
            bias = tl.load(bias_ptr + offs_d // DL_DIV, mask=mask_d, other=0.0).to(tl.float32)
        state_offs = (pid_b * dim + offs_d)[:, None] * dstate + offs_n[None, :]
        if HAS_H0:
            h = tl.load(h0_ptr + state_offs, mask=mask_dn, other=0.0).to(tl.float32)
        else:
            h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        if HAS_SEQ:
            prev_seq = tl.load(seq_ptr + pid_b * s_seq_b)
        u_base = u_ptr + pid_b * s_u_b + offs_d * s_u_d
        dl_base = dl_ptr + pid_b * s_dl_b + (offs_d // DL_DIV) * s_dl_d
        B_base = B_ptr + pid_b * s_B_b + grp_B * s_B_g + offs_n * s_B_n
        C_base = C_ptr + pid_b * s_C_b + grp_C * s_C_g + offs_n * s_C_n

        for c in range(0, n_chunks):
            if STORE_CK:
                ck_offs = ((pid_b * n_chunks + c) * dim + offs_d)[:, None] * dstate + offs_n[None, :]
                tl.store(ck_ptr + ck_offs, h, mask=mask_dn)
            t_end = tl.minimum(c * CHUNK + CHUNK, L)
            for t in range(c * CHUNK, t_end):
                u = tl.load(u_base + t * s_u_t, mask=mask_d, other=0.0).to(tl.float32)
                dl = tl.load(dl_base + t * s_dl_t, mask=mask_d, other=0.0).to(tl.float32)
                if HAS_BIAS:
                    dl += bias
                if SOFTPLUS:
                    dl = _softplus(dl)
                a = tl.exp(dl[:, None] * A)
                if HAS_SEQ:
                    cur_seq = tl.load(seq_ptr + pid_b * s_seq_b + t * s_seq_t)
                    a = tl.where(cur_seq == prev_seq, a, 0.0)
                    prev_seq = cur_seq
                Bv = tl.load(B_base + t * s_B_t, mask=mask_n, other=0.0).to(tl.float32)
                Cv = tl.load(C_base + t * s_C_t, mask=mask_n, other=0.0).to(tl.float32)
                h = a * h + (dl * u)[:, None] * Bv[None, :]
                y = tl.sum(h * Cv[None, :], axis=1)
                if HAS_D:
                    y += Dv * u
                if HAS_Z:
                    zz = tl.load(z_ptr + pid_b * s_u_b + offs_d * s_u_d + t * s_u_t, mask=mask_d, other=0.0)
                    zz = zz.to(tl.float32)
                    y = y * zz * tl.sigmoid(zz)
                tl.store(y_ptr + pid_b * s_u_b + offs_d * s_u_d + t * s_u_t, y.to(y_ptr.dtype.element_ty), mask=mask_d)
        tl.store(last_ptr + state_offs, h, mask=mask_dn)

    @triton.jit
    def _scan_bwd_kernel(
        u_ptr, dl_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr, seq_ptr, ck_ptr, gy_ptr, glast_ptr, scratch_ptr,
        gu_ptr, gdl_ptr, gz_ptr, gA_ptr, gB_ptr, gC_ptr, gD_ptr, gbias_ptr, gh0_ptr,
        dim, L, dstate, n_chunks, cpg_B, cpg_C, n_dblocks,
        s_u_b, s_u_d, s_u_t,
        s_dl_b, s_dl_d, s_dl_t,
        s_A_d, s_A_n,
        s_B_b, s_B_g, s_B_n, s_B_t,
        s_C_b, s_C_g, s_C_n, s_C_t,
        s_gB_b, s_gB_g, s_gB_n, s_gB_t,
        s_gC_b, s_gC_g, s_gC_n, s_gC_t,
        s_seq_b, s_seq_t,
        DL_DIV: tl.constexpr, A_DIV: tl.constexpr,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
        HAS_SEQ: tl.constexpr, HAS_GLAST: tl.constexpr,
        CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    ):  # fmt: skip
        pid_d = tl.program_id(0)
        pid_b = tl.program_id(1)
        offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        offs_n = tl.arange(0, BLOCK_N)
        mask_d = offs_d < dim
        mask_n = offs_n < dstate
        mask_dn = mask_d[:, None] & mask_n[None, :]
        grp_B = (pid_d * BLOCK_D) // cpg_B
        grp_C = (pid_d * BLOCK_D) // cpg_C

        A = tl.load(A_ptr + (offs_d // A_DIV)[:, None] * s_A_d + offs_n[None, :] * s_A_n, mask=mask_dn, other=0.0)
        A = A.to(tl.float32)
        if HAS_D:
            Dv = tl.load(D_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
        if HAS_BIAS:
            bias = tl.load(bias_ptr + offs_d // DL_DIV, mask=mask_d, other=0.0).to(tl.float32)
        state_offs = (pid_b * dim + offs_d)[:, None] * dstate + offs_n[None, :]
        if HAS_GLAST:
            carry = tl.load(glast_ptr + state_offs, mask=mask_dn, other=0.0).to(tl.float32)
        else:
            carry = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        gA_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
        gD_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
        gbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
        u_base = u_ptr + pid_b * s_u_b + offs_d * s_u_d
        dl_base = dl_ptr + pid_b * s_dl_b + (offs_d // DL_DIV) * s_dl_d
        B_base = B_ptr + pid_b * s_B_b + grp_B * s_B_g + offs_n * s_B_n
        C_base = C_ptr + pid_b * s_C_b + grp_C * s_C_g + offs_n * s_C_n
        gB_base = gB_ptr + pid_b * s_gB_b + grp_B * s_gB_g + offs_n * s_gB_n
        gC_base = gC_ptr + pid_b * s_gC_b + grp_C * s_gC_g + offs_n * s_gC_n
        tile = tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + offs_n[None, :]
        scratch = scratch_ptr + (pid_b * n_dblocks + pid_d) * (CHUNK + 1) * BLOCK_D * BLOCK_N + tile

        for cc in range(0, n_chunks):
            c = n_chunks - 1 - cc
            t0 = c * CHUNK
            t_end = tl.minimum(t0 + CHUNK, L)
            # Recompute this chunk's states from its checkpoint: scratch[k] is the state before step t0 + k.
            ck_offs = ((pid_b * n_chunks + c) * dim + offs_d)[:, None] * dstate + offs_n[None, :]
            h = tl.load(ck_ptr + ck_offs, mask=mask_dn, other=0.0)
            tl.store(scratch, h)
            if HAS_SEQ:
                prev_seq = tl.load(seq_ptr + pid_b * s_seq_b + tl.maximum(t0 - 1, 0) * s_seq_t)
            for t in range(t0, t_end):
                u = tl.load(u_base + t * s_u_t, mask=mask_d, other=0.0).to(tl.float32)
                dl = tl.load(dl_base + t * s_dl_t, mask=mask_d, other=0.0).to(tl.float32)
                if HAS_BIAS:
                    dl += bias
                if SOFTPLUS:
                    dl = _softplus(dl)
                a = tl.exp(dl[:, None] * A)
                if HAS_SEQ:
                    cur_seq = tl.load(seq_ptr + pid_b * s_seq_b + t * s_seq_t)
                    a = tl.where(cur_seq == prev_seq, a, 0.0)
                    prev_seq = cur_seq
                Bv = tl.load(B_base + t * s_B_t, mask=mask_n, other=0.0).to(tl.float32)
                h = a * h + (dl * u)[:, None] * Bv[None, :]
                tl.store(scratch + (t - t0 + 1) * BLOCK_D * BLOCK_N, h)
            tl.debug_barrier()
            for tt in range(0, t_end - t0):
                t = t_end - 1 - tt
                k = t - t0
                u = tl.load(u_base + t * s_u_t, mask=mask_d, other=0.0).to(tl.float32)
                dl = tl.load(dl_base + t * s_dl_t, mask=mask_d, other=0.0).to(tl.float32)
                if HAS_BIAS:
                    dl += bias
                if SOFTPLUS:
                    dsp = tl.sigmoid(dl)
                    dl = _softplus(dl)
                a = tl.exp(dl[:, None] * A)
                if HAS_SEQ:
                    cur_seq = tl.load(seq_ptr + pid_b * s_seq_b + t * s_seq_t)
                    before_seq = tl.load(seq_ptr + pid_b * s_seq_b + tl.maximum(t - 1, 0) * s_seq_t)
                    a = tl.where(cur_seq == before_seq, a, 0.0)
                Bv = tl.load(B_base + t * s_B_t, mask=mask_n, other=0.0).to(tl.float32)
                Cv = tl.load(C_base + t * s_C_t, mask=mask_n, other=0.0).to(tl.float32)
                h_prev = tl.load(scratch + k * BLOCK_D * BLOCK_N)
                h_t = tl.load(scratch + (k + 1) * BLOCK_D * BLOCK_N)
                gy = tl.load(gy_ptr + pid_b * s_u_b + offs_d * s_u_d + t * s_u_t, mask=mask_d, other=0.0)
                gy = gy.to(tl.float32)
                if HAS_Z:
                    zz = tl.load(z_ptr + pid_b * s_u_b + offs_d * s_u_d + t * s_u_t, mask=mask_d, other=0.0)
                    zz = zz.to(tl.float32)
                    sz = tl.sigmoid(zz)
                    y0 = tl.sum(h_t * Cv[None, :], axis=1)
                    if HAS_D:
                        y0 += Dv * u
                    gz = gy * y0 * sz * (1.0 + zz * (1.0 - sz))
                    tl.store(gz_ptr + pid_b * s_u_b + offs_d * s_u_d + t * s_u_t, gz, mask=mask_d)
                    gy = gy * zz * sz
                gu = tl.zeros((BLOCK_D,), dtype=tl.float32)
                if HAS_D:
                    gD_acc += gy * u
                    gu = gy * Dv
                gCt = tl.sum(gy[:, None] * h_t, axis=0)
                tl.atomic_add(gC_base + t * s_gC_t, gCt, mask=mask_n)
                g = gy[:, None] * Cv[None, :] + carry
                g = tl.where(mask_dn, g, 0.0)
                gBt = tl.sum(g * (dl * u)[:, None], axis=0)
                tl.atomic_add(gB_base + t * s_gB_t, gBt, mask=mask_n)
                gdlu = tl.sum(g * Bv[None, :], axis=1)
                ga = g * h_prev * a
                gdl = gdlu * u + tl.sum(ga * A, axis=1)
                gu += gdlu * dl
                gA_acc += ga * dl[:, None]
                carry = a * g
                if SOFTPLUS:
                    gdl = gdl * dsp
                gbias_acc += gdl
                tl.store(gu_ptr + pid_b * s_u_b + offs_d * s_u_d + t * s_u_t, gu, mask=mask_d)
                tl.store(gdl_ptr + pid_b * s_u_b + offs_d * s_u_d + t * s_u_t, gdl, mask=mask_d)
            tl.debug_barrier()
        tl.store(gh0_ptr + state_offs, carry, mask=mask_dn)
        tl.atomic_add(gA_ptr + offs_d[:, None] * dstate + offs_n[None, :], gA_acc, mask=mask_dn)
        if HAS_D:
            tl.atomic_add(gD_ptr + offs_d, gD_acc, mask=mask_d)
        if HAS_BIAS:
            tl.atomic_add(gbias_ptr + offs_d, gbias_acc, mask=mask_d)


def _require_triton(*tensors: torch.Tensor | None) -> None:
    if triton is None:
        raise RuntimeError("the Triton scan needs the triton package (Linux); use PAPERZOO_KERNELS=torch")
    if not triton_interpreting() and not all(t.is_cuda for t in tensors if t is not None):
        raise RuntimeError("the Triton scan needs CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors)")


def pick_blocks(dim: int, dstate: int, cpg_B: int, cpg_C: int) -> tuple[int, int]:
    """``(BLOCK_D, BLOCK_N)``: a channel block never straddles a group of B or C."""
    block_n = triton.next_power_of_2(dstate)
    cap = max(1, min(32, 2048 // block_n))
    if cpg_B == dim and cpg_C == dim:
        return min(cap, triton.next_power_of_2(dim)), block_n
    common = math.gcd(cpg_B, cpg_C)
    block_d = 1
    while block_d * 2 <= cap and common % (block_d * 2) == 0:
        block_d *= 2
    return block_d, block_n


class ScanLayout:
    """How the generic kernels address one problem's tensors (strides in elements).

    Every per-channel tensor (u, z, y and their gradients) shares ``u``'s strides ``(b, d, t)``; ``dl`` has
    its own and is shared by ``dl_div`` consecutive channels; ``A`` is read at ``(d // a_div, n)``.
    """

    def __init__(self, batch, dim, L, dstate, s_u, s_dl, dl_div, s_A, a_div, s_B, s_C, cpg_B, cpg_C, chunk):
        self.batch, self.dim, self.L, self.dstate = batch, dim, L, dstate
        self.s_u, self.s_dl, self.dl_div, self.s_A, self.a_div = s_u, s_dl, dl_div, s_A, a_div
        self.s_B, self.s_C, self.cpg_B, self.cpg_C = s_B, s_C, cpg_B, cpg_C
        self.chunk = chunk
        self.n_chunks = math.ceil(L / chunk)
        self.block_d, self.block_n = pick_blocks(dim, dstate, cpg_B, cpg_C)
        self.n_dblocks = math.ceil(dim / self.block_d)

    def grid(self) -> tuple[int, int]:
        return (self.n_dblocks, self.batch)

    def launch_opts(self) -> dict:
        return {"num_warps": 4} if not triton_interpreting() else {}


def scan_forward(lay, u, dl, A, B, C, D, z, bias, softplus, seq, h0, y, store_ck):
    """Run the forward kernel; returns ``(last_state (b, dim, dstate) f32, checkpoints or None)``."""
    f32 = {"device": u.device, "dtype": torch.float32}
    last = torch.full((lay.batch, lay.dim, lay.dstate), float("nan"), **f32)
    ck = torch.empty((lay.batch, lay.n_chunks, lay.dim, lay.dstate), **f32) if store_ck else last
    dummy = last
    seq_strides = seq.stride() if seq is not None else (0, 0)
    _scan_fwd_kernel[lay.grid()](
        u, dl, A, B, C,
        D if D is not None else dummy, z if z is not None else dummy, bias if bias is not None else dummy,
        seq if seq is not None else dummy, h0 if h0 is not None else dummy,
        y, last, ck,
        lay.dim, lay.L, lay.dstate, lay.n_chunks, lay.cpg_B, lay.cpg_C,
        *lay.s_u, *lay.s_dl, *lay.s_A, *lay.s_B, *lay.s_C, *seq_strides,
        DL_DIV=lay.dl_div, A_DIV=lay.a_div,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=bias is not None, SOFTPLUS=softplus,
        HAS_SEQ=seq is not None, HAS_H0=h0 is not None, STORE_CK=store_ck,
        CHUNK=lay.chunk, BLOCK_D=lay.block_d, BLOCK_N=lay.block_n, **lay.launch_opts(),
    )  # fmt: skip
    return last, (ck if store_ck else None)


def scan_backward(lay, u, dl, A, B, C, D, z, bias, softplus, seq, ck, gy, glast, gB, s_gB, gC, s_gC):
    """Run the backward kernel. ``gB``/``gC`` are zeroed float32 buffers it accumulates into.

    Returns:
        ``(gu, gdl, gz, gA, gD, gbias, gh0)``: per-channel float32 gradients (``gdl`` and ``gbias`` before
        any reduction over channels that share a ``dl``; ``gA`` as ``(dim, dstate)``).
    """
    f32 = {"device": u.device, "dtype": torch.float32}
    per_channel = u.shape

    def nan_like_u():
        return torch.full(per_channel, float("nan"), **f32).as_strided(per_channel, u.stride())

    gu, gdl = nan_like_u(), nan_like_u()
    gz = nan_like_u() if z is not None else None
    gA = torch.zeros((lay.dim, lay.dstate), **f32)
    gD = torch.zeros((lay.dim,), **f32)
    gbias = torch.zeros((lay.dim,), **f32)
    gh0 = torch.full((lay.batch, lay.dim, lay.dstate), float("nan"), **f32)
    scratch = torch.empty((lay.batch * lay.n_dblocks * (lay.chunk + 1) * lay.block_d * lay.block_n,), **f32)
    dummy = gD
    seq_strides = seq.stride() if seq is not None else (0, 0)
    _scan_bwd_kernel[lay.grid()](
        u, dl, A, B, C,
        D if D is not None else dummy, z if z is not None else dummy, bias if bias is not None else dummy,
        seq if seq is not None else dummy, ck, gy, glast if glast is not None else dummy, scratch,
        gu, gdl, gz if gz is not None else dummy, gA, gB, gC, gD, gbias, gh0,
        lay.dim, lay.L, lay.dstate, lay.n_chunks, lay.cpg_B, lay.cpg_C, lay.n_dblocks,
        *lay.s_u, *lay.s_dl, *lay.s_A, *lay.s_B, *lay.s_C, *s_gB, *s_gC, *seq_strides,
        DL_DIV=lay.dl_div, A_DIV=lay.a_div,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=bias is not None, SOFTPLUS=softplus,
        HAS_SEQ=seq is not None, HAS_GLAST=glast is not None,
        CHUNK=lay.chunk, BLOCK_D=lay.block_d, BLOCK_N=lay.block_n, **lay.launch_opts(),
    )  # fmt: skip
    return gu, gdl, gz, gA, gD, gbias, gh0


def _grouped(M: torch.Tensor) -> torch.Tensor:
    """``(b, n, L)`` or ``(b, g, n, L)`` as a contiguous ``(b, g, n, L)``."""
    return (M.unsqueeze(1) if M.dim() == 3 else M).contiguous()


class _SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk):
        batch, dim, L = u.shape
        dstate = A.shape[1]
        u, delta, A = u.contiguous(), delta.contiguous(), A.contiguous().float()
        Bg, Cg = _grouped(B), _grouped(C)
        Df = D.contiguous().float() if D is not None else None
        biasf = delta_bias.contiguous().float() if delta_bias is not None else None
        z = z.contiguous() if z is not None else None
        lay = ScanLayout(
            batch, dim, L, dstate, u.stride(), delta.stride(), 1, A.stride(), 1,
            Bg.stride(), Cg.stride(), dim // Bg.shape[1], dim // Cg.shape[1], chunk,
        )  # fmt: skip
        y = torch.full_like(u, float("nan"))
        store_ck = any(ctx.needs_input_grad)
        last, ck = scan_forward(lay, u, delta, A, Bg, Cg, Df, z, biasf, delta_softplus, None, None, y, store_ck)
        ctx.save_for_backward(u, delta, A, Bg, Cg, Df, z, biasf, ck)
        ctx.lay, ctx.softplus = lay, delta_softplus
        ctx.shapes = (B.shape, C.shape)
        ctx.dtypes = tuple(t.dtype if t is not None else None for t in (u, delta, B, C, D, z, delta_bias))
        ctx.a_dtype = A.dtype
        ctx.set_materialize_grads(False)
        return y, last

    @staticmethod
    def backward(ctx, gy, glast):
        u, delta, A, Bg, Cg, Df, z, biasf, ck = ctx.saved_tensors
        lay = ctx.lay
        if gy is None:
            gy = torch.zeros_like(u)
        gy = gy.contiguous()
        glast = glast.contiguous().float() if glast is not None else None
        gB = torch.zeros(Bg.shape, device=u.device, dtype=torch.float32)
        gC = torch.zeros(Cg.shape, device=u.device, dtype=torch.float32)
        gu, gdl, gz, gA, gD, gbias, _ = scan_backward(
            lay, u, delta, A, Bg, Cg, Df, z, biasf, ctx.softplus, None, ck, gy, glast,
            gB, gB.stride(), gC, gC.stride(),
        )  # fmt: skip
        t_u, t_delta, t_B, t_C, t_D, t_z, t_bias = ctx.dtypes
        B_shape, C_shape = ctx.shapes
        return (
            gu.to(t_u),
            gdl.to(t_delta),
            gA.to(ctx.a_dtype),
            gB.view(B_shape).to(t_B),
            gC.view(C_shape).to(t_C),
            gD.to(t_D) if t_D is not None else None,
            gz.to(t_z) if t_z is not None else None,
            gbias.to(t_bias) if t_bias is not None else None,
            None,
            None,
        )


def selective_scan_triton(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    chunk_size: int = 64,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan on Triton; same arguments and results as :func:`selective_scan_ref`.

    Args:
        chunk_size: steps between the forward's state checkpoints (the backward recomputes within them).
    """
    _require_triton(u, delta, A, B, C, D, z, delta_bias)
    y, last = _SelectiveScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk_size)
    if u.dtype == torch.float64:
        last = last.double()
    return (y, last) if return_last_state else y
