"""The sandbox's clock: real time, optionally sped up (``scale``), and movable by tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, scale: float = 1.0, start: datetime | None = None):
        if scale <= 0:
            raise ValueError("time scale must be positive")
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
            return (time.monotonic() - self._origin_mono) * self.scale + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` of sandbox time take on the wall clock."""
        return sandbox_seconds / self.scale
