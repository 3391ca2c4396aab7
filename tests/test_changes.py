"""Change semantics through the real crawl: alert on what a page adds, resolve what it drops,
ignore the rest; evidence, history and diff."""

import hashlib
import json

from conftest import RULES, page, run_check, states
from test_cli import claimwatch

from monitor.rules import parse_rules

BLUE = "/bluepine/"
RIDGE = "/ridgeline/"


def not_ongoing(result):
    return [f for f in result.findings if f.state != "ongoing"]


def test_reorder_nav_sidebar_footer_and_date_changes_produce_nothing(site, store, ruleset):
    site.serve(BLUE, page("bluepine/v2.html"))
    run_check(store, ruleset, site.url(BLUE))
    site.serve(BLUE, page("bluepine/v3.html"))  # reordered, new nav item, sidebar, footer, date
    result = run_check(store, ruleset, site.url(BLUE))
    assert not_ongoing(result) == []


def test_tracking_parameters_in_links_are_not_a_change(site, store, ruleset):
    html = page("bluepine/v1.html").decode().replace(
        "A smaller study reported", 'A <a href="/study?utm_source=a">smaller study</a> reported')
    site.serve(BLUE, html)
    run_check(store, ruleset, site.url(BLUE))
    site.serve(BLUE, html.replace("utm_source=a", "utm_source=b&fbclid=123"))
    assert run_check(store, ruleset, site.url(BLUE)).status == "unchanged"


def _claim_page(sentence: str) -> str:
    return page("ridgeline/v1.html").decode().replace(
        "A six-infusion series is $2,700.", f"A six-infusion series is $2,700. {sentence}")


def test_material_rewording_is_new_cosmetic_rewording_is_not(site, store, ruleset):
    site.serve(RIDGE, _claim_page("Over 80% of our patients stay sober for a year."))
    run_check(store, ruleset, site.url(RIDGE))

    site.serve(RIDGE, _claim_page("Over 80 %  of our patients stay SOBER for a year!"))
    assert not_ongoing(run_check(store, ruleset, site.url(RIDGE))) == []

    site.serve(RIDGE, _claim_page("Over 80% of our patients stay sober for a full year."))
    assert not_ongoing(run_check(store, ruleset, site.url(RIDGE))) == []

    site.serve(RIDGE, _claim_page("Over 90% of our patients stay sober for a full year."))
    got = states(run_check(store, ruleset, site.url(RIDGE)))
    assert got["new"] == ["unsourced-outcome-claim: Over 90% of our patients stay sober for a "
                          "full year."]
    assert len(got["resolved"]) == 1 and "80%" in got["resolved"][0]


def test_disclaimer_removed_not_raised_by_a_suspect_page(site, store, ruleset):
    site.serve(BLUE, page("bluepine/v1.html"))
    run_check(store, ruleset, site.url(BLUE))
    site.serve(BLUE, page("broken/maintenance.html"))
    assert run_check(store, ruleset, site.url(BLUE)).status == "suspect"
    assert store.findings() == []


def test_rules_change_rebaselines_instead_of_alerting(site, store, ruleset):
    site.serve(RIDGE, page("ridgeline/v2.html"))
    first = run_check(store, ruleset, site.url(RIDGE))
    fda = [f for f in first.findings if f.category == "regulatory-misstatement"]
    assert fda
    # New rules: the FDA rule is switched off, and an (odd) new rule finds the supervision line.
    edited_text = RULES.read_text().replace(
        "  - id: fda-approval-claim\n", "  - id: fda-approval-claim\n    enabled: false\n"
    ).replace("rules:\n  # ----", """rules:
  - id: anesthesiologist
    category: unsupported-efficacy-claim
    severity: low
    message: test rule
    link: https://www.ftc.gov/
    patterns: ['board-certified anesthesiologist']
    examples:
      match: ["A board-certified anesthesiologist is present."]
  # ----""", 1)
    edited = parse_rules(edited_text, "edited-rules.yaml")

    again = run_check(store, edited, site.url(RIDGE))  # page unchanged (304)
    assert again.status == "unchanged"
    assert not [f for f in again.findings if f.state == "new"]
    found = {f.rule: f for f in store.findings()}
    assert found["anesthesiologist"].origin == "baseline"
    assert found["fda-approval-claim"].resolved_reason == "rules changed"


