"""The configuration: one optional TOML file plus environment overrides, validated once.

`load_config()` reads `claimwatch.toml` (or the file given with `--config` or
`CLAIMWATCH_CONFIG`), applies `CLAIMWATCH_STATE_DIR`, `CLAIMWATCH_RULES` and
`CLAIMWATCH_NOTIFY`, checks every key and value, and freezes the result into dataclasses that
are passed explicitly: there is no global configuration. Every error names the key and says what
is allowed. Notification URLs carry secrets: their values never appear in an error or a repr.

A section is a frozen dataclass listed in `SECTIONS`; its fields are its keys, their types
and `metadata` (minimum, secret, help) drive validation. Adding `[daemon]` or `[crawl]` is one
dataclass, one `SECTIONS` entry and one `Config` field.
"""

from __future__ import annotations

import functools
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

CONFIG_NAME = "claimwatch.toml"
ENV_CONFIG = "CLAIMWATCH_CONFIG"
ENV_STATE_DIR = "CLAIMWATCH_STATE_DIR"
ENV_RULES = "CLAIMWATCH_RULES"
ENV_NOTIFY = "CLAIMWATCH_NOTIFY"


def _key(default: Any, help: str, *, minimum: float | None = None, secret: bool = False,
         factory: Any = None) -> Any:
    """A config key: its default, what it is for, and how to check it."""
    meta = {"help": help, "minimum": minimum, "secret": secret}
    if factory is not None:
        return field(default_factory=factory, metadata=meta, repr=not secret)
    return field(default=default, metadata=meta, repr=not secret)


