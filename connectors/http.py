"""One HTTP policy for every CRM: classify a response in one place, act on it in one place.

Each adapter turns what its client library returned (a value, or an exception carrying a status, headers
and body) into an ``Exchange``, and supplies a pure ``classify(exchange) -> Verdict`` built from its CRM's
status table.  ``ApiClient.call`` then acts: return on OK, retry with exponential backoff and jitter on
transient failures (honouring ``Retry-After`` and the CRM's reset headers), refresh credentials once on
REFRESH_AUTH, and raise the typed errors of ``connectors.errors`` otherwise.  ``Pacer`` spaces calls from
the rate-limit headers so a steady sync never meets a 429.

No adapter sleeps on its own: every wait goes through the ``sleep`` given here, so tests can replace it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from connectors.errors import (
    AuthError,
    ConnectorError,
    FatalApiError,
    QuotaExhausted,
    RateLimited,
    RecordError,
    TransientError,
)

T = TypeVar("T")


class Action(StrEnum):
    OK = "ok"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    REFRESH_AUTH = "refresh_auth"
    AUTH_FAILED = "auth_failed"
    QUOTA_EXHAUSTED = "quota_exhausted"
    BAD_RECORD = "bad_record"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class Exchange:
    """What came back from one call, whatever the client library: status, headers and body text.

    ``status`` is 0 when no response arrived (connection reset, timeout).
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    error: str = ""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; empty when it is none (no body, not JSON, a list)."""
        try:
            data = json.loads(self.body) if self.body else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def gist(self) -> str:
        """What went wrong where the API gave no error text of its own: the transport's error, the body's start,
        or the status."""
        return self.error or self.body[:200] or f"HTTP {self.status}"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    message: str = ""
    retry_after: float | None = None  # seconds
    code: str = ""


Classifier = Callable[[Exchange], Verdict]


# -- secrets ---------------------------------------------------------------------------------------------
_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"),  # user:password in base64 (Mailchimp's key), echoed back
    re.compile(
        r"(?i)((?:api_token|access_token|refresh_token|client_secret|password|session_id|sessionid"
        r"|assertion|security_token)[\"']?\s*[=:]\s*[\"']?)[^&\s\"',}]+"
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
]


class Redactor:
    """Removes known secret values and secret-looking patterns from any text that may reach a user."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *secrets: str | None) -> None:
        with self._lock:
            for secret in secrets:
                if secret and len(secret) >= 4:
                    self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
        return text


redact = Redactor()  # process-wide: adapters register their secrets when built


# -- pacing ----------------------------------------------------------------------------------------------
class Pacer:
    """Client-side pacing from a CRM's rate-limit headers.

    ``update(remaining, interval_s, reset_in_s)`` is fed after every response; ``wait()`` before every call
    sleeps just long enough that the remaining calls of the window last until it resets.  ``min_interval``
    enforces a fixed rate (HubSpot search: 5 requests/s).
    """

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        min_interval: float = 0.0,
        reserve: int = 1,
    ):
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.min_interval = min_interval
        self.reserve = reserve
        self._next_at = 0.0
        self._blocked_until = 0.0
        self._answered: deque[float] = deque()  # answers inside a rolling window (``update_rolling``)
        self.slept = 0.0

    def update(self, *, remaining: int | None, reset_in: float | None) -> None:
        if remaining is None or reset_in is None:
            return
        now = self._monotonic()
        with self._lock:
            usable = remaining - self.reserve
            if usable <= 0:
                self._blocked_until = max(self._blocked_until, now + max(reset_in, 0.0))
            else:
                # spread what is left of the window evenly over the time left in it
                self._next_at = max(self._next_at, now + max(reset_in, 0.0) / (usable + 1))

    def update_rolling(self, *, remaining: int | None, window: float | None) -> None:
        """For a rolling window that tells how many calls are left but not when they come back (HubSpot:
        ``remaining`` of the last ``window`` seconds): call freely while more than ``reserve`` are left, then
        wait until enough of the calls answered here have left the window (a whole window if they were
        someone else's).  Spreading ``remaining`` over a full window instead settles at half the limit."""
        if remaining is None or window is None:
            return
        now = self._monotonic()
        with self._lock:
            answered = self._answered
            answered.append(now)
            while answered and answered[0] <= now - window:
                answered.popleft()
            short = self.reserve + 1 - remaining  # calls that must leave the window before the next one
            if short > 0:
                free_at = answered[short - 1] + window if short <= len(answered) else now + window
                self._blocked_until = max(self._blocked_until, free_at)

    def block_for(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._monotonic() + seconds)

    def wait(self) -> None:
        with self._lock:
            now = self._monotonic()
            target = max(self._next_at, self._blocked_until)
            self._next_at = max(now, target) + self.min_interval
        delay = target - now
        if delay > 0:
            self.slept += delay
            self._sleep(delay)


