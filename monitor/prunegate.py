"""trafilatura's attribute prunes, skipped on trees where they cannot select anything, and its
overall discard prune evaluated in Python.

trafilatura drops comment sections, infinite-scroll containers and share bars with XPaths of
the shape `.//*[self::div or ...][re:test(@id, 'P') or contains(@class, 'L')]...`, run over
the whole tree: lxml calls back into Python's `re` for every candidate element, about a tenth
of extraction on a clinic page, which almost never holds such an element. Every element such
an XPath selects has an @id or @class that passes one of those tests, so when no value in the
tree passes any of them the prune is skipped, with the same tree as the result. Only lists
with such callbacks, of exactly that shape and with patterns checked safe below, are gated;
any other goes to trafilatura untouched.

The overall discard prune (OVERALL_DISCARD_XPATH: share bars, sidebars, banners, hidden
blocks) selects on almost every page, so no gate helps it; its two XPaths call back into `re`
up to seven times for each element with a class, a tenth of extraction. `overall_discard_for`
evaluates the same tests in Python over the elements that have one of the attributes tested,
a third of the cost, with the same elements in the same order; any other shape of it goes to
trafilatura untouched.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

import lxml.etree

_TERM = r"(?:re:test|contains)\(\s*@(?:id|class)\s*,\s*'[^'\n]*'\s*\)"
# A first predicate on the element's name, a second made only of attribute tests; any further
# predicate only narrows what is selected. (White space is matched, not normalised: it may be
# part of a quoted pattern.)
_SHAPE = re.compile(r"\s*\.//\*\[\s*self::\w+(?:\s+or\s+self::\w+)*\s*\]\s*\[\s*("
                    + _TERM + r"(?:\s+or\s+" + _TERM + r")*)\s*\](.*)", re.S)
_TESTS = re.compile(r"(re:test|contains)\(\s*@(id|class)\s*,\s*'([^'\n]*)'\s*\)")
_QUOTED = re.compile(r"'[^']*'")
# Groups whose meaning cannot change when a value is searched among others, one per line:
# plain groups, and lookarounds over word characters (they never match the line break).
_GROUP = re.compile(r"\(\?(?::|<?[=!][\w-]*\))")
_ANCHORS = ("\\A", "\\Z", "\\z", "\\G")
_VALUES = {attr: lxml.etree.XPath(f"descendant-or-self::*/@{attr}", smart_strings=False)
           for attr in ("id", "class")}

Gate = Callable[[Any], bool]


@functools.lru_cache(maxsize=64)
def gate_for(paths: tuple[str, ...]) -> Gate | None:
    """A test telling whether the XPaths `paths` could select anything in a tree, or None if
    some XPath is not of the gated shape or none calls back into Python."""
    if not any("re:test(" in path for path in paths):
        return None  # libxml2 alone evaluates these faster than the values can be collected
    tests: list[tuple[str, re.Pattern[str] | None, str]] = []
    for path in paths:
        shape = _SHAPE.fullmatch(path)
        if shape is None or "|" in _QUOTED.sub("", shape.group(2)):
            return None
        for function, attr, argument in _TESTS.findall(shape.group(1)):
            if function == "contains":
                if not argument:
                    return None
                tests.append((attr, None, argument))
                continue
            pattern = _safe_pattern(argument)
            if pattern is None:
                return None
            tests.append((attr, pattern, argument))
    return functools.partial(_could_select, tuple(tests))


def _safe_pattern(source: str) -> re.Pattern[str] | None:
    """`source` compiled to search the values of a tree one per line (multi-line anchors), or
    None if such a search could miss a value it matches alone."""
    if any(anchor in source for anchor in _ANCHORS):
        return None
    if source.count("(?") != len(_GROUP.findall(source)):
        return None
    try:
        pattern = re.compile(source, re.M)
    except re.error:
        return None
    # A pattern matching the empty string passes on elements without the attribute, too.
    return None if pattern.search("") else pattern


def _could_select(tests: Sequence[tuple[str, re.Pattern[str] | None, str]], tree: Any) -> bool:
    values: dict[str, str] = {}
    for attr, pattern, argument in tests:
        if attr not in values:
            values[attr] = "\n".join(_VALUES[attr](tree))
        found = argument in values[attr] if pattern is None else pattern.search(values[attr])
        if found:
            return True
    return False


# trafilatura's OVERALL_DISCARD_XPATH, white space squeezed and the pattern of each re:test
# (the token lists that grow between releases) left empty.
_RE_TEST = re.compile(r"re:test\(\s*(@[\w|@-]+)\s*,\s*'([^'\n]*)'\s*\)")
_OVERALL_SHAPE = (
    ".//*[self::div or self::item or self::list or self::p or self::section or self::span][ "
    "@data-lp-replacement-content or contains(translate(@role, 'N', 'n'), 'nav') or "
    "contains(@data-component, 'MostPopularStories') or re:test(@id|@class, '') or "
    "re:test(@id, '') or re:test(@class, '')]",
    ".//*[@class='comments-title' or starts-with(@id|@class, 'reply-') or "
    "re:test(@id|@style, '') or contains(@style, 'display:none') or "
    "contains(@style, 'display: none') or re:test(@id, '') or re:test(@class, '') or "
    "@aria-hidden='true']",
)
_OVERALL_TAGS = frozenset(("div", "item", "list", "p", "section", "span"))
# Every element those XPaths select has one of these attributes (none of the patterns
# matches an empty value, which an absent attribute is tested as).
_TESTED = lxml.etree.XPath(
    ".//*[@id or @class or @style or @role or @aria-hidden or @data-lp-replacement-content"
    " or @data-component]")


def _first_of(el: Any, first: str, second: str) -> str:
    """XPath's string(@first|@second): the value of whichever comes first in the markup."""
    a, b = el.get(first), el.get(second)
    if a is None or b is None:
        return a or b or ""
    for name in el.keys():  # noqa: SIM118 - iterating an element gives its children
        if name == first:
            return a
        if name == second:
            return b
    return ""


