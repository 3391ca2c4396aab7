"""rules.yaml: load, validate and evaluate the claim rules.

The file has four sections. `lexicons` are named term lists that patterns reference as
`{name}`; `disclaimers` are named classes of disclaimer sentence whose disappearance is a
finding; `rules` say what to match, where, what vetoes a match, and how to report it;
`settings` bound the matching time. Validation happens once, on load: an unknown key, a bad
regex, a missing field or a failing example stops the load with an error naming the file, the
line, the rule and the field. Rule kinds live in `monitor.rulekinds`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex
import yaml

from monitor import patterncache, rulekinds, yamlfile
from monitor.document import Document
from monitor.errors import ClaimwatchError, RulesError
from monitor.page import Page, document_from_text
from monitor.patterns import (
    Budget,
    Pattern,
    PatternTimeout,
    alternation,
    compile_pattern,
    exact_only,
    expand,
    references,
)
from monitor.text import key as text_key
from monitor.text import normalize_chars
from monitor.vetoes import Citation, Negation, Scoped, Vetoes

CATEGORIES = (
    "unsourced-outcome-claim",
    "at-home-promotion",
    "regulatory-misstatement",
    "cure-or-guarantee",
    "safety-overclaim",
    "testimonial-without-disclaimer",
    "unsupported-efficacy-claim",
    "disclaimer-removed",
)
SEVERITIES = ("high", "medium", "low")
SCOPES = ("sentence", "paragraph", "quote", "heading", "page")
VETO_SCOPES = ("clause", "sentence", "paragraph", "page")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TOP_KEYS = {"version", "settings", "lexicons", "disclaimers", "rules"}
_SETTINGS = {"page_seconds": 2.0, "rule_seconds": 0.5, "max_findings_per_rule": 200}
_COMMON_KEYS = {"id", "kind", "category", "severity", "message", "link", "description",
                "scope", "sections", "patterns", "require", "require_scope", "veto", "examples",
                "enabled"}
_VETO_KEYS = {"questions", "exceptions", "negation", "hedge", "citation", "unless"}


class RulesInvalid(ClaimwatchError):
    """rules.yaml has one or more problems; nothing runs until they are fixed."""

    def __init__(self, problems: list[RulesError]) -> None:
        self.problems = problems
        more = ""
        if len(problems) > 1:
            more = f" (and {len(problems) - 1} more: run 'claimwatch rules lint')"
        super().__init__(f"{problems[0]}{more}")


# ------------------------------------------------------------------------------ results

@dataclass(frozen=True)
class Finding:
    """A claim the rules found: the sentence that carries it, its paragraph, and why."""

    rule: str
    category: str
    severity: str
    message: str
    link: str
    text: str
    context: str
    match: str
    fingerprint: str
    paragraph: int = -1  # index in the document, for ordering and de-duplication

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NearMiss:
    """A match that a veto suppressed: what an analyst reads to tune a rule."""

    rule: str
    text: str
    match: str
    veto: str
    detail: str


@dataclass
class Evaluation:
    """Everything the rules say about one page."""

    findings: list[Finding] = field(default_factory=list)
    disclaimers: dict[str, list[str]] = field(default_factory=dict)
    near_misses: list[NearMiss] = field(default_factory=list)
    incomplete: dict[str, str] = field(default_factory=dict)


# -------------------------------------------------------------------------------- model

@dataclass
class Rule:
    """One validated rule; `kind` decides how it is evaluated."""

    id: str
    kind: str
    category: str
    severity: str
    message: str
    link: str
    description: str = ""
    scope: str = "sentence"
    sections: Pattern | None = None
    pattern: Pattern | None = None
    require: list[Pattern] = field(default_factory=list)
    require_scope: str = "sentence"
    vetoes: Vetoes = field(default_factory=Vetoes)
    options: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, list] = field(default_factory=dict)
    line: int = 0


@dataclass
class DisclaimerClass:
    """A kind of disclaimer sentence (off-label, results vary...) that must not disappear."""

    name: str
    pattern: Pattern
    description: str = ""
    examples: dict[str, list] = field(default_factory=dict)
    line: int = 0


@dataclass
class Ruleset:
    """A validated rules file, ready to evaluate pages."""

    path: str
    digest: str
    rules: list[Rule]
    disclaimers: dict[str, DisclaimerClass]
    terminators: Pattern | None
    settings: dict[str, float]
    validation_key: str = ""
    fully_validated: bool = False
    text: str = field(default="", repr=False)  # the YAML it was built from, as validated
    patterns: list[Pattern] = field(default_factory=list, repr=False)  # every one, shared too

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def compile_all(self) -> None:
        """Compile every pattern now rather than on first use: for a process that evaluates
        many pages and can do it ahead of time (the workers' forkserver goes through
        monitor.patterncache.ready, which also takes them from its cache)."""
        for pattern in self.patterns:
            pattern.ready(None)

    def evaluate(self, document: Document, *, explain: bool = False,
                 only: str | None = None, timed: bool = True) -> Evaluation:
        """Run every rule (or `only` one) over a document. The time allowance covers reading
        the page into sentences too: a huge page must not get its rules' full share on top."""
        started = time.monotonic()
        page = Page(document)
        run = Run(self, page, explain, timed, started)
        for rule in self.rules:
            if only is not None and rule.id != only:
                continue
            run.budget_start()
            try:
                rulekinds.KINDS[rule.kind].evaluate(rule, page, run)
            except PatternTimeout:
                run.result.incomplete[rule.id] = "timed out"
            except TooMany:
                run.result.incomplete[rule.id] = (
                    f"more than {int(self.settings['max_findings_per_rule'])} matches")
        if only is None:
            run.budget_start()
            try:
                run.result.disclaimers = self.disclaimer_classes(page, run.budget)
            except PatternTimeout:
                run.result.incomplete["disclaimers"] = "timed out"
        run.result.findings = self._one_per_claim(run.result.findings, page)
        return run.result

    def _one_per_claim(self, findings: list[Finding], page: Page) -> list[Finding]:
        """Two rules of one category on the same sentence (or, for paragraph-scoped rules, the
        same paragraph) are one claim for a reviewer: keep the first rule's finding. A heading
        whose section makes the same kind of claim is that claim's title, not another one; a
        sentence restated with other spacing is the same claim again."""
        claimed = {(f.category, page.paras[f.paragraph].section) for f in findings
                   if 0 <= f.paragraph < len(page.paras)
                   and page.paras[f.paragraph].kind != "heading"}
        findings = [f for f in findings if not (
            0 <= f.paragraph < len(page.paras) and page.paras[f.paragraph].kind == "heading"
            and (f.category, page.paras[f.paragraph].text) in claimed)]
        kept: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        said: dict[tuple[str, str], list[str]] = {}  # (rule, words matched): sentences, squeezed
        for f in findings:
            rule = self.rule(f.rule)
            unit = f.context if rule is not None and rule.scope != "sentence" else f.text
            keys = {(f.category, f.text), (f.category, unit)}
            if keys & seen:
                continue
            # The same rule on the same words, one sentence holding the other when spaces do
            # not count, is the same claim with other spacing: a counter's figure and label
            # run together in the main text ("87%of clients sober") and spaced in the widget
            # block that also holds the next counter.
            text = _squeezed(f.text)
            earlier = said.setdefault((f.rule, _squeezed(f.match)), [])
            if any(text in other or other in text for other in earlier):
                continue
            earlier.append(text)
            seen |= keys
            kept.append(f)
        return kept

    def disclaimer_classes(self, page: Page, budget: Budget | None) -> dict[str, list[str]]:
        """Each disclaimer class present on the page, with the sentences that state it (its
        main text's first, then its fine print's)."""
        found: dict[str, list[str]] = {}
        for name, cls in self.disclaimers.items():
            for part in page.parts:
                for para, start in part.possible(cls.pattern, budget):
                    for m in cls.pattern.finditer(para.text, budget, start, possible=True):
                        a, b = para.sentence_at(m.start())
                        sentence = para.text[a:b]
                        found.setdefault(name, [])
                        if sentence not in found[name]:
                            found[name].append(sentence)
        return found

    def removals(self, previous: Mapping[str, list[str]], current: Evaluation,
                 document: Document, still_open: set[str]) -> list[Finding]:
        """disclaimer-removed findings: classes stated before (or still missing) and absent now."""
        out: list[Finding] = []
        if "disclaimers" in current.incomplete:
            return out
        page: Page | None = None  # read into sentences only if some class went missing
        for rule in self.rules:
            if rule.kind == "disappearance" and rulekinds.may_remove(
                    rule, previous, current.disclaimers, still_open):
                page = page or Page(document)
                out.extend(rulekinds.removed(rule, previous, current.disclaimers, page,
                                             still_open))
        return out


