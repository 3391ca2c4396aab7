"""The `claimwatch` command: translates arguments into library calls and errors into messages."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from monitor.errors import ClaimwatchError, InputError

DEFAULT_STATE = "state"
DEFAULT_RULES = "rules.yaml"
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class Failure(click.ClickException):
    """A one-line error on stderr and exit status 2."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        click.echo(f"claimwatch: error: {self.format_message()}", err=True)


def translate_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Library errors become one-line messages; nothing else is caught."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ClaimwatchError as exc:
            raise Failure(str(exc)) from None

    return wrapper


def state_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--state", "state_dir", type=click.Path(file_okay=False),
                        default=DEFAULT_STATE, show_default=True,
                        help="Directory of the state database (claimwatch.db).")(fn)


def rules_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--rules", "rules_path", type=click.Path(dir_okay=False),
                        default=None, help="Rules file (default: ./rules.yaml).")(fn)


def resolve_rules_path(given: str | None) -> Path:
    """The rules file to use: the one given, ./rules.yaml, or the one shipped with the source."""
    if given:
        return Path(given)
    here = Path(DEFAULT_RULES)
    if here.exists():
        return here
    bundled = Path(__file__).resolve().parent.parent / DEFAULT_RULES
    return bundled if bundled.exists() else here


def load_ruleset(given: str | None) -> Any:
    from monitor.rules import load_rules

    return load_rules(resolve_rules_path(given))


def validate_url(url: str) -> str:
    """An http(s) URL with a host, or InputError saying what is wrong."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise InputError(f"{url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(f"{url!r} is not an http(s) URL")
    if not parts.hostname:
        raise InputError(f"{url!r} has no host name")
    return url.strip()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv: debug).")
@click.version_option(package_name="claimwatch")
def main(verbose: int) -> None:
    """Watch clinic pages for unsupported health claims and alert compliance reviewers."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        for noisy in ("scrapy", "twisted", "trafilatura", "htmldate", "filelock"):
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# ---------------------------------------------------------------------------------- check

@main.command()
@click.argument("url")
@state_option
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@click.option("--timeout", type=click.FloatRange(min=1), default=30, show_default=True,
              help="Seconds to wait for the page.")
@translate_errors
def check(url: str, state_dir: str, rules_path: str | None, as_json: bool,
          timeout: float) -> None:
    """Fetch URL now and process it exactly as a scheduled check would.

    Exit status: 0 nothing new, 1 baseline or new findings, 2 fetch error or bad input.
    """
    from crawler.items import FetchRequest
    from crawler.runner import fetch
    from monitor.check import process
    from monitor.store import Store

    url = validate_url(url)
    ruleset = load_ruleset(rules_path)
    with Store.in_dir(state_dir) as store:
        watch = store.watch(url)
        request = FetchRequest(url, watch.etag if watch else None,
                               watch.last_modified if watch else None)
        page = fetch([request], settings={"DOWNLOAD_TIMEOUT": timeout},
                     timeout=timeout * 4 + 30)[0]
        result = process(store, page, ruleset)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print_result(result)
    if result.status == "error":
        if not as_json:
            click.echo(f"claimwatch: error: {url}: {result.error}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if result.alerting else EXIT_OK)


_STATE_ORDER = {"new": 0, "baseline": 1, "resolved": 2, "ongoing": 3}


def print_result(result: Any) -> None:
    """A reviewer's summary of one check."""
    head = f"{result.url}  [{result.status}"
    head += f", HTTP {result.http_status}]" if result.http_status else "]"
    click.secho(head, bold=True)
    if result.title:
        click.echo(f"  {result.title}")
    if result.error:
        click.secho(f"  error: {result.error}", fg="red")
    if result.reason:
        click.secho(f"  suspect: {result.reason} (nothing compared, nothing resolved)", fg="yellow")
    colours = {"new": "red", "baseline": "magenta", "resolved": "green", "ongoing": None}
    for f in sorted(result.findings, key=lambda f: (_STATE_ORDER[f.state], f.id)):
        click.secho(f"  {f.state.upper():9} #{f.id:<5} {f.severity:6} {f.category}",
                    fg=colours[f.state])
        click.echo(f"            > {f.text}")
        click.echo(f"            {f.message}")
    counts: dict[str, int] = {}
    for f in result.findings:
        counts[f.state] = counts.get(f.state, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(),
                                                      key=lambda kv: _STATE_ORDER[kv[0]]))
    click.echo(f"  {summary or 'no findings'}")


