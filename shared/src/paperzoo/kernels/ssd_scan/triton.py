"""The SSD scan (Mamba-2) in Triton: the selective-scan kernels with one channel per (head, headdim) row.

A head's ``headdim`` rows share one ``dt`` and one scalar ``A``; heads share B and C by group. This maps
the SSD recurrence exactly onto the generic kernels of :mod:`paperzoo.kernels.selective_scan.triton`
(forward and backward, with ``seq_idx`` resets, initial and final states); ``chunk_size`` is the
interval between the forward's state checkpoints that the backward recomputes from. It is the
recurrent form, one state update per step kept in registers, not the tensor-core chunked form.

Importing this module never fails; calling it without triton raises a RuntimeError.
"""

from __future__ import annotations

import torch

from paperzoo.kernels.selective_scan.triton import ScanLayout, _require_triton, scan_backward, scan_forward


def _bld(t: torch.Tensor) -> tuple[int, int, int]:
    """Strides of a ``(batch, L, channels)`` tensor in the kernels' ``(batch, channel, time)`` order."""
    return (t.stride(0), t.stride(2), t.stride(1))


class _SSDScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dt, A, B, C, D, z, dt_bias, dt_softplus, initial_states, seq_idx, chunk):
        batch, L, heads, headdim = x.shape
        groups, dstate = B.shape[2], B.shape[3]
        dim = heads * headdim
        u = x.reshape(batch, L, dim).contiguous()
        dtc = dt.contiguous()
        Af = A.contiguous().float()
        Bc, Cc = B.contiguous(), C.contiguous()
        Df = None
        if D is not None:
            Df = (D.repeat_interleave(headdim) if D.dim() == 1 else D.reshape(-1)).contiguous().float()
        zc = z.reshape(batch, L, dim).contiguous() if z is not None else None
        biasf = dt_bias.contiguous().float() if dt_bias is not None else None
        h0 = initial_states.reshape(batch, dim, dstate).contiguous().float() if initial_states is not None else None
        seq = seq_idx.contiguous() if seq_idx is not None else None
        cpg = dim // groups
        s_B = (Bc.stride(0), Bc.stride(2), Bc.stride(3), Bc.stride(1))
        s_C = (Cc.stride(0), Cc.stride(2), Cc.stride(3), Cc.stride(1))
        lay = ScanLayout(batch, dim, L, dstate, _bld(u), _bld(dtc), headdim, (1, 0), headdim, s_B, s_C, cpg, cpg, chunk)
        y = torch.full_like(u, float("nan"))
        store_ck = any(ctx.needs_input_grad)
        last, ck = scan_forward(lay, u, dtc, Af, Bc, Cc, Df, zc, biasf, dt_softplus, seq, h0, y, store_ck)
        ctx.save_for_backward(u, dtc, Af, Bc, Cc, Df, zc, biasf, seq, ck)
        ctx.lay, ctx.softplus = lay, dt_softplus
        ctx.meta = (x.shape, D.shape if D is not None else None)
        ctx.dtypes = tuple(t.dtype if t is not None else None for t in (x, dt, A, B, C, D, z, dt_bias, initial_states))
        ctx.set_materialize_grads(False)
        return y.view(x.shape), last.view(batch, heads, headdim, dstate)

    @staticmethod
    def backward(ctx, gy, gfinal):
        u, dtc, Af, Bc, Cc, Df, zc, biasf, seq, ck = ctx.saved_tensors
        lay = ctx.lay
        x_shape, D_shape = ctx.meta
        batch, _L, heads, headdim = x_shape
        gy = torch.zeros_like(u) if gy is None else gy.reshape(u.shape).contiguous()
        glast = gfinal.reshape(batch, lay.dim, lay.dstate).contiguous().float() if gfinal is not None else None
        gB = torch.zeros(Bc.shape, device=u.device, dtype=torch.float32)
        gC = torch.zeros(Cc.shape, device=u.device, dtype=torch.float32)
        s_gB = (gB.stride(0), gB.stride(2), gB.stride(3), gB.stride(1))
        s_gC = (gC.stride(0), gC.stride(2), gC.stride(3), gC.stride(1))
        gu, gdl, gz, gA, gD, gbias, gh0 = scan_backward(
            lay, u, dtc, Af, Bc, Cc, Df, zc, biasf, ctx.softplus, seq, ck, gy, glast, gB, s_gB, gC, s_gC
        )
        t_x, t_dt, t_A, t_B, t_C, t_D, t_z, t_bias, t_h0 = ctx.dtypes
        gD_out = None
        if t_D is not None:
            gD_out = (gD.view(heads, headdim).sum(-1) if len(D_shape) == 1 else gD.view(D_shape)).to(t_D)
        return (
            gu.view(x_shape).to(t_x),
            gdl.view(x_shape).sum(-1).to(t_dt),
            gA.view(heads, headdim * lay.dstate).sum(-1).to(t_A),
            gB.to(t_B),
            gC.to(t_C),
            gD_out,
            gz.view(x_shape).to(t_z) if t_z is not None else None,
            gbias.view(heads, headdim).sum(-1).to(t_bias) if t_bias is not None else None,
            None,
            gh0.view(batch, heads, headdim, lay.dstate).to(t_h0) if t_h0 is not None else None,
            None,
            None,
        )


def ssd_scan_triton(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int = 64,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    dt_softplus: bool = False,
    initial_states: torch.Tensor | None = None,
    seq_idx: torch.Tensor | None = None,
    return_final_states: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """SSD scan on Triton; same arguments and results as :func:`ssd_scan_ref`."""
    _require_triton(x, dt, A, B, C, D, z, dt_bias, initial_states, seq_idx)
    y, final = _SSDScanFn.apply(
        x, dt, A, B, C, D, z, dt_bias, dt_softplus, initial_states, seq_idx, min(chunk_size, x.shape[1])
    )
    if x.dtype == torch.float64:
        final = final.double()
    return (y, final) if return_final_states else y
