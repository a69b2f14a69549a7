"""The public, validating, dispatching ssd_scan (re-exported by the package).

It lives here rather than in ``__init__.py`` because the package's ``torch`` submodule would shadow
the ``torch`` library there.
"""

from __future__ import annotations

import torch

from paperzoo.kernels._checks import check_dim, check_float, check_tensor
from paperzoo.kernels._dispatch import backend
from paperzoo.kernels.ssd_scan.reference import ssd_scan_ref
from paperzoo.kernels.ssd_scan.torch import ssd_scan_torch


def _check_inputs(x, dt, A, B, C, chunk_size, D, z, dt_bias, initial_states, seq_idx) -> None:
    check_tensor("x", x, 4, "(batch, L, heads, headdim)")
    batch, L, heads, headdim = x.shape
    if L < 1:
        raise ValueError(f"x: expected shape (batch, L, heads, headdim) with L >= 1, got {tuple(x.shape)}")
    check_tensor("dt", dt, 3, "(batch, L, heads)")
    if dt.shape != (batch, L, heads):
        raise ValueError(f"dt: expected shape (batch, L, heads) = {(batch, L, heads)}, got {tuple(dt.shape)}")
    check_tensor("A", A, 1, "(heads,)")
    check_dim("A", A, 0, heads, "(heads,)")
    check_tensor("B", B, 4, "(batch, L, groups, dstate)")
    check_dim("B", B, 0, batch, "(batch, L, groups, dstate)")
    check_dim("B", B, 1, L, "(batch, L, groups, dstate)")
    groups = B.shape[2]
    if groups < 1 or heads % groups != 0:
        raise ValueError(f"B: groups = {groups} must divide heads = {heads} in (batch, L, groups, dstate)")
    check_tensor("C", C, 4, "(batch, L, groups, dstate)")
    if C.shape != B.shape:
        raise ValueError(
            f"C: expected shape (batch, L, groups, dstate) = {tuple(B.shape)} like B, got {tuple(C.shape)}"
        )
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive int, got {chunk_size!r}")
    if D is not None:
        check_tensor("D", D, (1, 2), "(heads,) or (heads, headdim)")
        if D.shape not in ((heads,), (heads, headdim)):
            raise ValueError(
                f"D: expected shape (heads,) or (heads, headdim) = {(heads, headdim)}, got {tuple(D.shape)}"
            )
    if z is not None:
        check_tensor("z", z, 4, "(batch, L, heads, headdim)")
        if z.shape != x.shape:
            raise ValueError(
                f"z: expected shape (batch, L, heads, headdim) = {tuple(x.shape)} like x, got {tuple(z.shape)}"
            )
    if dt_bias is not None:
        check_tensor("dt_bias", dt_bias, 1, "(heads,)")
        check_dim("dt_bias", dt_bias, 0, heads, "(heads,)")
    if initial_states is not None:
        doc = "(batch, heads, headdim, dstate)"
        check_tensor("initial_states", initial_states, 4, doc)
        expected = (batch, heads, headdim, B.shape[3])
        if initial_states.shape != expected:
            raise ValueError(f"initial_states: expected shape {doc} = {expected}, got {tuple(initial_states.shape)}")
    for name, v in (("x", x), ("dt", dt), ("A", A), ("B", B), ("C", C), ("D", D), ("z", z), ("dt_bias", dt_bias)):
        if v is not None:
            check_float(name, v)
    if initial_states is not None:
        check_float("initial_states", initial_states)
    if seq_idx is not None:
        check_tensor("seq_idx", seq_idx, 2, "(batch, L)")
        if seq_idx.shape != (batch, L):
            raise ValueError(f"seq_idx: expected shape (batch, L) = {(batch, L)}, got {tuple(seq_idx.shape)}")
        if seq_idx.is_floating_point() or seq_idx.is_complex() or seq_idx.dtype == torch.bool:
            raise ValueError(f"seq_idx: expected an integer tensor of shape (batch, L), got {seq_idx.dtype}")
        if L > 1 and bool((seq_idx[:, 1:] < seq_idx[:, :-1]).any()):
            raise ValueError("seq_idx: expected non-decreasing sequence ids along L in (batch, L)")


def ssd_scan(
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
    """SSD scan, dispatched to the Triton (CUDA), chunked PyTorch or reference implementation.

    ``h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t B_t^T``, ``y_t = h_t C_t + D * x_t``, ``y *= silu(z)``.

    Args:
        x: ``(batch, L, heads, headdim)``.
        dt: ``(batch, L, heads)`` step sizes.
        A: ``(heads,)`` scalar decay rate per head (negative in Mamba-2).
        B: ``(batch, L, groups, dstate)``; head ``h`` reads group ``h // (heads // groups)``.
        C: ``(batch, L, groups, dstate)``.
        chunk_size: chunk length of the chunked algorithm; any value gives the same result.
        D: ``(heads,)`` or ``(heads, headdim)`` skip connection, optional.
        z: like ``x``, gate ``y *= silu(z)``, optional.
        dt_bias: ``(heads,)`` added to ``dt`` before the softplus, optional.
        dt_softplus: apply softplus to ``dt`` after the bias.
        initial_states: ``(batch, heads, headdim, dstate)`` state before step 0, optional; with ``seq_idx``
            it belongs to the sequence at position 0.
        seq_idx: ``(batch, L)`` integer, non-decreasing: the state resets to zero where it changes, so
            packed sequences do not see each other.
        return_final_states: also return the state after the last step.

    Returns:
        ``y`` like ``x`` (its dtype), and with ``return_final_states`` the final state
        ``(batch, heads, headdim, dstate)`` in float32 (float64 for float64 inputs).

    Raises:
        ValueError: a tensor has the wrong rank, size or dtype, groups do not divide heads, or ``seq_idx``
            decreases; the message names the argument and the expected shape.
    """
    _check_inputs(x, dt, A, B, C, chunk_size, D, z, dt_bias, initial_states, seq_idx)
    args = (x, dt, A, B, C, chunk_size, D, z, dt_bias, dt_softplus, initial_states, seq_idx, return_final_states)
    which = backend(x, dt, A, B, C, D, z, dt_bias, initial_states)
    if which == "reference":
        return ssd_scan_ref(*args)
    if which == "triton":
        from paperzoo.kernels.ssd_scan.triton import ssd_scan_triton

        return ssd_scan_triton(*args)
    return ssd_scan_torch(*args)
