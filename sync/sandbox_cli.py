"""``leadsync sandbox ...`` as leadsync serves it: the sandbox's commands, with the ``.env`` lines they print
checked against leadsync's settings (``connectors`` never imports ``sync``, so the setting names come from here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.sandbox import cli as sandbox_cli
from sync.settings import (
    ActiveCampaignSettings,
    HubSpotSettings,
    MailchimpSettings,
    PipedriveSettings,
    SalesforceSettings,
    ServerSettings,
)


def known_settings() -> dict[str, set[str]]:
    """CRM (and ``server``, the webhook intake, and the nurture tools) -> the setting names leadsync accepts under
    ``LEADSYNC_<NAME>__``."""
    return {
        "hubspot": set(HubSpotSettings.model_fields),
        "salesforce": set(SalesforceSettings.model_fields),
        "pipedrive": set(PipedriveSettings.model_fields),
        "server": set(ServerSettings.model_fields),
        "mailchimp": set(MailchimpSettings.model_fields),
        "activecampaign": set(ActiveCampaignSettings.model_fields),
    }


def env_lines(sandbox: Any, crms: Sequence[str]) -> list[str]:
    """The ``LEADSYNC_...`` lines that point leadsync at ``sandbox`` (a line leadsync would not read is a comment)."""
    return sandbox_cli.env_lines(sandbox, crms, known_settings())


sandbox = sandbox_cli.command_group(known_settings())
