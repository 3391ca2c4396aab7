"""Rule kinds: how a rule of each `kind:` in rules.yaml is validated and evaluated.

Each kind is a small class registered in `KINDS`; its docstring is the user documentation
printed by `claimwatch rules kinds`, with a matching and a non-matching example.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from monitor.page import Page, Para
from monitor.text import digest, key
from monitor.vetoes import Candidate, asked, in_scope, prepare

if TYPE_CHECKING:
    from monitor.patterns import Pattern
    from monitor.rules import Finding, Rule, Run, _Builder


class Kind:
    """Base: a kind names the extra fields it accepts and evaluates a rule over a page."""

    name = ""
    fields: tuple[str, ...] = ()
    needs_patterns = True

    def validate(self, raw: Mapping, builder: _Builder, rid: str,
                 disclaimers: Mapping) -> dict[str, Any]:
        return {}

    def evaluate(self, rule: Rule, page: Page, run: Run) -> None:
        for cand in candidates(rule, page, run):
            run.add(finding(rule, cand))


class Existence(Kind):
    """existence: the claim is any match of `patterns` that no veto suppresses.

    One finding per sentence (scope: sentence), per paragraph (paragraph, quote, heading) or
    per page (page). `require` patterns must also occur in `require_scope`.

      patterns: ['\\bFDA[- ]approved\\b']    veto: {negation: true}
      match:    "IV ketamine is an FDA-approved treatment for alcohol use disorder."
      no match: "Ketamine is not FDA-approved for addiction."
    """

    name = "existence"


class Conditional(Kind):
    """conditional: a match of `patterns` needs a match of `second` in `second_scope`.

    Vale's conditional rule: "if the first is present, the second must be" (a testimonial
    requires a results-vary disclosure somewhere on the page). Fires on each first match when
    no second match exists in its scope (default: page).

      patterns: ['saved my life']    second: ['results (may )?vary']
      match:    "> This place saved my life. - Adelle P."
      no match: "> This place saved my life.\\n\\nIndividual results vary."
    """

    name = "conditional"
    fields = ("second", "second_scope")

    def validate(self, raw: Mapping, builder: _Builder, rid: str,
                 disclaimers: Mapping) -> dict[str, Any]:
        from monitor.rules import VETO_SCOPES

        second = builder.patterns(raw.get("second"), raw.line_of("second"), rid, "second")
        scope = raw.get("second_scope", "page")
        if scope not in VETO_SCOPES:
            builder.error(f"must be one of {', '.join(VETO_SCOPES)}", raw.line_of("second_scope"),
                          rid, "second_scope")
        return {"second": second, "second_scope": scope}

    def evaluate(self, rule: Rule, page: Page, run: Run) -> None:
        second, scope = rule.options["second"], rule.options["second_scope"]
        if second is None:
            return
        # The page is searched at the first candidate: most pages hold no claim of most rules.
        page_wide, searched = None, scope != "page"
        for cand in candidates(rule, page, run):
            if not searched:
                # The fine print is on the page too: a site's "results vary" in its footer.
                m = next((m for part in page.parts
                          if (m := second.search(part.text, run.budget))), None)
                page_wide, searched = (m.group(0) if m else None), True
            found = page_wide if scope == "page" else in_scope(cand, second, scope, run.budget,
                                                               run.cache)
            if found:
                run.miss(rule, cand.sentence_text, cand.match, "condition", found)
            else:
                run.add(finding(rule, cand))


class Disappearance(Kind):
    """disappearance: a disclaimer class stated on the last good snapshot is gone now.

    `classes` names entries of the `disclaimers` section. Not a finding when the class is still
    stated elsewhere on the page, or when a removed sentence survives reworded (similarity of
    at least `similarity`, default 0.8, keeping its negations: "not FDA-approved" turned into
    "FDA-approved" is not a rewording). The finding's text is the removed sentence.

      classes: [not-medical-advice]
      match:    before "This is not medical advice." -> after "Call us today."
      no match: before "This is not medical advice." -> after "This isn't medical advice."
    """

    name = "disappearance"
    fields = ("classes", "similarity")
    needs_patterns = False

    def validate(self, raw: Mapping, builder: _Builder, rid: str,
                 disclaimers: Mapping) -> dict[str, Any]:
        classes = raw.get("classes")
        if not isinstance(classes, list) or not classes:
            builder.error("must list disclaimer classes", raw.line_of("classes"), rid, "classes")
            classes = []
        for name in classes:
            if name not in disclaimers:
                builder.error(f"unknown disclaimer class {name!r} (defined: "
                              f"{', '.join(disclaimers) or 'none'})", raw.line_of("classes"),
                              rid, "classes")
        similarity = raw.get("similarity", 0.8)
        if not isinstance(similarity, (int, float)) or not 0 < similarity <= 1:
            builder.error("must be a number in (0, 1]", raw.line_of("similarity"), rid,
                          "similarity")
            similarity = 0.8
        return {"classes": [str(c) for c in classes], "similarity": float(similarity)}

    def evaluate(self, rule: Rule, page: Page, run: Run) -> None:
        return  # a transition between snapshots, see removed()


KINDS: dict[str, Kind] = {k.name: k for k in (Existence(), Conditional(), Disappearance())}


# ------------------------------------------------------------------------- shared parts

_PARAGRAPH_SCOPES = {"paragraph", "quote", "heading"}


def _paragraphs(rule: Rule, page: Page, run: Run) -> Iterator[tuple[Para, int]]:
    """The paragraphs a rule applies to where its pattern could match, with the first
    position worth searching."""
    assert rule.pattern is not None
    for para, start in page.possible(rule.pattern, run.budget):
        if rule.scope == "quote" and para.kind != "quote":
            continue
        if rule.scope == "heading" and para.kind != "heading":
            continue
        if rule.sections is not None and not (
            para.section and rule.sections.search(para.section, run.budget)
        ):
            continue
        yield para, start


def candidates(rule: Rule, page: Page, run: Run) -> Iterator[Candidate]:
    """Matches of a rule that pass `require` and every veto, at most one per scope unit."""
    done: set[object] = set()
    for para, start in _paragraphs(rule, page, run):
        if rule.scope == "page" and done:
            return
        if rule.scope in _PARAGRAPH_SCOPES and para.index in done:
            continue
        for m in rule.pattern.finditer(para.text, run.budget, start, possible=True):
            sentence = para.sentence_at(m.start())
            sentence_key = (para.index, sentence)
            unit: object = sentence_key
            if rule.scope in _PARAGRAPH_SCOPES:
                unit = para.index
            elif rule.scope == "page":
                unit = "page"
            if unit in done or sentence_key in done:
                continue
            cand = Candidate(page, para, m.start(), m.end(), sentence)
            prepare(cand, run.ruleset.terminators, run.budget)
            missing = next((r for r in rule.require if not _required(cand, r, rule, run)),
                           None)
            if missing is not None:
                run.miss(rule, cand.sentence_text, cand.match, "require",
                         f"no {missing.source} in the {rule.require_scope}")
                continue
            veto = rule.vetoes.check(cand, run.budget, run.cache)
            if veto is not None:
                run.miss(rule, cand.sentence_text, cand.match, *veto)
                continue
            done.add(unit)
            done.add(sentence_key)
            yield cand
            if rule.scope in _PARAGRAPH_SCOPES or rule.scope == "page":
                break


def _required(cand: Candidate, pattern: Pattern, rule: Rule, run: Run) -> bool:
    """Whether a `require` pattern is found around the candidate; in sentence scope a short
    answer is read with its question ("Relapse rate after our program? Just 11%.")."""
    if in_scope(cand, pattern, rule.require_scope, run.budget, run.cache):
        return True
    if rule.require_scope != "sentence":
        return False
    question = asked(cand)
    if question is None:
        return False
    text, qa, qb = question
    return pattern.search(text, run.budget, qa, qb) is not None


def finding(rule: Rule, cand: Candidate) -> Finding:
    from monitor.rules import Finding

    sentence = cand.sentence_text
    return Finding(
        rule=rule.id, category=rule.category, severity=rule.severity,
        message=rule.message.replace("{match}", cand.match), link=rule.link,
        text=sentence, context=_context(cand.para.text, *cand.sentence), match=cand.match,
        fingerprint=digest(rule.id, "page" if rule.scope == "page" else key(sentence)),
        paragraph=cand.para.index,
    )


_CONTEXT = 1500  # characters of a long paragraph kept on each side of the claim


def _context(paragraph: str, start: int, end: int) -> str:
    """The paragraph around a claim: all of it, unless it is far longer than any real one."""
    if len(paragraph) <= 2 * _CONTEXT + (end - start):
        return paragraph
    a, b = max(0, start - _CONTEXT), min(len(paragraph), end + _CONTEXT)
    return ("..." if a else "") + paragraph[a:b] + ("..." if b < len(paragraph) else "")


def similar(a: str, b: str) -> float:
    """Similarity of two sentences, ignoring case, punctuation and spacing."""
    ka, kb = key(a), key(b)
    matcher = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
    if matcher.real_quick_ratio() < 0.5 or matcher.quick_ratio() < 0.5:
        return 0.0
    return matcher.ratio()


_NEGATION = re.compile(r"\b(?:not|no|never|cannot|without|lacks?|none|nor|neither)\b|n't\b",
                       re.IGNORECASE)


def keeps_negation(before: str, after: str) -> bool:
    """Whether `after` keeps every negation of `before`: most disclaimers are negations ("not
    FDA-approved", "not right for everyone"), and one with its "not" dropped is still 90% the
    same text but says the opposite."""
    return len(_NEGATION.findall(after)) >= len(_NEGATION.findall(before))


def may_remove(rule: Rule, previous: Mapping[str, list[str]],
               current: Mapping[str, list[str]], still_open: set[str]) -> bool:
    """Whether some class of the rule is missing now and was stated before (or is still
    reported missing): only then is the page worth comparing sentence by sentence."""
    return any(not current.get(cls) and (previous.get(cls) or cls in still_open)
               for cls in rule.options["classes"])


def removed(rule: Rule, previous: Mapping[str, list[str]], current: Mapping[str, list[str]],
            page: Page, still_open: set[str]) -> list[Finding]:
    """Findings for each disclaimer class of `rule` that is gone now (or still gone)."""
    from monitor.rules import Finding

    out: list[Finding] = []
    threshold = rule.options["similarity"]
    sentences = [p.text[a:b] for part in page.parts for p in part.paras for a, b in p.spans]
    for cls in rule.options["classes"]:
        if current.get(cls):
            continue
        before = previous.get(cls) or []
        if not before and cls not in still_open:
            continue
        if before and any(similar(s, t) >= threshold and keeps_negation(s, t)
                          for s in before for t in sentences):
            continue  # reworded or moved, not removed
        text = before[0] if before else ""
        out.append(Finding(
            rule=rule.id, category=rule.category, severity=rule.severity,
            message=rule.message.replace("{class}", cls).replace("{match}", text),
            link=rule.link, text=text, context=" ".join(before), match=text,
            fingerprint=digest(rule.id, cls),
        ))
    return out
