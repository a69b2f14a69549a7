"""Selective scan (Mamba-1, S6): ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``, ``y_t = <h_t, C_t> + D u_t``.

Same argument names and layouts as ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``.
"""

from paperzoo.kernels.selective_scan.api import selective_scan
from paperzoo.kernels.selective_scan.reference import selective_scan_ref
from paperzoo.kernels.selective_scan.torch import selective_scan_torch

__all__ = ["selective_scan", "selective_scan_ref", "selective_scan_torch"]
