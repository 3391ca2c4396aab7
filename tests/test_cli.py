"""The `claimwatch` command as a user runs it: real process, real site, real database."""

import json
import shutil
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
