"""HubSpot behaviour, read where HubSpot keeps it (docs/crm-api.md §2.5), as leadsync activities.

==================================  ===============================================================  =========
what                                where                                                            scope
==================================  ===============================================================  =========
form fills (demo, webinar, content  ``GET /marketing/v3/forms`` then, per form,                      ``forms``
downloads, other forms)             ``GET /form-integrations/v1/submissions/forms/{guid}`` (50 per
                                    call, newest first: paging stops at the first older than the
                                    window)
marketing email opens, clicks,      ``GET /email/public/v1/events`` by ``startTimestamp`` /            ``content``
bounces, unsubscribes               ``endTimestamp`` (1,000 per call, ``offset``/``hasMore`` paging)
page views (Enterprise portals)     ``GET /events/v3/events`` ``eventType=e_visited_page`` (100 per   ``oauth``
                                    call); below Enterprise HubSpot answers 403 and page views are
                                    read from the contact rollups ``hs_analytics_*`` instead
==================================  ===============================================================  =========

A submission carries no contact id: HubSpot files it on the contact whose ``email`` is the submitted
``email`` value, so does leadsync (a ``contactId`` is used if an answer has one).  Email events name their
``recipient``; web events their ``objectId`` (the contact id).  The type of a submission comes from the form
map (``HubSpotConfig.form_activity_map``: form id, form name, or a part of the name or page URL -> activity
type), the type of an event from ``activity_type_map`` (``EMAIL_EVENT:OPEN``, ``WEB_EVENT:E_VISITED_PAGE``).

``BehaviourIndex`` reads these listings once per adapter over ``behaviour_lookback_days`` and then, at most
every five minutes, only what is new since its last read, keeping the activities by contact email / id.
No read of its own finds what changed: every behaviour moves a contact rollup the contacts search returns
(``HubSpotAdapter.read_activity_changes``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from connectors.errors import AuthError
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.config import HubSpotConfig
from connectors.hubspot.mapping import canonical_type, parse_time, to_ms
from connectors.paging import HubSpotAfter, HubSpotOffset, pages
from connectors.records import Activity, ActivityType, FieldValue

FORMS_PAGE = 50
SUBMISSIONS_PAGE = 50  # the Forms API's maximum
EMAIL_EVENTS_PAGE = 1000  # the email events API's maximum
WEB_EVENTS_PAGE = 100
PAGE_VIEW_EVENT = "e_visited_page"
# Within one adapter the index is read again after this long (ms): a backfill's pages share one read, a
# long-lived adapter (the daemon's) still sees new behaviour.
REFRESH_MS = 300_000
# A refresh re-reads this far back (ms): HubSpot records events and submissions asynchronously, so one may
# appear after a read that covered its time; duplicates are dropped by id.
OVERLAP_MS = 600_000
_JSON = {200: "object"}


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One behaviour record, filed under the contact it names: ``email:<address>`` or ``id:<contact id>``."""

    key: str
    id: str
    type: str
    occurred_at: datetime
    source_type: str
    attributes: dict[str, FieldValue] = field(default_factory=dict)

    def activity(self, contact_id: str) -> Activity:
        return Activity(
            id=self.id,
            contact_id=contact_id,
            type=self.type,
            occurred_at=self.occurred_at,
            attributes=self.attributes,
            source_type=self.source_type,
        )


def email_key(email: Any) -> str:
    return f"email:{str(email or '').strip().lower()}"


def form_activity_type(
    form_id: str, form_name: str, page_url: str, user_map: Mapping[str, str], default_map: Mapping[str, str]
) -> str:
    """The activity type of a submission: a rule naming the form's id, then its name, then a part of its
    name, then a part of the page URL's path (not its host: "demo" must not match www.acme-demo.com); the
    user's rules before the defaults; else ``form_submission``."""
    canonical = {t.value for t in ActivityType}
    parts = urlsplit(page_url)
    name, url = form_name.lower(), (parts.path + ("?" + parts.query if parts.query else "")).lower()
    tests: tuple[Callable[[str], bool], ...] = (
        lambda key: key == form_id.lower(),
        lambda key: key == name,
        lambda key: key in name,
        lambda key: key in url,
    )
    for test in tests:
        for rules in (user_map, default_map):
            for key, kind in rules.items():
                if key.strip() and test(key.strip().lower()) and kind in canonical:
                    return kind
    return ActivityType.FORM_SUBMISSION.value


