"""The HubSpot client wiring: ``hubspot-api-client`` under ``connectors.http``'s one retry/pacing policy.

The generated client does no retrying of its own (urllib3 ``Retry(total=0)``): every call goes through
``ApiClient.call`` with ``classify`` below, which maps HubSpot's status codes and error bodies onto actions:

=====================================================  ================================================
429 ``policyName`` DAILY                               QUOTA_EXHAUSTED (the day's calls are spent)
429 otherwise (TEN_SECONDLY_ROLLING, SECONDLY search)  RATE_LIMITED
401                                                    REFRESH_AUTH (OAuth, once) / AUTH_FAILED
403                                                    AUTH_FAILED, naming the missing scope
423 477 5xx 521 523 524, no response, garbled body     RETRY
any other 4xx                                          FATAL
=====================================================  ================================================

Pacing: every answer's ``X-HubSpot-RateLimit-Remaining`` / ``-Interval-Milliseconds`` feed a ``Pacer``
(``update_rolling``: calls go out while more than one is left, then wait for the oldest to leave the window),
so a steady sync uses the whole burst limit and never meets a 429; search calls (limited to 5 per second,
outside the burst window) go through their own ``Pacer`` with ``min_interval`` 0.22 s (5/s with a margin
for jitter).
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import hubspot
from urllib3.util.retry import Retry

from connectors.errors import AuthError
from connectors.http import Action, ApiClient, Exchange, Pacer, Verdict, parse_float, redact
from connectors.hubspot.config import HubSpotConfig
from connectors.records import ApiUsage

T = TypeVar("T")

RETRY_STATUSES = frozenset({423, 477, 500, 502, 503, 504, 521, 523, 524})
# HubSpot's search endpoints take 5 requests per second; 0.22 s apart leaves room for network jitter, so
# the 6th call never lands inside the 1 s window of the 1st.
SEARCH_INTERVAL = 0.22


def body_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _missing_scopes(body: Mapping[str, Any]) -> list[str]:
    scopes: list[str] = []
    for err in body.get("errors") or []:
        context = err.get("context") or {} if isinstance(err, dict) else {}
        for key in ("requiredGranularScopes", "requiredScopes", "requiredScopeGroups"):
            scopes.extend(str(s) for s in context.get(key) or [])
    return list(dict.fromkeys(scopes))


def classify(exchange: Exchange, *, oauth: bool = False) -> Verdict:
    """What one HubSpot answer means (pure: the status table of the module docstring)."""
    status = exchange.status
    if 200 <= status < 300:
        return Verdict(Action.OK)
    if status < 0:
        return Verdict(Action.FATAL, f"The HubSpot client refused the request before sending it: {exchange.error}")
    if status == 0:
        return Verdict(Action.RETRY, f"No usable answer from HubSpot ({exchange.error or 'connection failed'}).")
    body = body_json(exchange.body)
    category = str(body.get("category") or body.get("errorType") or "")
    message = str(body.get("message") or exchange.error or "").strip()
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy == "DAILY":
            daily = exchange.header("X-HubSpot-RateLimit-Daily")
            return Verdict(
                Action.QUOTA_EXHAUSTED,
                f"HubSpot's daily API limit{f' of {daily} calls' if daily else ''} for this account is spent; "
                "calls resume after midnight in the account's time zone.",
                code="DAILY",
            )
        retry_after = parse_float(exchange.header("Retry-After"))
        if retry_after is None and policy == "SECONDLY":
            retry_after = 1.0
        return Verdict(
            Action.RATE_LIMITED,
            f"HubSpot rate limit reached ({policy or 'RATE_LIMITS'}): {message}",
            retry_after=retry_after,
            code=policy or "RATE_LIMITS",
        )
    if status == 401:
        if oauth:
            return Verdict(Action.REFRESH_AUTH, f"HubSpot refused the OAuth access token ({category}): {message}")
        return Verdict(
            Action.AUTH_FAILED,
            f"HubSpot refused the private-app token ({category or 'HTTP 401'}): check that the token is current "
            "(Settings > Integrations > Private apps) and set it again.",
            code=category,
        )
    if status == 403:
        scopes = _missing_scopes(body)
        if category == "MISSING_SCOPES" or scopes:
            what = ", ".join(scopes) if scopes else "the scope this call needs"
            return Verdict(
                Action.AUTH_FAILED,
                f"HubSpot refused the call because the app lacks the scope {what}: add it to the private app "
                "(Settings > Integrations > Private apps > Scopes) or reinstall the OAuth app with it.",
                code="MISSING_SCOPES",
            )
        return Verdict(Action.AUTH_FAILED, f"HubSpot refused the call (403 {category}): {message}", code=category)
    if status in RETRY_STATUSES or status >= 500:
        return Verdict(
            Action.RETRY,
            f"HubSpot answered {status}{f' {category}' if category else ''}; retrying.",
            retry_after=parse_float(exchange.header("Retry-After")),
        )
    return Verdict(Action.FATAL, f"HubSpot answered {status} {category}: {message}".rstrip(": "), code=category)


def classify_token(exchange: Exchange) -> Verdict:
    """The OAuth token endpoint: a refused refresh token is an auth problem, not a bad request."""
    if exchange.status in (400, 401, 403):
        body = body_json(exchange.body)
        reason = str(body.get("status") or body.get("category") or exchange.status)
        return Verdict(
            Action.AUTH_FAILED,
            f"HubSpot refused the OAuth refresh ({reason}: {body.get('message', '')}): check the client id and "
            "secret, or reinstall the app to get a new refresh token.",
            code=reason,
        )
    return classify(exchange)


def _client_error(exc: BaseException) -> bool:
    """The generated client's own validation errors (ApiTypeError, ApiValueError...): our bug, not HubSpot's."""
    return any(cls.__name__ == "OpenApiException" for cls in type(exc).__mro__) and not hasattr(exc, "status")


class HubSpotClient:
    """One ``hubspot.Client`` with cached API objects, credentials and the two paced call loops."""

    def __init__(self, config: HubSpotConfig):
        config.validate()
        redact.add(*config.secrets())
        self.config = config
        self._lock = threading.Lock()
        self._token = config.access_token.get_secret_value() if config.access_token else None
        self._expires_at = 0.0
        self.headers: dict[str, str] = {}  # the latest rate-limit headers seen
        self.last_body = ""  # the body of the latest failed answer (for per-record error details)
        kwargs: dict[str, Any] = {
            "access_token": self._token or "",
            "host": config.base_url.rstrip("/"),
            # The generated client must not retry on its own: ApiClient does, under one policy.
            "retry": Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0, raise_on_status=False),
        }
        if config.ca_path:
            kwargs["ssl_ca_cert"] = config.ca_path
        self.client = hubspot.Client.create(**kwargs)
        crm = self.client.crm
        # Each discovery access builds a new urllib3 pool: build every API object once.
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_search = crm.contacts.search_api
        self.contacts_batch = crm.contacts.batch_api
        self.objects_basic = crm.objects.basic_api
        self.objects_batch = crm.objects.batch_api
        self.associations = crm.associations.v4.batch_api
        self.owners = crm.owners.owners_api
        self.properties = crm.properties.core_api
        self.groups = crm.properties.groups_api
        self.tokens = self.client.oauth.tokens_api
        self.forms = self.client.marketing.forms.forms_api
        self.web_events = self.client.events.events_api
        # the legacy form-submissions and email-events endpoints have no API object: their paths are called
        # through this generated client's ``call_api`` (same transport, auth and errors as the rest)
        self.raw = self.forms.api_client
        self._apis = [
            self.contacts_basic,
            self.contacts_search,
            self.contacts_batch,
            self.objects_basic,
            self.objects_batch,
            self.associations,
            self.owners,
            self.properties,
            self.groups,
            self.forms,
            self.web_events,
        ]
        pacer = Pacer(sleep=config.sleep, monotonic=config.monotonic)
        search_pacer = Pacer(sleep=config.sleep, monotonic=config.monotonic, min_interval=SEARCH_INTERVAL)
        common: dict[str, Any] = {
            "max_attempts": config.max_attempts,
            "backoff_max": config.backoff_max,
            "sleep": config.sleep,
        }
        oauth = config.oauth
        refresh = self.refresh if oauth else None
        self.api = ApiClient(
            "hubspot", lambda ex: classify(ex, oauth=oauth), pacer=pacer, refresh_auth=refresh, **common
        )
        self.search_api = ApiClient(
            "hubspot", lambda ex: classify(ex, oauth=oauth), pacer=search_pacer, refresh_auth=refresh, **common
        )
        self.token_api = ApiClient("hubspot", classify_token, **common)

    # -- auth ------------------------------------------------------------------------------------------------
    def _ensure_token(self) -> None:
        if not self.config.oauth:
            return
        # refresh a minute before HubSpot's expires_in runs out (a 401 still triggers one refresh)
        if not self._token or self.config.monotonic() >= self._expires_at - 60:
            self.refresh()

    def refresh(self) -> None:
        """Exchange the refresh token for a new access token and hand it to every API object."""
        cfg = self.config
        assert cfg.client_secret is not None and cfg.refresh_token is not None
        client_secret = cfg.client_secret.get_secret_value()
        refresh_token = cfg.refresh_token.get_secret_value()
        started = cfg.monotonic()

        def send() -> Any:
            result = self.tokens.create_with_http_info(
                grant_type="refresh_token",
                client_id=cfg.client_id,
                client_secret=client_secret,
                refresh_token=refresh_token,
                _request_timeout=cfg.timeout,
            )
            _check(result, "access_token")
            return result

        data, _, _ = self.token_api.call("oauth.token", send, self._exchange)
        token = str(getattr(data, "access_token", "") or "")
        if not token:
            raise AuthError("HubSpot's token endpoint answered without an access token.", crm="hubspot")
        redact.add(token)
        with self._lock:
            self._token = token
            self._expires_at = started + float(getattr(data, "expires_in", 0) or 1800)
            for api in self._apis:
                api.api_client.configuration.access_token = token

    # -- calls -----------------------------------------------------------------------------------------------
    def call(self, endpoint: str, send: Callable[[], T], *, search: bool = False, require: str = "results") -> T:
        """Run one API call (``send`` returns the ``*_with_http_info`` tuple) under the retry/pacing policy.

        ``require`` names a field every good answer has: the generated models do not validate what they
        deserialize, so a garbled body would otherwise read as an empty page (and end a listing early).
        """
        loop = self.search_api if search else self.api

        def attempt() -> T:
            self._ensure_token()
            result = send()
            _check(result, require)
            return result

        return loop.call(endpoint, attempt, self._exchange)

    def _exchange(self, result: Any) -> Exchange:
        if isinstance(result, tuple) and len(result) == 3:
            exchange = Exchange(int(result[1]), _headers(result[2]))
        elif isinstance(result, BaseException) and hasattr(result, "status") and hasattr(result, "body"):
            body = result.body
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
            exchange = Exchange(
                int(getattr(result, "status", 0) or 0),
                _headers(getattr(result, "headers", None)),
                text,
                str(getattr(result, "reason", "") or ""),
            )
        elif isinstance(result, BaseException):
            status = -1 if _client_error(result) else 0
            exchange = Exchange(status, error=redact(f"{type(result).__name__}: {result}"))
        else:
            exchange = Exchange(200)
        self._observe(exchange)
        return exchange

    def _observe(self, exchange: Exchange) -> None:
        """Feed the rate-limit headers to the pacer and remember them for ``usage()``."""
        if exchange.status >= 400:
            self.last_body = exchange.body
        limits = {k: v for k, v in exchange.headers.items() if k.lower().startswith("x-hubspot-ratelimit")}
        if not limits:
            return
        with self._lock:
            self.headers.update(limits)
        remaining = parse_float(exchange.header("X-HubSpot-RateLimit-Remaining"))
        interval_ms = parse_float(exchange.header("X-HubSpot-RateLimit-Interval-Milliseconds"))
        if remaining is not None and interval_ms is not None:
            # HubSpot tells how many calls are left in a rolling window, not when they come back
            self.api.pacer.update_rolling(remaining=int(remaining), window=interval_ms / 1000)

    # -- usage -----------------------------------------------------------------------------------------------
    def usage(self) -> ApiUsage:
        """Calls and retries by endpoint, and the daily and burst limits as the latest answer reported them."""
        daily = _int(self.header("X-HubSpot-RateLimit-Daily"))
        remaining = _int(self.header("X-HubSpot-RateLimit-Daily-Remaining"))
        extra: dict[str, Any] = {
            "retries": dict(self.retries()),
            "burst_max": _int(self.header("X-HubSpot-RateLimit-Max")),
            "burst_remaining": _int(self.header("X-HubSpot-RateLimit-Remaining")),
            "interval_ms": _int(self.header("X-HubSpot-RateLimit-Interval-Milliseconds")),
            "paced_seconds": self.api.pacer.slept + self.search_api.pacer.slept,
        }
        return ApiUsage(
            calls_by_endpoint=dict(self.calls()),
            quota_used=None if daily is None or remaining is None else daily - remaining,
            quota_limit=daily,
            extra=extra,
        )

    def calls(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for loop in (self.api, self.search_api, self.token_api):
            out.update(loop.calls)
        return out

    def retries(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for loop in (self.api, self.search_api, self.token_api):
            out.update(loop.retries)
        return out

    def header(self, name: str) -> str | None:
        with self._lock:
            for key, value in self.headers.items():
                if key.lower() == name.lower():
                    return value
        return None

    def close(self) -> None:
        for api in [*self._apis, self.tokens]:
            pool = getattr(api.api_client.rest_client, "pool_manager", None)
            if pool is not None:
                pool.clear()


class MalformedAnswer(Exception):
    """A 2xx answer whose body is not the JSON document the endpoint returns (cut short, garbled)."""


def _check(result: Any, require: str) -> None:
    data = result[0] if isinstance(result, tuple) and result else result
    found = data.get(require) if isinstance(data, dict) else getattr(data, require, None)  # JSON or a model
    if require and found is None:
        raise MalformedAnswer(f"HubSpot's answer has no {require!r}: the body was cut short or garbled")


def _int(value: str | None) -> int | None:
    number = parse_float(value)
    return int(number) if number is not None and math.isfinite(number) else None


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    try:
        return {str(k): str(v) for k, v in raw.items()}
    except AttributeError:
        return {}
