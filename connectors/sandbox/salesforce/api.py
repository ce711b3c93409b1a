"""The facade the sandbox server talks to: the route table, the auth / allocation / error hooks around every
request, and the public methods tests and the demo call, each handed to the section that owns it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.core import CRMApi, Request, Response, Route, route
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.salesforce import soql
from connectors.sandbox.salesforce.auth import NO_AUTH, OAuth, SalesforceOrg, Session, bearer
from connectors.sandbox.salesforce.composite import Composite
from connectors.sandbox.salesforce.context import Context
from connectors.sandbox.salesforce.errors import SfError, errors
from connectors.sandbox.salesforce.limits import ApiUsage
from connectors.sandbox.salesforce.loading import Loader, seed_org
from connectors.sandbox.salesforce.query import Queries
from connectors.sandbox.salesforce.sobjects import SObjects
from connectors.sandbox.salesforce.tooling import Tooling

_V = r"/services/data/v(?P<version>\d+\.\d+)"
_RELEASES = (("58.0", "Summer '23"), ("59.0", "Winter '24"), ("60.0", "Spring '24"), ("61.0", "Summer '24"))


class SalesforceApi(CRMApi):
    crm = "salesforce"
    prefixes = ("/services/",)

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.clock = sandbox.clock
        self.ctx = Context(sandbox)
        self.schemas = self.ctx.schemas.objects
        self.org = SalesforceOrg()
        self.oauth = OAuth(self.ctx, self.org)
        self.ctx.user_of = lambda request: self.oauth.user_of(bearer(request))
        self.tooling = Tooling(self.ctx)
        self.usage = ApiUsage(self.ctx)
        self.queries = Queries(self.ctx)
        self.sobjects = SObjects(self.ctx)
        self.composites = Composite(self.ctx, self.sobjects, self.routes)
        self.loader = Loader(self.ctx, self.org)
        seed_org(self.ctx.records, self.org)
        self.oauth.restore_static_session()

    # -- state other code reads ------------------------------------------------------------------------
    @property
    def auto_assign_log(self) -> list[str | None]:
        return self.sobjects.auto_assign_log

    @auto_assign_log.setter
    def auto_assign_log(self, value: list[str | None]) -> None:
        self.sobjects.auto_assign_log = value

    @property
    def record_failure_code(self) -> str:
        return self.sobjects.record_failure_code

    @record_failure_code.setter
    def record_failure_code(self, value: str) -> None:
        self.sobjects.record_failure_code = value

    @property
    def _sessions(self) -> dict[str, Session]:
        return self.oauth.sessions

    def limit(self, name: str) -> Any:
        return self.ctx.limit(name)

    # -- CRMApi hooks ----------------------------------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        g = self._guard
        return [
            route("GET", r"/services/data/?", g(self.versions), "salesforce.versions"),
            route("POST", r"/services/oauth2/token", g(self.oauth.token), "salesforce.oauth.token"),
            route("GET", r"/services/oauth2/userinfo/?", g(self.oauth.userinfo), "salesforce.oauth.userinfo"),
            route(
                "POST",
                _V + r"/tooling/sobjects/CustomField/?",
                g(self.tooling.create_custom_field),
                "salesforce.tooling.customfield.create",
            ),
            route("GET", _V + r"/query/?", g(self.queries.query), "salesforce.query"),
            route("GET", _V + r"/queryAll/?", g(self.queries.query), "salesforce.queryAll"),
            route(
                "GET",
                _V + r"/(?P<kind>query|queryAll)/(?P<locator>01g[A-Za-z0-9]+)-(?P<pos>\d+)/?",
                g(self.queries.query_more),
                "salesforce.query_more",
            ),
            route(
                "PATCH",
                _V + r"/composite/sobjects/?",
                g(self.composites.collections_update),
                "salesforce.composite.sobjects",
            ),
            route("POST", _V + r"/composite/?", g(self.composites.composite), "salesforce.composite"),
            route(
                "GET",
                _V + r"/sobjects/(?P<sobject>\w+)/describe/?",
                g(self.describe),
                "salesforce.describe",
            ),
            route("POST", _V + r"/sobjects/(?P<sobject>\w+)/?", g(self.sobjects.create), "salesforce.sobject.create"),
            route(
                "GET",
                _V + r"/sobjects/(?P<sobject>\w+)/(?P<id>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})/?",
                g(self.sobjects.retrieve),
                "salesforce.sobject.get",
            ),
            route(
                "PATCH",
                _V + r"/sobjects/(?P<sobject>\w+)/(?P<id>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})/?",
                g(self.sobjects.update_one),
                "salesforce.sobject.update",
            ),
            route(
                "DELETE",
                _V + r"/sobjects/(?P<sobject>\w+)/(?P<id>[A-Za-z0-9]{15}|[A-Za-z0-9]{18})/?",
                g(self.sobjects.delete_one),
                "salesforce.sobject.delete",
            ),
            route("GET", _V + r"/limits/?", g(self.usage.limits), "salesforce.limits"),
        ]

    def _guard(self, handler: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                response: Response = handler(request)
                return response
            except SfError as exc:
                return errors(exc.status, exc.code, exc.message)
            except soql.SoqlError as exc:
                return errors(400, "MALFORMED_QUERY", str(exc))

        return run

    def error(self, status: int, message: str, request: Request) -> Response:
        code = {400: "JSON_PARSER_ERROR", 401: "INVALID_SESSION_ID", 404: "NOT_FOUND"}.get(status, "UNKNOWN_EXCEPTION")
        if status == 404:
            message = "The requested resource does not exist"
        return errors(status, code, message)

    def rate_limited(self, request: Request, endpoint: str) -> Response:
        """Salesforce has no 429: a burst over the concurrent long-running request cap is a 403."""
        return errors(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")

    def before(self, request: Request, endpoint: str) -> Response | None:
        if endpoint in NO_AUTH:
            return None
        uri = len(request.path) + 1 + len(urlencode(request.query, doseq=True))
        if uri > self.limit("max_uri_bytes"):
            return errors(414, "URI_TOO_LONG", f"Request-URI of {uri} bytes exceeds the 16,384-byte limit")
        if not self.oauth.session_ok(bearer(request)):
            return errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return self.usage.count()

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        if endpoint not in NO_AUTH and response.status not in (401, 414):
            response.headers["Sforce-Limit-Info"] = self.usage.header()
        return response

    # -- handlers, each owned by a section -------------------------------------------------------------
    def versions(self, request: Request) -> Response:
        return Response(200, [{"label": label, "url": f"/services/data/v{v}", "version": v} for v, label in _RELEASES])

    def token(self, request: Request) -> Response:
        return self.oauth.token(request)

    def limits(self, request: Request) -> Response:
        return self.usage.limits(request)

    def describe(self, request: Request) -> Response:
        return self.ctx.schemas.describe(request, self.ctx.access(request))

    def retrieve(self, request: Request) -> Response:
        return self.sobjects.retrieve(request)

    def update_one(self, request: Request) -> Response:
        return self.sobjects.update_one(request)

    def query(self, request: Request) -> Response:
        return self.queries.query(request)

    def query_more(self, request: Request) -> Response:
        return self.queries.query_more(request)

    def collections_update(self, request: Request) -> Response:
        return self.composites.collections_update(request)

    def composite(self, request: Request) -> Response:
        return self.composites.composite(request)

    # -- quota and sessions ----------------------------------------------------------------------------
    def api_usage(self) -> int:
        """API requests counted in the rolling 24 h window."""
        return self.usage.used()

    def expire_sessions(self) -> None:
        """End every session, the static one of ``SANDBOX_CREDENTIALS`` included (see ``restore_static_session``)."""
        self.oauth.expire_sessions()

    def restore_static_session(self) -> None:
        self.oauth.restore_static_session()

    def register_jwt_key(self, consumer_key: str, public_key_pem: bytes | str) -> None:
        """Register the certificate's public key of a connected app for the JWT bearer flow."""
        self.oauth.register_jwt_key(consumer_key, public_key_pem)

    # -- dataset loading, schema changes and test helpers ----------------------------------------------
    def load(self, dataset: Dataset) -> dict[str, str]:
        """Turn a CRM-neutral dataset into Users, Leads (some converted), Contacts, Accounts, Tasks, Events,
        Campaigns/CampaignMembers, Opportunities and OpportunityContactRoles; returns person key -> Lead id."""
        return self.loader.load(dataset)

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Log an activity for a Lead or Contact now (SystemModstamp = now); returns the new record's id."""
        return self.loader.add_activity(contact_id, type, occurred_at, **attrs)

    def touch(self, contact_id: str, **fields: Any) -> None:
        """Change fields (Salesforce names) on any record and bump its LastModifiedDate/SystemModstamp."""
        self.loader.touch(contact_id, **fields)

    def record(self, contact_id: str) -> dict[str, Any]:
        """The stored record as Salesforce returns it from ``GET /sobjects/{type}/{id}``."""
        return self.loader.record(contact_id)

    def merge(self, master_id: str, *duplicate_ids: str) -> None:
        """Merge Leads or Contacts as Salesforce does (see ``Loader.merge``)."""
        self.loader.merge(master_id, *duplicate_ids)

    def delete(self, record_id: str) -> None:
        """Delete a record as a user does: to the Recycle Bin (IsDeleted, seen by ``queryAll`` only)."""
        self.loader.delete(record_id)

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
        self.ctx.schemas.create_field(
            sobject, name, type, label, length=length, precision=precision, scale=scale, picklist=picklist
        )

    def track_field_history(self, sobject: str, *fields: str, on: bool = True) -> None:
        """Turn field history tracking on (or off) for ``fields`` of ``sobject``, as an admin does in Setup."""
        (self.ctx.history.track if on else self.ctx.history.untrack)(sobject, *fields)

    def drop_field(self, sobject: str, name: str) -> None:
        self.ctx.schemas.drop_field(sobject, name)

    # -- raw storage, for tests that plant what the API itself would refuse --------------------------------
    def _get(self, record_id: str) -> tuple[str, dict[str, Any], bool] | None:
        return self.ctx.records.get(record_id)

    def _write_rows(self, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        self.ctx.records.write(rows)


def create_api(sandbox: Any) -> SalesforceApi:
    return SalesforceApi(sandbox)
