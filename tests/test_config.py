"""Configuration: validation names the key, precedence is option > env > file > default."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import Config, NotifyConfig, describe, load_config
from monitor.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "claimwatch.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_no_file_gives_the_built_in_defaults(tmp_path):
    config = load_config(env={}, cwd=tmp_path)
    assert config == Config()
    assert config.state_dir == Path("state") and config.rules is None
    assert not config.notify.enabled and config.notify.initial_audit
    n = config.notify
    assert n.max_attempts >= 1 and n.backoff_cap >= n.backoff_base


def test_a_full_file_is_read_and_paths_are_relative_to_it(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "apprise.yml").write_text("urls:\n  - json://127.0.0.1:9/x\n")
    write(tmp_path / "conf", """
state_dir = "var/state"
rules = "my-rules.yaml"
[notify]
urls = ["mailto://127.0.0.1:25?mode=insecure&from=a@example.org&to=b@example.org"]
config = "apprise.yml"
operator_urls = "json://127.0.0.1:9/ops"
initial_audit = false
failure_alert_after = 5
timeout = 10
max_attempts = 3
backoff_base = 2.5
backoff_cap = 20
""")
    config = load_config(tmp_path / "conf" / "claimwatch.toml", env={}, cwd=tmp_path)
    assert config.state_dir == tmp_path / "conf" / "var" / "state"
    assert config.rules == tmp_path / "conf" / "my-rules.yaml"
    n = config.notify
    assert n.urls[0].startswith("mailto://") and n.operator_urls == ("json://127.0.0.1:9/ops",)
    assert n.config == tmp_path / "conf" / "apprise.yml"
    assert (n.initial_audit, n.failure_alert_after, n.timeout, n.max_attempts) == (
        False, 5, 10.0, 3)
    assert [n.backoff(a) for a in (1, 2, 3, 4, 5)] == [2.5, 5.0, 10.0, 20.0, 20.0]


@pytest.mark.parametrize("text, message", [
    ('[notify]\nurl = ["json://x"]',
     'unknown key "notify.url" (allowed: urls, config, operator_urls, initial_audit'),
    ('state = "x"', 'unknown key "state" (allowed: state_dir, rules, notify, daemon)'),
    ('[daemon]\nx = 1', 'unknown key "daemon.x" (allowed: workers, concurrency, per_host'),
    ('[daemon]\nconcurrency = 0', 'daemon.concurrency'),
    ('[daemon]\nautothrottle = "off"', "daemon.autothrottle: expected true or false"),
    ('notify = 3', '"notify" must be a table'),
    ('[notify]\nmax_attempts = 0', 'notify.max_attempts: must be at least 1, got 0'),
    ('[notify]\nmax_attempts = "five"', "notify.max_attempts: expected an integer, got 'five'"),
    ('[notify]\ntimeout = true', "notify.timeout: expected a number"),
    ('[notify]\nbackoff_base = -1', "notify.backoff_base: must be at least 0"),
    ('[notify]\ninitial_audit = "no"', "notify.initial_audit: expected true or false"),
    ('[notify]\nurls = [3]', "notify.urls: entry 1 is not a non-empty string"),
    ('[notify]\nurls = "not a url"', "notify.urls: entry 1 is not an apprise URL"),
    ('[notify]\nconfig = "missing.yml"', "notify.config: no such file"),
    ('state_dir = 7', "state_dir: expected a file or directory path, got 7"),
    ('state_dir = ', "invalid TOML"),
])
def test_each_error_names_the_key(tmp_path, text, message):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(env={}, cwd=tmp_path)
    assert str(err.value).startswith(str(tmp_path / "claimwatch.toml") + ": ")
    assert message in str(err.value)


def test_the_daemon_section_is_read(tmp_path):
    write(tmp_path, "[daemon]\nworkers = 3\nper_host = 16\nautothrottle = false\n")
    daemon = load_config(env={}, cwd=tmp_path).daemon
    assert (daemon.workers, daemon.per_host, daemon.autothrottle) == (3, 16, False)
    assert load_config(env={}, cwd=tmp_path / "none").daemon.autothrottle is True


def test_url_values_never_appear_in_errors_or_repr(tmp_path):
    write(tmp_path, '[notify]\nurls = ["hunter2-not-a-url"]\noperator_urls = [""]')
    with pytest.raises(ConfigError) as err:
        load_config(env={}, cwd=tmp_path)
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(env={"CLAIMWATCH_NOTIFY": "json://ok/x hunter2"}, cwd=tmp_path / "none")
    assert "CLAIMWATCH_NOTIFY: entry 2" in str(err.value) and "hunter2" not in str(err.value)
    config = NotifyConfig(urls=("json://u:hunter2@h/x",), operator_urls=("json://u:hunter2@o",))
    assert "hunter2" not in repr(config) and "hunter2" not in repr(Config(notify=config))


def test_a_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: no such configuration file"):
        load_config(tmp_path / "nope.toml", env={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="env.toml: no such configuration file"):
        load_config(env={"CLAIMWATCH_CONFIG": str(tmp_path / "env.toml")}, cwd=tmp_path)


def test_environment_overrides_the_file_which_overrides_the_defaults(tmp_path):
    write(tmp_path, 'state_dir = "from-file"\nrules = "file-rules.yaml"\n'
                    '[notify]\nurls = ["json://127.0.0.1:9/file"]\n')
    from_file = load_config(env={}, cwd=tmp_path)
    assert from_file.state_dir == tmp_path / "from-file"
    assert from_file.notify.urls == ("json://127.0.0.1:9/file",)
    env = {"CLAIMWATCH_STATE_DIR": "from-env", "CLAIMWATCH_RULES": "env-rules.yaml",
           "CLAIMWATCH_NOTIFY": "json://127.0.0.1:9/a  json://127.0.0.1:9/b"}
    from_env = load_config(env=env, cwd=tmp_path)
    assert from_env.state_dir == tmp_path / "from-env"
    assert from_env.rules == tmp_path / "env-rules.yaml"
    assert from_env.notify.urls == ("json://127.0.0.1:9/a", "json://127.0.0.1:9/b")
    assert from_env.notify.initial_audit is True  # the rest of [notify] is kept
    empty = load_config(env={"CLAIMWATCH_STATE_DIR": "", "CLAIMWATCH_NOTIFY": " "},
                        cwd=tmp_path)
    assert empty.state_dir == from_file.state_dir and empty.notify.urls == from_file.notify.urls


def test_config_file_named_by_the_environment(tmp_path):
    other = write(tmp_path, 'state_dir = "elsewhere"', name="other.toml")
    config = load_config(env={"CLAIMWATCH_CONFIG": str(other)}, cwd=tmp_path)
    assert config.state_dir == tmp_path / "elsewhere" and config.source == other


def test_every_key_is_documented():
    keys = {k for k, _, _ in describe()}
    assert {"state_dir", "rules", "notify.urls", "notify.config", "notify.operator_urls",
            "notify.initial_audit", "notify.max_attempts", "notify.backoff_base",
            "notify.backoff_cap"} <= keys
    assert all(help_text for _, _, help_text in describe())


def test_cli_option_beats_env_beats_file(tmp_path, monkeypatch):
    """`alerts` opens the state dir it was given: option > env > file > default."""
    monkeypatch.chdir(tmp_path)
    for var in ("CLAIMWATCH_CONFIG", "CLAIMWATCH_STATE_DIR", "CLAIMWATCH_RULES",
                "CLAIMWATCH_NOTIFY"):
        monkeypatch.delenv(var, raising=False)
    runner = CliRunner()

    def state_used(*args: str, env: dict[str, str] | None = None) -> set[str]:
        before = {p.name for p in tmp_path.iterdir()}
        result = runner.invoke(main, [*args, "alerts"], env=env)
        assert result.exit_code == 0, result.output
        return {p.name for p in tmp_path.iterdir()} - before

    assert state_used() == {"state"}
    write(tmp_path, 'state_dir = "file-state"')
    assert state_used() == {"file-state"}
    assert state_used(env={"CLAIMWATCH_STATE_DIR": "env-state"}) == {"env-state"}
    result = runner.invoke(main, ["alerts", "--state", str(tmp_path / "opt-state")],
                           env={"CLAIMWATCH_STATE_DIR": "env-state"})
    assert result.exit_code == 0 and (tmp_path / "opt-state" / "claimwatch.db").exists()
    write(tmp_path, 'state_dir = "x"', name="alt.toml")
    assert state_used("--config", "alt.toml") == {"x"}


def test_cli_reports_a_bad_config_in_one_line_with_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[notify]\nurl = []\n")
    result = CliRunner().invoke(main, ["alerts"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert 'unknown key "notify.url"' in result.output


def test_the_readme_configuration_example_is_valid(tmp_path):
    """The claimwatch.toml and apprise.yml shown in the README load, every URL included."""
    import re

    from monitor.notify import Targets

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    toml = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    yml = re.search(r"```yaml\n(# apprise\.yml.*?)```", readme, re.S).group(1)
    write(tmp_path, toml)
    (tmp_path / "apprise.yml").write_text(yml)
    config = load_config(env={}, cwd=tmp_path)
    targets = Targets.load(config.notify)
    assert len(targets.reviewers) == 4 and len(targets.operators) == 2
    assert {"high"} in [set(t.tags) for t in targets.reviewers]
