"""Time-bounded regular expressions with named lexicon references.

Rule authors write `{outcome}` inside a pattern to mean "any term of the lexicon `outcome`".
Every pattern runs with the `regex` module's `timeout=` against a per-page `Budget`, because
page text is untrusted: a pattern that backtracks catastrophically must cost a bounded time,
be reported, and leave the other rules running.

Rule patterns are long alternations that a backtracking engine tries at every position of
every paragraph. So each pattern also gets a prefilter: the same pattern without its
lookarounds (a superset: it matches wherever the real one could), compiled with RE2, a
linear-time automaton. Where the prefilter finds nothing the real pattern cannot match;
where it does, the real one cannot match before it. Same findings, a fraction of the time.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import functools
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import regex

FLAGS = regex.IGNORECASE | regex.VERSION0
_UNSET = object()
_PREFILTER_MIN = 2000  # characters
_ANCHORED_TRIES = 4  # places tried anchored before a search (Pattern._first_match)


@functools.cache
def _re2() -> Any:
    """google-re2, imported when the first prefilter is built: the daemon's own process, which
    evaluates no page, never loads it and its libraries (2.5 MB). Optional: without it every
    text is scanned by the exact pattern alone."""
    try:
        import re2
    except ImportError:  # pragma: no cover
        return None
    return re2


_REFERENCE = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class PatternTimeout(Exception):
    """A pattern ran out of its time allowance on this page."""


class Budget:
    """Wall-clock allowance for matching one page, with a share per rule."""

    def __init__(self, page_seconds: float, rule_seconds: float,
                 started: float | None = None) -> None:
        self.page_deadline = (time.monotonic() if started is None else started) + page_seconds
        self.rule_seconds = rule_seconds
        self.rule_deadline = self.page_deadline

    def extend(self, seconds: float) -> None:
        """Time spent on something that is not the page's fault (compiling a pattern)."""
        self.page_deadline += seconds
        self.rule_deadline += seconds

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


_META = re.compile(r"[.^$*+?{}\[\]\\|()]")


def alternation(terms: Sequence[str], boundaries: bool) -> str:
    """One non-capturing group matching any term; word boundaries on word-character edges.

    Terms that are plain words or phrases go into a trie ("n(?:o(?:t|ne)?|ever)"): a
    backtracking engine tries a flat alternation's every branch at every position, and the
    lexicons run on every candidate match."""
    plain = [t for t in terms if not _META.search(t)]
    regular = [t for t in terms if _META.search(t)]
    parts = []
    if plain:
        word_edged = [t for t in plain if re.match(r"\w", t) and re.search(r"\w$", t)]
        others = [t for t in plain if t not in word_edged]
        if word_edged:
            body = _trie(word_edged)
            parts.append(rf"(?<!\w){body}(?!\w)" if boundaries else body)
        regular = others + regular
    for term in regular:
        body = f"(?:{term})"
        if boundaries:
            if re.match(r"\w", term):
                body = r"(?<!\w)" + body
            if re.search(r"\w$", term):
                body += r"(?!\w)"
        parts.append(body)
    return "(?:" + "|".join(parts) + ")"


def _trie(words: Sequence[str]) -> str:
    """A regex matching exactly the given literal words, factored by common prefixes; longer
    words first at each branch, so the longest alternative wins as in a flat alternation."""
    root: dict = {}
    for word in words:
        node = root
        for ch in word.lower():
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        branches.sort(key=len, reverse=True)
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:
            return f"(?:{body})?"
        return body

    return "(?:" + emit(root) + ")"


def compile_pattern(source: str) -> regex.Pattern:
    """Compile an expanded pattern; raises regex.error with the reason."""
    return regex.compile(source, FLAGS)


