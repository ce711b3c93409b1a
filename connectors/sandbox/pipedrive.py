"""Pipedrive API emulation: the endpoints leadsync uses, with Pipedrive's shapes, errors and limits.

Served on plain HTTP at ``sandbox.pipedrive_url`` (the real host is ``https://{company}.pipedrive.com``):

=================================  ==========================================  ================================
route                              counter endpoint                            token cost (default)
=================================  ==========================================  ================================
GET  /api/v2/persons               pipedrive.persons.v2.list                   20
GET  /api/v2/persons/{id}          pipedrive.persons.v2.get                    2
GET  /api/v1/persons               pipedrive.persons.v1.list                   20
GET  /api/v1/persons/{id}          pipedrive.persons.v1.get                    2
PUT  /api/v1/persons/{id}          pipedrive.persons.v1.update                 10
GET  /api/v1/persons/{id}/activities pipedrive.persons.v1.activities           20
GET  /api/v1/personFields          pipedrive.personFields.list                 10
POST /api/v1/personFields          pipedrive.personFields.create               10
GET  /api/v1/users                 pipedrive.users.list                        20
GET  /api/v2/activities            pipedrive.activities.v2.list                20
GET  /api/v2/deals                 pipedrive.deals.v2.list                     20
GET  /api/v2/organizations         pipedrive.organizations.v2.list             20
POST /oauth/token                  pipedrive.oauth.token                       0 (oauth.pipedrive.com)
=================================  ==========================================  ================================

Facts followed (Pipedrive docs and the official clients; see /work/shared/CRM_API_NOTES.md):

- Auth: ``x-api-token`` header (what the docs and official SDKs send today) or the legacy ``api_token``
  query parameter, or ``Authorization: Bearer <OAuth access token>``.  A bad or expired token gets the
  gateway's 401 ``{"success": false, "error": "unauthorized access", "errorCode": 401, ...}``.
  ``POST /oauth/token`` (``grant_type=refresh_token``, HTTP Basic client auth, form body) returns
  ``access_token``, ``token_type``, ``refresh_token``, ``scope``, ``expires_in`` and ``api_domain``.
- v2 lists: cursor paging (``limit`` <= 500, default 100; ``additional_data.next_cursor``), ``updated_since``
  (>=) / ``updated_until`` (<) in RFC3339, ``sort_by`` id|update_time|add_time, ``sort_direction``,
  ``ids`` (<= 100), ``custom_fields`` (<= 15 keys), ``include_fields``.  Timestamps have SECOND granularity.
- v1 lists: ``start``/``limit`` (<= 500) and ``additional_data.pagination``; v1 timestamps are
  ``YYYY-MM-DD HH:MM:SS`` UTC, custom fields sit at the top level under their 40-char hash keys.
- No bulk person update exists: one ``PUT /api/v1/persons/{id}`` per person.
- Limits (token-based, rolled out 2024-2025): a company-wide daily token budget of
  30,000 x plan multiplier (Lite 1, Growth 2, Premium 5, Ultimate 7) x seats, reset at midnight (the
  sandbox uses UTC midnight on its own clock), and a per-token burst limit in 2-second windows
  (api_token Lite 20 / Growth 40 / Premium 100 / Ultimate 120; OAuth 80 / 160 / 400 / 480).
  Every response carries ``x-ratelimit-limit``, ``x-ratelimit-remaining``, ``x-ratelimit-reset`` (whole
  seconds until the burst window resets) and the daily budget as ``x-daily-ratelimit-token-limit`` /
  ``x-daily-ratelimit-token-remaining``.  ASSUMPTION: those two budget headers are what the live API
  sends (seen by several public clients, confirmed by Pipedrive staff on the dev community) but the docs
  do not name them; the legacy ``x-daily-requests-left`` (10,000 POST/PUT a day) predates the token
  budget and is not emulated.
- Burst breach: 429 with Pipedrive's error body (ASSUMPTION: the exact ``error`` text is unverified).
  Budget spent: 429 ``{"success": false, "error": "daily request budget exceeded", "errorCode": 429}`` with
  ``retry-after`` = seconds until the budget resets and ``x-daily-ratelimit-token-remaining: 0`` (as
  observed on the live API by a public project).
- Token costs follow the figures the project chose (CRM_API_NOTES.md: single GET 2, list 20, update 10,
  personFields 10).  NOTE: Pipedrive's OpenAPI ``x-token-cost`` lists v2 endpoints at about half (list 10,
  single 1, update 5); override with ``limits["pipedrive"]["token_costs"]``.

Assumptions where the docs are silent (also in comments below):

- Creating or updating an activity does NOT bump the person's ``update_time``; clients read activity
  changes from ``/api/v2/activities?updated_since=``.
- ``PUT`` bumps ``update_time`` only when a value actually changes; unknown body keys are ignored (as the
  v1 API does), but a bad value for a known field (unknown option id, wrong type) is a 400.
- Custom fields of a v2 person come back under ``custom_fields`` with every (requested) key present,
  ``null`` when unset; enum values are option ids (int), set values lists of ids.

Limits are configurable in ``sandbox.config.limits["pipedrive"]``: ``plan`` ("growth"), ``seats`` (10),
``daily_budget``, ``burst`` (api_token per window), ``burst_oauth``, ``window_seconds`` (2),
``token_costs`` ({endpoint: tokens}), ``access_token_ttl`` (3599).  With ``config.rate_limits`` False
nothing is refused but the headers are still sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from connectors.sandbox.core import BadRequest, CRMApi, Request, Response, Route, route
from connectors.sandbox.dataset import Dataset

# Printed by the CLI so a user can point the adapter at the sandbox.
SANDBOX_CREDENTIALS: dict[str, str] = {
    "api_token": "pd-sandbox-api-token-7f3c2a",
    "client_id": "pd-sandbox-client-id",
    "client_secret": "pd-sandbox-client-secret-91b4",
    "access_token": "pd-sandbox-access-token-0",
    "refresh_token": "pd-sandbox-refresh-token-5d1e",
}

PLAN_MULTIPLIER = {"lite": 1, "growth": 2, "premium": 5, "ultimate": 7}
BURST_API_TOKEN = {"lite": 20, "growth": 40, "premium": 100, "ultimate": 120}
BURST_OAUTH = {"lite": 80, "growth": 160, "premium": 400, "ultimate": 480}
BASE_TOKENS_PER_SEAT = 30_000

DEFAULT_TOKEN_COSTS: dict[str, int] = {
    "pipedrive.persons.v2.list": 20,
    "pipedrive.persons.v2.get": 2,
    "pipedrive.persons.v1.list": 20,
    "pipedrive.persons.v1.get": 2,
    "pipedrive.persons.v1.update": 10,
    "pipedrive.persons.v1.activities": 20,
    "pipedrive.personFields.list": 10,
    "pipedrive.personFields.create": 10,
    "pipedrive.users.list": 20,
    "pipedrive.activities.v2.list": 20,
    "pipedrive.deals.v2.list": 20,
    "pipedrive.organizations.v2.list": 20,
}

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_IDS = 100
MAX_CUSTOM_FIELDS = 15
ERROR_INFO = "Please check developers.pipedrive.com"
FIELD_TYPES = {
    "address",
    "date",
    "daterange",
    "double",
    "enum",
    "monetary",
    "org",
    "people",
    "phone",
    "set",
    "text",
    "time",
    "timerange",
    "user",
    "varchar",
    "varchar_auto",
    "visible_to",
}
PERSON_INCLUDE_FIELDS = {
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "won_deals_count",
    "lost_deals_count",
    "open_deals_count",
    "closed_deals_count",
    "last_activity_id",
    "next_activity_id",
}

# Person labels (the ``label_ids`` field's options), as a new Pipedrive account has them.
LABELS = (
    {"id": 1, "label": "Customer", "color": "green"},
    {"id": 2, "label": "Hot lead", "color": "red"},
    {"id": 3, "label": "Warm lead", "color": "yellow"},
    {"id": 4, "label": "Cold lead", "color": "blue"},
)
LIFECYCLE_LABEL = {"customer": 1, "opportunity": 2, "salesqualifiedlead": 2, "marketingqualifiedlead": 3, "lead": 4}
LIFECYCLE_STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")

# Pipedrive has no title / industry / lifecycle fields on persons: the sample data lives in custom fields.
# (field name, field_type, SamplePerson attribute)
DATASET_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("Job title", "varchar", "title"),
    ("Industry", "varchar", "industry"),
    ("Employees", "varchar", "employees"),
    ("Country", "varchar", "country"),
    ("City", "varchar", "city"),
    ("Lead source", "varchar", "lead_source"),
    ("Lifecycle stage", "enum", "lifecycle_stage"),
)
FIELD_ALIASES = {attr: name for name, _, attr in DATASET_FIELDS}

# Canonical activity type -> (Pipedrive activity type key, subject prefix).  call/meeting/email/deadline/
# task/lunch are Pipedrive's default types; webinar/demo/form/web_visit/download/social are custom types.
ACTIVITY_TYPES: dict[str, tuple[str, str]] = {
    "call": ("call", "Call"),
    "meeting": ("meeting", "Meeting"),
    "email_sent": ("email", "Email sent"),
    "email_open": ("email", "Email opened"),
    "email_click": ("email", "Email link clicked"),
    "email_reply": ("email", "Email reply"),
    "bounce": ("email", "Email bounced"),
    "unsubscribe": ("email", "Unsubscribed"),
    "webinar_registration": ("webinar", "Webinar registration"),
    "webinar_attended": ("webinar", "Webinar attended"),
    "demo_request": ("demo", "Demo request"),
    "form_submission": ("form", "Form submitted"),
    "page_view": ("web_visit", "Page view"),
    "content_download": ("download", "Content download"),
    "social_engagement": ("social", "Social engagement"),
    "note": ("task", "Note"),
    "other": ("task", "Task"),
}

# Standard person fields as GET /v1/personFields lists them (key, name, field_type).
STANDARD_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("name", "Name", "varchar"),
    ("first_name", "First name", "varchar"),
    ("last_name", "Last name", "varchar"),
    ("label_ids", "Labels", "set"),
    ("org_id", "Organization", "org"),
    ("owner_id", "Owner", "user"),
    ("phone", "Phone", "phone"),
    ("email", "Email", "varchar"),
    ("add_time", "Person created", "date"),
    ("update_time", "Update time", "date"),
    ("visible_to", "Visible to", "visible_to"),
)


# -- time helpers -------------------------------------------------------------------------------------------
def rfc3339(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(value: str, name: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"Invalid {name}: expected RFC3339, e.g. 2025-01-01T10:20:00Z") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"Invalid {name}: RFC3339 needs a time zone, e.g. 2025-01-01T10:20:00Z")
    return math.floor(parsed.timestamp())


def _epoch(dt: datetime) -> int:
    if dt.tzinfo is None:  # sample data is meant to be aware; treat a naive value as UTC
        dt = dt.replace(tzinfo=UTC)
    return math.floor(dt.timestamp())


def _ok(data: Any, additional: Any = None) -> Response:
    return Response(200, {"success": True, "data": data, "additional_data": additional})


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None}


# -- rate limiting --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Window:
    start: float = -1e18
    count: int = 0


@dataclass(frozen=True, slots=True)
class _Limits:
    daily_budget: int
    burst_api_token: int
    burst_oauth: int
    window: float
    costs: Mapping[str, int]
    access_token_ttl: int


@dataclass(frozen=True, slots=True)
class _UsageState:
    burst_limit: int
    burst_remaining: int
    reset_in: int
    budget: int
    budget_left: int


class PipedriveApi(CRMApi):
    crm = "pipedrive"
    prefixes = ("/api/", "/oauth/token")

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self._lock = threading.Lock()
        self._local = threading.local()
        self._windows: dict[str, _Window] = {}
        self._day = -1
        self._tokens_used = 0
        self._tokens_used_total = 0
        self._rng = random.Random(f"pipedrive:{sandbox.config.seed}")
        ttl = self.limits().access_token_ttl
        self._access_tokens: dict[str, float] = {SANDBOX_CREDENTIALS["access_token"]: sandbox.clock.seconds() + ttl}
        self._refresh_tokens = {SANDBOX_CREDENTIALS["refresh_token"]}
        self._issued = 0
        self._create_tables()

    # -- schema ---------------------------------------------------------------------------------------------
    def _create_tables(self) -> None:
        with self.store.tx() as db:
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS pd_users (
                    id INTEGER PRIMARY KEY, name TEXT, email TEXT, active_flag INTEGER, is_admin INTEGER,
                    created INTEGER, owner_key TEXT);
                CREATE TABLE IF NOT EXISTS pd_orgs (
                    id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER, add_time INTEGER, update_time INTEGER,
                    is_deleted INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX IF NOT EXISTS pd_orgs_name ON pd_orgs(name);
                CREATE INDEX IF NOT EXISTS pd_orgs_update ON pd_orgs(update_time, id);
                CREATE TABLE IF NOT EXISTS pd_person_fields (
                    id INTEGER PRIMARY KEY, key TEXT UNIQUE, name TEXT, field_type TEXT, options TEXT,
                    edit_flag INTEGER, order_nr INTEGER, add_time INTEGER, update_time INTEGER);
                CREATE TABLE IF NOT EXISTS pd_persons (
                    id INTEGER PRIMARY KEY, name TEXT, first_name TEXT, last_name TEXT, emails TEXT,
                    phones TEXT, owner_id INTEGER, org_id INTEGER, label_ids TEXT, visible_to INTEGER,
                    add_time INTEGER, update_time INTEGER, custom TEXT, is_deleted INTEGER NOT NULL DEFAULT 0,
                    person_key TEXT);
                CREATE INDEX IF NOT EXISTS pd_persons_update ON pd_persons(update_time, id);
                CREATE INDEX IF NOT EXISTS pd_persons_add ON pd_persons(add_time, id);
                CREATE TABLE IF NOT EXISTS pd_activities (
                    id INTEGER PRIMARY KEY, type TEXT, subject TEXT, owner_id INTEGER, person_id INTEGER,
                    org_id INTEGER, deal_id INTEGER, done INTEGER, due_date TEXT, due_time TEXT,
                    duration TEXT, add_time INTEGER, update_time INTEGER, marked_as_done_time INTEGER,
                    note TEXT, is_deleted INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX IF NOT EXISTS pd_activities_update ON pd_activities(update_time, id);
                CREATE INDEX IF NOT EXISTS pd_activities_person ON pd_activities(person_id, id);
                CREATE TABLE IF NOT EXISTS pd_deals (
                    id INTEGER PRIMARY KEY, title TEXT, owner_id INTEGER, person_id INTEGER, org_id INTEGER,
                    value REAL, currency TEXT, status TEXT, lost_reason TEXT, add_time INTEGER,
                    update_time INTEGER, won_time INTEGER, lost_time INTEGER, close_time INTEGER,
                    is_deleted INTEGER NOT NULL DEFAULT 0);
                CREATE INDEX IF NOT EXISTS pd_deals_update ON pd_deals(update_time, id);
                CREATE INDEX IF NOT EXISTS pd_deals_person ON pd_deals(person_id, id);
                """
            )
            if db.execute("SELECT COUNT(*) FROM pd_person_fields").fetchone()[0] == 0:
                now = self._now()
                for order, (key, name, field_type) in enumerate(STANDARD_FIELDS):
                    options = json.dumps(list(LABELS)) if key == "label_ids" else None
                    db.execute(
                        "INSERT INTO pd_person_fields (key, name, field_type, options, edit_flag, order_nr,"
                        " add_time, update_time) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                        (key, name, field_type, options, order, now, now),
                    )

    # -- framework hooks ------------------------------------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        return [
            route("GET", r"/api/v2/persons", self._persons_v2_list, "pipedrive.persons.v2.list"),
            route("GET", r"/api/v2/persons/(?P<id>\d+)", self._persons_v2_get, "pipedrive.persons.v2.get"),
            route("GET", r"/api/v1/persons", self._persons_v1_list, "pipedrive.persons.v1.list"),
            route("GET", r"/api/v1/persons/(?P<id>\d+)", self._persons_v1_get, "pipedrive.persons.v1.get"),
            route("PUT", r"/api/v1/persons/(?P<id>\d+)", self._persons_v1_update, "pipedrive.persons.v1.update"),
            route(
                "GET",
                r"/api/v1/persons/(?P<id>\d+)/activities",
                self._persons_v1_activities,
                "pipedrive.persons.v1.activities",
            ),
            route("GET", r"/api/v1/personFields", self._fields_list, "pipedrive.personFields.list"),
            route("POST", r"/api/v1/personFields", self._fields_create, "pipedrive.personFields.create"),
            route("GET", r"/api/v1/users", self._users_list, "pipedrive.users.list"),
            route("GET", r"/api/v2/activities", self._activities_list, "pipedrive.activities.v2.list"),
            route("GET", r"/api/v2/deals", self._deals_list, "pipedrive.deals.v2.list"),
            route("GET", r"/api/v2/organizations", self._orgs_list, "pipedrive.organizations.v2.list"),
            route("POST", r"/oauth/token", self._oauth_token, "pipedrive.oauth.token"),
        ]

    def error(self, status: int, message: str, request: Request) -> Response:
        return Response(status, _error_body(status, message))

    def limits(self) -> _Limits:
        cfg: dict[str, Any] = dict(self.sandbox.config.limits.get("pipedrive", {}))
        plan = str(cfg.get("plan", "growth")).lower()
        seats = int(cfg.get("seats", 10))
        budget = int(cfg.get("daily_budget", BASE_TOKENS_PER_SEAT * PLAN_MULTIPLIER.get(plan, 2) * seats))
        return _Limits(
            daily_budget=budget,
            burst_api_token=int(cfg.get("burst", BURST_API_TOKEN.get(plan, 40))),
            burst_oauth=int(cfg.get("burst_oauth", BURST_OAUTH.get(plan, 160))),
            window=float(cfg.get("window_seconds", 2.0)),
            costs={**DEFAULT_TOKEN_COSTS, **cfg.get("token_costs", {})},
            access_token_ttl=int(cfg.get("access_token_ttl", 3599)),
        )

    def _authenticate(self, request: Request) -> str | None:
        token = request.header("x-api-token") or request.arg("api_token")
        if token:
            return f"api:{token}" if token == SANDBOX_CREDENTIALS["api_token"] else None
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("bearer "):
            bearer = auth[7:].strip()
            with self._lock:
                expires = self._access_tokens.get(bearer)
            if expires is not None and self.sandbox.clock.seconds() < expires:
                return f"oauth:{bearer}"
        return None

    def before(self, request: Request, endpoint: str) -> Response | None:
        self._local.state = None
        if endpoint == "pipedrive.oauth.token":
            return None  # served by oauth.pipedrive.com in reality: no api token, no budget
        who = self._authenticate(request)
        if who is None:
            return Response(
                401,
                {"success": False, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO},
                {"x-401-by-gw": "true"},
            )
        limits = self.limits()
        enforce = bool(self.sandbox.config.rate_limits)
        burst = limits.burst_oauth if who.startswith("oauth:") else limits.burst_api_token
        cost = limits.costs.get(endpoint, 20)
        clock = self.sandbox.clock
        with self._lock:
            now = clock.seconds()
            day = math.floor(clock.now().timestamp() // 86400)
            if day != self._day:
                self._day, self._tokens_used = day, 0
            window = self._windows.setdefault(who, _Window())
            if now - window.start >= limits.window:
                window.start, window.count = now, 0
            reset_in = max(1, math.ceil(window.start + limits.window - now))
            left = limits.daily_budget - self._tokens_used
            refused: Response | None = None
            if enforce and left < cost:
                until_midnight = (day + 1) * 86400 - clock.now().timestamp()
                refused = Response(
                    429,
                    {
                        "success": False,
                        "error": "daily request budget exceeded",
                        "errorCode": 429,
                        "error_info": ERROR_INFO,
                    },
                    {"retry-after": str(max(1, math.ceil(until_midnight)))},
                )
            elif enforce and window.count >= burst:
                refused = Response(
                    429,
                    {"success": False, "error": "Rate limit exceeded", "errorCode": 429, "error_info": ERROR_INFO},
                )
            else:
                window.count += 1
                self._tokens_used += cost
                self._tokens_used_total += cost
                left -= cost
            self._local.state = _UsageState(
                burst, max(burst - window.count, 0), reset_in, limits.daily_budget, max(left, 0)
            )
        return refused

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        state: _UsageState | None = getattr(self._local, "state", None)
        self._local.state = None
        if state is not None:
            response.headers.update(
                {
                    "x-ratelimit-limit": str(state.burst_limit),
                    "x-ratelimit-remaining": str(state.burst_remaining),
                    "x-ratelimit-reset": str(state.reset_in),
                    "x-daily-ratelimit-token-limit": str(state.budget),
                    "x-daily-ratelimit-token-remaining": str(state.budget_left),
                }
            )
        return response

    # -- helpers for tests and the demo ---------------------------------------------------------------------
    def tokens_used(self) -> int:
        """Tokens spent today (sandbox day) by every caller."""
        with self._lock:
            return self._tokens_used

    def tokens_used_total(self) -> int:
        """Tokens spent since the sandbox started, across day boundaries."""
        with self._lock:
            return self._tokens_used_total

    def spend_tokens(self, tokens: int) -> None:
        """Spend budget as another integration of the same company would (tests of budget exhaustion)."""
        with self._lock:
            self._tokens_used += tokens
            self._tokens_used_total += tokens

    def expire_access_tokens(self) -> None:
        """Make every OAuth access token issued so far expire now (the next call gets a 401)."""
        with self._lock:
            for token in self._access_tokens:
                self._access_tokens[token] = -1e18

    def _now(self) -> int:
        return math.floor(self.sandbox.clock.now().timestamp())

    def _new_key(self) -> str:
        return f"{self._rng.getrandbits(160):040x}"

    # -- fields ---------------------------------------------------------------------------------------------
    def _fields(self, db: sqlite3.Connection) -> list[sqlite3.Row]:
        return list(db.execute("SELECT * FROM pd_person_fields ORDER BY order_nr, id"))

    def _custom_fields(self, db: sqlite3.Connection) -> dict[str, sqlite3.Row]:
        return {r["key"]: r for r in self._fields(db) if r["edit_flag"]}

    def _field_json(self, row: sqlite3.Row) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": row["id"],
            "key": row["key"],
            "name": row["name"],
            "order_nr": row["order_nr"],
            "field_type": row["field_type"],
            "add_time": v1_time(row["add_time"]),
            "update_time": v1_time(row["update_time"]),
            "last_updated_by_user_id": None,
            "active_flag": True,
            "edit_flag": bool(row["edit_flag"]),
            "index_visible_flag": True,
            "details_visible_flag": True,
            "add_visible_flag": True,
            "important_flag": False,
            "bulk_edit_allowed": bool(row["edit_flag"]),
            "searchable_flag": False,
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": row["key"] == "name",
        }
        if row["options"] is not None:
            data["options"] = json.loads(row["options"])
        return data

    def _insert_field(
        self, db: sqlite3.Connection, name: str, field_type: str, options: Sequence[str] = ()
    ) -> sqlite3.Row:
        now = self._now()
        opts = None
        if field_type in ("enum", "set"):
            base = (db.execute("SELECT COALESCE(MAX(id), 0) FROM pd_person_fields").fetchone()[0] + 1) * 1000
            opts = json.dumps([{"id": base + i, "label": label} for i, label in enumerate(options)])
        order = db.execute("SELECT COALESCE(MAX(order_nr), 0) + 1 FROM pd_person_fields").fetchone()[0]
        key = self._new_key()
        db.execute(
            "INSERT INTO pd_person_fields (key, name, field_type, options, edit_flag, order_nr, add_time,"
            " update_time) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
            (key, name, field_type, opts, order, now, now),
        )
        row: sqlite3.Row = db.execute("SELECT * FROM pd_person_fields WHERE key = ?", (key,)).fetchone()
        return row

    def _fields_list(self, request: Request) -> Response:
        start, limit = self._start_limit(request)
        with self.store.read() as db:
            rows = self._fields(db)
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return _ok([self._field_json(r) for r in page], {"pagination": pagination})

    def _fields_create(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        name = body.get("name")
        field_type = body.get("field_type")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("Field name must be given")
        if field_type not in FIELD_TYPES:
            raise BadRequest(f"Field type must be one of: {', '.join(sorted(FIELD_TYPES))}")
        labels: list[str] = []
        if field_type in ("enum", "set"):
            raw = body.get("options")
            if isinstance(raw, str):  # v1 also takes a JSON-encoded string
                try:
                    raw = json.loads(raw)
                except ValueError as exc:
                    raise BadRequest("options must be a JSON array") from exc
            if not isinstance(raw, list) or not raw:
                raise BadRequest("Options must be given for enum and set fields")
            for item in raw:
                label = item.get("label") if isinstance(item, dict) else item
                if not isinstance(label, str) or not label:
                    raise BadRequest("Each option needs a label")
                labels.append(label)
        # Pipedrive allows two fields with the same name: idempotence is the client's job.
        with self.store.tx() as db:
            row = self._insert_field(db, name.strip(), str(field_type), labels)
        return _ok(self._field_json(row))

    # -- persons: rendering ---------------------------------------------------------------------------------
    def _person_v2(
        self,
        row: sqlite3.Row,
        custom_keys: Sequence[str] | None,
        all_custom: Mapping[str, sqlite3.Row],
        counts: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        stored = json.loads(row["custom"] or "{}")
        keys = list(all_custom) if custom_keys is None else [k for k in custom_keys if k in all_custom]
        data: dict[str, Any] = {
            "id": row["id"],
            "name": row["name"],
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "owner_id": row["owner_id"],
            "org_id": row["org_id"],
            "add_time": rfc3339(row["add_time"]),
            "update_time": rfc3339(row["update_time"]),
            "emails": json.loads(row["emails"] or "[]"),
            "phones": json.loads(row["phones"] or "[]"),
            "is_deleted": bool(row["is_deleted"]),
            "visible_to": row["visible_to"],
            "label_ids": json.loads(row["label_ids"] or "[]"),
            "picture_id": None,
            "custom_fields": {k: stored.get(k) for k in keys},
        }
        if counts:
            data.update(counts)
        return data

    def _person_v1(self, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        custom = self._custom_fields(db)
        stored = json.loads(row["custom"] or "{}")
        owner = db.execute("SELECT * FROM pd_users WHERE id = ?", (row["owner_id"],)).fetchone()
        org = db.execute("SELECT * FROM pd_orgs WHERE id = ?", (row["org_id"],)).fetchone()
        emails = [
            {"label": e.get("label", "work"), "value": e["value"], "primary": e.get("primary", False)}
            for e in json.loads(row["emails"] or "[]")
        ]
        phones = json.loads(row["phones"] or "[]")
        label_ids = json.loads(row["label_ids"] or "[]")
        data: dict[str, Any] = {
            "id": row["id"],
            "company_id": 1,
            "owner_id": None
            if owner is None
            else {
                "id": owner["id"],
                "name": owner["name"],
                "email": owner["email"],
                "has_pic": 0,
                "pic_hash": None,
                "active_flag": bool(owner["active_flag"]),
                "value": owner["id"],
            },
            "org_id": None
            if org is None
            else {
                "name": org["name"],
                "people_count": None,
                "owner_id": org["owner_id"],
                "address": None,
                "active_flag": True,
                "cc_email": None,
                "value": org["id"],
            },
            "name": row["name"],
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "email": emails or [{"value": "", "primary": True}],
            "phone": phones or [{"value": "", "primary": True}],
            "primary_email": next((e["value"] for e in emails if e.get("primary")), None),
            "add_time": v1_time(row["add_time"]),
            "update_time": v1_time(row["update_time"]),
            "visible_to": str(row["visible_to"]),
            "label": label_ids[0] if label_ids else None,
            "label_ids": label_ids,
            "org_name": None if org is None else org["name"],
            "owner_name": None if owner is None else owner["name"],
            "active_flag": not row["is_deleted"],
        }
        for key, field in custom.items():
            value = stored.get(key)
            if value is not None and field["field_type"] == "enum":
                value = str(value)  # v1 returns option ids as strings
            elif value is not None and field["field_type"] == "set":
                value = ",".join(str(v) for v in value)
            data[key] = value
        return data

    def _counts(self, db: sqlite3.Connection, person_id: int, include: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in include:
            if name.endswith("activities_count"):
                done = {
                    "activities_count": "",
                    "done_activities_count": " AND done = 1",
                    "undone_activities_count": " AND done = 0",
                }[name]
                sql = f"SELECT COUNT(*) FROM pd_activities WHERE person_id = ? AND is_deleted = 0{done}"
                out[name] = db.execute(sql, (person_id,)).fetchone()[0]
            elif name.endswith("deals_count"):
                status = {
                    "won_deals_count": "('won')",
                    "lost_deals_count": "('lost')",
                    "open_deals_count": "('open')",
                    "closed_deals_count": "('won','lost')",
                }[name]
                sql = f"SELECT COUNT(*) FROM pd_deals WHERE person_id = ? AND is_deleted = 0 AND status IN {status}"
                out[name] = db.execute(sql, (person_id,)).fetchone()[0]
            else:  # last_activity_id / next_activity_id
                order = "DESC" if name == "last_activity_id" else "ASC"
                done_flag = 1 if name == "last_activity_id" else 0
                hit = db.execute(
                    f"SELECT id FROM pd_activities WHERE person_id = ? AND is_deleted = 0 AND done = ?"
                    f" ORDER BY due_date {order}, id {order} LIMIT 1",
                    (person_id, done_flag),
                ).fetchone()
                out[name] = None if hit is None else hit[0]
        return out

    # -- shared list machinery ------------------------------------------------------------------------------
    def _limit(self, request: Request) -> int:
        raw = request.arg("limit")
        if raw is None or raw == "":
            return DEFAULT_LIMIT
        try:
            limit = int(raw)
        except ValueError as exc:
            raise BadRequest("limit must be an integer") from exc
        if limit < 1 or limit > MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        return limit

    def _start_limit(self, request: Request) -> tuple[int, int]:
        limit = self._limit(request)
        try:
            start = int(request.arg("start") or 0)
        except ValueError as exc:
            raise BadRequest("start must be an integer") from exc
        if start < 0:
            raise BadRequest("start must not be negative")
        return start, limit

    @staticmethod
    def _encode_cursor(sort_by: str, direction: str, row: sqlite3.Row) -> str:
        payload = {"s": sort_by, "d": direction, "v": row[sort_by], "id": row["id"]}
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()

    @staticmethod
    def _decode_cursor(cursor: str, sort_by: str, direction: str) -> tuple[Any, int]:
        try:
            payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            value, ident = payload["v"], int(payload["id"])
            same = payload["s"] == sort_by and payload["d"] == direction
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise BadRequest("Invalid cursor") from exc
        if not same:
            raise BadRequest("The cursor does not match sort_by / sort_direction of the request")
        return value, ident

    def _int_list(self, raw: str | None, name: str, max_items: int | None = None) -> list[int] | None:
        if raw is None or raw == "":
            return None
        try:
            values = [int(v) for v in raw.split(",") if v.strip()]
        except ValueError as exc:
            raise BadRequest(f"{name} must be a comma separated list of integers") from exc
        if max_items is not None and len(values) > max_items:
            raise BadRequest(f"{name} accepts at most {max_items} values")
        return values

    def _int_arg(self, request: Request, name: str) -> int | None:
        raw = request.arg(name)
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise BadRequest(f"{name} must be an integer") from exc

    def _cursor_page(
        self,
        db: sqlite3.Connection,
        request: Request,
        table: str,
        where: list[str],
        params: list[Any],
    ) -> tuple[list[sqlite3.Row], str | None]:
        """One page of a v2 cursor list: keyset paging on (sort column, id)."""
        limit = self._limit(request)
        sort_by = request.arg("sort_by") or "id"
        direction = (request.arg("sort_direction") or "asc").lower()
        if sort_by not in ("id", "update_time", "add_time"):
            raise BadRequest("sort_by must be one of: id, update_time, add_time")
        if direction not in ("asc", "desc"):
            raise BadRequest("sort_direction must be asc or desc")
        where, params = ["is_deleted = 0", *where], list(params)
        since, until = request.arg("updated_since"), request.arg("updated_until")
        if since:
            where.append("update_time >= ?")
            params.append(parse_rfc3339(since, "updated_since"))
        if until:
            where.append("update_time < ?")
            params.append(parse_rfc3339(until, "updated_until"))
        ids = self._int_list(request.arg("ids"), "ids", MAX_IDS)
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})" if ids else "0")
            params.extend(ids)
        cursor = request.arg("cursor")
        op = ">" if direction == "asc" else "<"
        if cursor:
            value, ident = self._decode_cursor(cursor, sort_by, direction)
            if sort_by == "id":
                where.append(f"id {op} ?")
                params.append(ident)
            else:
                where.append(f"({sort_by}, id) {op} (?, ?)")
                params.extend([value, ident])
        order = f"id {direction}" if sort_by == "id" else f"{sort_by} {direction}, id {direction}"
        sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        rows = list(db.execute(sql, [*params, limit + 1]))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = self._encode_cursor(sort_by, direction, rows[-1])
        return rows, next_cursor

    # -- persons: endpoints ---------------------------------------------------------------------------------
    def _requested_custom(self, request: Request) -> list[str] | None:
        raw = request.arg("custom_fields")
        if raw is None:
            return None
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if len(keys) > MAX_CUSTOM_FIELDS:
            raise BadRequest(f"custom_fields accepts at most {MAX_CUSTOM_FIELDS} keys")
        return keys

    def _include(self, request: Request) -> list[str]:
        raw = request.arg("include_fields") or ""
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in PERSON_INCLUDE_FIELDS]
        if unknown:
            raise BadRequest(f"include_fields: unknown field(s) {', '.join(unknown)}")
        return names

    def _persons_v2_list(self, request: Request) -> Response:
        custom_keys = self._requested_custom(request)
        include = self._include(request)
        where: list[str] = []
        params: list[Any] = []
        for name in ("owner_id", "org_id"):
            value = self._int_arg(request, name)
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        with self.store.read() as db:
            rows, next_cursor = self._cursor_page(db, request, "pd_persons", where, params)
            custom = self._custom_fields(db)
            data = [
                self._person_v2(r, custom_keys, custom, self._counts(db, r["id"], include) if include else None)
                for r in rows
            ]
        return _ok(data, {"next_cursor": next_cursor})

    def _person_row(self, db: sqlite3.Connection, person_id: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM pd_persons WHERE id = ? AND is_deleted = 0", (person_id,)
        ).fetchone()
        return row

    def _persons_v2_get(self, request: Request) -> Response:
        custom_keys = self._requested_custom(request)
        include = self._include(request)
        with self.store.read() as db:
            row = self._person_row(db, int(request.params["id"]))
            if row is None:
                return Response(404, _error_body(404, "Person not found"))
            counts = self._counts(db, row["id"], include) if include else None
            return _ok(self._person_v2(row, custom_keys, self._custom_fields(db), counts))

    def _persons_v1_list(self, request: Request) -> Response:
        start, limit = self._start_limit(request)
        with self.store.read() as db:
            rows = list(
                db.execute(
                    "SELECT * FROM pd_persons WHERE is_deleted = 0 ORDER BY id LIMIT ? OFFSET ?",
                    (limit + 1, start),
                )
            )
            more = len(rows) > limit
            data = [self._person_v1(db, r) for r in rows[:limit]]
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return _ok(data or None, {"pagination": pagination})

    def _persons_v1_get(self, request: Request) -> Response:
        with self.store.read() as db:
            row = self._person_row(db, int(request.params["id"]))
            if row is None:
                return Response(404, _error_body(404, "Person not found"))
            return _ok(self._person_v1(db, row))

    def _persons_v1_activities(self, request: Request) -> Response:
        start, limit = self._start_limit(request)
        person_id = int(request.params["id"])
        with self.store.read() as db:
            if self._person_row(db, person_id) is None:
                return Response(404, _error_body(404, "Person not found"))
            rows = list(
                db.execute(
                    "SELECT * FROM pd_activities WHERE person_id = ? AND is_deleted = 0 ORDER BY id LIMIT ? OFFSET ?",
                    (person_id, limit + 1, start),
                )
            )
        more = len(rows) > limit
        data = [self._activity_v1(r) for r in rows[:limit]]
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return _ok(data or None, {"pagination": pagination})

    def _coerce(self, field: sqlite3.Row, value: Any) -> Any:
        """A PUT value for a custom field as stored, or BadRequest with Pipedrive-like wording."""
        if value is None or value == "":
            return None
        kind, name = field["field_type"], field["name"]
        if kind in ("enum", "set"):
            valid = {o["id"] for o in json.loads(field["options"] or "[]")}
            raw = value if isinstance(value, list) else str(value).split(",") if kind == "set" else [value]
            try:
                ids = [int(str(v).strip()) for v in raw]
            except ValueError as exc:
                raise BadRequest(f"Field '{name}' expects option IDs, got {value!r}") from exc
            if kind == "enum" and len(ids) != 1:
                raise BadRequest(f"Field '{name}' takes a single option ID")
            bad = [i for i in ids if i not in valid]
            if bad:
                raise BadRequest(f"Option ID {bad[0]} is not valid for field '{name}'")
            return ids[0] if kind == "enum" else ids
        if kind in ("double", "monetary"):
            if isinstance(value, bool):
                raise BadRequest(f"Field '{name}' expects a number, got {value!r}")
            try:
                return float(value)
            except (TypeError, ValueError) as exc:
                raise BadRequest(f"Field '{name}' expects a number, got {value!r}") from exc
        if kind in ("user", "org", "people"):
            try:
                return int(value)
            except (TypeError, ValueError) as exc:
                raise BadRequest(f"Field '{name}' expects an ID, got {value!r}") from exc
        if kind == "date":
            try:
                datetime.strptime(str(value), "%Y-%m-%d")  # noqa: DTZ007 - a date, no time zone involved
            except ValueError as exc:
                raise BadRequest(f"Field '{name}' expects a date YYYY-MM-DD, got {value!r}") from exc
            return str(value)
        if isinstance(value, dict | list):
            raise BadRequest(f"Field '{name}' expects text, got {type(value).__name__}")
        text = str(value)
        if kind == "varchar" and len(text) > 255:
            raise BadRequest(f"Field '{name}' is limited to 255 characters")
        return text

    def _persons_v1_update(self, request: Request) -> Response:
        person_id = int(request.params["id"])
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        if self.sandbox.faults.record_fails(self.crm, str(person_id)):
            raise BadRequest("Validation failed for this person")  # an injected per-record failure
        with self.store.tx() as db:
            row = self._person_row(db, person_id)
            if row is None:
                return Response(404, _error_body(404, "Person not found"))
            changes = self._apply_person_body(db, row, body)
            if changes:
                changes["update_time"] = max(self._now(), row["update_time"] or 0)
                assignments = ", ".join(f"{col} = ?" for col in changes)
                db.execute(f"UPDATE pd_persons SET {assignments} WHERE id = ?", [*changes.values(), person_id])
            updated = self._person_row(db, person_id)
            assert updated is not None
            return _ok(self._person_v1(db, updated))

    def _apply_person_body(self, db: sqlite3.Connection, row: sqlite3.Row, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a v1 PUT body and return the changed columns (raises BadRequest on a bad value)."""
        changes: dict[str, Any] = {}
        custom = self._custom_fields(db)
        stored = json.loads(row["custom"] or "{}")
        new_custom = dict(stored)
        for key, value in body.items():
            if key in ("name", "first_name", "last_name"):
                if key == "name" and (not isinstance(value, str) or not value.strip()):
                    raise BadRequest("Name must be given")
                if value is not None and not isinstance(value, str):
                    raise BadRequest(f"{key} must be a string")
                changes[key] = value
            elif key == "owner_id":
                try:
                    owner = int(value)
                except (TypeError, ValueError) as exc:
                    raise BadRequest("owner_id must be a user ID") from exc
                if db.execute("SELECT 1 FROM pd_users WHERE id = ?", (owner,)).fetchone() is None:
                    raise BadRequest(f"User with ID {owner} not found")
                changes["owner_id"] = owner
            elif key == "org_id":
                if value is None:
                    changes["org_id"] = None
                    continue
                try:
                    org = int(value)
                except (TypeError, ValueError) as exc:
                    raise BadRequest("org_id must be an organization ID") from exc
                if db.execute("SELECT 1 FROM pd_orgs WHERE id = ?", (org,)).fetchone() is None:
                    raise BadRequest(f"Organization with ID {org} not found")
                changes["org_id"] = org
            elif key in ("email", "phone"):
                changes[f"{key}s"] = json.dumps(self._contact_list(key, value))
            elif key in ("label_ids", "label"):
                ids = [] if value is None else value if isinstance(value, list) else [value]
                valid = {lab["id"] for lab in LABELS}
                try:
                    labels = [int(v) for v in ids]
                except (TypeError, ValueError) as exc:
                    raise BadRequest("label_ids must be label IDs") from exc
                if any(lab not in valid for lab in labels):
                    raise BadRequest("Invalid label ID")
                changes["label_ids"] = json.dumps(labels)
            elif key == "visible_to":
                changes["visible_to"] = int(value)
            elif key in custom:
                new_custom[key] = self._coerce(custom[key], value)
            # anything else is ignored, as the v1 API does
        if new_custom != stored:
            changes["custom"] = json.dumps(new_custom)
        return {col: val for col, val in changes.items() if row[col] != val}

    @staticmethod
    def _contact_list(kind: str, value: Any) -> list[dict[str, Any]]:
        if value is None or value == "":
            return []
        items = value if isinstance(value, list) else [value]
        out = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                item = {"value": item}
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise BadRequest(f"{kind} must be a string or a list of {{value, primary, label}} objects")
            out.append(
                {
                    "value": item["value"],
                    "primary": bool(item.get("primary", i == 0)),
                    "label": item.get("label", "work"),
                }
            )
        return out

    # -- users, organizations, activities, deals -------------------------------------------------------------
    def _users_list(self, request: Request) -> Response:
        with self.store.read() as db:
            rows = list(db.execute("SELECT * FROM pd_users ORDER BY id"))
        first = rows[0]["id"] if rows else None
        data = [
            {
                "id": r["id"],
                "name": r["name"],
                "default_currency": "USD",
                "locale": "en_US",
                "lang": 1,
                "email": r["email"],
                "phone": None,
                "activated": True,
                "last_login": v1_time(r["created"]),
                "created": v1_time(r["created"]),
                "modified": v1_time(r["created"]),
                "has_created_company": r["id"] == first,
                "access": [],
                "active_flag": bool(r["active_flag"]),
                "timezone_name": "UTC",
                "timezone_offset": "+00:00",
                "role_id": 1,
                "icon_url": None,
                "is_you": r["id"] == first,
                "is_admin": int(r["is_admin"]),
            }
            for r in rows
        ]
        return _ok(data)

    def _orgs_list(self, request: Request) -> Response:
        where, params = self._owner_filter(request)
        with self.store.read() as db:
            rows, next_cursor = self._cursor_page(db, request, "pd_orgs", where, params)
        data = [
            {
                "id": r["id"],
                "name": r["name"],
                "owner_id": r["owner_id"],
                "add_time": rfc3339(r["add_time"]),
                "update_time": rfc3339(r["update_time"]),
                "is_deleted": False,
                "visible_to": 3,
                "label_ids": [],
                "address": None,
                "custom_fields": {},
            }
            for r in rows
        ]
        return _ok(data, {"next_cursor": next_cursor})

    def _owner_filter(self, request: Request) -> tuple[list[str], list[Any]]:
        owner = self._int_arg(request, "owner_id")
        return (["owner_id = ?"], [owner]) if owner is not None else ([], [])

    @staticmethod
    def _activity_v2(r: sqlite3.Row) -> dict[str, Any]:
        participants = [{"person_id": r["person_id"], "primary": True}] if r["person_id"] else []
        return {
            "id": r["id"],
            "subject": r["subject"],
            "type": r["type"],
            "owner_id": r["owner_id"],
            "creator_user_id": r["owner_id"],
            "is_deleted": bool(r["is_deleted"]),
            "add_time": rfc3339(r["add_time"]),
            "update_time": rfc3339(r["update_time"]),
            "deal_id": r["deal_id"],
            "lead_id": None,
            "person_id": r["person_id"],
            "org_id": r["org_id"],
            "project_id": None,
            "due_date": r["due_date"],
            "due_time": r["due_time"],
            "duration": r["duration"],
            "busy": False,
            "done": bool(r["done"]),
            "marked_as_done_time": rfc3339(r["marked_as_done_time"]),
            "location": None,
            "participants": participants,
            "attendees": None,
            "conference_meeting_client": None,
            "conference_meeting_url": None,
            "conference_meeting_id": None,
            "public_description": None,
            "priority": None,
            "note": r["note"],
        }

    @staticmethod
    def _activity_v1(r: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": r["id"],
            "company_id": 1,
            "user_id": r["owner_id"],
            "done": bool(r["done"]),
            "type": r["type"],
            "subject": r["subject"],
            "due_date": r["due_date"],
            "due_time": r["due_time"] or "",
            "duration": r["duration"] or "",
            "add_time": v1_time(r["add_time"]),
            "update_time": v1_time(r["update_time"]),
            "marked_as_done_time": v1_time(r["marked_as_done_time"]) or "",
            "person_id": r["person_id"],
            "org_id": r["org_id"],
            "deal_id": r["deal_id"],
            "note": r["note"],
            "active_flag": not r["is_deleted"],
        }

    def _activities_list(self, request: Request) -> Response:
        where, params = self._owner_filter(request)
        for name in ("person_id", "deal_id", "org_id"):
            value = self._int_arg(request, name)
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        done = request.arg("done")
        if done is not None and done != "":
            if done not in ("true", "false", "1", "0"):
                raise BadRequest("done must be true or false")
            where.append("done = ?")
            params.append(1 if done in ("true", "1") else 0)
        with self.store.read() as db:
            rows, next_cursor = self._cursor_page(db, request, "pd_activities", where, params)
        return _ok([self._activity_v2(r) for r in rows], {"next_cursor": next_cursor})

    def _deals_list(self, request: Request) -> Response:
        where, params = self._owner_filter(request)
        for name in ("person_id", "org_id"):
            value = self._int_arg(request, name)
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        status = request.arg("status")
        if status:
            statuses = [s.strip() for s in status.split(",") if s.strip()]
            if any(s not in ("open", "won", "lost") for s in statuses):
                raise BadRequest("status must be open, won or lost (comma separated)")
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        with self.store.read() as db:
            rows, next_cursor = self._cursor_page(db, request, "pd_deals", where, params)
        data = [
            {
                "id": r["id"],
                "title": r["title"],
                "creator_user_id": r["owner_id"],
                "owner_id": r["owner_id"],
                "value": r["value"],
                "person_id": r["person_id"],
                "org_id": r["org_id"],
                "stage_id": 1,
                "pipeline_id": 1,
                "currency": r["currency"],
                "add_time": rfc3339(r["add_time"]),
                "update_time": rfc3339(r["update_time"]),
                "stage_change_time": None,
                "status": r["status"],
                "is_archived": False,
                "is_deleted": False,
                "probability": None,
                "lost_reason": r["lost_reason"],
                "visible_to": 3,
                "close_time": rfc3339(r["close_time"]),
                "won_time": rfc3339(r["won_time"]),
                "lost_time": rfc3339(r["lost_time"]),
                "expected_close_date": None,
                "label_ids": [],
                "custom_fields": {},
            }
            for r in rows
        ]
        return _ok(data, {"next_cursor": next_cursor})

    # -- OAuth ------------------------------------------------------------------------------------------------
    def _oauth_token(self, request: Request) -> Response:
        auth = request.header("Authorization") or ""
        try:
            client = base64.b64decode(auth[6:]).decode() if auth.lower().startswith("basic ") else ""
        except (ValueError, binascii.Error):
            client = ""
        expected = f"{SANDBOX_CREDENTIALS['client_id']}:{SANDBOX_CREDENTIALS['client_secret']}"
        if client != expected:
            return Response(401, {"success": False, "message": "Invalid client credentials", "error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return Response(
                400, {"success": False, "message": "Unsupported grant type", "error": "unsupported_grant_type"}
            )
        refresh = form.get("refresh_token", "")
        ttl = self.limits().access_token_ttl
        with self._lock:
            if refresh not in self._refresh_tokens:
                return Response(
                    400,
                    {"success": False, "message": "Invalid grant: refresh token is invalid", "error": "invalid_grant"},
                )
            self._issued += 1
            token = f"pd-sandbox-access-token-{self._issued}"
            self._access_tokens[token] = self.sandbox.clock.seconds() + ttl
        return Response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "refresh_token": refresh,
                "scope": "base,contacts:full,activities:full,deals:read,users:read,admin",
                "expires_in": ttl,
                "api_domain": self.sandbox.pipedrive_url,
            },
        )

    # -- sample data ------------------------------------------------------------------------------------------
    def _field_by_name(self, db: sqlite3.Connection, name: str) -> sqlite3.Row | None:
        for row in self._fields(db):
            if row["name"] == name or row["key"] == name:
                return row
        lname = name.lower()
        for row in self._fields(db):
            if row["name"].lower() == lname:
                return row
        return None

    def _ensure_dataset_fields(self, db: sqlite3.Connection, extra_stages: Iterable[str]) -> dict[str, sqlite3.Row]:
        out: dict[str, sqlite3.Row] = {}
        for name, field_type, attr in DATASET_FIELDS:
            row = self._field_by_name(db, name)
            if row is None:
                options = list(LIFECYCLE_STAGES) if field_type == "enum" else []
                row = self._insert_field(db, name, field_type, options)
            out[attr] = row
        stage_field = out["lifecycle_stage"]
        options = json.loads(stage_field["options"] or "[]")
        known = {o["label"] for o in options}
        missing = [s for s in dict.fromkeys(extra_stages) if s and s not in known]
        if missing:
            next_id = max((o["id"] for o in options), default=stage_field["id"] * 1000) + 1
            options.extend({"id": next_id + i, "label": s} for i, s in enumerate(missing))
            db.execute("UPDATE pd_person_fields SET options = ? WHERE id = ?", (json.dumps(options), stage_field["id"]))
            out["lifecycle_stage"] = db.execute(
                "SELECT * FROM pd_person_fields WHERE id = ?", (stage_field["id"],)
            ).fetchone()
        return out

    @staticmethod
    def _option_id(field: sqlite3.Row, label: str) -> int | None:
        for option in json.loads(field["options"] or "[]"):
            if option["label"] == label:
                return int(option["id"])
        return None

    def _org_id(self, db: sqlite3.Connection, name: str, owner_id: int | None, at: int) -> int | None:
        if not name:
            return None
        hit = db.execute("SELECT id FROM pd_orgs WHERE name = ?", (name,)).fetchone()
        if hit is not None:
            return int(hit[0])
        cur = db.execute(
            "INSERT INTO pd_orgs (name, owner_id, add_time, update_time) VALUES (?, ?, ?, ?)", (name, owner_id, at, at)
        )
        return cur.lastrowid

    def load(self, dataset: Dataset) -> dict[str, str]:
        """Turn a CRM-neutral dataset into users, organizations, persons, activities and won/lost deals."""
        ids: dict[str, str] = {}
        with self.store.tx() as db:
            now = self._now()
            owners: dict[str, int] = {}
            for owner in dataset.owners:
                cur = db.execute(
                    "INSERT INTO pd_users (name, email, active_flag, is_admin, created, owner_key)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        f"{owner.first_name} {owner.last_name}".strip(),
                        owner.email,
                        int(owner.active),
                        int(not owners),
                        now,
                        owner.key,
                    ),
                )
                owners[owner.key] = int(cur.lastrowid or 0)
            default_owner = db.execute("SELECT MIN(id) FROM pd_users").fetchone()[0]
            if default_owner is None and dataset.people:
                cur = db.execute(
                    "INSERT INTO pd_users (name, email, active_flag, is_admin, created) VALUES (?, ?, 1, 1, ?)",
                    ("Sandbox Admin", "admin@sandbox.invalid", now),
                )
                default_owner = cur.lastrowid
            fields = self._ensure_dataset_fields(db, (p.lifecycle_stage for p in dataset.people))
            person_rows = []
            for p in dataset.people:
                owner_id = owners.get(p.owner_key or "", default_owner)
                created, updated = _epoch(p.created_at), _epoch(p.updated_at)
                org_id = self._org_id(db, p.company, owner_id, created)
                custom: dict[str, Any] = {}
                for attr, field in fields.items():
                    value: Any = getattr(p, attr)
                    if field["field_type"] == "enum":
                        value = self._option_id(field, value) if value else None
                    custom[field["key"]] = value if value != "" else None
                label = LIFECYCLE_LABEL.get(p.lifecycle_stage)
                person_rows.append(
                    (
                        f"{p.first_name} {p.last_name}".strip() or p.email,
                        p.first_name,
                        p.last_name,
                        json.dumps([{"value": p.email, "primary": True, "label": "work"}] if p.email else []),
                        json.dumps([{"value": p.phone, "primary": True, "label": "work"}] if p.phone else []),
                        owner_id,
                        org_id,
                        json.dumps([label] if label else []),
                        3,
                        created,
                        max(updated, created),
                        json.dumps(custom),
                        p.key,
                    )
                )
            first_new = (db.execute("SELECT COALESCE(MAX(id), 0) FROM pd_persons").fetchone()[0]) + 1
            db.executemany(
                "INSERT INTO pd_persons (name, first_name, last_name, emails, phones, owner_id, org_id,"
                " label_ids, visible_to, add_time, update_time, custom, person_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                person_rows,
            )
            person_info: dict[str, tuple[int, int | None, int | None]] = {}
            for row in db.execute(
                "SELECT id, person_key, owner_id, org_id FROM pd_persons WHERE id >= ?", (first_new,)
            ):
                person_info[row["person_key"]] = (row["id"], row["owner_id"], row["org_id"])
                ids[row["person_key"]] = str(row["id"])
            activity_rows = []
            for a in dataset.activities:
                if a.person_key not in person_info:
                    continue
                pid, owner_id, org_id = person_info[a.person_key]
                activity_rows.append(
                    self._activity_row(
                        pid, owner_id, org_id, a.type, a.occurred_at, a.subject, a.attributes, _epoch(a.occurred_at)
                    )
                )
            db.executemany(
                "INSERT INTO pd_activities (type, subject, owner_id, person_id, org_id, deal_id, done, due_date,"
                " due_time, duration, add_time, update_time, marked_as_done_time, note)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
                activity_rows,
            )
            deal_rows = []
            for o in dataset.outcomes:
                if o.person_key not in person_info:
                    continue
                pid, owner_id, org_id = person_info[o.person_key]
                closed = _epoch(o.closed_at)
                org_name = db.execute("SELECT name FROM pd_orgs WHERE id = ?", (org_id,)).fetchone()
                title = o.name or f"{org_name[0] if org_name else 'New'} deal"
                deal_rows.append(
                    (
                        title,
                        owner_id,
                        pid,
                        org_id,
                        o.amount,
                        "USD",
                        "won" if o.won else "lost",
                        None if o.won else "No budget",
                        closed - 30 * 86400,
                        closed,
                        closed if o.won else None,
                        None if o.won else closed,
                        closed,
                    )
                )
            db.executemany(
                "INSERT INTO pd_deals (title, owner_id, person_id, org_id, value, currency, status, lost_reason,"
                " add_time, update_time, won_time, lost_time, close_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                deal_rows,
            )
        return ids

    @staticmethod
    def _activity_row(
        person_id: int,
        owner_id: int | None,
        org_id: int | None,
        kind: str,
        occurred_at: datetime,
        subject: str,
        attributes: Mapping[str, Any],
        changed_at: int,
    ) -> tuple[Any, ...]:
        type_key, prefix = ACTIVITY_TYPES.get(kind, (kind, kind.replace("_", " ").capitalize()))
        when = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        when = when.astimezone(UTC)
        note = "; ".join(f"{k}={v}" for k, v in attributes.items()) or None
        return (
            type_key,
            f"{prefix}: {subject}" if subject else prefix,
            owner_id,
            person_id,
            org_id,
            1,
            when.strftime("%Y-%m-%d"),
            when.strftime("%H:%M"),
            "00:30" if type_key in ("call", "meeting") else "",
            _epoch(when),
            changed_at,
            _epoch(when),
            note,
        )

    # -- test helpers ------------------------------------------------------------------------------------------
    def touch(self, contact_id: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Change fields of a person (by key, Pipedrive name or sample-data name) and bump ``update_time``.

        ``at`` forces the new ``update_time`` (tests of many changes in the same second).
        """
        with self.store.tx() as db:
            row = self._person_row(db, int(contact_id))
            if row is None:
                raise KeyError(f"no person {contact_id}")
            body: dict[str, Any] = {}
            org_change: dict[str, Any] = {}
            for name, value in fields.items():
                if name == "company":
                    org_change["org_id"] = self._org_id(db, str(value), row["owner_id"], self._now())
                    continue
                if name in ("name", "first_name", "last_name", "owner_id", "email", "phone", "label_ids"):
                    body[name] = value
                    continue
                field = self._field_by_name(db, FIELD_ALIASES.get(name, name))
                if field is None:
                    raise KeyError(f"no person field named {name!r}")
                if field["field_type"] in ("enum", "set") and value is not None:
                    labels = value if isinstance(value, list) else [value]
                    option_ids = [self._option_id(field, str(v)) for v in labels]
                    if None in option_ids:
                        raise KeyError(f"field {field['name']!r} has no option {value!r}")
                    value = option_ids if field["field_type"] == "set" else option_ids[0]
                body[field["key"]] = value
            changes = self._apply_person_body(db, row, body)
            changes.update(org_change)
            changes["update_time"] = _epoch(at) if at is not None else max(self._now(), row["update_time"] or 0)
            assignments = ", ".join(f"{col} = ?" for col in changes)
            db.execute(f"UPDATE pd_persons SET {assignments} WHERE id = ?", [*changes.values(), row["id"]])

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Log an activity on a person (canonical type or Pipedrive type key); the person is NOT bumped."""
        subject = str(attrs.pop("subject", ""))
        with self.store.tx() as db:
            row = self._person_row(db, int(contact_id))
            if row is None:
                raise KeyError(f"no person {contact_id}")
            now = self._now()
            values = self._activity_row(
                row["id"],
                row["owner_id"],
                row["org_id"],
                str(type),
                occurred_at or self.sandbox.clock.now(),
                subject,
                attrs,
                now,
            )
            cur = db.execute(
                "INSERT INTO pd_activities (type, subject, owner_id, person_id, org_id, deal_id, done, due_date,"
                " due_time, duration, add_time, update_time, marked_as_done_time, note)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            # ASSUMPTION (documented): logging an activity leaves the person's update_time alone.
            return str(cur.lastrowid)

    def record(self, contact_id: str) -> dict[str, Any]:
        """The person as ``GET /api/v2/persons/{id}`` returns it (every custom field)."""
        with self.store.read() as db:
            row = db.execute("SELECT * FROM pd_persons WHERE id = ?", (int(contact_id),)).fetchone()
            if row is None:
                raise KeyError(f"no person {contact_id}")
            return self._person_v2(row, None, self._custom_fields(db))

    def field_value(self, contact_id: str, name: str) -> Any:
        """A person's value by field NAME (or key): enum/set option ids become labels, emails/phones text."""
        with self.store.read() as db:
            row = db.execute("SELECT * FROM pd_persons WHERE id = ?", (int(contact_id),)).fetchone()
            if row is None:
                raise KeyError(f"no person {contact_id}")
            field = self._field_by_name(db, FIELD_ALIASES.get(name, name))
            if name == "org_name" or (field is not None and field["key"] == "org_id" and name != "org_id"):
                org = db.execute("SELECT name FROM pd_orgs WHERE id = ?", (row["org_id"],)).fetchone()
                return None if org is None else org[0]
            if field is None:
                raise KeyError(f"no person field named {name!r}")
            key = field["key"]
            if not field["edit_flag"]:
                if key in ("email", "phone"):
                    items = json.loads(row[f"{key}s"] or "[]")
                    return next((i["value"] for i in items if i.get("primary")), items[0]["value"] if items else None)
                if key == "label_ids":
                    ids = json.loads(row["label_ids"] or "[]")
                    return ",".join(lab["label"] for lab in LABELS if lab["id"] in ids) or None
                if key in ("add_time", "update_time"):
                    return rfc3339(row[key])
                return row[key]
            value = json.loads(row["custom"] or "{}").get(key)
            if value is None or field["field_type"] not in ("enum", "set"):
                return value
            labels = {o["id"]: o["label"] for o in json.loads(field["options"] or "[]")}
            if field["field_type"] == "enum":
                return labels.get(value)
            return ",".join(labels[v] for v in value if v in labels)

    def merge(self, keep_id: str, merge_id: str) -> None:
        """Merge ``merge_id`` into ``keep_id`` (as ``PUT /v1/persons/{id}/merge``): activities and deals move."""
        with self.store.tx() as db:
            now = self._now()
            db.execute(
                "UPDATE pd_activities SET person_id = ?, update_time = ? WHERE person_id = ?",
                (int(keep_id), now, int(merge_id)),
            )
            db.execute(
                "UPDATE pd_deals SET person_id = ?, update_time = ? WHERE person_id = ?",
                (int(keep_id), now, int(merge_id)),
            )
            db.execute("UPDATE pd_persons SET is_deleted = 1, update_time = ? WHERE id = ?", (now, int(merge_id)))
            db.execute("UPDATE pd_persons SET update_time = MAX(update_time, ?) WHERE id = ?", (now, int(keep_id)))

    def set_deal(self, contact_id: str, *, won: bool, amount: float = 0.0, closed_at: datetime | None = None) -> str:
        """Close a deal for a person (tests of outcomes)."""
        with self.store.tx() as db:
            row = self._person_row(db, int(contact_id))
            if row is None:
                raise KeyError(f"no person {contact_id}")
            closed = _epoch(closed_at) if closed_at else self._now()
            cur = db.execute(
                "INSERT INTO pd_deals (title, owner_id, person_id, org_id, value, currency, status, lost_reason,"
                " add_time, update_time, won_time, lost_time, close_time) VALUES (?, ?, ?, ?, ?, 'USD', ?, ?, ?, ?,"
                " ?, ?, ?)",
                (
                    f"{row['name']} deal",
                    row["owner_id"],
                    row["id"],
                    row["org_id"],
                    amount,
                    "won" if won else "lost",
                    None if won else "No budget",
                    closed - 30 * 86400,
                    self._now(),
                    closed if won else None,
                    None if won else closed,
                    closed,
                ),
            )
            return str(cur.lastrowid)


def create_api(sandbox: Any) -> PipedriveApi:
    return PipedriveApi(sandbox)
