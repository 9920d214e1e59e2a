"""Errors that tell the user what is wrong and how to fix it.

Two families, told apart by the exit status of ``raie``: a :class:`RaieError`
means the input is wrong (an option, a file, a config value: exit 2, as
argparse uses), a :class:`RuntimeFailure` means the input was fine but
something it needs failed (a broker that does not answer, Ray that does not
start: exit 1), so the same command may succeed once that is fixed.
"""

from __future__ import annotations

from pathlib import Path


class RaieError(Exception):
    """Base class of the errors the project raises on purpose about its input."""


class RuntimeFailure(RuntimeError):
    """A service or process the command needs failed; the message says which, where, and the fix.

    Deliberately not a :class:`RaieError`: the caller's input was fine."""


class DataError(RaieError):
    """A data file is missing or malformed.

    The message always names the file, and where known the line and field,
    so that a user can open the file at the right place.
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        self.problem = problem
        self.fix = fix
        where = str(self.path)
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        message = f"{where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class ConfigError(RaieError):
    """A configuration value is invalid; the message names the field and the fix."""

    def __init__(self, field: str, problem: str, fix: str, source: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}config field '{field}': {problem} (fix: {fix})")

    def located(self, *, prefix: str = "", source: str | None = None) -> ConfigError:
        """The same error, with the field path and file it came from."""
        return ConfigError(prefix + self.field, self.problem, self.fix, source or self.source)
