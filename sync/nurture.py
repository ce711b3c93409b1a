"""The nurture hand-off: contacts in a model segment go to an e-mail tool's tag or static segment, and leave
it when they leave the segment.

Per page of scored contacts (``NurtureStep`` is a pipeline page hook) and per configured route (model segment
-> destination target): the contacts that should be in the target are those in the segment whose CRM
opt-out fields say they may be e-mailed; what leadsync put there before is in the state store
(``NurtureLedger``); only the difference is sent.  Moves are logged ``planned`` before they are sent and
settled after, so a run that dies mid-way is finished by the next one (moves already confirmed are not sent
again), and ``revert_nurture`` undoes a run's confirmed moves.

The step sees each contact as a ``Scored`` (id, address, name, may-e-mail, segment names) and nothing else of
the scoring: ``scored_contact`` is the one place that reads a score result.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.errors import ConnectorError
from connectors.http import redact
from connectors.nurture import (
    NOT_A_MEMBER,
    ActiveCampaignDestination,
    Destination,
    MailchimpDestination,
    Member,
    MoveResult,
    Target,
)
from connectors.records import Contact, FieldValue
from scoring import ScoreResult
from sync.history import contact_label
from sync.nurture_ledger import ADD, DONE, FAILED, REMOVE, SKIPPED, Move, NurtureLedger
from sync.policies import Change
from sync.settings import Settings
from sync.state import RunKind, RunStatus, StateStore

log = logging.getLogger("leadsync.nurture")

_DONE_COUNT = {ADD: "added", REMOVE: "removed"}
OPTED_OUT_TEXT = frozenset({"true", "yes", "1", "unsubscribed", "no_consent", "opted_out", "optout", "cleaned"})


@dataclass(frozen=True, slots=True)
class Scored:
    contact_id: str
    email: str
    name: str
    may_email: bool
    segments: frozenset[str]


@dataclass(frozen=True, slots=True)
class Route:
    segment: str
    destination: str
    target: Target


@dataclass
class NurtureReport:
    run_id: int
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    moves: list[Move] = field(default_factory=list)  # a dry run's planned moves; a real run's settled ones
    errors: list[str] = field(default_factory=list)


def may_email(fields: Mapping[str, FieldValue], opt_out_fields: Sequence[str], *, require_field: bool) -> bool:
    """Whether the CRM says this contact may be e-mailed: an address, and no opt-out field set.

    With ``require_field``, a contact none of whose opt-out fields was read is treated as opted out: consent
    unknown is consent absent.
    """
    email = fields.get("email")
    if not isinstance(email, str) or "@" not in email:
        return False
    seen = False
    for name in opt_out_fields:
        if name not in fields:
            continue
        seen = True
        value = fields[name]
        if value is True or (isinstance(value, str) and value.strip().lower() in OPTED_OUT_TEXT):
            return False
    return seen or not require_field


def scored_contact(contact: Contact, result: ScoreResult, settings: Settings) -> Scored:
    """The one place a score result is read: its segment names."""
    email, name = contact_label(contact.fields)
    nurture = settings.nurture
    names = nurture.opt_out_names(settings.crm)
    ok = may_email(contact.fields, names, require_field=nurture.require_opt_out_field)
    return Scored(contact.id, email, name, ok, frozenset(result.segments))


def routes_from(settings: Settings) -> list[Route]:
    out: list[Route] = []
    for segment, targets in settings.nurture.segments.items():
        for text in targets:
            tool, _, rest = text.partition(":")
            out.append(Route(segment, tool, Target.parse(rest)))
    return out


def build_destinations(
    settings: Settings,
    *,
    allow_new_members: bool = True,
    sleep: Callable[[float], None] | None = None,
    monotonic: Callable[[], float] | None = None,
) -> dict[str, Destination]:
    """The destinations the routes name; a revert passes ``allow_new_members=False`` (it only undoes).

    ``sleep`` (both tools) and ``monotonic`` (ActiveCampaign's pacer) replace the real clock's.
    """
    tools = {route.destination for route in routes_from(settings)}
    extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    paced: dict[str, Any] = {} if monotonic is None else {"monotonic": monotonic}
    out: dict[str, Destination] = {}
    if "mailchimp" in tools:
        mc = settings.mailchimp
        if mc.api_key is None or not mc.list_id:
            raise ConnectorError(
                "Nurture routes name Mailchimp: set LEADSYNC_MAILCHIMP__API_KEY and LEADSYNC_MAILCHIMP__LIST_ID.",
                crm="mailchimp",
            )
        out["mailchimp"] = MailchimpDestination(
            api_key=mc.api_key.get_secret_value(),
            list_id=mc.list_id,
            server=mc.server,
            base_url=mc.base_url,
            new_member_status=(mc.new_member_status or None) if allow_new_members else None,
            batch_max_operations=mc.batch_max_operations,
            poll_interval=mc.batch_poll_seconds,
            **extra,
        )
    if "activecampaign" in tools:
        ac = settings.activecampaign
        if ac.api_token is None or not ac.base_url:
            raise ConnectorError(
                "Nurture routes name ActiveCampaign: set LEADSYNC_ACTIVECAMPAIGN__API_TOKEN and "
                "LEADSYNC_ACTIVECAMPAIGN__BASE_URL.",
                crm="activecampaign",
            )
        out["activecampaign"] = ActiveCampaignDestination(
            api_token=ac.api_token.get_secret_value(),
            base_url=ac.base_url,
            create_contacts=ac.create_contacts and allow_new_members,
            automations=dict(ac.automations) if allow_new_members else {},
            requests_per_second=ac.requests_per_second,
            **extra,
            **paced,
        )
    return out


class NurtureStep:
    """Sends one page's segment moves; a pipeline page hook (``sync.pipeline_parts.PageHooks``)."""

    def __init__(
        self,
        *,
        crm: str,
        store: StateStore,
        routes: Sequence[Route],
        destinations: Mapping[str, Destination],
        clock: Callable[[], datetime],
        settings: Settings | None = None,
    ):
        self.crm = crm
        self.ledger = NurtureLedger(store)
        self.routes = list(routes)
        self.destinations = dict(destinations)
        self.clock = clock
        self.settings = settings
        self._resumed = False

    # -- the pipeline's page hook --------------------------------------------------------------------------
    def __call__(self, page: Any, summary: Any, plan: Any, run_id: int, dry_run: bool) -> None:
        assert self.settings is not None, "a page hook is built with the settings (build_step)"
        scored = [scored_contact(c, page.results[c.id], self.settings) for c in page.contacts if c.id in page.results]
        report = self.run(scored, run_id=run_id, dry_run=dry_run)
        for name, count in report.counts.items():
            summary.counts[f"nurture_{name}"] += count
        for move in report.moves:  # per tool, for the run's summary line: nurture_mailchimp_added...
            if dry_run:
                summary.counts[f"nurture_{move.destination}_planned_{move.action}"] += 1
            elif move.status == DONE:
                summary.counts[f"nurture_{move.destination}_{_DONE_COUNT[move.action]}"] += 1
        for move in report.moves if dry_run else ():
            summary.changes_by_kind[f"nurture {move.action}"] += 1
            old, new = ("out", "in") if move.action == ADD else ("in", "out")
            field_name = f"nurture:{move.destination}:{move.target}"
            contact = next((c for c in page.contacts if c.id == move.contact_id), None)
            plan.add(Change(move.contact_id, field_name, old, new, "nurture"), contact)
        if report.errors and not dry_run:
            summary.counts["nurture_errors"] += len(report.errors)

    # -- the step --------------------------------------------------------------------------------------------
    def run(self, scored: Sequence[Scored], *, run_id: int, dry_run: bool) -> NurtureReport:
        report = NurtureReport(run_id, dry_run)
        if not dry_run and not self._resumed:
            self._resumed = True
            left = self.ledger.planned(self.crm, exclude_run=run_id)
            if left:
                log.info("finishing %d nurture moves an earlier run planned but did not confirm", len(left))
                self._send(left, report)
        moves = self.diff(scored, run_id)
        if dry_run:
            report.moves = moves
            report.counts.update(f"planned_{m.action}" for m in moves)
            return report
        if moves:
            self.ledger.plan(moves, self.clock())
            self._send(moves, report)
        return report

    def diff(self, scored: Sequence[Scored], run_id: int) -> list[Move]:
        ids = [s.contact_id for s in scored]
        moves: list[Move] = []
        for route in self.routes:
            current = self.ledger.members(self.crm, route.destination, route.segment, ids)
            for s in scored:
                wanted = route.segment in s.segments and s.may_email and bool(s.email)
                row = current.get(s.contact_id)
                if wanted and row is None:
                    moves.append(self._move(run_id, route, s.contact_id, s.email, ADD))
                elif not wanted and row is not None:
                    moves.append(self._move(run_id, route, s.contact_id, row.email, REMOVE, row.remote_ref))
        return moves

    def _move(self, run_id: int, route: Route, cid: str, email: str, action: str, ref: str = "") -> Move:
        return Move(
            run_id, self.crm, route.destination, route.segment, cid, str(route.target), email, action, remote_ref=ref
        )

    def _send(self, moves: Sequence[Move], report: NurtureReport) -> None:
        groups: dict[tuple[str, str], list[Move]] = defaultdict(list)
        for move in moves:
            groups[(move.destination, move.target)].append(move)
        for (tool, target), group in groups.items():
            destination = self.destinations.get(tool)
            if destination is None:
                report.errors.append(f"no {tool} destination is configured; {len(group)} moves wait")
                continue
            adds = [m for m in group if m.action == ADD]
            removes = [m for m in group if m.action == REMOVE]
            try:
                added, removed = destination.apply(
                    Target.parse(target),
                    [Member(m.contact_id, m.email, m.remote_ref) for m in adds],
                    [Member(m.contact_id, m.email, m.remote_ref) for m in removes],
                )
            except ConnectorError as exc:
                # the moves stay planned: the next run sends them again
                message = f"{tool} {target}: {redact(str(exc))}"
                log.warning("nurture moves not sent: %s", message)
                report.errors.append(message)
                report.counts["waiting"] += len(group)
                continue
            settled = [_settle(m, r) for m, r in zip(adds, added, strict=True)]
            settled += [_settle(m, r) for m, r in zip(removes, removed, strict=True)]
            self.ledger.settle(settled, self.clock())
            report.moves.extend(settled)
            for m in settled:
                report.counts[_DONE_COUNT[m.action] if m.status == DONE else m.status] += 1

    def close(self) -> None:
        for destination in self.destinations.values():
            destination.close()


def _settle(move: Move, result: MoveResult) -> Move:
    if result.ok:
        return move.settled(DONE, remote_ref=result.remote_ref if move.action == ADD else "")
    return move.settled(SKIPPED if result.error == NOT_A_MEMBER else FAILED, result.error)


def build_step(
    settings: Settings, store: StateStore, clock: Callable[[], datetime], **destination_options: Any
) -> NurtureStep | None:
    """The configured hand-off, or None when no segment is routed anywhere (options: ``build_destinations``)."""
    routes = routes_from(settings)
    if not routes:
        return None
    return NurtureStep(
        crm=settings.crm,
        store=store,
        routes=routes,
        destinations=build_destinations(settings, **destination_options),
        clock=clock,
        settings=settings,
    )


def read_fields(settings: Settings) -> list[str]:
    """CRM fields the hand-off needs read: the opt-out fields (only when a segment is routed)."""
    return settings.nurture.opt_out_names(settings.crm) if settings.nurture.segments else []


def check_lines(settings: Settings) -> tuple[bool, list[str]]:
    """``leadsync check``: each route's target exists and the key may use it, one sentence each."""
    routes = routes_from(settings)
    if not routes:
        return True, []
    ok = True
    lines: list[str] = []
    try:
        destinations = build_destinations(settings)
    except ConnectorError as exc:
        return False, [exc.message]
    for route in routes:
        where = f"{route.destination} {route.target} (segment {route.segment})"
        try:
            problems = destinations[route.destination].check(route.target)
        except ConnectorError as exc:
            ok = False
            lines.append(f"Nurture {where}: {_sentence(_said(exc, settings, route.destination))}")
            continue
        ok = ok and not problems
        lines.extend(f"Nurture {where}: {p}" for p in problems)
        if not problems:
            lines.append(f"Nurture {where}: ok.")
    return ok, lines


def _said(exc: ConnectorError, settings: Settings, tool: str) -> str:
    """An unreachable tool names the setting its host comes from; any other error is its own message."""
    from sync.reach import nurture_unreachable

    return nurture_unreachable(exc, settings, tool) or redact(exc.message)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


# -- revert --------------------------------------------------------------------------------------------------
def revert_nurture(
    store: StateStore,
    crm: str,
    run_id: int,
    destinations: Mapping[str, Destination],
    clock: Callable[[], datetime],
    *,
    dry_run: bool = False,
) -> NurtureReport:
    """Undo run ``run_id``'s confirmed moves, as a run of kind ``revert``, unless a later run moved them again.

    An add is taken back while the member row is still the one that add made; a remove is put back while no
    later run re-added the contact.  A revert adds no new member anywhere (its destinations say so).
    """
    ledger = NurtureLedger(store)
    done = ledger.moves_of_run(run_id, status=DONE)
    revert_id = store.start_run(crm, RunKind.REVERT, dry_run=dry_run, now=clock())
    report = NurtureReport(revert_id, dry_run)
    undo: list[Move] = []
    for move in done:
        row = ledger.members(move.crm, move.destination, move.segment, [move.contact_id]).get(move.contact_id)
        if move.action == ADD and row is not None and row.run_id == run_id:
            undo.append(
                Move(
                    revert_id,
                    move.crm,
                    move.destination,
                    move.segment,
                    move.contact_id,
                    move.target,
                    move.email,
                    REMOVE,
                    remote_ref=row.remote_ref,
                )
            )
        elif move.action == REMOVE and row is None:
            undo.append(
                Move(revert_id, move.crm, move.destination, move.segment, move.contact_id, move.target, move.email, ADD)
            )
        else:
            report.counts["conflicts"] += 1
    if dry_run:
        report.moves = undo
        report.counts.update(f"planned_{m.action}" for m in undo)
    elif undo:
        ledger.plan(undo, clock())
        step = NurtureStep(crm=crm, store=store, routes=[], destinations=destinations, clock=clock)
        step._send(undo, report)
    status = RunStatus.FAILED if report.errors else RunStatus.OK
    store.finish_run(
        revert_id, status=status, counts=dict(report.counts), error="; ".join(report.errors) or None, now=clock()
    )
    return report


_TOOL_NAMES = {"mailchimp": "Mailchimp", "activecampaign": "ActiveCampaign"}


def summary_line(counts: Mapping[str, int], *, dry_run: bool) -> str | None:
    """A run's hand-off in one line, per tool (``None`` when the step moved nobody and nothing failed)."""
    keys, verbs = (
        (("planned_add", "planned_remove"), ("would add", "would remove"))
        if dry_run
        else (
            ("added", "removed"),
            ("added", "removed"),
        )
    )
    parts = []
    for tool, label in _TOOL_NAMES.items():
        add, remove = (counts.get(f"nurture_{tool}_{key}", 0) for key in keys)
        if add or remove:
            parts.append(f"{label} {verbs[0]} {add}, {verbs[1]} {remove}")
    trouble = [
        f"{counts[f'nurture_{name}']} {name}"
        for name in ("waiting", "failed", "skipped", "errors")
        if counts.get(f"nurture_{name}")
    ]
    if not parts and not trouble:
        return None
    return "nurture: " + "; ".join(parts or ["nothing moved"]) + (f" ({', '.join(trouble)})" if trouble else "")


def describe(report: NurtureReport) -> Iterable[str]:
    verb = "would move" if report.dry_run else "moved"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing to do"
    yield f"Nurture run {report.run_id}: {verb}: {counts}."
    for move in report.moves[:50]:
        yield f"  {move.action} {move.contact_id} <{move.email}> {move.destination} {move.target} ({move.status})"
    yield from (f"  error: {e}" for e in report.errors)
