"""ActiveCampaign v3 API emulation (a nurture destination, not a CRM): see ``api.py``.

Served on the sandbox's plain-HTTP port under ``/api/3/``; its base URL is the sandbox's ``http_url``.
"""

from connectors.sandbox.activecampaign.api import (
    API_TOKEN,
    PAGE_MAX,
    REQUESTS_PER_SECOND,
    SANDBOX_CREDENTIALS,
    ActiveCampaignApi,
    create_api,
)

__all__ = ["API_TOKEN", "PAGE_MAX", "REQUESTS_PER_SECOND", "SANDBOX_CREDENTIALS", "ActiveCampaignApi", "create_api"]
