"""The one home of the tests' shared helpers: ``NOW``, ``CRMS``, ``make_harness(crm, sandbox)``, ``api_of``...

A ``Harness`` is one CRM's side of the contract suite (``tests/connectors/test_contract.py``), which runs ONE
parametrized suite over every CRM against a real ``Sandbox`` over real HTTP, asserting the calls it expects
via ``sandbox.counters``; the sync and reliability tests use the same harnesses to read what the CRM stores.
Hand-built datasets and raw HTTP clients per CRM live in ``tests/connectors/samples_<crm>.py``.

Field names given to ``touch`` / ``crm_value`` are leadsync's: canonical names (``lifecycle_stage``,
``owner_id``...) go through the adapter's default field map, anything else is the CRM's own field name.
Adapters built by ``adapter()`` sleep by moving the sandbox clock, so pacing and retries cost no real time.

Required members are those of ``Harness`` below.  Optional members the suite uses when present:

``read_endpoints: tuple[str, ...]``
    counter endpoint prefixes that ``read_contacts`` may call (default: every endpoint of the CRM that is
    not a write); used to count read calls exactly.
``expected_calls(scenario: str, **facts) -> Mapping[str, int] | None``
    exact calls per endpoint the adapter should make for a scenario, checked against the sandbox's counters
    when not None.  Scenarios and facts: ``"backfill"`` (contacts, page_size): ``read_contacts(None)`` to the
    end; ``"incremental_unchanged"`` (contacts, page_size): ``read_contacts(cursor)`` then
    ``read_activity_changes(cursor)``, both from the cursors a full read left, nothing changed since;
    ``"write"`` (updates): one ``write`` of that many updates; ``"check_fields_again"`` (fields): the second
    ``check_fields(create=True)``.
``write_batch_size: int``
    records per write call (default: the API's maximum, HubSpot 100, Salesforce 200, Pipedrive 1).
``list_page_size: int``
    contacts per paging call whatever ``page_size`` says (HubSpot's list endpoint: 100), if it has one.
``contact_key(contact_id) -> str``
    how ``record_fails`` names a contact, when it is not the id the adapter reports (default: the id).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import SecretStr

from connectors.base import CRMAdapter
from connectors.hubspot import DEFAULT_EXTRA_FIELDS, HubSpotAdapter, HubSpotConfig
from connectors.hubspot import DEFAULT_FIELD_MAP as HUBSPOT_FIELD_MAP
from connectors.pipedrive import DEFAULT_FIELD_MAP as PIPEDRIVE_FIELD_MAP
from connectors.pipedrive import PipedriveAdapter, PipedriveConfig
from connectors.records import FieldSpec
from connectors.registry import CRM_NAMES
from connectors.salesforce import DEFAULT_CONTACT_FIELD_MAP, DEFAULT_LEAD_FIELD_MAP, SalesforceAdapter, SalesforceConfig
from connectors.sandbox import Sandbox
from connectors.sandbox.core import CRMApi
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.hubspot import SANDBOX_CREDENTIALS as HUBSPOT_CREDENTIALS
from connectors.sandbox.hubspot import HubSpotApi
from connectors.sandbox.pipedrive import SANDBOX_CREDENTIALS as PIPEDRIVE_CREDENTIALS
from connectors.sandbox.pipedrive import PipedriveApi
from connectors.sandbox.salesforce import SANDBOX_CREDENTIALS as SALESFORCE_CREDENTIALS
from connectors.sandbox.salesforce import SalesforceApi
from sync.policies import FieldsConfig
from sync.policies import writeback_specs as sync_writeback_specs
from sync.state import StateStore

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)  # the "now" of every generated test dataset and leadsync's fixed clock
CRMS: tuple[str, ...] = CRM_NAMES

# Counter endpoint names of the sandbox whose calls change data (name parts; see ``is_write``).
_WRITE_PARTS = frozenset(
    {"update", "batch_update", "create", "sobjects", "composite", "delete", "archive", "merge", "upsert", "put"}
)

A = TypeVar("A", bound=CRMApi)


@runtime_checkable
class Harness(Protocol):
    """One CRM's side of the contract suite."""

    crm: str
    writeback_specs: list[FieldSpec]  # the write-back fields leadsync creates, under this CRM's field names

    def adapter(self, **overrides: Any) -> CRMAdapter:
        """An adapter pointed at the sandbox; ``overrides`` replace config fields (``page_size=50``)."""
        ...

    def load(self, dataset: Dataset) -> dict[str, str]:
        """Load a dataset into this CRM of the sandbox; person key -> the id the adapter reports."""
        ...

    def touch(self, contact_id: str, **fields: Any) -> None:
        """Change fields (CRM names; none: just bump it) and the change timestamp, at the sandbox clock's now."""
        ...

    def add_activity(self, contact_id: str, type: str) -> str:
        """Add an activity of canonical ``type`` the way this CRM records it; returns its id."""
        ...

    def crm_value(self, contact_id: str, field: str) -> Any:
        """The stored value of ``field`` (a CRM field name, a write-back spec name) on the contact."""
        ...


