"""HubSpot CRM v3 emulation: contacts, engagements, deals, associations v4, properties, owners, OAuth.

What is served (paths, shapes and status codes follow developers.hubspot.com and the JSON models of
``hubspot-api-client`` 12, which must deserialize every answer):

- ``GET /crm/v3/objects/{type}`` (``limit`` <= 100 else 400, ``after``, ``properties``, ``associations``,
  ``archived``), ``GET /crm/v3/objects/{type}/{id}`` (``idProperty``), ``POST /crm/v3/objects/{type}``,
  ``POST .../search``, ``POST .../batch/read`` and ``POST .../batch/update`` for ``contacts``, ``emails``,
  ``meetings``, ``calls``, ``notes`` and ``deals``.
- ``POST /crm/v4/associations/{from}/{to}/batch/read`` (<= 1,000 inputs).
- ``GET|POST /crm/v3/properties/{type}``, ``GET /crm/v3/properties/{type}/{name}``,
  ``GET|POST /crm/v3/properties/{type}/groups``.
- ``GET /crm/v3/owners``; ``POST /oauth/v1/token`` (refresh_token grant).

Limits and errors: burst 100 requests / 10 s per private app (110 for OAuth apps), 250,000 a day for private
apps (OAuth calls carry no daily limit, so no ``-Daily`` headers), search 5 requests / s, each overridable
in ``sandbox.config.limits["hubspot"]`` (``burst_per_10s``, ``oauth_burst_per_10s``, ``daily``,
``search_per_second``).  A breach answers 429 ``{"status": "error", "errorType": "RATE_LIMIT",
"category": "RATE_LIMITS", "policyName": "TEN_SECONDLY_ROLLING" | "DAILY" | "SECONDLY", ...}``.
Search pages past 10,000 results answer 400; batch update answers 207 with ``errors[]`` for per-record
failures (injected through ``sandbox.faults.record_fails``, unknown ids, ``lifecyclestage`` moved
backwards); a duplicate property answers 409.

Modelling choices (assumptions where HubSpot documents nothing, written here once):

- Search orders ties of the sort property in an arbitrary but stable order (a hash of the id), because
  HubSpot documents no tie order; a client that needs one must tie-break itself.
- Associating an engagement with a contact updates the contact's ``notes_last_updated`` (and, for sales
  activities, ``hs_last_sales_activity_timestamp``) and therefore its ``lastmodifieddate``, as HubSpot's
  activity rollups do: that is what makes "contacts with new activities" visible through one contacts
  search on ``lastmodifieddate``.
- Search requests count against the daily limit and their own 5/s window, not the 10 s burst window, and
  carry no burst headers; bodies over 3,000 characters or with more than 5 filterGroups / 6 filters per
  group / 18 filters are a 400; ``IN``/``NOT_IN`` take any number of values.
- A ``lifecyclestage`` moved backwards is a per-record ``VALIDATION_ERROR`` whose message says
  "backwards" (HubSpot documents the rule, not the error text).
- Contacts without associations of the asked type come back in ``errors[]`` of a 207
  (``crm.associations.NO_ASSOCIATIONS_FOUND``), as associations v4 does.
- A batch update that changes no value leaves ``lastmodifieddate`` alone (HubSpot writes no new property
  version for an unchanged value).
- Merged contacts: the old id keeps resolving (GET, batch read, batch update) to the surviving record,
  which lists the old ids in ``hs_merged_object_ids``.
- Dataset activities become engagements: email_open/click/sent/reply/bounce -> emails
  (``hs_email_direction``, ``hs_email_status``, ``hs_email_open_count``, ``hs_email_click_count``),
  meeting -> meetings, call -> calls, everything else -> notes whose body starts with a label the adapter's
  activity map recognises ("Demo request: ...", "Page view: ...").  Real HubSpot exposes page views and
  marketing-email opens as contact rollups (``hs_analytics_num_page_views``, ``hs_email_open``, ...); those
  rollups are loaded from the dataset too, the notes keep the activity history comparable across CRMs.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from connectors.sandbox.core import BadRequest, CRMApi, Request, Response, Route, route

if TYPE_CHECKING:
    from connectors.sandbox.dataset import Dataset

SANDBOX_CREDENTIALS: dict[str, str] = {
    "private_app_token": "pat-na1-5a7d0b0c-leadsync-sandbox-0001",
    "client_id": "leadsync-sandbox-client",
    "client_secret": "leadsync-sandbox-client-secret",
    "refresh_token": "leadsync-sandbox-refresh-token",
}

ENGAGEMENT_TYPES: tuple[str, ...] = ("emails", "meetings", "calls", "notes")
OBJECT_TYPES: tuple[str, ...] = ("contacts", *ENGAGEMENT_TYPES, "deals")
_TYPE_RE = "|".join(OBJECT_TYPES)

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

_CHANGE_PROP = {t: "hs_lastmodifieddate" for t in OBJECT_TYPES} | {"contacts": "lastmodifieddate"}
_CREATE_PROP = {t: "hs_createdate" for t in ENGAGEMENT_TYPES} | {"contacts": "createdate", "deals": "createdate"}
_DEFAULT_PROPS: dict[str, tuple[str, ...]] = {
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
_PROP_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# Properties HubSpot computes; a write to them is refused (READ_ONLY_VALUE).
_READ_ONLY = {
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
    "hs_createdate",
    "hs_lastmodifieddate",
    "hs_merged_object_ids",
}

_SCOPES_BY_ENDPOINT: dict[str, str] = {
    "contacts.": "crm.objects.contacts.read",
    "emails.": "sales-email-read",
    "meetings.": "crm.objects.contacts.read",
    "calls.": "crm.objects.contacts.read",
    "notes.": "crm.objects.contacts.read",
    "deals.": "crm.objects.deals.read",
    "associations.": "crm.objects.contacts.read",
    "properties.": "crm.schemas.contacts.read",
    "property_groups.": "crm.schemas.contacts.read",
    "owners.": "crm.objects.owners.read",
}
_WRITE_SCOPES = {"contacts": "crm.objects.contacts.write", "deals": "crm.objects.deals.write"}
ALL_SCOPES = frozenset({*_SCOPES_BY_ENDPOINT.values(), *_WRITE_SCOPES.values(), "crm.schemas.contacts.write", "oauth"})

LIFECYCLE_STAGES = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
    "evangelist", "other",
)  # fmt: skip

# Labels the notes of non-email/meeting/call activities start with (the adapter's activity map knows them).
NOTE_LABELS: dict[str, str] = {
    "page_view": "Page view",
    "form_submission": "Form submission",
    "demo_request": "Demo request",
    "webinar_registration": "Webinar registration",
    "webinar_attended": "Webinar attended",
    "content_download": "Content download",
    "social_engagement": "Social engagement",
    "unsubscribe": "Unsubscribe",
    "note": "Note",
    "other": "Activity",
}
_EMAIL_TYPES = {"email_open", "email_click", "email_sent", "email_reply", "bounce"}
_SALES_TYPES = {"email_reply", "email_sent", "meeting", "call"}


# -- small helpers -------------------------------------------------------------------------------------------
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


def _prop_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(to_ms(value))
    return str(value)


class HubSpotError(Exception):
    """Raised inside a handler to answer with HubSpot's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str = "VALIDATION_ERROR",
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        context: Mapping[str, Any] | None = None,
        sub_category: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.errors = list(errors)
        self.context = dict(context or {})
        self.sub_category = sub_category


def _error_body(
    message: str,
    category: str,
    *,
    errors: Sequence[Mapping[str, Any]] = (),
    context: Mapping[str, Any] | None = None,
    sub_category: str | None = None,
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if errors:
        body["errors"] = list(errors)
    if context:
        body["context"] = dict(context)
    if links:
        body["links"] = dict(links)
    return body


def _record_error(
    message: str,
    category: str,
    ids: Sequence[str],
    trace_id: str | None = None,
    errors: Sequence[Mapping[str, Any]] = (),
    sub_category: str | None = None,
) -> dict[str, Any]:
    """One entry of a batch answer's ``errors[]`` (``StandardError``: context, links, errors required)."""
    context: dict[str, list[str]] = {"ids": list(ids)}
    if trace_id:
        context["objectWriteTraceId"] = [trace_id]
    out: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "links": {},
        "errors": list(errors),
    }
    if sub_category:
        out["subCategory"] = sub_category
    return out


