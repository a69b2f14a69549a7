"""paperzoo.eval: the results record, seed statistics, plots, timing and the HTML report."""

from paperzoo.eval.outputs import write_outputs
from paperzoo.eval.plots import plot_claim, plot_claims, plot_curves
from paperzoo.eval.results import Claim, ResultsRecord, markdown_table, read_results, versions, write_results
from paperzoo.eval.stats import SeedSummary, summarize
from paperzoo.eval.timing import loglog_slope, median_time

__all__ = [
    "Claim",
    "ResultsRecord",
    "SeedSummary",
    "loglog_slope",
    "markdown_table",
    "median_time",
    "plot_claim",
    "plot_claims",
    "plot_curves",
    "read_results",
    "summarize",
    "versions",
    "write_outputs",
    "write_results",
]
