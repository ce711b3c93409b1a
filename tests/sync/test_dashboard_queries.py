"""The dashboard's reads on both state stores: paging, filters, segments, the SLA board, run searches, who asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.records import Contact
from sync.dashboard import queries
from sync.state import FieldChange, RunKind, RunStatus, ScoringInputs, SlaLead, StateStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _inputs(
    cid: str,
    total: float | None,
    *,
    owner: str | None,
    tier: str | None,
    stage: str,
    minutes: int = 0,
    segments: tuple[str, ...] = (),
):
    fields = {"email": f"{cid}@acme.test"} | ({"owner_id": owner} if owner else {})
    at = T0 + timedelta(minutes=minutes)
    return ScoringInputs(Contact(cid, T0, fields), (), "m1", at, total=total, stage=stage, tier=tier, segments=segments)


def seed(store: StateStore) -> None:
    store.save_inputs(
        "hubspot",
        [
            _inputs("c1", 90, owner="u1", tier="P1", stage="sql", minutes=5, segments=("enterprise", "emea")),
            _inputs("c2", 70, owner="u2", tier="P2", stage="mql", minutes=1, segments=("emea",)),
            _inputs("c3", 70, owner="u1", tier=None, stage="mql", segments=("enterprise",)),
            _inputs("c4", 10, owner=None, tier="P1", stage="lead", minutes=2, segments=("enterprise",)),
            _inputs("c5", None, owner="u1", tier=None, stage="lead", segments=("enterprise",)),
        ],
    )
    store.save_inputs("pipedrive", [_inputs("c1", 99, owner="u9", tier="P1", stage="sql", segments=("emea",))])


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


def test_segment_filter_reads_the_stored_segments(store: StateStore) -> None:
    seed(store)

    def segment(name: str, **other: str) -> list[str]:
        return ids(queries.hot_leads(store, "hubspot", queries.LeadFilter(segment=name, **other), limit=10)[0])

    assert segment("enterprise") == ["c1", "c3", "c4"]  # c5 has no score: never a hot lead
    assert segment("emea") == ["c1", "c2"]
    assert segment("enterprise", owner="u1") == ["c1", "c3"] and segment("enterprise", tier="P1") == ["c1", "c4"]
    assert segment("enterprise", stage="mql") == ["c3"] and segment("nobody") == []
    first, more = queries.hot_leads(store, "hubspot", queries.LeadFilter(segment="enterprise"), limit=2)
    rest, more_after = queries.hot_leads(store, "hubspot", queries.LeadFilter(segment="enterprise"), limit=2, offset=2)
    assert (ids(first), more, ids(rest), more_after) == (["c1", "c3"], True, ["c4"], False)
    assert store.load_inputs("hubspot", ["c1"])["c1"].segments == ("emea", "enterprise")

    # a new score replaces the segments (and the score the segment lists by); a forgotten contact leaves them
    store.save_inputs("hubspot", [_inputs("c1", 5, owner="u1", tier=None, stage="lead", segments=("emea",))])
    assert segment("enterprise") == ["c3", "c4"] and segment("emea") == ["c2", "c1"]
    store.forget_contacts("hubspot", ["c2"])
    assert segment("emea") == ["c1"]
    store.move_contacts("hubspot", {"c1": "c9"})
    assert segment("emea") == [] and store.load_inputs("hubspot", ["c1"]) == {}
    assert ids(queries.hot_leads(store, "pipedrive", queries.LeadFilter(segment="emea"), limit=10)[0]) == ["c1"]


def test_sla_load_and_waiting(store: StateStore) -> None:
    seed(store)
    now = T0 + timedelta(hours=3)
    hour = timedelta(hours=1)
    store.sla_save(
        "hubspot",
        [
            SlaLead("c1", "P1", "u1", T0, T0 + hour, escalated_at=T0 + hour),  # past due, escalated
            SlaLead("c4", "P1", None, T0, T0 + 5 * hour),
            SlaLead("c2", "P2", "u2", T0, T0 + 4 * hour),
            SlaLead("c3", "P1", "u1", T0, T0 + 2 * hour, touched_at=T0 + hour),  # touched: not waiting
            SlaLead("c5", "P1", "u1", T0 - timedelta(days=40), T0),  # before the board's 30 days
        ],
    )
    store.sla_save("pipedrive", [SlaLead("c1", "P1", "u9", T0, T0 + hour)])
    since = now - timedelta(days=30)
    load = {
        (x.tier, x.owner_id): (x.waiting, x.overdue, x.escalated, x.next_due)
        for x in queries.sla_load(store, "hubspot", since, now)
    }
    assert load == {
        ("P1", "u1"): (1, 1, 1, T0 + hour),
        ("P1", None): (1, 0, 0, T0 + 5 * hour),
        ("P2", "u2"): (1, 0, 0, T0 + 4 * hour),
    }

    def waiting(**where: str | None) -> list[str]:
        leads, _more = queries.sla_waiting(store, "hubspot", since, limit=10, **{"tier": None, "owner": None, **where})
        return [lead.contact_id for lead in leads]

    assert waiting() == ["c1", "c2", "c4"]  # due first
    assert waiting(tier="P1") == ["c1", "c4"] and waiting(owner="u1") == ["c1"]
    assert waiting(owner=queries.NO_OWNER) == ["c4"] and waiting(tier="P2", owner="u1") == []
    page, more = queries.sla_waiting(store, "hubspot", since, tier=None, owner=None, limit=2)
    assert [lead.escalated_at for lead in page] == [T0 + hour, None] and more


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
