"""alpha-entmax mappings and sparse entmax attention.

alpha-entmax (Peters, Niculae and Martins, 2019) maps scores ``x`` to
``p_i = [(alpha - 1) x_i - tau]_+ ** (1 / (alpha - 1))`` with ``tau`` such that ``sum(p) = 1``. alpha = 1 is
softmax, alpha = 1.5 is entmax15, alpha = 2 is sparsemax; every alpha > 1 gives exact zeros.

Public functions validate their inputs and dispatch (see :mod:`paperzoo.kernels._dispatch`): the mappings
run their sort-based or bisection PyTorch implementation on every device (it is already vectorised);
:func:`entmax_attention` runs the fused Triton kernels on CUDA and query-chunked PyTorch elsewhere.
"""

from paperzoo.kernels.entmax.api import entmax, entmax15, entmax_attention, entmax_bisect, sparsemax

__all__ = ["entmax", "entmax15", "entmax_attention", "entmax_bisect", "sparsemax"]
