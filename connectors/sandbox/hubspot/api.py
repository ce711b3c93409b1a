"""``HubSpotApi``: the HubSpot emulation as the sandbox server sees it.  It owns the routes table and the
before/after hooks (auth, scopes, rate limits, usage headers), and wires the parts that each own one API
section; the test helpers are here too, delegating to the part that owns the data."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import CRMApi, Request, Response, Route, route
from connectors.sandbox.hubspot import email_events, events, forms, records
from connectors.sandbox.hubspot.associations import Associations
from connectors.sandbox.hubspot.auth import Auth
from connectors.sandbox.hubspot.batch import Batch
from connectors.sandbox.hubspot.context import Context, int_id, json_body
from connectors.sandbox.hubspot.email_events import EmailEvents
from connectors.sandbox.hubspot.errors import HubSpotError, answering_errors, error_response
from connectors.sandbox.hubspot.events import WebEvents
from connectors.sandbox.hubspot.forms import Forms
from connectors.sandbox.hubspot.history import History
from connectors.sandbox.hubspot.limits import RateLimits, rate_limit_response
from connectors.sandbox.hubspot.loading import Loader
from connectors.sandbox.hubspot.model import OBJECT_TYPES, TYPE_RE
from connectors.sandbox.hubspot.objects import Objects
from connectors.sandbox.hubspot.owners import Owners
from connectors.sandbox.hubspot.schema import Schema
from connectors.sandbox.hubspot.search import Search

if TYPE_CHECKING:
    from connectors.sandbox.dataset import Dataset

_OAUTH_ENDPOINT = "hubspot.oauth.token"


class HubSpotApi(CRMApi):
    crm = "hubspot"
    prefixes = ("/crm/", "/oauth/v1/", "/marketing/v3/", "/form-integrations/v1/", "/email/public/v1/", "/events/v3/")

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.ctx = Context(sandbox)
        self.auth = Auth(self.ctx)
        self.limits = RateLimits(self.ctx)
        self.schema = Schema(self.ctx)
        self.objects = Objects(self.ctx, self.schema)
        self.searcher = Search(self.ctx, self.schema)
        self.batch = Batch(self.ctx, self.schema)
        self.history = History(self.ctx, self.batch.read)
        self.associations = Associations(self.ctx)
        self.owners = Owners(self.ctx)
        self.forms = Forms(self.ctx)
        self.email_events = EmailEvents(self.ctx)
        self.web_events = WebEvents(self.ctx)
        self.loader = Loader(self.ctx, self.forms, self.email_events, self.web_events)
        # test-only: (endpoint, query) of the latest requests, for tests that check what was asked
        self.request_log: deque[tuple[str, dict[str, list[str]]]] = deque(maxlen=10_000)
        with self.store.tx() as conn:
            records.create_tables(conn)
            for part in (forms, email_events, events):
                part.create_tables(conn)
            self.schema.seed(conn)
            delay = sandbox.config.limits.get("hubspot", {}).get("search_index_delay_seconds")
            if delay is not None:
                records.set_index_delay_ms(conn, round(float(delay) * 1000))

    # -- state tests reach into -----------------------------------------------------------------------------
    @property
    def scopes(self) -> set[str]:
        """Granted scopes; tests remove some to get 403 MISSING_SCOPES."""
        return self.auth.scopes

    @scopes.setter
    def scopes(self, granted: set[str]) -> None:
        self.auth.scopes = granted

    @property
    def fail_records(self) -> set[str]:
        """Test-only: ids whose batch writes always fail."""
        return self.batch.fail_records

    @fail_records.setter
    def fail_records(self, ids: set[str]) -> None:
        self.batch.fail_records = ids

    @property
    def portal_tier(self) -> str:
        """The portal's subscription tier (``free`` ... ``enterprise``); the event analytics API needs Enterprise."""
        return self.web_events.tier

    @portal_tier.setter
    def portal_tier(self, tier: str) -> None:
        self.web_events.tier = tier

    def limit(self, name: str) -> Any:
        return self.ctx.limit(name)

    @property
    def index_delay_seconds(self) -> float:
        """How long the changes made from now on take to show in search results (HubSpot's index lag, which
        varies from change to change: set it before each change a test wants delayed); 0: at once."""
        with self.store.read() as conn:
            return records.index_delay_ms(conn) / 1000

    @index_delay_seconds.setter
    def index_delay_seconds(self, seconds: float) -> None:
        with self.store.tx() as conn:
            records.set_index_delay_ms(conn, round(seconds * 1000))

    def inject_failures(self, endpoint_prefix: str, status: int, times: int = 1) -> None:
        """Test-only switch: the next ``times`` requests to endpoints starting with the prefix get ``status``."""
        self.limits.inject_failures(endpoint_prefix, status, times)

    def revoke_access_tokens(self) -> None:
        """Test helper: every OAuth access token issued so far stops working (401)."""
        self.auth.revoke_access_tokens()

    # -- routing -----------------------------------------------------------------------------------------------
    def routes(self) -> Iterable[Route]:
        out: list[Route] = [route("POST", r"/oauth/v1/token", self.auth.token, _OAUTH_ENDPOINT)]
        for t in OBJECT_TYPES:
            base = f"/crm/v3/objects/{t}"
            out += [
                route("GET", base, self._typed(t, self.objects.page), f"hubspot.{t}.list"),
                route("POST", base, self._typed(t, self.objects.create), f"hubspot.{t}.create"),
                route("POST", f"{base}/search", self._typed(t, self.searcher.search), f"hubspot.{t}.search"),
                route("POST", f"{base}/batch/read", self._typed(t, self.history.batch_read), f"hubspot.{t}.batch_read"),
                route("POST", f"{base}/batch/update", self._typed(t, self.batch.update), f"hubspot.{t}.batch_update"),
                route("GET", rf"{base}/(?P<id>[^/]+)", self._typed(t, self.objects.get), f"hubspot.{t}.get"),
            ]
        properties = r"/crm/v3/properties/(?P<type>\w+)"
        out += [
            route("POST", r"/crm/v3/objects/contacts/merge", answering_errors(self._merge), "hubspot.contacts.merge"),
            route(
                "DELETE",
                r"/crm/v3/objects/contacts/(?P<id>[^/]+)",
                answering_errors(self._archive),
                "hubspot.contacts.archive",
            ),
            route(
                "POST",
                rf"/crm/v4/associations/(?P<from>{TYPE_RE})/(?P<to>{TYPE_RE})/batch/read",
                answering_errors(self.associations.batch_read),
                "hubspot.associations.batch_read",
            ),
            route(
                "GET", f"{properties}/groups", answering_errors(self.schema.groups_list), "hubspot.property_groups.list"
            ),
            route(
                "POST",
                f"{properties}/groups",
                answering_errors(self.schema.groups_create),
                "hubspot.property_groups.create",
            ),
            route("GET", properties, answering_errors(self.schema.properties_list), "hubspot.properties.list"),
            route("POST", properties, answering_errors(self.schema.properties_create), "hubspot.properties.create"),
            route(
                "GET",
                rf"{properties}/(?P<name>[^/]+)",
                answering_errors(self.schema.properties_get),
                "hubspot.properties.get",
            ),
            route("GET", r"/crm/v3/owners/?", answering_errors(self.owners.page), "hubspot.owners.list"),
            route("GET", r"/marketing/v3/forms/?", answering_errors(self.forms.forms_page), "hubspot.forms.list"),
            route(
                "GET",
                r"/form-integrations/v1/submissions/forms/(?P<guid>[^/]+)",
                answering_errors(self.forms.submissions_page),
                "hubspot.form_submissions.list",
            ),
            route(
                "GET",
                r"/email/public/v1/events/?",
                answering_errors(self.email_events.events_page),
                "hubspot.email_events.list",
            ),
            route("GET", r"/events/v3/events/?", answering_errors(self.web_events.events_page), "hubspot.events.list"),
        ]
        return out

    def _merge(self, request: Request) -> Response:
        """``POST /crm/v3/objects/contacts/merge`` (``primaryObjectId``, ``objectIdToMerge``): the merged
        contact, under the primary's id, listing the old id in ``hs_merged_object_ids``."""
        body = json_body(request)
        primary, to_merge = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if not isinstance(primary, str) or not isinstance(to_merge, str):
            raise HubSpotError(400, "primaryObjectId and objectIdToMerge are required strings.")
        try:
            survivor = self.loader.merge(primary, to_merge)
        except (KeyError, ValueError) as exc:
            raise HubSpotError(400, f"Cannot merge contact {to_merge} into {primary}.") from exc
        return Response(200, self.loader.record(survivor))

    def _archive(self, request: Request) -> Response:
        """``DELETE /crm/v3/objects/contacts/{id}``: moved to the recycling bin (archived); 204, no body."""
        contact_id = int_id(request.params["id"])
        if contact_id is not None:
            self.loader.archive(str(contact_id))
        return Response(204)

    @staticmethod
    def _typed(otype: str, fn: Callable[[str, Request], Response]) -> Callable[[Request], Response]:
        return answering_errors(lambda request: fn(otype, request))

    # -- hooks around every request ----------------------------------------------------------------------------
    def error(self, status: int, message: str, request: Request) -> Response:
        return error_response(status, message)

    def rate_limited(self, request: Request, endpoint: str) -> Response:
        return rate_limit_response("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")

    def before(self, request: Request, endpoint: str) -> Response | None:
        self.request_log.append((endpoint, {k: list(v) for k, v in request.query.items()}))
        if endpoint == _OAUTH_ENDPOINT:
            return None
        caller = self.auth.caller(request)
        if isinstance(caller, Response):
            return caller
        app, kind = caller
        refused = self.auth.missing_scope(endpoint)
        if refused is None:
            refused = self.limits.take(app, kind, endpoint)
        return refused if refused is not None else self.limits.injected(endpoint)

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        response.headers.setdefault("X-HubSpot-Correlation-Id", str(uuid.uuid4()))
        if endpoint == _OAUTH_ENDPOINT or not self.sandbox.config.rate_limits:
            return response
        caller = self.auth.caller(request)
        if isinstance(caller, Response):
            return response
        app, kind = caller
        self.limits.add_headers(response, app, kind, endpoint)
        return response

    # -- loading a dataset and test helpers --------------------------------------------------------------------
    def load(self, dataset: Dataset) -> dict[str, str]:
        """Load people, owners, activities and outcomes in bulk; returns person key -> contact id."""
        return self.loader.load(dataset)

    def touch(self, contact_id: str, _at: datetime | None = None, **fields: Any) -> None:
        """Set properties (HubSpot names) and bump ``lastmodifieddate`` (to ``_at`` if given, else now)."""
        self.loader.touch(contact_id, _at, **fields)

    def set_modified(self, contact_ids: Iterable[str], at: datetime) -> None:
        """Give many contacts the same ``lastmodifieddate`` (equal-timestamp tests)."""
        self.loader.set_modified(contact_ids, at)

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Record a canonical activity where HubSpot keeps its kind (engagement, form submission, email event or
        web analytics event), on the contact; returns the id HubSpot gives it."""
        return self.loader.add_activity(contact_id, type, occurred_at, attrs)

    def record(self, contact_id: str) -> dict[str, Any]:
        """The stored contact as HubSpot returns it, with every property it holds."""
        return self.loader.record(contact_id)

    def merge(self, primary_id: str, merged_id: str) -> str:
        """Merge ``merged_id`` into ``primary_id`` as HubSpot does; the old id keeps resolving to the primary."""
        return self.loader.merge(primary_id, merged_id)

    def archive(self, contact_id: str) -> None:
        """Archive (soft-delete) a contact: gone from lists and searches, listed with ``archived=true``."""
        self.loader.archive(contact_id)

    def count(self, otype: str = "contacts") -> int:
        return self.loader.count(otype)

    def create_property(
        self,
        name: str,
        ptype: str = "string",
        *,
        label: str = "",
        group: str = "contactinformation",
        options: Sequence[str] = (),
    ) -> None:
        self.schema.create_property(name, ptype, label=label, group=group, options=options)

    def set_lifecycle_stages(self, stages: Sequence[str]) -> None:
        """Replace the lifecyclestage options (custom stages), in order."""
        self.schema.set_lifecycle_stages(stages)


def create_api(sandbox: Any) -> HubSpotApi:
    return HubSpotApi(sandbox)
