"""Mailchimp as a nurture destination, through the official ``mailchimp-marketing`` client.

Two kinds of target in one audience (list):

- ``tag:<name>``: members' tags, set per member with ``POST /lists/{list_id}/members/{hash}/tags``
  (``status`` active / inactive), sent in bulk as operations of one batch (``POST /batches``, polled with
  ``GET /batches/{id}`` until ``finished``, per-operation answers read from its ``response_body_url``).
- ``segment:<id>``: a static segment, ``POST /lists/{list_id}/segments/{id}`` with ``members_to_add`` and
  ``members_to_remove`` (each at most ``SEGMENT_BATCH_LIMIT`` addresses per call).

Consent: nobody is subscribed.  A tag or segment only reaches existing members; an address the audience
does not hold is reported ``not_a_member`` unless the settings allow a status for new members
(``pending``: Mailchimp asks the person to confirm; ``transactional``: never sent marketing mail), which is
then sent as ``status_if_new`` on ``PUT /lists/{list_id}/members/{hash}``: a member that exists keeps its
status (unsubscribed and cleaned members stay so), because ``status`` itself is never sent.  Only the
address and the tag leave leadsync.  Facts and sources: docs/nurture-api.md.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

import mailchimp_marketing
import requests
from mailchimp_marketing.api_client import ApiClientError

from connectors.errors import ConnectorError, FatalApiError
from connectors.http import Action, ApiClient, Exchange, Verdict, redact
from connectors.nurture.base import NOT_A_MEMBER, Member, MoveResult, Target, subscriber_hash
from connectors.paging import chunks

NAME = "mailchimp"
SEGMENT_BATCH_LIMIT = 500  # addresses per members_to_add / members_to_remove
NEW_MEMBER_STATUSES = ("pending", "transactional")  # the only statuses leadsync may give a new member
FINISHED = "finished"


def _detail(exchange: Exchange) -> str:
    body = exchange.json_object()
    parts = [str(body.get(key)) for key in ("title", "detail") if body.get(key)]
    if parts:
        return ": ".join(parts)
    return exchange.gist()


def classify(exchange: Exchange) -> Verdict:
    status = exchange.status
    if 200 <= status < 300:
        return Verdict(Action.OK)
    detail = _detail(exchange)
    if status == 0 or status >= 500:
        return Verdict(Action.RETRY, f"Mailchimp did not answer properly ({status or 'no response'}): {detail}")
    if status == 429:
        # Mailchimp's limit is simultaneous connections, not a window: a short pause frees one
        return Verdict(Action.RATE_LIMITED, f"Mailchimp: too many simultaneous requests: {detail}", retry_after=1.0)
    if status == 401:
        return Verdict(
            Action.AUTH_FAILED, f"Mailchimp refused the API key (401 {detail}): check LEADSYNC_MAILCHIMP__API_KEY"
        )
    if status == 403:
        return Verdict(Action.AUTH_FAILED, f"Mailchimp: this API key may not do that (403 {detail})")
    return Verdict(Action.FATAL, f"Mailchimp rejected the request ({status}): {detail}", code=str(status))


def _exchange(result: object) -> Exchange:
    if isinstance(result, ApiClientError):
        text = result.text
        body = text if isinstance(text, str) else json.dumps(text) if isinstance(text, dict | list) else ""
        if result.status_code is None:
            return Exchange(0, error=redact(str(text)))
        return Exchange(int(result.status_code), {}, body)
    if isinstance(result, BaseException):
        return Exchange(0, error=redact(str(result)))
    if isinstance(result, requests.Response):
        return Exchange(result.status_code, dict(result.headers), result.text)
    return Exchange(200)


class MailchimpDestination:
    name = NAME

    def __init__(
        self,
        *,
        api_key: str,
        list_id: str,
        server: str | None = None,
        base_url: str | None = None,
        new_member_status: str | None = None,
        batch_max_operations: int | None = None,
        poll_interval: float = 5.0,
        poll_timeout: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 60.0,
    ):
        if new_member_status and new_member_status not in NEW_MEMBER_STATUSES:
            raise ValueError(
                f"leadsync gives a new Mailchimp member status {' or '.join(NEW_MEMBER_STATUSES)} only, "
                f"never {new_member_status!r}"
            )
        redact.add(api_key)
        self.list_id = list_id
        self.new_member_status = new_member_status or None
        self.batch_max_operations = batch_max_operations
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.sleep = sleep
        self.timeout = timeout
        config: dict[str, Any] = {"api_key": api_key, "timeout": timeout}
        if server:
            config["server"] = server
        self.client = mailchimp_marketing.Client(config)
        if base_url:
            # the client builds https://<server>.api.mailchimp.com/3.0 from ``host``; a local sandbox replaces it
            self.client.api_client.host = base_url.rstrip("/")
        self.api = ApiClient(NAME, classify, sleep=sleep)
        self.result_downloads = 0

    def _call(self, endpoint: str, send: Callable[[], Any]) -> Any:
        return self.api.call(endpoint, send, _exchange)

    # -- check -----------------------------------------------------------------------------------------------
    def check(self, target: Target) -> list[str]:
        problems: list[str] = []
        try:
            self._call("lists.get", lambda: self.client.lists.get_list(self.list_id, fields=["id", "name"]))
        except FatalApiError as exc:
            if exc.status == 404:
                return [
                    f"Mailchimp has no audience with id {self.list_id!r}: set LEADSYNC_MAILCHIMP__LIST_ID to the "
                    "audience id (Audience > Settings > Audience name and defaults)."
                ]
            raise
        root = self._call("root.get", lambda: self.client.root.get_root(fields=["account_name", "role"]))
        role = root.get("role") if isinstance(root, dict) else None
        if role == "viewer":
            problems.append("The Mailchimp API key belongs to a user with the viewer role, who cannot tag members.")
        if target.kind == "tag":
            found = self._call("lists.tag_search", lambda: self.client.lists.tag_search(self.list_id, name=target.name))
            names = [t.get("name") for t in (found or {}).get("tags", [])]
            if target.name not in names:
                problems.append(
                    f"The Mailchimp audience {self.list_id} has no tag {target.name!r}: create it (Audience > "
                    "Tags) or fix the name in LEADSYNC_NURTURE__SEGMENTS."
                )
        else:
            try:
                segment = self._call(
                    "lists.segments.get", lambda: self.client.lists.get_segment(self.list_id, target.name)
                )
            except FatalApiError as exc:
                if exc.status != 404:
                    raise
                segment = None
            if segment is None:
                problems.append(f"The Mailchimp audience {self.list_id} has no segment with id {target.name!r}.")
            elif segment.get("type") != "static":
                problems.append(
                    f"Mailchimp segment {target.name} is a {segment.get('type')} segment: only a static segment "
                    "(or a tag) takes members from leadsync."
                )
        return problems

    # -- moves -----------------------------------------------------------------------------------------------
    def apply(
        self, target: Target, adds: Sequence[Member], removes: Sequence[Member]
    ) -> tuple[list[MoveResult], list[MoveResult]]:
        if target.kind == "segment":
            added, removed = self._segment(target.name, adds, removes)
        else:
            added, removed = self._tags(target.name, adds, removes)
        missing = [m for m in adds if added[m.contact_id].error == NOT_A_MEMBER]
        if missing and self.new_member_status:
            created = {r.contact_id for r in self._create(missing) if r.ok}
            retry = [m for m in missing if m.contact_id in created]
            if retry:
                moves = self._segment if target.kind == "segment" else self._tags
                added.update(moves(target.name, retry, [])[0])
        return [added[m.contact_id] for m in adds], [removed[m.contact_id] for m in removes]

    def _tags(
        self, tag: str, adds: Sequence[Member], removes: Sequence[Member]
    ) -> tuple[dict[str, MoveResult], dict[str, MoveResult]]:
        def op(member: Member, action: str) -> dict[str, Any]:
            status = "active" if action == "add" else "inactive"
            return {
                "method": "POST",
                "path": f"/lists/{self.list_id}/members/{subscriber_hash(member.email)}/tags",
                "operation_id": f"{action}:{member.contact_id}",
                "body": json.dumps({"tags": [{"name": tag, "status": status}]}),
            }

        answers = self._run_batch([op(m, "add") for m in adds] + [op(m, "remove") for m in removes])
        added = {m.contact_id: _op_result(m, answers.get(f"add:{m.contact_id}"), absent_ok=False) for m in adds}
        removed = {m.contact_id: _op_result(m, answers.get(f"remove:{m.contact_id}"), absent_ok=True) for m in removes}
        return added, removed

    def _create(self, members: Sequence[Member]) -> list[MoveResult]:
        """Create absent members with the allowed status; ``status_if_new`` leaves an existing member as it is."""
        ops = [
            {
                "method": "PUT",
                "path": f"/lists/{self.list_id}/members/{subscriber_hash(m.email)}",
                "operation_id": f"create:{m.contact_id}",
                "body": json.dumps({"email_address": m.email, "status_if_new": self.new_member_status}),
            }
            for m in members
        ]
        answers = self._run_batch(ops)
        return [_op_result(m, answers.get(f"create:{m.contact_id}"), absent_ok=False) for m in members]

    def _segment(
        self, segment_id: str, adds: Sequence[Member], removes: Sequence[Member]
    ) -> tuple[dict[str, MoveResult], dict[str, MoveResult]]:
        added: dict[str, MoveResult] = {}
        removed: dict[str, MoveResult] = {}
        add_chunks = list(chunks(adds, SEGMENT_BATCH_LIMIT))
        remove_chunks = list(chunks(removes, SEGMENT_BATCH_LIMIT))
        for i in range(max(len(add_chunks), len(remove_chunks))):
            to_add = add_chunks[i] if i < len(add_chunks) else []
            to_remove = remove_chunks[i] if i < len(remove_chunks) else []
            body = {"members_to_add": [m.email for m in to_add], "members_to_remove": [m.email for m in to_remove]}
            answer = self._call("lists.segments.members.batch", partial(self._segment_call, body, segment_id))
            errors: dict[str, str] = {}
            for error in (answer or {}).get("errors", []):
                for email in error.get("email_addresses", []):
                    errors[str(email).lower()] = str(error.get("error", ""))
            for m in to_add:
                err = errors.get(m.email.lower())
                added[m.contact_id] = MoveResult(m.contact_id, err is None, error="" if err is None else NOT_A_MEMBER)
            for m in to_remove:  # an address the audience no longer holds is out of the segment already
                removed[m.contact_id] = MoveResult(m.contact_id, True)
        return added, removed

    def _segment_call(self, body: dict[str, Any], segment_id: str) -> Any:
        return self.client.lists.batch_segment_members(body, self.list_id, segment_id)

    # -- batch operations ------------------------------------------------------------------------------------
    def _run_batch(self, operations: list[dict[str, Any]]) -> dict[str, tuple[int, Any]]:
        """Run ``operations`` as batches; operation_id -> (status code, decoded response)."""
        answers: dict[str, tuple[int, Any]] = {}
        size = self.batch_max_operations or max(len(operations), 1)
        for part in chunks(operations, size):
            batch = self._call("batches.start", partial(self.client.batches.start, {"operations": part}))
            answers.update(self._results(self._wait(str(batch["id"]))))
        return answers

    def _wait(self, batch_id: str) -> dict[str, Any]:
        waited = 0.0
        while True:
            status = self._call("batches.status", lambda: self.client.batches.status(batch_id))
            if status.get("status") == FINISHED:
                return dict(status)
            if waited >= self.poll_timeout:
                raise ConnectorError(
                    f"Mailchimp batch {batch_id} was still {status.get('status')} after {waited:.0f} s; the next "
                    "run sends the moves it could not confirm again",
                    crm=NAME,
                )
            self.sleep(self.poll_interval)
            waited += self.poll_interval

    def _results(self, status: dict[str, Any]) -> Iterator[tuple[str, tuple[int, Any]]]:
        url = status.get("response_body_url")
        if not url:
            return
        # a pre-signed storage URL, not the API: no API key goes with it
        response = requests.get(str(url), timeout=self.timeout)
        self.result_downloads += 1
        response.raise_for_status()
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            for item in archive.getmembers():
                handle = archive.extractfile(item) if item.isfile() else None
                if handle is None:
                    continue
                for entry in json.load(handle):
                    try:
                        body = json.loads(entry.get("response") or "null")
                    except ValueError:
                        body = entry.get("response")
                    yield str(entry.get("operation_id")), (int(entry.get("status_code", 0)), body)

    def calls(self) -> dict[str, int]:
        return dict(self.api.calls)

    def close(self) -> None:
        return None


def _op_result(member: Member, answer: tuple[int, Any] | None, *, absent_ok: bool) -> MoveResult:
    if answer is None:
        return MoveResult(member.contact_id, False, error="no answer for this operation in the batch results")
    status, body = answer
    if 200 <= status < 300:
        return MoveResult(member.contact_id, True)
    if status == 404:
        return MoveResult(member.contact_id, absent_ok, error="" if absent_ok else NOT_A_MEMBER)
    detail = body.get("detail") or body.get("title") if isinstance(body, dict) else body
    return MoveResult(member.contact_id, False, error=redact(f"{status}: {detail}"))
