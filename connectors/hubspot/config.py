"""``HubSpotConfig``: everything the HubSpot adapter needs, built once at the edge and passed down."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from pydantic import SecretStr

from connectors.errors import ConfigurationError
from connectors.fields import split_model_fields
from connectors.records import ActivityType
from connectors.registry import crm_info

# canonical field name -> HubSpot contact property
DEFAULT_FIELD_MAP: Mapping[str, str] = MappingProxyType(
    {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "title": "jobtitle",
        "company": "company",
        "industry": "industry",
        "employees": "numemployees",
        "annual_revenue": "annualrevenue",
        "country": "country",
        "region": "state",
        "city": "city",
        "phone": "phone",
        "website": "website",
        "lead_source": "hs_analytics_source",
        "lifecycle_stage": "lifecyclestage",
        "lead_status": "hs_lead_status",
        "owner_id": "hubspot_owner_id",
        "created_at": "createdate",
    }
)

# Contact rollups HubSpot keeps from web analytics, marketing emails and forms (they arrive as rollups, not
# as events), read under their HubSpot names for the model's property rules.
DEFAULT_EXTRA_FIELDS: tuple[str, ...] = (
    "hs_analytics_num_page_views",
    "hs_analytics_num_visits",
    "hs_analytics_last_visit_timestamp",
    "hs_email_open",
    "hs_email_click",
    "hs_email_bounce",
    "num_conversion_events",
    "recent_conversion_event_name",
    "recent_conversion_date",
    "notes_last_updated",
    "hs_last_sales_activity_timestamp",
    "hs_email_optout",
    "hs_lifecyclestage_customer_date",
)

# Contact properties whose values are numbers or booleans (HubSpot sends every value as a string).
NUMBER_PROPERTIES: frozenset[str] = frozenset(
    {
        "hs_analytics_num_page_views",
        "hs_analytics_num_visits",
        "hs_email_open",
        "hs_email_click",
        "num_conversion_events",
        "num_notes",
        "num_contacted_notes",
        "hs_email_bounce",
    }
)
BOOL_PROPERTIES: frozenset[str] = frozenset({"hs_email_optout"})

# HubSpot "source type" -> canonical ActivityType.  Source types are built from where HubSpot keeps the activity:
# engagements EMAIL:<SENT|OPENED|CLICKED|INCOMING_EMAIL|FORWARDED_EMAIL|BOUNCED>, MEETING:<outcome>,
# CALL:<status>, TASK:<type>, NOTE; marketing email events EMAIL_EVENT:<OPEN|CLICK|BOUNCE|
# STATUSCHANGE:UNSUBSCRIBED|...>; web analytics events WEB_EVENT:<event type>.  Lookup is case-insensitive,
# exact first, then the part before the first ":" ("MEETING:NO_SHOW" falls back to "MEETING"); anything
# unmapped is "other" (email events that are "other", such as SENT or DELIVERED, are not read as behaviour).
# Form submissions are typed by the form map below instead.
DEFAULT_ACTIVITY_TYPE_MAP: Mapping[str, str] = MappingProxyType(
    {
        "EMAIL": "email_sent",
        "EMAIL:SENT": "email_sent",
        "EMAIL:FORWARDED_EMAIL": "email_sent",
        "EMAIL:OPENED": "email_open",
        "EMAIL:CLICKED": "email_click",
        "EMAIL:INCOMING_EMAIL": "email_reply",
        "EMAIL:BOUNCED": "bounce",
        "MEETING": "meeting",
        "MEETING:CANCELED": "other",
        "MEETING:NO_SHOW": "other",
        "CALL": "call",
        "NOTE": "note",
        "EMAIL_EVENT:OPEN": "email_open",
        "EMAIL_EVENT:CLICK": "email_click",
        "EMAIL_EVENT:BOUNCE": "bounce",
        "EMAIL_EVENT:STATUSCHANGE:UNSUBSCRIBED": "unsubscribe",
        "EMAIL_EVENT:SPAMREPORT": "unsubscribe",
        "WEB_EVENT:E_VISITED_PAGE": "page_view",
    }
)

# The form map's defaults: a part of a form's name or page URL -> the activity its submissions record (the
# settings' ``form_activity_types`` come first; a form no rule names records a ``form_submission``).
DEFAULT_FORM_ACTIVITY_MAP: Mapping[str, str] = MappingProxyType(
    {
        "demo": "demo_request",
        "webinar": "webinar_registration",
        "download": "content_download",
        "ebook": "content_download",
        "whitepaper": "content_download",
        "gated": "content_download",
    }
)
PAGE_VIEW_SOURCES = ("auto", "events", "rollups")

ENGAGEMENT_TYPES: tuple[str, ...] = ("emails", "meetings", "calls", "notes")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class HubSpotConfig:
    """Credentials: a private-app ``access_token`` (never expires), or OAuth ``client_id`` +
    ``client_secret`` + ``refresh_token`` (access tokens refreshed before ``expires_in`` runs out).

    ``page_size`` is the number of contacts per ``ContactPage`` handed to the sync (scored, written and
    checkpointed together); 1,000 matches the associations batch limit so activities cost the fewest calls.
    ``search_lag_seconds`` keeps incremental reads that many seconds behind now, because HubSpot's search
    index lags behind writes (a contact changed just before the cutoff but not yet indexed would otherwise be
    passed by the cursor for good); ``search_overlap_seconds`` re-reads that much before the cursor on every
    incremental read, for a lag longer than the margin (the sync skips what it finds unchanged).  HubSpot
    publishes no figure for the lag (docs/crm-api.md, "Search index lag"): both defaults are assumptions.
    """

    access_token: SecretStr | None = None
    client_id: str = ""
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    base_url: str = "https://api.hubapi.com"
    ca_path: str | None = None
    page_size: int = 1000
    field_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FIELD_MAP)
    extra_fields: Sequence[str] = DEFAULT_EXTRA_FIELDS
    activity_type_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ACTIVITY_TYPE_MAP)
    form_activity_map: Mapping[str, str] = field(default_factory=dict)
    default_form_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FORM_ACTIVITY_MAP)
    page_views: str = "auto"  # "auto" (ask HubSpot once), "events" (/events/v3/events) or "rollups"
    behaviour_lookback_days: float = 180.0
    engagement_types: Sequence[str] = ENGAGEMENT_TYPES
    won_stages: Sequence[str] = ("closedwon",)
    lost_stages: Sequence[str] = ("closedlost",)
    property_group: str = "leadsync"
    property_group_label: str = "leadsync"
    backfill: str = "list"  # "list" (GET contacts, 100 per call) or "search" (200 per call, 5 calls/s)
    backfill_overlap_seconds: float = 300.0
    search_lag_seconds: float = 60.0
    search_overlap_seconds: float = 300.0
    clear_lifecycle_to_move_back: bool = True
    timeout: float = 60.0
    max_attempts: int = 6
    backoff_max: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = utc_now

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        extra_fields: Sequence[str] = (),
        model_fields: Mapping[str, str] = MappingProxyType({}),
        **overrides: Any,
    ) -> HubSpotConfig:
        """From the ``hubspot`` section of leadsync's settings (``sync.settings.HubSpotSettings``), reading
        ``extra_fields`` (the write-back fields) and ``model_fields`` (model name -> property) besides the
        default rollups."""
        field_map, model_extra = split_model_fields(DEFAULT_FIELD_MAP, model_fields)
        values: dict[str, Any] = {
            "field_map": MappingProxyType(field_map),
            "access_token": settings.access_token,
            "client_id": settings.client_id or "",
            "client_secret": settings.client_secret,
            "refresh_token": settings.refresh_token,
            "base_url": settings.base_url,
            "search_lag_seconds": getattr(settings, "search_lag_seconds", cls.search_lag_seconds),
            "search_overlap_seconds": getattr(settings, "search_overlap_seconds", cls.search_overlap_seconds),
            "extra_fields": tuple(dict.fromkeys([*DEFAULT_EXTRA_FIELDS, *extra_fields, *model_extra])),
            "form_activity_map": dict(getattr(settings, "form_activity_types", None) or {}),
            "page_views": getattr(settings, "page_views", "auto"),
            "behaviour_lookback_days": float(getattr(settings, "behaviour_lookback_days", 180.0)),
        }
        values.update(overrides)
        return cls(**values)

    @property
    def oauth(self) -> bool:
        return self.access_token is None

    def validate(self) -> None:
        if self.access_token is None and not (self.client_id and self.client_secret and self.refresh_token):
            raise ConfigurationError(
                "HubSpot credentials are missing: set a private-app access token, or an OAuth client id, "
                "client secret and refresh token.",
                crm="hubspot",
            )
        most = crm_info("hubspot").max_page_size
        if not 1 <= self.page_size <= most:
            raise ConfigurationError(f"page_size must be between 1 and {most}, got {self.page_size}.", crm="hubspot")
        if self.page_views not in PAGE_VIEW_SOURCES:
            raise ConfigurationError(
                f"page_views must be one of {', '.join(PAGE_VIEW_SOURCES)}, got {self.page_views!r}.", crm="hubspot"
            )
        canonical = {t.value for t in ActivityType}
        wrong = {k: v for k, v in self.form_activity_map.items() if v not in canonical}
        if wrong:
            listing = "; ".join(f"{k!r} -> {v!r}" for k, v in wrong.items())
            raise ConfigurationError(
                f"The HubSpot form map names unknown activity types ({listing}); known: "
                f"{', '.join(sorted(canonical))}.",
                crm="hubspot",
            )
        if self.backfill not in ("list", "search"):
            raise ConfigurationError(f"backfill must be 'list' or 'search', got {self.backfill!r}.", crm="hubspot")
        unknown = [t for t in self.engagement_types if t not in (*ENGAGEMENT_TYPES, "tasks")]
        if unknown:
            raise ConfigurationError(
                f"Unknown HubSpot engagement type(s) {', '.join(unknown)}; known: {', '.join(ENGAGEMENT_TYPES)}, "
                "tasks.",
                crm="hubspot",
            )

    def secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.access_token, self.client_secret, self.refresh_token) if s]
