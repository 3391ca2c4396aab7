"""Extraction: trafilatura's main text plus the claim widgets it drops, without boilerplate."""

from conftest import page

from monitor.extract import Document, clean_url, extract


def texts(doc):
    return [p.text for p in doc.paragraphs]


def test_counter_widget_keeps_number_and_caption_together():
    doc = extract(page("ridgeline/v2.html").decode(), "http://127.0.0.1/ridgeline/")
    joined = "\n".join(texts(doc))
    assert any(t.startswith("78 % Of our alcohol-use patients") for t in texts(doc)), joined
    assert any(t.startswith("3 x More likely") for t in texts(doc)), joined


def test_nav_footer_sidebar_and_cookie_banner_are_dropped():
    doc = extract(page("ridgeline/v1.html").decode(), "http://127.0.0.1/ridgeline/")
    joined = "\n".join(texts(doc))
    for boilerplate in ("Book a Consultation", "Related articles", "We use cookies",
                        "All rights reserved", "Mon-Fri 8am-6pm", "Is Ketamine Right for You"):
        assert boilerplate not in joined
    assert "off-label use" in joined


def test_testimonial_is_a_quote_paragraph():
    doc = extract(page("ridgeline/v2.html").decode(), "http://127.0.0.1/ridgeline/")
    quotes = [p for p in doc.paragraphs if p.kind == "quote"]
    assert quotes and "sober for nine months" in quotes[0].text


def test_links_are_absolute_and_lose_tracking_parameters():
    html = ("<html><body><article><h1>Study</h1><p>Read the trial "
            "<a href='/study?id=7&utm_source=mail&gclid=x#top'>here</a> for the full results "
            "of the study, which enrolled adults with alcohol use disorder.</p></article>"
            "</body></html>")
    doc = extract(html, "https://clinic.example/blog/")
    links = [link for p in doc.paragraphs for link in p.links]
    assert links == ["https://clinic.example/study?id=7"]
    assert clean_url("HTTPS://X.example/a?b=1&utm_medium=z") == "https://x.example/a?b=1"


def test_empty_and_unparsable_pages_give_an_empty_document():
    assert extract("").paragraphs == ()
    assert extract("   ").paragraphs == ()
    assert extract("\x00\x01 not html").words < 5


def test_noscript_only_page_is_counted_as_such():
    doc = extract(page("broken/js-shell.html").decode())
    assert doc.noscript_words > 0
    assert doc.visible_words == 0


def test_document_round_trips_through_dict():
    doc = extract(page("bluepine/v1.html").decode(), "http://127.0.0.1/bluepine/")
    assert Document.from_dict(doc.to_dict()) == doc


def test_a_word_count_made_in_a_worker_travels_with_the_document():
    import pickle

    doc = extract(page("bluepine/v1.html").decode(), "http://127.0.0.1/bluepine/")
    words = doc.words  # the suspect check counts them in the worker
    arrived = pickle.loads(pickle.dumps(doc))  # as the pool hands it to the writer
    assert vars(arrived).get("words") == words > 100  # counted already, not counted again
    assert arrived == doc


ARTICLE = ("<html><body><article><h1>Ketamine for alcohol use disorder</h1><p>Ketamine is used "
           "at low doses in our clinic, alongside therapy, for adults with alcohol use disorder "
           "who have tried other treatments first.</p>{}<p>Call us today to book a consultation "
           "with our team and learn whether ketamine is right for you.</p></article></body></html>")


def test_a_line_break_separates_words():
    doc = extract(ARTICLE.format("<p>Ketamine<br>cures addiction, and we<br/>guarantee it.</p>"),
                  "http://x/")
    assert "Ketamine cures addiction, and we guarantee it." in texts(doc)
    assert not any("Ketaminecures" in t for t in texts(doc))


def test_a_quote_without_children_is_its_text_once():
    doc = extract(ARTICLE.format("<blockquote>I feel <b>great</b> and I have been sober for a "
                                 "year.</blockquote>"), "http://x/")
    quotes = [p.text for p in doc.paragraphs if p.kind == "quote"]
    assert quotes == ["I feel great and I have been sober for a year."]


def test_a_counter_split_into_two_main_paragraphs_is_kept_whole():
    counter = ('<div class="counter"><div class="num"><span>94</span><span>%</span></div>'
               '<div class="title">Of our patients stay sober after one year of treatment</div>'
               '</div>')
    doc = extract(ARTICLE.format(counter), "http://x/")
    assert "94 % Of our patients stay sober after one year of treatment" in texts(doc)


def test_numbered_steps_are_not_repeated_as_widgets():
    steps = ('<div class="steps"><div class="step"><p>1</p><h4>Assessment</h4><p>Medical history, '
             'current treatments and informed consent.</p></div></div>')
    doc = extract(ARTICLE.format(steps), "http://x/")
    assert not any(t.startswith("1 Assessment") for t in texts(doc)), texts(doc)


FINE_PRINT_PAGE = """<html><body>
<header><nav><a href="/">Home</a> <a href="/faq">Results vary by clinic? Read our FAQ</a>
</nav></header>
<main><h1>Ketamine for alcohol use disorder</h1>
<p>Our infusion program pairs low-dose ketamine with counselling, week after week, for adults
with alcohol use disorder who have tried other treatments.</p></main>
<aside><p>Individual results vary, says our sidebar, which is not fine print.</p></aside>
<aside class="medical-disclaimer"><p>Ketamine is not FDA-approved for addiction treatment.</p>
</aside>
<div class="cookie-banner"><p>We use cookies; individual results vary by browser.</p></div>
<footer><p>Individual results vary. Testimonials are not typical of every patient.</p>
<p>&copy; 2026 Summit Clinic</p></footer>
<div class="site-copyright"><p>This website is not medical advice and offers no diagnosis.</p></div>
</body></html>"""


