"""Delivery of queued messages through apprise: per target, retried, never lost, never doubled.

The only module that imports apprise. `deliver_pending()` makes one pass over the outbox; it is
safe to call repeatedly, from a thread, and from several processes at once.

Targets. Reviewer targets are `[notify] urls`, `CLAIMWATCH_NOTIFY` and the services of the
apprise configuration file (`[notify] config`); operator targets are `[notify] operator_urls`
and the services of that file tagged `operator`. A target with no tags receives every message
of its audience; a tagged one receives the messages that share a tag with it (a digest carries
its kind, states and severities, e.g. `high`, and the page's tags). A target is identified by a
salted hash of its full URL: the URL, which holds secrets, is never stored or logged, only its
masked form (`json://user:****@host/path`).

Exactly once, and its limits. A message row is inserted in the transaction that records the
check (`monitor.outbox`), so it exists if and only if the finding does. A sender then:
1. claims one pending row with a lease (`BEGIN IMMEDIATE`, so two senders never claim the same
   row; the lease names host, pid and a nonce, and ends when it expires or, on the same host,
   as soon as its process is gone);
2. sends to each matching target that has no delivered flag for the row, one at a time, and
   commits that target's delivered flag (or its error) in its own transaction right after the
   send returns, before the next target;
3. commits the row's outcome and releases the lease: `sent` when every matching target has it,
   otherwise a retry after exponential back-off, or `failed` after `max_attempts` passes (and
   the operators are told).
A crash before a send loses nothing: the row is still pending and is claimed again. A crash
after a delivered flag is committed never resends to that target. What apprise cannot give us
is a remote send atomic with our commit: if the process dies after the remote service accepted
a message and before the flag is committed (a window of milliseconds), that one target gets the
message again. Likewise when apprise gives up waiting (timeout) on a send that later completes.
So delivery is exactly-once except in that window, where it is at-least-once; every message
ends with its stable reference (`cw-<id>`) so a duplicate can be recognised. One target failing
never blocks the others: each has its own flag and error.

Secrets: apprise logs full URLs at TRACE level, and urllib3 logs request paths (where webhook
tokens live) at DEBUG, so both loggers are kept at INFO or above whatever the verbosity, and a
filter masks every configured secret in anything they log. Stored errors are masked too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets as token
import socket
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import apprise
from apprise.conversion import convert_between

from monitor.config import NotifyConfig
from monitor.digest import render
from monitor.errors import ConfigError
from monitor.outbox import OPERATOR, REVIEWER, queue_operator
from monitor.store import OutboxRow, Store

log = logging.getLogger(__name__)

OPERATOR_TAG = "operator"
SALT_KEY = "notify.target_salt"
_LOUD_LOGGERS = ("apprise", "urllib3", "requests")
_SEPARATORS = re.compile(r"[/:@?&=,#+;\s]+")
_USERINFO = re.compile(r"(://)[^/\s@]*@")


# ------------------------------------------------------------------------------ secrets

class _Redactor(logging.Filter):
    """Masks known secrets in log records of apprise and the HTTP libraries it uses, and drops
    apprise's own records while this thread parses a URL whose failure we report ourselves."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.local = threading.local()

    def add(self, more: Iterable[str]) -> None:
        self.secrets.update(more)

    @contextmanager
    def silenced(self, below: int = logging.CRITICAL + 1,
                 problems: list[str] | None = None) -> Iterator[None]:
        """For the block, drop this thread's records under `below` (all by default); if
        `problems` is a list, collect the (masked) warnings and errors into it instead."""
        self.local.below, self.local.problems = below, problems
        try:
            yield
        finally:
            self.local.below, self.local.problems = 0, None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < getattr(self.local, "below", 0):
            return False
        message = record.getMessage()
        masked = redact(message, self.secrets)
        problems = getattr(self.local, "problems", None)
        if problems is not None and record.levelno >= logging.WARNING:
            problems.append(masked)
            return False
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_REDACTOR = _Redactor()


def quiet_loggers() -> None:
    """Keep apprise and urllib3 above DEBUG (they log URLs and secrets there); mask secrets."""
    for name in _LOUD_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


quiet_loggers()


def secrets_of(full_url: str, masked_url: str) -> set[str]:
    """The parts of a URL that its masked form hides (passwords, tokens, keys)."""
    found = _password(full_url)
    shown = set(_SEPARATORS.split(unquote(masked_url)))
    for part in _SEPARATORS.split(unquote(full_url)):
        if len(part) >= 4 and part not in shown and "*" not in part:
            found.add(part)
    return {s for s in found if len(s) >= 3}


