"""Suspect pages: maintenance, challenge, JavaScript shells, empty and collapsed extractions."""

import pytest
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


SITE_SHELL = ("<html><head><title>{title}</title></head><body><header><nav><a href='/'>Home</a>"
              "<a href='/services'>Services</a></nav></header><main>{main}</main><footer><p>"
              "Summit Clinic, 12 Pearl Street, Boulder. Call us to book a consultation today."
              "</p></footer></body></html>")


@pytest.mark.parametrize(("title", "main"), [
    ("Summit Clinic \u2013 Page not found",
     "<h1>Oops! That page can\u2019t be found.</h1><p>It looks like nothing was found at this "
     "location. Maybe try one of the links below?</p>"),
    ("Summit Clinic", "<h1>Sorry, we couldn't find that page</h1><p>The page you requested "
     "does not exist or has moved. Go back to the home page.</p>"),
    ("Log in | Summit Clinic", "<h1>Members area</h1><p>Please log in to view this content. "
     "Username, password, forgot your password?</p>"),
    ("summitclinic.com", "<h1>This domain may be for sale</h1><p>Buy this domain today. "
     "Related searches: ketamine clinic, addiction treatment near me.</p>"),
    ("Account Suspended", "<h1>This account has been suspended.</h1><p>Contact your hosting "
     "provider for more information.</p>"),
])
def test_a_not_found_login_or_parked_page_is_suspect_even_as_a_first_fetch(title, main):
    # With no snapshot to compare with, the shrink test cannot catch it: taken as the page,
    # it would be an empty baseline, and every claim of the real page would come as new.
    got = intrinsic_reason(extract(SITE_SHELL.format(title=title, main=main)))
    assert got is not None and got.startswith("not-found, login or parked page"), got


def test_a_short_real_page_that_mentions_logging_in_is_not_suspect():
    main = ("<h1>Patient portal</h1><p>Current patients can log in to the portal to see "
            "appointment times, complete intake forms and message our nurses about their "
            "ketamine infusion plan.</p>")
    assert intrinsic_reason(extract(SITE_SHELL.format(title="Portal", main=main))) is None
