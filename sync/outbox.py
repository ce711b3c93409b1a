"""A queue drained by one background thread, for messages a run hands off and never waits on (alerts,
owner notifications).  ``put`` starts the thread on first use; ``flush`` waits for what is queued; ``close``
delivers what is queued (up to a timeout), then stops the thread.  ``send_with_retries`` is the one retry
policy of those deliveries: doubling back-off, a receiver's ``Retry-After`` honoured up to a cap, no retry of
a refusal."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from connectors.http import redact

T = TypeVar("T")
MAX_RETRY_AFTER = 30.0  # the longest a receiver's Retry-After makes a delivery wait


class Refused(Exception):
    """The receiver refused the message for good: sending it again will not help."""


class RetryLater(Exception):
    """The receiver failed in a way another try may not; ``seconds`` is its ``Retry-After`` when it gave one."""

    def __init__(self, message: str, seconds: float | None = None) -> None:
        super().__init__(message)
        self.seconds = seconds


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return float(value or "")
    except ValueError:
        return None


def send_with_retries(
    send: Callable[[], None],
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
    transient: tuple[type[Exception], ...],
    describe: Callable[[Exception], str],
) -> str | None:
    """``send()`` until it returns, at most ``attempts`` times, ``backoff`` doubling between tries; None once
    sent, else why it was not.  ``transient`` errors are retried and told by ``describe`` (their text may name
    a secret URL); ``RetryLater`` is retried, ``Refused`` is not."""
    problem = ""
    for attempt in range(1, attempts + 1):
        wait = backoff * 2 ** (attempt - 1)
        try:
            send()
            return None
        except Refused as exc:
            return str(exc)
        except RetryLater as exc:
            problem, wait = str(exc), min(exc.seconds or wait, MAX_RETRY_AFTER)
        except transient as exc:
            problem = describe(exc)
        if attempt < attempts:
            sleep(wait)
    return problem


def hide_webhook_url(url: str) -> None:
    """HTTP libraries log the request path at DEBUG; in a webhook URL the path (and query) is the secret part."""
    parts = urlsplit(url)
    redact.add(url, parts.path + (f"?{parts.query}" if parts.query else ""))


class Outbox(Generic[T]):
    """``deliver`` gets every item waiting when the thread wakes (at least one), in order; it must not raise."""

    def __init__(self, name: str, deliver: Callable[[list[T]], None], log: logging.Logger) -> None:
        self.name = name
        self._deliver = deliver
        self._log = log
        self._queue: queue.Queue[T | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def put(self, item: T) -> None:
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        self._queue.put(item)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued item is delivered or dropped; False when ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float, what: str) -> None:
        if self._thread is not None:
            if not self.flush(timeout):
                self._log.warning("gave up delivering %d queued %s at shutdown", self._queue.qsize(), what)
            self._queue.put(None)
            self._thread.join(timeout=1.0)
            self._thread = None

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:  # whatever else is waiting goes in the same call (queued P1s become one alert)
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._deliver([item for item in batch if item is not None])
            finally:
                for _ in batch:
                    self._queue.task_done()
            if any(item is None for item in batch):
                return
