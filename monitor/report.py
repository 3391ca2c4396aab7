"""The HTML report: every finding still on its page, by site and page, in one self-contained file.

What a reviewer would rather look at than read as a log: each claim highlighted in its
paragraph, the rule and its authority, and the text diff that introduced it. No scripts, no
external resources; all page text is escaped (it is untrusted). Muted findings are left out;
acknowledged ones are shown, marked as such.
"""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlsplit

from monitor.digest import SEVERITIES
from monitor.markup import esc, highlight_html, link_html, when
from monitor.review import introduction
from monitor.store import ListedFinding, Store

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:960px;color:#1d2939;padding:0 1em}
h1{font-size:1.6em;margin-bottom:0}h2{margin-top:2em;border-bottom:2px solid #d0d5dd}
h3{margin:1.4em 0 .2em}.muted{color:#667085}.page-url{font-size:.9em}
.finding{border-left:5px solid #98a2b3;padding:.4em .9em;margin:.9em 0;background:#f9fafb}
.finding.high{border-color:#b42318}.finding.medium{border-color:#b54708}
.finding.low{border-color:#475467}.sev{font-weight:700;text-transform:uppercase}
.high .sev{color:#b42318}.medium .sev{color:#b54708}.low .sev{color:#475467}
.acked{font-size:.8em;background:#d1fadf;padding:1px 6px;border-radius:8px}
mark{background:#ffe58f;padding:0 2px}blockquote{margin:.5em 0 .5em 0;padding-left:.8em;
border-left:3px solid #eaecf0}
pre.diff{white-space:pre-wrap;background:#fff;border:1px solid #eaecf0;padding:.5em;
font-size:.85em}.add{color:#027a48;background:#ecfdf3;display:block}
.del{color:#b42318;background:#fef3f2;display:block;text-decoration:line-through}
code{background:#f2f4f7;padding:1px 4px}
"""


def build_report(store: Store, *, now: float) -> str:
    """The report as one HTML document."""
    items = store.listed_findings(unresolved=True, muted=False)
    by_site: dict[str, dict[str, list[ListedFinding]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        by_site[urlsplit(item.url).netloc or item.url][item.url].append(item)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    high = sum(1 for i in items if i.finding.severity == "high")
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
           "<title>claimwatch report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>claimwatch: open findings</h1>",
           f"<p class=\"muted\">{len(items)} finding(s) still on {sum(map(len, by_site.values()))}"
           f" page(s), {high} high severity. Generated {esc(when(now))}.</p>"]
    if not items:
        out.append("<p>No open findings.</p>")
    diffs: dict[int, list[str]] = {}
    for site in sorted(by_site):
        out.append(f"<h2>{esc(site)}</h2>")
        for url, page_items in sorted(by_site[site].items()):
            title = page_items[0].title or url
            out.append(f"<h3>{esc(title)}</h3><div class=\"page-url\">{link_html(url)}</div>")
            page_items.sort(key=lambda i: (rank.get(i.finding.severity, 9), i.finding.id))
            out.extend(_finding(store, item, diffs) for item in page_items)
    ids = " ".join(str(i.finding.id) for i in items if i.finding.acked_at is None)
    if ids:
        out.append(f"<p class=\"muted\">Acknowledge what you have reviewed: "
                   f"<code>claimwatch alerts ack {esc(ids)}</code></p>")
    out.append("</body></html>")
    return "\n".join(out)


def _finding(store: Store, item: ListedFinding, diffs: dict[int, list[str]]) -> str:
    f = item.finding
    parts = [f"<div class=\"finding {esc(f.severity)}\" id=\"finding-{f.id}\">",
             f"<div><span class=\"sev\">{esc(f.severity)}</span> &middot; "
             f"<b>#{f.id}</b> {esc(f.category)} <span class=\"muted\">({esc(f.rule)})</span>"]
    if f.acked_at is not None:
        note = f": {f.ack_note}" if f.ack_note else ""
        parts.append(f" <span class=\"acked\">acknowledged {esc(when(f.acked_at))}"
                     f"{esc(note)}</span>")
    parts.append("</div>")
    context = f.context if f.context.strip() else f.text
    parts.append(f"<blockquote>{highlight_html(context, f.text, mark_style='')}</blockquote>")
    parts.append(f"<div>{esc(f.message)}</div>")
    if f.link:
        parts.append(f"<div>Authority: {link_html(f.link)}</div>")
    parts.append(f"<div class=\"muted\">First seen {esc(when(f.first_seen))}, last seen "
                 f"{esc(when(f.last_seen))}</div>")
    intro = introduction(store, item, cache=diffs)
    if intro.baseline:
        parts.append("<div class=\"muted\">On the page since it was first checked "
                     "(baseline).</div>")
    elif intro.lines:
        rendered = "".join(_diff_line(line) for line in intro.lines)
        since = when(intro.previous.fetched_at) if intro.previous else "-"
        parts.append(f"<details open><summary>The change that introduced it (since "
                     f"{esc(since)})</summary><pre class=\"diff\">{rendered}</pre></details>")
    parts.append("</div>")
    return "\n".join(parts)


def _diff_line(line: str) -> str:
    if line.startswith("+ "):
        return f"<span class=\"add\">{esc(line)}</span>"
    if line.startswith("- "):
        return f"<span class=\"del\">{esc(line)}</span>"
    return esc(line) + "\n"
