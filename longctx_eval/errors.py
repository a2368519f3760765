"""The two errors a valid-looking request can end in before any cell runs. They live below
`config` so that every layer (rope, backends, LongRoPE search) can raise them without importing
the sweep config module."""

from __future__ import annotations


class ConfigError(Exception):
    """Bad sweep configuration: one `field.path: message` line per problem."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{loc}: {msg}" if loc else msg for loc, msg in problems))


class EnvironmentProblem(RuntimeError):
    """The machine cannot do what a valid config asks (no such device, say): exit code 3, one line."""
