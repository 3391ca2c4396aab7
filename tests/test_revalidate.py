"""The revalidation path: it settles 304s and plain 200s exactly as the Scrapy crawl would,
hands everything else on, and keeps the crawl's politeness (robots.txt, per-host cap)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import FAST, ROOT, claimwatch_command, cli_env, page

from crawler.items import FetchedPage, FetchRequest
from crawler.revalidate import Policy, Revalidator
from crawler.runner import fetch as crawl


class Site:
    """A loopback server whose every answer a test spells out: status, headers, body (sent
    chunked when asked), and the counters the politeness tests read."""

    def __init__(self, robots: tuple[int, bytes] = (200, b"User-agent: *\nDisallow: /private/\n"),
                 delay: float = 0.0) -> None:
        self.routes: dict[str, tuple[int, list[tuple[str, str]], bytes, bool]] = {}
        self.robots = robots
        self.delay = delay
        self.hits: dict[str, int] = {}
        self.connections = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.close_after_each = False
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with site.lock:
                    site.connections += 1

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                site.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def route(self, path: str, body: bytes, status: int = 200,
              headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html"),),
              chunked: bool = False) -> None:
        self.routes[path] = (status, [("ETag", '"v1"'), *headers], body, chunked)

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.hits[h.path] = self.hits.get(h.path, 0) + 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if h.path == "/robots.txt":
                status, headers, body, chunked = (self.robots[0], [("Content-Type",
                                                  "text/plain")], self.robots[1], False)
            else:
                status, headers, body, chunked = self.routes.get(
                    h.path, (404, [("Content-Type", "text/html")], b"<p>no such page</p>", False))
            if status == 200 and h.headers.get("If-None-Match") == "\"v1\"" \
                    and h.path.startswith("/same"):
                status, body = 304, b""
            h.send_response(status)
            for name, value in headers:
                h.send_header(name, value)
            if chunked:
                h.send_header("Transfer-Encoding", "chunked")
            else:
                h.send_header("Content-Length", str(len(body)))
            if self.close_after_each:  # without saying so, as servers do with idle ones
                h.close_connection = True
            h.end_headers()
            if chunked:
                for i in range(0, len(body), 1000):
                    piece = body[i:i + 1000]
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                h.wfile.write(b"0\r\n\r\n")
            elif status != 304:
                h.wfile.write(body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()


def revalidate(requests: list[FetchRequest], **policy: object) -> list[FetchedPage | None]:
    """Each request through one Revalidator, concurrently, as the daemon sends them."""
    settings = {**FAST, "CONCURRENT_REQUESTS_PER_DOMAIN": 4}

    async def run() -> list[FetchedPage | None]:
        revalidator = Revalidator(Policy(**{**Policy.from_settings(settings).__dict__,
                                            **policy}))
        try:
            return list(await asyncio.gather(*(revalidator.fetch(r) for r in requests)))
        finally:
            revalidator.close()

    return asyncio.run(run())


def comparable(page: FetchedPage) -> dict[str, object]:
    headers = {k: v for k, v in page.headers.items() if k not in ("Date", "Server")}
    return {"url": page.url, "status": page.status, "headers": headers, "body": page.body,
            "encoding": page.encoding, "final_url": page.final_url, "error": page.error,
            "text": page.text() if page.body else ""}


CLINIC = page("ridgeline/v2.html")
LATIN = ("<html><head><title>Caf\u00e9 clinic</title></head><body><p>Na\u00efve claims: 85% "
         "stay sober.</p></body></html>")

SETTLED = {
    # path: (body, headers, chunked)
    "/utf8-header": (CLINIC, (("Content-Type", "text/html; charset=utf-8"),), False),
    "/meta-charset": (LATIN.replace("<head>", '<head><meta charset="iso-8859-1">')
                      .encode("latin-1"), (("Content-Type", "text/html"),), False),
    "/ascii-only": (b"<html><body><p>Plain ASCII page.</p></body></html>",
                    (("Content-Type", "text/html"),), False),
    "/utf8-undeclared": (LATIN.encode("utf-8"), (("Content-Type", "text/html"),), False),
    "/bom": (b"\xef\xbb\xbf" + LATIN.encode("utf-8"),
             (("Content-Type", "text/html; charset=iso-8859-1"),), False),
    "/gzip": (gzip.compress(CLINIC), (("Content-Type", "text/html; charset=utf-8"),
                                      ("Content-Encoding", "gzip")), False),
    "/chunked": (CLINIC, (("Content-Type", "application/xhtml+xml"),), True),
    "/same": (CLINIC, (("Content-Type", "text/html; charset=utf-8"),), False),
    "/two-headers": (CLINIC, (("Content-Type", "text/html"), ("Link", "<a>"),
                              ("Link", "<b>")), False),
}


def test_settled_pages_are_what_the_crawl_would_have_given(site):
    for path, (body, headers, chunked) in SETTLED.items():
        site.route(path, body, headers=headers, chunked=chunked)
    site.route("/same-too", CLINIC)
    requests = [FetchRequest(site.url(p), etag='"v0"') for p in SETTLED]
    requests.append(FetchRequest(site.url("/same-too"), etag='"v1"'))  # its own URL: the
    # crawl's results are matched to requests by URL
    ours = revalidate(requests)
    theirs = crawl(requests, settings=FAST)
    for request, mine, scrapy_page in zip(requests, ours, theirs, strict=True):
        assert mine is not None, request.url
        assert comparable(mine) == comparable(scrapy_page), request.url
    assert [p.status for p in ours[-2:]] == [200, 304]
    assert "\u00e9" in ours[1].text() and ours[2].encoding == "cp1252"
    # First fetches (no validators) too: the same pages as the crawl's.
    first = [FetchRequest(site.url(p)) for p in SETTLED]
    for request, mine, scrapy_page in zip(first, revalidate(first), crawl(first, settings=FAST),
                                          strict=True):
        assert mine is not None and mine.status == 200, request.url
        assert comparable(mine) == comparable(scrapy_page), request.url


HANDED_ON = {
    "/moved": (301, (("Location", "/elsewhere"),), b""),
    "/error": (500, (("Content-Type", "text/html"),), b"<p>oops</p>"),
    "/gone": (404, (("Content-Type", "text/html"),), b"<p>gone</p>"),
    "/pdf": (200, (("Content-Type", "application/pdf"),), b"%PDF-1.4"),
    "/no-type": (200, (), b"<html><body>x</body></html>"),
    "/refresh": (200, (("Content-Type", "text/html"),),
                 b'<html><head><meta http-equiv="Refresh" content="0; url=/x"></head></html>'),
    "/guess-encoding": (200, (("Content-Type", "text/html"),), LATIN.encode("cp1252")),
    "/brotli": (200, (("Content-Type", "text/html"), ("Content-Encoding", "br")), b"\x0b"),
    "/attachment": (200, (("Content-Type", "text/html"),
                          ("Content-Disposition", "attachment; filename=a.html")), b"<p>a</p>"),
    "/big": (200, (("Content-Type", "text/html"),), b"<p>" + b"x" * 5000 + b"</p>"),
    "/private/page": (200, (("Content-Type", "text/html"),), b"<p>robots say no</p>"),
}


def test_anything_but_a_plain_answer_is_handed_to_the_crawl(site):
    for path, (status, headers, body) in HANDED_ON.items():
        site.route(path, body, status=status, headers=headers)
    requests = [FetchRequest(site.url(p), etag='"v0"') for p in HANDED_ON]
    got = revalidate(requests, max_size=4096)
    assert {r.url: p for r, p in zip(requests, got, strict=True)} == {
        r.url: None for r in requests}
    assert site.hits.get("/private/page") is None  # robots.txt obeyed
    assert site.hits["/robots.txt"] == 1  # once per host, though asked concurrently


def test_a_first_fetch_is_a_plain_get_and_a_304_to_it_goes_to_the_crawl(site):
    site.route("/page", CLINIC)
    site.route("/odd", b"", status=304)  # a 304 to an unconditional GET: not modified since?
    first, odd = revalidate([FetchRequest(site.url("/page")), FetchRequest(site.url("/odd"))])
    assert first is not None and first.status == 200 and first.body == CLINIC
    assert odd is None


@pytest.mark.parametrize("robots", [(500, b"down"), (301, b"")])
def test_a_robots_txt_that_is_not_plain_leaves_the_host_to_the_crawl(robots):
    site = Site(robots=robots)
    try:
        site.route("/same", CLINIC)
        assert revalidate([FetchRequest(site.url("/same"), etag='"v1"')]) == [None]
        assert "/same" not in site.hits
    finally:
        site.close()


def test_a_missing_robots_txt_means_no_rules(site):
    site.robots = (404, b"not found")
    site.route("/same", CLINIC)
    [got] = revalidate([FetchRequest(site.url("/same"), etag='"v1"')])
    assert got is not None and got.status == 304


def test_a_failing_host_goes_to_the_crawl_without_more_attempts():
    accepted = []
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:  # a host that takes each connection and closes it unanswered
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    port = listener.getsockname()[1]
    requests = [FetchRequest(f"http://127.0.0.1:{port}/p{i}", etag='"x"') for i in range(5)]

    async def run() -> tuple[list[FetchedPage | None], int]:
        revalidator = Revalidator(Policy(obey_robots=False, autothrottle=False))
        got = [await revalidator.fetch(r) for r in requests]
        return got, revalidator.handed_on

    try:
        got, handed_on = asyncio.run(run())
    finally:
        listener.close()
    assert got == [None] * 5 and handed_on == 5
    assert len(accepted) == 1  # the other four went to the crawl without trying this host


def _raw_server(answers: dict[str, bytes]) -> socket.socket:
    """A host that answers each path with the exact bytes given, then hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                conn.sendall(answers[request.split(b" ")[1].decode()])

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_informational_answers_and_bodies_that_end_with_the_connection_are_read_whole():
    html = b"<html><body><p>" + b"Ketamine cures addiction. " * 40 + b"</p></body></html>"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nETag: \"v2\"\r\n"
    listener = _raw_server({
        "/continue": b"HTTP/1.1 100 Continue\r\n\r\n" + head
                     + b"Content-Length: %d\r\n\r\n" % len(html) + html,
        "/until-close": head + b"\r\n" + html,  # no length: the body ends with the connection
        "/cut-short": head + b"Content-Length: %d\r\n\r\n" % (len(html) + 10) + html,
    })
    port = listener.getsockname()[1]
    try:
        got = revalidate([FetchRequest(f"http://127.0.0.1:{port}{path}", etag='"v1"')
                          for path in ("/continue", "/until-close", "/cut-short")],
                         obey_robots=False)
    finally:
        listener.close()
    assert [(p.status, p.body, p.header("ETag")) for p in got[:2]] == [(200, html, '"v2"')] * 2
    assert got[2] is None  # a truncated body is never taken for the page


