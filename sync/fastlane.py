"""The fast lane: an incremental sync every minute or so, for a CRM whose webhooks cannot be set up.

It must cost one API call when nothing changed, so it is not the scheduled sync run more often.  It first asks
the CRM whether anything changed since the sync's cursors, in one call, and runs an incremental sync (without
the removals read: deleted and merged records are left to the scheduled sync) only when something did:

- HubSpot: one search counts the contacts changed since the cursor (``count_contacts``); a new engagement or
  form submission moves the contact's ``lastmodifieddate``.  Marketing email events do not: the scheduled
  sync reads those.
- Salesforce: one composite request of ``COUNT()`` queries, the contact object and each activity object from
  its stream's position (``connectors.salesforce.probe``).
- Pipedrive: one ``GET /v1/recents`` lists the persons and activities changed since the older of the two
  cursors (``connectors.pipedrive.probe``); an activity does not change its person, so one listing of
  either would not do.

The daemon runs it on an executor of its own and skips a tick while another run holds the mutex, so it never
overlaps (nor queues up behind) the full sync.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from connectors.base import CountsContacts
from sync.app import App
from sync.pipeline import ACTIVITIES_STREAM, CONTACTS_STREAM, Pipeline, RunSummary
from sync.pipeline_parts import _Batch

log = logging.getLogger("leadsync.fastlane")


class FastLanePipeline(Pipeline):
    """An incremental sync that leaves deleted and merged records to the scheduled sync."""

    def _removal_batches(self) -> Iterator[_Batch]:
        return iter(())


def fast_lane(
    app: App, *, stop: threading.Event | None = None, on_p1: Callable[..., Any] | None = None
) -> RunSummary | None:
    """One fast-lane tick: None when the CRM said, in one call, that nothing changed; else the sync's summary."""
    _ = app.model, app.blocks  # a bad model file fails before any call
    crm = app.settings.crm
    cursor = app.store.get_cursor(crm, CONTACTS_STREAM)
    if cursor is None:  # no incremental cursor yet (no backfill): the regular sync decides what to do
        return app.run("sync", stop=stop, on_p1=on_p1)
    if not changes_pending(app, cursor):
        log.debug("fast lane: nothing changed in %s", crm)
        return None
    pipe = app.pipeline(stop=stop, on_p1=on_p1, kind=FastLanePipeline)
    with app.watched(pipe, "sync"):
        return pipe.sync()


def changes_pending(app: App, contacts_cursor: str) -> bool:
    """The CRM's answer, in one call, where it has one; True (ask the sync) where it has none."""
    adapter = app.adapter
    if app.settings.crm == "hubspot" and isinstance(adapter, CountsContacts):
        return adapter.count_contacts(contacts_cursor) > 0
    if app.settings.crm == "salesforce":
        from connectors.salesforce.adapter import SalesforceAdapter
        from connectors.salesforce.probe import changes_pending as salesforce_changes

        if isinstance(adapter, SalesforceAdapter):
            return salesforce_changes(
                adapter, contacts_cursor, app.store.get_cursor(app.settings.crm, ACTIVITIES_STREAM)
            )
    if app.settings.crm == "pipedrive":
        from connectors.pipedrive.adapter import PipedriveAdapter
        from connectors.pipedrive.probe import changes_pending as pipedrive_changes

        if isinstance(adapter, PipedriveAdapter):
            return pipedrive_changes(
                adapter, contacts_cursor, app.store.get_cursor(app.settings.crm, ACTIVITIES_STREAM)
            )
    return True
