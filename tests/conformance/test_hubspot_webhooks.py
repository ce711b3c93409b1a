"""HubSpot webhooks API deliveries as the sandbox posts them, against the documented event shape
(``fixtures/hubspot/webhook_events.json``: our values in HubSpot's shape, see that folder's SOURCES.md), and
read by leadsync's intake; a merge names its survivor as the vendor's changelog defines it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.sandbox import Sandbox
from sync.server.targets import event_target
from sync.server.webhooks import hubspot_events
from tests.conformance.conftest import Capture, sent, webhook_sandbox
from tests.conformance.shapes import load, raw, shape_diff

NOT_SENT = "leadsync does not read it; the sandbox's merge moves no counted properties"


@pytest.fixture
def sandbox(capture: Capture) -> Iterator[Sandbox]:
    with webhook_sandbox("hubspot", capture) as (sb, ids):
        sb.contact_ids = ids  # type: ignore[attr-defined]
        yield sb


def events(sandbox: Sandbox, capture: Capture) -> list[dict[str, Any]]:
    return [event for body in sent(sandbox, capture) for event in body]


def test_property_change_and_merge_events_have_the_documented_shape(sandbox: Sandbox, capture: Capture) -> None:
    keep, gone = sandbox.contact_ids[:2]  # type: ignore[attr-defined]
    api: Any = sandbox.apis["hubspot"]
    api.touch(keep, jobtitle="Head of Revenue")
    api.merge(keep, gone)

    ours = events(sandbox, capture)
    change, merge = load("hubspot", "webhook_events")
    changes = [e for e in ours if e["subscriptionType"] == "contact.propertyChange"]
    merges = [e for e in ours if e["subscriptionType"] == "contact.merge"]
    assert changes and len(merges) == 1
    assert all(shape_diff(change, e) == [] for e in changes), [shape_diff(change, e) for e in changes]
    assert shape_diff(merge, merges[0], allow={"missing:$.numberOfPropertiesMoved": NOT_SENT}) == []
    assert merges[0]["mergedObjectIds"] == [int(gone)] and merges[0]["primaryObjectId"] == int(keep)
    headers, _ = capture.requests[0]
    assert {"X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"} <= set(headers)


def test_intake_reads_the_documented_events_and_rescores_the_merge_survivor() -> None:
    change, merge = hubspot_events(raw("hubspot", "webhook_events").encode())
    assert (change.kind, change.object_id, change.event_id) == ("contact.propertyChange", "1246965", "3816279340")
    assert change.occurred_at == datetime(2025, 3, 4, 10, 25, 30, 123000, tzinfo=UTC)
    assert event_target(change).contact_id == "1246965"
    assert event_target(merge).contact_id == "1246965"  # newObjectId, the record the merge left
