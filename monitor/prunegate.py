"""trafilatura's attribute prunes, skipped on trees where they cannot select anything.

trafilatura drops comment sections, infinite-scroll containers and share bars with XPaths of
the shape `.//*[self::div or ...][re:test(@id, 'P') or contains(@class, 'L')]...`, run over
the whole tree: lxml calls back into Python's `re` for every candidate element, about a tenth
of extraction on a clinic page, which almost never holds such an element. Every element such
an XPath selects has an @id or @class that passes one of those tests, so when no value in the
tree passes any of them the prune is skipped, with the same tree as the result. Only lists
with such callbacks, of exactly that shape and with patterns checked safe below, are gated;
any other goes to trafilatura untouched.
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


def install() -> None:
    """Route trafilatura's calls of prune_unwanted_nodes through the gate (once)."""
    from trafilatura import core, htmlprocessing, main_extractor

    original = htmlprocessing.prune_unwanted_nodes

    def prune_unwanted_nodes(tree: Any, nodelist: list[Any], with_backup: bool = False) -> Any:
        gate = gate_for(tuple(xpath.path for xpath in nodelist))
        if gate is not None and not gate(tree):
            return tree
        return original(tree, nodelist, with_backup)

    for module in (core, main_extractor):
        if getattr(module, "prune_unwanted_nodes", None) is original:
            module.prune_unwanted_nodes = prune_unwanted_nodes
