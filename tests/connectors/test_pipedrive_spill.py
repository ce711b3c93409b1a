"""The Pipedrive activity stream spilled to a temporary SQLite file: order, served once, cleanup; the
organization names kept on disk once many; and the adapter's backfill through the sandbox serving the same
activities and company names as without them."""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.errors import TransientError
from connectors.pipedrive import PipedriveAdapter
from connectors.pipedrive import orgs as orgs_module
from connectors.pipedrive.spill import MAX_VARIABLES, ActivitySpill, CompactActivity, OrgNames
from connectors.sandbox import Sandbox
from connectors.sandbox.pipedrive import SANDBOX_CREDENTIALS
from tests.connectors.samples_pipedrive import people_dataset
from tests.harnesses import PipedriveHarness, make_harness


def _activity(activity_id: int, *, owner_id: int | None = 7, deal_id: int | None = None) -> CompactActivity:
    return CompactActivity(
        activity_id, "email", f"subject {activity_id}", 1.7e9 + activity_id, activity_id % 2 == 0, owner_id, deal_id
    )


@pytest.fixture
def spill_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where spills go during the test: tempfile's default directory, pointed at a fresh folder."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _spills(root: Path) -> list[Path]:
    return sorted(root.glob("leadsync-pipedrive-*"))


@pytest.fixture
def spill(spill_root: Path) -> Iterator[ActivitySpill]:
    made = ActivitySpill()
    yield made
    made.close()


# -- the spill store ------------------------------------------------------------------------------------------
def test_spill_serves_each_persons_activities_in_stream_order(spill):
    # two pages, persons interleaved as a stream by activity id delivers them
    spill.add([(10, _activity(1)), (20, _activity(2, owner_id=None, deal_id=5)), (10, _activity(3))])
    spill.add([(30, _activity(4)), (10, _activity(5)), (20, _activity(6))])
    spill.seal()

    got = spill.take([20, 10, 40])

    assert list(got) == [20, 10, 40]
    assert got[10] == [_activity(1), _activity(3), _activity(5)]
    assert got[20] == [_activity(2, owner_id=None, deal_id=5), _activity(6)]
    assert got[40] == []  # no activities in the stream: served, empty
    assert all(type(a.done) is bool for items in got.values() for a in items)


def test_spill_serves_a_person_once(spill):
    spill.add([(1, _activity(1)), (2, _activity(2)), (3, _activity(3))])

    assert spill.take([1, 2]) == {1: [_activity(1)], 2: [_activity(2)]}
    assert spill.take([2, 3, 2, 1]) == {3: [_activity(3)]}  # 1 and 2 were served: left for the caller
    assert spill.take([1, 2, 3]) == {}


def test_spill_takes_more_persons_than_one_query_may_name(spill):
    persons = range(1, 2 * MAX_VARIABLES + 50)
    spill.add((person_id, _activity(person_id)) for person_id in persons)

    got = spill.take(list(persons))

    assert got == {person_id: [_activity(person_id)] for person_id in persons}


def test_spill_file_is_deleted_on_close_and_when_garbage(spill_root):
    first = ActivitySpill()
    first.add([(1, _activity(1))])
    assert first.path.is_file() and first.path.parent.parent == spill_root
    first.close()
    first.close()  # idempotent
    assert first.closed and _spills(spill_root) == []

    second = ActivitySpill()
    second.add([(1, _activity(1))])
    del second
    gc.collect()
    assert _spills(spill_root) == []


def test_a_sealed_spill_refuses_more_activities(spill):
    spill.add([(1, _activity(1))])
    spill.seal()
    with pytest.raises(RuntimeError, match="sealed"):
        spill.add([(1, _activity(2))])


def test_org_names_move_to_disk_past_the_limit_and_answer_the_same(spill_root):
    names = OrgNames(in_memory=3)
    names.update([(1, "Acme"), (2, "Globex")])
    assert not names.spilled and _spills(spill_root) == []
    assert names.known([2, 9, 1]) == {2: "Globex", 1: "Acme"}

    names.update([(3, "Initech"), (4, "Umbrella")])  # 4 names > 3: on disk from now on
    assert names.spilled and len(_spills(spill_root)) == 1
    names.update([(5, "Hooli"), (1, "Acme Corp")])  # a later page may rename one
    ids = list(range(1, MAX_VARIABLES + 50))  # more ids than one query may name
    assert names.known(ids) == {1: "Acme Corp", 2: "Globex", 3: "Initech", 4: "Umbrella", 5: "Hooli"}

    names.close()
    names.close()
    assert _spills(spill_root) == []
    assert names.known([1]) == {}


