"""Delivery through apprise to real receivers on 127.0.0.1: SMTP and a JSON webhook.

What each receiver accepted is the truth: subjects and sentences, escaping, retries after a
receiver comes back, one failing target not blocking another, exactly-once across a killed
sender and concurrent senders, and no secret in logs or stored errors.
"""

import signal
import subprocess
from pathlib import Path

import pytest
from conftest import (
    SCRIPT_PAGE,
    claimwatch_command,
    cli_env,
    page,
    record,
    run_claimwatch,
)
from receivers import JsonReceiver, SmtpReceiver, wait_until

from monitor.config import NotifyConfig
from monitor.notify import Targets, deliver_pending, prepare
from monitor.store import Store

URL = "http://127.0.0.1:1/clinic/"
NOW = 1_800_000_000.0


@pytest.fixture
def hook():
    with JsonReceiver() as receiver:
        yield receiver


def queue_pages(store, ruleset, count: int) -> list[int]:
    """`count` initial-audit messages, one per page; their outbox ids."""
    ids = []
    for n in range(count):
        ids += record(store, ruleset, f"{URL}{n}", page("ridgeline/v2.html")).queued
    assert len(ids) == count
    return ids


def refs(receiver: JsonReceiver) -> list[str]:
    """The message references (cw-N) the receiver accepted, in order."""
    return [r.message.rsplit("claimwatch message ", 1)[1].strip() for r in receiver.received]


def test_email_digest_with_escaped_page_text_reaches_a_real_smtp_server(store, ruleset):
    result = record(store, ruleset, URL, SCRIPT_PAGE.read_bytes())
    with SmtpReceiver() as smtp:
        report = deliver_pending(store, NotifyConfig(urls=(smtp.url(),)), now=NOW)
        assert [m.status for m in report.messages] == ["sent"] and report.settled
        assert len(smtp.mails) == 1
    mail = smtp.mails[0]
    assert mail.recipients == ["reviewer@example.org"]
    assert mail.subject.startswith("[claimwatch] Initial audit: 1 claim (1 high) on Evil")
    assert "<" not in mail.subject
    sentence = '92% of our patients stay sober &lt;script&gt;alert(&quot;pwned&quot;)'
    assert sentence in mail.html and "<script>" not in mail.html
    assert "<mark" in mail.html and "claimwatch alerts ack" in mail.html
    assert f"claimwatch alerts ack {result.findings[0].id}" in mail.text
    assert store.outbox_row(result.queued[0]).status == "sent"


def test_webhook_receives_a_text_digest_with_the_claims(store, ruleset, hook):
    record(store, ruleset, URL, page("ridgeline/v1.html"))
    second = record(store, ruleset, URL, page("ridgeline/v2.html"))
    report = deliver_pending(store, NotifyConfig(urls=(hook.url(),)), now=NOW)
    assert report.settled and len(hook.received) == 1
    got = hook.received[0]
    assert got.path == "/hook" and got.title.startswith("[claimwatch] 4 new claims (3 high)")
    for finding in second.findings:
        assert finding.text in got.message
    assert "== HIGH (3) ==" in got.message and "== MEDIUM (1) ==" in got.message


def test_a_failing_target_does_not_block_a_healthy_one_and_is_retried_when_back(
        store, ruleset, hook):
    [mid] = queue_pages(store, ruleset, 1)
    with JsonReceiver() as flaky:
        flaky.stop()  # down: connection refused
        config = NotifyConfig(urls=(hook.url(), flaky.url()), backoff_base=60, max_attempts=5)
        first = deliver_pending(store, config, now=NOW)
        assert len(hook.received) == 1 and flaky.received == []
        assert [(t.ok, t.label) for t in first.messages[0].targets] == [
            (True, hook.url()), (False, flaky.url())]
        row = store.outbox_row(mid)
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, NOW + 60)
        errors = {d.label: d.last_error for d in store.deliveries(mid)}
        assert errors[hook.url()] is None and "Connection error" in errors[flaky.url()]

        assert deliver_pending(store, config, now=NOW + 59).messages == []  # backing off
        flaky.start()  # back up, on the same port
        retry = deliver_pending(store, config, now=NOW + 60)
        assert [m.status for m in retry.messages] == ["sent"]
        assert [t.label for t in retry.messages[0].targets] == [flaky.url()]  # only the one
        assert len(flaky.received) == 1 and len(hook.received) == 1  # nothing doubled
        assert store.outbox_row(mid).status == "sent"


