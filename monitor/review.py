"""The reviewer workflow: list findings, show one with its evidence and diff, acknowledge, mute.

Statuses: `open` (on the page, not acknowledged), `acked` (acknowledged), `resolved` (gone from
the page) and `all`. A mute is a reviewer's decision that a rule's findings are acceptable on
one page: muted findings are still recorded (the lifecycle goes on, `check` still reports them)
but are not sent to anyone, and are hidden from `alerts` and the report unless asked for.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from monitor.diff import diff_texts, render
from monitor.errors import InputError
from monitor.store import Delivery, Evidence, ListedFinding, OutboxRow, Snapshot, Store
from monitor.text import key

STATUSES = ("open", "acked", "resolved", "all")
DIFF_AROUND = 3  # diff lines shown each side of the claim


def list_alerts(store: Store, status: str = "open", *,
                include_muted: bool = False) -> list[ListedFinding]:
    """Findings in a status, oldest first; muted ones only if asked for."""
    if status not in STATUSES:
        raise InputError(f"unknown status {status!r} (allowed: {', '.join(STATUSES)})")
    muted = None if include_muted else False
    if status == "open":
        return store.listed_findings(unresolved=True, acked=False, muted=muted)
    if status == "acked":
        return store.listed_findings(acked=True, muted=muted)
    if status == "resolved":
        return store.listed_findings(unresolved=False, muted=muted)
    return store.listed_findings(muted=muted)


def state_of(item: ListedFinding) -> str:
    """One word for a listed finding: muted, resolved, acked or open."""
    f = item.finding
    if item.muted:
        return "muted"
    if f.resolved_at is not None:
        return "resolved"
    return "acked" if f.acked_at is not None else "open"


def alert_json(item: ListedFinding) -> dict[str, Any]:
    """A listed finding as JSON."""
    f = item.finding
    return {"id": f.id, "status": state_of(item), "url": item.url, "title": item.title,
            "rule": f.rule, "category": f.category, "severity": f.severity,
            "origin": f.origin, "text": f.text, "context": f.context, "message": f.message,
            "link": f.link, "first_seen": f.first_seen, "last_seen": f.last_seen,
            "resolved_at": f.resolved_at, "resolved_reason": f.resolved_reason,
            "acked_at": f.acked_at, "ack_note": f.ack_note, "muted": item.muted}


def ack(store: Store, finding_ids: Collection[int], *, note: str | None,
        now: float) -> list[int]:
    """Acknowledge findings, all or none; returns the ids that were already acknowledged."""
    wanted = sorted(set(finding_ids))
    with store.transaction():
        found = {i.finding.id: i for i in store.listed_findings(finding_ids=wanted)}
        missing = [fid for fid in wanted if fid not in found]
        if missing:
            raise InputError(f"no finding with id {', '.join(map(str, missing))}; nothing "
                             "acknowledged (see `claimwatch alerts --status all`)")
        already = [fid for fid in wanted if found[fid].finding.acked_at is not None]
        store.ack_findings(wanted, now=now, note=note)
    return already


def mute(store: Store, url: str, rule: str, *, note: str | None, now: float) -> bool:
    """Mute a rule on a watched page; False if it already was."""
    watch = store.watch(url)
    if watch is None:
        raise InputError(f"{url} is not a watched page (check it first, or see "
                         "`claimwatch alerts --status all` for the URLs)")
    with store.transaction():
        return store.add_mute(watch.id, rule, now=now, note=note)


def unmute(store: Store, url: str, rule: str) -> bool:
    """Lift a mute; False if there was none."""
    watch = store.watch(url)
    if watch is None:
        raise InputError(f"{url} is not a watched page")
    with store.transaction():
        return store.remove_mute(watch.id, rule)


# ------------------------------------------------------------------------------ one finding

@dataclass
class Introduction:
    """The change that introduced a finding: the snapshots before and after, and the diff."""

    snapshot: Snapshot | None
    previous: Snapshot | None
    lines: list[str] = field(default_factory=list)  # diff.render lines near the claim
    baseline: bool = False  # present from the first check (or recorded when rules changed)


@dataclass
class AlertDetail:
    """Everything a reviewer needs to judge one finding."""

    item: ListedFinding
    introduction: Introduction
    evidence: Evidence | None
    notifications: list[tuple[OutboxRow, list[Delivery]]]


def show(store: Store, finding_id: int) -> AlertDetail:
    """One finding with the diff that introduced it, its evidence and its notifications."""
    found = store.listed_findings(finding_ids=[finding_id])
    if not found:
        raise InputError(f"no finding with id {finding_id}")
    item = found[0]
    intro = introduction(store, item)
    evidence = (store.evidence_for_snapshot(item.finding.first_snapshot_id)
                if item.finding.first_snapshot_id is not None else None)
    notes = [(row, store.deliveries(row.id)) for row in store.outbox_for_finding(finding_id)]
    return AlertDetail(item, intro, evidence, notes)


def introduction(store: Store, item: ListedFinding, *,
                 cache: dict[int, list[str]] | None = None) -> Introduction:
    """The diff that brought a finding onto the page, cut to the lines around the claim."""
    f = item.finding
    snap = store.snapshot(f.first_snapshot_id) if f.first_snapshot_id is not None else None
    if snap is None:
        return Introduction(None, None, baseline=True)
    previous = store.previous_snapshot(f.watch_id, snap.id)
    if previous is None or f.origin == "baseline":
        return Introduction(snap, previous, baseline=True)
    if cache is not None and snap.id in cache:
        lines = cache[snap.id]
    else:
        lines = render(diff_texts(previous.document.text, snap.document.text))
        if cache is not None:
            cache[snap.id] = lines
    return Introduction(snap, previous, around(lines, f.text), baseline=False)


def around(lines: list[str], sentence: str, context: int = DIFF_AROUND) -> list[str]:
    """The rendered diff lines near the one that holds the sentence (all, capped, if none)."""
    wanted = key(sentence)
    for i, line in enumerate(lines):
        if wanted and (key(line[2:]) == wanted or wanted in key(line[2:])):
            return lines[max(0, i - context): i + context + 1]
    return lines[:40]
