"""Text normalisation, sentence splitting and fingerprint keys shared by every stage.

Page text is untrusted and typographically noisy (curly quotes, non-breaking and zero-width
spaces); everything that compares or matches text goes through `normalize` first so that a
re-render with other entities or whitespace never looks like a change.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-",
        "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
        "\u205f": " ", "\u3000": " ", "\t": " ",
        "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    }
)
_SPACES = re.compile(r"[ \r\n\f\v]+")
_ASCII_SPACES = re.compile(r"[ \t\r\n\f\v]+")  # the same, with the tab _TRANSLATE maps


def normalize_chars(text: str) -> str:
    """NFKC, ASCII quotes and dashes, no invisible characters; spacing left as it is."""
    if text.isascii():  # NFKC leaves ASCII as it is; of _TRANSLATE only the tab applies
        return text.replace("\t", " ")
    return unicodedata.normalize("NFKC", text).translate(_TRANSLATE)


def normalize(text: str) -> str:
    """`normalize_chars`, then single spaces, stripped."""
    if text.isascii():  # most page text: the same result without NFKC and translate
        if _splits_as_the_regex(text):
            return " ".join(text.split())  # five times faster than the regex
        return _ASCII_SPACES.sub(" ", text).strip()
    return _SPACES.sub(" ", normalize_chars(text)).strip()


def _splits_as_the_regex(text: str) -> bool:
    """No \\x1c-\\x1f in ASCII text: the only characters str.split() takes for spaces and
    _ASCII_SPACES does not, so the two ways of collapsing spaces agree on it. (Not
    patterns.plain_ascii, which is about RE2's classes.)"""
    return "\x1c" not in text and "\x1d" not in text and "\x1e" not in text and "\x1f" not in text


_NON_WORD = re.compile(r"[^\w%$]+")
# For ASCII text, as bytes: every character _NON_WORD matches becomes a space (a bytes table
# translates at memory speed, a str one a dictionary lookup per character).
_ASCII_NON_WORD = bytes(b if chr(b).isalnum() or chr(b) in "_%$" else ord(" ")
                        for b in range(128)) + bytes(range(128, 256))


_SPACED_PERCENT = re.compile(r"(\d)\s+%")


def key(text: str) -> str:
    """Comparison key: case, punctuation and whitespace do not count; words and numbers do."""
    if text.isascii():
        # The same key as below, twice as fast: normalize only collapses spaces here, and
        # the table turns every space into one that split() drops.
        text = text.lower()
        if "%" in text:
            text = _SPACED_PERCENT.sub(r"\1%", text)
        return b" ".join(text.encode().translate(_ASCII_NON_WORD).split()).decode()
    text = normalize(text).casefold()
    if "%" in text:
        text = _SPACED_PERCENT.sub(r"\1%", text)
    return _NON_WORD.sub(" ", text).strip()


def digest(*parts: str) -> str:
    """Short stable hash of text parts (fingerprints, content hashes)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


# Abbreviations after which a period does not end a sentence (compared case-insensitively).
_ABBREVIATIONS = frozenset((
    "al", "approx", "assn", "ave", "b.a", "b.s", "ca", "cf", "co", "corp", "dept", "dr", "e.g",
    "etc", "fig", "figs", "i.e", "inc", "jr", "lt", "ltd", "m.d", "mr", "mrs", "ms", "no", "nos",
    "p", "pp", "ph.d", "prof", "rev", "sr", "st", "u.k", "u.s", "vol", "vs", "mg", "kg", "ml",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "dept",
    "univ", "approx", "est", "min", "max",
))
# "No. 5" abbreviates "number"; "No. It is not." is an answer that ends a sentence.
_NUMBER_SIGNS = frozenset(("no", "nos"))
_BOUNDARY = re.compile(r"([.!?]+[\"')\]]*)(\s+)(?=[\"'(\[]?[A-Z0-9])")
_TOKEN_WINDOW = 40
_MAX_PAREN_SENTENCE = 600  # an unclosed "(" stops holding a sentence open after this
# No real sentence is longer; text without sentence ends is cut into pieces of at most this,
# so a finding's text, its fingerprint and a diff line stay small on any page.
MAX_SENTENCE = 2000


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of already-normalised text; abbreviations, initials and
    decimals do not end a sentence."""
    spans: list[tuple[int, int]] = []
    start = 0
    parens = "(" in text
    for m in _BOUNDARY.finditer(text):
        end = m.start(1)
        if text[end] == ".":
            # The word before the period: the last run of non-spaces in a bounded window (a
            # huge text stays linear), found as a regex "(\S+)$" would, which also matches
            # before a final line break, at a fraction of the cost of a search.
            window = text[max(start, end - _TOKEN_WINDOW):end]
            if window.endswith("\n"):
                window = window[:-1]
            word = ("" if not window or window[-1].isspace()
                    else window.rsplit(None, 1)[-1].lower().lstrip("(\"'"))
            if (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())) and not (
                    word in _NUMBER_SIGNS and not text[m.end():m.end() + 1].isdigit()):
                continue
        if parens and end - start < _MAX_PAREN_SENTENCE and (
            text.count("(", start, end) > text.count(")", start, end)
        ):
            continue  # inside a parenthesis: "(Dakwar et al., Am J Psychiatry. 2019;176:923)"
        if m.end(1) > start:
            spans.extend(_capped(text, start, m.end(1)))
        start = m.end()
    if start < len(text.rstrip()):
        spans.extend(_capped(text, start, len(text.rstrip())))
    return spans


def _capped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) cut into pieces of at most MAX_SENTENCE characters, at a space if any."""
    while end - start > MAX_SENTENCE:
        cut = text.rfind(" ", start + MAX_SENTENCE // 2, start + MAX_SENTENCE)
        if cut < 0:
            cut = start + MAX_SENTENCE
        yield start, cut
        start = cut + 1 if text[cut] == " " else cut
    yield start, end


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences (normalising it first)."""
    text = normalize(paragraph)
    return [text[a:b] for a, b in sentence_spans(text)]