def test_backoff_doubles_up_to_its_cap(store, ruleset):
    [mid] = queue_pages(store, ruleset, 1)
    with JsonReceiver() as dead:
        dead.stop()
        config = NotifyConfig(urls=(dead.url(),), backoff_base=10, backoff_cap=30,
                              max_attempts=10)
        waits, now = [], NOW
        for _ in range(4):
            deliver_pending(store, config, now=now)
            row = store.outbox_row(mid)
            waits.append(row.next_attempt_at - now)
            now = row.next_attempt_at
        assert waits == [10, 20, 30, 30]


def test_after_the_last_attempt_the_message_fails_and_operators_are_told(store, ruleset, hook):
    [mid] = queue_pages(store, ruleset, 1)
    with JsonReceiver() as dead:
        dead.stop()
        config = NotifyConfig(urls=(dead.url(),), operator_urls=(hook.url("/ops"),),
                              max_attempts=2, backoff_base=1)
        deliver_pending(store, config, now=NOW)
        report = deliver_pending(store, config, now=NOW + 5)
    assert store.outbox_row(mid).status == "failed" and report.failed == 1
    assert not report.settled
    notices = [r for r in hook.received if r.path == "/ops"]
    assert len(notices) == 1
    assert f"message cw-{mid} could not be delivered" in notices[0].title
    assert "claimwatch deliver --retry-failed" in notices[0].message
    assert deliver_pending(store, config, now=NOW + 3600).messages == []  # no more retries
    with store.transaction():
        assert store.retry_failed(NOW) == 1
    assert store.outbox_row(mid).status == "pending"


def test_without_targets_messages_wait_and_are_sent_once_a_target_exists(store, ruleset, hook):
    ids = queue_pages(store, ruleset, 2)
    idle = deliver_pending(store, NotifyConfig(), now=NOW)
    assert idle.messages == [] and idle.pending == 2 and idle.reviewer_targets == 0
    assert [store.outbox_row(i).attempts for i in ids] == [0, 0]
    later = deliver_pending(store, NotifyConfig(urls=(hook.url(),)), now=NOW)
    assert later.settled and sorted(refs(hook)) == [f"cw-{i}" for i in ids]


def test_operator_notices_without_an_operator_target_are_skipped_not_left_pending(
        store, ruleset, hook, caplog):
    from monitor.outbox import queue_operator

    nid = queue_operator(store, "rules-broken", now=NOW, subject="rules.yaml does not load",
                         text="line 3: bad")
    report = deliver_pending(store, NotifyConfig(urls=(hook.url(),)), now=NOW)
    assert store.outbox_row(nid).status == "skipped" and hook.received == []
    assert report.settled
    assert "rules.yaml does not load" in caplog.text  # the log is the operator's last resort


def test_apprise_config_routes_by_tag_and_keeps_operators_apart(store, ruleset, tmp_path):
    with JsonReceiver() as rx:
        (tmp_path / "apprise.yml").write_text(f"""
urls:
  - {rx.url('/everything')}
  - {rx.url('/high')}:
      tag: high
  - {rx.url('/low')}:
      tag: low
  - {rx.url('/ops')}:
      tag: operator
""")
        config = NotifyConfig(config=tmp_path / "apprise.yml")
        targets = Targets.load(config)
        assert sorted(t.label.rsplit("/", 1)[1] for t in targets.reviewers) == [
            "everything", "high", "low"]
        assert [t.label.rsplit("/", 1)[1] for t in targets.operators] == ["ops"]
        queue_pages(store, ruleset, 1)  # high and medium findings
        from monitor.outbox import queue_operator

        queue_operator(store, "watch-failing", now=NOW, subject="down", text="x")
        assert deliver_pending(store, config, now=NOW).settled
        assert sorted(r.path for r in rx.received) == ["/everything", "/high", "/ops"]


