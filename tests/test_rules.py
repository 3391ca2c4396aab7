"""rules.yaml: validation with precise errors, vetoes, kinds, and time bounds."""

import dataclasses
import time
from pathlib import Path

import pytest

from monitor.extract import extract
from monitor.page import document_from_text
from monitor.patterns import Budget, Pattern, plain_ascii
from monitor.rules import (
    RulesInvalid,
    ValidationApart,
    load_rules,
    load_rules_apart,
    parse_rules,
    validation_key,
)
from monitor.text import MAX_SENTENCE

RULES_FILE = Path(__file__).resolve().parent.parent / "rules.yaml"

BASE = """
version: 1
lexicons:
  negation: [not, "no", never]
  terminators:
    boundaries: false
    terms: ['\\bbut\\b', ';']
  hedge: [may, might, suggest]
  citation:
    boundaries: false
    terms: ['\\bet al\\b', '\\((?:19|20)\\d{2}\\)']
  citation_link:
    boundaries: false
    terms: ['doi\\.org/']
disclaimers:
  off-label:
    patterns: ['\\boff[- ]label\\b']
rules:
  - id: cure
    category: cure-or-guarantee
    severity: high
    message: "Claims a cure: {match}"
    link: https://www.ftc.gov/
    patterns: ['\\bcure[sd]?\\b']
    veto: {negation: true, hedge: clause, citation: paragraph}
    examples:
      match: ["Ketamine cures addiction."]
      nomatch: ["Ketamine is not a cure."]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RulesInvalid) as info:
        parse_rules(text, "r.yaml")
    return [str(p) for p in info.value.problems]


def test_the_project_rules_file_is_valid_and_covers_every_category(ruleset):
    from monitor.rules import CATEGORIES

    assert {r.category for r in ruleset.rules} == set(CATEGORIES)
    assert all(r.link.startswith("https://") and r.examples.get("match") for r in ruleset.rules)


def _patterns_in(obj, depth=0):
    """Every Pattern an object of the rules holds, through dataclasses, lists and dicts."""
    if isinstance(obj, Pattern):
        yield obj
    elif depth < 4 and isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _patterns_in(item, depth + 1)
    elif depth < 4 and isinstance(obj, dict):
        for item in obj.values():
            yield from _patterns_in(item, depth + 1)
    elif depth < 4 and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _patterns_in(getattr(obj, f.name), depth + 1)


def test_an_expression_that_several_rules_use_is_one_compiled_pattern(ruleset):
    # {results_vary}, {clinician} and other lexicons are used alone by several rules: one
    # Pattern each, so one compiled form, one prefilter and one automaton cache per process.
    made = {id(p) for p in ruleset.patterns}
    assert len({p.expanded for p in ruleset.patterns}) == len(ruleset.patterns)
    held = [p for rule in ruleset.rules for p in _patterns_in(rule)]
    assert held and all(id(p) in made for p in held)
    assert sum(p.source == "{results_vary}" for p in held) > len(
        {id(p) for p in held if p.source == "{results_vary}"}) == 1


def test_the_daemons_own_process_does_not_load_re2():
    import subprocess
    import sys

    code = ("import sys, monitor.cli, monitor.daemon, monitor.check\n"
            "from monitor.rules import parse_rules, read_rules\n"
            f"parse_rules(read_rules({str(RULES_FILE)!r}), trusted=True)\n"
            "print('re2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"


def test_every_pattern_of_the_project_rules_has_a_prefilter(ruleset):
    """A pattern RE2 cannot take loses its prefilter silently and is scanned by the
    backtracking engine on every page: the shipped rules must not have one."""
    assert [p.source for p in ruleset.patterns if p.prefilter is None] == []


def test_base_fixture_is_valid():
    assert [r.id for r in parse_rules(BASE).rules] == ["cure"]


@pytest.mark.parametrize(("edit", "expected"), [
    (("    severity: high\n", "    severity: high\n    colour: red\n"),
     "r.yaml:22: rule 'cure': field 'colour': unknown key 'colour'"),
    (("patterns: ['\\bcure[sd]?\\b']", "patterns: ['\\bcure[sd?\\b']"),
     "r.yaml:24: rule 'cure': field 'patterns': bad regex"),
    (("    message: \"Claims a cure: {match}\"\n", ""),
     "r.yaml:19: rule 'cure': field 'message': is required"),
    (("nomatch: [\"Ketamine is not a cure.\"]", "nomatch: [\"Ketamine cures all.\"]"),
     "r.yaml:28: rule 'cure': field 'examples.nomatch': example matches: 'Ketamine cures all.'"),
    (("category: cure-or-guarantee", "category: cures"),
     "r.yaml:20: rule 'cure': field 'category': unknown category 'cures'"),
    (("patterns: ['\\bcure[sd]?\\b']", "patterns: ['{nosuch}']"),
     "r.yaml:24: rule 'cure': field 'patterns': unknown lexicon {nosuch}"),
    (("veto: {negation: true", "veto: {negate: true"),
     "r.yaml:25: rule 'cure': field 'veto.negate': unknown veto 'negate'"),
    (("  - id: cure\n", "  - id: Cure Rule\n"), "r.yaml:19: field 'id': 'id' is required"),
])
def test_validation_errors_name_file_line_rule_and_field(edit, expected):
    old, new = edit
    assert old in BASE
    found = problems(BASE.replace(old, new))
    assert any(expected in p for p in found), found


def test_yaml_syntax_error_names_the_line():
    found = problems(BASE.replace("  - id: cure\n", "  - id: [cure\n"))
    assert found[0].startswith("r.yaml:") and "not valid YAML" in found[0]


def test_unquoted_yaml_boolean_in_a_lexicon_is_reported_with_its_line():
    found = problems(BASE.replace('negation: [not, "no", never]', "negation: [not, no, never]"))
    assert found == ["r.yaml:4: field 'lexicons.negation': term 2 (False) is not text: quote it"]


def test_every_problem_is_reported_not_just_the_first():
    broken = BASE.replace("severity: high", "severity: extreme").replace(
        "category: cure-or-guarantee", "category: nope")
    assert len(problems(broken)) == 2


def test_load_rules_on_a_missing_file_is_one_line(tmp_path: Path):
    with pytest.raises(RulesInvalid) as info:
        load_rules(tmp_path / "absent.yaml")
    assert "absent.yaml: cannot read" in str(info.value)


def fired(rules_text: str, page: str) -> list[str]:
    ruleset = parse_rules(rules_text, run_examples=False)
    return [f.text for f in ruleset.evaluate(document_from_text(page)).findings]


@pytest.mark.parametrize(("page", "expected"), [
    ("Ketamine cures addiction.", ["Ketamine cures addiction."]),
    ("Ketamine is not a cure.", []),                                  # pre-negation
    ("No one should call ketamine a cure.", []),                      # cue within 6 words
    ("It is not cheap, but it cures cravings.", ["It is not cheap, but it cures cravings."]),
    ("Ketamine may cure cravings.", []),                              # hedge in the clause
    ("Ketamine cures addiction (2021).", []),                         # citation in paragraph
    ("Ketamine cures addiction. See [the trial](https://doi.org/10.1/x).", []),  # citation link
    ("Can ketamine cure addiction?", []),                             # FAQ question
])
def test_vetoes(page, expected):
    assert fired(BASE, page) == expected


def test_negation_reaches_only_its_window():
    far = "Not everyone who walks through our doors on a busy morning knows that ketamine cures."
    assert fired(BASE, far) == [far]


POST = BASE.replace('  negation: [not, "no", never]\n',
                    '  negation: [not, "no", never]\n  negation_post: ["is a myth"]\n')


@pytest.mark.parametrize(("page", "expected"), [
    ("Curing addiction is a myth.", []),                      # cue right after the match
    ("Curing addiction overnight is a myth.", []),            # cue starts in the window
    ("Ketamine cures cravings for many people in our clinic, and that is a myth to some.",
     ["Ketamine cures cravings for many people in our clinic, and that is a myth to some."]),
])
def test_post_negation_cue_counts_when_it_starts_within_the_window(page, expected):
    assert fired(POST, page) == expected


POST_VERBS = BASE.replace('  negation: [not, "no", never]\n',
                          '  negation: [not, "no", never]\n'
                          '  negation_post: ["does not", "don\'t"]\n')


@pytest.mark.parametrize(("page", "expected"), [
    ("A cure that does not exist.", ["A cure that does not exist."]),
    ("Cures cravings or you don't pay.", ["Cures cravings or you don't pay."]),
    ("Cures cravings, so we don't charge for it.", ["Cures cravings, so we don't charge for it."]),
    ("A cure does not exist.", []),                  # the cue's clause is the match's own
    ("Cures and quick fixes don't exist.", []),      # "and" joins subjects, no new subject
    ("It is cured, they don't relapse.", ["It is cured, they don't relapse."]),  # a new subject
])
def test_a_post_cue_in_a_clause_of_its_own_does_not_negate(page, expected):
    assert fired(POST_VERBS, page) == expected


def test_negation_after_zero_ignores_post_cues():
    rules = POST.replace("veto: {negation: true,", "veto: {negation: {before: 6, after: 0},")
    assert fired(rules, "That ketamine cures is a myth.") == ["That ketamine cures is a myth."]
    assert fired(POST, "That ketamine cures is a myth.") == []
    assert fired(rules, "Ketamine is not a cure.") == []


def test_a_rhetorical_did_you_know_question_is_a_claim():
    assert fired(BASE, "Did you know ketamine cures addiction?") == [
        "Did you know ketamine cures addiction?"]
    assert fired(BASE, "Do you know whether ketamine cures addiction? Ask us.") == [
        "Do you know whether ketamine cures addiction?"]
    assert fired(BASE, "Can ketamine cure addiction?") == []


@pytest.mark.parametrize(("page", "expected"), [
    # chat and texts run on in lower case: the question is the part up to its "?"
    ("can ketamine cure it? asking for my brother", []),
    ("Ketamine cures addiction! why wait?", ["Ketamine cures addiction! why wait?"]),
    ("does it cure? ketamine cures addiction.", ["does it cure? ketamine cures addiction."]),
    ("Is ketamine, e.g. the nasal spray, a cure?", []),
])
def test_the_part_of_a_sentence_up_to_its_question_mark_is_the_question(page, expected):
    assert fired(BASE, page) == expected


def test_a_why_question_with_when_you_can_is_rhetorical():
    page = "Why wait years when you can be cured in weeks?"
    assert fired(BASE, page) == [page]
    assert fired(BASE, "Why is ketamine not a cure when you can find one elsewhere?") == []
    assert fired(BASE, "Why do some people call it a cure?") == []


ANSWERS = BASE.replace("""    patterns: ['\\bcure[sd]?\\b']""", """    patterns: ['\\d+%']
    require: ['\\brelapse\\b']""").replace(
    "match: [\"Ketamine cures addiction.\"]", "match: [\"Relapse? 9%.\"]").replace(
    "nomatch: [\"Ketamine is not a cure.\"]", "nomatch: [\"Only 9%.\"]")


@pytest.mark.parametrize(("page", "expected"), [
    ("Relapse rate after our program? Just 11%.", ["Just 11%."]),  # read with its question
    ("Our relapse rate is 11%.", ["Our relapse rate is 11%."]),
    ("Our fees? Just 11% more than last year.", []),                # no outcome in the question
    ("Relapse rate? We will tell you, and our fee is 11% lower.", []),  # not a short answer
    ("Relapse is common. Just 11%.", []),                           # no question before it
    ("Relapse rate after our program?\n\nJust 11%.", ["Just 11%."]),  # an FAQ's answer
    ("Relapse is common.\n\nJust 11%.", []),
    ("Relapse rate after our program?\n\nMost of our fees fell by 11% since the day we opened.",
     []),                                                           # not a short answer
])
def test_a_short_answer_is_read_with_its_question_for_require(page, expected):
    assert fired(ANSWERS, page) == expected


def test_message_carries_the_matched_text():
    ruleset = parse_rules(BASE)
    [finding] = ruleset.evaluate(document_from_text("Ketamine cured me.")).findings
    assert finding.message == "Claims a cure: cured"


def test_explain_lists_near_misses_with_their_veto():
    ruleset = parse_rules(BASE)
    evaluation = ruleset.evaluate(document_from_text("Ketamine is not a cure."), explain=True)
    assert [(m.rule, m.veto, m.detail) for m in evaluation.near_misses] == [
        ("cure", "negation", "not")]


def test_exceptions_veto_only_overlapping_matches(ruleset):
    doc = document_from_text("Take 20% off today. 87% of our patients stay sober.")
    texts = [f.text for f in ruleset.evaluate(doc).findings]
    assert texts == ["87% of our patients stay sober."]


def test_one_finding_per_claim_when_two_rules_of_a_category_fire(ruleset):
    doc = document_from_text('> "Ketamine saved my life. I have been sober for a year." - Jo')
    findings = [f for f in ruleset.evaluate(doc).findings
                if f.category == "testimonial-without-disclaimer"]
    assert len(findings) == 1


def test_a_claim_restated_with_other_spacing_is_one_finding(ruleset):
    # A counter's figure and label run together in the main text and come spaced in the
    # widget block that also holds the next counter: one claim for a reviewer.
    doc = document_from_text("87%of clients sober at 12 months\n\n"
                             "87% of clients sober at 12 months 3,200+ infusions delivered")
    assert [f.text for f in ruleset.evaluate(doc).findings] == [
        "87%of clients sober at 12 months"]
    # The same figure in two different claims stays two findings.
    doc = document_from_text("87% of clients stay sober.\n\n87% of patients report fewer "
                             "cravings.")
    assert len(ruleset.evaluate(doc).findings) == 2


def test_a_counter_kept_in_the_main_text_and_its_widget_is_one_finding(ruleset):
    html = """<html><body><main><h1>Ketamine for alcohol use disorder</h1>
    <p>Our infusion program pairs ketamine with counselling, week after week.</p>
    <div class="stats"><div class="stat"><span class="num">87%</span><span class="label">of
    clients sober at 12 months</span></div><div class="stat"><span class="num">3,200+</span>
    <span class="label">infusions delivered</span></div></div>
    <p>Book a consultation with our medical team to see if ketamine is right for you.</p>
    </main></body></html>"""
    findings = ruleset.evaluate(extract(html)).findings
    assert [f.match for f in findings if f.rule == "outcome-statistic"] == ["87%"]


def test_a_disclosure_in_the_fine_print_is_on_the_page(ruleset):
    testimonial = '> "I have been sober for two years now, thanks to ketamine." - Marcus T.'
    bare = document_from_text(testimonial)
    assert [f.category for f in ruleset.evaluate(bare).findings] == [
        "testimonial-without-disclaimer"]
    footed = dataclasses.replace(bare, fine_print=(
        "Individual results vary. Testimonials are not typical.", "Copyright 2026 Summit"))
    evaluation = ruleset.evaluate(footed)
    assert evaluation.findings == []
    assert evaluation.disclaimers["results-vary"] == [
        "Individual results vary.", "Testimonials are not typical."]
    # The fine print is read for disclosures only, never for claims.
    claims = dataclasses.replace(bare, fine_print=("Ketamine is completely safe and FDA "
                                                   "approved for addiction.",))
    assert [f.category for f in ruleset.evaluate(claims).findings] == [
        "testimonial-without-disclaimer"]


def test_a_disclaimer_moved_to_the_fine_print_is_not_removed(ruleset):
    before = ruleset.evaluate(document_from_text(
        "Our clinic offers ketamine.\n\nThis page is not medical advice."))
    after_doc = dataclasses.replace(document_from_text("Our clinic offers ketamine."),
                                    fine_print=("This site is not medical advice.",))
    after = ruleset.evaluate(after_doc)
    assert ruleset.removals(before.disclaimers, after, after_doc, set()) == []
    gone = document_from_text("Our clinic offers ketamine.")
    assert [f.rule for f in ruleset.removals(before.disclaimers, ruleset.evaluate(gone), gone,
                                             set())] == ["disclaimer-removed"]


def test_rules_validated_apart_match_and_leave_no_compiled_pattern_here(tmp_path):
    ruleset = load_rules_apart(RULES_FILE, tmp_path)
    assert ruleset.fully_validated and ruleset.digest == load_rules(RULES_FILE).digest
    assert all(p._compiled is None for p in ruleset.patterns)  # the child compiled them
    assert len(list(tmp_path.glob("patterns-*.pickle"))) == 1  # ...and saved them


def test_the_validation_apart_starts_at_once_and_the_verdict_is_collected_later(tmp_path):
    validation = ValidationApart(RULES_FILE, tmp_path)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("patterns-*.pickle")):  # the child got on with it alone
        assert time.monotonic() < deadline, "no validation started before ruleset()"
        time.sleep(0.01)
    ruleset = validation.ruleset()
    assert ruleset.fully_validated and ruleset.digest == load_rules(RULES_FILE).digest


def test_rules_known_good_fork_no_validation(tmp_path, monkeypatch):
    import os

    known = validation_key(RULES_FILE.read_text(encoding="utf-8"))

    def no_fork() -> int:
        raise AssertionError("forked for rules already validated")

    monkeypatch.setattr(os, "fork", no_fork)
    ruleset = ValidationApart(RULES_FILE, tmp_path, known_good=[known]).ruleset()
    assert not ruleset.fully_validated and ruleset.validation_key == known
    assert list(tmp_path.iterdir()) == []


def test_rules_validated_here_without_fork_are_saved_as_the_child_would(tmp_path, monkeypatch):
    import os

    monkeypatch.delattr(os, "fork")
    ruleset = load_rules_apart(RULES_FILE, tmp_path)
    assert ruleset.fully_validated
    assert len(list(tmp_path.glob("patterns-*.pickle"))) == 1  # run's CLI leaves it to us


@pytest.mark.parametrize(("old", "new"), [
    ("severity: high", "severity: dire"),  # a bad value
    ('- "Guaranteed results or your money back."', '- "Nothing here."'),  # a failing example
])
def test_rules_validated_apart_report_problems_as_load_rules_does(tmp_path, old, new):
    broken = tmp_path / "rules.yaml"
    broken.write_text(RULES_FILE.read_text(encoding="utf-8").replace(old, new, 1),
                      encoding="utf-8")
    with pytest.raises(RulesInvalid) as here:
        load_rules(broken)
    with pytest.raises(RulesInvalid) as apart:
        load_rules_apart(broken, tmp_path)
    assert [str(p) for p in apart.value.problems] == [str(p) for p in here.value.problems]
    assert [(p.line, p.rule, p.field) for p in apart.value.problems] == [
        (p.line, p.rule, p.field) for p in here.value.problems]


def before_cure(rid: str, rest: str, category: str = "cure-or-guarantee") -> str:
    """BASE with one more rule, `rid`, listed before `cure`: `rest` is the YAML of its fields
    after category, severity, message and link."""
    return BASE.replace("  - id: cure\n", f"""  - id: {rid}
    category: {category}
    severity: low
    message: {rid}
    link: https://www.ftc.gov/
{rest}  - id: cure
""")


CATASTROPHIC = before_cure("slow", """    patterns: ['(a|aa)+\\1$']
    examples:
      match: ["aaaa"]