class TooMany(Exception):
    """A rule matched more often on one page than any real page would make it."""


class Run:
    """State of one page evaluation: budget, caches, and what was found."""

    def __init__(self, ruleset: Ruleset, page: Page, explain: bool, timed: bool,
                 started: float | None = None) -> None:
        self.ruleset = ruleset
        self.page = page
        self.explain = explain
        self.timed = timed
        self.budget: Budget | None = None
        self.cache: dict = {}
        self.result = Evaluation()
        self._page_budget = (Budget(ruleset.settings["page_seconds"],
                                    ruleset.settings["rule_seconds"], started)
                             if timed else None)

    def budget_start(self) -> None:
        if self._page_budget is not None:
            self._page_budget.start_rule()
        self.budget = self._page_budget

    def add(self, finding: Finding) -> None:
        self.result.findings.append(finding)
        cap = self.ruleset.settings["max_findings_per_rule"]
        if sum(1 for f in self.result.findings if f.rule == finding.rule) > cap:
            raise TooMany

    def miss(self, rule: Rule, text: str, match: str, veto: str, detail: str) -> None:
        if self.explain:
            self.result.near_misses.append(NearMiss(rule.id, text, match, veto, detail))


# ---------------------------------------------------------------------------- loading

def _engine_key() -> str:
    """What else decides whether a rules file is valid: this engine's code and the regex
    libraries. A file validated under other code is validated again."""
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in ("rules", "rulekinds", "vetoes", "patterns", "page", "text", "yamlfile"):
        h.update((here / f"{name}.py").read_bytes())
    h.update(regex.__version__.encode())
    h.update(str(importlib.util.find_spec("re2") is not None).encode())  # found, not loaded
    return h.hexdigest()[:16]


