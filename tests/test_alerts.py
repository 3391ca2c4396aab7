"""Finding lifecycle: new once, ongoing while present, resolved when gone, re-worded kept."""

from monitor.alerts import reconcile, same_claim
from monitor.rules import Finding
from monitor.store import StoredFinding
from monitor.text import digest, key


def finding(text: str, rule: str = "outcome-statistic") -> Finding:
    return Finding(rule, "unsourced-outcome-claim", "high", "msg", "https://x", text, text, "",
                   digest(rule, key(text)))


def stored(f: Finding, fid: int) -> StoredFinding:
    return StoredFinding(fid, 1, f.fingerprint, f.rule, f.category, f.severity, f.message, f.link,
                         f.text, f.context, f.match, "new", 0.0, 0.0, None, None, None, None,
                         None, None, None)


def test_new_ongoing_resolved():
    a, b, c = finding("87% stay sober."), finding("9 in 10 quit."), finding("3x more likely.")
    plan = reconcile([a, c], [stored(a, 1), stored(b, 2)])
    assert [f.text for f in plan.new] == ["3x more likely."]
    assert [s.id for s, _ in plan.ongoing] == [1]
    assert [s.id for s in plan.resolved] == [2]


def test_whitespace_case_and_punctuation_keep_the_fingerprint():
    assert finding("87% of patients  stay SOBER!").fingerprint == \
        finding("87 % of patients stay sober.").fingerprint


def test_reworded_claim_with_the_same_numbers_is_ongoing_not_new():
    old = finding("Real results: 87% of our patients report fewer cravings after six infusions.")
    new = finding("Real results: 87% of our patients report far fewer cravings after six "
                  "infusions.")
    plan = reconcile([new], [stored(old, 1)])
    assert not plan.new and not plan.resolved
    assert plan.ongoing[0][1] is new


def test_a_different_number_is_a_new_claim():
    old = finding("Real results: 87% of our patients report fewer cravings after six infusions.")
    new = finding("Real results: 97% of our patients report fewer cravings after six infusions.")
    plan = reconcile([new], [stored(old, 1)])
    assert plan.new == [new] and [s.id for s in plan.resolved] == [1]
    assert not same_claim(old.text, new.text)


def test_findings_of_a_rule_that_timed_out_are_not_resolved():
    a = finding("87% stay sober.")
    plan = reconcile([], [stored(a, 1)], incomplete={"outcome-statistic"})
    assert not plan.resolved and plan.ongoing == [(stored(a, 1), None)]


def test_duplicate_current_findings_count_once():
    a = finding("87% stay sober.")
    assert len(reconcile([a, a], []).new) == 1


def test_an_exact_match_wins_over_a_near_match_that_comes_first():
    kept = finding("The FDA has approved ketamine for opioid addiction treatment.")
    near = finding("The FDA has approved ketamine for addiction treatment.")
    plan = reconcile([near, kept], [stored(kept, 1)])
    assert [s.id for s, f in plan.ongoing] == [1] and plan.ongoing[0][1] is kept
    assert plan.new == [near] and not plan.resolved
