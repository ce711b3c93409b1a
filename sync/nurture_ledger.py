"""What leadsync has put into each nurture destination, and the log of every move it sent (state tables
``nurture_members`` and ``nurture_moves``).

A move is written ``planned`` before it is sent and settled (``done``, ``skipped``, ``failed``) with the
destination's answer; a member row exists only for a confirmed add.  So a run that dies between the two
leaves planned moves the next run sends again, and never a member row for an add that did not happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sync.state import StateStore
from sync.state._sql_base import SqlBase, id_chunks, marks

PLANNED = "planned"
DONE = "done"
SKIPPED = "skipped"  # not a member of the destination, and none may be created
FAILED = "failed"
ADD = "add"
REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class MemberRow:
    contact_id: str
    email: str
    target: str
    remote_ref: str
    run_id: int


@dataclass(frozen=True, slots=True)
class Move:
    run_id: int
    crm: str
    destination: str
    segment: str
    contact_id: str
    target: str
    email: str
    action: str  # add | remove
    status: str = PLANNED
    detail: str = ""
    remote_ref: str = ""  # for a remove: the destination's ids kept from the add; for a done add: the new ones

    def settled(self, status: str, detail: str = "", remote_ref: str | None = None) -> Move:
        ref = self.remote_ref if remote_ref is None else remote_ref
        return replace(self, status=status, detail=detail, remote_ref=ref)


_MOVE_COLUMNS = "run_id, crm, destination, segment, contact_id, target, email, action, status, detail"


class NurtureLedger:
    """The two nurture tables, on the state store's own connection and transactions."""

    def __init__(self, store: StateStore):
        if not isinstance(store, SqlBase):
            raise TypeError("the nurture ledger needs one of leadsync's SQL state stores")
        self.store = store

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.store._execute(sql, params)

    def members(self, crm: str, destination: str, segment: str, contact_ids: Sequence[str]) -> dict[str, MemberRow]:
        out: dict[str, MemberRow] = {}
        for chunk in id_chunks(list(contact_ids)):
            rows = self._execute(
                "SELECT contact_id, email, target, remote_ref, run_id FROM nurture_members WHERE crm = ? AND "
                f"destination = ? AND segment = ? AND contact_id IN ({marks(chunk)})",
                (crm, destination, segment, *chunk),
            ).fetchall()
            for row in rows:
                out[str(row[0])] = MemberRow(str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]))
        return out

    def plan(self, moves: Sequence[Move], now: datetime) -> None:
        at = self.store._now(now)
        with self.store._tx():
            self.store._executemany(
                f"INSERT INTO nurture_moves ({_MOVE_COLUMNS}, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*_move_values(m), at) for m in moves],
            )

    def planned(self, crm: str, *, exclude_run: int | None = None) -> list[Move]:
        """Moves planned and never settled (a run died while sending them), oldest first."""
        rows = self._execute(
            f"SELECT {_MOVE_COLUMNS} FROM nurture_moves WHERE crm = ? AND status = ? AND run_id <> ? ORDER BY id",
            (crm, PLANNED, -1 if exclude_run is None else exclude_run),
        ).fetchall()
        return [self._with_ref(_move(row)) for row in rows]

    def _with_ref(self, move: Move) -> Move:
        if move.action != REMOVE:
            return move
        row = self.members(move.crm, move.destination, move.segment, [move.contact_id]).get(move.contact_id)
        return replace(move, remote_ref=row.remote_ref) if row else move

    def settle(self, moves: Sequence[Move], now: datetime) -> None:
        """Record the destination's answers: move statuses, and the member rows of confirmed moves."""
        at = self.store._now(now)
        done = [m for m in moves if m.status == DONE]
        with self.store._tx():
            self.store._executemany(
                "UPDATE nurture_moves SET status = ?, detail = ?, at = ? WHERE run_id = ? AND contact_id = ? AND "
                "crm = ? AND destination = ? AND segment = ? AND action = ? AND status = ?",
                [
                    (
                        m.status,
                        m.detail[:500],
                        at,
                        m.run_id,
                        m.contact_id,
                        m.crm,
                        m.destination,
                        m.segment,
                        m.action,
                        PLANNED,
                    )
                    for m in moves
                ],
            )
            self.store._executemany(
                "DELETE FROM nurture_members WHERE crm = ? AND destination = ? AND segment = ? AND contact_id = ?",
                [(m.crm, m.destination, m.segment, m.contact_id) for m in done],
            )
            self.store._executemany(
                "INSERT INTO nurture_members (crm, destination, segment, contact_id, target, email, remote_ref, "
                "run_id, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (m.crm, m.destination, m.segment, m.contact_id, m.target, m.email, m.remote_ref, m.run_id, at)
                    for m in done
                    if m.action == ADD
                ],
            )

    def moves_of_run(self, run_id: int, *, status: str | None = None) -> list[Move]:
        sql = f"SELECT {_MOVE_COLUMNS} FROM nurture_moves WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if status is not None:
            sql += " AND status = ?"
            params = (run_id, status)
        return [_move(row) for row in self._execute(sql + " ORDER BY id", params).fetchall()]

    def member_count(self, crm: str, destination: str, segment: str) -> int:
        row = self._execute(
            "SELECT COUNT(*) FROM nurture_members WHERE crm = ? AND destination = ? AND segment = ?",
            (crm, destination, segment),
        ).fetchone()
        return int(row[0])


def _move_values(m: Move) -> tuple[Any, ...]:
    return (m.run_id, m.crm, m.destination, m.segment, m.contact_id, m.target, m.email, m.action, m.status, m.detail)


def _move(row: Sequence[Any]) -> Move:
    return Move(int(row[0]), *(str(v) for v in row[1:10]))
