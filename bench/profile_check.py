#!/usr/bin/env python3
"""Where a check's time goes today: per-page breakdown of the library check path.

    .venv/bin/python bench/profile_check.py [-n 1000] [--seed 1] [--set KEY=VALUE ...]
                                            [--top 25] [--out-dir bench/out]

Runs the library check path in one process (crawler.runner.fetch over every page, then
monitor.check.process on each, one Store) for a cold, an unchanged and a 10%-changed cycle on
generated pages served by serve.py, with timers wrapped around the parts of the path at run
time (no claimwatch code is changed): Scrapy fetch (wall and CPU), extraction and its parts
(lxml parse, trafilatura, the widget-block pass, word counts), rules, suspect checks, diff,
finding reconciliation, and every Store call (SQLite, JSON, zstd) including BEGIN/COMMIT.
cProfile runs over the processing of each cycle and over the reactor thread during the
fetch, and the top functions are written next to the table:
bench/out/profile-<timestamp>.{txt,json}.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import json
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import crawler.runner as runner  # noqa: E402
import monitor.analysis as analysis  # noqa: E402
import monitor.check as check  # noqa: E402
import monitor.extract as extract_mod  # noqa: E402
from bench.make_pages import generate  # noqa: E402
from crawler.items import FetchedPage, FetchRequest  # noqa: E402
from monitor.rules import Ruleset, load_rules  # noqa: E402
from monitor.store import Snapshot, Store  # noqa: E402

# ------------------------------------------------------------------------- instrumentation

TOTALS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_depth: dict[str, int] = defaultdict(int)  # processing is single-threaded


def timed(name: str, group: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """fn, with its inclusive time added to `name`, and to `group` when not nested in it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = _depth[group] == 0
        _depth[group] += 1
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = time.perf_counter() - started
            _depth[group] -= 1
            TOTALS[name] += spent
            CALLS[name] += 1
            if outer and group != name:
                TOTALS[group] += spent

    return wrapper


# (owner, attribute, timer name, group): the parts of the check path timed, module globals
# so callers see the wrapped ones. tests/test_bench_tools.py checks that each still exists.
TARGETS: list[tuple[Any, str, str, str]] = [
    *((extract_mod, part, f"extract.{part.lstrip('_')}", "extract")
      for part in ("_parse", "_title", "_strip_invisible", "_main_paragraphs",
                   "_widget_blocks", "_prune")),
    (extract_mod, "extract", "extract", "extract"),  # analysis imports it at each call
    (analysis, "document_digest", "other.document_digest", "other"),
    (check, "document_digest", "other.document_digest", "other"),
    (analysis, "intrinsic_reason", "suspect.intrinsic", "suspect"),
    (check, "relative_reason", "suspect.relative", "suspect"),
    (analysis, "pack_document", "other.pack document (json+zstd)", "other"),
    (analysis, "pack_body", "other.pack body (zstd)", "other"),
    (check, "diff_texts", "diff", "diff"),
    (check, "reconcile", "alerts.reconcile", "alerts"),
    (Ruleset, "evaluate", "rules.evaluate", "rules"),
    (Ruleset, "removals", "rules.removals", "rules"),
    (FetchedPage, "text", "other.decode body", "other"),
    *((Store, name, f"store.{name}", "store")
      for name in ("ensure_watch", "watch", "watch_by_id", "update_watch", "last_good_snapshot",
                   "add_snapshot", "add_evidence", "open_findings", "add_finding",
                   "see_finding", "see_open_findings", "resolve_finding", "log_fetch",
                   "snapshots", "set_snapshot_disclaimers")),
]


