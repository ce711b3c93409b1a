"""Mailchimp Marketing API emulation: the audience, member, tag, static-segment and batch endpoints leadsync uses.

Kept in memory (a destination's state is not part of the CRM database file).  Tags are static segments, as
in Mailchimp: a member's tags are the static segments holding it, and ``tag-search`` reads their names.
Batch operations are run when their status is first read (so a client always polls at least once), and their
answers are served as a gzipped tar of JSON files at the batch's ``response_body_url``.  Facts followed, and
what is assumed where the docs are silent: docs/nurture-api.md.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.sandbox.core import BadRequest, CRMApi, Request, Response, Route, route
from connectors.sandbox.samples import Dataset

API_KEY = "0123456789abcdef0123456789abcdef-us1"
LIST_ID = "a1b2c3d4e5"
SANDBOX_CREDENTIALS = {"api_key": API_KEY, "list_id": LIST_ID}
MAX_COUNT = 1000  # members / segments per page
DEFAULT_COUNT = 10
SEGMENT_BATCH_LIMIT = 500
MAX_CONNECTIONS = 10  # simultaneous requests per user
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
ERROR_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
RESULTS_PREFIX = "/mailchimp-batch-results/"


def problem(status: int, title: str, detail: str) -> Response:
    body = {"type": ERROR_DOC, "title": title, "status": status, "detail": detail, "instance": ""}
    return Response(status, body, {"Content-Type": "application/problem+json"})


def member_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


@dataclass
class _Member:
    email: str
    status: str
    list_id: str


@dataclass
class _Segment:
    id: int
    name: str
    type: str  # static (tags too) or saved
    members: set[str] = field(default_factory=set)  # subscriber hashes


@dataclass
class _Batch:
    id: str
    operations: list[dict[str, Any]]
    submitted_at: str
    status: str = "pending"
    results: bytes = b""
    errored: int = 0


class MailchimpApi(CRMApi):
    crm = "mailchimp"
    prefixes = ("/3.0/", RESULTS_PREFIX)

    def __init__(self, sandbox: Any):
        self.sandbox = sandbox
        self.lock = threading.RLock()
        self.lists: dict[str, str] = {LIST_ID: "Sandbox audience"}
        self.members: dict[tuple[str, str], _Member] = {}
        self.segments: dict[str, dict[int, _Segment]] = {LIST_ID: {}}
        self.batches: dict[str, _Batch] = {}
        self.role = "owner"
        self._next_segment = 1000
        self._in_flight = 0

        def wrapped(method: str, pattern: str, handler: Any, endpoint: str) -> Route:
            return route(method, pattern, lambda request: self.call(handler, request), endpoint)

        self._routes = [
            wrapped("GET", r"/3\.0/?", self.root, "mailchimp.root"),
            wrapped("GET", r"/3\.0/lists/(?P<list>[^/]+)", self.get_list, "mailchimp.lists.get"),
            wrapped("GET", r"/3\.0/lists/(?P<list>[^/]+)/members", self.list_members, "mailchimp.members.list"),
            wrapped(
                "GET",
                r"/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})",
                self.get_member,
                "mailchimp.members.get",
            ),
            wrapped(
                "PUT",
                r"/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})",
                self.put_member,
                "mailchimp.members.put",
            ),
            wrapped(
                "GET",
                r"/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})/tags",
                self.member_tags,
                "mailchimp.members.tags.get",
            ),
            wrapped(
                "POST",
                r"/3\.0/lists/(?P<list>[^/]+)/members/(?P<hash>[0-9a-f]{32})/tags",
                self.set_tags,
                "mailchimp.members.tags.update",
            ),
            wrapped("GET", r"/3\.0/lists/(?P<list>[^/]+)/tag-search", self.tag_search, "mailchimp.tags.search"),
            wrapped("GET", r"/3\.0/lists/(?P<list>[^/]+)/segments", self.list_segments, "mailchimp.segments.list"),
            wrapped(
                "GET", r"/3\.0/lists/(?P<list>[^/]+)/segments/(?P<seg>\d+)", self.get_segment, "mailchimp.segments.get"
            ),
            wrapped(
                "POST",
                r"/3\.0/lists/(?P<list>[^/]+)/segments/(?P<seg>\d+)",
                self.batch_segment,
                "mailchimp.segments.members.batch",
            ),
            wrapped(
                "GET",
                r"/3\.0/lists/(?P<list>[^/]+)/segments/(?P<seg>\d+)/members",
                self.segment_members,
                "mailchimp.segments.members.list",
            ),
            wrapped("POST", r"/3\.0/batches", self.start_batch, "mailchimp.batches.start"),
            wrapped("GET", r"/3\.0/batches/(?P<id>[0-9a-f]+)", self.batch_status, "mailchimp.batches.status"),
            wrapped(
                "GET", RESULTS_PREFIX + r"(?P<id>[0-9a-f]+)\.tar\.gz", self.batch_results, "mailchimp.batches.results"
            ),
        ]

    def routes(self) -> Iterable[Route]:
        return self._routes

    # -- auth, connection limit, errors ----------------------------------------------------------------------
    def before(self, request: Request, endpoint: str) -> Response | None:
        if endpoint == "mailchimp.batches.results":
            return None  # a pre-signed storage URL: no API key
        header = request.header("Authorization") or ""
        key = ""
        if header.startswith("Basic "):
            try:
                key = base64.b64decode(header[6:]).decode().partition(":")[2]
            except ValueError:
                key = ""
        if key != API_KEY:
            return problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )
        with self.lock:
            if self.sandbox.config.rate_limits and self._in_flight >= MAX_CONNECTIONS:
                return problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")
            self._in_flight += 1
        request.params["_counted"] = "1"
        return None

    def after(self, request: Request, endpoint: str, response: Response) -> Response:
        if request.params.pop("_counted", None):
            with self.lock:
                self._in_flight -= 1
        if isinstance(response.body, dict) and "type" in response.body and response.status >= 400:
            response.headers.setdefault("Content-Type", "application/problem+json")
        return response

    def error(self, status: int, message: str, request: Request) -> Response:
        titles = {
            400: "Invalid Resource",
            404: "Resource Not Found",
            405: "Method Not Allowed",
            429: "Too Many Requests",
        }
        return problem(status, titles.get(status, "Internal Server Error"), message)

    # -- seeding and helpers for tests -----------------------------------------------------------------------
    def load(self, dataset: Dataset) -> dict[str, str]:
        """Every person with an address is a member: subscribed, or unsubscribed when they opted out."""
        out: dict[str, str] = {}
        for person in dataset.people:
            if person.email:
                status = "unsubscribed" if person.do_not_email else "subscribed"
                out[person.key] = self.add_member(person.email, status)
        return out

    def add_member(self, email: str, status: str = "subscribed", list_id: str = LIST_ID) -> str:
        if status not in STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        with self.lock:
            self.members[(list_id, member_hash(email))] = _Member(email, status, list_id)
        return member_hash(email)

    def remove_member(self, email: str, list_id: str = LIST_ID) -> None:
        with self.lock:
            self.members.pop((list_id, member_hash(email)), None)

    def create_segment(self, name: str, kind: str = "static", list_id: str = LIST_ID) -> int:
        with self.lock:
            self._next_segment += 1
            self.segments.setdefault(list_id, {})[self._next_segment] = _Segment(self._next_segment, name, kind)
            return self._next_segment

    def tagged(self, tag: str, list_id: str = LIST_ID) -> set[str]:
        """Addresses holding ``tag`` (or in the static segment named so)."""
        with self.lock:
            for seg in self.segments.get(list_id, {}).values():
                if seg.name == tag:
                    return {self.members[(list_id, h)].email for h in seg.members if (list_id, h) in self.members}
        return set()

    def status_of(self, email: str, list_id: str = LIST_ID) -> str | None:
        member = self.members.get((list_id, member_hash(email)))
        return member.status if member else None

    # -- handlers --------------------------------------------------------------------------------------------
    def _list(self, request: Request) -> str:
        list_id = request.params["list"]
        if list_id not in self.lists:
            raise _NotFound("The requested resource could not be found.")
        return list_id

    def _member(self, request: Request) -> _Member:
        member = self.members.get((self._list(request), request.params["hash"]))
        if member is None:
            raise _NotFound("The requested resource could not be found.")
        return member

    def _segment(self, request: Request) -> _Segment:
        seg = self.segments.get(self._list(request), {}).get(int(request.params["seg"]))
        if seg is None:
            raise _NotFound("The requested resource could not be found.")
        return seg

    def _member_json(self, member: _Member) -> dict[str, Any]:
        h = member_hash(member.email)
        tags = [
            {"id": s.id, "name": s.name}
            for s in self.segments.get(member.list_id, {}).values()
            if s.type == "static" and h in s.members
        ]
        return {
            "id": h,
            "email_address": member.email,
            "status": member.status,
            "list_id": member.list_id,
            "tags": tags,
        }

    def root(self, request: Request) -> Response:
        return Response(200, {"account_id": "sandbox", "account_name": "leadsync sandbox", "role": self.role})

    def get_list(self, request: Request) -> Response:
        list_id = self._list(request)
        count = sum(1 for key in self.members if key[0] == list_id)
        return Response(200, {"id": list_id, "name": self.lists[list_id], "stats": {"member_count": count}})

    def list_members(self, request: Request) -> Response:
        list_id = self._list(request)
        count, offset = _paging(request)
        status = request.arg("status")
        rows = [
            m for key, m in sorted(self.members.items()) if key[0] == list_id and (not status or m.status == status)
        ]
        return Response(
            200,
            {
                "members": [self._member_json(m) for m in rows[offset : offset + count]],
                "list_id": list_id,
                "total_items": len(rows),
            },
        )

    def get_member(self, request: Request) -> Response:
        return Response(200, self._member_json(self._member(request)))

    def put_member(self, request: Request) -> Response:
        list_id = self._list(request)
        body = request.json() or {}
        email = str(body.get("email_address") or "")
        if member_hash(email) != request.params["hash"]:
            raise BadRequest("The subscriber hash does not match the email_address.")
        key = (list_id, request.params["hash"])
        with self.lock:
            member = self.members.get(key)
            status = body.get("status")
            if member is None:
                status = status or body.get("status_if_new")
                if status not in STATUSES[:5]:
                    raise BadRequest("status_if_new: a status is required when the address is not on the list.")
                member = self.members[key] = _Member(email, str(status), list_id)
            elif status:
                if status not in STATUSES[:5]:
                    raise BadRequest(f"status: {status!r} is not a valid status.")
                member.status = str(status)
        return Response(200, self._member_json(member))

    def member_tags(self, request: Request) -> Response:
        tags = self._member_json(self._member(request))["tags"]
        return Response(200, {"tags": tags, "total_items": len(tags)})

    def set_tags(self, request: Request) -> Response:
        member = self._member(request)
        h = member_hash(member.email)
        body = request.json() or {}
        tags = body.get("tags")
        if not isinstance(tags, list):
            raise BadRequest("tags: an array of {name, status} is required.")
        with self.lock:
            segments = self.segments.setdefault(member.list_id, {})
            for tag in tags:
                name, status = tag.get("name"), tag.get("status")
                if not name or status not in ("active", "inactive"):
                    raise BadRequest("each tag needs a name and a status of active or inactive.")
                seg = next((s for s in segments.values() if s.name == name and s.type == "static"), None)
                if seg is None and status == "active":
                    seg = segments[self.create_segment(name, list_id=member.list_id)]
                if seg is not None:
                    (seg.members.add if status == "active" else seg.members.discard)(h)
        return Response(204)

    def tag_search(self, request: Request) -> Response:
        list_id = self._list(request)
        name = (request.arg("name") or "").lower()
        tags = [
            {"id": s.id, "name": s.name}
            for s in self.segments.get(list_id, {}).values()
            if s.type == "static" and name in s.name.lower()
        ]
        return Response(200, {"tags": tags, "total_items": len(tags)})

    def list_segments(self, request: Request) -> Response:
        list_id = self._list(request)
        count, offset = _paging(request)
        kind = request.arg("type")
        rows = [s for s in self.segments.get(list_id, {}).values() if not kind or s.type == kind]
        out = [{"id": s.id, "name": s.name, "type": s.type, "member_count": len(s.members)} for s in rows]
        return Response(200, {"segments": out[offset : offset + count], "list_id": list_id, "total_items": len(out)})

    def get_segment(self, request: Request) -> Response:
        s = self._segment(request)
        return Response(
            200,
            {
                "id": s.id,
                "name": s.name,
                "type": s.type,
                "member_count": len(s.members),
                "list_id": request.params["list"],
            },
        )

    def segment_members(self, request: Request) -> Response:
        seg = self._segment(request)
        list_id = request.params["list"]
        count, offset = _paging(request)
        rows = [
            self._member_json(self.members[(list_id, h)]) for h in sorted(seg.members) if (list_id, h) in self.members
        ]
        return Response(200, {"members": rows[offset : offset + count], "total_items": len(rows)})

    def batch_segment(self, request: Request) -> Response:
        seg = self._segment(request)
        list_id = request.params["list"]
        if seg.type != "static":
            raise BadRequest("Only static segments take members.")
        body = request.json() or {}
        to_add = [str(e) for e in body.get("members_to_add") or []]
        to_remove = [str(e) for e in body.get("members_to_remove") or []]
        if len(to_add) > SEGMENT_BATCH_LIMIT or len(to_remove) > SEGMENT_BATCH_LIMIT:
            raise BadRequest(
                "Maximum allowed member items exceeded, please provide at most 500 items in members_to_add field or "
                "members_to_remove field"
            )
        added: list[dict[str, Any]] = []
        removed: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.lock:
            for action, emails, out in (("add", to_add, added), ("remove", to_remove, removed)):
                missing = []
                for email in emails:
                    member = self.members.get((list_id, member_hash(email)))
                    if member is None:
                        missing.append(email)
                        continue
                    (seg.members.add if action == "add" else seg.members.discard)(member_hash(email))
                    out.append(self._member_json(member))
                if missing:
                    errors.append({"email_addresses": missing, "error": "Email addresses are not list members."})
        return Response(
            200,
            {
                "members_added": added,
                "members_removed": removed,
                "errors": errors,
                "total_added": len(added),
                "total_removed": len(removed),
                "error_count": sum(len(e["email_addresses"]) for e in errors),
            },
        )

    # -- batches ---------------------------------------------------------------------------------------------
    def start_batch(self, request: Request) -> Response:
        body = request.json() or {}
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            raise BadRequest("operations: a non-empty array is required.")
        for op in operations:
            if (
                not isinstance(op, dict)
                or op.get("method") not in ("GET", "POST", "PUT", "PATCH", "DELETE")
                or not op.get("path")
            ):
                raise BadRequest("each operation needs a method and a path.")
        with self.lock:
            batch_id = hashlib.md5(f"batch{len(self.batches)}".encode(), usedforsecurity=False).hexdigest()[:10]
            batch = self.batches[batch_id] = _Batch(batch_id, operations, self.sandbox.clock.now().isoformat())
        return Response(200, self._batch_json(batch, request))

    def batch_status(self, request: Request) -> Response:
        batch = self.batches.get(request.params["id"])
        if batch is None:
            raise _NotFound("The requested resource could not be found.")
        if batch.status != "finished":
            self._run(batch, request)
        return Response(200, self._batch_json(batch, request))

    def batch_results(self, request: Request) -> Response:
        batch = self.batches.get(request.params["id"])
        if batch is None or batch.status != "finished":
            return Response(404, b"", {"Content-Type": "application/xml"})
        return Response(200, batch.results, {"Content-Type": "application/x-gzip"})

    def _batch_json(self, batch: _Batch, request: Request) -> dict[str, Any]:
        done = batch.status == "finished"
        host = request.header("Host") or "127.0.0.1"
        return {
            "id": batch.id,
            "status": batch.status,
            "total_operations": len(batch.operations),
            "finished_operations": len(batch.operations) if done else 0,
            "errored_operations": batch.errored,
            "submitted_at": batch.submitted_at,
            "response_body_url": f"http://{host}{RESULTS_PREFIX}{batch.id}.tar.gz" if done else "",
        }

    def _run(self, batch: _Batch, request: Request) -> None:
        answers: list[dict[str, Any]] = []
        for op in batch.operations:
            path = "/3.0" + str(op["path"])
            query = {k: [str(v)] for k, v in (op.get("params") or {}).items()}
            body = str(op.get("body") or "").encode()
            sub = Request(str(op["method"]), path, query, request.headers, body)
            response = self._dispatch(sub)
            text = "" if response.body is None else response.encoded().decode()
            answers.append({"status_code": response.status, "operation_id": op.get("operation_id"), "response": text})
            self.sandbox.counters.add("mailchimp.batches.operation", response.status)
        batch.errored = sum(1 for a in answers if int(a["status_code"]) >= 400)
        data = json.dumps(answers).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            info = tarfile.TarInfo(f"{batch.id}/0.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        batch.results = buffer.getvalue()
        batch.status = "finished"

    def _dispatch(self, request: Request) -> Response:
        for r in self._routes:
            match = r.pattern.match(request.path)
            if r.method == request.method and match and not r.endpoint.startswith("mailchimp.batches"):
                request.params = {k: v for k, v in match.groupdict().items() if v is not None}
                return r.handler(request)
        return self.error(404, f"Unknown path {request.method} {request.path}", request)

    def call(self, handler: Any, request: Request) -> Response:
        try:
            response: Response = handler(request)
        except _NotFound as exc:
            return problem(404, "Resource Not Found", str(exc))
        except BadRequest as exc:
            return problem(400, "Invalid Resource", str(exc))
        return response


class _NotFound(BadRequest):
    pass


def _paging(request: Request) -> tuple[int, int]:
    try:
        count = int(request.arg("count") or DEFAULT_COUNT)
        offset = int(request.arg("offset") or 0)
    except ValueError as exc:
        raise BadRequest("count and offset must be whole numbers.") from exc
    if count > MAX_COUNT:
        raise BadRequest(f"count: the most a page may hold is {MAX_COUNT}.")
    return max(count, 0), max(offset, 0)


def create_api(sandbox: Any) -> MailchimpApi:
    return MailchimpApi(sandbox)


__all__ = ["API_KEY", "LIST_ID", "SANDBOX_CREDENTIALS", "MailchimpApi", "create_api", "member_hash"]
