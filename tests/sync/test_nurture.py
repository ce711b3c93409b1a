"""The nurture hand-off step through the real Mailchimp and ActiveCampaign clients, over HTTP to the sandbox.

Contacts are given to the step as ``Scored`` (segment names from the engine); the state is a real SQLite store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.nurture import Target
from connectors.records import Activity, Contact
from connectors.sandbox import Sandbox
from scoring import STARTER_MODEL_PATH, load_model, score
from sync.nurture import NurtureStep, Route, Scored, may_email, revert_nurture, scored_contact
from sync.nurture_ledger import NurtureLedger
from sync.state import RunKind, StateStore, open_store
from tests.nurture_harness import TAG, TOOLS, add_member, destination, mailchimp_api, nurture_sandbox, tagged
from tests.sync.fakes import T0, Clock, make_settings

CRM = "hubspot"
SEGMENT = "nurture"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with nurture_sandbox() as sb:
        yield sb


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    st = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield st
    st.close()


def people(n: int = 20) -> list[Scored]:
    """``n`` contacts below MQL (in the nurture segment); two of them unsubscribed in the CRM."""
    return [
        Scored(
            f"c{i}", f"person{i}@example.com", f"Person {i}", may_email=i not in (4, 11), segments=frozenset({SEGMENT})
        )
        for i in range(n)
    ]


def lifted(contacts: list[Scored], ids: set[str]) -> list[Scored]:
    """The same contacts after ``ids`` scored past MQL: out of the nurture segment."""
    return [replace(c, segments=frozenset()) if c.contact_id in ids else c for c in contacts]


def make_step(tool: str, sandbox: Sandbox, store: StateStore, **options: Any) -> NurtureStep:
    return NurtureStep(
        crm=CRM,
        store=store,
        routes=[Route(SEGMENT, tool, Target("tag", TAG))],
        destinations={tool: destination(tool, sandbox, **options)},
        clock=Clock(T0),
    )


def members(tool: str, sandbox: Sandbox, n: int) -> list[Scored]:
    """``n`` contacts, each already a subscribed member of the tool's audience."""
    contacts = people(n)
    for c in contacts:
        add_member(tool, sandbox, c.email)
    return contacts


def start(store: StateStore) -> int:
    return store.start_run(CRM, RunKind.SYNC, now=T0)


@pytest.mark.parametrize("tool", TOOLS)
def test_a_backfill_hands_off_every_emailable_contact_and_a_lift_past_mql_removes_exactly_those(
    tool: str, sandbox: Sandbox, store: StateStore
) -> None:
    contacts = people()
    for c in contacts:
        add_member(tool, sandbox, c.email, "unsubscribed" if not c.may_email else "subscribed")
    step = make_step(tool, sandbox, store)

    report = step.run(contacts, run_id=start(store), dry_run=False)

    emailable = {c.email for c in contacts if c.may_email}
    assert tagged(tool, sandbox) == emailable
    assert report.counts["added"] == 18 and not report.errors
    assert "person4@example.com" not in tagged(tool, sandbox), "an unsubscribed contact is never added"

    three = {"c1", "c2", "c3"}
    before = sandbox.counters.snapshot()
    report = step.run(lifted(contacts, three), run_id=start(store), dry_run=False)

    assert report.counts == {"removed": 3}
    assert {m.contact_id for m in report.moves} == three, "only the differences are sent"
    assert tagged(tool, sandbox) == emailable - {f"person{i}@example.com" for i in (1, 2, 3)}
    before = sandbox.counters.snapshot()
    again = step.run(lifted(contacts, three), run_id=start(store), dry_run=False)
    assert not again.moves and not sandbox.counters.delta(before), "an unchanged page sends nothing"


def test_mailchimp_never_resubscribes_and_creates_new_members_only_with_the_allowed_status(
    sandbox: Sandbox, store: StateStore
) -> None:
    api = mailchimp_api(sandbox)
    api.add_member("cleaned@example.com", "cleaned")
    api.add_member("gone@example.com", "unsubscribed")
    contacts = [
        Scored("a", "cleaned@example.com", "", True, frozenset({SEGMENT})),
        Scored("b", "gone@example.com", "", True, frozenset({SEGMENT})),
        Scored("c", "new@example.com", "", True, frozenset({SEGMENT})),
    ]
    strict = make_step("mailchimp", sandbox, store)
    report = strict.run(contacts, run_id=start(store), dry_run=False)
    assert api.status_of("new@example.com") is None, "without an allowed status nobody is added to the audience"
    assert report.counts["skipped"] == 1
    assert (api.status_of("cleaned@example.com"), api.status_of("gone@example.com")) == ("cleaned", "unsubscribed")

    allowing = make_step("mailchimp", sandbox, store, new_member_status="pending")
    allowing.run(contacts, run_id=start(store), dry_run=False)
    assert api.status_of("new@example.com") == "pending", "a new member must confirm (double opt-in)"
    assert (api.status_of("cleaned@example.com"), api.status_of("gone@example.com")) == ("cleaned", "unsubscribed")
    assert "new@example.com" in api.tagged(TAG)


