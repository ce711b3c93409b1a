"""ActiveCampaign as a nurture destination: its v3 API over ``requests``.

Target ``tag:<name>`` (the tag must exist; ``GET /api/3/tags?search=``, paged with ``limit`` <= 100 and
``offset``).  Adding: find the contact (``GET /api/3/contacts?email=``) or, when the settings allow creating
contacts, ``POST /api/3/contact/sync`` with the address only; then ``POST /api/3/contactTags``; optionally
``POST /api/3/contactAutomations``.  Removing: ``DELETE /api/3/contactTags/{id}`` with the id kept from the
add.  Header ``Api-Token``; 5 requests per second per account, paced here, a 429's ``Retry-After`` honoured.

Consent: a contact is never put on a list (list status 1 is a subscription) and never given a status; a
contact created by ``contact/sync`` has no list membership, so it receives no campaign.  ActiveCampaign's
list membership is not offered as a target on purpose: adding is subscribing, and taking someone off a list
(status 2) marks them unsubscribed, which leaving a segment must not do.  Facts: docs/nurture-api.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from connectors.errors import FatalApiError, RecordError
from connectors.http import Action, ApiClient, Exchange, Pacer, Verdict, parse_float, redact
from connectors.nurture.base import NOT_A_MEMBER, Member, MoveResult, Target
from connectors.paging import ActiveCampaignOffset, pages

NAME = "activecampaign"
PAGE_LIMIT = 100  # the most a v3 list answers per request
REQUESTS_PER_SECOND = 5.0  # per account, every key shares it


def _message(exchange: Exchange) -> str:
    body = exchange.json_object()
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return "; ".join(str(e.get("title") or e.get("detail") or e) for e in errors)
    if body.get("message"):
        return str(body["message"])
    return exchange.gist()


def classify(exchange: Exchange) -> Verdict:
    status = exchange.status
    if 200 <= status < 300:
        return Verdict(Action.OK)
    message = _message(exchange)
    if status == 0 or status >= 500:
        return Verdict(Action.RETRY, f"ActiveCampaign did not answer properly ({status or 'no response'}): {message}")
    if status == 429:
        wait = parse_float(exchange.header("retry-after")) or 1.0
        return Verdict(Action.RATE_LIMITED, f"ActiveCampaign rate limit (5 requests/s per account): {message}", wait)
    if status in (401, 403):
        return Verdict(
            Action.AUTH_FAILED,
            f"ActiveCampaign refused the API token ({status} {message}): check LEADSYNC_ACTIVECAMPAIGN__API_TOKEN "
            "(Settings > Developer) and that its user may edit contacts",
        )
    if status in (404, 422):
        return Verdict(Action.BAD_RECORD, message, code=str(status))
    return Verdict(Action.FATAL, f"ActiveCampaign rejected the request ({status}): {message}", code=str(status))


def _exchange(result: object) -> Exchange:
    if isinstance(result, requests.Response):
        return Exchange(result.status_code, dict(result.headers), result.text)
    if isinstance(result, BaseException):
        return Exchange(0, error=redact(str(result)))
    return Exchange(200)


class ActiveCampaignDestination:
    name = NAME

    def __init__(
        self,
        *,
        api_token: str,
        base_url: str,
        create_contacts: bool = False,
        automations: dict[str, str] | None = None,
        requests_per_second: float = REQUESTS_PER_SECOND,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: float = 60.0,
        session: requests.Session | None = None,
    ):
        redact.add(api_token)
        self.base = base_url.rstrip("/") + "/api/3"
        self.create_contacts = create_contacts
        self.automations = dict(automations or {})
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Api-Token": api_token, "Accept": "application/json"})
        # 10% under the limit: the account's one-second window is counted where requests arrive, not sent
        interval = 1.1 / requests_per_second if requests_per_second > 0 else 0.0
        self.api = ApiClient(
            NAME, classify, pacer=Pacer(sleep=sleep, monotonic=monotonic, min_interval=interval), sleep=sleep
        )
        self._tag_ids: dict[str, str] = {}

    def _request(self, endpoint: str, method: str, path: str, **kwargs: Any) -> Any:
        def send() -> requests.Response:
            return self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)

        response: requests.Response = self.api.call(endpoint, send, _exchange)
        return response.json() if response.content else {}

    # -- look-ups --------------------------------------------------------------------------------------------
    def tag_id(self, name: str) -> str | None:
        if name in self._tag_ids:
            return self._tag_ids[name]

        def listing(params: dict[str, Any]) -> Any:
            return self._request("tags.list", "GET", "/tags", params=params)

        paginator = ActiveCampaignOffset(PAGE_LIMIT, "tags", endpoint="tags.list")
        for page in pages(listing, paginator, {"search": name}):
            for tag in page.get("tags", []):
                if tag.get("tag") == name and tag.get("tagType", "contact") == "contact":
                    self._tag_ids[name] = str(tag["id"])
                    return self._tag_ids[name]
        return None

    def check(self, target: Target) -> list[str]:
        if target.kind != "tag":
            return [f"ActiveCampaign targets are tags ('tag:<name>'), not {target}."]
        problems: list[str] = []
        if self.tag_id(target.name) is None:
            problems.append(
                f"ActiveCampaign has no contact tag {target.name!r}: create it (Contacts > Tags) or fix the name "
                "in LEADSYNC_NURTURE__SEGMENTS."
            )
        automation = self.automations.get(target.name)
        if automation:
            try:
                self._request("automations.get", "GET", f"/automations/{automation}")
            except RecordError:
                problems.append(f"ActiveCampaign has no automation with id {automation!r} (for tag {target.name}).")
        return problems

    # -- moves -----------------------------------------------------------------------------------------------
    def apply(
        self, target: Target, adds: Sequence[Member], removes: Sequence[Member]
    ) -> tuple[list[MoveResult], list[MoveResult]]:
        tag = self.tag_id(target.name)
        if tag is None:
            raise FatalApiError(f"ActiveCampaign has no contact tag {target.name!r}", crm=NAME, status=404)
        automation = self.automations.get(target.name)
        return [self._add(tag, automation, m) for m in adds], [self._remove(tag, m) for m in removes]

    def _contact_id(self, member: Member) -> str | None:
        known = member.remote_ref.partition(":")[0]
        if known:
            return known
        if self.create_contacts:
            body = {"contact": {"email": member.email}}  # the address only: nothing else leaves leadsync
            answer = self._request("contact.sync", "POST", "/contact/sync", json=body)
            return str(answer["contact"]["id"])
        found = self._request("contacts.list", "GET", "/contacts", params={"email": member.email})
        contacts = found.get("contacts", [])
        return str(contacts[0]["id"]) if contacts else None

    def _add(self, tag: str, automation: str | None, member: Member) -> MoveResult:
        try:
            contact = self._contact_id(member)
            if contact is None:
                return MoveResult(member.contact_id, False, error=NOT_A_MEMBER)
            body = {"contactTag": {"contact": contact, "tag": tag}}
            answer = self._request("contactTags.create", "POST", "/contactTags", json=body)
            if automation:
                body = {"contactAutomation": {"contact": contact, "automation": automation}}
                self._request("contactAutomations.create", "POST", "/contactAutomations", json=body)
        except RecordError as exc:
            return MoveResult(member.contact_id, False, error=redact(exc.message))
        return MoveResult(member.contact_id, True, remote_ref=f"{contact}:{answer['contactTag']['id']}")

    def _remove(self, tag: str, member: Member) -> MoveResult:
        contact, _, contact_tag = member.remote_ref.partition(":")
        try:
            if not contact_tag and contact:
                listed = self._request("contact.contactTags", "GET", f"/contacts/{contact}/contactTags")
                ids = [str(ct["id"]) for ct in listed.get("contactTags", []) if str(ct.get("tag")) == tag]
                contact_tag = ids[0] if ids else ""
            if contact_tag:
                self._request("contactTags.delete", "DELETE", f"/contactTags/{contact_tag}")
        except RecordError as exc:
            if exc.code != "404":  # already gone: the contact is out of the tag, which is what was asked
                return MoveResult(member.contact_id, False, error=redact(exc.message))
        return MoveResult(member.contact_id, True)

    def calls(self) -> dict[str, int]:
        return dict(self.api.calls)

    def close(self) -> None:
        self.session.close()
