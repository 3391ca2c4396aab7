#!/usr/bin/env python3
"""The floor for claimwatch's cycle: keep-alive fetch + `trafilatura.extract`, nothing else.

    .venv/bin/python bench/floor.py URLS_FILE [--procs 2] [--state FILE]

What any tool that fetches N pages and extracts their main text must at least spend: one
persistent HTTP/1.1 connection per process (http.client), a conditional GET with the ETag it
got last time (kept in --state between cycles), `trafilatura.extract()` on every 200, and a
hash of the text to tell changed pages from unchanged ones. No robots.txt, no database, no
rules. URLs are dealt round-robin to `--procs` forked processes; trafilatura is imported once
before the fork. Prints one JSON line: checked, s200, s304, errors, changed, seconds,
changed_urls.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trafilatura

Known = dict[str, list[str | None]]  # url -> [etag, text digest]


def work(urls: list[str], known: Known) -> tuple[dict[str, int], Known, list[str]]:
    """Fetch and extract `urls` over one keep-alive connection; counts, validators, changes."""
    counts = {"s200": 0, "s304": 0, "errors": 0}
    changed: list[str] = []
    out: Known = {}
    conn: http.client.HTTPConnection | None = None
    for url in urls:
        parts = urlsplit(url)
        etag, digest = known.get(url, [None, None])
        headers = {"If-None-Match": etag} if etag else {}
        for attempt in (1, 2):  # a keep-alive connection the server closed: reconnect once
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                conn.request("GET", parts.path or "/", headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                break
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                if attempt == 2:
                    resp, body = None, b""
        if resp is None or resp.status not in (200, 304):
            counts["errors"] += 1
            out[url] = [etag, digest]
            continue
        if resp.status == 304:
            counts["s304"] += 1
            out[url] = [etag, digest]
            continue
        counts["s200"] += 1
        text = trafilatura.extract(body.decode("utf-8", "replace")) or ""
        new = hashlib.sha256(text.encode()).hexdigest()
        if digest is not None and new != digest:
            changed.append(url)
        out[url] = [resp.getheader("ETag"), new]
    if conn is not None:
        conn.close()
    return counts, out, changed


def _work(args: tuple[list[str], Known]) -> tuple[dict[str, int], Known, list[str]]:
    return work(*args)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("urls", type=Path, help="file with one URL per line")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--state", type=Path, help="validators and digests between cycles")
    a = ap.parse_args(argv)
    urls = [u.strip() for u in a.urls.read_text().splitlines() if u.strip()]
    known: Known = {}
    if a.state and a.state.exists():
        known = json.loads(a.state.read_text())
    started = time.monotonic()
    if a.procs <= 1:
        results = [work(urls, known)]
    else:
        chunks = [(urls[i::a.procs], {u: known[u] for u in urls[i::a.procs] if u in known})
                  for i in range(a.procs)]
        with multiprocessing.get_context("fork").Pool(a.procs) as pool:
            results = pool.map(_work, chunks)
    counts: dict[str, Any] = {"checked": len(urls), "s200": 0, "s304": 0, "errors": 0}
    changed: list[str] = []
    for c, validators, ch in results:
        for k, v in c.items():
            counts[k] += v
        known.update(validators)
        changed += ch
    seconds = time.monotonic() - started
    if a.state:
        a.state.write_text(json.dumps(known))
    print(json.dumps({**counts, "changed": len(changed), "seconds": round(seconds, 3),
                      "changed_urls": sorted(changed)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