class Prefilter:
    """Two RE2 forms of a pattern: a sharp one for ASCII text, where RE2's classes and word
    boundaries mean what the regex module's mean, and a wide one for any other text. Through
    ascii_view nearly all text reads as ASCII, so the wide form is compiled when first needed
    (a pattern that spells out a non-ASCII character, on a page that has some): every worker
    would otherwise carry both programs from the forkserver."""

    __slots__ = ("ascii_form", "_wide_source", "_wide", "_ascii_start", "_wide_start")

    def __init__(self, ascii_form: Any, wide_source: str) -> None:
        self.ascii_form = ascii_form
        self._wide_source = wide_source
        self._wide: Any = _UNSET
        self._ascii_start = _start_finder(ascii_form)
        self._wide_start: Any = None

    @property
    def wide_form(self) -> Any:
        """The wide form, compiled on first use; None if RE2 cannot take it (then a match
        could start anywhere in non-ASCII text)."""
        if self._wide is _UNSET:
            try:
                # The wide form's Unicode classes make a larger automaton: with 32 MB a form
                # such as "at home (\w+ ){0,2}(ketamine|...)" kept discarding its DFA cache.
                self._wide = _re2().compile(self._wide_source, _re2_options(64 << 20))
            except Exception:  # noqa: BLE001 - re2 raises its own error type
                self._wide = None
            self._wide_start = _anywhere if self._wide is None else _start_finder(self._wide)
        return self._wide

    def start(self, blob: bytes, pos: int, end: int, ascii_text: bool) -> int:
        """Byte offset in `blob` of the leftmost place from `pos` where a match could start,
        or -1 if there is none before `end`."""
        if ascii_text:
            return self._ascii_start(blob, pos, end)
        if self._wide_start is None:
            self.wide_form  # noqa: B018 - compiles on access
        return self._wide_start(blob, pos, end)


def _anywhere(blob: bytes, pos: int, end: int) -> int:
    return pos if pos <= min(end, len(blob)) else -1


def _start_finder(form: Any) -> Any:
    """Where `form` first matches in bytes, as an offset (-1: nowhere), asked of RE2's own
    object: the wrapper's search makes a generator and a match object per call, as much
    again as a short scan (a prefilter is asked hundreds of times a page). Through the
    wrapper if it ever stops exposing that object."""
    raw, anchor = getattr(form, "_regexp", None), getattr(_re2(), "_Anchor", None)
    if raw is None or anchor is None:  # another google-re2 layout

        def through_wrapper(blob: bytes, pos: int, end: int) -> int:
            m = form.search(blob, pos, end)
            return -1 if m is None else m.start()

        return through_wrapper
    match, unanchored = raw.Match, anchor.UNANCHORED

    def start(blob: bytes, pos: int, end: int) -> int:
        end = min(end, len(blob))
        if pos > end:
            return -1
        return match(unanchored, blob, pos, end)[0][0]

    return start


def prefilter_for(source: str) -> Prefilter | None:
    """A prefilter matching wherever `source` could (None if RE2 cannot take it)."""
    re2 = _re2()
    if re2 is None:
        return None
    sharp, wide = relax(source, wide=False), relax(source, wide=True)
    if sharp is None or wide is None:
        return None
    try:
        # Multi-line anchors: the prefilter also runs over a whole page, paragraphs joined by
        # newlines, where "^" and "$" must hold at every paragraph's edges as well.
        return Prefilter(re2.compile("(?m)" + sharp, _re2_options(32 << 20)), "(?m)" + wide)
    except Exception:  # noqa: BLE001 - re2 raises its own error type; no prefilter then
        return None


def _re2_options(max_mem: int) -> Any:
    options = _re2().Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = max_mem
    return options


def plain_ascii(text: str | bytes) -> bool:
    """Whether the sharp (ASCII) prefilter is exact for this text's character classes: ASCII
    without \\x0b or \\x1c-\\x1f, the control characters Unicode counts as white space and RE2
    does not. (isascii and `in` run at memory speed, where a regex scan cost 30 ms per 5 MB;
    spelled out, as a generator over the five costs five times as much on a paragraph, and
    this is asked about a hundred times a page.)"""
    if isinstance(text, bytes):
        return (text.isascii() and b"\x0b" not in text and b"\x1c" not in text
                and b"\x1d" not in text and b"\x1e" not in text and b"\x1f" not in text)
    return (text.isascii() and "\x0b" not in text and "\x1c" not in text
            and "\x1d" not in text and "\x1e" not in text and "\x1f" not in text)


