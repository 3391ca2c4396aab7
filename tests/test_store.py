"""The state database: schema, transactions, WAL and sharing between processes."""

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.store import MIGRATIONS, Store


def test_new_database_is_migrated_and_in_wal_mode(tmp_path: Path):
    with Store.in_dir(tmp_path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {"watches", "snapshots", "findings", "fetch_log", "evidence"} <= set(
            store.db.table_names())


def test_installed_sqlite_utils_plugins_never_touch_the_connection(tmp_path: Path):
    from sqlite_utils import hookimpl
    from sqlite_utils.plugins import pm

    class Plugin:
        @hookimpl
        def prepare_connection(self, conn: sqlite3.Connection) -> None:
            conn.create_function("planted", 0, lambda: 1)

    plugin = Plugin()
    pm.register(plugin, name="planted-by-test")
    try:
        store = Store(tmp_path / "db.sqlite")
        with pytest.raises(sqlite3.OperationalError, match="no such function: planted"):
            store.db.execute("SELECT planted()")
    finally:
        pm.unregister(plugin)


def test_transaction_is_all_or_nothing(tmp_path: Path):
    with Store.in_dir(tmp_path) as store:
        watch = store.ensure_watch("http://127.0.0.1/a")
        with pytest.raises(RuntimeError), store.transaction():
            store.update_watch(watch.id, etag='"x"')
            store.log_fetch(watch.id, fetched_at=1.0, outcome="error", http_status=None,
                            error="boom", reason=None, elapsed=None, snapshot_id=None)
            raise RuntimeError("crash in the middle of a page")
        assert store.watch(watch.url).etag is None
        assert store.fetch_log(watch.id) == []


def test_a_nested_transaction_rolls_back_alone(tmp_path: Path):
    """The daemon commits several pages at once, each nested: a failing page loses only its
    own writes, however deep the failure, and the others commit."""
    with Store.in_dir(tmp_path) as store:
        a, b, c = (store.ensure_watch(f"http://127.0.0.1/{n}") for n in "abc")
        with store.transaction():
            with store.transaction():
                store.update_watch(a.id, etag='"a"')
            with pytest.raises(RuntimeError), store.transaction():
                store.update_watch(b.id, etag='"b"')
                with store.transaction():
                    store.update_watch(b.id, last_modified="then")
                    raise RuntimeError("page b fails two levels down")
            with store.transaction():
                store.update_watch(c.id, etag='"c"')
        assert [store.watch_by_id(w.id).etag for w in (a, b, c)] == ['"a"', None, '"c"']
        assert store.watch_by_id(b.id).last_modified is None
        assert not store.db.conn.in_transaction

def test_newer_schema_is_refused_with_a_clear_error(tmp_path: Path):
    path = tmp_path / "claimwatch.db"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer claimwatch"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path):
    (tmp_path / "claimwatch.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable claimwatch database"):
        Store.in_dir(tmp_path)


def test_a_second_process_waits_for_the_write_lock_instead_of_failing(tmp_path: Path):
    with Store.in_dir(tmp_path) as store:
        watch = store.ensure_watch("http://127.0.0.1/a")
        child = textwrap.dedent(f"""
            from monitor.store import Store
            with Store.in_dir({str(tmp_path)!r}) as s, s.transaction():
                s.update_watch({watch.id}, last_error="written by the other process")
            print("ok")
        """)
        with store.transaction():
            store.update_watch(watch.id, etag='"held"')
            proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)  # blocked on our write lock, not failing
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
        assert store.watch(watch.url).last_error == "written by the other process"
        assert store.watch(watch.url).etag == '"held"'
