"""Fetching: Scrapy spiders that re-fetch watched pages politely and hand `FetchedPage`s on,
and a light path (`crawler.revalidate`) for the GETs it can settle without Scrapy.

Knows nothing of `monitor`: whoever runs a crawl injects the handler that receives the pages.
"""

from crawler.items import FetchedPage, FetchRequest

__all__ = ["FetchRequest", "FetchedPage"]
