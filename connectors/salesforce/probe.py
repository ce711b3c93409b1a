"""One call that tells whether anything changed since the sync's cursors (the fast lane asks it every minute).

A ``SELECT COUNT()`` per contact object and per activity object, from each stream's position (records after
the newest one handed out, by ``SystemModstamp`` then ``Id``), all in one composite request (up to five
queries a call: the contact object and Task, Event and CampaignMember fit).  A late commit stamped before the
position is not seen here; the scheduled sync's overlap re-read still picks it up.
"""

from __future__ import annotations

from connectors.salesforce.adapter import SalesforceAdapter
from connectors.salesforce.cursor import Cursor, StreamCursor, parse_sf_datetime, soql_datetime
from connectors.salesforce.mapping import ACTIVITY_OBJECTS, quote


def _after(stream: StreamCursor) -> str:
    if stream.ts is None:
        return ""
    stamp = soql_datetime(parse_sf_datetime(stream.ts))
    if stream.last_id is None:
        return f" WHERE SystemModstamp > {stamp}"
    return f" WHERE (SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > {quote(stream.last_id)}))"


def changes_pending(adapter: SalesforceAdapter, contacts_cursor: str, activities_cursor: str | None) -> bool:
    """Whether ``read_contacts(contacts_cursor)`` or ``read_activity_changes(activities_cursor)`` has anything new."""
    contacts = Cursor.loads(contacts_cursor, "contacts")
    activities = Cursor.loads(activities_cursor, "activities") if activities_cursor else None
    soqls = [f"SELECT COUNT() FROM {sobject}{_after(contacts.stream(sobject))}" for sobject in adapter.config.objects]
    if activities is not None:
        soqls += [f"SELECT COUNT() FROM {sobject}{_after(activities.stream(sobject))}" for sobject in ACTIVITY_OBJECTS]
    for answers in adapter.client.query_rounds(soqls):
        if any(int(body.get("totalSize") or 0) for _, body in answers):
            return True
    return False
