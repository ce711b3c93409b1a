"""The sandbox's webhook sender: changes come off the store's change feed into a queue, and one background
thread batches them per channel, sends them, and retries failures on the vendor's schedule.  An API request
that changed something never waits for a delivery.

Test knobs (``WebhookConfig``): ``duplicate_rate`` sends a delivered request once more (as when the vendor
missed the answer), ``shuffle_seconds`` delays each request by a random time so later changes can arrive
first.  ``attempts`` records every try; ``wait_idle`` waits until nothing is queued, scheduled or in flight.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from connectors.paging import chunks
from connectors.sandbox.store import Change
from connectors.sandbox.webhooks.config import BATCH_LIMITS, TIMEOUTS, WebhookConfig
from connectors.sandbox.webhooks.vendors import Vendors, retries_after

log = logging.getLogger(__name__)
_CRM_OF = {"hubspot": "hubspot", "hubspot_workflow": "hubspot", "pipedrive": "pipedrive", "salesforce": "salesforce"}


@dataclass
class Delivery:
    channel: str
    items: list[dict[str, Any]]
    attempt: int = 1
    duplicate: bool = False


@dataclass(frozen=True)
class Attempt:
    channel: str
    attempt: int
    status: int  # 0: no answer (connection refused, reset or timed out)
    events: int
    duplicate: bool
    final: bool  # delivered, or given up


@dataclass
class _State:
    scheduled: list[tuple[float, int, Delivery]] = field(default_factory=list)
    inbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    inbox_since: float | None = None
    in_flight: int = 0


class WebhookSender:
    def __init__(
        self,
        config: WebhookConfig,
        now: Callable[[], datetime],
        *,
        post: Callable[..., Any] | None = None,
    ):
        config.validate()
        self.config = config
        self.vendors = Vendors(config)
        self._now = now
        self._session = requests.Session()
        self._post = post or self._session.post
        self._random = random.Random(config.seed)
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._state = _State()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.attempts: list[Attempt] = []
        self.dropped = 0  # deliveries given up after the vendor's last retry (or a non-retried answer)

    # -- input: the store's change feed ----------------------------------------------------------------------------
    def on_changes(self, changes: list[Change]) -> None:
        """Called by the store after a commit: queue the events; returns at once."""
        events = [
            (channel, event)
            for change in changes
            if change.crm in self.config.crms and self.config.target(change.crm)
            for channel, event in self.vendors.events(change)
        ]
        if not events:
            return
        with self._cond:
            if self._state.inbox_since is None:
                self._state.inbox_since = time.monotonic()
            self._state.inbox.extend(events)
            self._cond.notify_all()

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> WebhookSender:
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._session.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing is queued, scheduled or being sent (False if ``timeout`` passes first)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._state.inbox or self._state.scheduled or self._state.in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def stats(self) -> dict[str, Any]:
        with self._cond:
            delivered = sum(1 for a in self.attempts if 200 <= a.status < 300)
            return {
                "attempts": len(self.attempts),
                "delivered": delivered,
                "failed_attempts": len(self.attempts) - delivered,
                "dropped": self.dropped,
                "scheduled": len(self._state.scheduled),
            }

    # -- the sending thread ------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                delivery = self._next_due()
                if delivery is None:
                    if self._stopping:
                        return
                    continue
                self._state.in_flight += 1
            try:
                self._send(delivery)
            except Exception:  # a bug here must not kill the thread: the delivery is dropped and logged
                log.exception("sandbox webhook to %s failed", delivery.channel)
            finally:
                with self._cond:
                    self._state.in_flight -= 1
                    self._cond.notify_all()

    def _next_due(self) -> Delivery | None:
        """With the lock held: a delivery that is due, after waiting a little for one (None: nothing yet)."""
        state = self._state
        now = time.monotonic()
        if state.inbox and state.inbox_since is not None and now - state.inbox_since >= self.config.batch_window:
            self._batch(now)
        if state.scheduled and state.scheduled[0][0] <= now:
            return heapq.heappop(state.scheduled)[2]
        if self._stopping:
            return None
        waits = [0.5]
        if state.scheduled:
            waits.append(state.scheduled[0][0] - now)
        if state.inbox and state.inbox_since is not None:
            waits.append(state.inbox_since + self.config.batch_window - now)
        self._cond.wait(max(0.0, min(waits)))
        return None

    def _batch(self, now: float) -> None:
        """Cut the queued events into requests, at most the vendor's batch size each, in arrival order."""
        by_channel: dict[str, list[dict[str, Any]]] = {}
        for channel, event in self._state.inbox:
            by_channel.setdefault(channel, []).append(event)
        self._state.inbox, self._state.inbox_since = [], None
        for channel, events in by_channel.items():
            for batch in chunks(events, BATCH_LIMITS[channel]):
                delay = self._random.uniform(0, self.config.shuffle_seconds) if self.config.shuffle_seconds else 0.0
                self._schedule(Delivery(channel, batch), now + delay)

    def _schedule(self, delivery: Delivery, due: float) -> None:
        heapq.heappush(self._state.scheduled, (due, next(self._seq), delivery))
        self._cond.notify_all()

    def _send(self, delivery: Delivery) -> None:
        url = self.config.target(_CRM_OF[delivery.channel])
        if url is None:
            return
        body, headers = self.vendors.request(delivery.channel, url, delivery.items, delivery.attempt, self._now())
        retry_after: float | None = None
        try:
            response = self._post(url, data=body, headers=headers, timeout=TIMEOUTS[delivery.channel])
            status = int(response.status_code)
            header = response.headers.get("Retry-After")
            retry_after = float(header) if header and header.replace(".", "", 1).isdigit() else None
        except requests.RequestException:
            status = 0
        ok = 200 <= status < 300
        delays = self.config.delays(delivery.channel)
        retry = not ok and retries_after(delivery.channel, status) and delivery.attempt <= len(delays)
        with self._cond:
            self.attempts.append(
                Attempt(delivery.channel, delivery.attempt, status, len(delivery.items), delivery.duplicate, not retry)
            )
            now = time.monotonic()
            if retry:
                wait = delays[delivery.attempt - 1]
                if status == 429 and retry_after is not None:
                    wait = retry_after * self.config.retry_scale  # the receiver's Retry-After, compressed alike
                self._schedule(
                    Delivery(delivery.channel, delivery.items, delivery.attempt + 1, delivery.duplicate), now + wait
                )
            elif not ok:
                self.dropped += 1
                log.warning("sandbox webhook to %s given up after %d attempts", delivery.channel, delivery.attempt)
            elif not delivery.duplicate and self._random.random() < self.config.duplicate_rate:
                again = Delivery(delivery.channel, delivery.items, delivery.attempt + 1, duplicate=True)
                self._schedule(again, now + self._random.uniform(0, max(self.config.shuffle_seconds, 0.01)))
