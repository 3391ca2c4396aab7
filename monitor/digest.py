"""What a reviewer reads: a queued message rendered as a title and a text or HTML body.

One message per check (a digest), grouped by severity: the page, each claim sentence with the
rule's message and authority link, the paragraph with the claim highlighted, when it was first
seen, and the ids with the command to acknowledge them; resolved findings after. Page text is
untrusted and always escaped in HTML. A body is sized to the target's limit: contexts are
shortened, then dropped, then the least severe findings are left out, and the message says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.markup import esc, highlight_html, highlight_text, link_html, one_line, when

SEVERITIES = ("high", "medium", "low")
CONTEXT_WIDTHS = (300, 120, 0)  # characters of paragraph each side of a claim, then none
STATE_LABEL = {"new": "NEW", "baseline": "BASELINE", "resolved": "RESOLVED"}


@dataclass(frozen=True)
class Rendered:
    """A message ready for one target."""

    title: str
    body: str
    shown: int  # findings shown
    total: int  # findings in the message

    @property
    def truncated(self) -> bool:
        return self.shown < self.total


def render(payload: dict[str, Any], *, ref: str, html: bool, limit: int | None = None,
           title_limit: int = 250, measure: Callable[[str], int] = len) -> Rendered:
    """Render a queued message's payload; `measure(body) <= limit` unless it cannot be.

    `ref` is the message's stable reference (shown so duplicates can be recognised)."""
    title = one_line(title_for(payload), title_limit) if title_limit > 0 else ""
    kind = payload.get("kind")
    if kind not in ("findings", "initial-audit"):
        body = _notice(payload, ref, html)
        return Rendered(title, _hard_cut(body, limit, measure, html), 0, 0)
    findings = _ordered(payload.get("findings", []))
    total = len(findings)
    best = ""
    for shown in range(total, -1, -1):
        for width in CONTEXT_WIDTHS if shown == total else (0,):
            body = _digest(payload, findings, shown, width, ref, html, limit)
            if limit is None or limit <= 0 or measure(body) <= limit:
                return Rendered(title, body, shown, total)
            best = body
    return Rendered(title, _hard_cut(best, limit, measure, html), 0, total)


def title_for(payload: dict[str, Any]) -> str:
    """A one-line subject: what happened, how severe, on which page."""
    kind = payload.get("kind")
    if kind not in ("findings", "initial-audit"):
        return f"[claimwatch] {payload.get('subject', kind)}"
    findings = payload.get("findings", [])
    page = payload.get("title") or payload.get("url", "")
    opened = [f for f in findings if f["state"] != "resolved"]
    resolved = len(findings) - len(opened)
    high = sum(1 for f in opened if f["severity"] == "high")
    sev = f" ({high} high)" if high else ""
    if kind == "initial-audit":
        return f"[claimwatch] Initial audit: {_n(len(opened), 'claim')}{sev} on {page}"
    parts = []
    if opened:
        parts.append(f"{_n(len(opened), 'new claim')}{sev}")
    if resolved:
        parts.append(f"{_n(resolved, 'claim')} resolved")
    return f"[claimwatch] {', '.join(parts)} on {page}"


def _labels(finding: dict[str, Any]) -> tuple[str, str]:
    """How to introduce a finding's sentence and its paragraph: a removed disclaimer is not a
    claim, and its paragraph is where it used to be."""
    if finding.get("category") == "disclaimer-removed":
        return "Removed", "It was in"
    return "Claim", "Context"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _ordered(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open findings by severity (high first), then resolved ones by severity."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (f["state"] == "resolved",
                                           rank.get(f["severity"], len(rank)), f["id"]))


def _digest(payload: dict[str, Any], findings: list[dict[str, Any]], shown: int, width: int,
            ref: str, html: bool, limit: int | None) -> str:
    visible = findings[:shown]
    hidden = len(findings) - shown
    opened = [f for f in visible if f["state"] != "resolved"]
    resolved = [f for f in visible if f["state"] == "resolved"]
    ack_ids = [f["id"] for f in findings if f["state"] != "resolved"]
    note = (f"{hidden} more finding(s) not shown: this message was shortened to fit the "
            f"target's limit of {limit} characters. See them all with `claimwatch alerts` or "
            f"`claimwatch report`.") if hidden else ""
    if html:
        return _digest_html(payload, opened, resolved, ack_ids, width, note, ref)
    return _digest_text(payload, opened, resolved, ack_ids, width, note, ref)


def _summary(payload: dict[str, Any], opened: int, resolved: int) -> str:
    checked = when(payload.get("checked_at"))
    if payload.get("kind") == "initial-audit":
        return f"First check {checked}: {_n(opened, 'claim')} found on the page as it is."
    counts = [c for c in (f"{opened} new" if opened else "",
                          f"{resolved} resolved" if resolved else "") if c]
    return f"Checked {checked}: {' and '.join(counts)}."


# ------------------------------------------------------------------------------ text

