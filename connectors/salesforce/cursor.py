"""Incremental cursors on ``SystemModstamp``: an overlap window plus dedupe by (Id, SystemModstamp).

Salesforce stamps changes in whole seconds (``.000`` milliseconds) and a transaction's stamp can become
visible after later ones, so each read starts ``overlap`` seconds before the newest stamp seen, in
``SystemModstamp, Id`` order, and skips records already handed out: those at or before the cursor position
whose (Id, SystemModstamp) is in ``seen``.  ``seen`` keeps only the overlap window; past ``max_seen``
entries the oldest are dropped and ``complete_from`` records where exact knowledge starts, so records
before it in the window count as seen (a late commit there could be missed, but nothing is duplicated).
A record changed twice within one second keeps the same stamp and is read once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


def parse_sf_datetime(text: str) -> datetime:
    """Salesforce datetime text (``2024-01-01T00:00:00.000+0000``) -> aware datetime."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"Salesforce datetime without an offset: {text!r}")
    return value


def sf_text(value: datetime) -> str:
    """An aware datetime as Salesforce datetime text, to the second (``2024-01-01T00:00:00.000+0000``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def soql_datetime(value: datetime) -> str:
    """An aware datetime as a SOQL literal, rounded down to the second."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value.utcoffset() == timedelta(0) else value.isoformat()


@dataclass
class StreamCursor:
    """Position in one object's change stream."""

    ts: str | None = None  # SystemModstamp of the newest record handed out
    last_id: str | None = None
    seen: set[tuple[str, str]] = field(default_factory=set)  # (Id, SystemModstamp) in the overlap window
    complete_from: tuple[str, str] | None = None  # (SystemModstamp, Id) where ``seen`` becomes exact

    @classmethod
    def starting_at(cls, stamp: str) -> StreamCursor:
        """A stream that hands out records stamped at or after ``stamp``, none before."""
        return cls(ts=stamp, last_id="", complete_from=(stamp, ""))

    def since(self, overlap: float) -> str | None:
        """The SOQL lower bound of the next read, or None for a full read."""
        if self.ts is None:
            return None
        start = parse_sf_datetime(self.ts) - timedelta(seconds=overlap)
        return soql_datetime(start.replace(microsecond=0))

    def is_new(self, record_id: str, stamp: str) -> bool:
        if self.ts is None or self.last_id is None:
            return True
        key = (stamp, record_id)
        if key > (self.ts, self.last_id):
            return True
        if self.complete_from is not None and key < self.complete_from:
            return False
        return (record_id, stamp) not in self.seen

    def advance(self, records: Iterable[tuple[str, str]], overlap: float, max_seen: int) -> None:
        """Take a processed batch of (Id, SystemModstamp), in query order, into the cursor."""
        for record_id, stamp in records:
            self.seen.add((record_id, stamp))
            if self.ts is None or self.last_id is None or (stamp, record_id) > (self.ts, self.last_id):
                self.ts, self.last_id = stamp, record_id
        if self.ts is None:
            return
        floor = parse_sf_datetime(self.ts) - timedelta(seconds=overlap)
        self.seen = {(i, s) for i, s in self.seen if parse_sf_datetime(s) >= floor}
        if self.complete_from is not None and parse_sf_datetime(self.complete_from[0]) < floor:
            self.complete_from = None
        if len(self.seen) > max_seen:
            kept = sorted(((s, i) for i, s in self.seen), reverse=True)[:max_seen]
            self.seen = {(i, s) for s, i in kept}
            self.complete_from = kept[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "id": self.last_id,
            "seen": sorted([i, s] for i, s in self.seen),
            "from": list(self.complete_from) if self.complete_from else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamCursor:
        complete = data.get("from")
        return cls(
            ts=str(data["ts"]) if data.get("ts") else None,
            last_id=str(data["id"]) if data.get("id") is not None else None,
            seen={(str(i), str(s)) for i, s in data.get("seen") or []},
            complete_from=(str(complete[0]), str(complete[1])) if complete else None,
        )


@dataclass
class Cursor:
    """Stream cursors by sObject, serialized as the adapter's opaque cursor string.

    ``start`` (from ``cursor_at``) is where streams not yet read begin, so one cursor serves both
    ``read_contacts`` and ``read_activity_changes``.
    """

    kind: str  # "contacts" | "activities" | "any"
    streams: dict[str, StreamCursor] = field(default_factory=dict)
    start: str | None = None  # Salesforce datetime text
    until: str | None = None  # Salesforce datetime text a read from the start stops before, until it ends

    def stream(self, sobject: str) -> StreamCursor:
        if sobject not in self.streams:
            self.streams[sobject] = StreamCursor.starting_at(self.start) if self.start else StreamCursor()
        return self.streams[sobject]

    def dumps(self) -> str:
        payload: dict[str, Any] = {
            "v": 1,
            "kind": self.kind,
            "start": self.start,
            "streams": {k: v.to_json() for k, v in self.streams.items()},
        }
        if self.until is not None:
            payload["until"] = self.until
        return json.dumps(payload, separators=(",", ":"), sort_keys=True)

    @classmethod
    def at(cls, since: datetime) -> Cursor:
        return cls("any", start=sf_text(since))

    @classmethod
    def loads(cls, text: str | None, kind: str) -> Cursor:
        if not text:
            return cls(kind)
        try:
            data = json.loads(text)
            if data.get("v") != 1 or data.get("kind") not in (kind, "any"):
                raise ValueError("not a leadsync Salesforce cursor of this kind")
            streams = {k: StreamCursor.from_json(v) for k, v in data["streams"].items()}
            start, until = data.get("start"), data.get("until")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            from connectors.errors import ConfigurationError

            raise ConfigurationError(
                f"The stored Salesforce {kind} cursor cannot be read ({exc}); reset the sync state to backfill.",
                crm="salesforce",
            ) from exc
        return cls(kind, streams, str(start) if start else None, str(until) if until else None)
