#!/usr/bin/env python3
"""STAND-IN for `claimwatch run --once` / `claimwatch watch import`: bench use only.

*** This is not claimwatch's daemon. *** The real `claimwatch run` and `claimwatch watch
import` are being written on another branch; until they land, the benchmark (bench/cycle.py)
runs this script in their place so everything around them can be built and tested. It
follows their announced contract and does the simplest thing the library allows today:
`crawler.runner.fetch()` over every watch, then `monitor.check.process()` on each page, one
`Store`, in one process. Once the real commands exist, cycle.py uses them instead (see
`cycle.py --claimwatch`), and this file can go.

    standin_claimwatch.py watch import FILE --state DIR
    standin_claimwatch.py run --once --all --state DIR [--rules FILE] [--json] [--set K=V]
    standin_claimwatch.py run --cycles N --state DIR [--rules FILE] [--set K=V]

`run --once` prints `cycle: ... in Ns` on stderr and, with --json, one JSON object on stdout
(checked, changed, unchanged, suspect, errors, first, seconds, changed_urls). `run --cycles N`
stands in for the daemon in `cycle.py --daemon-rss`: it runs N full cycles in one process and,
after each, prints one JSON line on stdout with the cycle's summary and the process's RSS, then
waits for a line on stdin before the next cycle (the benchmark edits pages in between).
`--set KEY=VALUE` overrides a Scrapy setting (value parsed as JSON when it parses).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout: crawler/ and monitor/ come from here


def import_watches(state: str, file: str) -> int:
    """Add each URL of FILE (one per line) as a scheduled watch; idempotent."""
    from monitor.store import Store

    urls = [u.strip() for u in Path(file).read_text().splitlines()
            if u.strip() and not u.startswith("#")]
    with Store.in_dir(state) as store, store.transaction():
        for url in urls:
            watch = store.ensure_watch(url)
            if not watch.scheduled:
                store.update_watch(watch.id, scheduled=1)
    print(f"imported {len(urls)} watches", file=sys.stderr)
    return 0


def run_cycle(store: Any, ruleset: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """Fetch every watch once, then process each page: the current library path."""
    from crawler.items import FetchRequest
    from crawler.runner import fetch
    from monitor.check import process

    started = time.monotonic()
    rows = list(store.db.query("SELECT url, etag, last_modified FROM watches ORDER BY id"))
    requests = [FetchRequest(r["url"], r["etag"], r["last_modified"]) for r in rows]
    pages = fetch(requests, settings=settings, timeout=3600)
    fetched = time.monotonic()
    counts = dict.fromkeys(("first", "changed", "unchanged", "suspect", "error"), 0)
    changed_urls, crashed = [], []
    for page in pages:
        try:
            result = process(store, page, ruleset)
        except Exception:  # noqa: BLE001 - one page's failure must not end the cycle
            print(f"stand-in: process() raised on {page.url}:\n{traceback.format_exc()}",
                  file=sys.stderr)
            counts["error"] += 1
            crashed.append(page.url)
            continue
        counts[result.status] += 1
        if result.status == "changed":
            changed_urls.append(result.url)
    seconds = time.monotonic() - started
    return {"checked": len(pages), "changed": counts["changed"],
            "unchanged": counts["unchanged"], "suspect": counts["suspect"],
            "errors": counts["error"], "first": counts["first"], "seconds": round(seconds, 3),
            "fetch_seconds": round(fetched - started, 3), "changed_urls": changed_urls,
            "crashed_urls": crashed, "standin": True}


def summary_line(s: dict[str, Any]) -> str:
    return (f"cycle: {s['checked']} checked, {s['changed']} changed, {s['unchanged']} "
            f"unchanged, {s['suspect']} suspect, {s['errors']} errors in {s['seconds']:.1f}s")


def rss_kb() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0].lower()] = int(line.split()[1])
    return out


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw
    return settings


def run(args: argparse.Namespace) -> int:
    from monitor.rules import load_rules
    from monitor.store import Store

    ruleset = load_rules(args.rules or ROOT / "rules.yaml")
    settings = parse_sets(args.set)
    with Store.in_dir(args.state) as store:
        if args.cycles:
            for n in range(1, args.cycles + 1):
                s = run_cycle(store, ruleset, settings)
                s.pop("changed_urls")
                print(summary_line(s), file=sys.stderr, flush=True)
                print(json.dumps({"cycle": n, **s, **rss_kb()}), flush=True)
                if n < args.cycles and not sys.stdin.readline():
                    break  # the benchmark went away
            return 0
        s = run_cycle(store, ruleset, settings)
    print(summary_line(s), file=sys.stderr)
    if args.json:
        print(json.dumps(s))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description="STAND-IN for claimwatch run/watch import")
    sub = ap.add_subparsers(dest="command", required=True)
    watch = sub.add_parser("watch").add_subparsers(dest="watch_command", required=True)
    imp = watch.add_parser("import")
    imp.add_argument("file")
    imp.add_argument("--state", required=True)
    r = sub.add_parser("run")
    r.add_argument("--once", action="store_true")
    r.add_argument("--all", action="store_true")
    r.add_argument("--cycles", type=int, default=0)
    r.add_argument("--state", required=True)
    r.add_argument("--rules")
    r.add_argument("--json", action="store_true")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if args.command == "watch":
        return import_watches(args.state, args.file)
    if not args.once and not args.cycles:
        ap.error("the stand-in only does `run --once` or `run --cycles N`")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
