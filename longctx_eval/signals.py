"""SIGINT/SIGTERM during a sweep: stop cleanly, lose at most the cell in flight, tear no file.

The first signal abandons the cell being computed at once (a cell can take minutes, and a batch
scheduler sends SIGKILL after a short grace period), except while a finished cell is being
written: then the stop waits until its record is complete. Re-running the same command resumes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any


class StopRequested(BaseException):
    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class GracefulStop:
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._critical = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():  # handlers only work there
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        if not self._critical:
            raise StopRequested(signum)

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A section a signal must not cut (writing a finished cell); the stop happens after it."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if self.signum is not None and not self._critical:
            raise StopRequested(self.signum)
