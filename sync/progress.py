"""Progress on long runs: records, rate, ETA, API calls and quota left.

A live bar on a terminal; on a pipe or in a log (the daemon, CI) one line every ``every`` seconds.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class RichProgress:
    def __init__(self, crm: str, *, every: float = 10.0, console: Console | None = None):
        self.crm = crm
        self.every = every
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._records = 0
        self._total: int | None = None
        self._t0 = time.monotonic()
        self._last = 0.0

    def start(self, total: int | None) -> None:
        self._total = total
        self._t0 = time.monotonic()
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn(f"[bold]{self.crm}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.0f} rec/s"),
                TimeRemainingColumn(),
                TextColumn("calls {task.fields[calls]} · quota left {task.fields[quota]}"),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("records", total=total, rate=0.0, calls=0, quota="?")

    def advance(self, records: int, *, calls: int, quota_left: int | None) -> None:
        self._records += records
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        rate = self._records / elapsed
        quota = "?" if quota_left is None else str(quota_left)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=records, rate=rate, calls=calls, quota=quota)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            eta = ""
            if self._total and rate > 0:
                eta = f", ETA {max(self._total - self._records, 0) / rate:.0f}s"
            total = f"/{self._total}" if self._total else ""
            print(
                f"{self.crm}: {self._records}{total} records, {rate:.0f} rec/s{eta}, "
                f"{calls} API calls, quota left {quota}",
                file=sys.stderr,
                flush=True,
            )

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
