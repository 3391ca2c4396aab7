"""When each watch is checked next: its interval with jitter, and back-off while it fails.

Jitter spreads watches added together (an import of a thousand URLs) so they do not all fall
due at the same second. A failing watch is retried sooner than its interval at first (most
failures are transient) and then less and less often, never more rarely than its interval.
"""

from __future__ import annotations

import random

JITTER = 0.1            # +/- 10% of the interval
FAILURE_BASE = 60.0     # first retry after a failure, seconds
NEW_WATCH_SPREAD = 300  # new watches fall due within this many seconds (or their interval)


def first_check(interval: int, now: float, rng: random.Random | None = None) -> float:
    """When a newly added watch is first due: soon, spread over a few minutes."""
    rng = rng or random
    return now + rng.uniform(0, min(interval, NEW_WATCH_SPREAD))


def after_success(interval: int, now: float, rng: random.Random | None = None) -> float:
    """Next check after a good fetch: the interval, give or take JITTER."""
    rng = rng or random
    return now + interval * (1 + rng.uniform(-JITTER, JITTER))


def after_failure(interval: int, failures: int, now: float) -> float:
    """Next check after the `failures`-th failure in a row: 1 min, 2, 4 ... up to the interval."""
    delay = FAILURE_BASE * (2 ** max(0, failures - 1))
    return now + min(float(interval), delay)


def next_check(interval: int, failures: int, now: float) -> float:
    """Next check of a watch that has now failed `failures` times in a row (0: it succeeded)."""
    return after_failure(interval, failures, now) if failures else after_success(interval, now)
