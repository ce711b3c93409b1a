"""``Organizations``: the company names of Pipedrive persons (``org_name``), kept between runs.

A v2 person carries only ``org_id``; the name lives on the organization (docs/crm-api.md 1.6).  A backfill
lists every organization once (ceil(orgs/500) calls), as does a page that needs more than 100 unknown ones;
fewer are asked by ``ids``.  Once every organization has been listed, the names go to the state store (the
adapter's fields cache, beside the person fields) with a cursor: the newest ``update_time`` seen.  A later
run loads them and asks only ``GET /api/v2/organizations?updated_since=<cursor>`` (inclusive, RFC3339; one
call unless more than 500 changed), the first time a page of persons needs a name: an echo sync does not
list them all again, an unchanged sync (no person listed) asks nothing.  Renamed and new organizations both
move ``update_time``.

Names are persisted up to ``PERSISTED_MAX`` organizations; a larger account keeps them in a temporary file
for the run (``OrgNames``) and lists them again on the next backfill-sized page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.paging import chunks
from connectors.pipedrive.cursor import parse_time
from connectors.pipedrive.spill import OrgNames

MAX_IDS = 100  # ids per v2 list request
PERSISTED_MAX = 20_000  # names kept in the state store; beyond it the blob would be rewritten large every run

EPOCH = datetime.fromtimestamp(0, UTC)
# (endpoint name, path, params) -> pages of (records, more)
Paginate = Callable[[str, str, dict[str, Any]], Iterator[tuple[list[dict[str, Any]], bool]]]


class Organizations:
    """Organization names by id for one adapter: loaded from and saved to its cache blob's ``organizations``."""

    def __init__(self, paginate: Paginate) -> None:
        self._paginate = paginate
        self._names = OrgNames()
        self.since: datetime | None = None  # newest update_time seen once every organization was listed
        self._checked = False  # asked for changes since ``since`` in this run
        self.changed = False  # names the cache blob does not have yet

    def new_run(self) -> None:
        """A new read: names known from an earlier run are checked for changes before use."""
        self._checked = False
        if self.since is None:  # never listed whole: no cursor to bring names up to date, so forget them
            self._names.close()

    def load(self, blob: Mapping[str, Any] | None) -> None:
        """Names and cursor from the cache blob's ``organizations`` (a missing or unreadable one is ignored)."""
        if not blob or self.since is not None:
            return
        try:
            since = parse_time(str(blob["since"]))
            names = [(int(k), str(v)) for k, v in dict(blob["names"]).items()]
        except (KeyError, TypeError, ValueError):
            return
        self._names.update(names)
        self.since = since

    def dump(self) -> dict[str, Any] | None:
        """The blob to persist, or None (never listed whole, or too many to keep)."""
        if self.since is None or self._names.spilled or self._names.size > PERSISTED_MAX:
            return None
        return {"since": self.since.isoformat(), "names": {str(k): v for k, v in self._names.items()}}

    def names_for(self, persons: Sequence[Mapping[str, Any]], backfill: bool = False) -> dict[int, str]:
        """The organization names of one page of persons, asking Pipedrive only for what is unknown or changed.

        Without a cursor, a backfill (which will need them all) or a page with more than 100 unknown ones lists
        every organization, which starts the cursor; otherwise the unknown ones are asked by ``ids``."""
        wanted = sorted({int(p["org_id"]) for p in persons if p.get("org_id")})
        if not wanted:
            return {}
        if self.since is not None and not self._checked:
            since = self.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._list({"updated_since": since, "limit": 500}, moves_cursor=True)
        self._checked = True
        names = self._names.known(wanted)
        missing = [org_id for org_id in wanted if org_id not in names]
        if not missing:
            return names
        if self.since is None and (backfill or len(missing) > MAX_IDS):
            self._list({"limit": 500}, moves_cursor=True)
        else:
            for chunk in chunks(missing, MAX_IDS):
                self._list({"ids": ",".join(map(str, chunk)), "limit": 500})
        return self._names.known(wanted)

    def _list(self, params: dict[str, Any], moves_cursor: bool = False) -> None:
        """Names from one listing; a whole listing or a changes listing moves the cursor (names asked by id
        never do: changes to other organizations may lie between the cursor and them)."""
        newest = self.since or EPOCH
        for orgs, _ in self._paginate("organizations.list", "/api/v2/organizations", params):
            self._names.update([(int(o["id"]), str(o.get("name") or "")) for o in orgs])
            self.changed = self.changed or bool(orgs)
            for org in orgs:
                if org.get("update_time"):
                    newest = max(newest, parse_time(org["update_time"]))
        if moves_cursor:
            self.since = newest

    def close(self) -> None:
        self._names.close()
