"""paperzoo.eval: the results record, the per-seed table and its claims, the ``Reproduction`` context, seed
statistics, the Fréchet distance, plots, timing and the HTML report."""

from paperzoo.eval.frechet import frechet_distance
from paperzoo.eval.outputs import write_outputs
from paperzoo.eval.plots import plot_claim, plot_claims, plot_curves, save_figure
from paperzoo.eval.reproduction import Reproduction
from paperzoo.eval.results import (
    Claim,
    ResultsRecord,
    atomic_write_text,
    markdown_table,
    read_results,
    versions,
    write_results,
)
from paperzoo.eval.stats import SeedSummary, summarize
from paperzoo.eval.table import SeedTable
from paperzoo.eval.timing import loglog_slope, median_time

__all__ = [
    "Claim",
    "Reproduction",
    "ResultsRecord",
    "SeedSummary",
    "SeedTable",
    "atomic_write_text",
    "frechet_distance",
    "loglog_slope",
    "markdown_table",
    "median_time",
    "plot_claim",
    "plot_claims",
    "plot_curves",
    "read_results",
    "save_figure",
    "summarize",
    "versions",
    "write_outputs",
    "write_results",
]
