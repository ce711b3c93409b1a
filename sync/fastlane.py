"""The fast lane: an incremental sync every minute or so, for a CRM whose webhooks cannot be set up.

It must cost one API call when nothing changed, so it is not the scheduled sync run more often:

- HubSpot: one search counts the contacts changed since the cursor (``count_contacts``); a new engagement or
  form submission moves the contact's ``lastmodifieddate``, so zero means nothing to score and no run is
  recorded.  Marketing email events do not move it: the scheduled sync reads those.
- Salesforce and Pipedrive: an incremental sync without the removals read (deleted and merged records are
  left to the scheduled sync).  Salesforce reads contacts and activities in one composite call; Pipedrive
  lists persons and activities separately (an activity does not change its person), so two calls.

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
from sync.pipeline import CONTACTS_STREAM, Pipeline, RunSummary
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
    adapter = app.adapter
    cursor = app.store.get_cursor(app.settings.crm, CONTACTS_STREAM)
    if cursor is None:  # no incremental cursor yet (no backfill): the regular sync decides what to do
        return app.run("sync", stop=stop, on_p1=on_p1)
    if app.settings.crm == "hubspot" and isinstance(adapter, CountsContacts):
        if adapter.count_contacts(cursor) == 0:
            log.debug("fast lane: nothing changed in hubspot")
            return None
        return app.run("sync", stop=stop, on_p1=on_p1)
    return app.pipeline(stop=stop, on_p1=on_p1, kind=FastLanePipeline).sync()
