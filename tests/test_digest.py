"""Rendering a digest: grouped by severity, page text escaped, sized to a target's limit."""

import re

from conftest import SCRIPT_PAGE, page, record

from monitor.digest import render
from monitor.markup import highlight_html, highlight_text, split_around

URL = "http://127.0.0.1:1/ridgeline/"


def digest_payload(store, ruleset):
    record(store, ruleset, URL, page("ridgeline/v1.html"))
    record(store, ruleset, URL, page("ridgeline/v2.html"))
    third = record(store, ruleset, URL, page("ridgeline/v3.html"))
    return store.outbox_row(third.queued[0]).payload


def test_text_digest_is_grouped_by_severity_with_everything_a_reviewer_needs(store, ruleset):
    payload = digest_payload(store, ruleset)
    out = render(payload, ref="cw-7", html=False)
    assert out.title.startswith("[claimwatch] 2 new claims (2 high), 3 claims resolved on ")
    body = out.body
    assert body.index("== HIGH (2) ==") < body.index("== RESOLVED (3) ==")
    assert URL in body and payload["title"] in body
    new = [f for f in payload["findings"] if f["state"] == "new"]
    for f in new:
        assert f'"{f["text"]}"' in body and f["message"] in body and f["link"] in body
    assert 'Removed: "Disclaimer: This page is for educational purposes only' in body
    assert "It was in: »Disclaimer: This page is for educational purposes only" in body
    assert 'Claim: "At the doses we use, ketamine infusions are completely safe' in body
    assert "First seen: " in body and " UTC" in body
    ids = " ".join(str(f["id"]) for f in sorted(new, key=lambda f: f["id"]))
    assert f"Acknowledge: claimwatch alerts ack {ids}" in body
    assert body.rstrip().endswith("claimwatch message cw-7")
    assert out.shown == out.total == 5 and not out.truncated


def test_html_digest_escapes_page_text(store, ruleset):
    result = record(store, ruleset, URL, SCRIPT_PAGE.read_bytes())
    payload = store.outbox_row(result.queued[0]).payload
    html = render(payload, ref="cw-1", html=True).body
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;pwned&quot;)" in html
    assert "<b>Clinic" not in html  # the page title is page text too
    assert re.search(r"<mark[^>]*>92% of our patients stay sober &lt;script&gt;", html)
    title = render(payload, ref="cw-1", html=True).title
    assert "<" not in title and ">" not in title


def test_a_small_limit_drops_context_then_findings_and_says_so(store, ruleset):
    payload = digest_payload(store, ruleset)
    full = render(payload, ref="cw-1", html=False)
    tight = render(payload, ref="cw-1", html=False, limit=len(full.body) - 50)
    assert len(tight.body) <= len(full.body) - 50
    assert tight.shown == tight.total and "Context:" not in tight.body  # contexts went first
    small = render(payload, ref="cw-1", html=False, limit=900)
    assert len(small.body) <= 900 and 0 < small.shown < small.total and small.truncated
    assert f"{small.total - small.shown} more finding(s) not shown" in small.body
    assert "limit of 900 characters" in small.body
    assert "== HIGH" in small.body  # the most severe are kept
    for html in (True, False):
        tiny = render(payload, ref="cw-1", html=html, limit=120)
        assert len(tiny.body) <= 120


def test_limit_is_measured_after_conversion(store, ruleset):
    payload = digest_payload(store, ruleset)
    doubled = render(payload, ref="cw-1", html=False, limit=3000,
                     measure=lambda body: 2 * len(body))
    assert 2 * len(doubled.body) <= 3000


def test_highlighting_finds_the_sentence_case_insensitively_and_cuts_at_words():
    paragraph = ("We opened in 2019. Our clinic is proud that 85% of patients stay sober. "
                 "Call today to book a visit with our friendly team of nurses.")
    assert highlight_text(paragraph, "our clinic is proud that 85% of patients stay sober.") == (
        "We opened in 2019. »Our clinic is proud that 85% of patients stay sober.« Call today "
        "to book a visit with our friendly team of nurses.")
    before, claim, after = split_around(paragraph, "85% of patients stay sober.", width=20)
    assert before.startswith("…") and after.endswith("…") and claim.startswith("85%")
    assert len(before) <= 21 and len(after) <= 21
    assert highlight_html("a <b> & c", "<b>") == (
        'a <mark style="background:#ffe58f">&lt;b&gt;</mark> &amp; c')
    assert highlight_text("no claim here", "missing") == "no claim here"
