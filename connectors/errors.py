"""The exception tree every adapter maps CRM failures onto.

::

    ConnectorError                  anything a connector raises on purpose
    ├── ConfigurationError          settings are wrong or incomplete (exit 2); never retried
    ├── AuthError                   credentials refused, token expired beyond refresh, scope missing (exit 3)
    ├── QuotaExhausted              daily API allocation or token budget spent (exit 3); carries reset_at
    ├── TransientError              5xx, connection reset, timeout: retried by ``connectors.http``
    │   └── RateLimited             429 / burst window full; carries retry_after seconds
    ├── FatalApiError               a request the CRM will never accept as sent (4xx); the run stops
    └── RecordError                 one record is bad; the record is quarantined and the run goes on

Messages are sentences for a RevOps user.  They never contain a secret: ``connectors.http.redact`` is
applied to every message built from a response body or URL.
"""

from __future__ import annotations

from datetime import datetime


class ConnectorError(Exception):
    """Base class of every error a connector raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, crm: str = "", endpoint: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.crm = crm
        self.endpoint = endpoint
        self.status = status

    def __str__(self) -> str:
        where = " ".join(part for part in (self.crm, self.endpoint) if part)
        return f"{where}: {self.message}" if where else self.message


class ConfigurationError(ConnectorError):
    exit_code = 2


class AuthError(ConnectorError):
    exit_code = 3


class QuotaExhausted(ConnectorError):
    exit_code = 3

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.reset_at = reset_at


class TransientError(ConnectorError):
    pass


class RateLimited(TransientError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class FatalApiError(ConnectorError):
    pass


class RecordError(ConnectorError):
    def __init__(self, message: str, *, record_id: str = "", code: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.record_id = record_id
        self.code = code
