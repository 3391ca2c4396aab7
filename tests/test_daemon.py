"""`claimwatch run` as a real process against a loopback site: schedule, alerts, signals,
crash safety, systemd notifications, and on-demand checks alongside the daemon."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from conftest import RULES, page
from receivers import JsonReceiver, wait_until
from test_cli import claimwatch

from demo.server import SiteServer
from monitor.store import Store

EXE = str(Path(sys.executable).parent / "claimwatch")


@contextmanager
def daemon(state: Path, *args: str, env: dict[str, str] | None = None,
           rules: Path = RULES) -> Iterator[subprocess.Popen]:
    state.parent.mkdir(parents=True, exist_ok=True)
    path = state.parent / f"daemon-{time.monotonic_ns()}.log"
    with path.open("w") as log:
        proc = subprocess.Popen([EXE, "-v", "run", "--state", str(state), "--rules", str(rules),
                                 *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        proc.log_path = path  # type: ignore[attr-defined]
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def log_of(proc: subprocess.Popen) -> str:
    return proc.log_path.read_text()  # type: ignore[attr-defined]


def findings(state: Path, **where: object) -> list:
    with Store.in_dir(state) as store:
        return [f for f in store.findings()
                if all(getattr(f, k) == v for k, v in where.items())]


def watch_due_now(state: Path, url: str) -> None:
    """Watch a URL daily, due at once rather than somewhere within the spread."""
    assert claimwatch("watch", "add", url, "--every", "1d", "--state", str(state)).returncode == 0
    with Store.in_dir(state) as store:
        store.update_watch(store.watch(url).id, next_check=0)


def checked(state: Path, url: str) -> int:
    with Store.in_dir(state) as store:
        watch = store.watch(url)
        return len(store.fetch_log(watch.id)) if watch else 0


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_daemon_checks_on_schedule_and_the_alert_reaches_a_receiver(site, state):
    site.serve("/r/", page("ridgeline/v1.html"))
    url = site.url("/r/")
    assert claimwatch("watch", "add", url, "--every", "10s", "--state", str(state)).returncode == 0
    with JsonReceiver() as hook, daemon(state, env={"CLAIMWATCH_NOTIFY": hook.url()}) as proc:
        wait_until(lambda: checked(state, url) >= 1, 30, "the first scheduled check")
        assert findings(state) == []
        site.serve("/r/", page("ridgeline/v2.html"))
        new = wait_until(lambda: findings(state, origin="new"), 30, "new findings after the edit")
        assert {f.category for f in new} >= {"regulatory-misstatement", "unsourced-outcome-claim"}
        alert = wait_until(lambda: [r for r in hook.received if "FDA-cleared" in r.message],
                           30, "the digest at the webhook")
        assert len(alert) == 1 and url in alert[0].message
        assert proc.poll() is None


def test_recheck_goes_ahead_of_the_schedule(site, state):
    site.serve("/r/", page("ridgeline/v1.html"))
    url = site.url("/r/")
    watch_due_now(state, url)
    with daemon(state):
        wait_until(lambda: checked(state, url) >= 1, 30, "the first check")
        site.serve("/r/", page("ridgeline/v2.html"))
        run = claimwatch("recheck", url, "--state", str(state))
        assert run.returncode == 0 and "the daemon checks it next" in run.stdout
        wait_until(lambda: findings(state, origin="new"), 15, "the recheck to find the edit")


def test_sigterm_finishes_and_exits_0_within_10s(state):
    with SiteServer(slow_seconds=4) as site:
        site.serve("/slow/", page("ridgeline/v1.html"))
        url = site.url("/slow/")
        watch_due_now(state, url)
        site.fault("/slow/", "slow")
        with daemon(state) as proc:
            wait_until(lambda: site.hits.get("/slow/"), 20, "the slow page to be requested")
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
            assert time.monotonic() - started < 10
    assert "stopping" in log_of(proc)


def test_a_page_for_scrapy_starts_it_inside_the_running_daemon_and_sigterm_still_ends_it(
        site, state):
    # The daemon's loop starts without Twisted; the 404 is the crawl's to describe, so
    # Twisted's reactor joins the running loop, and a stop then goes through its shutdown.
    site.serve("/plain/", page("ridgeline/v1.html"))
    site.serve("/gone/", page("ridgeline/v1.html"))
    site.fault("/gone/", "404")
    for path in ("/plain/", "/gone/"):
        watch_due_now(state, site.url(path))
    with daemon(state) as proc:
        wait_until(lambda: checked(state, site.url("/gone/")) and checked(state, site.url(
            "/plain/")), 30, "both pages recorded")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
    with Store.in_dir(state) as store:
        assert store.watch(site.url("/gone/")).last_status == "error"
        assert store.watch(site.url("/plain/")).last_status == "first"
    assert "1 handed on to the crawl" in log_of(proc)


def test_sighup_keeps_the_last_good_rules_then_applies_new_ones(site, state, tmp_path):
    rules = tmp_path / "rules.yaml"
    shutil.copy(RULES, rules)
    site.serve("/r/", page("ridgeline/v2.html"))
    url = site.url("/r/")
    watch_due_now(state, url)
    with JsonReceiver() as ops, daemon(state, rules=rules,
                                       env={"CLAIMWATCH_CONFIG": str(_operator_config(
                                           tmp_path, ops.url("/ops")))}) as proc:
        wait_until(lambda: findings(state, rule="fda-approval-claim"), 30, "baseline findings")
        rules.write_text(RULES.read_text().replace("severity: high", "severity: urgent", 1))
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the running rules" in log_of(proc), 10, "the reload error")
        told = wait_until(lambda: [r for r in ops.received if "rules reload failed" in r.title],
                          20, "the operator notice")
        assert "severity" in told[0].message
        assert proc.poll() is None
        rules.write_text(RULES.read_text().replace(
            "  - id: fda-approval-claim\n", "  - id: fda-approval-claim\n    enabled: false\n"))
        proc.send_signal(signal.SIGHUP)
        resolved = wait_until(lambda: [f for f in findings(state, rule="fda-approval-claim")
                                     if f.resolved_reason == "rules changed"], 15,
                            "the FDA finding to resolve under the new rules")
        assert resolved and not findings(state, origin="new")


def _operator_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "claimwatch.toml"
    config.write_text(f'[notify]\noperator_urls = ["{url}"]\n')
    return config


def test_sigkill_mid_cycle_then_restart_loses_and_repeats_nothing(state):
    pages = 40
    with SiteServer(slow_seconds=1.5) as site:
        urls = []
        for i in range(pages):
            path = f"/p{i}/"
            site.serve(path, page("ridgeline/v2.html").replace(b"Boise", f"Boise {i}".encode()))
            if i >= 8:
                site.fault(path, "slow")  # the cycle takes a while: the kill lands mid-cycle
            urls.append(site.url(path))
        listing = state.parent / "urls.txt"
        listing.parent.mkdir(parents=True, exist_ok=True)
        listing.write_text("\n".join(urls))
        claimwatch("watch", "import", str(listing), "--every", "1d", "--state", str(state))
        with Store.in_dir(state) as store, store.transaction():
            for w in store.watches():
                store.update_watch(w.id, next_check=0)

        def recorded() -> int:
            with Store.in_dir(state) as store:
                return sum(1 for w in store.watches() if w.last_success)

        with daemon(state) as proc:
            wait_until(lambda: recorded() >= 3, 30, "a few pages recorded")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        partial = recorded()
        for path in site.routes:
            site.fault(path, None)
        with daemon(state):
            wait_until(lambda: recorded() == pages, 60, "every page recorded after the restart")
    assert partial < pages, "the kill came too late to test anything"
    with Store.in_dir(state) as store:
        for w in store.watches():
            assert len(store.snapshots(w.id)) == 1, w.url  # nothing processed twice
            assert len(store.open_findings(w.id)) == 4, w.url  # nothing lost or doubled
            assert w.next_check and w.next_check > time.time()  # the schedule resumed


def test_systemd_notifications_ready_status_watchdog(site, state, tmp_path):
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.5)
    site.serve("/r/", page("ridgeline/v1.html"))
    claimwatch("watch", "add", site.url("/r/"), "--state", str(state))
    messages: list[str] = []

    def received(prefix: str) -> bool:
        with suppress(TimeoutError):
            messages.append(sock.recv(4096).decode())
        return any(m.startswith(prefix) or f"\n{prefix}" in m for m in messages)

    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
    with daemon(state, env=env) as proc:
        wait_until(lambda: received("READY=1"), 30, "READY=1")
        wait_until(lambda: received("WATCHDOG=1"), 5, "WATCHDOG=1")
        wait_until(lambda: received("STATUS=") and any("watches" in m for m in messages), 15,
                 "a STATUS line with the watch counts")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    wait_until(lambda: received("STOPPING=1"), 5, "STOPPING=1")
    sock.close()


def test_check_and_status_work_while_the_daemon_runs(site, state):
    site.serve("/r/", page("ridgeline/v2.html"))
    urls = []
    for i in range(10):
        site.serve(f"/w{i}/", page("ridgeline/v1.html"))
        urls.append(site.url(f"/w{i}/"))
    claimwatch("watch", "add", *urls, "--every", "10s", "--state", str(state))
    with daemon(state) as proc:
        wait_until(lambda: "running" in claimwatch("status", "--state", str(state)).stdout, 30,
                 "status to report the daemon running")
        for _ in range(3):
            run = claimwatch("check", site.url("/r/"), "--state", str(state), "--json")
            assert run.returncode in (0, 1), run.stderr
            assert "locked" not in run.stderr
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    report = json.loads(claimwatch("status", "--state", str(state), "--json").stdout)
    assert report["daemon"]["alive"] is False and report["watches"] == 10


def test_run_once_all_checks_everything_and_exits(site, state):
    for i in range(5):
        site.serve(f"/o{i}/", page("ridgeline/v2.html"))
    claimwatch("watch", "add", *[site.url(f"/o{i}/") for i in range(5)], "--every", "1d",
               "--state", str(state))
    run = subprocess.run([EXE, "run", "--once", "--all", "--json", "--state", str(state),
                          "--rules", str(RULES)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["checked"] == 5 and summary["first"] == 5
    assert "cycle: 5 checked" in run.stderr
    again = subprocess.run([EXE, "run", "--once", "--json", "--state", str(state), "--rules",
                            str(RULES)], capture_output=True, text=True, timeout=120)
    assert json.loads(again.stdout)["checked"] == 0  # nothing due yet: --once without --all
    # Every page analysed before: the cycle starts no worker until the one page that changed
    # needs one.
    site.serve("/o3/", page("ridgeline/v3.html"))
    changed = subprocess.run([EXE, "run", "--once", "--all", "--json", "--state", str(state),
                              "--rules", str(RULES)], capture_output=True, text=True, timeout=120)
    summary = json.loads(changed.stdout)
    assert (summary["changed"], summary["unchanged"]) == (1, 4), changed.stderr
    assert summary["changed_urls"] == [site.url("/o3/")]


def test_a_rules_change_runs_in_slices_and_a_complete_cycle_finishes_it(
        site, store, ruleset, tmp_path, caplog):
    from conftest import run_check

    from monitor.config import Config, DaemonConfig
    from monitor.daemon import Daemon, DaemonSettings
    from monitor.rules import load_rules

    for i in range(4):
        site.serve(f"/e{i}/", page("ridgeline/v2.html"))
        run_check(store, ruleset, site.url(f"/e{i}/"))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text().replace(
        "  - id: fda-approval-claim\n", "  - id: fda-approval-claim\n    enabled: false\n"))
    settings = DaemonSettings(state_dir=store.path.parent, rules_path=rules, once=True,
                              config=Config(daemon=DaemonConfig(reevaluate_slice=0.0)))
    daemon_ = Daemon(settings, load_rules(rules))
    # Slices of no time: one page each. The writer's queue as a single cycle can leave it:
    # the cycle is over after the first slice, whose next one then waits behind the stop.
    daemon_._writes.put(("reevaluate", daemon_.ruleset))
    daemon_._writes.put(("stop", None))
    daemon_._cycle_complete = True
    with caplog.at_level("INFO", logger="claimwatch.daemon"):
        daemon_._writer_loop()
    assert "applied to 1 page(s): 0 baseline, 1 resolved, more to come" in caplog.text
    fda = [f for f in store.findings() if f.rule == "fda-approval-claim"]
    assert len(fda) == 4 and all(f.resolved_reason == "rules changed" for f in fda)


def _writer_daemon(store, ruleset, linger: float, max_inflight: int = 16):
    from monitor.daemon import Daemon, DaemonSettings

    return Daemon(DaemonSettings(state_dir=store.path.parent, rules_path=RULES, once=True,
                                 max_inflight=max_inflight, write_linger=linger), ruleset)


def _put_later(daemon_, items: list, every: float) -> threading.Thread:
    def put() -> None:
        for item in items:
            time.sleep(every)
            daemon_._writes.put(item)

    thread = threading.Thread(target=put, daemon=True)
    thread.start()
    return thread


def test_the_writer_commits_pages_that_arrive_within_a_moment_together(store, ruleset):
    # Workers hand their pages over one at a time: a commit each cost the writer a fifth of
    # its CPU. A quarter of max_inflight (4) in one batch is enough: no wait for the rest.
    daemon_ = _writer_daemon(store, ruleset, linger=5.0)
    _put_later(daemon_, [("page", i) for i in range(3)], every=0.05).join()
    started = time.monotonic()
    assert daemon_._more_pages() == [0, 1, 2]
    _put_later(daemon_, [("page", i) for i in range(3, 6)], every=0.05)
    assert daemon_._more_pages() == [3, 4, 5]
    assert time.monotonic() - started < 2.0


def test_the_writer_waits_only_a_moment_and_never_for_a_control_item(store, ruleset):
    daemon_ = _writer_daemon(store, ruleset, linger=0.3)
    started = time.monotonic()
    assert daemon_._more_pages() == []
    assert 0.25 <= time.monotonic() - started < 2.0
    daemon_ = _writer_daemon(store, ruleset, linger=5.0)
    putter = _put_later(daemon_, [("page", 1), ("stop", None), ("page", 2)], every=0.05)
    started = time.monotonic()
    assert daemon_._more_pages() == [1]
    assert time.monotonic() - started < 2.0
    assert daemon_._writes.get(timeout=1) == ("stop", None)
    # Stopping: what is queued goes now, nothing more is waited for.
    putter.join()
    daemon_.stopping = True
    started = time.monotonic()
    assert daemon_._more_pages() == [2]
    assert daemon_._more_pages() == []
    assert time.monotonic() - started < 1.0


def _analysed_in_tasks(store, ruleset, pages, **daemon_config):
    """Queue `pages` for the submitter of a daemon with one worker, as the loop does, and let
    it hand them over: (the pages of each task, each page's outcome by URL)."""
    from monitor.config import Config, DaemonConfig
    from monitor.daemon import Daemon, DaemonSettings

    settings = DaemonSettings(state_dir=store.path.parent, rules_path=RULES, once=True,
                              config=Config(daemon=DaemonConfig(workers=1, **daemon_config)))
    daemon_ = Daemon(settings, ruleset)
    tasks: list[list[str]] = []
    submit = daemon_._submit

    def counted(task_pages):
        tasks.append([p.url for p in task_pages])
        return submit(task_pages)

    daemon_._submit = counted
    for fetched in pages:
        watch, _ = store.add_watch(fetched.url, interval=3600, tags=(), now=0, next_check=0)
        daemon_._to_analyse.put((watch, fetched))
    daemon_._to_analyse.put(None)
    try:
        daemon_._submit_loop()
        recorded = [daemon_._writes.get(timeout=60)[1] for _ in pages]
    finally:
        if daemon_._pool is not None:
            daemon_._pool.shutdown()
    assert sorted(url for task in tasks for url in task) == sorted(p.url for p in pages)
    return tasks, {watch.url: outcome for watch, _, outcome in recorded}


def _fetched(n: int) -> list:
    from crawler.items import FetchedPage

    html = page("ridgeline/v2.html")  # "FDA-cleared", "78 % ... still sober", ...
    return [FetchedPage(url=f"http://127.0.0.1:9/{i}", status=200, body=html,
                        headers={"content-type": "text/html"}) for i in range(n)]


def test_pages_queued_together_go_to_a_worker_in_one_task_and_fail_alone(store, ruleset):
    # A task per page cost the daemon's own process a tenth of its CPU in pool machinery.
    from crawler.items import FetchedPage
    from monitor.workers import AnalysisFailed

    pages = _fetched(10)
    pages[3] = FetchedPage(url="http://127.0.0.1:9/3", status=200, body=None)  # breaks analysis
    tasks, outcomes = _analysed_in_tasks(store, ruleset, pages)
    assert len(tasks) < len(pages) and max(len(task) for task in tasks) > 1, tasks
    broken = outcomes.pop("http://127.0.0.1:9/3")
    assert isinstance(broken, AnalysisFailed) and "TypeError" in str(broken)
    assert all({f.rule for f in analysis.evaluation.findings}
               >= {"fda-approval-claim", "outcome-statistic"} for analysis in outcomes.values())


def test_a_task_never_takes_a_pool_past_its_recycling(store, ruleset):
    # recycle_after bounds the pages a worker analyses before it is replaced, batched or not.
    tasks, outcomes = _analysed_in_tasks(store, ruleset, _fetched(10), recycle_after=3)
    assert max(len(task) for task in tasks) == 3, tasks
    assert not any(isinstance(o, Exception) for o in outcomes.values())


def test_worker_pools_are_recycled_without_hanging(state, tmp_path):
    config = tmp_path / "claimwatch.toml"
    config.write_text("[daemon]\nworkers = 1\nrecycle_after = 2\n")
    with SiteServer() as site:
        for i in range(9):
            site.serve(f"/c{i}/", page("bluepine/v1.html").replace(b"Tampa", f"T{i}".encode()))
        claimwatch("watch", "add", *[site.url(f"/c{i}/") for i in range(9)],
                   "--state", str(state))
        run = subprocess.run([EXE, "--config", str(config), "run", "--once", "--all", "--json",
                              "--state", str(state), "--rules", str(RULES)],
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["first"] == 9  # 9 pages through 5 successive pools


def _processes_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with suppress(OSError):
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_killed_daemon_leaves_no_worker_processes(site, state):
    marker = f"CLAIMWATCH_TEST_MARK=orphans-{os.getpid()}-{time.monotonic_ns()}"
    key, value = marker.split("=")
    site.serve("/r/", page("ridgeline/v2.html"))
    claimwatch("watch", "add", site.url("/r/"), "--state", str(state))
    with daemon(state, env={key: value}) as proc:
        wait_until(lambda: len(_processes_with(marker)) >= 3, 30,
                   "the daemon, its forkserver and workers")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    wait_until(lambda: not _processes_with(marker), 20, "the workers to notice and exit")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_run_with_broken_rules_stops_at_once_and_leaves_no_forkserver(state, tmp_path):
    # `run` starts the workers' forkserver before it has validated the rules.
    marker = f"CLAIMWATCH_TEST_MARK=broken-{os.getpid()}-{time.monotonic_ns()}"
    key, value = marker.split("=")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.read_text().replace("severity: high", "severity: dire", 1))
    run = subprocess.run([EXE, "run", "--once", "--all", "--state", str(state), "--rules",
                          str(rules)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, key: value}, stdin=subprocess.DEVNULL)
    assert run.returncode == 2
    error = run.stderr.strip().splitlines()
    assert len(error) == 1 and str(rules) in error[0] and "severity" in error[0], run.stderr
    wait_until(lambda: not _processes_with(marker), 20, "the forkserver to exit with the run")


def _parent(pid: int) -> int:
    with suppress(OSError):
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return 0


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_killed_worker_is_replaced_and_the_next_change_still_analysed(site, state, tmp_path):
    """A worker killed under the service's memory cap breaks its pool for good: the daemon
    must start a new one rather than fail every changed page until it is restarted."""
    marker = f"CLAIMWATCH_TEST_MARK=broken-{os.getpid()}-{time.monotonic_ns()}"
    key, value = marker.split("=")
    config = tmp_path / "claimwatch.toml"
    config.write_text("[daemon]\nworkers = 1\n")
    site.serve("/r/", page("ridgeline/v1.html"))
    url = site.url("/r/")
    watch_due_now(state, url)
    with daemon(state, env={key: value, "CLAIMWATCH_CONFIG": str(config)}) as proc:
        wait_until(lambda: checked(state, url) >= 1, 30, "the first check")
        marked = set(_processes_with(marker))
        victims = [p for p in marked if _parent(p) in marked and _parent(p) != proc.pid]
        assert victims, "no worker process found"
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        time.sleep(1)  # the pool notices its dead worker
        site.serve("/r/", page("ridgeline/v2.html"))
        claimwatch("recheck", url, "--state", str(state))
        wait_until(lambda: findings(state, origin="new"), 30, "the edit analysed by a new pool")
        assert proc.poll() is None
    assert "worker pool broken" in log_of(proc)


def test_a_page_whose_processing_raises_backs_off_instead_of_looping(tmp_path, ruleset):
    from monitor.daemon import Daemon, DaemonSettings

    state = tmp_path / "state"
    daemon_ = Daemon(DaemonSettings(state_dir=state, rules_path=RULES), ruleset)
    with Store.in_dir(state) as store:
        watch, _ = store.add_watch("http://127.0.0.1:9/p", interval=3600, tags=(),
                                   now=time.time(), next_check=0)
        daemon_._record_failure(store, watch, RuntimeError("boom"))
        after = store.watch_by_id(watch.id)
        assert after.failures == 1 and "RuntimeError: boom" in after.last_error
        assert after.next_check > time.time() + 30  # retried in a minute, not at the next feed
        assert store.fetch_log(watch.id)[0]["outcome"] == "error"


def test_the_workers_get_the_rules_text_that_was_validated(tmp_path):
    from monitor.daemon import Daemon, DaemonSettings
    from monitor.rules import load_rules

    path = tmp_path / "rules.yaml"
    path.write_text(RULES.read_text())
    validated = load_rules(path)
    path.write_text("edited: after validation\n")  # as by an editor, before the daemon starts
    daemon_ = Daemon(DaemonSettings(state_dir=tmp_path / "state", rules_path=path), validated)
    assert daemon_.rules_text == RULES.read_text()


def test_a_failed_analysis_is_a_failed_check_that_neither_alerts_nor_resolves(tmp_path, ruleset):
    # A page whose analysis raised in its worker, or whose task a broken pool lost: the check
    # is an error with the reason, and the claims found before stay open, with nothing queued.
    from concurrent.futures.process import BrokenProcessPool

    from monitor.analysis import analyse
    from monitor.daemon import Daemon, DaemonSettings
    from monitor.workers import AnalysisFailed

    state = tmp_path / "state"
    daemon_ = Daemon(DaemonSettings(state_dir=state, rules_path=RULES), ruleset)
    fetched = _fetched(1)[0]
    with Store.in_dir(state) as store:
        watch, _ = store.add_watch(fetched.url, interval=3600, tags=(), now=0, next_check=0)
        with store.transaction():
            first = daemon_._record(store, watch, fetched, analyse(fetched, ruleset))
        assert first.status == "first" and first.findings
        opened = {f.id for f in store.open_findings(watch.id)}
        queued = store.outbox_counts()
        for outcome, said in (
            (AnalysisFailed("TypeError: 'NoneType' object"), "TypeError: 'NoneType' object"),
            (BrokenProcessPool("a worker died"), "BrokenProcessPool: a worker died"),
        ):
            with store.transaction():
                result = daemon_._record(store, store.watch_by_id(watch.id), fetched, outcome)
            assert result.status == "error" and result.error == f"analysis failed: {said}"
            assert not result.findings and not result.queued
            assert {f.id for f in store.open_findings(watch.id)} == opened
            assert store.outbox_counts() == queued
