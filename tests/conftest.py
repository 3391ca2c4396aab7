"""Shared fixtures: a loopback site, the project's rules, a state database, one-call checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.items import FetchRequest
from crawler.runner import fetch
from demo.server import SiteServer
from monitor.check import CheckResult, process
from monitor.rules import Ruleset, load_rules
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "demo" / "site"
RULES = ROOT / "rules.yaml"

# Quick but real crawler settings for tests: short timeouts, no politeness delay.
FAST = {"DOWNLOAD_TIMEOUT": 3, "AUTOTHROTTLE_ENABLED": False, "RETRY_TIMES": 1}


@pytest.fixture
def site() -> Iterator[SiteServer]:
    with SiteServer() as server:
        yield server


@pytest.fixture(scope="session")
def ruleset() -> Ruleset:
    return load_rules(RULES)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.in_dir(tmp_path / "state") as s:
        yield s


def page(name: str) -> bytes:
    """A page of the bundled sample site, e.g. page('ridgeline/v2.html')."""
    return (SITE / name).read_bytes()


def run_check(store: Store, ruleset: Ruleset, url: str, **settings: Any) -> CheckResult:
    """Fetch through the real spider and process, as `claimwatch check` does."""
    watch = store.watch(url)
    request = FetchRequest(url, watch.etag if watch else None,
                           watch.last_modified if watch else None)
    fetched = fetch([request], settings={**FAST, **settings}, timeout=60)[0]
    return process(store, fetched, ruleset)


def states(result: CheckResult) -> dict[str, list[str]]:
    """Findings of a check grouped by state: {'new': ['category: text', ...], ...}."""
    out: dict[str, list[str]] = {}
    for f in result.findings:
        out.setdefault(f.state, []).append(f"{f.category}: {f.text}")
    return out
