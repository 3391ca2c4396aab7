"""The `claimwatch` command: translates arguments into library calls and errors into messages."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from monitor.errors import ClaimwatchError, InputError
from monitor.watches import validate_url

DEFAULT_STATE = "state"
RULES_VALIDATED = "rules.validated"  # meta key: rules texts this engine validated in full
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


class Settings:
    """What the `main` group passes to every command: the configuration, loaded on first use."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.group_state: str | None = None  # a --state given to a group (`alerts --state X`)
        self._config: Any = None

    def config(self) -> Any:
        """The validated configuration (ConfigError, exit 2, if it is not)."""
        if self._config is None:
            from monitor.config import load_config

            self._config = load_config(self.path)
        return self._config

    def state_dir(self, given: str | None) -> Path:
        """--state, else $CLAIMWATCH_STATE_DIR, else the config file's state_dir, else state/."""
        given = given or self.group_state
        return Path(given) if given else self.config().state_dir

    def rules_path(self, given: str | None) -> Path:
        """--rules, else $CLAIMWATCH_RULES, else the config file's rules, else ./rules.yaml."""
        configured = self.config().rules
        return resolve_rules_path(given or (str(configured) if configured else None))

    def rules(self, given: str | None, store: Any = None, *, evaluating: bool = False,
              apart: Any = None) -> Any:
        """The validated rules (`rules_path`); RulesInvalid, exit 2, if they are not. With a
        store, a file this engine already validated in full is not validated again, and a
        command `evaluating` pages in this process takes the patterns the daemon's
        forkserver compiled (monitor.patterncache) instead of compiling them again. Patterns
        compiled to validate them are saved there for the forkserver likewise. `apart`: the
        validation `validation_apart` started, whose verdict this waits for."""
        from monitor import patterncache
        from monitor.rules import load_rules

        if store is None:
            return load_rules(self.rules_path(given))
        known = json.loads(store.meta(RULES_VALIDATED) or "[]")
        if apart is not None:
            ruleset = apart.ruleset()
        else:
            ruleset = load_rules(self.rules_path(given), known_good=known)
        if ruleset.fully_validated:
            if apart is None:  # the child saved them
                patterncache.save(store.path.parent, ruleset.patterns)
            if ruleset.validation_key not in known:
                store.set_meta(RULES_VALIDATED,
                               json.dumps([ruleset.validation_key, *known][:8]))
        elif evaluating:
            patterncache.load(store.path.parent, ruleset.patterns)
        return ruleset

    def validation_apart(self, given: str | None, store: Any) -> Any:
        """Start validating the rules, unless the store knows them, in a forked child
        (rules.ValidationApart) for `rules(..., apart=)` to finish: for `run`, which keeps
        its rules for as long as it runs, evaluates pages only in its workers, and has set-up
        of its own to do meanwhile. Call it while this process has no other thread."""
        from monitor.rules import ValidationApart

        known = json.loads(store.meta(RULES_VALIDATED) or "[]")
        return ValidationApart(self.rules_path(given), store.path.parent, known_good=known)


pass_settings = click.make_pass_decorator(Settings, ensure=True)


def state_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--state", "state_dir", type=click.Path(file_okay=False),
                        default=None,
                        help="Directory of the state database (claimwatch.db). Default: "
                             "$CLAIMWATCH_STATE_DIR, else state_dir in the config, else "
                             f"./{DEFAULT_STATE}.")(fn)


def rules_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--rules", "rules_path", type=click.Path(dir_okay=False),
                        default=None, help="Rules file. Default: $CLAIMWATCH_RULES, else rules "
                                           "in the config, else ./rules.yaml.")(fn)


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON instead of text.")(fn)


def resolve_rules_path(given: str | None) -> Path:
    """The rules file to use: the one given, ./rules.yaml, or the one shipped with the source."""
    if given:
        return Path(given)
    here = Path(DEFAULT_RULES)
    if here.exists():
        return here
    bundled = Path(__file__).resolve().parent.parent / DEFAULT_RULES
    return bundled if bundled.exists() else here


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv: debug).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Configuration file. Default: $CLAIMWATCH_CONFIG, else ./claimwatch.toml "
                   "if there is one.")