""")


def test_a_catastrophic_regex_times_out_is_reported_and_the_other_rules_run():
    # A backreference: RE2 cannot prefilter it, so the backtracking engine meets the page.
    ruleset = parse_rules(CATASTROPHIC)
    page = "Ketamine cures addiction.\n\n" + "a" * 50_000 + "!"
    started = time.monotonic()
    evaluation = ruleset.evaluate(document_from_text(page))
    assert time.monotonic() - started < 3
    assert evaluation.incomplete == {"slow": "timed out"}
    assert [f.rule for f in evaluation.findings] == ["cure"]


CONDITIONAL_SLOW_SECOND = before_cure("story", """    kind: conditional
    patterns: ['\\bsaved my life\\b']
    second: ['(a|aa)+\\1$']
    examples:
      match: ["This place saved my life."]
""", category="testimonial-without-disclaimer")


def test_a_conditional_rule_searches_the_page_for_its_second_pattern_only_for_a_claim():
    # A page-wide search for nothing to decide would cost the page's time for no purpose:
    # here it would run out of time on the backreference and mark the rule incomplete.
    ruleset = parse_rules(CONDITIONAL_SLOW_SECOND)
    filler = "\n\n" + "a" * 50_000 + "!"
    without = ruleset.evaluate(document_from_text("Ketamine cures addiction." + filler))
    assert without.incomplete == {}
    assert [f.rule for f in without.findings] == ["cure"]
    claimed = ruleset.evaluate(document_from_text("This place saved my life." + filler))
    assert claimed.incomplete == {"story": "timed out"}


def test_five_megabytes_of_adversarial_text_finish(ruleset):
    chunk = ("100% 100% not not cure cure FDA-approved at-home ((( 2019;1(1):1 et al. "
             "I I my my " + "a" * 40 + " ")
    page = chunk * (5_000_000 // len(chunk))
    started = time.monotonic()
    evaluation = ruleset.evaluate(document_from_text(page))
    elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed  # the bench holds the tighter target
    assert evaluation.incomplete or evaluation.findings


def test_a_claim_in_a_page_without_sentence_ends_is_reported_small(ruleset):
    """Text, context and fingerprint of a finding stay bounded on a page of one endless
    "sentence": no megabytes copied into the database and every alert. Untimed: this is
    about sizes, and on a slow machine the 1.5 s page allowance can run out on 2 MB."""
    filler = "lorem ipsum dolor sit amet " * 40_000
    page = filler + "Ketamine is FDA-approved for alcohol addiction " + filler
    found = [f for f in ruleset.evaluate(document_from_text(page), timed=False).findings
             if f.category == "regulatory-misstatement"]
    assert found, "the claim must still be found"
    assert all(len(f.text) <= MAX_SENTENCE and len(f.context) <= 5100 for f in found)
    assert any("FDA-approved" in f.text for f in found)


def test_compiling_a_pattern_is_not_charged_to_the_page(ruleset):
    """Rules loaded as trusted compile on first use; that time must not eat the allowance of
    the page being matched (a rule could otherwise time out on its first page)."""
    fresh = Pattern("fda", r"\bFDA[- ]approved\b")
    budget = Budget(page_seconds=10.0, rule_seconds=1.0)
    before = budget.rule_deadline
    started = time.monotonic()
    fresh.ready(budget)
    took = time.monotonic() - started
    assert budget.rule_deadline - before == pytest.approx(took, abs=0.01)
    assert budget.page_deadline > before
    assert fresh.ready(budget) is fresh and budget.rule_deadline - before <= took + 0.01


def test_plain_ascii_agrees_with_the_character_classes_it_stands_for():
    import re as stdlib_re

    not_plain = stdlib_re.compile(r"[^\x00-\x0a\x0c-\x1b\x20-\x7f]")
    for text in ("plain text, 100%", "caf\u00e9", "tab\tand\nnewline", "vt\x0bhere", "fs\x1c",
                 "gs\x1d", "rs\x1e",
                 "us\x1f", "del\x7f", "", "\u2019quote"):
        expected = not_plain.search(text) is None
        assert plain_ascii(text) is expected, text
        assert plain_ascii(text.encode("utf-8")) is expected, text


def test_text_is_normalised_before_matching(ruleset):
    doc = document_from_text("Ketamine is\u00a0FDA\u2011approved for alcohol\u200b addiction.")
    assert [f.category for f in ruleset.evaluate(doc).findings] == ["regulatory-misstatement"]


REMOVAL = BASE + """
  - id: disclaimer-removed
    kind: disappearance
    category: disclaimer-removed
    severity: high
    message: "{class} disclaimer removed: {match}"
    link: https://www.ftc.gov/
    classes: [off-label]
    examples:
      match: [{before: "This is an off-label use.", after: "Call us."}]
