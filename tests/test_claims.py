"""Table-driven claim cases: every tests/data/*.yaml shaped `category: {match: [...], nomatch:
[...]}`. A text item is a page on which the category must (match) or must not (nomatch) fire; a
`{before, after}` item is a pair of page versions for disclaimer-removed, which must (match) or
must not (nomatch) report a removed disclaimer. Ids name the file, so a failure says which table.
"""

from pathlib import Path

import pytest
import yaml

from monitor.page import document_from_text
from monitor.rules import CATEGORIES

DATA = Path(__file__).parent / "data"


def _tables() -> list[tuple[str, dict]]:
    """(file stem, cases) for each data file with the category-table shape."""
    tables = []
    for path in sorted(DATA.glob("*.yaml")):
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(cases, dict) and cases and all(
            k in CATEGORIES and isinstance(v, dict) and set(v) <= {"match", "nomatch"}
            for k, v in cases.items()
        ):
            tables.append((path.stem, cases))
    return tables


def _params(pairs: bool):
    for stem, cases in _tables():
        for category, groups in cases.items():
            for expect in ("match", "nomatch"):
                for i, item in enumerate(groups.get(expect) or []):
                    if isinstance(item, dict) == pairs:
                        yield pytest.param(category, expect, item,
                                           id=f"{stem}:{category}-{expect}-{i + 1}")


def test_the_tables_are_found_and_well_formed():
    stems = [stem for stem, _ in _tables()]
    assert "claims" in stems and "redteam" in stems
    for _, cases in _tables():
        for category, groups in cases.items():
            for item in (groups.get("match") or []) + (groups.get("nomatch") or []):
                if category == "disclaimer-removed":
                    assert isinstance(item, dict) and set(item) == {"before", "after"}, item
                else:
                    assert isinstance(item, str) and item.strip(), item


@pytest.mark.parametrize(("category", "expect", "text"), list(_params(pairs=False)))
def test_claim_case(ruleset, category, expect, text):
    evaluation = ruleset.evaluate(document_from_text(text), explain=True)
    fired = [f for f in evaluation.findings if f.category == category]
    if expect == "match":
        assert fired, f"no {category} finding; near-misses: {evaluation.near_misses}"
    else:
        assert not fired, f"false {category} finding: {fired[0].text!r} ({fired[0].rule})"


@pytest.mark.parametrize(("category", "expect", "pair"), list(_params(pairs=True)))
def test_disclaimer_removal_case(ruleset, category, expect, pair):
    before = ruleset.evaluate(document_from_text(pair["before"]))
    after_doc = document_from_text(pair["after"])
    after = ruleset.evaluate(after_doc)
    removed = [f for f in ruleset.removals(before.disclaimers, after, after_doc, set())
               if f.category == category]
    if expect == "match":
        assert before.disclaimers, f"no disclaimer recognised before: {pair['before']!r}"
        assert removed, f"removal not reported; classes after: {after.disclaimers}"
    else:
        assert not removed, f"false removal: {removed[0].text!r} ({removed[0].message})"
