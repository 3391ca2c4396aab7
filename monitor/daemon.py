"""`claimwatch run`: the long-running monitor, and its one-cycle mode (`run --once`).

One process, one event loop (`monitor.eventloop`: asyncio's, joined by Twisted's reactor when
the crawl starts), one continuous crawl for the whole life of the process:

  loop thread      feeds due watches (at most `max_inflight` at a time) to the revalidation path
                   (`crawler.revalidate`, plain and conditional GETs), which hands what it
                   cannot settle to the spider (Scrapy starts with the first such page),
                   receives every FetchedPage, pings systemd (READY, STATUS, WATCHDOG), takes
                   signals;
  worker processes extract and evaluate changed pages (CPU-bound; recycled to keep memory flat);
  writer thread    records each page with `monitor.check.process` in one transaction, together
                   with its next check time and the notifications it calls for, and keeps the
                   heartbeat;
  delivery thread  sends the outbox (`monitor.notify.deliver_pending`), so a slow mail server
                   never stalls crawling.

A watch stays "in flight" from the moment it is fed until its record is committed, so a crash
at any point leaves it due and it is simply fetched again. SIGTERM/SIGINT stop feeding, let the
pages in progress finish (bounded), and exit 0; SIGHUP reloads the rules and the configuration,
keeping the last good ones (and telling the operator) if a new file is invalid.
"""

from __future__ import annotations

import collections
import functools
import gc
import json
import logging
import os
import queue
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crawler.items import FetchedPage, FetchRequest
from monitor import forkserver, schedule, workers
from monitor.analysis import Analysis
from monitor.check import CheckResult, process, reevaluate_all
from monitor.config import Config, load_config
from monitor.errors import ClaimwatchError
from monitor.eventloop import EventLoop
from monitor.outbox import QueuePolicy, queue_operator
from monitor.rules import Ruleset, RulesInvalid, load_rules
from monitor.sdnotify import Notifier
from monitor.store import Store, Watch

log = logging.getLogger("claimwatch.daemon")

HEARTBEAT_KEY = "daemon.heartbeat"
_BATCH_MAX = 8  # pages in one worker task (see Daemon._submit_loop)


