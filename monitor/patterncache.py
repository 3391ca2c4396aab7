"""Compiled rule patterns kept on disk between processes.

The regex module parses patterns in pure Python: the shipped rules take 0.3-0.6 s to compile,
paid by the workers' forkserver in every `run --once` cycle that analyses a page, while its
compiled form unpickles in about 10 ms. A cache file is code for the regex engine, so it is
trusted the way Python trusts its own bytecode caches: read only if this user owns it and no
one else may write it, and only if it holds nothing but patterns compiled by the regex module
(anything else refuses the whole file, before any of it is used).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import regex

from monitor.patterns import FLAGS, Pattern

_PREFIX = "patterns-"
_SUFFIX = ".pickle"
_COMPILED = ("regex._regex", "compile")  # how a compiled pattern pickles itself


class _PatternsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) != _COMPILED:
            raise pickle.UnpicklingError(f"not a compiled pattern: {module}.{name}")
        return super().find_class(module, name)


def cache_path(directory: Path, patterns: Sequence[Pattern]) -> Path:
    """The file for exactly these patterns under this regex module and Python."""
    h = hashlib.sha256()
    for part in (regex.__version__, sys.version, str(int(FLAGS))):
        h.update(part.encode() + b"\0")
    for pattern in patterns:
        h.update(pattern.expanded.encode() + b"\0")
    return directory / f"{_PREFIX}{h.hexdigest()[:24]}{_SUFFIX}"


def load(directory: Path, patterns: Sequence[Pattern]) -> bool:
    """Give every pattern its compiled form from the cache; False (and no pattern touched) if
    there is no usable cache file for them."""
    try:
        with open(cache_path(directory, patterns), "rb") as f:
            info = os.fstat(f.fileno())
            if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return False
            compiled = _PatternsOnly(io.BytesIO(f.read())).load()
    except Exception:  # noqa: BLE001 - missing, unreadable or refused: compile instead
        return False
    if not isinstance(compiled, dict):
        return False
    found = [compiled.get(p.expanded) for p in patterns]
    if not all(isinstance(c, regex.Pattern) and c.pattern == p.expanded
               for c, p in zip(found, patterns, strict=True)):
        return False
    for pattern, c in zip(patterns, found, strict=True):
        pattern.adopt(c)
    return True


def ready(directory: Path | None, patterns: Sequence[Pattern]) -> bool:
    """Give every pattern its compiled form and its prefilter: from the cache file if there is
    one, else compiled here and saved. True if the cache supplied the compiled forms.

    Compiling, the prefilters come first, and before each pattern the cache is looked for
    again: when the rules are new to the state directory, `claimwatch run` validates them at
    the same time (rules.load_rules_apart), compiling the same patterns, and saves them as
    soon as it has (its forkserver then takes them rather than finishing the work)."""
    path = cache_path(directory, patterns) if directory is not None else None
    tried: tuple[int, int, int] | None = None  # the file last refused: not read again

    def appeared() -> bool:
        nonlocal tried
        if path is None:
            return False
        try:
            info = path.stat()
        except OSError:
            return False
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if stamp == tried:
            return False
        tried = stamp
        return load(path.parent, patterns)

    cached = appeared()
    if not cached:
        for pattern in patterns:
            pattern.prefilter  # noqa: B018 - built on access
        for pattern in patterns:
            if appeared():
                cached = True
                break
            pattern.ready(None)
    for pattern in patterns:
        pattern.ready(None)  # the prefilters, if the cache came first
    if path is not None and not cached:
        save(path.parent, patterns)
    return cached


def save(directory: Path, patterns: Sequence[Pattern]) -> None:
    """Write the patterns' compiled forms (readable and writable by this user only) in place
    of any earlier cache file; a directory that cannot take it only means compiling again."""
    path = cache_path(directory, patterns)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        data = pickle.dumps({p.expanded: p.compiled for p in patterns},
                            protocol=pickle.HIGHEST_PROTOCOL)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
        for old in directory.glob(f"{_PREFIX}*{_SUFFIX}"):
            if old != path:
                old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError):
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
