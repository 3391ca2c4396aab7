"""The `claimwatch` command as a user runs it: real process, real site, real database."""

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import RULES, SITE, page

from monitor.cli import main

BIN = Path(sys.executable).parent / "claimwatch"


def claimwatch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = str(BIN) if BIN.exists() else shutil.which("claimwatch")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def test_check_json_contract_and_exit_codes(site, tmp_path):
    site.serve("/r/", page("ridgeline/v1.html"))
    url, state = site.url("/r/"), str(tmp_path / "state")
    first = claimwatch("check", url, "--state", state, "--rules", str(RULES), "--json")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["status"] == "first" and out["http_status"] == 200 and out["error"] is None
    assert out["findings"] == []

    site.serve("/r/", page("ridgeline/v2.html"))
    second = claimwatch("check", url, "--state", state, "--rules", str(RULES), "--json")
    assert second.returncode == 1
    out = json.loads(second.stdout)
    assert out["status"] == "changed"
    for f in out["findings"]:
        assert set(f) >= {"id", "rule", "category", "severity", "state", "text", "message"}
        assert f["state"] == "new" and f["severity"] in ("high", "medium", "low")
    assert (Path(state) / "claimwatch.db").exists()

    third = claimwatch("check", url, "--state", state, "--rules", str(RULES), "--json")
    assert third.returncode == 0 and json.loads(third.stdout)["status"] == "unchanged"


def test_check_fetch_error_exits_2_with_one_json_object(site, tmp_path):
    site.serve("/r/", page("ridgeline/v1.html"))
    site.fault("/r/", "404")
    run = claimwatch("check", site.url("/r/"), "--state", str(tmp_path), "--rules", str(RULES),
                     "--json")
    assert run.returncode == 2
    out = json.loads(run.stdout)
    assert out["status"] == "error" and out["error"] == "HTTP 404" and out["http_status"] == 404


def test_human_summary_shows_findings(site, tmp_path):
    site.serve("/r/", page("ridgeline/v2.html"))
    run = claimwatch("check", site.url("/r/"), "--state", str(tmp_path), "--rules", str(RULES))
    assert run.returncode == 1
    assert "[first, HTTP 200]" in run.stdout
    assert "BASELINE" in run.stdout and "FDA-cleared" in run.stdout


