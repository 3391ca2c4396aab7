"""A loopback web server for the demo and the tests: switchable page versions, ETag and
Last-Modified with 304s, robots.txt, and fault modes (500, 404, slow, connection closed, huge
body). Binds 127.0.0.1 on an ephemeral port.
"""

from __future__ import annotations

import email.utils
import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULTS = ("500", "404", "slow", "close", "huge", "503")


@dataclass
class Route:
    """What one path serves now."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    fault: str | None = None
    modified: float = field(default_factory=time.time)


class SiteServer:
    """Serves routes from memory; every request is counted so tests can assert on traffic."""

    def __init__(self, robots: str = "User-agent: *\nAllow: /\n", *, validators: bool = True,
                 slow_seconds: float = 5.0, huge_bytes: int = 12 * 1024 * 1024) -> None:
        self.routes: dict[str, Route] = {}
        self.robots = robots
        self.validators = validators
        self.slow_seconds = slow_seconds
        self.huge_bytes = huge_bytes
        self.hits: dict[str, int] = {}
        self.conditional_hits: dict[str, int] = {}
        self.not_modified: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "claimwatch-demo/1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       name=f"site-server-{self.port}")
        self.thread.start()

    # -- control

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes | str | Path, status: int = 200,
              content_type: str = "text/html; charset=utf-8") -> None:
        """Serve `body` (bytes, text or a file) at `path` from now on; clears any fault."""
        if isinstance(body, Path):
            body = body.read_bytes()
        if isinstance(body, str):
            body = body.encode("utf-8")
        with self.lock:
            old = self.routes.get(path)
            unchanged = old is not None and old.body == body and old.status == status
            self.routes[path] = Route(body, status, content_type, None,
                                      old.modified if unchanged else time.time())

    def fault(self, path: str, mode: str | None) -> None:
        """Make `path` fail in one of FAULTS (None: back to normal)."""
        if mode is not None and mode not in FAULTS:
            raise ValueError(f"unknown fault {mode!r} (known: {', '.join(FAULTS)})")
        with self.lock:
            self.routes.setdefault(path, Route()).fault = mode

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SiteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            route = self.routes.get(path)
        if path == "/robots.txt" and route is None:
            self._send(h, 200, self.robots.encode(), "text/plain; charset=utf-8")
            return
        if route is None:
            self._send(h, 404, b"<html><body><h1>Not Found</h1></body></html>")
            return
        fault = route.fault
        if fault in ("500", "503", "404"):
            self._send(h, int(fault), b"<html><body><h1>Error</h1></body></html>")
            return
        if fault == "slow":
            time.sleep(self.slow_seconds)
        if fault == "close":
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                          b"Content-Length: 100000\r\n\r\n<html><body><p>partial")
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        if fault == "huge":
            self._send_huge(h)
            return
        etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
        modified = email.utils.formatdate(route.modified, usegmt=True)
        if h.headers.get("If-None-Match") or h.headers.get("If-Modified-Since"):
            with self.lock:
                self.conditional_hits[path] = self.conditional_hits.get(path, 0) + 1
        if self.validators and route.status == 200 and (
            h.headers.get("If-None-Match") == etag
            or (not h.headers.get("If-None-Match")
                and h.headers.get("If-Modified-Since") == modified)
        ):
            with self.lock:
                self.not_modified[path] = self.not_modified.get(path, 0) + 1
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        extra = {"ETag": etag, "Last-Modified": modified} if self.validators else {}
        self._send(h, route.status, route.body, route.content_type, extra)

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes,
              content_type: str = "text/html; charset=utf-8",
              extra: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _send_huge(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(self.huge_bytes))
        h.end_headers()
        chunk = b"<p>" + b"ketamine " * 1000 + b"</p>\n"
        sent = 0
        try:
            while sent < self.huge_bytes:
                piece = chunk[: self.huge_bytes - sent]
                h.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up at its size limit, as it should
