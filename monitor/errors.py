"""Narrow exception classes; the CLI turns each into a one-line message with the fix."""

from __future__ import annotations


class ClaimwatchError(Exception):
    """Base class: every error the CLI reports without a traceback."""


class RulesError(ClaimwatchError):
    """rules.yaml is invalid: names the file, line, rule id and field."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None,
                 rule: str | None = None, field: str | None = None) -> None:
        self.path, self.line, self.rule, self.field = path, line, rule, field
        self.message = message
        where = path or "rules"
        if line is not None:
            where += f":{line}"
        parts = [where]
        if rule:
            parts.append(f"rule {rule!r}")
        if field:
            parts.append(f"field {field!r}")
        super().__init__(": ".join(parts) + ": " + message)


class ConfigError(ClaimwatchError):
    """The configuration file or environment holds an invalid value: names the key."""


class InputError(ClaimwatchError):
    """A command-line argument is unusable (bad URL, missing file)."""


class StoreError(ClaimwatchError):
    """The state database cannot be opened or is from an incompatible version."""
