"""The incremental cursor for second-granularity change timestamps.

Pipedrive's ``update_time`` has whole seconds and ``updated_since`` is inclusive (>=).  So a run re-reads the
boundary second (overlap) and drops what it already handled there: the cursor keeps the last ``update_time``
seen and, for the records of exactly that second, their ids with a fingerprint of the content.  A record
changed twice within the same second (same ``update_time``, new content) is therefore not lost either.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.errors import ConfigurationError

VERSION = 1
ANY = "any"  # a cursor from cursor_at(): valid for persons and activities alike


def parse_time(value: str) -> datetime:
    """RFC3339 (v2) or ``YYYY-MM-DD HH:MM:SS`` (v1, documented as UTC) -> aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(record: Any) -> str:
    return f"{zlib.crc32(json.dumps(record, sort_keys=True, default=str).encode()):08x}"


@dataclass
class ChangeCursor:
    kind: str
    since: int | None = None  # epoch seconds of the newest update_time handled
    seen: dict[str, str] = field(default_factory=dict)  # id -> fingerprint, for records at exactly `since`
    until: int | None = None  # epoch seconds a read from the start stops before (exclusive), until it ends

    @classmethod
    def parse(cls, raw: str | None, kind: str) -> ChangeCursor:
        if raw is None:
            return cls(kind)
        try:
            data = json.loads(raw)
            if data.get("kind") not in (kind, ANY) or data.get("v") != VERSION:
                raise ValueError(f"a {data.get('kind')!r} cursor")
            since, until = data.get("since"), data.get("until")
            return cls(
                kind,
                None if since is None else int(parse_time(since).timestamp()),
                dict(data.get("seen") or {}),
                None if until is None else int(parse_time(until).timestamp()),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigurationError(
                f"The stored Pipedrive {kind} cursor is not one this adapter wrote ({exc}); clear it to resync",
                crm="pipedrive",
            ) from exc

    def accept(self, ident: str, update_time: int, print_: str) -> bool:
        """Whether a record is new to this cursor; if so the cursor moves past it.

        Records arrive oldest change first.  Older than ``since``: handled before.  At ``since``: new
        unless the same id with the same content was handled.  Newer: new, and ``since`` moves up.
        """
        if self.since is not None and update_time < self.since:
            return False
        if update_time == self.since:
            if self.seen.get(ident) == print_:
                return False
            self.seen[ident] = print_
            return True
        self.since, self.seen = update_time, {ident: print_}
        return True

    def dumps(self) -> str:
        since = None if self.since is None else rfc3339(self.since)
        data: dict[str, Any] = {"v": VERSION, "kind": self.kind, "since": since, "seen": self.seen}
        if self.until is not None:
            data["until"] = rfc3339(self.until)
        return json.dumps(data, separators=(",", ":"))

    @property
    def updated_since(self) -> str | None:
        return None if self.since is None else rfc3339(self.since)
