"""The `claimwatch` command: translates arguments into library calls and errors into messages."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from monitor.errors import ClaimwatchError, InputError
from monitor.watches import validate_url

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


# ------------------------------------------------------------------------------- watches

@main.group()
def watch() -> None:
    """Manage the watch list: the pages the daemon checks on a schedule."""


def _add_specs(store: Any, specs: list[Any], progress: bool = False) -> tuple[int, int]:
    import random
    import time as _time

    from monitor import schedule

    now, added, updated = _time.time(), 0, 0
    rng = random.Random()
    items = specs
    bar = None
    if progress and len(specs) > 200:
        bar = click.progressbar(specs, label="importing", file=sys.stderr)
        items = bar.__enter__()
    try:
        with store.transaction():
            for spec in items:
                _, created = store.add_watch(spec.url, interval=spec.interval, tags=spec.tags,
                                             now=now, next_check=schedule.first_check(
                                                 spec.interval, now, rng))
                added += created
                updated += not created
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    return added, updated


@watch.command("add")
@click.argument("urls", nargs=-1)
@click.option("--every", default="6h", show_default=True, help="Interval: 30s, 15m, 6h, 1d.")
@click.option("--tag", "tags", multiple=True, help="Tag (repeatable).")
@click.option("--sitemap", help="Also add every page listed in this sitemap.xml.")
@state_option
@translate_errors
def watch_add(urls: tuple[str, ...], every: str, tags: tuple[str, ...], sitemap: str | None,
              state_dir: str) -> None:
    """Watch URLs (http/https) on a schedule."""
    from monitor.sitemap import sitemap_urls
    from monitor.store import Store
    from monitor.watches import WatchSpec, parse_duration

    interval = parse_duration(every)
    found = [validate_url(u) for u in urls]
    if sitemap:
        found += [validate_url(u) for u in sitemap_urls(validate_url(sitemap))]
    if not found:
        raise InputError("give at least one URL (or --sitemap URL)")
    specs = [WatchSpec(u, interval, tuple(tags)) for u in dict.fromkeys(found)]
    with Store.in_dir(state_dir) as store:
        added, updated = _add_specs(store, specs)
    click.echo(f"{added} watch(es) added, {updated} updated (every {every})")


@watch.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--every", default="6h", show_default=True, help="Default interval.")
@click.option("--tag", "tags", multiple=True, help="Default tag (repeatable).")
@state_option
@translate_errors
def watch_import(file: str, every: str, tags: tuple[str, ...], state_dir: str) -> None:
    """Import watches: one URL per line, or YAML with per-URL `every` and `tags`."""
    from monitor.store import Store
    from monitor.watches import parse_duration, parse_watch_file

    text = click.open_file(file, encoding="utf-8").read()
    specs = list(parse_watch_file(text, file, parse_duration(every), tuple(tags)))
    with Store.in_dir(state_dir) as store:
        added, updated = _add_specs(store, specs, progress=True)
    click.echo(f"{file}: {added} watch(es) added, {updated} updated")


@watch.command("list")
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@translate_errors
def watch_list(state_dir: str, as_json: bool) -> None:
    """List watched pages with their schedule and state."""
    from monitor.store import Store
    from monitor.watches import format_duration

    with Store.in_dir(state_dir) as store:
        rows = store.watches()
    if as_json:
        click.echo(json.dumps([{
            "url": w.url, "every": format_duration(w.interval_s), "tags": list(w.tags),
            "next_check": w.next_check, "last_checked": w.last_checked,
            "last_status": w.last_status, "failures": w.failures, "last_error": w.last_error,
        } for w in rows], ensure_ascii=False))
        return
    for w in rows:
        state = w.last_status or "never checked"
        if w.failures:
            state += f", {w.failures} failure(s): {w.last_error}"
        tags = f" [{', '.join(w.tags)}]" if w.tags else ""
        click.echo(f"{w.url}  every {format_duration(w.interval_s)}{tags}  {state}")
    click.echo(f"{len(rows)} watch(es)", err=True)


@watch.command("remove")
@click.argument("urls", nargs=-1, required=True)
@state_option
@translate_errors
def watch_remove(urls: tuple[str, ...], state_dir: str) -> None:
    """Stop watching URLs (their history and findings are kept)."""
    from monitor.store import Store

    with Store.in_dir(state_dir) as store:
        missing = [u for u in urls if not store.unschedule(validate_url(u))]
    if missing:
        raise InputError(f"not watched: {', '.join(missing)}")
    click.echo(f"{len(urls)} watch(es) removed")


@watch.command("export")
@state_option
@translate_errors
def watch_export(state_dir: str) -> None:
    """Print the watch list as YAML (what `watch import` reads)."""
    from monitor.store import Store
    from monitor.watches import WatchSpec, export_watches

    with Store.in_dir(state_dir) as store:
        specs = [WatchSpec(w.url, w.interval_s, w.tags) for w in store.watches()]
    click.echo(export_watches(specs), nl=False)


# -------------------------------------------------------------------------------- daemon

@main.command()
@state_option
@rules_option
@click.option("--once", is_flag=True, help="Check every due watch once, deliver, and exit.")
@click.option("--all", "everything", is_flag=True, help="With --once: every watch, due or not.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print a JSON summary.")
@click.option("--workers", type=click.IntRange(min=1), help="Extraction processes (default: CPUs).")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True,
              help="Requests in flight in total.")
@click.option("--per-host", type=click.IntRange(min=1), default=4, show_default=True,
              help="Requests in flight per host.")
@translate_errors
def run(state_dir: str, rules_path: str | None, once: bool, everything: bool, as_json: bool,
        workers: int | None, concurrency: int, per_host: int) -> None:
    """Run the monitor: check watches when due until stopped (SIGTERM), reload rules on SIGHUP."""
    import os

    from monitor.daemon import Daemon, DaemonSettings

    if everything and not once:
        raise InputError("--all only makes sense with --once")
    path = resolve_rules_path(rules_path)
    ruleset = load_ruleset(str(path))
    settings = DaemonSettings(
        state_dir=Path(state_dir), rules_path=path, once=once, everything=everything,
        workers=workers or max(1, os.cpu_count() or 1), concurrency=concurrency,
        per_host=per_host, max_inflight=max(64, concurrency * 4))
    daemon = Daemon(settings, ruleset)
    code = daemon.run()
    if once:
        click.echo(daemon.summary.line(), err=True)
        if as_json:
            click.echo(json.dumps(daemon.summary.to_json()))
    sys.exit(code)


@main.command()
@click.argument("url")
@state_option
@translate_errors
def recheck(url: str, state_dir: str) -> None:
    """Ask the running daemon to check a watched URL next, ahead of scheduled work."""
    import time as _time

    from monitor.daemon import heartbeat, is_alive
    from monitor.store import Store

    url = validate_url(url)
    with Store.in_dir(state_dir) as store:
        if not store.request_recheck(url):
            raise InputError(f"{url} is not watched (add it with: claimwatch watch add {url})")
        alive = is_alive(heartbeat(store), _time.time())
    if alive:
        click.echo(f"{url}: queued; the daemon checks it next")
    else:
        click.echo(f"{url}: queued, but no daemon is running on {state_dir}; "
                   f"it is checked first when 'claimwatch run' starts (or now: claimwatch "
                   f"check {url})")


@main.command()
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@translate_errors
def status(state_dir: str, as_json: bool) -> None:
    """Is the daemon alive, and how are the watches doing."""
    import time as _time

    from monitor.daemon import heartbeat, is_alive
    from monitor.store import Store

    now = _time.time()
    with Store.in_dir(state_dir) as store:
        beat = heartbeat(store)
        counts = store.watch_counts(now, overdue_after=300)
        failing = store.failing_watches()
    alive = is_alive(beat, now)
    report = {
        "daemon": {"alive": alive, "pid": beat.get("pid") if beat else None,
                   "heartbeat_age": round(now - beat["at"], 1) if beat else None,
                   "rules": beat.get("rules") if beat else None},
        **counts,
        "failing_watches": [{"url": w.url, "failures": w.failures, "last_error": w.last_error,
                             "last_success": w.last_success} for w in failing],
    }
    if as_json:
        click.echo(json.dumps(report))
        return
    if alive:
        age = report["daemon"]["heartbeat_age"]
        click.secho(f"daemon: running (pid {beat['pid']}, heartbeat {age}s ago)", fg="green")
    elif beat:
        click.secho(f"daemon: not running (last heartbeat {_when(beat['at'])})", fg="red")
    else:
        click.secho("daemon: never ran on this state directory", fg="yellow")
    click.echo(f"watches: {counts['watches']} ({counts['due']} due, {counts['overdue']} overdue, "
               f"{counts['failing']} failing)")
    for w in failing:
        last = _when(w.last_success) if w.last_success else "never"
        click.echo(f"  failing: {w.url}: {w.failures}x {w.last_error} (last success {last})")


def _when(ts: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":  # pragma: no cover
    main()
