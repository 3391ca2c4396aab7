"""Watch discovery from a site's sitemap.xml (and sitemap indexes), fetched politely."""

from __future__ import annotations

from crawler.items import FetchRequest
from crawler.runner import fetch
from monitor.errors import InputError

MAX_SITEMAPS = 50


def sitemap_urls(url: str, limit: int = 50_000) -> list[str]:
    """Page URLs listed by a sitemap (following a sitemap index), in order, without repeats."""
    from scrapy.utils.sitemap import Sitemap

    pending, seen_maps, pages = [url], set(), dict.fromkeys([])
    while pending and len(seen_maps) < MAX_SITEMAPS:
        batch = [u for u in pending if u not in seen_maps][: MAX_SITEMAPS - len(seen_maps)]
        pending = []
        seen_maps.update(batch)
        for page in fetch([FetchRequest(u) for u in batch]):
            if page.error:
                raise InputError(f"sitemap {page.url}: {page.error}")
            try:
                sitemap = Sitemap(page.body)
            except Exception as exc:  # noqa: BLE001 - lxml raises many kinds
                raise InputError(f"sitemap {page.url}: not a sitemap ({exc})") from None
            for entry in sitemap:
                loc = entry.get("loc", "").strip()
                if not loc:
                    continue
                if sitemap.type == "sitemapindex":
                    pending.append(loc)
                else:
                    pages.setdefault(loc, None)
                    if len(pages) >= limit:
                        return list(pages)
    return list(pages)