# ---------------------------------------------------------------------------------- rules

@main.group()
def rules() -> None:
    """Validate, test and tune rules.yaml."""


@rules.command("lint")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def rules_lint(file: str | None) -> None:
    """Validate a rules file (default ./rules.yaml); exit 1 listing every problem."""
    from monitor.rules import RulesInvalid, load_rules

    path = resolve_rules_path(file)
    try:
        ruleset = load_rules(path)
    except RulesInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{path}: {len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    examples = sum(len(v) for r in ruleset.rules for v in r.examples.values())
    click.echo(f"{path}: OK ({len(ruleset.rules)} rules, {len(ruleset.disclaimers)} disclaimer "
               f"classes, {examples} examples pass)")


@rules.command("test")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def rules_test(file: str | None) -> None:
    """Run every rule's examples; print the failures; exit 1 if any fail."""
    from monitor.rules import RulesInvalid, check_examples, parse_rules

    path = resolve_rules_path(file)
    try:
        ruleset = parse_rules(path.read_text(encoding="utf-8"), str(path), run_examples=False)
    except OSError as exc:
        raise Failure(f"{path}: cannot read: {exc.strerror}") from None
    except RulesInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    failures = check_examples(ruleset)
    total = sum(len(v) for r in ruleset.rules for v in r.examples.values()) + sum(
        len(v) for c in ruleset.disclaimers.values() for v in c.examples.values())
    for failure in failures:
        click.echo(f"FAIL {failure}")
    click.echo(f"{total} examples, {len(failures)} failed")
    sys.exit(1 if failures else 0)


@rules.command("explain")
@click.argument("target")
@rules_option
@translate_errors
def rules_explain(target: str, rules_path: str | None) -> None:
    """Show which sentences of a page (URL or HTML file) fire which rule, and which vetoes
    suppressed the near-misses."""
    from monitor.extract import extract

    ruleset = load_ruleset(rules_path)
    html, source = _read_target(target)
    doc = extract(html, source)
    evaluation = ruleset.evaluate(doc, explain=True)
    click.secho(f"{source}: {doc.title or '(no title)'} - {len(doc.paragraphs)} paragraphs, "
                f"{doc.words} words", bold=True)
    click.echo("\nFIRED")
    for f in evaluation.findings:
        click.secho(f"  {f.rule} [{f.category}, {f.severity}] on {f.match!r}", fg="red")
        click.echo(f"    > {f.text}")
    if not evaluation.findings:
        click.echo("  (nothing)")
    click.echo("\nSUPPRESSED (near-misses)")
    for m in evaluation.near_misses:
        click.secho(f"  {m.rule} on {m.match!r}: {m.veto} ({m.detail})", fg="yellow")
        click.echo(f"    > {m.text}")
    if not evaluation.near_misses:
        click.echo("  (nothing)")
    click.echo("\nDISCLAIMERS ON THE PAGE")
    for name in ruleset.disclaimers:
        found = evaluation.disclaimers.get(name)
        click.echo(f"  {name}: " + (f"\"{found[0]}\"" if found else "absent"))
    for rule_id, why in evaluation.incomplete.items():
        click.secho(f"\nINCOMPLETE: {rule_id} {why}", fg="red")


def _read_target(target: str) -> tuple[str, str]:
    """HTML of a file or a URL (fetched politely, like any check)."""
    path = Path(target)
    if path.exists():
        return path.read_text(encoding="utf-8", errors="replace"), str(path)
    if "://" not in target:
        raise InputError(f"{target}: no such file, and not a URL")
    from crawler.items import FetchRequest
    from crawler.runner import fetch

    page = fetch([FetchRequest(validate_url(target))])[0]
    if page.error:
        raise InputError(f"{target}: {page.error}")
    return page.text(), target


@rules.command("kinds")
def rules_kinds() -> None:
    """Describe the rule kinds rules.yaml can use."""
    from monitor.rulekinds import KINDS

    for name, kind in KINDS.items():
        click.secho(name, bold=True)
        click.echo("  " + "\n  ".join((kind.__doc__ or "").strip().splitlines()))
        click.echo()


# ------------------------------------------------------------------ history and evidence

@main.command()
@click.argument("url")
@state_option
@click.option("--all-fetches", is_flag=True, help="Also list fetches that changed nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@translate_errors
def history(url: str, state_dir: str, all_fetches: bool, as_json: bool) -> None:
    """List a page's snapshots and what changed in each."""
    from monitor.history import history as page_history
    from monitor.store import Store

    with Store.in_dir(state_dir) as store:
        entries = page_history(store, url, fetches=all_fetches)
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], ensure_ascii=False))
        return
    for e in entries:
        when = _when(e.at)
        if e.snapshot_id is None:
            click.secho(f"{when}  {e.outcome:9} HTTP {e.http_status or '-'}  {e.note or ''}",
                        fg="yellow" if e.outcome != "unchanged" else None)
            continue
        click.secho(f"{when}  snapshot {e.snapshot_id}  HTTP {e.http_status}  {e.words} words, "
                    f"+{len(e.added)} -{len(e.removed)} sentences", bold=True)
        for sentence in e.added:
            click.secho(f"    + {sentence}", fg="green")
        for sentence in e.removed:
            click.secho(f"    - {sentence}", fg="red")
        for f in e.opened:
            click.echo(f"    opened   #{f.id} {f.category}: {f.text}")
        for f in e.resolved:
            click.echo(f"    resolved #{f.id} {f.category}: {f.text}")


