"""Point-in-time calibration on CRM history: fields changed after a contact's outcome are taken back to their
value at the outcome date from the CRM's field history (HubSpot ``propertiesWithHistory``, Salesforce
``LeadHistory``), read through the real adapters from the sandbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import hubspot
import pytest
from urllib3.util.retry import Retry

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS, HubSpotApi
from connectors.sandbox.salesforce import SalesforceApi
from scoring.calibrate import CalibrationRow, calibrate_rows
from sync.calibration_job import calibration_rows
from tests.connectors.samples_hubspot import dataset
from tests.harnesses import NOW, api_of


def _other(value: Any, choices: tuple[str, ...]) -> str:
    return next(c for c in choices if c != value)


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_field_changed_after_the_outcome_is_rewound_and_one_changed_before_is_kept(crm: str, make_stack: Any) -> None:
    stack = make_stack(crm, contacts=80)
    app = stack.app()
    dated = [r for r in calibration_rows(app) if r.closed_at is not None]
    after, before = dated[0], dated[1]
    assert after.closed_at is not None and before.closed_at is not None
    original = after.contact.get("industry")
    planted = _other(original, ("Banking", "Retail"))
    stack.harness.touch(after.contact.id, industry=planted)  # the sandbox clock is NOW: after the outcome
    stack.sandbox.clock.set(before.closed_at - timedelta(days=3))
    earlier_title = _other(before.contact.get("title"), ("Head of Growth", "CFO"))
    stack.harness.touch(before.contact.id, title=earlier_title)  # before the outcome: what the seller saw
    stack.sandbox.clock.set(NOW)

    assert app.adapter.get_contacts([after.contact.id])[0].get("industry") == planted
    rows = {r.contact.id: r for r in calibration_rows(app)}

    assert rows[after.contact.id].contact.get("industry") == original
    assert rows[after.contact.id].rewound == ("industry",)
    assert rows[before.contact.id].contact.get("title") == earlier_title
    assert rows[before.contact.id].rewound == ()
    assert all(r.rewound == () for cid, r in rows.items() if cid != after.contact.id)

    html = stack.workdir / "report.html"
    run = calibrate_rows(list(rows.values()), app.model, NOW, propose_model=False, source=crm, out_html_path=html)
    assert "Point in time: 1 field value of 1 contact" in html.read_text(encoding="utf-8")
    assert f"Point in time: 1 field value of 1 contact (of {len(rows)} with field history read)" in run.summary
    assert run.json()["point_in_time"] == {
        "contacts_checked": len(rows),
        "contacts_rewound": 1,
        "values_rewound": 1,
        "by_field": {"industry": 1},
    }


def test_csv_rows_say_nothing_about_point_in_time(make_stack: Any) -> None:
    stack = make_stack("hubspot", contacts=40, fields=False)
    app = stack.app()
    plain = [CalibrationRow(r.contact, r.activities, won=r.won, closed_at=r.closed_at) for r in calibration_rows(app)]
    run = calibrate_rows(plain, app.model, NOW, propose_model=False)
    assert "Point in time" not in run.summary and "point_in_time" not in run.json()


def test_hubspot_history_reads_go_50_contacts_per_call_and_the_sandbox_refuses_51() -> None:
    with Sandbox(SandboxConfig(crms=("hubspot",))) as sb:
        api = api_of(sb, HubSpotApi)
        ids = api.load(dataset(120, activities=False))
        first = ids["p000000"]
        api.touch(first, _at=NOW - timedelta(days=1), industry="Banking")
        api.touch(first, _at=NOW, industry="Retail")
        client = hubspot.Client.create(
            access_token=SANDBOX_CREDENTIALS["private_app_token"], host=sb.hubspot_url, retry=Retry(0)
        )
        body = {
            "inputs": [{"id": i} for i in list(ids.values())[:51]],
            "properties": [],
            "propertiesWithHistory": ["industry"],
        }
        with pytest.raises(Exception) as refused:
            client.crm.contacts.batch_api.read(body)
        assert getattr(refused.value, "status", None) == 400
        assert "property histories is 50" in str(getattr(refused.value, "body", ""))
        answer = client.crm.contacts.batch_api.read({**body, "inputs": [{"id": first}]})
        versions = answer.results[0].properties_with_history["industry"]
        assert [v.value for v in versions] == ["Retail", "Banking", "Software"]  # newest first, loaded value last
        assert versions[0].timestamp > versions[1].timestamp > versions[2].timestamp

        from tests.harnesses import make_harness

        adapter = make_harness("hubspot", sb).adapter()
        before = sb.counters.snapshot()
        history = adapter.field_history(list(ids.values()), ["industry", "title"])
        assert sb.counters.delta(before) == {"hubspot.contacts.batch_read": {200: 3}}  # 120 contacts: 50 + 50 + 20
        assert [(c.old_value, c.new_value) for c in history[first] if c.field == "industry"] == [
            (None, "Software"),
            ("Software", "Banking"),
            ("Banking", "Retail"),
        ]
        adapter.close()


def test_salesforce_keeps_history_only_for_tracked_fields(make_stack: Any) -> None:
    stack = make_stack("salesforce", contacts=20)
    api = api_of(stack.sandbox, SalesforceApi)
    app = stack.app()
    lead = next(iter(stack.ids.values()))
    stack.harness.touch(lead, City="Lyon")  # City is not tracked in this org
    assert app.adapter.field_history([lead], ["city"]) == {}
    api.track_field_history("Lead", "City")
    stack.harness.touch(lead, City="Nantes")
    (change,) = app.adapter.field_history([lead], ["city", "industry"])[lead]
    assert (change.field, change.old_value, change.new_value) == ("city", "Lyon", "Nantes")
    with pytest.raises(ValueError, match="at most 20"):
        api.track_field_history("Lead", *(f"Field{i}__c" for i in range(20)))
