"""ONE contract suite for every CRM adapter, over real HTTP against a real ``Sandbox``.

Parametrized over HubSpot, Salesforce and Pipedrive through ``tests.harnesses.make_harness``.  Every test
checks the calls it expects on the sandbox's counters: no writes where none belong, the number of calls a
read needs, and that the sandbox counted exactly the calls the adapter says it made (``usage()``), so no
call goes unaccounted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import CRMAdapter
from connectors.records import ActivityType, ContactPage, FieldSpec, FieldUpdate, WriteStatus
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.seed import generate
from tests.harnesses import CRMS, NOW, Harness, calls, flatten, ids_of, is_write, make_harness, statuses

# Contacts per call the adapter is asked for (``page_size``); the API's own maximum per call; records per
# write call the API allows (HubSpot batch update 100, Salesforce sObject Collections 200, Pipedrive one PUT).
PAGE = {"hubspot": 100, "salesforce": 200, "pipedrive": 100}
API_MAX_PAGE = {"hubspot": 100, "salesforce": 2000, "pipedrive": 500}
WRITE_BATCH = {"hubspot": 100, "salesforce": 200, "pipedrive": 1}
SETUP_CALLS = 3  # field metadata, owners or a version probe an adapter may make before it pages
# The endpoints that page through contacts; other reads (field metadata, the organisations a page of Pipedrive
# persons belongs to) are allowed at most one per page plus setup.
CONTACT_ENDPOINTS = {
    "hubspot": "hubspot.contacts.",
    "salesforce": "salesforce.query",
    "pipedrive": "pipedrive.persons.",
}
LIMITED = {"hubspot": 429, "salesforce": 403, "pipedrive": 429}  # Salesforce refuses with 403 REQUEST_LIMIT

N = 450


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(N, seed=11, now=NOW, activities_per_contact=3.0, owners=4)


@pytest.fixture(params=CRMS)
def crm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def harness(crm: str, sandbox: Sandbox) -> Harness:
    return make_harness(crm, sandbox)


@pytest.fixture
def loaded(harness: Harness, dataset: Dataset) -> dict[str, str]:
    return harness.load(dataset)


class Calls:
    """Counts one stretch of adapter work on the sandbox and checks it against the adapter's own count."""

    def __init__(self, sandbox: Sandbox, harness: Harness, adapter: CRMAdapter):
        self.sandbox, self.crm, self.adapter = sandbox, harness.crm, adapter
        self.harness = harness
        self._counters = sandbox.counters.snapshot()
        self._usage = dict(adapter.usage().calls_by_endpoint)

    def delta(self) -> dict[str, dict[int, int]]:
        return {e: s for e, s in self.sandbox.counters.delta(self._counters).items() if e.startswith(f"{self.crm}.")}

    def check(
        self,
        *,
        writes: int | None = 0,
        max_reads: int | None = None,
        max_pages: int | None = None,
        ok_only: bool = True,
    ) -> dict[str, int]:
        """Assert the calls made since construction; ``max_pages`` bounds the contact-paging calls, and the
        other reads to one per page plus ``SETUP_CALLS``."""
        delta = self.delta()
        made = sum(self.adapter.usage().calls_by_endpoint.values()) - sum(self._usage.values())
        assert calls(delta) == made, f"sandbox counted {flatten(delta)}, the adapter says it made {made} calls"
        if writes is not None:
            assert calls(delta, writes=True) == writes, f"write calls in {flatten(delta)}"
        if max_reads is not None:
            assert calls(delta, writes=False) <= max_reads, f"read calls in {flatten(delta)}"
        if max_pages is not None:
            paging = calls(delta, writes=False, prefix=CONTACT_ENDPOINTS[self.crm])
            assert paging <= max_pages, f"contact paging calls in {flatten(delta)}"
            assert calls(delta, writes=False) - paging <= max_pages + SETUP_CALLS, f"other reads in {flatten(delta)}"
        if ok_only:
            assert max(statuses(delta), default=200) < 400, f"failed calls in {delta}"
        return flatten(delta)

    def expect(self, scenario: str, **facts: Any) -> None:
        expected_calls = getattr(self.harness, "expected_calls", None)
        expected = expected_calls(scenario, **facts) if expected_calls is not None else None
        if expected is not None:
            assert flatten(self.delta()) == dict(expected), f"{scenario}: calls per endpoint"


