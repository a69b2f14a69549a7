"""Writing everything a ``reproduce`` run leaves behind, in one call."""

from __future__ import annotations

from pathlib import Path

from paperzoo.eval.plots import plot_claims
from paperzoo.eval.results import ResultsRecord, markdown_table, write_results


def write_outputs(record: ResultsRecord, out_dir: str | Path, echo: bool = True) -> Path:
    """Write ``results.json``, ``results.md`` and a PNG per claim into ``out_dir``; print the table.

    Returns:
        the path of ``results.json``.
    """
    path = write_results(record, out_dir)
    plot_claims(record, out_dir)
    if echo:
        print(f"\n{record.package}: results in {Path(out_dir)}\n")
        print(markdown_table(record))
    return path
