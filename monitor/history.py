"""A page's history: its snapshots, what changed in each, and the findings each one opened or
resolved; and readable diffs between any two snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.diff import Changes, diff_texts
from monitor.errors import InputError
from monitor.store import Snapshot, Store, StoredFinding, Watch


@dataclass
class Entry:
    """One event in a page's history: a snapshot, or a fetch that produced none."""

    at: float
    outcome: str
    snapshot_id: int | None = None
    http_status: int | None = None
    words: int | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    opened: list[StoredFinding] = field(default_factory=list)
    resolved: list[StoredFinding] = field(default_factory=list)
    note: str | None = None

    def to_json(self) -> dict:
        return {
            "at": self.at, "outcome": self.outcome, "snapshot_id": self.snapshot_id,
            "http_status": self.http_status, "words": self.words, "added": self.added,
            "removed": self.removed, "note": self.note,
            "opened": [{"id": f.id, "category": f.category, "text": f.text} for f in self.opened],
            "resolved": [{"id": f.id, "category": f.category, "text": f.text}
                         for f in self.resolved],
        }


def watch_for(store: Store, url: str) -> Watch:
    watch = store.watch(url)
    if watch is None:
        raise InputError(f"{url} has never been checked (nothing in {store.path})")
    return watch


def history(store: Store, url: str, *, fetches: bool = False) -> list[Entry]:
    """Snapshots oldest first, with failed and suspect fetches (with `fetches`: every fetch)."""
    watch = watch_for(store, url)
    findings = store.findings(watch.id)
    entries: list[Entry] = []
    for snap in store.snapshots(watch.id):
        entries.append(Entry(
            snap.fetched_at, "snapshot", snap.id, snap.http_status, snap.words,
            snap.added, snap.removed,
            [f for f in findings if f.first_snapshot_id == snap.id],
            [f for f in findings if f.resolved_snapshot_id == snap.id]))
    for row in store.fetch_log(watch.id, limit=10_000):
        if row["snapshot_id"] is None and (fetches or row["outcome"] in ("error", "suspect")):
            entries.append(Entry(row["fetched_at"], row["outcome"], None, row["http_status"],
                                 note=row["error"] or row["reason"]))
    entries.sort(key=lambda e: (e.at, e.snapshot_id or 0))
    return entries


def snapshot_pair(store: Store, url: str, from_id: int | None,
                  to_id: int | None) -> tuple[Snapshot, Snapshot, Changes]:
    """Two snapshots of a page (default: the last two) and the diff between them."""
    watch = watch_for(store, url)
    snaps = {s.id: s for s in store.snapshots(watch.id)}
    order = sorted(snaps)
    if not order:
        raise InputError(f"{url} has no good snapshot yet")
    to_id = to_id if to_id is not None else order[-1]
    if from_id is None:
        earlier = [i for i in order if i < to_id]
        from_id = earlier[-1] if earlier else to_id
    for sid in (from_id, to_id):
        if sid not in snaps:
            raise InputError(f"snapshot {sid} is not a snapshot of {url} "
                             f"(its snapshots: {', '.join(map(str, order))})")
    old, new = snaps[from_id], snaps[to_id]
    return old, new, diff_texts(old.document.text, new.document.text)
