"""The document model: what a page says once extracted, as every stage after extraction reads it.

Apart from monitor.extract so that the processes that only read documents (the daemon's
own, which stores, compares and reports them) never load lxml and trafilatura's parser.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """One block of visible text: its kind (heading, text, item, quote, table, or block for
    a widget outside the main text), its text and the links it carries."""

    text: str
    kind: str = "text"
    links: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d: dict = {"text": self.text, "kind": self.kind}
        if self.links:
            d["links"] = list(self.links)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Paragraph:
        return cls(d["text"], d.get("kind", "text"), tuple(d.get("links", ())))


@dataclass(frozen=True)
class Document:
    """What a page says: title, paragraphs in reading order, and signals for the suspect check.

    `fine_print` is the text of the page's footer (and other legal-notice blocks): never a
    claim and never part of the text compared between versions, but a disclosure there is
    still on the page ("results vary" under every page of a site)."""

    title: str = ""
    paragraphs: tuple[Paragraph, ...] = ()
    visible_words: int = 0
    noscript_words: int = 0
    extras: int = field(default=0, compare=False)
    fine_print: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.paragraphs)

    @functools.cached_property
    def words(self) -> int:
        """Counted once: a worker counts them for the suspect check and the count travels
        with the document to the process that stores it."""
        return sum(len(p.text.split()) for p in self.paragraphs)

    def to_dict(self) -> dict:
        d = {
            "title": self.title,
            "paragraphs": [p.to_dict() for p in self.paragraphs],
            "visible_words": self.visible_words,
            "noscript_words": self.noscript_words,
        }
        if self.fine_print:
            d["fine_print"] = list(self.fine_print)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Document:
        return cls(
            d.get("title", ""),
            tuple(Paragraph.from_dict(p) for p in d.get("paragraphs", ())),
            d.get("visible_words", 0),
            d.get("noscript_words", 0),
            fine_print=tuple(d.get("fine_print", ())),
        )
