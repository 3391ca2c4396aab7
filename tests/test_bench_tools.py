"""The benchmark's own tools: the page generator is deterministic and mutates only what it
says, and the static server answers conditional requests and counts what it served."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import cycle, make_pages, serve

ROOT = Path(__file__).resolve().parents[1]


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("clinic-*.html"))}


def test_generator_is_deterministic_and_sized(tmp_path: Path) -> None:
    a = make_pages.generate(tmp_path / "a", 12, seed=7)
    make_pages.generate(tmp_path / "b", 12, seed=7)
    make_pages.generate(tmp_path / "c", 12, seed=8)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")
    assert all(15_000 <= s <= 41_000 for s in a.sizes)
    index = (tmp_path / "a" / "index.txt").read_text().split()
    assert index == sorted(files(tmp_path / "a"))
    page = (tmp_path / "a" / index[0]).read_text()
    for part in ('class="cmplz-cookiebanner', 'class="sub-menu', "<article", 'class="sidebar',
                 "Medical disclaimer"):
        assert part in page


def test_mutate_touches_only_the_chosen_pages(tmp_path: Path) -> None:
    out = tmp_path / "pages"
    make_pages.generate(out, 20, seed=3)
    before = files(out)
    stamps = {n: (out / n).stat().st_mtime_ns for n in before}
    s = make_pages.generate(out, 20, seed=3, mutate_fraction=0.25, mutate_seed=5)
    after = files(out)
    listed = (out / "mutated.txt").read_text().split()
    assert listed == s.mutated and len(listed) == 5
    assert {n for n in before if before[n] != after[n]} == set(listed)
    for n in before:
        if n in listed:
            assert int((out / n).stat().st_mtime) > stamps[n] // 10**9  # Last-Modified moves on
        else:
            assert (out / n).stat().st_mtime_ns == stamps[n]  # untouched: validators hold
    again = make_pages.generate(out, 20, seed=3, mutate_fraction=0.25, mutate_seed=5)
    assert again.written == 0 and files(out) == after
    make_pages.generate(out, 20, seed=3)  # back to the base pages
    assert files(out) == before and not (out / "mutated.txt").exists()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[serve.Server]:
    (tmp_path / "a.html").write_text("<p>hello</p>")
    srv = serve.start_in_thread(str(tmp_path))
    yield srv
    srv.shutdown()
    srv.server_close()


def get(conn: http.client.HTTPConnection, path: str, **headers: str
        ) -> http.client.HTTPResponse:
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    return resp


def test_server_validators_304s_and_stats(server: serve.Server, tmp_path: Path) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    first = get(conn, "/a.html")
    etag, modified = first.getheader("ETag"), first.getheader("Last-Modified")
    assert first.status == 200 and first.body == b"<p>hello</p>" and etag and modified
    assert get(conn, "/a.html", **{"If-None-Match": etag}).status == 304
    assert get(conn, "/a.html", **{"If-Modified-Since": modified}).status == 304
    assert get(conn, "/a.html", **{"If-None-Match": '"other"',
                                   "If-Modified-Since": modified}).status == 200
    assert get(conn, "/robots.txt").body.startswith(b"User-agent: *")
    assert get(conn, "/../etc/passwd").status == 404
    (tmp_path / "a.html").write_text("<p>changed</p>")
    os.utime(tmp_path / "a.html", (1e9, 2e9))
    changed = get(conn, "/a.html", **{"If-None-Match": etag})
    assert changed.status == 200 and changed.getheader("ETag") != etag
    other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    stats = json.loads(get(other, "/__stats?reset=1").body)
    assert stats["s304"] == 2 and stats["s200"] == 4 and stats["s404"] == 1
    assert stats["conditional"] == 4 and stats["if_none_match"] == 3
    assert stats["connections"] == 1  # keep-alive: everything above went over one connection
    assert stats["file_reads"] == 2  # a.html, then again once rewritten
    assert json.loads(get(other, "/__stats").body)["requests"] == 0


def test_warming_the_site_leaves_no_file_for_a_timed_cycle_to_read(tmp_path: Path) -> None:
    make_pages.generate(tmp_path, 5, seed=3)
    names = (tmp_path / "index.txt").read_text().split()
    site = cycle.Site(tmp_path)
    try:
        assert site.warm(names) == 5 and site.warm(names) == 0
        make_pages.generate(tmp_path, 5, seed=3, mutate_fraction=0.4)
        mutated = (tmp_path / "mutated.txt").read_text().split()
        assert site.warm(names) == len(mutated) > 0
        conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=5)
        assert all(get(conn, f"/{name}").status == 200 for name in names)
        assert site.stats()["file_reads"] == 0
    finally:
        site.close()


def test_server_without_validators(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("x")
    srv = serve.start_in_thread(str(tmp_path), validators=False)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        resp = get(conn, "/a.html", **{"If-None-Match": "*"})
        assert resp.status == 200 and resp.getheader("ETag") is None
        assert resp.getheader("Last-Modified") is None
    finally:
        srv.shutdown()
        srv.server_close()


def test_profile_check_times_parts_that_exist() -> None:
    # Its timers wrap functions by name: a rename in the check path must fail here, not when
    # someone next runs the profiler.
    from bench import profile_check

    missing = [f"{getattr(owner, '__name__', owner)}.{attr}"
               for owner, attr, _, _ in profile_check.TARGETS if not hasattr(owner, attr)]
    assert missing == []
    assert len(profile_check.TARGETS) > 20


# A measured command whose child outlives it, burning CPU and holding memory after its parent
# has exited, as a multiprocessing forkserver (and the workers it reaps) can.
_ORPHAN_MAKER = r"""
import os, time
if os.fork() == 0:
    ballast = bytearray(60 * 2**20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    time.sleep(0.6)
    end = time.process_time() + 0.6
    while time.process_time() < end:
        pass
    os._exit(0)
time.sleep(0.5)
"""


def test_measure_counts_the_cpu_and_memory_of_orphaned_descendants(tmp_path: Path) -> None:
    code = ("import json, sys\nfrom bench import cycle\ncycle.become_subreaper()\n"
            "m = cycle.measure([sys.executable, '-c', sys.argv[1]])\n"
            "print(json.dumps(m.summary()))")
    out = subprocess.run([sys.executable, "-c", code, _ORPHAN_MAKER], capture_output=True,
                         text=True, timeout=60, cwd=ROOT, check=True)
    m = json.loads(out.stdout)
    assert m["cpu"] >= 0.55  # the orphan's 0.6 s, counted though init never saw it
    assert m["peak_rss_kb"] >= 60 * 1024 and m["processes"] >= 2
    assert 0.4 <= m["wall"] < 1.15  # the measured process alone: the orphan lives 1.25 s+


def _cycle(kind: str, wall: float) -> cycle.Cycle:
    measured = cycle.Measured(["x"], wall, wall, 0.0, 0, 0, 0, 1, 0)
    return cycle.Cycle(kind, measured, server={})


def test_ratios_are_taken_round_by_round_and_the_median_is_a_real_run() -> None:
    def rounds(*walls: tuple[float, float, float]) -> list[dict[str, cycle.Cycle]]:
        return [{k: _cycle(k, w) for k, w in zip(cycle.KINDS, r, strict=True)} for r in walls]

    runs = {"claimwatch": rounds((12, 1, 3), (16, 2, 3)),
            "floor, 2 processes": rounds((10, 1, 2), (8, 1, 2)),
            "urlwatch, html2text": rounds((6, 4, 6), (6, 5, 6))}
    assert cycle.round_ratios(runs) == [
        {"cold_vs_floor2": 1.2, "unchanged_vs_urlwatch": 0.25, "changed_vs_urlwatch": 0.5},
        {"cold_vs_floor2": 2.0, "unchanged_vs_urlwatch": 0.4, "changed_vs_urlwatch": 0.5}]
    three = [_cycle("cold", w) for w in (9.0, 7.0, 8.0)]
    assert cycle.median_cycle(three) is three[2]
    assert cycle.median_cycle(three[:2]).measured.wall == 7.0  # the lower of two, not a mean
    assert cycle.ratio(3.0, None) is None and cycle.ratio(3.0, 0.0) is None


def test_add_history_gives_every_page_more_snapshots_and_checks_still_read_the_latest(
        tmp_path: Path) -> None:
    from conftest import RULES, page, run_check

    from demo.server import SiteServer
    from monitor.rules import load_rules
    from monitor.store import Store

    ruleset = load_rules(RULES)
    state = tmp_path / "state"
    with SiteServer() as site:
        for i in range(2):
            site.serve(f"/h{i}/", page("ridgeline/v2.html"))
        urls = [site.url(f"/h{i}/") for i in range(2)]
        with Store.in_dir(state) as store:
            first = [run_check(store, ruleset, url) for url in urls]
        assert cycle._add_history(state / "claimwatch.db", 3) == 6
        with Store.in_dir(state) as store:
            for url, before in zip(urls, first, strict=True):
                watch = store.watch(url)
                assert len(store.snapshots(watch.id)) == 4
                assert len(store.fetch_log(watch.id)) == 4
                again = run_check(store, ruleset, url)
                assert again.status == "unchanged"
                assert {f.id for f in again.findings} == {f.id for f in before.findings}
