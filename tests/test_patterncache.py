"""The compiled-pattern cache: same findings as compiling, and nothing but compiled patterns
from a file only this user can write."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from conftest import RULES

from monitor import patterncache
from monitor.page import document_from_text
from monitor.rules import parse_rules

PAGE = ("Ketamine cures addiction. 87% of our patients stay sober after one series. "
        "Our at-home ketamine program is FDA-approved. Individual results may vary.")


def trusted_rules(text: str | None = None):
    return parse_rules(text or RULES.read_text(), str(RULES), trusted=True)


def test_cached_patterns_find_what_freshly_compiled_ones_find(tmp_path: Path):
    first = trusted_rules()
    first.compile_all()
    patterncache.save(tmp_path, first.patterns)
    (cache,) = tmp_path.glob("patterns-*.pickle")
    assert cache.stat().st_mode & 0o777 == 0o600

    again = trusted_rules()
    assert patterncache.load(tmp_path, again.patterns)
    assert all(p._compiled is not None for p in again.patterns)  # no compiling left to do
    doc = document_from_text(PAGE)
    expected = [f.fingerprint for f in first.evaluate(doc).findings]
    assert expected and [f.fingerprint for f in again.evaluate(doc).findings] == expected


def test_other_rules_get_their_own_file_and_the_old_one_goes(tmp_path: Path):
    old = trusted_rules()
    patterncache.save(tmp_path, old.patterns)
    edited = trusted_rules(RULES.read_text().replace("terms: [results?,",
                                                     "terms: [outcomes?, results?,", 1))
    before = [p._compiled for p in edited.patterns]
    assert not patterncache.load(tmp_path, edited.patterns)
    assert [p._compiled for p in edited.patterns] == before  # all or nothing
    patterncache.save(tmp_path, edited.patterns)
    assert [p.name for p in tmp_path.glob("patterns-*.pickle")] == [
        patterncache.cache_path(tmp_path, edited.patterns).name]


def test_a_file_that_others_may_write_is_not_read(tmp_path: Path):
    rules = trusted_rules()
    patterncache.save(tmp_path, rules.patterns)
    cache = patterncache.cache_path(tmp_path, rules.patterns)
    cache.chmod(0o666)
    assert not patterncache.load(tmp_path, trusted_rules().patterns)
    cache.chmod(0o600)
    assert patterncache.load(tmp_path, trusted_rules().patterns)


class _Planted:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_a_file_holding_anything_but_compiled_patterns_runs_nothing(tmp_path: Path):
    rules = trusted_rules()
    marker = tmp_path / "planted"
    cache = patterncache.cache_path(tmp_path, rules.patterns)
    cache.write_bytes(pickle.dumps({p.expanded: _Planted(str(marker)) for p in rules.patterns}))
    cache.chmod(0o600)
    before = [p._compiled for p in rules.patterns]
    assert not patterncache.load(tmp_path, rules.patterns)
    assert not marker.exists()
    assert [p._compiled for p in rules.patterns] == before


def test_an_unwritable_directory_only_means_compiling(tmp_path: Path):
    rules = trusted_rules()
    patterncache.save(tmp_path / "missing", rules.patterns)  # no error
    assert not patterncache.load(tmp_path / "missing", rules.patterns)


def test_a_check_takes_the_patterns_the_daemon_compiled(tmp_path: Path, monkeypatch):
    from monitor.cli import Settings
    from monitor.store import Store

    monkeypatch.delenv("CLAIMWATCH_CONFIG", raising=False)
    settings = Settings(None)
    with Store.in_dir(tmp_path) as store:
        settings.rules(str(RULES), store)  # validated in full once, then known good
        plain = settings.rules(str(RULES), store, evaluating=True)
        assert not plain.fully_validated
        assert any(p._compiled is None for p in plain.patterns)  # compiled on first use
        compiled = trusted_rules()
        compiled.compile_all()
        patterncache.save(tmp_path, compiled.patterns)  # as the forkserver does
        cached = settings.rules(str(RULES), store, evaluating=True)
        assert all(p._compiled is not None for p in cached.patterns)
        # The daemon's own process evaluates no page: it leaves them to its workers.
        daemons = settings.rules(str(RULES), store)
        assert any(p._compiled is None for p in daemons.patterns)
