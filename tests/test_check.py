"""The check path end to end: real spider, loopback site, rules.yaml, SQLite."""

import pytest
from conftest import page, run_check, states

from demo.server import SiteServer

RIDGE = "/ridgeline/"


def categories(result, state):
    return sorted(f.category for f in result.findings if f.state == state)


def test_first_check_records_baseline_findings(site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v2.html"))
    result = run_check(store, ruleset, site.url(RIDGE))
    assert result.status == "first" and result.http_status == 200
    assert categories(result, "baseline") == [
        "regulatory-misstatement", "testimonial-without-disclaimer",
        "unsourced-outcome-claim", "unsourced-outcome-claim"]
    assert {f.state for f in result.findings} == {"baseline"}
    assert store.evidence_for_snapshot(result.snapshot_id).body == page("ridgeline/v2.html")


def test_changed_page_alerts_on_added_claims_and_resolves_removed_ones(site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v1.html"))
    first = run_check(store, ruleset, site.url(RIDGE))
    assert first.status == "first" and not first.findings

    site.serve(RIDGE, page("ridgeline/v2.html"))
    second = run_check(store, ruleset, site.url(RIDGE))
    assert second.status == "changed"
    assert categories(second, "new") == [
        "regulatory-misstatement", "testimonial-without-disclaimer",
        "unsourced-outcome-claim", "unsourced-outcome-claim"]

    site.serve(RIDGE, page("ridgeline/v3.html"))
    third = run_check(store, ruleset, site.url(RIDGE))
    got = states(third)
    assert sorted(got["new"]) == [
        "disclaimer-removed: Disclaimer: This page is for educational purposes only and is not "
        "medical advice.",
        "safety-overclaim: At the doses we use, ketamine infusions are completely safe and "
        "non-addictive.",
    ]
    resolved = sorted(f.split(":")[0] for f in got["resolved"])
    assert resolved == ["regulatory-misstatement", "testimonial-without-disclaimer",
                        "unsourced-outcome-claim"]  # the 78% counter now has a citation
    assert [f.split(":")[0] for f in got["ongoing"]] == ["unsourced-outcome-claim"]  # the 3x one
    assert store.evidence_for_snapshot(third.snapshot_id) is not None


def test_unchanged_page_by_304_and_by_same_bytes(store, ruleset):
    for validators in (True, False):
        with SiteServer(validators=validators) as site:
            site.serve(RIDGE, page("ridgeline/v2.html"))
            url = site.url(RIDGE)
            run_check(store, ruleset, url)
            again = run_check(store, ruleset, url)
            assert again.status == "unchanged"
            assert again.findings and {f.state for f in again.findings} == {"ongoing"}
            assert site.not_modified.get(RIDGE, 0) == (1 if validators else 0)


def test_markup_only_change_is_unchanged(site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v2.html"))
    run_check(store, ruleset, site.url(RIDGE))
    html = page("ridgeline/v2.html").decode()
    rerendered = html.replace("<p>", "<p class='x'>\n  ").replace("&ldquo;", "\u201c")
    site.serve(RIDGE, rerendered.replace("(208) 555-0142", "(208) 555-0199"))
    again = run_check(store, ruleset, site.url(RIDGE))
    assert again.status == "unchanged"
    assert not [f for f in again.findings if f.state != "ongoing"]


@pytest.mark.parametrize("mode", ["500", "404", "slow", "close", "huge"])
def test_fault_is_an_error_and_touches_no_finding(mode, store, ruleset):
    with SiteServer(slow_seconds=3, huge_bytes=3 * 1024 * 1024) as site:
        site.serve(RIDGE, page("ridgeline/v2.html"))
        url = site.url(RIDGE)
        run_check(store, ruleset, url)
        before = store.findings()
        site.fault(RIDGE, mode)
        result = run_check(store, ruleset, url, DOWNLOAD_TIMEOUT=1, RETRY_TIMES=0,
                           DOWNLOAD_MAXSIZE=1024 * 1024)
    assert result.status == "error" and result.error
    assert {f.state for f in result.findings} == {"ongoing"}
    assert store.findings() == before
    watch = store.watch(url)
    assert watch.failures == 1 and watch.last_error == result.error
    assert store.fetch_log(watch.id)[0]["outcome"] == "error"


def test_error_on_the_first_fetch_creates_no_baseline(site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v2.html"))
    site.fault(RIDGE, "500")
    assert run_check(store, ruleset, site.url(RIDGE), RETRY_TIMES=0).status == "error"
    site.fault(RIDGE, None)
    assert run_check(store, ruleset, site.url(RIDGE)).status == "first"


@pytest.mark.parametrize("broken", ["maintenance.html", "access-denied.html", "js-shell.html"])
def test_suspect_page_never_moves_the_baseline(broken, site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v2.html"))
    run_check(store, ruleset, site.url(RIDGE))
    before = store.findings()

    site.serve(RIDGE, page(f"broken/{broken}"))
    suspect = run_check(store, ruleset, site.url(RIDGE))
    assert suspect.status == "suspect" and suspect.reason
    assert store.findings() == before

    site.serve(RIDGE, page("ridgeline/v2.html"))
    back = run_check(store, ruleset, site.url(RIDGE))
    assert back.status == "unchanged"  # compared with the last good snapshot
    assert not [f for f in back.findings if f.state != "ongoing"]


def test_drastic_shrink_is_suspect(site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v2.html"))
    run_check(store, ruleset, site.url(RIDGE))
    site.serve(RIDGE, "<html><body><main><h1>Ketamine for addiction</h1><p>Call us today to "
                      "book your first visit with our friendly team in Boise.</p></main></body>"
                      "</html>")
    result = run_check(store, ruleset, site.url(RIDGE))
    assert result.status == "suspect" and "shrank" in result.reason


def test_claim_that_leaves_and_returns_is_new_again(site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v1.html"))
    run_check(store, ruleset, site.url(RIDGE))
    for _ in range(2):
        site.serve(RIDGE, page("ridgeline/v2.html"))
        assert "regulatory-misstatement" in categories(run_check(store, ruleset,
                                                                 site.url(RIDGE)), "new")
        site.serve(RIDGE, page("ridgeline/v1.html"))
        assert "regulatory-misstatement" in categories(run_check(store, ruleset,
                                                                 site.url(RIDGE)), "resolved")


def test_a_scheduled_check_sets_the_next_one_from_its_outcome_in_the_same_write(store, ruleset):
    from crawler.items import FetchedPage
    from monitor.check import process

    now = 1_800_000_000.0
    url = "http://127.0.0.1:9/page"
    watch, _ = store.add_watch(url, interval=3600, tags=(), now=now, next_check=now)
    store.update_watch(watch.id, recheck=1)

    def recheck() -> int:
        sql = "SELECT recheck FROM watches WHERE id = ?"
        return store.db.execute(sql, [watch.id]).fetchone()[0]

    ok = FetchedPage(url, 200, {"Content-Type": "text/html"},
                     page("ridgeline/v2.html"), "utf-8")
    failed = FetchedPage(url, error="Connection refused")

    process(store, failed, ruleset, now=now, watch_id=watch.id)  # on demand: schedule kept
    assert store.watch(url).next_check == now and recheck() == 1
    process(store, failed, ruleset, now=now, watch_id=watch.id, reschedule=True)
    after = store.watch(url)  # the second failure in a row: back off 2 minutes
    assert (after.failures, after.next_check, recheck()) == (2, now + 120, 0)
    process(store, ok, ruleset, now=now, watch_id=watch.id, reschedule=True)
    after = store.watch(url)
    assert after.failures == 0 and now + 3240 <= after.next_check <= now + 3960
    assert after.last_status == "first"


FOOTED = """<html><head><title>Summit Clinic</title></head><body>
<main><h1>Ketamine for alcohol use disorder</h1>
<p>Our infusion program pairs low-dose ketamine with counselling, week after week, for adults
with alcohol use disorder who have tried other treatments first.</p>
<blockquote><p>"I have been sober for two years now, thanks to this team." - Marcus T.</p>
</blockquote></main>
<footer><p>{notice}</p><p>Summit Clinic, 12 Pearl Street, Boulder, Colorado. Copyright {year}
Summit Clinic.</p></footer></body></html>"""
NOTICE = "Individual results vary; testimonials are not typical."


def test_a_disclosure_in_the_footer_counts_and_its_removal_is_a_change(site, store, ruleset):
    url = site.url("/summit/")
    site.serve("/summit/", FOOTED.format(notice=NOTICE, year=2025).encode())
    first = run_check(store, ruleset, url)
    assert first.status == "first" and first.findings == []  # the testimonial is disclosed

    # Footer churn that touches no disclosure is no change.
    site.serve("/summit/", FOOTED.format(notice=NOTICE, year=2026).encode())
    assert run_check(store, ruleset, url).status == "unchanged"

    # The disclosure goes; the main text stays the same.
    site.serve("/summit/", FOOTED.format(notice="Call us today.", year=2026).encode())
    gone = run_check(store, ruleset, url)
    assert gone.status == "changed" and not gone.added and not gone.removed
    assert sorted(states(gone)["new"]) == [
        "disclaimer-removed: Individual results vary; testimonials are not typical.",
        'testimonial-without-disclaimer: "I have been sober for two years now, thanks to '
        'this team." - Marcus T.']

    site.serve("/summit/", FOOTED.format(notice=NOTICE, year=2026).encode())
    back = run_check(store, ruleset, url)
    assert back.status == "changed"
    assert sorted(f.split(":")[0] for f in states(back)["resolved"]) == [
        "disclaimer-removed", "testimonial-without-disclaimer"]
