"""``paperzoo-vggt``: fit/validate/test/predict (LightningCLI) plus evaluate, ablate, reproduce and demo.

The commands are declared on :data:`paperzoo.vggt.PAPER`; ``evaluate``, ``ablate`` and ``demo`` live in
:mod:`paperzoo.vggt.demo`, ``reproduce`` in :mod:`paperzoo.vggt.reproduce`.
"""

from __future__ import annotations

from paperzoo.vggt import PAPER

main = PAPER.main