def is_write(endpoint: str) -> bool:
    """Whether a sandbox counter endpoint changes data (batch updates, creates, composite, PUT/PATCH)."""
    return any(part in _WRITE_PARTS for part in endpoint.split(".")[1:])


def calls(delta: dict[str, dict[int, int]], *, writes: bool | None = None, prefix: str = "") -> int:
    """Requests in a counters delta, optionally only writes (True) or only non-writes (False)."""
    return sum(
        n
        for endpoint, statuses in delta.items()
        if endpoint.startswith(prefix) and (writes is None or is_write(endpoint) == writes)
        for n in statuses.values()
    )


def statuses(delta: dict[str, dict[int, int]]) -> set[int]:
    return {status for per in delta.values() for status in per}


def flatten(delta: dict[str, dict[int, int]]) -> dict[str, int]:
    return {endpoint: sum(per.values()) for endpoint, per in delta.items()}


def calls_since(sandbox: Sandbox, before: dict[str, dict[int, int]]) -> dict[str, int]:
    """Requests per endpoint since the counters' ``before`` snapshot."""
    return flatten(sandbox.counters.delta(before))


class MemoryCache:
    """A ``FieldsCache`` in memory (sync keeps it in the state store); ``puts`` counts the writes."""

    def __init__(self, blob: str | None = None) -> None:
        self.blob = blob
        self.puts = 0

    def get(self) -> str | None:
        return self.blob

    def put(self, blob: str) -> None:
        self.blob, self.puts = blob, self.puts + 1


def ids_of(pages: Sequence[Any]) -> list[str]:
    return [c.id for page in pages for c in page.contacts]


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0, what: str = "a condition") -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds, naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def sql_under_api(store: StateStore, query: str, *params: object) -> list[tuple[object, ...]]:
    """Reach under a state store's API, for arranging states the API never produces (a dead pid, a foreign host)."""
    cursor = store._execute(query, params)  # type: ignore[attr-defined]
    return list(cursor.fetchall()) if cursor.description else []


def api_of(sandbox: Sandbox, kind: type[A]) -> A:
    """The sandbox's emulation of one CRM, typed: ``api_of(sandbox, HubSpotApi)``."""
    api = sandbox.apis[kind.crm]
    assert isinstance(api, kind)
    return api


def writeback_specs(crm: str) -> list[FieldSpec]:
    """The fields a sync with the default settings writes on ``crm`` (what ``check --create-fields`` creates)."""
    return sync_writeback_specs(FieldsConfig(), crm)


