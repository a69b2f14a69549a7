"""``make readme``: generated blocks between markers, and the verdict line a package README opens with."""

from __future__ import annotations

import pytest

from paperzoo.core import Paper
from paperzoo.eval import Claim, ResultsRecord
from paperzoo.eval.readme import replace_block, verdict_block

PAPER = Paper(
    name="readmetoy", title="A toy", arxiv="2503.00004", module="m:M", datamodule=None, commands={"reproduce": "m:r"}
)


def test_a_block_is_replaced_between_its_markers_only():
    text = "# t\n<!-- paperzoo:x:start -->\nold\n<!-- paperzoo:x:end -->\nafter\n"
    new = replace_block(text, "x", "new body")
    assert new == "# t\n<!-- paperzoo:x:start -->\nnew body\n<!-- paperzoo:x:end -->\nafter\n"
    assert replace_block(new, "x", "new body") == new


@pytest.mark.parametrize(
    "text",
    ["no markers", "<!-- paperzoo:x:end -->\n<!-- paperzoo:x:start -->", "<!-- paperzoo:x:start -->" * 2],
)
def test_missing_or_misplaced_markers_are_an_error(text):
    with pytest.raises(ValueError, match="paperzoo:x:start"):
        replace_block(text, "x", "body")


def test_the_verdict_names_claims_seeds_commit_and_failures():
    claims = [
        Claim("good", "d", metric="m", method="a", baseline=None, per_seed={"a": [1.0, 1.0]}, margin=0.5),
        Claim("bad", "d", metric="m", method="a", baseline=None, per_seed={"a": [0.0, 0.0]}, margin=0.5),
    ]
    record = ResultsRecord("readmetoy", "t", "paperzoo-readmetoy reproduce --seeds 0 1", [0, 1], claims,
                           wall_time_s=600, versions={"git_commit": "abcdef0123"})  # fmt: skip
    text = verdict_block(PAPER, record)
    assert text.startswith("**partial: 1/2 claims pass** on seeds 0, 1 (10 min wall time, commit abcdef0")
    assert "Failing: `bad`" in text
    assert "make reproduce PAPER=readmetoy" in text
    assert verdict_block(PAPER, None).startswith("**No results yet**")
