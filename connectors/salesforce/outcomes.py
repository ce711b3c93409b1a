"""Won and lost outcomes of Salesforce leads and contacts, for calibration (``SalesforceAdapter.read_outcomes``).

Opportunities closed won or lost, tied to contacts by ``OpportunityContactRole`` and to leads by their conversion;
leads in one of the configured lost statuses count as lost.  Three queries, sent in one Composite call.
"""

from __future__ import annotations

from collections.abc import Iterator

from connectors.records import Outcome
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.config import SalesforceConfig
from connectors.salesforce.mapping import quote, to_datetime


def read_outcomes(client: SalesforceClient, config: SalesforceConfig) -> Iterator[Outcome]:
    soqls = [
        "SELECT Id, IsWon, CloseDate, Amount FROM Opportunity WHERE IsClosed = true",
        "SELECT Id, ContactId, OpportunityId FROM OpportunityContactRole WHERE Opportunity.IsClosed = true",
    ]
    if "Lead" in config.objects:
        lead_soql = (
            "SELECT Id, Status, IsConverted, ConvertedContactId, ConvertedOpportunityId, ConvertedDate "
            "FROM Lead WHERE IsConverted = true"
        )
        if config.lost_statuses:
            lead_soql += f" OR Status IN ({', '.join(quote(s) for s in config.lost_statuses)})"
        soqls.append(lead_soql)
    results = client.query_all(soqls)
    opps = {str(o["Id"]): o for o in results[0]}
    roles: dict[str, list[str]] = {}
    for role in results[1]:
        if role.get("ContactId") and str(role.get("OpportunityId")) in opps:
            roles.setdefault(str(role["ContactId"]), []).append(str(role["OpportunityId"]))

    def outcome(contact_id: str, opp_id: str) -> Outcome:
        opp = opps[opp_id]
        amount = opp.get("Amount")
        return Outcome(
            contact_id=contact_id,
            won=bool(opp.get("IsWon")),
            closed_at=to_datetime(opp.get("CloseDate")),
            amount=float(amount) if amount is not None else None,
            source_id=opp_id,
        )

    if "Contact" in config.objects:
        for contact_id, opp_ids in roles.items():
            for opp_id in dict.fromkeys(opp_ids):
                yield outcome(contact_id, opp_id)
    for lead in results[2] if len(results) > 2 else []:
        lead_id = str(lead["Id"])
        if not lead.get("IsConverted"):
            yield Outcome(contact_id=lead_id, won=False, closed_at=None, source_id=f"LeadStatus:{lead['Status']}")
            continue
        opp_id = str(lead.get("ConvertedOpportunityId") or "")
        linked = [opp_id] if opp_id in opps else roles.get(str(lead.get("ConvertedContactId") or ""), [])
        if linked:
            for linked_id in dict.fromkeys(linked):
                yield outcome(lead_id, linked_id)
        elif opp_id and config.converted_counts_as_won:
            # converted into an opportunity that is still open: the lead itself was won
            yield Outcome(
                contact_id=lead_id, won=True, closed_at=to_datetime(lead.get("ConvertedDate")), source_id=opp_id
            )
