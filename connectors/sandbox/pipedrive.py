"""Pipedrive API emulation: the endpoints leadsync uses, with Pipedrive's shapes, errors and limits.

Plain HTTP at ``sandbox.pipedrive_url`` (real host: ``https://{company}.pipedrive.com``).  Routes, counter
names and default token costs are in ``ROUTES`` / ``DEFAULT_TOKEN_COSTS`` below.

Facts followed (Pipedrive docs, the official clients; see /work/shared/CRM_API_NOTES.md):

- Auth: ``x-api-token`` header (what the docs and SDKs send today), the legacy ``api_token`` query
  parameter, or ``Authorization: Bearer <OAuth access token>``.  A bad or expired token gets the gateway's
  401 ``{"success": false, "error": "unauthorized access", "errorCode": 401, ...}``.  ``POST /oauth/token``
  (``grant_type=refresh_token``, HTTP Basic client auth, form body) returns ``access_token``,
  ``token_type``, ``refresh_token``, ``scope``, ``expires_in`` and ``api_domain``.
- v2 lists: cursor paging (``limit`` <= 500, default 100, ``additional_data.next_cursor``),
  ``updated_since`` (>=) / ``updated_until`` (<) in RFC3339, ``sort_by`` id|update_time|add_time,
  ``sort_direction``, ``ids`` (<= 100), ``custom_fields`` (<= 15 keys), ``include_fields``.  Timestamps have
  SECOND granularity.  v1 lists: ``start``/``limit`` (<= 500) and ``additional_data.pagination``; v1 times
  are ``YYYY-MM-DD HH:MM:SS`` UTC and custom fields sit at the top level under their 40-char hash keys.
- No bulk person update exists: one ``PUT /api/v1/persons/{id}`` per person.
- Token-based limits: a company-wide daily budget of 30,000 x plan multiplier (Lite 1, Growth 2, Premium 5,
  Ultimate 7) x seats, reset at midnight (here: UTC midnight of the sandbox clock), and a per-token burst
  limit per 2-second window (api_token 20/40/100/120, OAuth 80/160/400/480).  Every response carries
  ``x-ratelimit-limit``, ``x-ratelimit-remaining``, ``x-ratelimit-reset`` (whole seconds until the window
  resets) and ``x-daily-ratelimit-token-limit`` / ``x-daily-ratelimit-token-remaining``.  ASSUMPTION: the
  docs do not name the two budget headers; several public clients read them from the live API and
  Pipedrive staff confirmed them on the dev community.  The legacy ``x-daily-requests-left`` (10,000
  POST/PUT a day) predates the token budget and is not emulated.
- Burst breach: 429 in Pipedrive's error shape (the exact ``error`` text is unverified).  Budget spent: 429
  ``{"success": false, "error": "daily request budget exceeded", "errorCode": 429}`` with ``retry-after`` =
  seconds until the reset and ``x-daily-ratelimit-token-remaining: 0``, as seen on the live API.
- Token costs are the figures the project chose (CRM_API_NOTES.md: single GET 2, list 20, update 10,
  personFields 10).  NOTE: Pipedrive's OpenAPI ``x-token-cost`` puts v2 endpoints at about half (list 10,
  single 1, update 5); override with ``limits["pipedrive"]["token_costs"]``.

Assumptions where the docs are silent:

- Creating or updating an activity does NOT bump the person's ``update_time``: clients read activity
  changes from ``/api/v2/activities?updated_since=``.
- ``PUT`` bumps ``update_time`` only when a value changes; unknown body keys are ignored (as v1 does), a
  bad value for a known field (unknown option id, wrong type) is a 400.
- A v2 person's ``custom_fields`` holds every (requested) key, ``null`` when unset; enum values are option
  ids, set values lists of ids.

Limits are read per request from ``sandbox.config.limits["pipedrive"]``: ``plan`` ("growth"), ``seats`` (10),
``daily_budget``, ``burst`` (api_token), ``burst_oauth``, ``window_seconds`` (2), ``token_costs``,
``access_token_ttl`` (3599).  With ``config.rate_limits`` False nothing is refused; headers are still sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
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

# (method, path pattern, handler name, counter endpoint, token cost)
ROUTES: tuple[tuple[str, str, str, str, int], ...] = (
    ("GET", r"/api/v2/persons", "_persons_v2_list", "pipedrive.persons.v2.list", 20),
    ("GET", r"/api/v2/persons/(?P<id>\d+)", "_persons_v2_get", "pipedrive.persons.v2.get", 2),
    ("GET", r"/api/v1/persons", "_persons_v1_list", "pipedrive.persons.v1.list", 20),
    ("GET", r"/api/v1/persons/(?P<id>\d+)", "_persons_v1_get", "pipedrive.persons.v1.get", 2),
    ("PUT", r"/api/v1/persons/(?P<id>\d+)", "_persons_v1_update", "pipedrive.persons.v1.update", 10),
    ("GET", r"/api/v1/persons/(?P<id>\d+)/activities", "_persons_v1_activities", "pipedrive.persons.v1.activities", 20),
    ("GET", r"/api/v1/personFields", "_fields_list", "pipedrive.personFields.list", 10),
    ("POST", r"/api/v1/personFields", "_fields_create", "pipedrive.personFields.create", 10),
    ("GET", r"/api/v1/users", "_users_list", "pipedrive.users.list", 20),
    ("GET", r"/api/v2/activities", "_activities_list", "pipedrive.activities.v2.list", 20),
    ("GET", r"/api/v2/deals", "_deals_list", "pipedrive.deals.v2.list", 20),
    ("GET", r"/api/v2/organizations", "_orgs_list", "pipedrive.organizations.v2.list", 20),
    ("POST", r"/oauth/token", "_oauth_token", "pipedrive.oauth.token", 0),  # oauth.pipedrive.com in reality
)
DEFAULT_TOKEN_COSTS: dict[str, int] = {endpoint: cost for *_, endpoint, cost in ROUTES}

MAX_LIMIT, DEFAULT_LIMIT, MAX_IDS, MAX_CUSTOM_FIELDS = 500, 100, 100, 15
ERROR_INFO = "Please check developers.pipedrive.com"
FIELD_TYPES = {
    "address", "date", "daterange", "double", "enum", "monetary", "org", "people", "phone", "set", "text", "time",
    "timerange", "user", "varchar", "varchar_auto", "visible_to",
}  # fmt: skip
COUNT_SQL = {  # include_fields of v2 persons that the sandbox computes
    "activities_count": "SELECT COUNT(*) FROM pd_activities WHERE person_id = ? AND is_deleted = 0",
    "done_activities_count": "SELECT COUNT(*) FROM pd_activities WHERE person_id = ? AND is_deleted = 0 AND done = 1",
    "undone_activities_count": "SELECT COUNT(*) FROM pd_activities WHERE person_id = ? AND is_deleted = 0 AND done = 0",
    "won_deals_count": "SELECT COUNT(*) FROM pd_deals WHERE person_id = ? AND is_deleted = 0 AND status = 'won'",
    "lost_deals_count": "SELECT COUNT(*) FROM pd_deals WHERE person_id = ? AND is_deleted = 0 AND status = 'lost'",
    "open_deals_count": "SELECT COUNT(*) FROM pd_deals WHERE person_id = ? AND is_deleted = 0 AND status = 'open'",
}

# Person labels (options of the ``label_ids`` field) as a new Pipedrive account has them.
LABELS = tuple({"id": i, "label": lab} for i, lab in enumerate(("Customer", "Hot lead", "Warm lead", "Cold lead"), 1))
# Sample-data lifecycle value -> (option of the "Lifecycle stage" field, person label id).  The options are
# the stage names leadsync's Pipedrive defaults use (sync/policies.py).
LIFECYCLE = {"lead": ("Lead", 4), "marketingqualifiedlead": ("MQL", 3), "salesqualifiedlead": ("SQL", 2),
             "opportunity": ("Opportunity", 2), "customer": ("Customer", 1)}  # fmt: skip
LIFECYCLE_STAGES = tuple(label for label, _ in LIFECYCLE.values())


def stage_label(value: str) -> str:
    """The Pipedrive option for a sample-data lifecycle value ("marketingqualifiedlead" -> "MQL")."""
    return LIFECYCLE[value][0] if value in LIFECYCLE else value.replace("_", " ").title()


# Pipedrive has no title / industry / lifecycle fields on persons: sample data goes to custom fields
# (name, field_type, SamplePerson attribute).  The organization holds the company name.
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

# Canonical activity type -> (Pipedrive type key, subject prefix).  call/meeting/email/task are default
# Pipedrive types; webinar/demo/form/web_visit/download/social are custom types an account would add.
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

# Standard person fields as GET /v1/personFields lists them: (key, name, field_type).
STANDARD_FIELDS = (
    ("name", "Name", "varchar"), ("first_name", "First name", "varchar"), ("last_name", "Last name", "varchar"),
    ("label_ids", "Labels", "set"), ("org_id", "Organization", "org"), ("owner_id", "Owner", "user"),
    ("phone", "Phone", "phone"), ("email", "Email", "varchar"), ("add_time", "Person created", "date"),
    ("update_time", "Update time", "date"), ("visible_to", "Visible to", "visible_to"),
)  # fmt: skip
FIELD_FLAGS = dict.fromkeys(
    ("active_flag", "index_visible_flag", "details_visible_flag", "add_visible_flag", "filtering_allowed",
     "sortable_flag"), True
) | {"important_flag": False, "searchable_flag": False, "last_updated_by_user_id": None}  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS pd_users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, active_flag INTEGER,
    is_admin INTEGER, created INTEGER, owner_key TEXT);
CREATE TABLE IF NOT EXISTS pd_orgs (id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER, add_time INTEGER,
    update_time INTEGER, is_deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS pd_orgs_name ON pd_orgs(name);
CREATE INDEX IF NOT EXISTS pd_orgs_update ON pd_orgs(update_time, id);
CREATE TABLE IF NOT EXISTS pd_person_fields (id INTEGER PRIMARY KEY, key TEXT UNIQUE, name TEXT, field_type TEXT,
    options TEXT, edit_flag INTEGER, order_nr INTEGER, add_time INTEGER, update_time INTEGER);
CREATE TABLE IF NOT EXISTS pd_persons (id INTEGER PRIMARY KEY, name TEXT, first_name TEXT, last_name TEXT,
    emails TEXT, phones TEXT, owner_id INTEGER, org_id INTEGER, label_ids TEXT, visible_to INTEGER,
    add_time INTEGER, update_time INTEGER, custom TEXT, is_deleted INTEGER NOT NULL DEFAULT 0, person_key TEXT);
CREATE INDEX IF NOT EXISTS pd_persons_update ON pd_persons(update_time, id);
CREATE INDEX IF NOT EXISTS pd_persons_add ON pd_persons(add_time, id);
CREATE TABLE IF NOT EXISTS pd_activities (id INTEGER PRIMARY KEY, type TEXT, subject TEXT, owner_id INTEGER,
    person_id INTEGER, org_id INTEGER, deal_id INTEGER, done INTEGER, due_date TEXT, due_time TEXT,
    duration TEXT, add_time INTEGER, update_time INTEGER, marked_as_done_time INTEGER, note TEXT,
    is_deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS pd_activities_update ON pd_activities(update_time, id);
CREATE INDEX IF NOT EXISTS pd_activities_person ON pd_activities(person_id, id);
CREATE TABLE IF NOT EXISTS pd_deals (id INTEGER PRIMARY KEY, title TEXT, owner_id INTEGER, person_id INTEGER,
    org_id INTEGER, value REAL, currency TEXT, status TEXT, lost_reason TEXT, add_time INTEGER,
    update_time INTEGER, won_time INTEGER, lost_time INTEGER, close_time INTEGER,
    is_deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS pd_deals_update ON pd_deals(update_time, id);
CREATE INDEX IF NOT EXISTS pd_deals_person ON pd_deals(person_id, id);
"""


