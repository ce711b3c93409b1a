"""Nurture destinations: e-mail marketing tools leadsync hands contacts below the MQL line to.

``Destination`` (``base``) is the protocol; ``MailchimpDestination`` and ``ActiveCampaignDestination`` are the
two tools.  Their API facts, with sources, are in docs/nurture-api.md.
"""

from connectors.nurture.activecampaign import ActiveCampaignDestination
from connectors.nurture.base import NOT_A_MEMBER, Destination, Member, MoveResult, Target, subscriber_hash
from connectors.nurture.mailchimp import NEW_MEMBER_STATUSES, MailchimpDestination

__all__ = [
    "NEW_MEMBER_STATUSES",
    "NOT_A_MEMBER",
    "ActiveCampaignDestination",
    "Destination",
    "MailchimpDestination",
    "Member",
    "MoveResult",
    "Target",
    "subscriber_hash",
]
