"""The gate on trafilatura's attribute prunes: skips only what could not select anything."""

import random

import lxml.html
import pytest
from trafilatura import core, htmlprocessing, main_extractor, xpaths

from monitor import prunegate
from monitor.extract import _trafilatura, extract

GATED = ("RAW_TREE_PRUNE_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH", "REMOVE_COMMENTS_XPATH")


def paths(nodelist):
    return tuple(x.path for x in nodelist)


@pytest.mark.parametrize("name", GATED)
def test_the_installed_trafilaturas_raw_prunes_are_gated(name):
    # Fails when an upgrade reshapes them: the gate then lets them through (slower, not wrong).
    assert prunegate.gate_for(paths(getattr(xpaths, name))) is not None


@pytest.mark.parametrize("path", [
    ".//*[self::div][re:test(@id, 'comment')] | .//aside",  # a union selects more
    ".//*[self::div][re:test(@id, 'x?')]",  # passes on elements without an id
    ".//*[self::div][re:test(@class, '\\Acomment')]",  # only the first value would be tried
    ".//*[self::div][re:test(@class, 'comment(?!\\s)')]",  # looks past the value
    ".//*[self::div][re:test(@id, 'x') or contains(@class, '')]",
    ".//*[self::div][re:test(@id, 'comment') or @role='note']",
    ".//div[re:test(@id, 'comment')]",
])
def test_other_shapes_are_not_gated(path):
    assert prunegate.gate_for((path,)) is None


def test_white_space_inside_a_pattern_is_kept():
    gate = prunegate.gate_for((".//*[self::div][\n  re:test(@class, '^article  body')]",))
    two = lxml.html.document_fromstring('<html><body><div class="article  body">x</div></body>'
                                        "</html>")
    one = lxml.html.document_fromstring('<html><body><div class="article body">x</div></body>'
                                        "</html>")
    assert gate(two) and not gate(one)


@pytest.mark.parametrize("name", ["OVERALL_DISCARD_XPATH", "DISCARD_IMAGE_ELEMENTS"])
def test_prunes_of_other_shapes_or_without_callbacks_are_not_gated(name):
    # DISCARD_IMAGE_ELEMENTS only uses contains(), which libxml2 evaluates faster than the
    # attribute values can be collected.
    assert prunegate.gate_for(paths(getattr(xpaths, name))) is None


VALUES = ["comments", "Comment-list", "commentary", "xcomment", "post-comments", "comol",
          "disqus_thread", "infinite-scroll", "infinitescroll", "infinite_scroll",
          "mvp-post-add-box", "elementor-share-buttons", "elementor-share", "caption",
          "wp-caption-text", "hero", "stats", "a\ncomment", "comment\nb", ""]
TAGS = ["div", "section", "aside", "ol", "ul", "p", "span", "details"]


def random_tree(rng):
    parts = []
    for _ in range(rng.randint(1, 4)):
        attrs = "".join(f' {a}="{rng.choice(VALUES)}"' for a in ("id", "class")
                        if rng.random() < 0.5)
        parts.append(f"<{(tag := rng.choice(TAGS))}{attrs}><p>text</p></{tag}>")
    return lxml.html.document_fromstring(f"<html><body>{''.join(parts)}</body></html>")


@pytest.mark.parametrize("name", GATED)
def test_the_gate_passes_every_tree_the_xpaths_select_in(name):
    nodelist = getattr(xpaths, name)
    gate = prunegate.gate_for(paths(nodelist))
    rng = random.Random(name)
    outcomes = set()
    for _ in range(400):
        tree = random_tree(rng)
        selects = any(x(tree) for x in nodelist)
        passes = gate(tree)
        assert passes or not selects, lxml.html.tostring(tree)
        outcomes.add((selects, passes))
    assert (False, False) in outcomes and (True, True) in outcomes  # it skips, and it lets by


PAGE = """<html><head><title>Ridgeline Recovery</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<main><article><h1>Ketamine-assisted therapy for alcohol use disorder</h1>
<p>Our program pairs ketamine sessions with counselling over six weeks, under the care of a
licensed physician who reviews your history before the first session begins.</p>
<p>Ketamine is not FDA-approved for alcohol use disorder; this is an off-label use that your
physician will explain, together with its risks, before you decide.</p>
{extra}
</article></main><footer>All rights reserved</footer></body></html>"""

EXTRAS = {
    "comments": '<div id="comments"><p>Great clinic, they cured me in one visit, best ever, '
                'highly recommended to anyone who struggles with drinking.</p></div>',
    "post-comments": '<section class="post-comments"><p>Best decision of my life, I have been '
                     'sober since the very first infusion and never looked back.</p></section>',
    "infinite-scroll": '<div class="infinite-scroll"><h2>Next article</h2><p>Another article '
                       'about detox programs and what to expect in the first week.</p></div>',
    "share": '<div class="elementor-share-buttons"><p>Share this on Facebook, Twitter and '
             'LinkedIn with your friends and family today.</p></div>',
    "none": "",
}


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_extraction_is_the_same_with_and_without_the_gate(extra, monkeypatch):
    html = PAGE.format(extra=EXTRAS[extra])
    _trafilatura()  # installs the gate
    assert core.prune_unwanted_nodes is not htmlprocessing.prune_unwanted_nodes
    gated = extract(html, "https://clinic.example/")
    for module in (core, main_extractor):
        monkeypatch.setattr(module, "prune_unwanted_nodes", htmlprocessing.prune_unwanted_nodes)
    assert extract(html, "https://clinic.example/") == gated
    assert "off-label use" in gated.text
