#!/usr/bin/env python3
"""Static HTTP/1.1 keep-alive server on 127.0.0.1 for claimwatch's benchmark (issue 7).

    python bench/serve.py PORT ROOT [--no-validators]

PORT 0 picks a free port. The first line on stdout is `serving ROOT on http://127.0.0.1:PORT/`
so a parent process can read the port. SIGTERM or SIGINT stops it.

- One thread per connection (ThreadingHTTPServer), HTTP/1.1 keep-alive, TCP_NODELAY, each
  response written with one send; no request logging.
- Files are cached in memory with a strong ETag (BLAKE2 hash of the content) keyed by
  (mtime_ns, size): a file rewritten on disk is re-read on the next request, one os.stat()
  per request. Last-Modified is the file's mtime. A request that makes the server read a file
  counts in the `file_reads` counter.
- If-None-Match answers 304 when a tag matches; without it, If-Modified-Since answers 304 when
  the file is not newer (If-None-Match takes precedence, RFC 9110 13.2.2).
- `GET /__stats` returns JSON counters: responses by status, conditional requests seen,
  TCP connections that asked for anything but /__stats, bytes sent. `/__stats?reset=1`
  returns them and starts again from zero. /__stats itself is never counted.
- `/robots.txt` allows everything (unless ROOT has its own robots.txt).
- `--no-validators`: no ETag or Last-Modified, never a 304, like many CMS pages.

Standard library only: the benchmark must not depend on the code it measures.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import json
import os
import posixpath
import signal
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

ROBOTS = b"User-agent: *\nAllow: /\n"
TYPES = {".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
         ".txt": "text/plain; charset=utf-8", ".json": "application/json",
         ".css": "text/css", ".js": "text/javascript", ".xml": "application/xml"}
COUNTERS = ("requests", "s200", "s304", "s404", "conditional", "if_none_match",
            "if_modified_since", "connections", "bytes_sent", "file_reads")


@dataclass(frozen=True)
class Entry:
    """A file as served: bytes, validators, and the (mtime_ns, size) they were made from."""

    mtime_ns: int
    size: int
    body: bytes
    etag: str
    last_modified: str
    mtime_s: int


class Stats:
    """Thread-safe counters for /__stats."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = dict.fromkeys(COUNTERS, 0)

    def add(self, **deltas: int) -> None:
        with self.lock:
            for k, v in deltas.items():
                self.counts[k] = self.counts.get(k, 0) + v

    def snapshot(self, reset: bool = False) -> dict[str, int]:
        with self.lock:
            out = dict(self.counts)
            if reset:
                self.counts = dict.fromkeys(COUNTERS, 0)
        return out


class FileCache:
    """Files by path, re-read when their mtime or size changes (counted in `stats`)."""

    def __init__(self, stats: Stats) -> None:
        self.entries: dict[str, Entry] = {}
        self.stats = stats

    def get(self, path: str) -> Entry:
        st = os.stat(path)
        entry = self.entries.get(path)
        if entry is not None and entry.mtime_ns == st.st_mtime_ns and entry.size == st.st_size:
            return entry
        with open(path, "rb") as f:
            body = f.read()
        self.stats.add(file_reads=1)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        mtime_s = int(st.st_mtime)
        entry = Entry(st.st_mtime_ns, st.st_size, body, etag,
                      email.utils.formatdate(mtime_s, usegmt=True), mtime_s)
        self.entries[path] = entry  # a plain dict store is atomic under the GIL
        return entry


class Server(ThreadingHTTPServer):
    """The listening socket, the file cache and the counters."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, port: int, root: str, validators: bool = True) -> None:
        self.root = os.path.abspath(root)
        self.validators = validators
        self.stats = Stats()
        self.cache = FileCache(self.stats)
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class Handler(BaseHTTPRequestHandler):
    """GET and HEAD for files under the root, /robots.txt and /__stats."""

    protocol_version = "HTTP/1.1"
    server_version = "claimwatch-bench/1"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 120  # an idle keep-alive connection is closed after this
    server: Server
    counted = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:  # noqa: N802 - http.server naming
        url = urlsplit(self.path)
        if url.path == "/__stats":
            body = json.dumps(self.server.stats.snapshot("reset=1" in url.query)).encode()
            self.respond(200, [("Content-Type", "application/json"),
                               ("Cache-Control", "no-store")], body, head, count=False)
            return
        if not self.counted:
            self.counted = True  # one handler object per TCP connection
            self.server.stats.add(connections=1)
        rel = posixpath.normpath(unquote(url.path)).lstrip("/")
        path = os.path.join(self.server.root, rel)
        if rel.startswith("..") or "\x00" in rel:
            self.not_found(head)
            return
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        try:
            entry = self.server.cache.get(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            if rel == "robots.txt":
                self.respond(200, [("Content-Type", "text/plain")], ROBOTS, head)
            else:
                self.not_found(head)
            return
        self.send_entry(entry, path, head)

    def send_entry(self, entry: Entry, path: str, head: bool) -> None:
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None or ims is not None:
            self.server.stats.add(conditional=1, if_none_match=inm is not None,
                                  if_modified_since=ims is not None)
        headers = [("Cache-Control", "no-cache")]
        if not self.server.validators:
            self.respond(200, [("Content-Type", content_type(path))] + headers, entry.body, head)
            return
        headers = [("ETag", entry.etag), ("Last-Modified", entry.last_modified)] + headers
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            fresh = "*" in tags or entry.etag in tags
        elif ims is not None:
            try:
                fresh = entry.mtime_s <= email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                fresh = False
        else:
            fresh = False
        if fresh:
            self.respond(304, headers, b"", head)
        else:
            self.respond(200, [("Content-Type", content_type(path))] + headers, entry.body, head)

    def not_found(self, head: bool) -> None:
        self.respond(404, [("Content-Type", "text/plain")], b"not found\n", head)

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes, head: bool,
                count: bool = True) -> None:
        """Status line, headers and body in one write."""
        lines = [f"HTTP/1.1 {status} {self.responses[status][0]}",
                 f"Server: {self.server_version}",
                 f"Date: {email.utils.formatdate(usegmt=True)}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if status != 304:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if status != 304 and not head:
            data += body
        self.wfile.write(data)
        if count:
            self.server.stats.add(requests=1, bytes_sent=len(data), **{f"s{status}": 1})


def content_type(path: str) -> str:
    return TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")


def start_in_thread(root: str, port: int = 0, validators: bool = True) -> Server:
    """A server running in a daemon thread of this process (for tests); call .shutdown()."""
    server = Server(port, root, validators)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True, name="bench-serve").start()
    return server


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int, help="TCP port on 127.0.0.1 (0: pick a free one)")
    ap.add_argument("root", help="directory to serve")
    ap.add_argument("--no-validators", action="store_true",
                    help="send neither ETag nor Last-Modified; never answer 304")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.root):
        ap.error(f"{a.root} is not a directory")
    server = Server(a.port, a.root, validators=not a.no_validators)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"serving {server.root} on http://127.0.0.1:{server.port}/"
          f"{' (no validators)' if a.no_validators else ''}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
