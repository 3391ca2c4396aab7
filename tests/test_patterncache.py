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
        settings.rules(str(RULES), store)  # validated in full once (patterns saved)
        saved = settings.rules(str(RULES), store, evaluating=True)  # then known good
        assert not saved.fully_validated
        assert all(p._compiled is not None for p in saved.patterns)
        for cache in tmp_path.glob("patterns-*.pickle"):
            cache.unlink()
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


def _counting_compiles(monkeypatch, on_call=None) -> list[str]:
    from monitor import patterns

    calls: list[str] = []
    real = patterns.compile_pattern

    def compile_pattern(source: str):
        calls.append(source)
        if on_call is not None:
            on_call(len(calls))
        return real(source)

    monkeypatch.setattr(patterns, "compile_pattern", compile_pattern)
    return calls


def _all_ready(rules) -> bool:
    from monitor.patterns import _UNSET

    return all(p._compiled is not None and p._prefilter is not _UNSET for p in rules.patterns)


def test_ready_compiles_and_saves_when_there_is_no_cache(tmp_path: Path, monkeypatch):
    rules = trusted_rules()
    calls = _counting_compiles(monkeypatch)
    assert not patterncache.ready(tmp_path, rules.patterns)
    assert len(calls) == len(rules.patterns) and _all_ready(rules)
    assert patterncache.cache_path(tmp_path, rules.patterns).exists()
    assert not patterncache.ready(None, trusted_rules().patterns)  # no directory: compiles


def test_ready_takes_a_cache_that_is_there_and_compiles_nothing(tmp_path: Path, monkeypatch):
    compiled = trusted_rules()
    compiled.compile_all()
    patterncache.save(tmp_path, compiled.patterns)
    rules = trusted_rules()
    calls = _counting_compiles(monkeypatch)
    assert patterncache.ready(tmp_path, rules.patterns)
    assert calls == [] and _all_ready(rules)


def test_ready_takes_the_cache_the_daemon_saves_while_it_compiles(tmp_path: Path, monkeypatch):
    """`claimwatch run` validating new rules compiles them in its own process while the
    forkserver does too; the forkserver stops compiling once the daemon has saved them."""
    validated = trusted_rules()
    validated.compile_all()
    rules = trusted_rules()

    def daemon_saves(n: int) -> None:
        if n == 3:
            patterncache.save(tmp_path, validated.patterns)

    calls = _counting_compiles(monkeypatch, daemon_saves)
    assert patterncache.ready(tmp_path, rules.patterns)
    assert len(calls) == 3 < len(rules.patterns) and _all_ready(rules)
    doc = document_from_text(PAGE)
    assert ([f.fingerprint for f in rules.evaluate(doc).findings]
            == [f.fingerprint for f in validated.evaluate(doc).findings])


def test_validating_new_rules_saves_their_patterns_for_the_forkserver(tmp_path: Path,
                                                                      monkeypatch):
    from monitor.cli import Settings
    from monitor.store import Store

    monkeypatch.delenv("CLAIMWATCH_CONFIG", raising=False)
    with Store.in_dir(tmp_path) as store:
        assert Settings(None).rules(str(RULES), store).fully_validated
    calls = _counting_compiles(monkeypatch)
    assert patterncache.ready(tmp_path, trusted_rules().patterns) and calls == []


def test_ready_reads_a_refused_file_once_not_before_every_pattern(tmp_path: Path,
                                                                   monkeypatch):
    rules = trusted_rules()
    cache = patterncache.cache_path(tmp_path, rules.patterns)
    cache.write_bytes(b"not a pickle")
    cache.chmod(0o600)
    loads: list[Path] = []
    real = patterncache.load

    def load(directory: Path, patterns) -> bool:
        loads.append(directory)
        return real(directory, patterns)

    monkeypatch.setattr(patterncache, "load", load)
    assert not patterncache.ready(tmp_path, rules.patterns)
    assert len(loads) == 1 and _all_ready(rules)
    assert patterncache.load(tmp_path, trusted_rules().patterns)  # replaced by a good one
