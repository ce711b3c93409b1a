"""HubSpot contacts deleted or merged away since a cursor (``HubSpotAdapter.read_removals``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from connectors.base import Removal, RemovalPage
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.config import HubSpotConfig
from connectors.hubspot.cursor import Archived, parse_removals_cursor
from connectors.hubspot.mapping import parse_time, to_ms
from connectors.paging import HubSpotAfter, pages
from connectors.records import Contact

LIST_PAGE = 100


def read_removals(
    client: HubSpotClient,
    config: HubSpotConfig,
    cursor: str | None,
    get_contacts: Callable[[Sequence[str]], list[Contact]],
) -> Iterator[RemovalPage]:
    """Contacts archived since the cursor: ``GET /crm/v3/objects/contacts?archived=true`` (100 per call;
    the listing has no time filter, so it is read whole and filtered by ``archivedAt``; HubSpot keeps
    archived contacts 90 days).  Each archived id is then read once more (``get_contacts``: batch read, 100
    per call): an id that resolves to another contact was merged into it, else it was deleted.  Merges are
    also seen on the survivor's ``hs_merged_object_ids`` (``Contact.merged_from``)."""
    started = to_ms(config.now())
    state = parse_removals_cursor(cursor) if cursor else Archived(started)
    archived: list[tuple[str, datetime]] = []

    def fetch(request: dict[str, Any]) -> Any:
        data, _, _ = client.call(
            "contacts.list_archived",
            partial(
                client.contacts_basic.get_page_with_http_info,
                limit=LIST_PAGE,
                after=request.get("after"),
                properties=["hs_object_id"],
                archived=True,
                _request_timeout=config.timeout,
            ),
        )
        return data

    for data in pages(fetch, HubSpotAfter(endpoint="contacts.list_archived")):
        for obj in data.results or []:
            at = parse_time(getattr(obj, "archived_at", None) or getattr(obj, "updated_at", None))
            if at is not None and to_ms(at) >= state.since:
                archived.append((str(obj.id), at))
    survivors = _survivors([cid for cid, _ in archived], get_contacts)
    removals = tuple(Removal(cid, survivors.get(cid), at) for cid, at in sorted(archived, key=lambda a: (a[1], a[0])))
    # the next read starts where this listing started: a contact archived while it ran may be reported
    # twice (the sync counts an id once), never missed
    yield RemovalPage(removals, Archived(max(started, state.since)).json(), done=True)


def _survivors(ids: Sequence[str], get_contacts: Callable[[Sequence[str]], list[Contact]]) -> dict[str, str]:
    """Removed id -> the contact it was merged into, for those of ``ids`` that resolve to another one."""
    found: dict[str, str] = {}
    wanted = set(ids)
    for contact in get_contacts(ids) if ids else []:
        for old in contact.merged_from:
            if old in wanted and old != contact.id:
                found[old] = contact.id
    return found
