#!/usr/bin/env python3
"""claimwatch's cycle benchmark (issue 7): one run, one machine, every tool on the same pages.

Run by hand, never in CI (it takes minutes):

    python3 bench/cycle.py [-n 1000] [--seed 1] [--repeat 3] [--skip-urlwatch]
                           [--claimwatch CMD] [--run-arg ARG ...] [--json-out FILE]
    python3 bench/cycle.py --scale              # cold cycle at N=1000 and N=10000
    python3 bench/cycle.py --daemon-rss [--cycles 20]
    python3 bench/cycle.py --history [--snapshots 50]   # check cost with 50 snapshots vs 1

The default mode generates N pages with make_pages.py, serves them with serve.py on a free
loopback port, and times three cycles (cold, unchanged: the server answers 304, and after
`make_pages.py --mutate 0.1`) for each tool:

- claimwatch: `CMD watch import` into a fresh state dir, then `CMD run --once --all --json`.
- the floor: keep-alive fetch + `trafilatura.extract` in 2 processes and in 1 (bench/floor.py).
- urlwatch with its html2text filter, from a bench-only venv (bench/.venv-urlwatch, created
  with `pip install urlwatch` if missing), with its own jobs file, config and cache.

For each cycle: wall time, CPU time (user+sys of the child and all its descendants, from
wait4; the benchmark adopts orphans, e.g. a forkserver, as a subreaper), peak RSS of the
process tree (sum over the tree, sampled every 20 ms; also the largest single process from
wait4, and PSS), what the tool reported changed (claimwatch: whether exactly the mutated
pages), and what the server saw (200s, 304s, conditional requests, TCP connections). Then
a table, the ratios and targets, and a JSON file (bench/out/results-<timestamp>.json unless
--json-out).

Only the standard library: run it with any Python 3.11. Child tools run in their own
environments (.venv for claimwatch and the floor, bench/.venv-urlwatch for urlwatch).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_CLAIMWATCH = ROOT / ".venv" / "bin" / "claimwatch"
URLWATCH_VENV = BENCH / ".venv-urlwatch"
OUT = BENCH / "out"
KINDS = ("cold", "unchanged", "changed")
MUTATE_FRACTION = 0.1
MUTATE_SEED = 7
PAGE = os.sysconf("SC_PAGE_SIZE")

TARGETS = {
    "cold_vs_floor2": 1.3,          # claimwatch cold <= 1.3 x the 2-process floor's cold
    "unchanged_vs_urlwatch": 0.5,   # claimwatch unchanged <= 0.5 x urlwatch unchanged
    "changed_vs_urlwatch": 0.5,     # claimwatch 10%-changed <= 0.5 x urlwatch changed
    "peak_rss_mb": 250.0,           # claimwatch process tree, N=1000
    "daemon_rss_growth": 0.10,      # RSS after cycle 20 within 10% of after cycle 3
    "scale_10k_vs_1k": 11.0,        # cold N=10000 <= 11 x cold N=1000
    "history_cost": 1.1,            # a cycle with 50 snapshots per page vs with 1 (+10% noise)
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ measuring a child

def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(pid: int) -> list[int]:
    """The pid and all its live descendants."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def busy_seconds() -> float:
    """CPU seconds all CPUs have spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE // 1024
    except (OSError, IndexError, ValueError):
        return 0


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak summed RSS (every tick) and PSS (every 5th) of a process tree.

    Finding the tree means reading every /proc/*/stat, so it is done every 10th tick (200 ms)
    and the known pids are sampled in between: the sampler must not load the machine it
    measures.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = self.peak_procs = 0
        self.stopped = threading.Event()
        self.pids = [pid]
        self.seen = {pid}

    def sample(self, tick: int) -> None:
        if tick % 10 == 0:
            self.pids = tree(self.pid)
            self.seen.update(self.pids)
            self.peak_procs = max(self.peak_procs, len(self.pids))
        self.peak_rss = max(self.peak_rss, sum(rss_kb(p) for p in self.pids))
        if tick % 5 == 0:
            self.peak_pss = max(self.peak_pss, sum(pss_kb(p) for p in self.pids))

    def run(self) -> None:
        tick = 0
        while not self.stopped.wait(self.interval):
            self.sample(tick)
            tick += 1


@dataclass
class Measured:
    """One child run: times in seconds, memory in KiB."""

    cmd: list[str]
    wall: float
    user: float
    sys: float
    peak_rss_kb: int       # summed over the process tree, sampled
    peak_pss_kb: int       # summed over the tree, sampled less often (shared pages split)
    maxrss_kb: int         # largest single process (kernel's high-water mark, from wait4)
    processes: int
    returncode: int
    others_cpu: float = 0.0  # CPU seconds the rest of the machine used meanwhile (noise)
    stdout: str = field(repr=False, default="")
    stderr: str = field(repr=False, default="")

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("stdout")
        d["stderr_tail"] = self.stderr[-2000:]
        d.pop("stderr")
        d["cpu"] = round(self.cpu, 3)
        return d


def measure(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 7200) -> Measured:
    """Run cmd to completion; its wall and CPU time and the peak memory of its tree."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy = busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd, start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        killer.cancel()
        sampler.stopped.set()
        sampler.join()
        user, sys_, maxrss = _reap_orphans(sampler.seen - {proc.pid})
        user, sys_ = user + usage.ru_utime, sys_ + usage.ru_stime
        others = busy_seconds() - busy - user - sys_
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        m = Measured(cmd, round(wall, 3), user, sys_, sampler.peak_rss,
                     sampler.peak_pss, max(usage.ru_maxrss, maxrss), sampler.peak_procs,
                     proc.returncode, round(max(others, 0.0), 2),
                     out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if m.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {m.returncode}:\n{m.stderr[-3000:]}")
    return m


def become_subreaper() -> None:
    """Adopt the orphans of the children we measure, to count their CPU time.

    A multiprocessing forkserver outlives the process that started it by a moment; orphaned,
    it would be reaped by init, and with it the CPU time of every worker it reaped."""
    import ctypes

    pr_set_child_subreaper = 36
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _reap_orphans(pids: set[int], timeout: float = 15.0) -> tuple[float, float, int]:
    """Wait for the measured child's leftover descendants; their summed user, sys, max RSS."""
    user = sys_ = 0.0
    maxrss = 0
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            try:
                done, _, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:  # not (yet) ours: its own parent reaps it, or it is gone
                if not os.path.exists(f"/proc/{pid}"):
                    pending.discard(pid)
                continue
            if done:
                user, sys_ = user + usage.ru_utime, sys_ + usage.ru_stime
                maxrss = max(maxrss, usage.ru_maxrss)
                pending.discard(pid)
        if pending:
            time.sleep(0.05)
    if pending:
        log(f"warning: {len(pending)} process(es) of the measured tree still running: "
            "their CPU time is not counted")
    return user, sys_, maxrss


def wait_for_quiet(max_wait: float, threshold: float = 0.25, window: float = 2.0) -> float:
    """Wait (up to max_wait s) until the rest of the machine uses < threshold of its CPUs.

    The benchmark shares the machine with whatever else runs on it; a cycle measured while
    something else is busy is slower for reasons that have nothing to do with the tool.
    Returns the busy fraction seen in the last window.
    """
    deadline = time.monotonic() + max_wait
    cpus = os.cpu_count() or 1
    while True:
        before = busy_seconds()
        time.sleep(window)
        busy = (busy_seconds() - before) / (window * cpus)
        if busy < threshold or time.monotonic() >= deadline:
            return round(busy, 3)


# --------------------------------------------------------------------------- pages, server

def make_pages(outdir: Path, n: int, seed: int, mutate: float | None = None,
               mutate_seed: int = MUTATE_SEED) -> list[str]:
    """Run make_pages.py; the names of the pages that differ from the base ones."""
    cmd = [sys.executable, str(BENCH / "make_pages.py"), str(outdir), "-n", str(n),
           "--seed", str(seed)]
    if mutate is not None:
        cmd += ["--mutate", str(mutate), "--mutate-seed", str(mutate_seed)]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    marker = outdir / "mutated.txt"
    return marker.read_text().split() if marker.exists() else []


def file_hashes(outdir: Path) -> dict[str, str]:
    return {p.name: hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
            for p in outdir.glob("clinic-*.html")}


class Site:
    """serve.py in a child process on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "serve.py"), "0", str(root)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not found:
            self.proc.kill()
            raise RuntimeError(f"serve.py did not start: {line!r}")
        self.port = int(found.group(1))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stats(self, reset: bool = True) -> dict[str, int]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/__stats?reset=1" if reset else "/__stats")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def warm(self, names: list[str]) -> int:
        """Ask once for every page, so that the server reads and hashes the files new or
        rewritten since it last served them now rather than in the next tool's cycle (the
        first tool timed in a round paid for all of it); how many files it read."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        for name in names:
            conn.request("HEAD", "/" + name)
            conn.getresponse().read()
        conn.close()
        return self.stats(reset=True)["file_reads"]

    def throughput_304(self, name: str, count: int = 3000) -> float:
        """Conditional GETs answered per second on one keep-alive connection (from here)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/" + name)
        resp = conn.getresponse()
        resp.read()
        etag = resp.getheader("ETag") or ""
        started = time.perf_counter()
        for _ in range(count):
            conn.request("GET", "/" + name, headers={"If-None-Match": etag})
            r = conn.getresponse()
            r.read()
            assert r.status == 304
        rate = count / (time.perf_counter() - started)
        conn.close()
        self.stats(reset=True)
        return rate

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -------------------------------------------------------------------------------- tools

@dataclass
class Cycle:
    """One timed cycle of one tool."""

    kind: str
    measured: Measured
    server: dict[str, int]
    reported: dict[str, Any] = field(default_factory=dict)
    changed: int | None = None
    exact: bool | None = None   # were exactly the mutated pages reported changed?

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.measured.summary(), "server": self.server,
                "reported": self.reported, "changed": self.changed, "exact": self.exact}


class Tool:
    """A change detector the benchmark can run a cycle of."""

    name = "tool"

    def fresh(self, work: Path, urls: list[str]) -> None:
        raise NotImplementedError

    def cycle(self, kind: str, expected: set[str]) -> tuple[Measured, dict[str, Any],
                                                            int | None, bool | None]:
        raise NotImplementedError


# All pages come from one loopback host here, where per-host politeness (4 requests at a time,
# AutoThrottle) would be the limit; the floor and urlwatch do not throttle either.
CLAIMWATCH_CONFIG = "[daemon]\nper_host = 16\nautothrottle = false\n"


class Claimwatch(Tool):
    """`claimwatch run --once --all` against a fresh state dir, with CLAIMWATCH_CONFIG."""

    name = "claimwatch"

    def __init__(self, cmd: list[str], run_args: list[str], rules: str | None) -> None:
        self.cmd, self.run_args, self.rules = cmd, run_args, rules

    def fresh(self, work: Path, urls: list[str]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.state = work / "state"
        shutil.rmtree(self.state, ignore_errors=True)
        listing = work / "urls.txt"
        listing.write_text("".join(u + "\n" for u in urls))
        self.config = work / "claimwatch.toml"
        self.config.write_text(CLAIMWATCH_CONFIG)
        self.imported = measure(self.cmd + ["watch", "import", str(listing),
                                            "--state", str(self.state)])

    def run_cmd(self) -> list[str]:
        cmd = self.cmd + ["--config", str(self.config), "run", "--once", "--all", "--state",
                          str(self.state), "--json"]
        if self.rules:
            cmd += ["--rules", self.rules]
        return cmd + self.run_args

    def cycle(self, kind: str, expected: set[str]) -> tuple[Measured, dict[str, Any],
                                                            int | None, bool | None]:
        m = measure(self.run_cmd())
        lines = [ln for ln in m.stdout.splitlines() if ln.strip().startswith("{")]
        reported = json.loads(lines[-1]) if lines else {}
        urls = set(reported.pop("changed_urls", []))
        changed = reported.get("changed")
        exact = urls == expected if kind == "changed" else None
        reported["crashed_urls"] = reported.get("crashed_urls", [])[:20]
        reported["changed_urls_extra"] = sorted(urls - expected)[:20]
        reported["changed_urls_missing"] = sorted(expected - urls)[:20]
        return m, reported, changed, exact


class Floor(Tool):
    """bench/floor.py: keep-alive fetch + trafilatura.extract, in `procs` processes."""

    def __init__(self, procs: int) -> None:
        self.procs = procs
        self.name = f"floor, {procs} process{'es' if procs > 1 else ''}"

    def fresh(self, work: Path, urls: list[str]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.urls = work / "urls.txt"
        self.urls.write_text("".join(u + "\n" for u in urls))
        self.state = work / "floor-state.json"
        self.state.unlink(missing_ok=True)

    def cycle(self, kind: str, expected: set[str]) -> tuple[Measured, dict[str, Any],
                                                            int | None, bool | None]:
        m = measure([str(VENV_PYTHON), str(BENCH / "floor.py"), str(self.urls),
                     "--procs", str(self.procs), "--state", str(self.state)])
        reported = json.loads(m.stdout.strip().splitlines()[-1])
        urls = set(reported.pop("changed_urls", []))
        exact = urls == expected if kind == "changed" else None
        return m, reported, reported.get("changed"), exact


URLWATCH_CONFIG = """\
# Written by claimwatch's bench/cycle.py: urlwatch's defaults, text report on stdout, no colour.
display:
  new: true
  error: true
  unchanged: false
  empty-diff: true
