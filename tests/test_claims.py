"""Table-driven claim cases (tests/data/claims.yaml): each category fires on its claims and
stays quiet on their look-alikes."""

from pathlib import Path

import pytest
import yaml

from monitor.page import document_from_text

CASES = yaml.safe_load((Path(__file__).parent / "data" / "claims.yaml").read_text())


def _params():
    for category, groups in CASES.items():
        for expect in ("match", "nomatch"):
            for i, text in enumerate(groups.get(expect, [])):
                yield pytest.param(category, expect, text, id=f"{category}-{expect}-{i + 1}")


@pytest.mark.parametrize(("category", "expect", "text"), list(_params()))
def test_claim_case(ruleset, category, expect, text):
    evaluation = ruleset.evaluate(document_from_text(text), explain=True)
    fired = [f for f in evaluation.findings if f.category == category]
    if expect == "match":
        assert fired, f"no {category} finding; near-misses: {evaluation.near_misses}"
    else:
        assert not fired, f"false {category} finding: {fired[0].text!r} ({fired[0].rule})"