# ascii_view's stand-ins for non-ASCII characters, applied in this order: white space, then
# digits, then the letters the patterns' case folding equates with ASCII ones (the Kelvin
# sign with k; tests/test_rules.py checks this list against every code point), then any other
# word character, then the rest (punctuation, symbols). (The lookahead is case-sensitive: under
# IGNORECASE "[^\x00-\x7f]" would leave out the Kelvin sign, which folds to an ASCII k.)
_SPACE_STAND_IN = regex.compile(r"(?=(?-i:[^\x00-\x7f]))\s", FLAGS)
_DIGIT_STAND_IN = regex.compile(r"(?=(?-i:[^\x00-\x7f]))\d", FLAGS)
ASCII_FOLDS = {"\u0130": "i", "\u017f": "s", "\u212a": "k"}
_WORD_STAND_IN = regex.compile(r"(?=(?-i:[^\x00-\x7f]))\w", FLAGS)
_OTHER_STAND_IN = regex.compile(r"[^\x00-\x7f]")


def ascii_view(text: str) -> bytes:
    """`text` as ASCII bytes, every character the sharp (ASCII) prefilter cannot read as the
    pattern does replaced by an ASCII character of the same classes for the pattern: a letter
    for a letter, 0 for a digit, a space for a space, \\x01 (neither word, space nor line end)
    for the rest. Same length, so an offset in one is an offset in the other; a pattern that
    spells out no non-ASCII character (ascii_safe) matches in `text` only where its sharp
    form matches in the view. One dot or accent on a page then no longer sends all of it to
    the wide prefilters, whose automata take twice the memory. ASCII runs are copied at C
    speed and each run of other characters goes to _stand_in_run."""
    if plain_ascii(text):
        return text.encode("ascii")
    if any(control in text for control in "\x0b\x1c\x1d\x1e\x1f"):  # spaces to Unicode
        text = text.translate(_ASCII_SPACES)
    return text.encode("ascii", _STAND_IN_ERRORS)


_ASCII_SPACES = {0x0B: " ", 0x1C: " ", 0x1D: " ", 0x1E: " ", 0x1F: " "}
_STAND_IN_ERRORS = "claimwatch-ascii-view"


def _stand_ins(run: str) -> str:
    """Each non-ASCII character of `run` as its stand-in, by substitutions at C speed: a
    table filled as characters are met would grow with every one a hostile page holds."""
    run = _DIGIT_STAND_IN.sub("0", _SPACE_STAND_IN.sub(" ", run))
    for folded, letter in ASCII_FOLDS.items():
        run = run.replace(folded, letter)
    return _OTHER_STAND_IN.sub("\x01", _WORD_STAND_IN.sub("q", run))


def _stand_in_run(err: UnicodeError) -> tuple[str, int]:
    assert isinstance(err, UnicodeEncodeError)
    run = err.object[err.start:err.end].translate(_common_stand_ins())
    return (run if run.isascii() else _stand_ins(run)), err.end


codecs.register_error(_STAND_IN_ERRORS, _stand_in_run)


@functools.cache
def _common_stand_ins() -> dict[int, str]:
    """The stand-ins of the characters clinic pages use most (Latin letters, general
    punctuation, currency, letterlike symbols, arrows, stars and dingbats): one translate
    pass over a run where five substitutions would each copy it; made on first use, in the
    processes that read such text."""
    codes = [*range(0x80, 0x250), *range(0x2000, 0x20C0), *range(0x2100, 0x2200),
             *range(0x2500, 0x2800)]
    return {c: _stand_ins(chr(c)) for c in codes}


