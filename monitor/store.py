"""The state database: the only module that speaks SQL.

SQLite through sqlite-utils, in WAL mode with a busy timeout so the daemon and on-demand commands
share one file. Writes for one page happen in one `transaction()`: a crash never leaves half a
page processed. The schema is versioned; `MIGRATIONS` bring an older file up to date on open.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils

from monitor import blobs
from monitor.analysis import pack_body, pack_document
from monitor.document import Document
from monitor.errors import StoreError

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
    # 2: notifications (outbox, per-target deliveries) and the reviewer workflow (mutes)
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        audience TEXT NOT NULL,
        watch_id INTEGER REFERENCES watches(id),
        snapshot_id INTEGER REFERENCES snapshots(id),
        created_at REAL NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_owner TEXT,
        lease_until REAL,
        finished_at REAL,
        last_error TEXT
    );
    CREATE INDEX outbox_by_status ON outbox(status, next_attempt_at);
    CREATE TABLE outbox_findings (
        outbox_id INTEGER NOT NULL REFERENCES outbox(id),
        finding_id INTEGER NOT NULL REFERENCES findings(id),
        PRIMARY KEY (outbox_id, finding_id)
    );
    CREATE INDEX outbox_findings_by_finding ON outbox_findings(finding_id);
    CREATE TABLE deliveries (
        outbox_id INTEGER NOT NULL REFERENCES outbox(id),
        target TEXT NOT NULL,
        label TEXT NOT NULL,
        delivered_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_attempt_at REAL,
        last_error TEXT,
        PRIMARY KEY (outbox_id, target)
    );
    CREATE TABLE mutes (
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL REFERENCES watches(id),
        rule TEXT NOT NULL,
        created_at REAL NOT NULL,
        note TEXT,
        UNIQUE (watch_id, rule)
    );
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
        return Document.from_dict(json.loads(blobs.unpack(self._document)))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Snapshot:
        return cls(row["id"], row["watch_id"], row["fetched_at"], row["http_status"],
                   row["body_sha256"], row["doc_sha256"], row["title"], row["words"],
                   json.loads(row["disclaimers"]), row["rules_digest"],
                   json.loads(row["added"]), json.loads(row["removed"]), row["document"])


class SnapshotHead(NamedTuple):
    """The cheap part of a snapshot."""

    id: int
    title: str


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


@dataclass(frozen=True)
class OutboxRow:
    """A queued notification: one message for one audience, delivered to each target."""

    id: int
    kind: str
    audience: str
    watch_id: int | None
    snapshot_id: int | None
    created_at: float
    tags: tuple[str, ...]
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    lease_owner: str | None
    lease_until: float | None
    finished_at: float | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OutboxRow:
        values = {k: row[k] for k in cls.__dataclass_fields__}
        values["tags"] = tuple(json.loads(row["tags"]))
        values["payload"] = json.loads(row["payload"])
        return cls(**values)


@dataclass(frozen=True)
class Delivery:
    """What happened to one message at one target (a target is a salted hash of its URL)."""

    outbox_id: int
    target: str
    label: str
    delivered_at: float | None
    attempts: int
    last_attempt_at: float | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Delivery:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ListedFinding:
    """A finding with its page, as the reviewer workflow lists it."""

    finding: StoredFinding
    url: str
    title: str
    muted: bool


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
        # No sqlite-utils plugins: whatever else is installed must not change how our
        # connection behaves (and finding them scans every installed package, ~25 ms).
        self.db = sqlite_utils.Database(conn, execute_plugins=False)
        self._depth = 0  # nested transaction() blocks open now
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

    def _query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Iterator[dict]:
        """Rows as dicts. sqlite-utils' query() wraps every statement in a savepoint of its
        own (in case it returns no rows), tripling the statements of a single SELECT."""
        cursor = self.db.conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        return (dict(zip(keys, row, strict=True)) for row in cursor)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All-or-nothing writes. BEGIN IMMEDIATE takes the write lock up front, so two
        processes wait for each other (busy timeout) instead of failing to upgrade a read."""
        conn = self.db.conn
        if conn.in_transaction:
            # Nested: a savepoint. Named by depth, not randomly as sqlite-utils' atomic() does,
            # so its statements stay in the driver's cache: the daemon opens two per page.
            self._depth += 1
            name = f"claimwatch_{self._depth}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                # A failed statement may already have ended the whole transaction.
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
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
        rows = list(self._query("SELECT * FROM watches WHERE url = ?", [url]))
        return Watch.from_row(rows[0]) if rows else None

    def watch_by_id(self, watch_id: int) -> Watch | None:
        rows = list(self._query("SELECT * FROM watches WHERE id = ?", [watch_id]))
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
            self._update("watches", existing.id, fields)
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
        return [Watch.from_row(r) for r in self._query(
            f"SELECT * FROM watches {where}ORDER BY url")]

    def due_watches(self, now: float, limit: int, *, everything: bool = False,
                    exclude: set[int] | frozenset[int] = frozenset()) -> list[Watch]:
        """Scheduled watches to fetch now: rechecks first, then the most overdue."""
        due = "" if everything else " AND (recheck = 1 OR next_check IS NULL OR next_check <= ?)"
        params: list[Any] = [] if everything else [now]
        rows = self._query(
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
        return [Watch.from_row(r) for r in self._query(
            "SELECT * FROM watches WHERE scheduled = 1 AND failures > 0"
            " ORDER BY failures DESC, url LIMIT ?", [limit])]

    def watches_needing_rules(self, digest: str) -> list[Watch]:
        """Watches with a snapshot whose findings were computed under other rules."""
        return [Watch.from_row(r) for r in self._query(
            "SELECT * FROM watches WHERE (rules_digest IS NULL OR rules_digest != ?)"
            " AND EXISTS (SELECT 1 FROM snapshots WHERE snapshots.watch_id = watches.id)"
            " ORDER BY id", [digest])]

    def update_watch(self, watch_id: int, **fields: Any) -> None:
        self._update("watches", watch_id, fields)

    _COLUMNS = {
        "watches": {"scheduled", "interval_s", "tags", "next_check", "etag", "last_modified",
                    "body_sha256", "last_checked", "last_status", "last_success", "failures",
                    "last_error", "recheck", "rules_digest"},
        "findings": {"fingerprint", "text", "context", "message", "last_seen",
                     "last_snapshot_id"},
    }

    def _update(self, table: str, row_id: int, fields: dict[str, Any]) -> None:
        """UPDATE one row by id. Plain SQL on known columns: sqlite-utils' Table.update()
        introspects the table and re-reads the row each time, which was most of the cost of
        recording an unchanged page."""
        if not fields:
            return
        unknown = set(fields) - self._COLUMNS[table]
        if unknown:
            raise ValueError(f"not a column of {table}: {', '.join(sorted(unknown))}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(f"UPDATE {table} SET {assignments} WHERE id = ?",
                        [*fields.values(), row_id])

    # -- snapshots

    def last_good_snapshot(self, watch_id: int) -> Snapshot | None:
        rows = list(self._query(
            "SELECT * FROM snapshots WHERE watch_id = ? ORDER BY id DESC LIMIT 1", [watch_id]))
        return Snapshot.from_row(rows[0]) if rows else None

    def last_snapshot_head(self, watch_id: int) -> SnapshotHead | None:
        """Id and title of a page's last good snapshot: all an unchanged fetch needs, without
        reading the stored document."""
        row = self.db.execute("SELECT id, title FROM snapshots WHERE watch_id = ?"
                              " ORDER BY id DESC LIMIT 1", [watch_id]).fetchone()
        return SnapshotHead(row[0], row[1] or "") if row else None

    def snapshot(self, snapshot_id: int) -> Snapshot | None:
        rows = list(self._query("SELECT * FROM snapshots WHERE id = ?", [snapshot_id]))
        return Snapshot.from_row(rows[0]) if rows else None

    def previous_snapshot(self, watch_id: int, snapshot_id: int) -> Snapshot | None:
        """The good snapshot of a page just before the given one."""
        rows = list(self._query(
            "SELECT * FROM snapshots WHERE watch_id = ? AND id < ? ORDER BY id DESC LIMIT 1",
            [watch_id, snapshot_id]))
        return Snapshot.from_row(rows[0]) if rows else None

    def snapshots(self, watch_id: int) -> list[Snapshot]:
        return [Snapshot.from_row(r) for r in self._query(
            "SELECT * FROM snapshots WHERE watch_id = ? ORDER BY id", [watch_id])]

    def add_snapshot(self, watch_id: int, *, fetched_at: float, http_status: int | None,
                     body_sha256: str, doc_sha256: str, document: Document,
                     disclaimers: dict[str, list[str]], rules_digest: str,
                     added: list[str], removed: list[str],
                     packed_document: bytes | None = None) -> int:
        """`packed_document`: pack_document(document), if a worker already made it."""
        packed = packed_document or pack_document(document)
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
                     body: bytes, sha256: str, packed_body: bytes | None = None) -> int:
        """`packed_body`: pack_body(body), if a worker already made it."""
        cur = self.db.execute(
            "INSERT OR IGNORE INTO evidence(snapshot_id, url, final_url, fetched_at, http_status,"
            " headers, body, sha256, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [snapshot_id, url, final_url, fetched_at, http_status, json.dumps(headers),
             packed_body or pack_body(body), sha256, len(body)])
        return int(cur.lastrowid)

    def evidence_for_snapshot(self, snapshot_id: int) -> Evidence | None:
        rows = list(self._query("SELECT * FROM evidence WHERE snapshot_id = ?", [snapshot_id]))
        if not rows:
            return None
        r = rows[0]
        return Evidence(r["id"], r["snapshot_id"], r["url"], r["final_url"], r["fetched_at"],
                        r["http_status"], json.loads(r["headers"]), blobs.unpack(r["body"]),
                        r["sha256"], r["size"])

    # -- findings

    def open_findings(self, watch_id: int) -> list[StoredFinding]:
        return [StoredFinding.from_row(r) for r in self._query(
            "SELECT * FROM findings WHERE watch_id = ? AND resolved_at IS NULL ORDER BY id",
            [watch_id])]

    def finding(self, finding_id: int) -> StoredFinding | None:
        rows = list(self._query("SELECT * FROM findings WHERE id = ?", [finding_id]))
        return StoredFinding.from_row(rows[0]) if rows else None

    def findings(self, watch_id: int | None = None) -> list[StoredFinding]:
        if watch_id is None:
            return [StoredFinding.from_row(r) for r in self._query(
                "SELECT * FROM findings ORDER BY id")]
        return [StoredFinding.from_row(r) for r in self._query(
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
        self._update("findings", finding_id, fields)

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
        return list(self._query(
            "SELECT * FROM fetch_log WHERE watch_id = ? ORDER BY id DESC LIMIT ?",
            [watch_id, limit]))

    # ==================================================================================
    # Notifications (issue 5): the outbox, per-target deliveries, acks and mutes.
    # The rules of delivery live in monitor/notify.py; this section only reads and writes.
    # ==================================================================================

    # -- outbox

    def enqueue(self, kind: str, audience: str, *, watch_id: int | None,
                snapshot_id: int | None, now: float, tags: list[str],
                payload: dict[str, Any], finding_ids: list[int]) -> int:
        """Queue a message; call inside the transaction that made what it reports."""
        cur = self.db.execute(
            "INSERT INTO outbox(kind, audience, watch_id, snapshot_id, created_at, tags, payload,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [kind, audience, watch_id, snapshot_id, now, json.dumps(sorted(set(tags))),
             json.dumps(payload, ensure_ascii=False), now])
        outbox_id = int(cur.lastrowid)
        self.db.conn.executemany("INSERT OR IGNORE INTO outbox_findings(outbox_id, finding_id)"
                                 " VALUES (?, ?)", [(outbox_id, f) for f in finding_ids])
        return outbox_id

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        rows = list(self._query("SELECT * FROM outbox WHERE id = ?", [outbox_id]))
        return OutboxRow.from_row(rows[0]) if rows else None

    def outbox(self, statuses: Collection[str] | None = None,
               limit: int = 1000) -> list[OutboxRow]:
        """Queued messages, oldest first, optionally only those in the given statuses."""
        if statuses is None:
            query, args = "SELECT * FROM outbox ORDER BY id LIMIT ?", [limit]
        else:
            marks = ", ".join("?" * len(statuses))
            query = f"SELECT * FROM outbox WHERE status IN ({marks}) ORDER BY id LIMIT ?"
            args = [*statuses, limit]
        return [OutboxRow.from_row(r) for r in self._query(query, args)]

    def claim_outbox(self, owner: str, *, clock: float, lease_until: float,
                     due_by: float | None, audiences: Collection[str],
                     only: Collection[int] | None = None, exclude: Collection[int] = (),
                     may_steal: Callable[[str], bool] = lambda owner: False) -> OutboxRow | None:
        """Lease the oldest pending message that is due and not leased by a live sender.

        `clock` is the real time leases are compared with; `due_by` the back-off clock (None:
        ignore back-off). BEGIN IMMEDIATE makes two senders claim one after the other."""
        if not audiences:
            return None
        where = ["status = 'pending'", f"audience IN ({', '.join('?' * len(audiences))})"]
        args: list[Any] = list(audiences)
        if due_by is not None:
            where.append("next_attempt_at <= ?")
            args.append(due_by)
        if only is not None:
            if not only:
                return None
            where.append(f"id IN ({', '.join('?' * len(only))})")
            args.extend(only)
        with self.transaction():
            for row in self._query(
                    f"SELECT * FROM outbox WHERE {' AND '.join(where)} ORDER BY id", args):
                if row["id"] in exclude:
                    continue
                held = row["lease_owner"] is not None and (row["lease_until"] or 0) > clock
                if held and row["lease_owner"] != owner and not may_steal(row["lease_owner"]):
                    continue
                self.db.execute("UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id = ?",
                                [owner, lease_until, row["id"]])
                return OutboxRow.from_row({**row, "lease_owner": owner,
                                           "lease_until": lease_until})
        return None

    def finish_outbox(self, outbox_id: int, owner: str, *, status: str, attempts: int,
                      next_attempt_at: float, finished_at: float | None,
                      last_error: str | None) -> bool:
        """Record the outcome of a pass over a message and release its lease.

        Only the lease holder may do so: False if another sender took the lease over."""
        cur = self.db.execute(
            "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, finished_at = ?,"
            " last_error = ?, lease_owner = NULL, lease_until = NULL"
            " WHERE id = ? AND lease_owner = ?",
            [status, attempts, next_attempt_at, finished_at, last_error, outbox_id, owner])
        return cur.rowcount == 1

    def release_outbox(self, outbox_id: int, owner: str) -> None:
        self.db.execute("UPDATE outbox SET lease_owner = NULL, lease_until = NULL"
                        " WHERE id = ? AND lease_owner = ?", [outbox_id, owner])

    def outbox_counts(self) -> dict[str, int]:
        """Number of messages in each status."""
        return {r["status"]: r["n"] for r in self._query(
            "SELECT status, count(*) AS n FROM outbox GROUP BY status")}

    def next_due(self) -> float | None:
        """When the earliest pending message is due (None: nothing pending)."""
        row = self.db.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'").fetchone()
        return row[0]

    def retry_failed(self, now: float) -> int:
        """Put failed messages back in the queue with fresh attempts; returns how many."""
        cur = self.db.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?,"
            " finished_at = NULL WHERE status = 'failed'", [now])
        return cur.rowcount

    def outbox_for_finding(self, finding_id: int) -> list[OutboxRow]:
        return [OutboxRow.from_row(r) for r in self._query(
            "SELECT outbox.* FROM outbox JOIN outbox_findings ON outbox_id = outbox.id"
            " WHERE finding_id = ? ORDER BY outbox.id", [finding_id])]

    # -- deliveries

    def deliveries(self, outbox_id: int) -> list[Delivery]:
        return [Delivery.from_row(r) for r in self._query(
            "SELECT * FROM deliveries WHERE outbox_id = ? ORDER BY label", [outbox_id])]

    def record_delivery(self, outbox_id: int, target: str, label: str, *, at: float,
                        error: str | None) -> None:
        """One attempt at one target: delivered (error None) or the error. Its own commit."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO deliveries(outbox_id, target, label, delivered_at, attempts,"
                " last_attempt_at, last_error) VALUES (?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT(outbox_id, target) DO UPDATE SET label = excluded.label,"
                " delivered_at = coalesce(deliveries.delivered_at, excluded.delivered_at),"
                " attempts = deliveries.attempts + 1, last_attempt_at = excluded.last_attempt_at,"
                " last_error = excluded.last_error",
                [outbox_id, target, label, at if error is None else None, at, error])

    # -- acknowledgements and mutes

    def ack_findings(self, finding_ids: Collection[int], *, now: float,
                     note: str | None) -> None:
        """Acknowledge findings; an earlier acknowledgement keeps its time, a note replaces."""
        self.db.conn.executemany("UPDATE findings SET acked_at = coalesce(acked_at, ?),"
                                 " ack_note = coalesce(?, ack_note) WHERE id = ?",
                                 [(now, note, fid) for fid in finding_ids])

    def add_mute(self, watch_id: int, rule: str, *, now: float, note: str | None) -> bool:
        """Mute a rule on a page; False if it already was."""
        cur = self.db.execute("INSERT OR IGNORE INTO mutes(watch_id, rule, created_at, note)"
                              " VALUES (?, ?, ?, ?)", [watch_id, rule, now, note])
        return cur.rowcount == 1

    def remove_mute(self, watch_id: int, rule: str) -> bool:
        cur = self.db.execute("DELETE FROM mutes WHERE watch_id = ? AND rule = ?",
                              [watch_id, rule])
        return cur.rowcount == 1

    def muted_rules(self, watch_id: int) -> set[str]:
        return {r["rule"] for r in self._query(
            "SELECT rule FROM mutes WHERE watch_id = ?", [watch_id])}

    def mutes(self) -> list[dict[str, Any]]:
        return list(self._query(
            "SELECT watches.url, mutes.rule, mutes.created_at, mutes.note FROM mutes"
            " JOIN watches ON watches.id = mutes.watch_id ORDER BY watches.url, mutes.rule"))

    def listed_findings(self, *, finding_ids: Collection[int] | None = None,
                        unresolved: bool | None = None, acked: bool | None = None,
                        muted: bool | None = None) -> list[ListedFinding]:
        """Findings with their page URL, title and mute state, filtered; oldest first."""
        where: list[str] = ["1"]
        args: list[Any] = []
        if finding_ids is not None:
            where.append(f"f.id IN ({', '.join('?' * len(finding_ids)) or 'NULL'})")
            args.extend(finding_ids)
        if unresolved is not None:
            where.append("f.resolved_at IS NULL" if unresolved else "f.resolved_at IS NOT NULL")
        if acked is not None:
            where.append("f.acked_at IS NOT NULL" if acked else "f.acked_at IS NULL")
        if muted is not None:
            where.append(("" if muted else "NOT ") + "EXISTS (SELECT 1 FROM mutes m"
                         " WHERE m.watch_id = f.watch_id AND m.rule = f.rule)")
        rows = self._query(
            "SELECT f.*, w.url AS page_url, EXISTS (SELECT 1 FROM mutes m WHERE"
            " m.watch_id = f.watch_id AND m.rule = f.rule) AS page_muted,"
            " (SELECT s.title FROM snapshots s WHERE s.watch_id = f.watch_id"
            "  ORDER BY s.id DESC LIMIT 1) AS page_title"
            f" FROM findings f JOIN watches w ON w.id = f.watch_id WHERE {' AND '.join(where)}"
            " ORDER BY f.id", args)
        return [ListedFinding(StoredFinding.from_row(r), r["page_url"], r["page_title"] or "",
                              bool(r["page_muted"])) for r in rows]


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
