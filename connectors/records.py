"""The normalized shapes every part of leadsync shares.

Adapters turn each CRM's payloads into these records; the scoring engine reads them; the sync writes
``FieldUpdate`` values back through the adapter and gets a ``WriteResult`` per record.  They are plain
frozen dataclasses so they are cheap to build by the hundred thousand and safe to pass between threads.

Every datetime in these records is timezone-aware (UTC once normalized); an adapter that meets a naive or
unparseable timestamp either repairs it (documented in the adapter) or reports the record as bad.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# A CRM field value as leadsync sees it after JSON decoding.
FieldValue = str | int | float | bool | None


class ActivityType(StrEnum):
    """Canonical activity types: what a contact did, whatever the CRM calls it."""

    PAGE_VIEW = "page_view"
    FORM_SUBMISSION = "form_submission"
    DEMO_REQUEST = "demo_request"
    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    EMAIL_REPLY = "email_reply"
    EMAIL_SENT = "email_sent"
    MEETING = "meeting"
    CALL = "call"
    WEBINAR_REGISTRATION = "webinar_registration"
    WEBINAR_ATTENDED = "webinar_attended"
    CONTENT_DOWNLOAD = "content_download"
    SOCIAL_ENGAGEMENT = "social_engagement"
    UNSUBSCRIBE = "unsubscribe"
    BOUNCE = "bounce"
    NOTE = "note"
    OTHER = "other"


# Canonical contact field names.  Adapters map their CRM's own field names onto these (the mapping is
# configurable per installation); any other CRM field an installation asks for keeps its CRM name.
CANONICAL_FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "title",
    "company",
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "region",
    "city",
    "phone",
    "website",
    "lead_source",
    "lifecycle_stage",
    "lead_status",
    "owner_id",
    "company_owner_id",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class Contact:
    """One person in the CRM: a HubSpot contact, a Salesforce Lead or Contact, a Pipedrive person.

    ``fields`` holds canonical names (see ``CANONICAL_FIELDS``) and any extra CRM fields the installation
    reads (rollup properties such as ``hs_analytics_num_page_views`` keep their CRM names), plus the
    current values of the write-back fields so the sync can compare before it writes.
    ``updated_at`` is the CRM's own change timestamp, the cursor the adapter pages on.
    ``protected`` is set by the adapter when the CRM itself forbids updates (a converted Salesforce lead).
    """

    id: str
    updated_at: datetime
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    object_type: str = "contact"
    protected: bool = False
    merged_from: tuple[str, ...] = ()

    def get(self, name: str, default: FieldValue = None) -> FieldValue:
        return self.fields.get(name, default)


@dataclass(frozen=True, slots=True)
class Activity:
    """Something a contact did, with a canonical ``type`` and the CRM's own name in ``source_type``."""

    id: str
    contact_id: str
    type: str
    occurred_at: datetime
    attributes: Mapping[str, FieldValue] = field(default_factory=dict)
    source_type: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A won or lost result for a contact, used to calibrate the model."""

    contact_id: str
    won: bool
    closed_at: datetime | None = None
    amount: float | None = None
    source_id: str = ""


@dataclass(frozen=True, slots=True)
class Owner:
    """A CRM user who can own contacts."""

    id: str
    name: str = ""
    email: str = ""
    active: bool = True
    teams: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldUpdate:
    """The CRM field values to set on one contact, keyed by the CRM's own field names."""

    contact_id: str
    values: Mapping[str, FieldValue]
    object_type: str = "contact"


class WriteStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the CRM refused this record; retrying the same values will not help
    RETRY = "retry"  # the record was not written for a transient reason; try it again later
    SKIPPED = "skipped"  # not sent on purpose (protected record, nothing to write)
    GONE = "gone"  # the record no longer exists (deleted, or merged away with no survivor given): never retried


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What happened to one ``FieldUpdate``; ``contact_id`` is the surviving id after a merge."""

    contact_id: str
    status: WriteStatus
    error: str = ""
    error_code: str = ""
    requested_id: str = ""

    @property
    def ok(self) -> bool:
        return self.status is WriteStatus.OK


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A write-back field leadsync needs in the CRM."""

    name: str
    label: str
    type: str  # "number" | "string" | "datetime" | "enumeration" | "multiselect" (options, several at once)
    description: str = ""
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """The result of checking (and maybe creating) write-back fields."""

    present: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    instructions: str = ""  # what the user must do by hand when leadsync may not create fields itself
    field_keys: Mapping[str, str] = field(default_factory=dict)  # our name -> CRM key (Pipedrive hashes)


@dataclass(frozen=True, slots=True)
class ContactPage:
    """One batch of contacts read from the CRM, and the cursor to store once it has been processed.

    ``deleted_ids``: contacts the same read found deleted (not merged) since the cursor, where the CRM's
    incremental read returns them with the changes (Salesforce ``queryAll``); a merge is on the survivor's
    ``Contact.merged_from`` instead."""

    contacts: tuple[Contact, ...]
    cursor: str | None
    done: bool = False
    deleted_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """API calls made and quota left, as last reported by the CRM."""

    calls_by_endpoint: Mapping[str, int] = field(default_factory=dict)
    quota_used: int | None = None
    quota_limit: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_calls(self) -> int:
        return sum(self.calls_by_endpoint.values())

    @property
    def quota_left(self) -> int | None:
        if self.quota_used is None or self.quota_limit is None:
            return None
        return max(self.quota_limit - self.quota_used, 0)


@dataclass(frozen=True, slots=True)
class FieldChangeRecord:
    """One change of one contact field, from the CRM's field history: ``field`` is the key the adapter's
    ``Contact.fields`` uses, the values are typed as the adapter types them in a ``Contact``."""

    field: str
    changed_at: datetime
    old_value: FieldValue
    new_value: FieldValue