# -- small helpers ------------------------------------------------------------------------------------------
@lru_cache(maxsize=65536)  # listing 100k persons formats the same seconds over and over
def rfc3339(ts: int | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _json(text: str | None, empty: Any) -> Any:
    return json.loads(text) if text and text not in ("[]", "{}") else type(empty)()


def v1_time(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(value: str, name: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"Invalid {name}: expected RFC3339, e.g. 2025-01-01T10:20:00Z") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"Invalid {name}: RFC3339 needs a time zone, e.g. 2025-01-01T10:20:00Z")
    return math.floor(parsed.timestamp())


def _epoch(dt: datetime) -> int:
    return math.floor((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())  # naive sample data = UTC


def _ok(data: Any, additional: Any = None) -> Response:
    return Response(200, {"success": True, "data": data, "additional_data": additional})


def _error_body(message: str) -> dict[str, Any]:
    return {"success": False, "error": message, "error_info": ERROR_INFO, "data": None, "additional_data": None}


def _not_found(what: str) -> Response:
    return Response(404, _error_body(f"{what} not found"))


def _pick(row: sqlite3.Row, keys: str, times: str = "", fmt: Any = rfc3339) -> dict[str, Any]:
    """Columns of ``row`` named in ``keys``, plus time columns in ``times`` formatted by ``fmt``."""
    out = {k: row[k] for k in keys.split()}
    out.update({k: fmt(row[k]) for k in times.split()})
    return out


def _insert(db: sqlite3.Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        cols = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
        db.executemany(sql, rows)


def _insert_one(db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> int:
    cols = list(row)
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
    return int(db.execute(sql, row).lastrowid or 0)


def _pagination(start: int, limit: int, more: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        out["next_start"] = start + limit
    return {"pagination": out}


@dataclass(slots=True)
class _Window:
    start: float = -1e18
    count: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
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
        self._local = threading.local()  # usage headers computed in before(), sent in after()
        self._windows: dict[str, _Window] = {}
        self._day = -1
        self._tokens_today = 0
        self._tokens_total = 0
        self._rng = random.Random(f"pipedrive:{sandbox.config.seed}")
        first_expiry = sandbox.clock.seconds() + self.limits().access_token_ttl
        self._access_tokens: dict[str, float] = {SANDBOX_CREDENTIALS["access_token"]: first_expiry}
        self._refresh_tokens = {SANDBOX_CREDENTIALS["refresh_token"]}
        self._issued = 0
        with self.store.tx() as db:
            for statement in SCHEMA.split(";"):  # not executescript(): it would commit the open transaction
                if statement.strip():
                    db.execute(statement)
            if db.execute("SELECT COUNT(*) FROM pd_person_fields").fetchone()[0] == 0:
                for order, (key, name, kind) in enumerate(STANDARD_FIELDS):
                    options = json.dumps(list(LABELS)) if key == "label_ids" else None
                    row = {"key": key, "name": name, "field_type": kind, "options": options, "edit_flag": 0}
                    _insert_one(db, "pd_person_fields", row | {"order_nr": order, "add_time": 0, "update_time": 0})

    # -- framework hooks ------------------------------------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        return [route(method, path, getattr(self, handler), endpoint) for method, path, handler, endpoint, _ in ROUTES]

    def error(self, status: int, message: str, request: Request) -> Response:
        return Response(status, _error_body(message))

    def rate_limited(self, request: Request, endpoint: str) -> Response:
        """A burst-limit 429 (used for injected faults too); ``after()`` adds the usage headers."""
        body = {"success": False, "error": "Rate limit exceeded", "errorCode": 429, "error_info": ERROR_INFO}
        return Response(429, body)

    def limits(self) -> Limits:
        cfg: Mapping[str, Any] = self.sandbox.config.limits.get("pipedrive", {})
        plan = str(cfg.get("plan", "growth")).lower()
        seats = int(cfg.get("seats", 10))
        return Limits(
            daily_budget=int(cfg.get("daily_budget", BASE_TOKENS_PER_SEAT * PLAN_MULTIPLIER.get(plan, 2) * seats)),
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
            return None  # oauth.pipedrive.com: no api token, no budget
        who = self._authenticate(request)
        if who is None:
            body = {"success": False, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO}
            return Response(401, body, {"x-401-by-gw": "true"})
        limits = self.limits()
        enforce = bool(self.sandbox.config.rate_limits)
        burst = limits.burst_oauth if who.startswith("oauth:") else limits.burst_api_token
        cost = limits.costs.get(endpoint, 20)
        clock = self.sandbox.clock
        refused: Response | None = None
        with self._lock:
            now, wall = clock.seconds(), clock.now().timestamp()
            day = math.floor(wall // 86400)
            if day != self._day:  # the budget resets at (sandbox) midnight UTC
                self._day, self._tokens_today = day, 0
            window = self._windows.setdefault(who, _Window())
            if now - window.start >= limits.window:
                window.start, window.count = now, 0
            reset_in = max(1, math.ceil(window.start + limits.window - now))
            left = limits.daily_budget - self._tokens_today
            if enforce and left < cost:
                body = {"success": False, "error": "daily request budget exceeded", "errorCode": 429}
                retry_after = max(1, math.ceil((day + 1) * 86400 - wall))
                refused = Response(429, body | {"error_info": ERROR_INFO}, {"retry-after": str(retry_after)})
            elif enforce and window.count >= burst:
                refused = self.rate_limited(request, endpoint)
            else:
                window.count += 1
                self._tokens_today += cost
                self._tokens_total += cost
                left -= cost
            state = _UsageState(burst, max(burst - window.count, 0), reset_in, limits.daily_budget, max(left, 0))
            self._local.state = state
        return refused

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        state: _UsageState | None = getattr(self._local, "state", None)
        self._local.state = None
        if state is not None:
            response.headers["x-ratelimit-limit"] = str(state.burst_limit)
            response.headers["x-ratelimit-remaining"] = str(state.burst_remaining)
            response.headers["x-ratelimit-reset"] = str(state.reset_in)
            response.headers["x-daily-ratelimit-token-limit"] = str(state.budget)
            response.headers["x-daily-ratelimit-token-remaining"] = str(state.budget_left)
        return response

    # -- helpers for tests, the demo and benchmarks ---------------------------------------------------------
    def tokens_used(self) -> int:
        """Tokens spent in the current (sandbox) day by every caller."""
        with self._lock:
            return self._tokens_today

    def tokens_used_total(self) -> int:
        """Tokens spent since the sandbox started, across day boundaries."""
        with self._lock:
            return self._tokens_total

    def spend_tokens(self, tokens: int) -> None:
        """Spend budget as another integration of the same company would."""
        with self._lock:
            self._tokens_today += tokens
            self._tokens_total += tokens

    def expire_access_tokens(self) -> None:
        """Every OAuth access token issued so far expires now: the next call with one gets a 401."""
        with self._lock:
            self._access_tokens = dict.fromkeys(self._access_tokens, -1e18)

    def _now(self) -> int:
        return math.floor(self.sandbox.clock.now().timestamp())

    # -- person fields ----------------------------------------------------------------------------------------
    @staticmethod
    def _fields(db: sqlite3.Connection) -> list[sqlite3.Row]:
        return list(db.execute("SELECT * FROM pd_person_fields ORDER BY order_nr, id"))

    def _custom_fields(self, db: sqlite3.Connection) -> dict[str, sqlite3.Row]:
        return {r["key"]: r for r in self._fields(db) if r["edit_flag"]}

    def _field_by_name(self, db: sqlite3.Connection, name: str) -> sqlite3.Row | None:
        fields = self._fields(db)
        exact = [r for r in fields if name in (r["name"], r["key"])]
        loose = [r for r in fields if r["name"].lower() == name.lower()]
        return (exact or loose)[0] if exact or loose else None

    @staticmethod
    def _field_json(row: sqlite3.Row) -> dict[str, Any]:
        data = _pick(row, "id key name order_nr field_type", "add_time update_time", v1_time) | FIELD_FLAGS
        editable = bool(row["edit_flag"])
        data |= {"edit_flag": editable, "bulk_edit_allowed": editable, "mandatory_flag": row["key"] == "name"}
        if row["options"] is not None:
            data["options"] = json.loads(row["options"])
        return data

    def _insert_field(self, db: sqlite3.Connection, name: str, kind: str, labels: Sequence[str] = ()) -> sqlite3.Row:
        now = self._now()
        options = None
        if kind in ("enum", "set"):
            base = (db.execute("SELECT COALESCE(MAX(id), 0) FROM pd_person_fields").fetchone()[0] + 1) * 1000
            options = json.dumps([{"id": base + i, "label": label} for i, label in enumerate(labels)])
        order = db.execute("SELECT COALESCE(MAX(order_nr), 0) + 1 FROM pd_person_fields").fetchone()[0]
        key = f"{self._rng.getrandbits(160):040x}"  # a random-looking 40-char hash, seeded
        row = {"key": key, "name": name, "field_type": kind, "options": options, "edit_flag": 1, "order_nr": order}
        _insert_one(db, "pd_person_fields", row | {"add_time": now, "update_time": now})
        found: sqlite3.Row = db.execute("SELECT * FROM pd_person_fields WHERE key = ?", (key,)).fetchone()
        return found

    def _fields_list(self, request: Request) -> Response:
        start, limit = self._start_limit(request)
        with self.store.read() as db:
            rows = self._fields(db)
        page = [self._field_json(r) for r in rows[start : start + limit]]
        return _ok(page, _pagination(start, limit, start + limit < len(rows)))

    def _fields_create(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object")
        name, kind = body.get("name"), body.get("field_type")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("Field name must be given")
        if kind not in FIELD_TYPES:
            raise BadRequest(f"Field type must be one of: {', '.join(sorted(FIELD_TYPES))}")
        labels: list[str] = []
        if kind in ("enum", "set"):
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
        with self.store.tx() as db:  # Pipedrive accepts two fields of the same name: idempotence is the client's job
            return _ok(self._field_json(self._insert_field(db, name.strip(), str(kind), labels)))

    # -- rendering ----------------------------------------------------------------------------------------------
    @staticmethod
    def _person_v2(row: sqlite3.Row, keys: Iterable[str], counts: Mapping[str, Any] | None = None) -> dict[str, Any]:
        stored = _json(row["custom"], {})
        data = _pick(row, "id name first_name last_name owner_id org_id visible_to", "add_time update_time")
        data |= {"emails": _json(row["emails"], []), "phones": _json(row["phones"], [])}
        data |= {"label_ids": _json(row["label_ids"], []), "is_deleted": bool(row["is_deleted"])}
        data |= {"picture_id": None, "custom_fields": {k: stored.get(k) for k in keys}}
        return data | dict(counts or {})

    def _person_v1(self, db: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        owner = db.execute("SELECT * FROM pd_users WHERE id = ?", (row["owner_id"],)).fetchone()
        org = db.execute("SELECT * FROM pd_orgs WHERE id = ?", (row["org_id"],)).fetchone()
        emails, phones = json.loads(row["emails"] or "[]"), json.loads(row["phones"] or "[]")
        label_ids = json.loads(row["label_ids"] or "[]")
        data = _pick(row, "id name first_name last_name", "add_time update_time", v1_time)
        data |= {
            "company_id": 1,
            "owner_id": owner and _pick(owner, "id name email") | {"active_flag": bool(owner["active_flag"])},
            "org_id": org and {"name": org["name"], "owner_id": org["owner_id"], "active_flag": True},
            "email": emails or [{"value": "", "primary": True}],
            "phone": phones or [{"value": "", "primary": True}],
            "primary_email": next((e["value"] for e in emails if e.get("primary")), None),
            "visible_to": str(row["visible_to"]),
            "label": label_ids[0] if label_ids else None,
            "label_ids": label_ids,
            "org_name": org and org["name"],
            "owner_name": owner and owner["name"],
            "active_flag": not row["is_deleted"],
        }
        if owner:
            data["owner_id"]["value"] = owner["id"]
        if org:
            data["org_id"]["value"] = org["id"]
        stored = json.loads(row["custom"] or "{}")
        for key, field in self._custom_fields(db).items():
            value = stored.get(key)
            if value is not None and field["field_type"] == "enum":
                value = str(value)  # v1 returns option ids as strings ...
            elif value is not None and field["field_type"] == "set":
                value = ",".join(str(v) for v in value)  # ... and sets as "1,2"
            data[key] = value
        return data

    @staticmethod
    def _activity_v2(r: sqlite3.Row) -> dict[str, Any]:
        data = _pick(r, "id subject type owner_id deal_id person_id org_id due_date due_time duration note")
        data |= {k: rfc3339(r[k]) for k in ("add_time", "update_time", "marked_as_done_time")}
        data |= {"creator_user_id": r["owner_id"], "is_deleted": bool(r["is_deleted"]), "done": bool(r["done"])}
        data |= {"lead_id": None, "project_id": None, "busy": False, "location": None, "priority": None}
        data["participants"] = [{"person_id": r["person_id"], "primary": True}] if r["person_id"] else []
        return data

    @staticmethod
    def _activity_v1(r: sqlite3.Row) -> dict[str, Any]:
        data = _pick(r, "id type subject due_date due_time duration person_id org_id deal_id note")
        data |= {k: v1_time(r[k]) for k in ("add_time", "update_time", "marked_as_done_time")}
        return data | {"user_id": r["owner_id"], "done": bool(r["done"]), "active_flag": not r["is_deleted"]}

    # -- list machinery -----------------------------------------------------------------------------------------
    @staticmethod
    def _int(raw: str | None, name: str) -> int | None:
        if raw is None or raw == "":
            return None
        try:
            return int(raw)
        except ValueError as exc:
            raise BadRequest(f"{name} must be an integer") from exc

    def _limit(self, request: Request) -> int:
        limit = self._int(request.arg("limit"), "limit")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        return limit or DEFAULT_LIMIT

    def _start_limit(self, request: Request) -> tuple[int, int]:
        start = self._int(request.arg("start"), "start") or 0
        if start < 0:
            raise BadRequest("start must not be negative")
        return start, self._limit(request)

    def _filters(self, request: Request, names: Sequence[str]) -> tuple[list[str], list[Any]]:
        """Equality filters on integer columns (owner_id, person_id, ...) given as query parameters."""
        where, params = [], []
        for name in names:
            value = self._int(request.arg(name), name)
            if value is not None:
                where.append(f"{name} = ?")
                params.append(value)
        return where, params

    @staticmethod
    def _decode_cursor(cursor: str, sort_by: str, direction: str) -> tuple[Any, int]:
        try:
            payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            value, ident, same = payload["v"], int(payload["id"]), (payload["s"], payload["d"]) == (sort_by, direction)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise BadRequest("Invalid cursor") from exc
        if not same:
            raise BadRequest("The cursor does not match the sort_by / sort_direction of the request")
        return value, ident

    def _cursor_page(
        self, db: sqlite3.Connection, request: Request, table: str, where: list[str], params: list[Any]
    ) -> tuple[list[sqlite3.Row], str | None]:
        """One page of a v2 list: filters, then keyset paging on (sort column, id) behind an opaque cursor."""
        limit = self._limit(request)
        sort_by, direction = request.arg("sort_by") or "id", (request.arg("sort_direction") or "asc").lower()
        if sort_by not in ("id", "update_time", "add_time"):
            raise BadRequest("sort_by must be one of: id, update_time, add_time")
        if direction not in ("asc", "desc"):
            raise BadRequest("sort_direction must be asc or desc")
        where, params = ["is_deleted = 0", *where], list(params)
        for name, op in (("updated_since", ">="), ("updated_until", "<")):
            if raw := request.arg(name):
                where.append(f"update_time {op} ?")
                params.append(parse_rfc3339(raw, name))
        if raw := request.arg("ids"):
            try:
                ids = [int(v) for v in raw.split(",") if v.strip()]
            except ValueError as exc:
                raise BadRequest("ids must be a comma separated list of integers") from exc
            if len(ids) > MAX_IDS:
                raise BadRequest(f"ids accepts at most {MAX_IDS} values")
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        op = ">" if direction == "asc" else "<"
        if cursor := request.arg("cursor"):
            value, ident = self._decode_cursor(cursor, sort_by, direction)
            where.append(f"id {op} ?" if sort_by == "id" else f"({sort_by}, id) {op} (?, ?)")
            params.extend([ident] if sort_by == "id" else [value, ident])
        order = f"id {direction}" if sort_by == "id" else f"{sort_by} {direction}, id {direction}"
        sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        rows = list(db.execute(sql, [*params, limit + 1]))
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        payload = {"s": sort_by, "d": direction, "v": last[sort_by], "id": last["id"]}
        return rows[:limit], base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()

    # -- persons ------------------------------------------------------------------------------------------------
    def _person_options(self, request: Request, db: sqlite3.Connection) -> tuple[list[str], list[str]]:
        """(custom field keys to return, include_fields) of a v2 persons request."""
        custom = list(self._custom_fields(db))
        raw = request.arg("custom_fields")
        if raw is not None:
            requested = [k.strip() for k in raw.split(",") if k.strip()]
            if len(requested) > MAX_CUSTOM_FIELDS:
                raise BadRequest(f"custom_fields accepts at most {MAX_CUSTOM_FIELDS} keys")
            custom = [k for k in requested if k in custom]
        include = [n.strip() for n in (request.arg("include_fields") or "").split(",") if n.strip()]
        if unknown := [n for n in include if n not in COUNT_SQL]:
            raise BadRequest(f"include_fields: unsupported field(s) {', '.join(unknown)}")
        return custom, include

    def _person_row(self, db: sqlite3.Connection, person_id: int) -> sqlite3.Row | None:
        found: sqlite3.Row | None = db.execute(
            "SELECT * FROM pd_persons WHERE id = ? AND is_deleted = 0", (person_id,)
        ).fetchone()
        return found

    def _persons_v2_list(self, request: Request) -> Response:
        where, params = self._filters(request, ("owner_id", "org_id"))
        with self.store.read() as db:
            keys, include = self._person_options(request, db)
            rows, next_cursor = self._cursor_page(db, request, "pd_persons", where, params)
            counts = [{n: db.execute(COUNT_SQL[n], (r["id"],)).fetchone()[0] for n in include} for r in rows]
        return _ok(
            [self._person_v2(r, keys, c) for r, c in zip(rows, counts, strict=True)], {"next_cursor": next_cursor}
        )

    def _persons_v2_get(self, request: Request) -> Response:
        with self.store.read() as db:
            keys, include = self._person_options(request, db)
            row = self._person_row(db, int(request.params["id"]))
            if row is None:
                return _not_found("Person")
            counts = {n: db.execute(COUNT_SQL[n], (row["id"],)).fetchone()[0] for n in include}
            return _ok(self._person_v2(row, keys, counts))

    def _persons_v1_list(self, request: Request) -> Response:
        start, limit = self._start_limit(request)
        with self.store.read() as db:
            sql = "SELECT * FROM pd_persons WHERE is_deleted = 0 ORDER BY id LIMIT ? OFFSET ?"
            rows = list(db.execute(sql, (limit + 1, start)))
            data = [self._person_v1(db, r) for r in rows[:limit]]
        return _ok(data or None, _pagination(start, limit, len(rows) > limit))

    def _persons_v1_get(self, request: Request) -> Response:
        with self.store.read() as db:
            row = self._person_row(db, int(request.params["id"]))
            return _not_found("Person") if row is None else _ok(self._person_v1(db, row))

    def _persons_v1_activities(self, request: Request) -> Response:
        start, limit = self._start_limit(request)
        person_id = int(request.params["id"])
        with self.store.read() as db:
            if self._person_row(db, person_id) is None:
                return _not_found("Person")
            sql = "SELECT * FROM pd_activities WHERE person_id = ? AND is_deleted = 0 ORDER BY id LIMIT ? OFFSET ?"
            rows = list(db.execute(sql, (person_id, limit + 1, start)))
        return _ok([self._activity_v1(r) for r in rows[:limit]] or None, _pagination(start, limit, len(rows) > limit))

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
                return _not_found("Person")
            if changes := self._person_changes(db, row, body):
                self._update_person(db, row, changes, max(self._now(), row["update_time"] or 0))
            updated = self._person_row(db, person_id)
            assert updated is not None
            return _ok(self._person_v1(db, updated))

    @staticmethod
    def _update_person(db: sqlite3.Connection, row: sqlite3.Row, changes: dict[str, Any], update_time: int) -> None:
        changes = changes | {"update_time": update_time}
        assignments = ", ".join(f"{col} = :{col}" for col in changes)
        db.execute(f"UPDATE pd_persons SET {assignments} WHERE id = :row_id", changes | {"row_id": row["id"]})

    def _person_changes(self, db: sqlite3.Connection, row: sqlite3.Row, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a v1 PUT body; the changed columns (raises BadRequest on a bad value)."""
        changes: dict[str, Any] = {}
        custom = self._custom_fields(db)
        stored = json.loads(row["custom"] or "{}")
        new_custom = dict(stored)
        for key, value in body.items():
            if key in ("name", "first_name", "last_name"):
                if (key == "name" and not (isinstance(value, str) and value.strip())) or not isinstance(
                    value, str | None
                ):
                    raise BadRequest(
                        f"{key} must be a non-empty string" if key == "name" else f"{key} must be a string"
                    )
                changes[key] = value
            elif key in ("owner_id", "org_id"):
                table, what = ("pd_users", "User") if key == "owner_id" else ("pd_orgs", "Organization")
                ident = None if value is None and key == "org_id" else self._as_int(value, key)
                if ident is not None and db.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone() is None:
                    raise BadRequest(f"{what} with ID {ident} not found")
                changes[key] = ident
            elif key in ("email", "phone"):
                changes[f"{key}s"] = json.dumps(self._contact_list(key, value))
            elif key in ("label_ids", "label"):
                labels = [
                    self._as_int(v, key) for v in (value if isinstance(value, list) else [value]) if v is not None
                ]
                if any(lab not in {x["id"] for x in LABELS} for lab in labels):
                    raise BadRequest("Invalid label ID")
                changes["label_ids"] = json.dumps(labels)
            elif key == "visible_to":
                changes["visible_to"] = self._as_int(value, key)
            elif key in custom:
                new_custom[key] = self._coerce(custom[key], value)
            # any other key is ignored, as the v1 API does
        if new_custom != stored:
            changes["custom"] = json.dumps(new_custom)
        return {col: val for col, val in changes.items() if row[col] != val}

    @staticmethod
    def _as_int(value: Any, name: str) -> int:
        if isinstance(value, bool):
            raise BadRequest(f"{name} must be an ID, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"{name} must be an ID, got {value!r}") from exc

    def _coerce(self, field: sqlite3.Row, value: Any) -> Any:
        """A PUT value for a custom field as stored, or BadRequest worded like Pipedrive's validation."""
        if value is None or value == "":
            return None
        kind, name = field["field_type"], field["name"]
        if kind in ("enum", "set"):
            raw = value if isinstance(value, list) else str(value).split(",") if kind == "set" else [value]
            try:
                ids = [int(str(v).strip()) for v in raw if not isinstance(v, bool)]
            except ValueError as exc:
                raise BadRequest(f"Field '{name}' expects option IDs, got {value!r}") from exc
            if kind == "enum" and len(ids) != 1:
                raise BadRequest(f"Field '{name}' takes a single option ID")
            valid = {o["id"] for o in json.loads(field["options"] or "[]")}
            if bad := [i for i in ids if i not in valid]:
                raise BadRequest(f"Option ID {bad[0]} is not valid for field '{name}'")
            return ids[0] if kind == "enum" else ids
        if kind in ("double", "monetary"):
            try:
                if isinstance(value, bool):
                    raise ValueError
                return float(value)
            except (TypeError, ValueError) as exc:
                raise BadRequest(f"Field '{name}' expects a number, got {value!r}") from exc
        if kind in ("user", "org", "people"):
            return self._as_int(value, f"Field '{name}'")
        if kind == "date":
            try:
                datetime.strptime(str(value), "%Y-%m-%d")  # noqa: DTZ007 - a calendar date, no zone involved
            except ValueError as exc:
                raise BadRequest(f"Field '{name}' expects a date YYYY-MM-DD, got {value!r}") from exc
            return str(value)
        if isinstance(value, dict | list):
            raise BadRequest(f"Field '{name}' expects text, got {type(value).__name__}")
        if kind == "varchar" and len(str(value)) > 255:
            raise BadRequest(f"Field '{name}' is limited to 255 characters")
        return str(value)

    @staticmethod
    def _contact_list(kind: str, value: Any) -> list[dict[str, Any]]:
        out = []
        for i, item in enumerate([] if value in (None, "") else value if isinstance(value, list) else [value]):
            entry = {"value": item} if isinstance(item, str) else item
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
                raise BadRequest(f"{kind} must be a string or a list of {{value, primary, label}} objects")
            out.append({"value": entry["value"], "primary": bool(entry.get("primary", i == 0)),
                        "label": entry.get("label", "work")})  # fmt: skip
        return out

    # -- users, organizations, activities, deals ----------------------------------------------------------------
    def _users_list(self, request: Request) -> Response:
        with self.store.read() as db:
            rows = list(db.execute("SELECT * FROM pd_users ORDER BY id"))
        you = rows[0]["id"] if rows else None  # the api_token belongs to the first user
        return _ok(
            [
                _pick(r, "id name email", "created", v1_time)
                | {"modified": v1_time(r["created"]), "active_flag": bool(r["active_flag"]), "activated": True}
                | {"is_admin": int(r["is_admin"]), "is_you": r["id"] == you, "default_currency": "USD"}
                | {"locale": "en_US", "timezone_name": "UTC", "role_id": 1, "access": []}
                for r in rows
            ]
        )

    def _orgs_list(self, request: Request) -> Response:
        with self.store.read() as db:
            rows, next_cursor = self._cursor_page(db, request, "pd_orgs", *self._filters(request, ("owner_id",)))
        extra = {"is_deleted": False, "visible_to": 3, "label_ids": [], "address": None, "custom_fields": {}}
        return _ok(
            [_pick(r, "id name owner_id", "add_time update_time") | extra for r in rows], {"next_cursor": next_cursor}
        )

    def _activities_list(self, request: Request) -> Response:
        where, params = self._filters(request, ("owner_id", "person_id", "deal_id", "org_id"))
        if done := request.arg("done"):
            if done not in ("true", "false", "1", "0"):
                raise BadRequest("done must be true or false")
            where.append("done = ?")
            params.append(int(done in ("true", "1")))
        with self.store.read() as db:
            rows, next_cursor = self._cursor_page(db, request, "pd_activities", where, params)
        return _ok([self._activity_v2(r) for r in rows], {"next_cursor": next_cursor})

    def _deals_list(self, request: Request) -> Response:
        where, params = self._filters(request, ("owner_id", "person_id", "org_id"))
        if status := request.arg("status"):
            statuses = [s.strip() for s in status.split(",") if s.strip()]
            if any(s not in ("open", "won", "lost") for s in statuses):
                raise BadRequest("status must be open, won or lost (comma separated)")
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        with self.store.read() as db:
            rows, next_cursor = self._cursor_page(db, request, "pd_deals", where, params)
        keys, times = "id title owner_id value person_id org_id currency status lost_reason", "add_time update_time"
        extra = {"stage_id": 1, "pipeline_id": 1, "is_archived": False, "is_deleted": False, "label_ids": []}
        data = [
            _pick(r, keys, f"{times} won_time lost_time close_time") | extra | {"creator_user_id": r["owner_id"]}
            for r in rows
        ]
        return _ok(data, {"next_cursor": next_cursor})

    def _oauth_token(self, request: Request) -> Response:
        auth = request.header("Authorization") or ""
        try:
            client = base64.b64decode(auth[6:]).decode() if auth.lower().startswith("basic ") else ""
        except (ValueError, binascii.Error):
            client = ""
        if client != f"{SANDBOX_CREDENTIALS['client_id']}:{SANDBOX_CREDENTIALS['client_secret']}":
            return Response(401, {"success": False, "message": "Invalid client credentials", "error": "invalid_client"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "refresh_token":
            return Response(
                400, {"success": False, "message": "Unsupported grant type", "error": "unsupported_grant_type"}
            )
        ttl = self.limits().access_token_ttl
        with self._lock:
            if form.get("refresh_token") not in self._refresh_tokens:
                body = {
                    "success": False,
                    "message": "Invalid grant: refresh token is invalid",
                    "error": "invalid_grant",
                }
                return Response(400, body)
            self._issued += 1
            token = f"pd-sandbox-access-token-{self._issued}"
            self._access_tokens[token] = self.sandbox.clock.seconds() + ttl
        scope = "base,contacts:full,activities:full,deals:read,users:read,admin"
        body = {"access_token": token, "token_type": "Bearer", "refresh_token": form["refresh_token"], "scope": scope}
        return Response(200, body | {"expires_in": ttl, "api_domain": self.sandbox.pipedrive_url})

    # -- sample data ----------------------------------------------------------------------------------------------
    def _dataset_fields(self, db: sqlite3.Connection, stages: Iterable[str]) -> dict[str, sqlite3.Row]:
        """The custom fields holding sample data, created on first use; lifecycle options grow as needed."""
        out: dict[str, sqlite3.Row] = {}
        for name, kind, attr in DATASET_FIELDS:
            out[attr] = self._field_by_name(db, name) or self._insert_field(
                db, name, kind, LIFECYCLE_STAGES if kind == "enum" else ()
            )
        stage = out["lifecycle_stage"]
        options = json.loads(stage["options"] or "[]")
        known = {o["label"] for o in options}
        if missing := [s for s in dict.fromkeys(stages) if s and s not in known]:
            next_id = max((o["id"] for o in options), default=stage["id"] * 1000) + 1
            options += [{"id": next_id + i, "label": s} for i, s in enumerate(missing)]
            db.execute("UPDATE pd_person_fields SET options = ? WHERE id = ?", (json.dumps(options), stage["id"]))
            out["lifecycle_stage"] = db.execute(
                "SELECT * FROM pd_person_fields WHERE id = ?", (stage["id"],)
            ).fetchone()
        return out

    @staticmethod
    def _option_id(field: sqlite3.Row, label: str) -> int | None:
        return next((int(o["id"]) for o in json.loads(field["options"] or "[]") if o["label"] == label), None)

    def _org_id(self, db: sqlite3.Connection, name: str, owner_id: int | None, at: int) -> int | None:
        if not name:
            return None
        if hit := db.execute("SELECT id FROM pd_orgs WHERE name = ?", (name,)).fetchone():
            return int(hit[0])
        return _insert_one(db, "pd_orgs", {"name": name, "owner_id": owner_id, "add_time": at, "update_time": at})

    def load(self, dataset: Dataset) -> dict[str, str]:
        """Users, organizations, persons, activities and won/lost deals from a dataset; person key -> id."""
        with self.store.tx() as db:
            now = self._now()
            owners = {
                o.key: _insert_one(
                    db,
                    "pd_users",
                    {
                        "name": f"{o.first_name} {o.last_name}".strip(),
                        "email": o.email,
                        "active_flag": int(o.active),
                        "is_admin": 0,
                        "created": now,
                        "owner_key": o.key,
                    },
                )
                for o in dataset.owners
            }
            default_owner = db.execute("SELECT MIN(id) FROM pd_users").fetchone()[0]
            if default_owner is None and dataset.people:
                admin = {"name": "Sandbox Admin", "email": "admin@sandbox.invalid", "active_flag": 1, "is_admin": 1}
                default_owner = _insert_one(db, "pd_users", admin | {"created": now})
            fields = self._dataset_fields(
                db, (stage_label(p.lifecycle_stage) for p in dataset.people if p.lifecycle_stage)
            )
            rows = []
            for p in dataset.people:
                owner_id = owners.get(p.owner_key or "", default_owner)
                created = _epoch(p.created_at)
                custom = {}
                for attr, field in fields.items():
                    value = stage_label(p.lifecycle_stage) if attr == "lifecycle_stage" else getattr(p, attr)
                    custom[field["key"]] = (
                        self._option_id(field, value) if field["field_type"] == "enum" else value
                    ) or None
                label = LIFECYCLE.get(p.lifecycle_stage, ("", None))[1]
                org_id = self._org_id(db, p.company, owner_id, created)
                rows.append(
                    {"name": f"{p.first_name} {p.last_name}".strip() or p.email, "first_name": p.first_name,
                     "last_name": p.last_name, "owner_id": owner_id, "org_id": org_id,
                     "emails": json.dumps([{"value": p.email, "primary": True, "label": "work"}] if p.email else []),
                     "phones": json.dumps([{"value": p.phone, "primary": True, "label": "work"}] if p.phone else []),
                     "label_ids": json.dumps([label] if label else []), "visible_to": 3, "add_time": created,
                     "update_time": max(_epoch(p.updated_at), created), "custom": json.dumps(custom),
                     "person_key": p.key}
                )  # fmt: skip
            first_new = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM pd_persons").fetchone()[0]
            _insert(db, "pd_persons", rows)
            persons = {
                r["person_key"]: r
                for r in db.execute(
                    "SELECT id, person_key, owner_id, org_id, name FROM pd_persons WHERE id >= ?", (first_new,)
                )
            }
            activities = [
                self._activity_row(
                    persons[a.person_key], a.type, a.occurred_at, a.subject, a.attributes, _epoch(a.occurred_at)
                )
                for a in dataset.activities
                if a.person_key in persons
            ]
            _insert(db, "pd_activities", activities)
            deals = [
                self._deal_row(persons[o.person_key], o.won, o.amount, _epoch(o.closed_at), o.name)
                for o in dataset.outcomes
                if o.person_key in persons
            ]
            _insert(db, "pd_deals", deals)
        return {key: str(r["id"]) for key, r in persons.items()}

    @staticmethod
    def _activity_row(
        person: sqlite3.Row, kind: str, occurred_at: datetime, subject: str, attrs: Mapping[str, Any], changed_at: int
    ) -> dict[str, Any]:
        type_key, prefix = ACTIVITY_TYPES.get(kind, (kind, kind.replace("_", " ").capitalize()))
        when = (occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)).astimezone(UTC)
        detail = subject or next((str(attrs[k]) for k in ("webinar", "form", "asset", "url") if attrs.get(k)), "")
        return {
            "type": type_key, "subject": f"{prefix}: {detail}" if detail else prefix, "owner_id": person["owner_id"],
            "person_id": person["id"], "org_id": person["org_id"], "deal_id": None, "done": 1,
            "due_date": when.strftime("%Y-%m-%d"), "due_time": when.strftime("%H:%M"),
            "duration": "00:30" if type_key in ("call", "meeting") else "", "add_time": _epoch(when),
            "update_time": changed_at, "marked_as_done_time": _epoch(when),
            "note": "; ".join(f"{k}={v}" for k, v in attrs.items()) or None,
        }  # fmt: skip

    @staticmethod
    def _deal_row(person: sqlite3.Row, won: bool, amount: float, closed: int, title: str = "") -> dict[str, Any]:
        return {
            "title": title or f"{person['name']} deal", "owner_id": person["owner_id"], "person_id": person["id"],
            "org_id": person["org_id"], "value": amount, "currency": "USD", "status": "won" if won else "lost",
            "lost_reason": None if won else "No budget", "add_time": closed - 30 * 86400, "update_time": closed,
            "won_time": closed if won else None, "lost_time": None if won else closed, "close_time": closed,
        }  # fmt: skip

    # -- test helpers -------------------------------------------------------------------------------------------
    def _require_person(self, db: sqlite3.Connection, contact_id: str) -> sqlite3.Row:
        row = self._person_row(db, int(contact_id))
        if row is None:
            raise KeyError(f"no person {contact_id}")
        return row

    def touch(self, contact_id: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Change fields (by key, Pipedrive name or sample-data name) and bump ``update_time`` (to ``at``)."""
        with self.store.tx() as db:
            row = self._require_person(db, contact_id)
            body: dict[str, Any] = {}
            org: dict[str, Any] = {}
            for name, value in fields.items():
                if name == "company":
                    org["org_id"] = self._org_id(db, str(value), row["owner_id"], self._now())
                    continue
                if name in ("name", "first_name", "last_name", "owner_id", "email", "phone", "label_ids"):
                    body[name] = value
                    continue
                field = self._field_by_name(db, FIELD_ALIASES.get(name, name))
                if field is None:
                    raise KeyError(f"no person field named {name!r}")
                if field["field_type"] in ("enum", "set") and value is not None:
                    labels = value if isinstance(value, list) else [value]
                    option_ids = [
                        self._option_id(field, str(v)) or self._option_id(field, stage_label(str(v))) for v in labels
                    ]
                    if None in option_ids:
                        raise KeyError(f"field {field['name']!r} has no option {value!r}")
                    value = option_ids if field["field_type"] == "set" else option_ids[0]
                body[field["key"]] = value
            changes = self._person_changes(db, row, body) | org
            self._update_person(db, row, changes, _epoch(at) if at else max(self._now(), row["update_time"] or 0))

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Log a done activity (canonical type or Pipedrive type key).  The person's update_time is NOT bumped."""
        subject = str(attrs.pop("subject", ""))
        with self.store.tx() as db:
            person = self._require_person(db, contact_id)
            when = occurred_at or self.sandbox.clock.now()
            return str(
                _insert_one(db, "pd_activities", self._activity_row(person, type, when, subject, attrs, self._now()))
            )

    def set_deal(self, contact_id: str, *, won: bool, amount: float = 0.0, closed_at: datetime | None = None) -> str:
        """Close a deal (won or lost) for a person."""
        with self.store.tx() as db:
            person = self._require_person(db, contact_id)
            row = self._deal_row(person, won, amount, _epoch(closed_at) if closed_at else self._now())
            return str(_insert_one(db, "pd_deals", row | {"update_time": self._now()}))

    def record(self, contact_id: str) -> dict[str, Any]:
        """The person as ``GET /api/v2/persons/{id}`` returns it, with every custom field."""
        with self.store.read() as db:
            return self._person_v2(self._require_person(db, contact_id), self._custom_fields(db))

    def field_value(self, contact_id: str, name: str) -> Any:
        """A person's value by field NAME or key: option ids become labels, emails/phones their primary value."""
        with self.store.read() as db:
            row = self._require_person(db, contact_id)
            field = self._field_by_name(db, FIELD_ALIASES.get(name, name))
            if name in ("org_name", "company", "Organization"):
                org = db.execute("SELECT name FROM pd_orgs WHERE id = ?", (row["org_id"],)).fetchone()
                return org and org[0]
            if field is None:
                raise KeyError(f"no person field named {name!r}")
            key, kind = field["key"], field["field_type"]
            if key in ("email", "phone"):
                items = json.loads(row[f"{key}s"] or "[]")
                return next((i["value"] for i in items if i.get("primary")), None)
            if key in ("add_time", "update_time"):
                return rfc3339(row[key])
            if key == "label_ids":
                value = json.loads(row["label_ids"] or "[]")
            else:
                value = json.loads(row["custom"] or "{}").get(key) if field["edit_flag"] else row[key]
            if value is None or kind not in ("enum", "set"):
                return value
            labels = {o["id"]: o["label"] for o in json.loads(field["options"] or "[]")}
            return labels.get(value) if kind == "enum" else ",".join(labels[v] for v in value if v in labels) or None

    def merge(self, keep_id: str, merge_id: str) -> None:
        """Merge ``merge_id`` into ``keep_id`` (as ``PUT /v1/persons/{id}/merge``): activities and deals move."""
        with self.store.tx() as db:
            now, keep, gone = self._now(), int(keep_id), int(merge_id)
            for table in ("pd_activities", "pd_deals"):
                db.execute(f"UPDATE {table} SET person_id = ?, update_time = ? WHERE person_id = ?", (keep, now, gone))
            db.execute("UPDATE pd_persons SET is_deleted = 1, update_time = ? WHERE id = ?", (now, gone))
            db.execute("UPDATE pd_persons SET update_time = MAX(update_time, ?) WHERE id = ?", (now, keep))


def create_api(sandbox: Any) -> PipedriveApi:
    return PipedriveApi(sandbox)
