"""The SQL store's response-SLA book: one row per stretch a lead is prioritized (see ``sync.sla``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sync.state._api import SlaLead
from sync.state._sql_base import SqlBase, id_chunks, marks

_SLA_COLUMNS = "id, contact_id, tier, owner_id, prioritized_at, due_at, touched_at, touch_activity_id, escalated_at"


class SlaBook(SqlBase):
    def sla_open(self, crm: str, contact_ids: Sequence[str]) -> dict[str, SlaLead]:
        out: dict[str, SlaLead] = {}
        for chunk in id_chunks(contact_ids):
            rows = self._execute(
                f"SELECT {_SLA_COLUMNS} FROM sla_leads WHERE crm = ? AND touched_at IS NULL "
                f"AND contact_id IN ({marks(chunk)}) ORDER BY id",
                (crm, *chunk),
            ).fetchall()
            for row in rows:
                out[str(row[1])] = self._sla(row)  # the newest wins, should two ever be open
        return out

    def sla_save(self, crm: str, leads: Sequence[SlaLead]) -> None:
        with self._tx():
            for lead in leads:
                values = (
                    lead.tier,
                    lead.owner_id,
                    self._now(lead.prioritized_at, "prioritized_at"),
                    self._opt(lead.due_at, "due_at"),
                    self._opt(lead.touched_at, "touched_at"),
                    lead.touch_activity_id,
                    self._opt(lead.escalated_at, "escalated_at"),
                )
                if lead.id is None:
                    self._execute(
                        "INSERT INTO sla_leads (crm, contact_id, tier, owner_id, prioritized_at, due_at, touched_at, "
                        "touch_activity_id, escalated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (crm, lead.contact_id, *values),
                    )
                else:
                    self._execute(
                        "UPDATE sla_leads SET tier = ?, owner_id = ?, prioritized_at = ?, due_at = ?, touched_at = ?, "
                        "touch_activity_id = ?, escalated_at = ? WHERE id = ? AND crm = ?",
                        (*values, lead.id, crm),
                    )

    def sla_due(self, crm: str, now: datetime, *, limit: int = 500) -> list[SlaLead]:
        rows = self._execute(
            f"SELECT {_SLA_COLUMNS} FROM sla_leads WHERE crm = ? AND touched_at IS NULL AND escalated_at IS NULL "
            "AND due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?",
            (crm, self._now(now), limit),
        ).fetchall()
        return [self._sla(row) for row in rows]

    def sla_since(self, crm: str, since: datetime) -> list[SlaLead]:
        rows = self._execute(
            f"SELECT {_SLA_COLUMNS} FROM sla_leads WHERE crm = ? AND prioritized_at >= ? ORDER BY prioritized_at, id",
            (crm, self._now(since, "since")),
        ).fetchall()
        return [self._sla(row) for row in rows]

    def _opt(self, value: datetime | None, name: str) -> Any:
        return None if value is None else self._now(value, name)

    def _sla(self, row: Sequence[Any]) -> SlaLead:
        def ts(value: Any) -> datetime | None:
            return None if value is None else self._read_ts(value)

        prioritized_at = self._read_ts(row[4])
        return SlaLead(
            contact_id=str(row[1]),
            tier=str(row[2]),
            owner_id=None if row[3] is None else str(row[3]),
            prioritized_at=prioritized_at,
            due_at=ts(row[5]),
            touched_at=ts(row[6]),
            touch_activity_id=None if row[7] is None else str(row[7]),
            escalated_at=ts(row[8]),
            id=int(row[0]),
        )
