"""Running crawls from plain (blocking) code: `fetch()` and the reactor thread behind it.

A Twisted reactor cannot be restarted, so one-shot callers (the `check` command, tests, the
benchmark) share one reactor that runs for the life of the process in a background thread;
each `fetch()` starts a fresh crawl on it and waits. A long-running process that owns the
reactor itself uses `make_runner()` instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from crawler.items import FetchedPage, FetchRequest

_lock = threading.Lock()
_thread: threading.Thread | None = None


def install_reactor() -> None:
    """Install the asyncio reactor Scrapy expects (TWISTED_REACTOR in `crawler.settings`);
    must run before anything imports a reactor. Does what Scrapy's `install_reactor` does on
    POSIX without importing Scrapy, which a cycle may never need (see `crawler.revalidate`)."""
    import asyncio
    import contextlib

    from twisted.internet import asyncioreactor, error

    with contextlib.suppress(error.ReactorAlreadyInstalledError):
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        asyncioreactor.install(eventloop=loop)


def _reactor_thread() -> Any:
    global _thread
    with _lock:
        if _thread is None:
            install_reactor()
            from twisted.internet import reactor

            _thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                       name="claimwatch-reactor", daemon=True)
            _thread.start()
        from twisted.internet import reactor
    return reactor


def make_runner(overrides: Mapping[str, Any] | None = None,
                handler: Callable[[FetchedPage], Any] | None = None) -> Any:
    """A CrawlerRunner with claimwatch's settings, for a process that runs the reactor."""
    from scrapy.crawler import CrawlerRunner

    from crawler.settings import crawl_settings

    return CrawlerRunner(crawl_settings(overrides, handler))


def fetch(requests: Iterable[FetchRequest], *, settings: Mapping[str, Any] | None = None,
          handler: Callable[[FetchedPage], Any] | None = None,
          timeout: float | None = None) -> list[FetchedPage]:
    """Fetch every request once; one `FetchedPage` per request, in request order.

    `handler` (if given) also receives each page as it arrives, on the reactor thread. A
    request the crawl ends without answering comes back as an error page: nothing is dropped.
    """
    from crawler.spider import WatchSpider

    wanted = list(requests)
    if not wanted:
        return []
    reactor = _reactor_thread()
    pages: list[FetchedPage] = []
    pages_lock = threading.Lock()
    done = threading.Event()
    failure: list[str] = []

    def collect(page: FetchedPage) -> None:
        with pages_lock:
            pages.append(page)
        if handler is not None:
            handler(page)

    def start() -> None:
        try:
            runner = make_runner(settings, collect)
            deferred = runner.crawl(WatchSpider, requests=wanted)
        except Exception as exc:  # noqa: BLE001 - reported as a page error below
            failure.append(f"crawler failed to start: {exc}")
            done.set()
            return

        def finished(result: Any) -> None:
            if hasattr(result, "getErrorMessage"):
                failure.append(f"crawler failed: {result.getErrorMessage()}")
            done.set()

        deferred.addBoth(finished)

    reactor.callFromThread(start)
    if not done.wait(timeout):
        failure.append(f"crawl did not finish within {timeout}s")
    by_url: dict[str, list[FetchedPage]] = {}
    with pages_lock:
        for page in pages:
            by_url.setdefault(page.url, []).append(page)
    out = []
    for req in wanted:
        got = by_url.get(req.url)
        if got:
            out.append(got.pop(0))
        else:
            reason = failure[0] if failure else "the crawl ended without a response"
            out.append(FetchedPage(url=req.url, fetched_at=time.time(), error=reason))
    return out