# -- the call loop ---------------------------------------------------------------------------------------
class ApiClient:
    """Runs calls for one CRM: pacing, classification, retries, auth refresh, counting by endpoint."""

    def __init__(
        self,
        crm: str,
        classify: Classifier,
        *,
        pacer: Pacer | None = None,
        max_attempts: int = 6,
        backoff_max: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        refresh_auth: Callable[[], None] | None = None,
    ):
        self.crm = crm
        self.classify = classify
        self.pacer = pacer or Pacer(sleep=sleep)
        self.max_attempts = max_attempts
        self.backoff_max = backoff_max
        self.sleep = sleep
        self.refresh_auth = refresh_auth
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        backoff = wait_random_exponential(multiplier=0.5, max=self.backoff_max)(state)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return max(exc.retry_after, 0.0) + backoff * 0.1
        return backoff

    def call(self, endpoint: str, send: Callable[[], T], to_exchange: Callable[[T | BaseException], Exchange]) -> T:
        """Send with retries.  ``to_exchange`` describes a returned value or a raised exception."""
        refreshed = False

        def attempt() -> T:
            nonlocal refreshed
            self.pacer.wait()
            with self._lock:
                self.calls[endpoint] += 1
            try:
                result: T | BaseException = send()
            except ConnectorError:
                raise
            except Exception as exc:  # the client library's own error: classify it below
                result = exc
            exchange = to_exchange(result)
            verdict = self.classify(exchange)
            message = redact(verdict.message or exchange.error or f"HTTP {exchange.status}")
            if verdict.action is Action.OK:
                if isinstance(result, BaseException):
                    raise result
                return result
            if verdict.action is Action.REFRESH_AUTH and self.refresh_auth is not None and not refreshed:
                refreshed = True
                self.refresh_auth()
                raise TransientError("session expired; refreshed credentials", crm=self.crm, endpoint=endpoint)
            if verdict.action is Action.RATE_LIMITED:
                if verdict.retry_after:
                    self.pacer.block_for(verdict.retry_after)
                raise RateLimited(
                    message,
                    retry_after=verdict.retry_after,
                    crm=self.crm,
                    endpoint=endpoint,
                    status=exchange.status,
                )
            if verdict.action is Action.RETRY:
                raise TransientError(message, crm=self.crm, endpoint=endpoint, status=exchange.status)
            if verdict.action is Action.QUOTA_EXHAUSTED:
                raise QuotaExhausted(message, crm=self.crm, endpoint=endpoint, status=exchange.status)
            if verdict.action in (Action.AUTH_FAILED, Action.REFRESH_AUTH):
                raise AuthError(message, crm=self.crm, endpoint=endpoint, status=exchange.status)
            if verdict.action is Action.BAD_RECORD:
                raise RecordError(message, code=verdict.code, crm=self.crm, endpoint=endpoint, status=exchange.status)
            raise FatalApiError(message, crm=self.crm, endpoint=endpoint, status=exchange.status)

        def before_sleep(state: RetryCallState) -> None:
            with self._lock:
                self.retries[endpoint] += 1

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(attempt)


def parse_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
