"""Pipedrive writes as the sandbox receives them over HTTP from the real adapter, against the v2 definition:
``PATCH /api/v2/persons/{id}``, standard properties at the top of the body, custom fields inside
``custom_fields`` keyed by their field codes; and ``bench/api_calls.py``'s tokens per written person at the
definition's ``x-token-cost`` (docs/crm-api/pipedrive.md 1.4, 1.7)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bench import api_calls
from connectors.records import FieldUpdate
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.core import Request, Response
from tests.connectors.samples_pipedrive import api_session, people_dataset
from tests.harnesses import PipedriveHarness

# The v2 PATCH request schema's properties (docs/crm-api/pipedrive.md 1.7, [PD-V2][PD-SDK add-person-request.ts]).
PATCH_PROPERTIES = frozenset(
    {
        "name",
        "owner_id",
        "org_id",
        "add_time",
        "update_time",
        "emails",
        "phones",
        "visible_to",
        "label_ids",
        "marketing_status",
        "custom_fields",
    }
)
PATCH_COST = 5  # x-token-cost of PATCH /api/v2/persons/{id} in the v2 definition (crm-api/pipedrive.md 1.4)
FIELD_CODE = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture
def h() -> Iterator[PipedriveHarness]:
    with Sandbox(SandboxConfig(crms=("pipedrive",), seed=7)) as sandbox:
        yield PipedriveHarness(sandbox)


def recorded(h: PipedriveHarness) -> list[tuple[str, str, Any]]:
    """Every request the sandbox's Pipedrive receives from now on: (method, path, decoded body)."""
    seen: list[tuple[str, str, Any]] = []
    api = h.api
    inner = api.before

    def before(request: Request, endpoint: str) -> Response | None:
        seen.append((request.method, request.path, json.loads(request.body) if request.body else None))
        return inner(request, endpoint)

    api.before = before  # type: ignore[method-assign]
    return seen


def test_adapter_writes_patch_v2_with_custom_fields_inside_custom_fields(h: PipedriveHarness) -> None:
    ids = list(h.load(people_dataset(3)).values())
    adapter = h.adapter()
    assert adapter.check_fields(h.writeback_specs, create=True).missing == ()
    with api_session(h.sandbox) as http:
        listed = http.get(f"{h.sandbox.pipedrive_url}/api/v2/personFields", params={"limit": 500}, timeout=30)
    codes = {f["field_name"]: f["field_code"] for f in listed.json()["data"]}
    seen = recorded(h)

    results = adapter.write([FieldUpdate(cid, {"Leadsync score": 42.5, "name": "Ada Lovelace"}) for cid in ids[:2]])

    assert all(r.ok for r in results), results
    writes = [(method, path, body) for method, path, body in seen if method != "GET"]
    assert [(m, p) for m, p, _ in writes] == [("PATCH", f"/api/v2/persons/{cid}") for cid in ids[:2]]
    for _, _, body in writes:
        assert set(body) <= PATCH_PROPERTIES, set(body) - PATCH_PROPERTIES
        custom = body["custom_fields"]
        assert all(FIELD_CODE.match(key) for key in custom), custom
        assert custom[codes["Leadsync score"]] == 42.5  # a number stays a number: v2 coerces nothing
        assert body["name"] == "Ada Lovelace"  # a standard property stays at the top
        assert not any(FIELD_CODE.match(key) for key in body), "no custom field at the top level"
    assert [h.crm_value(cid, "Leadsync score") for cid in ids[:2]] == [42.5, 42.5]


def test_bench_reports_tokens_per_written_person_at_the_definitions_cost(capsys: pytest.CaptureFixture[str]) -> None:
    runs, _ = api_calls.bench_crm("pipedrive", 40, datetime(2025, 6, 2, 9, 0, tzinfo=UTC))

    backfill = runs[0]
    assert backfill.label == "backfill" and backfill.written > 0
    assert backfill.calls.get("persons.update") == backfill.written  # one PATCH per written person
    assert backfill.write_tokens == PATCH_COST * backfill.written
    assert f"/ {PATCH_COST:.1f} tokens (run / per written person)" in capsys.readouterr().out
