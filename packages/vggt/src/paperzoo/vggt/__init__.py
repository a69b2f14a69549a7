"""VGGT: Visual Geometry Grounded Transformer (arXiv 2503.11651).

The package's descriptor: ``paperzoo-vggt``, ``paperzoo list`` and ``make report`` start from ``PAPER``.
"""

from paperzoo.core.paper import Paper

PAPER = Paper(
    name="vggt",
    title="VGGT: Visual Geometry Grounded Transformer",
    arxiv="2503.11651",
    module="paperzoo.vggt.module:VGGTModule",
    datamodule="paperzoo.vggt.data:SyntheticSceneDataModule",
    commands={
        "reproduce": "paperzoo.vggt.reproduce:reproduce",
        "demo": "paperzoo.vggt.demo:demo",
        "evaluate": "paperzoo.vggt.demo:evaluate_checkpoint",
        "ablate": "paperzoo.vggt.demo:ablate",
    },
    # The datamodule checks the image size against the model's patch early (before rendering): one option sets both.
    links={"model.model.patch_size": "data.patch_size"},
    summary="alternating frame and global attention recovers the geometry that frame-only attention cannot",
)
