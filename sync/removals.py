"""What leadsync keeps about contacts the CRM deleted or merged away: counted once per id it knew, moved to the
surviving record (merges) or dropped (deletions).  The pipeline reads the removals; this book settles them."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from connectors.records import Contact
from sync.pipeline_parts import RunSummary
from sync.state import StateStore

log = logging.getLogger("leadsync.sync")


class RemovalBook:
    def __init__(self, crm: str, store: StateStore) -> None:
        self.crm = crm
        self.store = store

    def known(self, ids: Sequence[str]) -> set[str]:
        """The ids leadsync keeps anything about (scored, or waiting in quarantine)."""
        quarantined = {q.contact_id for q in self.store.quarantine_list(self.crm)} if ids else set()
        return set(self.store.load_inputs(self.crm, ids)) | (quarantined & set(ids))

    def count(self, removed: Mapping[str, str | None], summary: RunSummary) -> dict[str, str | None]:
        """Count the removals of ids leadsync knew in ``summary`` (``merged``/``deleted``); return those."""
        known = self.known(sorted(removed))
        counted = {old: new for old, new in removed.items() if old in known}
        summary.counts["merged"] += sum(1 for new in counted.values() if new)
        summary.counts["deleted"] += sum(1 for new in counted.values() if not new)
        return counted

    def remove(
        self, removed: Mapping[str, str | None], summary: RunSummary, inflight: MutableMapping[str, Any]
    ) -> None:
        """Merged ids' state moves to their survivors, deleted ids' state is dropped; counted once per id that
        leadsync knew, so a survivor read again with the same ``merged_from`` adds nothing."""
        counted = self.count(removed, summary)
        for old in counted:
            inflight.pop(old, None)
        moves = {old: new for old, new in removed.items() if new}
        if moves:
            self.store.move_contacts(self.crm, moves)
        deleted = [old for old, new in removed.items() if not new]
        if deleted:
            self.store.forget_contacts(self.crm, deleted)
        if counted:
            log.info("%d contact id(s) merged away or deleted in %s: state moved or dropped", len(counted), self.crm)

    def settle_merges_read(
        self, contacts: Sequence[Contact], summary: RunSummary, dry_run: bool, inflight: MutableMapping[str, Any]
    ) -> None:
        """Contacts read that list ids merged into them (``merged_from``): what was kept about those ids moves."""
        merged = {old: c.id for c in contacts for old in c.merged_from if old != c.id}
        if not merged:
            return
        if dry_run:
            self.count(merged, summary)
            return
        with self.store.transaction():
            self.remove(merged, summary, inflight)
