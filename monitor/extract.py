"""HTML to `Document`: trafilatura's main text plus the claim-bearing blocks it drops.

trafilatura keeps articles and drops navigation, footers and cookie banners, but it also drops the
widgets where clinics put their boldest claims (stat counters, testimonial cards, hero banners).
So the document is trafilatura's paragraphs followed by every other content block of the page
once header, nav, footer, sidebars and banners are removed, each widget kept as one paragraph so
a number and its caption stay together. Only this module imports trafilatura, and
monitor.prunegate, which it installs over trafilatura's attribute prunes.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.etree
import lxml.html

from monitor.document import Document, Paragraph
from monitor.text import key, normalize

# trafilatura logs "empty HTML tree" and friends at ERROR for pages we classify ourselves.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("htmldate").setLevel(logging.CRITICAL)

_TRACKING = re.compile(
    r"^(utm_\w+|gclid|fbclid|msclkid|dclid|mc_cid|mc_eid|_ga|_gl|yclid|igshid|ref_src|hsa_\w+)$",
    re.I,
)


@functools.lru_cache(maxsize=4096)
def clean_url(href: str, base: str | None = None) -> str:
    """Absolute URL without fragment and tracking parameters, so link churn is not a change.
    (Cached: a page repeats its links, in its main text and its widgets, and a site its
    menus, and urllib's parsing is most of the cost.)"""
    href = href.strip()
    if base:
        href = urljoin(base, href)
    try:
        parts = urlsplit(href)
    except ValueError:
        return href
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k)]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path,
                       urlencode(query), ""))


def extract(html: str, url: str | None = None) -> Document:
    """Parse a page into a `Document`; an empty or unparsable page gives an empty one."""
    tree = _parse(html)
    if tree is None:
        return Document()
    title = _title(tree)
    body = tree.find("body")
    if body is None:
        return Document(title, tuple(_main_paragraphs(tree, url)))
    visible, noscript = _strip_invisible(body)
    notices = _drop_chrome(body)
    # trafilatura works on its own copy of what is left: the page as a reader sees it, less
    # the chrome it would delete anyway.
    main = _main_paragraphs(tree, url)
    unique, more_notices = _widget_blocks(body, url, _MainText(main))
    return Document(title, tuple(main) + tuple(unique), visible, noscript, len(unique),
                    _fine_print(notices + more_notices))


class _MainText:
    """The main text, keyed once, to tell which widget blocks only repeat it."""

    def __init__(self, main: list[Paragraph]) -> None:
        keys = [key(p.text) for p in main]
        self.joined = " ".join(keys)
        # No key holds a line break: a widget's key is found in this one if and only if it
        # is in one paragraph's key, at C speed rather than a Python loop over the keys.
        self.apart = "\n".join(keys)
        # Figures trafilatura kept alone ("94%"), split from the caption that makes them a claim.
        self.figures = [k for p, k in zip(main, keys, strict=True)
                        if k and _is_tiny(p.text) and _STATISTIC.search(p.text)]

    def repeats(self, k: str) -> bool:
        """Whether a widget (its text's key `k`) only repeats the main text: its text runs on
        in it, unless the main text split it at a bare figure (then only the widget keeps
        figure and caption together)."""
        if k not in self.joined:
            return False
        if k in self.apart:
            return True
        return not any(f in k for f in self.figures)


def _html_parser() -> lxml.html.HTMLParser:
    """lxml.html's parser with the element classes picked in C: its own lookup calls back into
    Python for every element lxml hands out (a twentieth of extraction), only to give form
    fields classes nothing here uses. (One parser for all threads, like lxml.html's own:
    lxml serialises its use.)"""
    parser = lxml.html.HTMLParser()
    parser.set_element_class_lookup(lxml.etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction, entity=lxml.html.HtmlEntity))
    return parser


_PARSER = _html_parser()


def _parse(html: str) -> lxml.html.HtmlElement | None:
    if not html or not html.strip():
        return None
    try:
        tree = lxml.html.document_fromstring(html, parser=_PARSER)
    except (lxml.etree.ParserError, ValueError):
        try:
            tree = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=_PARSER)
        except (lxml.etree.ParserError, ValueError):
            return None
    return tree


def _title(tree: lxml.html.HtmlElement) -> str:
    for xpath in ("//meta[@property='og:title']/@content", "//title//text()", "//h1//text()"):
        found = normalize(" ".join(tree.xpath(xpath)))
        if found:
            return found[:300]
    return ""


_INVISIBLE = ("script", "style", "template", "svg", "noscript", "iframe", "object", "canvas")


