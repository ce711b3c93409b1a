"""Progress on long runs: records done of the total, records read, rate, ETA, API calls and quota left.

A live bar on a terminal; on a pipe or in a log (the daemon, CI) one line at the first page, then at most one
every ``every`` seconds, and a last line when the run stops.  The pipeline reports each page of contacts as it
is read from the CRM (``read``) and again once it is scored, written and recorded (``advance``); a resumed run
starts at what earlier runs already did (``done``), so a resumed backfill ends at 5000/5000, not 3000/5000.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


class RichProgress:
    def __init__(self, crm: str, *, label: str = "records", every: float = 10.0, console: Console | None = None):
        self.crm = crm
        self.label = label
        self.every = every
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._done = 0  # what earlier runs did (a resumed backfill): counted, but not in the rate
        self._records = 0  # done by this run
        self._read = 0
        self._calls = 0
        self._quota = "?"
        self._total: int | None = None
        self._t0 = time.monotonic()
        self._last: float | None = None

    def start(self, total: int | None, *, done: int = 0) -> None:
        self._total = total
        self._done = done
        self._t0 = time.monotonic()
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn(f"[bold]{self.crm}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[label]} · read {task.fields[read]} · {task.fields[rate]:.0f}/s"),
                TimeRemainingColumn(),
                TextColumn("calls {task.fields[calls]} · quota left {task.fields[quota]}"),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.label, total=total, completed=done, label=self.label, read=done, rate=0.0, calls=0, quota="?"
            )

    @property
    def completed(self) -> int:
        """Records done, earlier runs' included: what the bar shows."""
        return self._done + self._records

    def read(self, records: int) -> None:
        """A page of ``records`` came from the CRM (or the state store): shown before it is processed."""
        self._read += records
        self._show()

    def advance(self, records: int, *, calls: int, quota_left: int | None) -> None:
        """A page of ``records`` is scored, written and recorded."""
        self._records += records
        self._calls = calls
        self._quota = "?" if quota_left is None else str(quota_left)
        self._show()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self._last is not None:
            self._print()  # the final figures, whatever the throttle

    def line(self) -> str:
        """The progress as one sentence (what a log gets)."""
        rate = self._rate()
        total = f"/{self._total}" if self._total is not None else ""
        eta = ""
        if self._total is not None and rate > 0:
            eta = f", ETA {max(self._total - self.completed, 0) / rate:.0f}s"
        return (
            f"{self.crm}: {self.completed}{total} {self.label} done, {self._done + self._read} read, "
            f"{rate:.0f}/s{eta}, {self._calls} API calls, quota left {self._quota}"
        )

    def _rate(self) -> float:
        return self._records / max(time.monotonic() - self._t0, 1e-6)

    def _show(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=self.completed,
                read=self._done + self._read,
                rate=self._rate(),
                calls=self._calls,
                quota=self._quota,
            )
            return
        now = time.monotonic()
        if self._last is None or now - self._last >= self.every:
            self._print()

    def _print(self) -> None:
        self._last = time.monotonic()
        print(self.line(), file=sys.stderr, flush=True)
