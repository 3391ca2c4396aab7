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


def test_the_installed_trafilaturas_overall_discard_prune_has_its_python_form():
    # Fails when an upgrade reshapes it: it then goes to trafilatura (slower, not wrong).
    assert prunegate.overall_discard_for(paths(xpaths.OVERALL_DISCARD_XPATH)) is not None


def overall(**changes):
    """OVERALL_DISCARD_XPATH's paths with one text replaced."""
    out = paths(xpaths.OVERALL_DISCARD_XPATH)
    for old, new in changes.values():
        out = tuple(p.replace(old, new) for p in out)
    return out


@pytest.mark.parametrize("changed", [
    {"tag": ("self::span]", "self::span or self::a]")},
    {"test": ("@aria-hidden='true'", "@aria-hidden='true' or @role='note'")},
    {"empty": ("'reader-comments|akismet'", "'reader-comments|akismet|x?'")},
    {"broken": ("'reader-comments|akismet'", "'reader-comments(akismet'")},
])
def test_other_forms_of_the_overall_prune_go_to_trafilatura(changed):
    assert prunegate.overall_discard_for(overall(**changed)) is None


def test_new_tokens_in_the_overall_prune_are_taken_up():
    select = prunegate.overall_discard_for(overall(t=("'^hide-|", "'^hide-|promo-strip|")))
    tree = lxml.html.document_fromstring('<html><body><p class="promo-strip">x</p>'
                                         '<p class="hero">y</p></body></html>')
    assert [el.get("class") for el in select(tree)] == ["promo-strip"]


OVERALL_VALUES = {
    "id": ["cookie-box", "main", "share", "reply-9", "hidden-x", "nav-top", "reader-comments",
           "ad-1", "Hero", ""],
    "class": ["hero", "sidebar", "reply-box", "comments-title", "comments-title x", "tags",
              "card hidden", "btn ad-slot", "widget", "stats", ""],
    "style": ["display:none", "display: none", "color: red", "visibility:hidden"],
    "role": ["Navigation", "main", "nav"],
    "aria-hidden": ["true", "false"],
    "data-component": ["MostPopularStories", "Gallery"],
    "data-lp-replacement-content": [""],
}
OVERALL_TAGS = ["div", "section", "span", "p", "ul", "li", "item", "list", "article", "aside"]


def overall_tree(rng):
    def element(depth):
        names = rng.sample(sorted(OVERALL_VALUES), rng.randint(0, 3))  # in a random order
        attrs = "".join(f' {a}="{rng.choice(OVERALL_VALUES[a])}"' for a in names)
        inner = "".join(element(depth + 1) for _ in range(rng.randint(0, 2) if depth < 3 else 0))
        return f"<{(tag := rng.choice(OVERALL_TAGS))}{attrs}>text{inner}</{tag}>"
    body = "".join(element(0) for _ in range(rng.randint(1, 4)))
    return lxml.html.document_fromstring(f"<html><body>{body}</body></html>")


def test_the_python_form_selects_what_the_overall_xpaths_do_in_their_order():
    nodelist = xpaths.OVERALL_DISCARD_XPATH
    select = prunegate.overall_discard_for(paths(nodelist))
    rng = random.Random(7)
    selected = 0
    for _ in range(600):
        tree = overall_tree(rng)
        expected = [el for x in nodelist for el in x(tree)]
        assert select(tree) == expected, lxml.html.tostring(tree)
        selected += bool(expected)
    assert 100 < selected < 590  # trees it selects in and trees it does not


@pytest.mark.parametrize("markup, selected", [
    ('<div id="cookie" class="hero">', True),  # string(@id|@class): the first in the markup
    ('<div class="hero" id="cookie">', False),
    ('<div style="x" id="hidden-a">', False),
    ('<div id="hidden-a" style="x">', True),
    ('<div class="reply-box" id="a">', True),
    ('<div id="a" class="reply-box">', False),
])
def test_a_union_of_attributes_is_read_as_its_first_in_the_markup(markup, selected):
    tree = lxml.html.document_fromstring(f"<html><body>{markup}x</div></body></html>")
    select = prunegate.overall_discard_for(paths(xpaths.OVERALL_DISCARD_XPATH))
    assert bool(select(tree)) is selected
    assert bool([el for x in xpaths.OVERALL_DISCARD_XPATH for el in x(tree)]) is selected


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
    "sidebar": '<div class="sidebar"><p>Book a free consultation with our intake team '
               'today and ask about our membership plans.</p></div>',
    "hidden": '<div style="display: none"><p>Ketamine is a guaranteed cure for alcoholism, '
              'approved by the FDA for every patient.</p></div>',
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