@functools.lru_cache(maxsize=64)
def overall_discard_for(paths: tuple[str, ...]) -> Callable[[Any], list[Any]] | None:
    """A function selecting in a tree what the XPaths `paths` select, in the same order, if
    they are trafilatura's overall discard prune; None otherwise."""
    if len(paths) != len(_OVERALL_SHAPE):
        return None
    patterns: list[re.Pattern[str]] = []
    for path, shape in zip(paths, _OVERALL_SHAPE, strict=True):
        tests = _RE_TEST.findall(path)
        blank = _RE_TEST.sub(lambda m: f"re:test({m.group(1)}, '')", path)
        if " ".join(blank.split()) != shape:
            return None
        for _, source in tests:
            try:
                pattern = re.compile(source)  # as lxml's re:test compiles it
            except re.error:
                return None
            if pattern.search(""):
                return None
            patterns.append(pattern)
    return functools.partial(_overall_discard, *patterns)


def _overall_discard(consent: re.Pattern[str], ids: re.Pattern[str], classes: re.Pattern[str],
                     hidden: re.Pattern[str], comment_ids: re.Pattern[str],
                     comment_classes: re.Pattern[str], tree: Any) -> list[Any]:
    """OVERALL_DISCARD_XPATH's selection: the first XPath's elements, then the second's."""
    first: list[Any] = []
    second: list[Any] = []
    for el in _TESTED(tree):
        get = el.get
        id_, cls, style = get("id") or "", get("class"), get("style") or ""
        id_or_class = _first_of(el, "id", "class")
        if el.tag in _OVERALL_TAGS and (
            get("data-lp-replacement-content") is not None
            or "nav" in (get("role") or "").replace("N", "n")
            or "MostPopularStories" in (get("data-component") or "")
            or consent.search(id_or_class)
            or ids.search(id_) or classes.search(cls or "")
        ):
            first.append(el)
        if (
            cls == "comments-title"
            or id_or_class.startswith("reply-")
            or hidden.search(_first_of(el, "id", "style"))
            or "display:none" in style or "display: none" in style
            or comment_ids.search(id_) or comment_classes.search(cls or "")
            or get("aria-hidden") == "true"
        ):
            second.append(el)
    return first + second


def install() -> None:
    """Route trafilatura's calls of prune_unwanted_nodes through the gate and the Python
    form of the overall discard prune (once)."""
    from trafilatura import core, htmlprocessing, main_extractor

    original = htmlprocessing.prune_unwanted_nodes

    def prune_unwanted_nodes(tree: Any, nodelist: list[Any], with_backup: bool = False) -> Any:
        paths = tuple(xpath.path for xpath in nodelist)
        gate = gate_for(paths)
        if gate is not None and not gate(tree):
            return tree
        select = overall_discard_for(paths)
        if select is not None:
            # trafilatura calls each of `nodelist` on the tree: the one function selects for both
            return original(tree, [select], with_backup)
        return original(tree, nodelist, with_backup)

    for module in (core, main_extractor):
        if getattr(module, "prune_unwanted_nodes", None) is original:
            module.prune_unwanted_nodes = prune_unwanted_nodes
