"""Warnings: the libraries' notices kept out of the user's way, the harness's own shown as one line.

A context-extension tool runs models past their trained length on purpose, so transformers'
"exceeded the model's predefined maximum length" (generation) and "Token indices sequence length
is longer than the specified maximum" (tokenizer) are expected, not alarming; and its
FutureWarnings about its own API (raised with a stack level that points into this package) are
the maintainers' business, not the user's. Those are dropped. Everything else still reaches the
user, and the command line prints each warning as one `warning:` line, without Python's source
line.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

# Messages logged by transformers that say only that a length beyond the trained one was used, or
# that an argument the harness passes is deprecated (the harness follows those in code, by version).
EXPECTED_LOG_LINES = (
    "predefined maximum length",
    "Token indices sequence length is longer than the specified maximum",
    "deprecated",
)
# The transformers loggers that emit them (a logging filter applies to its own logger only).
_LOGGERS = (
    "transformers.generation.stopping_criteria",
    "transformers.generation.utils",
    "transformers.generation.configuration_utils",
    "transformers.tokenization_utils_base",
)
# Libraries whose own UserWarnings are notices about their internals.
LIBRARIES = r"(transformers|torch|tokenizers|datasets|huggingface_hub|accelerate|vllm|ray|matplotlib)(\..*)?"


class _DropExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in EXPECTED_LOG_LINES)


_FILTER = _DropExpected()


def drop_expected_log_lines() -> None:
    """Install the logging filter (idempotent; it drops only the messages listed above)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Within: the libraries' deprecation notices and expected length messages are dropped."""
    drop_expected_log_lines()
    with warnings.catch_warnings():
        # transformers attributes its FutureWarnings to the caller (this package), so they are
        # matched by category, not module; the harness itself raises none.
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=LIBRARIES)
        yield


def one_line_warnings(stream: TextIO | None = None) -> None:
    """Print every warning as `warning: MESSAGE` (the command line's voice), with no source line."""

    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        text = " ".join(str(message).split())
        print(f"warning: {text}", file=file or stream or sys.stderr, flush=True)

    warnings.showwarning = show
