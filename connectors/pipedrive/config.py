"""``PipedriveConfig``: where Pipedrive is, how to authenticate, and how to map its fields."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import requests
from pydantic import SecretStr

from connectors.errors import ConfigurationError
from connectors.registry import crm_info

# Canonical field -> Pipedrive field.  Standard person fields are named by key (email, owner_id, ...);
# Pipedrive has no title / industry / lifecycle fields on persons, so those are custom fields named as
# below (resolved to their per-account 40-char hash keys through GET /v1/personFields).  ``org_name`` is
# the name of the person's organization.
DEFAULT_FIELD_MAP: Mapping[str, str] = MappingProxyType(
    {
        "email": "email",
        "first_name": "first_name",
        "last_name": "last_name",
        "phone": "phone",
        "owner_id": "owner_id",
        "company": "org_name",
        "created_at": "add_time",
        "title": "Job title",
        "industry": "Industry",
        "employees": "Employees",
        "country": "Country",
        "city": "City",
        "lead_source": "Lead source",
        "lifecycle_stage": "Lifecycle stage",
    }
)

# Pipedrive activity type key -> canonical ActivityType.  A key "<type>/<word>" matches when the subject
# contains <word> (case-insensitive) and wins over the plain type key.
DEFAULT_ACTIVITY_TYPE_MAP: Mapping[str, str] = MappingProxyType(
    {
        "call": "call",
        "meeting": "meeting",
        "lunch": "meeting",
        "email/opened": "email_open",
        "email/clicked": "email_click",
        "email/reply": "email_reply",
        "email/bounced": "bounce",
        "email/unsubscribed": "unsubscribe",
        "email": "email_sent",
        "webinar/registration": "webinar_registration",
        "webinar": "webinar_attended",
        "demo": "demo_request",
        "form": "form_submission",
        "web_visit": "page_view",
        "download": "content_download",
        "social": "social_engagement",
        "task/note": "note",
        "task": "other",
        "deadline": "other",
    }
)


@dataclass(frozen=True)
class PipedriveConfig:
    """How to reach one Pipedrive company.  Give ``api_token``, or the OAuth ``access_token`` (+ refresh)."""

    base_url: str = "https://api.pipedrive.com"  # prefer https://{company}.pipedrive.com (see for_company)
    api_token: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    client_id: str = ""
    client_secret: SecretStr | None = None
    token_expires_at: datetime | None = None  # when the given access_token expires, if known
    oauth_url: str = "https://oauth.pipedrive.com"  # POST {oauth_url}/oauth/token refreshes the access token
    ca_path: str | None = None
    page_size: int = 500  # v2 lists allow at most 500
    field_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FIELD_MAP)
    extra_fields: Sequence[str] = ()
    activity_type_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ACTIVITY_TYPE_MAP)
    # read_activities() asks per person for sets up to this size, and decides by cost above it (see adapter)
    activity_stream_threshold: int = 5
    write_token_cost: int = 10  # tokens one PUT /v1/persons/{id} costs
    budget_reserve: int = 0  # daily tokens leadsync leaves to other integrations
    daily_token_budget: int | None = None  # the plan's budget, reported by usage() until a response says it
    timeout: float = 30.0
    max_attempts: int = 5
    backoff_max: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False, repr=False)
    session: requests.Session | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.api_token is None and self.access_token is None and self.refresh_token is None:
            raise ConfigurationError(
                "Pipedrive needs credentials: set api_token (Personal preferences > API in Pipedrive) or the "
                "OAuth access_token / refresh_token with client_id and client_secret.",
                crm="pipedrive",
            )
        if self.refresh_token is not None and not (self.client_id and self.client_secret):
            raise ConfigurationError(
                "Pipedrive OAuth refresh needs client_id and client_secret next to refresh_token.", crm="pipedrive"
            )
        most = crm_info("pipedrive").max_page_size
        if not 1 <= self.page_size <= most:
            raise ConfigurationError(f"Pipedrive page_size must be 1..{most}, got {self.page_size}.", crm="pipedrive")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "oauth_url", self.oauth_url.rstrip("/"))

    @classmethod
    def from_settings(cls, section: Any, *, extra_fields: Sequence[str] = (), **overrides: Any) -> PipedriveConfig:
        """From a settings section with the same attribute names (``sync.settings.PipedriveSettings``), reading
        ``extra_fields`` (the write-back fields) too."""
        names = ("api_token", "access_token", "refresh_token", "client_id", "client_secret", "base_url", "oauth_url",
                 "daily_token_budget")  # fmt: skip
        values: dict[str, Any] = {n: getattr(section, n) for n in names if getattr(section, n, None) is not None}
        if extra_fields:
            values["extra_fields"] = tuple(extra_fields)
        return cls(**(values | overrides))

    @classmethod
    def for_company(cls, company: str, **kwargs: Any) -> PipedriveConfig:
        """Config for ``https://{company}.pipedrive.com``, the host Pipedrive asks API clients to use."""
        return cls(base_url=f"https://{company}.pipedrive.com", **kwargs)
