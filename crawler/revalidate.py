"""GETs on the daemon's asyncio loop, without Scrapy: conditional for pages fetched before.

Most checks of a monitor end in 304 Not Modified. Through Scrapy's request machinery one costs
2-3 ms of CPU time and a cycle first pays a second of Scrapy's start-up; here it costs about
0.2 ms (requests written as bytes, responses parsed by llhttp through httptools), and a cycle
in which nothing changed never imports Scrapy (nor does a first cycle of plain pages).
Only the plain outcomes are settled here: a 304 to a conditional request, or a 200 HTML
page with a body this module can read exactly as Scrapy would. Everything else (a
redirect, an HTTP error, a timeout, a robots.txt that is not a plain 200 or 4xx, an encoding
that would need guessing, a meta refresh, a size over the limit) comes back as None, and the
caller hands the URL to the Scrapy crawl, which retries, follows and describes it. The
crawl's politeness holds here too: robots.txt is obeyed, requests in flight per host are
capped, and AutoThrottle's delay rule paces each host.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

from crawler.defaults import PLAIN, USER_AGENT
from crawler.items import FetchedPage, FetchRequest

log = logging.getLogger("claimwatch.revalidate")
# Scrapy's DEFAULT_REQUEST_HEADERS, and only the encodings decoded here.
_HEADERS = (b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
            b"Accept-Language: en\r\nAccept-Encoding: gzip, deflate\r\n")
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
# Searched in the lowercased body: with IGNORECASE the scan cost 0.46 ms on a 30 KB page.
_META_REFRESH = re.compile(rb"http-equiv\s*=\s*[\"']?\s*refresh")
_HOP_BY_HOP = {b"connection", b"keep-alive", b"te", b"trailers", b"transfer-encoding",
               b"upgrade", b"proxy-connection"}
_IDLE_REUSE_SECONDS = 4.0  # older idle connections may have been closed by the server
_HOST_BACKOFF_SECONDS = 600.0  # a host that failed here goes to the crawl for this long


@dataclass(frozen=True)
class Policy:
    """The crawl settings the revalidation path obeys (same names as Scrapy's)."""

    user_agent: str = USER_AGENT
    timeout: float = 30.0
    max_size: int = 10 * 1024 * 1024
    concurrency: int = 16
    per_host: int = 4
    obey_robots: bool = True
    robots_max_age: float = 86400.0
    autothrottle: bool = True
    start_delay: float = 0.25
    max_delay: float = 30.0
    target_concurrency: float = 2.0
    min_delay: float = 0.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Policy:
        """The policy of a crawl with these Scrapy settings (missing keys: the defaults)."""
        s = {**PLAIN, **settings}
        return cls(
            user_agent=s.get("USER_AGENT", USER_AGENT), timeout=float(s["DOWNLOAD_TIMEOUT"]),
            max_size=int(s["DOWNLOAD_MAXSIZE"]), concurrency=int(s["CONCURRENT_REQUESTS"]),
            per_host=int(s["CONCURRENT_REQUESTS_PER_DOMAIN"]),
            obey_robots=bool(s["ROBOTSTXT_OBEY"]),
            robots_max_age=float(s.get("ROBOTSTXT_MAX_AGE", 86400.0)),
            autothrottle=bool(s["AUTOTHROTTLE_ENABLED"]),
            start_delay=float(s["AUTOTHROTTLE_START_DELAY"]),
            max_delay=float(s["AUTOTHROTTLE_MAX_DELAY"]),
            target_concurrency=float(s["AUTOTHROTTLE_TARGET_CONCURRENCY"]),
            min_delay=float(s.get("DOWNLOAD_DELAY", 0.0)),
        )

    @property
    def host_slots(self) -> int:
        """Requests in flight per host: AutoThrottle aims at `target_concurrency` of them."""
        if self.autothrottle:
            return max(1, min(self.per_host, math.ceil(self.target_concurrency)))
        return self.per_host


class _Unsettled(Exception):
    """This exchange is for the Scrapy crawl to make (the reason is logged at debug level)."""


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


class _Response:
    """One response as llhttp (httptools) parses it: its callbacks fill this in."""

    def __init__(self, max_size: int) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.max_size = max_size
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.headers_done = self.done = self.too_large = self.trailing = False
        self.keep_alive = False  # read when the message completes: llhttp resets it after
        self.until_close = False  # no length given: the body ends when the server closes

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value.strip(b" \t")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:  # informational (100 Continue): its message is skipped
            self.headers = []
            return
        self.headers_done = True
        names = {name for name, _ in self.headers}
        self.until_close = (self.status not in (204, 304) and b"content-length" not in names
                            and b"transfer-encoding" not in names)

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > self.max_size:
            self.too_large = True
            raise _Unsettled("over the size limit")

    def on_message_complete(self) -> None:
        if self.headers_done:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()

    def on_message_begin(self) -> None:
        if self.done:
            self.trailing = True  # more after the response: the connection is not reused


@dataclass
class _Host:
    """One scheme://host:port: its connections, pace and robots.txt."""

    slots: asyncio.Semaphore
    delay: float
    idle: list[_Conn] = field(default_factory=list)
    next_start: float = 0.0
    robots: Any = None  # a Protego parser, True (no rules: 4xx), or False (crawl decides)
    robots_at: float = -math.inf
    robots_task: asyncio.Task | None = None
    failed_until: float = 0.0


class Revalidator:
    """Settles the GETs it can; see the module docstring. One per asyncio loop."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._hosts: dict[tuple[str, str, int], _Host] = {}
        self._slots = asyncio.Semaphore(policy.concurrency)
        # As Scrapy's default context factory: pages are read, not trusted, and a clinic's
        # expired certificate must not hide its claims (so no CA store is loaded either).
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE
        self.enabled = not _proxied()
        self.settled = 0
        self.handed_on = 0

    async def fetch(self, request: FetchRequest) -> FetchedPage | None:
        """The page, if this path can settle the request; None: fetch it with the crawl."""
        page = None
        if self.enabled:
            try:
                page = await self._fetch(request)
            except _Unsettled as exc:
                log.debug("%s: to the crawl (%s)", request.url, exc)
                page = None
        if page is None:
            self.handed_on += 1
        else:
            self.settled += 1
        return page

    def close(self) -> None:
        """Close every idle connection."""
        for host in self._hosts.values():
            for conn in host.idle:
                conn.close()
            host.idle.clear()

    async def _fetch(self, request: FetchRequest) -> FetchedPage | None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not _plain(request.url) \
                or not parts.hostname or parts.username:
            return None  # the crawl knows how to escape and encode such URLs
        key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https"
                                                             else 80))
        host = self._hosts.get(key)
        if host is None:
            delay = max(self.policy.min_delay,
                        self.policy.start_delay if self.policy.autothrottle else 0.0)
            host = self._hosts[key] = _Host(asyncio.Semaphore(self.policy.host_slots), delay)
        if time.monotonic() < host.failed_until:
            return None
        if self.policy.obey_robots and not await self._allowed(key, host, request.url):
            return None
        headers = []
        if request.etag:
            headers.append(("If-None-Match", request.etag))
        if request.last_modified:
            headers.append(("If-Modified-Since", request.last_modified))
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        started, fetched_at = time.monotonic(), time.time()
        status, response_headers, body = await self._request(key, host, target, headers)
        page = FetchedPage(url=request.url, status=status, headers=response_headers,
                           fetched_at=fetched_at, elapsed=time.monotonic() - started,
                           final_url=request.url)
        if status == 304:
            # Not modified since when? Only an answer to a conditional request.
            return page if request.etag or request.last_modified else None
        if status != 200:
            return None
        encoding = _html_encoding(page.header("Content-Type"), body,
                                  page.header("Content-Disposition"))
        if encoding is None or _META_REFRESH.search(body.lower()):
            return None
        page.body, page.encoding = body, encoding
        return page

    async def _allowed(self, key: tuple[str, str, int], host: _Host, url: str) -> bool:
        """Whether robots.txt lets this path fetch `url` (False also when it cannot tell)."""
        if time.monotonic() - host.robots_at > self.policy.robots_max_age:
            if host.robots_task is None or host.robots_task.done():
                host.robots_task = asyncio.ensure_future(self._load_robots(key, host))
            await asyncio.shield(host.robots_task)
        if host.robots is True:
            return True
        if host.robots is False:
            return False
        return bool(host.robots.can_fetch(url, self.policy.user_agent))

    async def _load_robots(self, key: tuple[str, str, int], host: _Host) -> None:
        from protego import Protego

        try:
            status, _, body = await self._request(key, host, "/robots.txt", [])
            if status == 200:
                host.robots = Protego.parse(body.decode("utf-8"))
            else:
                # RFC 9309: a 4xx means no rules; anything else is left to the crawl.
                host.robots = 400 <= status < 500
        except (_Unsettled, UnicodeDecodeError):
            host.robots = False
        host.robots_at = time.monotonic()
        if host.robots is False:  # asked again after the back-off, not after a day
            host.robots_at -= max(0.0, self.policy.robots_max_age - _HOST_BACKOFF_SECONDS)

    async def _request(self, key: tuple[str, str, int], host: _Host, target: str,
                       headers: list[tuple[str, str]]) -> tuple[int, dict[str, str], bytes]:
        """One exchange, paced and capped per host; a failure marks the host for the crawl.
        A request waiting for its host's turn holds none of the overall slots, so one slow
        host does not hold up the others."""
        request = self._request_bytes(key, target, headers)
        async with host.slots:
            now = time.monotonic()
            wait = host.next_start - now
            host.next_start = max(now, host.next_start) + host.delay
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._slots:
                started = time.monotonic()
                try:
                    async with asyncio.timeout(self.policy.timeout):
                        result = await self._exchange(key, host, request)
                except (TimeoutError, OSError, EOFError, httptools.HttpParserError) as exc:
                    host.failed_until = time.monotonic() + _HOST_BACKOFF_SECONDS
                    log.debug("%s://%s:%d failed (%s: %s): its pages go to the crawl for %ds",
                              *key, type(exc).__name__, exc, _HOST_BACKOFF_SECONDS)
                    raise _Unsettled(f"{type(exc).__name__}: {exc}") from exc
            self._adjust_delay(host, time.monotonic() - started, result[0])
            return result

    def _adjust_delay(self, host: _Host, latency: float, status: int) -> None:
        """AutoThrottle's rule (304s count as healthy, as in `crawler.throttle`)."""
        if not self.policy.autothrottle:
            return
        target = latency / self.policy.target_concurrency
        new = max(target, (host.delay + target) / 2.0)
        new = min(max(self.policy.min_delay, new), self.policy.max_delay)
        if status not in (200, 304) and new <= host.delay:
            return
        host.delay = new

    def _request_bytes(self, key: tuple[str, str, int], target: str,
                       headers: list[tuple[str, str]]) -> bytes:
        """The request as it goes on the wire; _Unsettled (the crawl's to send) if a header
        value could not go there as it is, such as a stored ETag with a line break."""
        scheme, hostname, port = key
        default_port = 443 if scheme == "https" else 80
        authority = hostname if port == default_port else f"{hostname}:{port}"
        if ":" in hostname:
            authority = f"[{hostname}]" if port == default_port else f"[{hostname}]:{port}"
        values = [authority, self.policy.user_agent, *(value for _, value in headers)]
        if not all(v.isascii() and v.isprintable() for v in values):
            raise _Unsettled("cannot send: a header value that is not printable ASCII")
        head = (f"GET {target} HTTP/1.1\r\nHost: {authority}\r\n"
                f"User-Agent: {self.policy.user_agent}\r\n"
                + "".join(f"{name}: {value}\r\n" for name, value in headers))
        return head.encode("ascii") + _HEADERS + b"\r\n"

    async def _exchange(self, key: tuple[str, str, int], host: _Host,
                        request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send one request on a kept-alive connection (or a new one) and read the answer."""
        conn = self._idle_conn(host)
        if conn is not None:
            try:
                return await self._roundtrip(conn, host, request)
            except (OSError, EOFError, httptools.HttpParserError):
                pass  # the server closed it meanwhile: once more on a fresh connection
        scheme, hostname, port = key
        reader, writer = await asyncio.open_connection(
            hostname, port, ssl=self._tls if scheme == "https" else None,
            server_hostname=hostname if scheme == "https" else None, limit=1 << 20)
        return await self._roundtrip(_Conn(reader, writer), host, request)

    def _idle_conn(self, host: _Host) -> _Conn | None:
        while host.idle:
            conn = host.idle.pop()
            if time.monotonic() - conn.idle_since < _IDLE_REUSE_SECONDS:
                return conn
            conn.close()
        return None

    async def _roundtrip(self, conn: _Conn, host: _Host,
                         request: bytes) -> tuple[int, dict[str, str], bytes]:
        response = _Response(self.policy.max_size)
        try:
            conn.writer.write(request)
            while not response.done:
                data = await conn.reader.read(65536)
                if not data:
                    if response.headers_done and response.until_close:
                        response.done = True
                        break
                    raise EOFError("connection closed")
                try:
                    response.parser.feed_data(data)
                except httptools.HttpParserCallbackError:
                    if response.too_large:
                        raise _Unsettled("over the size limit") from None
                    raise
                except httptools.HttpParserUpgrade:
                    raise EOFError("a protocol switch, not a page") from None
        except BaseException:
            conn.close()
            raise
        if response.until_close or response.trailing or not response.keep_alive:
            conn.close()
        else:
            conn.idle_since = time.monotonic()
            host.idle.append(conn)
        response_headers: dict[str, str] = {}
        for name, value in response.headers:
            if name in _HOP_BY_HOP:  # Twisted's client keeps them to itself
                continue
            title = name.decode("latin-1").title()  # as Scrapy's Headers spell them
            text = value.decode("latin-1")
            response_headers[title] = (f"{response_headers[title]}, {text}"
                                       if title in response_headers else text)
        body = bytes(response.body)
        if response.status != 200:  # a 304 may name an encoding but has no body
            return response.status, response_headers, body
        return response.status, response_headers, self._decoded(response_headers, body)

    def _decoded(self, headers: dict[str, str], body: bytes) -> bytes:
        """The body without its content encoding, whose header goes (as in Scrapy)."""
        coding = headers.pop("Content-Encoding", "identity").strip().lower()
        if coding in ("identity", ""):
            return body
        if coding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            decoder = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78"
                                         else -zlib.MAX_WBITS)
        else:
            raise _Unsettled(f"content encoding {coding}")
        try:
            out = decoder.decompress(body, self.policy.max_size + 1)
        except zlib.error as exc:
            raise _Unsettled(f"bad {coding} body") from exc
        if len(out) > self.policy.max_size or not decoder.eof:
            raise _Unsettled("over the size limit, or truncated")
        return out


def _html_encoding(content_type: str | None, body: bytes,
                   disposition: str | None) -> str | None:
    """The encoding Scrapy's HtmlResponse would give this body, or None where Scrapy would
    guess (statistically) or build another kind of response."""
    from w3lib.encoding import (
        html_body_declared_encoding,
        http_content_type_encoding,
        read_bom,
        resolve_encoding,
    )

    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in _HTML_TYPES or disposition:
        return None
    declared = (read_bom(body)[0] or http_content_type_encoding(content_type)
                or html_body_declared_encoding(body))
    if declared:
        return declared
    for candidate in ("ascii", "utf-8"):
        try:
            body.decode(candidate)
        except UnicodeError:
            continue
        return resolve_encoding(candidate)
    return None


def _plain(url: str) -> bool:
    """Printable ASCII without spaces: a URL that goes on the request line as it is."""
    return url.isascii() and url.isprintable() and " " not in url


def _proxied() -> bool:
    """Whether the environment sets a proxy, as urllib reads it for the crawl's proxy
    middleware (this path does not implement proxies, so it steps aside)."""
    return any(value and name.lower() in ("http_proxy", "https_proxy", "all_proxy")
               for name, value in os.environ.items())
