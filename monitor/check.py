"""The check path: one fetched page in, findings recorded, a `CheckResult` out.

Every check takes this path, whether a reviewer asked for it (`claimwatch check URL`) or the
daemon's schedule did. It is split in two so the CPU-heavy half can run in worker processes:
`analyse()` (monitor.analysis) extracts and evaluates a page without touching the database;
`process()` compares with the last good snapshot and records everything for the page in one
transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crawler.items import FetchedPage
from monitor import schedule
from monitor.alerts import Plan, reconcile
from monitor.analysis import Analysis, analyse, document_digest
from monitor.diff import Changes, diff_texts
from monitor.document import Document
from monitor.outbox import QueuePolicy, queue_for_check
from monitor.rules import Evaluation, Finding, Ruleset
from monitor.store import Store, StoredFinding, Watch
from monitor.suspect import relative_reason

STATUSES = ("first", "changed", "unchanged", "suspect", "error")


@dataclass
class Reported:
    """A finding as one check reports it, with its state in this check."""

    id: int
    rule: str
    category: str
    severity: str
    state: str
    text: str
    message: str
    link: str = ""
    context: str = ""
    first_seen: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "rule": self.rule, "category": self.category,
                "severity": self.severity, "state": self.state, "text": self.text,
                "message": self.message, "link": self.link, "first_seen": self.first_seen}


@dataclass
class CheckResult:
    """The outcome of one check of one URL."""

    url: str
    status: str
    http_status: int | None = None
    error: str | None = None
    reason: str | None = None
    title: str = ""
    checked_at: float = 0.0
    watch_id: int | None = None
    snapshot_id: int | None = None
    findings: list[Reported] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)  # outbox ids of the messages it queued
    # The page's watch columns this check sets, written in one UPDATE by process().
    watch_update: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def alerting(self) -> list[Reported]:
        return [f for f in self.findings if f.state in ("baseline", "new")]

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url, "status": self.status, "http_status": self.http_status,
            "error": self.error, "reason": self.reason, "title": self.title,
            "checked_at": self.checked_at, "snapshot_id": self.snapshot_id,
            "findings": [f.to_json() for f in self.findings],
        }


def process(store: Store, page: FetchedPage, ruleset: Ruleset, *, now: float | None = None,
            analysis: Analysis | None = None, queue: QueuePolicy | None = None,
            list_ongoing: bool = True, watch_id: int | None = None,
            reschedule: bool = False) -> CheckResult:
    """Record one fetch of one page: the single path of every check.

    Snapshot, findings and the notifications they call for (`monitor.outbox`) are committed in
    one transaction: an alert is never lost nor queued for a check that did not happen.
    `list_ongoing=False` spares a caller that only counts (the daemon) the listing of the
    findings that merely go on after an unchanged, suspect or failed fetch. A caller that
    knows the page's watch passes `watch_id` and spares a lookup by URL. `reschedule=True`
    (the daemon's scheduled checks) also sets when the page is due next, from the outcome."""
    now = now or time.time()
    with store.transaction():
        known = store.watch_by_id(watch_id) if watch_id is not None else None
        watch = known or store.ensure_watch(page.url, now)
        result = _record(store, watch, page, ruleset, now, analysis)
        update = result.watch_update
        if reschedule:
            update["next_check"] = schedule.next_check(watch.interval_s, update["failures"], now)
            update["recheck"] = 0
        store.update_watch(watch.id, **update)
        if list_ongoing and result.status in ("unchanged", "suspect", "error"):
            result.findings = _ongoing(store, watch)
        result.queued = queue_for_check(store, watch, result, queue or QueuePolicy(), now)
    return result


def _record(store: Store, watch: Watch, page: FetchedPage, ruleset: Ruleset, now: float,
            analysis: Analysis | None) -> CheckResult:
    """Compare the fetch with the last good snapshot and record it; the check's outcome."""
    result = CheckResult(url=page.url, status="error", http_status=page.status,
                         checked_at=now, watch_id=watch.id)
    if page.error is not None:
        return _failed(store, watch, page, result, now)
    head = store.last_snapshot_head(watch.id)
    if head is not None and watch.rules_digest != ruleset.digest:
        rebaseline(store, watch, ruleset, now)
    fetch_fields: dict[str, Any] = {"etag": page.header("ETag") or watch.etag,
                                    "last_modified": page.header("Last-Modified")
                                    or watch.last_modified}
    if page.not_modified and head is not None:
        return _unchanged(store, watch, page, result, now, fetch_fields, head.title)
    if page.not_modified:
        # A 304 with nothing to compare with: the validators were stale; fetch in full next.
        result.watch_update.update(etag=None, last_modified=None)
        result.error = "304 Not Modified but no earlier snapshot to compare with"
        return _failed(store, watch, page, result, now)
    body_sha = page.body_sha256()
    fetch_fields["body_sha256"] = body_sha
    if head is not None and body_sha == watch.body_sha256:
        return _unchanged(store, watch, page, result, now, fetch_fields, head.title)
    last = store.snapshot(head.id) if head is not None else None
    if analysis is None or analysis.body_sha256 != body_sha:
        analysis = analyse(page, ruleset)
    doc = analysis.document
    assert doc is not None
    reason = analysis.suspect or relative_reason(doc, last.words if last else None)
    if reason:
        return _suspect(store, watch, page, result, now, reason)
    evaluation = analysis.evaluation
    if evaluation is None or analysis.rules_digest != ruleset.digest:
        evaluation = ruleset.evaluate(doc)  # analysed under rules since reloaded
    # The same text is no change, unless a disclosure came or went in the fine print, which
    # the text leaves out (its other churn, a copyright year, is no change).
    if (last is not None and analysis.doc_sha256 == last.doc_sha256
            and ("disclaimers" in evaluation.incomplete
                 or set(evaluation.disclaimers) == set(last.disclaimers))):
        return _unchanged(store, watch, page, result, now, fetch_fields, last.title)
    return _changed(store, watch, page, result, now, fetch_fields, ruleset, last, doc,
                    analysis.doc_sha256 or document_digest(doc), evaluation, analysis)


# ------------------------------------------------------------------------------ outcomes

def _reported(stored: StoredFinding, state: str) -> Reported:
    return Reported(stored.id, stored.rule, stored.category, stored.severity, state,
                    stored.text, stored.message, stored.link, stored.context, stored.first_seen)


def _ongoing(store: Store, watch: Watch) -> list[Reported]:
    return [_reported(f, "ongoing") for f in store.open_findings(watch.id)]


def _failed(store: Store, watch: Watch, page: FetchedPage, result: CheckResult,
            now: float) -> CheckResult:
    result.status = "error"
    result.error = result.error or page.error
    result.watch_update.update(last_checked=now, last_status="error",
                               failures=watch.failures + 1, last_error=result.error)
    store.log_fetch(watch.id, fetched_at=now, outcome="error", http_status=page.status,
                    error=result.error, reason=None, elapsed=page.elapsed, snapshot_id=None)
    return result


def _suspect(store: Store, watch: Watch, page: FetchedPage, result: CheckResult, now: float,
             reason: str) -> CheckResult:
    result.status = "suspect"
    result.reason = reason
    # Validators of a suspect response must not be kept: the next fetch must be a full one.
    result.watch_update.update(last_checked=now, last_status="suspect",
                               failures=watch.failures + 1, last_error=f"suspect page: {reason}")
    store.log_fetch(watch.id, fetched_at=now, outcome="suspect", http_status=page.status,
                    error=None, reason=reason, elapsed=page.elapsed, snapshot_id=None)
    return result


def _unchanged(store: Store, watch: Watch, page: FetchedPage, result: CheckResult, now: float,
               fetch_fields: dict[str, Any], title: str) -> CheckResult:
    result.status = "unchanged"
    result.watch_update.update(last_checked=now, last_success=now, last_status="unchanged",
                               failures=0, last_error=None, **fetch_fields)
    store.log_fetch(watch.id, fetched_at=now, outcome="unchanged", http_status=page.status,
                    error=None, reason=None, elapsed=page.elapsed, snapshot_id=None)
    store.see_open_findings(watch.id, now)
    result.title = title
    return result


def _current_findings(ruleset: Ruleset, evaluation: Evaluation, doc: Document,
                      previous_disclaimers: dict[str, list[str]],
                      open_findings: Sequence[StoredFinding]) -> list[Finding]:
    removal_rules = {r.id for r in ruleset.rules if r.kind == "disappearance"}
    still_open = {f.match for f in open_findings if f.rule in removal_rules}
    return list(evaluation.findings) + ruleset.removals(previous_disclaimers, evaluation, doc,
                                                        still_open)


def _changed(store: Store, watch: Watch, page: FetchedPage, result: CheckResult, now: float,
             fetch_fields: dict[str, Any], ruleset: Ruleset, last: Any, doc: Document,
             doc_sha: str, evaluation: Evaluation, analysis: Analysis) -> CheckResult:
    first = last is None
    result.status = "first" if first else "changed"
    result.title = doc.title
    # A first snapshot is a baseline, not a change: nothing counts as added.
    changes = diff_texts(last.document.text, doc.text) if last else Changes()
    result.added, result.removed = changes.added, changes.removed
    open_findings = store.open_findings(watch.id)
    current = _current_findings(ruleset, evaluation, doc, last.disclaimers if last else {},
                                open_findings)
    plan = reconcile(current, open_findings, incomplete=evaluation.incomplete)
    snapshot_id = store.add_snapshot(
        watch.id, fetched_at=now, http_status=page.status, body_sha256=fetch_fields["body_sha256"],
        doc_sha256=doc_sha, document=doc, disclaimers=evaluation.disclaimers,
        rules_digest=ruleset.digest, added=changes.added, removed=changes.removed,
        packed_document=analysis.packed_document)
    result.snapshot_id = snapshot_id
    result.findings = _apply(store, watch, plan, now, snapshot_id,
                             origin="baseline" if first else "new",
                             resolve_reason="no longer on the page")
    # Every snapshot keeps its raw page: a finding opened later (say by a rules change) on this
    # text must still be provable. Snapshots exist only when the text changed, so this is cheap.
    store.add_evidence(snapshot_id, url=page.url, final_url=page.final_url, fetched_at=now,
                       http_status=page.status, headers=page.headers, body=page.body,
                       sha256=fetch_fields["body_sha256"], packed_body=analysis.packed_body)
    result.watch_update.update(last_checked=now, last_success=now,
                               last_status=result.status, failures=0, last_error=None,
                               rules_digest=ruleset.digest, **fetch_fields)
    store.log_fetch(watch.id, fetched_at=now, outcome=result.status, http_status=page.status,
                    error=None, reason=None, elapsed=page.elapsed, snapshot_id=snapshot_id)
    return result


def _apply(store: Store, watch: Watch, plan: Plan, now: float, snapshot_id: int | None, *,
           origin: str, resolve_reason: str) -> list[Reported]:
    """Write a plan; report each finding with its state in this check."""
    reported: list[Reported] = []
    for finding in plan.new:
        fid = store.add_finding(
            watch.id, fingerprint=finding.fingerprint, rule=finding.rule,
            category=finding.category, severity=finding.severity, message=finding.message,
            link=finding.link, text=finding.text, context=finding.context, match=finding.match,
            origin=origin, now=now, snapshot_id=snapshot_id)
        reported.append(Reported(fid, finding.rule, finding.category, finding.severity, origin,
                                 finding.text, finding.message, finding.link, finding.context,
                                 now))
    for stored, finding in plan.ongoing:
        changes: dict[str, Any] = {}
        if finding is not None and finding.fingerprint != stored.fingerprint:
            # Re-worded without a material change: same claim, current words.
            changes = {"fingerprint": finding.fingerprint, "text": finding.text,
                       "context": finding.context, "message": finding.message}
        store.see_finding(stored.id, now=now, snapshot_id=snapshot_id, **changes)
        state = _reported(stored, "ongoing")
        if changes:
            state.text, state.message = finding.text, finding.message
        reported.append(state)
    for stored in plan.resolved:
        store.resolve_finding(stored.id, now=now, snapshot_id=snapshot_id, reason=resolve_reason)
        reported.append(_reported(stored, "resolved"))
    return reported


def reevaluate_all(store: Store, ruleset: Ruleset, now: float | None = None, *,
                   until: float | None = None) -> dict[str, int]:
    """Bring every page's findings up to `ruleset` now, one transaction per page.

    Called when rules.yaml changes (daemon start and reload, `claimwatch rules apply`), so
    findings follow the rules without waiting for pages to change. With `until` (a
    time.monotonic() deadline) it stops at the first page after the deadline, with
    counts["more"] set; calling it again goes on where it stopped."""
    now = now or time.time()
    counts = {"pages": 0, "baseline": 0, "resolved": 0, "more": 0}
    for watch in store.watches_needing_rules(ruleset.digest):
        if until is not None and counts["pages"] and time.monotonic() >= until:
            counts["more"] = 1
            break
        with store.transaction():
            current = store.watch_by_id(watch.id)
            if current is None or current.rules_digest == ruleset.digest:
                continue
            reported = rebaseline(store, current, ruleset, now)
        counts["pages"] += 1
        counts["baseline"] += sum(1 for r in reported if r.state == "baseline")
        counts["resolved"] += sum(1 for r in reported if r.state == "resolved")
    return counts


def rebaseline(store: Store, watch: Watch, ruleset: Ruleset, now: float) -> list[Reported]:
    """Re-evaluate the last good snapshot under changed rules.

    Claims the new rules find on a page that has not changed were there all along: they are
    recorded as `baseline`, not `new`, so a rules edit never floods reviewers. Findings the new
    rules no longer make are resolved with the reason "rules changed".
    """
    last = store.last_good_snapshot(watch.id)
    if last is None:
        store.update_watch(watch.id, rules_digest=ruleset.digest)
        return []
    doc = last.document
    evaluation = ruleset.evaluate(doc)
    previous = store.previous_snapshot(watch.id, last.id)
    before = previous.disclaimers if previous is not None else {}
    open_findings = store.open_findings(watch.id)
    current = _current_findings(ruleset, evaluation, doc, before, open_findings)
    plan = reconcile(current, open_findings, incomplete=evaluation.incomplete)
    store.set_snapshot_disclaimers(last.id, evaluation.disclaimers, ruleset.digest)
    reported = _apply(store, watch, plan, now, last.id, origin="baseline",
                      resolve_reason="rules changed")
    store.update_watch(watch.id, rules_digest=ruleset.digest)
    return reported
