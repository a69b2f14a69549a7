"""paperzoo's shared kernels: one folder per op, each with reference, PyTorch and Triton paths.

The public functions dispatch on their inputs (Triton for CUDA tensors when it imports, PyTorch
elsewhere; ``PAPERZOO_KERNELS`` forces one). Each op has a reference (the oracle), a PyTorch path (the CPU
runtime) and a Triton path (CUDA), and its tests compare all of them on awkward shapes.
"""

from paperzoo.kernels import flow
from paperzoo.kernels.entmax import entmax, entmax15, entmax_attention, entmax_bisect, sparsemax
from paperzoo.kernels.selective_scan import selective_scan
from paperzoo.kernels.ssd_scan import ssd_scan

__all__ = [
    "entmax",
    "entmax15",
    "entmax_attention",
    "entmax_bisect",
    "flow",
    "selective_scan",
    "sparsemax",
    "ssd_scan",
]
