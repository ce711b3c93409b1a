"""``SalesforceConfig``: how to reach and log in to one org, and how its fields map onto leadsync's names."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from connectors.base import FieldsCache
from connectors.errors import ConfigurationError
from connectors.registry import crm_info

# canonical name -> Lead field
DEFAULT_LEAD_FIELD_MAP: Mapping[str, str] = MappingProxyType(
    {
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "title": "Title",
        "company": "Company",
        "industry": "Industry",
        "employees": "NumberOfEmployees",
        "annual_revenue": "AnnualRevenue",
        "country": "Country",
        "region": "State",
        "city": "City",
        "phone": "Phone",
        "website": "Website",
        "lead_source": "LeadSource",
        "lead_status": "Status",
        "owner_id": "OwnerId",
        "created_at": "CreatedDate",
    }
)

# canonical name -> Contact field (company data lives on the Account)
DEFAULT_CONTACT_FIELD_MAP: Mapping[str, str] = MappingProxyType(
    {
        "email": "Email",
        "first_name": "FirstName",
        "last_name": "LastName",
        "title": "Title",
        "company": "Account.Name",
        "industry": "Account.Industry",
        "employees": "Account.NumberOfEmployees",
        "website": "Account.Website",
        "country": "MailingCountry",
        "region": "MailingState",
        "city": "MailingCity",
        "phone": "Phone",
        "lead_source": "LeadSource",
        "owner_id": "OwnerId",
        "created_at": "CreatedDate",
    }
)

# What a Task / Event / CampaignMember means, looked up in this order (case-insensitive):
#   Task:            the Subject's label before ':' ("Email Opened: ..."), then TaskSubtype, then Type
#   Event:           Type, then "Event"
#   CampaignMember:  "<Campaign.Type>/<Status>", then Campaign.Type, then "CampaignMember"
DEFAULT_ACTIVITY_TYPE_MAP: Mapping[str, str] = MappingProxyType(
    {
        # Task subject labels, as sales-engagement and marketing tools log them
        "Email Opened": "email_open",
        "Email Clicked": "email_click",
        "Email Reply": "email_reply",
        "Email Bounced": "bounce",
        "Unsubscribed": "unsubscribe",
        "Page View": "page_view",
        "Demo Request": "demo_request",
        "Note": "note",
        "LinkedIn": "social_engagement",
        # TaskSubtype / Type
        "Email": "email_sent",
        "ListEmail": "email_sent",
        "Cadence": "email_sent",
        "Call": "call",
        "Task": "other",
        "Meeting": "meeting",
        "Other": "other",
        # Event
        "Event": "meeting",
        # CampaignMember: Campaign.Type / Status
        "Webinar/Attended": "webinar_attended",
        "Webinar/Registered": "webinar_registration",
        "Webinar": "webinar_registration",
        "Content": "content_download",
        "Website": "form_submission",
        "CampaignMember": "form_submission",
    }
)

AUTH_MODES = ("password", "jwt", "client_credentials", "session")
SHARED_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")  # no client credentials there (crm-api §3.1)


@dataclass(frozen=True)
class SalesforceConfig:
    """One Salesforce org.  Auth modes (``auth="auto"`` picks the first that the settings allow):

    - ``password``: username + password + security token, with a connected app's consumer key/secret;
    - ``jwt``: username + consumer key + private key (file or PEM) of the app's certificate;
    - ``client_credentials``: consumer key/secret of an app with a run-as user;
    - ``session``: an existing session id (access token) + ``instance_url``; cannot re-login.
    """

    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key_file: str | None = None
    private_key: SecretStr | None = None
    session_id: SecretStr | None = None
    instance_url: str | None = None
    auth: str = "auto"
    login_url: str = "https://login.salesforce.com"  # https://test.salesforce.com or a My Domain URL
    jwt_audience: str | None = None  # default: login or test URL, by login_url
    api_version: str = "59.0"
    ca_path: str | None = None
    objects: Sequence[str] = ("Lead",)  # "Lead", "Contact" or both
    page_size: int = 2000  # query batch size, 200..2000; below 200: LIMIT + keyset pages, one call each
    field_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_LEAD_FIELD_MAP)
    contact_field_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_CONTACT_FIELD_MAP)
    extra_fields: Sequence[str] = ()
    # the model's fields, model name -> API name: read where the object has them (one describe finds which)
    scoring_fields: Mapping[str, str] = field(default_factory=dict)
    activity_type_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_ACTIVITY_TYPE_MAP)
    overlap_seconds: float = 1.0  # re-read this much before the cursor; SystemModstamp has whole seconds
    max_seen: int = 20_000  # ids kept in a cursor to dedupe the overlap window
    max_url_bytes: int = 16_000  # Salesforce refuses URIs over 16,384 bytes
    records_per_collection: int = 200  # sObject Collections maximum
    collections_per_call: int = 5  # Composite: up to 5 collections or queries per call
    lost_statuses: Sequence[str] = ("Closed - Not Converted",)
    converted_counts_as_won: bool = True
    timeout: float = 120.0
    max_attempts: int = 6
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False, compare=False)
    # the contact objects' field names from their describe, kept between runs (sync passes the state store's)
    fields_cache: FieldsCache | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_settings(
        cls,
        section: Any,
        *,
        extra_fields: Sequence[str] = (),
        model_fields: Mapping[str, str] = MappingProxyType({}),
        **overrides: Any,
    ) -> SalesforceConfig:
        """Build from a settings object (``sync.settings.SalesforceSettings`` or any object with the same
        attribute names), reading ``extra_fields`` (the write-back fields) and ``model_fields`` too; its single
        ``object`` becomes ``objects``; ``overrides`` win (ca_path, sleep...)."""
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name in names:
            if hasattr(section, name) and getattr(section, name) is not None:
                values[name] = getattr(section, name)
        if getattr(section, "object", None):
            values["objects"] = (str(section.object),)
        if values.get("private_key_file") is not None:
            values["private_key_file"] = str(values["private_key_file"])
        if extra_fields:
            values["extra_fields"] = tuple(extra_fields)
        if model_fields:
            values["scoring_fields"] = dict(model_fields)
        values.update(overrides)
        return cls(**values)

    from_config = from_settings  # the former name, still used by callers written before the rename

    def auth_mode(self) -> str:
        if self.auth != "auto":
            if self.auth not in AUTH_MODES:
                raise ConfigurationError(
                    f"Salesforce auth must be one of {', '.join(AUTH_MODES)} or auto, not {self.auth!r}.",
                    crm="salesforce",
                )
            return self.auth
        if self.session_id and self.instance_url:
            return "session"
        if self.username and self.consumer_key and (self.private_key_file or self.private_key):
            return "jwt"
        if self.username and self.password and self.consumer_key and self.consumer_secret:
            return "password"
        if self.consumer_key and self.consumer_secret:
            return "client_credentials"
        raise ConfigurationError(
            "Salesforce settings name no way to log in: give username + password + security token + consumer "
            "key/secret, or username + consumer key + private key (JWT), or consumer key/secret (client "
            "credentials), or session_id + instance_url.",
            crm="salesforce",
        )

    def validate(self) -> None:
        if self.auth_mode() == "client_credentials":
            host = (urlsplit(self.login_url).hostname or "").lower()
            if host in SHARED_LOGIN_HOSTS:
                raise ConfigurationError(
                    f"Salesforce serves the client-credentials flow only on an org's My Domain, not on {host}: "
                    "set login_url to your My Domain URL (Setup > My Domain), e.g. "
                    "https://yourcompany.my.salesforce.com, or use the JWT bearer flow.",
                    crm="salesforce",
                )
        bad = [o for o in self.objects if o not in ("Lead", "Contact")]
        if bad or not self.objects:
            raise ConfigurationError(
                f"Salesforce objects must be Lead and/or Contact, not {', '.join(bad) or 'nothing'}.",
                crm="salesforce",
            )
        most = crm_info("salesforce").max_page_size
        if not 1 <= self.page_size <= most:
            raise ConfigurationError(f"Salesforce page_size must be between 1 and {most}.", crm="salesforce")
        if not 1 <= self.records_per_collection <= 200 or not 1 <= self.collections_per_call <= 5:
            raise ConfigurationError(
                "Salesforce allows at most 200 records per collection and 5 collections per composite call.",
                crm="salesforce",
            )

    def secrets(self) -> list[str]:
        values = [self.password, self.security_token, self.consumer_secret, self.private_key, self.session_id]
        return [v.get_secret_value() for v in values if v is not None]

    def fields_for(self, sobject: str) -> Mapping[str, str]:
        return self.field_map if sobject == "Lead" else self.contact_field_map