def read_all(adapter: CRMAdapter, cursor: str | None) -> list[ContactPage]:
    pages = []
    for page in adapter.read_contacts(cursor):
        pages.append(page)
        assert len(pages) < 10_000, "read_contacts does not end"
    return pages


def min_calls(crm: str, n: int, page: int) -> int:
    return max(1, math.ceil(n / min(page, API_MAX_PAGE[crm])))


@pytest.fixture
def adapter(harness: Harness, loaded: dict[str, str]) -> Iterator[CRMAdapter]:
    a = harness.adapter(page_size=PAGE[harness.crm])
    yield a
    a.close()


# -- reading -------------------------------------------------------------------------------------------
def test_backfill_reads_every_contact_exactly_once(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter
) -> None:
    crm = harness.crm
    counted = Calls(sandbox, harness, adapter)
    pages = read_all(adapter, None)
    ids = ids_of(pages)
    assert len(ids) == len(set(ids)) == N, "a contact was read twice or missed"
    assert set(ids) == set(loaded.values())
    # (a backfill may page in id order: HubSpot's list endpoint cannot sort; incremental reads are checked
    # for oldest-change-first below)
    assert all(c.updated_at.tzinfo is not None for page in pages for c in page.contacts)
    assert pages[-1].cursor is not None
    counted.check(writes=0, max_pages=min_calls(crm, N, PAGE[crm]) + 1)
    counted.expect("backfill", contacts=N, page_size=PAGE[crm])


def test_resuming_from_any_page_cursor_loses_and_repeats_nothing(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter
) -> None:
    pages = read_all(adapter, None)
    assert len(pages) >= 2
    middle = len(pages) // 2
    done = set(ids_of(pages[: middle + 1]))
    rest = set(ids_of(pages[middle + 1 :]))
    fresh = harness.adapter(page_size=PAGE[harness.crm])
    counted = Calls(sandbox, harness, fresh)
    resumed = ids_of(read_all(fresh, pages[middle].cursor))
    assert not done & set(resumed), "records already processed came back"
    assert rest <= set(resumed), f"{len(rest - set(resumed))} records after the cursor were lost"
    assert len(resumed) == len(set(resumed))
    counted.check(writes=0, max_pages=min_calls(harness.crm, len(rest), PAGE[harness.crm]) + 1)
    fresh.close()


def test_cursor_moves_forward_and_incremental_reads_only_changes(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter
) -> None:
    first = read_all(adapter, None)[-1].cursor
    contact_ids = sorted(loaded.values())
    sandbox.clock.advance(3600)
    touched = set(contact_ids[:3])
    for cid in sorted(touched):
        harness.touch(cid)
    counted = Calls(sandbox, harness, adapter)
    pages = read_all(adapter, first)
    assert set(ids_of(pages)) == touched
    stamps = [c.updated_at for page in pages for c in page.contacts]
    assert stamps == sorted(stamps), "incremental reads yield the oldest change first"
    second = pages[-1].cursor if pages else first
    counted.check(writes=0, max_pages=1)
    # the cursor moved: from it, nothing; touch two more, and only they come back
    assert ids_of(read_all(adapter, second)) == []
    sandbox.clock.advance(3600)
    again = set(contact_ids[10:12])
    for cid in sorted(again):
        harness.touch(cid)
    assert set(ids_of(read_all(adapter, second))) == again
    assert set(ids_of(read_all(adapter, first))) == touched | again  # an older cursor still sees both


