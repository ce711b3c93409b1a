"""API usage: the daily request allocation (15,000 a day, Developer Edition) as a rolling 24 h window on
the sandbox clock, reported in ``Sforce-Limit-Info: api-usage=used/limit`` and ``GET .../limits``; when it
is spent: 403 ``REQUEST_LIMIT_EXCEEDED``.  The 25 concurrent long-running requests cap is not emulated (no
sandbox request lasts 20 s); injected 429 faults answer as that cap does (see ``SalesforceApi.rate_limited``)."""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.salesforce.errors import errors

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context

API_WINDOW_S = 24 * 3600

DEFAULT_LIMITS: dict[str, Any] = {
    "daily_api_requests": 15_000,  # Developer Edition
    "session_timeout_s": 2 * 3600,
    "max_uri_bytes": 16_384,
}


class ApiUsage:
    """The requests counted against the daily allocation: one sandbox clock time per call."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - API_WINDOW_S:
            self._calls.popleft()

    def used(self) -> int:
        """API requests counted in the rolling 24 h window."""
        with self._lock:
            self._prune(self.ctx.clock.seconds())
            return len(self._calls)

    def count(self) -> Response | None:
        """Count one call, or answer 403 when the allocation is spent (only with rate limits on)."""
        now = self.ctx.clock.seconds()
        with self._lock:
            self._prune(now)
            if self.ctx.sandbox.config.rate_limits and len(self._calls) >= self.ctx.limit("daily_api_requests"):
                return errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self._calls.append(now)
        return None

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` value."""
        return f"api-usage={self.used()}/{self.ctx.limit('daily_api_requests')}"

    def limits(self, request: Request) -> Response:
        limit = self.ctx.limit("daily_api_requests")
        return Response(
            200,
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(limit - self.used(), 0)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            },
        )