@click.version_option(package_name="claimwatch")
@click.pass_context
def main(ctx: click.Context, verbose: int, config_path: str | None) -> None:
    """Watch clinic pages for unsupported health claims and alert compliance reviewers."""
    ctx.obj = Settings(config_path)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # apprise logs full URLs (passwords) at TRACE and urllib3 request paths (webhook tokens)
    # at DEBUG: never below INFO, whatever the verbosity.
    for secretive in ("apprise", "urllib3", "requests"):
        logging.getLogger(secretive).setLevel(max(level, logging.INFO))
    if verbose < 2:
        for noisy in ("scrapy", "twisted", "trafilatura", "htmldate", "filelock"):
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
        for name in _FETCH_FAILURE_LOGGERS:
            logging.getLogger(name).addFilter(_not_a_fetch_failure)


# Scrapy logs each failed request at ERROR, with a traceback ("Gave up retrying <GET ...>",
# "Error downloading <GET ...>"); claimwatch reports every failed fetch itself, in one line.
_FETCH_FAILURE_LOGGERS = ("scrapy.downloadermiddlewares.retry",
                          "scrapy.downloadermiddlewares.robotstxt", "scrapy.core.scraper")


def _not_a_fetch_failure(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(("Gave up retrying", "Error downloading"))


# ---------------------------------------------------------------------------------- check

@main.command()
@click.argument("url")
@state_option
@rules_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@click.option("--timeout", type=click.FloatRange(min=1), default=30, show_default=True,
              help="Seconds to wait for the page.")
@click.option("--no-notify", is_flag=True,
              help="Queue this check's alerts without sending them (`claimwatch deliver` or "
                   "the daemon sends them later).")
@pass_settings
@translate_errors
def check(settings: Settings, url: str, state_dir: str | None, rules_path: str | None,
          as_json: bool, timeout: float, no_notify: bool) -> None:
    """Fetch URL now and process it exactly as a scheduled check would.

    New or resolved findings are sent to the configured notification targets after the result
    is printed (nothing but the result goes to stdout).

    Exit status: 0 nothing new, 1 baseline or new findings, 2 fetch error or bad input.
    """
    from crawler.items import FetchRequest
    from crawler.runner import fetch
    from monitor.check import process
    from monitor.outbox import QueuePolicy
    from monitor.store import Store

    url = validate_url(url)
    config = settings.config()
    with Store.in_dir(settings.state_dir(state_dir)) as store:
        ruleset = settings.rules(rules_path, store, evaluating=True)
        targets = None
        if not no_notify and config.notify.enabled:
            from monitor.notify import Targets, target_salt

            # A bad URL stops the command before the fetch, not after it.
            targets = Targets.load(config.notify, target_salt(store))
        watch = store.watch(url)
        request = FetchRequest(url, watch.etag if watch else None,
                               watch.last_modified if watch else None)
        page = fetch([request], settings={"DOWNLOAD_TIMEOUT": timeout},
                     timeout=timeout * 4 + 30)[0]
        result = process(store, page, ruleset, queue=QueuePolicy.from_config(config.notify))
        if as_json:
            click.echo(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            print_result(result)
        sys.stdout.flush()
        if targets is not None and result.queued:
            _deliver_own(store, config.notify, targets, result.queued)
    if result.status == "error":
        if not as_json:
            click.echo(f"claimwatch: error: {url}: {result.error}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if result.alerting else EXIT_OK)


def _deliver_own(store: Any, notify_config: Any, targets: Any, queued: list[int]) -> None:
    """Send the messages a check queued; failures are retried later, said on stderr."""
    from monitor.notify import deliver_pending

    report = deliver_pending(store, notify_config, now=time.time(), ignore_backoff=True,
                             only=queued, targets=targets)
    for message in report.messages:
        if message.status == "pending":
            click.echo(f"claimwatch: warning: message cw-{message.id} not delivered to every "
                       f"target; it will be retried (claimwatch deliver)", err=True)
        elif message.status == "failed":
            click.echo(f"claimwatch: warning: message cw-{message.id} failed: {message.note}",
                       err=True)


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
@pass_settings
@translate_errors
def rules_lint(settings: Settings, file: str | None) -> None:
    """Validate a rules file (default: the configured one, else ./rules.yaml); exit 1 listing
    every problem."""
    from monitor.rules import RulesInvalid, load_rules

    path = resolve_rules_path(file or _configured_rules(settings))
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
@pass_settings
@translate_errors
def rules_test(settings: Settings, file: str | None) -> None:
    """Run every rule's examples; print the failures; exit 1 if any fail."""
    from monitor.rules import RulesInvalid, check_examples, parse_rules

    path = resolve_rules_path(file or _configured_rules(settings))
    try:
        ruleset = parse_rules(path.read_text(encoding="utf-8"), str(path), run_examples=False)
    except OSError as exc:
        raise Failure(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise Failure(f"{path}: not UTF-8 text (byte {exc.start})") from None
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
@pass_settings
@translate_errors
def rules_explain(settings: Settings, target: str, rules_path: str | None) -> None:
    """Show which sentences of a page (URL or HTML file) fire which rule, and which vetoes
    suppressed the near-misses."""
    from monitor.extract import extract

    ruleset = settings.rules(rules_path)
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


def _configured_rules(settings: Settings) -> str | None:
    configured = settings.config().rules
    return str(configured) if configured else None


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

# -------------------------------------------------------------------------------- deliver

@main.command()
@state_option
@click.option("--retry-failed", is_flag=True,
              help="First put messages that ran out of attempts back in the queue.")
@json_option
@pass_settings
@translate_errors
def deliver(settings: Settings, state_dir: str | None, retry_failed: bool,
            as_json: bool) -> None:
    """Send every pending notification now, ignoring back-off timers (one pass).

    Each message goes to each matching target separately; what a target already received is
    never sent to it again. Exit status: 0 nothing left pending or failed, 1 otherwise.
    """
    from monitor.notify import deliver_pending
    from monitor.store import Store

    config = settings.config()
    with Store.in_dir(settings.state_dir(state_dir)) as store:
        if retry_failed:
            with store.transaction():
                requeued = store.retry_failed(time.time())
            if requeued and not as_json:
                click.echo(f"{requeued} failed message(s) put back in the queue")
        report = deliver_pending(store, config.notify, now=time.time(), ignore_backoff=True)
    if as_json:
        click.echo(json.dumps(_report_json(report)))
    else:
        _print_delivery(report)
    sys.exit(EXIT_OK if report.settled else EXIT_FINDINGS)


def _report_json(report: Any) -> dict[str, Any]:
    return {"messages": [{"id": m.id, "kind": m.kind, "audience": m.audience,
                          "status": m.status, "note": m.note,
                          "targets": [{"target": t.label, "ok": t.ok, "error": t.error,
                                       "truncated": t.truncated} for t in m.targets]}
                         for m in report.messages],
            "counts": report.counts, "pending": report.pending, "failed": report.failed,
            "next_due": report.next_due, "reviewer_targets": report.reviewer_targets,
            "operator_targets": report.operator_targets}


def _print_delivery(report: Any) -> None:
    colours = {"sent": "green", "pending": "yellow", "failed": "red", "skipped": None}
    for m in report.messages:
        click.secho(f"cw-{m.id} {m.kind}: {m.status}", fg=colours.get(m.status), bold=True)
        for t in m.targets:
            if t.ok:
                click.echo(f"  sent    {t.label}" + ("  (shortened to fit)" if t.truncated
                                                     else ""))
            else:
                click.echo(f"  FAILED  {t.label}: {t.error}")
        if m.note and m.status != "sent":
            click.echo(f"  {m.note}")
    if not report.reviewer_targets and report.pending:
        click.secho("no reviewer target configured: messages wait in the queue until one is "
                    "([notify] urls or config in claimwatch.toml, or $CLAIMWATCH_NOTIFY)",
                    fg="yellow")
    sent = sum(1 for m in report.messages if m.status == "sent")
    click.echo(f"{sent} sent this pass; {report.pending} pending, {report.failed} failed")


# --------------------------------------------------------------------------------- notify

@main.group()
def notify() -> None:
    """Check the notification targets and the outbox."""


@notify.command("test")
@pass_settings
@translate_errors
def notify_test(settings: Settings) -> None:
    """Send a test message to every configured target and print each one's real result.

    Exit status: 0 every target accepted it, 1 at least one did not, 2 no target configured.
    """
    from monitor.notify import send_test

    config = settings.config()
    if not config.notify.enabled:
        raise Failure("no notification target configured ([notify] urls, config or "
                      "operator_urls in claimwatch.toml, or $CLAIMWATCH_NOTIFY)")
    results = send_test(config.notify)
    for r in results:
        if r.ok:
            click.secho(f"OK      {r.label}", fg="green")
        else:
            click.secho(f"FAILED  {r.label}: {r.error}", fg="red")
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_FINDINGS)


@notify.command("status")
@state_option
@click.option("--all", "show_all", is_flag=True, help="Include messages already sent.")
@json_option
@pass_settings
@translate_errors
def notify_status(settings: Settings, state_dir: str | None, show_all: bool,
                  as_json: bool) -> None:
    """List queued notifications and each target's delivery (pending and failed by default)."""
    from monitor.markup import when
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        rows = store.outbox(None if show_all else ("pending", "failed"))
        listed = [(row, store.deliveries(row.id)) for row in rows]
        counts = store.outbox_counts()
    if as_json:
        click.echo(json.dumps({"counts": counts, "messages": [
            {"id": row.id, "kind": row.kind, "audience": row.audience, "status": row.status,
             "attempts": row.attempts, "created_at": row.created_at,
             "next_attempt_at": row.next_attempt_at, "last_error": row.last_error,
             "deliveries": [{"target": d.label, "delivered_at": d.delivered_at,
                             "attempts": d.attempts, "error": d.last_error} for d in ds]}
            for row, ds in listed]}))
        return
    for row, ds in listed:
        click.secho(f"cw-{row.id} {row.kind} ({row.audience}): {row.status}, "
                    f"{row.attempts} attempt(s), queued {when(row.created_at)}", bold=True)
        if row.status == "pending":
            click.echo(f"  next attempt {when(row.next_attempt_at)}")
        for d in ds:
            state = f"delivered {when(d.delivered_at)}" if d.delivered_at else \
                f"not delivered: {d.last_error}"
            click.echo(f"  {d.label}: {state}")
        if row.last_error and row.status != "sent":
            click.echo(f"  {row.last_error}")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    click.echo(summary or "the outbox is empty")


# --------------------------------------------------------------------------------- alerts

@main.group(invoke_without_command=True)
@state_option
@click.option("--status", type=click.Choice(["open", "acked", "resolved", "all"]),
              default="open", show_default=True,
              help="open: on the page and not acknowledged; acked; resolved; all.")
@click.option("--include-muted", is_flag=True, help="Also list findings of muted rules.")
@json_option
@click.pass_context
@translate_errors
def alerts(ctx: click.Context, state_dir: str | None, status: str, include_muted: bool,
           as_json: bool) -> None:
    """List findings for review (open ones by default); show, acknowledge or mute them.

    Muted findings (a rule a reviewer accepted on a page) are hidden unless --include-muted.
    """
    ctx.ensure_object(Settings).group_state = state_dir
    if ctx.invoked_subcommand is not None:
        return
    from monitor.review import alert_json, list_alerts, state_of
    from monitor.store import Store

    with Store.in_dir(ctx.obj.state_dir(state_dir)) as store:
        items = list_alerts(store, status, include_muted=include_muted)
    if as_json:
        click.echo(json.dumps([alert_json(i) for i in items], ensure_ascii=False))
        return
    _print_alerts(items, state_of)


def _print_alerts(items: list[Any], state_of: Callable[[Any], str]) -> None:
    from monitor.markup import when

    colours = {"high": "red", "medium": "yellow", "low": None}
    for item in items:
        f = item.finding
        click.secho(f"#{f.id:<5} {state_of(item):8} {f.severity:6} {f.category}",
                    fg=colours.get(f.severity), bold=True)
        click.echo(f"       {item.title or item.url}  {item.url}" if item.title else
                   f"       {item.url}")
        click.echo(f"       > {f.text}")
        click.echo(f"       first seen {when(f.first_seen)}"
                   + (f", resolved {when(f.resolved_at)}" if f.resolved_at else "")
                   + (f", acknowledged {when(f.acked_at)}" if f.acked_at else ""))
    click.echo(f"{len(items)} finding(s)")


@alerts.command("show")
@click.argument("finding_id", type=int)
@state_option
@json_option
@click.option("--raw", is_flag=True,
              help="Print only the evidence: the page's raw response body as it was fetched.")
@pass_settings
@translate_errors
def alerts_show(settings: Settings, finding_id: int, state_dir: str | None,
                as_json: bool, raw: bool) -> None:
    """Show one finding: the claim in its paragraph, the diff that introduced it, the evidence
    (the raw response it was found in) and the notifications sent about it."""
    from monitor.markup import highlight_text, when
    from monitor.review import alert_json, show
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        detail = show(store, finding_id)
    item, f, intro, ev = detail.item, detail.item.finding, detail.introduction, detail.evidence
    if raw:
        if ev is None:
            raise InputError(f"finding {finding_id} has no stored evidence")
        click.echo(ev.body.decode("utf-8", errors="replace"), nl=False)
        return
    if as_json:
        click.echo(json.dumps({
            **alert_json(item), "diff": intro.lines, "baseline": intro.baseline,
            "evidence": None if ev is None else {
                "snapshot_id": ev.snapshot_id, "url": ev.url, "final_url": ev.final_url,
                "fetched_at": ev.fetched_at, "http_status": ev.http_status,
                "sha256": ev.sha256, "size": ev.size},
            "notifications": [{"id": row.id, "kind": row.kind, "status": row.status,
                               "deliveries": [{"target": d.label,
                                               "delivered_at": d.delivered_at,
                                               "error": d.last_error} for d in ds]}
                              for row, ds in detail.notifications]}, ensure_ascii=False))
        return
    click.secho(f"#{f.id} {f.severity.upper()} {f.category} ({f.rule})", bold=True)
    click.echo(f"page:       {item.title}  {item.url}" if item.title else f"page:       {item.url}")
    click.echo(f"status:     {_status_line(item)}")
    click.echo(f"first seen: {when(f.first_seen)} ({f.origin}); last seen {when(f.last_seen)}")
    click.echo(f"claim:      {f.text}")
    click.echo(f"why:        {f.message}")
    if f.link:
        click.echo(f"authority:  {f.link}")
    if f.context.strip():
        click.echo(f"paragraph:  {highlight_text(f.context, f.text)}")
    click.echo()
    if intro.baseline:
        click.echo("On the page since it was first checked (baseline): no diff.")
    elif intro.lines:
        since = when(intro.previous.fetched_at) if intro.previous else "-"
        click.echo(f"The change that introduced it (since {since}):")
        for line in intro.lines:
            colour = "green" if line.startswith("+ ") else "red" if line.startswith("- ") \
                else None
            click.secho(f"  {line}", fg=colour)
    if ev is not None:
        click.echo(f"\nevidence:   HTTP {ev.http_status} {ev.final_url or ev.url}, fetched "
                   f"{when(ev.fetched_at)}, {ev.size} bytes, sha256 {ev.sha256}")
    for row, ds in detail.notifications:
        targets = ", ".join(f"{d.label} ({'delivered' if d.delivered_at else 'not delivered'})"
                            for d in ds) or "no target yet"
        click.echo(f"notified:   cw-{row.id} {row.kind} {row.status}: {targets}")


def _status_line(item: Any) -> str:
    from monitor.markup import when
    from monitor.review import state_of

    f = item.finding
    parts = [state_of(item)]
    if f.resolved_at:
        parts.append(f"resolved {when(f.resolved_at)}: {f.resolved_reason}")
    if f.acked_at:
        parts.append(f"acknowledged {when(f.acked_at)}" + (f": {f.ack_note}" if f.ack_note
                                                          else ""))
    return "; ".join(parts)


@alerts.command("ack")
@click.argument("finding_ids", type=int, nargs=-1, required=True)
@click.option("--note", default=None, help="Why, for the record.")
@state_option
@pass_settings
@translate_errors
def alerts_ack(settings: Settings, finding_ids: tuple[int, ...], note: str | None,
               state_dir: str | None) -> None:
    """Acknowledge findings (all or none): they leave the open list."""
    from monitor.review import ack
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        already = ack(store, finding_ids, note=note, now=time.time())
    fresh = [i for i in sorted(set(finding_ids)) if i not in already]
    if fresh:
        click.echo(f"acknowledged {', '.join(f'#{i}' for i in fresh)}")
    if already:
        click.echo(f"already acknowledged: {', '.join(f'#{i}' for i in already)}")


@alerts.command("mute")
@click.argument("url")
@click.option("--rule", required=True, help="The rule id (as in `claimwatch alerts`).")
@click.option("--note", default=None, help="Why it is acceptable on this page.")
@state_option
@pass_settings
@translate_errors
def alerts_mute(settings: Settings, url: str, rule: str, note: str | None,
                state_dir: str | None) -> None:
    """Accept a rule's findings on one page: they are no longer sent to anyone and are hidden
    from `alerts` and the report (still recorded; see --include-muted)."""
    from monitor.review import mute
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        added = mute(store, validate_url(url), rule, note=note, now=time.time())
    click.echo(f"muted {rule} on {url}" if added else f"{rule} was already muted on {url}")


@alerts.command("unmute")
@click.argument("url")
@click.option("--rule", required=True, help="The rule id.")
@state_option
@pass_settings
@translate_errors
def alerts_unmute(settings: Settings, url: str, rule: str, state_dir: str | None) -> None:
    """Lift a mute: the rule's findings on that page are sent and listed again."""
    from monitor.review import unmute
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        removed = unmute(store, validate_url(url), rule)
    click.echo(f"unmuted {rule} on {url}" if removed else f"{rule} was not muted on {url}")


@alerts.command("mutes")
@state_option
@pass_settings
@translate_errors
def alerts_mutes(settings: Settings, state_dir: str | None) -> None:
    """List the mutes: which rule is accepted on which page, when and why."""
    from monitor.markup import when
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        mutes = store.mutes()
    for m in mutes:
        click.echo(f"{m['url']}  {m['rule']}  since {when(m['created_at'])}"
                   + (f"  ({m['note']})" if m["note"] else ""))
    click.echo(f"{len(mutes)} mute(s)")


# --------------------------------------------------------------------------------- report

@main.command()
@state_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="report.html",
              show_default=True, help="Where to write the report ('-' for stdout).")
@pass_settings
@translate_errors
def report(settings: Settings, state_dir: str | None, out_path: str) -> None:
    """Write one self-contained HTML page of the open findings, by site and page, each claim
    highlighted in its paragraph with the diff that introduced it."""
    from monitor.report import build_report
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        page = build_report(store, now=time.time())
    if out_path == "-":
        click.echo(page)
        return
    try:
        Path(out_path).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{out_path}: cannot write: {exc.strerror}") from None
    click.echo(f"wrote {out_path}")



# ------------------------------------------------------------------ history and evidence

@main.command()
@click.argument("url")
@state_option
@click.option("--all-fetches", is_flag=True, help="Also list fetches that changed nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_settings
@translate_errors
def history(settings: Settings, url: str, state_dir: str, all_fetches: bool, as_json: bool) -> None:
    """List a page's snapshots and what changed in each."""
    from monitor.history import history as page_history
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
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
@pass_settings
@translate_errors
def diff(settings: Settings, url: str, state_dir: str, from_id: int | None, to_id: int | None,
         context: int) -> None:
    """Print a readable diff of a page's main text between two snapshots."""
    from monitor.diff import render
    from monitor.history import snapshot_pair
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
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
@pass_settings
@translate_errors
def evidence_export(settings: Settings, finding_id: int, out: str, state_dir: str) -> None:
    """Write the page a finding was first seen on as a WARC file."""
    from monitor.evidence import evidence_for_finding, write_warc
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        finding, record = evidence_for_finding(store, finding_id)
    path = write_warc(out, finding, record)
    click.echo(f"{path}: finding #{finding.id} on {record.url}, fetched {_when(record.fetched_at)}"
               f", {record.size} bytes, sha256 {record.sha256}")


@rules.command("apply")
@state_option
@rules_option
@pass_settings
@translate_errors
def rules_apply(settings: Settings, state_dir: str, rules_path: str | None) -> None:
    """Re-evaluate every page's last snapshot under the current rules now.

    Claims the new rules find on unchanged pages become baseline (no burst of alerts);
    findings the new rules no longer make are resolved."""
    from monitor.check import reevaluate_all
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        ruleset = settings.rules(rules_path, store, evaluating=True)
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
@pass_settings
@translate_errors
def watch_add(settings: Settings, urls: tuple[str, ...], every: str, tags: tuple[str, ...],
              sitemap: str | None, state_dir: str) -> None:
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
    with Store.in_dir(settings.state_dir(state_dir)) as store:
        added, updated = _add_specs(store, specs)
    click.echo(f"{added} watch(es) added, {updated} updated (every {every})")


@watch.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--every", default="6h", show_default=True, help="Default interval.")
@click.option("--tag", "tags", multiple=True, help="Default tag (repeatable).")
@state_option
@pass_settings
@translate_errors
def watch_import(settings: Settings, file: str, every: str, tags: tuple[str, ...],
                 state_dir: str) -> None:
    """Import watches: one URL per line, or YAML with per-URL `every` and `tags`."""
    from monitor.store import Store
    from monitor.watches import parse_duration, parse_watch_file

    text = click.open_file(file, encoding="utf-8").read()
    specs = list(parse_watch_file(text, file, parse_duration(every), tuple(tags)))
    with Store.in_dir(settings.state_dir(state_dir)) as store:
        added, updated = _add_specs(store, specs, progress=True)
    click.echo(f"{file}: {added} watch(es) added, {updated} updated")


@watch.command("list")
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_settings
@translate_errors
def watch_list(settings: Settings, state_dir: str, as_json: bool) -> None:
    """List watched pages with their schedule and state."""
    from monitor.store import Store
    from monitor.watches import format_duration

    with Store.in_dir(settings.state_dir(state_dir)) as store:
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
@pass_settings
@translate_errors
def watch_remove(settings: Settings, urls: tuple[str, ...], state_dir: str) -> None:
    """Stop watching URLs (their history and findings are kept)."""
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        missing = [u for u in urls if not store.unschedule(validate_url(u))]
    if missing:
        raise InputError(f"not watched: {', '.join(missing)}")
    click.echo(f"{len(urls)} watch(es) removed")


@watch.command("export")
@state_option
@pass_settings
@translate_errors
def watch_export(settings: Settings, state_dir: str) -> None:
    """Print the watch list as YAML (what `watch import` reads)."""
    from monitor.store import Store
    from monitor.watches import WatchSpec, export_watches

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        specs = [WatchSpec(w.url, w.interval_s, w.tags) for w in store.watches()]
    click.echo(export_watches(specs), nl=False)


# -------------------------------------------------------------------------------- daemon

@main.command()
@state_option
@rules_option
@click.option("--once", is_flag=True, help="Check every due watch once, deliver, and exit.")
@click.option("--all", "everything", is_flag=True, help="With --once: every watch, due or not.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print a JSON summary.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Extraction processes (default: [daemon] workers, else one per CPU).")
@click.option("--concurrency", type=click.IntRange(min=1),
              help="Requests in flight in total (default: [daemon] concurrency, 16).")
@click.option("--per-host", type=click.IntRange(min=1),
              help="Requests in flight per host (default: [daemon] per_host, 4).")
@pass_settings
@translate_errors
def run(settings: Settings, state_dir: str, rules_path: str | None, once: bool,
        everything: bool, as_json: bool, workers: int | None, concurrency: int | None,
        per_host: int | None) -> None:
    """Run the monitor: check watches when due until stopped (SIGTERM); SIGHUP reloads the
    rules and the configuration."""
    import contextlib
    import dataclasses

    from monitor import forkserver

    if everything and not once:
        raise InputError("--all only makes sense with --once")
    config = settings.config()
    path = settings.rules_path(rules_path)
    with contextlib.suppress(OSError, UnicodeDecodeError):  # load_rules reports it below
        # Before the imports and set-up below: the workers' forkserver readies itself on
        # another core meanwhile (monitor.forkserver). The rules are validated below.
        forkserver.start(path.read_text(encoding="utf-8"), str(path),
                         str(settings.state_dir(state_dir)))
    from monitor.store import Store

    with Store.in_dir(settings.state_dir(state_dir)) as store:
        # Validated in a child (nothing here has started a thread yet) from now on, while the
        # daemon's modules load here.
        validation = settings.validation_apart(rules_path, store)
        from monitor.daemon import Daemon, DaemonSettings

        ruleset = settings.rules(rules_path, store, apart=validation)
    if config.notify.enabled:
        from monitor.notify import Targets

        Targets.load(config.notify)  # a bad target URL stops the start, not the first alert
    tuning = dataclasses.replace(config.daemon, workers=workers or config.daemon.workers,
                                 concurrency=concurrency or config.daemon.concurrency,
                                 per_host=per_host or config.daemon.per_host)
    daemon = Daemon(DaemonSettings(
        state_dir=settings.state_dir(state_dir), rules_path=path,
        config=dataclasses.replace(config, daemon=tuning), once=once, everything=everything,
        max_inflight=max(64, tuning.concurrency * 4)), ruleset)
    code = daemon.run()
    if once:
        click.echo(daemon.summary.line(), err=True)
        if as_json:
            click.echo(json.dumps(daemon.summary.to_json()))
    sys.exit(code)


@main.command()
@click.argument("url")
@state_option
@pass_settings
@translate_errors
def recheck(settings: Settings, url: str, state_dir: str) -> None:
    """Ask the running daemon to check a watched URL next, ahead of scheduled work."""
    import time as _time

    from monitor.daemon import heartbeat, is_alive
    from monitor.store import Store

    url = validate_url(url)
    with Store.in_dir(settings.state_dir(state_dir)) as store:
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
@pass_settings
@translate_errors
def status(settings: Settings, state_dir: str, as_json: bool) -> None:
    """Is the daemon alive, and how are the watches doing."""
    import time as _time

    from monitor.daemon import heartbeat, is_alive
    from monitor.store import Store

    now = _time.time()
    with Store.in_dir(settings.state_dir(state_dir)) as store:
        beat = heartbeat(store)
        counts = store.watch_counts(now, overdue_after=300)
        failing = store.failing_watches()
        outbox = store.outbox_counts()
    alive = is_alive(beat, now)
    report = {
        "daemon": {"alive": alive, "pid": beat.get("pid") if beat else None,
                   "heartbeat_age": round(now - beat["at"], 1) if beat else None,
                   "rules": beat.get("rules") if beat else None},
        **counts,
        "outbox": {"pending": outbox.get("pending", 0), "failed": outbox.get("failed", 0)},
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
    click.echo(f"outbox: {report['outbox']['pending']} pending, {report['outbox']['failed']} "
               "failed (claimwatch notify status)")
    for w in failing:
        last = _when(w.last_success) if w.last_success else "never"
        click.echo(f"  failing: {w.url}: {w.failures}x {w.last_error} (last success {last})")


def _when(ts: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":  # pragma: no cover
    main()