@dataclass(frozen=True)
class NotifyConfig:
    """[notify]: where alerts go, and how hard to try."""

    urls: tuple[str, ...] = _key((), "apprise URLs of the reviewers' targets", secret=True,
                                 factory=tuple)
    config: Path | None = _key(None, "an apprise configuration file (YAML or text) whose "
                               "services are reviewer targets, or operator targets if tagged "
                               "'operator'")
    operator_urls: tuple[str, ...] = _key((), "apprise URLs told about operational problems",
                                          secret=True, factory=tuple)
    initial_audit: bool = _key(True, "send one 'initial audit' message with the claims found "
                               "on a page's first good snapshot")
    failure_alert_after: int = _key(3, "tell the operators after this many failed checks of a "
                                    "page in a row (0: never)", minimum=0)
    timeout: float = _key(30.0, "seconds one send to one target may take", minimum=1)
    max_attempts: int = _key(6, "delivery attempts per message before it is marked failed",
                             minimum=1)
    backoff_base: float = _key(60.0, "seconds before the first retry; doubled each retry",
                               minimum=0)
    backoff_cap: float = _key(3600.0, "the longest wait between two retries, in seconds",
                              minimum=0)

    @property
    def enabled(self) -> bool:
        """Whether any target is configured at all."""
        return bool(self.urls or self.config or self.operator_urls)

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (exponential, capped)."""
        return min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class DaemonConfig:
    """[daemon]: how `claimwatch run` crawls and delivers."""

    workers: int = _key(0, "extraction processes (0: one per CPU)", minimum=0)
    concurrency: int = _key(16, "requests in flight in total", minimum=1)
    per_host: int = _key(4, "requests in flight per host", minimum=1)
    autothrottle: bool = _key(True, "adapt the pace per host to its response times (off only "
                              "for hosts you run yourself, e.g. a benchmark on loopback)")
    download_timeout: float = _key(30.0, "seconds to wait for a page", minimum=1)
    revalidate: bool = _key(True, "settle plain answers (304s, plain 200 HTML pages) without "
                            "Scrapy's request machinery; off: every fetch goes through Scrapy")
    delivery_interval: float = _key(10.0, "seconds between passes over the outbox", minimum=1)
    recycle_after: int = _key(500, "pages a worker process analyses before it is replaced",
                              minimum=1)
    reevaluate_slice: float = _key(1.0, "seconds a rules change's re-evaluation runs before "
                                   "the pages waiting to be recorded go first", minimum=0.01)

    @property
    def worker_count(self) -> int:
        """`workers`, with 0 resolved to one per CPU."""
        return self.workers or _cpus()


@dataclass(frozen=True)
class Config:
    """Everything the commands share; built by `load_config()`."""

    state_dir: Path = _key(Path("state"), "directory of the state database (claimwatch.db)")
    rules: Path | None = _key(None, "the rules file (default: ./rules.yaml, else the bundled "
                              "one)")
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    source: Path | None = field(default=None, compare=False)  # the file read, if any


# Sections of the file: [name] -> the dataclass its keys build. A new section goes here.
SECTIONS: dict[str, type] = {"notify": NotifyConfig, "daemon": DaemonConfig}
_TOP_LEVEL = ("state_dir", "rules")


@functools.cache
def _cpus() -> int:
    # Read once: the daemon asks for every page it submits, and each os.cpu_count() reads
    # a file in /sys.
    return max(1, os.cpu_count() or 1)


def find_config(path: str | Path | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """The file to read: the one given, else $CLAIMWATCH_CONFIG, else ./claimwatch.toml if any."""
    if path is not None:
        return Path(path)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    here = cwd / CONFIG_NAME
    return here if here.is_file() else None


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                cwd: Path | None = None) -> Config:
    """Read, override from the environment, validate and freeze the configuration.

    Precedence: environment variable > config file > built-in default (command-line options,
    which win over all of these, are the CLI's business). Relative paths in the file are
    relative to the file's directory; those in the environment, to the working directory.
    """
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    source = find_config(path, env, cwd)
    data: dict[str, Any] = {}
    where = CONFIG_NAME
    base = cwd
    if source is not None:
        where = str(source)
        base = (cwd / source).parent
        try:
            data = tomllib.loads((cwd / source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such configuration file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{where}: invalid TOML: {exc}") from None
    allowed = [*_TOP_LEVEL, *SECTIONS]
    for name in data:
        if name not in allowed:
            raise ConfigError(f'{where}: unknown key "{name}" (allowed: {", ".join(allowed)})')
    top = {k: data[k] for k in _TOP_LEVEL if k in data}
    values = _build(Config, top, where, "", base, only=_TOP_LEVEL)
    for name, section in SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f'{where}: "{name}" must be a table ([{name}])')
        values[name] = section(**_build(section, table, where, f"{name}.", base))
    apprise_file = values["notify"].config
    if apprise_file is not None and not apprise_file.is_file():
        raise ConfigError(f"{where}: notify.config: no such file: {apprise_file}")
    config = Config(**values, source=(cwd / source) if source is not None else None)
    return _apply_env(config, env, cwd)


def _apply_env(config: Config, env: Mapping[str, str], cwd: Path) -> Config:
    """Environment overrides (empty variables count as unset)."""
    changes: dict[str, Any] = {}
    if env.get(ENV_STATE_DIR):
        changes["state_dir"] = cwd / env[ENV_STATE_DIR]
    if env.get(ENV_RULES):
        changes["rules"] = cwd / env[ENV_RULES]
    if env.get(ENV_NOTIFY, "").strip():
        urls = tuple(env[ENV_NOTIFY].split())
        for n, url in enumerate(urls, 1):
            if "://" not in url:
                raise ConfigError(f"{ENV_NOTIFY}: entry {n} is not an apprise URL "
                                  "(expected scheme://...; URLs are separated by spaces)")
        changes["notify"] = _replace(config.notify, urls=urls)
    return _replace(config, **changes) if changes else config


def _replace(obj: Any, **changes: Any) -> Any:
    return type(obj)(**{**{f.name: getattr(obj, f.name) for f in fields(obj)}, **changes})


def _build(cls: type, table: dict[str, Any], where: str, prefix: str, base: Path, *,
           only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Check a table's keys and values against the dataclass fields; return constructor args."""
    hints = typing.get_type_hints(cls)
    known = [f for f in fields(cls) if "help" in f.metadata and (only is None or f.name in only)]
    names = [f.name for f in known]
    for name in table:
        if name not in names:
            raise ConfigError(f'{where}: unknown key "{prefix}{name}" '
                              f'(allowed: {", ".join(names)})')
    out: dict[str, Any] = {}
    for f in known:
        if f.name in table:
            out[f.name] = _value(table[f.name], hints[f.name], f.metadata, where,
                                 prefix + f.name, base)
    return out


def _value(raw: Any, hint: Any, meta: Mapping[str, Any], where: str, key: str,
           base: Path) -> Any:
    """One value converted to its field's type, or a ConfigError naming the key."""
    shown = "" if meta.get("secret") else f", got {raw!r}"
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{where}: {key}: expected true or false{shown}")
        return raw
    if hint in (int, float):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (
                hint is int and not isinstance(raw, int)):
            kind = "an integer" if hint is int else "a number"
            raise ConfigError(f"{where}: {key}: expected {kind}{shown}")
        minimum = meta.get("minimum")
        if minimum is not None and raw < minimum:
            raise ConfigError(f"{where}: {key}: must be at least {minimum:g}{shown}")
        return hint(raw)
    if hint is Path:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError(f"{where}: {key}: expected a file or directory path{shown}")
        return base / raw
    if typing.get_origin(hint) is tuple:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            raise ConfigError(f"{where}: {key}: expected a list of strings")
        for n, item in enumerate(raw, 1):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(f"{where}: {key}: entry {n} is not a non-empty string")
            if meta.get("secret") and "://" not in item:
                raise ConfigError(f"{where}: {key}: entry {n} is not an apprise URL "
                                  "(expected scheme://...)")
        return tuple(item.strip() for item in raw)
    if hint is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: {key}: expected a string{shown}")
        return raw
    raise AssertionError(f"no converter for {hint!r}")  # a new field type: add it above


def describe() -> list[tuple[str, Any, str]]:
    """(key, default, help) for every key, for documentation and `--help`."""
    out: list[tuple[str, Any, str]] = []
    for f in fields(Config):
        if f.name in _TOP_LEVEL:
            out.append((f.name, f.default, f.metadata["help"]))
    for name, section in SECTIONS.items():
        for f in fields(section):
            default = f.default_factory() if callable(f.default_factory) else f.default
            out.append((f"{name}.{f.name}", default, f.metadata["help"]))
    return out
