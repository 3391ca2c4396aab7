"""Vetoes: the reasons a pattern match is not a claim.

A claim word is not a claim when it is negated ("not FDA-approved"), hedged ("may help"), asked
("Is ketamine a cure?"), sourced ("... (Grabski et al., 2022)"), or part of a known look-alike
("20% off"). Negation follows NegEx: cues within a few words before the match, or post-cues just
after it, in the same clause; terminators such as "but" end a cue's reach; pseudo-negations such
as "not only" are not negations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import regex

from monitor.page import Page, Para
from monitor.patterns import Budget, Pattern

# How far a clause may reach around a match, in characters: bounds the work on huge sentences.
_REACH = 400


@dataclass
class Candidate:
    """A pattern match in a paragraph, with the sentence and clause around it."""

    page: Page
    para: Para
    start: int
    end: int
    sentence: tuple[int, int]
    clause: tuple[int, int] = (0, 0)

    @property
    def match(self) -> str:
        return self.para.text[self.start:self.end]

    @property
    def sentence_text(self) -> str:
        a, b = self.sentence
        return self.para.text[a:b]


@dataclass(frozen=True)
class Negation:
    """NegEx settings: cue lexicons and how many words each side of the match they reach."""

    pre: Pattern
    post: Pattern | None
    pseudo: Pattern | None
    before: int = 6
    after: int = 4


@dataclass(frozen=True)
class Scoped:
    """A pattern that vetoes when found in a scope: clause, sentence, paragraph or page."""

    name: str
    pattern: Pattern
    scope: str


@dataclass(frozen=True)
class Citation:
    """A source marker in the scope's text, or a link to a source in the scope's links."""

    text: Pattern
    links: Pattern | None
    scope: str


@dataclass
class Vetoes:
    """Every veto of one rule, checked in order; the first that applies names the reason."""

    questions: bool = True
    exceptions: list[Pattern] = field(default_factory=list)
    negation: Negation | None = None
    hedge: Scoped | None = None
    citation: Citation | None = None
    unless: list[Scoped] = field(default_factory=list)

    def check(self, c: Candidate, budget: Budget | None, cache: dict) -> tuple[str, str] | None:
        """(veto name, what triggered it) for the first veto that applies, else None.

        The candidate's clause must have been set by `prepare`."""
        sa, sb = c.sentence
        text = c.para.text
        if self.questions and _is_question(text, sa, sb, c.end):
            return "question", "the sentence is a question"
        for exc in self.exceptions:
            for m in exc.finditer(text, budget, max(sa, c.start - _REACH), min(sb, c.end + _REACH)):
                if m.start() < c.end and m.end() > c.start:
                    return "exception", m.group(0)
        if self.negation is not None:
            cue = _negated(c, self.negation, budget)
            if cue:
                return "negation", cue
        if self.hedge is not None:
            found = in_scope(c, self.hedge.pattern, self.hedge.scope, budget, cache)
            if found:
                return "hedge", found
        if self.citation is not None:
            found = _cited(c, self.citation, budget, cache)
            if found:
                return "citation", found
        for veto in self.unless:
            found = in_scope(c, veto.pattern, veto.scope, budget, cache)
            if found:
                return veto.name, found
        return None


# "Did you know ketamine is FDA-approved for addiction?" asserts what it asks, and so does "Why
# manage a disease for life when you can be cured in three weeks?"
_RHETORICAL = regex.compile(
    r"^\W*(?:did|do)\s+you\s+know\b|^\W*have\s+you\s+heard\b"
    r"|^\W*why\s+(?:[\w'-]+\s+){1,15}?when\s+you\s+(?:can|could)\b", regex.IGNORECASE)


def _asks(sentence: str) -> bool:
    return sentence.rstrip(" \"')").endswith("?")


# Where a sentence's part ends: chat and texts run on in lower case after a "?" or a "!",
# where the sentence splitter sees no new sentence ("can i do it by telehealth? trying to quit").
_PART_END = regex.compile(r"[.!?]+(?=[\s\"')\]]|$)")


def _is_question(text: str, start: int, end: int, match_end: int) -> bool:
    """Whether the part of the sentence text[start:end] that holds a match ending at
    `match_end` is a question (FAQ), which is not a claim, unless the sentence is a
    rhetorical "did you know ...?"."""
    sentence = text[start:end]
    part_end = _PART_END.search(text, match_end, end)
    if part_end is not None and part_end.end() < end:
        asks = "?" in part_end.group(0)
    else:
        asks = _asks(sentence)
    return asks and _RHETORICAL.search(sentence) is None


_ANSWER_WORDS = 8  # a sentence this short after a question is its answer


def asked(c: Candidate) -> tuple[str, int, int] | None:
    """(text, start, end) of the question the candidate's sentence answers: the sentence
    before it if that one is a question and this one has at most _ANSWER_WORDS words
    ("Success rate? 87%."), in the paragraph or, for an FAQ's answer, at the end of the
    paragraph before ("How many stay sober?" / "The answer: 83%."); None otherwise."""
    spans = c.para.spans
    i = spans.index(c.sentence)  # the candidate's sentence is one of its paragraph's spans
    a, b = c.sentence
    if len(_WORD.findall(c.para.text, a, b)) > _ANSWER_WORDS:
        return None
    if i > 0:
        text, (qa, qb) = c.para.text, spans[i - 1]
    elif c.para.index > 0:
        before = c.page.paras[c.para.index - 1]
        text, (qa, qb) = before.text, before.spans[-1]
    else:
        return None
    return (text, qa, qb) if _asks(text[qa:qb]) else None


