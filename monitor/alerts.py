"""Finding lifecycle: which current findings are new, which go on, which are resolved.

A finding is keyed by a fingerprint of its rule and its sentence with case, spacing and
punctuation ignored, so a claim that moves or is re-rendered keeps its identity. A claim whose
sentence is re-worded without a material change (same numbers, nearly the same words) also keeps
it; a different number or a different wording is a new claim. The first good snapshot of a page
makes every finding `baseline`; later ones make `new` findings. Open findings of a rule that
could not finish on this page (timed out) are neither resolved nor re-created.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from monitor.rulekinds import similar
from monitor.rules import Finding
from monitor.store import StoredFinding

# Sentences at least this similar, with the same numbers, are the same claim re-worded.
SAME_CLAIM = 0.85
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


@dataclass
class Plan:
    """What a check does to the findings of one page."""

    new: list[Finding] = field(default_factory=list)
    ongoing: list[tuple[StoredFinding, Finding | None]] = field(default_factory=list)
    resolved: list[StoredFinding] = field(default_factory=list)


def same_claim(a: str, b: str) -> bool:
    """Two sentences make the same claim: same numbers, nearly the same words."""
    if sorted(_NUMBER.findall(a)) != sorted(_NUMBER.findall(b)):
        return False
    return similar(a, b) >= SAME_CLAIM


def reconcile(current: Sequence[Finding], open_findings: Sequence[StoredFinding], *,
              incomplete: Collection[str] = ()) -> Plan:
    """Match the page's current findings against the open ones."""
    plan = Plan()
    unmatched = {f.fingerprint: f for f in open_findings}
    # Exact fingerprints first, for every current finding: a near match must never take an
    # open finding whose own sentence is still on the page (it would come back as new).
    matched = {f.fingerprint: unmatched.pop(f.fingerprint) for f in current
               if f.fingerprint in unmatched}
    seen: set[str] = set()
    for finding in current:
        if finding.fingerprint in seen:
            continue
        seen.add(finding.fingerprint)
        stored = matched.get(finding.fingerprint)
        if stored is None and finding.text:
            stored = next((s for s in unmatched.values()
                           if s.rule == finding.rule and same_claim(s.text, finding.text)), None)
            if stored is not None:
                del unmatched[stored.fingerprint]
        if stored is not None:
            plan.ongoing.append((stored, finding))
        else:
            plan.new.append(finding)
    for stored in unmatched.values():
        if stored.rule in incomplete:
            plan.ongoing.append((stored, None))
        else:
            plan.resolved.append(stored)
    return plan
