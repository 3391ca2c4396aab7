"""Worker processes: the forkserver compiles the daemon's rules once, and workers forked from
it use them only when they are the very rules the pool was given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import RULES

# Runs in a fresh interpreter: a forkserver is one per process, started by the first pool.
SCRIPT = r"""
import json, multiprocessing, os, subprocess, sys
from concurrent.futures import ProcessPoolExecutor
from monitor import forkserver, workers

text, path = open(sys.argv[1]).read(), sys.argv[1]

def probe():
    import gc
    from monitor import workers as w
    compiled = all(p._compiled is not None for p in w._ruleset.patterns)
    order = list(sys.modules)  # in the order they were imported, in the forkserver
    return {"trafilatura_first": order.index("trafilatura") < order.index("monitor.workers"),
            # this script does not import the CLI: the forkserver did, for claimwatch's script
            "cli_preloaded": "monitor.cli" in sys.modules,
            "preloaded": w._preloaded is not None,
            "uses_preloaded": w._preloaded is not None and w._ruleset is w._preloaded[1],
            "compiled": compiled, "digest": w._ruleset.digest,
            "frozen": gc.get_freeze_count() > 0}

def pool(rules_text):
    ctx = multiprocessing.get_context("forkserver")  # preloads as forkserver.context set
    return ProcessPoolExecutor(1, mp_context=ctx, initializer=workers.init,
                               initargs=(rules_text, path, os.getpid()))

if __name__ == "__main__":
    forkserver.context(text, path, None)
    with pool(text) as p:
        same = p.submit(probe).result()
    with pool(text + "\n# edited\n") as p:
        other = p.submit(probe).result()
    child = subprocess.run([sys.executable, "-c", "from monitor import workers;"
                            "print(workers._preloaded is not None)"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(json.dumps({"same": same, "other": other, "plain_child_preloaded": child}))
"""


def test_workers_take_the_rules_their_forkserver_compiled_only_if_unchanged(tmp_path: Path):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(RULES)], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["same"]["uses_preloaded"] and got["same"]["compiled"]
    # Inherited from the forkserver and out of the worker's collections: pages stay shared.
    assert got["same"]["frozen"]
    # trafilatura is imported while `run` validates new rules, not after it.
    assert got["same"]["trafilatura_first"]
    # A worker re-runs the main script; what claimwatch's imports is there already.
    assert got["same"]["cli_preloaded"]
    # Rules edited since (a reload): the worker parses the new text, not the stale preload.
    assert got["other"]["preloaded"] and not got["other"]["uses_preloaded"]
    assert got["other"]["digest"] != got["same"]["digest"]
    # Only a forkserver of the process that asked compiles; other children never do.
    assert got["plain_child_preloaded"] == "False"


def test_the_daemons_own_process_leaves_html_parsing_to_the_workers():
    # lxml (about 5 MB) and trafilatura load in the forkserver the workers fork from; the
    # daemon's process, which fetches, stores and reports, imports neither.
    probe = ("import sys, monitor.cli, monitor.daemon, monitor.check, monitor.store;"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'lxml', 'trafilatura'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
