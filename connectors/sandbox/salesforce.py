"""Salesforce REST API emulation: OAuth, SOQL query/queryAll with query locators, sObject Collections,
Composite, describe, limits and the daily API allocation, over the sandbox's TLS server.

What is emulated (API version in the path is free: any ``vXX.X``):

- ``POST /services/oauth2/token``: ``password`` (password + security token, client id/secret),
  ``client_credentials`` (Basic header or form fields) and the JWT bearer grant (RS256 signature checked
  against a key registered with ``register_jwt_key``; ``iss`` = consumer key, ``sub`` = username,
  ``aud`` = a login URL; ``exp`` in the future and at most 3 minutes ahead, on the sandbox clock).
  Token requests do not count against the API allocation, as on Salesforce.
- ``GET .../query?q=`` and ``.../queryAll?q=`` (the SOQL subset of ``soql.py``; relationship fields one
  level deep such as ``Owner.Name`` or ``Campaign.Type``, in SELECT and WHERE), batches of 2,000 (or
  ``Sforce-Query-Options: batchSize=200..2000``), ``nextRecordsUrl`` = ``.../query/01g...-<offset>``.
  A locator holds the matching ids at query time (a snapshot); each batch is read fresh.  Fetching the
  same ``nextRecordsUrl`` twice returns the same batch, so a client may retry it.
- ``PATCH .../composite/sobjects`` (<= 200 records, else 400 ``EXCEEDED_ID_LIMIT``; ``allOrNone``),
  ``PATCH .../sobjects/{type}/{id}``, ``GET .../sobjects/{type}/{id}``.
- ``POST .../composite`` (<= 25 subrequests, <= 5 of them queries or collections; one API call).
  Reference substitution (``@{ref.id}``) is not emulated; with ``allOrNone`` true, the subrequests after a
  failure are not run (``PROCESSING_HALTED``) but earlier writes are not rolled back.
- ``GET .../sobjects/{type}/describe``, ``GET .../limits``, ``GET /services/data/`` (versions, no auth).
- ``Sforce-Limit-Info: api-usage=used/limit`` on every authenticated response; the allocation (15,000 a
  day, Developer Edition) is a rolling 24 h on the sandbox clock; when spent: 403 ``REQUEST_LIMIT_EXCEEDED``.
  The 25 concurrent long-running requests cap is not emulated (no sandbox request lasts 20 s).
- Sessions time out after 2 h without use (sandbox clock); ``expire_sessions()`` ends them all: 401
  ``INVALID_SESSION_ID``.  Request URIs over 16,384 bytes get 414, as Salesforce documents.
- ``Sforce-Auto-Assign``: absent or TRUE, an updated Lead is re-routed by the org's assignment rule to the
  "Lead Routing" queue (``QUEUE_ID``); FALSE leaves the owner alone.  Each value received is logged in
  ``auto_assign_log``.  In a composite subrequest only the subrequest's own ``httpHeaders`` count.

Assumptions (documented behaviour where found, otherwise noted here):
- Creating a Task, Event or CampaignMember does not change the Lead's or Contact's SystemModstamp: a sync
  must read activity changes itself.
- Loading a dataset: a person with ``converted`` or a won outcome becomes a converted Lead (Status
  'Closed - Converted', IsConverted, with the Contact, Account and, for outcomes, the Opportunity that
  conversion creates, linked by ``ConvertedOpportunityId`` and an OpportunityContactRole); their activities
  sit on the Contact, as conversion moves them there.  A lost outcome on an unconverted lead becomes Status
  'Closed - Not Converted'.
- Email opens/clicks/replies, page views, demo requests and the like are Tasks whose Subject starts with a
  label ("Email Opened: ..."), as sales-engagement tools log them; meetings are Events; webinars, content
  downloads and form fills are CampaignMembers of a Campaign whose Type says which.
- Per-record failures injected by ``faults.record_fails``: records in ``fail_records`` (always failing) get
  ``record_failure_code`` (FIELD_CUSTOM_VALIDATION_EXCEPTION, a validation rule); drawn ones (which usually
  pass on retry) get UNABLE_TO_LOCK_ROW.  Injected 429 faults answer as Salesforce does when the concurrent
  request cap is hit: 403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded.".
- ``POST .../composite`` is counted as ``salesforce.composite`` when a subrequest writes and
  ``salesforce.composite_read`` when all are GETs (one call against the allocation either way).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from connectors.sandbox import soql
from connectors.sandbox.core import BadRequest, CRMApi, Request, Response, Route, route
from connectors.sandbox.dataset import Dataset, SampleActivity, SamplePerson

# key prefixes of the standard objects (the first three characters of every id)
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "User": "005",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "CampaignMember": "00v",
    "OpportunityContactRole": "00K",
    "Campaign": "701",
    "LeadStatus": "01J",
    "Group": "00G",
}
PREFIX_TO_TYPE = {prefix: name for name, prefix in KEY_PREFIXES.items()}

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def id18(id15: str) -> str:
    """Salesforce's case-safe 18-character id: three checksum characters encode the upper-case letters."""
    if len(id15) == 18:
        return id15
    if len(id15) != 15:
        raise ValueError(f"not a Salesforce id: {id15!r}")
    suffix = ""
    for chunk in range(3):
        flags = 0
        for pos, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                flags |= 1 << pos
        suffix += _CHECKSUM_ALPHABET[flags]
    return id15 + suffix


def make_id(prefix: str, number: int) -> str:
    """A deterministic 18-character id; ids of one object sort in creation order."""
    digits = ""
    n = number
    while True:
        n, rem = divmod(n, 62)
        digits = _BASE62[rem] + digits
        if n == 0:
            break
    return id18(prefix + "Sb0" + digits.rjust(9, "0"))


def looks_like_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum()


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: str  # id, string, email, phone, url, picklist, boolean, int, double, currency, date, datetime,
    #            reference, textarea
    label: str = ""
    custom: bool = False
    updateable: bool = True
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    nillable: bool = True

    def describe(self, default_picklist: str | None = None) -> dict[str, Any]:
        soap = {
            "id": "tns:ID",
            "reference": "tns:ID",
            "boolean": "xsd:boolean",
            "int": "xsd:int",
            "double": "xsd:double",
            "currency": "xsd:double",
            "date": "xsd:date",
            "datetime": "xsd:dateTime",
        }.get(self.type, "xsd:string")
        return {
            "name": self.name,
            "label": self.label or _label(self.name),
            "type": self.type,
            "soapType": soap,
            "custom": self.custom,
            "updateable": self.updateable,
            "createable": self.updateable,
            "nillable": self.nillable,
            "filterable": self.type != "textarea",
            "sortable": self.type != "textarea",
            "calculated": False,
            "unique": False,
            "externalId": False,
            "autoNumber": False,
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "defaultValue": None,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == default_picklist,
                    "label": value,
                    "validFor": None,
                    "value": value,
                }
                for value in self.picklist
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
        }


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id") if name != "Id" else "Record ID"
    out = ""
    for i, ch in enumerate(base.replace("_", " ")):
        if i and ch.isupper() and base[i - 1].islower():
            out += " "
        out += ch
    return out


def _f(name: str, type_: str, **kw: Any) -> FieldDef:
    return FieldDef(name, type_, **kw)


def _ro(name: str, type_: str, **kw: Any) -> FieldDef:
    return FieldDef(name, type_, updateable=False, **kw)


def _ref(name: str, to: tuple[str, ...], rel: str, updateable: bool = True) -> FieldDef:
    return FieldDef(name, "reference", reference_to=to, relationship_name=rel, updateable=updateable, length=18)


_AUDIT = (
    _ro("IsDeleted", "boolean", nillable=False),
    _ro("CreatedDate", "datetime", nillable=False),
    _ro("LastModifiedDate", "datetime", nillable=False),
    _ro("SystemModstamp", "datetime", nillable=False),
)

LEAD_STATUSES: tuple[tuple[str, bool, bool], ...] = (
    # (value, IsConverted, IsDefault): a Developer Edition org's standard Lead Status values
    ("Open - Not Contacted", False, True),
    ("Working - Contacted", False, False),
    ("Closed - Converted", True, False),
    ("Closed - Not Converted", False, False),
)
INDUSTRIES = (
    "Agriculture", "Banking", "Communications", "Consulting", "Education", "Electronics", "Energy",
    "Engineering", "Finance", "Government", "Healthcare", "Insurance", "Manufacturing", "Media",
    "Not For Profit", "Retail", "Technology", "Telecommunications", "Transportation", "Other",
)  # fmt: skip
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
TASK_TYPES = ("Call", "Email", "Meeting", "Other")
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
# Webinar is a standard Campaign Type; Content and Website are values this org added to the picklist.
CAMPAIGN_TYPES = (
    "Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program",
    "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Content", "Website", "Other",
)  # fmt: skip


