"""Fetching: Scrapy spiders that re-fetch watched pages politely and hand `FetchedPage`s on.

Knows nothing of `monitor`: whoever runs a crawl injects the handler that receives the pages.
"""

from crawler.items import FetchedPage, FetchRequest

__all__ = ["FetchRequest", "FetchedPage"]
