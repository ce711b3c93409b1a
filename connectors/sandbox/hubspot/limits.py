"""HubSpot's rate limits: the rolling 10-second burst window per app, the daily budget of private apps, the
search endpoints' own per-second window, the ``X-HubSpot-RateLimit-*`` headers and the 429 bodies; and the
test-only switch that answers the next requests to an endpoint with a chosen status."""

from __future__ import annotations

import threading
import uuid
from collections import deque
from typing import Any

from connectors.sandbox.core import Response
from connectors.sandbox.hubspot.context import Context
from connectors.sandbox.hubspot.errors import error_body


def rate_limit_response(policy: str, message: str) -> Response:
    body = error_body(message, "RATE_LIMITS")
    # HubSpot's documented 429 body: errorType RATE_LIMIT and the policy that was hit
    body.update({"errorType": "RATE_LIMIT", "policyName": policy, "requestId": str(uuid.uuid4())})
    return Response(429, body)


class _Window:
    """A rolling request window (timestamps in sandbox seconds)."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()

    def count(self, now: float, span: float) -> int:
        while self.times and self.times[0] <= now - span:
            self.times.popleft()
        return len(self.times)


class RateLimits:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._burst: dict[str, _Window] = {}
        self._search = _Window()
        self._daily_day: str = ""
        self._daily_used = 0
        self._injected: list[list[Any]] = []  # test-only: [endpoint prefix, status, remaining]

    def take(self, app: str, kind: str, endpoint: str) -> Response | None:
        """Count one call of ``app`` (``kind`` "private" or "oauth"); the 429 answer if a limit is reached."""
        sandbox = self.ctx.sandbox
        if not sandbox.config.rate_limits:
            return None
        now = sandbox.clock.seconds()
        is_search = endpoint.endswith(".search")
        with self._lock:
            day = sandbox.clock.now().date().isoformat()  # HubSpot resets daily at midnight (account TZ)
            if day != self._daily_day:
                self._daily_day, self._daily_used = day, 0
            if kind == "private" and self._daily_used >= int(self.ctx.limit("daily")):
                return rate_limit_response("DAILY", "You have reached your daily limit.")
            if is_search:
                # The search endpoints are limited to N requests per second and do not count against the burst.
                if self._search.count(now, 1.0) >= int(self.ctx.limit("search_per_second")):
                    return rate_limit_response("SECONDLY", "You have reached your secondly limit.")
                self._search.times.append(now)
            else:
                window = self._burst.setdefault(app, _Window())
                span = int(self.ctx.limit("interval_ms")) / 1000
                if window.count(now, span) >= self._burst_max(kind):
                    return rate_limit_response(
                        "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
                    )
                window.times.append(now)
            if kind == "private":
                self._daily_used += 1
        return None

    def _burst_max(self, kind: str) -> int:
        return int(self.ctx.limit("oauth_burst_per_10s" if kind == "oauth" else "burst_per_10s"))

    def add_headers(self, response: Response, app: str, kind: str, endpoint: str) -> None:
        """The usage headers HubSpot sends: burst window (not on search), daily budget (private apps only)."""
        now = self.ctx.sandbox.clock.seconds()
        with self._lock:
            if not endpoint.endswith(".search"):
                span = int(self.ctx.limit("interval_ms")) / 1000
                used = self._burst.setdefault(app, _Window()).count(now, span)
                limit = self._burst_max(kind)
                response.headers["X-HubSpot-RateLimit-Max"] = str(limit)
                response.headers["X-HubSpot-RateLimit-Remaining"] = str(max(limit - used, 0))
                response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(self.ctx.limit("interval_ms"))
            if kind == "private":
                daily = int(self.ctx.limit("daily"))
                response.headers["X-HubSpot-RateLimit-Daily"] = str(daily)
                response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(daily - self._daily_used, 0))

    def inject_failures(self, endpoint_prefix: str, status: int, times: int = 1) -> None:
        with self._lock:
            self._injected.append([endpoint_prefix, status, times])

    def injected(self, endpoint: str) -> Response | None:
        """The next injected failure for ``endpoint``, if one is pending (and counts it used)."""
        with self._lock:
            for item in self._injected:
                if item[2] > 0 and endpoint.startswith(item[0]):
                    item[2] -= 1
                    status = int(item[1])
                    return Response(
                        status,
                        error_body(
                            f"Injected error {status} (sandbox test switch).",
                            "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR",
                        ),
                    )
        return None
