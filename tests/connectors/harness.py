"""What the contract suite needs from each CRM: a ``Harness``, made by ``tests/connectors/harness_<crm>.py``.

Each CRM's module exports ``make_harness(sandbox: Sandbox) -> Harness`` (the sandbox is started and empty).
``tests/connectors/test_contract.py`` runs ONE parametrized suite over every CRM whose harness module
imports, against a real ``Sandbox`` over real HTTP, asserting the calls it expects via ``sandbox.counters``.

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

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from connectors.base import CRMAdapter
from connectors.records import FieldSpec
from connectors.sandbox import Sandbox
from connectors.sandbox.dataset import Dataset

CRMS: tuple[str, ...] = ("hubspot", "salesforce", "pipedrive")
HARNESS_MODULES = {crm: f"tests.connectors.harness_{crm}" for crm in CRMS}

# Counter endpoint names of the sandbox whose calls change data (name parts; see ``is_write``).
_WRITE_PARTS = frozenset(
    {"update", "batch_update", "create", "sobjects", "composite", "delete", "archive", "merge", "upsert", "put"}
)


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


def ids_of(pages: Sequence[Any]) -> list[str]:
    return [c.id for page in pages for c in page.contacts]


__all__ = ["CRMS", "HARNESS_MODULES", "Harness", "Sandbox", "calls", "flatten", "ids_of", "is_write", "statuses"]
