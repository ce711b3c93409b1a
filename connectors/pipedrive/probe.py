"""One call that tells whether anything changed since the sync's cursors (the fast lane asks it every minute).

``GET /v1/recents`` lists the persons and activities changed after a timestamp in one list (20 tokens, as
much as the two v2 listings it replaces, but one request).  It is asked from one second before the older
cursor, so the boundary second comes back whether "after" is inclusive or not; what the cursors already
handled there (same id, same second) is not a change.  A record changed twice within its boundary second is
not seen here (v1 data cannot be matched to the v2 fingerprint); the next change or the scheduled sync
reads it.  Deleted records are left to the scheduled sync, as the fast lane's sync leaves them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from connectors.errors import FatalApiError
from connectors.paging import PipedriveStart
from connectors.pipedrive.adapter import PipedriveAdapter
from connectors.pipedrive.cursor import ChangeCursor, parse_time

log = logging.getLogger(__name__)
PAGE_SIZE = 500  # v1 offset lists take up to 500 a page: an idle answer is one page


def v1_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _is_new(entry: dict[str, Any], cursor: ChangeCursor) -> bool:
    data = entry.get("data")
    if not isinstance(data, dict) or data.get("active_flag") is False or not data.get("update_time"):
        return False
    changed, since = int(parse_time(str(data["update_time"])).timestamp()), cursor.since or 0
    return changed > since or (changed == since and str(entry.get("id")) not in cursor.seen)


def changes_pending(adapter: PipedriveAdapter, contacts_cursor: str, activities_cursor: str | None) -> bool:
    """Whether ``read_contacts(contacts_cursor)`` or ``read_activity_changes(activities_cursor)`` has anything new."""
    cursors = {"person": ChangeCursor.parse(contacts_cursor, "persons")}
    if activities_cursor is not None:
        cursors["activity"] = ChangeCursor.parse(activities_cursor, "activities")
    if any(c.since is None or c.until is not None for c in cursors.values()):
        return True  # a read from the start, or one not finished: the sync decides
    since = min(c.since or 0 for c in cursors.values()) - 1
    params = {"since_timestamp": v1_time(since), "items": ",".join(cursors), "limit": PAGE_SIZE}
    paginator = PipedriveStart(PAGE_SIZE)
    try:
        for entries, _ in adapter.client.paginate("recents.list", "/api/v1/recents", params, paginator=paginator):
            for entry in entries:
                cursor = cursors.get(str(entry.get("item")))
                if cursor is not None and _is_new(entry, cursor):
                    return True
    except FatalApiError as exc:
        if exc.status != 400:
            raise
        # the comma-separated ``items`` is our reading of a "multiple selection" the spec types as one value:
        # refused, the tick asks the sync instead (two listings), which is never wrong, only dearer
        log.warning("Pipedrive refused the recents probe (%s); the fast lane runs the incremental sync", exc)
        return True
    return False
