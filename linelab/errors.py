"""The project's error types.

Everything a *user* can get wrong (a bad profile, scenario or line-config file, a
malformed far-end behaviour string) raises a `LinelabError`. Any other exception
escaping a linelab API is a bug.
"""

from __future__ import annotations


class LinelabError(Exception):
    """A mistake in what the user gave linelab (a file, an option, a string)."""


class SpecError(LinelabError):
    """A bad versioned file. The message names the file, the line and the key.

    Attributes are kept separately so that tools (the pytest plugin, the CLI) can
    format them their own way.
    """

    def __init__(self, path: str, line: int | None, key: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.message = message
        where = path if line is None else f"{path}:{line}"
        what = f"key {key!r}: " if key else ""
        super().__init__(f"{where}: {what}{message}")
