"""What a Salesforce response means: the status/errorCode table every call goes through.

Salesforce error bodies are a list ``[{"message": ..., "errorCode": ...}]``; OAuth errors are
``{"error": ..., "error_description": ...}``.  simple-salesforce raises ``SalesforceError`` subclasses that
carry the status and the decoded body, but not the headers (usage is read by a response hook instead).
"""

from __future__ import annotations

import json
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from connectors.errors import (
    AuthError,
    ConnectorError,
    FatalApiError,
    QuotaExhausted,
    RateLimited,
    TransientError,
)
from connectors.http import Action, Exchange, Verdict, redact

# errorCodes Salesforce documents as transient: try the same request again later
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"})


def to_exchange(result: Any) -> Exchange:
    """Describe what a simple-salesforce or requests call returned or raised."""
    if isinstance(result, SalesforceError):
        content = result.content
        body = content if isinstance(content, str) else json.dumps(content, default=str)
        return Exchange(status=int(result.status), body=body)
    if isinstance(result, requests.Response):
        return Exchange(status=result.status_code, headers=dict(result.headers), body=result.text)
    if isinstance(result, requests.RequestException | ConnectionError | TimeoutError):
        return Exchange(status=0, error=f"{type(result).__name__}: {result}")
    if isinstance(result, ValueError):  # an unreadable (truncated, non-JSON) response body
        return Exchange(status=0, error=f"unreadable response: {result}")
    if isinstance(result, BaseException):
        return Exchange(status=-1, error=f"{type(result).__name__}: {result}")
    return Exchange(status=200)


def first_error(body: str) -> tuple[str, str]:
    """(errorCode, message) of a Salesforce error body, or ("", text) when it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", body[:300]
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return str(data[0].get("errorCode", "")), str(data[0].get("message", ""))
    if isinstance(data, dict) and "error" in data:
        return str(data["error"]), str(data.get("error_description", ""))
    return "", body[:300]


def classify(exchange: Exchange) -> Verdict:
    status = exchange.status
    if 200 <= status < 300:
        return Verdict(Action.OK)
    if status == 0:
        return Verdict(Action.RETRY, f"Salesforce could not be reached ({exchange.error}).")
    if status < 0:
        return Verdict(Action.FATAL, f"Salesforce call failed unexpectedly: {exchange.error}")
    code, message = first_error(exchange.body)
    if status == 401 and code in ("INVALID_SESSION_ID", ""):
        return Verdict(Action.REFRESH_AUTH, "The Salesforce session expired or is invalid.", code=code)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" not in message:
        # the concurrent long-running request cap (ConcurrentPerOrgLongTxn): wait and try again
        return Verdict(Action.RATE_LIMITED, f"Salesforce is busy ({message}).", code=code)
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return Verdict(
            Action.QUOTA_EXHAUSTED,
            "Salesforce's daily API request allocation is spent (REQUEST_LIMIT_EXCEEDED: "
            f"{message}). The run stops here with its cursor saved; it can resume once the rolling 24-hour "
            "window frees calls, or after an admin raises the org's API limit.",
            code=code,
        )
    if status in (401, 403):
        return Verdict(
            Action.AUTH_FAILED,
            f"Salesforce refused the request ({code or status}: {message}). Check that the integration user "
            "has API Enabled and access to the objects and fields leadsync uses.",
            code=code,
        )
    if status >= 500 or status in (408, 429) or code in RETRYABLE_CODES:
        return Verdict(Action.RETRY, f"Salesforce had a transient error ({code or status}: {message}).", code=code)
    if status == 414:
        return Verdict(Action.FATAL, "The request URI was longer than Salesforce's 16,384-byte limit.", code=code)
    return Verdict(Action.FATAL, f"Salesforce rejected the request ({code or status}: {message}).", code=code)


def classify_login(exchange: Exchange) -> Verdict:
    """The OAuth token endpoint: 400 means the credentials were refused, never retried."""
    status = exchange.status
    if 200 <= status < 300 or status == 0 or status >= 500:
        return classify(exchange)
    code, message = first_error(exchange.body)
    return Verdict(
        Action.AUTH_FAILED,
        f"Salesforce refused the login ({code or status}: {message}). Check the username, the password "
        "followed by the security token, the connected app's consumer key and secret, or the JWT certificate.",
        code=code,
    )


def error_for(verdict: Verdict, status: int, endpoint: str) -> ConnectorError:
    """The exception for a failure met outside ``ApiClient.call`` (a Composite subrequest)."""
    message = redact(verdict.message)
    kw = {"crm": "salesforce", "endpoint": endpoint, "status": status}
    if verdict.action is Action.QUOTA_EXHAUSTED:
        return QuotaExhausted(message, **kw)  # type: ignore[arg-type]
    if verdict.action in (Action.AUTH_FAILED, Action.REFRESH_AUTH):
        return AuthError(message, crm="salesforce", endpoint=endpoint, status=status)
    if verdict.action is Action.RATE_LIMITED:
        return RateLimited(message, **kw)  # type: ignore[arg-type]
    if verdict.action is Action.RETRY:
        return TransientError(message, crm="salesforce", endpoint=endpoint, status=status)
    return FatalApiError(message, crm="salesforce", endpoint=endpoint, status=status)