def test_an_unreachable_page_is_one_line_on_stderr_not_scrapys_tracebacks(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/page"
    run = claimwatch("check", url, "--state", str(tmp_path), "--rules", str(RULES))
    assert run.returncode == 2 and "[error]" in run.stdout
    assert run.stderr == f"claimwatch: error: {url}: connection refused\n"
    claimwatch("watch", "add", url, "--state", str(tmp_path))
    cycle = claimwatch("run", "--once", "--all", "--state", str(tmp_path), "--rules", str(RULES))
    assert cycle.returncode == 0 and "Traceback" not in cycle.stderr
    assert [line.split(" ", 2)[2] for line in cycle.stderr.splitlines()
            if "WARNING" in line or "ERROR" in line] == [
        f"WARNING claimwatch.daemon: {url}: connection refused"]


@pytest.mark.parametrize("bad", ["ftp://example.org/x", "not a url", "http://"])
def test_bad_url_is_a_one_line_error_and_exit_2(bad, tmp_path):
    run = claimwatch("check", bad, "--state", str(tmp_path), "--rules", str(RULES))
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("claimwatch: error: ")


def test_broken_rules_stop_check_with_file_line_rule_field(tmp_path):
    broken = tmp_path / "rules.yaml"
    broken.write_text(RULES.read_text().replace("severity: high", "severity: urgent", 1))
    run = claimwatch("check", "http://127.0.0.1:9/", "--state", str(tmp_path), "--rules",
                     str(broken))
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert f"{broken}:" in run.stderr and "field 'severity'" in run.stderr


def test_a_rules_file_that_is_not_utf8_is_a_one_line_error_everywhere(tmp_path):
    latin = tmp_path / "rules.yaml"
    latin.write_bytes(RULES.read_bytes() + b"# r\xe9sum\xe9 in Latin-1\n")
    for args in (("check", "http://127.0.0.1:9/", "--state", str(tmp_path), "--rules", str(latin)),
                 ("rules", "lint", str(latin)), ("rules", "test", str(latin))):
        run = claimwatch(*args)
        assert run.returncode in (1, 2) and "Traceback" not in run.stderr, args
        assert f"{latin}: not UTF-8 text" in run.stderr, args


def test_unusable_state_dir_is_a_one_line_error(tmp_path):
    (tmp_path / "claimwatch.db").write_text("garbage " * 100)
    run = claimwatch("check", "http://127.0.0.1:9/", "--state", str(tmp_path), "--rules",
                     str(RULES))
    assert run.returncode == 2 and "not a usable claimwatch database" in run.stderr


def test_rules_lint_and_test(tmp_path):
    ok = claimwatch("rules", "lint", str(RULES))
    assert ok.returncode == 0 and "OK" in ok.stdout
    broken = tmp_path / "r.yaml"
    broken.write_text(RULES.read_text().replace(
        "- Save 20% on your first infusion this month.", "- x").replace(
        "category: at-home-promotion", "category: at-home", 1))
    lint = claimwatch("rules", "lint", str(broken))
    assert lint.returncode == 1 and "unknown category 'at-home'" in lint.stderr
    failing = tmp_path / "f.yaml"
    failing.write_text(RULES.read_text().replace(
        '        - "Real results: 92% of our clients', '        - "Real results: our clients', 1))
    test = claimwatch("rules", "test", str(failing))
    assert test.returncode == 1
    assert "FAIL" in test.stdout and "rule 'outcome-statistic'" in test.stdout


def test_rules_explain_shows_fired_and_suppressed(tmp_path):
    run = claimwatch("rules", "explain", str(SITE / "ridgeline" / "v1.html"), "--rules",
                     str(RULES))
    assert run.returncode == 0, run.stderr
    assert "SUPPRESSED" in run.stdout and "negation" in run.stdout
    assert "off-label:" in run.stdout


def test_every_command_has_help():
    runner = CliRunner()

    def walk(group, path):
        for name, cmd in getattr(group, "commands", {}).items():
            assert cmd.help and cmd.help.strip(), f"{' '.join(path + [name])} has no help"
            result = runner.invoke(main, [*path, name, "--help"])
            assert result.exit_code == 0
            walk(cmd, path + [name])

    walk(main, [])


# ------------------------------------------------------------------ notifications and review

def test_check_prints_one_json_object_then_sends_its_alert(site, tmp_path):
    from conftest import run_claimwatch
    from receivers import JsonReceiver

    with JsonReceiver() as hook:
        (tmp_path / "claimwatch.toml").write_text(
            f'state_dir = "st"\nrules = "{RULES}"\n[notify]\nurls = ["{hook.url()}"]\n')
        site.serve("/r/", page("ridgeline/v2.html"))
        run = run_claimwatch("check", site.url("/r/"), "--json", cwd=tmp_path)
        assert run.returncode == 1, run.stderr
        out = json.loads(run.stdout)  # the whole of stdout is one JSON object
        assert out["status"] == "first"
        assert (tmp_path / "st" / "claimwatch.db").exists()  # state_dir from the config
        assert len(hook.received) == 1
        assert hook.received[0].title.startswith("[claimwatch] Initial audit: 4 claims")
        for f in out["findings"]:
            assert f["text"] in hook.received[0].message


def test_no_notify_queues_and_deliver_sends_later_with_an_honest_exit_status(site, tmp_path):
    from conftest import cli_env, run_claimwatch
    from receivers import JsonReceiver

    site.serve("/r/", page("ridgeline/v2.html"))
    with JsonReceiver() as hook:
        env = cli_env(CLAIMWATCH_NOTIFY=hook.url(), CLAIMWATCH_STATE_DIR="st",
                      CLAIMWATCH_RULES=str(RULES))
        run = run_claimwatch("check", site.url("/r/"), "--no-notify", cwd=tmp_path, env=env)
        assert run.returncode == 1 and hook.received == []
        hook.stop()
        down = run_claimwatch("deliver", cwd=tmp_path, env=env)
        assert down.returncode == 1 and "FAILED" in down.stdout and "1 pending" in down.stdout
        hook.start()
        up = run_claimwatch("deliver", cwd=tmp_path, env=env)  # back-off ignored
        assert up.returncode == 0, up.stdout + up.stderr
        assert "0 pending, 0 failed" in up.stdout
        assert [r.title.split(":")[0] for r in hook.received] == ["[claimwatch] Initial audit"]
        status = run_claimwatch("notify", "status", "--all", "--json", cwd=tmp_path, env=env)
        [message] = json.loads(status.stdout)["messages"]
        assert message["status"] == "sent" and message["attempts"] == 2


def test_notify_test_prints_each_targets_real_result(tmp_path):
    from conftest import cli_env, run_claimwatch
    from receivers import JsonReceiver

    none = run_claimwatch("notify", "test", cwd=tmp_path)
    assert none.returncode == 2 and "no notification target configured" in none.stderr
    with JsonReceiver() as live, JsonReceiver() as dead:
        dead.stop()
        env = cli_env(CLAIMWATCH_NOTIFY=f"{live.url()} {dead.url()}")
        run = run_claimwatch("notify", "test", cwd=tmp_path, env=env)
        assert run.returncode == 1
        assert f"OK      {live.url()}" in run.stdout
        assert f"FAILED  {dead.url()}: failure: " in run.stdout
        assert len(live.received) == 1 and "test message" in live.received[0].title
        bad = run_claimwatch("notify", "test", cwd=tmp_path,
                             env=cli_env(CLAIMWATCH_NOTIFY="nope://x"))
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1
        assert "notify.urls: entry 1 (nope://...)" in bad.stderr


def test_alerts_commands_list_show_ack_and_mute(tmp_path, ruleset):
    from conftest import record

    from monitor.store import Store

    state = tmp_path / "state"
    url = "http://127.0.0.1:1/r/"
    with Store.in_dir(state) as store:
        record(store, ruleset, url, page("ridgeline/v1.html"))
        record(store, ruleset, url, page("ridgeline/v2.html"))
    runner = CliRunner()

    def cw(*args):
        return runner.invoke(main, ["alerts", *args, "--state", str(state)])

    listed = json.loads(cw("--json").output)
    assert [a["status"] for a in listed] == ["open"] * 4
    first = listed[0]
    shown = cw("show", str(first["id"]))
    assert shown.exit_code == 0
    assert f"claim:      {first['text']}" in shown.output
    assert "The change that introduced it" in shown.output and "+ " in shown.output
    assert "evidence:   HTTP 200" in shown.output and "notified:   cw-1" in shown.output
    raw = cw("show", str(first["id"]), "--raw")
    assert raw.exit_code == 0 and raw.output == page("ridgeline/v2.html").decode()
    acked = cw("ack", str(first["id"]), "--note", "checked with the clinic")
    assert acked.exit_code == 0 and f"acknowledged #{first['id']}" in acked.output
    assert len(json.loads(cw("--json").output)) == 3
    assert json.loads(cw("--status", "acked", "--json").output)[0]["ack_note"] == (
        "checked with the clinic")
    muted = runner.invoke(main, ["alerts", "mute", url, "--rule", "outcome-statistic",
                                 "--state", str(state)])
    assert muted.exit_code == 0 and "muted outcome-statistic" in muted.output
    remaining = json.loads(cw("--json").output)
    assert {a["rule"] for a in remaining} == {"fda-approval-claim", "testimonial-quote"}
    assert "outcome-statistic" in cw("mutes").output
    assert any(a["muted"] for a in json.loads(cw("--include-muted", "--json").output))
    missing = cw("ack", "999")
    assert missing.exit_code == 2 and "no finding with id 999" in missing.output


def test_report_writes_one_self_contained_file(tmp_path, ruleset):
    from conftest import SCRIPT_PAGE, record

    from monitor.store import Store

    state = tmp_path / "state"
    with Store.in_dir(state) as store:
        record(store, ruleset, "http://127.0.0.1:1/evil/", SCRIPT_PAGE.read_bytes())
    out = tmp_path / "out.html"
    result = CliRunner().invoke(main, ["report", "--state", str(state), "--out", str(out)])
    assert result.exit_code == 0 and f"wrote {out}" in result.output
    html = out.read_text()
    assert "<script" not in html and "&lt;script&gt;" in html and "<mark>" in html