def redact(text: str, secrets: Iterable[str]) -> str:
    """Text with every secret replaced by ****."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, "****")
    return text


# ------------------------------------------------------------------------------ targets

@dataclass(frozen=True)
class Target:
    """One apprise service a message can be delivered to."""

    key: str
    label: str
    audience: str
    tags: frozenset[str]
    service: Any = field(repr=False, compare=False)
    secrets: frozenset[str] = field(repr=False, compare=False, default=frozenset())

    def accepts(self, tags: Iterable[str]) -> bool:
        """Untagged targets take every message of their audience; tagged ones, shared tags."""
        return not self.tags or bool(self.tags & set(tags))


@dataclass
class Targets:
    """The configured targets, built and validated from a NotifyConfig."""

    reviewers: list[Target]
    operators: list[Target]

    def of(self, audience: str) -> list[Target]:
        return self.operators if audience == OPERATOR else self.reviewers

    @property
    def all(self) -> list[Target]:
        return self.reviewers + self.operators

    @classmethod
    def load(cls, config: NotifyConfig, salt: str = "") -> Targets:
        """Instantiate every configured URL; ConfigError naming the key of a bad one."""
        asset = _asset()
        reviewers: list[Target] = []
        operators: list[Target] = []
        for key, urls, audience in (("notify.urls", config.urls, REVIEWER),
                                    ("notify.operator_urls", config.operator_urls, OPERATOR)):
            for n, url in enumerate(urls, 1):
                _REDACTOR.add(_password(url))  # before apprise parses (and may log) it
                with _REDACTOR.silenced():  # a failure is reported below, naming the key
                    service = apprise.Apprise.instantiate(url, asset=asset)
                if service is None:
                    scheme = url.split("://", 1)[0]
                    raise ConfigError(f"{key}: entry {n} ({scheme}://...) is not a usable "
                                      "apprise URL (unknown service, or a missing or invalid "
                                      "part; see https://github.com/caronc/apprise/wiki)")
                bucket = operators if audience == OPERATOR else reviewers
                bucket.append(_target(service, audience, salt))
        if config.config is not None:
            from_file = apprise.AppriseConfig(asset=asset)
            from_file.add(str(config.config))
            # Parsing dumps each URL, password included, at TRACE: drop what is under INFO.
            # A bad entry is only a warning to apprise; to us it is a configuration error.
            problems: list[str] = []
            with _REDACTOR.silenced(below=logging.INFO, problems=problems):
                services = list(from_file.services())
            if problems or not services:
                why = "; ".join(_USERINFO.sub(r"\1****@", p) for p in problems) or (
                    "it defines no notification URL")
                raise ConfigError(f"notify.config: {config.config}: {why} (see apprise's "
                                  "configuration format)")
            for service in services:
                tags = _tags(service)
                audience = OPERATOR if OPERATOR_TAG in tags else REVIEWER
                bucket = operators if audience == OPERATOR else reviewers
                bucket.append(_target(service, audience, salt))
        return cls(_unique(reviewers), _unique(operators))


def _asset() -> Any:
    return apprise.AppriseAsset(app_id="claimwatch", app_desc="claimwatch alerts",
                                app_url="", secure_logging=True, result_log_disk_size=0)


def _password(url: str) -> set[str]:
    """The password of a URL's user info, if any (the rest is known once parsed)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return set()
    return {password, unquote(password)} if password and len(password) >= 3 else set()


def _tags(service: Any) -> frozenset[str]:
    return frozenset(str(t).lower() for t in getattr(service, "tags", ()) or ())


def _target(service: Any, audience: str, salt: str) -> Target:
    full = service.url(privacy=False)
    masked = service.url(privacy=True)
    found = secrets_of(full, masked)
    _REDACTOR.add(found)
    label = masked.split("?", 1)[0]
    key = hashlib.sha256((salt + "\0" + full).encode()).hexdigest()[:32]
    return Target(key, label, audience, _tags(service), service, frozenset(found))


def _unique(targets: list[Target]) -> list[Target]:
    seen: dict[str, Target] = {}
    for t in targets:
        seen.setdefault(t.key, t)
    return list(seen.values())


def target_salt(store: Store) -> str:
    """The database's salt for target keys (made once), so stored keys reveal nothing."""
    salt = store.meta(SALT_KEY)
    if salt is None:
        with store.transaction():
            salt = store.meta(SALT_KEY)
            if salt is None:
                salt = token.token_hex(16)
                store.set_meta(SALT_KEY, salt)
    return salt