def _strip_invisible(body: lxml.html.HtmlElement) -> tuple[int, int]:
    """Remove what a reader never sees; return the words left and the words only <noscript>
    showed (a JavaScript shell shows nothing else)."""
    noscript = sum(len(el.text_content().split()) for el in body.iter("noscript"))
    for el in list(body.iter(*_INVISIBLE)):
        if el.getparent() is not None:
            el.drop_tree()
    return len(body.text_content().split()), noscript


# ---------------------------------------------------------------------------- main text

@functools.cache
def _trafilatura() -> tuple[Any, Any]:
    """trafilatura, imported on first use (only processes that extract pay for it), with its
    attribute prunes gated or done in Python (monitor.prunegate), and the options of every
    extraction, made once (50 us of configparser lookups a page otherwise; trafilatura copies
    them before it changes any)."""
    import trafilatura
    from trafilatura.settings import Extractor

    from monitor import prunegate

    prunegate.install()
    # fast=True skips trafilatura's fallback extractors: our own widget pass recovers what
    # they would, and on every page we tested the main text was identical, at 2/3 the cost.
    # No url: trafilatura would resolve every link with courlan; _add resolves the few it
    # keeps. output_format "xml": only the body element is read here, and the default
    # ("python") also renders it as text (0.15 ms a page).
    options = Extractor(output_format="xml", fast=True, comments=False, formatting=False,
                        links=True, images=False, tables=True, dedup=False, url=None,
                        with_metadata=False)
    return trafilatura, options


def _main_paragraphs(tree: lxml.html.HtmlElement, url: str | None) -> list[Paragraph]:
    trafilatura, options = _trafilatura()
    try:
        result = trafilatura.bare_extraction(tree, options=options)
    except (ValueError, TypeError, lxml.etree.LxmlError):
        return []
    body = getattr(result, "body", None)
    if body is None:
        return []
    paragraphs: list[Paragraph] = []
    _walk_body(body, url, paragraphs)
    return paragraphs


_TRAFILATURA_KINDS = {"head": "heading", "p": "text", "item": "item", "row": "table"}


def _walk_body(el: lxml.etree._Element, url: str | None, out: list[Paragraph]) -> None:
    for child in el:
        tag = child.tag
        if tag in ("quote", "code"):
            _add(out, child, "quote", url, sep=" ")
        elif tag in ("list", "table"):
            _walk_body(child, url, out)
        elif tag == "row":
            _add(out, child, "table", url, sep=" | ", cells=True)
        elif tag in _TRAFILATURA_KINDS:
            if tag == "item" and any(c.tag == "list" for c in child):
                own = lxml.etree.Element("item")
                own.text = child.text
                _add(out, own, "item", url)
                _walk_body(child, url, out)
            else:
                _add(out, child, _TRAFILATURA_KINDS[tag], url)
        else:
            _walk_body(child, url, out)
            if child.text and child.text.strip() and tag not in ("lb",):
                text = normalize(child.text)
                if text:
                    out.append(Paragraph(text, "text"))


def _flat_text(el: lxml.etree._Element) -> str:
    """An element's text with its descendants and their tails; a line break is a space, so
    "Ketamine<br>cures" does not become one word."""
    out = [el.text or ""]
    for child in el:
        out.append(" " if child.tag == "lb" else _flat_text(child))
        out.append(child.tail or "")
    return "".join(out)


def _add(out: list[Paragraph], el: lxml.etree._Element, kind: str, url: str | None,
         sep: str = "", cells: bool = False) -> None:
    if cells:
        parts = [normalize(_flat_text(c)) for c in el]
        text = sep.join(p for p in parts if p)
    elif sep:
        # The element's own text, each child, and the text after each child, in order (a
        # quote without children is its own text, once).
        parts = [normalize(el.text or "")]
        for child in el:
            parts.append(normalize(_flat_text(child)))
            parts.append(normalize(child.tail or ""))
        text = sep.join(p for p in parts if p)
    else:
        text = normalize(_flat_text(el))
    if not text:
        return
    links = tuple(dict.fromkeys(
        clean_url(r.get("target"), url) for r in el.iter("ref") if r.get("target")
    ))
    out.append(Paragraph(text, kind, links))


# ------------------------------------------------------------------------- widget blocks

_DROP_TAGS = (
    "script", "style", "noscript", "template", "svg", "iframe", "object", "canvas", "form",
    "button", "select", "textarea", "header", "nav", "footer", "aside", "dialog", "menu",
    "head", "input", "label", "option",
)
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "dialog", "alertdialog",
               "search", "menu", "menubar", "alert", "status"}
