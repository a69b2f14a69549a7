"""FlowTok: Flowing Seamlessly Across Text and Image Tokens (arXiv 2503.10772).

The package's descriptor: ``paperzoo-flowtok``, ``paperzoo list`` and ``make report`` start from ``PAPER``.
"""

from paperzoo.core.paper import Paper

PAPER = Paper(
    name="flowtok",
    title="FlowTok: Flowing Seamlessly Across Text and Image Tokens",
    arxiv="2503.10772",
    module="paperzoo.flowtok.module:FlowTokT2IModule",
    datamodule="paperzoo.flowtok.data:ShapesCaptionDataModule",
    commands={
        "reproduce": "paperzoo.flowtok.reproduce:reproduce",
        "demo": "paperzoo.flowtok.demo:demo",
        "bench": "paperzoo.flowtok.cli:bench",
    },
    summary="a DiT that flows the text latent into the image latent matches text-as-condition flow at lower cost",
)
