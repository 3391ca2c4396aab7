"""The crawl's plain settings (politeness, limits), readable without importing Scrapy: the
Scrapy crawl (`crawler.settings`) and the revalidation path (`crawler.revalidate`) share them."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    VERSION = version("claimwatch")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0"

USER_AGENT = f"claimwatch/{VERSION} (compliance monitor; +https://github.com/claimwatch/claimwatch)"

PLAIN: dict[str, Any] = {
    "ROBOTSTXT_OBEY": True,
    "COOKIES_ENABLED": False,
    "HTTPCACHE_ENABLED": False,
    "DOWNLOAD_TIMEOUT": 30,
    "DNS_TIMEOUT": 10,
    "DOWNLOAD_MAXSIZE": 10 * 1024 * 1024,
    "DOWNLOAD_WARNSIZE": 2 * 1024 * 1024,
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 2,
    "REDIRECT_MAX_TIMES": 5,
    # Each response yields one item; Scrapy's default (100) starts 100 asyncio workers per
    # response to process items in parallel, which was half of our cost per request.
    "CONCURRENT_ITEMS": 1,
    "CONCURRENT_REQUESTS": 16,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_START_DELAY": 0.25,
    "AUTOTHROTTLE_MAX_DELAY": 30.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 2.0,
}