"""


def _removed(before: str, after: str) -> list[str]:
    ruleset = parse_rules(REMOVAL)
    prev = ruleset.evaluate(document_from_text(before))
    after_doc = document_from_text(after)
    cur = ruleset.evaluate(after_doc)
    return [f.text for f in ruleset.removals(prev.disclaimers, cur, after_doc, set())]


def test_disclaimer_removed_names_the_removed_sentence():
    assert _removed("Ketamine for addiction is off-label. Call us.", "Call us.") == [
        "Ketamine for addiction is off-label."]


def test_disclaimer_moved_or_restated_is_not_removed():
    moved = _removed("Ketamine is off-label.\n\nCall us.", "Call us.\n\nKetamine is off-label.")
    assert moved == []
    assert _removed("Ketamine is off-label here.", "We use ketamine off label.") == []


def test_disclaimer_reworded_beyond_the_patterns_is_matched_fuzzily():
    before = "Using ketamine for addiction is an off-label use of the medicine."
    after = "Using ketamine for addiction is an offlabel use of the medicine."
    assert _removed(before, after) == []


def test_a_disclaimer_that_loses_its_negation_is_removed_not_reworded(ruleset):
    from monitor.rulekinds import keeps_negation

    assert keeps_negation("This is not medical advice.", "This isn't medical advice.")
    assert not keeps_negation("Ketamine is not right for everyone.",
                              "Ketamine is right for everyone.")

    def removed(before: str, after: str) -> list[str]:
        prev = ruleset.evaluate(document_from_text(before))
        doc = document_from_text(after)
        return [f.text for f in ruleset.removals(prev.disclaimers, ruleset.evaluate(doc), doc,
                                                 set())]

    assert removed("Ketamine is not FDA-approved for addiction.",
                   "Ketamine is FDA-approved for addiction.") == [
        "Ketamine is not FDA-approved for addiction."]
    assert removed("Ketamine is not FDA-approved for addiction.",
                   "Ketamine isn't FDA approved for addiction.") == []


def test_unknown_disclaimer_class_is_an_error():
    found = problems(REMOVAL.replace("classes: [off-label]", "classes: [off-lable]"))
    assert any("unknown disclaimer class 'off-lable'" in p for p in found)


def test_rules_kinds_are_documented_with_examples():
    from monitor.rulekinds import KINDS

    for name, kind in KINDS.items():
        doc = kind.__doc__ or ""
        assert doc.startswith(name) and "match:" in doc and "no match:" in doc


def test_the_linear_time_prefilter_spares_backtracking_where_it_proves_no_match():
    ruleset = parse_rules(CATASTROPHIC.replace("(a|aa)+\\1$", "(a|aa)+$").replace(
        'match: ["aaaa"]', 'match: ["aaa"]'))
    assert ruleset.rule("slow").pattern.prefilter is not None
    page = "Ketamine cures addiction.\n\n" + "a" * 50_000 + "!"
    evaluation = ruleset.evaluate(document_from_text(page))
    assert evaluation.incomplete == {}  # RE2 showed no paragraph can match: never run
    assert [f.rule for f in evaluation.findings] == ["cure"]


def test_re2_also_decides_where_a_short_text_is_searched_by_the_slow_engine():
    from monitor.patterns import Budget, Pattern, PatternTimeout, compile_pattern

    slow = Pattern.build("p", compile_pattern(r"(?:a|aa)+b|\bcure\b"))
    hopeless = "a" * 40 + "!"  # the backtracking engine alone takes minutes to give up
    sentence = "It is a cure, not a maybe; " + hopeless
    budget = Budget(5.0, 5.0)
    try:
        assert slow.search(hopeless, budget) is None  # a sentence-sized search
        assert [m.group() for m in slow.finditer(sentence, budget)] == ["cure"]  # and the rest
    except PatternTimeout:
        pytest.fail("the slow engine ran where RE2 proves no match")
    assert slow.search("aab", budget).group() == "aab"


def test_places_the_prefilter_finds_are_tried_anchored_then_searched_as_before():
    from monitor.patterns import _ANCHORED_TRIES, Budget, Pattern, compile_pattern

    negated = Pattern.build("p", compile_pattern(r"(?<!not a )\bcure\b"))
    budget = Budget(5.0, 5.0)
    for misses in range(2 * _ANCHORED_TRIES + 2):  # past the anchored tries, a search
        for tail in ("", "It is a cure.", "A cure; a cure."):
            text = "It is not a cure. " * misses + tail
            expected = [m.span() for m in negated.compiled.finditer(text)]
            assert [m.span() for m in negated.finditer(text, budget)] == expected, text
            first = negated.search(text, budget)
            assert (first.span() if first else None) == (expected[0] if expected else None)
            wide = text.replace("It", "Ét")  # not ASCII: searched as it always was
            assert [m.span() for m in negated.finditer(wide, budget)] == expected, wide


def test_prefilter_start_agrees_with_the_re2_wrappers_search():
    import re2

    from monitor.patterns import _start_finder

    form = re2.compile("(?m)^cure|sober\\b")
    find = _start_finder(form)

    class WrapperOnly:  # a google-re2 that no longer exposes its RE2 object
        search = staticmethod(form.search)

    slow = _start_finder(WrapperOnly())
    blob = b"we cure; sober\ncure sobering sober"
    for pos in range(len(blob) + 2):
        for end in (len(blob), len(blob) - 6, pos, pos - 1, len(blob) + 5):
            m = form.search(blob, pos, end)
            expected = -1 if m is None else m.start()
            assert find(blob, pos, end) == slow(blob, pos, end) == expected, (pos, end)


def test_prefilter_is_a_superset_of_the_pattern():
    from monitor.patterns import Pattern, compile_pattern, relax

    assert relax(r"(?<!\w)no(?!\w)[(?=]x(?=y)") == r"no[(?=]x"
    assert relax(r"a(?=b)*") is None
    # Shorthands widen to their ASCII members plus any non-ASCII character (a small
    # automaton); in a negated class that would narrow the class, so there they stay exact.
    assert relax(r"\bcafe\w+[\w-]\d") == \
        r"cafe[0-9A-Za-z_\x{80}-\x{10FFFF}]+[0-9A-Za-z_\x{80}-\x{10FFFF}-][0-9\x{80}-\x{10FFFF}]"
    assert relax(r"[^\w\s]") == r"[^\p{L}\p{N}_\s\p{Z}]"
    assert relax(r"[\W_]") is None
    unicode = Pattern.build("p", compile_pattern(r"\b\w+-free\b|\d+\s?%"))
    for text in ("un programme café-free", "٣٠ % des patients"):
        raw = text.encode()
        assert unicode.possible_in(raw, [0]) == [(0, _byte(text, unicode))]
    for source, text in ((r"[^\w\s]{2}", "ça — fin —— là"), (r"\W\d", "é٣ x—5"),
                         (r"\S+\s\D", "naïve\u3000ïn"), (r"[^a-z\d]+\d", "ÉÉ٣ 7"),
                         (r"\b\w+-free\b|\d+\s?%", "été\u00a030\u2009%")):
        pattern = Pattern.build("p", compile_pattern(source))
        found = pattern.possible_in(text.encode(), [0])
        assert found is not None and found[0][1] <= _byte(text, pattern), source
    anchored = Pattern.build("p", compile_pattern(r'^"[^"]+"$'))
    blob = b'intro\n"I feel free."\noutro'
    assert anchored.possible_in(blob, [0, 6, 21]) == [(1, 0)]
    # \K keeps the word before a footnote out of the match: RE2 has no \K, and without it
    # the prefilter's match starts earlier, never later, than the real one.
    assert relax(r"[a-z]\K\d", wide=False) == r"[a-z]\d"
    assert relax(r"[a-z]\K\d", wide=True) == r"[a-z][0-9\x{80}-\x{10FFFF}]"
    footnote = Pattern.build("p", compile_pattern(r"[a-z][.,]?\K\d{1,2}(?=\s|$)"))
    assert footnote.compiled.search("sober.12 more").group(0) == "12"
    assert footnote.possible_in(b"no digits here\nsober.12 more", [0, 15]) == [(1, 4)]
    assert footnote.possible_in(b"85% of 120 patients", [0]) == []


def test_ascii_view_keeps_each_characters_classes_and_offsets():
    from monitor.patterns import ascii_view as view_bytes

    def ascii_view(text: str) -> str:
        return view_bytes(text).decode("ascii")

    text = "Caf\u00e9 \u212aetamine \u00b7 \u0663\u0660% \u00a0x\u2014y \U0001F600 vt\x0b."
    view = ascii_view(text)
    assert view.isascii() and len(view) == len(text) and plain_ascii(view)
    assert view == "Cafq ketamine \x01 00%  x\x01y \x01 vt ."
    assert ascii_view("plain text, 100%") == "plain text, 100%"


def test_ascii_view_folds_every_letter_the_patterns_equate_with_an_ascii_one():
    import regex

    from monitor.patterns import ASCII_FOLDS, FLAGS
    from monitor.patterns import ascii_view as view_bytes

    def ascii_view(text: str) -> str:
        return view_bytes(text).decode("ascii")

    letter = regex.compile("[a-z]", FLAGS)
    folds = {chr(c) for c in range(0x80, 0x110000)
             if not 0xD800 <= c <= 0xDFFF and letter.match(chr(c))}
    assert folds == set(ASCII_FOLDS)
    for ch in folds:
        assert regex.match(ascii_view(ch), ch, FLAGS), ch
    hostile = "".join(chr(c) for c in range(0x80, 0x30000) if not 0xD800 <= c <= 0xDFFF)
    started = time.monotonic()
    assert len(ascii_view(hostile)) == len(hostile) and ascii_view(hostile).isascii()
    assert time.monotonic() - started < 2


def test_only_patterns_that_spell_out_no_unicode_read_through_the_view():
    from monitor.patterns import compile_pattern

    def safe(source: str) -> bool:
        return Pattern.build("p", compile_pattern(source)).ascii_safe

    assert safe(r"\bcaf\w\b") and safe(r"[^\w\s]{2}") and safe(r'[^.;"]{0,60}') and safe(r"[^\d]")
    assert not safe("fianc\u00e9") and not safe(r"\p{L}+") and not safe(r"[^a-z]")
    assert not safe(r"[^ ]") and not safe(r"[\u2022|]")


@pytest.mark.parametrize("text", [
    "Caf\u00e9 clients: 92 % stay sober \u00b7 Book now.",
    "\u212aetamine cures addiction for good \u2014 guaranteed.",
    "Ketamine is FDA\u2011approved for alcohol use disorder \u00b7 na\u00efve or not.",
    "\u2605\u2605\u2605\u2605\u2605 \u201cI have been sober for a year.\u201d \u2014 Jos\u00e9",
    "Side effects? None. \u00bfPreguntas? Our fianc\u00e9e program is risk-free.",
    "\u0663\u0660% of our patients relapse less \u00b7 half those of rehab.",
    "Ketamine treatment, tr\u00e8s simple, at home.",       # a word gap over an accented word
])
def test_findings_on_non_ascii_pages_are_those_of_the_exact_patterns(text):
    from monitor.patterns import exact_only

    fast, exact = load_rules(RULES_FILE), load_rules(RULES_FILE)
    doc = document_from_text(text)
    with exact_only(exact.patterns):
        expected = [(f.rule, f.match) for f in exact.evaluate(doc).findings]
    assert [(f.rule, f.match) for f in fast.evaluate(doc).findings] == expected


def test_the_wide_prefilter_is_compiled_only_when_needed():
    from monitor.patterns import compile_pattern

    unicode_literal = Pattern.build("p", compile_pattern("fianc\u00e9e"))
    assert unicode_literal.possible_in(b"no such word", [0], ascii_text=True) == []
    assert unicode_literal.prefilter._wide_start is None          # not compiled yet
    assert unicode_literal.possible_in("her fianc\u00e9e".encode(), [0], ascii_text=False) == [
        (0, 4)]
    assert unicode_literal.prefilter._wide_start is not None


def test_validation_runs_the_examples_without_building_a_prefilter():
    """The daemon's own process validates the rules but never evaluates a page (its workers
    do): building 134 RE2 programs there only cost it a tenth of a second and 9 MB."""
    from monitor.patterns import _UNSET

    validated = load_rules(RULES_FILE)
    assert validated.fully_validated
    assert [p.source for p in validated.patterns if p._prefilter is not _UNSET] == []
    assert all(p.prefilter is not None for p in validated.patterns)  # built when first used
    # Examples still run, on the exact patterns: one the pattern misses still fails.
    assert problems(BASE.replace('"Ketamine cures addiction."', '"Ketamine heals."')) == [
        "r.yaml:27: rule 'cure': field 'examples.match': example does not match: "
        "'Ketamine heals.'"]


def test_exact_only_keeps_built_prefilters_and_restores_the_rest_after_an_error():
    from monitor.patterns import _UNSET, exact_only

    built, unbuilt = Pattern("a", r"\bcure\b"), Pattern("b", r"\bheal\b")
    prefilter = built.prefilter
    with pytest.raises(RuntimeError), exact_only([built, unbuilt]):
        assert built.prefilter is prefilter and unbuilt.prefilter is None
        assert [m.group() for m in unbuilt.finditer("we heal", None)] == ["heal"]
        raise RuntimeError("an example crashed")
    assert built.prefilter is prefilter and unbuilt._prefilter is _UNSET


def test_prefilters_change_no_finding_on_any_case_or_page(ruleset, monkeypatch):
    """The RE2 prefilter must only skip work: same findings with and without it."""
    import yaml

    from monitor import patterns
    from monitor.extract import Document, Paragraph, extract

    monkeypatch.setattr(patterns, "_re2", lambda: None)
    plain = load_rules(Path(__file__).parent.parent / "rules.yaml")
    assert all(r.pattern is None or r.pattern.prefilter is None for r in plain.rules)
    docs = []
    for table in (Path(__file__).parent / "data").glob("*.yaml"):
        for groups in yaml.safe_load(table.read_text()).values():
            if isinstance(groups, dict):
                docs += [document_from_text(t) for k in ("match", "nomatch")
                         for t in groups.get(k, []) if isinstance(t, str)]
    for html in (Path(__file__).parent.parent / "demo" / "site").rglob("*.html"):
        docs.append(extract(html.read_text(), "http://127.0.0.1/"))
    assert len(docs) > 500
    # The same texts as typeset pages spell them, where the wide (non-ASCII) prefilters run.
    typeset = str.maketrans({" ": "\u00a0", "'": "\u2019", "-": "\u2013", "e": "\u00e9"})
    docs += [Document(d.title, tuple(Paragraph(p.text.translate(typeset), p.kind, p.links)
                                     for p in d.paragraphs)) for d in docs[::3]]
    for doc in docs:
        fast, slow = ruleset.evaluate(doc), plain.evaluate(doc)
        assert [f.fingerprint for f in fast.findings] == [f.fingerprint for f in slow.findings]
        assert fast.disclaimers == slow.disclaimers


def _byte(text: str, pattern) -> int:
    """Byte offset of the real pattern's first match (what a prefilter may not pass)."""
    m = pattern.compiled.search(text)
    return len(text[: m.start()].encode())


