"""The watch list: URL validation, intervals like "6h", import and export formats."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import yaml

from monitor.errors import InputError

DEFAULT_INTERVAL = 6 * 3600
MIN_INTERVAL = 10
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.I)


def parse_duration(text: str | int | float) -> int:
    """Seconds in "30s", "15m", "6h", "1d", "1h30m" or a plain number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = int(text)
    else:
        raw = str(text).strip()
        if re.fullmatch(r"\d+", raw):
            seconds = int(raw)
        else:
            parts = _DURATION.findall(raw)
            if not parts or _DURATION.sub("", raw).strip():
                raise InputError(f"{text!r} is not a duration (use e.g. 30s, 15m, 6h, 1d)")
            seconds = int(sum(float(n) * _UNITS[u.lower()] for n, u in parts))
    if seconds < MIN_INTERVAL:
        raise InputError(f"{text!r} is too short: the smallest interval is {MIN_INTERVAL}s")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact form: 21600 -> "6h", 90 -> "1m30s"."""
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            out.append(f"{count}{unit}")
    return "".join(out) or "0s"


def validate_url(url: str) -> str:
    """A normalised http(s) URL with a host, or InputError saying what is wrong."""
    raw = str(url).strip()
    try:
        parts = urlsplit(raw)
        host = parts.hostname
    except ValueError as exc:
        raise InputError(f"{raw!r} is not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InputError(f"{raw!r} is not an http(s) URL")
    if not host:
        raise InputError(f"{raw!r} has no host name")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/",
                       parts.query, ""))


@dataclass(frozen=True)
class WatchSpec:
    """A watch as a user describes it: URL, interval and tags."""

    url: str
    interval: int = DEFAULT_INTERVAL
    tags: tuple[str, ...] = field(default_factory=tuple)


def parse_watch_file(text: str, source: str, default_interval: int = DEFAULT_INTERVAL,
                     default_tags: tuple[str, ...] = ()) -> Iterator[WatchSpec]:
    """Watches from a file: one URL per line (# comments), or YAML: a list of URLs or of
    {url, every, tags} mappings. Errors name the file and the line."""
    stripped = [line.strip() for line in text.splitlines()]
    plain = all(not line or line.startswith("#") or re.fullmatch(r"\S+", line)
                for line in stripped) and not any(line.startswith("-") for line in stripped)
    if plain:
        for number, line in enumerate(stripped, start=1):
            if line and not line.startswith("#"):
                try:
                    yield WatchSpec(validate_url(line), default_interval, default_tags)
                except InputError as exc:
                    raise InputError(f"{source}:{number}: {exc}") from None
        return
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise InputError(f"{where}: not a URL list nor valid YAML: {exc}") from None
    if isinstance(data, dict) and "watches" in data:
        data = data["watches"]
    if not isinstance(data, list):
        raise InputError(f"{source}: expected one URL per line, or a YAML list of watches")
    for index, item in enumerate(data, start=1):
        where = f"{source}: watch {index}"
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict) or "url" not in item:
            raise InputError(f"{where}: needs a 'url'")
        unknown = set(item) - {"url", "every", "tags"}
        if unknown:
            raise InputError(f"{where}: unknown key {sorted(unknown)[0]!r} "
                             "(allowed: url, every, tags)")
        tags = item.get("tags", list(default_tags))
        if isinstance(tags, str):
            tags = [tags]
        try:
            yield WatchSpec(validate_url(item["url"]),
                            parse_duration(item.get("every", default_interval)),
                            tuple(str(t) for t in tags))
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None


def export_watches(specs: list[WatchSpec]) -> str:
    """YAML that `parse_watch_file` reads back."""
    rows = [{"url": s.url, "every": format_duration(s.interval), **(
        {"tags": list(s.tags)} if s.tags else {})} for s in specs]
    return yaml.safe_dump({"watches": rows}, sort_keys=False, allow_unicode=True)