def standard_objects() -> dict[str, list[FieldDef]]:
    person_common = (
        _ro("Id", "id", nillable=False, length=18),
        _ref("MasterRecordId", (), "MasterRecord", updateable=False),
        _f("FirstName", "string", length=40),
        _f("LastName", "string", length=80, nillable=False),
        _ro("Name", "string", length=121),
        _f("Email", "email", length=80),
        _f("Title", "string", length=128),
        _f("Phone", "phone", length=40),
        _f("LeadSource", "picklist", length=255, picklist=LEAD_SOURCES),
        _f("HasOptedOutOfEmail", "boolean", nillable=False),
        _ref("OwnerId", ("User", "Group"), "Owner"),
    )
    return {
        "Lead": [
            *person_common,
            _f("Company", "string", length=255, nillable=False),
            _f("Industry", "picklist", length=255, picklist=INDUSTRIES),
            _f("NumberOfEmployees", "int"),
            _f("AnnualRevenue", "currency", precision=18, scale=0),
            _f("Country", "string", length=80),
            _f("State", "string", length=80),
            _f("City", "string", length=40),
            _f("Website", "url", length=255),
            _f("Status", "picklist", length=255, nillable=False, picklist=tuple(s[0] for s in LEAD_STATUSES)),
            _ro("IsConverted", "boolean", nillable=False),
            _ro("ConvertedDate", "date"),
            _ref("ConvertedAccountId", ("Account",), "ConvertedAccount", updateable=False),
            _ref("ConvertedContactId", ("Contact",), "ConvertedContact", updateable=False),
            _ref("ConvertedOpportunityId", ("Opportunity",), "ConvertedOpportunity", updateable=False),
            _ro("LastActivityDate", "date"),
            *_AUDIT,
            _f("Employee_Range__c", "string", length=40, custom=True, label="Employee Range"),
            _f("Lead_Score__c", "double", precision=18, scale=0, custom=True, label="Lead Score"),
        ],
        "Contact": [
            *person_common,
            _ref("AccountId", ("Account",), "Account"),
            _f("Department", "string", length=80),
            _f("MailingCountry", "string", length=80),
            _f("MailingState", "string", length=80),
            _f("MailingCity", "string", length=40),
            _ro("LastActivityDate", "date"),
            *_AUDIT,
            _f("Lead_Score__c", "double", precision=18, scale=0, custom=True, label="Lead Score"),
        ],
        "Account": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Name", "string", length=255, nillable=False),
            _f("Industry", "picklist", length=255, picklist=INDUSTRIES),
            _f("NumberOfEmployees", "int"),
            _f("Website", "url", length=255),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "Task": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("WhoId", ("Contact", "Lead"), "Who"),
            _ref("WhatId", ("Account", "Opportunity", "Campaign"), "What"),
            _f("Subject", "string", length=255),
            _f("Type", "picklist", length=255, picklist=TASK_TYPES),
            _f("TaskSubtype", "picklist", length=255, picklist=TASK_SUBTYPES),
            _f("Status", "picklist", length=255, picklist=("Not Started", "In Progress", "Completed")),
            _f("Priority", "picklist", length=255, picklist=("High", "Normal", "Low")),
            _f("ActivityDate", "date"),
            _f("CompletedDateTime", "datetime"),
            _f("Description", "textarea", length=32000),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "Event": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("WhoId", ("Contact", "Lead"), "Who"),
            _ref("WhatId", ("Account", "Opportunity", "Campaign"), "What"),
            _f("Subject", "string", length=255),
            _f("Type", "picklist", length=255, picklist=TASK_TYPES),
            _f("StartDateTime", "datetime"),
            _f("EndDateTime", "datetime"),
            _f("ActivityDateTime", "datetime"),
            _f("DurationInMinutes", "int"),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "Campaign": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Name", "string", length=80, nillable=False),
            _f("Type", "picklist", length=255, picklist=CAMPAIGN_TYPES),
            _f("Status", "picklist", length=255, picklist=("Planned", "In Progress", "Completed", "Aborted")),
            _f("IsActive", "boolean"),
            _f("StartDate", "date"),
            *_AUDIT,
        ],
        "CampaignMember": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("CampaignId", ("Campaign",), "Campaign", updateable=False),
            _ref("LeadId", ("Lead",), "Lead", updateable=False),
            _ref("ContactId", ("Contact",), "Contact", updateable=False),
            _f("Status", "picklist", length=255),
            _ro("HasResponded", "boolean"),
            _ro("FirstRespondedDate", "date"),
            *_AUDIT,
        ],
        "Opportunity": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Name", "string", length=120, nillable=False),
            _f("StageName", "picklist", length=255, nillable=False),
            _ro("IsClosed", "boolean"),
            _ro("IsWon", "boolean"),
            _f("CloseDate", "date", nillable=False),
            _f("Amount", "currency", precision=18, scale=2),
            _ref("AccountId", ("Account",), "Account"),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "OpportunityContactRole": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("OpportunityId", ("Opportunity",), "Opportunity", updateable=False),
            _ref("ContactId", ("Contact",), "Contact"),
            _f("Role", "picklist", length=40),
            _f("IsPrimary", "boolean"),
            *_AUDIT,
        ],
        "User": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Username", "string", length=80),
            _f("FirstName", "string", length=40),
            _f("LastName", "string", length=80),
            _ro("Name", "string", length=121),
            _f("Email", "email", length=128),
            _f("IsActive", "boolean"),
            _f("Department", "string", length=80),
            _ro("UserType", "picklist", length=40),
            *_AUDIT,
        ],
        "LeadStatus": [
            _ro("Id", "id", nillable=False, length=18),
            _ro("MasterLabel", "string", length=255),
            _ro("ApiName", "string", length=255),
            _ro("IsConverted", "boolean"),
            _ro("IsDefault", "boolean"),
            _ro("SortOrder", "int"),
            *_AUDIT,
        ],
    }