# -- HubSpot ---------------------------------------------------------------------------------------------------
@dataclass
class HubSpotHarness:
    sandbox: Sandbox
    crm: str = "hubspot"
    writeback_specs: list[FieldSpec] = field(default_factory=lambda: writeback_specs("hubspot"))
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
        "hubspot.forms.list",
        "hubspot.form_submissions.list",
        "hubspot.email_events.list",
        "hubspot.events.list",
    )
    read_endpoints: tuple[str, ...] = ("hubspot.contacts.list", "hubspot.contacts.search")
    list_page_size: int = 100
    write_batch_size: int = 100

    @property
    def api(self) -> HubSpotApi:
        return api_of(self.sandbox, HubSpotApi)

    def adapter(self, **overrides: Any) -> HubSpotAdapter:
        extra = list(DEFAULT_EXTRA_FIELDS) + [s.name for s in self.writeback_specs]
        settings: dict[str, Any] = {
            "access_token": SecretStr(HUBSPOT_CREDENTIALS["private_app_token"]),
            "base_url": self.sandbox.hubspot_url,
            "extra_fields": tuple(extra),
            "sleep": self.sandbox.clock.advance,
            "monotonic": self.sandbox.clock.seconds,
            "now": self.sandbox.clock.now,
            # the paging tests check that a cursor is exact; the lag margin and overlap re-read that a real
            # portal needs are tested on their own (tests/connectors/test_hubspot_removals_lag.py)
            "search_lag_seconds": 0.0,
            "search_overlap_seconds": 0.0,
        }
        settings.update(overrides)
        return HubSpotAdapter(HubSpotConfig(**settings))

    def oauth_adapter(self, **overrides: Any) -> HubSpotAdapter:
        settings: dict[str, Any] = {
            "access_token": None,
            "client_id": HUBSPOT_CREDENTIALS["client_id"],
            "client_secret": SecretStr(HUBSPOT_CREDENTIALS["client_secret"]),
            "refresh_token": SecretStr(HUBSPOT_CREDENTIALS["refresh_token"]),
        }
        settings.update(overrides)
        return self.adapter(**settings)

    def load(self, dataset: Dataset) -> dict[str, str]:
        return self.api.load(dataset)

    def crm_name(self, field_name: str) -> str:
        return HUBSPOT_FIELD_MAP.get(field_name, field_name)

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
        if scenario == "incremental_unchanged":
            # the contacts search finds nothing; activity changes need no call (behaviour moves contact rollups)
            return {"hubspot.contacts.search": 1}
        if scenario == "write":
            updates = int(facts["updates"])
            return {"hubspot.contacts.batch_update": math.ceil(updates / self.write_batch_size)} if updates else {}
        if scenario == "check_fields_again":
            return {"hubspot.properties.list": 1}
        return None

    def calls(self, prefix: str = "hubspot.") -> int:
        return int(self.sandbox.counters.calls(prefix))


# -- Pipedrive -------------------------------------------------------------------------------------------------
@dataclass
class PipedriveHarness:
    """Field names not in the adapter's field map are Pipedrive field NAMES (or standard keys)."""

    sandbox: Sandbox
    crm: str = "pipedrive"
    writeback_specs: list[FieldSpec] = field(default_factory=lambda: writeback_specs("pipedrive"))
    read_endpoints: tuple[str, ...] = (
        "pipedrive.personFields.v2.list",
        "pipedrive.persons.v2.list",
        "pipedrive.organizations.v2.list",
    )

    @property
    def api(self) -> PipedriveApi:
        return api_of(self.sandbox, PipedriveApi)

    def adapter(self, **overrides: Any) -> PipedriveAdapter:
        settings: dict[str, Any] = {
            "base_url": self.sandbox.pipedrive_url,
            "api_token": SecretStr(PIPEDRIVE_CREDENTIALS["api_token"]),
            "extra_fields": tuple(s.name for s in self.writeback_specs),
            "sleep": self.sandbox.clock.advance,
            "monotonic": self.sandbox.clock.seconds,
        }
        settings.update(overrides)
        return PipedriveAdapter(PipedriveConfig(**settings))

    def oauth_adapter(self, **overrides: Any) -> PipedriveAdapter:
        settings: dict[str, Any] = {
            "api_token": None,
            "access_token": SecretStr(PIPEDRIVE_CREDENTIALS["access_token"]),
            "refresh_token": SecretStr(PIPEDRIVE_CREDENTIALS["refresh_token"]),
            "client_id": PIPEDRIVE_CREDENTIALS["client_id"],
            "client_secret": SecretStr(PIPEDRIVE_CREDENTIALS["client_secret"]),
            "oauth_url": self.sandbox.pipedrive_url,
        }
        settings.update(overrides)
        return self.adapter(**settings)

    def load(self, dataset: Dataset) -> dict[str, str]:
        return self.api.load(dataset)

    @staticmethod
    def crm_name(field_name: str) -> str:
        return PIPEDRIVE_FIELD_MAP.get(field_name, field_name)

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