def prepare(c: Candidate, terminators: Pattern | None, budget: Budget | None) -> None:
    """Set the candidate's clause: its sentence cut at the terminators around the match."""
    c.clause = _clause(c, terminators, budget)


def _clause(c: Candidate, terminators: Pattern | None, budget: Budget | None) -> tuple[int, int]:
    sa, sb = c.sentence
    lo, hi = max(sa, c.start - _REACH), min(sb, c.end + _REACH)
    if terminators is None:
        return lo, hi
    for m in terminators.finditer(c.para.text, budget, lo, c.start):
        lo = m.end()
    m = terminators.search(c.para.text, budget, c.end, hi)
    if m is not None:
        hi = m.start()
    return lo, hi


_WORD = regex.compile(r"[\w'%-]+")


def _window_start(text: str, lo: int, start: int, words: int) -> int:
    """Offset of the n-th word before `start` (not before `lo`)."""
    found = [m.start() for m in _WORD.finditer(text, lo, start)]
    return found[-words] if len(found) >= words else lo


def _window_end(text: str, end: int, hi: int, words: int) -> int:
    for count, m in enumerate(_WORD.finditer(text, end, hi), start=1):
        if count == words:
            return m.end()
    return hi


def _negated(c: Candidate, neg: Negation, budget: Budget | None) -> str | None:
    text = c.para.text
    lo, hi = c.clause
    a = _window_start(text, lo, c.start, neg.before)
    pseudo = []
    if neg.pseudo is not None:
        pseudo = [(m.start(), m.end()) for m in neg.pseudo.finditer(text, budget, a, c.start)]
    for m in neg.pre.finditer(text, budget, a, c.start):
        if not any(ps <= m.start() and m.end() <= pe for ps, pe in pseudo):
            return m.group(0)
    if neg.post is not None and neg.after > 0:
        # A post-cue counts when it starts within the window: "Curing addiction overnight is a
        # myth" (the cue may run past the window's last word).
        b = _window_end(text, c.end, hi, neg.after)
        m = neg.post.search(text, budget, c.end, hi)
        if m is not None and m.start() < b and not _NEW_CLAUSE.search(text, c.end, m.start()):
            return m.group(0)
    return None


# A post-cue right after these is the verb of a clause of its own, not said of the match:
# "a cure that doesn't require rehab", "results guaranteed or you don't pay".
_NEW_CLAUSE = regex.compile(
    r"(?:\b(?:that|who)|(?:\b(?:or|and|so|if|because|otherwise)|,)\s+(?:you|we|they|I|it|he|she)"
    r"(?:'re|'ll|'d)?)\s+$", regex.IGNORECASE)


def _scope_text(c: Candidate, scope: str) -> tuple[str, int, int, object]:
    """(text, start, end, cache key) of a scope around the candidate."""
    if scope == "clause":
        return c.para.text, c.clause[0], c.clause[1], None
    if scope == "sentence":
        return c.para.text, c.sentence[0], c.sentence[1], (c.para.index, c.sentence)
    if scope == "paragraph":
        return c.para.text, 0, len(c.para.text), c.para.index
    return c.page.text, 0, len(c.page.text), "page"


def in_scope(c: Candidate, pattern: Pattern, scope: str, budget: Budget | None,
             cache: dict) -> str | None:
    """The first match of a pattern in the candidate's clause, sentence, paragraph or page."""
    text, a, b, key = _scope_text(c, scope)
    if scope == "paragraph":
        first = _possible(c.page, pattern, budget, cache).get(c.para.index)
        if first is None:
            return None
        a = first
    elif scope == "page" and not _possible(c.page, pattern, budget, cache):
        return None
    return _cached(cache, (id(pattern), key), key is not None,
                   lambda: _first(pattern, text, a, b, budget))


def _possible(page: Page, pattern: Pattern, budget: Budget | None,
              cache: dict) -> dict[int, int]:
    """Paragraph index -> first position where a veto pattern could match: one RE2 pass over
    the page per pattern, instead of one backtracking scan per paragraph."""
    key = ("possible", id(pattern))
    if key not in cache:
        cache[key] = {p.index: start for p, start in page.possible(pattern, budget)}
    return cache[key]


def _first(pattern: Pattern, text: str, a: int, b: int, budget: Budget | None) -> str | None:
    m = pattern.search(text, budget, a, b)
    return m.group(0) if m is not None else None


def _cited(c: Candidate, cite: Citation, budget: Budget | None, cache: dict) -> str | None:
    found = in_scope(c, cite.text, cite.scope, budget, cache)
    if found or cite.links is None:
        return found
    if cite.scope == "page":
        links = [link for p in c.page.paras for link in p.links]
    else:
        links = list(c.para.links)
    for link in links:
        if cite.links.search(link, budget) is not None:
            return link
    return None


def _cached(cache: dict, key: object, use: bool, compute: Callable[[], str | None]) -> str | None:
    if not use:
        return compute()
    if key not in cache:
        cache[key] = compute()
    return cache[key]
