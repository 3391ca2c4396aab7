#!/usr/bin/env python3
"""The rules engine alone: sentences per second on real pages, and adversarial 5 MB pages.

    .venv/bin/python bench/rules_speed.py [--pages DIR | -n 300 --seed 1] [--per-rule]
                                          [--adversarial-mb 5] [--json-out FILE]

1. Extracts the generated pages (bench/make_pages.py, or --pages DIR) with claimwatch's own
   extraction, then times `Ruleset.evaluate()` (time-limited, as checks run it) over every
   document: sentences/second, pages/second, ms per page. `--per-rule` adds each rule's share
   (each rule alone over every page) and the cost of building the Page (sentence splitting).
2. Times `evaluate()` on 5 MB documents of adversarial text, each in a child process with a
   hard time limit: one paragraph with no sentence end at all, deeply nested parentheses,
   thousands of "not", "%" and "et al." in a row, and page after page of near-matches (claims
   with a veto just out of or just in reach). Target: < 2 s each. A rule that ran out of its
   time allowance is listed as incomplete: fast because it gave up is not the same as fast.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.extract import Document, Paragraph, extract  # noqa: E402
from monitor.page import Page  # noqa: E402
from monitor.rules import Ruleset, load_rules  # noqa: E402

TARGET_SECONDS = 2.0


def load_documents(pages: Path) -> tuple[list[Document], float]:
    """Every page in pages/index.txt extracted; and the seconds extraction took."""
    names = (pages / "index.txt").read_text().split()
    started = time.perf_counter()
    docs = [extract((pages / n).read_text(), f"http://127.0.0.1/{n}") for n in names]
    return docs, time.perf_counter() - started


def sentences_in(doc: Document) -> int:
    return sum(len(p.spans) for p in Page(doc).paras)


def corpus_speed(ruleset: Ruleset, docs: list[Document], per_rule: bool) -> dict[str, Any]:
    """evaluate() over every document, as a check runs it."""
    n_sentences = sum(sentences_in(d) for d in docs)
    times, findings, incomplete = [], 0, 0
    for doc in docs:
        started = time.perf_counter()
        ev = ruleset.evaluate(doc)
        times.append(time.perf_counter() - started)
        findings += len(ev.findings)
        incomplete += bool(ev.incomplete)
    total = sum(times)
    out: dict[str, Any] = {
        "pages": len(docs), "sentences": n_sentences, "seconds": round(total, 3),
        "sentences_per_s": round(n_sentences / total), "pages_per_s": round(len(docs) / total, 1),
        "ms_per_page_median": round(1000 * statistics.median(times), 2),
        "ms_per_page_p95": round(1000 * sorted(times)[int(0.95 * (len(times) - 1))], 2),
        "ms_per_page_max": round(1000 * max(times), 2), "findings": findings,
        "pages_incomplete": incomplete,
    }
    if per_rule:
        out["per_rule_ms_per_page"] = per_rule_shares(ruleset, docs)
    return out


def per_rule_shares(ruleset: Ruleset, docs: list[Document], reps: int = 3) -> dict[str, float]:
    """ms per page of each rule alone, over what evaluate() costs with no rule at all (page
    build and sentence split); best of `reps` runs, so background load counts less."""

    def best(only: str | None) -> float:
        runs = []
        for _ in range(reps):
            started = time.perf_counter()
            for doc in docs:
                ruleset.evaluate(doc, only=only)
            runs.append(time.perf_counter() - started)
        return min(runs)

    base = best("(no rule)")
    shares = {"(page build, sentence split)": base}
    for rule in ruleset.rules:
        shares[rule.id] = max(best(rule.id) - base, 0.0)
    built = [Page(doc) for doc in docs]
    runs = []
    for _ in range(reps):
        started = time.perf_counter()
        for page in built:
            ruleset.disclaimer_classes(page, None)
        runs.append(time.perf_counter() - started)
    shares["(disclaimer classes)"] = min(runs)
    return {k: round(1000 * v / len(docs), 3)
            for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


# ---------------------------------------------------------------------------- adversarial

def _fill(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def adversarial(kind: str, size: int) -> Document:
    """A document of about `size` bytes of one kind of hostile text."""
    if kind == "no-sentence-end":
        # One paragraph, no . ! ? anywhere: every sentence-scoped rule sees one 5 MB sentence.
        unit = ("92% of our patients stay sober for good with at-home ketamine that is FDA "
                "approved and completely safe and clinically proven not a cure no guarantee "
                "studies show et al 2022 results may vary call now ")
        return Document("", (Paragraph(_fill(unit, size)),))
    if kind == "nested-parens":
        depth = 2000
        unit = ("(" * depth + "85% of patients were abstinent (Grabski et al., 2022" +
                ")" * (depth // 2) + " and 7 out of 10 stay sober. ")
        return Document("", (Paragraph(_fill(unit, size)),))
    if kind == "not-storm":
        unit = "not " * 3000 + "FDA-approved for addiction and 90% sober. "
        paras = _fill(unit, size)
        return Document("", tuple(Paragraph(paras[i:i + 200_000])
                                  for i in range(0, len(paras), 200_000)))
    if kind == "percent-etal":
        unit = "% " * 2000 + "et al. " * 1000 + "95% of patients. " + "1% " * 1000
        return Document("", (Paragraph(_fill(unit, size)),))
    if kind == "near-misses":
        lines = [
            "Ketamine is not FDA-approved for alcohol use disorder but it is FDA-approved as "
            "an anesthetic.",
            "Veterans get 20% off their first infusion and 85% of patients stay sober.",
            "Is ketamine FDA-approved for addiction?",
            "Remission rates reached 71% in a randomized trial (Grabski et al., 2022).",
            "We do not offer at-home ketamine, but our at-home ketamine kits ship today.",
            "Ketamine is not a cure, though many call it the cure for alcoholism.",
            "Studies suggest, and studies show, that ketamine may work for everyone.",
            "The usual dose is 0.5 mg/kg and 3 out of 4 patients remain abstinent.",
            "Individual results may vary. \"Ketamine gave me my life back.\" - Dana R.",
            "It is not true that our infusions have no side effects and are risk-free.",
        ]
        text = " ".join(lines) + " "
        paras = _fill(text, size)
        return Document("", tuple(Paragraph(paras[i:i + 2000], "quote" if k % 7 == 0 else "text")
                                  for k, i in enumerate(range(0, len(paras), 2000))))
    raise ValueError(kind)


ADVERSARIAL = ("no-sentence-end", "nested-parens", "not-storm", "percent-etal", "near-misses")


def _time_one(args: tuple[str, str, int], queue: Any) -> None:
    rules_path, kind, size = args
    ruleset = load_rules(rules_path)
    ruleset.compile_all()  # as the workers' forkserver does, once per process, before any page
    doc = adversarial(kind, size)
    started = time.perf_counter()
    page = Page(doc)
    split = time.perf_counter() - started
    started = time.perf_counter()
    ev = ruleset.evaluate(doc)
    seconds = time.perf_counter() - started
    queue.put({"kind": kind, "bytes": len(doc.text.encode()), "paragraphs": len(doc.paragraphs),
               "sentences": sum(len(p.spans) for p in page.paras),
               "sentence_split_s": round(split, 3), "seconds": round(seconds, 3),
               "findings": len(ev.findings), "incomplete": ev.incomplete,
               "pass": seconds < TARGET_SECONDS})


def adversarial_speed(rules_path: str, size: int, limit: float = 120.0) -> list[dict[str, Any]]:
    """Each adversarial document in its own process, killed after `limit` seconds."""
    ctx = multiprocessing.get_context("fork")
    out = []
    for kind in ADVERSARIAL:
        queue = ctx.Queue()
        proc = ctx.Process(target=_time_one, args=((rules_path, kind, size), queue))
        started = time.perf_counter()
        proc.start()
        proc.join(limit)
        if proc.is_alive():
            proc.kill()
            proc.join()
            out.append({"kind": kind, "seconds": None, "pass": False,
                        "error": f"still running after {limit:.0f}s (killed)"})
        else:
            try:
                out.append(queue.get(timeout=5))
            except Exception:  # noqa: BLE001 - a crashed child reports nothing
                out.append({"kind": kind, "seconds": None, "pass": False,
                            "error": f"child exited {proc.exitcode} after "
                                     f"{time.perf_counter() - started:.1f}s"})
        r = out[-1]
        print(f"  {kind:16} {r.get('seconds')}s (sentence split {r.get('sentence_split_s')}s)"
              f"  incomplete: {sorted(r.get('incomplete') or {}) or '-'}"
              f"{'  ' + r['error'] if 'error' in r else ''}", file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=Path, help="pages from make_pages.py (default: generate)")
    ap.add_argument("-n", type=int, default=300, help="pages to generate (default 300)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rules", default=str(ROOT / "rules.yaml"))
    ap.add_argument("--per-rule", action="store_true", help="each rule's share of the time")
    ap.add_argument("--adversarial-mb", type=float, default=5.0)
    ap.add_argument("--skip-adversarial", action="store_true")
    ap.add_argument("--json-out", type=Path)
    a = ap.parse_args(argv)
    ruleset = load_rules(a.rules)
    started = time.perf_counter()
    ruleset.compile_all()
    print(f"patterns compiled in {time.perf_counter() - started:.2f}s (once per process: the "
          "workers' forkserver does it before any page)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="claimwatch-rules-") as tmp:
        pages = a.pages
        if pages is None:
            from bench.make_pages import generate

            pages = Path(tmp)
            generate(pages, a.n, a.seed)
        docs, extract_s = load_documents(pages)
    print(f"extracted {len(docs)} pages in {extract_s:.1f}s "
          f"({1000 * extract_s / len(docs):.1f} ms/page)", file=sys.stderr)
    corpus = corpus_speed(ruleset, docs, a.per_rule)
    print(f"rules: {corpus['sentences_per_s']} sentences/s, {corpus['pages_per_s']} pages/s, "
          f"median {corpus['ms_per_page_median']} ms/page, p95 {corpus['ms_per_page_p95']} ms, "
          f"max {corpus['ms_per_page_max']} ms ({corpus['sentences']} sentences, "
          f"{corpus['findings']} findings, {corpus['pages_incomplete']} pages incomplete)")
    for rule, ms in corpus.get("per_rule_ms_per_page", {}).items():
        print(f"  {rule:32} {ms:8.3f} ms/page")
    result: dict[str, Any] = {"extract_ms_per_page": round(1000 * extract_s / len(docs), 2),
                              "corpus": corpus}
    if not a.skip_adversarial:
        size = int(a.adversarial_mb * 1024 * 1024)
        print(f"adversarial pages, {a.adversarial_mb:g} MB each (target < {TARGET_SECONDS}s):",
              file=sys.stderr)
        result["adversarial"] = adversarial_speed(a.rules, size)
        worst = [r["seconds"] for r in result["adversarial"]]
        ok = all(r["pass"] for r in result["adversarial"])
        print(f"adversarial: worst {max((w for w in worst if w is not None), default=None)}s; "
              f"{'PASS' if ok else 'FAIL'} (< {TARGET_SECONDS}s each)")
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