def _digest_text(payload: dict[str, Any], opened: list[dict[str, Any]],
                 resolved: list[dict[str, Any]], ack_ids: list[int], width: int, note: str,
                 ref: str) -> str:
    lines = [one_line(payload.get("title") or "(no title)", 300), payload.get("url", ""),
             _summary(payload, sum(1 for f in payload["findings"] if f["state"] != "resolved"),
                      sum(1 for f in payload["findings"] if f["state"] == "resolved")), ""]
    for severity in SEVERITIES:
        group = [f for f in opened if f["severity"] == severity]
        if not group:
            continue
        lines += [f"== {severity.upper()} ({len(group)}) ==", ""]
        for f in group:
            lines.append(f"#{f['id']} {STATE_LABEL.get(f['state'], f['state'].upper())}  "
                         f"{f['category']} ({f['rule']})")
            what, where = _labels(f)
            lines.append(f"  {what}: \"{f['text']}\"")
            lines.append(f"  Why: {f['message']}")
            if f.get("link"):
                lines.append(f"  Authority: {f['link']}")
            if width and f.get("context") and f["context"].strip() != f["text"].strip():
                lines.append(f"  {where}: {highlight_text(f['context'], f['text'], width)}")
            lines.append(f"  First seen: {when(f.get('first_seen'))}")
            lines.append("")
    if resolved:
        lines += [f"== RESOLVED ({len(resolved)}) ==", ""]
        for f in resolved:
            lines.append(f"#{f['id']} {f['severity']} {f['category']}: \"{f['text']}\" "
                         "(no longer on the page as a claim)")
        lines.append("")
    if note:
        lines += [note, ""]
    if ack_ids:
        lines.append(f"Acknowledge: claimwatch alerts ack {' '.join(map(str, ack_ids))}")
        lines.append(f"Evidence and diff: claimwatch alerts show {ack_ids[0]}")
    lines.append(f"-- claimwatch message {ref}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ HTML

_SEV_COLOUR = {"high": "#b42318", "medium": "#b54708", "low": "#475467"}


def _digest_html(payload: dict[str, Any], opened: list[dict[str, Any]],
                 resolved: list[dict[str, Any]], ack_ids: list[int], width: int, note: str,
                 ref: str) -> str:
    url = payload.get("url", "")
    n_open = sum(1 for f in payload["findings"] if f["state"] != "resolved")
    n_resolved = len(payload["findings"]) - n_open
    out = [f"<h2 style=\"margin:0 0 4px\">{esc(payload.get('title') or '(no title)')}</h2>",
           f"<div>{link_html(url)}</div>",
           f"<p>{esc(_summary(payload, n_open, n_resolved))}</p>"]
    for severity in SEVERITIES:
        group = [f for f in opened if f["severity"] == severity]
        if not group:
            continue
        colour = _SEV_COLOUR[severity]
        out.append(f"<h3 style=\"color:{colour};margin:16px 0 4px\">"
                   f"{severity.upper()} ({len(group)})</h3>")
        for f in group:
            out.append("<div style=\"border-left:4px solid " + colour +
                       ";padding:4px 10px;margin:8px 0\">")
            out.append(f"<div><b>#{f['id']}</b> {esc(STATE_LABEL.get(f['state'], f['state']))}"
                       f" &middot; {esc(f['category'])} <small>({esc(f['rule'])})</small></div>")
            out.append(f"<blockquote style=\"margin:6px 0;font-size:1.05em\">"
                       f"&ldquo;{esc(f['text'])}&rdquo;</blockquote>")
            out.append(f"<div>{esc(f['message'])}</div>")
            if f.get("link"):
                out.append(f"<div>Authority: {link_html(f['link'])}</div>")
            if width and f.get("context") and f["context"].strip() != f["text"].strip():
                out.append(f"<div style=\"color:#444;margin-top:4px\">{_labels(f)[1]}: "
                           f"{highlight_html(f['context'], f['text'], width)}</div>")
            out.append(f"<div><small>First seen {esc(when(f.get('first_seen')))}</small></div>")
            out.append("</div>")
    if resolved:
        out.append(f"<h3 style=\"color:#027a48;margin:16px 0 4px\">RESOLVED ({len(resolved)})"
                   "</h3><ul>")
        for f in resolved:
            out.append(f"<li><b>#{f['id']}</b> {esc(f['severity'])} {esc(f['category'])}: "
                       f"&ldquo;{esc(f['text'])}&rdquo; <small>(no longer on the page as a "
                       "claim)</small></li>")
        out.append("</ul>")
    if note:
        out.append(f"<p><i>{esc(note)}</i></p>")
    if ack_ids:
        ids = " ".join(map(str, ack_ids))
        out.append(f"<p>Acknowledge: <code>claimwatch alerts ack {ids}</code><br>"
                   f"Evidence and diff: <code>claimwatch alerts show {ack_ids[0]}</code></p>")
    out.append(f"<p><small>claimwatch message {esc(ref)}</small></p>")
    return "\n".join(out)


# ------------------------------------------------------------------------------ notices

def _notice(payload: dict[str, Any], ref: str, html: bool) -> str:
    """Operator notices and test messages: a subject and a few lines of text."""
    text = payload.get("text", "")
    if html:
        paragraphs = "".join(f"<p>{esc(p)}</p>" for p in text.split("\n") if p.strip())
        return f"{paragraphs}<p><small>claimwatch message {esc(ref)}</small></p>"
    return f"{text}\n-- claimwatch message {ref}"


def _hard_cut(body: str, limit: int | None, measure: Callable[[str], int], html: bool) -> str:
    """Last resort for a limit too small for even the shortest digest: cut, and say so."""
    if limit is None or limit <= 0 or measure(body) <= limit:
        return body
    if html:  # cutting HTML would break its markup: fall back to a plain notice
        body = "<p>This message is too long for this target; see `claimwatch alerts`.</p>"
        return body if measure(body) <= limit else body[:limit]
    suffix = " […cut]"
    keep = max(0, limit - len(suffix))
    while keep > 0 and measure(body[:keep] + suffix) > limit:
        keep -= max(1, keep // 10)
    return body[:keep] + suffix
