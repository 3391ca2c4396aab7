"""The spider: fetches the URLs it is given with a conditional GET; every outcome is an item."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.items import FetchedPage, FetchRequest


class WatchSpider(scrapy.Spider):
    """Fetches `requests`, then (with a `source`) asks it for more whenever idle.

    A `source` makes the spider continuous: it stays open while `keep_open` is true, so a
    long-running process can feed it due watches without starting a new crawl each time.
    """

    name = "claimwatch"

    def __init__(self, requests: Iterable[FetchRequest] = (),
                 source: Callable[[], Iterable[FetchRequest]] | None = None,
                 keep_open: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.initial = list(requests)
        self.source = source
        self.keep_open = keep_open

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> WatchSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.source is not None or spider.keep_open:
            crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for fetch in self.initial:
            yield self.request_for(fetch)

    def on_idle(self) -> None:
        fed = False
        for fetch in self.source() if self.source is not None else ():
            self.crawler.engine.crawl(self.request_for(fetch))
            fed = True
        if fed or self.keep_open:
            raise DontCloseSpider

    def request_for(self, fetch: FetchRequest) -> scrapy.Request:
        headers = {}
        if fetch.etag:
            headers["If-None-Match"] = fetch.etag
        if fetch.last_modified:
            headers["If-Modified-Since"] = fetch.last_modified
        return scrapy.Request(
            fetch.url, headers=headers, callback=self.parse, errback=self.failed,
            dont_filter=True,
            meta={"handle_httpstatus_list": [304], "fetch": fetch, "started": time.monotonic()},
        )

    # Callbacks return lists, not generators: for a generator Scrapy parses the callback's
    # source with `ast` on every response to warn about `return` values.
    def parse(self, response: Response) -> list[FetchedPage]:
        fetch: FetchRequest = response.meta["fetch"]
        page = FetchedPage(
            url=fetch.url, status=response.status, headers=_headers(response),
            fetched_at=time.time(), elapsed=time.monotonic() - response.meta["started"],
            final_url=response.url,
        )
        if response.status == 304:
            return [page]
        ctype = page.header("Content-Type") or ""
        mime = ctype.split(";")[0].strip().lower()
        if not isinstance(response, TextResponse) or (mime and mime not in _PAGE_TYPES):
            page.error = f"not a web page (Content-Type: {ctype or 'unknown'})"
            return [page]
        page.body = response.body
        page.encoding = response.encoding
        return [page]

    def failed(self, failure: Failure) -> list[FetchedPage]:
        request = failure.request  # type: ignore[attr-defined]
        fetch: FetchRequest = request.meta["fetch"]
        page = FetchedPage(url=fetch.url, fetched_at=time.time(),
                           elapsed=time.monotonic() - request.meta.get("started", time.monotonic()),
                           error=describe(failure.value, self.settings))
        if isinstance(failure.value, HttpError):
            response = failure.value.response
            page.status = response.status
            page.headers = _headers(response)
            page.final_url = response.url
        return [page]


_PAGE_TYPES = {"text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml"}


def describe(exc: BaseException, settings: Any) -> str:
    """One line that says what went wrong with a fetch, in a reviewer's words."""
    name = type(exc).__name__
    text = str(exc).strip()
    if isinstance(exc, HttpError):
        return f"HTTP {exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        return "blocked by robots.txt" if "robots" in text.lower() else f"request ignored: {text}"
    if "Timeout" in name or "TimedOut" in name:
        return f"timed out (no response within {settings.getint('DOWNLOAD_TIMEOUT')}s)"
    if "ConnectionRefused" in name:
        return "connection refused"
    if "Resolve" in name or "DNSLookup" in name:
        return "cannot resolve host name"
    if "Cancelled" in name and ("maxsize" in text.lower() or "larger" in text.lower()):
        return f"response larger than the {settings.getint('DOWNLOAD_MAXSIZE')}-byte limit"
    if "ConnectionLost" in name or "ResponseNeverReceived" in name or "ResponseFailed" in name \
            or "ConnectionDone" in name or "DataLoss" in name:
        return "connection closed before the response was complete"
    return f"{name}: {text}" if text else name


def _headers(response: Response) -> dict[str, str]:
    return {
        k.decode("latin-1"): b", ".join(v).decode("latin-1")
        for k, v in response.headers.items()
    }