# ------------------------------------------------------------------------------ sending

@dataclass
class TargetResult:
    """The real outcome of one send to one target."""

    label: str
    ok: bool
    error: str | None = None
    truncated: bool = False


@dataclass(frozen=True)
class Prepared:
    """A message rendered for one target: in the format it takes, within its limits."""

    title: str
    body: str
    body_format: Any  # apprise.NotifyFormat of `body`
    truncated: bool


def prepare(target: Target, message: dict[str, Any], *, ref: str) -> Prepared:
    """Render for the target: HTML if the service takes HTML, else text (apprise converts text
    to Markdown with escaping); sized to its body length (after conversion) and line limits."""
    service = target.service
    fmt = service.resolve_format(None)
    html = fmt == apprise.NotifyFormat.HTML
    body_format = apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT
    title_limit = service.title_maxlen if service.title_maxlen > 0 else 200
    limit: int | None = service.body_maxlen if service.body_maxlen > 0 else None
    if limit is not None and (service.title_maxlen <= 0 or service.overflow_amalgamate_title):
        limit = max(0, limit - title_limit - 2)  # the title goes into the body
    max_lines = service.body_max_line_count

    def measure(body: str) -> int:
        if max_lines and body.count("\n") + 1 > max_lines:
            return 1 << 30
        return len(convert_between(body_format, fmt, body))

    rendered = render(message, ref=ref, html=html, limit=limit, title_limit=title_limit,
                      measure=measure)
    return Prepared(rendered.title, rendered.body, body_format, rendered.truncated)


def send(target: Target, message: dict[str, Any], *, ref: str, timeout: float) -> TargetResult:
    """Send a message to one target and report what really happened (never raises)."""
    prepared = prepare(target, message, ref=ref)
    try:
        sender = apprise.Apprise(asset=target.service.asset)
        sender.add(target.service)
        result = sender.notify(body=prepared.body, title=prepared.title,
                               body_format=prepared.body_format, timeout=timeout)
    except Exception as exc:  # apprise promises not to raise; a plugin bug must not stop us
        return TargetResult(target.label, False, redact(f"{type(exc).__name__}: {exc}",
                                                        target.secrets)[:500])
    if result:
        return TargetResult(target.label, True, None, prepared.truncated)
    problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
    error = f"{result.status.name.lower()}: " + ("; ".join(problems) or "no reason given")
    return TargetResult(target.label, False, redact(error, target.secrets)[:500],
                        prepared.truncated)


def send_test(config: NotifyConfig) -> list[TargetResult]:
    """Send a test message to every configured target; each target's real result."""
    targets = Targets.load(config)
    message = {"kind": "test", "subject": "test message",
               "text": "This is a test message from claimwatch. If you can read it, alerts "
                       "about health claims will reach you here."}
    return [send(t, message, ref="test", timeout=config.timeout) for t in targets.all]


# ------------------------------------------------------------------------------ the pass

@dataclass
class MessageResult:
    """What one pass did with one message."""

    id: int
    kind: str
    audience: str
    status: str  # sent | pending (retry later) | failed | skipped
    targets: list[TargetResult] = field(default_factory=list)
    note: str = ""


@dataclass
class DeliveryReport:
    """One pass over the outbox, and what is left afterwards."""

    messages: list[MessageResult] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # outbox rows per status, after
    next_due: float | None = None  # when the earliest pending message is due
    reviewer_targets: int = 0
    operator_targets: int = 0

    @property
    def pending(self) -> int:
        return self.counts.get("pending", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)

    @property
    def settled(self) -> bool:
        """Nothing pending and nothing failed."""
        return not self.pending and not self.failed


