"""The sandbox sends webhooks as HubSpot, Pipedrive and Salesforce do (``WebhookConfig``, ``WebhookSender``).

``Sandbox(SandboxConfig(webhooks=WebhookConfig(url=...)))`` starts a sender with the sandbox; every contact,
person, lead, activity or form submission changed through the API or a test hook is then posted to
``{url}/{crm}`` in the vendor's shape, signed with the vendor's scheme, and retried on the vendor's schedule.
"""

from connectors.sandbox.webhooks.config import WebhookConfig
from connectors.sandbox.webhooks.sender import Attempt, WebhookSender
from connectors.sandbox.webhooks.vendors import SALESFORCE_SECRET_HEADER, hubspot_signature_v3

__all__ = ["SALESFORCE_SECRET_HEADER", "Attempt", "WebhookConfig", "WebhookSender", "hubspot_signature_v3"]
