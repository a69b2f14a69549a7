"""Technologies on Effectiveness and Efficiency: A Survey of State Spaces Models (arXiv 2503.11224).

The package's descriptor: ``paperzoo-ssmsurvey``, ``paperzoo list`` and ``make report`` start from ``PAPER``.
"""

from paperzoo.core.paper import Paper

PAPER = Paper(
    name="ssmsurvey",
    title="Technologies on Effectiveness and Efficiency: A Survey of State Spaces Models",
    arxiv="2503.11224",
    module="paperzoo.ssmsurvey.module:SSMSurveyModule",
    datamodule="paperzoo.ssmsurvey.data:SyntheticTasks",
    commands={
        "reproduce": "paperzoo.ssmsurvey.reproduce:reproduce",
        "demo": "paperzoo.ssmsurvey.cli:demo",
        "bench": "paperzoo.ssmsurvey.cli:bench",
        "efficiency": "paperzoo.ssmsurvey.cli:efficiency",
        "report": "paperzoo.ssmsurvey.cli:report",
    },
    summary="structured and selective SSMs solve what their predecessors cannot, in linear time",
)