@dataclass
class Crash(BaseException):
    """The process dies here: nothing after this line runs."""

    after: str = ""


@pytest.mark.parametrize("tool", TOOLS)
def test_a_run_that_dies_mid_hand_off_is_finished_by_the_next_without_resending_what_was_done(
    tool: str, sandbox: Sandbox, store: StateStore
) -> None:
    contacts = members(tool, sandbox, 8)
    step = make_step(tool, sandbox, store)
    step.run(contacts[:4], run_id=start(store), dry_run=False)  # a first page, confirmed
    real = step.destinations[tool]

    class DiesAfterSending:
        name = tool

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def apply(self, *args: Any) -> Any:
            real.apply(*args)
            raise Crash("sent, not recorded")

    step.destinations[tool] = DiesAfterSending()  # type: ignore[assignment]
    with pytest.raises(Crash):
        step.run(contacts[4:], run_id=start(store), dry_run=False)

    resumed = make_step(tool, sandbox, store)
    before = sandbox.counters.snapshot()
    report = resumed.run([], run_id=start(store), dry_run=False)

    # c0-c3 were confirmed by the first page and c4 may not be e-mailed: only c5-c7 are sent again
    assert {m.contact_id for m in report.moves} == {"c5", "c6", "c7"}
    assert tagged(tool, sandbox) == {c.email for c in contacts if c.may_email}
    ledger = NurtureLedger(store)
    assert ledger.member_count(CRM, tool, SEGMENT) == 8 - sum(not c.may_email for c in contacts)
    assert sandbox.counters.delta(before)
    assert not resumed.ledger.planned(CRM), "nothing is left waiting"


@pytest.mark.parametrize("tool", TOOLS)
def test_a_dry_run_lists_the_moves_and_sends_nothing(tool: str, sandbox: Sandbox, store: StateStore) -> None:
    contacts = members(tool, sandbox, 5)
    step = make_step(tool, sandbox, store)
    before = sandbox.counters.snapshot()

    report = step.run(contacts, run_id=start(store), dry_run=True)

    assert [(m.contact_id, m.action, m.target) for m in report.moves] == [
        (f"c{i}", "add", f"tag:{TAG}") for i in range(5) if i != 4
    ]
    assert not tagged(tool, sandbox)
    assert not {k for k in sandbox.counters.delta(before) if "tags" in k.lower() or "batch" in k}
    assert NurtureLedger(store).member_count(CRM, tool, SEGMENT) == 0


@pytest.mark.parametrize("tool", TOOLS)
def test_revert_undoes_a_runs_segment_moves(tool: str, sandbox: Sandbox, store: StateStore) -> None:
    contacts = members(tool, sandbox, 6)
    step = make_step(tool, sandbox, store)
    step.run(contacts, run_id=start(store), dry_run=False)
    lift = start(store)
    step.run(lifted(contacts, {"c0", "c1"}), run_id=lift, dry_run=False)
    assert "person0@example.com" not in tagged(tool, sandbox)

    report = revert_nurture(store, CRM, lift, step.destinations, Clock(T0))

    assert {(m.contact_id, m.action) for m in report.moves} == {("c0", "add"), ("c1", "add")}
    assert tagged(tool, sandbox) == {c.email for c in contacts if c.may_email}
    run = store.get_run(report.run_id)
    assert run is not None and run.kind is RunKind.REVERT


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "a@example.com", "hs_email_optout": None}, True),
        ({"email": "a@example.com", "hs_email_optout": "true"}, False),
        ({"email": "a@example.com", "HasOptedOutOfEmail": True}, False),
        ({"email": "a@example.com", "marketing_status": "no_consent"}, False),
        ({"email": "a@example.com", "marketing_status": "subscribed"}, True),
        ({"email": "a@example.com"}, False),  # no opt-out field read: consent unknown is consent absent
        ({"hs_email_optout": None}, False),  # no address
    ],
)
def test_may_email_reads_the_crm_opt_out_fields(fields: dict[str, Any], expected: bool) -> None:
    names = ["hs_email_optout", "HasOptedOutOfEmail", "marketing_status"]
    assert may_email(fields, names, require_field=True) is expected


def test_scored_contact_takes_the_segments_the_engine_answered(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    model = load_model(STARTER_MODEL_PATH)
    cold = Contact("c1", T0, {"email": "a@example.com", "first_name": "Ann", "hs_email_optout": None})
    hot = Contact("c2", T0, {"email": "b@example.com", "first_name": "Bo", "title": "VP Sales", "employees": "500"})
    demo = [Activity("a1", "c2", "demo_request", T0 - timedelta(hours=1), {})]

    assert scored_contact(cold, score(model, cold, [], T0), settings) == Scored(
        "c1", "a@example.com", "Ann", True, frozenset({"nurture"})
    )
    result = score(model, hot, demo, T0)
    assert result.stage != "lead" and scored_contact(hot, result, settings).segments == frozenset(result.segments)
    assert "nurture" not in result.segments