def test_a_rule_muted_after_queueing_is_not_sent(store, ruleset, hook):
    result = record(store, ruleset, URL, SCRIPT_PAGE.read_bytes())  # one finding only
    watch = store.watch(URL)
    store.add_mute(watch.id, result.findings[0].rule, now=NOW, note="accepted")
    report = deliver_pending(store, NotifyConfig(urls=(hook.url(),)), now=NOW)
    assert [m.status for m in report.messages] == ["skipped"] and hook.received == []


def test_bodies_are_sized_to_each_services_limit(store, ruleset):
    for n in range(3):  # one digest with many findings
        record(store, ruleset, URL, page("ridgeline/v1.html" if n % 2 == 0 else
                                         "ridgeline/v2.html"))
    record(store, ruleset, URL, page("ridgeline/v3.html"))
    row = store.outbox()[-1]
    targets = Targets.load(NotifyConfig(urls=(
        "discord://1234567890/abcdefghijklmnop",  # 2000 characters, Markdown
        "pover://u" + "1" * 29 + "@a" + "2" * 29,  # Pushover: 1024 characters
        "json://127.0.0.1:9/x")))
    sizes = {}
    for target in targets.reviewers:
        prepared = prepare(target, row.payload, ref=f"cw-{row.id}")
        service = target.service
        assert len(prepared.body) <= service.body_maxlen
        assert len(prepared.title) <= service.title_maxlen
        sizes[service.body_maxlen] = prepared
    assert sizes[1024].truncated and "not shown" in sizes[1024].body
    assert not sizes[32768].truncated


def test_a_bad_url_is_a_config_error_naming_the_key_without_the_secret():
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        Targets.load(NotifyConfig(operator_urls=("json://127.0.0.1/ok",
                                                 "nosuchservice://user:s3cr3tpw@host/")))
    assert "notify.operator_urls: entry 2 (nosuchservice://...)" in str(err.value)
    assert "s3cr3tpw" not in str(err.value)


# ------------------------------------------------------------------ real processes, SIGKILL

