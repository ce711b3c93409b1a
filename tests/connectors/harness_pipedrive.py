"""The Pipedrive side of the shared adapter contract suite (``make_harness(sandbox) -> Harness``), plus
helpers for the Pipedrive tests: hand-built datasets and a ``requests`` session on the sandbox.

Field names given to ``touch`` / ``crm_value`` are leadsync's: canonical names (``lifecycle_stage``,
``owner_id``...) go through the adapter's default field map, anything else is a Pipedrive field NAME (or a
standard key).  The adapter built by ``adapter()`` sleeps by moving the sandbox clock, so pacing and
retries cost no real time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pydantic import SecretStr

from connectors.pipedrive import DEFAULT_FIELD_MAP, PipedriveAdapter, PipedriveConfig
from connectors.records import FieldSpec
from connectors.sandbox import Sandbox
from connectors.sandbox.dataset import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson
from connectors.sandbox.pipedrive import SANDBOX_CREDENTIALS, PipedriveApi

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def _writeback_specs() -> list[FieldSpec]:
    """The fields the sync writes: for Pipedrive their names are their labels (sync/policies.py)."""
    try:
        from sync.policies import FIELD_DEFS

        return [FieldSpec(label, label, type_, f"leadsync {key}") for key, (label, type_, _) in FIELD_DEFS.items()]
    except Exception:
        return [
            FieldSpec("Leadsync score", "Leadsync score", "number"),
            FieldSpec("Leadsync priority tier", "Leadsync priority tier", "string"),
            FieldSpec("Leadsync score reason", "Leadsync score reason", "string"),
            FieldSpec("Leadsync last scored at", "Leadsync last scored at", "datetime"),
        ]


def people_dataset(n: int, *, per_second: int = 1, activities: int = 0, start: datetime = T0) -> Dataset:
    """``n`` people whose ``updated_at`` advance one second every ``per_second`` people (ties on purpose),
    two owners, ``activities`` email opens each, and a won deal for every 10th person."""
    owners = [SampleOwner("o1", "Ada", "Owner", "ada@example.com"), SampleOwner("o2", "Bo", "Seller", "bo@example.com")]
    stages = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
    people = [
        SamplePerson(
            key=f"p{i:04d}",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            email=f"p{i}@corp{i % 7}.example",
            title="VP Sales" if i % 2 else "Engineer",
            company=f"Corp {i % 7}",
            industry="Software",
            employees="100-500",
            country="Germany",
            city="Berlin",
            phone=f"+49 30 {i:06d}",
            lead_source="Webinar",
            created_at=start - timedelta(days=30),
            updated_at=start + timedelta(seconds=i // per_second),
            owner_key="o1" if i % 2 else "o2",
            lifecycle_stage=stages[i % len(stages)],
        )
        for i in range(n)
    ]
    acts = [
        SampleActivity(f"a{i}-{j}", p.key, "email_open", start - timedelta(hours=j + 1), "Monthly newsletter")
        for i, p in enumerate(people)
        for j in range(activities)
    ]
    outcomes = [
        SampleOutcome(p.key, True, start - timedelta(days=2), 1000.0 + i) for i, p in enumerate(people) if i % 10 == 0
    ]
    return Dataset(owners=owners, people=people, activities=acts, outcomes=outcomes, source="hand-built")


def api_session(sandbox: Sandbox) -> requests.Session:
    """A plain ``requests`` session that authenticates with the sandbox's API token header."""
    session = requests.Session()
    session.headers["x-api-token"] = SANDBOX_CREDENTIALS["api_token"]
    return session


@dataclass
class Harness:
    sandbox: Any
    crm: str = "pipedrive"
    writeback_specs: list[FieldSpec] = field(default_factory=_writeback_specs)
    read_endpoints: tuple[str, ...] = (
        "pipedrive.personFields.list",
        "pipedrive.persons.v2.list",
        "pipedrive.organizations.v2.list",
    )

    @property
    def api(self) -> PipedriveApi:
        api: PipedriveApi = self.sandbox.apis["pipedrive"]
        return api

    def adapter(self, **overrides: Any) -> PipedriveAdapter:
        settings: dict[str, Any] = {
            "base_url": self.sandbox.pipedrive_url,
            "api_token": SecretStr(SANDBOX_CREDENTIALS["api_token"]),
            "extra_fields": tuple(s.name for s in self.writeback_specs),
            "sleep": self.sandbox.clock.advance,
            "monotonic": self.sandbox.clock.seconds,
        }
        settings.update(overrides)
        return PipedriveAdapter(PipedriveConfig(**settings))

    def oauth_adapter(self, **overrides: Any) -> PipedriveAdapter:
        settings: dict[str, Any] = {
            "api_token": None,
            "access_token": SecretStr(SANDBOX_CREDENTIALS["access_token"]),
            "refresh_token": SecretStr(SANDBOX_CREDENTIALS["refresh_token"]),
            "client_id": SANDBOX_CREDENTIALS["client_id"],
            "client_secret": SecretStr(SANDBOX_CREDENTIALS["client_secret"]),
            "oauth_url": self.sandbox.pipedrive_url,
        }
        settings.update(overrides)
        return self.adapter(**settings)

    def load(self, dataset: Dataset) -> dict[str, str]:
        return self.api.load(dataset)

    @staticmethod
    def crm_name(field_name: str) -> str:
        return DEFAULT_FIELD_MAP.get(field_name, field_name)

    def touch(self, contact_id: str, at: datetime | None = None, **fields: Any) -> None:
        self.api.touch(contact_id, at=at, **{self.crm_name(k): v for k, v in fields.items()})

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        return self.api.add_activity(contact_id, type, occurred_at, **attrs)

    def crm_value(self, contact_id: str, field_name: str) -> Any:
        return self.api.field_value(contact_id, self.crm_name(field_name))

    def merge(self, primary_id: str, merged_id: str) -> str:
        self.api.merge(primary_id, merged_id)
        return primary_id

    def fail_records(self, *contact_ids: str) -> None:
        self.sandbox.faults.configure(fail_records=list(contact_ids))

    def calls(self, prefix: str = "pipedrive.") -> int:
        return int(self.sandbox.counters.calls(prefix))


def make_harness(sandbox: Any) -> Harness:
    return Harness(sandbox)
