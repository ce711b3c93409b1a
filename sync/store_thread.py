"""One state store on one worker thread, awaited from an ASGI app's handlers (the intake queue, the dashboard).

A state store is for one thread (SQLite connections are), so every call runs on a single dedicated thread;
the event loop never blocks on the database, and calls are serialized in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sync.state import StateStore, open_store

T = TypeVar("T")


class StoreThread:
    """The store is opened on the thread by its first call (or by ``open``) and closed there by ``close``."""

    def __init__(self, state_url: str, *, thread_name: str, opener: Callable[[str], StateStore] = open_store) -> None:
        self._state_url = state_url
        self._opener = opener
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self._store: StateStore | None = None

    def _in_thread(self) -> StateStore:
        if self._store is None:
            self._store = self._opener(self._state_url)
        return self._store

    def open(self) -> None:
        """Open (and migrate) the state database now, so a bad STATE_URL stops the app at start."""
        self._executor.submit(self._in_thread).result()

    async def run(self, fn: Callable[[StateStore], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(self._in_thread()))

    def close(self) -> None:
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._executor.submit(close_store).result()
        self._executor.shutdown(wait=True)
