"""PLADIS: Pushing the Limits of Attention in Diffusion Models at Inference Time by Leveraging Sparsity
(arXiv 2503.07677).

The package's descriptor: ``paperzoo-pladis``, ``paperzoo list`` and ``make report`` start from ``PAPER``.
"""

from paperzoo.core.paper import Paper

PAPER = Paper(
    name="pladis",
    title="PLADIS: Pushing the Limits of Attention in Diffusion Models at Inference Time by Leveraging Sparsity",
    arxiv="2503.07677",
    module="paperzoo.pladis.module:PladisFlowModule",
    datamodule="paperzoo.pladis.data:ShapesDataModule",
    commands={
        "reproduce": "paperzoo.pladis.reproduce:reproduce",
        "demo": "paperzoo.pladis.cli:demo",
        "sample": "paperzoo.pladis.cli:sample",
        "evaluate": "paperzoo.pladis.cli:evaluate",
        "hopfield-demo": "paperzoo.pladis.cli:hopfield_demo",
    },
    summary="sparse cross-attention extrapolation at inference improves text alignment at equal NFE",
)
