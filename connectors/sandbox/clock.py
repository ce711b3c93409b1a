"""The sandbox's clock: real time, optionally sped up (``scale``), and movable by tests.

Every timestamp the sandbox writes and every rate window it measures come from one ``Clock``, so a test
can run a day of rate windows in seconds (``scale``), jump ahead (``advance``) or pin the date (``set``).
A sandbox in another process is moved with ``POST /_sandbox/clock`` (``{"advance": seconds}`` or
``{"set": "2025-01-31T12:00:00Z"}``).
"""

from __future__ import annotations

import threading
import time
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

    def now(self) -> datetime:
        return self._origin_wall + timedelta(seconds=self.seconds())

    def seconds(self) -> float:
        """Sandbox seconds elapsed since start (scaled, plus any manual advance)."""
        with self._lock:
            return self._elapsed()

    def _elapsed(self) -> float:
        return (time.monotonic() - self._origin_mono) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def set(self, dt: datetime) -> None:
        """Make ``now()`` return ``dt`` from here on (then keep running at ``scale``).

        Setting it backwards also moves ``seconds()`` back, so rate windows measured on it may reopen early.
        """
        if dt.tzinfo is None:
            raise ValueError("Clock.set needs a timezone-aware datetime")
        with self._lock:
            target = (dt - self._origin_wall).total_seconds()
            self._offset += target - self._elapsed()

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` of sandbox time take on the wall clock."""
        return sandbox_seconds / self.scale

    def state(self) -> dict[str, object]:
        return {"now": self.now().isoformat(), "seconds": self.seconds(), "scale": self.scale}