@dataclass
class ObjectSchema:
    name: str
    fields: dict[str, FieldDef] = field(default_factory=dict)  # lower-case name -> definition

    def get(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def add(self, definition: FieldDef) -> None:
        self.fields[definition.name.lower()] = definition

    def relationship(self, name: str) -> FieldDef | None:
        lname = name.lower()
        for definition in self.fields.values():
            if definition.relationship_name and definition.relationship_name.lower() == lname:
                return definition
        return None


def build_schemas() -> dict[str, ObjectSchema]:
    out: dict[str, ObjectSchema] = {}
    for name, defs in standard_objects().items():
        schema = ObjectSchema(name)
        for definition in defs:
            schema.add(definition)
        out[name] = schema
    return out


# -- the org ---------------------------------------------------------------------------------------------
ORG_ID = id18("00DSb0000000001")
QUEUE_ID = make_id("00G", 1)  # the "Lead Routing" queue the org's assignment rule sends leads to
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
API_WINDOW_S = 24 * 3600
QUERY_BATCH_MAX = 2000
QUERY_BATCH_MIN = 200
COLLECTION_MAX = 200
COMPOSITE_MAX_SUBREQUESTS = 25
COMPOSITE_MAX_QUERIES = 5  # queries and sObject Collections together

# What the CLI prints so a user can point leadsync at the sandbox.
SANDBOX_CREDENTIALS: dict[str, str] = {
    "username": "integration@leadsync.sandbox",
    "password": "sandbox-password",
    "security_token": "SBXSECURITYTOKEN",
    "consumer_key": "3MVG9leadsync.sandbox.connected.app",
    "consumer_secret": "leadsync-sandbox-consumer-secret",
    "session_id": f"{ORG_ID[:15]}!AQsandbox.static.session.id",
}

DEFAULT_LIMITS: dict[str, Any] = {
    "daily_api_requests": 15_000,  # Developer Edition
    "session_timeout_s": 2 * 3600,
    "max_uri_bytes": 16_384,
}

_V = r"/services/data/v(?P<version>\d+\.\d+)"
_NO_AUTH = {"salesforce.versions", "salesforce.oauth.token"}

# canonical activity type -> (Task Type, TaskSubtype, Subject label)
TASK_KINDS: dict[str, tuple[str, str, str]] = {
    "email_sent": ("Email", "Email", "Email"),
    "email_open": ("Email", "Email", "Email Opened"),
    "email_click": ("Email", "Email", "Email Clicked"),
    "email_reply": ("Email", "Email", "Email Reply"),
    "bounce": ("Email", "Email", "Email Bounced"),
    "unsubscribe": ("Email", "Email", "Unsubscribed"),
    "call": ("Call", "Call", "Call"),
    "page_view": ("Other", "Task", "Page View"),
    "demo_request": ("Other", "Task", "Demo Request"),
    "social_engagement": ("Other", "LinkedIn", "LinkedIn"),
    "note": ("Other", "Task", "Note"),
    "other": ("Other", "Task", ""),
}
# canonical activity type -> (Campaign Type, CampaignMember Status)
CAMPAIGN_KINDS: dict[str, tuple[str, str]] = {
    "webinar_registration": ("Webinar", "Registered"),
    "webinar_attended": ("Webinar", "Attended"),
    "content_download": ("Content", "Downloaded"),
    "form_submission": ("Website", "Responded"),
}

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS sf_record (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    sysmod TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sf_record_type_sysmod ON sf_record(type, sysmod, id);
CREATE INDEX IF NOT EXISTS sf_record_who ON sf_record(type, json_extract(data, '$.WhoId'));
CREATE INDEX IF NOT EXISTS sf_record_lead ON sf_record(type, json_extract(data, '$.LeadId'));
CREATE INDEX IF NOT EXISTS sf_record_contact ON sf_record(type, json_extract(data, '$.ContactId'));
CREATE INDEX IF NOT EXISTS sf_record_opp ON sf_record(type, json_extract(data, '$.OpportunityId'));
CREATE TABLE IF NOT EXISTS sf_custom_field (
    sobject TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (sobject, name)
);
"""


def sf_datetime(value: datetime) -> str:
    """Salesforce's datetime text: UTC, milliseconds always .000 (the sandbox truncates to seconds)."""
    return value.astimezone(UTC).strftime(soql.SF_DATETIME_FORMAT)


class _SfError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Session:
    user_id: str
    last_used: float


@dataclass
class _Plan:
    """What a SELECT returns: plain fields, and relationship fields grouped under their relationship."""

    sobject: str
    items: list[tuple[str, Any]]  # ("field", FieldDef) | ("rel", (rel_name, fk FieldDef, [FieldDef]))


@dataclass
class _Locator:
    ids: list[str]
    plan: _Plan
    kind: str
    batch: int


@dataclass
class _Staged:
    id: str
    type: str
    data: dict[str, Any]


@dataclass
class SalesforceOrg:
    """Users, connected apps and keys the sandbox's OAuth endpoint accepts."""

    integration_user_id: str = ""
    logins: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # username -> (pw, token, user id)
    apps: dict[str, str] = field(default_factory=dict)  # consumer key -> consumer secret
    jwt_keys: dict[str, list[Any]] = field(default_factory=dict)  # consumer key -> public keys


class SalesforceApi(CRMApi):
    crm = "salesforce"
    prefixes = ("/services/",)

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.clock = sandbox.clock
        self.schemas = build_schemas()
        self.org = SalesforceOrg()
        self.auto_assign_log: list[str | None] = []
        self.record_failure_code = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self._sessions: dict[str, _Session] = {}
        self._locators: OrderedDict[str, _Locator] = OrderedDict()
        self._counters: dict[str, int] = {}
        self._campaigns: dict[tuple[str, str], str] = {}
        self._members: set[tuple[str, str]] = set()
        with self.store.read() as conn:
            conn.executescript(_SCHEMA_SQL)
            # custom fields an admin created are part of the org: a --db file served again keeps them
            for sobject, raw in conn.execute("SELECT sobject, definition FROM sf_custom_field ORDER BY rowid"):
                spec = json.loads(raw)
                self.schemas[sobject].add(FieldDef(**{**spec, "picklist": tuple(spec["picklist"])}))
        self._seed()

    # -- configuration ---------------------------------------------------------------------------------
    def limit(self, name: str) -> Any:
        return {**DEFAULT_LIMITS, **self.sandbox.config.limits.get("salesforce", {})}[name]

    def _seed(self) -> None:
        creds = SANDBOX_CREDENTIALS
        user = self._insert(
            "User",
            {
                "Username": creds["username"],
                "FirstName": "Integration",
                "LastName": "User",
                "Email": "integration@leadsync.sandbox",
                "IsActive": True,
                "UserType": "Standard",
            },
        )
        self.org.integration_user_id = user
        self.org.logins[creds["username"]] = (creds["password"], creds["security_token"], user)
        self.org.apps[creds["consumer_key"]] = creds["consumer_secret"]
        self._sessions[creds["session_id"]] = _Session(user, float("inf"))
        for order, (value, converted, default) in enumerate(LEAD_STATUSES, start=1):
            self._insert(
                "LeadStatus",
                {
                    "MasterLabel": value,
                    "ApiName": value,
                    "IsConverted": converted,
                    "IsDefault": default,
                    "SortOrder": order,
                },
            )

    # -- ids, time, storage ----------------------------------------------------------------------------
    def _now(self) -> str:
        return sf_datetime(self.clock.now())

    def _new_id(self, sobject: str) -> str:
        with self._lock:
            n = self._counters.get(sobject, 0) + 1
            self._counters[sobject] = n
        return make_id(KEY_PREFIXES[sobject], n)

    def _prepare(self, sobject: str, values: dict[str, Any], when: str | None = None) -> dict[str, Any]:
        when = when or self._now()
        data: dict[str, Any] = {"Id": self._new_id(sobject), "IsDeleted": False}
        data.update({"CreatedDate": when, "LastModifiedDate": when, "SystemModstamp": when})
        data.update(values)
        if sobject in ("Lead", "Contact", "User"):
            data["Name"] = _full_name(data)
        return data

    def _insert(self, sobject: str, values: dict[str, Any], when: str | None = None) -> str:
        data = self._prepare(sobject, values, when)
        self._write_rows([(sobject, data)])
        return str(data["Id"])

    def _write_rows(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        params = [(d["Id"], t, d["SystemModstamp"], int(bool(d.get("IsDeleted"))), json.dumps(d)) for t, d in rows]
        with self.store.tx() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO sf_record (id, type, sysmod, deleted, data) VALUES (?, ?, ?, ?, ?)",
                params,
            )

    def _get(self, record_id: str) -> tuple[str, dict[str, Any], bool] | None:
        with self.store.read() as conn:
            row = conn.execute("SELECT type, data, deleted FROM sf_record WHERE id = ?", (record_id,)).fetchone()
        if row is None:
            return None
        return row["type"], json.loads(row["data"]), bool(row["deleted"])

    def _fetch(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        with self.store.read() as conn:
            for start in range(0, len(ids), 900):
                chunk = list(ids[start : start + 900])
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT id, type, data FROM sf_record WHERE id IN ({marks})", chunk):
                    out[row["id"]] = (row["type"], json.loads(row["data"]))
        return out

    # -- CRMApi hooks ----------------------------------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        g = self._guard
        return [
            route("GET", r"/services/data/?", g(self.versions), "salesforce.versions"),
            route("POST", r"/services/oauth2/token", g(self.token), "salesforce.oauth.token"),
            route("GET", _V + r"/query/?", g(self.query), "salesforce.query"),
            route("GET", _V + r"/queryAll/?", g(self.query), "salesforce.queryAll"),
            route(
                "GET",
                _V + r"/(?P<kind>query|queryAll)/(?P<locator>01g[A-Za-z0-9]+)-(?P<pos>\d+)/?",
                g(self.query_more),
                "salesforce.query_more",
            ),
            route("PATCH", _V + r"/composite/sobjects/?", g(self.collections_update), "salesforce.composite.sobjects"),
            route("POST", _V + r"/composite/?", g(self.composite), "salesforce.composite"),
            route("GET", _V + r"/sobjects/(?P<sobject>\w+)/describe/?", g(self.describe), "salesforce.describe"),
            route(
                "GET",
                _V + r"/sobjects/(?P<sobject>\w+)/(?P<id>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})/?",
                g(self.retrieve),
                "salesforce.sobject.get",
            ),
            route(
                "PATCH",
                _V + r"/sobjects/(?P<sobject>\w+)/(?P<id>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})/?",
                g(self.update_one),
                "salesforce.sobject.update",
            ),
            route("GET", _V + r"/limits/?", g(self.limits), "salesforce.limits"),
        ]

    def _guard(self, handler: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                response: Response = handler(request)
                return response
            except _SfError as exc:
                return self._errors(exc.status, exc.code, exc.message)
            except soql.SoqlError as exc:
                return self._errors(400, "MALFORMED_QUERY", str(exc))

        return run

    def error(self, status: int, message: str, request: Request) -> Response:
        code = {400: "JSON_PARSER_ERROR", 401: "INVALID_SESSION_ID", 404: "NOT_FOUND"}.get(status, "UNKNOWN_EXCEPTION")
        if status == 404:
            message = "The requested resource does not exist"
        return self._errors(status, code, message)

    def rate_limited(self, request: Request, endpoint: str) -> Response:
        """Salesforce has no 429: a burst over the concurrent long-running request cap is a 403."""
        return self._errors(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")

    @staticmethod
    def _errors(status: int, code: str, message: str) -> Response:
        return Response(status, [{"message": message, "errorCode": code}])

    def before(self, request: Request, endpoint: str) -> Response | None:
        if endpoint in _NO_AUTH:
            return None
        uri = len(request.path) + 1 + len(urlencode(request.query, doseq=True))
        if uri > self.limit("max_uri_bytes"):
            return self._errors(414, "URI_TOO_LONG", f"Request-URI of {uri} bytes exceeds the 16,384-byte limit")
        if not self._session_ok(_bearer(request)):
            return self._errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        now = self.clock.seconds()
        with self._lock:
            self._prune(now)
            if self.sandbox.config.rate_limits and len(self._calls) >= self.limit("daily_api_requests"):
                return self._errors(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self._calls.append(now)
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        if endpoint not in _NO_AUTH and response.status not in (401, 414):
            response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_usage()}/{self.limit('daily_api_requests')}"
        return response

    # -- quota and sessions ----------------------------------------------------------------------------
    def _prune(self, now: float) -> None:
        while self._calls and self._calls[0] <= now - API_WINDOW_S:
            self._calls.popleft()

    def api_usage(self) -> int:
        """API requests counted in the rolling 24 h window."""
        with self._lock:
            self._prune(self.clock.seconds())
            return len(self._calls)

    def _session_ok(self, token: str | None) -> bool:
        if not token:
            return False
        now = self.clock.seconds()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return False
            if now - session.last_used > self.limit("session_timeout_s"):
                del self._sessions[token]
                return False
            if session.last_used != float("inf"):
                session.last_used = now
            return True

    def expire_sessions(self) -> None:
        """End every session, the static one of ``SANDBOX_CREDENTIALS`` included (see ``restore_static_session``)."""
        with self._lock:
            self._sessions.clear()

    def restore_static_session(self) -> None:
        with self._lock:
            self._sessions[SANDBOX_CREDENTIALS["session_id"]] = _Session(self.org.integration_user_id, float("inf"))

    def register_jwt_key(self, consumer_key: str, public_key_pem: bytes | str) -> None:
        """Register the certificate's public key of a connected app for the JWT bearer flow."""
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        self.org.jwt_keys.setdefault(consumer_key, []).append(load_pem_public_key(pem))
        self.org.apps.setdefault(consumer_key, secrets.token_hex(16))

    # -- OAuth -----------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant == "password":
            secret = self.org.apps.get(form.get("client_id", ""))
            if secret is None:
                return _oauth_error("invalid_client_id", "client identifier invalid")
            if not hmac.compare_digest(secret, form.get("client_secret", "")):
                return _oauth_error("invalid_client", "invalid client credentials")
            login = self.org.logins.get(form.get("username", ""))
            if login is None or not hmac.compare_digest(login[0] + login[1], form.get("password", "")):
                return _oauth_error("invalid_grant", "authentication failure")
            return self._issue(login[2], secret)
        if grant == "client_credentials":
            key, secret = form.get("client_id", ""), form.get("client_secret", "")
            auth = request.header("Authorization") or ""
            if auth.lower().startswith("basic "):
                try:
                    key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    return _oauth_error("invalid_client", "invalid client credentials")
            expected = self.org.apps.get(key)
            if expected is None or not hmac.compare_digest(expected, secret):
                return _oauth_error("invalid_client", "invalid client credentials")
            return self._issue(self.org.integration_user_id, expected, scope="api")
        if grant == JWT_GRANT:
            return self._jwt_login(form.get("assertion", ""))
        return _oauth_error("unsupported_grant_type", "grant type not supported")

    def _jwt_login(self, assertion: str) -> Response:
        import jwt

        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "invalid assertion")
        keys = self.org.jwt_keys.get(str(claims.get("iss", "")))
        if not keys:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        audiences = [*LOGIN_AUDIENCES, self.sandbox.salesforce_url]
        for key in keys:
            try:
                claims = jwt.decode(
                    assertion,
                    key,
                    algorithms=["RS256"],
                    audience=audiences,
                    options={"verify_exp": False, "require": ["iss", "sub", "aud", "exp"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                return _oauth_error("invalid_grant", "invalid assertion")
        else:
            return _oauth_error("invalid_grant", "invalid assertion")
        try:
            exp = float(claims["exp"])
        except (TypeError, ValueError):
            return _oauth_error("invalid_grant", "invalid assertion")
        now = self.clock.now().timestamp()
        # Salesforce wants the assertion to expire within 3 minutes; allow a little clock skew.
        if exp < now or exp > now + 180 + 60:
            return _oauth_error("invalid_grant", "expired authorization code")
        login = self.org.logins.get(str(claims["sub"]))
        if login is None:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return self._issue(login[2], self.org.apps[str(claims["iss"])], scope="api")

    def _issue(self, user_id: str, client_secret: str, scope: str | None = None) -> Response:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        with self._lock:
            self._sessions[token] = _Session(user_id, self.clock.seconds())
        issued_at = str(int(self.clock.now().timestamp() * 1000))
        identity = f"{LOGIN_AUDIENCES[0]}/id/{ORG_ID}/{user_id}"
        signature = base64.b64encode(
            hmac.new(client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": token,
            "instance_url": self.sandbox.salesforce_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
        }
        if scope:
            body["scope"] = scope
        return Response(200, body)

    # -- plain resources -------------------------------------------------------------------------------
    def versions(self, request: Request) -> Response:
        releases = (("58.0", "Summer '23"), ("59.0", "Winter '24"), ("60.0", "Spring '24"), ("61.0", "Summer '24"))
        return Response(200, [{"label": label, "url": f"/services/data/v{v}", "version": v} for v, label in releases])

    def limits(self, request: Request) -> Response:
        limit = self.limit("daily_api_requests")
        return Response(
            200,
            {
                "DailyApiRequests": {"Max": limit, "Remaining": max(limit - self.api_usage(), 0)},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
            },
        )

    def describe(self, request: Request) -> Response:
        schema = self._schema(request.params["sobject"], status=404)
        version = request.params["version"]
        status_default = next(v for v, _, d in LEAD_STATUSES if d)
        base = f"/services/data/v{version}/sobjects/{schema.name}"
        return Response(
            200,
            {
                "name": schema.name,
                "label": schema.name,
                "labelPlural": schema.name + "s",
                "keyPrefix": KEY_PREFIXES[schema.name],
                "custom": False,
                "createable": True,
                "updateable": True,
                "deletable": True,
                "queryable": True,
                "fields": [
                    f.describe(status_default if f.name == "Status" and schema.name == "Lead" else None)
                    for f in schema.fields.values()
                ],
                "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
            },
        )

    def retrieve(self, request: Request) -> Response:
        schema = self._schema(request.params["sobject"], status=404)
        found = self._get(id18(request.params["id"]))
        if found is None or found[0] != schema.name or found[2]:
            raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(200, self._full_record(found[0], found[1], request.params["version"]))

    def _full_record(self, sobject: str, data: dict[str, Any], version: str = "59.0") -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(sobject, str(data["Id"]), version)}
        for f in self.schemas[sobject].fields.values():
            out[f.name] = data.get(f.name)
        return out

    def _schema(self, name: str, status: int = 400) -> ObjectSchema:
        for key, schema in self.schemas.items():
            if key.lower() == name.lower():
                return schema
        if status == 404:
            raise _SfError(404, "NOT_FOUND", "The requested resource does not exist")
        raise _SfError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")

    # -- SOQL --------------------------------------------------------------------------------------------
    def query(self, request: Request) -> Response:
        text = request.arg("q")
        if not text:
            raise _SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        include_deleted = "/queryAll" in request.path
        parsed = soql.parse(text)
        if len(text) > 100_000:
            raise _SfError(
                400, "MALFORMED_QUERY", "Query too complicated: the SOQL statement exceeds 100,000 characters"
            )
        plan, sql, params = self._compile(parsed, include_deleted)
        with self.store.read() as conn:
            if parsed.count_only:
                count = conn.execute(sql.replace("SELECT r.id", "SELECT COUNT(*)", 1), params).fetchone()[0]
                return Response(200, {"totalSize": count, "done": True, "records": []})
            ids = [row[0] for row in conn.execute(sql, params)]
        batch = _batch_size(request.header("Sforce-Query-Options"))
        locator = _Locator(ids, plan, "queryAll" if include_deleted else "query", batch)
        return Response(200, self._batch(locator, 0, request.params["version"]))

    def query_more(self, request: Request) -> Response:
        with self._lock:
            locator = self._locators.get(request.params["locator"])
            if locator is not None:
                self._locators.move_to_end(request.params["locator"])
        pos = int(request.params["pos"])
        if locator is None or pos > len(locator.ids):
            raise _SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return Response(200, self._batch(locator, pos, request.params["version"], request.params["locator"]))

    def _batch(self, locator: _Locator, pos: int, version: str, name: str | None = None) -> dict[str, Any]:
        ids = locator.ids[pos : pos + locator.batch]
        body: dict[str, Any] = {"totalSize": len(locator.ids), "done": pos + len(ids) >= len(locator.ids)}
        if not body["done"]:
            if name is None:
                name = make_id("01g", self._next_locator())[:15]
                with self._lock:
                    self._locators[name] = locator
                    while len(self._locators) > 200:  # Salesforce also drops the oldest open cursors
                        self._locators.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/v{version}/{locator.kind}/{name}-{pos + len(ids)}"
        body["records"] = self._project(ids, locator.plan, version)
        return body

    def _next_locator(self) -> int:
        with self._lock:
            n = self._counters.get("_locator", 0) + 1
            self._counters["_locator"] = n
        return n

    def _compile(self, query: soql.Query, include_deleted: bool) -> tuple[_Plan, str, list[Any]]:
        schema = self._schema(query.sobject)
        plan = _Plan(schema.name, [])
        rel_index: dict[str, int] = {}
        seen: set[str] = set()
        for name in query.fields:
            if name.lower() in seen:
                raise _SfError(400, "MALFORMED_QUERY", f"duplicate field selected: {name}")
            seen.add(name.lower())
            if "." in name:
                rel, fk, sub = self._relationship(schema, name)
                if rel not in rel_index:
                    rel_index[rel] = len(plan.items)
                    plan.items.append(("rel", (rel, fk, [])))
                plan.items[rel_index[rel]][1][2].append(sub)
            else:
                plan.items.append(("field", self._field(schema, name)))
        params: list[Any] = [schema.name]
        sql = "SELECT r.id FROM sf_record r WHERE r.type = ?"
        if not include_deleted:
            sql += " AND r.deleted = 0"
        if query.where is not None:
            sql += " AND " + self._cond_sql(schema, query.where, params)
        order = []
        for item in query.order_by:
            expr, _ = self._expr(schema, item.field)
            clause = f"{expr} {'DESC' if item.descending else 'ASC'}"
            # SQLite's default null order is SOQL's (first when ascending); spell it out only when asked
            # otherwise, so the (type, sysmod, id) index still serves ORDER BY SystemModstamp, Id.
            if item.nulls_last is not None and item.nulls_last != item.descending:
                clause += f" NULLS {'LAST' if item.nulls_last else 'FIRST'}"
            order.append(clause)
        if not order or not order[-1].startswith("r.id "):
            order.append("r.id")
        sql += " ORDER BY " + ", ".join(order)
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
            if query.offset:
                sql += f" OFFSET {int(query.offset)}"
        elif query.offset:
            sql += f" LIMIT -1 OFFSET {int(query.offset)}"
        return plan, sql, params

    def _field(self, schema: ObjectSchema, name: str) -> FieldDef:
        found = schema.get(name)
        if found is None:
            raise _SfError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{schema.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL "
                "or the describe call for the appropriate names.",
            )
        return found

    def _relationship(self, schema: ObjectSchema, name: str) -> tuple[str, FieldDef, FieldDef]:
        rel, _, sub = name.partition(".")
        fk = schema.relationship(rel)
        if fk is None or "." in sub:
            raise _SfError(
                400,
                "INVALID_FIELD",
                f"Didn't understand relationship '{rel}' in field path '{name}' on '{schema.name}'",
            )
        for target in fk.reference_to:
            found = self.schemas[target].get(sub) if target in self.schemas else None
            if found is not None:
                return str(fk.relationship_name), fk, found
        if sub.lower() in ("id", "name"):  # polymorphic lookups (Owner -> Group) still have Id and Name
            return str(fk.relationship_name), fk, FieldDef("Id" if sub.lower() == "id" else "Name", "string")
        raise _SfError(400, "INVALID_FIELD", f"No such column '{sub}' on entity '{'/'.join(fk.reference_to)}'.")

    def _expr(self, schema: ObjectSchema, name: str) -> tuple[str, FieldDef]:
        if "." in name:
            _, fk, sub = self._relationship(schema, name)
            inner = _column("s", sub.name)
            return f"(SELECT {inner} FROM sf_record s WHERE s.id = {_column('r', fk.name)})", sub
        definition = self._field(schema, name)
        return _column("r", definition.name), definition

    def _cond_sql(self, schema: ObjectSchema, cond: soql.Condition, params: list[Any]) -> str:
        if isinstance(cond, soql.BoolOp):
            return "(" + f" {cond.op} ".join(self._cond_sql(schema, p, params) for p in cond.parts) + ")"
        if isinstance(cond, soql.Not):
            return f"NOT ({self._cond_sql(schema, cond.part, params)})"
        expr, definition = self._expr(schema, cond.field)
        text_field = definition.type not in (
            "id",
            "reference",
            "boolean",
            "int",
            "double",
            "currency",
            "date",
            "datetime",
        )
        collate = " COLLATE NOCASE" if text_field else ""
        if isinstance(cond, soql.InList):
            values = [_literal(definition, v) for v in cond.values]
            present = [v for v in values if v is not None]
            parts = []
            if present:
                params.extend(present)
                marks = ",".join("?" * len(present))
                parts.append(f"{expr}{collate} {'NOT IN' if cond.negate else 'IN'} ({marks})")
            has_null = len(present) != len(values)
            if cond.negate:
                clause = " AND ".join(parts) if parts else "1"
                return f"({expr} IS NOT NULL AND {clause})" if has_null else f"({expr} IS NULL OR {clause})"
            if has_null:
                parts.append(f"{expr} IS NULL")
            return "(" + " OR ".join(parts or ["0"]) + ")"
        value = _literal(definition, cond.value)
        if cond.op == "LIKE":
            params.append(value)
            if cond.negate:
                return f"({expr} IS NULL OR {expr} NOT LIKE ? ESCAPE '\\')"
            return f"{expr} LIKE ? ESCAPE '\\'"
        if value is None:
            if cond.op not in ("=", "!="):
                raise _SfError(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on null: {cond.op}")
            return f"{expr} IS {'NOT ' if cond.op == '!=' else ''}NULL"
        params.append(value)
        if cond.op == "!=":
            return f"({expr} IS NULL OR {expr}{collate} != ?)"
        return f"{expr}{collate} {cond.op} ?"

    def _project(self, ids: list[str], plan: _Plan, version: str) -> list[dict[str, Any]]:
        rows = self._fetch(ids)
        related_ids: set[str] = set()
        for kind, item in plan.items:
            if kind == "rel":
                fk_name = item[1].name
                related_ids.update(str(d[fk_name]) for _, d in rows.values() if d.get(fk_name))
        related = self._fetch(sorted(related_ids)) if related_ids else {}
        out: list[dict[str, Any]] = []
        for record_id in ids:
            if record_id not in rows:
                continue  # hard-deleted since the query ran
            sobject, data = rows[record_id]
            record: dict[str, Any] = {"attributes": _attributes(sobject, record_id, version)}
            for kind, item in plan.items:
                if kind == "field":
                    record[item.name] = data.get(item.name)
                    continue
                rel, fk, subs = item
                target = related.get(str(data.get(fk.name) or ""))
                if target is None:
                    record[rel] = None
                    continue
                target_type, target_data = target
                nested: dict[str, Any] = {"attributes": _attributes(target_type, str(target_data["Id"]), version)}
                for sub in subs:
                    nested[sub.name] = target_data.get(sub.name)
                record[rel] = nested
            out.append(record)
        return out

    # -- writes ------------------------------------------------------------------------------------------
    def collections_update(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _SfError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records list")
        records = body["records"]
        if len(records) > COLLECTION_MAX:
            raise _SfError(
                400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
            )
        header = request.header("Sforce-Auto-Assign")
        self.auto_assign_log.append(header)
        results = self._update(records, _auto_assign(header), bool(body.get("allOrNone", False)))
        return Response(200, results)

    def update_one(self, request: Request) -> Response:
        schema = self._schema(request.params["sobject"], status=404)
        body = request.json()
        if not isinstance(body, dict):
            raise _SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        header = request.header("Sforce-Auto-Assign")
        self.auto_assign_log.append(header)
        record = {**body, "attributes": {"type": schema.name}, "Id": request.params["id"]}
        result = self._update([record], _auto_assign(header), True)[0]
        if result["success"]:
            return Response(204)
        error = result["errors"][0]
        status = 404 if error["statusCode"] == "INVALID_CROSS_REFERENCE_KEY" else 400
        return Response(
            status, [{"message": error["message"], "errorCode": error["statusCode"], "fields": error["fields"]}]
        )

    def _update(self, records: list[Any], auto_assign: bool, all_or_none: bool) -> list[dict[str, Any]]:
        now = self._now()
        staged: list[_Staged | None] = []
        results: list[dict[str, Any]] = []
        for raw in records:
            if not isinstance(raw, dict):
                raise _SfError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
            attributes = raw.get("attributes")
            if not isinstance(attributes, dict) or not attributes.get("type"):
                raise _SfError(400, "INVALID_TYPE", "Must send a concrete entity type.")
            schema = self._schema(str(attributes["type"]))
            values = {k: v for k, v in raw.items() if k not in ("attributes", "id", "Id")}
            coerced = {self._field_for_write(schema, k).name: v for k, v in values.items()}
            coerced = {k: _coerce(schema.get(k), v) for k, v in coerced.items()}
            outcome = self._check_record(schema, raw.get("id") or raw.get("Id"), coerced)
            if isinstance(outcome, dict):
                staged.append(None)
                results.append(outcome)
                continue
            record_id, data = outcome
            data.update(coerced)
            if schema.name in ("Lead", "Contact"):
                data["Name"] = _full_name(data)
            if schema.name == "Lead" and auto_assign:
                data["OwnerId"] = QUEUE_ID  # the org's active lead assignment rule
            data["LastModifiedDate"] = data["SystemModstamp"] = now
            staged.append(_Staged(record_id, schema.name, data))
            results.append({"id": record_id, "success": True, "errors": []})
        if all_or_none and any(not r["success"] for r in results):
            rolled = _record_error(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was using AllOrNone header",
            )
            return [r if not r["success"] else {**rolled, "id": r["id"]} for r in results]
        self._write_rows((s.type, s.data) for s in staged if s is not None)
        return results

    def _field_for_write(self, schema: ObjectSchema, name: str) -> FieldDef:
        found = schema.get(name)
        if found is None:
            raise _SfError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {schema.name}")
        return found

    def _check_record(
        self, schema: ObjectSchema, raw_id: Any, values: dict[str, Any]
    ) -> dict[str, Any] | tuple[str, dict[str, Any]]:
        if not raw_id:
            return _record_error("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        text = str(raw_id)
        prefix = KEY_PREFIXES.get(schema.name, "")
        if not looks_like_id(text) or not text.startswith(prefix):
            return _record_error("MALFORMED_ID", f"{schema.name} ID: id value of incorrect type: {text}", ["Id"])
        record_id = id18(text)
        found = self._get(record_id)
        if found is None:
            return {**_record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"), "id": record_id}
        _, data, deleted = found
        if deleted:
            return {**_record_error("ENTITY_IS_DELETED", "entity is deleted"), "id": record_id}
        if schema.name == "Lead" and data.get("IsConverted"):
            return {**_record_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"), "id": record_id}
        readonly = [name for name in values if not schema.fields[name.lower()].updateable]
        if readonly:
            return {
                **_record_error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or permission set.",
                    readonly,
                ),
                "id": record_id,
            }
        for name, value in values.items():
            definition = schema.fields[name.lower()]
            if isinstance(value, str) and definition.length and len(value) > definition.length:
                return {
                    **_record_error(
                        "STRING_TOO_LONG",
                        f"{definition.label or _label(name)}: data value too large: {value[:40]} "
                        f"(max length={definition.length})",
                        [name],
                    ),
                    "id": record_id,
                }
            if definition.type == "reference" and value is not None:
                error = self._check_reference(definition, str(value), schema.name)
                if error:
                    return {**error, "id": record_id}
        if self.sandbox.faults.record_fails(self.crm, record_id):
            if record_id in self.sandbox.faults.config.fail_records:
                code, message = self.record_failure_code, f"Validation rule rejected {record_id} (injected)"
            else:  # a drawn failure usually passes when retried: Salesforce's row-lock contention
                code, message = "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record: {record_id}"
            return {**_record_error(code, message, []), "id": record_id}
        return record_id, data

    def _check_reference(self, definition: FieldDef, value: str, sobject: str) -> dict[str, Any] | None:
        if value == QUEUE_ID and "Group" in definition.reference_to:
            return None
        target = self._get(id18(value)) if looks_like_id(value) else None
        if target is None or target[0] not in definition.reference_to:
            return _record_error(
                "INVALID_CROSS_REFERENCE_KEY", f"{_label(definition.name)} ID: id value of incorrect type: {value}",
                [definition.name],
            )  # fmt: skip
        if target[0] == "User" and not target[1].get("IsActive"):
            return _record_error(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{value}] as owner of {sobject.lower()}",
                [definition.name],
            )
        return None

    # -- composite -------------------------------------------------------------------------------------
    def composite(self, request: Request) -> Response:
        body = request.json()
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise _SfError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty list of subrequests")
        if len(subrequests) > COMPOSITE_MAX_SUBREQUESTS:
            # Salesforce: up to 25 subrequests per call (assumed error code and text).
            raise _SfError(400, "INVALID_API_INPUT", "Composite request size exceeds the limit of 25 subrequests")
        heavy = sum(1 for s in subrequests if isinstance(s, dict) and _is_query_or_collection(str(s.get("url", ""))))
        if heavy > COMPOSITE_MAX_QUERIES:
            raise _SfError(
                400,
                "INVALID_API_INPUT",
                "A composite request can contain at most 5 query or sObject Collections subrequests",
            )
        refs = [s.get("referenceId") if isinstance(s, dict) else None for s in subrequests]
        if any(not isinstance(r, str) or not re.fullmatch(r"[A-Za-z0-9_]+", r) for r in refs) or len(set(refs)) != len(
            refs
        ):
            raise _SfError(400, "INVALID_API_INPUT", "Each subrequest needs a unique alphanumeric referenceId")
        all_or_none = bool(body.get("allOrNone", False))
        results: list[dict[str, Any]] = []
        halted = False
        for sub in subrequests:
            if halted:
                results.append(
                    {
                        "body": [
                            {
                                "errorCode": "PROCESSING_HALTED",
                                "message": "The transaction was rolled back since another operation in the same "
                                "transaction failed.",
                            }
                        ],
                        "httpHeaders": {},
                        "httpStatusCode": 400,
                        "referenceId": sub["referenceId"],
                    }
                )
                continue
            response = self._subrequest(request, sub)
            results.append(
                {
                    "body": response.body,
                    "httpHeaders": {},
                    "httpStatusCode": response.status,
                    "referenceId": sub["referenceId"],
                }
            )
            halted = all_or_none and response.status >= 400
        writes = any(str(s.get("method", "")).upper() != "GET" for s in subrequests)
        # One path, two kinds of call: count a read-only Composite apart so write counts stay honest.
        return Response(
            200,
            {"compositeResponse": results},
            counted_as="salesforce.composite" if writes else "salesforce.composite_read",
        )

    def _subrequest(self, parent: Request, sub: dict[str, Any]) -> Response:
        method = str(sub.get("method", "")).upper()
        parts = urlsplit(str(sub.get("url", "")))
        headers = {k: v for k, v in parent.headers.items() if k.lower() in ("authorization", "accept")}
        extra = sub.get("httpHeaders") or {}
        if not isinstance(extra, dict):
            return self._errors(400, "JSON_PARSER_ERROR", "httpHeaders must be a map of strings")
        headers.update({str(k): str(v) for k, v in extra.items()})
        body = sub.get("body")
        request = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            body=json.dumps(body).encode() if body is not None else b"",
        )
        if len(parts.path) + 1 + len(parts.query) > self.limit("max_uri_bytes"):
            return self._errors(414, "URI_TOO_LONG", "Request-URI exceeds the 16,384-byte limit")
        for r in self.routes():
            if r.method != method or r.endpoint in ("salesforce.composite", *_NO_AUTH, "salesforce.limits"):
                continue
            m = r.pattern.match(parts.path)
            if m:
                request.params = {k: v for k, v in m.groupdict().items() if v is not None}
                try:
                    return r.handler(request)
                except BadRequest as exc:
                    return self._errors(400, "JSON_PARSER_ERROR", str(exc))
        return self._errors(404, "NOT_FOUND", "The requested resource does not exist")

    # -- dataset loading and test helpers ----------------------------------------------------------------
    def load(self, dataset: Dataset) -> dict[str, str]:
        """Turn a CRM-neutral dataset into Users, Leads (some converted), Contacts, Accounts, Tasks, Events,
        Campaigns/CampaignMembers, Opportunities and OpportunityContactRoles; returns person key -> Lead id."""
        rows: list[tuple[str, dict[str, Any]]] = []

        def add(sobject: str, values: dict[str, Any], when: str) -> str:
            data = self._prepare(sobject, values, when)
            rows.append((sobject, data))
            return str(data["Id"])

        owners: dict[str, str] = {}
        for owner in dataset.owners:
            when = self._now()
            owners[owner.key] = add(
                "User",
                {
                    "Username": owner.email,
                    "FirstName": owner.first_name,
                    "LastName": owner.last_name,
                    "Email": owner.email,
                    "IsActive": owner.active,
                    "Department": owner.teams[0] if owner.teams else None,
                    "UserType": "Standard",
                },
                when,
            )
        outcomes: dict[str, list[Any]] = {}
        for outcome in dataset.outcomes:
            outcomes.setdefault(outcome.person_key, []).append(outcome)
        leads: dict[str, str] = {}
        who: dict[str, tuple[str, str | None]] = {}  # person key -> (lead id, converted contact id)
        for person in dataset.people:
            owner_id = owners.get(person.owner_key or "", self.org.integration_user_id)
            created, updated = sf_datetime(person.created_at), sf_datetime(person.updated_at)
            lead = _lead_values(person, owner_id)
            mine = outcomes.get(person.key, [])
            converted = person.converted or any(o.won for o in mine)
            contact_id = None
            if converted:
                account_id = add(
                    "Account",
                    {"Name": person.company or "Unknown", "Industry": person.industry or None, "OwnerId": owner_id},
                    updated,
                )
                contact_id = add("Contact", _contact_values(person, owner_id, account_id), updated)
                lead.update(
                    {
                        "Status": "Closed - Converted",
                        "IsConverted": True,
                        "ConvertedDate": person.updated_at.astimezone(UTC).date().isoformat(),
                        "ConvertedAccountId": account_id,
                        "ConvertedContactId": contact_id,
                    }
                )
                for outcome in mine:
                    opp_id = add(
                        "Opportunity",
                        {
                            "Name": outcome.name or f"{person.company} deal",
                            "StageName": "Closed Won" if outcome.won else "Closed Lost",
                            "IsClosed": True,
                            "IsWon": outcome.won,
                            "CloseDate": outcome.closed_at.astimezone(UTC).date().isoformat(),
                            "Amount": outcome.amount,
                            "AccountId": account_id,
                            "OwnerId": owner_id,
                        },
                        sf_datetime(outcome.closed_at),
                    )
                    lead.setdefault("ConvertedOpportunityId", opp_id)
                    add(
                        "OpportunityContactRole",
                        {"OpportunityId": opp_id, "ContactId": contact_id, "Role": "Decision Maker", "IsPrimary": True},
                        sf_datetime(outcome.closed_at),
                    )
            elif mine:
                lead["Status"] = "Closed - Not Converted"
            lead_id = add("Lead", lead, updated)
            rows[-1][1]["CreatedDate"] = created
            leads[person.key] = lead_id
            who[person.key] = (lead_id, contact_id)
        for activity in dataset.activities:
            if activity.person_key not in who:
                continue
            lead_id, contact_id = who[activity.person_key]
            sobject, values = self._activity_values(lead_id, contact_id, activity)
            when = sf_datetime(activity.occurred_at)
            add(sobject, values, when)
        self._write_rows(rows)
        return leads

    def _activity_values(
        self, lead_id: str | None, contact_id: str | None, activity: SampleActivity
    ) -> tuple[str, dict[str, Any]]:
        kind, subject, at = activity.type, activity.subject, activity.occurred_at
        who_id = contact_id or lead_id
        owner = self.org.integration_user_id
        if kind == "meeting":
            return "Event", {
                "WhoId": who_id,
                "Subject": f"Meeting: {subject}" if subject else "Meeting",
                "Type": "Meeting",
                "StartDateTime": sf_datetime(at),
                "EndDateTime": sf_datetime(at + timedelta(minutes=30)),
                "ActivityDateTime": sf_datetime(at),
                "DurationInMinutes": 30,
                "OwnerId": owner,
            }
        if kind in CAMPAIGN_KINDS:
            campaign_type, status = CAMPAIGN_KINDS[kind]
            name = activity.attributes.get("campaign") or subject or f"{campaign_type} campaign"
            member = contact_id or lead_id or ""
            campaign_id = self._campaign(campaign_type, name, member, at)
            return "CampaignMember", {
                "CampaignId": campaign_id,
                "LeadId": lead_id,
                "ContactId": contact_id,
                "Status": status,
                "HasResponded": True,
                "FirstRespondedDate": at.astimezone(UTC).date().isoformat(),
            }
        task_type, subtype, label = TASK_KINDS.get(kind, TASK_KINDS["other"])
        text = f"{label}: {subject}" if label and subject else (label or subject or "Task")
        return "Task", {
            "WhoId": who_id,
            "Subject": text,
            "Type": task_type,
            "TaskSubtype": subtype,
            "Status": "Completed",
            "Priority": "Normal",
            "ActivityDate": at.astimezone(UTC).date().isoformat(),
            "CompletedDateTime": sf_datetime(at),
            "Description": activity.attributes.get("url"),
            "OwnerId": owner,
        }

    def _campaign(self, campaign_type: str, name: str, member: str, at: datetime) -> str:
        """The campaign a member joins; a person can be a member of a campaign once, so repeats get a new one."""
        candidate, n = name, 1
        while True:
            campaign_id = self._campaigns.get((campaign_type, candidate))
            if campaign_id is None:
                campaign_id = self._insert(
                    "Campaign",
                    {
                        "Name": candidate[:80],
                        "Type": campaign_type,
                        "Status": "Completed",
                        "IsActive": True,
                        "StartDate": at.astimezone(UTC).date().isoformat(),
                    },
                    sf_datetime(at),
                )
                self._campaigns[(campaign_type, candidate)] = campaign_id
            if (member, campaign_id) not in self._members:
                self._members.add((member, campaign_id))
                return campaign_id
            n += 1
            candidate = f"{name} ({n})"

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Log an activity for a Lead or Contact now (SystemModstamp = now); returns the new record's id."""
        contact_id = id18(contact_id)
        found = self._get(contact_id)
        if found is None or found[0] not in ("Lead", "Contact"):
            raise KeyError(f"no Lead or Contact {contact_id}")
        at = occurred_at or self.clock.now()
        sample = SampleActivity(
            key="",
            person_key="",
            type=str(type),
            occurred_at=at,
            subject=str(attrs.pop("subject", "")),
            attributes={k: str(v) for k, v in attrs.items()},
        )
        is_lead = found[0] == "Lead"
        sobject, values = self._activity_values(
            contact_id if is_lead else None, None if is_lead else contact_id, sample
        )
        now = self._now()
        data = self._prepare(sobject, values, now)
        if sobject == "CampaignMember":
            data["CreatedDate"] = sf_datetime(at)
        self._write_rows([(sobject, data)])
        return str(data["Id"])

    def touch(self, contact_id: str, **fields: Any) -> None:
        """Change fields (Salesforce names) on any record and bump its LastModifiedDate/SystemModstamp."""
        record_id = id18(contact_id)
        found = self._get(record_id)
        if found is None:
            raise KeyError(f"no record {contact_id}")
        sobject, data, _ = found
        schema = self.schemas[sobject]
        for name, value in fields.items():
            definition = schema.get(name)
            if definition is None:
                raise KeyError(f"{sobject} has no field {name}")
            data[definition.name] = _coerce(definition, value)
        if sobject in ("Lead", "Contact", "User"):
            data["Name"] = _full_name(data)
        data["LastModifiedDate"] = data["SystemModstamp"] = self._now()
        self._write_rows([(sobject, data)])

    def record(self, contact_id: str) -> dict[str, Any]:
        """The stored record as Salesforce returns it from ``GET /sobjects/{type}/{id}``."""
        found = self._get(id18(contact_id))
        if found is None:
            raise KeyError(f"no record {contact_id}")
        return self._full_record(found[0], found[1])

    def merge(self, master_id: str, *duplicate_ids: str) -> None:
        """Merge Leads or Contacts as Salesforce does: duplicates are deleted with MasterRecordId set, and
        their activities and campaign memberships move to the master, whose SystemModstamp moves too."""
        master = id18(master_id)
        now = self._now()
        found = self._get(master)
        if found is None:
            raise KeyError(f"no record {master_id}")
        sobject, master_data, _ = found
        changed: list[tuple[str, dict[str, Any]]] = []
        link = "LeadId" if sobject == "Lead" else "ContactId"
        for dup in map(id18, duplicate_ids):
            dup_found = self._get(dup)
            if dup_found is None:
                raise KeyError(f"no record {dup}")
            data = dup_found[1]
            data.update({"IsDeleted": True, "MasterRecordId": master, "LastModifiedDate": now, "SystemModstamp": now})
            changed.append((sobject, data))
            with self.store.read() as conn:
                children = conn.execute(
                    "SELECT id, type, data FROM sf_record WHERE (type IN ('Task', 'Event') AND "
                    "json_extract(data, '$.WhoId') = ?) OR (type = 'CampaignMember' AND "
                    f"json_extract(data, '$.{link}') = ?)",
                    (dup, dup),
                ).fetchall()
            for row in children:
                child = json.loads(row["data"])
                child["WhoId" if row["type"] != "CampaignMember" else link] = master
                child["LastModifiedDate"] = child["SystemModstamp"] = now
                changed.append((row["type"], child))
        master_data["LastModifiedDate"] = master_data["SystemModstamp"] = now
        changed.append((sobject, master_data))
        self._write_rows(changed)

    def create_field(
        self,
        sobject: str,
        name: str,
        type: str,
        label: str = "",
        *,
        length: int = 0,
        precision: int = 0,
        scale: int = 0,
        picklist: Sequence[str] = (),
    ) -> None:
        """Add a custom field (what an admin does in Setup); ``name`` must end in ``__c``."""
        if not name.endswith("__c"):
            raise ValueError("custom field API names end in __c")
        if type in ("string", "textarea") and not length:
            length = 255
        if type in ("double", "currency") and not precision:
            precision = 18
        definition = FieldDef(
            name,
            type,
            label=label or _label(name),
            custom=True,
            length=length,
            precision=precision,
            scale=scale,
            picklist=tuple(picklist),
        )
        self.schemas[sobject].add(definition)
        spec = {k: getattr(definition, k) for k in ("name", "type", "label", "custom", "length", "precision", "scale")}
        with self.store.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sf_custom_field (sobject, name, definition) VALUES (?, ?, ?)",
                (sobject, name.lower(), json.dumps({**spec, "picklist": list(definition.picklist)})),
            )

    def drop_field(self, sobject: str, name: str) -> None:
        self.schemas[sobject].fields.pop(name.lower(), None)
        with self.store.tx() as conn:
            conn.execute("DELETE FROM sf_custom_field WHERE sobject = ? AND name = ?", (sobject, name.lower()))


# -- helpers ---------------------------------------------------------------------------------------------
def _bearer(request: Request) -> str | None:
    auth = request.header("Authorization") or ""
    if auth.lower().startswith(("bearer ", "oauth ")):
        return auth.split(" ", 1)[1].strip()
    return None


def _oauth_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description})


def _attributes(sobject: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record_id}"}


def _column(alias: str, name: str) -> str:
    if name == "Id":
        return f"{alias}.id"
    if name == "SystemModstamp":
        return f"{alias}.sysmod"
    if name == "IsDeleted":
        return f"{alias}.deleted"
    return f"json_extract({alias}.data, '$.{name}')"


def _literal(definition: FieldDef, value: soql.Literal) -> Any:
    """A SOQL literal as the SQL value to compare with, checking it suits the field's type."""
    kind = definition.type
    if value is None:
        return None
    if kind == "datetime":
        if not isinstance(value, soql.DateTimeLiteral):
            raise _SfError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{definition.name}' must be of type dateTime and should "
                "not be enclosed in quotes",
            )
        return value.value
    if kind == "date":
        if not isinstance(value, soql.DateLiteral):
            raise _SfError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{definition.name}' must be of type date and should not "
                "be enclosed in quotes",
            )
        return value.value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _SfError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{definition.name}' must be of type boolean and should "
                "not be enclosed in quotes",
            )
        return int(value)
    if isinstance(value, soql.DateTimeLiteral | soql.DateLiteral):
        return value.value
    if kind in ("id", "reference") and isinstance(value, str) and len(value) == 15 and value.isalnum():
        return id18(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _coerce(definition: FieldDef | None, value: Any) -> Any:
    """A JSON value for a field of the given type, as Salesforce's deserializer accepts it."""
    if definition is None or value is None:
        return value
    kind = definition.type

    def bad() -> _SfError:
        return _SfError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {kind} from {type(value).__name__} value {value!r} "
            f"for field {definition.name}",
        )

    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad()
    if kind == "int":
        if isinstance(value, bool):
            raise bad()
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad() from None
        if number != int(number):
            raise bad()
        return int(number)
    if kind in ("double", "currency"):
        if isinstance(value, bool):
            raise bad()
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad() from None
    if kind == "datetime":
        try:
            return soql.normalize_datetime(str(value))
        except soql.SoqlError:
            raise bad() from None
    if kind == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value[:10]):
            raise bad()
        return value[:10]
    if kind == "reference":
        return id18(str(value)) if looks_like_id(str(value)) else str(value)
    if isinstance(value, bool | dict | list):
        raise bad()
    return str(value) if isinstance(value, int | float) else value


def _record_error(code: str, message: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": list(fields)}]}


def _auto_assign(header: str | None) -> bool:
    # Absent or TRUE (or an AssignmentRule id): assignment rules run.  FALSE: they do not.
    return header is None or header.strip().upper() != "FALSE"


def _batch_size(header: str | None) -> int:
    m = re.search(r"batchSize\s*=\s*(\d+)", header or "")
    if not m:
        return QUERY_BATCH_MAX
    return max(QUERY_BATCH_MIN, min(QUERY_BATCH_MAX, int(m.group(1))))


def _is_query_or_collection(url: str) -> bool:
    path = urlsplit(url).path
    return bool(re.search(r"/(query|queryAll)(/|$)|/composite/sobjects", path))


def _full_name(data: dict[str, Any]) -> str:
    return " ".join(str(p) for p in (data.get("FirstName"), data.get("LastName")) if p)


def _employees(text: str) -> int | None:
    cleaned = text.replace(",", "").replace("+", "").strip()
    return int(cleaned) if cleaned.isdigit() else None


def _lead_status(person: SamplePerson) -> str:
    return "Open - Not Contacted" if person.lifecycle_stage in ("", "lead") else "Working - Contacted"


def _lead_values(person: SamplePerson, owner_id: str) -> dict[str, Any]:
    return {
        "FirstName": person.first_name or None,
        "LastName": person.last_name or "Unknown",
        "Email": person.email or None,
        "Title": person.title or None,
        "Company": person.company or "Unknown",
        "Industry": person.industry or None,
        "NumberOfEmployees": _employees(person.employees),
        "Employee_Range__c": person.employees or None,
        "Country": person.country or None,
        "City": person.city or None,
        "Phone": person.phone or None,
        "LeadSource": person.lead_source or None,
        "Status": _lead_status(person),
        "IsConverted": False,
        "HasOptedOutOfEmail": person.do_not_email,
        "OwnerId": owner_id,
    }


def _contact_values(person: SamplePerson, owner_id: str, account_id: str) -> dict[str, Any]:
    return {
        "FirstName": person.first_name or None,
        "LastName": person.last_name or "Unknown",
        "Email": person.email or None,
        "Title": person.title or None,
        "Phone": person.phone or None,
        "AccountId": account_id,
        "MailingCountry": person.country or None,
        "MailingCity": person.city or None,
        "LeadSource": person.lead_source or None,
        "HasOptedOutOfEmail": person.do_not_email,
        "OwnerId": owner_id,
    }


def create_api(sandbox: Any) -> SalesforceApi:
    return SalesforceApi(sandbox)
