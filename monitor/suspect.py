"""Is this 200 OK page really the page? Maintenance pages, bot challenges, access-denied pages,
JavaScript shells and empty or collapsed extractions are "suspect": recorded, never compared.

A suspect page must never resolve a finding nor move the baseline, so the next good fetch is
compared with the last good snapshot.
"""

from __future__ import annotations

import re

from monitor.document import Document

# Below this many words a page is short enough that a banner phrase can be the whole story.
SHORT_PAGE_WORDS = 150
# A good snapshot of at least MIN_WORDS_FOR_SHRINK words that shrinks below SHRINK_RATIO of
# itself is a broken render or a stub, not an edit.
MIN_WORDS_FOR_SHRINK = 120
SHRINK_RATIO = 0.35
EMPTY_WORDS = 12

_MAINTENANCE = re.compile(
    r"\b(?:under (?:scheduled )?maintenance|down for (?:scheduled )?maintenance|"
    r"(?:we'?ll|we will) be (?:right )?back|be back (?:soon|shortly)|"
    r"check back (?:soon|shortly|later)|"
    r"(?:making|performing) (?:some )?(?:updates|improvements|maintenance)|temporarily unavailable|"
    r"coming soon|site is (?:currently )?(?:down|offline|unavailable)|"
    r"service unavailable|under construction|scheduled maintenance)\b",
    re.I,
)
_CHALLENGE = re.compile(
    r"\b(?:just a moment|checking your browser|verify (?:that )?you are (?:a )?human|"
    r"are you a robot|attention required|enable javascript and cookies|ddos protection|"
    r"cloudflare ray id|captcha|security check|bot (?:detection|protection)|"
    r"access denied|access to this page has been denied|request (?:blocked|rejected)|forbidden|"
    r"you don't have permission|not authori[sz]ed|too many requests|rate limit(?:ed)?|"
    r"please (?:enable|turn on) javascript|this site requires javascript|"
    r"you need to enable javascript|javascript is (?:disabled|required))\b",
    re.I,
)
# A page that is not the clinic's page at all: the URL is gone, behind a login, or the site is.
_NOT_THE_PAGE = re.compile(
    r"\b(?:page not found|nothing (?:was )?found (?:here|at this location)|"
    r"(?:page|content|post)\b[^.!?]{0,60}?\b(?:can(?:no|'|\u2019)?t|could(?:n(?:'|\u2019)t| not)|"
    r"does(?:n(?:'|\u2019)t| not)|no longer) (?:be found|be located|exists?|found)|"
    r"(?:couldn(?:'|\u2019)t|could not|can(?:'|\u2019)t|cannot) find (?:that|this|the) page|"
    r"error 404|404 (?:error|not found)|"
    r"(?:log|sign) in to (?:view|see|access|continue|read)|you must be (?:logged|signed) in|"
    r"domain (?:may be|is) for sale|buy this domain|this domain (?:is|has been) parked|"
    r"(?:account|site|website) (?:has been |is )?suspended|hosting (?:account )?(?:has )?expired)",
    re.I,
)
_SHORT_PAGE_SIGNS = ((_CHALLENGE, "bot challenge or access-denied page"),
                     (_MAINTENANCE, "maintenance page"),
                     (_NOT_THE_PAGE, "not-found, login or parked page served as 200 OK"))
_ERROR_TITLE = re.compile(
    r"^\s*(?:404|403|500|502|503|page not found|not found|error|server error)\b", re.I)


def intrinsic_reason(doc: Document) -> str | None:
    """Why a page is suspect judged on its own, or None when it looks like content."""
    words = doc.words
    text = " ".join(p.text for p in doc.paragraphs[:40])
    if doc.noscript_words and doc.visible_words < EMPTY_WORDS:
        return "JavaScript-only page: the text is only <noscript> content"
    if words < EMPTY_WORDS:
        return "empty page: no main text extracted"
    if words < SHORT_PAGE_WORDS:
        probe = f"{doc.title}\n{text}"
        for pattern, what in _SHORT_PAGE_SIGNS:
            if found := pattern.search(probe):
                return f"{what} ({found.group(0)!r})"
        if _ERROR_TITLE.search(doc.title):
            return f"error page served as 200 OK (title {doc.title!r})"
    return None


def relative_reason(doc: Document, previous_words: int | None) -> str | None:
    """Why a page is suspect compared with the last good snapshot (a drastic shrink)."""
    if previous_words is None or previous_words < MIN_WORDS_FOR_SHRINK:
        return None
    if doc.words < previous_words * SHRINK_RATIO:
        return (f"main text shrank from {previous_words} to {doc.words} words"
                " (broken render or placeholder)")
    return None