report:
  stdout:
    enabled: true
    color: false
"""


class Urlwatch(Tool):
    """urlwatch 2.x with `filter: html2text`, its own jobs file, config and cache db."""

    name = "urlwatch, html2text"

    def __init__(self) -> None:
        self.exe = ensure_urlwatch()

    def fresh(self, work: Path, urls: list[str]) -> None:
        self.work = work / "urlwatch"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        # Jobs file: one YAML document per job, separated by '---'.
        (self.work / "urls.yaml").write_text("---\n".join(
            f"url: {u}\nfilter: html2text\n" for u in urls))
        (self.work / "urlwatch.yaml").write_text(URLWATCH_CONFIG)

    def cycle(self, kind: str, expected: set[str]) -> tuple[Measured, dict[str, Any],
                                                            int | None, bool | None]:
        w = self.work
        env = {**os.environ, "HOME": str(w), "XDG_CONFIG_HOME": str(w / "config"),
               "XDG_CACHE_HOME": str(w / "cache")}
        m = measure([str(self.exe), "--urls", str(w / "urls.yaml"), "--config",
                     str(w / "urlwatch.yaml"), "--cache", str(w / "cache.db"), "--hooks",
                     str(w / "hooks.py")], env=env)
        verbs: dict[str, set[str]] = {}
        for line in m.stdout.splitlines():
            found = re.match(r"^\d+\. (NEW|CHANGED|ERROR|UNCHANGED): (\S+)", line)
            if found:
                verbs.setdefault(found.group(1).lower(), set()).add(found.group(2))
        reported = {k: len(v) for k, v in verbs.items()}
        changed = verbs.get("changed", set())
        exact = changed == expected if kind == "changed" else None
        return m, reported, len(changed), exact


def ensure_urlwatch() -> Path:
    """bench/.venv-urlwatch/bin/urlwatch, installing it with pip the first time."""
    exe = URLWATCH_VENV / "bin" / "urlwatch"
    if not exe.exists():
        log(f"creating {URLWATCH_VENV} and installing urlwatch from PyPI")
        subprocess.run([sys.executable, "-m", "venv", str(URLWATCH_VENV)], check=True)
        subprocess.run([str(URLWATCH_VENV / "bin" / "pip"), "install", "--quiet", "urlwatch"],
                       check=True)
    return exe


def claimwatch_command(given: str | None) -> list[str]:
    """The claimwatch command to time: --claimwatch, else the repo's .venv/bin/claimwatch."""
    return shlex.split(given) if given else [str(DEFAULT_CLAIMWATCH)]


