"""The reviewer workflow and the HTML report, on a real state database."""

import re

import pytest
from conftest import SCRIPT_PAGE, page, record

from monitor.errors import InputError
from monitor.report import build_report
from monitor.review import ack, list_alerts, mute, show, state_of, unmute

URL = "http://127.0.0.1:1/ridgeline/"
OTHER = "http://127.0.0.1:2/evil/"


@pytest.fixture
def reviewed(store, ruleset):
    """A page that changed twice (new, ongoing and resolved findings) and one baseline page."""
    record(store, ruleset, URL, page("ridgeline/v1.html"), now=1000.0)
    record(store, ruleset, URL, page("ridgeline/v2.html"), now=2000.0)
    record(store, ruleset, URL, page("ridgeline/v3.html"), now=3000.0)
    record(store, ruleset, OTHER, SCRIPT_PAGE.read_bytes(), now=4000.0)
    return store


def ids(items):
    return [i.finding.id for i in items]


def test_statuses_partition_the_findings(reviewed):
    everything = list_alerts(reviewed, "all")
    open_ = list_alerts(reviewed, "open")
    resolved = list_alerts(reviewed, "resolved")
    assert sorted(ids(open_) + ids(resolved)) == ids(everything)
    assert all(i.finding.resolved_at is None for i in open_)
    assert {state_of(i) for i in resolved} == {"resolved"}
    with pytest.raises(InputError, match="allowed: open, acked, resolved, all"):
        list_alerts(reviewed, "closed")


def test_ack_is_all_or_nothing_and_moves_findings_out_of_open(reviewed):
    first, second = ids(list_alerts(reviewed, "open"))[:2]
    with pytest.raises(InputError, match="no finding with id 999; nothing acknowledged"):
        ack(reviewed, [first, 999], note="x", now=5000.0)
    assert list_alerts(reviewed, "acked") == []
    assert ack(reviewed, [first, second], note="seen by QA", now=5000.0) == []
    acked = list_alerts(reviewed, "acked")
    assert ids(acked) == [first, second] and acked[0].finding.ack_note == "seen by QA"
    assert first not in ids(list_alerts(reviewed, "open"))
    assert ack(reviewed, [first], note=None, now=6000.0) == [first]  # already: time kept
    assert list_alerts(reviewed, "acked")[0].finding.acked_at == 5000.0


def test_mute_hides_a_rule_on_one_page_until_unmuted(reviewed):
    before = list_alerts(reviewed, "open")
    rule = next(i.finding.rule for i in before if i.url == OTHER)
    with pytest.raises(InputError, match="not a watched page"):
        mute(reviewed, "http://127.0.0.1:3/never-checked/", rule, note=None, now=1.0)
    assert mute(reviewed, OTHER, rule, note="quoted from a study", now=1.0) is True
    assert mute(reviewed, OTHER, rule, note=None, now=2.0) is False
    after = list_alerts(reviewed, "open")
    assert [i for i in after if i.url == OTHER and i.finding.rule == rule] == []
    assert any(i.url == URL and i.finding.rule == rule for i in after)  # other pages unaffected
    muted = [i for i in list_alerts(reviewed, "open", include_muted=True) if i.muted]
    assert muted and {state_of(i) for i in muted} == {"muted"}
    assert unmute(reviewed, OTHER, rule) is True
    assert ids(list_alerts(reviewed, "open")) == ids(before)


def test_show_gives_the_diff_that_introduced_a_finding_and_its_evidence(reviewed):
    item = next(i for i in list_alerts(reviewed, "open") if "completely safe" in i.finding.text)
    detail = show(reviewed, item.finding.id)
    assert not detail.introduction.baseline
    added = [line for line in detail.introduction.lines if line.startswith("+ ")]
    assert any("completely safe" in line for line in added)
    assert len(detail.introduction.lines) <= 7  # cut to the lines around the claim
    assert detail.evidence is not None and detail.evidence.body == page("ridgeline/v3.html")
    assert [row.kind for row, _ in detail.notifications] == ["findings"]
    baseline = next(i for i in list_alerts(reviewed, "open") if i.url == OTHER)
    assert show(reviewed, baseline.finding.id).introduction.baseline
    with pytest.raises(InputError, match="no finding with id 12345"):
        show(reviewed, 12345)


def test_report_groups_by_site_and_page_escapes_and_shows_the_diff(reviewed):
    rule = next(i.finding.rule for i in list_alerts(reviewed, "open") if i.url == URL)
    html = build_report(reviewed, now=9000.0)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for outside in ("<script", "src=", "<link", "@import", "url("):  # self-contained
        assert outside not in html
    assert html.index("<h2>127.0.0.1:1</h2>") < html.index("<h2>127.0.0.1:2</h2>")
    assert "&lt;script&gt;alert(&quot;pwned&quot;)" in html
    assert re.search(r"<mark>[^<]*completely safe", html)
    assert re.search(r'<span class="add">\+ [^<]*completely safe', html)
    assert "On the page since it was first checked" in html  # the baseline page
    resolved = list_alerts(reviewed, "resolved")
    assert resolved and all(f'id="finding-{i.finding.id}"' not in html for i in resolved)
    mute(reviewed, URL, rule, note=None, now=1.0)
    assert f'({rule})' not in build_report(reviewed, now=9000.0).split("127.0.0.1:2")[0]
