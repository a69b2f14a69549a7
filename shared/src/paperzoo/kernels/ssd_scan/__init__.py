"""SSD scan (Mamba-2): ``h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T``, ``y_t = h_t C_t + D x_t``.

Same argument names and layouts as ``mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined``.
"""

from paperzoo.kernels.ssd_scan.api import ssd_scan
from paperzoo.kernels.ssd_scan.reference import ssd_scan_ref
from paperzoo.kernels.ssd_scan.torch import ssd_scan_torch

__all__ = ["ssd_scan", "ssd_scan_ref", "ssd_scan_torch"]