class _Window:
    """A rolling request window (timestamps in sandbox seconds)."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()

    def count(self, now: float, span: float) -> int:
        while self.times and self.times[0] <= now - span:
            self.times.popleft()
        return len(self.times)


# -- the API ---------------------------------------------------------------------------------------------------
class HubSpotApi(CRMApi):
    crm = "hubspot"
    prefixes = ("/crm/", "/oauth/v1/")

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self._lock = threading.RLock()
        self._rate_lock = threading.Lock()
        self._burst: dict[str, _Window] = {}
        self._search = _Window()
        self._daily_day: str = ""
        self._daily_used = 0
        self._access_tokens: dict[str, float] = {}  # OAuth access token -> expiry (sandbox seconds)
        self._refresh_tokens = {SANDBOX_CREDENTIALS["refresh_token"]}
        self.scopes: set[str] = set(ALL_SCOPES)  # granted scopes; tests remove some to get 403 MISSING_SCOPES
        self.fail_records: set[str] = set()  # test-only: ids whose batch writes always fail
        self._injected: list[list[Any]] = []  # test-only: [endpoint prefix, status, remaining]
        self.page_views_as_notes = True
        self._init_schema()

    # -- configuration ----------------------------------------------------------------------------------------
    def limit(self, name: str) -> Any:
        overrides = self.sandbox.config.limits.get("hubspot", {})
        return overrides.get(name, DEFAULT_LIMITS[name])

    def inject_failures(self, endpoint_prefix: str, status: int, times: int = 1) -> None:
        """Test-only switch: the next ``times`` requests to endpoints starting with the prefix get ``status``."""
        with self._rate_lock:
            self._injected.append([endpoint_prefix, status, times])

    # -- schema --------------------------------------------------------------------------------------------------
    def _init_schema(self) -> None:
        with self.store.tx() as conn:
            ddl = """
                CREATE TABLE IF NOT EXISTS hs_objects (
                    type TEXT NOT NULL, id INTEGER NOT NULL, created_ms INTEGER NOT NULL,
                    modified_ms INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0, props TEXT NOT NULL,
                    PRIMARY KEY (type, id)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS hs_objects_modified ON hs_objects (type, archived, modified_ms, id);
                CREATE TABLE IF NOT EXISTS hs_merged (
                    type TEXT NOT NULL, old_id INTEGER NOT NULL, new_id INTEGER NOT NULL,
                    PRIMARY KEY (type, old_id));
                CREATE TABLE IF NOT EXISTS hs_assoc (
                    contact_id INTEGER NOT NULL, to_type TEXT NOT NULL, to_id INTEGER NOT NULL,
                    PRIMARY KEY (contact_id, to_type, to_id)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS hs_assoc_to ON hs_assoc (to_type, to_id);
                CREATE TABLE IF NOT EXISTS hs_owners (
                    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, email TEXT NOT NULL,
                    first_name TEXT NOT NULL, last_name TEXT NOT NULL, archived INTEGER NOT NULL,
                    teams TEXT NOT NULL, created_ms INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS hs_properties (
                    type TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,
                    PRIMARY KEY (type, name));
                CREATE TABLE IF NOT EXISTS hs_property_groups (
                    type TEXT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, display_order INTEGER NOT NULL,
                    PRIMARY KEY (type, name));
                CREATE TABLE IF NOT EXISTS hs_seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """
            for statement in ddl.split(";"):  # executescript would commit the transaction
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO hs_seq VALUES ('object', 100000), ('owner', 7000000)")
            if conn.execute("SELECT COUNT(*) FROM hs_properties").fetchone()[0] == 0:
                self._seed_properties(conn)

    def _seed_properties(self, conn: Any) -> None:
        now = self._now_ms()
        stages = [(s, s.replace("qualifiedlead", " qualified lead").title()) for s in LIFECYCLE_STAGES]
        contact_props: list[tuple[str, str, str, str, list[tuple[str, str]]]] = [
            ("email", "Email", "string", "text", []),
            ("firstname", "First Name", "string", "text", []),
            ("lastname", "Last Name", "string", "text", []),
            ("jobtitle", "Job Title", "string", "text", []),
            ("company", "Company Name", "string", "text", []),
            ("industry", "Industry", "string", "text", []),
            ("numemployees", "Number of Employees", "string", "text", []),  # messy strings as given
            ("annualrevenue", "Annual Revenue", "string", "text", []),
            ("country", "Country/Region", "string", "text", []),
            ("state", "State/Region", "string", "text", []),
            ("city", "City", "string", "text", []),
            ("phone", "Phone Number", "string", "text", []),
            ("website", "Website URL", "string", "text", []),
            ("hs_analytics_source", "Original Source", "string", "text", []),
            ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", stages),
            (
                "hs_lead_status",
                "Lead Status",
                "enumeration",
                "radio",
                [
                    (v, v.replace("_", " ").title())
                    for v in (
                        "NEW",
                        "OPEN",
                        "IN_PROGRESS",
                        "OPEN_DEAL",
                        "UNQUALIFIED",
                        "ATTEMPTED_TO_CONTACT",
                        "CONNECTED",
                        "BAD_TIMING",
                    )
                ],
            ),
            ("hubspot_owner_id", "Contact owner", "enumeration", "select", []),
            ("createdate", "Create Date", "datetime", "date", []),
            ("lastmodifieddate", "Last Modified Date", "datetime", "date", []),
            ("hs_object_id", "Record ID", "number", "number", []),
            ("hs_merged_object_ids", "Merged Contact IDs", "string", "text", []),
            ("hs_lifecyclestage_customer_date", "Became a Customer Date", "datetime", "date", []),
            (
                "hs_email_optout",
                "Unsubscribed from all email",
                "bool",
                "booleancheckbox",
                [("true", "True"), ("false", "False")],
            ),
            ("hs_analytics_num_page_views", "Number of Pageviews", "number", "number", []),
            ("hs_analytics_num_visits", "Number of Sessions", "number", "number", []),
            ("hs_analytics_last_visit_timestamp", "Time of Last Session", "datetime", "date", []),
            ("hs_email_open", "Marketing emails opened", "number", "number", []),
            ("hs_email_click", "Marketing emails clicked", "number", "number", []),
            ("num_conversion_events", "Number of Form Submissions", "number", "number", []),
            ("recent_conversion_event_name", "Recent Conversion", "string", "text", []),
            ("notes_last_updated", "Last Activity Date", "datetime", "date", []),
            ("hs_last_sales_activity_timestamp", "Last Engagement Date", "datetime", "date", []),
        ]
        rows = []
        for order, (name, label, ptype, field_type, options) in enumerate(contact_props):
            definition = self._property_json(
                "contacts",
                name,
                label,
                ptype,
                field_type,
                "contactinformation",
                options,
                order,
                now,
                hubspot_defined=True,
                read_only=name in _READ_ONLY,
            )
            rows.append(("contacts", name, json.dumps(definition)))
        conn.executemany("INSERT INTO hs_properties VALUES (?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO hs_property_groups VALUES (?, ?, ?, ?)",
            [
                ("contacts", "contactinformation", "Contact information", 0),
                ("contacts", "analyticsinformation", "Web analytics history", 1),
            ],
        )

    @staticmethod
    def _property_json(
        otype: str,
        name: str,
        label: str,
        ptype: str,
        field_type: str,
        group: str,
        options: Sequence[tuple[str, str]],
        order: int,
        now_ms: int,
        *,
        description: str = "",
        hubspot_defined: bool = False,
        read_only: bool = False,
    ) -> dict[str, Any]:
        return {
            "name": name,
            "label": label,
            "type": ptype,
            "fieldType": field_type,
            "groupName": group,
            "description": description,
            "options": [
                {"label": lab, "value": val, "displayOrder": i, "hidden": False} for i, (val, lab) in enumerate(options)
            ],
            "displayOrder": order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": hubspot_defined,
            "formField": not read_only,
            "modificationMetadata": {
                "archivable": not hubspot_defined,
                "readOnlyDefinition": hubspot_defined,
                "readOnlyValue": read_only,
            },
            "createdAt": iso(now_ms),
            "updatedAt": iso(now_ms),
            "archived": False,
        }

    # -- time and ids ----------------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return to_ms(self.sandbox.clock.now())

    def _next_ids(self, conn: Any, n: int, seq: str = "object") -> range:
        start = conn.execute("SELECT value FROM hs_seq WHERE name = ?", (seq,)).fetchone()[0] + 1
        conn.execute("UPDATE hs_seq SET value = ? WHERE name = ?", (start + n - 1, seq))
        return range(start, start + n)

    # -- routing -----------------------------------------------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        out: list[Route] = [route("POST", r"/oauth/v1/token", self._oauth_token, "hubspot.oauth.token")]
        for t in OBJECT_TYPES:
            base = f"/crm/v3/objects/{t}"
            out += [
                route("GET", base, self._handler(t, self._list), f"hubspot.{t}.list"),
                route("POST", base, self._handler(t, self._create), f"hubspot.{t}.create"),
                route("POST", f"{base}/search", self._handler(t, self._search_objects), f"hubspot.{t}.search"),
                route("POST", f"{base}/batch/read", self._handler(t, self._batch_read), f"hubspot.{t}.batch_read"),
                route(
                    "POST", f"{base}/batch/update", self._handler(t, self._batch_update), f"hubspot.{t}.batch_update"
                ),
                route("GET", rf"{base}/(?P<id>[^/]+)", self._handler(t, self._get), f"hubspot.{t}.get"),
            ]
        out += [
            route(
                "POST",
                rf"/crm/v4/associations/(?P<from>{_TYPE_RE})/(?P<to>{_TYPE_RE})/batch/read",
                self._wrap(self._assoc_batch_read),
                "hubspot.associations.batch_read",
            ),
            route(
                "GET",
                r"/crm/v3/properties/(?P<type>\w+)/groups",
                self._wrap(self._groups_list),
                "hubspot.property_groups.list",
            ),
            route(
                "POST",
                r"/crm/v3/properties/(?P<type>\w+)/groups",
                self._wrap(self._groups_create),
                "hubspot.property_groups.create",
            ),
            route(
                "GET", r"/crm/v3/properties/(?P<type>\w+)", self._wrap(self._properties_list), "hubspot.properties.list"
            ),
            route(
                "POST",
                r"/crm/v3/properties/(?P<type>\w+)",
                self._wrap(self._properties_create),
                "hubspot.properties.create",
            ),
            route(
                "GET",
                r"/crm/v3/properties/(?P<type>\w+)/(?P<name>[^/]+)",
                self._wrap(self._properties_get),
                "hubspot.properties.get",
            ),
            route("GET", r"/crm/v3/owners/?", self._wrap(self._owners_list), "hubspot.owners.list"),
        ]
        return out

    def _wrap(self, fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            try:
                return fn(request)
            except HubSpotError as exc:
                return Response(
                    exc.status,
                    _error_body(
                        exc.message, exc.category, errors=exc.errors, context=exc.context, sub_category=exc.sub_category
                    ),
                )

        return handler

    def _handler(self, otype: str, fn: Callable[[str, Request], Response]) -> Callable[[Request], Response]:
        return self._wrap(lambda request: fn(otype, request))

    # -- errors --------------------------------------------------------------------------------------------------
    def error(self, status: int, message: str, request: Request) -> Response:
        category = {
            400: "VALIDATION_ERROR",
            401: "INVALID_AUTHENTICATION",
            403: "MISSING_SCOPES",
            404: "OBJECT_NOT_FOUND",
            409: "CONFLICT",
            429: "RATE_LIMITS",
        }.get(status, "INTERNAL_ERROR")
        return Response(status, _error_body(message, category))

    def rate_limited(self, request: Request, endpoint: str) -> Response:
        return self._rate_limit_response("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")

    @staticmethod
    def _rate_limit_response(policy: str, message: str) -> Response:
        body = _error_body(message, "RATE_LIMITS")
        # HubSpot's documented 429 body: errorType RATE_LIMIT and the policy that was hit
        body.update({"errorType": "RATE_LIMIT", "policyName": policy, "requestId": str(uuid.uuid4())})
        return Response(429, body)

    # -- auth and rate limits ------------------------------------------------------------------------------------
    def _caller(self, request: Request) -> tuple[str, str] | Response:
        """``(app key, "private" | "oauth")`` for a valid bearer token, else the 401 answer."""
        auth = request.header("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            return Response(
                401,
                _error_body(
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                ),
            )
        if token == SANDBOX_CREDENTIALS["private_app_token"]:
            return ("private", "private")
        expiry = self._access_tokens.get(token)
        if expiry is None:
            return Response(
                401, _error_body("The OAuth token used to make this call is invalid.", "INVALID_AUTHENTICATION")
            )
        now = self.sandbox.clock.seconds()
        if now >= expiry:
            minutes = int((now - expiry) // 60)
            return Response(
                401,
                _error_body(
                    f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
                    "EXPIRED_AUTHENTICATION",
                    context={"expiresAt": [str(expiry)]},
                ),
            )
        return ("oauth", "oauth")

    def _required_scope(self, request: Request, endpoint: str) -> str | None:
        name = endpoint.removeprefix("hubspot.")
        for otype, scope in _WRITE_SCOPES.items():
            if name in (f"{otype}.batch_update", f"{otype}.create"):
                return scope
        if name in ("properties.create", "property_groups.create"):
            return "crm.schemas.contacts.write"
        for prefix, scope in _SCOPES_BY_ENDPOINT.items():
            if name.startswith(prefix):
                return scope
        return None

    def before(self, request: Request, endpoint: str) -> Response | None:
        if endpoint == "hubspot.oauth.token":
            return None
        caller = self._caller(request)
        if isinstance(caller, Response):
            return caller
        app, kind = caller
        scope = self._required_scope(request, endpoint)
        if scope is not None and scope not in self.scopes:
            return Response(
                403,
                _error_body(
                    "This app hasn't been granted all required scopes to make this call. Read more about required "
                    "scopes here: https://developers.hubspot.com/scopes.",
                    "MISSING_SCOPES",
                    errors=[
                        {
                            "message": "One or more of the following scopes are required.",
                            "context": {"requiredGranularScopes": [scope]},
                        }
                    ],
                    links={"scopes": "https://developers.hubspot.com/scopes"},
                ),
            )
        limited = self._take_rate(app, kind, endpoint)
        if limited is not None:
            return limited
        with self._rate_lock:
            for item in self._injected:
                if item[2] > 0 and endpoint.startswith(item[0]):
                    item[2] -= 1
                    status = int(item[1])
                    return Response(
                        status,
                        _error_body(
                            f"Injected error {status} (sandbox test switch).",
                            "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR",
                        ),
                    )
        return None

    def _take_rate(self, app: str, kind: str, endpoint: str) -> Response | None:
        if not self.sandbox.config.rate_limits:
            return None
        now = self.sandbox.clock.seconds()
        is_search = endpoint.endswith(".search")
        with self._rate_lock:
            day = self.sandbox.clock.now().date().isoformat()  # HubSpot resets daily at midnight (account TZ)
            if day != self._daily_day:
                self._daily_day, self._daily_used = day, 0
            if kind == "private" and self._daily_used >= int(self.limit("daily")):
                return self._rate_limit_response("DAILY", "You have reached your daily limit.")
            if is_search:
                # The search endpoints are limited to N requests per second and do not count against the burst.
                if self._search.count(now, 1.0) >= int(self.limit("search_per_second")):
                    return self._rate_limit_response("SECONDLY", "You have reached your secondly limit.")
                self._search.times.append(now)
            else:
                window = self._burst.setdefault(app, _Window())
                span = int(self.limit("interval_ms")) / 1000
                if window.count(now, span) >= self._burst_max(kind):
                    return self._rate_limit_response(
                        "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
                    )
                window.times.append(now)
            if kind == "private":
                self._daily_used += 1
        return None

    def _burst_max(self, kind: str) -> int:
        return int(self.limit("oauth_burst_per_10s" if kind == "oauth" else "burst_per_10s"))

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        response.headers.setdefault("X-HubSpot-Correlation-Id", str(uuid.uuid4()))
        if endpoint == "hubspot.oauth.token" or not self.sandbox.config.rate_limits:
            return response
        caller = self._caller(request)
        if isinstance(caller, Response):
            return response
        app, kind = caller
        now = self.sandbox.clock.seconds()
        with self._rate_lock:
            if not endpoint.endswith(".search"):
                span = int(self.limit("interval_ms")) / 1000
                used = self._burst.setdefault(app, _Window()).count(now, span)
                limit = self._burst_max(kind)
                response.headers["X-HubSpot-RateLimit-Max"] = str(limit)
                response.headers["X-HubSpot-RateLimit-Remaining"] = str(max(limit - used, 0))
                response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(self.limit("interval_ms"))
            if kind == "private":
                daily = int(self.limit("daily"))
                response.headers["X-HubSpot-RateLimit-Daily"] = str(daily)
                response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(daily - self._daily_used, 0))
        return response

    # -- OAuth ---------------------------------------------------------------------------------------------------
    def _oauth_token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return Response(
                400,
                {
                    "status": "BAD_GRANT_TYPE",
                    "message": "grant_type must be refresh_token",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        if (
            form.get("client_id") != SANDBOX_CREDENTIALS["client_id"]
            or form.get("client_secret") != SANDBOX_CREDENTIALS["client_secret"]
        ):
            return Response(
                400,
                {
                    "status": "BAD_CLIENT_ID",
                    "message": "missing or unknown client id",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        if form.get("refresh_token") not in self._refresh_tokens:
            return Response(
                400,
                {
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                    "correlationId": str(uuid.uuid4()),
                },
            )
        token = f"sandbox-oauth-{uuid.uuid4().hex}"
        lifetime = int(self.limit("token_lifetime"))
        with self._rate_lock:
            self._access_tokens[token] = self.sandbox.clock.seconds() + lifetime
        return Response(
            200,
            {
                "token_type": "bearer",
                "refresh_token": form["refresh_token"],
                "access_token": token,
                "expires_in": lifetime,
            },
        )

    def revoke_access_tokens(self) -> None:
        """Test helper: every OAuth access token issued so far stops working (401)."""
        with self._rate_lock:
            self._access_tokens.clear()

    # -- object rendering ----------------------------------------------------------------------------------------
    def _props_of(self, otype: str, row: Any) -> dict[str, Any]:
        props: dict[str, Any] = json.loads(row["props"])
        props[_CHANGE_PROP[otype]] = iso(row["modified_ms"])
        props[_CREATE_PROP[otype]] = iso(row["created_ms"])
        props["hs_object_id"] = str(row["id"])
        return props

    def _render(self, otype: str, row: Any, wanted: Sequence[str] | None) -> dict[str, Any]:
        props = self._props_of(otype, row)
        names = list(_DEFAULT_PROPS[otype]) if not wanted else list(dict.fromkeys(wanted))
        out: dict[str, Any] = {
            "id": str(row["id"]),
            "properties": {name: props.get(name) for name in names},
            "createdAt": iso(row["created_ms"]),
            "updatedAt": iso(row["modified_ms"]),
            "archived": bool(row["archived"]),
        }
        if row["archived"]:
            out["archivedAt"] = iso(row["modified_ms"])
        return out

    @staticmethod
    def _wanted(request: Request, body: Mapping[str, Any] | None = None) -> list[str]:
        if body is not None:
            raw = body.get("properties") or []
            return [str(p) for p in raw]
        names: list[str] = []
        for value in request.query.get("properties", []):
            names.extend(p.strip() for p in value.split(",") if p.strip())
        return names

    def _resolve(self, conn: Any, otype: str, object_id: int) -> int | None:
        row = conn.execute("SELECT id FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()
        if row is not None:
            return int(row[0])
        merged = conn.execute(
            "SELECT new_id FROM hs_merged WHERE type = ? AND old_id = ?", (otype, object_id)
        ).fetchone()
        return int(merged[0]) if merged is not None else None

    @staticmethod
    def _int_id(value: Any) -> int | None:
        text = str(value).strip()
        return int(text) if text.isdigit() else None

    def _body(self, request: Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise HubSpotError(400, "Invalid input JSON: the body must be a JSON object.")
        return body

    # -- list / get / create ---------------------------------------------------------------------------------------
    def _list(self, otype: str, request: Request) -> Response:
        limit = int(request.arg("limit") or 10)
        if limit > LIST_LIMIT or limit < 1:
            raise HubSpotError(
                400, f"limit must be between 1 and {LIST_LIMIT}, got {limit}.", context={"limit": [str(limit)]}
            )
        after_raw = request.arg("after")
        after = 0
        if after_raw:
            parsed = self._int_id(after_raw)
            if parsed is None:
                raise HubSpotError(400, f"Invalid paging cursor after={after_raw!r}.")
            after = parsed
        archived = (request.arg("archived") or "false").lower() == "true"
        wanted = self._wanted(request)
        associations = [a for v in request.query.get("associations", []) for a in v.split(",") if a]
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT * FROM hs_objects WHERE type = ? AND archived = ? AND id >= ? ORDER BY id LIMIT ?",
                (otype, int(archived), after, limit + 1),
            ).fetchall()
            results = [self._render(otype, row, wanted) for row in rows[:limit]]
            if associations:
                self._attach_associations(conn, otype, results, associations)
        body: dict[str, Any] = {"results": results}
        if len(rows) > limit:
            nxt = str(rows[limit]["id"])
            body["paging"] = {"next": {"after": nxt, "link": f"{self._base()}{request.path}?after={nxt}"}}
        return Response(200, body)

    def _attach_associations(self, conn: Any, otype: str, results: list[dict[str, Any]], to: Sequence[str]) -> None:
        for item in results:
            oid = int(item["id"])
            assoc: dict[str, Any] = {}
            for to_type in to:
                if otype == "contacts" and to_type in ASSOCIATION_TYPE_IDS:
                    ids = [
                        r[0]
                        for r in conn.execute(
                            "SELECT to_id FROM hs_assoc WHERE contact_id = ? AND to_type = ? ORDER BY to_id",
                            (oid, to_type),
                        )
                    ]
                    label = f"contact_to_{to_type[:-1]}"
                elif to_type == "contacts" and otype in ASSOCIATION_TYPE_IDS:
                    ids = [
                        r[0]
                        for r in conn.execute(
                            "SELECT contact_id FROM hs_assoc WHERE to_type = ? AND to_id = ? ORDER BY contact_id",
                            (otype, oid),
                        )
                    ]
                    label = f"{otype[:-1]}_to_contact"
                else:
                    continue
                if ids:
                    assoc[to_type] = {"results": [{"id": str(i), "type": label} for i in ids]}
            if assoc:
                item["associations"] = assoc

    def _base(self) -> str:
        return str(getattr(self.sandbox, "hubspot_url", ""))

    def _get(self, otype: str, request: Request) -> Response:
        raw_id = unquote(request.params["id"])
        id_property = request.arg("idProperty")
        wanted = self._wanted(request)
        with self.store.read() as conn:
            object_id: int | None
            if id_property:
                object_id = self._find_by_property(conn, otype, id_property, raw_id)
            else:
                parsed = self._int_id(raw_id)
                object_id = self._resolve(conn, otype, parsed) if parsed is not None else None
            row = (
                None
                if object_id is None
                else conn.execute("SELECT * FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()
            )
        if row is None:
            return Response(
                404, _error_body(f"Object not found.  objectId are usually numeric. ({raw_id})", "OBJECT_NOT_FOUND")
            )
        return Response(200, self._render(otype, row, wanted))

    def _find_by_property(self, conn: Any, otype: str, prop: str, value: str) -> int | None:
        if not _PROP_NAME.match(prop):
            raise HubSpotError(400, f"Invalid idProperty {prop!r}.")
        row = conn.execute(
            f"SELECT id FROM hs_objects WHERE type = ? AND archived = 0 "
            f"AND lower(json_extract(props, '$.\"{prop}\"')) = lower(?) ORDER BY id LIMIT 1",
            (otype, value),
        ).fetchone()
        return None if row is None else int(row[0])

    def _create(self, otype: str, request: Request) -> Response:
        body = self._body(request)
        props = {k: _prop_str(v) for k, v in (body.get("properties") or {}).items()}
        self._validate_props(otype, [props])
        contact_ids: list[int] = []
        for assoc in body.get("associations") or []:
            cid = self._int_id((assoc.get("to") or {}).get("id", ""))
            if cid is not None:
                contact_ids.append(cid)
        now = self._now_ms()
        with self.store.tx() as conn:
            if otype == "contacts" and props.get("email"):
                existing = self._find_by_property(conn, "contacts", "email", str(props["email"]))
                if existing is not None:
                    raise HubSpotError(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
            (new_id,) = self._next_ids(conn, 1)
            stored = {k: v for k, v in props.items() if v not in (None, "") and k not in _READ_ONLY}
            created = now
            if otype in ENGAGEMENT_TYPES and stored.get("hs_timestamp"):
                created = min(now, parse_ms(stored["hs_timestamp"]))
            conn.execute(
                "INSERT INTO hs_objects VALUES (?, ?, ?, ?, 0, ?)", (otype, new_id, created, now, json.dumps(stored))
            )
            for cid in contact_ids:
                resolved = self._resolve(conn, "contacts", cid)
                if resolved is not None and otype in ASSOCIATION_TYPE_IDS:
                    self._associate(conn, resolved, otype, new_id, now)
            row = conn.execute("SELECT * FROM hs_objects WHERE type = ? AND id = ?", (otype, new_id)).fetchone()
        return Response(201, self._render(otype, row, list(props) or None))

    def _associate(self, conn: Any, contact_id: int, otype: str, object_id: int, now_ms: int) -> None:
        conn.execute("INSERT OR IGNORE INTO hs_assoc VALUES (?, ?, ?)", (contact_id, otype, object_id))
        if otype not in ENGAGEMENT_TYPES:
            return
        # An engagement on a contact updates its activity rollups, hence its lastmodifieddate.
        updates = {"notes_last_updated": iso(now_ms)}
        if otype in ("emails", "meetings", "calls"):  # sales activities
            updates["hs_last_sales_activity_timestamp"] = iso(now_ms)
        self._patch(conn, "contacts", contact_id, updates, now_ms)

    def _patch(self, conn: Any, otype: str, object_id: int, updates: Mapping[str, str | None], now_ms: int) -> bool:
        """Apply property values (``""``/None clears); bump the change timestamp when something changed."""
        row = conn.execute("SELECT props FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()
        if row is None:
            return False
        props = json.loads(row[0])
        changed = False
        for key, value in updates.items():
            if value in (None, ""):
                changed |= props.pop(key, None) is not None
            elif props.get(key) != value:
                props[key] = value
                changed = True
        if changed:
            conn.execute(
                "UPDATE hs_objects SET props = ?, modified_ms = ? WHERE type = ? AND id = ?",
                (json.dumps(props), now_ms, otype, object_id),
            )
        return changed

    # -- properties validation ---------------------------------------------------------------------------------
    def _definitions(self, otype: str) -> dict[str, dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute("SELECT name, definition FROM hs_properties WHERE type = ?", (otype,)).fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def _validate_props(self, otype: str, inputs: Sequence[Mapping[str, str | None]]) -> None:
        """Whole-request validation, as HubSpot does it: unknown, read-only or badly typed values -> 400."""
        if otype != "contacts":
            return  # engagement and deal properties are free-form in the sandbox
        defs = self._definitions(otype)
        errors: list[dict[str, Any]] = []
        for props in inputs:
            for name, value in props.items():
                definition = defs.get(name)
                if definition is None:
                    errors.append(
                        {
                            "message": f'Property "{name}" does not exist',
                            "code": "PROPERTY_DOESNT_EXIST",
                            "context": {"propertyName": [name]},
                        }
                    )
                elif name in _READ_ONLY:
                    errors.append(
                        {
                            "message": f'"{name}" is a read only property; its value cannot be set.',
                            "code": "READ_ONLY_VALUE",
                            "context": {"propertyName": [name]},
                        }
                    )
                elif value not in (None, ""):
                    problem = self._bad_value(definition, str(value))
                    if problem:
                        errors.append({"message": problem[1], "code": problem[0], "context": {"propertyName": [name]}})
        if errors:
            raise HubSpotError(
                400, "Property values were not valid: " + "; ".join(e["message"] for e in errors), errors=errors
            )

    @staticmethod
    def _bad_value(definition: Mapping[str, Any], value: str) -> tuple[str, str] | None:
        ptype = definition.get("type")
        name = definition.get("name")
        if ptype == "number":
            try:
                float(value)
            except ValueError:
                return "INVALID_FLOAT", f"{value!r} is not a valid number for {name}"
        elif ptype in ("datetime", "date"):
            try:
                parse_ms(value)
            except BadRequest:
                return "INVALID_DATE", f"{value!r} is not a valid date for {name}"
        elif ptype == "enumeration" and definition.get("options"):
            allowed = [o["value"] for o in definition["options"]]
            values = value.split(";") if definition.get("fieldType") == "checkbox" else [value]
            if any(v not in allowed for v in values):
                return "INVALID_OPTION", f"{value} was not one of the allowed options: {allowed}"
        elif ptype == "bool" and value.lower() not in ("true", "false"):
            return "INVALID_BOOLEAN", f"{value!r} is not a valid boolean for {name}"
        return None

    # -- search ----------------------------------------------------------------------------------------------------
    def _search_objects(self, otype: str, request: Request) -> Response:
        if len(request.body) > SEARCH_MAX_BODY:
            raise HubSpotError(
                400,
                f"The request body is {len(request.body)} characters long; search requests "
                f"are limited to {SEARCH_MAX_BODY}.",
            )
        body = self._body(request)
        limit = int(body.get("limit") or 10)
        if not 1 <= limit <= SEARCH_LIMIT:
            raise HubSpotError(400, f"limit must be between 1 and {SEARCH_LIMIT}, got {limit}.")
        after_raw = body.get("after") or "0"
        offset = self._int_id(after_raw)
        if offset is None:
            raise HubSpotError(400, f"Invalid paging cursor after={after_raw!r}.")
        if offset >= SEARCH_MAX_RESULTS:
            # HubSpot: the search endpoints return at most 10,000 results per query; paging past them is a 400.
            raise HubSpotError(
                400,
                f"There was a problem with the request: after={offset} is beyond the "
                f"{SEARCH_MAX_RESULTS} results a search can return; narrow the query instead.",
                context={"after": [str(offset)]},
            )
        where, params = self._search_where(otype, body)
        order = self._search_order(otype, body.get("sorts") or [])
        wanted = self._wanted(request, body)
        take = min(limit, SEARCH_MAX_RESULTS - offset)
        with self.store.read() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM hs_objects WHERE {where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT * FROM hs_objects WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", [*params, take, offset]
            ).fetchall()
        out: dict[str, Any] = {"total": total, "results": [self._render(otype, r, wanted) for r in rows]}
        if offset + len(rows) < total:
            nxt = str(offset + len(rows))
            out["paging"] = {"next": {"after": nxt, "link": f"{self._base()}{request.path}?after={nxt}"}}
        return Response(200, out)

    def _column(self, otype: str, prop: str, defs: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
        """(SQL expression, kind) for a property: kind id | ms | num | dt | bool | text."""
        if not _PROP_NAME.match(prop):
            raise HubSpotError(400, f"Invalid property name {prop!r}.")
        if prop == "hs_object_id":
            return "id", "id"
        if prop == _CHANGE_PROP[otype]:
            return "modified_ms", "ms"
        if prop == _CREATE_PROP[otype]:
            return "created_ms", "ms"
        expr = f"json_extract(props, '$.\"{prop}\"')"
        ptype = (defs.get(prop) or {}).get("type")
        if ptype == "number":
            return f"CAST({expr} AS REAL)", "num"
        if ptype in ("datetime", "date"):
            return expr, "dt"
        return expr, "text"

    @staticmethod
    def _value(kind: str, value: Any) -> Any:
        if kind == "id":
            return int(float(str(value)))
        if kind == "ms":
            return parse_ms(value)
        if kind == "num":
            return float(str(value))
        if kind == "dt":
            return iso(parse_ms(value))
        return str(value)

    def _search_where(self, otype: str, body: Mapping[str, Any]) -> tuple[str, list[Any]]:
        groups = body.get("filterGroups") or []
        if (
            len(groups) > 5
            or sum(len(g.get("filters") or []) for g in groups) > 18
            or any(len(g.get("filters") or []) > 6 for g in groups)
        ):
            raise HubSpotError(400, "Too many filters: at most 5 filterGroups of at most 6 filters, 18 in total.")
        defs = self._definitions(otype)
        params: list[Any] = [otype]
        clauses = ["type = ?", "archived = 0"]  # search never returns archived records
        ors: list[str] = []
        for group in groups:
            ands: list[str] = []
            for flt in group.get("filters") or []:
                sql, values = self._filter_sql(otype, flt, defs)
                ands.append(sql)
                params.extend(values)
            if ands:
                ors.append("(" + " AND ".join(ands) + ")")
        if ors:
            clauses.append("(" + " OR ".join(ors) + ")")
        query = str(body.get("query") or "").strip()
        if query:
            like = f"%{query}%"
            clauses.append(
                "("
                + " OR ".join(
                    f"json_extract(props, '$.{p}') LIKE ?"
                    for p in ("email", "firstname", "lastname", "company", "phone", "hs_note_body", "dealname")
                )
                + ")"
            )
            params.extend([like] * 7)
        return " AND ".join(clauses), params

    def _filter_sql(
        self, otype: str, flt: Mapping[str, Any], defs: Mapping[str, Mapping[str, Any]]
    ) -> tuple[str, list[Any]]:
        prop = str(flt.get("propertyName") or "")
        op = str(flt.get("operator") or "EQ").upper()
        expr, kind = self._column(otype, prop, defs)
        nocase = " COLLATE NOCASE" if kind == "text" else ""
        has = f"({expr} IS NOT NULL AND {expr} != '')"
        try:
            if op == "HAS_PROPERTY":
                return has, []
            if op == "NOT_HAS_PROPERTY":
                return f"NOT {has}", []
            if op in ("IN", "NOT_IN"):
                values = [self._value(kind, v) for v in (flt.get("values") or [])]
                if not values:
                    raise HubSpotError(400, f"Operator {op} needs 'values'.")
                marks = ", ".join("?" * len(values))
                if op == "IN":
                    return f"{expr}{nocase} IN ({marks})", values
                return f"({expr} IS NULL OR {expr}{nocase} NOT IN ({marks}))", values
            if op == "BETWEEN":
                return f"{expr} BETWEEN ? AND ?", [
                    self._value(kind, flt.get("value")),
                    self._value(kind, flt.get("highValue")),
                ]
            if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
                token = "%" + str(flt.get("value") or "").replace("*", "%") + "%"
                sql = f"{expr} LIKE ?"
                return (sql, [token]) if op == "CONTAINS_TOKEN" else (f"({expr} IS NULL OR NOT {sql})", [token])
            sql_op = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}.get(op)
            if sql_op is None:
                raise HubSpotError(400, f"Unknown filter operator {op!r}.")
            value = self._value(kind, flt.get("value"))
        except (TypeError, ValueError) as exc:
            raise HubSpotError(400, f"Invalid filter value for {prop}: {exc}") from exc
        if op == "NEQ":
            return f"({expr} IS NULL OR {expr}{nocase} != ?)", [value]
        return f"{expr}{nocase} {sql_op} ?", [value]

    def _search_order(self, otype: str, sorts: Sequence[Any]) -> str:
        # Ties keep a stable but arbitrary order (HubSpot documents none): a hash of the id.
        tie = "((id * 2654435761) % 4294967296)"
        if not sorts:
            return "id"
        first = sorts[0]
        if isinstance(first, str):
            try:
                first = json.loads(first)
            except ValueError:
                first = {
                    "propertyName": first.lstrip("-"),
                    "direction": "DESCENDING" if first.startswith("-") else "ASCENDING",
                }
        if not isinstance(first, Mapping):
            raise HubSpotError(400, "Invalid sort.")
        expr, _ = self._column(otype, str(first.get("propertyName") or ""), self._definitions(otype))
        direction = "DESC" if str(first.get("direction", "ASCENDING")).upper().startswith("DESC") else "ASC"
        if expr == "id":
            return f"id {direction}"
        return f"{expr} {direction}, {tie}"

    # -- batch read / update -----------------------------------------------------------------------------------
    def _batch_inputs(self, body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise HubSpotError(400, "Invalid input JSON: 'inputs' is required.")
        if len(inputs) > BATCH_LIMIT:
            raise HubSpotError(
                400,
                f"Batch input size {len(inputs)} is over the limit of {BATCH_LIMIT} inputs.",
                context={"inputs": [str(len(inputs))]},
            )
        return inputs

    @staticmethod
    def _batch_body(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str) -> Response:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": started,
            "startedAt": started,
            "completedAt": started,
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
            return Response(207, body)
        return Response(200, body)

    def _batch_read(self, otype: str, request: Request) -> Response:
        body = self._body(request)
        inputs = self._batch_inputs(body)
        wanted = self._wanted(request, body)
        id_property = body.get("idProperty")
        archived = (request.arg("archived") or "false").lower() == "true"
        started = iso(self._now_ms())
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        seen: set[int] = set()
        with self.store.read() as conn:
            for item in inputs:
                raw = str(item.get("id", ""))
                object_id: int | None
                if id_property:
                    object_id = self._find_by_property(conn, otype, str(id_property), raw)
                else:
                    parsed = self._int_id(raw)
                    object_id = self._resolve(conn, otype, parsed) if parsed is not None else None
                row = (
                    None
                    if object_id is None
                    else conn.execute(
                        "SELECT * FROM hs_objects WHERE type = ? AND id = ? AND archived = ?",
                        (otype, object_id, int(archived)),
                    ).fetchone()
                )
                if row is None:
                    missing.append(raw)
                elif object_id not in seen:
                    seen.add(int(row["id"]))
                    results.append(self._render(otype, row, wanted))
        errors = []
        if missing:
            errors.append(
                _record_error(
                    f"Could not get some {otype[:-1].upper()} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    "OBJECT_NOT_FOUND",
                    missing,
                )
            )
        return self._batch_body(results, errors, started)

    def _batch_update(self, otype: str, request: Request) -> Response:
        body = self._body(request)
        inputs = self._batch_inputs(body)
        ids = [str(i.get("id", "")) for i in inputs]
        if len(set(ids)) != len(ids):
            raise HubSpotError(
                400, "Duplicate IDs found in batch input: " + ", ".join(sorted({i for i in ids if ids.count(i) > 1}))
            )
        prepared = [{k: _prop_str(v) for k, v in (i.get("properties") or {}).items()} for i in inputs]
        self._validate_props(otype, prepared)
        stages = self._stage_order() if otype == "contacts" else {}
        now = self._now_ms()
        started = iso(now)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.store.tx() as conn:
            for item, props in zip(inputs, prepared, strict=True):
                raw = str(item.get("id", ""))
                trace = item.get("objectWriteTraceId")
                parsed = self._int_id(raw)
                object_id = self._resolve(conn, otype, parsed) if parsed is not None else None
                if object_id is None:
                    errors.append(
                        _record_error(
                            f"Object not found.  objectId are usually numeric. ({raw})",
                            "OBJECT_NOT_FOUND",
                            [raw],
                            trace,
                        )
                    )
                    continue
                if raw in self.fail_records or self.sandbox.faults.record_fails("hubspot", raw):
                    errors.append(
                        _record_error(
                            "Property values were not valid (failure injected by the sandbox).",
                            "VALIDATION_ERROR",
                            [raw],
                            trace,
                            errors=[{"message": "Injected per-record failure", "code": "INVALID_RECORD"}],
                        )
                    )
                    continue
                row = conn.execute("SELECT * FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()
                current = json.loads(row["props"])
                new_stage = props.get("lifecyclestage")
                old_stage = current.get("lifecyclestage")
                if (
                    otype == "contacts"
                    and new_stage
                    and old_stage
                    and new_stage != old_stage
                    and stages.get(new_stage, 0) < stages.get(old_stage, 0)
                ):
                    message = (
                        f"lifecyclestage can only move forward: {old_stage!r} -> {new_stage!r} is backwards. "
                        'Clear it first (set it to "") and then set the new stage.'
                    )
                    errors.append(
                        _record_error(
                            message,
                            "VALIDATION_ERROR",
                            [raw],
                            trace,
                            errors=[
                                {
                                    "message": message,
                                    "code": "INVALID_OPTION",
                                    "context": {"propertyName": ["lifecyclestage"]},
                                }
                            ],
                        )
                    )
                    continue
                if otype == "contacts" and new_stage == "customer" and old_stage != "customer":
                    props = {**props, "hs_lifecyclestage_customer_date": iso(now)}
                self._patch(conn, otype, object_id, props, now)
                row = conn.execute("SELECT * FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()
                rendered = self._render(otype, row, [*_DEFAULT_PROPS[otype], *props])
                if trace:
                    rendered["objectWriteTraceId"] = trace
                results.append(rendered)
        return self._batch_body(results, errors, started)

    def _stage_order(self) -> dict[str, int]:
        definition = self._definitions("contacts").get("lifecyclestage") or {}
        return {o["value"]: int(o.get("displayOrder", i)) for i, o in enumerate(definition.get("options") or [])}

    # -- associations v4 ---------------------------------------------------------------------------------------
    def _assoc_batch_read(self, request: Request) -> Response:
        from_type, to_type = request.params["from"], request.params["to"]
        body = self._body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise HubSpotError(400, "Invalid input JSON: 'inputs' is required.")
        if len(inputs) > ASSOC_BATCH_LIMIT:
            raise HubSpotError(400, f"Batch input size {len(inputs)} is over the limit of {ASSOC_BATCH_LIMIT}.")
        if "contacts" not in (from_type, to_type) or {from_type, to_type} == {"contacts"}:
            raise HubSpotError(400, f"Associations between {from_type} and {to_type} are not emulated.")
        started = iso(self._now_ms())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        other = to_type if from_type == "contacts" else from_type
        type_id = ASSOCIATION_TYPE_IDS[other][0 if from_type == "contacts" else 1]
        with self.store.read() as conn:
            for item in inputs:
                raw = str(item.get("id", ""))
                after = self._int_id(item.get("after") or "0") or 0
                parsed = self._int_id(raw)
                object_id = self._resolve(conn, from_type, parsed) if parsed is not None else None
                ids: list[int] = []
                if object_id is not None:
                    if from_type == "contacts":
                        sql = (
                            "SELECT to_id FROM hs_assoc WHERE contact_id = ? AND to_type = ? AND to_id >= ? "
                            "ORDER BY to_id LIMIT ?"
                        )
                        ids = [r[0] for r in conn.execute(sql, (object_id, to_type, after, ASSOC_PAGE + 1))]
                    else:
                        sql = (
                            "SELECT contact_id FROM hs_assoc WHERE to_type = ? AND to_id = ? AND contact_id >= ? "
                            "ORDER BY contact_id LIMIT ?"
                        )
                        ids = [r[0] for r in conn.execute(sql, (from_type, object_id, after, ASSOC_PAGE + 1))]
                if not ids:
                    errors.append(
                        _record_error(
                            f"No {to_type} is associated with {from_type[:-1]} {raw}.",
                            "OBJECT_NOT_FOUND",
                            [raw],
                            sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                        )
                        | {"context": {"fromObjectId": [raw]}}
                    )
                    continue
                entry: dict[str, Any] = {
                    "from": {"id": str(object_id)},
                    "to": [
                        {
                            "toObjectId": i,
                            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                        }
                        for i in ids[:ASSOC_PAGE]
                    ],
                }
                if len(ids) > ASSOC_PAGE:
                    entry["paging"] = {"next": {"after": str(ids[ASSOC_PAGE]), "link": None}}
                results.append(entry)
        return self._batch_body(results, errors, started)

    # -- properties ----------------------------------------------------------------------------------------------
    def _properties_list(self, request: Request) -> Response:
        otype = request.params["type"]
        return Response(200, {"results": list(self._definitions(otype).values())})

    def _properties_get(self, request: Request) -> Response:
        definition = self._definitions(request.params["type"]).get(request.params["name"])
        if definition is None:
            raise HubSpotError(404, f"Unable to find property {request.params['name']}.", "OBJECT_NOT_FOUND")
        return Response(200, definition)

    def _properties_create(self, request: Request) -> Response:
        otype = request.params["type"]
        body = self._body(request)
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise HubSpotError(
                400, f"Property definition is missing {', '.join(missing)}.", context={"missing": missing}
            )
        name = str(body["name"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise HubSpotError(400, f"Invalid property name {name!r}: use lowercase letters, digits and _.")
        if body["type"] not in ("string", "number", "date", "datetime", "enumeration", "bool"):
            raise HubSpotError(400, f"Invalid property type {body['type']!r}.")
        with self.store.tx() as conn:
            if conn.execute("SELECT 1 FROM hs_properties WHERE type = ? AND name = ?", (otype, name)).fetchone():
                raise HubSpotError(
                    409, f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS", context={"name": [name]}
                )
            group = conn.execute(
                "SELECT 1 FROM hs_property_groups WHERE type = ? AND name = ?", (otype, body["groupName"])
            ).fetchone()
            if group is None:
                raise HubSpotError(
                    400,
                    f"Property group {body['groupName']!r} does not exist.",
                    context={"groupName": [str(body["groupName"])]},
                )
            order = conn.execute("SELECT COUNT(*) FROM hs_properties WHERE type = ?", (otype,)).fetchone()[0]
            options = [(str(o.get("value")), str(o.get("label") or o.get("value"))) for o in body.get("options") or []]
            definition = self._property_json(
                otype,
                name,
                str(body["label"]),
                str(body["type"]),
                str(body["fieldType"]),
                str(body["groupName"]),
                options,
                order,
                self._now_ms(),
                description=str(body.get("description") or ""),
            )
            conn.execute("INSERT INTO hs_properties VALUES (?, ?, ?)", (otype, name, json.dumps(definition)))
        return Response(201, definition)

    def _groups_list(self, request: Request) -> Response:
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT name, label, display_order FROM hs_property_groups WHERE type = ?", (request.params["type"],)
            ).fetchall()
        return Response(
            200, {"results": [{"name": r[0], "label": r[1], "displayOrder": r[2], "archived": False} for r in rows]}
        )

    def _groups_create(self, request: Request) -> Response:
        otype = request.params["type"]
        body = self._body(request)
        name, label = str(body.get("name") or ""), str(body.get("label") or "")
        if not name or not label:
            raise HubSpotError(400, "A property group needs a name and a label.")
        with self.store.tx() as conn:
            if conn.execute("SELECT 1 FROM hs_property_groups WHERE type = ? AND name = ?", (otype, name)).fetchone():
                raise HubSpotError(409, f"Property group named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
            order = int(body.get("displayOrder") or -1)
            conn.execute("INSERT INTO hs_property_groups VALUES (?, ?, ?, ?)", (otype, name, label, order))
        return Response(201, {"name": name, "label": label, "displayOrder": order, "archived": False})

    # -- owners ------------------------------------------------------------------------------------------------
    def _owners_list(self, request: Request) -> Response:
        limit = int(request.arg("limit") or 100)
        if not 1 <= limit <= 500:
            raise HubSpotError(400, f"limit must be between 1 and 500, got {limit}.")
        after = self._int_id(request.arg("after") or "0") or 0
        archived = (request.arg("archived") or "false").lower() == "true"
        email = request.arg("email")
        sql = "SELECT * FROM hs_owners WHERE archived = ? AND id >= ?"
        params: list[Any] = [int(archived), after]
        if email:
            sql += " AND lower(email) = lower(?)"
            params.append(email)
        with self.store.read() as conn:
            rows = conn.execute(sql + " ORDER BY id LIMIT ?", [*params, limit + 1]).fetchall()
        results = [
            {
                "id": str(r["id"]),
                "email": r["email"],
                "firstName": r["first_name"],
                "lastName": r["last_name"],
                "userId": r["user_id"],
                "userIdIncludingInactive": r["user_id"],
                "type": "PERSON",
                "createdAt": iso(r["created_ms"]),
                "updatedAt": iso(r["created_ms"]),
                "archived": bool(r["archived"]),
                "teams": json.loads(r["teams"]),
            }
            for r in rows[:limit]
        ]
        body: dict[str, Any] = {"results": results}
        if len(rows) > limit:
            nxt = str(rows[limit]["id"])
            body["paging"] = {"next": {"after": nxt, "link": f"{self._base()}{request.path}?after={nxt}"}}
        return Response(200, body)

    # -- loading a dataset ---------------------------------------------------------------------------------------
    def load(self, dataset: Dataset) -> dict[str, str]:
        """Load people, owners, activities and outcomes in bulk; returns person key -> contact id."""
        now = self._now_ms()
        by_person = dataset.activities_by_person()
        with self.store.tx() as conn:
            owner_ids = self._next_ids(conn, len(dataset.owners), "owner")
            owner_of: dict[str, str] = {}
            owner_rows = []
            for oid, owner in zip(owner_ids, dataset.owners, strict=True):
                owner_of[owner.key] = str(oid)
                teams = [
                    {"id": str(1000 + zlib.crc32(t.encode()) % 9000), "name": t, "primary": i == 0}
                    for i, t in enumerate(owner.teams)
                ]
                owner_rows.append(
                    (
                        oid,
                        oid + 1_000_000,
                        owner.email,
                        owner.first_name,
                        owner.last_name,
                        int(not owner.active),
                        json.dumps(teams),
                        now,
                    )
                )
            conn.executemany("INSERT INTO hs_owners VALUES (?, ?, ?, ?, ?, ?, ?, ?)", owner_rows)

            contact_ids = self._next_ids(conn, len(dataset.people))
            ids: dict[str, str] = {}
            contact_rows = []
            for cid, person in zip(contact_ids, dataset.people, strict=True):
                ids[person.key] = str(cid)
                acts = by_person.get(person.key, [])
                props = self._person_props(person, owner_of)
                modified = to_ms(person.updated_at)
                if acts:
                    last = max(to_ms(a.occurred_at) for a in acts)
                    props["notes_last_updated"] = iso(last)
                    sales = [to_ms(a.occurred_at) for a in acts if a.type in _SALES_TYPES]
                    if sales:
                        props["hs_last_sales_activity_timestamp"] = iso(max(sales))
                    modified = max(modified, last)  # an activity updates the rollups, hence lastmodifieddate
                contact_rows.append(
                    (
                        "contacts",
                        cid,
                        to_ms(person.created_at),
                        modified,
                        0,
                        json.dumps({k: v for k, v in props.items() if v not in (None, "")}),
                    )
                )
            conn.executemany("INSERT INTO hs_objects VALUES (?, ?, ?, ?, ?, ?)", contact_rows)

            acts_all = [a for a in dataset.activities if a.person_key in ids]
            act_ids = self._next_ids(conn, len(acts_all))
            object_rows, assoc_rows = [], []
            for aid, act in zip(act_ids, acts_all, strict=True):
                otype, eprops = self._engagement_props(act.type, act.subject, act.attributes, act.occurred_at)
                at = to_ms(act.occurred_at)
                object_rows.append((otype, aid, at, at, 0, json.dumps(eprops)))
                assoc_rows.append((int(ids[act.person_key]), otype, aid))
            outcomes = [o for o in dataset.outcomes if o.person_key in ids]
            deal_ids = self._next_ids(conn, len(outcomes))
            for did, outcome in zip(deal_ids, outcomes, strict=True):
                at = to_ms(outcome.closed_at)
                props = {
                    "dealname": outcome.name or f"Deal {did}",
                    "dealstage": "closedwon" if outcome.won else "closedlost",
                    "pipeline": "default",
                    "closedate": iso(at),
                    "amount": _prop_str(outcome.amount),
                }
                object_rows.append(("deals", did, at, at, 0, json.dumps(props)))
                assoc_rows.append((int(ids[outcome.person_key]), "deals", did))
            conn.executemany("INSERT INTO hs_objects VALUES (?, ?, ?, ?, ?, ?)", object_rows)
            conn.executemany("INSERT OR IGNORE INTO hs_assoc VALUES (?, ?, ?)", assoc_rows)
        return ids

    @staticmethod
    def _person_props(person: Any, owner_of: Mapping[str, str]) -> dict[str, str | None]:
        props: dict[str, str | None] = {
            "email": person.email,
            "firstname": person.first_name,
            "lastname": person.last_name,
            "jobtitle": person.title,
            "company": person.company,
            "industry": person.industry,
            "numemployees": person.employees,
            "country": person.country,
            "city": person.city,
            "phone": person.phone,
            "hs_analytics_source": person.lead_source,
            "lifecyclestage": person.lifecycle_stage,
            "hs_lead_status": "NEW" if person.lifecycle_stage in ("subscriber", "lead") else "OPEN",
            "hubspot_owner_id": owner_of.get(person.owner_key) if person.owner_key else None,
            "hs_email_optout": "true" if person.do_not_email else None,
            "hs_analytics_num_page_views": str(person.page_views),
            "hs_analytics_num_visits": str(person.visits),
            "hs_email_open": str(person.email_opens),
            "hs_email_click": str(person.email_clicks),
            "num_conversion_events": str(person.form_submissions),
            "hs_analytics_last_visit_timestamp": _prop_str(person.last_visit_at),
        }
        if person.lifecycle_stage == "customer":
            props["hs_lifecyclestage_customer_date"] = iso(to_ms(person.updated_at))
        for key, value in (person.extra or {}).items():
            props.setdefault(key, value)
        return props

    def _engagement_props(
        self, kind: str, subject: str, attributes: Mapping[str, str], occurred_at: datetime
    ) -> tuple[str, dict[str, str]]:
        at = iso(to_ms(occurred_at))
        title = subject or attributes.get("campaign") or attributes.get("asset") or attributes.get("form") or ""
        if kind in _EMAIL_TYPES:
            props = {
                "hs_timestamp": at,
                "hs_email_subject": title,
                "hs_email_direction": "INCOMING_EMAIL" if kind == "email_reply" else "EMAIL",
                "hs_email_status": "BOUNCED" if kind == "bounce" else "SENT",
            }
            if kind in ("email_open", "email_click"):
                props["hs_email_open_count"] = "1"
            if kind == "email_click":
                props["hs_email_click_count"] = "1"
            return "emails", props
        if kind == "meeting":
            return "meetings", {
                "hs_timestamp": at,
                "hs_meeting_title": title or "Meeting",
                "hs_meeting_start_time": at,
                "hs_meeting_outcome": "COMPLETED",
            }
        if kind == "call":
            return "calls", {
                "hs_timestamp": at,
                "hs_call_title": title or "Call",
                "hs_call_direction": "OUTBOUND",
                "hs_call_status": "COMPLETED",
            }
        label = NOTE_LABELS.get(kind, NOTE_LABELS["other"])
        details = "".join(f"\n{k}: {v}" for k, v in sorted(attributes.items()))
        return "notes", {"hs_timestamp": at, "hs_note_body": f"{label}: {title}{details}"}

    # -- test helpers -------------------------------------------------------------------------------------------
    def touch(self, contact_id: str, _at: datetime | None = None, **fields: Any) -> None:
        """Set properties (HubSpot names) and bump ``lastmodifieddate`` (to ``_at`` if given, else now)."""
        at = to_ms(_at) if _at is not None else self._now_ms()
        with self.store.tx() as conn:
            oid = self._resolve(conn, "contacts", int(contact_id))
            if oid is None:
                raise KeyError(f"no HubSpot contact {contact_id}")
            self._patch(conn, "contacts", oid, {k: _prop_str(v) for k, v in fields.items()}, at)
            conn.execute("UPDATE hs_objects SET modified_ms = ? WHERE type = 'contacts' AND id = ?", (at, oid))

    def set_modified(self, contact_ids: Iterable[str], at: datetime) -> None:
        """Give many contacts the same ``lastmodifieddate`` (equal-timestamp tests)."""
        with self.store.tx() as conn:
            conn.executemany(
                "UPDATE hs_objects SET modified_ms = ? WHERE type = 'contacts' AND id = ?",
                [(to_ms(at), int(c)) for c in contact_ids],
            )

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Create the engagement for a canonical activity type, associated with the contact; returns its id."""
        when = occurred_at or self.sandbox.clock.now()
        subject = str(attrs.pop("subject", ""))
        otype, props = self._engagement_props(type, subject, {k: str(v) for k, v in attrs.items()}, when)
        now = self._now_ms()
        with self.store.tx() as conn:
            cid = self._resolve(conn, "contacts", int(contact_id))
            if cid is None:
                raise KeyError(f"no HubSpot contact {contact_id}")
            (eid,) = self._next_ids(conn, 1)
            conn.execute(
                "INSERT INTO hs_objects VALUES (?, ?, ?, ?, 0, ?)", (otype, eid, to_ms(when), now, json.dumps(props))
            )
            self._associate(conn, cid, otype, eid, now)
            self._bump_rollups(conn, cid, type, attrs, when, now)
        return str(eid)

    def _bump_rollups(self, conn: Any, cid: int, kind: str, attrs: Mapping[str, Any], when: datetime, now: int) -> None:
        row = conn.execute("SELECT props FROM hs_objects WHERE type = 'contacts' AND id = ?", (cid,)).fetchone()
        props = json.loads(row[0])
        counter = {
            "page_view": "hs_analytics_num_page_views",
            "email_open": "hs_email_open",
            "email_click": "hs_email_click",
            "form_submission": "num_conversion_events",
            "demo_request": "num_conversion_events",
        }.get(kind)
        updates: dict[str, str | None] = {}
        if counter:
            updates[counter] = str(int(props.get(counter) or 0) + 1)
        if kind == "page_view":
            updates["hs_analytics_last_visit_timestamp"] = iso(to_ms(when))
        if kind in ("form_submission", "demo_request"):
            updates["recent_conversion_event_name"] = str(attrs.get("form") or NOTE_LABELS[kind])
        if updates:
            self._patch(conn, "contacts", cid, updates, now)

    def record(self, contact_id: str) -> dict[str, Any]:
        """The stored contact as HubSpot returns it, with every property it holds."""
        with self.store.read() as conn:
            oid = self._resolve(conn, "contacts", int(contact_id))
            row = (
                None
                if oid is None
                else conn.execute("SELECT * FROM hs_objects WHERE type = 'contacts' AND id = ?", (oid,)).fetchone()
            )
        if row is None:
            raise KeyError(f"no HubSpot contact {contact_id}")
        props = self._props_of("contacts", row)
        return self._render("contacts", row, sorted(props))

    def merge(self, primary_id: str, merged_id: str) -> str:
        """Merge ``merged_id`` into ``primary_id`` as HubSpot does; the old id keeps resolving to the primary."""
        now = self._now_ms()
        with self.store.tx() as conn:
            primary = self._resolve(conn, "contacts", int(primary_id))
            old = self._resolve(conn, "contacts", int(merged_id))
            if primary is None or old is None or primary == old:
                raise KeyError(f"cannot merge contact {merged_id} into {primary_id}")
            row = conn.execute("SELECT props FROM hs_objects WHERE type = 'contacts' AND id = ?", (primary,)).fetchone()
            props = json.loads(row[0])
            merged = [p for p in (props.get("hs_merged_object_ids") or "").split(";") if p]
            merged.append(str(old))
            conn.execute("DELETE FROM hs_objects WHERE type = 'contacts' AND id = ?", (old,))
            conn.execute("UPDATE hs_merged SET new_id = ? WHERE type = 'contacts' AND new_id = ?", (primary, old))
            conn.execute("INSERT OR REPLACE INTO hs_merged VALUES ('contacts', ?, ?)", (old, primary))
            conn.execute("UPDATE OR IGNORE hs_assoc SET contact_id = ? WHERE contact_id = ?", (primary, old))
            conn.execute("DELETE FROM hs_assoc WHERE contact_id = ?", (old,))
            self._patch(conn, "contacts", primary, {"hs_merged_object_ids": ";".join(merged)}, now)
        return str(primary)

    def archive(self, contact_id: str) -> None:
        """Archive (soft-delete) a contact: gone from lists and searches, listed with ``archived=true``."""
        with self.store.tx() as conn:
            conn.execute(
                "UPDATE hs_objects SET archived = 1, modified_ms = ? WHERE type = 'contacts' AND id = ?",
                (self._now_ms(), int(contact_id)),
            )

    def create_property(
        self,
        name: str,
        ptype: str = "string",
        *,
        label: str = "",
        group: str = "contactinformation",
        options: Sequence[str] = (),
    ) -> None:
        field_type = {
            "number": "number",
            "datetime": "date",
            "date": "date",
            "enumeration": "select",
            "bool": "booleancheckbox",
        }.get(ptype, "text")
        definition = self._property_json(
            "contacts", name, label or name, ptype, field_type, group, [(o, o) for o in options], 999, self._now_ms()
        )
        with self.store.tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO hs_properties VALUES ('contacts', ?, ?)", (name, json.dumps(definition))
            )

    def set_lifecycle_stages(self, stages: Sequence[str]) -> None:
        """Replace the lifecyclestage options (custom stages), in order."""
        with self.store.tx() as conn:
            row = conn.execute(
                "SELECT definition FROM hs_properties WHERE type = 'contacts' AND name = 'lifecyclestage'"
            ).fetchone()
            definition = json.loads(row[0])
            definition["options"] = [
                {"label": s, "value": s, "displayOrder": i, "hidden": False} for i, s in enumerate(stages)
            ]
            conn.execute(
                "UPDATE hs_properties SET definition = ? WHERE type = 'contacts' AND name = 'lifecyclestage'",
                (json.dumps(definition),),
            )

    def count(self, otype: str = "contacts") -> int:
        with self.store.read() as conn:
            return int(
                conn.execute("SELECT COUNT(*) FROM hs_objects WHERE type = ? AND archived = 0", (otype,)).fetchone()[0]
            )


def create_api(sandbox: Any) -> HubSpotApi:
    return HubSpotApi(sandbox)
