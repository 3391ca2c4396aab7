"""Suspect pages: maintenance, challenge, JavaScript shells, empty and collapsed extractions."""

from conftest import page

from monitor.extract import extract
from monitor.suspect import intrinsic_reason, relative_reason


def reason(name: str) -> str | None:
    return intrinsic_reason(extract(page(name).decode(), "http://127.0.0.1/x"))


def test_maintenance_page_is_suspect():
    assert "maintenance" in reason("broken/maintenance.html")


def test_access_denied_page_is_suspect():
    assert "access-denied" in reason("broken/access-denied.html")


def test_javascript_shell_is_suspect():
    assert "JavaScript-only" in reason("broken/js-shell.html")


def test_empty_page_is_suspect():
    assert intrinsic_reason(extract("<html><body></body></html>")) == \
        "empty page: no main text extracted"


def test_real_pages_are_not_suspect():
    for name in ("ridgeline/v1.html", "ridgeline/v2.html", "bluepine/v1.html"):
        assert reason(name) is None, name


def test_a_long_article_that_mentions_maintenance_is_not_suspect():
    body = "<p>" + "Maintenance infusions are scheduled every few weeks for lasting relief. " * 40
    assert intrinsic_reason(extract(f"<html><body><article>{body}</p></article></body></html>")) \
        is None


def test_drastic_shrink_against_the_last_good_snapshot_is_suspect():
    doc = extract(page("bluepine/v1.html").decode(), "http://127.0.0.1/x")
    assert relative_reason(doc, previous_words=doc.words * 4) is not None
    assert relative_reason(doc, previous_words=doc.words) is None
    assert relative_reason(doc, previous_words=None) is None