ENGINE_KEY = _engine_key()


def validation_key(text: str) -> str:
    """Identifies a rules text as validated by this engine (see `load_rules`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] + ":" + ENGINE_KEY


def load_rules(path: str | Path, *, known_good: Collection[str] = ()) -> Ruleset:
    """Load and validate a rules file; raises RulesInvalid listing every problem.

    A file whose `validation_key` is in `known_good` (it was validated before, examples and
    all, by this same engine) is loaded without re-running its examples, and its patterns are
    compiled when first used: a check of an unchanged page then never pays for them."""
    path = str(path)
    text = read_rules(path)
    return parse_rules(text, path, trusted=validation_key(text) in known_good)


def read_rules(path: str) -> str:
    """The text of a rules file; RulesInvalid if it cannot be read or is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesInvalid([RulesError(f"cannot read: {exc.strerror}", path=path)]) from None
    except UnicodeDecodeError as exc:
        raise RulesInvalid([RulesError(f"not UTF-8 text (byte {exc.start})", path=path)]) from None


def load_rules_apart(path: str | Path, cache_dir: Path, *,
                     known_good: Collection[str] = ()) -> Ruleset:
    """`load_rules`, with the validation done in a forked child (ValidationApart)."""
    return ValidationApart(path, cache_dir, known_good=known_good).ruleset()