# ----------------------------------------------------------------------------- sequences

def run_round(tools: list[Tool], site: Site, pages: Path, work: Path, n: int, seed: int,
              quiet_wait: float = 0.0) -> dict[str, dict[str, Cycle]]:
    """One round: every tool's cold cycle, then every tool's unchanged cycle, then every
    tool's changed cycle on the same mutated pages (the pages end as they began). Each kind
    is timed for all tools within a minute or so, so that this machine's speed, which drifts
    by a third over minutes, moves the ratios between tools less than timing one tool's
    three cycles after another's did. Before each kind the server reads the files new or
    changed since it last served them (Site.warm), which no tool's cycle should pay for."""
    names = (pages / "index.txt").read_text().split()
    for tool in tools:
        slug = re.sub(r"[^a-z0-9]+", "-", tool.name.lower()).strip("-")
        (work / slug).mkdir(parents=True, exist_ok=True)
        tool.fresh(work / slug, [site.url(x) for x in names])
    out: dict[str, dict[str, Cycle]] = {tool.name: {} for tool in tools}
    for kind in KINDS:
        expected: set[str] = set()
        if kind == "changed":
            expected = {site.url(x) for x in make_pages(pages, n, seed, MUTATE_FRACTION)}
        site.warm(names)
        for tool in tools:
            busy = wait_for_quiet(quiet_wait) if quiet_wait else None
            site.stats(reset=True)
            log(f"{tool.name}: {kind} cycle" + (f" (machine {100 * busy:.0f}% busy before)"
                                                if busy is not None else ""))
            m, reported, changed, exact = tool.cycle(kind, expected)
            out[tool.name][kind] = Cycle(kind, m, site.stats(reset=True), reported, changed,
                                         exact)
            log(f"  {m.wall:.2f}s wall, {m.cpu:.2f}s CPU, {m.peak_rss_kb / 1024:.0f} MB tree "
                f"RSS, changed {changed}{'' if exact is None else f', exact={exact}'}; others "
                f"used {m.others_cpu:.1f} CPU-s meanwhile")
    make_pages(pages, n, seed)  # back to the base pages for the next round
    return out


