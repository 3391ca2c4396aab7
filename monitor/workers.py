"""Extraction and rule evaluation in worker processes.

trafilatura and lxml are CPU-bound (the GIL makes threads useless for them) and are known to
hold on to memory in long-lived processes, so the daemon analyses pages in a pool of processes
that are recycled after a number of pages. Each worker loads the rules once, from the text the
daemon validated, so a worker can never run rules that differ from the daemon's.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import sys
import threading
import time
import zlib
from pathlib import Path

from crawler.items import FetchedPage
from monitor import patterncache
from monitor.analysis import Analysis, analyse
from monitor.forkserver import PRELOAD_ENV
from monitor.rules import Ruleset, parse_rules

_ruleset: Ruleset | None = None
_preloaded: tuple[str, Ruleset] | None = None  # (rules text, its compiled ruleset)


def _preload() -> None:
    """Compile the rules named by the environment (monitor.forkserver.context) once, in the
    forkserver (which imports this module): every worker forked from it starts with compiled
    patterns instead of paying about a second for them, again after every recycling of the
    pool."""
    global _preloaded
    packed = os.environ.get(PRELOAD_ENV)
    # Only in a forkserver of the process that set it: any other child inherits the variable.
    if not packed or "multiprocessing.forkserver" not in sys.modules:
        return
    try:
        pid, text, path, cache_dir = json.loads(zlib.decompress(base64.b64decode(packed)))
        if pid != os.getppid():
            return
        ruleset = parse_rules(text, path, trusted=True)
        patterncache.ready(Path(cache_dir) if cache_dir is not None else None, ruleset.patterns)
    except Exception:  # noqa: BLE001 - workers then compile on first use, as without it
        return
    _preloaded = (text, ruleset)
    # What the forkserver holds now lives as long as it does: a collection in a worker then
    # neither scans it nor writes to its pages, which stay shared with the forkserver.
    gc.freeze()


def init(rules_text: str, rules_path: str, daemon_pid: int) -> None:
    """Pool initializer: take the rules the daemon already validated (compiled by the
    forkserver if they are the ones it preloaded, otherwise on first use), and exit if the
    daemon dies: a killed daemon must not leave its workers behind."""
    global _ruleset
    if _preloaded is not None and _preloaded[0] == rules_text:
        _ruleset = _preloaded[1]
    else:
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


class AnalysisFailed(Exception):
    """A page's analysis raised: the exception as text, which pickles where the exception
    itself may not (and one page must not fail the others of its task)."""


def failure_text(exc: Exception) -> str:
    """What a failed analysis says in the check's error: "Type: message", made in the worker
    (AnalysisFailed) or here (a broken pool, a cancelled task)."""
    return str(exc) if isinstance(exc, AnalysisFailed) else f"{type(exc).__name__}: {exc}"


def analyse_pages(pages: list[FetchedPage]) -> list[Analysis | AnalysisFailed]:
    """Extract each page of a task and evaluate the rules on it (the CPU-heavy half of a
    check), a failure in the place of its page."""
    assert _ruleset is not None, "worker not initialised"
    out: list[Analysis | AnalysisFailed] = []
    for page in pages:
        try:
            out.append(analyse(page, _ruleset))
        except Exception as exc:  # noqa: BLE001 - recorded as that page's failed check
            out.append(AnalysisFailed(failure_text(exc)))
    return out


_preload()