class ValidationApart:
    """`load_rules`, with the validation (every pattern compiled, every example run) done in a
    forked child, which also saves the compiled patterns in `cache_dir` (monitor.patterncache)
    for whoever evaluates pages: a long-running process keeps the rules without the 4-5 MB
    that compiling them leaves behind. The child starts at once and `ruleset` waits for its
    verdict, so the caller's own set-up meanwhile overlaps it. Start it only while this
    process has no other thread. Without fork, or if the child cannot say, the validation
    runs here."""

    def __init__(self, path: str | Path, cache_dir: Path, *,
                 known_good: Collection[str] = ()) -> None:
        self._path, self._cache_dir = str(path), cache_dir
        self._text = read_rules(self._path)
        self._known = validation_key(self._text) in known_good
        self._child: tuple[int, int] | None = None  # (pid, read end of its pipe)
        if not self._known and hasattr(os, "fork"):
            self._child = self._fork()

    def _fork(self) -> tuple[int, int]:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: validate, report, and leave without any of the parent's clean-up
            code = 3
            try:
                os.close(read_end)
                try:
                    validated = parse_rules(self._text, self._path)
                except RulesInvalid as exc:
                    report, status = [{"message": p.message, "path": p.path, "line": p.line,
                                       "rule": p.rule, "field": p.field}
                                      for p in exc.problems], 1
                else:
                    patterncache.save(self._cache_dir, validated.patterns)
                    report, status = [], 0
                with os.fdopen(write_end, "w", encoding="utf-8") as out:
                    json.dump(report, out)
                code = status
            finally:
                os._exit(code)
        os.close(write_end)
        return pid, read_end

    def ruleset(self) -> Ruleset:
        """The validated rules, once the child has said so; RulesInvalid if they are not."""
        if self._known:
            return parse_rules(self._text, self._path, trusted=True)
        if self._child is None:
            return self._here()
        pid, read_end = self._child
        self._child = None
        with os.fdopen(read_end, encoding="utf-8") as child:
            said = child.read()
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if code == 0:
            ruleset = parse_rules(self._text, self._path, trusted=True)
            ruleset.fully_validated = True
            return ruleset
        if code == 1:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                problems = [RulesError(p["message"], path=p["path"], line=p["line"],
                                       rule=p["rule"], field=p["field"])
                            for p in json.loads(said)]
                if problems:
                    raise RulesInvalid(problems)
        return self._here()

    def _here(self) -> Ruleset:
        """Validated in this process after all, and saved as the child would."""
        ruleset = parse_rules(self._text, self._path)
        patterncache.save(self._cache_dir, ruleset.patterns)
        return ruleset


def parse_rules(text: str, path: str = "rules.yaml", *, run_examples: bool = True,
                trusted: bool = False) -> Ruleset:
    """Validate rules from YAML text; `path` is only used in messages. `trusted` skips what a
    known-good text cannot fail: compiling now, and the examples."""
    problems: list[RulesError] = []
    try:
        data = yamlfile.load(text)
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RulesInvalid([RulesError(f"not valid YAML: {reason}", path=path,
                                       line=yamlfile.error_line(exc))]) from None
    builder = _Builder(path, problems, trusted=trusted)
    ruleset = builder.build(data, text)
    ruleset.validation_key = validation_key(text)
    ruleset.text = text
    ruleset.fully_validated = not trusted and run_examples
    if not problems and run_examples and not trusted:
        for failure in check_examples(ruleset):
            problems.append(failure)
    if problems:
        raise RulesInvalid(problems)
    return ruleset


def _squeezed(text: str) -> str:
    return text_key(text).replace(" ", "")