def instrument() -> None:
    """Wrap the parts of the check path (TARGETS) and Store transactions in timers."""
    for owner, attr, name, group in TARGETS:
        setattr(owner, attr, timed(name, group, getattr(owner, attr)))
    Snapshot.document = property(timed("store.snapshot.document (unpack+json)", "store",
                                       Snapshot.document.fget))
    original = Store.transaction

    @contextlib.contextmanager
    def transaction(self: Store) -> Iterator[Store]:
        started = time.perf_counter()
        cm = original(self)
        cm.__enter__()
        TOTALS["store.begin"] += time.perf_counter() - started
        TOTALS["store"] += time.perf_counter() - started
        try:
            yield self
        except BaseException:
            if not cm.__exit__(*sys.exc_info()):
                raise
        else:
            started = time.perf_counter()
            cm.__exit__(None, None, None)
            TOTALS["store.commit"] += time.perf_counter() - started
            TOTALS["store"] += time.perf_counter() - started

    Store.transaction = transaction
    check.process = timed("process", "process", check.process)


# ----------------------------------------------------------------------------------- run

def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def top(prof: cProfile.Profile, n: int, sort: str) -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(n)
    text = buf.getvalue()
    return text[text.find("   ncalls"):] if "   ncalls" in text else text


def fetch_profiled(requests: list[FetchRequest], settings: dict[str, Any]
                   ) -> tuple[list[FetchedPage], cProfile.Profile]:
    """crawler.runner.fetch with cProfile running in the reactor thread."""
    reactor = runner._reactor_thread()  # private, but this is a profiler
    prof = cProfile.Profile()
    ready = threading.Event()

    def toggle(on: bool) -> None:
        prof.enable() if on else prof.disable()
        ready.set()

    reactor.callFromThread(toggle, True)
    ready.wait()
    pages = runner.fetch(requests, settings=settings, timeout=3600)
    ready.clear()
    reactor.callFromThread(toggle, False)
    ready.wait()
    return pages, prof


