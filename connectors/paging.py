"""Paging: one small paginator per CRM API convention, and one loop that walks any of them.

As in dlt, a paginator holds the position of the next page: ``update_state(page)`` reads it from the page
just received, ``next_request(params)`` adds it to the parameters of the next call, ``has_next`` says
whether there is one.  As in singer-sdk's ``advance()``, the guard against a CRM that hands back a token it
gave before (which would loop forever) lives in ``update_state``, once for every paginator:

==========================  ============================================  ==========================
paginator                   where the next position is                    what the next call sends
==========================  ============================================  ==========================
``HubSpotAfter``            ``paging.next.after``                         ``after``
``HubSpotOffset``           ``offset`` (while ``hasMore``)                ``offset``
``SalesforceNextUrl``       ``nextRecordsUrl`` (while ``done`` is false)  ``next_url`` (query more)
``PipedriveStart``          ``additional_data.pagination.next_start``     ``start`` and ``limit``
``PipedriveCursor``         ``additional_data.next_cursor``               ``cursor``
``ActiveCampaignOffset``    this offset plus the page's items (< total)   ``offset`` and ``limit``
==========================  ============================================  ==========================

Pages may be JSON documents (dicts) or the models of a generated client (attributes): both are read.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from connectors.errors import RepeatedPageToken

T = TypeVar("T")


def dig(page: Any, *path: str) -> Any:
    """``page[a][b]...`` for JSON, ``page.a.b...`` for client models; None where the path stops."""
    value = page
    for name in path:
        if value is None:
            return None
        value = value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
    return value


class Paginator(ABC):
    """The position of the next page of one listing, and the loop guard every paginator shares."""

    crm = ""
    #: the request parameter (or request part) that carries the position
    param = ""

    def __init__(self, start: Hashable | None = None, *, endpoint: str = ""):
        self.token: Hashable | None = start  # None: the first page
        self.has_next = True
        self.endpoint = endpoint
        self._seen: set[Hashable] = set() if start is None else {start}

    @abstractmethod
    def next_token(self, page: Any) -> Hashable | None:
        """Where the page after ``page`` starts, or None when ``page`` is the last one."""

    def update_state(self, page: Any) -> None:
        """Take the position of the next page from ``page``; raise ``RepeatedPageToken`` on a token seen before."""
        token = self.next_token(page)
        if token is None or token == "":
            self.has_next = False
            return
        if token in self._seen:
            raise RepeatedPageToken(token, crm=self.crm, endpoint=self.endpoint)
        self._seen.add(token)
        self.token = token

    def next_request(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``params`` with the position of the next page (nothing added for the first page)."""
        request = dict(params or {})
        if self.token is not None:
            request[self.param] = self.token
        return request


class HubSpotAfter(Paginator):
    """HubSpot CRM v3/v4 lists: ``paging.next.after`` names the next page; its absence ends the listing."""

    crm = "hubspot"
    param = "after"

    def next_token(self, page: Any) -> Hashable | None:
        after = dig(page, "paging", "next", "after")
        return None if after is None else str(after)


class HubSpotOffset(Paginator):
    """HubSpot's legacy email events API: while ``hasMore``, ``offset`` names the next page."""

    crm = "hubspot"
    param = "offset"

    def next_token(self, page: Any) -> Hashable | None:
        offset = dig(page, "offset")
        return str(offset) if dig(page, "hasMore") and offset else None


class SalesforceNextUrl(Paginator):
    """Salesforce queries: while ``done`` is false, ``nextRecordsUrl`` is where the next batch is read."""

    crm = "salesforce"
    param = "next_url"

    def next_token(self, page: Any) -> Hashable | None:
        if dig(page, "done") is not False:
            return None
        url = dig(page, "nextRecordsUrl")
        return None if url is None else str(url)


class PipedriveStart(Paginator):
    """Pipedrive v1 lists: ``start``/``limit`` offsets, ``more_items_in_collection`` and ``next_start``."""

    crm = "pipedrive"
    param = "start"

    def __init__(self, limit: int, *, endpoint: str = ""):
        super().__init__(0, endpoint=endpoint)
        self.limit = limit

    def next_token(self, page: Any) -> Hashable | None:
        pagination = dig(page, "additional_data", "pagination") or {}
        if not pagination.get("more_items_in_collection"):
            return None
        next_start = pagination.get("next_start")
        return None if next_start is None else int(next_start)

    def next_request(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {**super().next_request(params), "limit": self.limit}


class PipedriveCursor(Paginator):
    """Pipedrive v2 lists: ``additional_data.next_cursor`` names the next page; null ends the listing."""

    crm = "pipedrive"
    param = "cursor"

    def next_token(self, page: Any) -> Hashable | None:
        cursor = dig(page, "additional_data", "next_cursor")
        return None if cursor is None else str(cursor)


class ActiveCampaignOffset(Paginator):
    """ActiveCampaign v3 lists: ``offset``/``limit``; the listing ends at an empty page or at ``meta.total``."""

    crm = "activecampaign"
    param = "offset"

    def __init__(self, limit: int, items: str, *, endpoint: str = ""):
        super().__init__(0, endpoint=endpoint)
        self.limit = limit
        self.items = items  # the key of the page's list: "tags", "contacts"...

    def next_token(self, page: Any) -> Hashable | None:
        listed = len(dig(page, self.items) or [])
        following = (self.token if isinstance(self.token, int) else 0) + listed
        total = int(dig(page, "meta", "total") or 0)
        return None if not listed or following >= total else following

    def next_request(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return {**super().next_request(params), "limit": self.limit}


def pages(
    fetch: Callable[[dict[str, Any]], T], paginator: Paginator, params: Mapping[str, Any] | None = None
) -> Iterator[T]:
    """Every page of one listing: ``fetch(request)`` for each, the paginator's position added to ``params``.

    The paginator is updated before its page is yielded, so a consumer can read ``paginator.has_next`` and
    ``paginator.token`` (the resumption point after that page).
    """
    while paginator.has_next:
        page = fetch(paginator.next_request(params))
        paginator.update_state(page)
        yield page


def snapshot_bound(now: Callable[[], datetime], sleep: Callable[[float], None]) -> datetime:
    """Where a read from the start (a backfill) stops, exclusive: the whole second after ``now`` began.

    CRMs stamp changes in whole seconds, so the second a backfill starts in holds both records changed before
    it (which the backfill must read) and its own first writes (which it must not read again).  The bound is
    the next whole second, and the read waits (on ``sleep``, at most a second) until it has passed, so every
    record stamped before the bound existed when the read began and every write of this backfill lands after.
    """
    started = now()
    bound = started.replace(microsecond=0) + timedelta(seconds=1)
    sleep((bound - started).total_seconds())
    return bound


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter): ids per batch call, per SQL statement..."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
