"""Group-robust Machine Unlearning (arXiv 2503.09330).

The package's descriptor: ``paperzoo-grmu``, ``paperzoo list`` and ``make report`` start from ``PAPER``.
"""

from paperzoo.core.paper import Paper

PAPER = Paper(
    name="grmu",
    title="Group-robust Machine Unlearning",
    arxiv="2503.09330",
    module="paperzoo.grmu.module:PretrainModule",
    datamodule="paperzoo.grmu.data:GroupShiftDataModule",
    commands={
        "reproduce": "paperzoo.grmu.reproduce:reproduce",
        "demo": "paperzoo.grmu.cli:demo",
        "unlearn": "paperzoo.grmu.cli:unlearn",
    },
    links={"data.data.size": "model.model.size"},
    summary="REWEIGHT and MIU keep the forget group's accuracy where plain retraining loses it",
)
