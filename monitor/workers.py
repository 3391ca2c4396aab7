"""Extraction and rule evaluation in worker processes.

trafilatura and lxml are CPU-bound (the GIL makes threads useless for them) and are known to
hold on to memory in long-lived processes, so the daemon analyses pages in a pool of processes
that are recycled after a number of pages. Each worker loads the rules once, from the text the
daemon validated, so a worker can never run rules that differ from the daemon's.
"""

from __future__ import annotations

from crawler.items import FetchedPage
from monitor.check import Analysis, analyse
from monitor.rules import Ruleset, parse_rules

_ruleset: Ruleset | None = None


def init(rules_text: str, rules_path: str) -> None:
    """Pool initializer: parse the rules the daemon already validated (examples skipped)."""
    global _ruleset
    _ruleset = parse_rules(rules_text, rules_path, run_examples=False)


def ready() -> bool:
    """A no-op task that makes the pool start (and initialise) its workers ahead of time."""
    return _ruleset is not None


def analyse_page(page: FetchedPage) -> Analysis:
    """Extract a page and evaluate the rules on it (the CPU-heavy half of a check)."""
    assert _ruleset is not None, "worker not initialised"
    return analyse(page, _ruleset)
