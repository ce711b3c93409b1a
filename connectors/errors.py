"""The exception tree every adapter maps CRM failures onto.

::

    ConnectorError                  anything a connector raises on purpose
    ├── ConfigurationError          settings are wrong or incomplete (exit 2); never retried
    ├── AuthError                   credentials refused, token expired beyond refresh, scope missing (exit 3)
    ├── QuotaExhausted              daily API allocation or token budget spent (exit 3); carries reset_at
    ├── TransientError              5xx, connection reset, timeout: retried by ``connectors.http``
    │   └── RateLimited             429 / burst window full; carries retry_after seconds
    ├── FatalApiError               a request the CRM will never accept as sent (4xx); the run stops
    │   └── RepeatedPageToken       a listing handed back a page token it gave before (would loop forever)
    └── RecordError                 one record is bad; the record is quarantined and the run goes on

Messages are sentences for a RevOps user.  They never contain a secret: ``connectors.http.redact`` is
applied to every message built from a response body or URL.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.records import WriteResult


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
    """``results``: when the quota ran out inside ``write``, one result per update given (the ones written
    ``OK``, the rest ``RETRY``), so the sync can record what landed; empty otherwise."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        reset_at: datetime | None = None,
        results: Sequence[WriteResult] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.reset_at = reset_at
        self.results = list(results)


class TransientError(ConnectorError):
    pass


class RateLimited(TransientError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class FatalApiError(ConnectorError):
    pass


class RepeatedPageToken(FatalApiError):
    def __init__(self, token: Hashable, **kwargs: object) -> None:
        super().__init__(
            f"The CRM handed back the page token {token!r} a second time; the listing would never end, so the "
            "run stops here with its last cursor saved. Try again later; if it repeats, report it to the CRM.",
            **kwargs,  # type: ignore[arg-type]
        )
        self.token = token


class RecordError(ConnectorError):
    def __init__(self, message: str, *, record_id: str = "", code: str = "", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.record_id = record_id
        self.code = code
