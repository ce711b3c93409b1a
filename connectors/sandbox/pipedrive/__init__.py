"""Pipedrive API emulation: the endpoints leadsync uses, with Pipedrive's shapes, errors and limits.

Plain HTTP at ``sandbox.pipedrive_url`` (real host: ``https://{company}.pipedrive.com``).  Routes, counter
names and default token costs are in ``ROUTES`` / ``DEFAULT_TOKEN_COSTS`` (``api.py``).  One module per part
of Pipedrive's API, composed by the ``PipedriveApi`` facade: ``auth``, ``limits``, ``errors``, ``fields``,
``persons``, ``activities``, ``deals``, ``organizations``, ``users``; ``loading`` puts sample data in.

Facts followed: Pipedrive's published v1/v2 definitions and docs, with their sources in docs/crm-api/pipedrive.md
section 1 (which also says where the vendor is silent and what the sandbox assumes).

- Auth: ``x-api-token`` header (what the docs and SDKs send today), the legacy ``api_token`` query
  parameter, or ``Authorization: Bearer <OAuth access token>``.  A bad or expired token gets the definition's
  401 ``{"success": false, "error": "unauthorized access", "errorCode": 401}``, with no rate-limit headers.
  ``POST /oauth/token`` (``grant_type=refresh_token``, HTTP Basic client auth, form body) returns
  ``access_token``, ``token_type``, ``refresh_token``, ``scope``, ``expires_in`` and ``api_domain`` (the
  base URL the client must use from then on: the sandbox's own URL).
- v2 lists: cursor paging (``limit`` <= 500, default 100, ``additional_data.next_cursor``),
  ``updated_since`` (>=) / ``updated_until`` (<) in RFC3339, ``sort_by`` id|update_time|add_time,
  ``sort_direction``, ``ids`` (<= 100), ``custom_fields`` (<= 15 keys), ``include_fields``.  Timestamps have
  SECOND granularity.  Properties the v2 definition does not mark nullable are left out when unset.
- Writes: ``PATCH /api/v2/persons/{id}`` only, custom fields inside ``custom_fields``; the v1 ``/persons``
  routes the current definition no longer lists answer 404 like any unknown route.  No bulk update exists.
- Person fields: ``/api/v2/personFields`` (cursor paging, ``field_code``) and ``/api/v1/personFields``.
- Activities: ``due_time`` / ``duration`` are ``HH:MM:SS``.
- Token-based limits: a company-wide daily budget of 30,000 x plan multiplier (Lite 1, Growth 2, Premium 5,
  Ultimate 7) x seats, reset at midnight (here: UTC midnight of the sandbox clock), and a per-token burst
  limit per 2-second window (api_token 20/40/100/120, OAuth 80/160/400/480).  Every charged response carries
  ``x-ratelimit-limit``, ``x-ratelimit-remaining``, ``x-ratelimit-reset`` (whole seconds until the window
  resets) and ``x-daily-ratelimit-token-limit`` / ``x-daily-ratelimit-token-remaining``.  ASSUMPTION: the
  docs do not name the two budget headers (docs/crm-api/pipedrive.md 1.3).
- Burst breach: 429 in Pipedrive's error shape (the exact ``error`` text is unverified).  Budget spent: 429
  ``{"success": false, "error": "daily request budget exceeded", "errorCode": 429}`` with ``retry-after`` =
  seconds until the reset and ``x-daily-ratelimit-token-remaining: 0``.
- Token costs: each route's ``x-token-cost`` from the definitions (``ROUTES``); override with
  ``limits["pipedrive"]["token_costs"]``.

Assumptions where the docs are silent:

- Creating or updating an activity does NOT bump the person's ``update_time``: clients read activity
  changes from ``/api/v2/activities?updated_since=``.
- ``PATCH`` bumps ``update_time`` only when a value changes; unknown body keys are ignored, a bad value for a
  known field (unknown option id, wrong type) is a 400.
- A merged-away or deleted person answers 404 and is left out of lists.

Limits are read per request from ``sandbox.config.limits["pipedrive"]``: ``plan`` ("growth"), ``seats`` (10),
``daily_budget``, ``burst`` (api_token), ``burst_oauth``, ``window_seconds`` (2), ``token_costs``,
``access_token_ttl`` (3599).  With ``config.rate_limits`` False nothing is refused; headers are still sent.
"""

from connectors.sandbox.pipedrive.activities import ACTIVITY_TYPES
from connectors.sandbox.pipedrive.api import DEFAULT_TOKEN_COSTS, ROUTES, PipedriveApi, create_api
from connectors.sandbox.pipedrive.auth import SANDBOX_CREDENTIALS
from connectors.sandbox.pipedrive.common import SCHEMA, parse_rfc3339, rfc3339, v1_time
from connectors.sandbox.pipedrive.errors import ERROR_INFO
from connectors.sandbox.pipedrive.fields import FIELD_FLAGS, FIELD_TYPES, LABELS, STANDARD_FIELDS
from connectors.sandbox.pipedrive.limits import (
    BASE_TOKENS_PER_SEAT,
    BURST_API_TOKEN,
    BURST_OAUTH,
    PLAN_MULTIPLIER,
    Limits,
)
from connectors.sandbox.pipedrive.loading import (
    DATASET_FIELDS,
    FIELD_ALIASES,
    LIFECYCLE,
    LIFECYCLE_STAGES,
    stage_label,
)
from connectors.sandbox.pipedrive.paging import DEFAULT_LIMIT, MAX_IDS, MAX_LIMIT
from connectors.sandbox.pipedrive.persons import COUNT_SQL, MAX_CUSTOM_FIELDS

__all__ = [
    "ACTIVITY_TYPES",
    "BASE_TOKENS_PER_SEAT",
    "BURST_API_TOKEN",
    "BURST_OAUTH",
    "COUNT_SQL",
    "DATASET_FIELDS",
    "DEFAULT_LIMIT",
    "DEFAULT_TOKEN_COSTS",
    "ERROR_INFO",
    "FIELD_ALIASES",
    "FIELD_FLAGS",
    "FIELD_TYPES",
    "LABELS",
    "LIFECYCLE",
    "LIFECYCLE_STAGES",
    "MAX_CUSTOM_FIELDS",
    "MAX_IDS",
    "MAX_LIMIT",
    "PLAN_MULTIPLIER",
    "ROUTES",
    "SANDBOX_CREDENTIALS",
    "SCHEMA",
    "STANDARD_FIELDS",
    "Limits",
    "PipedriveApi",
    "create_api",
    "parse_rfc3339",
    "rfc3339",
    "stage_label",
    "v1_time",
]