def test_per_host_cap_keep_alive_and_autothrottle_are_kept():
    site = Site(delay=0.02)
    try:
        for i in range(24):
            site.route(f"/same{i}", CLINIC)
        requests = [FetchRequest(site.url(f"/same{i}"), etag='"v1"') for i in range(24)]
        got = revalidate(requests, autothrottle=False, per_host=3, start_delay=0.0)
        assert [p.status for p in got if p] == [304] * 24
        assert site.most_in_flight == 3
        assert site.connections <= 4  # three kept alive, one for robots.txt
        changed = [FetchRequest(site.url(f"/same{i}"), etag='"v0"') for i in range(24)]
        assert [p.status for p in revalidate(changed, autothrottle=False, per_host=3,
                                             start_delay=0.0) if p] == [200] * 24
        assert site.connections <= 8  # pages with bodies keep their connections alive too
        site.most_in_flight = 0
        # AutoThrottle aims at 2 requests in flight per host, from a start delay.
        started = time.monotonic()
        revalidate(requests[:6], autothrottle=True, per_host=8, start_delay=0.05,
                   target_concurrency=2.0)
        assert site.most_in_flight <= 2
        assert time.monotonic() - started >= 0.05 * 2
    finally:
        site.close()


def test_a_connection_the_server_closed_is_replaced(site):
    site.route("/same", CLINIC)
    site.close_after_each = True
    got = revalidate([FetchRequest(site.url("/same"), etag='"v1"')] * 5, per_host=1,
                     autothrottle=False)
    assert [p.status for p in got if p] == [304] * 5


