"""The CPU-heavy half of a check: a fetched page extracted and evaluated, without the database.

Worker processes import this module and not the rest of the check path (alerts, store,
sqlite-utils): it keeps their forkserver's start-up, which a cycle may wait for, short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.items import FetchedPage
from monitor import blobs
from monitor.document import Document
from monitor.suspect import intrinsic_reason
from monitor.text import digest

if TYPE_CHECKING:
    from monitor.rules import Evaluation, Ruleset


@dataclass
class Analysis:
    """What a page says and what the rules make of it; computed without the database."""

    body_sha256: str
    document: Document | None = None
    doc_sha256: str | None = None
    evaluation: Evaluation | None = None
    suspect: str | None = None
    rules_digest: str | None = None
    packed_document: bytes | None = None  # pack_document(document), made in the worker
    packed_body: bytes | None = None  # pack_body(page body), likewise


def document_digest(doc: Document) -> str:
    """Hash of what a page says (paragraph texts, kinds and links), not of its markup."""
    canonical = json.dumps([[p.kind, p.text, list(p.links)] for p in doc.paragraphs],
                           ensure_ascii=False, separators=(",", ":"))
    return digest(canonical)


def analyse(page: FetchedPage, ruleset: Ruleset) -> Analysis:
    """Extract a fetched page and run the rules over it, unless it is suspect."""
    from monitor.extract import extract  # lxml: only in the processes that extract

    body_sha = page.body_sha256()
    doc = extract(page.text(), page.final_url or page.url)
    reason = intrinsic_reason(doc)
    if reason:
        return Analysis(body_sha, doc, document_digest(doc), None, reason, ruleset.digest)
    return Analysis(body_sha, doc, document_digest(doc), ruleset.evaluate(doc), None,
                    ruleset.digest, pack_document(doc), pack_body(page.body))


def pack_document(document: Document) -> bytes:
    """An extracted document as a snapshot stores it (compressed JSON, monitor.blobs).
    Workers call this too, so the writer thread does not have to."""
    return blobs.pack(json.dumps(document.to_dict(), ensure_ascii=False).encode())


def pack_body(body: bytes) -> bytes:
    """A raw page as its evidence stores it (compressed, monitor.blobs)."""
    return blobs.pack(body)
