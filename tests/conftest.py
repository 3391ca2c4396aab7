"""Shared fixtures: a loopback site, the project's rules, a state database, one-call checks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.items import FetchedPage, FetchRequest
from crawler.runner import fetch
from demo.server import SiteServer
from monitor.check import CheckResult, process
from monitor.rules import Ruleset, load_rules
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "demo" / "site"
RULES = ROOT / "rules.yaml"
# A page whose claim sentence contains "<script>" as text: page text is untrusted.
SCRIPT_PAGE = ROOT / "tests" / "data" / "script-claim.html"

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


def record(store: Store, ruleset: Ruleset, url: str, body: bytes, **kwargs: Any) -> CheckResult:
    """Process a page body as if it had just been fetched with a 200 (no network, fast)."""
    fetched = FetchedPage(url=url, status=200, body=body, final_url=url,
                          headers={"Content-Type": "text/html; charset=utf-8"})
    return process(store, fetched, ruleset, **kwargs)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a `claimwatch` subprocess: none of the developer's CLAIMWATCH_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env.update(extra)
    return env


def claimwatch_command(*args: str) -> list[str]:
    """The argv to run the installed `claimwatch` command."""
    exe = Path(sys.executable).parent / "claimwatch"
    return [str(exe) if exe.exists() else shutil.which("claimwatch") or "claimwatch", *args]


def run_claimwatch(*args: str, cwd: Path, env: dict[str, str] | None = None,
                   timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `claimwatch` as a user would, in `cwd`, and wait for it."""
    return subprocess.run(claimwatch_command(*args), capture_output=True, text=True, cwd=cwd,
                          env=env or cli_env(), timeout=timeout, stdin=subprocess.DEVNULL)
