"""What to queue for a check: the digest a reviewer receives, and operators' notices.

Called from `monitor.check.process` inside the transaction that records the check, so a finding
and the message that reports it are committed together or not at all. Only what the message
says is decided here; how and where it is sent is `monitor.notify`'s business. The payload is
stored as it was at check time, so a later re-wording of a finding does not change an alert.

What is queued:
- a page's first good snapshot: one "initial-audit" message with its baseline findings (if any,
  and unless switched off with `[notify] initial_audit = false`);
- a later check with new or resolved findings: one "findings" digest with all of them;
- a page that fails `failure_alert_after` checks in a row: one operator notice, and one more
  when it recovers;
- nothing for findings of a rule a reviewer muted on that page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from monitor.store import Store, Watch

if TYPE_CHECKING:
    from monitor.check import CheckResult, Reported

REVIEWER, OPERATOR = "reviewer", "operator"
GOOD_STATUSES = ("first", "changed", "unchanged")


@dataclass(frozen=True)
class QueuePolicy:
    """The parts of the configuration that decide what a check queues."""

    initial_audit: bool = True
    failure_alert_after: int = 3

    @classmethod
    def from_config(cls, notify: Any) -> QueuePolicy:
        """From a `monitor.config.NotifyConfig`."""
        return cls(initial_audit=notify.initial_audit,
                   failure_alert_after=notify.failure_alert_after)


def queue_for_check(store: Store, watch: Watch, result: CheckResult, policy: QueuePolicy,
                    now: float) -> list[int]:
    """Queue the messages one check calls for; returns their outbox ids.

    `watch` is the page's state before this check (its failure count in particular)."""
    queued: list[int] = []
    if result.status in ("first", "changed"):
        muted = store.muted_rules(watch.id)
        shown = [f for f in result.findings if f.rule not in muted]
        if result.status == "first":
            kind = "initial-audit"
            reported = [f for f in shown if f.state == "baseline"] if policy.initial_audit else []
        else:
            kind = "findings"
            reported = [f for f in shown if f.state in ("new", "resolved")]
        if reported:
            queued.append(_queue_digest(store, watch, result, kind, reported, now))
    queued.extend(_queue_health(store, watch, result, policy, now))
    return queued


def finding_payload(f: Reported) -> dict[str, Any]:
    """A finding as a message shows it."""
    return {"id": f.id, "state": f.state, "rule": f.rule, "category": f.category,
            "severity": f.severity, "text": f.text, "context": f.context,
            "message": f.message, "link": f.link, "first_seen": f.first_seen}


def _queue_digest(store: Store, watch: Watch, result: CheckResult, kind: str,
                  reported: list[Reported], now: float) -> int:
    payload = {"kind": kind, "url": result.url, "title": result.title,
               "checked_at": result.checked_at, "snapshot_id": result.snapshot_id,
               "findings": [finding_payload(f) for f in reported]}
    # Tags route the message (apprise.yml): its kind, every state and severity in it, and the
    # page's own tags. A target with no tags receives every reviewer message.
    tags = ["claimwatch", kind, *watch.tags]
    tags += {f.state for f in reported} | {f.severity for f in reported}
    return store.enqueue(kind, REVIEWER, watch_id=watch.id, snapshot_id=result.snapshot_id,
                         now=now, tags=tags, payload=payload,
                         finding_ids=[f.id for f in reported])


def _queue_health(store: Store, watch: Watch, result: CheckResult, policy: QueuePolicy,
                  now: float) -> list[int]:
    """Tell operators when a page starts failing repeatedly, and when it comes back."""
    threshold = policy.failure_alert_after
    if threshold <= 0:
        return []
    failed = result.status not in GOOD_STATUSES
    failures = watch.failures + 1 if failed else 0
    if failed and failures == threshold:
        what = result.error or f"suspect page: {result.reason}"
        return [queue_operator(store, "watch-failing", now=now, watch_id=watch.id,
                               subject=f"{result.url} failed {failures} checks in a row",
                               text=f"The last {failures} checks of {result.url} failed; "
                                    f"no finding is created or resolved until a good fetch.\n"
                                    f"Last problem: {what}")]
    if not failed and watch.failures >= threshold:
        return [queue_operator(store, "watch-recovered", now=now, watch_id=watch.id,
                               subject=f"{result.url} is checked again",
                               text=f"{result.url} answered normally again after "
                                    f"{watch.failures} failed checks.")]
    return []


def queue_operator(store: Store, kind: str, *, now: float, subject: str, text: str,
                   watch_id: int | None = None) -> int:
    """Queue a notice for the operators (not the reviewers): a watch failing, rules broken,
    a message that could not be delivered. Safe inside or outside a transaction."""
    payload = {"kind": kind, "subject": subject, "text": text}
    with store.transaction():
        return store.enqueue(kind, OPERATOR, watch_id=watch_id, snapshot_id=None, now=now,
                             tags=["claimwatch", "operator", kind], payload=payload,
                             finding_ids=[])
