"""The results record: verdicts, the JSON schema other tools read, tables, plots and seed statistics."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest

from paperzoo.eval import Claim, ResultsRecord, markdown_table, read_results, summarize, write_outputs
from paperzoo.eval.results import git_commit


def claim(**overrides) -> Claim:
    fields = {
        "id": "order-needs-scan",
        "description": "the scan is needed for order",
        "metric": "ORDER accuracy",
        "method": "vamba",
        "baseline": "ca_only",
        "per_seed": {"vamba": [0.91, 0.93, 0.90], "ca_only": [0.55, 0.52, 0.58]},
        "op": ">=",
        "kind": "absolute",
        "margin": 0.2,
    }
    fields.update(overrides)
    return Claim(**fields)


def test_absolute_verdict():
    c = claim()
    assert c.method_value == pytest.approx(0.9133, abs=1e-4)
    assert c.baseline_value == pytest.approx(0.55)
    assert c.bar == pytest.approx(0.75)
    assert c.passed
    assert not claim(margin=0.4).passed


def test_ratio_verdict():
    c = claim(per_seed={"m": [3.0, 3.2], "b": [1.0, 1.0]}, method="m", baseline="b", kind="ratio", margin=3.0)
    assert c.bar == pytest.approx(3.0)
    assert c.passed
    assert not claim(per_seed={"m": [2.9], "b": [1.0]}, method="m", baseline="b", kind="ratio", margin=3.0).passed


def test_fixed_bar_and_lower_is_better():
    c = claim(baseline=None, per_seed={"vamba": [0.10, 0.12]}, op="<=", margin=0.15)
    assert c.baseline_value is None
    assert c.passed
    assert not claim(baseline=None, per_seed={"vamba": [0.2, 0.3]}, op="<=", margin=0.15).passed


def test_non_finite_values_never_pass():
    assert not claim(per_seed={"vamba": [math.nan, 1.0], "ca_only": [0.0]}).passed


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [({"op": "=>"}, "op must be"), ({"kind": "relative"}, "kind must be"), ({"baseline": "nope"}, "'nope'")],
)
def test_bad_claims_are_rejected(overrides, fragment):
    with pytest.raises(ValueError, match=fragment):
        claim(**overrides)


def test_record_round_trips_with_the_shared_keys(tmp_path):
    record = ResultsRecord("vamba", "arXiv:2503.11579", "paperzoo-vamba reproduce --seeds 0 1 2", [0, 1, 2], [claim()])
    write_outputs(record, tmp_path, echo=False)
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data) == {
        "package", "paper", "command", "seeds", "wall_time_s", "created", "versions", "config", "claims",
    }  # fmt: skip
    assert set(data["claims"][0]) == {
        "id", "description", "metric", "method", "baseline", "per_seed",
        "method_value", "baseline_value", "op", "kind", "margin", "passed",
    }  # fmt: skip
    assert data["claims"][0]["passed"] is True
    assert "torch" in data["versions"]
    again = read_results(tmp_path)
    assert again.claims[0].per_seed == record.claims[0].per_seed
    assert (tmp_path / "results.md").read_text().count("| `order-needs-scan`") == 1
    assert (tmp_path / "claim-order-needs-scan.png").stat().st_size > 1000


def test_markdown_table_shows_verdicts():
    record = ResultsRecord("p", "arXiv:0", "cmd", [0], [claim(), claim(id="weak", margin=0.9)])
    table = markdown_table(record)
    assert "**pass**" in table
    assert "**FAIL**" in table
    assert "1/2 claims pass" in table


def test_read_results_rejects_other_json(tmp_path):
    (tmp_path / "results.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a paperzoo results record"):
        read_results(tmp_path)


def test_summary_statistics():
    s = summarize([1.0, 2.0, 3.0])
    assert s.mean == pytest.approx(2.0)
    assert s.std == pytest.approx(1.0)
    # t(0.975, 2) = 4.303: half-width 4.303 / sqrt(3)
    assert s.ci_high - s.mean == pytest.approx(4.303 / math.sqrt(3), rel=1e-4)
    single = summarize([5.0])
    assert (single.std, single.ci_low, single.ci_high) == (0.0, 5.0, 5.0)
    with pytest.raises(ValueError):
        summarize([])


def test_markdown_table_escapes_pipes_in_cells():
    record = ResultsRecord("p", "arXiv:0", "cmd", [0], [claim(metric="|UA - UA_ref| (points)")])
    row = next(line for line in markdown_table(record).splitlines() if line.startswith("| `"))
    assert row.count(" | ") == 5
    assert "\\|UA - UA_ref\\|" in row


def _git(repo, *args: str) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_records_the_code_a_run_came_from(tmp_path):
    assert git_commit(tmp_path) is None  # not a checkout: no claim of provenance
    _git(tmp_path, "init", "-q")
    (tmp_path / "model.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("notes\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    sha = _git(tmp_path, "rev-parse", "HEAD")
    assert git_commit(tmp_path) == sha
    (tmp_path / "README.md").write_text("more notes\n")  # prose edited during a run does not taint it
    assert git_commit(tmp_path) == sha
    (tmp_path / "model.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == sha + "+modified"