# -- the adapter over the sandbox -----------------------------------------------------------------------------
@pytest.fixture
def h(sandbox: Sandbox) -> PipedriveHarness:
    return make_harness("pipedrive", sandbox)


def _backfill(
    h: PipedriveHarness, adapters: list[PipedriveAdapter], **overrides: object
) -> tuple[PipedriveAdapter, list[str]]:
    adapter = h.adapter(**overrides)
    adapters.append(adapter)
    return adapter, [c.id for page in adapter.read_contacts(None) for c in page.contacts]


def test_backfill_streams_the_same_activities_as_per_person_reads(sandbox, h, adapters, spill_root):
    h.load(people_dataset(40, activities=3))
    streaming, contacts = _backfill(h, adapters, page_size=50)  # 120 activities: 3 pages of stream
    per_person = h.adapter(activity_stream_threshold=10**9)  # never streams
    adapters.append(per_person)

    before = sandbox.counters.snapshot()
    streamed = {**streaming.read_activities(contacts[:25]), **streaming.read_activities(contacts[25:])}
    assert sandbox.counters.delta(before) == {"pipedrive.activities.v2.list": {200: 3}}
    assert len(_spills(spill_root)) == 1

    assert streamed == per_person.read_activities(contacts)
    assert all(len(items) == 3 for items in streamed.values())


def test_a_person_served_from_the_stream_is_read_again_by_person(sandbox, h, adapters, spill_root):
    ids = list(h.load(people_dataset(30, activities=2)).values())
    adapter, contacts = _backfill(h, adapters)
    first = adapter.read_activities(contacts)

    before = sandbox.counters.snapshot()
    again = adapter.read_activities(ids[:2])
    assert sandbox.counters.delta(before) == {"pipedrive.activities.v2.list": {200: 2}}
    assert again == {cid: first[cid] for cid in ids[:2]}


def test_the_spill_holds_no_credential_and_goes_with_close_or_a_new_read(h, adapters, spill_root):
    h.load(people_dataset(30, activities=2))
    adapter, contacts = _backfill(h, adapters)
    adapter.read_activities(contacts)
    (spilled,) = _spills(spill_root)
    content = (spilled / "activities.sqlite").read_bytes()
    assert b"Monthly newsletter" in content
    assert all(secret.encode() not in content for secret in SANDBOX_CREDENTIALS.values())

    list(adapter.read_contacts(None))  # a new run: the previous stream is stale
    assert _spills(spill_root) == []
    adapter.read_activities(contacts)
    assert len(_spills(spill_root)) == 1
    adapter.close()
    assert _spills(spill_root) == []


def test_a_stream_cut_short_leaves_no_spill_and_is_read_again_whole(sandbox, h, adapters, spill_root):
    ids = h.load(people_dataset(30, activities=2))
    adapter, contacts = _backfill(h, adapters, max_attempts=1)
    sandbox.faults.configure(rate_5xx=1.0, endpoints=("pipedrive.activities.v2.list",))
    with pytest.raises(TransientError):
        adapter.read_activities(contacts)
    assert _spills(spill_root) == []

    sandbox.faults.configure(rate_5xx=0.0)
    got = adapter.read_activities(contacts)
    assert {cid: len(items) for cid, items in got.items()} == dict.fromkeys(ids.values(), 2)


def test_company_names_are_the_same_when_the_organizations_spill(h, adapters, spill_root, monkeypatch):
    h.load(people_dataset(30, activities=1))
    in_memory = h.adapter()
    adapters.append(in_memory)
    expected = {c.id: c.fields.get("company") for page in in_memory.read_contacts(None) for c in page.contacts}
    assert {name for name in expected.values()} == {f"Corp {i}" for i in range(7)}

    monkeypatch.setattr(orgs_module, "OrgNames", lambda: OrgNames(in_memory=2))
    spilling = h.adapter(page_size=10)
    adapters.append(spilling)
    got = {c.id: c.fields.get("company") for page in spilling.read_contacts(None) for c in page.contacts}
    assert got == expected
    assert any((folder / "organizations.sqlite").exists() for folder in _spills(spill_root))
    spilling.close()
    assert not any((folder / "organizations.sqlite").exists() for folder in _spills(spill_root))