def median_cycle(runs: list[Cycle]) -> Cycle:
    ordered = sorted(runs, key=lambda c: c.measured.wall)
    return ordered[(len(ordered) - 1) // 2]


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def check(name: str, value: float | None, limit: float, extra: bool = True) -> dict[str, Any]:
    """A target's verdict; `pass` is None when it could not be measured (tool skipped)."""
    ok = None if value is None else value <= limit and extra
    return {"target": name, "value": value, "limit": limit, "pass": ok}


def versions() -> dict[str, str]:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('scrapy', 'trafilatura', 'lxml', 'twisted', 'sqlite-utils', 'regex')}))")
    try:
        out = json.loads(subprocess.run([str(VENV_PYTHON), "-c", code], capture_output=True,
                                        text=True, check=True).stdout)
    except (subprocess.CalledProcessError, json.JSONDecodeError, FileNotFoundError):
        out = {}
    exe = URLWATCH_VENV / "bin" / "urlwatch"
    if exe.exists():
        out["urlwatch"] = subprocess.run([str(exe), "--version"], capture_output=True,
                                         text=True).stdout.strip()
    return out


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        model = next((ln.split(":", 1)[1].strip()
                      for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("model name")), "")
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "platform": platform.platform()}


# ---------------------------------------------------------------------------------- modes