def test_a_known_good_rules_text_loads_without_compiling_or_examples(tmp_path):
    first = load_rules(RULES_FILE)
    assert first.fully_validated and first.rule("cure-claim").pattern._compiled is not None
    again = load_rules(RULES_FILE, known_good={first.validation_key})
    assert not again.fully_validated
    assert again.rule("cure-claim").pattern._compiled is None  # compiled on first use
    doc = document_from_text("Ketamine cures addiction. 87% of our patients stay sober.")
    assert [f.fingerprint for f in again.evaluate(doc).findings] == \
        [f.fingerprint for f in first.evaluate(doc).findings]
    # Any other text is validated in full: a failing example still stops the load.
    broken = tmp_path / "rules.yaml"
    broken.write_text(RULES_FILE.read_text().replace(
        "Ketamine is not a cure for addiction; it is one tool",
        "Ketamine is a cure for addiction; it is one tool"))
    with pytest.raises(RulesInvalid):
        load_rules(broken, known_good={first.validation_key})


def test_check_remembers_the_validated_rules_in_the_state(site, tmp_path):
    from conftest import page
    from test_cli import claimwatch

    from monitor.store import Store

    site.serve("/r/", page("ridgeline/v1.html"))
    state = tmp_path / "state"
    assert claimwatch("check", site.url("/r/"), "--state", str(state), "--rules",
                      str(RULES_FILE)).returncode == 0
    with Store.in_dir(state) as store:
        known = store.meta("rules.validated")
    assert load_rules(RULES_FILE).validation_key in known