@dataclass(frozen=True)
class DaemonSettings:
    """How the daemon runs: where, on what, and its internal pace. The tunable part (workers,
    concurrency, per host...) is `config.daemon`, the [daemon] section as of the start."""

    state_dir: Path
    rules_path: Path
    config: Config = field(default_factory=Config)
    max_inflight: int = 64
    feed_interval: float = 1.0
    status_interval: float = 5.0
    drain_seconds: float = 7.0
    write_linger: float = 0.05  # seconds the writer waits for more pages to commit together
    once: bool = False
    everything: bool = False
    crawl_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class CycleSummary:
    """What one `run --once` did."""

    checked: int = 0
    first: int = 0
    changed: int = 0
    unchanged: int = 0
    suspect: int = 0
    errors: int = 0
    new_findings: int = 0
    resolved_findings: int = 0
    seconds: float = 0.0
    changed_urls: list[str] = field(default_factory=list)

    def add(self, result: CheckResult) -> None:
        self.checked += 1
        key = {"error": "errors"}.get(result.status, result.status)
        setattr(self, key, getattr(self, key) + 1)
        if result.status == "changed":
            self.changed_urls.append(result.url)
        self.new_findings += sum(1 for f in result.findings if f.state in ("new", "baseline"))
        self.resolved_findings += sum(1 for f in result.findings if f.state == "resolved")

    def line(self) -> str:
        return (f"cycle: {self.checked} checked, {self.first} first, {self.changed} changed, "
                f"{self.unchanged} unchanged, {self.suspect} suspect, {self.errors} errors; "
                f"{self.new_findings} new findings, {self.resolved_findings} resolved "
                f"in {self.seconds:.1f}s")

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Daemon:
    """The monitor process. `run()` blocks until stopped (or, with `once`, one cycle is done)."""

    def __init__(self, settings: DaemonSettings, ruleset: Ruleset,
                 notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.config = settings.config  # replaced by a reload
        self.tuning = settings.config.daemon  # not: the crawl and the pool keep their start
        self.ruleset = ruleset
        self.rules_text = ruleset.text  # the workers parse exactly what was validated
        self.notifier = notifier or Notifier()
        self.summary = CycleSummary()
        self.started = time.time()
        self.stopping = False
        self._cycle_complete = False  # a single cycle checked every page it had to
        self._inflight: dict[int, Watch] = {}
        self._by_url: dict[str, int] = {}
        self._lock = threading.Lock()
        self._writes: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._once_queue: collections.deque[Watch] | None = None
        self._status_text = "starting"
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()  # swaps: the submitter recycles, a reload replaces
        self._pool_tasks = 0
        self._to_analyse: queue.Queue[tuple[Watch, FetchedPage] | None] = queue.Queue()
        self._submitter: threading.Thread | None = None
        self._crawler: Any = None  # set once its spider is open
        self._pending_crawler: Any = None
        self._crawl_waiting: list[FetchRequest] = []  # for the crawl, until its spider opens
        self._feeding = False
        self._revalidator: Any = None
        self._revalidating: set[Any] = set()
        self._loop: EventLoop | None = None
        self._writer: threading.Thread | None = None
        self._reader: Store | None = None
        self._loops: list[Any] = []
        self.exit_code = 0
        self._deliver_now = threading.Event()
        self._delivery_stop = threading.Event()
        self._delivery: threading.Thread | None = None

    # ------------------------------------------------------------------------- lifecycle

    def run(self) -> int:
        self._reader = Store.in_dir(self.settings.state_dir)
        if self.settings.once:
            self._once_queue = collections.deque(self._reader.due_watches(
                time.time(), 10_000_000, everything=self.settings.everything))
            log.info("cycle: %d watch(es) to check", len(self._once_queue))
        self._start_analysis()
        loop = self._loop = EventLoop()
        # Pages go to the pool from a thread of their own: starting workers waits for the
        # forkserver (see _start_analysis), which must never hold up the event loop.
        self._submitter = threading.Thread(target=self._submit_loop, name="claimwatch-submit",
                                           daemon=True)
        self._submitter.start()
        self._writer = threading.Thread(target=self._writer_loop, name="claimwatch-writer",
                                        daemon=True)
        self._writer.start()
        if not self.settings.once:
            self._delivery = threading.Thread(target=self._delivery_loop,
                                              name="claimwatch-delivery", daemon=True)
            self._delivery.start()
        self._writes.put(("reevaluate", self.ruleset))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: loop.call_from_thread(self.stop))
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: loop.call_from_thread(self.reload))
        loop.call_soon(self._begin)
        for interval, fn in ((self.settings.feed_interval, self._feed),
                             (self.settings.status_interval, self._status)):
            self._loops.append(loop.every(interval, functools.partial(self._guarded, fn)))
        watchdog = self.notifier.watchdog_interval()
        if watchdog:
            self._loops.append(loop.every(watchdog, lambda: self.notifier.send(WATCHDOG=1),
                                          now=True))
        loop.run()
        self.summary.seconds = time.time() - self.started
        return self.exit_code

    def _start_analysis(self) -> None:
        """Start analysis ahead of the pages, so that its start-up (the forkserver importing
        trafilatura and readying the rules, half a second of CPU with the patterns cached,
        more without) overlaps this process's and the first fetches instead of holding up
        the first changed page: the workers too in a daemon or a cycle with a page never
        analysed, only the forkserver in a cycle of pages analysed before (they fork from
        it with the first changed page, in milliseconds; a cycle of 304s starts none).
        `claimwatch run` has started the forkserver already, before its own set-up (see
        monitor.forkserver); then this only forks the workers, or nothing."""
        queue_ = self._once_queue
        if queue_ is None or any(w.body_sha256 is None for w in queue_):
            pool = self._pool = self._new_pool()
            threading.Thread(target=lambda: [pool.submit(workers.ready)
                                             for _ in range(self.tuning.worker_count)],
                             name="claimwatch-warm-up", daemon=True).start()
        elif queue_:
            forkserver.start(self.rules_text, str(self.settings.rules_path),
                             str(self.settings.state_dir))

    def _begin(self) -> None:
        """The loop runs: feeding starts. Scrapy (and Twisted) start with the first page that
        needs them, so a cycle the revalidation path settles never imports them."""
        if self.tuning.revalidate:
            from crawler.revalidate import Policy, Revalidator

            try:
                self._revalidator = Revalidator(Policy.from_settings(self._crawl_settings()))
            except Exception:  # noqa: BLE001 - every page then goes through the crawl
                log.exception("revalidation path unavailable; every page goes to the crawl")
        # Modules, rules and the loop are loaded for good: full collections stop scanning
        # them (they cost a tenth of a second a cycle); the crawler's objects join them below.
        gc.freeze()
        self._feeding = True
        self.notifier.send(READY=1, STATUS="started")
        log.info("claimwatch running (pid %d, rules %s)", os.getpid(), self.ruleset.digest)
        self._feed()

    def _crawl_settings(self) -> dict[str, Any]:
        return {
            "CONCURRENT_REQUESTS": self.tuning.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": self.tuning.per_host,
            "DOWNLOAD_TIMEOUT": self.tuning.download_timeout,
            "AUTOTHROTTLE_ENABLED": self.tuning.autothrottle,
            **self.settings.crawl_overrides,
        }

    def _fetch(self, request: FetchRequest) -> None:
        """Fetch on the revalidation path, which hands to the crawl what it cannot settle."""
        if self._revalidator is not None:
            task = self._loop.create_task(self._revalidate(request))
            self._revalidating.add(task)
            task.add_done_callback(self._revalidating.discard)
        else:
            self._crawl(request)

    async def _revalidate(self, request: FetchRequest) -> None:
        try:
            page = await self._revalidator.fetch(request)
        except Exception:  # noqa: BLE001 - the crawl fetches it instead
            log.exception("revalidating %s failed", request.url)
            page = None
        if page is None:
            self._crawl(request)
        else:
            self._on_page(page)

    def _crawl(self, request: FetchRequest) -> None:
        """Hand a request to the Scrapy crawl, starting it if this is the first one."""
        if self._crawler is None:
            self._crawl_waiting.append(request)
            if self._pending_crawler is None and len(self._crawl_waiting) == 1:
                self._start_crawl()
            return
        self._crawler.engine.crawl(self._crawler.spider.request_for(request))

    def _start_crawl(self) -> None:
        try:
            self._start_crawler()
        except Exception:  # noqa: BLE001 - without a crawler there is nothing to run
            log.exception("cannot start the crawler")
            self.exit_code = 1
            self.stopping = True
            with self._lock:
                self._inflight.clear()
            self._shutdown()

    def _start_crawler(self) -> None:
        self._loop.reactor()  # before Scrapy's imports, which import Twisted's reactor
        from scrapy import signals

        from crawler.runner import make_runner
        from crawler.spider import WatchSpider

        runner = make_runner(self._crawl_settings(), self._on_page)
        crawler = runner.create_crawler(WatchSpider)
        gc.freeze()  # Scrapy and the crawler are loaded for good too
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened, weak=False)
        deferred = runner.crawl(crawler, keep_open=True)
        deferred.addErrback(lambda failure: log.error("crawler stopped: %s",
                                                      failure.getErrorMessage()))
        self._pending_crawler = crawler

    def _spider_opened(self, spider: Any) -> None:
        self._crawler = self._pending_crawler
        waiting, self._crawl_waiting = self._crawl_waiting, []
        for request in waiting:
            self._crawl(request)

    def stop(self) -> None:
        """Stop feeding, let pages in progress finish (bounded), then exit."""
        if self.stopping:
            return
        self.stopping = True
        log.info("stopping: %d page(s) in progress", len(self._inflight))
        self.notifier.send(STOPPING=1, STATUS="stopping")
        deadline = time.monotonic() + (1e9 if self.settings.once else self.settings.drain_seconds)
        self._wait_for_drain(deadline)

    def _wait_for_drain(self, deadline: float) -> None:
        with self._lock:
            busy = bool(self._inflight)
        if busy and time.monotonic() < deadline:
            self._loop.call_later(0.05, self._wait_for_drain, deadline)
            return
        if busy:
            log.warning("%d page(s) still in progress at shutdown; they stay due",
                        len(self._inflight))
        self._shutdown()

    def _shutdown(self) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._writes.put(("stop", None))
        if self._writer is not None:
            # A complete cycle waits for its last records and rules; a signal waits 5 s at
            # most (what is not committed then stays due, or under the old rules, for later).
            self._writer.join(timeout=None if self._cycle_complete else 5)
        self._delivery_stop.set()
        self._deliver_now.set()
        if self.settings.once and self.exit_code == 0:
            self._deliver_once()
        self._to_analyse.put(None)
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
        if self._reader is not None:
            self._reader.close()
        for task in list(self._revalidating):
            task.cancel()
        if self._revalidator is not None:
            self._revalidator.close()
            log.info("revalidation: %d page(s) settled, %d handed on to the crawl",
                     self._revalidator.settled, self._revalidator.handed_on)
        self.notifier.send(STATUS="stopped")
        crawler = self._crawler or self._pending_crawler
        if crawler is not None and crawler.crawling:
            from scrapy.utils.defer import deferred_from_coro

            stopped = deferred_from_coro(crawler.stop_async())
            stopped.addBoth(lambda _: self._loop.stop())
            self._loop.call_later(2.0, self._loop.stop)  # do not wait on a stuck download
        else:
            self._loop.stop()

    def reload(self) -> None:
        """SIGHUP: load the configuration and the rules again; keep the running ones (and tell
        the operator) if a new file is invalid."""
        if self.config.source is not None:
            try:
                self.config = load_config(self.config.source)
                log.info("reload: configuration %s loaded", self.config.source)
                self._deliver_now.set()
            except ClaimwatchError as exc:
                log.error("reload: keeping the running configuration: %s", exc)
                self.operator_alert("configuration reload failed",
                                    f"Still running the last good configuration: {exc}")
        path = self.settings.rules_path
        try:
            ruleset = load_rules(path)
        except RulesInvalid as exc:  # unreadable files included
            log.error("reload: keeping the running rules: %s", exc)
            self.operator_alert("rules reload failed",
                                f"Still running the last good rules ({self.ruleset.digest}): "
                                f"{exc}")
            return
        if ruleset.digest == self.ruleset.digest:
            log.info("reload: rules unchanged")
            return
        with self._pool_lock:
            self.rules_text, self.ruleset = ruleset.text, ruleset
        self._replace_pool(self._pool)
        self._writes.put(("reevaluate", ruleset))
        log.info("reload: rules %s loaded", ruleset.digest)

    def operator_alert(self, subject: str, text: str) -> None:
        """An operational problem for the operators (not the reviewers), through the outbox."""
        log.warning("operator: %s: %s", subject, text)
        self._writes.put(("operator", (subject, text)))

    # --------------------------------------------------------------------------- feeding

    def _guarded(self, fn: Any) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001
            log.exception("%s failed", getattr(fn, "__name__", fn))

    def _feed(self, nudged: bool = False) -> None:
        if self.stopping or not self._feeding:
            return
        with self._lock:
            room = self.settings.max_inflight - len(self._inflight)
            busy = set(self._inflight)
        # A nudge (a page just finished) refills in chunks, so the database is not asked for
        # due watches once per page; the periodic tick tops up whatever room there is.
        if room <= 0 or (nudged and self._once_queue is None
                         and room < max(1, self.settings.max_inflight // 4)):
            return
        if self._once_queue is not None:
            batch = [self._once_queue.popleft() for _ in range(min(room, len(self._once_queue)))]
        else:
            assert self._reader is not None
            batch = self._reader.due_watches(time.time(), room, exclude=busy)
        for watch in batch:
            with self._lock:
                self._inflight[watch.id] = watch
                self._by_url[watch.url] = watch.id
            self._fetch(FetchRequest(watch.url, watch.etag, watch.last_modified))
        if self._once_queue is not None and not self._once_queue and not busy and not batch:
            self._cycle_done()

    def _cycle_done(self) -> None:
        with self._lock:
            if self._inflight:
                return
        log.info("cycle done")
        self._cycle_complete = True
        self.stop()

    def _on_page(self, page: FetchedPage) -> None:
        """Pipeline handler (loop thread): send changed pages to a worker, the rest on."""
        with self._lock:
            watch = self._inflight.get(self._by_url.get(page.url, -1))
        if watch is None:
            log.warning("page for an unknown watch: %s", page.url)
            return
        changed = (page.ok and not page.not_modified and bool(page.body)
                   and page.body_sha256() != watch.body_sha256)
        if changed:
            self._to_analyse.put((watch, page))
        else:
            self._writes.put(("page", (watch, page, None)))

    def _submit_loop(self) -> None:
        """Hand changed pages to the worker pool, those queued together in one task; their
        results go on to the writer page by page.

        A task per page cost this process about 0.4 ms of the pool's machinery a page (its
        threads wake for every task and every result), a tenth of its CPU in a cycle of new
        pages. With at most two tasks per worker outstanding, pages that arrive while the
        workers are busy queue here and leave together; a lone page leaves at once."""
        slots = threading.Semaphore(2 * self.tuning.worker_count)
        while (item := self._to_analyse.get()) is not None:
            slots.acquire()
            batch = [item]
            limit = min(_BATCH_MAX, self._pool_room(),
                        1 + self._to_analyse.qsize() // self.tuning.worker_count)
            while len(batch) < limit:
                try:
                    more = self._to_analyse.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._to_analyse.put(None)  # stop once this batch is handed over
                    break
                batch.append(more)
            future = self._submit([page for _, page in batch])
            future.add_done_callback(functools.partial(self._analysed, batch, slots))

    def _analysed(self, batch: list[tuple[Watch, FetchedPage]], slots: threading.Semaphore,
                  future: Future) -> None:
        """A task's results to the writer, each page with its own outcome: its Analysis, or
        the exception that stands for it (a page whose analysis raised fails alone; a task
        that failed whole fails each of its pages)."""
        slots.release()
        try:
            outcomes: list[Any] = future.result()
        except Exception as exc:  # noqa: BLE001 - a broken pool, a cancelled task
            outcomes = [exc] * len(batch)
        for (watch, page), outcome in zip(batch, outcomes, strict=True):
            self._writes.put(("page", (watch, page, outcome)))

    def _submit(self, pages: list[FetchedPage]) -> Future:
        """The pages' analysis; a future that fails (so each page is recorded as a failed
        check) rather than an exception, which would end the submitter thread."""
        error: Exception = RuntimeError("no working worker pool")
        for _ in range(2):
            pool = None
            try:
                pool = self._worker_pool(len(pages))
                return pool.submit(workers.analyse_pages, pages)
            except BrokenProcessPool as exc:
                # A worker died (killed, out of memory): the pool refuses all work from then
                # on. The pages it held fail and back off; the next ones get a new pool.
                log.error("worker pool broken (%s); starting a new one", exc)
                error = exc
                self._replace_pool(pool, cancel=True)
            except Exception as exc:  # noqa: BLE001 - e.g. shutting down: the pages fail alone
                error = exc
                break
        failed: Future = Future()
        failed.set_exception(error)
        return failed

    # ---------------------------------------------------------------------------- writer

    def _writer_loop(self) -> None:
        store = Store.in_dir(self.settings.state_dir)
        last_beat = 0.0
        try:
            while True:
                try:
                    kind, item = self._writes.get(timeout=1.0)
                except queue.Empty:
                    kind, item = "idle", None
                if kind == "stop":
                    if self._cycle_complete:  # and ends with its rules applied to every page
                        try:
                            self._reevaluate(store, self.ruleset, until=None)
                        except Exception:  # noqa: BLE001 - done at the next start instead
                            log.exception("applying the rules failed")
                    break
                try:
                    if kind == "page":
                        self._record_batch(store, [item, *self._more_pages()])
                    elif kind == "operator":
                        queue_operator(store, "daemon", now=time.time(), subject=item[0],
                                       text=item[1])
                        self._deliver_now.set()
                    elif kind == "reevaluate":
                        self._reevaluate(store, item, until=time.monotonic()
                                         + self.tuning.reevaluate_slice)
                except Exception:  # noqa: BLE001 - the writer must outlive any one failure
                    log.exception("recording failed")
                if time.monotonic() - last_beat >= self.settings.status_interval:
                    self._heartbeat(store)
                    last_beat = time.monotonic()
        finally:
            store.set_meta(HEARTBEAT_KEY, json.dumps({"pid": os.getpid(), "at": time.time(),
                                                      "stopped": True}))
            store.close()

    def _reevaluate(self, store: Store, ruleset: Ruleset, until: float | None) -> None:
        """Apply `ruleset` to the pages still under other rules, for a slice of time: then
        the pages fetched meanwhile (and the heartbeat) are recorded before the next slice,
        which goes to the back of the queue. A slice of rules that a reload replaced is not
        continued: the new rules' own re-evaluation covers every page."""
        counts = reevaluate_all(store, ruleset, until=until)
        if counts["pages"]:
            log.info("rules %s applied to %d page(s): %d baseline, %d resolved%s",
                     ruleset.digest, counts["pages"], counts["baseline"], counts["resolved"],
                     ", more to come" if counts["more"] else "")
        if counts["more"] and ruleset is self.ruleset:
            self._writes.put(("reevaluate", ruleset))

    def _more_pages(self, limit: int = 63) -> list[Any]:
        """Pages waiting behind the first, or arriving within a moment of it: recorded in the
        same commit. A commit per page cost the writer a fifth of its CPU in a cycle of new
        pages, which reach it one at a time from the workers; a short wait for a few more
        is nothing to a check, and the pages it holds stay few next to `max_inflight`."""
        more: list[Any] = []
        deadline = time.monotonic() + self.settings.write_linger
        enough = min(limit, max(1, self.settings.max_inflight // 4))
        while len(more) < limit:
            try:
                wait = deadline - time.monotonic()
                if wait <= 0 or len(more) + 1 >= enough or self.stopping:
                    kind, item = self._writes.get_nowait()
                else:
                    kind, item = self._writes.get(timeout=wait)
            except queue.Empty:
                break
            if kind != "page":
                self._writes.put((kind, item))  # keep order loose: control items are rare
                break
            more.append(item)
        return more

    def _record_batch(self, store: Store, items: list[Any]) -> None:
        """One commit for several pages, each page in a savepoint of its own (process()
        opens one): a page that fails rolls back alone, and a crash loses only work that is
        still due (so is fetched again)."""
        results = []
        try:
            with store.transaction():
                for watch, page, outcome in items:
                    try:
                        results.append((watch, self._record(store, watch, page, outcome)))
                    except Exception as exc:  # noqa: BLE001 - one bad page must not sink the batch
                        log.exception("recording %s failed", watch.url)
                        self._record_failure(store, watch, exc)
        finally:
            self._done([watch for watch, _, _ in items])
        for watch, result in results:
            self._after(watch, result)

    def _record(self, store: Store, watch: Watch, page: FetchedPage,
                outcome: Analysis | Exception | None) -> CheckResult:
        """Record a page with its analysis (None: the page was not analysed); an exception in
        its place makes the check a failed one, not a crash."""
        if isinstance(outcome, Exception):
            page = replace(page, error=f"analysis failed: {workers.failure_text(outcome)}")
            outcome = None
        return process(store, page, self.ruleset, now=time.time(), analysis=outcome,
                       queue=QueuePolicy.from_config(self.config.notify), list_ongoing=False,
                       watch_id=watch.id, reschedule=True)

    def _record_failure(self, store: Store, watch: Watch, exc: Exception) -> None:
        """A page whose processing raised: count it as a failed check and back off, so it is
        retried later rather than on every feed (its own work was rolled back)."""
        now = time.time()
        current = store.watch_by_id(watch.id) or watch
        failures = current.failures + 1
        error = f"processing failed: {type(exc).__name__}: {exc}"[:500]
        with store.transaction():
            store.update_watch(watch.id, failures=failures, last_error=error, recheck=0,
                               last_checked=now, last_status="error",
                               next_check=schedule.after_failure(current.interval_s, failures,
                                                                 now))
            store.log_fetch(watch.id, fetched_at=now, outcome="error", http_status=None,
                            error=error, reason=None, elapsed=None, snapshot_id=None)
        self.summary.errors += 1
        self.summary.checked += 1

    def _after(self, watch: Watch, result: CheckResult) -> None:
        """What follows a committed page: counts, delivery of what it queued, a log line."""
        self.summary.add(result)
        if result.queued:
            self._deliver_now.set()
        if result.status in ("first", "changed") or result.alerting:
            log.info("%s: %s, %d new, %d resolved", watch.url, result.status,
                     sum(1 for f in result.findings if f.state in ("new", "baseline")),
                     sum(1 for f in result.findings if f.state == "resolved"))
        if result.status == "error":
            log.warning("%s: %s", watch.url, result.error)

    def _done(self, watches: list[Watch]) -> None:
        """Watches out of flight; the loop thread, woken once for them all, feeds more."""
        with self._lock:
            for watch in watches:
                self._inflight.pop(watch.id, None)
                self._by_url.pop(watch.url, None)
        if not self.stopping:
            self._loop.call_from_thread(self._feed, True)

    def _heartbeat(self, store: Store) -> None:
        now = time.time()
        counts = store.watch_counts(now, overdue_after=300)
        with self._lock:
            inflight = len(self._inflight)
        beat = {"pid": os.getpid(), "at": now, "started": self.started, "stopped": False,
                "rules": self.ruleset.digest, "inflight": inflight,
                "checked": self.summary.checked, **counts}
        store.set_meta(HEARTBEAT_KEY, json.dumps(beat))
        outbox = store.outbox_counts()
        self._status_text = (f"{counts['watches']} watches, {counts['due']} due, "
                             f"{counts['failing']} failing, {inflight} in progress, "
                             f"{self.summary.checked} checked, outbox {outbox.get('pending', 0)}"
                             f" pending / {outbox.get('failed', 0)} failed")

    def _status(self) -> None:
        self.notifier.send(STATUS=self._status_text)

    # -------------------------------------------------------------------------- delivery

    def _delivery_loop(self) -> None:
        """Send the outbox off the loop thread; wake early when a check queued something."""
        from monitor.notify import deliver_pending

        store = Store.in_dir(self.settings.state_dir)
        try:
            while not self._delivery_stop.is_set():
                wait = self.tuning.delivery_interval
                if self.config.notify.enabled:
                    try:
                        report = deliver_pending(store, self.config.notify, now=time.time())
                        if report.next_due is not None:
                            wait = min(wait, max(0.5, report.next_due - time.time()))
                    except Exception as exc:  # noqa: BLE001 - keep delivering later
                        log.error("delivery failed: %s", exc)
                self._deliver_now.wait(wait)
                self._deliver_now.clear()
        finally:
            store.close()

    def _deliver_once(self) -> None:
        """`run --once`: deliver what the cycle queued before exiting."""
        if not self.config.notify.enabled:
            return
        from monitor.notify import deliver_pending

        with Store.in_dir(self.settings.state_dir) as store:
            try:
                report = deliver_pending(store, self.config.notify, now=time.time(),
                                         ignore_backoff=True)
                log.info("delivered: %d pending, %d failed", report.pending, report.failed)
            except Exception as exc:  # noqa: BLE001
                log.error("delivery failed: %s", exc)

    # ------------------------------------------------------------------------------ pool

    def _worker_pool(self, pages: int) -> ProcessPoolExecutor:
        """The pool for the next `pages`: a fresh one every `recycle_after` pages per worker,
        so trafilatura and lxml never hold memory for long. The old pool finishes its queue
        and its workers exit. (Not max_tasks_per_child: on Python 3.11 it deadlocks the pool
        once workers retire, CPython gh-115634.)"""
        if self._pool_room() <= 0:
            self._replace_pool(self._pool)
            log.debug("worker pool recycled")
        with self._pool_lock:
            if self._pool is None:
                self._pool = self._new_pool()
            self._pool_tasks += pages
            return self._pool

    def _pool_room(self) -> int:
        """Pages the current pool takes before it is recycled (all of them, if none is
        running: a new pool starts from zero)."""
        limit = self.tuning.recycle_after * self.tuning.worker_count
        return limit if self._pool is None else max(0, limit - self._pool_tasks)

    def _replace_pool(self, old: ProcessPoolExecutor | None, *, cancel: bool = False) -> None:
        """A new pool in place of `old` (unless another thread replaced it already). The old
        one finishes the pages it holds (or, `cancel`led, fails them) and its workers exit."""
        with self._pool_lock:
            if old is None or self._pool is not old:
                return
            self._pool = self._new_pool()
        old.shutdown(wait=False, cancel_futures=cancel)

    def _new_pool(self) -> ProcessPoolExecutor:
        context = forkserver.context(self.rules_text, str(self.settings.rules_path),
                               str(self.settings.state_dir))
        self._pool_tasks = 0
        return ProcessPoolExecutor(
            max_workers=self.tuning.worker_count, mp_context=context, initializer=workers.init,
            initargs=(self.rules_text, str(self.settings.rules_path), os.getpid()))


def heartbeat(store: Store) -> dict[str, Any] | None:
    """The daemon's last heartbeat, if it ever ran on this state directory."""
    raw = store.meta(HEARTBEAT_KEY)
    return json.loads(raw) if raw else None


def is_alive(beat: dict[str, Any] | None, now: float, stale_after: float = 30.0) -> bool:
    """A heartbeat from a running daemon: recent, not marked stopped, and its pid exists."""
    if not beat or beat.get("stopped") or now - beat.get("at", 0) > stale_after:
        return False
    try:
        os.kill(int(beat["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    return True
