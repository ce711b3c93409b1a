"""The sandbox's clock: real time, optionally sped up (``scale``), and movable by tests.

Every timestamp the sandbox writes and every rate window it measures come from one ``Clock``, so a test
can run a day of rate windows in seconds (``scale``), jump ahead (``advance``) or pin the date (``set``).
A sandbox in another process is moved with ``POST /_sandbox/clock`` (``{"advance": seconds}`` or
``{"set": "2025-01-31T12:00:00Z"}``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, scale: float = 1.0, start: datetime | None = None):
        if scale <= 0:
            raise ValueError("time scale must be positive")
        if start is not None and start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        self.scale = scale
        self._lock = threading.Lock()
        self._origin_wall = start or datetime.now(UTC)
        self._origin_mono = time.monotonic()
        self._offset = 0.0
        self._frozen: float | None = None  # elapsed sandbox seconds while frozen

    def now(self) -> datetime:
        return self._origin_wall + timedelta(seconds=self.seconds())

    def seconds(self) -> float:
        """Sandbox seconds elapsed since start (scaled, plus any manual advance)."""
        with self._lock:
            return self._elapsed()

    def _elapsed(self) -> float:
        if self._frozen is not None:
            return self._frozen
        return (time.monotonic() - self._origin_mono) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds

    def set(self, dt: datetime) -> None:
        """Make ``now()`` return ``dt`` from here on (then keep running at ``scale``).

        Setting it backwards also moves ``seconds()`` back, so rate windows measured on it may reopen early.
        """
        if dt.tzinfo is None:
            raise ValueError("Clock.set needs a timezone-aware datetime")
        with self._lock:
            target = (dt - self._origin_wall).total_seconds()
            if self._frozen is not None:
                self._frozen = target
            else:
                self._offset += target - self._elapsed()

    def freeze(self, at: datetime | None = None) -> None:
        """Stop the clock (at ``at``, default now) until ``thaw()``: many changes at one exact timestamp.

        ``advance`` and ``set`` still move a frozen clock.  Rate windows stand still too, so thaw before
        making many calls.
        """
        if at is not None:
            self.set(at)
        with self._lock:
            self._frozen = self._elapsed()

    def thaw(self) -> None:
        """Run again from where the clock was frozen."""
        with self._lock:
            if self._frozen is not None:
                running = (time.monotonic() - self._origin_mono) * self.scale
                self._offset = self._frozen - running
                self._frozen = None

    @contextmanager
    def frozen(self, at: datetime | None = None) -> Iterator[datetime]:
        """``with clock.frozen() as t:`` everything inside happens at ``t``."""
        self.freeze(at)
        try:
            yield self.now()
        finally:
            self.thaw()

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` of sandbox time take on the wall clock."""
        return sandbox_seconds / self.scale

    def state(self) -> dict[str, object]:
        return {
            "now": self.now().isoformat(),
            "seconds": self.seconds(),
            "scale": self.scale,
            "frozen": self._frozen is not None,
        }
