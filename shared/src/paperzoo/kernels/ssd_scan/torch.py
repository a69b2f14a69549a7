"""The SSD scan (Mamba-2) in chunked PyTorch: the fast path on a CPU.

The sequence is cut into chunks of ``T = chunk_size`` steps (the last one zero-padded: a padded step has
``dt = 0``, so it neither decays nor adds to the state). With ``Acum`` the cumulative log-decay
``sum dt * A`` inside a chunk:

- within a chunk, the quadratic "dual" form: ``y_t += sum_{s<=t} (C_t . B_s) exp(Acum_t - Acum_s) dt_s x_s``,
  as matrix products over ``(T, T)`` blocks;
- each chunk's own end state ``sum_s exp(Acum_end - Acum_s) dt_s x_s B_s^T``, a matrix product;
- between chunks, the recurrence ``H_c = exp(Acum_end) H_{c-1} + state_c`` (one step per chunk);
- the carried state's output ``exp(Acum_t) C_t H_{c-1}``, a matrix product.

Every exponent is a difference ``Acum_t - Acum_s`` with ``s <= t`` (or ``Acum_t`` itself), so it is never
positive for a decaying ``A``: nothing overflows. Entries that must vanish (``s > t``, or ``s`` and ``t`` in
different packed sequences) are set to ``-inf`` before the exponential, not multiplied by zero after it.
Memory is ``O(L * T)`` per head: linear in ``L``.

Under autograd the sequence is cut into segments of ``SEGMENT_CHUNKS`` chunks, each run inside a
non-reentrant ``torch.utils.checkpoint`` with the previous segment's final state as its initial state. The
forward keeps only the inputs and one small state per segment for backward; the backward recomputes one
segment's ``(T, T)`` blocks, chunk states and padded copies at a time and differentiates them. So what a layer
holds until backward is the size of its inputs, and the transient memory of its backward is bounded by a
segment, not by ``L``. This is the memory contract of the Triton kernel (it too recomputes within chunks in
backward) and of FlashAttention, which the Transformer baselines use; without it a stack of Mamba-2 layers
would keep several ``(L, T)`` blocks per head alive at once. The price is a second forward in backward.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

SEGMENT_CHUNKS = 16  # chunks per recomputed segment under autograd (module docstring)


def _pad_time(t: torch.Tensor, Lp: int, value: float | None = 0.0) -> torch.Tensor:
    """Pad dim 1 (time) to ``Lp``, with ``value`` or (``None``) by repeating the last step."""
    extra = Lp - t.shape[1]
    if extra == 0:
        return t
    if value is None:
        tail = t[:, -1:].expand(-1, extra, *t.shape[2:])
    else:
        tail = t.new_full((t.shape[0], extra, *t.shape[2:]), value)
    return torch.cat([t, tail], dim=1)


def ssd_scan_torch(
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
    """SSD scan, chunked; same arguments and results as :func:`ssd_scan_ref`.

    When autograd records (grad enabled and some input requires grad), only the inputs are saved for
    backward and the chunked computation is recomputed there (see the module docstring).
    """
    args = (x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, initial_states, seq_idx, return_final_states)
    tensors = (x, dt, A, B, C, D, z, dt_bias, initial_states)
    if not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)):
        return _ssd_scan_chunked(*args)
    L = x.shape[1]
    seg_len = min(chunk_size, L) * SEGMENT_CHUNKS  # a whole number of chunks: same chunking as one pass
    if seg_len >= L:
        return checkpoint(_ssd_scan_chunked, *args, use_reentrant=False)
    ys, state = [], initial_states
    for start in range(0, L, seg_len):
        piece = slice(start, min(start + seg_len, L))
        if seq_idx is not None and start > 0:
            # The carried state belongs to the sequence at the previous step: drop it where a new one starts.
            keep = (seq_idx[:, start] == seq_idx[:, start - 1]).to(state.dtype)  # [b]
            state = state * keep[:, None, None, None]
        y, state = checkpoint(
            _ssd_scan_chunked,
            x[:, piece], dt[:, piece], A, B[:, piece], C[:, piece], chunk_size, D,
            None if z is None else z[:, piece], dt_bias, dt_softplus, state,
            None if seq_idx is None else seq_idx[:, piece], True,
            use_reentrant=False,
        )  # fmt: skip
        ys.append(y)
    y = torch.cat(ys, dim=1)  # [b, L, h, p]
    return (y, state) if return_final_states else y


def _ssd_scan_chunked(
    x: torch.Tensor,
    dt: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk_size: int,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    dt_bias: torch.Tensor | None,
    dt_softplus: bool,
    initial_states: torch.Tensor | None,
    seq_idx: torch.Tensor | None,
    return_final_states: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The chunked algorithm itself (module docstring); :func:`ssd_scan_torch` decides whether to recompute."""
    dtype_in = x.dtype
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    batch, L, heads, headdim = x.shape
    groups, dstate = B.shape[2], B.shape[3]
    hpg = heads // groups
    T = min(chunk_size, L)
    nc = math.ceil(L / T)
    Lp = nc * T

    dt = dt.to(compute)
    if dt_bias is not None:
        dt = dt + dt_bias.to(compute)
    if dt_softplus:
        dt = F.softplus(dt)
    xc = _pad_time(x.to(compute), Lp).view(batch, nc, T, groups, hpg, headdim)
    xc = xc.permute(0, 3, 4, 1, 2, 5)  # [b, g, hpg, nc, T, p]
    dtc = _pad_time(dt, Lp).view(batch, nc, T, groups, hpg).permute(0, 3, 4, 1, 2)  # [b, g, hpg, nc, T]
    Bc = _pad_time(B.to(compute), Lp).view(batch, nc, T, groups, dstate).permute(0, 3, 1, 2, 4)  # [b, g, nc, T, n]
    Cc = _pad_time(C.to(compute), Lp).view(batch, nc, T, groups, dstate).permute(0, 3, 1, 2, 4)  # [b, g, nc, T, n]
    Acum = torch.cumsum(dtc * A.to(compute).view(groups, hpg, 1, 1), dim=-1)  # [b, g, hpg, nc, T]

    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # [t, s]
    if seq_idx is not None:
        sc = _pad_time(seq_idx, Lp, None).view(batch, nc, T)  # [b, nc, T]
        same = sc[..., :, None] == sc[..., None, :]  # [b, nc, t, s]
        diag_mask = (causal & same)[:, None, None]  # [b, 1, 1, nc, t, s]
        # Sequence id the carried state belongs to: the previous chunk's last step (position 0 for chunk 0).
        prev_end = torch.cat([sc[:, :1, 0], sc[:, :-1, -1]], dim=1)  # [b, nc]
        to_end_mask = (sc == sc[..., -1:])[:, None, None]  # [b, 1, 1, nc, T]
        from_prev_mask = (sc == prev_end[..., None])[:, None, None]  # [b, 1, 1, nc, T]
        carry_mask = (sc[..., -1] == prev_end)[:, None, None]  # [b, 1, 1, nc]
    else:
        diag_mask = causal

    # Within chunks: y_t = sum_s (C_t . B_s) exp(Acum_t - Acum_s) dt_s x_s.
    seg = (Acum[..., :, None] - Acum[..., None, :]).masked_fill(~diag_mask, -math.inf)  # [b, g, hpg, nc, t, s]
    CB = (Cc @ Bc.transpose(-1, -2)).unsqueeze(2)  # [b, g, 1, nc, t, s]
    y = (CB * torch.exp(seg) * dtc.unsqueeze(-2)) @ xc  # [b, g, hpg, nc, T, p]

    # Each chunk's end state from its own inputs.
    to_end = Acum[..., -1:] - Acum  # [b, g, hpg, nc, T]
    if seq_idx is not None:
        to_end = to_end.masked_fill(~to_end_mask, -math.inf)
    xw = xc * (torch.exp(to_end) * dtc).unsqueeze(-1)  # [b, g, hpg, nc, T, p]
    states = xw.transpose(-1, -2) @ Bc.unsqueeze(2)  # [b, g, hpg, nc, p, n]

    # Between chunks: H_c = exp(Acum_end) H_{c-1} + states_c, one step per chunk.
    chunk_decay = torch.exp(Acum[..., -1])  # [b, g, hpg, nc]
    if seq_idx is not None:
        chunk_decay = chunk_decay * carry_mask
    if initial_states is None:
        carry = states.new_zeros(batch, groups, hpg, headdim, dstate)
    else:
        carry = initial_states.to(compute).view(batch, groups, hpg, headdim, dstate)
    entering = []
    for c in range(nc):
        entering.append(carry)
        carry = chunk_decay[..., c, None, None] * carry + states[:, :, :, c]
    prev = torch.stack(entering, dim=3)  # [b, g, hpg, nc, p, n]

    # The carried state's contribution: exp(Acum_t) C_t H_{c-1}.
    from_prev = Acum
    if seq_idx is not None:
        from_prev = from_prev.masked_fill(~from_prev_mask, -math.inf)
    y = y + (Cc.unsqueeze(2) @ prev.transpose(-1, -2)) * torch.exp(from_prev).unsqueeze(-1)

    y = y.permute(0, 3, 4, 1, 2, 5).reshape(batch, Lp, heads, headdim)[:, :L]  # [b, L, h, p]
    xf = x.to(compute)
    if D is not None:
        Dc = D.to(compute)
        y = y + (Dc[:, None] if Dc.dim() == 1 else Dc) * xf
    if z is not None:
        y = y * F.silu(z.to(compute))
    y = y.to(dtype_in)
    if return_final_states:
        return y, carry.reshape(batch, heads, headdim, dstate)
    return y
