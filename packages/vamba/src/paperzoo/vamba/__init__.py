"""Vamba: Understanding Hour-Long Videos with Hybrid Mamba-Transformers (arXiv 2503.11579).

The package's descriptor: ``paperzoo-vamba``, ``paperzoo list`` and ``make report`` start from ``PAPER``.
"""

from paperzoo.core.paper import Paper

PAPER = Paper(
    name="vamba",
    title="Vamba: Understanding Hour-Long Videos with Hybrid Mamba-Transformers",
    arxiv="2503.11579",
    module="paperzoo.vamba.module:VambaModule",
    datamodule="paperzoo.vamba.data:SynthHourDataModule",
    commands={
        "reproduce": "paperzoo.vamba.reproduce:reproduce",
        "demo": "paperzoo.vamba.cli:demo",
        "bench": "paperzoo.vamba.cli:bench",
        "convert": "paperzoo.vamba.cli:convert",
    },
    # The frames are rendered at the model's frame size: one option sets both.
    links={"model.model.frame_size": "data.frame_size"},
    summary="Mamba over video tokens plus cross-attention from text: linear time, and the video's details kept",
)
