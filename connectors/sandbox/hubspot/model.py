"""What HubSpot's data looks like: object types, association type ids, default and read-only properties,
documented limits, and HubSpot's renderings of times and property values."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import BadRequest

ENGAGEMENT_TYPES: tuple[str, ...] = ("emails", "meetings", "calls", "notes")
OBJECT_TYPES: tuple[str, ...] = ("contacts", *ENGAGEMENT_TYPES, "deals")
TYPE_RE = "|".join(OBJECT_TYPES)

# HubSpot-defined association type ids (contact -> object, object -> contact).
ASSOCIATION_TYPE_IDS: dict[str, tuple[int, int]] = {
    "emails": (197, 198),
    "meetings": (199, 200),
    "calls": (193, 194),
    "notes": (201, 202),
    "deals": (4, 3),
}

DEFAULT_LIMITS: dict[str, Any] = {
    "burst_per_10s": 100,  # private apps, Free/Starter (Pro/Enterprise 190, API add-on 250)
    "oauth_burst_per_10s": 110,  # public (OAuth) apps, per installing account
    "interval_ms": 10_000,
    "daily": 250_000,  # private apps only: OAuth calls have no daily limit
    "search_per_second": 5,
    "token_lifetime": 1800,  # OAuth access tokens live 30 minutes
}

LIST_LIMIT = 100
SEARCH_LIMIT = 200
SEARCH_MAX_RESULTS = 10_000
SEARCH_MAX_BODY = 3_000
BATCH_LIMIT = 100
ASSOC_BATCH_LIMIT = 1_000
ASSOC_PAGE = 500  # associations returned per input before ``paging`` (assumption)

CHANGE_PROP = {t: "hs_lastmodifieddate" for t in OBJECT_TYPES} | {"contacts": "lastmodifieddate"}
CREATE_PROP = {t: "hs_createdate" for t in ENGAGEMENT_TYPES} | {"contacts": "createdate", "deals": "createdate"}
DEFAULT_PROPS: dict[str, tuple[str, ...]] = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
} | {t: ("hs_createdate", "hs_lastmodifieddate", "hs_object_id") for t in ENGAGEMENT_TYPES}
PROP_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# Properties HubSpot computes; a write to them is refused (READ_ONLY_VALUE).
READ_ONLY = {
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
    "hs_createdate",
    "hs_lastmodifieddate",
    "hs_merged_object_ids",
}

LIFECYCLE_STAGES = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
    "evangelist", "other",
)  # fmt: skip


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def iso(ms: int) -> str:
    """HubSpot's datetime rendering: ``2024-01-02T03:04:05.678Z``."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: Any) -> int:
    """Epoch milliseconds from a filter value: ``"1700000000000"`` or ISO 8601 (date or datetime)."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{text!r} is not a valid date: use epoch milliseconds or ISO 8601") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return to_ms(dt)


def prop_str(value: Any) -> str | None:
    """A property value as HubSpot stores it: a string (``"true"``/``"false"``, ISO times), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(to_ms(value))
    return str(value)
