"""Scrapy settings for a polite, safe monitoring crawler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from scrapy.settings import default_settings as scrapy_defaults

from crawler.defaults import PLAIN, USER_AGENT
from crawler.pipeline import HANDLER_SETTING

# Components a monitor never uses are not even loaded: less to attack, and less start-up
# time. They are left out of Scrapy's *_BASE dicts rather than set to None in the overrides:
# Scrapy imports every override key to normalise it, so a None entry still loads its module
# (the remote-control extension imports aiohttp, the cookies middleware tldextract).
_UNUSED = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware",  # replaced, see below
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware",
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    "scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware",
    "scrapy.downloadermiddlewares.stats.DownloaderStats",  # nobody reads Scrapy's stats
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware",
    "scrapy.spidermiddlewares.depth.DepthMiddleware",
    "scrapy.extensions.corestats.CoreStats",
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.extensions.logstats.LogStats",
    "scrapy.extensions.memusage.MemoryUsage",
    "scrapy.extensions.memdebug.MemoryDebugger",
    "scrapy.extensions.feedexport.FeedExporter",
    "scrapy.extensions.spiderstate.SpiderState",
    "scrapy.extensions.closespider.CloseSpider",
    "scrapy.extensions.throttle.AutoThrottle",  # replaced, see below
}
_HANDLERS = {"http", "https"}


def _base(name: str) -> dict[str, Any]:
    """Scrapy's default component dict `name`, without the components claimwatch never uses."""
    default = getattr(scrapy_defaults, name)
    if name == "DOWNLOAD_HANDLERS_BASE":
        return {k: v for k, v in default.items() if k in _HANDLERS}
    return {k: v for k, v in default.items() if k not in _UNUSED}


DEFAULTS: dict[str, Any] = {
    "BOT_NAME": "claimwatch",
    "USER_AGENT": USER_AGENT,
    "DOWNLOADER_MIDDLEWARES_BASE": _base("DOWNLOADER_MIDDLEWARES_BASE"),
    "SPIDER_MIDDLEWARES_BASE": _base("SPIDER_MIDDLEWARES_BASE"),
    "EXTENSIONS_BASE": _base("EXTENSIONS_BASE"),
    "DOWNLOAD_HANDLERS_BASE": _base("DOWNLOAD_HANDLERS_BASE"),
    # Scrapy 2.19's robots.txt middleware lets requests through while robots.txt is being
    # fetched under concurrency (STACK.md); ours waits.
    "DOWNLOADER_MIDDLEWARES": {"crawler.robots.ConcurrentSafeRobotsTxtMiddleware": 100},
    "ITEM_PIPELINES": {"crawler.pipeline.HandlerPipeline": 100},
    # Remote control (new in 2.19) runs code it is sent; telnet is a shell. Neither, ever.
    "REMOTE_CONTROL_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "EXTENSIONS": {"crawler.throttle.MonitorAutoThrottle": 0},
    "LOG_LEVEL": "WARNING",
    "STATS_CLASS": "scrapy.statscollectors.DummyStatsCollector",
    "STATS_DUMP": False,
    **PLAIN,
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