class _Builder:
    """Turns the parsed YAML into a Ruleset, collecting every problem it finds."""

    def __init__(self, path: str, problems: list[RulesError], trusted: bool = False) -> None:
        self.path = path
        self.problems = problems
        self.trusted = trusted
        self.lexicons: dict[str, str] = {}
        self.compiled: dict[str, Pattern] = {}
        self.made: dict[str, Pattern] = {}  # by expression: every pattern built, once
        self.broken: set[str] = set()  # lexicons already reported: no cascade of errors

    def error(self, message: str, line: int | None, rule: str | None = None,
              field: str | None = None) -> None:
        self.problems.append(RulesError(message, path=self.path, line=line, rule=rule,
                                        field=field))

    def build(self, data: Any, text: str) -> Ruleset:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        empty = Ruleset(self.path, digest, [], {}, None, dict(_SETTINGS))
        if not isinstance(data, yamlfile.LineDict):
            self.error("the file must be a mapping with a 'rules' list", 1)
            return empty
        for key in data:
            if key not in _TOP_KEYS:
                self.error(f"unknown section {key!r} (allowed: {', '.join(sorted(_TOP_KEYS))})",
                           data.line_of(key), field=str(key))
        if data.get("version", 1) != 1:
            self.error("unsupported version (this claimwatch reads version 1)",
                       data.line_of("version"), field="version")
        settings = self.settings(data.get("settings"), data.line_of("settings"))
        self.build_lexicons(data.get("lexicons") or {}, data.line_of("lexicons"))
        disclaimers = self.build_disclaimers(data.get("disclaimers") or {},
                                             data.line_of("disclaimers"))
        rules: list[Rule] = []
        raw_rules = data.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            self.error("'rules' must be a non-empty list", data.line_of("rules"), field="rules")
            raw_rules = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_rules):
            line = raw_rules.line_of(i) if isinstance(raw_rules, yamlfile.LineList) else None
            rule = self.build_rule(raw, line, disclaimers)
            if rule is None:
                continue
            if rule.id in seen:
                self.error("duplicate rule id", rule.line, rule.id, "id")
            seen.add(rule.id)
            if raw.get("enabled", True) is not False:
                rules.append(rule)
        terminators = self.lexicon_pattern("terminators")
        return Ruleset(self.path, digest, rules, disclaimers, terminators, settings,
                       patterns=list(self.made.values()))

    # -- sections

    def settings(self, raw: Any, line: int) -> dict[str, float]:
        out = dict(_SETTINGS)
        if raw is None:
            return out
        if not isinstance(raw, dict):
            self.error("'settings' must be a mapping", line, field="settings")
            return out
        for key, value in raw.items():
            where = raw.line_of(key) if isinstance(raw, yamlfile.LineDict) else line
            if key not in _SETTINGS:
                self.error(f"unknown setting {key!r} (allowed: {', '.join(_SETTINGS)})", where,
                           field=f"settings.{key}")
            elif not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                self.error("must be a positive number", where, field=f"settings.{key}")
            else:
                out[key] = float(value)
        return out

    def build_lexicons(self, raw: Any, line: int) -> None:
        if not isinstance(raw, dict):
            self.error("'lexicons' must be a mapping of name to term list", line,
                       field="lexicons")
            return
        pending: dict[str, tuple[list[str], bool, int]] = {}
        for name, value in raw.items():
            where = raw.line_of(name) if isinstance(raw, yamlfile.LineDict) else line
            if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                self.error("lexicon names are lower_case_with_underscores", where,
                           field=f"lexicons.{name}")
                continue
            self.broken.add(name)  # until it validates below
            boundaries = True
            terms = value
            if isinstance(value, dict):
                unknown = set(value) - {"terms", "boundaries", "description"}
                if unknown:
                    self.error(f"unknown key {sorted(unknown)[0]!r} (allowed: terms, boundaries,"
                               " description)", where, field=f"lexicons.{name}")
                terms = value.get("terms")
                boundaries = bool(value.get("boundaries", True))
            if not isinstance(terms, list) or not terms:
                self.error("must be a non-empty list of terms", where, field=f"lexicons.{name}")
                continue
            bad = next((i for i, t in enumerate(terms) if not isinstance(t, str) or not t.strip()),
                       None)
            if bad is not None:
                self.error(f"term {bad + 1} ({terms[bad]!r}) is not text: quote it",
                           terms.line_of(bad) if isinstance(terms, yamlfile.LineList) else where,
                           field=f"lexicons.{name}")
                continue
            pending[name] = ([normalize_chars(t) for t in terms], boundaries, where)
            self.broken.discard(name)
        # Lexicons may refer to each other; resolve in dependency order.
        resolving: set[str] = set()

        def resolve(name: str) -> str | None:
            if name in self.lexicons:
                return self.lexicons[name]
            if name in resolving:
                self.error("lexicon refers to itself (directly or through another)",
                           pending[name][2], field=f"lexicons.{name}")
                return None
            resolving.add(name)
            terms, boundaries, where = pending[name]
            expanded = []
            for term in terms:
                for ref in references(term):
                    if ref not in pending:
                        self.error(f"unknown lexicon {{{ref}}} in term {term!r}", where,
                                   field=f"lexicons.{name}")
                        return None
                    if resolve(ref) is None:
                        return None
                expanded.append(expand(term, self.lexicons))
            source = alternation(expanded, boundaries)
            try:
                self.compiled[name] = self.made_one(Pattern(
                    "{" + name + "}", source, None if self.trusted else compile_pattern(source)))
            except regex.error as exc:
                self.error(f"bad regex in a term: {exc}", where, field=f"lexicons.{name}")
                self.broken.add(name)
                return None
            self.lexicons[name] = source
            resolving.discard(name)
            return source

        for name in pending:
            resolve(name)

    def made_one(self, pattern: Pattern) -> Pattern:
        """One Pattern per expression: a lexicon that several rules use alone as a pattern,
        a requirement or a veto ({results_vary}, {clinician}) is compiled, and given its RE2
        prefilter and automaton caches, once rather than once per use."""
        return self.made.setdefault(pattern.expanded, pattern)

    def lexicon_pattern(self, name: str) -> Pattern | None:
        return self.compiled.get(name)

    def build_disclaimers(self, raw: Any, line: int) -> dict[str, DisclaimerClass]:
        out: dict[str, DisclaimerClass] = {}
        if not isinstance(raw, dict):
            self.error("'disclaimers' must be a mapping of class name to patterns", line,
                       field="disclaimers")
            return out
        for name, value in raw.items():
            where = raw.line_of(name) if isinstance(raw, yamlfile.LineDict) else line
            fname = f"disclaimers.{name}"
            if not isinstance(value, dict):
                self.error("must be a mapping with 'patterns'", where, field=fname)
                continue
            unknown = set(value) - {"patterns", "description", "examples"}
            if unknown:
                self.error(f"unknown key {sorted(unknown)[0]!r} (allowed: patterns, description,"
                           " examples)", where, field=fname)
            pattern = self.patterns(value.get("patterns"), where, None, f"{fname}.patterns")
            if pattern is None:
                continue
            examples = self.examples(value.get("examples"), where, None, fname)
            out[str(name)] = DisclaimerClass(str(name), pattern, str(value.get("description", "")),
                                             examples, where)
        return out

    # -- fields

    def patterns(self, raw: Any, line: int | None, rule: str | None,
                 field: str) -> Pattern | None:
        """Compile a list of patterns into one alternation; errors name the failing item."""
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(p, str) and p for p in raw):
            self.error("must be a non-empty list of regular expressions", line, rule, field)
            return None
        sources = []
        ok = True
        for i, source in enumerate(raw):
            where = raw.line_of(i) if isinstance(raw, yamlfile.LineList) else line
            missing = [r for r in references(source) if r not in self.lexicons]
            if missing:
                if not set(missing) & self.broken:
                    self.error(f"unknown lexicon {{{missing[0]}}} in {source!r}", where, rule,
                               field)
                ok = False
                continue
            sources.append((expand(source, self.lexicons), source, where))
        if not ok:
            return None
        # Compiling is slow (the regex module's compiler is Python): compile the alternation
        # once, and each item alone only to find the culprit when that fails. A single item is
        # its own expression: "{results_vary}" alone is the lexicon's, made once (made_one).
        joined = (sources[0][0] if len(sources) == 1
                  else "|".join(f"(?:{s})" for s, _, _ in sources))
        if self.trusted:
            return self.made_one(Pattern(" | ".join(raw), joined))
        try:
            combined = compile_pattern(joined)
        except regex.error:
            for expanded, source, where in sources:
                try:
                    compile_pattern(expanded)
                except regex.error as exc:
                    self.error(f"bad regex {source!r}: {exc}", where, rule, field)
            if not any(p.rule == rule and p.field == field for p in self.problems):
                self.error("the patterns do not combine into one expression", line, rule, field)
            return None
        return self.made_one(Pattern.build(" | ".join(raw), combined))

    def examples(self, raw: Any, line: int | None, rule: str | None,
                 field: str) -> dict[str, list]:
        if raw is None:
            return {}
        if not isinstance(raw, dict) or set(raw) - {"match", "nomatch"}:
            self.error("'examples' must be a mapping with 'match' and/or 'nomatch' lists", line,
                       rule, f"{field}.examples" if rule is None else "examples")
            return {}
        out: dict[str, list] = {}
        for key in ("match", "nomatch"):
            items = raw.get(key) or []
            if not isinstance(items, list) or not all(isinstance(x, (str, dict)) for x in items):
                self.error(f"'examples.{key}' must be a list of texts", line, rule,
                           f"examples.{key}")
                continue
            out[key] = [(x, items.line_of(i) if isinstance(items, yamlfile.LineList) else line)
                        for i, x in enumerate(items)]
        return out

    def build_rule(self, raw: Any, line: int | None,
                   disclaimers: dict[str, DisclaimerClass]) -> Rule | None:
        if not isinstance(raw, dict):
            self.error("each rule must be a mapping", line)
            return None
        rid = raw.get("id")
        if not isinstance(rid, str) or not _ID.match(rid):
            self.error("'id' is required: lowercase letters, digits and dashes", line, None, "id")
            return None
        kind_name = raw.get("kind", "existence")
        kind = rulekinds.KINDS.get(kind_name)
        if kind is None:
            self.error(f"unknown kind {kind_name!r} (allowed: {', '.join(rulekinds.KINDS)})",
                       raw.line_of("kind"), rid, "kind")
            return None
        allowed = _COMMON_KEYS | set(kind.fields)
        for key in raw:
            if key not in allowed:
                self.error(f"unknown key {key!r} for kind {kind_name} (allowed: "
                           f"{', '.join(sorted(allowed))})", raw.line_of(key), rid, str(key))
        for key in ("category", "severity", "message", "link"):
            if not isinstance(raw.get(key), str) or not raw.get(key).strip():
                self.error("is required", raw.line_of(key), rid, key)
        category, severity = raw.get("category"), raw.get("severity")
        if isinstance(category, str) and category not in CATEGORIES:
            self.error(f"unknown category {category!r} (allowed: {', '.join(CATEGORIES)})",
                       raw.line_of("category"), rid, "category")
        if isinstance(severity, str) and severity not in SEVERITIES:
            self.error(f"must be one of {', '.join(SEVERITIES)}", raw.line_of("severity"), rid,
                       "severity")
        link = raw.get("link")
        if isinstance(link, str) and not re.match(r"https?://", link):
            self.error("must be an http(s) URL of the authority the rule enforces",
                       raw.line_of("link"), rid, "link")
        scope = raw.get("scope", "sentence")
        if scope not in SCOPES:
            self.error(f"must be one of {', '.join(SCOPES)}", raw.line_of("scope"), rid, "scope")
        require_scope = raw.get("require_scope", "sentence")
        if require_scope not in VETO_SCOPES:
            self.error(f"must be one of {', '.join(VETO_SCOPES)}", raw.line_of("require_scope"),
                       rid, "require_scope")
        rule = Rule(
            id=rid, kind=kind_name, category=str(category), severity=str(severity),
            message=str(raw.get("message", "")), link=str(link or ""),
            description=str(raw.get("description", "")), scope=str(scope),
            require_scope=str(require_scope), line=line or 0,
        )
        if "sections" in raw:
            rule.sections = self.patterns(raw["sections"], raw.line_of("sections"), rid,
                                          "sections")
        if kind.needs_patterns:
            rule.pattern = self.patterns(raw.get("patterns"), raw.line_of("patterns"), rid,
                                         "patterns")
        elif "patterns" in raw:
            self.error(f"kind {kind_name} takes no 'patterns'", raw.line_of("patterns"), rid,
                       "patterns")
        if "require" in raw:
            req = raw["require"]
            items = req if isinstance(req, list) else [req]
            for i, item in enumerate(items):
                where = req.line_of(i) if isinstance(req, yamlfile.LineList) else raw.line_of(
                    "require")
                compiled = self.patterns([item] if isinstance(item, str) else item, where, rid,
                                         "require")
                if compiled is not None:
                    rule.require.append(compiled)
        rule.vetoes = self.vetoes(raw.get("veto"), raw.line_of("veto"), rid)
        rule.options = kind.validate(raw, self, rid, disclaimers)
        rule.examples = self.examples(raw.get("examples"), raw.line_of("examples"), rid,
                                      "examples")
        if not rule.examples.get("match"):
            self.error("needs at least one 'match' example (examples run as tests)",
                       raw.line_of("examples"), rid, "examples")
        return rule

    def vetoes(self, raw: Any, line: int | None, rid: str) -> Vetoes:
        v = Vetoes()
        if raw is None:
            return v
        if not isinstance(raw, dict):
            self.error("'veto' must be a mapping", line, rid, "veto")
            return v
        for key in raw:
            if key not in _VETO_KEYS:
                self.error(f"unknown veto {key!r} (allowed: {', '.join(sorted(_VETO_KEYS))})",
                           raw.line_of(key), rid, f"veto.{key}")
        v.questions = bool(raw.get("questions", True))
        if "exceptions" in raw:
            exc = self.patterns(raw["exceptions"], raw.line_of("exceptions"), rid,
                                "veto.exceptions")
            if exc is not None:
                v.exceptions = [exc]
        neg = raw.get("negation")
        if neg:
            v.negation = self.negation(neg, raw.line_of("negation"), rid)
        for name in ("hedge", "citation"):
            scope = raw.get(name)
            if not scope:
                continue
            if scope is True:
                scope = "clause" if name == "hedge" else "paragraph"
            if scope not in VETO_SCOPES:
                self.error(f"must be true or one of {', '.join(VETO_SCOPES)}",
                           raw.line_of(name), rid, f"veto.{name}")
                continue
            pattern = self.lexicon_pattern(name)
            if pattern is None:
                if name not in self.broken:
                    self.error(f"needs a lexicon named {name!r}", raw.line_of(name), rid,
                               f"veto.{name}")
                continue
            if name == "hedge":
                v.hedge = Scoped("hedge", pattern, scope)
            else:
                v.citation = Citation(pattern, self.lexicon_pattern("citation_link"), scope)
        for i, item in enumerate(raw.get("unless") or []):
            where = raw["unless"].line_of(i) if isinstance(raw["unless"], yamlfile.LineList) \
                else raw.line_of("unless")
            if not isinstance(item, dict) or "patterns" not in item or \
                    set(item) - {"name", "patterns", "scope"}:
                self.error("each 'unless' item needs 'patterns' (and optional 'name', 'scope')",
                           where, rid, "veto.unless")
                continue
            scope = item.get("scope", "sentence")
            if scope not in VETO_SCOPES:
                self.error(f"scope must be one of {', '.join(VETO_SCOPES)}", where, rid,
                           "veto.unless")
                continue
            pattern = self.patterns(item["patterns"], where, rid, "veto.unless")
            if pattern is not None:
                v.unless.append(Scoped(str(item.get("name", "unless")), pattern, scope))
        return v

    def negation(self, raw: Any, line: int | None, rid: str) -> Negation | None:
        opts = {"before": 6, "after": 4}
        if isinstance(raw, dict):
            for key, value in raw.items():
                if key not in opts or not isinstance(value, int) or value < 0:
                    self.error(f"'{key}': allowed keys are before/after (word counts)",
                               line, rid, "veto.negation")
                    return None
                opts[key] = value
        elif raw is not True:
            self.error("must be true or a mapping with before/after", line, rid, "veto.negation")
            return None
        pre = self.lexicon_pattern("negation")
        if pre is None:
            if "negation" not in self.broken:
                self.error("needs a lexicon named 'negation'", line, rid, "veto.negation")
            return None
        return Negation(pre, self.lexicon_pattern("negation_post"),
                        self.lexicon_pattern("pseudo_negation"), opts["before"], opts["after"])