# In a pattern: a non-ASCII character, a Unicode property or name, a code beyond ASCII, or a
# negated class that names letters, digits or the stand-ins ("[^a-z]" takes "é" but not the
# letter standing for it).
_NOT_ASCII_SAFE = re.compile(r"[^\x00-\x7f]|\\[pPNuUX]|\\x\{|\\x[89a-fA-F]|\\[0-3][0-7]{2}"
                             r"|\[\^(?:\\.|[^\]\\])*?(?:[0-9A-Za-z_ ]|\\x0?1)")


# RE2's \w \d \s are ASCII; the regex module's are Unicode. The wide prefilter widens them so
# it still matches wherever the real pattern can ("café-free"): to their ASCII members plus
# every non-ASCII character, a superset with a far smaller automaton than the Unicode
# properties' (a fifth of the compile time, a third of a first search's). In a negated class
# a wider member would narrow the class, so there they become the exact Unicode properties.
_NON_ASCII = "\\x{80}-\\x{10FFFF}"
_SPACES = "\\t\\n\\x0b\\f\\r \\x1c-\\x1f"  # the control characters Unicode counts too
_WIDE = {"w": f"[0-9A-Za-z_{_NON_ASCII}]", "W": "[^0-9A-Za-z_]", "d": f"[0-9{_NON_ASCII}]",
         "D": "[^0-9]", "s": f"[{_SPACES}{_NON_ASCII}]", "S": f"[^{_SPACES}]"}
_WIDE_IN_CLASS = {"w": f"0-9A-Za-z_{_NON_ASCII}", "d": f"0-9{_NON_ASCII}",
                  "s": f"{_SPACES}{_NON_ASCII}"}
_EXACT_IN_NEGATED_CLASS = {"w": "\\p{L}\\p{N}_", "d": "\\p{Nd}", "s": "\\s\\p{Z}"}
# Assertions, and \K (keep out): dropping them only matches more, and no later than the
# real match starts.
_DROPPED = {"b", "B", "A", "Z", "z", "G", "K"}
_SHARP_DROPPED = {"A", "Z", "z", "G", "K"}  # the sharp form keeps the word boundaries
_BOUND = re.compile(r"\{(\d+),(\d+)?\}")
_MAX_BOUND = 12


def relax(source: str, wide: bool = True) -> str | None:
    """`source` turned into a pattern that matches wherever it could, in RE2's syntax: no
    lookarounds or string anchors; with `wide`, no word boundaries either and Unicode-wide
    shorthand classes. None where that is not clearly so (a quantified lookaround, with
    `wide` a negated shorthand inside a class)."""
    out: list[str] = []
    i, n, in_class, negated = 0, len(source), False, False
    while i < n:
        c = source[i]
        if c == "\\":
            letter = source[i + 1] if i + 1 < n else ""
            if not wide:
                if in_class or letter not in _SHARP_DROPPED:
                    out.append(source[i:i + 2])
            elif in_class:
                if letter in ("W", "D", "S"):
                    return None
                members = _EXACT_IN_NEGATED_CLASS if negated else _WIDE_IN_CLASS
                out.append(members.get(letter, source[i:i + 2]))
            elif letter not in _DROPPED:
                out.append(_WIDE.get(letter, source[i:i + 2]))
            i += 2
        elif in_class:
            in_class = c != "]"
            out.append(c)
            i += 1
        elif c == "[":
            in_class = True
            negated = source.startswith("^", i + 1)
            out.append(c)
            i += 1
            for lead in ("^", "]"):
                if i < n and source[i] == lead:
                    out.append(lead)
                    i += 1
        elif c == "{" and (bound := _BOUND.match(source, i)) is not None:
            # A large upper bound makes RE2's automaton huge; no upper bound only matches more.
            low, high = bound.group(1), bound.group(2)
            out.append(bound.group(0) if high is None or int(high) <= _MAX_BOUND
                       else f"{{{low},}}")
            i = bound.end()
        elif source.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            end = _group_end(source, i)
            if end is None or (end + 1 < n and source[end + 1] in "?*+{"):
                return None
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _group_end(source: str, start: int) -> int | None:
    """Index of the parenthesis closing the group that opens at `start`."""
    depth, j, in_class = 0, start, False
    while j < len(source):
        c = source[j]
        if c == "\\":
            j += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return None


