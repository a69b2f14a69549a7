"""Writing everything a ``reproduce`` run leaves behind, in one call."""

from __future__ import annotations

from pathlib import Path

from paperzoo.eval.plots import plot_claims
from paperzoo.eval.results import ResultsRecord, markdown_table, write_results


def write_outputs(
    record: ResultsRecord, out_dir: str | Path, echo: bool = True, sections: dict[str, str] | None = None
) -> Path:
    """Write ``results.json``, ``results.md`` (with extra ``sections``) and a PNG per claim into ``out_dir``.

    Every file is written atomically. With ``echo`` the claims table is printed.

    Returns:
        the path of ``results.json``.
    """
    plot_claims(record, out_dir)
    path = write_results(record, out_dir, sections)
    if echo:
        print(f"\n{record.package}: results in {Path(out_dir)}\n")
        print(markdown_table(record))
    return path
