"""The HubSpot side of the shared adapter contract suite: ``make_harness(sandbox) -> Harness``.

Field names given to ``touch`` / ``crm_value`` are leadsync's: canonical names (``lifecycle_stage``,
``owner_id``...) go through the adapter's default field map, anything else is a HubSpot property name.
The adapter built by ``adapter()`` sleeps by moving the sandbox clock, so pacing and retries cost no time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from connectors.hubspot import DEFAULT_EXTRA_FIELDS, DEFAULT_FIELD_MAP, HubSpotAdapter, HubSpotConfig
from connectors.records import FieldSpec
from connectors.sandbox.dataset import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson
from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS, HubSpotApi

# -- small hand-made datasets for the HubSpot tests (the seeded generator is for volume) ------------------------
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


def person(i: int, **overrides: Any) -> SamplePerson:
    values: dict[str, Any] = {
        "key": f"p{i:06d}",
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "email": f"person{i}@example{i % 7}.com",
        "title": ["CEO", "Engineer", "Student", ""][i % 4],
        "company": f"Company {i % 13}",
        "industry": ["Software", "Education", "Healthcare"][i % 3],
        "employees": ["1,000", "100-500", "1000+", "n/a", ""][i % 5],
        "country": ["US", "DE", "IN"][i % 3],
        "city": "Springfield",
        "phone": "",
        "lead_source": "Organic Search",
        "created_at": NOW - timedelta(days=300, minutes=i),
        "updated_at": NOW - timedelta(days=30, seconds=i),
        "owner_key": "o1" if i % 2 else "o2",
        "lifecycle_stage": ["lead", "marketingqualifiedlead", "customer"][i % 3],
        "page_views": i % 9,
        "visits": i % 4,
    }
    values.update(overrides)
    return SamplePerson(**values)


def dataset(n: int, *, activities: bool = True) -> Dataset:
    people = [person(i) for i in range(n)]
    owners = [
        SampleOwner("o1", "Ada", "Owner", "ada@leadsync-demo.com", teams=("Inbound",)),
        SampleOwner("o2", "Bob", "Owner", "bob@leadsync-demo.com"),
        SampleOwner("o3", "Cy", "Gone", "cy@leadsync-demo.com", active=False),
    ]
    acts: list[SampleActivity] = []
    if activities:
        kinds = ["email_open", "email_click", "email_reply", "meeting", "call", "demo_request", "page_view"]
        for i, p in enumerate(people):
            for k in range(i % 4):
                kind = kinds[(i + k) % len(kinds)]
                at = NOW - timedelta(days=40, hours=k, minutes=i)
                acts.append(
                    SampleActivity(f"{p.key}-{k}", p.key, kind, at, subject=f"s{k}", attributes={"url": "/pricing"})
                )
    outcomes = [SampleOutcome(people[0].key, True, NOW - timedelta(days=5), 1200.0, "Won deal")] if people else []
    if len(people) > 1:
        outcomes.append(SampleOutcome(people[1].key, False, NOW - timedelta(days=6), 0.0, "Lost deal"))
    return Dataset(owners=owners, people=people, activities=acts, outcomes=outcomes)


def _writeback_specs() -> list[FieldSpec]:
    try:  # the names the sync writes by default, when the sync package is importable
        from sync.policies import FIELD_DEFS

        return [FieldSpec(name, label, type_, f"leadsync {key}") for key, (label, type_, name) in FIELD_DEFS.items()]
    except Exception:
        return [
            FieldSpec("leadsync_score", "Leadsync score", "number"),
            FieldSpec("leadsync_priority_tier", "Leadsync priority tier", "string"),
            FieldSpec("leadsync_score_reason", "Leadsync score reason", "string"),
            FieldSpec("leadsync_scored_at", "Leadsync last scored at", "datetime"),
        ]


@dataclass
class Harness:
    sandbox: Any
    crm: str = "hubspot"
    writeback_specs: list[FieldSpec] = field(default_factory=_writeback_specs)
    # sandbox counter names (``sandbox.counters.calls(prefix)``)
    endpoint_prefix: str = "hubspot."
    list_endpoint_prefix: str = "hubspot.contacts.list"
    search_endpoint_prefix: str = "hubspot.contacts.search"
    incremental_endpoint_prefix: str = "hubspot.contacts.search"
    read_endpoint_prefix: str = "hubspot.contacts.batch_read"
    write_endpoint_prefix: str = "hubspot.contacts.batch_update"
    activity_endpoint_prefixes: tuple[str, ...] = (
        "hubspot.associations.batch_read",
        "hubspot.emails.batch_read",
        "hubspot.meetings.batch_read",
        "hubspot.calls.batch_read",
        "hubspot.notes.batch_read",
    )
    read_endpoints: tuple[str, ...] = ("hubspot.contacts.list", "hubspot.contacts.search")
    list_page_size: int = 100
    write_batch_size: int = 100

    @property
    def api(self) -> HubSpotApi:
        api: HubSpotApi = self.sandbox.apis["hubspot"]
        return api

    def adapter(self, **overrides: Any) -> HubSpotAdapter:
        extra = list(DEFAULT_EXTRA_FIELDS) + [s.name for s in self.writeback_specs]
        settings: dict[str, Any] = {
            "access_token": SecretStr(SANDBOX_CREDENTIALS["private_app_token"]),
            "base_url": self.sandbox.hubspot_url,
            "extra_fields": tuple(extra),
            "sleep": self.sandbox.clock.advance,
            "monotonic": self.sandbox.clock.seconds,
            "now": self.sandbox.clock.now,
        }
        settings.update(overrides)
        return HubSpotAdapter(HubSpotConfig(**settings))

    def oauth_adapter(self, **overrides: Any) -> HubSpotAdapter:
        settings: dict[str, Any] = {
            "access_token": None,
            "client_id": SANDBOX_CREDENTIALS["client_id"],
            "client_secret": SecretStr(SANDBOX_CREDENTIALS["client_secret"]),
            "refresh_token": SecretStr(SANDBOX_CREDENTIALS["refresh_token"]),
        }
        settings.update(overrides)
        return self.adapter(**settings)

    def load(self, dataset: Dataset) -> dict[str, str]:
        return self.api.load(dataset)

    def crm_name(self, field_name: str) -> str:
        return DEFAULT_FIELD_MAP.get(field_name, field_name)

    def touch(self, contact_id: str, at: datetime | None = None, **fields: Any) -> None:
        self.api.touch(contact_id, _at=at, **{self.crm_name(k): v for k, v in fields.items()})

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        return self.api.add_activity(contact_id, type, occurred_at, **attrs)

    def crm_value(self, contact_id: str, field_name: str) -> Any:
        return self.api.record(contact_id)["properties"].get(self.crm_name(field_name))

    def create_fields(self, specs: Sequence[FieldSpec] | None = None) -> None:
        for spec in specs if specs is not None else self.writeback_specs:
            self.api.create_property(spec.name, {"string": "string"}.get(spec.type, spec.type), label=spec.label)

    def merge(self, primary_id: str, merged_id: str) -> str:
        return self.api.merge(primary_id, merged_id)

    def fail_records(self, *contact_ids: str) -> None:
        self.sandbox.faults.configure(fail_records=list(contact_ids))

    def expected_calls(self, scenario: str, **facts: Any) -> dict[str, int] | None:
        """Exact requests per sandbox endpoint the adapter makes for a contract-suite scenario."""
        if scenario == "backfill":  # GET contacts, 100 per call (page_size only groups them into pages)
            return {"hubspot.contacts.list": max(1, math.ceil(int(facts["contacts"]) / self.list_page_size))}
        if scenario == "incremental_unchanged":  # one search finds nothing; activity changes cost nothing
            return {"hubspot.contacts.search": 1}
        if scenario == "write":
            updates = int(facts["updates"])
            return {"hubspot.contacts.batch_update": math.ceil(updates / self.write_batch_size)} if updates else {}
        if scenario == "check_fields_again":
            return {"hubspot.properties.list": 1}
        return None

    def calls(self, prefix: str = "hubspot.") -> int:
        return int(self.sandbox.counters.calls(prefix))


def make_harness(sandbox: Any) -> Harness:
    return Harness(sandbox)