@main.command()
@click.argument("url")
@state_option
@click.option("--from", "from_id", type=int, help="Snapshot id to diff from (default: previous).")
@click.option("--to", "to_id", type=int, help="Snapshot id to diff to (default: latest).")
@click.option("--context", default=1, show_default=True, help="Unchanged sentences to show.")
@translate_errors
def diff(url: str, state_dir: str, from_id: int | None, to_id: int | None,
         context: int) -> None:
    """Print a readable diff of a page's main text between two snapshots."""
    from monitor.diff import render
    from monitor.history import snapshot_pair
    from monitor.store import Store

    with Store.in_dir(state_dir) as store:
        old, new, changes = snapshot_pair(store, url, from_id, to_id)
    click.secho(f"--- snapshot {old.id}  {_when(old.fetched_at)}", fg="red")
    click.secho(f"+++ snapshot {new.id}  {_when(new.fetched_at)}", fg="green")
    lines = render(changes, context=context)
    for line in lines:
        colour = {"+": "green", "-": "red"}.get(line[:1])
        click.secho(line, fg=colour)
    if not lines:
        click.echo("(no change in the main text)")


@main.group()
def evidence() -> None:
    """Export what a page said when a finding was made."""


@evidence.command("export")
@click.argument("finding_id", type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Output file (.warc.gz).")
@state_option
@translate_errors
def evidence_export(finding_id: int, out: str, state_dir: str) -> None:
    """Write the page a finding was first seen on as a WARC file."""
    from monitor.evidence import evidence_for_finding, write_warc
    from monitor.store import Store

    with Store.in_dir(state_dir) as store:
        finding, record = evidence_for_finding(store, finding_id)
    path = write_warc(out, finding, record)
    click.echo(f"{path}: finding #{finding.id} on {record.url}, fetched {_when(record.fetched_at)}"
               f", {record.size} bytes, sha256 {record.sha256}")


@rules.command("apply")
@state_option
@rules_option
@translate_errors
def rules_apply(state_dir: str, rules_path: str | None) -> None:
    """Re-evaluate every page's last snapshot under the current rules now.

    Claims the new rules find on unchanged pages become baseline (no burst of alerts);
    findings the new rules no longer make are resolved."""
    from monitor.check import reevaluate_all
    from monitor.store import Store

    ruleset = load_ruleset(rules_path)
    with Store.in_dir(state_dir) as store:
        counts = reevaluate_all(store, ruleset)
    click.echo(f"{counts['pages']} page(s) re-evaluated: {counts['baseline']} baseline, "
               f"{counts['resolved']} resolved")


def _when(ts: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":  # pragma: no cover
    main()
