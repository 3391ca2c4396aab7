"""AutoThrottle that counts 304 Not Modified as a healthy response.

Scrapy's AutoThrottle never lowers a slot's delay on a non-200 response (error pages are small
and fast, and would otherwise speed the crawl up against a struggling server). For a monitor
most responses are 304s: with the stock rule a host whose pages have not changed stays at the
start delay forever, and a cycle of 1,000 unchanged pages on one host takes minutes. A 304 is
the server answering normally, so its latency counts like a 200's.
"""

from __future__ import annotations

from typing import Any

from scrapy.extensions.throttle import AutoThrottle


class MonitorAutoThrottle(AutoThrottle):
    """AutoThrottle whose delay may also shrink on 304 Not Modified."""

    def _adjust_delay(self, slot: Any, latency: float, response: Any) -> None:
        if response.status == 304:
            response = _AsOK(response)
        super()._adjust_delay(slot, latency, response)


class _AsOK:
    """A response seen with status 200, for the delay policy only."""

    status = 200

    def __init__(self, response: Any) -> None:
        self._response = response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)