def test_a_request_it_cannot_send_leaves_the_host_usable(site):
    site.route("/same-gz", CLINIC, headers=(("Content-Type", "text/html"),
                                            ("Content-Encoding", "gzip")))
    requests = [FetchRequest(site.url("/same-gz"), etag='"bad\nvalue"'),  # cannot go on the wire
                FetchRequest(site.url("/caf\u00e9 menu"), etag='"v1"'),  # needs escaping
                FetchRequest(site.url("/same-gz"), etag='"v1"')]  # a 304 naming an encoding

    async def run() -> list[FetchedPage | None]:
        revalidator = Revalidator(Policy(autothrottle=False))
        return [await revalidator.fetch(r) for r in requests]

    got = asyncio.run(run())
    assert got[:2] == [None, None]
    assert got[2] is not None and got[2].status == 304


def test_a_slow_host_does_not_hold_up_the_others():
    slow, quick = Site(delay=0.3), Site()
    try:
        slow.route("/same", CLINIC)
        quick.route("/same", CLINIC)

        async def run() -> float:
            revalidator = Revalidator(Policy(concurrency=2, per_host=1, autothrottle=False,
                                             obey_robots=False))
            waiting = [asyncio.ensure_future(revalidator.fetch(
                FetchRequest(slow.url("/same"), etag='"v1"'))) for _ in range(4)]
            await asyncio.sleep(0.05)
            started = time.monotonic()
            assert (await revalidator.fetch(FetchRequest(quick.url("/same"), etag='"v1"'))
                    ).status == 304
            took = time.monotonic() - started
            await asyncio.gather(*waiting)
            return took

        assert asyncio.run(run()) < 0.2
    finally:
        slow.close()
        quick.close()


