"""The state database: the only module that speaks SQL.

SQLite through sqlite-utils, in WAL mode with a busy timeout so the daemon and on-demand commands
share one file. Writes for one page happen in one `transaction()`: a crash never leaves half a
page processed. The schema is versioned; `MIGRATIONS` bring an older file up to date on open.
"""

from __future__ import annotations

import json
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.errors import StoreError
from monitor.extract import Document

DB_NAME = "claimwatch.db"
BUSY_TIMEOUT_MS = 30_000

MIGRATIONS: list[str] = [
    # 1: watches, snapshots, evidence, findings, fetch log
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE watches (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        scheduled INTEGER NOT NULL DEFAULT 0,
        interval_s INTEGER NOT NULL DEFAULT 21600,
        tags TEXT NOT NULL DEFAULT '[]',
        added_at REAL NOT NULL,
        next_check REAL,
        etag TEXT,
        last_modified TEXT,
        body_sha256 TEXT,
        last_checked REAL,
        last_status TEXT,
        last_success REAL,
        failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        recheck INTEGER NOT NULL DEFAULT 0,
        rules_digest TEXT
    );
    CREATE INDEX watches_due ON watches(scheduled, recheck, next_check);
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL REFERENCES watches(id),
        fetched_at REAL NOT NULL,
        http_status INTEGER,
        body_sha256 TEXT NOT NULL,
        doc_sha256 TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        words INTEGER NOT NULL,
        document BLOB NOT NULL,
        disclaimers TEXT NOT NULL DEFAULT '{}',
        rules_digest TEXT NOT NULL,
        added TEXT NOT NULL DEFAULT '[]',
        removed TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX snapshots_by_watch ON snapshots(watch_id, id);
    CREATE TABLE evidence (
        id INTEGER PRIMARY KEY,
        snapshot_id INTEGER NOT NULL UNIQUE REFERENCES snapshots(id),
        url TEXT NOT NULL,
        final_url TEXT,
        fetched_at REAL NOT NULL,
        http_status INTEGER,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE TABLE findings (
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL REFERENCES watches(id),
        fingerprint TEXT NOT NULL,
        rule TEXT NOT NULL,
        category TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        link TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL,
        context TEXT NOT NULL DEFAULT '',
        match TEXT NOT NULL DEFAULT '',
        origin TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        first_snapshot_id INTEGER REFERENCES snapshots(id),
        last_snapshot_id INTEGER REFERENCES snapshots(id),
        resolved_at REAL,
        resolved_snapshot_id INTEGER REFERENCES snapshots(id),
        resolved_reason TEXT,
        acked_at REAL,
        ack_note TEXT
    );
    CREATE UNIQUE INDEX findings_open_fingerprint
        ON findings(watch_id, fingerprint) WHERE resolved_at IS NULL;
    CREATE INDEX findings_by_watch ON findings(watch_id, resolved_at);
    CREATE TABLE fetch_log (
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL REFERENCES watches(id),
        fetched_at REAL NOT NULL,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        error TEXT,
        reason TEXT,
        elapsed REAL,
        snapshot_id INTEGER REFERENCES snapshots(id)
    );
    CREATE INDEX fetch_log_by_watch ON fetch_log(watch_id, id);
    """,
]


# --------------------------------------------------------------------------------- rows

@dataclass(frozen=True)
class Watch:
    """A watched URL and what the last fetch left behind for the next one."""

    id: int
    url: str
    scheduled: bool
    interval_s: int
    tags: tuple[str, ...]
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    failures: int
    last_checked: float | None
    last_success: float | None
    last_status: str | None
    last_error: str | None
    next_check: float | None
    rules_digest: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Watch:
        return cls(row["id"], row["url"], bool(row["scheduled"]), row["interval_s"],
                   tuple(json.loads(row["tags"] or "[]")), row["etag"], row["last_modified"],
                   row["body_sha256"], row["failures"], row["last_checked"],
                   row["last_success"], row["last_status"], row["last_error"],
                   row["next_check"], row["rules_digest"])


@dataclass(frozen=True)
class Snapshot:
    """A good fetch whose main text differed from the one before it."""

    id: int
    watch_id: int
    fetched_at: float
    http_status: int | None
    body_sha256: str
    doc_sha256: str
    title: str
    words: int
    disclaimers: dict[str, list[str]]
    rules_digest: str
    added: list[str]
    removed: list[str]
    _document: bytes

    @property
    def document(self) -> Document:
        return Document.from_dict(json.loads(zlib.decompress(self._document)))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Snapshot:
        return cls(row["id"], row["watch_id"], row["fetched_at"], row["http_status"],
                   row["body_sha256"], row["doc_sha256"], row["title"], row["words"],
                   json.loads(row["disclaimers"]), row["rules_digest"],
                   json.loads(row["added"]), json.loads(row["removed"]), row["document"])


@dataclass(frozen=True)
class StoredFinding:
    """A finding as recorded: open while `resolved_at` is None."""

    id: int
    watch_id: int
    fingerprint: str
    rule: str
    category: str
    severity: str
    message: str
    link: str
    text: str
    context: str
    match: str
    origin: str
    first_seen: float
    last_seen: float
    first_snapshot_id: int | None
    last_snapshot_id: int | None
    resolved_at: float | None
    resolved_snapshot_id: int | None
    resolved_reason: str | None
    acked_at: float | None
    ack_note: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredFinding:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Evidence:
    """The raw response a snapshot was made from, for a reviewer to show what the page said."""

    id: int
    snapshot_id: int
    url: str
    final_url: str | None
    fetched_at: float
    http_status: int | None
    headers: dict[str, str]
    body: bytes
    sha256: str
    size: int


# -------------------------------------------------------------------------------- store

class Store:
    """The state database of one state directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit at the driver level: no implicit transactions left open behind our
            # back; every multi-statement write goes through transaction().
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the state database {self.path}: {exc}") from None
        self.db = sqlite_utils.Database(conn)
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{self.path} is not a usable claimwatch database: {exc}") from None

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> Store:
        return cls(Path(state_dir) / DB_NAME)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer claimwatch (schema {version});"
                             " upgrade claimwatch")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in _statements(script):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All-or-nothing writes. BEGIN IMMEDIATE takes the write lock up front, so two
        processes wait for each other (busy timeout) instead of failing to upgrade a read."""
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():  # nested: a savepoint
                yield self
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    # -- meta

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])

    # -- watches

    def watch(self, url: str) -> Watch | None:
        rows = list(self.db.query("SELECT * FROM watches WHERE url = ?", [url]))
        return Watch.from_row(rows[0]) if rows else None

    def watch_by_id(self, watch_id: int) -> Watch | None:
        rows = list(self.db.query("SELECT * FROM watches WHERE id = ?", [watch_id]))
        return Watch.from_row(rows[0]) if rows else None

    def ensure_watch(self, url: str, now: float | None = None) -> Watch:
        """The watch for a URL, created unscheduled (on-demand checks only) if new."""
        self.db.execute("INSERT OR IGNORE INTO watches(url, added_at) VALUES (?, ?)",
                        [url, now or time.time()])
        found = self.watch(url)
        assert found is not None
        return found

    def add_watch(self, url: str, *, interval: int, tags: tuple[str, ...], now: float,
                  next_check: float) -> tuple[Watch, bool]:
        """Schedule a URL (new, or one only checked on demand so far); (watch, created)."""
        existing = self.watch(url)
        if existing is None:
            self.db.execute(
                "INSERT INTO watches(url, scheduled, interval_s, tags, added_at, next_check)"
                " VALUES (?, 1, ?, ?, ?, ?)", [url, interval, json.dumps(list(tags)), now,
                                               next_check])
        else:
            fields: dict[str, Any] = {"scheduled": 1, "interval_s": interval,
                                      "tags": json.dumps(list(tags))}
            if not existing.scheduled or existing.next_check is None:
                fields["next_check"] = next_check
            self.db["watches"].update(existing.id, fields)
        found = self.watch(url)
        assert found is not None
        return found, existing is None

    def unschedule(self, url: str) -> bool:
        """Stop checking a URL on a schedule; its history and findings are kept."""
        cur = self.db.execute("UPDATE watches SET scheduled = 0, recheck = 0 WHERE url = ?"
                              " AND scheduled = 1", [url])
        return cur.rowcount > 0

    def watches(self, *, scheduled_only: bool = True) -> list[Watch]:
        where = "WHERE scheduled = 1 " if scheduled_only else ""
        return [Watch.from_row(r) for r in self.db.query(
            f"SELECT * FROM watches {where}ORDER BY url")]

    def due_watches(self, now: float, limit: int, *, everything: bool = False,
                    exclude: set[int] | frozenset[int] = frozenset()) -> list[Watch]:
        """Scheduled watches to fetch now: rechecks first, then the most overdue."""
        due = "" if everything else " AND (recheck = 1 OR next_check IS NULL OR next_check <= ?)"
        params: list[Any] = [] if everything else [now]
        rows = self.db.query(
            f"SELECT * FROM watches WHERE scheduled = 1{due}"
            " ORDER BY recheck DESC, next_check IS NOT NULL, next_check, id LIMIT ?",
            [*params, limit + len(exclude)])
        out = [Watch.from_row(r) for r in rows if r["id"] not in exclude]
        return out[:limit]

    def request_recheck(self, url: str) -> bool:
        cur = self.db.execute("UPDATE watches SET recheck = 1 WHERE url = ? AND scheduled = 1",
                              [url])
        return cur.rowcount > 0

    def watch_counts(self, now: float, overdue_after: float) -> dict[str, int]:
        """Totals for `status`: scheduled, due now, overdue, failing."""
        row = self.db.execute(
            "SELECT COUNT(*),"
            " COALESCE(SUM(recheck = 1 OR next_check IS NULL OR next_check <= ?), 0),"
            " COALESCE(SUM(next_check IS NOT NULL AND next_check < ?), 0),"
            " COALESCE(SUM(failures > 0), 0)"
            " FROM watches WHERE scheduled = 1", [now, now - overdue_after]).fetchone()
        return {"watches": row[0], "due": row[1], "overdue": row[2], "failing": row[3]}

    def failing_watches(self, limit: int = 50) -> list[Watch]:
        return [Watch.from_row(r) for r in self.db.query(
            "SELECT * FROM watches WHERE scheduled = 1 AND failures > 0"
            " ORDER BY failures DESC, url LIMIT ?", [limit])]

    def watches_needing_rules(self, digest: str) -> list[Watch]:
        """Watches with a snapshot whose findings were computed under other rules."""
        return [Watch.from_row(r) for r in self.db.query(
            "SELECT * FROM watches WHERE (rules_digest IS NULL OR rules_digest != ?)"
            " AND EXISTS (SELECT 1 FROM snapshots WHERE snapshots.watch_id = watches.id)"
            " ORDER BY id", [digest])]

    def update_watch(self, watch_id: int, **fields: Any) -> None:
        if fields:
            self.db["watches"].update(watch_id, fields)

    # -- snapshots

    def last_good_snapshot(self, watch_id: int) -> Snapshot | None:
        rows = list(self.db.query(
            "SELECT * FROM snapshots WHERE watch_id = ? ORDER BY id DESC LIMIT 1", [watch_id]))
        return Snapshot.from_row(rows[0]) if rows else None

    def last_title(self, watch_id: int) -> str:
        row = self.db.execute("SELECT title FROM snapshots WHERE watch_id = ?"
                              " ORDER BY id DESC LIMIT 1", [watch_id]).fetchone()
        return row[0] if row else ""

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        rows = list(self.db.query("SELECT * FROM snapshots WHERE id = ?", [snapshot_id]))
        return Snapshot.from_row(rows[0]) if rows else None

    def snapshots(self, watch_id: int) -> list[Snapshot]:
        return [Snapshot.from_row(r) for r in self.db.query(
            "SELECT * FROM snapshots WHERE watch_id = ? ORDER BY id", [watch_id])]

    def add_snapshot(self, watch_id: int, *, fetched_at: float, http_status: int | None,
                     body_sha256: str, doc_sha256: str, document: Document,
                     disclaimers: dict[str, list[str]], rules_digest: str,
                     added: list[str], removed: list[str]) -> int:
        packed = zlib.compress(json.dumps(document.to_dict(), ensure_ascii=False).encode(), 6)
        cur = self.db.execute(
            "INSERT INTO snapshots(watch_id, fetched_at, http_status, body_sha256, doc_sha256,"
            " title, words, document, disclaimers, rules_digest, added, removed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [watch_id, fetched_at, http_status, body_sha256, doc_sha256, document.title,
             document.words, packed, json.dumps(disclaimers, ensure_ascii=False), rules_digest,
             json.dumps(added, ensure_ascii=False), json.dumps(removed, ensure_ascii=False)])
        return int(cur.lastrowid)

    def set_snapshot_disclaimers(self, snapshot_id: int, disclaimers: dict[str, list[str]],
                                 rules_digest: str) -> None:
        self.db.execute("UPDATE snapshots SET disclaimers = ?, rules_digest = ? WHERE id = ?",
                        [json.dumps(disclaimers, ensure_ascii=False), rules_digest, snapshot_id])

    # -- evidence

    def add_evidence(self, snapshot_id: int, *, url: str, final_url: str | None,
                     fetched_at: float, http_status: int | None, headers: dict[str, str],
                     body: bytes, sha256: str) -> int:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO evidence(snapshot_id, url, final_url, fetched_at, http_status,"
            " headers, body, sha256, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [snapshot_id, url, final_url, fetched_at, http_status, json.dumps(headers),
             zlib.compress(body, 6), sha256, len(body)])
        return int(cur.lastrowid)

    def evidence_for_snapshot(self, snapshot_id: int) -> Evidence | None:
        rows = list(self.db.query("SELECT * FROM evidence WHERE snapshot_id = ?", [snapshot_id]))
        if not rows:
            return None
        r = rows[0]
        return Evidence(r["id"], r["snapshot_id"], r["url"], r["final_url"], r["fetched_at"],
                        r["http_status"], json.loads(r["headers"]), zlib.decompress(r["body"]),
                        r["sha256"], r["size"])

    # -- findings

    def open_findings(self, watch_id: int) -> list[StoredFinding]:
        return [StoredFinding.from_row(r) for r in self.db.query(
            "SELECT * FROM findings WHERE watch_id = ? AND resolved_at IS NULL ORDER BY id",
            [watch_id])]

    def finding(self, finding_id: int) -> StoredFinding | None:
        rows = list(self.db.query("SELECT * FROM findings WHERE id = ?", [finding_id]))
        return StoredFinding.from_row(rows[0]) if rows else None

    def findings(self, watch_id: int | None = None) -> list[StoredFinding]:
        if watch_id is None:
            return [StoredFinding.from_row(r) for r in self.db.query(
                "SELECT * FROM findings ORDER BY id")]
        return [StoredFinding.from_row(r) for r in self.db.query(
            "SELECT * FROM findings WHERE watch_id = ? ORDER BY id", [watch_id])]

    def add_finding(self, watch_id: int, *, fingerprint: str, rule: str, category: str,
                    severity: str, message: str, link: str, text: str, context: str, match: str,
                    origin: str, now: float, snapshot_id: int | None) -> int:
        cur = self.db.execute(
            "INSERT INTO findings(watch_id, fingerprint, rule, category, severity, message, link,"
            " text, context, match, origin, first_seen, last_seen, first_snapshot_id,"
            " last_snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [watch_id, fingerprint, rule, category, severity, message, link, text, context, match,
             origin, now, now, snapshot_id, snapshot_id])
        return int(cur.lastrowid)

    def see_finding(self, finding_id: int, *, now: float, snapshot_id: int | None,
                    **changes: Any) -> None:
        """Record that an open finding is still there (and any re-worded text)."""
        fields = {"last_seen": now, **changes}
        if snapshot_id is not None:
            fields["last_snapshot_id"] = snapshot_id
        self.db["findings"].update(finding_id, fields)

    def see_open_findings(self, watch_id: int, now: float) -> None:
        """Every open finding of a page is still there (an unchanged fetch)."""
        self.db.execute("UPDATE findings SET last_seen = ? WHERE watch_id = ?"
                        " AND resolved_at IS NULL", [now, watch_id])

    def resolve_finding(self, finding_id: int, *, now: float, snapshot_id: int | None,
                        reason: str) -> None:
        self.db.execute(
            "UPDATE findings SET resolved_at = ?, resolved_snapshot_id = ?, resolved_reason = ?"
            " WHERE id = ? AND resolved_at IS NULL", [now, snapshot_id, reason, finding_id])

    # -- fetch log

    def log_fetch(self, watch_id: int, *, fetched_at: float, outcome: str,
                  http_status: int | None, error: str | None, reason: str | None,
                  elapsed: float | None, snapshot_id: int | None) -> int:
        cur = self.db.execute(
            "INSERT INTO fetch_log(watch_id, fetched_at, outcome, http_status, error, reason,"
            " elapsed, snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [watch_id, fetched_at, outcome, http_status, error, reason, elapsed, snapshot_id])
        return int(cur.lastrowid)

    def fetch_log(self, watch_id: int, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT * FROM fetch_log WHERE watch_id = ? ORDER BY id DESC LIMIT ?",
            [watch_id, limit]))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
