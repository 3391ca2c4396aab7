"""Extraction and rule evaluation in worker processes.

trafilatura and lxml are CPU-bound (the GIL makes threads useless for them) and are known to
hold on to memory in long-lived processes, so the daemon analyses pages in a pool of processes
that are recycled after a number of pages. Each worker loads the rules once, from the text the
daemon validated, so a worker can never run rules that differ from the daemon's.
"""

from __future__ import annotations

import os
import threading
import time

from crawler.items import FetchedPage
from monitor.check import Analysis, analyse
from monitor.rules import Ruleset, parse_rules

_ruleset: Ruleset | None = None


def init(rules_text: str, rules_path: str, daemon_pid: int) -> None:
    """Pool initializer: take the rules the daemon already validated (patterns compile on
    first use), and exit if the daemon dies: a killed daemon must not leave its workers
    behind."""
    global _ruleset
    _ruleset = parse_rules(rules_text, rules_path, trusted=True)
    threading.Thread(target=_exit_with, args=(daemon_pid,), daemon=True,
                     name="claimwatch-orphan-watch").start()


def _exit_with(pid: int) -> None:
    # Workers are children of the forkserver, not of the daemon, and the pool's pipes are
    # held open by every worker, so nothing else tells them the daemon is gone.
    while True:
        time.sleep(2)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def ready() -> bool:
    """A no-op task that makes the pool start (and initialise) its workers ahead of time."""
    return _ruleset is not None


def analyse_page(page: FetchedPage) -> Analysis:
    """Extract a page and evaluate the rules on it (the CPU-heavy half of a check)."""
    assert _ruleset is not None, "worker not initialised"
    return analyse(page, _ruleset)