class BehaviourIndex:
    def __init__(self, config: HubSpotConfig, client: HubSpotClient):
        self.config = config
        self.client = client
        self._by_key: dict[str, dict[str, Behaviour]] = {}
        self._until: int | None = None  # everything up to here (ms) has been read
        self._web: bool | None = None  # does this portal serve /events/v3/events (Enterprise)?
        self._web_refusal = ""
        self._stale = False

    # -- what this portal serves -------------------------------------------------------------------------
    def web_events_available(self) -> bool:
        """Whether page views come from ``/events/v3/events`` (one probe call, remembered per adapter)."""
        if self.config.page_views != "auto":
            return self.config.page_views == "events"
        if self._web is None:
            try:
                self._web_events_page({"objectType": "contact", "eventType": PAGE_VIEW_EVENT, "limit": 1})
                self._web = True
            except AuthError as exc:  # 403: below Enterprise, or the scope is missing
                self._web, self._web_refusal = False, str(exc)
        return self._web

    def describe(self) -> list[str]:
        """One sentence per behaviour source: what ``leadsync check`` reports (a refused source says why)."""
        lines: list[str] = []
        try:
            forms = self._forms()
            typed = [(name, self._form_type(fid, name, "")) for fid, name in forms]
            special = [f"{name!r} -> {kind}" for name, kind in typed if kind != ActivityType.FORM_SUBMISSION.value]
            shown = ", ".join(special[:10]) + (f" and {len(special) - 10} more" if len(special) > 10 else "")
            lines.append(
                f"Form submissions: {len(forms)} form(s) read through the Forms API"
                + (f"; typed by the form map: {shown}." if special else "; all typed form_submission.")
            )
        except AuthError as exc:
            lines.append(f"Form submissions: not readable, syncs will stop until this is fixed: {exc}")
        try:
            self._email_events_page({"limit": 1})
            lines.append("Marketing email opens, clicks, bounces and unsubscribes: read from the email events API.")
        except AuthError as exc:
            lines.append(f"Marketing email events: not readable, syncs will stop until this is fixed: {exc}")
        if self.web_events_available():
            lines.append("Page views: read one by one from the event analytics API (/events/v3/events).")
        else:
            why = f" ({self._web_refusal})" if self._web_refusal else ""
            lines.append(
                "Page views: this portal does not serve the event analytics API (Enterprise only)"
                f"{why}; page views come from the contact rollups hs_analytics_num_page_views and "
                "hs_analytics_last_visit_timestamp, for the model's property rules."
            )
        return lines

    # -- reads -------------------------------------------------------------------------------------------
    def mark_stale(self) -> None:
        """A new read of contacts begins (a run): the next ``for_contacts`` first reads what is new."""
        self._stale = True

    def for_contacts(
        self, emails: Mapping[str, str], conversions: Mapping[str, int] | None = None
    ) -> dict[str, list[Activity]]:
        """The behaviour of each contact id in ``emails`` (id -> email address) within the lookback window.

        ``conversions`` (id -> the contact's ``recent_conversion_date`` in ms) names submissions the index may
        not have yet (HubSpot records them asynchronously, or one was read before it was indexed): when a
        contact converted later than any submission the index holds for it, the forms are read back to then.
        """
        now = to_ms(self.config.now())
        if self._until is None:
            start = now - int(self.config.behaviour_lookback_days * 86_400_000)
            self._add(self._read_window(start, now))
            self._until, self._stale = now, False
        elif self._stale or now - self._until > REFRESH_MS:
            self._add(self._read_window(self._until - OVERLAP_MS, now))
            self._until, self._stale = now, False
        missing = [
            at
            for cid, at in (conversions or {}).items()
            if at > self._latest_submission(emails.get(cid, ""), cid) and at >= now - self._lookback_ms()
        ]
        if missing:
            self._add(self._submissions(min(missing)))
        out: dict[str, list[Activity]] = {}
        for cid, email in emails.items():
            found = {**self._by_key.get(email_key(email), {}), **self._by_key.get(f"id:{cid}", {})}
            out[cid] = [b.activity(cid) for b in found.values()]
        return out

    def _lookback_ms(self) -> int:
        return int(self.config.behaviour_lookback_days * 86_400_000)

    def _latest_submission(self, email: str, contact_id: str) -> int:
        held = [*self._by_key.get(email_key(email), {}).values(), *self._by_key.get(f"id:{contact_id}", {}).values()]
        return max((to_ms(b.occurred_at) for b in held if b.source_type.startswith("FORM:")), default=-1)

    def _add(self, found: Iterable[Behaviour]) -> None:
        for b in found:
            self._by_key.setdefault(b.key, {})[b.id] = b

    def _read_window(self, since: int, until: int) -> list[Behaviour]:
        found = list(self._email_events(since, until))
        found.extend(self._submissions(since))
        if self.web_events_available():
            found.extend(self._web_events(since, until))
        return found

    # -- forms -------------------------------------------------------------------------------------------
    def _forms(self) -> list[tuple[str, str]]:
        def fetch(request: dict[str, Any]) -> Any:
            data, _, _ = self.client.call(
                "forms.list",
                partial(
                    self.client.forms.get_page_with_http_info,
                    archived=False,
                    _request_timeout=self.config.timeout,
                    **request,
                ),
            )
            return data

        out: list[tuple[str, str]] = []
        for data in pages(fetch, HubSpotAfter(endpoint="forms.list"), {"limit": FORMS_PAGE}):
            out.extend((str(f.id), str(f.name or "")) for f in data.results or [])
        return out

    def _form_type(self, form_id: str, name: str, page_url: str) -> str:
        return form_activity_type(form_id, name, page_url, self.config.form_activity_map, self.config.default_form_map)

    def _submissions(self, since: int) -> Iterator[Behaviour]:
        """Every submission of every form at or after ``since``: newest first, so a form's paging stops at the
        first page that reaches back past ``since``."""
        for form_id, name in self._forms():
            paginator = HubSpotAfter(endpoint="form_submissions.list")
            path = f"/form-integrations/v1/submissions/forms/{form_id}"
            for data in pages(
                partial(self._get, "form_submissions.list", path), paginator, {"limit": SUBMISSIONS_PAGE}
            ):
                older = False
                for item in data.get("results") or []:
                    at = int(item.get("submittedAt") or 0)
                    if at < since:
                        older = True
                        continue
                    behaviour = self._submission(form_id, name, item, at)
                    if behaviour is not None:
                        yield behaviour
                if older:
                    break

    def _submission(self, form_id: str, name: str, item: Mapping[str, Any], at: int) -> Behaviour | None:
        values = {str(v.get("name")): v.get("value") for v in item.get("values") or [] if isinstance(v, Mapping)}
        contact_id, email = item.get("contactId"), values.get("email")
        if not contact_id and not email:
            return None  # HubSpot files a submission without an email on no contact
        url = str(item.get("pageUrl") or "")
        return Behaviour(
            key=f"id:{contact_id}" if contact_id else email_key(email),
            id=str(item.get("conversionId") or f"{form_id}:{at}:{email}"),
            type=self._form_type(form_id, name, url),
            occurred_at=datetime.fromtimestamp(at / 1000, UTC),
            source_type=f"FORM:{name}",
            attributes={"subject": name, "form": name, "form_id": form_id, "url": url},
        )

    # -- marketing email events --------------------------------------------------------------------------
    def _email_events(self, since: int, until: int) -> Iterator[Behaviour]:
        params = {"startTimestamp": since, "endTimestamp": until, "limit": EMAIL_EVENTS_PAGE}
        for data in pages(self._email_events_page, HubSpotOffset(endpoint="email_events.list"), params):
            for event in data.get("events") or []:
                behaviour = self._email_event(event)
                if behaviour is not None:
                    yield behaviour

    def _email_events_page(self, request: dict[str, Any]) -> Any:
        return self._get("email_events.list", "/email/public/v1/events", request, require="events")

    def _email_event(self, event: Mapping[str, Any]) -> Behaviour | None:
        kind = str(event.get("type") or "").upper()
        if kind == "STATUSCHANGE":
            statuses = [str(s.get("status") or "") for s in event.get("subscriptions") or [] if isinstance(s, Mapping)]
            status = str(event.get("portalSubscriptionStatus") or "")
            kind = "STATUSCHANGE:UNSUBSCRIBED" if "UNSUBSCRIBED" in (status, *statuses) else "STATUSCHANGE"
        source = f"EMAIL_EVENT:{kind}"
        activity_type = canonical_type(source, self.config.activity_type_map)
        recipient = event.get("recipient")
        if activity_type == ActivityType.OTHER.value or not recipient:
            return None  # sends, deliveries, deferrals: not behaviour of the recipient
        attrs: dict[str, FieldValue] = {"subject": str(event.get("subject") or "")}
        if event.get("emailCampaignId") is not None:
            attrs["campaign_id"] = str(event["emailCampaignId"])
        if event.get("url"):
            attrs["url"] = str(event["url"])
        return Behaviour(
            key=email_key(recipient),
            id=str(event.get("id")),
            type=activity_type,
            occurred_at=datetime.fromtimestamp(int(event.get("created") or 0) / 1000, UTC),
            source_type=source,
            attributes=attrs,
        )

    # -- web analytics events (Enterprise) ---------------------------------------------------------------
    def _web_events(self, since: int, until: int) -> Iterator[Behaviour]:
        params = {
            "objectType": "contact",
            "eventType": PAGE_VIEW_EVENT,
            # occurredAfter / occurredBefore are exclusive: widen by a millisecond to include both ends
            "occurredAfter": _iso(since - 1),
            "occurredBefore": _iso(until + 1),
            "sort": ["ASCENDING"],
            "limit": WEB_EVENTS_PAGE,
        }
        for data in pages(self._web_events_page, HubSpotAfter(endpoint="events.list"), params):
            for event in data.results or []:
                source = f"WEB_EVENT:{str(event.event_type or '').upper()}"
                props = event.properties or {}
                yield Behaviour(
                    key=f"id:{event.object_id}",
                    id=str(event.id),
                    type=canonical_type(source, self.config.activity_type_map),
                    occurred_at=parse_time(event.occurred_at) or datetime.fromtimestamp(0, UTC),
                    source_type=source,
                    attributes={"subject": str(props.get("hs_title") or ""), "url": str(props.get("hs_url") or "")},
                )

    def _web_events_page(self, request: dict[str, Any]) -> Any:
        data, _, _ = self.client.call(
            "events.list",
            partial(
                self.client.web_events.get_page_with_http_info, _request_timeout=self.config.timeout, **_snake(request)
            ),
        )
        return data

    # -- the two legacy endpoints the generated client has no API object for -----------------------------
    def _get(self, endpoint: str, path: str, request: dict[str, Any], *, require: str = "results") -> Any:
        query = [(k, v) for k, v in request.items() if v is not None]
        data, _, _ = self.client.call(
            endpoint,
            partial(
                self.client.raw.call_api,
                path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                response_types_map=_JSON,
                auth_settings=["oauth2"],
                _return_http_data_only=False,
                _request_timeout=self.config.timeout,
            ),
            require=require,
        )
        return data


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


_SNAKE = {
    "objectType": "object_type",
    "eventType": "event_type",
    "occurredAfter": "occurred_after",
    "occurredBefore": "occurred_before",
    "objectId": "object_id",
}


def _snake(request: Mapping[str, Any]) -> dict[str, Any]:
    """The generated events client takes snake_case keyword arguments."""
    return {_SNAKE.get(k, k): v for k, v in request.items()}