def test_contacts_changed_in_the_same_instant_are_neither_lost_nor_repeated(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str]
) -> None:
    crm = harness.crm
    small = {"hubspot": 50, "salesforce": 50, "pipedrive": 50}[crm]
    adapter = harness.adapter(page_size=small)
    cursor = read_all(adapter, None)[-1].cursor
    sandbox.clock.advance(3600)
    block = sorted(loaded.values())[: 3 * small + 7]  # several pages, all with one timestamp
    with sandbox.clock.frozen():
        for cid in block:
            harness.touch(cid)
    counted = Calls(sandbox, harness, adapter)
    pages = read_all(adapter, cursor)
    ids = ids_of(pages)
    assert len(ids) == len(set(ids)) == len(block) and set(ids) == set(block)
    stamps = [c.updated_at for page in pages for c in page.contacts]
    assert len(set(stamps)) == 1 and stamps[0].tzinfo is not None
    counted.check(writes=0, max_pages=min_calls(crm, len(block), small) + 1)
    # stopping inside the equal-timestamp block and resuming with a fresh adapter loses and repeats nothing
    for stop in (0, len(pages) // 2):
        fresh = harness.adapter(page_size=small)
        resumed = ids_of(read_all(fresh, pages[stop].cursor))
        done = set(ids_of(pages[: stop + 1]))
        assert not done & set(resumed) and set(resumed) == set(block) - done
        fresh.close()
    adapter.close()


def test_unchanged_incremental_run_costs_at_most_three_calls_and_no_writes(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter
) -> None:
    contact_cursor = read_all(adapter, None)[-1].cursor
    activity_cursor = None
    for page in adapter.read_activity_changes(None):
        activity_cursor = page.cursor
    sandbox.clock.advance(900)
    counted = Calls(sandbox, harness, adapter)
    assert ids_of(read_all(adapter, contact_cursor)) == []
    changed = [a for page in adapter.read_activity_changes(activity_cursor) for a in page.activities]
    assert changed == []
    made = counted.check(writes=0)
    assert sum(made.values()) <= 3, f"an unchanged incremental run made {made}"
    counted.expect("incremental_unchanged", contacts=N, page_size=PAGE[harness.crm])


# -- writing -------------------------------------------------------------------------------------------
def _value(spec: FieldSpec, i: int) -> Any:
    if spec.type == "number":
        return 40 + i
    if spec.type == "datetime":
        return (datetime(2025, 6, 1, 12, tzinfo=UTC) + timedelta(hours=i)).isoformat()
    if spec.type == "enumeration" and spec.options:
        return spec.options[i % len(spec.options)]
    return f"P{i % 3 + 1}"


def _same(spec: FieldSpec, expected: Any, stored: Any) -> bool:
    if stored is None:
        return False
    if spec.type == "number":
        return float(stored) == float(expected)
    if spec.type == "datetime":
        if isinstance(stored, int | float) or str(stored).isdigit():  # epoch milliseconds (HubSpot)
            got = datetime.fromtimestamp(int(stored) / 1000, UTC)
        else:
            got = datetime.fromisoformat(str(stored).replace("Z", "+00:00"))
        return abs(got - datetime.fromisoformat(expected)) < timedelta(seconds=1)
    return str(stored) == str(expected)


def _updates(harness: Harness, ids: list[str], round_: int = 0) -> list[FieldUpdate]:
    return [
        FieldUpdate(cid, {spec.name: _value(spec, i + round_) for spec in harness.writeback_specs})
        for i, cid in enumerate(ids)
    ]


def _ensure_fields(harness: Harness, adapter: CRMAdapter) -> None:
    check = adapter.check_fields(harness.writeback_specs, create=True)
    if check.missing:
        pytest.skip(f"{harness.crm}: write-back fields cannot be created here: {check.instructions}")


def _writable(adapter: CRMAdapter, ids: list[str], n: int) -> list[str]:
    """``n`` of ``ids`` the CRM lets anyone update (not a converted Salesforce lead), in order."""
    allowed = {c.id for c in adapter.get_contacts(ids) if not c.protected}
    chosen = [cid for cid in ids if cid in allowed][:n]
    assert len(chosen) == n
    return chosen


def _write_calls(harness: Harness, n: int) -> int:
    per_call = getattr(harness, "write_batch_size", None) or WRITE_BATCH[harness.crm]
    return math.ceil(n / per_call)


def test_write_round_trip(sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter) -> None:
    _ensure_fields(harness, adapter)
    ids = _writable(adapter, sorted(loaded.values())[:20], 7)
    updates = _updates(harness, ids)
    counted = Calls(sandbox, harness, adapter)
    results = adapter.write(updates)
    assert [r.status for r in results] == [WriteStatus.OK] * len(ids), results
    assert [r.contact_id for r in results] == ids
    counted.check(writes=_write_calls(harness, len(ids)))
    counted.expect("write", updates=len(ids))
    for update in updates:
        for spec in harness.writeback_specs:
            stored = harness.crm_value(update.contact_id, spec.name)
            assert _same(spec, update.values[spec.name], stored), (update.contact_id, spec.name, stored)


def test_partial_batch_failures_are_reported_per_record(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter
) -> None:
    _ensure_fields(harness, adapter)
    ids = _writable(adapter, sorted(loaded.values())[20:40], 6)
    key = getattr(harness, "contact_key", lambda cid: cid)
    failing = {ids[1], ids[4]}
    sandbox.faults.configure(fail_records=[key(cid) for cid in failing])
    score = next(s for s in harness.writeback_specs if s.type in ("number", "string"))
    before = {cid: harness.crm_value(cid, score.name) for cid in ids}
    updates = _updates(harness, ids, round_=3)
    counted = Calls(sandbox, harness, adapter)
    results = adapter.write(updates)
    assert [r.contact_id or r.requested_id for r in results] == ids  # one result per update, in order
    for cid, result in zip(ids, results, strict=True):
        if cid in failing:
            assert result.status in (WriteStatus.FAILED, WriteStatus.RETRY) and result.error, result
            assert harness.crm_value(cid, score.name) == before[cid]
        else:
            assert result.status is WriteStatus.OK, result
            assert _same(score, updates[ids.index(cid)].values[score.name], harness.crm_value(cid, score.name))
    counted.check(writes=_write_calls(harness, len(ids)), ok_only=False)
    assert sandbox.faults.injected["record"] == len(failing)
    # the failure was transient: once the CRM accepts them again, retrying exactly those records succeeds
    sandbox.faults.clear()
    retry = [u for u in updates if u.contact_id in failing]
    counted = Calls(sandbox, harness, adapter)
    assert [r.status for r in adapter.write(retry)] == [WriteStatus.OK, WriteStatus.OK]
    counted.check(writes=_write_calls(harness, len(retry)))


def test_random_record_failures_clear_on_retry(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter
) -> None:
    _ensure_fields(harness, adapter)
    sandbox.faults.configure(rate_record_failure=0.4, only=[harness.crm])
    pending = _updates(harness, _writable(adapter, sorted(loaded.values())[40:80], 20))
    rounds = expected_writes = 0
    counted = Calls(sandbox, harness, adapter)
    while pending and rounds < 12:
        expected_writes += _write_calls(harness, len(pending))
        results = adapter.write(pending)
        assert len(results) == len(pending)
        assert all(r.status in (WriteStatus.OK, WriteStatus.RETRY, WriteStatus.FAILED) for r in results)
        pending = [u for u, r in zip(pending, results, strict=True) if r.status is not WriteStatus.OK]
        rounds += 1
    assert pending == [] and rounds > 1
    assert sandbox.faults.injected["record"] > 0
    counted.check(writes=expected_writes, ok_only=False)


def test_creating_fields_is_idempotent(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter
) -> None:
    names = {s.name for s in harness.writeback_specs}
    counted = Calls(sandbox, harness, adapter)
    first = adapter.check_fields(harness.writeback_specs, create=True)
    made_first = counted.check(writes=None)
    if first.missing:  # the CRM does not let leadsync create fields: it must say what to do by hand
        assert first.instructions and not first.created
    else:  # created now, or there already (a sandbox org may ship with them, as an admin would have made them)
        assert set(first.created) | set(first.present) == names
        assert sum(n for e, n in made_first.items() if is_write(e)) >= (1 if first.created else 0)
    counted = Calls(sandbox, harness, adapter)
    second = adapter.check_fields(harness.writeback_specs, create=True)
    counted.check(writes=0)
    counted.expect("check_fields_again", fields=len(names))
    assert second.created == ()
    assert set(second.present) == set(first.present) | set(first.created)
    assert set(second.missing) == set(first.missing)


# -- rate limits ---------------------------------------------------------------------------------------
@pytest.fixture
def limited_sandbox() -> Iterator[Sandbox]:
    limits: dict[str, dict[str, Any]] = {"hubspot": {"burst_per_10s": 6}, "pipedrive": {"burst": 4}}
    with Sandbox(SandboxConfig(seed=7, time_scale=20.0, limits=limits)) as sb:
        yield sb


def test_steady_state_paces_below_the_rate_limit(crm: str, limited_sandbox: Sandbox, dataset: Dataset) -> None:
    harness = make_harness(crm, limited_sandbox)
    per_call = getattr(harness, "list_page_size", None) or 5  # contacts per list call at page_size=5
    loaded = harness.load(generate(12 * per_call, seed=3, now=NOW, activities_per_contact=0.5, owners=2))
    adapter = harness.adapter(page_size=5)
    counted = Calls(limited_sandbox, harness, adapter)
    ids = ids_of(read_all(adapter, None))
    assert sorted(ids) == sorted(loaded.values())
    made = counted.check(writes=0)
    assert sum(made.values()) >= 12  # more calls than one window allows, so pacing had to work
    assert LIMITED[crm] not in statuses(counted.delta()), counted.delta()
    usage = adapter.usage()
    assert usage.quota_limit is not None and usage.quota_used is not None
    adapter.close()


# -- activities ----------------------------------------------------------------------------------------
def test_activities_map_to_canonical_types(
    sandbox: Sandbox, harness: Harness, loaded: dict[str, str], adapter: CRMAdapter, dataset: Dataset
) -> None:
    canonical = {t.value for t in ActivityType}
    cid = sorted(loaded.values())[5]
    added: dict[str, str] = {}
    for kind in ActivityType:
        if kind is ActivityType.OTHER:
            continue
        try:
            added[harness.add_activity(cid, kind.value)] = kind.value
        except (ValueError, NotImplementedError, KeyError):
            continue  # this CRM has no way to record that kind of activity
    assert len(added) >= 3, f"{harness.crm} records only {sorted(added.values())}"
    busy = [loaded[p.key] for p in dataset.people[:40]]
    counted = Calls(sandbox, harness, adapter)
    by_contact = adapter.read_activities([cid, *busy])
    counted.check(writes=0, max_reads=len(busy) // 2)  # batched: far fewer calls than contacts
    mine = {a.id: a for a in by_contact.get(cid, [])}
    for activity_id, added_type in added.items():
        assert activity_id in mine, f"added {added_type} activity {activity_id} not read back: {sorted(mine)}"
        assert mine[activity_id].type == added_type and mine[activity_id].contact_id == cid
    everything = [a for acts in by_contact.values() for a in acts]
    assert everything and {a.type for a in everything} <= canonical
    assert all(a.occurred_at.tzinfo is not None for a in everything)
    assert set(by_contact) <= {cid, *busy}
