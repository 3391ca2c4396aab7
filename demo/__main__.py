"""`make demo`: serve the bundled sample clinic site on 127.0.0.1 and check it with claimwatch.

Each page is checked once (its claims become the baseline), one page is then edited the way
clinics edit pages, and the next check shows what the edit added and what it resolved.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from demo.server import SiteServer

HERE = Path(__file__).resolve().parent
SITE = HERE / "site"
ROOT = HERE.parent


def claimwatch(*args: str) -> int:
    exe = Path(sys.executable).parent / "claimwatch"
    command = [str(exe) if exe.exists() else "claimwatch", *args]
    print(f"\n$ claimwatch {' '.join(args)}", flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


def step(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)), flush=True)


def main() -> int:
    state = Path(tempfile.mkdtemp(prefix="claimwatch-demo-"))
    try:
        with SiteServer() as site:
            site.serve("/ridgeline/", SITE / "ridgeline" / "v1.html")
            site.serve("/bluepine/", SITE / "bluepine" / "v1.html")
            pages = [site.url("/ridgeline/"), site.url("/bluepine/")]
            print(f"Sample clinic site on {site.url('/')} (state in {state})")

            step("1. First check of each page: what the page claims today (baseline)")
            for url in pages:
                claimwatch("check", url, "--state", str(state))

            step("2. Ridgeline edits its page: counters, a testimonial, an FDA claim")
            site.serve("/ridgeline/", SITE / "ridgeline" / "v2.html")
            claimwatch("check", pages[0], "--state", str(state))

            step("3. Ridgeline edits again: cites a counter, adds a results-vary note,")
            print("       drops the FDA claim and its disclaimer, adds a safety claim")
            site.serve("/ridgeline/", SITE / "ridgeline" / "v3.html")
            claimwatch("check", pages[0], "--state", str(state))

            step("4. Blue Pine's server answers 304 Not Modified: nothing to report")
            claimwatch("check", pages[1], "--state", str(state))

            step("5. Blue Pine adds an at-home offer and a cure claim (JSON for scripts)")
            site.serve("/bluepine/", SITE / "bluepine" / "v2.html")
            claimwatch("check", pages[1], "--state", str(state), "--json")

            step("6. Blue Pine serves a maintenance page with 200 OK: suspect, nothing resolved")
            site.serve("/bluepine/", SITE / "broken" / "maintenance.html")
            claimwatch("check", pages[1], "--state", str(state))
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