def deliver_pending(store: Store, config: NotifyConfig, *, now: float,
                    ignore_backoff: bool = False, only: Collection[int] | None = None,
                    targets: Targets | None = None) -> DeliveryReport:
    """One pass: deliver every due pending message (or only the given outbox ids).

    `now` is the back-off clock (which messages are due, when failures are retried); leases
    use the real clock. Reviewer messages wait while no reviewer target is configured: they
    are delivered once one is. Operator notices with no operator target are logged and
    skipped. Raises ConfigError if a configured URL is unusable. Use one Store per thread."""
    quiet_loggers()
    targets = targets or Targets.load(config, target_salt(store))
    report = DeliveryReport(reviewer_targets=len(targets.reviewers),
                            operator_targets=len(targets.operators))
    audiences = [OPERATOR] + ([REVIEWER] if targets.reviewers else [])
    owner = f"{socket.gethostname()}:{os.getpid()}:{token.token_hex(4)}"
    lease = (config.timeout + 10) * max(1, len(targets.all)) + 30
    done: set[int] = set()
    while True:
        row = store.claim_outbox(owner, clock=time.time(), lease_until=time.time() + lease,
                                 due_by=None if ignore_backoff else now, audiences=audiences,
                                 only=only, exclude=done, may_steal=_owner_is_gone)
        if row is None:
            break
        done.add(row.id)
        log.debug("claimed message cw-%d (%s, attempt %d) as %s", row.id, row.kind,
                  row.attempts + 1, owner)
        try:
            report.messages.append(_deliver(store, row, targets, config, owner, now))
        except BaseException:
            store.release_outbox(row.id, owner)
            raise
    report.counts = store.outbox_counts()
    report.next_due = store.next_due()
    return report


def _deliver(store: Store, row: OutboxRow, targets: Targets, config: NotifyConfig, owner: str,
             now: float) -> MessageResult:
    """Send one claimed message to each matching target that does not have it yet."""
    result = MessageResult(row.id, row.kind, row.audience, "pending")
    message = row.payload
    if row.audience == REVIEWER and row.watch_id is not None and "findings" in message:
        muted = store.muted_rules(row.watch_id)
        kept = [f for f in message["findings"] if f["rule"] not in muted]
        if not kept:
            return _finish(store, row, owner, result, "skipped", now,
                           "every finding in it was muted before it was sent")
        message = {**message, "findings": kept}
    candidates = targets.of(row.audience)
    if not candidates:  # only operators can get here: reviewer rows wait for a target
        log.warning("operator notice not sent (no [notify] operator_urls): %s",
                    message.get("subject", row.kind))
        return _finish(store, row, owner, result, "skipped", now, "no operator target")
    matching = [t for t in candidates if t.accepts(row.tags)]
    if not matching:
        return _finish(store, row, owner, result, "skipped", now,
                       f"no target accepts its tags ({', '.join(row.tags)})")
    delivered = {d.target for d in store.deliveries(row.id) if d.delivered_at is not None}
    errors: list[str] = []
    for target in matching:
        if target.key in delivered:
            continue
        log.debug("sending cw-%d to %s", row.id, target.label)
        outcome = send(target, message, ref=f"cw-{row.id}", timeout=config.timeout)
        store.record_delivery(row.id, target.key, target.label, at=time.time(),
                              error=outcome.error)
        result.targets.append(outcome)
        if outcome.ok:
            log.info("message cw-%d delivered to %s", row.id, target.label)
        else:
            errors.append(f"{target.label}: {outcome.error}")
            log.warning("message cw-%d not delivered to %s: %s", row.id, target.label,
                        outcome.error)
    if not errors:
        return _finish(store, row, owner, result, "sent", now, None)
    attempts = row.attempts + 1
    if attempts < config.max_attempts:
        result.note = f"retry in {config.backoff(attempts):.0f} s"
        return _finish(store, row, owner, result, "pending", now, "; ".join(errors),
                       attempts=attempts, next_at=now + config.backoff(attempts))
    with store.transaction():
        _finish(store, row, owner, result, "failed", now, "; ".join(errors), attempts=attempts)
        if row.audience != OPERATOR:  # never about operator notices: no loop
            queue_operator(store, "delivery-failed", now=now,
                           subject=f"message cw-{row.id} could not be delivered",
                           text=f"A {row.kind} message (cw-{row.id}) failed {attempts} times "
                                "and will not be retried automatically. Errors:\n"
                                + "\n".join(errors) + "\nRetry it with: claimwatch deliver "
                                "--retry-failed")
    return result


def _finish(store: Store, row: OutboxRow, owner: str, result: MessageResult, status: str,
            now: float, error: str | None, *, attempts: int | None = None,
            next_at: float | None = None) -> MessageResult:
    result.status = status
    if error and not result.note:
        result.note = error
    done = status in ("sent", "failed", "skipped")
    if not store.finish_outbox(row.id, owner, status=status,
                               attempts=row.attempts + 1 if attempts is None else attempts,
                               next_attempt_at=next_at if next_at is not None else now,
                               finished_at=time.time() if done else None, last_error=error):
        log.warning("message cw-%d: lease lost to another sender before the outcome was "
                    "recorded (deliveries already made are recorded per target)", row.id)
    return result


def _owner_is_gone(owner: str) -> bool:
    """Whether a lease holder was a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another thread of this process: alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
