"""Item pipeline that hands each `FetchedPage` to the handler the caller injected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.items import FetchedPage

HANDLER_SETTING = "CLAIMWATCH_HANDLER"


class HandlerPipeline:
    """Calls `settings[CLAIMWATCH_HANDLER](page)` for every page; off without a handler."""

    def __init__(self, handler: Callable[[FetchedPage], Any]) -> None:
        self.handler = handler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HandlerPipeline:
        handler = crawler.settings.get(HANDLER_SETTING)
        if handler is None:
            raise NotConfigured(f"no {HANDLER_SETTING} given")
        return cls(handler)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, FetchedPage):
            self.handler(item)
        return item
