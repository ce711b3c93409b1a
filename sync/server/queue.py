"""The intake queue as the ASGI app sees it: one state store on one worker thread, awaited from handlers.

A state store is for one thread (SQLite connections are), so every call runs on a single dedicated thread;
the event loop never blocks on the database, and writes are serialized in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from sync.state import StateStore, WebhookEvent, open_store

T = TypeVar("T")


class EventQueue:
    """``enqueue`` returns once the events are committed, so a 2xx answer means they are stored."""

    def __init__(self, state_url: str, *, opener: Callable[[str], StateStore] = open_store) -> None:
        self._state_url = state_url
        self._opener = opener
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadsync-intake")
        self._store: StateStore | None = None

    def _in_thread(self) -> StateStore:
        if self._store is None:
            self._store = self._opener(self._state_url)
        return self._store

    async def _run(self, fn: Callable[[StateStore], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._in_thread()))

    def open(self) -> None:
        """Open (and migrate) the state database now, so a bad STATE_URL stops the server at start."""
        self._executor.submit(self._in_thread).result()

    async def enqueue(self, events: Sequence[WebhookEvent], now: datetime) -> int:
        return await self._run(lambda store: store.enqueue_events(events, now))

    async def pending(self, crm: str) -> int:
        return await self._run(lambda store: store.count_pending_events(crm))

    def close(self) -> None:
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._executor.submit(close_store).result()
        self._executor.shutdown(wait=True)