def test_exactly_once_across_a_sender_killed_mid_pass(store, ruleset, tmp_path):
    """Two targets; the second message is held at the second target and the sender is killed
    with SIGKILL there, after the first target got it. A new `claimwatch deliver` finishes the
    job: each target receives each message exactly once."""
    ids = queue_pages(store, ruleset, 3)
    state = store.path.parent
    with JsonReceiver() as first, JsonReceiver(hold_at=2) as second:
        env = cli_env(CLAIMWATCH_NOTIFY=f"{first.url()} {second.url()}")
        sender = subprocess.Popen(claimwatch_command("deliver", "--state", str(state)),
                                  cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_until(second.holding.is_set, 30, "the sender to reach the second message")
        finally:
            sender.send_signal(signal.SIGKILL)
            sender.wait(10)
        assert refs(first) == [f"cw-{ids[0]}", f"cw-{ids[1]}"]
        assert refs(second) == [f"cw-{ids[0]}"]
        held = store.outbox_row(ids[1])
        assert held.status == "pending" and held.lease_owner is not None  # a dead owner
        assert [d.delivered_at is not None for d in store.deliveries(ids[1])] == [True]
        second.release()  # the held call ends without an answer: never accepted

        again = run_claimwatch("deliver", "--state", str(state), cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        expected = [f"cw-{i}" for i in ids]
        assert refs(first) == expected and refs(second) == expected  # each exactly once
    assert {store.outbox_row(i).status for i in ids} == {"sent"}


def test_two_senders_at_once_deliver_each_message_once(store, ruleset, tmp_path):
    ids = queue_pages(store, ruleset, 6)
    state = str(store.path.parent)
    with JsonReceiver() as rx:
        env = cli_env(CLAIMWATCH_NOTIFY=rx.url())
        senders = [subprocess.Popen(claimwatch_command("deliver", "--state", state),
                                    cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for sender in senders:
            _, err = sender.communicate(timeout=60)
            # 1 is honest too: a row the other sender had in flight was still pending
            assert sender.returncode in (0, 1) and "Traceback" not in err, err
        assert sorted(refs(rx)) == sorted(f"cw-{i}" for i in ids)
    assert {store.outbox_row(i).status for i in ids} == {"sent"}


# ------------------------------------------------------------------ secrets

def test_secrets_never_reach_logs_stderr_or_the_database(store, ruleset, tmp_path):
    queue_pages(store, ruleset, 1)
    live, dead = "liveP4ssword", "deadP4ssword"
    store.close()
    state = tmp_path / "state"
    with JsonReceiver() as rx, JsonReceiver() as down:
        down.stop()
        env = cli_env(CLAIMWATCH_NOTIFY=f"{rx.url(userinfo=f'alice:{live}@')} "
                                        f"{down.url(userinfo=f'bob:{dead}@')}")
        runs = [run_claimwatch("-vv", "deliver", "--state", str(state), cwd=tmp_path, env=env),
                run_claimwatch("-vv", "notify", "test", cwd=tmp_path, env=env),
                run_claimwatch("-vv", "notify", "status", "--state", str(state), cwd=tmp_path,
                               env=env)]
        assert [r.returncode for r in runs] == [1, 1, 0]
        assert rx.received and rx.received[0].authorization  # the password was really used
        assert "DEBUG" in runs[0].stderr  # debug logging was on
        for run in runs:
            for secret in (live, dead):
                assert secret not in run.stdout and secret not in run.stderr
        assert "bob:****@" in runs[0].stdout + runs[0].stderr
    with Store.in_dir(state) as reopened:
        errors = [d.last_error for row in reopened.outbox() for d in reopened.deliveries(row.id)]
        assert any(errors)
    for blob in Path(state).iterdir():  # the database file, its WAL and shared memory
        data = blob.read_bytes()
        assert live.encode() not in data and dead.encode() not in data


def test_apprise_stays_above_debug_and_its_logs_are_masked_even_at_trace(
        caplog, hook, tmp_path):
    """apprise dumps parsed URLs, passwords included, at TRACE: it is kept at INFO, and even
    turned all the way up it does not show a configured password."""
    import logging

    from monitor.notify import quiet_loggers, send_test

    caplog.set_level(1)  # everything, TRACE included
    quiet_loggers()
    assert logging.getLogger("apprise").getEffectiveLevel() >= logging.INFO
    assert logging.getLogger("urllib3").getEffectiveLevel() >= logging.INFO
    (tmp_path / "apprise.yml").write_text(f"urls:\n  - {hook.url(userinfo='bob:yamlP4ss@')}\n")
    logging.getLogger("apprise").setLevel(1)  # someone turns it all the way up anyway
    try:
        results = send_test(NotifyConfig(urls=(hook.url(userinfo="alice:urlP4ss@"),),
                                         config=tmp_path / "apprise.yml"))
        logging.getLogger("apprise").warning("a plugin that logs a secret: urlP4ss yamlP4ss")
    finally:
        logging.getLogger("apprise").setLevel(logging.INFO)
    assert [r.ok for r in results] == [True, True] and len(hook.received) == 2
    assert "TRACE" in caplog.text  # apprise did log at TRACE
    assert "urlP4ss" not in caplog.text and "yamlP4ss" not in caplog.text
    assert "a plugin that logs a secret: **** ****" in caplog.text


def test_a_bad_entry_in_the_apprise_config_is_an_error_naming_the_key(tmp_path):
    from monitor.errors import ConfigError

    (tmp_path / "apprise.yml").write_text(
        "urls:\n  - json://127.0.0.1:9/ok\n  - msteams://user:t0psecret@nope/\n")
    with pytest.raises(ConfigError) as err:
        Targets.load(NotifyConfig(config=tmp_path / "apprise.yml"))
    assert str(err.value).startswith(f"notify.config: {tmp_path / 'apprise.yml'}: ")
    assert "msteams://****@nope" in str(err.value)  # not even apprise's "t...t"
    assert "t0psecret" not in str(err.value)
    (tmp_path / "empty.yml").write_text("urls: []\n")
    with pytest.raises(ConfigError, match="empty.yml: Failed to load Apprise configuration"):
        Targets.load(NotifyConfig(config=tmp_path / "empty.yml"))
