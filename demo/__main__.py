"""`make demo`: the claimwatch daemon watching the bundled sample clinic site on 127.0.0.1.

The demo serves demo/site on a loopback port, adds its pages as watches checked every 10 s,
starts `claimwatch run`, edits the pages the way clinics edit them while the daemon watches,
and prints the alerts as they reach a local sink (also kept in demo-out/alerts.html and
alerts.jsonl). Then it stops the daemon and shows the reviewer's commands. About a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from demo.server import SiteServer
from demo.sink import AlertSink

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
ROOT = HERE.parent
OUT = ROOT / "demo-out"
EXE = Path(sys.executable).parent / "claimwatch"


def claimwatch(*args: str, quiet: bool = False) -> subprocess.CompletedProcess:
    if not quiet:
        print(f"\n$ claimwatch {' '.join(args)}", flush=True)
    run = subprocess.run([str(EXE) if EXE.exists() else "claimwatch", *args], cwd=ROOT,
                         capture_output=True, text=True, env=ENV)
    if not quiet:
        print(run.stdout.rstrip() or run.stderr.rstrip(), flush=True)
    return run


def step(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 74 - len(title)), flush=True)


def wait(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    print(f"    (waiting for {what} ...)", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    print(f"    (gave up waiting for {what} after {timeout:.0f}s)", flush=True)


ENV = dict(os.environ)


def main() -> int:
    state = Path(tempfile.mkdtemp(prefix="claimwatch-demo-"))
    shutil.rmtree(OUT, ignore_errors=True)
    sink = AlertSink(OUT)
    config = state / "claimwatch.toml"
    config.write_text(f'state_dir = "{state / "state"}"\nrules = "{ROOT / "rules.yaml"}"\n\n'
                      f'[notify]\nurls = ["{sink.url}"]\n\n[daemon]\ndelivery_interval = 1\n')
    ENV["CLAIMWATCH_CONFIG"] = str(config)
    daemon = None
    try:
        with SiteServer() as site:
            site.serve("/ridgeline/", SITE / "ridgeline" / "v1.html")
            site.serve("/bluepine/", SITE / "bluepine" / "v1.html")
            ridge, blue = site.url("/ridgeline/"), site.url("/bluepine/")
            print(f"Sample clinic site on {site.url('/')}; alerts go to {sink.url} "
                  f"(kept in {OUT.relative_to(ROOT)}/alerts.html)")

            step("1. Watch the clinic's two pages, every 10 seconds")
            claimwatch("watch", "add", ridge, blue, "--every", "10s")
            step("2. Start the daemon (it runs until we stop it)")
            print(f"$ claimwatch run    (pid follows; logs in {OUT.relative_to(ROOT)}/daemon.log)")
            log = (OUT / "daemon.log").open("w")
            daemon = subprocess.Popen([str(EXE), "-v", "run"], cwd=ROOT, env=ENV, stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            print(f"    daemon pid {daemon.pid}")
            wait(lambda: all(w["last_checked"] for w in json.loads(
                claimwatch("watch", "list", "--json", quiet=True).stdout or "[]")),
                 "the first check of both pages")
            claimwatch("watch", "list")
            print("    (neither page claims anything yet: nothing to alert)")

            step("3. Ridgeline adds stat counters, a testimonial and an FDA claim")
            site.serve("/ridgeline/", SITE / "ridgeline" / "v2.html")
            wait(lambda: sink.count("FDA-cleared") >= 1, "the next scheduled check")

            step("4. Ridgeline again: cites a counter, adds a results-vary note, drops the")
            print("   FDA claim and its disclaimer, adds a safety claim")
            site.serve("/ridgeline/", SITE / "ridgeline" / "v3.html")
            wait(lambda: sink.count("completely safe") >= 1, "the next scheduled check")

            step("5. Blue Pine: an at-home offer and a cure claim; a reviewer rechecks now")
            site.serve("/bluepine/", SITE / "bluepine" / "v2.html")
            claimwatch("recheck", blue)
            wait(lambda: sink.count("cure they have been waiting for") >= 1, "the recheck")

            step("6. Blue Pine shows a maintenance page: suspect, nothing resolved, no alert")
            site.serve("/bluepine/", SITE / "broken" / "maintenance.html")
            before = len(sink.alerts)
            claimwatch("recheck", blue)
            time.sleep(4)
            print(f"    alerts since: {len(sink.alerts) - before}")
            claimwatch("status")

            step("7. Stop the daemon (SIGTERM): it finishes what it is doing and exits 0")
            daemon.send_signal(signal.SIGTERM)
            print(f"    exit status {daemon.wait(timeout=20)}")
            daemon = None

        step("8. What a reviewer does next")
        claimwatch("alerts")
        claimwatch("history", ridge)
        claimwatch("report", "--out", str(OUT / "report.html"))
    finally:
        if daemon is not None:
            daemon.kill()
        sink.close()
        shutil.rmtree(state, ignore_errors=True)
    print(f"\nDemo finished. Alerts received: {len(sink.alerts)} "
          f"(open {OUT.relative_to(ROOT)}/alerts.html and report.html in a browser).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