@contextlib.contextmanager
def exact_only(patterns: Sequence[Pattern]) -> Iterator[None]:
    """Within the block, patterns whose prefilter is not built yet search without one (and
    still have none built after it). A prefilter only skips text where its pattern cannot
    match, so results are the same; a process that only validates rules then never builds
    the RE2 programs, nor the reverse programs and DFA caches searching adds (9 MB and a
    tenth of a second for the shipped rules)."""
    unbuilt = [p for p in patterns if p._prefilter is _UNSET]
    for pattern in unbuilt:
        pattern._prefilter = None
    try:
        yield
    finally:
        for pattern in unbuilt:
            pattern._prefilter = _UNSET


class Pattern:
    """A pattern: the text the rule author wrote (for explanations) and its expansion, compiled
    with its prefilter on first use. Compiling is most of the cost of loading the rules, and a
    run that meets no changed page never needs a rule."""

    __slots__ = ("source", "expanded", "_compiled", "_prefilter", "ascii_safe")

    def __init__(self, source: str, expanded: str, compiled: regex.Pattern | None = None):
        self.source = source
        self.expanded = expanded
        self._compiled = compiled
        self._prefilter: Any = _UNSET
        # whether the sharp prefilter may read any text through ascii_view
        self.ascii_safe = _NOT_ASCII_SAFE.search(expanded) is None

    @classmethod
    def build(cls, source: str, compiled: regex.Pattern) -> Pattern:
        return cls(source, compiled.pattern, compiled)

    def adopt(self, compiled: regex.Pattern) -> None:
        """Take this pattern's compiled form from elsewhere (see monitor.patterncache)."""
        if compiled.pattern != self.expanded:
            raise ValueError("a compiled form of another pattern")
        self._compiled = compiled

    @property
    def compiled(self) -> regex.Pattern:
        if self._compiled is None:
            self._compiled = compile_pattern(self.expanded)
        return self._compiled

    @property
    def prefilter(self) -> Any:
        if self._prefilter is _UNSET:
            self._prefilter = prefilter_for(self.expanded)
        return self._prefilter

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"

    def ready(self, budget: Budget | None) -> Pattern:
        """Compile now if not done yet, without charging the time to `budget`: compiling is a
        cost of the rules, once per process, not of the page being matched."""
        if self._compiled is None or self._prefilter is _UNSET:
            started = time.monotonic()
            self.compiled  # noqa: B018 - compiles on access
            self.prefilter  # noqa: B018
            if budget is not None:
                budget.extend(time.monotonic() - started)
        return self

    def possible_in(self, blob: bytes, starts: Sequence[int],
                    ascii_text: bool | None = None) -> list[tuple[int, int]] | None:
        """(part, byte offset in the part) of the first place in each part of `blob` (UTF-8
        text; part i begins at byte `starts[i]`) where a match could start; None without a
        prefilter (anywhere could).

        One search finds the leftmost possible start; the next search begins at the part
        after it. A real match starts no earlier than the leftmost superset match from the
        same position, so no part that holds a match is skipped."""
        if self.prefilter is None:
            return None
        found: list[tuple[int, int]] = []
        pos, end = 0, len(blob)
        sharp = plain_ascii(blob) if ascii_text is None else ascii_text
        while pos < end:
            start = self.prefilter.start(blob, pos, end, sharp)
            if start < 0:
                break
            part = bisect.bisect_right(starts, start) - 1
            found.append((part, start - starts[part]))
            if part + 1 >= len(starts):
                break
            pos = starts[part + 1]
        return found

    def _first_possible(self, text: str, blob: bytes | None, pos: int, end: int) -> int | None:
        """Where a match could start at the earliest, or None if nowhere. Plain ASCII text
        (`blob`, see _ascii_bytes) goes to the sharp form; other text only when long: on a
        str the RE2 wrapper encodes the text and counts characters first, which costs more
        than a short failing search saves."""
        if self.prefilter is None:
            return pos
        if blob is not None:
            start = self.prefilter.start(blob, pos, end, True)
            return None if start < 0 else start
        if end - pos >= _PREFILTER_MIN and self.prefilter.wide_form is not None:
            m = self.prefilter.wide_form.search(text, pos, end)
            return None if m is None else m.start()
        return pos

    def _ascii_bytes(self, text: str) -> bytes | None:
        """`text` as bytes for the sharp prefilter, if it has one and the text is plain
        ASCII (or the pattern reads it through ascii_view): there a byte offset is a
        character offset, so a search starts where it is told (on a str the RE2 wrapper
        re-encodes and re-counts the whole text per call)."""
        if self.prefilter is None:
            return None
        if self.ascii_safe:
            return ascii_view(text)
        return text.encode("ascii") if plain_ascii(text) else None

    def finditer(self, text: str, budget: Budget | None, pos: int = 0,
                 endpos: int | None = None, *, possible: bool = False) -> Iterator[regex.Match]:
        """Matches from `pos`; `possible`: the prefilter already found that a match could
        start there (Page.possible), so it is not asked again."""
        self.ready(budget)
        end = len(text) if endpos is None else endpos
        blob = self._ascii_bytes(text)
        first = pos if possible else self._first_possible(text, blob, pos, end)
        if first is None:
            return
        pos = first
        if budget is None:
            yield from self.compiled.finditer(text, pos, end)
            return
        # regex's timeout covers a whole finditer; re-arm it per match so the rule's
        # allowance, not one call's, is what runs out.
        while pos <= end:
            if pos > first and blob is not None:
                # After a match: the rest of the text is usually match-free, which RE2 tells
                # several times faster than a failing search of the exact pattern.
                possible = self.prefilter.start(blob, pos, end, True)
                if possible < 0:
                    return
                pos = possible
            m = self._first_match(text, blob, pos, end, budget)
            if m is None:
                return
            yield m
            pos = m.end() if m.end() > m.start() else m.end() + 1

    def _first_match(self, text: str, blob: bytes | None, pos: int, end: int,
                     budget: Budget) -> regex.Match | None:
        """The first match at or after `pos`, a place where one could start. On plain ASCII
        text (`blob`) the exact pattern is tried first where the prefilter says a match could
        start, anchored there: a search that fails at such a place goes on trying the
        pattern at every later position of the text, at ten times the cost. Where the
        prefilter's places keep failing (text made to look like a claim), one search does
        the rest, without a round of Python per place."""
        if blob is not None:
            for _ in range(_ANCHORED_TRIES):
                m = _timed(self.compiled.match, text, pos, end, budget)
                if m is not None:
                    return m
                pos = self.prefilter.start(blob, pos + 1, end, True)
                if pos < 0:
                    return None
        return _timed(self.compiled.search, text, pos, end, budget)

    def search(self, text: str, budget: Budget | None,
               pos: int = 0, endpos: int | None = None) -> regex.Match | None:
        self.ready(budget)
        end = len(text) if endpos is None else endpos
        blob = self._ascii_bytes(text)
        first = self._first_possible(text, blob, pos, end)
        if first is None:
            return None
        if budget is None:
            return self.compiled.search(text, first, end)
        return self._first_match(text, blob, first, end, budget)


def _timed(method: Any, text: str, pos: int, end: int, budget: Budget) -> regex.Match | None:
    """A compiled pattern's search or match within the budget's time allowance (passed by
    position: as a keyword, the timeout costs a third of a short search)."""
    try:
        return method(text, pos, end, None, False, budget.remaining())
    except TimeoutError as exc:
        raise PatternTimeout(str(exc)) from None
