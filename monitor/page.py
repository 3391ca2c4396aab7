"""The page as the rules engine reads it: paragraphs with sentences, sections and links.

Built once per evaluation from an extracted `Document`, or from plain text for the examples in
rules.yaml (paragraphs separated by blank lines, `# ` for a heading, `> ` for a quoted block,
markdown `[text](url)` for a link).
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass

from monitor.document import Document, Paragraph
from monitor.patterns import Budget, Pattern, ascii_view, plain_ascii
from monitor.text import normalize, sentence_spans


@dataclass
class Para:
    """One paragraph: its text, kind, links, the heading above it and its sentence spans."""

    index: int
    text: str
    kind: str
    links: tuple[str, ...]
    section: str

    @functools.cached_property
    def spans(self) -> list[tuple[int, int]]:
        """(start, end) of each sentence, found when first asked for: most paragraphs of a
        page never hold a match."""
        return sentence_spans(self.text) or [(0, len(self.text))]

    @functools.cached_property
    def _starts(self) -> list[int]:
        return [a for a, _ in self.spans]

    def sentence_at(self, pos: int) -> tuple[int, int]:
        i = max(0, bisect.bisect_right(self._starts, pos) - 1)
        return self.spans[i]


class Page:
    """Paragraphs in reading order and the whole text, for page-scope conditions; the fine
    print apart (`fine_page`), where only disclosures are looked for."""

    def __init__(self, document: Document) -> None:
        self.title = document.title
        self.paras: list[Para] = []
        section = ""
        for i, p in enumerate(document.paragraphs):
            if p.kind == "heading":
                section = p.text
            self.paras.append(Para(i, p.text, p.kind, p.links, section))
        self.text = "\n".join(p.text for p in self.paras)
        self._fine_print = document.fine_print
        self._blob: tuple[bytes, list[int]] | None = None
        self._utf8: tuple[bytes, list[int]] | None = None
        self._ascii = plain_ascii(self.text)

    @functools.cached_property
    def fine_page(self) -> Page | None:
        """The fine print read as a page of its own, or None if there is none."""
        if not self._fine_print:
            return None
        return Page(Document(paragraphs=tuple(Paragraph(t) for t in self._fine_print)))

    @property
    def parts(self) -> list[Page]:
        """This page, then its fine print if it has some: where disclosures are stated."""
        return [self] if self.fine_page is None else [self, self.fine_page]

    def possible(self, pattern: Pattern, budget: Budget | None) -> list[tuple[Para, int]]:
        """Paragraphs where `pattern` could match, each with the first character where it
        could (all paragraphs from their start when the pattern has no prefilter). Compiles
        the pattern first if need be, without charging `budget` for it."""
        pattern.ready(budget)
        sharp = self._ascii or pattern.ascii_safe
        blob, starts = self.blob() if sharp else self.utf8_blob()
        found = pattern.possible_in(blob, starts, ascii_text=sharp)
        if found is None:
            return [(p, 0) for p in self.paras]
        if sharp:  # one byte a character
            return [(self.paras[index], offset) for index, offset in found]
        out = []
        for index, offset in found:
            head = blob[starts[index]:starts[index] + offset]
            out.append((self.paras[index], len(head.decode("utf-8", "ignore"))))
        return out

    def blob(self) -> tuple[bytes, list[int]]:
        """The page text for the patterns' sharp RE2 prefilters, which then need no
        re-encoding per call: ASCII (through ascii_view), with the offset where each
        paragraph starts, which is also its offset in characters."""
        if self._blob is None:
            starts, offset = [], 0
            for para in self.paras:
                starts.append(offset)
                offset += len(para.text) + 1
            self._blob = (ascii_view(self.text), starts)
        return self._blob

    def utf8_blob(self) -> tuple[bytes, list[int]]:
        """The page text as UTF-8 and the byte offset where each paragraph starts, for the
        few patterns that spell out non-ASCII characters (wide prefilters)."""
        if self._utf8 is None:
            starts, parts, offset = [], [], 0
            for para in self.paras:
                raw = para.text.encode("utf-8")
                starts.append(offset)
                parts.append(raw)
                offset += len(raw) + 1
            self._utf8 = (b"\n".join(parts), starts)
        return self._utf8


_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def document_from_text(text: str) -> Document:
    """A `Document` from example text: blank-line paragraphs, `# ` headings, `> ` quotes."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        block = block.strip()
        if not block:
            continue
        kind = "text"
        if block.startswith("#"):
            kind, block = "heading", block.lstrip("#").strip()
        elif block.startswith(">"):
            kind = "quote"
            block = " ".join(line.lstrip(">").strip() for line in block.splitlines())
        links = tuple(m.group(2) for m in _LINK.finditer(block))
        block = _LINK.sub(lambda m: m.group(1), block)
        paragraphs.append(Paragraph(normalize(block), kind, links))
    return Document(title="", paragraphs=tuple(paragraphs))