_BOILERPLATE = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|menus|header|footer|masthead|colophon|sidebar|"
    r"widget-area|cookies?|consent|gdpr|cmplz|breadcrumbs?|related|share|sharing|social|"
    r"comments?|newsletter|subscribe|popup|modal|skip|sr-only|screen-reader|visually-hidden|"
    r"pagination|byline|meta|copyright|disqus|toc|search|offcanvas|drawer|mobile-menu)"
    r"(?=$|[-_\s])",
    re.I,
)
_BLOCK_TAGS = frozenset((
    "address", "article", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure", "h1",
    "h2", "h3", "h4", "h5", "h6", "li", "main", "ol", "p", "pre", "section", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul", "cite",
))
_HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])
_FIGURE = re.compile(r"\d")
# A figure that reads as a statistic ("94%", "3x", "9/10"), not a step number ("1").
_STATISTIC = re.compile(r"\d\s*(?:%|x\b|×|/\s*\d|-?fold\b)|\bper\s?cent\b", re.I)
_QUOTE_HINT = re.compile(r"testimonial|review|quote|story|stories", re.I)


_CACHED_ATTRIBUTES = 1000  # characters: an inline image in a style is not kept in the cache


def _is_boilerplate(el: lxml.html.HtmlElement) -> bool:
    items = tuple(el.items())
    if sum(len(value) for _, value in items) > _CACHED_ATTRIBUTES:
        return _boilerplate.__wrapped__(el.tag, items)
    return _boilerplate(el.tag, items)


@functools.lru_cache(maxsize=2048)
def _boilerplate(tag: str, items: tuple[tuple[str, str], ...]) -> bool:
    """_is_boilerplate by tag and attributes: a site's pages share a few hundred
    combinations, each tested once instead of for each of the hundred or two elements a
    page has with an attribute that could mark boilerplate."""
    if tag in _DROP_TAGS:
        return True
    attrs = dict(items)
    if attrs.get("role", "").lower() in _DROP_ROLES:
        return True
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    style = attrs.get("style", "")
    if style and re.search(r"display\s*:\s*none|visibility\s*:\s*hidden", style, re.I):
        return True
    return _named(attrs, _BOILERPLATE)


# Boilerplate that holds a site's legal notices: kept aside as the page's fine print.
_FINE_PRINT = re.compile(
    r"(?:^|[-_\s])(?:footer|colophon|copyright|legal|disclaimers?|disclosures?|fine-?print)"
    r"(?=$|[-_\s])",
    re.I,
)
_FINE_PRINT_LIMIT = 4000  # characters: a footer, not a second page


def _is_fine_print(el: lxml.html.HtmlElement) -> bool:
    if el.tag == "footer":
        return True
    attrs = el.attrib
    if not attrs:  # most of what is pruned: links, list items, buttons
        return False
    if attrs.get("role", "").lower() == "contentinfo":
        return True
    return _named(attrs, _FINE_PRINT)


def _named(attrs: Any, names: re.Pattern[str]) -> bool:
    """Whether an element's class or id says it is one of `names`."""
    hint = f"{attrs.get('class', '')} {attrs.get('id', '')}"
    return bool(hint.strip()) and names.search(hint) is not None


# Of the tags pruned whatever their attributes, those that may hold notices.
_NOTICE_TAGS = frozenset(("footer", "aside"))
# Of _DROP_TAGS, the ones trafilatura deletes with all they hold before it extracts (its
# MANUALLY_CLEANED). Not "form", which it keeps when the form wraps most of the page
# (ASP.NET), nor "header", whose headings it keeps.
_CHROME_TAGS = ("nav", "footer", "aside", "menu", "dialog", "button", "select", "textarea",
                "input", "label", "option")
# Where a footer's notices are not: its link lists, menus and tables.
_NOT_NOTICES = frozenset(("ul", "ol", "li", "dl", "dt", "dd", "table", "tbody", "thead",
                          "tfoot", "tr", "td", "th", "nav", "menu", "form", "button"))


def _text_blocks(el: lxml.html.HtmlElement) -> list[str]:
    """The sentence-bearing blocks of a pruned region, each its own text (no nested blocks)."""
    out = []
    for node in el.iter(*_BLOCK_TAGS):
        if node.tag in _NOT_NOTICES:
            continue
        text = normalize(_own_text(node))
        if text and not _is_tiny(text):
            out.append(text)
    if el.tag not in _BLOCK_TAGS:  # a <footer> or <aside>: its own loose text
        text = normalize(_own_text(el))
        if text and not _is_tiny(text):
            out.insert(0, text)
    return out


_MAYBE_BOILERPLATE = lxml.etree.XPath(
    ".//*[@class or @id or @role or @hidden or @aria-hidden or @style]")
_NON_ELEMENTS = lxml.etree.XPath(".//comment() | .//processing-instruction()")