# ---------------------------------------------------------------------------- examples

def check_examples(ruleset: Ruleset) -> list[RulesError]:
    """Run every example of every rule and disclaimer class; one error per failing example.
    (On the exact patterns alone: see patterns.exact_only.)"""
    with exact_only(ruleset.patterns):
        return _failing_examples(ruleset)


def _failing_examples(ruleset: Ruleset) -> list[RulesError]:
    failures: list[RulesError] = []
    for name, cls in ruleset.disclaimers.items():
        for expect in ("match", "nomatch"):
            for text, line in cls.examples.get(expect, []):
                doc = document_from_text(str(text))
                present = name in ruleset.disclaimer_classes(Page(doc), None)
                if present != (expect == "match"):
                    failures.append(RulesError(
                        f"example {'not recognised' if expect == 'match' else 'wrongly recognised'}"
                        f": {_short(str(text))!r}", path=ruleset.path, line=line,
                        field=f"disclaimers.{name}.examples.{expect}"))
    for rule in ruleset.rules:
        for expect in ("match", "nomatch"):
            for item, line in rule.examples.get(expect, []):
                fired, text = example_fires(ruleset, rule, item)
                if fired != (expect == "match"):
                    failures.append(RulesError(
                        f"example {'does not match' if expect == 'match' else 'matches'}: "
                        f"{_short(text)!r}", path=ruleset.path, line=line, rule=rule.id,
                        field=f"examples.{expect}"))
    return failures


def example_fires(ruleset: Ruleset, rule: Rule, item: Any) -> tuple[bool, str]:
    """Whether a rule fires on one example (text, or before/after texts for disappearance)."""
    if isinstance(item, dict):
        before = document_from_text(str(item.get("before", "")))
        after = document_from_text(str(item.get("after", "")))
        prev = ruleset.evaluate(before, timed=False)
        cur = ruleset.evaluate(after, timed=False)
        found = rulekinds.removed(rule, prev.disclaimers, cur.disclaimers, Page(after), set())
        return bool(found), f"{item.get('before', '')} -> {item.get('after', '')}"
    doc = document_from_text(str(item))
    result = ruleset.evaluate(doc, only=rule.id, timed=False)
    return any(f.rule == rule.id for f in result.findings), str(item)


def _short(text: str, n: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