# -- Salesforce ------------------------------------------------------------------------------------------------
# The write-back fields the contract suite's "admin" creates in Setup (on Lead and Contact): leadsync never does.
SALESFORCE_WRITEBACK_SPECS = [
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
    "multiselect": ("multipicklist", {"length": 4099}),
}
_SF_SECRET_FIELDS = {"password", "security_token", "consumer_secret", "private_key", "session_id"}


def create_salesforce_fields(
    api: SalesforceApi, specs: Sequence[FieldSpec], objects: tuple[str, ...] = ("Lead", "Contact")
) -> None:
    """Create ``specs`` on ``objects`` in the sandbox's Setup, as a Salesforce admin would."""
    for spec in specs:
        kind, extra = _SF_TYPES[spec.type]
        for sobject in objects:
            api.create_field(sobject, spec.name, kind, spec.label, picklist=spec.options, **extra)


def salesforce_config(sandbox: Sandbox, **overrides: Any) -> SalesforceConfig:
    """A password-flow config on the sandbox; plain strings given for secret fields are wrapped."""
    creds = SALESFORCE_CREDENTIALS
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
        values[key] = SecretStr(value) if key in _SF_SECRET_FIELDS and isinstance(value, str) else value
    return SalesforceConfig(**values)


@dataclass
class SalesforceHarness:
    sandbox: Sandbox
    crm: str = "salesforce"
    writeback_specs: list[FieldSpec] = field(default_factory=lambda: list(SALESFORCE_WRITEBACK_SPECS))
    read_endpoints: tuple[str, ...] = ("salesforce.query",)  # also matches salesforce.query_more
    write_batch_size: int = 1000  # 5 sObject Collections of 200 in one Composite call

    @property
    def api(self) -> SalesforceApi:
        return api_of(self.sandbox, SalesforceApi)

    def adapter(self, **overrides: Any) -> SalesforceAdapter:
        """A password-flow adapter on the sandbox, already logged in (so scenarios count REST calls only)."""
        overrides.setdefault("extra_fields", tuple(spec.name for spec in self.writeback_specs))
        adapter = SalesforceAdapter(salesforce_config(self.sandbox, **overrides))
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
            # the Lead semi-joins (Task, Event, CampaignMember, and on converted leads' Contacts) and the listing's
            # first batch, ordered 5 per Composite call; one batch each when every activity query fits in one
            return {"salesforce.composite_read": 2, **({"salesforce.query_more": pages - 1} if pages > 1 else {})}
        if scenario == "incremental_unchanged":  # read_contacts (queryAll: with removals) + read_activity_changes
            return {"salesforce.queryAll": 1, "salesforce.composite_read": 1}
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


# -- the factory -----------------------------------------------------------------------------------------------
_HARNESSES: dict[str, type[HubSpotHarness | PipedriveHarness | SalesforceHarness]] = {
    "hubspot": HubSpotHarness,
    "salesforce": SalesforceHarness,
    "pipedrive": PipedriveHarness,
}


def make_harness(crm: str, sandbox: Sandbox, *, salesforce_fields: bool = True) -> Any:
    """The harness of ``crm`` on a started ``sandbox``.

    For Salesforce, ``salesforce_fields`` creates the harness's write-back fields in Setup first (an admin's
    job there); a test whose sync creates its own fields passes False.
    """
    harness = _HARNESSES[crm](sandbox)
    if isinstance(harness, SalesforceHarness) and salesforce_fields:
        create_salesforce_fields(harness.api, harness.writeback_specs)
    return harness
