"""HTTP to Pipedrive through ``requests``: auth (API token or OAuth with refresh), classification of
responses, pacing from the rate-limit headers, and what those headers say about the daily token budget.

Status table (``classify``): 2xx ok; 401 refresh the OAuth token once, else an auth error; 429 with the
daily budget spent (body says so, or ``x-daily-ratelimit-token-remaining: 0``) -> ``QuotaExhausted``;
other 429 -> rate limited, wait ``retry-after`` / ``x-ratelimit-reset``; 0 (no response), 408 and 5xx ->
retry; a 403 that is not JSON is Pipedrive's block of clients that ignored 429s -> fatal; other 4xx ->
fatal on reads, a per-record failure on writes (``classify_write``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors.errors import AuthError, FatalApiError, QuotaExhausted
from connectors.http import Action, ApiClient, Exchange, Pacer, Verdict, parse_float, redact
from connectors.paging import Paginator, PipedriveCursor, pages
from connectors.pipedrive.config import PipedriveConfig

CRM = "pipedrive"


def pipedrive_error(exchange: Exchange) -> str:
    """Pipedrive's own error text (``error`` / ``message``), or the start of the body."""
    body = exchange.json_object()
    text = body.get("error") or body.get("message")
    if isinstance(text, str) and text:
        return text
    return exchange.gist()


def classify(exchange: Exchange) -> Verdict:
    status = exchange.status
    if 200 <= status < 300:
        return Verdict(Action.OK)
    error = pipedrive_error(exchange)
    if status == 0 or status == 408 or status >= 500:
        return Verdict(Action.RETRY, f"Pipedrive did not answer properly ({status or 'no response'}): {error}")
    if status == 429:
        daily_left = exchange.header("x-daily-ratelimit-token-remaining")
        retry_after = parse_float(exchange.header("retry-after"))
        if daily_left == "0" or "daily" in error.lower() or "budget" in error.lower():
            message = "Pipedrive's daily API token budget is spent; calls resume when it resets"
            return Verdict(Action.QUOTA_EXHAUSTED, message, retry_after=retry_after)
        wait = retry_after or parse_float(exchange.header("x-ratelimit-reset")) or 2.0
        return Verdict(Action.RATE_LIMITED, f"Pipedrive rate limit (2-second burst window): {error}", retry_after=wait)
    if status == 401:
        return Verdict(
            Action.REFRESH_AUTH,
            f"Pipedrive refused the credentials (401 {error}): check the API token (Personal preferences > API) "
            "or reconnect the OAuth app",
        )
    if status == 403 and not exchange.json_object():
        return Verdict(
            Action.FATAL,
            "Pipedrive blocked this client (403 without a JSON body), which it does to integrations that keep "
            "calling after a 429; wait before the next run",
        )
    if status == 402:
        return Verdict(Action.FATAL, f"The Pipedrive company account is not open for API use (402): {error}")
    return Verdict(Action.FATAL, f"Pipedrive rejected the request ({status}): {error}", code=str(status))


def classify_write(exchange: Exchange) -> Verdict:
    """Like ``classify``, but a 4xx about the record itself fails that record only."""
    if exchange.status in (400, 404, 410, 422) or (exchange.status == 403 and exchange.json_object()):
        body = exchange.json_object()
        code = body.get("code") or body.get("errorCode") or exchange.status
        return Verdict(Action.BAD_RECORD, pipedrive_error(exchange), code=str(code))
    return classify(exchange)


@dataclass
class LimitState:
    """What the last response said about the limits."""

    burst_limit: int | None = None
    burst_remaining: int | None = None
    burst_reset: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None
    daily_retry_after: float | None = None  # from a 429 "daily budget" answer


def _int(value: str | None) -> int | None:
    number = parse_float(value)
    return None if number is None else int(number)