def _drop_chrome(body: lxml.html.HtmlElement) -> list[str]:
    """Remove, in place, the elements trafilatura deletes whatever they hold (nav, footer,
    aside, menus, form controls: _CHROME_TAGS); return the fine print of the footers and
    asides among them. Done before trafilatura copies the tree, so that it neither copies
    nor walks them: a sixth of its work on a clinic page, whose menus and footers are much
    of the markup. Its main text is the same, except where it extracts next to nothing and
    falls back on the raw page, which then no longer holds menus, buttons or <noscript>."""
    notices: list[str] = []
    for el in list(body.iter(*_CHROME_TAGS)):
        if el.getparent() is not None:
            if el.tag in _NOTICE_TAGS and _is_fine_print(el):
                notices += _text_blocks(el)
            el.drop_tree()
    return notices


def _prune(body: lxml.html.HtmlElement) -> list[str]:
    """Remove the rest of the boilerplate (header, sidebars, banners) and comments, in place,
    after _drop_chrome; return the text blocks of the legal notices removed. lxml picks the
    candidates (by tag, then by the attributes that can mark boilerplate among what is
    left), so Python only looks at those rather than at every element."""
    notices: list[str] = []
    for el in list(body.iter(*_DROP_TAGS)):
        if el.getparent() is not None:
            el.drop_tree()  # no footer or aside is left: no notice among these
    for el in [el for el in _MAYBE_BOILERPLATE(body) if _is_boilerplate(el)]:
        if el.getparent() is not None:
            if _is_fine_print(el):
                notices += _text_blocks(el)
            el.drop_tree()
    for node in _NON_ELEMENTS(body):
        parent = node.getparent()
        if parent is not None:
            node.drop_tree() if hasattr(node, "drop_tree") else parent.remove(node)
    return notices


def _fine_print(notices: list[str]) -> tuple[str, ...]:
    """The page's fine print: its notices once each, up to _FINE_PRINT_LIMIT characters."""
    kept: list[str] = []
    size = 0
    for text in dict.fromkeys(notices):
        size += len(text)
        if size > _FINE_PRINT_LIMIT:
            break
        kept.append(text)
    return tuple(kept)


def _own_text(el: lxml.html.HtmlElement) -> str:
    """Text of an element and its inline descendants, without nested blocks."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and child.tag == "br":
            parts.append(" ")  # before the inline case: <br> is not a block tag either
        elif isinstance(child.tag, str) and child.tag not in _BLOCK_TAGS:
            parts.append(_own_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


_WORD = re.compile(r"[A-Za-z]{2,}")


def _is_tiny(text: str) -> bool:
    """Fewer than three words: a figure or a label, not a claim."""
    return sum(1 for _ in itertools.islice(_WORD.finditer(text), 3)) < 3


def _widget_blocks(body: lxml.html.HtmlElement, url: str | None,
                   seen: _MainText) -> tuple[list[Paragraph], list[str]]:
    """Content blocks outside boilerplate, each widget one paragraph, and the notices
    removed with the boilerplate (prunes `body`, after _drop_chrome). Widgets that only
    repeat the main text (`seen`), or each other (responsive layouts render widgets twice),
    are left out: most blocks do, so their kind and links are made only for those kept."""
    notices = _prune(body)
    consumed: set[lxml.html.HtmlElement] = set()  # elements, not id(): lxml proxies are recycled
    keys: set[str] = set()
    blocks: list[Paragraph] = []
    for el in body.iter(*_BLOCK_TAGS):
        if el in consumed:
            continue
        raw = _own_text(el)
        if not raw or raw.isspace():
            continue
        own = normalize(raw)
        if not own:
            continue
        if not _is_tiny(own):
            unit, text = el, own
        elif not _FIGURE.search(own):
            continue
        else:
            # A figure alone ("66", "%", "3 out of 4"): climb to the smallest container that
            # also has words, so the number and the caption below it become one paragraph.
            unit = _widget_container(el)
            if unit is None:
                continue
            text = normalize(" ".join(unit.itertext()))
            consumed.update(unit.iter())
            if not text or _is_tiny(text):
                continue
        k = key(text)
        if not k or k in keys:
            continue
        keys.add(k)
        if seen.repeats(k):
            continue
        kind = "heading" if unit.tag in _HEADINGS else "block"
        if unit.tag == "blockquote" or _inside_quote(unit):
            kind = "quote"
        links = tuple(dict.fromkeys(
            clean_url(a.get("href"), url) for a in unit.iter("a") if a.get("href")
        ))
        blocks.append(Paragraph(text, kind, links))
    return blocks, notices


def _widget_container(el: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    node = el.getparent()
    while node is not None and node.tag != "body":
        text = normalize(" ".join(node.itertext()))
        if len(text.split()) > 60:
            return None
        if not _is_tiny(text):
            return node
        node = node.getparent()
    return None


def _inside_quote(el: lxml.html.HtmlElement) -> bool:
    node = el
    for _ in range(6):
        if node is None or node.tag == "body":
            return False
        if node.tag == "blockquote" or _QUOTE_HINT.search(node.get("class", "")):
            return True
        node = node.getparent()
    return False
