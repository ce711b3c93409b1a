"""The Pipedrive adapter against the sandbox over real HTTP, with exact call counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.base import CRMAdapter
from connectors.errors import AuthError, ConfigurationError, QuotaExhausted
from connectors.pipedrive import PipedriveAdapter, PipedriveConfig, WriteQuotaExhausted
from connectors.records import ActivityType, FieldUpdate, WriteStatus
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.pipedrive import ACTIVITY_TYPES
from tests.connectors.samples_pipedrive import people_dataset
from tests.harnesses import MemoryCache, PipedriveHarness, calls_since, ids_of, make_harness

LATER = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)  # after every sample timestamp, before the sandbox's "now"


@pytest.fixture
def h(sandbox: Sandbox) -> PipedriveHarness:
    return make_harness("pipedrive", sandbox)


def _new(h: PipedriveHarness, adapters: list[PipedriveAdapter], **overrides: Any) -> PipedriveAdapter:
    adapter = h.adapter(**overrides)
    adapters.append(adapter)
    return adapter


def _since(cursor: str | None) -> str | None:
    return json.loads(cursor)["since"] if cursor else None


# -- reading persons --------------------------------------------------------------------------------------
def test_backfill_reads_every_person_once_with_fields_by_name(sandbox, h, adapters):
    ids = h.load(people_dataset(120, per_second=4))
    before = sandbox.counters.snapshot()
    adapter = _new(h, adapters, page_size=50)
    assert isinstance(adapter, CRMAdapter)

    pages = list(adapter.read_contacts(None))

    assert [len(p.contacts) for p in pages] == [50, 50, 20] and [p.done for p in pages] == [False, False, True]
    assert sorted(ids_of(pages), key=int) == sorted(ids.values(), key=int)
    assert calls_since(sandbox, before) == {
        "pipedrive.personFields.v2.list": 1,
        "pipedrive.persons.v2.list": 3,
        "pipedrive.organizations.v2.list": 1,  # 7 organizations, asked by ids once
    }
    third = next(c for c in pages[0].contacts if c.id == ids["p0003"])
    assert third.updated_at == datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    assert {k: third.fields[k] for k in ("email", "title", "company", "lifecycle_stage", "owner_id", "country")} == {
        "email": "p3@corp3.example",
        "title": "VP Sales",
        "company": "Corp 3",
        "lifecycle_stage": "Opportunity",
        "owner_id": "1",
        "country": "Germany",
    }
    assert not any(len(k) == 40 for c in ids_of(pages) for k in third.fields)  # names, never hash keys


def test_cursor_is_monotonic_and_each_page_cursor_resumes_exactly(sandbox, h, adapters):
    ids = h.load(people_dataset(60, per_second=7))  # 7 people per second: ties across page boundaries
    pages = list(_new(h, adapters, page_size=10).read_contacts(None))
    sinces = [_since(p.cursor) or "" for p in pages]
    assert sinces == sorted(sinces)

    for k in (0, 2, 4):
        before = sandbox.counters.snapshot()
        rest = ids_of(list(_new(h, adapters, page_size=10).read_contacts(pages[k].cursor)))
        done = ids_of(pages[: k + 1])
        assert sorted(done + rest, key=int) == sorted(ids.values(), key=int)  # nothing lost, nothing twice
        assert calls_since(sandbox, before)["pipedrive.persons.v2.list"] == 6 - k  # the boundary second is read again


def test_incremental_overlap_dedupes_many_changes_in_one_second(sandbox, h, pd, adapters):
    ids = h.load(people_dataset(40))
    backfill = list(_new(h, adapters).read_contacts(None))
    start = backfill[-1].cursor
    first_wave = [ids[f"p{i:04d}"] for i in range(25)]
    for contact_id in first_wave:
        h.touch(contact_id, at=LATER)  # 25 persons in the same second

    reader = _new(h, adapters, page_size=10).read_contacts(start)
    page = next(reader)  # the run stops after its first page: the boundary person (already seen) + 9 of the 25
    assert [c.id for c in page.contacts] == first_wave[:9] and not page.done
    second_wave = [ids[f"p{i:04d}"] for i in range(30, 35)]
    for contact_id in second_wave:
        h.touch(contact_id, at=LATER)  # 5 more in that same second, after the read
    h.touch(first_wave[0], at=LATER, title="Chief Revenue Officer")  # handled, then changed again within the second

    before = sandbox.counters.snapshot()
    resumed = list(_new(h, adapters, page_size=10).read_contacts(page.cursor))
    again = ids_of(resumed)
    assert sorted(again, key=int) == sorted([first_wave[0], *first_wave[9:], *second_wave], key=int)
    assert len(again) == len(set(again))
    assert (
        next(c for p in resumed for c in p.contacts if c.id == first_wave[0]).fields["title"] == "Chief Revenue Officer"
    )
    assert calls_since(sandbox, before) == {
        "pipedrive.personFields.v2.list": 1,
        "pipedrive.persons.v2.list": 3,
        "pipedrive.organizations.v2.list": 2,  # the first two pages each meet organizations not seen yet
    }

    before = sandbox.counters.snapshot()
    assert ids_of(list(_new(h, adapters).read_contacts(resumed[-1].cursor))) == []
    assert calls_since(sandbox, before) == {"pipedrive.personFields.v2.list": 1, "pipedrive.persons.v2.list": 1}


def test_unchanged_incremental_costs_two_calls_with_the_fields_cached(sandbox, h, adapters):
    h.load(people_dataset(30, activities=3))
    started = sandbox.clock.now()
    cache = MemoryCache()
    first = _new(h, adapters, fields_cache=cache)
    contact_cursor = list(first.read_contacts(None))[-1].cursor
    activity_cursor = first.cursor_at(started - timedelta(minutes=5))

    before = sandbox.counters.snapshot()
    second = _new(h, adapters, fields_cache=cache)
    contacts = ids_of(list(second.read_contacts(contact_cursor)))
    activities = [a for page in second.read_activity_changes(activity_cursor) for a in page.activities]

    assert contacts == [] and activities == []
    assert calls_since(sandbox, before) == {"pipedrive.persons.v2.list": 1, "pipedrive.activities.v2.list": 1}
    assert second.usage().calls_by_endpoint == {"persons.list": 1, "activities.list": 1}


def test_a_field_missing_from_the_cache_is_read_again_once(sandbox, h, adapters):
    h.load(people_dataset(3))
    cache = MemoryCache()
    list(_new(h, adapters, fields_cache=cache, extra_fields=()).read_contacts(None))
    created = _new(h, adapters).check_fields(h.writeback_specs, create=True)  # as if made in Pipedrive's UI
    assert created.missing == ()
    names = tuple(s.name for s in h.writeback_specs)

    def field_reads(extra: tuple[str, ...]) -> int:
        before = sandbox.counters.snapshot()
        contacts = [
            c for p in _new(h, adapters, fields_cache=cache, extra_fields=extra).read_contacts(None) for c in p.contacts
        ]
        assert all(set(names) <= set(c.fields) for c in contacts)
        return calls_since(sandbox, before).get("pipedrive.personFields.v2.list", 0)

    assert field_reads(names) == 1  # the cache missed the new fields
    assert field_reads(names) == 0  # now cached
    assert field_reads((*names, "No such field")) == 1  # a name Pipedrive lacks is looked for once ...
    assert field_reads((*names, "No such field")) == 0  # ... and believed missing for a day, not read every run


def test_get_contacts_asks_by_ids_in_batches_of_100(sandbox, h, adapters):
    ids = h.load(people_dataset(150))
    before = sandbox.counters.snapshot()
    got = _new(h, adapters).get_contacts([*ids.values(), "999999", "not-an-id"])

    assert sorted(c.id for c in got) == sorted(ids.values())
    assert calls_since(sandbox, before) == {
        "pipedrive.personFields.v2.list": 1,
        "pipedrive.persons.v2.list": 2,
        "pipedrive.organizations.v2.list": 1,
    }


def test_a_foreign_cursor_is_a_configuration_error(h, adapters):
    adapter = _new(h, adapters)
    with pytest.raises(ConfigurationError, match="clear it to resync"):
        next(adapter.read_contacts('{"v": 1, "kind": "activities", "since": null}'))


# -- activities -------------------------------------------------------------------------------------------
def test_activity_types_map_back_to_canonical_types(sandbox, h, adapters):
    pid = h.load(people_dataset(1))["p0000"]
    for kind in ACTIVITY_TYPES:
        h.add_activity(pid, kind)
    before = sandbox.counters.snapshot()

    got = _new(h, adapters).read_activities([pid])[pid]

    assert sorted(a.type for a in got) == sorted(ACTIVITY_TYPES)
    assert {a.type for a in got} <= {t.value for t in ActivityType}
    assert {a.source_type for a in got if a.type.startswith("email")} == {"email"}
    assert all(a.contact_id == pid and a.occurred_at.tzinfo is not None for a in got)
    assert calls_since(sandbox, before) == {"pipedrive.activities.v2.list": 1}  # one person: asked by person_id


def test_activity_type_map_is_configurable(sandbox, h, adapters):
    pid = h.load(people_dataset(1))["p0000"]
    h.add_activity(pid, "lunch")
    adapter = _new(h, adapters, activity_type_map={"lunch": "meeting"})
    assert [a.type for a in adapter.read_activities([pid])[pid]] == ["meeting"]


def test_read_activities_streams_once_for_a_backfill(sandbox, h, adapters):
    ids = h.load(people_dataset(30, activities=4))
    adapter = _new(h, adapters)
    contacts = [c.id for p in adapter.read_contacts(None) for c in p.contacts]

    before = sandbox.counters.snapshot()
    first = adapter.read_activities(contacts[:15])
    second = adapter.read_activities(contacts[15:])
    assert calls_since(sandbox, before) == {"pipedrive.activities.v2.list": 1}  # 120 activities: one page, served twice
    assert {k: len(v) for k, v in {**first, **second}.items()} == dict.fromkeys(ids.values(), 4)


def test_read_activities_per_person_or_stream_by_cost(sandbox, h, adapters):
    ids = list(h.load(people_dataset(30, activities=4)).values())
    before = sandbox.counters.snapshot()
    few = _new(h, adapters).read_activities(ids[:3])
    assert calls_since(sandbox, before) == {"pipedrive.activities.v2.list": 3}
    assert [len(v) for v in few.values()] == [4, 4, 4]

    before = sandbox.counters.snapshot()
    many = _new(h, adapters).read_activities(ids[:10])  # newest id 120 -> 1 page <= 10 persons: stream
    assert calls_since(sandbox, before) == {"pipedrive.activities.v2.list": 2}  # the id probe + the stream
    assert [len(v) for v in many.values()] == [4] * 10


def test_activity_changes_are_read_without_the_person_changing(sandbox, h, pd, adapters):
    ids = h.load(people_dataset(5, activities=1))
    adapter = _new(h, adapters)
    contact_cursor = list(adapter.read_contacts(None))[-1].cursor
    mark = adapter.cursor_at(sandbox.clock.now())
    sandbox.clock.advance(2)
    new_id = h.add_activity(ids["p0002"], "demo_request")

    assert ids_of(list(_new(h, adapters).read_contacts(contact_cursor))) == []
    pages = list(_new(h, adapters).read_activity_changes(mark))
    changed = [a for page in pages for a in page.activities]
    assert [(a.id, a.contact_id, a.type) for a in changed] == [(new_id, ids["p0002"], "demo_request")]
    assert [a.id for p in _new(h, adapters).read_activity_changes(pages[-1].cursor) for a in p.activities] == []


# -- write-back -------------------------------------------------------------------------------------------
def test_check_fields_creates_missing_fields_once(sandbox, h, adapters):
    specs = h.writeback_specs
    missing = _new(h, adapters).check_fields(specs)
    assert missing.missing == tuple(s.name for s in specs) and "Data fields > Person" in missing.instructions

    before = sandbox.counters.snapshot()
    created = _new(h, adapters).check_fields(specs, create=True)
    assert created.created == tuple(s.name for s in specs) and created.missing == ()
    assert all(len(key) == 40 for key in created.field_keys.values())
    again = _new(h, adapters).check_fields(specs, create=True)
    assert again.present == created.created and again.created == () and again.field_keys == created.field_keys
    assert calls_since(sandbox, before) == {
        "pipedrive.personFields.v2.list": 2,
        "pipedrive.personFields.v2.create": len(specs),
    }


def test_write_round_trip_one_put_per_person_by_hash_key(sandbox, h, pd, adapters):
    ids = list(h.load(people_dataset(12)).values())
    _new(h, adapters).check_fields(h.writeback_specs, create=True)
    scored_at = datetime(2025, 4, 2, 9, 15, tzinfo=UTC)
    updates = [
        FieldUpdate(
            cid,
            {
                "Leadsync score": 80 + i,
                "Leadsync priority tier": "P1",
                "lifecycle_stage": "SQL",
                "owner_id": "2",
                "Leadsync last scored at": scored_at.isoformat(),
            },
        )
        for i, cid in enumerate(ids[:10])
    ]
    before = sandbox.counters.snapshot()
    writer = _new(h, adapters)
    results = writer.write(updates)

    assert [(r.contact_id, r.status) for r in results] == [(cid, WriteStatus.OK) for cid in ids[:10]]
    assert calls_since(sandbox, before) == {"pipedrive.personFields.v2.list": 1, "pipedrive.persons.v2.update": 10}
    assert [h.crm_value(cid, "Leadsync score") for cid in ids[:3]] == [80.0, 81.0, 82.0]
    assert h.crm_value(ids[0], "lifecycle_stage") == "SQL" and h.crm_value(ids[0], "owner_id") == 2
    contacts = {c.id: c for c in _new(h, adapters).get_contacts(ids[:2])}
    assert contacts[ids[1]].fields["Leadsync score"] == 81.0
    assert contacts[ids[1]].fields["Leadsync last scored at"] == scored_at.isoformat()
    assert writer.usage().calls_by_endpoint["persons.update"] == 10


def test_per_record_failures_map_to_failed_with_pipedrive_errors(sandbox, h, adapters):
    ids = list(h.load(people_dataset(4)).values())
    h.fail_records(ids[1])
    before = sandbox.counters.snapshot()
    results = _new(h, adapters).write(
        [
            FieldUpdate(ids[0], {"title": "CTO"}),
            FieldUpdate(ids[1], {"title": "CTO"}),
            FieldUpdate(ids[2], {"lifecycle_stage": "Unicorn"}),
            FieldUpdate("999999", {"title": "CTO"}),
            FieldUpdate(ids[3], {}),
            FieldUpdate(ids[3], {"No such field": 1}),
        ]
    )

    assert [r.status for r in results] == [
        WriteStatus.OK,
        WriteStatus.FAILED,
        WriteStatus.FAILED,
        WriteStatus.GONE,
        WriteStatus.SKIPPED,
        WriteStatus.FAILED,
    ]
    assert (results[1].error, results[1].error_code) == ("Validation failed for this person", "400")
    assert "'Unicorn' is not an option" in results[2].error and "MQL" in results[2].error
    assert results[3].error_code == "gone" and "merged into another person, or deleted" in results[3].error
    assert "no person field named 'No such field'" in results[5].error
    assert sandbox.counters.delta(before) == {
        "pipedrive.personFields.v2.list": {200: 1},
        "pipedrive.persons.v2.update": {200: 1, 400: 1, 404: 1},  # bad values never leave the adapter
    }


def test_writes_are_paced_to_the_burst_window_without_429(sandbox, h, adapters):
    ids = list(h.load(people_dataset(30)).values())
    sandbox.config.limits["pipedrive"] = {"burst": 5}
    writer = _new(h, adapters)
    t0 = sandbox.clock.seconds()
    results = writer.write([FieldUpdate(cid, {"title": f"T{i}"}) for i, cid in enumerate(ids)])

    assert all(r.ok for r in results)
    assert sandbox.counters.by_endpoint("pipedrive.", status=429) == {}
    assert sandbox.counters.by_endpoint("pipedrive.persons.v2.update") == {"pipedrive.persons.v2.update": 30}
    assert writer.usage().extra["paced_seconds"] > 0
    assert sandbox.clock.seconds() - t0 >= 2 * (31 // 5 - 1)  # 31 calls at <= 5 per 2-second window


def test_budget_that_cannot_cover_the_writes_stops_before_writing(sandbox, h, adapters):
    ids = list(h.load(people_dataset(10)).values())
    sandbox.config.limits["pipedrive"] = {"daily_budget": 55}  # personFields (10) leaves 45 < 10 writes x 5
    updates = [FieldUpdate(cid, {"title": "CTO"}) for cid in ids]
    before = sandbox.counters.snapshot()
    with pytest.raises(WriteQuotaExhausted) as caught:
        _new(h, adapters).write(updates)

    assert caught.value.reset_at is not None and caught.value.reset_at > datetime.now(UTC)
    assert [r.status for r in caught.value.results] == [WriteStatus.RETRY] * 10
    assert "45 tokens left" in str(caught.value)
    assert calls_since(sandbox, before) == {"pipedrive.personFields.v2.list": 1}


def test_budget_drained_by_someone_else_stops_mid_batch(sandbox, h, pd, adapters):
    ids = list(h.load(people_dataset(10)).values())
    sandbox.config.limits["pipedrive"] = {"daily_budget": 200}
    writer = _new(h, adapters)
    writer.check_fields([])  # reads the fields: the adapter now believes 190 tokens are left
    pd.spend_tokens(150)  # another integration spends most of them
    with pytest.raises(QuotaExhausted) as caught:
        writer.write([FieldUpdate(cid, {"title": "CTO"}) for cid in ids])

    assert isinstance(caught.value, WriteQuotaExhausted)
    assert [r.status for r in caught.value.results] == [WriteStatus.OK] + [WriteStatus.RETRY] * 9
    assert sandbox.counters.by_endpoint("pipedrive.persons.v2.update") == {"pipedrive.persons.v2.update": 1}


def test_reads_stop_with_quota_exhausted_and_reset_time(sandbox, h, adapters):
    h.load(people_dataset(3))
    sandbox.config.limits["pipedrive"] = {"daily_budget": 15}
    before = sandbox.counters.snapshot()
    with pytest.raises(QuotaExhausted) as caught:
        list(_new(h, adapters).read_contacts(None))

    assert caught.value.reset_at is not None and caught.value.endpoint == "persons.list"
    assert "resets around" in str(caught.value)
    assert sandbox.counters.delta(before) == {
        "pipedrive.personFields.v2.list": {200: 1},
        "pipedrive.persons.v2.list": {429: 1},  # not retried: the budget does not come back before midnight
    }


# -- transient failures -----------------------------------------------------------------------------------
def test_injected_429_and_5xx_are_retried(sandbox, h, adapters):
    h.load(people_dataset(2))
    sandbox.faults.configure(rate_429=0.5, rate_5xx=0.5, max_faults=3, endpoints=("pipedrive.users",))
    owners = _new(h, adapters).read_owners()

    assert [o.name for o in owners] == ["Ada Owner", "Bo Seller"]
    counts = sandbox.counters.by_endpoint("pipedrive.users")
    assert counts == {"pipedrive.users.list": 4}  # three injected faults, then the answer
    assert sandbox.counters.calls("pipedrive.users", status=200) == 1


def test_writes_that_keep_failing_transiently_come_back_as_retry(sandbox, h, adapters):
    ids = list(h.load(people_dataset(2)).values())
    sandbox.faults.configure(rate_5xx=1.0, endpoints=("pipedrive.persons.v2.update",))
    results = _new(h, adapters, max_attempts=2).write([FieldUpdate(ids[0], {"title": "CTO"})])

    assert [(r.status, r.error_code) for r in results] == [(WriteStatus.RETRY, str(results[0].error_code))]
    assert results[0].error_code in ("500", "502", "503")
    assert sandbox.counters.calls("pipedrive.persons.v2.update") == 2


# -- auth -------------------------------------------------------------------------------------------------
def test_oauth_refreshes_once_on_401(sandbox, h, pd, adapters):
    h.load(people_dataset(2))
    adapter = h.oauth_adapter()
    adapters.append(adapter)
    assert len(adapter.read_owners()) == 2
    pd.expire_access_tokens()
    assert len(adapter.read_owners()) == 2

    assert sandbox.counters.delta({}) == {
        "pipedrive.users.list": {200: 2, 401: 1},
        "pipedrive.oauth.token": {200: 1},
    }
    assert adapter.usage().calls_by_endpoint == {"users.list": 3, "oauth.token": 1}


def test_oauth_refreshes_before_a_known_expiry(sandbox, h, pd, adapters):
    h.load(people_dataset(1))
    adapter = h.oauth_adapter(token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    adapters.append(adapter)
    pd.expire_access_tokens()
    adapter.read_owners()
    assert sandbox.counters.delta({}) == {"pipedrive.users.list": {200: 1}, "pipedrive.oauth.token": {200: 1}}


def test_refused_credentials_are_auth_errors_without_secrets(sandbox, h, adapters):
    adapter = _new(h, adapters, api_token=SecretStr("pd-wrong-token-123"))
    with pytest.raises(AuthError) as caught:
        adapter.read_owners()
    assert "401" in str(caught.value) and "pd-wrong-token-123" not in str(caught.value)
    assert "pd-wrong-token-123" not in repr(adapter.config)

    bad_refresh = h.oauth_adapter(refresh_token=SecretStr("pd-bad-refresh-456"))
    adapters.append(bad_refresh)
    h.api.expire_access_tokens()
    with pytest.raises(AuthError, match="reconnect leadsync") as refused:
        bad_refresh.read_owners()
    assert "pd-bad-refresh-456" not in str(refused.value)


def test_config_needs_credentials():
    with pytest.raises(ConfigurationError, match="api_token"):
        PipedriveConfig()
    with pytest.raises(ConfigurationError, match="client_id"):
        PipedriveConfig(refresh_token=SecretStr("r"))
    assert PipedriveConfig.for_company("acme", api_token=SecretStr("t")).base_url == "https://acme.pipedrive.com"


# -- outcomes and owners ----------------------------------------------------------------------------------
def test_outcomes_from_won_and_lost_deals_and_owners_from_users(sandbox, h, pd, adapters):
    ids = h.load(people_dataset(20))
    pd.set_deal(ids["p0003"], won=False, amount=10.0)
    before = sandbox.counters.snapshot()
    adapter = _new(h, adapters)
    outcomes = sorted(adapter.read_outcomes(), key=lambda o: int(o.contact_id))
    owners = adapter.read_owners()

    assert [(o.contact_id, o.won) for o in outcomes] == [
        (ids["p0000"], True),
        (ids["p0003"], False),
        (ids["p0010"], True),
    ]
    assert outcomes[0].amount == 1000.0 and outcomes[0].closed_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert [(o.id, o.email, o.active) for o in owners] == [
        ("1", "ada@example.com", True),
        ("2", "bo@example.com", True),
    ]
    assert calls_since(sandbox, before) == {"pipedrive.deals.v2.list": 1, "pipedrive.users.list": 1}
    usage = adapter.usage()
    assert usage.quota_limit == 600_000 and usage.quota_used == pd.tokens_used()


# -- what Pipedrive's published definitions say (docs/crm-api/pipedrive.md) ------------------------------
def test_a_write_costs_the_definitions_five_tokens_per_person(sandbox, h, pd, adapters):
    ids = list(h.load(people_dataset(10)).values())
    cache = MemoryCache()
    _new(h, adapters, fields_cache=cache).check_fields([])
    writer = _new(h, adapters, fields_cache=cache)
    spent = pd.tokens_used()
    results = writer.write([FieldUpdate(cid, {"title": "CTO", "lifecycle_stage": "SQL"}) for cid in ids])

    assert all(r.ok for r in results)
    assert pd.tokens_used() - spent == 10 * writer.config.write_token_cost == 50
    assert [h.crm_value(cid, "title") for cid in ids[:2]] == ["CTO", "CTO"]


def test_a_person_merged_away_is_gone_and_the_survivor_is_written(sandbox, h, pd, adapters):
    ids = h.load(people_dataset(3))
    pd.merge(ids["p0000"], ids["p0001"])  # p0001 merged into p0000

    results = _new(h, adapters).write([FieldUpdate(cid, {"title": "CTO"}) for cid in (ids["p0001"], ids["p0000"])])

    assert [(r.contact_id, r.status, r.error_code) for r in results] == [
        (ids["p0001"], WriteStatus.GONE, "gone"),
        (ids["p0000"], WriteStatus.OK, ""),
    ]
    assert ids["p0001"] not in [c.id for c in _new(h, adapters).get_contacts(list(ids.values()))]


def test_activity_times_come_with_seconds(sandbox, h, adapters):
    pid = h.load(people_dataset(1))["p0000"]
    at = datetime(2025, 3, 20, 14, 5, 9, tzinfo=UTC)
    new_id = h.add_activity(pid, "call", occurred_at=at)

    got = {a.id: a for a in _new(h, adapters).read_activities([pid])[pid]}
    assert got[new_id].occurred_at == at


def test_after_an_oauth_refresh_calls_go_to_the_api_domain(sandbox, h, pd, adapters):
    h.load(people_dataset(2))
    # a host nothing listens on: only the token answer's api_domain (the sandbox) can serve the call
    adapter = h.oauth_adapter(base_url="http://127.0.0.1:9", token_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    adapters.append(adapter)

    assert len(adapter.read_owners()) == 2
    assert sandbox.counters.delta({}) == {"pipedrive.oauth.token": {200: 1}, "pipedrive.users.list": {200: 1}}


def test_fields_created_on_a_sandbox_seeded_by_another_process(tmp_path, adapters):
    db = str(tmp_path / "pd.db")
    seeding = Sandbox(SandboxConfig(db_path=db, seed=7, crms=("pipedrive",)))
    seeding.load_into("pipedrive", people_dataset(5))
    seeding.store.conn.close()

    with Sandbox(SandboxConfig(db_path=db, seed=7, crms=("pipedrive",))) as serving:
        h = make_harness("pipedrive", serving)
        adapter = h.adapter()
        adapters.append(adapter)
        check = adapter.check_fields(h.writeback_specs, create=True)
        assert check.missing == () and len(check.created) == len(h.writeback_specs)
        assert len(set(check.field_keys.values())) == len(h.writeback_specs)
