"""robots.txt that holds under concurrency (works around a Scrapy 2.19 bug).

Scrapy's RobotsTxtMiddleware keeps one Deferred per host while robots.txt downloads; every
request that arrives meanwhile adds a callback to that same Deferred. The first waiter's
callback consumes the parser and returns None, so the later waiters see None, which Scrapy reads
as "no robots.txt: allowed", and a disallowed URL gets fetched. Here each waiter gets its own
Deferred fed from the shared one, which passes the parser through unchanged.

Scrapy also keeps a host's robots.txt for the life of the crawler; a monitoring crawler lives
for months, so here a parsed robots.txt expires after ROBOTSTXT_MAX_AGE seconds (default one
day, as major crawlers do) and is fetched again.
"""

from __future__ import annotations

import time
from typing import Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import Request
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred


class ConcurrentSafeRobotsTxtMiddleware(RobotsTxtMiddleware):
    """RobotsTxtMiddleware whose waiting requests all get the parsed robots.txt, and whose
    parsed robots.txt files expire."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self._max_age = crawler.settings.getfloat("ROBOTSTXT_MAX_AGE", 86400.0)
        self._fetched: dict[str, float] = {}

    async def robot_parser(self, request: Request) -> Any:
        netloc = urlparse_cached(request).netloc
        pending = self._parsers.get(netloc)
        if (netloc in self._parsers and not isinstance(pending, Deferred)
                and time.monotonic() - self._fetched.get(netloc, 0.0) > self._max_age):
            del self._parsers[netloc]  # stale: fetched again below
            pending = None
        if netloc not in self._parsers:
            self._fetched[netloc] = time.monotonic()
        if isinstance(pending, Deferred):
            mine: Deferred = Deferred()

            def relay(result: Any) -> Any:
                mine.callback(result)
                return result  # leave the shared result intact for the next waiter

            pending.addBoth(relay)
            return await maybe_deferred_to_future(mine)
        return await super().robot_parser(request)