def test_rules_apply_reevaluates_every_page_now(site, store, ruleset, tmp_path):
    site.serve(RIDGE, page("ridgeline/v2.html"))
    run_check(store, ruleset, site.url(RIDGE))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text().replace(
        "  - id: fda-approval-claim\n", "  - id: fda-approval-claim\n    enabled: false\n"))
    run = claimwatch("rules", "apply", "--state", str(store.path.parent), "--rules", str(rules))
    assert run.returncode == 0, run.stderr
    assert "1 page(s) re-evaluated: 0 baseline, 1 resolved" in run.stdout
    [fda] = [f for f in store.findings() if f.rule == "fda-approval-claim"]
    assert fda.resolved_at is not None


def test_a_rules_change_is_applied_a_slice_at_a_time(site, store, ruleset):
    from monitor.check import reevaluate_all

    paths = [f"/slice{i}/" for i in range(3)]
    for path in paths:
        site.serve(path, page("ridgeline/v2.html"))
        run_check(store, ruleset, site.url(path))
    edited = parse_rules(RULES.read_text().replace(
        "  - id: fda-approval-claim\n", "  - id: fda-approval-claim\n    enabled: false\n"),
        "edited-rules.yaml")
    # A deadline already past: one page per call, and each call says whether more remain.
    slices = [reevaluate_all(store, edited, until=0.0) for _ in paths]
    assert [(c["pages"], c["more"]) for c in slices] == [(1, 1), (1, 1), (1, 0)]
    assert reevaluate_all(store, edited)["pages"] == 0
    fda = [f for f in store.findings() if f.rule == "fda-approval-claim"]
    assert len(fda) == 3 and all(f.resolved_reason == "rules changed" for f in fda)


def test_evidence_export_writes_the_page_as_warc(site, store, ruleset, tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    body = page("ridgeline/v2.html")
    site.serve(RIDGE, body)
    result = run_check(store, ruleset, site.url(RIDGE))
    finding = result.findings[0]
    out = tmp_path / "evidence.warc.gz"
    run = claimwatch("evidence", "export", str(finding.id), "--out", str(out),
                     "--state", str(store.path.parent))
    assert run.returncode == 0, run.stderr
    with out.open("rb") as fh:
        records = {r.rec_type: (r, r.content_stream().read()) for r in ArchiveIterator(fh)}
    assert set(records) == {"warcinfo", "request", "response", "metadata"}
    response, payload = records["response"]
    assert payload == body
    assert response.rec_headers.get_header("WARC-Target-URI") == site.url(RIDGE)
    assert response.http_headers.get_statuscode() == "200"
    assert hashlib.sha256(payload).hexdigest() in response.rec_headers.get_header(
        "WARC-Payload-Digest")
    meta = json.loads(records["metadata"][1])
    assert meta["finding"] == finding.id and meta["text"] == finding.text

    missing = claimwatch("evidence", "export", "9999", "--out", str(out),
                         "--state", str(store.path.parent))
    assert missing.returncode == 2 and "no finding #9999" in missing.stderr


def test_history_and_diff(site, store, ruleset):
    url = site.url(RIDGE)
    for version in ("v1", "v2"):
        site.serve(RIDGE, page(f"ridgeline/{version}.html"))
        run_check(store, ruleset, url)
    site.fault(RIDGE, "500")
    run_check(store, ruleset, url, RETRY_TIMES=0)
    state = str(store.path.parent)

    run = claimwatch("history", url, "--state", state, "--json")
    assert run.returncode == 0, run.stderr
    entries = json.loads(run.stdout)
    assert [e["outcome"] for e in entries] == ["snapshot", "snapshot", "error"]
    assert any("FDA-cleared" in s for s in entries[1]["added"])
    assert {f["category"] for f in entries[1]["opened"]} >= {"regulatory-misstatement"}
    assert entries[2]["note"] == "HTTP 500"

    text = claimwatch("diff", url, "--state", state)
    assert text.returncode == 0
    assert any(line.startswith("+ Our FDA-cleared infusion protocol")
               for line in text.stdout.splitlines())
    bad = claimwatch("diff", url, "--state", state, "--from", "999")
    assert bad.returncode == 2 and "snapshot 999 is not a snapshot" in bad.stderr


def test_a_near_duplicate_claim_inserted_before_its_twin_is_just_new(site, store, ruleset):
    """Regression: the near match took the open finding of the sentence still on the page,
    which then came back as new and broke the unique index (the page failed forever)."""
    original = "The FDA has approved ketamine for opioid addiction treatment."
    site.serve(RIDGE, _claim_page(original))
    run_check(store, ruleset, site.url(RIDGE))
    site.serve(RIDGE, _claim_page("The FDA has approved ketamine for addiction treatment. "
                                  + original))
    got = states(run_check(store, ruleset, site.url(RIDGE)))
    assert got["new"] == ["regulatory-misstatement: The FDA has approved ketamine for "
                          "addiction treatment."]
    assert "resolved" not in got