class PipedriveClient:
    """Every call to Pipedrive goes through here; counts calls by endpoint name."""

    def __init__(self, config: PipedriveConfig):
        self.config = config
        self.base_url = config.base_url
        self._own_session = config.session is None
        self.session = config.session or requests.Session()
        if config.ca_path:
            self.session.verify = config.ca_path
        self._lock = threading.Lock()
        secret = lambda s: s.get_secret_value() if s is not None else None  # noqa: E731
        self._api_token = secret(config.api_token)
        self._access_token = secret(config.access_token)
        self._refresh_token = secret(config.refresh_token)
        self._client_secret = secret(config.client_secret)
        self._expires_at = config.token_expires_at
        redact.add(self._api_token, self._access_token, self._refresh_token, self._client_secret)
        self.limits = LimitState(daily_limit=config.daily_token_budget)
        self.pacer = Pacer(sleep=config.sleep, monotonic=config.monotonic)
        oauth = self._api_token is None
        options: dict[str, Any] = {
            "pacer": self.pacer,
            "max_attempts": config.max_attempts,
            "backoff_max": config.backoff_max,
            "sleep": config.sleep,
            "refresh_auth": self.refresh_access_token if oauth and self._refresh_token else None,
        }
        self.reads = ApiClient(CRM, classify, **options)
        self.writes = ApiClient(CRM, classify_write, **options)
        self.oauth_calls = Counter[str]()

    # -- auth ---------------------------------------------------------------------------------------------
    def _auth_headers(self) -> dict[str, str]:
        if self._api_token is not None:
            return {"x-api-token": self._api_token}  # the header keeps the token out of URLs and logs
        if self._expires_at is not None and self._refresh_token and datetime.now(UTC) >= self._expires_at:
            self.refresh_access_token()
        return {"Authorization": f"Bearer {self._access_token}"}

    def refresh_access_token(self) -> None:
        """Swap the refresh token for a new access token (``POST /oauth/token``, HTTP Basic client auth)."""
        with self._lock:
            self.oauth_calls["oauth.token"] += 1
            try:
                response = self.session.post(
                    f"{self.config.oauth_url}/oauth/token",
                    data={"grant_type": "refresh_token", "refresh_token": self._refresh_token},
                    auth=(self.config.client_id, self._client_secret or ""),
                    timeout=self.config.timeout,
                )
            except requests.RequestException as exc:
                raise AuthError(redact(f"Could not reach Pipedrive's OAuth server: {exc}"), crm=CRM) from exc
            exchange = Exchange(response.status_code, dict(response.headers), response.text)
            data = exchange.json_object()
            if response.status_code != 200 or not isinstance(data.get("access_token"), str):
                raise AuthError(
                    redact(
                        f"Pipedrive refused to refresh the OAuth access token ({response.status_code}: "
                        f"{pipedrive_error(exchange)}); reconnect leadsync to Pipedrive"
                    ),
                    crm=CRM,
                    endpoint="oauth.token",
                    status=response.status_code,
                )
            self._access_token = data["access_token"]
            self._refresh_token = data.get("refresh_token") or self._refresh_token
            expires_in = parse_float(data.get("expires_in"))
            self._expires_at = None if expires_in is None else datetime.now(UTC) + timedelta(seconds=expires_in - 60)
            redact.add(self._access_token, self._refresh_token)
            api_domain = data.get("api_domain")
            if isinstance(api_domain, str) and api_domain.startswith(("https://", "http://")):
                # the company's own host, where this token's requests must go (docs/crm-api.md 1.2)
                self.base_url = api_domain.rstrip("/")

    # -- the call -------------------------------------------------------------------------------------------
    def _observe(self, exchange: Exchange) -> None:
        """Remember the limit headers and feed the burst window to the pacer."""
        limits = self.limits
        remaining, reset = (
            _int(exchange.header("x-ratelimit-remaining")),
            parse_float(exchange.header("x-ratelimit-reset")),
        )
        if remaining is not None:
            limits.burst_limit = _int(exchange.header("x-ratelimit-limit"))
            limits.burst_remaining, limits.burst_reset = remaining, reset
        if (daily := _int(exchange.header("x-daily-ratelimit-token-remaining"))) is not None:
            limits.daily_remaining = daily
            limits.daily_limit = _int(exchange.header("x-daily-ratelimit-token-limit")) or limits.daily_limit
        if exchange.status == 429 and classify(exchange).action is Action.QUOTA_EXHAUSTED:
            limits.daily_retry_after = parse_float(exchange.header("retry-after"))
        self.pacer.update(remaining=remaining, reset_in=reset)

    def reset_at(self) -> datetime:
        """When the daily budget comes back: from the 429's ``retry-after``, else the next UTC midnight."""
        now = datetime.now(UTC)
        if self.limits.daily_retry_after:
            return now + timedelta(seconds=self.limits.daily_retry_after)
        # ASSUMPTION: the budget resets at midnight server time, which Pipedrive does not publish; UTC it is
        return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)

    def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        write: bool = False,
    ) -> dict[str, Any]:
        def send() -> requests.Response:
            headers = self._auth_headers()  # may refresh the token, and with it move base_url to its api_domain
            return self.session.request(
                method, f"{self.base_url}{path}", params=params, json=body, headers=headers, timeout=self.config.timeout
            )

        def to_exchange(result: requests.Response | BaseException) -> Exchange:
            if isinstance(result, BaseException):
                return Exchange(0, error=redact(f"{type(result).__name__}: {result}"))
            exchange = Exchange(result.status_code, dict(result.headers), result.text)
            self._observe(exchange)
            return exchange

        api = self.writes if write else self.reads
        try:
            response = api.call(endpoint, send, to_exchange)
        except QuotaExhausted as exc:
            reset_at = self.reset_at()
            raise QuotaExhausted(
                f"{exc.message}; it resets around {reset_at:%Y-%m-%d %H:%M} UTC. The run stops here and goes on "
                "from its saved cursor next time",
                reset_at=reset_at,
                crm=CRM,
                endpoint=endpoint,
                status=exc.status,
            ) from exc
        try:
            data = response.json()
        except ValueError as exc:
            raise FatalApiError(
                "Pipedrive answered with something that is not JSON", crm=CRM, endpoint=endpoint
            ) from exc
        if not isinstance(data, dict):
            raise FatalApiError("Pipedrive answered with an unexpected JSON shape", crm=CRM, endpoint=endpoint)
        return data

    def paginate(
        self, endpoint: str, path: str, params: Mapping[str, Any] | None = None, *, paginator: Paginator | None = None
    ) -> Iterator[tuple[list[Any], bool]]:
        """Pages of a list as (items, more_follow): v2 cursor paging unless another ``paginator`` is given."""
        paginator = paginator or PipedriveCursor()
        paginator.endpoint = endpoint
        for data in pages(lambda query: self.call(endpoint, "GET", path, params=query), paginator, params):
            yield list(data.get("data") or []), paginator.has_next

    def calls(self) -> Counter[str]:
        return self.reads.calls + self.writes.calls + self.oauth_calls

    def retries(self) -> Counter[str]:
        return self.reads.retries + self.writes.retries

    def close(self) -> None:
        if self._own_session:
            self.session.close()
