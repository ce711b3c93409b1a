"""Salesforce's side of the contract suite (see ``tests/connectors/harness.py``), plus helpers for the
Salesforce tests: a hand-built ``Dataset`` and a logged-in simple-salesforce client on the sandbox."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pydantic import SecretStr
from simple_salesforce import Salesforce

from connectors.records import FieldSpec
from connectors.salesforce import DEFAULT_CONTACT_FIELD_MAP, DEFAULT_LEAD_FIELD_MAP, SalesforceAdapter, SalesforceConfig
from connectors.salesforce.client import make_session
from connectors.sandbox import Sandbox
from connectors.sandbox.dataset import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson
from connectors.sandbox.salesforce import SANDBOX_CREDENTIALS, SalesforceApi

# The write-back fields, created in the sandbox's Setup (on Lead and Contact) by make_harness.
WRITEBACK_SPECS = [
    FieldSpec("Leadsync_Score__c", "Leadsync Score", "number", "lead score 0-100"),
    FieldSpec("Leadsync_Reason__c", "Leadsync Score Reason", "string", "top reasons for the score"),
    FieldSpec("Leadsync_Scored_At__c", "Leadsync Scored At", "datetime", "when the score was computed"),
    FieldSpec("Leadsync_Tier__c", "Leadsync Tier", "enumeration", "A/B/C", options=("A", "B", "C")),
]
_SF_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "number": ("double", {"precision": 16, "scale": 2}),
    "string": ("string", {"length": 255}),
    "datetime": ("datetime", {}),
    "enumeration": ("picklist", {}),
}
_SECRET_FIELDS = {"password", "security_token", "consumer_secret", "private_key", "session_id"}


def create_fields(api: SalesforceApi, specs: list[FieldSpec], objects: tuple[str, ...] = ("Lead", "Contact")) -> None:
    for spec in specs:
        kind, extra = _SF_TYPES[spec.type]
        for sobject in objects:
            api.create_field(sobject, spec.name, kind, spec.label, picklist=spec.options, **extra)


def config_for(sandbox: Sandbox, **overrides: Any) -> SalesforceConfig:
    creds = SANDBOX_CREDENTIALS
    values: dict[str, Any] = {
        "username": creds["username"],
        "password": SecretStr(creds["password"]),
        "security_token": SecretStr(creds["security_token"]),
        "consumer_key": creds["consumer_key"],
        "consumer_secret": SecretStr(creds["consumer_secret"]),
        "login_url": sandbox.salesforce_url,
        "ca_path": str(sandbox.ca_path),
        "sleep": lambda seconds: None,
    }
    for key, value in overrides.items():
        values[key] = SecretStr(value) if key in _SECRET_FIELDS and isinstance(value, str) else value
    return SalesforceConfig(**values)


def sf_client(sandbox: Sandbox, session: requests.Session | None = None) -> Salesforce:
    """simple-salesforce on the sandbox over TLS (sandbox CA), logged in with the password flow."""
    http = session or make_session(str(sandbox.ca_path))
    creds = SANDBOX_CREDENTIALS
    token = http.post(
        sandbox.salesforce_url + "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": creds["consumer_key"],
            "client_secret": creds["consumer_secret"],
            "username": creds["username"],
            "password": creds["password"] + creds["security_token"],
        },
        timeout=30,
    ).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http)


def people_dataset(
    n: int,
    *,
    activities: tuple[str, ...] = (),
    converted_every: int = 0,
    same_stamp_every: int = 1,
    base: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
) -> Dataset:
    """``n`` people; ``same_stamp_every`` of them share each updated_at second (ties on SystemModstamp);
    every ``converted_every``-th person is converted with a won outcome; each gets the ``activities``."""
    owners = [
        SampleOwner("o1", "Ada", "Owner", "ada@example.com", teams=("Inbound",)),
        SampleOwner("o2", "Bo", "Gone", "bo@example.com", active=False),
    ]
    people, acts, outcomes = [], [], []
    for i in range(n):
        converted = bool(converted_every) and i % converted_every == 0
        people.append(
            SamplePerson(
                key=f"p{i:05d}",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                email=f"person{i}@example.com",
                title="Head of Ops",
                company=f"Company {i % 37}",
                industry="Technology",
                employees=["1,000", "50", "100-500", "n/a"][i % 4],
                country="DE",
                city="Berlin",
                phone="+49 30 1234",
                lead_source="Web",
                created_at=base - timedelta(days=30),
                updated_at=base + timedelta(seconds=i // max(same_stamp_every, 1)),
                owner_key="o1",
                converted=converted,
            )
        )
        for j, kind in enumerate(activities):
            acts.append(
                SampleActivity(f"a{i}-{j}", f"p{i:05d}", kind, base - timedelta(days=j + 1), subject=f"{kind} {j}")
            )
        if converted:
            outcomes.append(SampleOutcome(f"p{i:05d}", True, base - timedelta(days=2), 1000.0 + i, f"Deal {i}"))
    return Dataset(owners=owners, people=people, activities=acts, outcomes=outcomes, source="harness_salesforce")


@dataclass
class SalesforceHarness:
    sandbox: Sandbox
    crm: str = "salesforce"
    writeback_specs: list[FieldSpec] = field(default_factory=lambda: list(WRITEBACK_SPECS))
    read_endpoints: tuple[str, ...] = ("salesforce.query",)  # also matches salesforce.query_more
    write_batch_size: int = 1000  # 5 sObject Collections of 200 in one Composite call

    @property
    def api(self) -> SalesforceApi:
        api = self.sandbox.apis["salesforce"]
        assert isinstance(api, SalesforceApi)
        return api

    def adapter(self, **overrides: Any) -> SalesforceAdapter:
        """A password-flow adapter on the sandbox, already logged in (so scenarios count REST calls only)."""
        overrides.setdefault("extra_fields", tuple(spec.name for spec in self.writeback_specs))
        adapter = SalesforceAdapter(config_for(self.sandbox, **overrides))
        adapter.login()
        return adapter

    def load(self, dataset: Dataset) -> dict[str, str]:
        return self.sandbox.load_into("salesforce", dataset)

    def _name(self, record_id: str, name: str) -> str:
        sobject = "Lead" if record_id.startswith("00Q") else "Contact"
        schema = self.api.schemas[sobject]
        if schema.get(name) is not None:
            return name
        mapped = (DEFAULT_LEAD_FIELD_MAP if sobject == "Lead" else DEFAULT_CONTACT_FIELD_MAP).get(name)
        if mapped:
            return mapped
        return name if name.endswith("__c") else f"{name}__c"

    def touch(self, contact_id: str, **fields: Any) -> None:
        self.api.touch(contact_id, **{self._name(contact_id, k): v for k, v in fields.items()})

    def add_activity(self, contact_id: str, type: str) -> str:
        return self.api.add_activity(contact_id, str(type))

    def crm_value(self, contact_id: str, field: str) -> Any:
        record = self.api.record(contact_id)
        wanted = self._name(contact_id, field).lower()
        return next((v for k, v in record.items() if k.lower() == wanted), None)

    def expected_calls(self, scenario: str, **facts: Any) -> dict[str, int] | None:
        if scenario == "backfill":
            contacts, page_size = int(facts["contacts"]), int(facts.get("page_size") or 2000)
            if page_size < 200:  # LIMIT + keyset pages, one query each, the last one short (maybe empty)
                return {"salesforce.query": contacts // page_size + 1}
            pages = max(1, math.ceil(contacts / min(page_size, 2000)))
            return {"salesforce.query": 1, **({"salesforce.query_more": pages - 1} if pages > 1 else {})}
        if scenario == "incremental_unchanged":  # read_contacts + read_activity_changes
            return {"salesforce.query": 1, "salesforce.composite_read": 1}
        if scenario == "write":
            chunks = math.ceil(int(facts["updates"]) / 200)
            out: dict[str, int] = {}
            for start in range(0, chunks, 5):
                key = "salesforce.composite.sobjects" if chunks - start == 1 else "salesforce.composite"
                out[key] = out.get(key, 0) + 1
            return out
        if scenario == "check_fields_again":
            return {"salesforce.describe": 1}
        return None


def make_harness(sandbox: Sandbox) -> SalesforceHarness:
    harness = SalesforceHarness(sandbox)
    create_fields(harness.api, harness.writeback_specs)
    return harness
