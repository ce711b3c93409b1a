"""Won and lost outcomes of HubSpot contacts, for calibration (``HubSpotAdapter.read_outcomes``): deals in a
won or lost stage, each yielding an outcome per associated contact.  Deals are listed with their contact
associations, 100 a page (``after`` paging)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from connectors.http import parse_float
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.config import HubSpotConfig
from connectors.hubspot.mapping import parse_time
from connectors.paging import HubSpotAfter, pages
from connectors.records import Outcome

LIST_PAGE = 100  # deals per page of the list endpoint


def read_outcomes(client: HubSpotClient, config: HubSpotConfig) -> Iterator[Outcome]:
    won, lost = set(config.won_stages), set(config.lost_stages)

    def fetch(request: dict[str, Any]) -> Any:
        data, _, _ = client.call(
            "deals.list",
            partial(
                client.objects_basic.get_page_with_http_info,
                "deals",
                limit=LIST_PAGE,
                after=request.get("after"),
                properties=["dealstage", "closedate", "amount", "dealname"],
                associations=["contacts"],
                archived=False,
                _request_timeout=config.timeout,
            ),
        )
        return data

    for data in pages(fetch, HubSpotAfter(endpoint="deals.list")):
        for deal in data.results or []:
            props = deal.properties or {}
            stage = props.get("dealstage")
            if stage not in won and stage not in lost:
                continue
            amount = parse_float(props.get("amount"))
            closed = parse_time(props.get("closedate"))
            assoc = (deal.associations or {}).get("contacts")
            for link in (assoc.results if assoc else None) or []:
                yield Outcome(str(link.id), stage in won, closed, amount, source_id=str(deal.id))
