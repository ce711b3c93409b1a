"""Token-based limits: the company's daily token budget, the per-token burst window, the usage headers.

Read per request from ``config.limits["pipedrive"]``: ``plan`` ("growth"), ``seats`` (10), ``daily_budget``,
``burst`` (api_token), ``burst_oauth``, ``window_seconds`` (2), ``token_costs``, ``access_token_ttl`` (3599).
With ``config.rate_limits`` False nothing is refused; the headers are still sent.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import Response
from connectors.sandbox.pipedrive import errors

if TYPE_CHECKING:
    from connectors.sandbox.app import SandboxConfig

PLAN_MULTIPLIER = {"lite": 1, "growth": 2, "premium": 5, "ultimate": 7}
BURST_API_TOKEN = {"lite": 20, "growth": 40, "premium": 100, "ultimate": 120}
BURST_OAUTH = {"lite": 80, "growth": 160, "premium": 400, "ultimate": 480}
BASE_TOKENS_PER_SEAT = 30_000


@dataclass(frozen=True, slots=True)
class Limits:
    daily_budget: int
    burst_api_token: int
    burst_oauth: int
    window: float
    costs: Mapping[str, int]
    access_token_ttl: int


def read_limits(cfg: Mapping[str, Any], default_costs: Mapping[str, int]) -> Limits:
    plan = str(cfg.get("plan", "growth")).lower()
    seats = int(cfg.get("seats", 10))
    return Limits(
        daily_budget=int(cfg.get("daily_budget", BASE_TOKENS_PER_SEAT * PLAN_MULTIPLIER.get(plan, 2) * seats)),
        burst_api_token=int(cfg.get("burst", BURST_API_TOKEN.get(plan, 40))),
        burst_oauth=int(cfg.get("burst_oauth", BURST_OAUTH.get(plan, 160))),
        window=float(cfg.get("window_seconds", 2.0)),
        costs={**default_costs, **cfg.get("token_costs", {})},
        access_token_ttl=int(cfg.get("access_token_ttl", 3599)),
    )


@dataclass(slots=True)
class _Window:
    start: float = -1e18
    count: int = 0


@dataclass(frozen=True, slots=True)
class _UsageState:
    burst_limit: int
    burst_remaining: int
    reset_in: int
    budget: int
    budget_left: int


class TokenBudget:
    """Charges each call its token cost against the daily budget and the caller's burst window."""

    def __init__(self, config: SandboxConfig, clock: Clock, default_costs: Mapping[str, int]):
        self.config = config  # the sandbox's config: limits and rate_limits are read per request
        self.clock = clock
        self.default_costs = default_costs
        self._lock = threading.Lock()
        self._local = threading.local()  # usage headers computed in charge(), sent in add_headers()
        self._windows: dict[str, _Window] = {}
        self._day = -1
        self._tokens_today = 0
        self._tokens_total = 0

    def limits(self) -> Limits:
        return read_limits(self.config.limits.get("pipedrive", {}), self.default_costs)

    def charge(self, who: str, endpoint: str) -> Response | None:
        """Spend ``endpoint``'s cost for caller ``who``; a 429 when the budget or the burst window is spent."""
        limits = self.limits()
        enforce = bool(self.config.rate_limits)
        burst = limits.burst_oauth if who.startswith("oauth:") else limits.burst_api_token
        cost = limits.costs.get(endpoint, 20)
        clock = self.clock
        refused: Response | None = None
        with self._lock:
            now, wall = clock.seconds(), clock.now().timestamp()
            day = math.floor(wall // 86400)
            if day != self._day:  # the budget resets at (sandbox) midnight UTC
                self._day, self._tokens_today = day, 0
            window = self._windows.setdefault(who, _Window())
            if now - window.start >= limits.window:
                window.start, window.count = now, 0
            reset_in = max(1, math.ceil(window.start + limits.window - now))
            left = limits.daily_budget - self._tokens_today
            if enforce and left < cost:
                refused = errors.budget_exceeded(max(1, math.ceil((day + 1) * 86400 - wall)))
            elif enforce and window.count >= burst:
                refused = errors.rate_limited()
            else:
                window.count += 1
                self._tokens_today += cost
                self._tokens_total += cost
                left -= cost
            state = _UsageState(burst, max(burst - window.count, 0), reset_in, limits.daily_budget, max(left, 0))
            self._local.state = state
        return refused

    def forget(self) -> None:
        """This thread's request is not charged (the OAuth host, a refused token): no usage headers."""
        self._local.state = None

    def add_headers(self, response: Response) -> Response:
        state: _UsageState | None = getattr(self._local, "state", None)
        self._local.state = None
        if state is not None:
            response.headers["x-ratelimit-limit"] = str(state.burst_limit)
            response.headers["x-ratelimit-remaining"] = str(state.burst_remaining)
            response.headers["x-ratelimit-reset"] = str(state.reset_in)
            response.headers["x-daily-ratelimit-token-limit"] = str(state.budget)
            response.headers["x-daily-ratelimit-token-remaining"] = str(state.budget_left)
        return response

    def used(self) -> int:
        with self._lock:
            return self._tokens_today

    def used_total(self) -> int:
        with self._lock:
            return self._tokens_total

    def spend(self, tokens: int) -> None:
        with self._lock:
            self._tokens_today += tokens
            self._tokens_total += tokens
