"""Untrusted page text made safe to show: escaping, highlighting a claim in its paragraph.

Page text comes from clinics' web pages and may contain anything, `<script>` included. Every
piece of it that goes into HTML passes through `html.escape` here; links are only made of
http(s) URLs. Plain text marks the claim with » « so it stands out in any mail client or chat.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

_SPACES = re.compile(r"\s+")
MARK_OPEN, MARK_CLOSE = "»", "«"


def squash(text: str) -> str:
    """Whitespace collapsed to single spaces."""
    return _SPACES.sub(" ", text).strip()


def one_line(text: str, limit: int = 200) -> str:
    """Text for a subject line: one line, no angle brackets, at most `limit` characters."""
    text = squash(text).replace("<", "‹").replace(">", "›")
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def locate(paragraph: str, sentence: str) -> tuple[int, int] | None:
    """Where a sentence is in its paragraph (case-insensitive), or None."""
    if not sentence:
        return None
    found = re.search(re.escape(sentence), paragraph, re.IGNORECASE)
    return found.span() if found else None


def split_around(paragraph: str, sentence: str, width: int | None = None) -> tuple[str, str, str]:
    """(before, claim, after): the paragraph cut around the claim, each side at most `width`
    characters (cut at a word, with an ellipsis). No claim found: ("", "", paragraph cut)."""
    paragraph = squash(paragraph)
    sentence = squash(sentence)
    where = locate(paragraph, sentence)
    if where is None:
        return "", "", _cut_right(paragraph, width * 2 if width else None)
    start, end = where
    return (_cut_left(paragraph[:start], width), paragraph[start:end],
            _cut_right(paragraph[end:], width))


def _cut_left(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    cut = text[len(text) - width:]
    space = cut.find(" ")
    return "…" + (cut[space + 1:] if 0 <= space < width // 2 else cut)


def _cut_right(text: str, width: int | None) -> str:
    if width is None or len(text) <= width:
        return text
    cut = text[:width]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut) + "…"


def highlight_text(paragraph: str, sentence: str, width: int | None = None) -> str:
    """The paragraph as plain text with the claim between » and «."""
    before, claim, after = split_around(paragraph, sentence, width)
    if not claim:
        return after
    return f"{before}{MARK_OPEN}{claim}{MARK_CLOSE}{after}"


def highlight_html(paragraph: str, sentence: str, width: int | None = None,
                   mark_style: str = "background:#ffe58f") -> str:
    """The paragraph as escaped HTML with the claim in <mark>."""
    before, claim, after = split_around(paragraph, sentence, width)
    if not claim:
        return esc(after)
    mark = f'<mark style="{esc(mark_style)}">' if mark_style else "<mark>"
    return f"{esc(before)}{mark}{esc(claim)}</mark>{esc(after)}"


def esc(text: str | None) -> str:
    """HTML-escaped text, quotes included (safe in element content and attributes)."""
    return html.escape(text or "", quote=True)


def safe_href(url: str | None) -> str | None:
    """An http(s) URL fit for an href attribute (escaped), or None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return esc(url.strip())


def link_html(url: str | None, label: str | None = None) -> str:
    """An <a> for an http(s) URL; any other text is shown escaped, not linked."""
    href = safe_href(url)
    if href is None:
        return esc(label or url or "")
    return f'<a href="{href}">{esc(label or url)}</a>'


def when(ts: float | None) -> str:
    """A timestamp as reviewers read it: '2025-11-21 01:55 UTC'."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
