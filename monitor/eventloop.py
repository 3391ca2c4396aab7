"""The daemon's event loop: asyncio's, with Twisted's reactor joining it only for the crawl.

The revalidation path (crawler.revalidate) needs nothing but asyncio. Scrapy needs Twisted's
asyncio reactor, and importing Twisted costs a `run --once` cycle a fifth of a second even
when no page goes to the crawl. So the daemon runs a plain asyncio loop, and `reactor()`
installs Twisted's reactor on that same running loop the first time the crawl starts: from
then on Scrapy's callbacks and the daemon's share one thread, as when the reactor ran it all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class Repeating:
    """Calls `fn` every `interval` seconds until stopped (Twisted's LoopingCall for the loop
    thread, except that an exception does not stop it: asyncio logs it, the next call comes)."""

    def __init__(self, loop: EventLoop, interval: float, fn: Callable[[], Any]) -> None:
        self._loop, self._interval, self._fn = loop, interval, fn
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self.running = False

    def start(self, now: bool = False) -> Repeating:
        self.running = True
        self._handle = (self._loop.asyncio.call_soon(self._tick) if now
                        else self._loop.asyncio.call_later(self._interval, self._tick))
        return self

    def stop(self) -> None:
        self.running = False
        if self._handle is not None:
            self._handle.cancel()

    def _tick(self) -> None:
        if not self.running:
            return
        self._handle = self._loop.asyncio.call_later(self._interval, self._tick)
        self._fn()


class EventLoop:
    """One asyncio loop for the daemon's thread; see the module docstring."""

    def __init__(self) -> None:
        self.asyncio = asyncio.new_event_loop()
        asyncio.set_event_loop(self.asyncio)  # where crawler.runner installs the reactor
        self._reactor: Any = None

    def call_from_thread(self, fn: Callable[..., Any], *args: Any) -> None:
        self.asyncio.call_soon_threadsafe(fn, *args)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self.asyncio.call_soon(fn, *args)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        self.asyncio.call_later(delay, fn, *args)

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        return self.asyncio.create_task(coro)

    def every(self, interval: float, fn: Callable[[], Any], *, now: bool = False) -> Repeating:
        return Repeating(self, interval, fn).start(now)

    def reactor(self) -> Any:
        """Twisted's reactor on this loop, installed and marked running on first use (on the
        loop's thread, while it runs)."""
        if self._reactor is None:
            from crawler.runner import install_reactor

            install_reactor()
            from twisted.internet import reactor

            reactor.startRunning(installSignalHandlers=False)
            self._reactor = reactor
        return self._reactor

    def run(self) -> None:
        """Run until `stop()`."""
        self.asyncio.run_forever()

    def stop(self) -> None:
        """Stop the loop; through Twisted's shutdown if its reactor joined (so Scrapy's
        shutdown triggers run). Idempotent."""
        if self._reactor is None:
            self.asyncio.stop()
            return
        from twisted.internet.error import ReactorNotRunning

        with contextlib.suppress(ReactorNotRunning):  # stopping already
            self._reactor.stop()  # its shutdown ends with stopping the asyncio loop
