"""Scrapy settings for a polite, safe monitoring crawler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from crawler.pipeline import HANDLER_SETTING

try:
    VERSION = version("claimwatch")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0"

USER_AGENT = f"claimwatch/{VERSION} (compliance monitor; +https://github.com/claimwatch/claimwatch)"

DEFAULTS: dict[str, Any] = {
    "BOT_NAME": "claimwatch",
    "USER_AGENT": USER_AGENT,
    "ROBOTSTXT_OBEY": True,
    # Components a monitor never uses are not even loaded: less to attack, and a second
    # less at start-up (the remote-control extension alone imports aiohttp).
    "DOWNLOADER_MIDDLEWARES": {
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
        "crawler.robots.ConcurrentSafeRobotsTxtMiddleware": 100,
        "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
        "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware": None,
    },
    "SPIDER_MIDDLEWARES": {
        "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
        "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    },
    "DOWNLOAD_HANDLERS": {"data": None, "file": None, "s3": None, "ftp": None},
    "ITEM_PIPELINES": {"crawler.pipeline.HandlerPipeline": 100},
    # Remote control (new in 2.19) runs code it is sent; telnet is a shell. Neither, ever.
    "REMOTE_CONTROL_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "EXTENSIONS": {
        "scrapy.extensions.remote_control.RemoteControl": None,
        "scrapy.extensions.telnet.TelnetConsole": None,
        "scrapy.extensions.logstats.LogStats": None,
        "scrapy.extensions.memusage.MemoryUsage": None,
        "scrapy.extensions.memdebug.MemoryDebugger": None,
        "scrapy.extensions.feedexport.FeedExporter": None,
        "scrapy.extensions.spiderstate.SpiderState": None,
        "scrapy.extensions.closespider.CloseSpider": None,
        "scrapy.extensions.throttle.AutoThrottle": None,
        "crawler.throttle.MonitorAutoThrottle": 0,
    },
    "LOG_LEVEL": "WARNING",
    "STATS_DUMP": False,
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
    "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
}


def crawl_settings(overrides: Mapping[str, Any] | None = None,
                   handler: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """The defaults, with the caller's overrides and item handler."""
    settings = dict(DEFAULTS)
    settings.update(overrides or {})
    if handler is not None:
        # Scrapy deep-copies settings; a plain function is copied by reference, whereas a
        # bound method would drag its object (and its locks) into the copy.
        def deliver(page: Any) -> Any:
            return handler(page)

        settings[HANDLER_SETTING] = deliver
    return settings