def mode_cycles(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    cmd = claimwatch_command(a.claimwatch)
    pages = work / "pages"
    log(f"generating {a.n} pages (seed {a.seed})")
    started = time.perf_counter()
    make_pages(pages, a.n, a.seed)
    gen_seconds = time.perf_counter() - started
    site = Site(pages)
    try:
        names = (pages / "index.txt").read_text().split()
        rate = site.throughput_304(names[0])
        log(f"serving on port {site.port}; server answers {rate:.0f} conditional GETs/s "
            "on one keep-alive connection")
        tools: list[Tool] = [Claimwatch(cmd, a.run_arg, a.rules), Floor(2), Floor(1)]
        if not a.skip_urlwatch:
            tools.append(Urlwatch())
        runs: dict[str, list[dict[str, Cycle]]] = {}
        for rep in range(a.repeat):
            # Tools take turns first, so none is always timed last in its kind.
            order = tools[rep % len(tools):] + tools[:rep % len(tools)]
            for name, cycles in run_round(order, site, pages, work / f"round-{rep}", a.n,
                                          a.seed, a.quiet_wait).items():
                runs.setdefault(name, []).append(cycles)
    finally:
        site.close()
    best = {tool: {k: median_cycle([r[k] for r in rs]) for k in KINDS}
            for tool, rs in runs.items()}
    cw_name = next(t for t in best if t.startswith("claimwatch"))
    cw, f2 = best[cw_name], best["floor, 2 processes"]
    uw = best.get("urlwatch, html2text")
    ratios = {
        "cold_vs_floor2": ratio(cw["cold"].measured.wall, f2["cold"].measured.wall),
        "cold_vs_floor1": ratio(cw["cold"].measured.wall,
                                best["floor, 1 process"]["cold"].measured.wall),
        "unchanged_vs_urlwatch": ratio(cw["unchanged"].measured.wall,
                                       uw["unchanged"].measured.wall) if uw else None,
        "changed_vs_urlwatch": ratio(cw["changed"].measured.wall,
                                     uw["changed"].measured.wall) if uw else None,
    }
    peak = max(c.measured.peak_rss_kb for c in cw.values()) / 1024
    targets = [
        check("cold cycle <= 1.3 x 2-process floor", ratios["cold_vs_floor2"],
              TARGETS["cold_vs_floor2"]),
        check("unchanged cycle <= 0.5 x urlwatch unchanged", ratios["unchanged_vs_urlwatch"],
              TARGETS["unchanged_vs_urlwatch"]),
        check("10%-changed cycle <= 0.5 x urlwatch changed, exactly the mutated pages",
              ratios["changed_vs_urlwatch"], TARGETS["changed_vs_urlwatch"],
              bool(cw["changed"].exact)),
        check(f"peak RSS <= 250 MB at N={a.n}", round(peak, 1), TARGETS["peak_rss_mb"]),
    ]
    return {
        "mode": "cycles", "n": a.n, "seed": a.seed, "repeat": a.repeat,
        "claimwatch_cmd": cmd, "run_args": a.run_arg,
        "generate_seconds": round(gen_seconds, 2), "server_304_per_s": round(rate),
        "claimwatch_import_seconds": tools[0].imported.wall,  # type: ignore[attr-defined]
        "results": {t: {k: c.summary() for k, c in cs.items()} for t, cs in best.items()},
        "all_runs": {t: [{k: c.measured.wall for k, c in r.items()} for r in rs]
                     for t, rs in runs.items()},
        "ratios": ratios, "round_ratios": round_ratios(runs), "targets": targets,
    }


def round_ratios(runs: dict[str, list[dict[str, Cycle]]]) -> list[dict[str, float | None]]:
    """The ratios within each round, whose cycles of one kind ran back to back."""
    cw = next(t for t in runs if t.startswith("claimwatch"))
    uw, f2 = runs.get("urlwatch, html2text"), runs["floor, 2 processes"]

    def wall(cycles: list[dict[str, Cycle]] | None, i: int, kind: str) -> float | None:
        return cycles[i][kind].measured.wall if cycles else None

    return [{"cold_vs_floor2": ratio(wall(runs[cw], i, "cold"), wall(f2, i, "cold")),
             "unchanged_vs_urlwatch": ratio(wall(runs[cw], i, "unchanged"),
                                            wall(uw, i, "unchanged")),
             "changed_vs_urlwatch": ratio(wall(runs[cw], i, "changed"), wall(uw, i, "changed"))}
            for i in range(len(runs[cw]))]


def mode_scale(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    cmd = claimwatch_command(a.claimwatch)
    tool = Claimwatch(cmd, a.run_arg, a.rules)
    results: dict[str, Any] = {}
    for n in (1000, 10_000):
        pages = work / f"pages-{n}"
        log(f"generating {n} pages")
        make_pages(pages, n, a.seed)
        site = Site(pages)
        try:
            names = (pages / "index.txt").read_text().split()
            tool.fresh(work / f"cw-{n}", [site.url(x) for x in names])
            if a.quiet_wait:
                wait_for_quiet(a.quiet_wait)
            site.stats(reset=True)
            log(f"{tool.name}: cold cycle, N={n}")
            m, reported, changed, _ = tool.cycle("cold", set())
            results[str(n)] = {**m.summary(), "server": site.stats(), "reported": reported}
            log(f"  {m.wall:.1f}s wall, {m.cpu:.1f}s CPU, {m.peak_rss_kb / 1024:.0f} MB")
        finally:
            site.close()
        shutil.rmtree(pages, ignore_errors=True)
    r = ratio(results["10000"]["wall"], results["1000"]["wall"])
    return {"mode": "scale", "claimwatch_cmd": cmd,
            "run_args": a.run_arg, "results": results, "ratios": {"scale_10k_vs_1k": r},
            "targets": [check("N=10,000 cold <= 11 x N=1000 cold", r,
                              TARGETS["scale_10k_vs_1k"])]}


def mode_daemon_rss(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    """RSS of the real daemon (its whole process tree) after each of --cycles cycles.

    The pages are watched once a day, so nothing falls due by itself; each cycle marks every
    watch due in the state database, waits until the daemon's heartbeat has counted that many
    more checks, reads the tree's RSS, and edits the pages for the next cycle (kind_of)."""
    cmd = claimwatch_command(a.claimwatch)
    pages = work / "pages"
    make_pages(pages, a.n, a.seed)
    site = Site(pages)
    rows: list[dict[str, Any]] = []
    proc = None
    try:
        names = (pages / "index.txt").read_text().split()
        tool = Claimwatch(cmd, a.run_arg, a.rules)
        tool.fresh(work, [site.url(x) for x in names])
        db = tool.state / "claimwatch.db"
        run = cmd + ["--config", str(tool.config), "run", "--state", str(tool.state)]
        run += ["--rules", a.rules] if a.rules else []
        log_file = (work / "daemon.log").open("w")
        proc = subprocess.Popen(run + a.run_arg, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        expected: set[str] = set()
        checked = 0
        for n in range(1, a.cycles + 1):
            started = time.monotonic()
            _all_due(db)
            checked += len(names)
            _wait_checked(db, checked, proc)
            pids = tree(proc.pid)
            row = {"cycle": n, "kind": kind_of(n), "tree_rss_kb": sum(rss_kb(p) for p in pids),
                   "tree_pss_kb": sum(pss_kb(p) for p in pids),
                   "seconds": round(time.monotonic() - started, 2),
                   "expected_changed": len(expected)}
            rows.append(row)
            log(f"cycle {n} ({row['kind']}): {row['tree_rss_kb'] / 1024:.1f} MB tree RSS, "
                f"{row['seconds']}s")
            if n == a.cycles:
                break
            before = file_hashes(pages)
            if kind_of(n + 1) == "changed":
                make_pages(pages, a.n, a.seed, MUTATE_FRACTION, mutate_seed=n + 1)
            after = file_hashes(pages)
            expected = {k for k in after if before.get(k) != after[k]}
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(30)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        site.close()
    at3 = rows[2]["tree_rss_kb"] if len(rows) >= 3 else None
    last = rows[-1]["tree_rss_kb"]
    growth = round(last / at3 - 1, 4) if at3 else None
    return {"mode": "daemon-rss", "claimwatch_cmd": cmd, "run_args": a.run_arg, "n": a.n,
            "cycles": rows, "sigterm_exit": exit_code,
            "ratios": {"daemon_rss_growth": growth},
            "targets": [check(f"RSS after cycle {a.cycles} within 10% of after cycle 3",
                              None if growth is None else abs(growth),
                              TARGETS["daemon_rss_growth"])]}


def mode_history(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Does a check cost more when a page has a long history?

    A cold cycle builds one state dir; a copy of it receives --snapshots - 1 more snapshots
    per page (each with its evidence and a fetch-log row, as if every page had changed that
    often). After a warm-up cycle on a throwaway copy, fresh copies of both states run the
    same 10%-changed cycle and the same unchanged cycle, in alternating order, --repeat
    times, and the median wall times are compared."""
    cmd = claimwatch_command(a.claimwatch)
    pages = work / "pages"
    make_pages(pages, a.n, a.seed)
    site = Site(pages)
    results: dict[str, dict[str, Any]] = {"1": {}, str(a.snapshots): {}}
    try:
        urls = [site.url(x) for x in (pages / "index.txt").read_text().split()]
        shallow = Claimwatch(cmd, a.run_arg, a.rules)
        shallow.fresh(work / "shallow", urls)
        log(f"cold cycle, N={a.n}")
        shallow.cycle("cold", set())
        deep = Claimwatch(cmd, a.run_arg, a.rules)
        deep.config, deep.state = shallow.config, work / "deep" / "state"
        shutil.copytree(shallow.state, deep.state)
        started = time.perf_counter()
        rows = _add_history(deep.state / "claimwatch.db", a.snapshots - 1)
        log(f"added {rows} snapshots in {time.perf_counter() - started:.1f}s "
            f"({_size_mb(deep.state):.0f} MB of state vs {_size_mb(shallow.state):.0f} MB)")
        expected = {site.url(x) for x in make_pages(pages, a.n, a.seed, MUTATE_FRACTION)}
        # A throwaway changed cycle first: the first run to touch the mutated pages would
        # otherwise pay for the server's and the OS's cold caches alone.
        warm = Claimwatch(cmd, a.run_arg, a.rules)
        warm.config, warm.state = shallow.config, work / "warm" / "state"
        shutil.copytree(shallow.state, warm.state)
        warm.cycle("changed", expected)
        shutil.rmtree(warm.state)
        # Each of --repeat rounds runs on fresh copies of both states; medians are compared.
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            label: {"changed": [], "unchanged": []} for label in results}
        for round_ in range(a.repeat):
            order = [("1", shallow), (str(a.snapshots), deep)]
            if round_ % 2:
                order.reverse()
            copies = []
            for label, template in order:
                tool = Claimwatch(cmd, a.run_arg, a.rules)
                tool.config, tool.state = template.config, work / f"round-{label}" / "state"
                shutil.rmtree(tool.state, ignore_errors=True)
                shutil.copytree(template.state, tool.state)
                copies.append((label, tool))
            # The copies' gigabyte of dirty pages would otherwise be written back during the
            # cycles, and every commit's fsync would wait behind it.
            os.sync()
            for kind in ("changed", "unchanged"):
                for label, tool in copies:
                    if a.quiet_wait:
                        wait_for_quiet(a.quiet_wait)
                    site.stats(reset=True)
                    m, reported, changed, exact = tool.cycle(kind, expected)
                    runs[label][kind].append({**m.summary(), "changed": changed,
                                              "exact": exact, "server": site.stats(reset=True)})
                    log(f"{label:>3} snapshot(s) per page, {kind}: {m.wall:.2f}s wall, "
                        f"{m.cpu:.2f}s CPU, changed {changed}")
                copies.reverse()
            for _, tool in copies:
                shutil.rmtree(tool.state)
        for label, kinds in runs.items():
            for kind, got in kinds.items():
                results[label][kind] = sorted(got, key=lambda r: r["wall"])[(len(got) - 1) // 2]
    finally:
        site.close()
    deep_r, shallow_r = results[str(a.snapshots)], results["1"]
    ratios = {f"{k}_{a.snapshots}_vs_1": ratio(deep_r[k]["wall"], shallow_r[k]["wall"])
              for k in ("changed", "unchanged")}
    return {"mode": "history", "claimwatch_cmd": cmd, "run_args": a.run_arg, "n": a.n,
            "snapshots": a.snapshots, "results": results, "ratios": ratios,
            "targets": [check(f"{k} cycle with {a.snapshots} snapshots per page <= "
                              f"{TARGETS['history_cost']} x with 1", v, TARGETS["history_cost"])
                        for k, v in ratios.items()]}


def _add_history(db: Path, copies: int) -> int:
    """Give every watch `copies` more snapshots: copies of its latest, with evidence and log.

    The one big transaction leaves the WAL as large as the history it added; it is
    checkpointed and truncated before returning, as SQLite's auto-checkpoint keeps a
    daemon's WAL small, or the first cycle on the copy would pay for folding it back."""
    conn = sqlite3.connect(db)
    with conn:
        latest = conn.execute(
            "SELECT * FROM snapshots WHERE id IN (SELECT max(id) FROM snapshots GROUP BY watch_id)"
        ).fetchall()
        snap_cols = [d[0] for d in conn.execute("SELECT * FROM snapshots LIMIT 0").description]
        ev_cols = [d[0] for d in conn.execute("SELECT * FROM evidence LIMIT 0").description]
        log_cols = [d[0] for d in conn.execute("SELECT * FROM fetch_log LIMIT 0").description]
        evidence = {r[ev_cols.index("snapshot_id")]: r for r in conn.execute(
            "SELECT * FROM evidence WHERE snapshot_id IN (SELECT max(id) FROM snapshots"
            " GROUP BY watch_id)")}

        def insert(table: str, cols: list[str], row: dict[str, Any]) -> int:
            names = [c for c in cols if c != "id"]
            cur = conn.execute(f"INSERT INTO {table}({', '.join(names)}) VALUES "
                               f"({', '.join('?' * len(names))})", [row[c] for c in names])
            return int(cur.lastrowid or 0)

        added = 0
        for k in range(copies):
            for snap in latest:
                row = dict(zip(snap_cols, snap, strict=True))
                row["fetched_at"] -= (copies - k) * 86400
                new_id = insert("snapshots", snap_cols, row)
                if row["id"] in evidence:
                    ev = dict(zip(ev_cols, evidence[row["id"]], strict=True))
                    insert("evidence", ev_cols, {**ev, "snapshot_id": new_id})
                insert("fetch_log", log_cols, {
                    "watch_id": row["watch_id"], "fetched_at": row["fetched_at"],
                    "outcome": "changed", "http_status": row["http_status"], "error": None,
                    "reason": None, "elapsed": 0.1, "snapshot_id": new_id})
                added += 1
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise RuntimeError(f"{db}: the WAL could not be checkpointed (database busy)")
    finally:
        conn.close()
    return added


def _size_mb(state: Path) -> float:
    return sum(f.stat().st_size for f in state.iterdir() if f.is_file()) / 2**20


def _all_due(db: Path) -> None:
    with sqlite3.connect(db, timeout=30) as conn:
        conn.execute("UPDATE watches SET next_check = 0")


def _wait_checked(db: Path, total: int, proc: subprocess.Popen, timeout: float = 1800) -> None:
    """Until the daemon's heartbeat has counted `total` checks since it started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode}); see daemon.log")
        with sqlite3.connect(db, timeout=30) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'daemon.heartbeat'").fetchone()
        if row and json.loads(row[0]).get("checked", 0) >= total:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the daemon did not reach {total} checks in {timeout}s")


def kind_of(n: int) -> str:
    """Cycle 1 is cold; then unchanged and 10%-changed alternate (2 unchanged, 3 changed...)."""
    return "cold" if n == 1 else "unchanged" if n % 2 == 0 else "changed"


# ---------------------------------------------------------------------------------- report

def fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def print_report(r: dict[str, Any]) -> None:
    p = print
    if r["mode"] == "cycles":
        p(f"\nN={r['n']} pages, seed {r['seed']}, {machine()['cpus']} CPUs; medians of "
          f"{r['repeat']} run(s); server: {r['server_304_per_s']} 304s/s on one connection")
        p(f"{'tool':24} {'cycle':9} {'wall s':>8} {'CPU s':>7} {'tree RSS MB':>11} "
          f"{'PSS MB':>6} {'max RSS MB':>10} {'changed':>7} {'exact':>5} {'200s':>5} {'304s':>5} "
          f"{'cond':>5} {'conns':>5} {'bg CPU%':>7}")
        for tool, cycles in r["results"].items():
            for kind, c in cycles.items():
                s = c["server"]
                exact = "" if c["exact"] is None else "yes" if c["exact"] else "NO"
                p(f"{tool[:24]:24} {kind:9} {c['wall']:8.2f} {c['cpu']:7.2f} "
                  f"{c['peak_rss_kb'] / 1024:11.0f} {c['peak_pss_kb'] / 1024:6.0f} "
                  f"{c['maxrss_kb'] / 1024:10.0f} "
                  f"{fmt(c['changed'], 'd'):>7} {exact:>5} "
                  f"{s['s200']:5d} {s['s304']:5d} {s['conditional']:5d} {s['connections']:5d} "
                  f"{100 * c['others_cpu'] / (c['wall'] * (os.cpu_count() or 1)):7.0f}")
    elif r["mode"] == "history":
        for label, kinds in r["results"].items():
            for kind, c in kinds.items():
                p(f"{label:>3} snapshot(s) per page, {kind:9}: {c['wall']:.2f}s wall, "
                  f"{c['cpu']:.2f}s CPU")
    elif r["mode"] == "scale":
        for n, c in r["results"].items():
            p(f"N={n:>6}: cold {c['wall']:.1f}s wall, {c['cpu']:.1f}s CPU, "
              f"{c['peak_rss_kb'] / 1024:.0f} MB tree RSS")
    else:
        for c in r["cycles"]:
            p(f"cycle {c['cycle']:2d} {c['kind']:9} {c['tree_rss_kb'] / 1024:7.1f} MB  "
              f"{c['seconds']}s")
    p("\nratios: " + ", ".join(f"{k} {fmt(v, '.2f')}" for k, v in r["ratios"].items()))
    for i, rr in enumerate(r.get("round_ratios", [])):
        p(f"  round {i + 1}: " + ", ".join(f"{k} {fmt(v, '.2f')}" for k, v in rr.items()))
    for t in r["targets"]:
        verdict = "SKIP" if t["pass"] is None else "PASS" if t["pass"] else "FAIL"
        p(f"  [{verdict}] {t['target']}: {fmt(t['value'], '.2f')} "
          f"(limit {t['limit']})")


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="pages (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="page corpus seed")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds, medians reported (default 3: one round's ratio can be a "
                         "quarter off the next one's on a machine whose speed drifts)")
    ap.add_argument("--skip-urlwatch", action="store_true")
    ap.add_argument("--claimwatch", metavar="CMD",
                    help="claimwatch executable (default .venv/bin/claimwatch)")
    ap.add_argument("--run-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for every `run` (e.g. --run-arg=--per-host=16)")
    ap.add_argument("--rules", help="rules file passed to claimwatch run")
    ap.add_argument("--json-out", type=Path, help="default bench/out/results-<timestamp>.json")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--quiet-wait", type=float, default=60, metavar="SECONDS",
                    help="before each cycle, wait up to this long for the rest of the machine "
                         "to use < 25%% of the CPUs (default 60; 0: do not wait)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--scale", action="store_true", help="cold cycle at N=1000 and 10000")
    mode.add_argument("--daemon-rss", action="store_true", help="RSS over daemon cycles")
    mode.add_argument("--history", action="store_true",
                      help="cycle cost with --snapshots snapshots per page vs with 1")
    ap.add_argument("--cycles", type=int, default=20, help="--daemon-rss cycles (default 20)")
    ap.add_argument("--snapshots", type=int, default=50,
                    help="--history: snapshots per page (default 50)")
    a = ap.parse_args(argv)
    if not VENV_PYTHON.exists():
        ap.error(f"{VENV_PYTHON} is missing: run `make test` (or `make demo`) first")
    # Bytecode as an installed copy has it: a checkout edited since `make` would otherwise
    # compile its changed modules in every timed process where PYTHONDONTWRITEBYTECODE is
    # set (as on the machine of the README's figures).
    subprocess.run([str(VENV_PYTHON), "-m", "compileall", "-q", str(ROOT / "crawler"),
                    str(ROOT / "monitor")], check=True)
    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="claimwatch-bench-"))
    runner: Callable[[argparse.Namespace, Path], dict[str, Any]] = (
        mode_scale if a.scale else mode_daemon_rss if a.daemon_rss
        else mode_history if a.history else mode_cycles)
    try:
        result = runner(a, work)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work directory kept: {work}")
    result["meta"] = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **machine(),
                      "versions": versions(), "argv": sys.argv[1:]}
    print_report(result)
    out = a.json_out or OUT / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
