"""What a check queues, in the check's own transaction: digests, initial audits, notices."""

import pytest
from conftest import page, record

from crawler.items import FetchedPage
from monitor.check import process
from monitor.outbox import QueuePolicy

URL = "http://127.0.0.1:1/ridgeline/"


def test_first_snapshot_queues_one_initial_audit_with_its_baseline(store, ruleset):
    result = record(store, ruleset, URL, page("ridgeline/v2.html"))
    assert len(result.queued) == 1
    row = store.outbox_row(result.queued[0])
    assert (row.kind, row.audience, row.status) == ("initial-audit", "reviewer", "pending")
    assert row.snapshot_id == result.snapshot_id and row.watch_id == result.watch_id
    assert sorted(f["id"] for f in row.payload["findings"]) == sorted(
        f.id for f in result.findings)
    assert {f["state"] for f in row.payload["findings"]} == {"baseline"}
    assert row.payload["url"] == URL and row.payload["title"] == result.title
    assert {"initial-audit", "baseline", "high", "medium"} <= set(row.tags)


def test_initial_audit_can_be_switched_off_and_a_clean_first_page_sends_nothing(store, ruleset):
    off = QueuePolicy(initial_audit=False)
    assert record(store, ruleset, URL, page("ridgeline/v2.html"), queue=off).queued == []
    assert record(store, ruleset, URL + "clean", page("ridgeline/v1.html")).queued == []
    assert store.outbox() == []


def test_a_change_queues_one_digest_of_new_and_resolved_findings(store, ruleset):
    record(store, ruleset, URL, page("ridgeline/v1.html"))
    second = record(store, ruleset, URL, page("ridgeline/v2.html"))
    third = record(store, ruleset, URL, page("ridgeline/v3.html"))
    assert len(second.queued) == 1 and len(third.queued) == 1
    digest = store.outbox_row(third.queued[0])
    states = sorted(f["state"] for f in digest.payload["findings"])
    assert states == ["new", "new", "resolved", "resolved", "resolved"]  # no "ongoing"
    assert {"new", "resolved"} <= set(digest.tags)
    for f in digest.payload["findings"]:
        assert digest.id in [r.id for r in store.outbox_for_finding(f["id"])]


def test_unchanged_and_failed_checks_queue_nothing(store, ruleset):
    record(store, ruleset, URL, page("ridgeline/v2.html"))
    assert record(store, ruleset, URL, page("ridgeline/v2.html")).queued == []
    failed = process(store, FetchedPage(url=URL, error="HTTP 500", status=500), ruleset)
    assert failed.queued == []
    assert len(store.outbox()) == 1


def test_muted_rules_are_not_queued(store, ruleset):
    record(store, ruleset, URL, page("ridgeline/v1.html"))
    watch = store.watch(URL)
    store.add_mute(watch.id, "outcome-statistic", now=1.0, note=None)
    result = record(store, ruleset, URL, page("ridgeline/v2.html"))
    rules = [f["rule"] for f in store.outbox_row(result.queued[0]).payload["findings"]]
    assert rules and "outcome-statistic" not in rules
    assert "outcome-statistic" in [f.rule for f in result.findings]  # still recorded


def test_a_crash_in_the_check_queues_nothing(store, ruleset, monkeypatch):
    """The message row and the finding commit together or not at all."""
    import monitor.outbox

    def boom(*args, **kwargs):
        raise RuntimeError("disk full while queueing")

    monkeypatch.setattr(monitor.outbox.Store, "enqueue", boom)
    with pytest.raises(RuntimeError):
        record(store, ruleset, URL, page("ridgeline/v2.html"))
    assert store.findings() == [] and store.outbox() == [] and store.watch(URL) is None


def test_operators_hear_once_when_a_page_keeps_failing_and_once_when_it_recovers(store, ruleset):
    policy = QueuePolicy(failure_alert_after=3)
    record(store, ruleset, URL, page("ridgeline/v1.html"), queue=policy)
    queued = []
    for _ in range(5):
        fetched = FetchedPage(url=URL, error="Connection refused")
        queued.append(process(store, fetched, ruleset, queue=policy).queued)
    assert [len(q) for q in queued] == [0, 0, 1, 0, 0]
    notice = store.outbox_row(queued[2][0])
    assert (notice.kind, notice.audience) == ("watch-failing", "operator")
    assert "failed 3 checks in a row" in notice.payload["subject"]
    assert "Connection refused" in notice.payload["text"]
    back = record(store, ruleset, URL, page("ridgeline/v1.html"), queue=policy)
    assert [store.outbox_row(i).kind for i in back.queued] == ["watch-recovered"]
    assert record(store, ruleset, URL, page("ridgeline/v1.html"), queue=policy).queued == []
