"""The workers' forkserver: what it preloads, and starting it first thing.

Worker processes fork from a forkserver that has imported trafilatura and compiled the rules
(about half a second of CPU). `claimwatch run` starts it before its own imports and set-up,
which take about as long and use only one core, so the two overlap instead of the first changed
page waiting for both. This module stays light (no trafilatura, no rules engine) for that.
"""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
import os
import zlib
from multiprocessing.context import BaseContext

log = logging.getLogger("claimwatch.forkserver")

# The rules to compile in the forkserver, read by monitor.workers when the forkserver imports it.
PRELOAD_ENV = "CLAIMWATCH_WORKER_RULES"
_MAX_ENV_BYTES = 96 * 1024  # Linux refuses a single environment string over 128 KiB
# monitor.workers last: with rules new to the state directory, `run` compiles them in its
# validation child meanwhile, and the forkserver takes them from the pattern cache when it
# gets to them (monitor.patterncache.ready), its other imports done while it waited. (The
# workers started about a seventh of a second sooner than with trafilatura imported after.)
# monitor.cli because each worker runs the main script again before it starts (multiprocessing
# prepares a child so), and claimwatch's script imports monitor.cli and click: about 60 ms of
# CPU in every worker, after each recycling too, instead of once in the forkserver.
_PRELOAD_MODULES = ["trafilatura", "monitor.extract", "monitor.cli", "monitor.workers"]


def context(rules_text: str, rules_path: str, cache_dir: str | None) -> BaseContext:
    """The forkserver context, set to preload what the workers need and to compile these
    rules once, with the compiled patterns cached in `cache_dir` (monitor.patterncache).
    Applies to a forkserver not started yet; a running one keeps what it preloaded."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD_MODULES)
    payload = json.dumps([os.getpid(), rules_text, rules_path, cache_dir]).encode()
    packed = base64.b64encode(zlib.compress(payload)).decode()
    if len(packed) <= _MAX_ENV_BYTES:
        os.environ[PRELOAD_ENV] = packed
    else:  # too large for the environment: workers compile on first use instead
        os.environ.pop(PRELOAD_ENV, None)
    return ctx


def start(rules_text: str, rules_path: str, cache_dir: str | None) -> bool:
    """Start the forkserver now (if it is not running); False, logged, if it cannot be
    (the pool tries again when it needs a worker)."""
    import multiprocessing.forkserver

    context(rules_text, rules_path, cache_dir)
    try:
        multiprocessing.forkserver.ensure_running()
    except Exception:  # noqa: BLE001 - the first changed page tries again
        log.exception("cannot start the workers' forkserver")
        return False
    return True
