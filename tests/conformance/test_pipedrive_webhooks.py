"""Pipedrive webhooks: the bodies the sandbox posts checked against the shapes of Pipedrive's webhook guides
(``fixtures/pipedrive/webhook_*.json``, our values in the vendor's shapes: see that folder's SOURCES.md), and
the same vendor-shaped bodies (v2, and v1) read by leadsync's intake (``sync/server``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sandbox import Sandbox
from connectors.sandbox.pipedrive import PipedriveApi
from connectors.sandbox.webhooks.config import PIPEDRIVE_RETRIES, TIMEOUTS
from sync.server.targets import event_target
from sync.server.webhooks import pipedrive_events
from tests.conformance.conftest import Capture, sent, webhook_sandbox
from tests.conformance.shapes import load, raw, shape_diff
from tests.connectors.samples_pipedrive import api_session
from tests.harnesses import api_of

PASSWORD = "pd-webhook-password"
CUSTOM = "$.data.custom_fields"
# the guide's examples send null for an unset link or name (activity lead_id/org_id, person last_name/label)
UNSET = "the webhook examples send null for an unset link or name"
NULLS = {f"null:$.data.{key}": UNSET for key in ("deal_id", "org_id", "person_id", "first_name", "last_name")}
MERGE_META = {
    "extra:$.meta.merged_to_id": "sent on the delete of a merge (Guide for Webhooks v2, meta block)",
    "extra:$.meta.merged_from_id": "sent on the change of a merge (Guide for Webhooks v2, meta block)",
}


@pytest.fixture
def sandbox(capture: Capture) -> Iterator[Sandbox]:
    with webhook_sandbox("pipedrive", capture, pipedrive_password=PASSWORD) as (sb, ids):
        sb.person_ids = ids  # type: ignore[attr-defined]
        yield sb


def delivered(sandbox: Sandbox, capture: Capture) -> list[dict[str, Any]]:
    return sent(sandbox, capture)


def person_ids(sandbox: Sandbox) -> list[str]:
    return list(sandbox.person_ids)  # type: ignore[attr-defined]


# -- what the sandbox sends ------------------------------------------------------------------------------------------
def test_a_person_change_has_the_v2_shape_with_typed_custom_fields(sandbox: Sandbox, capture: Capture) -> None:
    pid = person_ids(sandbox)[0]
    with api_session(sandbox) as http:
        fields = http.get(f"{sandbox.pipedrive_url}/api/v2/personFields", params={"limit": 500}, timeout=30).json()
        by_type = {f["field_type"]: f for f in fields["data"] if f["is_custom_field"] and f["field_type"] != "set"}
        code = by_type["varchar"]["field_code"]
        before = api_of(sandbox, PipedriveApi).record(pid)["custom_fields"].get(code)
        body = {"name": "Ada Lovelace", "custom_fields": {code: "leadsync text"}}
        assert http.patch(f"{sandbox.pipedrive_url}/api/v2/persons/{pid}", json=body, timeout=30).ok

    (ours,) = delivered(sandbox, capture)
    headers, _ = capture.requests[0]
    vendor = load("pipedrive", "webhook_v2_person_change")
    assert shape_diff(vendor["meta"], ours["meta"], path="$.meta") == []
    assert shape_diff(vendor["data"], ours["data"], path="$.data", allow=NULLS, free=frozenset({CUSTOM})) == []
    assert ours["previous"]["name"] != "Ada Lovelace" and set(ours["previous"]) <= set(ours["data"])
    # each custom value has the shape the guide gives its type; a field set now was null before
    typed = {v["type"]: v for v in vendor["data"]["custom_fields"].values()}
    for key, value in ours["data"]["custom_fields"].items():
        assert shape_diff(typed.get(value["type"], typed["varchar"]), value, path=f"{CUSTOM}.{key}") == []
    was = None if before is None else {"type": "varchar", "value": before}  # null: it was unset
    assert ours["previous"]["custom_fields"] == {code: was}
    assert ours["meta"]["entity_id"] == pid and ours["meta"]["attempt"] == 1
    assert headers["Authorization"] == "Basic " + base64.b64encode(f"leadsync:{PASSWORD}".encode()).decode()


def test_a_merge_is_a_delete_and_a_change_naming_each_other(sandbox: Sandbox, capture: Capture) -> None:
    keep, gone = person_ids(sandbox)[:2]
    api_of(sandbox, PipedriveApi).merge(keep, gone)

    bodies = delivered(sandbox, capture)
    deleted = next(b for b in bodies if b["meta"]["action"] == "delete")
    changed = next(b for b in bodies if b["meta"]["action"] == "change")
    vendor = load("pipedrive", "webhook_v2_person_delete")
    assert shape_diff(vendor, deleted, allow=MERGE_META, free=frozenset({"$.previous.custom_fields"})) == []
    assert deleted["data"] is None and deleted["previous"]["id"] == int(gone)
    assert (deleted["meta"]["merged_to_id"], changed["meta"]["merged_from_id"]) == (keep, gone)  # strings
    assert changed["meta"]["entity_id"] == keep


def test_an_activity_has_the_v2_webhook_shape_not_the_api_one(sandbox: Sandbox, capture: Capture) -> None:
    pid = person_ids(sandbox)[0]
    api_of(sandbox, PipedriveApi).add_activity(pid, "meeting")

    (ours,) = delivered(sandbox, capture)
    vendor = load("pipedrive", "webhook_v2_activity_change")
    assert ours["meta"]["action"] == "create" and ours["previous"] is None  # the guide: create has no previous
    assert shape_diff(vendor["data"], ours["data"], path="$.data", allow=NULLS) == []
    assert shape_diff(vendor["meta"], ours["meta"], path="$.meta") == []
    assert ours["data"]["person_id"] == int(pid)


def test_a_failed_delivery_is_retried_with_the_attempt_counted_from_one(sandbox: Sandbox, capture: Capture) -> None:
    capture.fail = 2
    api_of(sandbox, PipedriveApi).touch(person_ids(sandbox)[0], name="Grace Hopper")

    bodies = delivered(sandbox, capture)
    assert [b["meta"]["attempt"] for b in bodies] == [1, 2, 3]
    assert len({b["meta"]["id"] for b in bodies}) == 1, "a retry is the same event"
    # the guide: 3 more tries after 3, 30 and 150 s; 10 s to answer
    assert (PIPEDRIVE_RETRIES, TIMEOUTS["pipedrive"]) == ((3.0, 30.0, 150.0), 10.0)


# -- what leadsync's intake reads -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "kind", "target"),
    [
        ("webhook_v2_person_change", "change.person", "8"),
        ("webhook_v2_activity_change", "change.activity", "8"),
        ("webhook_v2_person_delete", "delete.person", None),
        ("webhook_v1_person_updated", "change.person", "8"),
    ],
)
def test_intake_reads_the_vendor_bodies(fixture: str, kind: str, target: str | None) -> None:
    (event,) = pipedrive_events(raw("pipedrive", fixture).encode())
    assert (event.kind, event.object_id) == (kind, "8" if "person" in kind else "2")
    assert event.occurred_at.year == 2025
    assert event_target(event).contact_id == target


def test_intake_keys_v1_bodies_so_a_retry_is_the_same_event() -> None:
    body = load("pipedrive", "webhook_v1_person_updated")
    retried = {**body, "retry": 1}
    later = {**body, "meta": {**body["meta"], "timestamp_micro": body["meta"]["timestamp_micro"] + 5}}
    keys = [pipedrive_events(json.dumps(b).encode())[0].event_id for b in (body, retried, later)]
    assert keys[0] == keys[1] != keys[2]
    v2 = load("pipedrive", "webhook_v2_person_change")
    assert pipedrive_events(json.dumps(v2).encode())[0].event_id == v2["meta"]["id"]
