"""Sequence mixers of the three SSM eras, each computed from its own equations.

- :mod:`.lti`: the original SSM (dense A, recurrent mode).
- :mod:`.s4d`: structured diagonal SSM (S4D/DSS) with a Vandermonde kernel and FFT convolution.
- :mod:`.s5`: MIMO diagonal SSM with a parallel associative scan.
- :mod:`.mamba`: selective SSM (S6) on the shared ``selective_scan``.
- :mod:`.mamba2`: SSD on the shared ``ssd_scan``.
"""

from paperzoo.ssmsurvey.layers.discretize import bilinear, hippo_legs, zoh, zoh_diagonal
from paperzoo.ssmsurvey.layers.lti import LTISSM
from paperzoo.ssmsurvey.layers.mamba import Mamba
from paperzoo.ssmsurvey.layers.mamba2 import Mamba2
from paperzoo.ssmsurvey.layers.s4d import S4D
from paperzoo.ssmsurvey.layers.s5 import S5

__all__ = ["LTISSM", "S4D", "S5", "Mamba", "Mamba2", "bilinear", "hippo_legs", "zoh", "zoh_diagonal"]