def run_cycle(kind: str, store: Store, ruleset: Ruleset, settings: dict[str, Any],
              top_n: int, profile: bool) -> dict[str, Any]:
    rows = list(store.db.query("SELECT url, etag, last_modified FROM watches ORDER BY id"))
    requests = [FetchRequest(r["url"], r["etag"], r["last_modified"]) for r in rows]
    c0, w0 = cpu(), time.perf_counter()
    if profile:
        pages, fetch_prof = fetch_profiled(requests, settings)
    else:
        pages, fetch_prof = runner.fetch(requests, settings=settings, timeout=3600), None
    fetch_wall, fetch_cpu = time.perf_counter() - w0, cpu() - c0
    TOTALS.clear()
    CALLS.clear()
    statuses: dict[str, int] = defaultdict(int)
    prof = cProfile.Profile()
    c0, w0 = cpu(), time.perf_counter()
    if profile:
        prof.enable()
    for page in pages:
        try:
            statuses[check.process(store, page, ruleset).status] += 1
        except Exception as exc:  # noqa: BLE001 - counted and named, the cycle goes on
            statuses["raised"] += 1
            print(f"process() raised on {page.url}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
    prof.disable()
    proc_wall, proc_cpu = time.perf_counter() - w0, cpu() - c0
    n = len(pages)
    bodies = sum(1 for p in pages if p.status == 200)
    return {
        "kind": kind, "pages": n, "bodies_200": bodies, "statuses": dict(statuses),
        "fetch": {"wall_s": round(fetch_wall, 3), "cpu_s": round(fetch_cpu, 3),
                  "cpu_ms_per_page": round(1000 * fetch_cpu / n, 2)},
        "process": {"wall_s": round(proc_wall, 3), "cpu_s": round(proc_cpu, 3),
                    "ms_per_page": round(1000 * proc_wall / n, 2)},
        "parts_ms_per_page": {k: round(1000 * v / n, 3) for k, v in
                              sorted(TOTALS.items(), key=lambda kv: -kv[1])},
        "calls": dict(CALLS), "cprofile": profile,
        **({"cprofile_process_tottime": top(prof, top_n, "tottime"),
            "cprofile_process_cumtime": top(prof, top_n, "cumulative"),
            "cprofile_fetch_tottime": top(fetch_prof, top_n, "tottime")}
           if profile and fetch_prof is not None else {}),
    }


GROUPS = ("extract", "rules", "store", "suspect", "diff", "alerts", "other")


def table(result: dict[str, Any]) -> str:
    lines = [f"\n== {result['kind']} cycle: {result['pages']} pages, {result['bodies_200']} "
             f"bodies, statuses {result['statuses']}",
             f"fetch (Scrapy): {result['fetch']['wall_s']}s wall, {result['fetch']['cpu_s']}s "
             f"CPU = {result['fetch']['cpu_ms_per_page']} ms CPU/page",
             f"process():      {result['process']['wall_s']}s wall = "
             f"{result['process']['ms_per_page']} ms/page, of which (ms/page):"]
    parts = result["parts_ms_per_page"]
    accounted = sum(parts.get(g, 0) for g in GROUPS)
    for g in GROUPS:
        if g in parts:
            lines.append(f"  {g:44} {parts[g]:8.2f}")
            for k, v in parts.items():
                if k.startswith(g + "."):
                    lines.append(f"      {k:40} {v:8.2f}")
    rest = parts.get("process", 0) - accounted
    lines.append(f"  {'unaccounted (check.py glue, hashing...)':44} {rest:8.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="Scrapy setting override (JSON value when it parses)")
    ap.add_argument("--cprofile", action="store_true",
                    help="also run cProfile (slows Python code down: the timers are then "
                         "inflated; use a separate run for the breakdown)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args(argv)
    settings: dict[str, Any] = {}
    for pair in a.set:
        k, _, v = pair.partition("=")
        try:
            settings[k] = json.loads(v)
        except json.JSONDecodeError:
            settings[k] = v
    ruleset = load_rules(ROOT / "rules.yaml")
    instrument()
    results = []
    with tempfile.TemporaryDirectory(prefix="claimwatch-profile-") as tmp:
        pages = Path(tmp) / "pages"
        generate(pages, a.n, a.seed)
        server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "serve.py"), "0",
                                   str(pages)], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port = int(re.search(r":(\d+)/", server.stdout.readline()).group(1))  # type: ignore[union-attr]
            names = (pages / "index.txt").read_text().split()
            with Store.in_dir(Path(tmp) / "state") as store:
                with store.transaction():
                    for name in names:
                        store.ensure_watch(f"http://127.0.0.1:{port}/{name}")
                for kind in ("cold", "unchanged", "changed"):
                    if kind == "changed":
                        generate(pages, a.n, a.seed, mutate_fraction=0.1, mutate_seed=7)
                    print(f"{kind} cycle...", file=sys.stderr, flush=True)
                    results.append(run_cycle(kind, store, ruleset, settings, a.top,
                                             a.cprofile))
                    print(table(results[-1]), file=sys.stderr, flush=True)
        finally:
            server.terminate()
            server.wait()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    a.out_dir.mkdir(parents=True, exist_ok=True)
    text = [f"profile_check.py -n {a.n} --seed {a.seed} settings={settings}"
            f"{' (cProfile on: timers inflated)' if a.cprofile else ''}"]
    for r in results:
        text.append(table(r))
        if not a.cprofile:
            continue
        text.append("\n-- cProfile, processing, by own time:\n" + r["cprofile_process_tottime"])
        text.append("-- cProfile, processing, cumulative:\n" + r["cprofile_process_cumtime"])
        text.append("-- cProfile, reactor thread during fetch, by own time:\n"
                    + r["cprofile_fetch_tottime"])
    (a.out_dir / f"profile-{stamp}.txt").write_text("\n".join(text))
    (a.out_dir / f"profile-{stamp}.json").write_text(json.dumps(
        {"n": a.n, "seed": a.seed, "settings": settings, "cycles": results}, indent=1))
    print(f"wrote {a.out_dir}/profile-{stamp}.txt and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
