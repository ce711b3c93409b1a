"""The dashboard's reads on both state stores: paging, filters, the SLA load, run searches, who asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.records import Contact
from sync.dashboard import queries
from sync.state import FieldChange, RunKind, RunStatus, ScoringInputs, StateStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _inputs(cid: str, total: float | None, *, owner: str | None, tier: str | None, stage: str, minutes: int = 0):
    fields = {"email": f"{cid}@acme.test"} | ({"owner_id": owner} if owner else {})
    return ScoringInputs(
        Contact(cid, T0, fields), (), "m1", T0 + timedelta(minutes=minutes), total=total, stage=stage, tier=tier
    )


def seed(store: StateStore) -> None:
    store.save_inputs(
        "hubspot",
        [
            _inputs("c1", 90, owner="u1", tier="P1", stage="sql", minutes=5),
            _inputs("c2", 70, owner="u2", tier="P2", stage="mql", minutes=1),
            _inputs("c3", 70, owner="u1", tier=None, stage="mql"),
            _inputs("c4", 10, owner=None, tier="P1", stage="lead", minutes=2),
            _inputs("c5", None, owner="u1", tier=None, stage="lead"),
        ],
    )
    store.save_inputs("pipedrive", [_inputs("c1", 99, owner="u9", tier="P1", stage="sql")])


def ids(items) -> list[str]:
    return [i.contact_id for i in items]


def test_hot_leads_order_filters_and_pages(store: StateStore) -> None:
    seed(store)
    none = queries.LeadFilter()
    assert ids(queries.hot_leads(store, "hubspot", none, limit=10)[0]) == ["c1", "c2", "c3", "c4"]
    first, more = queries.hot_leads(store, "hubspot", none, limit=2)
    second, more_after = queries.hot_leads(store, "hubspot", none, limit=2, offset=2)
    assert (ids(first), more, ids(second), more_after) == (["c1", "c2"], True, ["c3", "c4"], False)
    assert ids(queries.hot_leads(store, "hubspot", queries.LeadFilter(owner="u1"), limit=10)[0]) == ["c1", "c3"]
    assert ids(queries.hot_leads(store, "hubspot", queries.LeadFilter(tier="P1"), limit=10)[0]) == ["c1", "c4"]
    by_stage = queries.hot_leads(store, "hubspot", queries.LeadFilter(owner="u1", stage="mql"), limit=10)[0]
    assert ids(by_stage) == ["c3"]


def test_owner_is_the_sticky_assignment_first(store: StateStore) -> None:
    from sync.state import Assignment

    seed(store)
    store.set_assignments("hubspot", [Assignment("c4", "u7", "round_robin", T0)])
    assert queries.owners_of(store, "hubspot", ["c1", "c4", "c9"]) == {"c1": "u1", "c4": "u7"}


def test_sla_load_and_waiting(store: StateStore) -> None:
    seed(store)
    load = {(x.tier, x.owner_id): x.waiting for x in queries.sla_load(store, "hubspot", ["P1", "P2"])}
    assert load == {("P1", "u1"): 1, ("P1", None): 1, ("P2", "u2"): 1}
    waiting, more = queries.sla_waiting(store, "hubspot", "P1", None, limit=10)
    assert (ids(waiting), more) == (["c4", "c1"], False)  # scored longest ago first
    assert ids(queries.sla_waiting(store, "hubspot", "P1", "u1", limit=10)[0]) == ["c1"]


def test_runs_page_changes_search_and_requests(store: StateStore) -> None:
    run_ids = []
    for _ in range(3):
        run_id = store.start_run("hubspot", RunKind.SYNC, now=T0)
        store.finish_run(run_id, status=RunStatus.OK, now=T0)
        run_ids.append(run_id)
    page, older = queries.runs_page(store, "hubspot", before=None, limit=2)
    assert [r.id for r in page] == run_ids[:0:-1] and older == run_ids[1]
    page, older = queries.runs_page(store, "hubspot", before=older, limit=2)
    assert [r.id for r in page] == [run_ids[0]] and older is None

    changes = [FieldChange(f"c{i}", "leadsync_score", 10, 50 + i) for i in range(5)]
    changes.append(FieldChange("x_1", "leadsync_grade", "100%", "A"))
    store.record_writes(run_ids[0], "hubspot", changes, T0)
    rows, after = queries.run_changes_page(store, run_ids[0], search="", after=0, limit=4)
    assert [r.contact_id for r in rows] == ["c0", "c1", "c2", "c3"] and after == rows[-1].id
    rows, after = queries.run_changes_page(store, run_ids[0], search="", after=after, limit=4)
    assert [r.contact_id for r in rows] == ["c4", "x_1"] and after is None
    found = queries.run_changes_page(store, run_ids[0], search="c3", after=0, limit=10)[0]
    assert [(r.contact_id, r.new_value) for r in found] == [("c3", 53)]
    # LIKE's wildcards in a search are plain characters
    assert [r.contact_id for r in queries.run_changes_page(store, run_ids[0], search="%", after=0, limit=10)[0]] == [
        "x_1"
    ]
    assert queries.run_changes_page(store, run_ids[0], search="x%1", after=0, limit=10)[0] == []

    queries.record_request(store, run_ids[2], "revops", "dashboard", T0)
    assert queries.requests_for(store, run_ids) == {run_ids[2]: "revops (dashboard)"}