def test_a_proxy_in_the_environment_leaves_every_page_to_the_crawl(site, monkeypatch):
    site.route("/same", CLINIC)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert revalidate([FetchRequest(site.url("/same"), etag='"v1"')]) == [None]
    assert site.hits == {}
    monkeypatch.setenv("HTTPS_PROXY", "")
    assert revalidate([FetchRequest(site.url("/same"), etag='"v1"')])[0].status == 304


def test_the_policy_is_the_crawls():
    policy = Policy.from_settings({"CONCURRENT_REQUESTS_PER_DOMAIN": 7, "DOWNLOAD_TIMEOUT": 9,
                                   "AUTOTHROTTLE_ENABLED": False, "ROBOTSTXT_OBEY": False})
    assert (policy.per_host, policy.host_slots, policy.timeout, policy.obey_robots) == (
        7, 7, 9.0, False)
    assert Policy.from_settings({}).host_slots == 2  # AutoThrottle's target concurrency


# -------------------------------------------------------------------- in the daemon

PROBE = ("import atexit, gc, sys; from concurrent.futures import ProcessPoolExecutor as P; "
         "tasks = []; submit = P.submit; "
         "P.submit = lambda self, fn, *a, **k: tasks.append(fn) or submit(self, fn, *a, **k); "
         "atexit.register(lambda: print('SCRAPY-LOADED', 'scrapy' in sys.modules, "
         "'TWISTED', 'twisted.internet.reactor' in sys.modules, "
         "'WORKERS', bool(tasks), 'FROZEN', gc.get_freeze_count() > 0, file=sys.stderr)); "
         "from monitor.cli import main; main()")


def run_once(state: Path, *options: str) -> tuple[dict, bool]:
    """One `run --once --all` cycle: its summary, and whether it imported Scrapy (and, for
    `workers`, whether it gave the worker pool any task, which starts the workers)."""
    run = subprocess.run([sys.executable, "-c", PROBE, *options, "run", "--once", "--all",
                          "--json", "--state", str(state), "--rules", str(ROOT / "rules.yaml")],
                         capture_output=True, text=True, timeout=120, env=cli_env(),
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    summary["workers"] = "WORKERS True" in run.stderr
    summary["frozen"] = "FROZEN True" in run.stderr
    summary["twisted"] = "TWISTED True" in run.stderr
    return summary, "SCRAPY-LOADED True" in run.stderr


def test_revalidation_cycles_start_scrapy_and_workers_only_when_a_page_needs_them(tmp_path):
    site = Site(robots=(404, b""))
    try:
        for name in ("a", "b", "c"):
            site.route(f"/same-{name}", CLINIC)
        site.route("/moving", CLINIC)
        state = tmp_path / "state"
        urls = [site.url(p) for p in ("/same-a", "/same-b", "/same-c", "/moving")]
        subprocess.run(claimwatch_command("watch", "add", *urls, "--state", str(state)),
                       check=True, capture_output=True, env=cli_env())
        summary, scrapy_loaded = run_once(state)
        assert summary["first"] == 4 and not scrapy_loaded  # plain pages: no crawl needed
        assert not summary["twisted"]  # nor its reactor
        (compiled,) = state.glob("patterns-*.pickle")  # the forkserver's compiled rules
        written = compiled.stat().st_mtime_ns

        site.route("/moving", page("ridgeline/v3.html"))  # a 200 the revalidation settles
        summary, scrapy_loaded = run_once(state)
        assert (summary["changed"], summary["unchanged"], summary["errors"]) == (1, 3, 0)
        assert summary["changed_urls"] == [site.url("/moving")]
        assert not scrapy_loaded and summary["workers"]
        assert compiled.stat().st_mtime_ns == written  # read back, not compiled and rewritten

        summary, scrapy_loaded = run_once(state)  # nothing changed: no crawl, no worker
        assert summary["unchanged"] == 4
        assert not scrapy_loaded and not summary["workers"]
        assert summary["frozen"]  # the start-up heap is out of the collector's way

        site.route("/moving", b"", status=503)  # a failure: the crawl retries and reports it
        summary, scrapy_loaded = run_once(state)
        assert (summary["errors"], summary["unchanged"]) == (1, 3) and scrapy_loaded
        assert summary["twisted"]

        config = tmp_path / "off.toml"
        config.write_text("[daemon]\nrevalidate = false\n")
        summary, scrapy_loaded = run_once(state, "--config", str(config))
        assert summary["unchanged"] == 3 and scrapy_loaded
    finally:
        site.close()