def test_footer_and_legal_notices_are_kept_apart_as_fine_print():
    doc = extract(FINE_PRINT_PAGE)
    assert doc.fine_print == (
        "Ketamine is not FDA-approved for addiction treatment.",
        "Individual results vary. Testimonials are not typical of every patient.",
        "This website is not medical advice and offers no diagnosis.")
    # A footer is never part of the text compared between versions, nor of what the rules
    # read for claims (what trafilatura keeps of a legal notice elsewhere is its call).
    assert "results vary" not in doc.text.lower()
    assert Document.from_dict(doc.to_dict()) == doc
    assert "fine_print" not in extract(ARTICLE).to_dict()  # old snapshots read the same


def test_fine_print_is_bounded():
    footer = "".join(f"<p>Notice number {i} of the legal department applies here.</p>"
                     for i in range(1000))
    doc = extract(f"<html><body><main><p>{'Ketamine clinic text. ' * 30}</p></main>"
                  f"<footer>{footer}</footer></body></html>")
    assert 0 < sum(len(t) for t in doc.fine_print) <= 4000


def test_boilerplate_is_told_by_tag_and_attributes_and_large_attributes_are_not_cached():
    import lxml.html

    from monitor.extract import _boilerplate, _is_boilerplate

    hidden = "display:none;background:url(data:image/png;base64," + "A" * 5000 + ")"
    html = ("<html><body><div class='promo'>95% stay sober</div>"
            f"<div style='{hidden}'>hidden</div><div class='site-footer'>Copyright</div>"
            "<div class='promo'>again</div><div style='display:none'>hidden too</div>"
            "</body></html>")
    promo, large, footer, promo_again, small = lxml.html.fromstring(html).iter("div")
    _boilerplate.cache_clear()
    verdicts = [_is_boilerplate(el) for el in (promo, large, footer, promo_again, small)]
    assert verdicts == [False, True, True, False, True]
    info = _boilerplate.cache_info()
    assert info.hits == 1  # the second promo
    assert info.currsize == 3  # promo, footer, the short hidden style; not the 5 KB one


def test_trafilatura_is_spared_only_the_elements_it_deletes_itself():
    """Menus, footers and form controls are removed before trafilatura copies the tree: only
    tags it deletes with all they hold, whatever their size (a trafilatura that stopped
    deleting one of them would keep text we now take away from it)."""
    from trafilatura.settings import MANUALLY_CLEANED

    from monitor.extract import _CHROME_TAGS, _main_paragraphs, _parse

    assert set(_CHROME_TAGS) <= set(MANUALLY_CLEANED)
    for name in ("ridgeline/v1.html", "ridgeline/v2.html", "bluepine/v1.html",
                 "bluepine/v3.html"):
        html = page(name).decode()
        whole = _main_paragraphs(_parse(html), "http://127.0.0.1/")
        doc = extract(html, "http://127.0.0.1/")
        assert len(whole) > 3
        assert doc.paragraphs[:len(whole)] == tuple(whole), name


def test_a_form_wrapping_the_page_and_an_article_header_keep_their_claims():
    """ASP.NET puts the whole page in one <form>, and articles head themselves with <header>:
    trafilatura keeps both, so neither is removed before it reads the page."""
    body = ("<header><h1>85% of our patients stay sober after ketamine therapy</h1></header>"
            + "<p>Our clinic offers infusions for alcohol and opioid use disorder. </p>" * 4)
    html = (f"<html><body><form id='aspnetForm' action='/'><nav><a href='/'>Home</a></nav>"
            f"<article>{body}</article><input type='hidden' name='__VIEWSTATE' value='x'>"
            f"<footer><p>Ketamine is not FDA-approved for addiction.</p></footer>"
            f"</form></body></html>")
    doc = extract(html)
    assert "85% of our patients stay sober" in doc.text
    assert "infusions for alcohol" in doc.text
    assert "Home" not in doc.text
    assert doc.fine_print == ("Ketamine is not FDA-approved for addiction.",)


def test_a_widget_rendered_twice_is_one_paragraph_with_its_kind_and_links():
    # trafilatura leaves such a card out of the main text; the widget pass brings it back.
    card = ('<div class="review-card"><div class="stars">5</div><span>I stayed sober for a '
            'year after my infusions here, and I recommend them to anyone.</span> <a '
            'href="/stories/jo?utm_source=ad">Read her story</a></div>')
    # Responsive layouts render a widget once for wide screens and once for narrow ones.
    doc = extract(ARTICLE.format(f'<div class="d-none d-md-block">{card}</div>'
                                 f'<div class="d-md-none">{card}</div>'), "http://x/")
    cards = [p for p in doc.paragraphs if p.text.startswith("I stayed sober")]
    assert len(cards) == 1, texts(doc)
    assert cards[0].kind == "quote"
    assert cards[0].links == ("http://x/stories/jo",)


def test_main_text_that_holds_a_bare_figure_is_not_repeated_as_a_widget():
    # trafilatura splits the counter, keeping "94 %" alone; the prose paragraph that states
    # the same figure is main text all the same and must appear once.
    counter = ('<div class="counter"><div class="num"><span>94</span><span>%</span></div>'
               '<div class="title">Of our patients stay sober after one year of treatment</div>'
               '</div><p>In our own survey, 94% of patients said their cravings had eased.</p>')
    doc = extract(ARTICLE.format(counter), "http://x/")
    survey = [t for t in texts(doc) if t.startswith("In our own survey")]
    assert len(survey) == 1, texts(doc)
