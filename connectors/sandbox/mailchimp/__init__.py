"""Mailchimp Marketing API emulation (a nurture destination, not a CRM): see ``api.py``.

Served on the sandbox's plain-HTTP port under ``/3.0/``; point the official client at it by setting its
``api_client.host`` to ``<sandbox http url>/3.0``.
"""

from connectors.sandbox.mailchimp.api import (
    API_KEY,
    LIST_ID,
    MAX_CONNECTIONS,
    MAX_COUNT,
    SANDBOX_CREDENTIALS,
    SEGMENT_BATCH_LIMIT,
    MailchimpApi,
    create_api,
    member_hash,
)

__all__ = [
    "API_KEY",
    "LIST_ID",
    "MAX_CONNECTIONS",
    "MAX_COUNT",
    "SANDBOX_CREDENTIALS",
    "SEGMENT_BATCH_LIMIT",
    "MailchimpApi",
    "create_api",
    "member_hash",
]
