"""ActiveCampaign v3 API emulation: contacts, contact sync, tags, contact tags and contact automations.

Kept in memory.  ``Api-Token`` header; 5 requests per second per account over a one-second window of the
sandbox clock, refused with 429, ``Retry-After`` and ``RateLimit-Limit`` / ``RateLimit-Remaining`` headers;
lists page with ``limit`` (at most 100) and ``offset`` and carry ``meta.total``.  Facts followed, and what
is assumed where the docs are silent: docs/nurture-api.md.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connectors.sandbox.core import BadRequest, CRMApi, Request, Response, Route, route
from connectors.sandbox.samples import Dataset

API_TOKEN = "sandbox-activecampaign-token-0123456789abcdef"
SANDBOX_CREDENTIALS = {"api_token": API_TOKEN}
PAGE_MAX = 100
DEFAULT_LIMIT = 20
REQUESTS_PER_SECOND = 5


@dataclass
class _Contact:
    id: int
    email: str


class _NotFound(Exception):
    pass


class _Unprocessable(Exception):
    def __init__(self, title: str, code: str = "invalid", pointer: str = ""):
        super().__init__(title)
        self.title, self.code, self.pointer = title, code, pointer


class ActiveCampaignApi(CRMApi):
    crm = "activecampaign"
    prefixes = ("/api/3/",)

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.lock = threading.RLock()
        self.contacts: dict[int, _Contact] = {}
        self.tags: dict[int, tuple[str, str]] = {}  # id -> (name, tagType)
        self.contact_tags: dict[int, tuple[int, int]] = {}  # id -> (contact, tag)
        self.automations: dict[int, str] = {}
        self.contact_automations: list[tuple[int, int]] = []
        self._ids = 0
        self._window: deque[float] = deque()

        def wrapped(method: str, pattern: str, handler: Any, endpoint: str) -> Route:
            return route(method, pattern, lambda request: self._call(handler, request), endpoint)

        self._routes = [
            wrapped("GET", r"/api/3/contacts", self.list_contacts, "activecampaign.contacts.list"),
            wrapped("POST", r"/api/3/contact/sync", self.sync_contact, "activecampaign.contact.sync"),
            wrapped(
                "GET", r"/api/3/contacts/(?P<id>\d+)/contactTags", self.tags_of, "activecampaign.contact.contactTags"
            ),
            wrapped("GET", r"/api/3/tags", self.list_tags, "activecampaign.tags.list"),
            wrapped("POST", r"/api/3/contactTags", self.add_tag, "activecampaign.contactTags.create"),
            wrapped("DELETE", r"/api/3/contactTags/(?P<id>\d+)", self.remove_tag, "activecampaign.contactTags.delete"),
            wrapped("GET", r"/api/3/automations/(?P<id>\d+)", self.get_automation, "activecampaign.automations.get"),
            wrapped(
                "POST", r"/api/3/contactAutomations", self.add_automation, "activecampaign.contactAutomations.create"
            ),
        ]

    def routes(self) -> Iterable[Route]:
        return self._routes

    def before(self, request: Request, endpoint: str) -> Response | None:
        if request.header("Api-Token") != API_TOKEN:
            return Response(403, {"message": "You are not authorized to access this resource"})
        if not self.sandbox.config.rate_limits:
            return None
        now = self.sandbox.clock.seconds()
        with self.lock:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= REQUESTS_PER_SECOND:
                wait = max(1, math.ceil(self._window[0] + 1.0 - now))
                return self.rate_limited(request, endpoint, retry_after=wait)
            self._window.append(now)
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        with self.lock:
            left = max(REQUESTS_PER_SECOND - len(self._window), 0)
        response.headers.setdefault("RateLimit-Limit", str(REQUESTS_PER_SECOND))
        response.headers.setdefault("RateLimit-Remaining", str(left))
        return response

    def error(self, status: int, message: str, request: Request) -> Response:
        if status == 422:
            return Response(422, {"errors": [{"title": message, "detail": "", "code": "invalid"}]})
        return Response(status, {"message": message})

    def rate_limited(self, request: Request, endpoint: str, retry_after: int = 1) -> Response:
        body = {"message": "Too Many Requests"}
        return Response(429, body, {"Retry-After": str(retry_after)})

    # -- seeding and helpers for tests -----------------------------------------------------------------------
    def load(self, dataset: Dataset) -> dict[str, str]:
        """Every person with an address is a contact (no list membership: that is the account's business)."""
        return {p.key: str(self.add_contact(p.email)) for p in dataset.people if p.email}

    def add_contact(self, email: str) -> int:
        with self.lock:
            found = self._by_email(email)
            if found:
                return found.id
            self._ids += 1
            self.contacts[self._ids] = _Contact(self._ids, email)
            return self._ids

    def create_tag(self, name: str, tag_type: str = "contact") -> int:
        with self.lock:
            self._ids += 1
            self.tags[self._ids] = (name, tag_type)
            return self._ids

    def create_automation(self, name: str) -> int:
        with self.lock:
            self._ids += 1
            self.automations[self._ids] = name
            return self._ids

    def tagged(self, name: str) -> set[str]:
        with self.lock:
            ids = {tid for tid, (tag, _) in self.tags.items() if tag == name}
            return {self.contacts[c].email for c, t in self.contact_tags.values() if t in ids and c in self.contacts}

    def _by_email(self, email: str) -> _Contact | None:
        return next((c for c in self.contacts.values() if c.email.lower() == email.strip().lower()), None)

    # -- handlers --------------------------------------------------------------------------------------------
    def _call(self, handler: Any, request: Request) -> Response:
        try:
            response: Response = handler(request)
        except _NotFound as exc:
            return Response(404, {"message": str(exc)})
        except _Unprocessable as exc:
            error = {"title": exc.title, "detail": "", "code": exc.code, "source": {"pointer": exc.pointer}}
            return Response(422, {"errors": [error]})
        return response

    def _page(self, request: Request, rows: list[dict[str, Any]], key: str) -> Response:
        try:
            limit = min(int(request.arg("limit") or DEFAULT_LIMIT), PAGE_MAX)
            offset = int(request.arg("offset") or 0)
        except ValueError as exc:
            raise BadRequest("limit and offset must be whole numbers") from exc
        return Response(200, {key: rows[offset : offset + max(limit, 0)], "meta": {"total": str(len(rows))}})

    def list_contacts(self, request: Request) -> Response:
        email = (request.arg("email") or "").strip().lower()
        rows = [
            {"id": str(c.id), "email": c.email} for c in self.contacts.values() if not email or c.email.lower() == email
        ]
        return self._page(request, rows, "contacts")

    def sync_contact(self, request: Request) -> Response:
        body = request.json() or {}
        contact = body.get("contact") if isinstance(body, dict) else None
        email = str((contact or {}).get("email") or "").strip()
        if "@" not in email:
            raise _Unprocessable("Email address is required", "field_missing", "/data/attributes/email")
        with self.lock:
            existed = self._by_email(email) is not None
            cid = self.add_contact(email)
        return Response(200 if existed else 201, {"contact": {"id": str(cid), "email": email}})

    def tags_of(self, request: Request) -> Response:
        cid = int(request.params["id"])
        if cid not in self.contacts:
            raise _NotFound(f"No Result found for Subscriber with id {cid}")
        rows = [{"id": str(i), "contact": str(c), "tag": str(t)} for i, (c, t) in self.contact_tags.items() if c == cid]
        return Response(200, {"contactTags": rows})

    def list_tags(self, request: Request) -> Response:
        search = (request.arg("search") or "").lower()
        rows = [
            {"id": str(i), "tag": name, "tagType": kind, "description": ""}
            for i, (name, kind) in sorted(self.tags.items())
            if search in name.lower()
        ]
        return self._page(request, rows, "tags")

    def add_tag(self, request: Request) -> Response:
        body = (request.json() or {}).get("contactTag") or {}
        try:
            cid, tid = int(str(body.get("contact"))), int(str(body.get("tag")))
        except (TypeError, ValueError) as exc:
            raise _Unprocessable("contact and tag are required", "field_missing") from exc
        if cid not in self.contacts:
            raise _Unprocessable("The related contact does not exist.", "related_missing", "/data/attributes/contact")
        if tid not in self.tags:
            raise _Unprocessable("The related tag does not exist.", "related_missing", "/data/attributes/tag")
        with self.lock:
            existing = next((i for i, pair in self.contact_tags.items() if pair == (cid, tid)), None)
            if existing is None:
                self._ids += 1
                existing = self._ids
                self.contact_tags[existing] = (cid, tid)
        return Response(201, {"contactTag": {"id": str(existing), "contact": str(cid), "tag": str(tid)}})

    def remove_tag(self, request: Request) -> Response:
        ctid = int(request.params["id"])
        with self.lock:
            if self.contact_tags.pop(ctid, None) is None:
                raise _NotFound(f"No Result found for ContactTag with id {ctid}")
        return Response(200, {})

    def get_automation(self, request: Request) -> Response:
        aid = int(request.params["id"])
        if aid not in self.automations:
            raise _NotFound(f"No Result found for Automation with id {aid}")
        return Response(200, {"automation": {"id": str(aid), "name": self.automations[aid]}})

    def add_automation(self, request: Request) -> Response:
        body = (request.json() or {}).get("contactAutomation") or {}
        try:
            cid, aid = int(str(body.get("contact"))), int(str(body.get("automation")))
        except (TypeError, ValueError) as exc:
            raise _Unprocessable("contact and automation are required", "field_missing") from exc
        if cid not in self.contacts or aid not in self.automations:
            raise _Unprocessable("The related contact or automation does not exist.", "related_missing")
        with self.lock:
            self.contact_automations.append((cid, aid))
        return Response(201, {"contactAutomation": {"contact": str(cid), "automation": str(aid)}})


def create_api(sandbox: Any) -> ActiveCampaignApi:
    return ActiveCampaignApi(sandbox)
