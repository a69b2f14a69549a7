"""paperzoo's shared kernels: one folder per op, each with reference, PyTorch and Triton paths.

The public functions dispatch on their inputs (Triton for CUDA tensors when it imports, PyTorch
elsewhere; ``PAPERZOO_KERNELS`` forces one). See DESIGN.md, "Kernels".
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
