"""The pipeline's small parts: progress hooks, a run's summary, a page's batch and outcome, the dry-run plan
writer, and the pure rules the loop applies (echo, gone, change kinds).  ``sync.pipeline`` re-exports them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from connectors.base import Removal
from connectors.records import Activity, Contact, FieldValue, WriteResult, WriteStatus
from scoring import ScoreResult
from sync.csvsafe import safe_writer
from sync.history import contact_label
from sync.policies import Change, same_value
from sync.private_files import open_private
from sync.state import FieldChange, InflightWrite, RunStatus, ScoringInputs

# error codes a CRM answers a write to a record that no longer exists with (HubSpot, Salesforce, Pipedrive)
GONE_CODES = frozenset({"OBJECT_NOT_FOUND", "ENTITY_IS_DELETED", "NOT_FOUND", "404"})


class Progress(Protocol):
    """Told the total (with what earlier runs already did), each page as it is read, and each page once done."""

    def start(self, total: int | None, *, done: int = 0) -> None: ...
    def read(self, records: int) -> None: ...
    def advance(self, records: int, *, calls: int, quota_left: int | None) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    def start(self, total: int | None, *, done: int = 0) -> None:
        return None

    def read(self, records: int) -> None:
        return None

    def advance(self, records: int, *, calls: int, quota_left: int | None) -> None:
        return None

    def stop(self) -> None:
        return None


@dataclass
class RunSummary:
    run_id: int
    kind: str
    status: RunStatus
    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    changes_by_kind: Counter[str] = field(default_factory=Counter)
    api_calls: dict[str, int] = field(default_factory=dict)
    quota_left: int | None = None
    duration: float = 0.0
    error: str | None = None
    exit_code: int = 0
    plan_path: Path | None = None
    plan_preview: list[tuple[str, str, str, str]] = field(default_factory=list)
    new_p1: int = 0  # contacts that became P1 in this run (each alerted through on_p1)
    quota_exhausted: bool = False  # the run stopped because the CRM's API quota ran out
    quota_reset_at: datetime | None = None  # when the CRM said the quota resets, if it did


PageHook = Callable[["_PageOutcome", RunSummary, "PlanWriter", int, bool], None]


class PageHooks:
    """The end of a page: record it (not in a dry run), then feed it to the page hooks (the nurture hand-off).

    A hook gets (page, summary, plan, run id, dry run); the App sets ``page_hooks`` on the pipeline it builds.
    """

    page_hooks: tuple[PageHook, ...] = ()

    def _record(self, page: _PageOutcome, summary: RunSummary, run_id: int) -> None:
        raise NotImplementedError

    def finish_page(
        self, page: _PageOutcome, summary: RunSummary, plan: PlanWriter, run_id: int, dry_run: bool
    ) -> None:
        if not dry_run:
            self._record(page, summary, run_id)
        for hook in self.page_hooks:
            hook(page, summary, plan, run_id, dry_run)


@dataclass
class _Batch:
    contacts: list[Contact]
    cursor: str | None = None
    stream: str | None = None
    removals: Sequence[Removal] = ()  # contacts deleted or merged away, settled before the batch's contacts
    echoes: int = 0  # contacts of the page left out as echoes of leadsync's own writes


@dataclass(frozen=True)
class _PageOutcome:
    """What one page came to, for the state transaction that records it (see ``Pipeline._record``)."""

    contacts: Sequence[Contact]  # the contacts to record: those read, or only those whose writes landed
    activities: Mapping[str, list[Activity]]
    results: Mapping[str, ScoreResult]
    changes: Mapping[str, list[Change]]  # by contact: what was planned and written (or tried)
    write_results: Sequence[WriteResult] = ()
    reconciled: Sequence[tuple[int, FieldChange]] = ()  # earlier runs' writes found landed: (run id, change)
    cursor: str | None = None  # the page's cursor, saved with the record; None keeps the saved one
    stream: str | None = None
    unsent: Sequence[str] = ()  # contacts whose writes a spent quota stopped: only earlier runs' entries stay


NURTURE_PREVIEW_ROWS = 10


class PlanWriter:
    """The dry-run plan: a CSV on disk plus the first rows for the terminal table."""

    def __init__(self, path: Path | None, preview: int = 50):
        self.path = path
        self.preview: list[tuple[str, str, str, str]] = []
        self._limit = preview
        self._nurture_rows = 0
        self._fh: Any = None
        self._writer: Any = None
        if path is not None:
            self._fh = open_private(path, "w", newline="", encoding="utf-8")
            self._writer = safe_writer(self._fh)
            self._writer.writerow(["contact_id", "email", "name", "field", "old", "new", "kind"])

    def add(self, change: Change, contact: Contact | None = None) -> None:
        old = "" if change.old is None else str(change.old)
        new = "" if change.new is None else str(change.new)
        email, name = contact_label(contact.fields) if contact is not None else ("", "")
        if self._writer is not None:
            row = [change.contact_id, email, name, change.field, old, new, change.kind]
            self._writer.writerow(row)
        # the hand-off's moves come after a page's CRM changes: they get rows of their own in the preview
        nurture = change.kind == "nurture"
        if len(self.preview) < self._limit or (nurture and self._nurture_rows < NURTURE_PREVIEW_ROWS):
            self.preview.append((change.contact_id, change.field, old, new))
            self._nurture_rows += nurture

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _gone(result: WriteResult) -> bool:
    """Whether a write result says the record no longer exists (never worth retrying)."""
    return result.status is WriteStatus.GONE or (
        result.status is WriteStatus.FAILED and result.error_code.upper() in GONE_CODES
    )


def is_echo(contact: Contact, stored: ScoringInputs, written: Mapping[str, FieldValue], model_version: str) -> bool:
    """Whether ``contact``, read again because its change timestamp moved, changed only by leadsync's writes.

    True when the model is the one it was scored with and every field read (write-back fields included)
    equals the stored inputs' value overlaid with the value leadsync last wrote: rescoring it would score
    the same inputs.  Any other edit to a read field, however close in time to leadsync's write, makes it
    differ.  Activities are not compared: a new one comes through the activity stream, which still rescores
    the contact.
    """
    before = stored.contact
    if stored.model_version != model_version:
        return False
    if (contact.object_type, contact.protected, tuple(contact.merged_from)) != (
        before.object_type,
        before.protected,
        tuple(before.merged_from),
    ):
        return False
    for name in contact.fields.keys() | before.fields.keys():
        expected = written[name] if name in written else before.fields.get(name)
        if not same_value(contact.fields.get(name), expected):
            return False
    return True


def _inflight(cid: str, run_id: int, changes: Sequence[Change]) -> InflightWrite:
    return InflightWrite(cid, run_id, {c.field: (c.old, c.new) for c in changes})


def _object_type(contacts: Sequence[Contact], cid: str) -> str:
    for c in contacts:
        if c.id == cid:
            return c.object_type
    return "contact"


def _change_kind(change: Change, result: ScoreResult) -> str:
    if change.kind == "stage":
        return f"new {result.stage.upper()}s" if result.stage in ("mql", "sql") else "stage moves"
    if change.kind == "owner":
        return "owner assignments"
    if change.kind == "score":
        return "score changes"
    return "other field changes"


class PageWatch:
    """Told about each recorded page: ``before`` ahead of its state transaction, ``recorded`` after it.

    This one only calls ``on_p1`` for each written contact whose P1 tier the page wrote (returns how many);
    ``sync.leads.LeadWatch`` also notifies owners and tracks response SLAs.
    """

    def before(self, page: _PageOutcome) -> Any:
        return None

    def recorded(
        self,
        page: _PageOutcome,
        before: Any,
        now: datetime,
        *,
        on_p1: Callable[[Contact, ScoreResult], None] | None = None,
        written: Sequence[str] = (),
    ) -> int:
        if on_p1 is None:
            return 0
        count = 0
        for cid in written:
            result = page.results[cid]
            if result.tier == "P1" and any(c.field.endswith("tier") for c in page.changes.get(cid, ())):
                on_p1(next(c for c in page.contacts if c.id == cid), result)
                count += 1
        return count
