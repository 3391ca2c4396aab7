"""What goes into a crawl (`FetchRequest`) and what comes out of it (`FetchedPage`)."""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FetchRequest:
    """A URL to fetch, with the validators from the last good fetch for a conditional GET."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class FetchedPage:
    """The outcome of one fetch: a response (maybe 304) or an error, never nothing."""

    url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    encoding: str | None = None
    fetched_at: float = 0.0
    elapsed: float = 0.0
    final_url: str | None = None
    error: str | None = None

    def header(self, name: str) -> str | None:
        """A response header by name, case-insensitively (Scrapy title-cases them: 'Etag')."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def body_sha256(self) -> str:
        """Hex SHA-256 of the body, computed once per body: the daemon, the check and the
        worker each need it (kept with the body it hashes, so a new body gets a new hash)."""
        cached = self.__dict__.get("_sha256")
        if cached is None or cached[0] is not self.body:
            cached = self.__dict__["_sha256"] = (self.body, hashlib.sha256(self.body).hexdigest())
        return cached[1]

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_modified(self) -> bool:
        return self.error is None and self.status == 304

    def text(self) -> str:
        """The body decoded with the response's encoding (UTF-8 if unknown or bogus)."""
        encoding = self.encoding or "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            encoding = "utf-8"
        return self.body.decode(encoding, errors="replace")
