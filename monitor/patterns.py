"""Time-bounded regular expressions with named lexicon references.

Rule authors write `{outcome}` inside a pattern to mean "any term of the lexicon `outcome`".
Every pattern runs with the `regex` module's `timeout=` against a per-page `Budget`, because
page text is untrusted: a pattern that backtracks catastrophically must cost a bounded time,
be reported, and leave the other rules running.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import regex

FLAGS = regex.IGNORECASE | regex.VERSION0
_REFERENCE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class PatternTimeout(Exception):
    """A pattern ran out of its time allowance on this page."""


class Budget:
    """Wall-clock allowance for matching one page, with a share per rule."""

    def __init__(self, page_seconds: float, rule_seconds: float) -> None:
        self.page_deadline = time.monotonic() + page_seconds
        self.rule_seconds = rule_seconds
        self.rule_deadline = self.page_deadline

    def start_rule(self) -> None:
        self.rule_deadline = min(self.page_deadline, time.monotonic() + self.rule_seconds)

    def remaining(self) -> float:
        left = self.rule_deadline - time.monotonic()
        if left <= 0:
            raise PatternTimeout("time allowance used up")
        return left


UNLIMITED = None  # a Budget of None means: no time limit (examples, tests)


def expand(source: str, lexicons: Mapping[str, str]) -> str:
    """Replace `{name}` references with the lexicon's alternation; KeyError names a missing one."""

    def sub(m: re.Match[str]) -> str:
        return lexicons[m.group(1)]

    return _REFERENCE.sub(sub, source)


def references(source: str) -> list[str]:
    """Lexicon names a pattern refers to."""
    return _REFERENCE.findall(source)


def alternation(terms: Sequence[str], boundaries: bool) -> str:
    """One non-capturing group matching any term; word boundaries on word-character edges."""
    parts = []
    for term in terms:
        body = f"(?:{term})"
        if boundaries:
            if re.match(r"\w", term):
                body = r"(?<!\w)" + body
            if re.search(r"\w$", term):
                body += r"(?!\w)"
        parts.append(body)
    return "(?:" + "|".join(parts) + ")"


def compile_pattern(source: str) -> regex.Pattern:
    """Compile an expanded pattern; raises regex.error with the reason."""
    return regex.compile(source, FLAGS)


@dataclass(frozen=True)
class Pattern:
    """A compiled pattern and the text the rule author wrote, for explanations."""

    source: str
    compiled: regex.Pattern

    def finditer(self, text: str, budget: Budget | None,
                 pos: int = 0, endpos: int | None = None) -> Iterator[regex.Match]:
        end = len(text) if endpos is None else endpos
        if budget is None:
            yield from self.compiled.finditer(text, pos, end)
            return
        # regex's timeout covers a whole finditer; re-arm it per match so the rule's
        # allowance, not one call's, is what runs out.
        while pos <= end:
            try:
                m = self.compiled.search(text, pos, end, timeout=budget.remaining())
            except TimeoutError as exc:
                raise PatternTimeout(str(exc)) from None
            if m is None:
                return
            yield m
            pos = m.end() if m.end() > m.start() else m.end() + 1

    def search(self, text: str, budget: Budget | None,
               pos: int = 0, endpos: int | None = None) -> regex.Match | None:
        end = len(text) if endpos is None else endpos
        if budget is None:
            return self.compiled.search(text, pos, end)
        try:
            return self.compiled.search(text, pos, end, timeout=budget.remaining())
        except TimeoutError as exc:
            raise PatternTimeout(str(exc)) from None
