"""``PipedriveApi``: the routes, auth and token budget around each request, and the sandbox-side helpers.

The facade owns no endpoint logic: each API section is a part it holds (``auth``, ``budget``, ``fields``,
``persons``, ``activities``, ``deals``, ``organizations``, ``users``, ``recents``, ``sample_data``) and ``ROUTES`` names
which part's method serves which path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter
from typing import Any

from connectors.sandbox.core import BadRequest, CRMApi, Request, Response, Route, route
from connectors.sandbox.pipedrive import errors
from connectors.sandbox.pipedrive.activities import Activities
from connectors.sandbox.pipedrive.auth import Auth
from connectors.sandbox.pipedrive.common import create_tables, person_row, unix_now
from connectors.sandbox.pipedrive.deals import Deals
from connectors.sandbox.pipedrive.fields import PersonFields, all_fields, field_by_name
from connectors.sandbox.pipedrive.limits import Limits, TokenBudget
from connectors.sandbox.pipedrive.loading import SampleData
from connectors.sandbox.pipedrive.organizations import Organizations
from connectors.sandbox.pipedrive.persons import Persons
from connectors.sandbox.pipedrive.recents import Recents, v1_person
from connectors.sandbox.pipedrive.users import Users
from connectors.sandbox.samples import Dataset

# (method, path pattern, handler as part.method, counter endpoint, token cost).  Costs are the ``x-token-cost``
# of Pipedrive's published v1/v2 definitions (docs/crm-api/pipedrive.md 1.4).  v1 /persons routes are gone from them.
ROUTES: tuple[tuple[str, str, str, str, int], ...] = (
    ("GET", r"/api/v2/persons", "persons.v2_list", "pipedrive.persons.v2.list", 10),
    ("GET", r"/api/v2/persons/(?P<id>\d+)", "persons.v2_get", "pipedrive.persons.v2.get", 1),
    ("PATCH", r"/api/v2/persons/(?P<id>\d+)", "persons.v2_update", "pipedrive.persons.v2.update", 5),
    ("DELETE", r"/api/v2/persons/(?P<id>\d+)", "delete_person", "pipedrive.persons.v2.delete", 3),
    ("PUT", r"/api/v1/persons/(?P<id>\d+)/merge", "merge_persons", "pipedrive.persons.v1.merge", 40),
    ("GET", r"/api/v2/personFields", "fields.v2_list", "pipedrive.personFields.v2.list", 10),
    ("POST", r"/api/v2/personFields", "fields.v2_create", "pipedrive.personFields.v2.create", 5),
    ("GET", r"/api/v1/personFields", "fields.list_fields", "pipedrive.personFields.v1.list", 20),
    ("POST", r"/api/v1/personFields", "fields.create_field", "pipedrive.personFields.v1.create", 10),
    ("GET", r"/api/v1/users", "users.v1_list", "pipedrive.users.list", 20),
    ("GET", r"/api/v2/activities", "activities.v2_list", "pipedrive.activities.v2.list", 10),
    ("GET", r"/api/v2/deals", "deals.v2_list", "pipedrive.deals.v2.list", 10),
    ("GET", r"/api/v2/organizations", "organizations.v2_list", "pipedrive.organizations.v2.list", 10),
    ("GET", r"/api/v1/recents", "recents.v1_list", "pipedrive.recents.list", 20),
    ("POST", r"/oauth/token", "auth.oauth_token", "pipedrive.oauth.token", 0),  # oauth.pipedrive.com in reality
)
DEFAULT_TOKEN_COSTS: dict[str, int] = {endpoint: cost for *_, endpoint, cost in ROUTES}


class PipedriveApi(CRMApi):
    crm = "pipedrive"
    prefixes = ("/api/", "/oauth/token")

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        clock = sandbox.clock
        self.budget = TokenBudget(sandbox.config, clock, DEFAULT_TOKEN_COSTS)
        self.fields = PersonFields(self.store, clock, sandbox.config.seed)
        self.auth = Auth(clock, lambda: self.limits().access_token_ttl, lambda: str(sandbox.pipedrive_url))
        self.persons = Persons(self.store, clock, self._record_fails)
        self.activities = Activities(self.store)
        self.deals = Deals(self.store)
        self.organizations = Organizations(self.store)
        self.users = Users(self.store)
        self.recents = Recents(self.store)
        self.sample_data = SampleData(self.store, clock, self.fields)
        with self.store.tx() as db:
            create_tables(db)
            self.fields.create_standard(db)

    def _record_fails(self, record_id: str) -> bool:
        return self.sandbox.faults.record_fails(self.crm, record_id)

    # -- framework hooks ------------------------------------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        return [
            route(method, path, attrgetter(handler)(self), endpoint) for method, path, handler, endpoint, _ in ROUTES
        ]

    def error(self, status: int, message: str, request: Request) -> Response:
        return Response(status, errors.error_body(message))

    def rate_limited(self, request: Request, endpoint: str) -> Response:
        """A burst-limit 429 (used for injected faults too); ``after()`` adds the usage headers."""
        return errors.rate_limited()

    def limits(self) -> Limits:
        return self.budget.limits()

    def before(self, request: Request, endpoint: str) -> Response | None:
        self.budget.forget()
        if endpoint == "pipedrive.oauth.token":
            return None  # oauth.pipedrive.com: no api token, no budget
        who = self.auth.authenticate(request)
        if who is None:
            return errors.unauthorized()
        return self.budget.charge(who, endpoint)

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        return self.budget.add_headers(response)

    # -- a user's merge and delete, as the vendor's endpoints take them ------------------------------------
    def merge_persons(self, request: Request) -> Response:
        """``PUT /v1/persons/{id}/merge`` with ``merge_with_id``: the person in the path is merged into that one
        and removed; the answer is the surviving person (v1 shape) with ``merge_what_id``, the removed id."""
        body = request.json()
        survivor = body.get("merge_with_id") if isinstance(body, dict) else None
        if not isinstance(survivor, int) or isinstance(survivor, bool):
            raise BadRequest("merge_with_id is required and must be an integer")
        merged = request.params["id"]
        try:
            self.sample_data.merge(str(survivor), merged)
        except KeyError:
            return errors.not_found("Person")
        with self.store.read() as db:
            row = person_row(db, survivor)
            assert row is not None
            return errors.ok(v1_person(row) | {"merge_what_id": int(merged)})

    def delete_person(self, request: Request) -> Response:
        """``DELETE /api/v2/persons/{id}``: marked deleted (purged after 30 days); the answer is ``{id}``."""
        try:
            self.sample_data.delete(request.params["id"])
        except KeyError:
            return errors.not_found("Person")
        return errors.ok_one({"id": int(request.params["id"])})

    # -- helpers for tests, the demo and benchmarks ---------------------------------------------------------
    def tokens_used(self) -> int:
        """Tokens spent in the current (sandbox) day by every caller."""
        return self.budget.used()

    def tokens_used_total(self) -> int:
        """Tokens spent since the sandbox started, across day boundaries."""
        return self.budget.used_total()

    def spend_tokens(self, tokens: int) -> None:
        """Spend budget as another integration of the same company would."""
        self.budget.spend(tokens)

    def expire_access_tokens(self) -> None:
        """Every OAuth access token issued so far expires now: the next call with one gets a 401."""
        self.auth.expire_access_tokens()

    def _now(self) -> int:
        return unix_now(self.sandbox.clock)

    # tests read the person fields' rows directly
    def _fields(self, db: sqlite3.Connection) -> list[sqlite3.Row]:
        return all_fields(db)

    def _field_by_name(self, db: sqlite3.Connection, name: str) -> sqlite3.Row | None:
        return field_by_name(db, name)

    def load(self, dataset: Dataset) -> dict[str, str]:
        """Users, organizations, persons, activities and won/lost deals from a dataset; person key -> id."""
        return self.sample_data.load(dataset)

    def touch(self, contact_id: str, *, at: datetime | None = None, **fields: Any) -> None:
        """Change fields (by key, Pipedrive name or sample-data name) and bump ``update_time`` (to ``at``)."""
        self.sample_data.touch(contact_id, at=at, **fields)

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Log a done activity (canonical type or Pipedrive type key).  The person's update_time is NOT bumped."""
        return self.sample_data.add_activity(contact_id, type, occurred_at, **attrs)

    def set_deal(self, contact_id: str, *, won: bool, amount: float = 0.0, closed_at: datetime | None = None) -> str:
        """Close a deal (won or lost) for a person."""
        return self.sample_data.set_deal(contact_id, won=won, amount=amount, closed_at=closed_at)

    def record(self, contact_id: str) -> dict[str, Any]:
        """The person as ``GET /api/v2/persons/{id}`` returns it, with every custom field."""
        return self.sample_data.record(contact_id)

    def field_value(self, contact_id: str, name: str) -> Any:
        """A person's value by field NAME or key: option ids become labels, emails/phones their primary value."""
        return self.sample_data.field_value(contact_id, name)

    def merge(self, keep_id: str, merge_id: str) -> None:
        """Merge ``merge_id`` into ``keep_id`` (as ``PUT /v1/persons/{id}/merge``): activities and deals move."""
        self.sample_data.merge(keep_id, merge_id)


def create_api(sandbox: Any) -> PipedriveApi:
    return PipedriveApi(sandbox)
