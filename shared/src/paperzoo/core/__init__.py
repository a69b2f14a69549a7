"""paperzoo.core: what every package's CLI and experiment stands on.

- :mod:`~paperzoo.core.cli`: the LightningCLI base with the ``reproduce`` and ``demo`` commands,
  one-line configuration errors, and ``checked_config`` for testing configs without running them.
- :mod:`~paperzoo.core.seeding`: repeatable runs.
- :mod:`~paperzoo.core.cache`: ``$PAPERZOO_CACHE`` and artefacts keyed by a config hash.
- :mod:`~paperzoo.core.callbacks`: stopping on a non-finite loss; progress bars that follow the steps.
- :mod:`~paperzoo.core.training`: quiet trainers, progress for the stages of ``reproduce``, and independent
  runs spread over worker processes.
- :mod:`~paperzoo.core.memory`: the bytes autograd keeps for backward.
- :mod:`~paperzoo.core.optim`: ``OptimConfig`` (AdamW) and the one warm-up + cosine schedule.
- :mod:`~paperzoo.core.paper`: the ``Paper`` descriptor and the registry of installed papers.
"""

from paperzoo.core.cache import cache_dir, cached, config_hash, load_stage, save_stage
from paperzoo.core.callbacks import NonFiniteLossStop, StepProgress
from paperzoo.core.cli import CliError, PaperCLI, checked_config, run_cli
from paperzoo.core.memory import saved_for_backward
from paperzoo.core.optim import OptimConfig, warmup_constant, warmup_cosine
from paperzoo.core.paper import Paper, get_paper, papers
from paperzoo.core.seeding import seed_all
from paperzoo.core.training import StageProgress, quiet_trainer, run_jobs

__all__ = [
    "CliError",
    "NonFiniteLossStop",
    "OptimConfig",
    "Paper",
    "PaperCLI",
    "StageProgress",
    "StepProgress",
    "cache_dir",
    "cached",
    "checked_config",
    "config_hash",
    "get_paper",
    "load_stage",
    "papers",
    "quiet_trainer",
    "run_cli",
    "run_jobs",
    "save_stage",
    "saved_for_backward",
    "seed_all",
    "warmup_constant",
    "warmup_cosine",
]
