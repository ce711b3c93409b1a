"""The intake queue as the ASGI app sees it: one state store on one worker thread (``sync.store_thread``), awaited
from handlers; writes are serialized in arrival order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sync.state import StateStore, WebhookEvent, open_store
from sync.store_thread import StoreThread


class EventQueue:
    """``enqueue`` returns once the events are committed, so a 2xx answer means they are stored."""

    def __init__(self, state_url: str, *, opener: Callable[[str], StateStore] = open_store) -> None:
        self._thread = StoreThread(state_url, thread_name="leadsync-intake", opener=opener)

    def open(self) -> None:
        """Open (and migrate) the state database now, so a bad STATE_URL stops the server at start."""
        self._thread.open()

    async def enqueue(self, events: Sequence[WebhookEvent], now: datetime) -> int:
        return await self._thread.run(lambda store: store.enqueue_events(events, now))

    async def pending(self, crm: str) -> int:
        return await self._thread.run(lambda store: store.count_pending_events(crm))

    def close(self) -> None:
        self._thread.close()
