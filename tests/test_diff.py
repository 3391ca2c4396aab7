"""Sentence-level diff: additions, removals, and what is not a change."""

from monitor.diff import diff_texts, render

OLD = "Ketamine is off-label. We supervise every infusion.\nCall us today."


def test_added_and_removed_sentences():
    new = "Ketamine is off-label. 90% of patients stay sober.\nCall us today."
    changes = diff_texts(OLD, new)
    assert changes.added == ["90% of patients stay sober."]
    assert changes.removed == ["We supervise every infusion."]


def test_moved_and_repunctuated_sentences_are_not_changes():
    new = "Call us TODAY!\nWe supervise   every infusion. Ketamine is off label."
    changes = diff_texts(OLD, new)
    assert not changes.changed


def test_degenerate_timeout_result_still_gives_the_right_sentences():
    old = "\n".join(f"Sentence number {i} about clinics." for i in range(2000))
    new = old.replace("Sentence number 1000 about clinics.", "A brand new claim appears.")
    changes = diff_texts(old, new, timeout=1e-9)
    assert changes.added == ["A brand new claim appears."]
    assert changes.removed == ["Sentence number 1000 about clinics."]


def test_render_marks_changes_with_context():
    new = "Ketamine is off-label. 90% of patients stay sober.\nCall us today."
    lines = render(diff_texts(OLD, new))
    assert "+ 90% of patients stay sober." in lines
    assert "- We supervise every infusion." in lines
    assert "  Ketamine is off-label." in lines
