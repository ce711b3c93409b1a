"""What the sandbox's webhooks are sent to and how: the receiver's URL, each vendor's secret, the vendors'
retry schedules (compressed by ``retry_scale``) and the test knobs (duplicates, out-of-order delivery).

The schedules and limits are the vendors' documented ones; docs/crm-api/ (each CRM's "Webhooks") has the sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.registry import CRM_NAMES


# seconds before each retry, in the vendor's own time (multiplied by ``retry_scale`` in the sandbox)
def _backoff(first: float, max_gap: float, window: float) -> tuple[float, ...]:
    """Doubling gaps from ``first``, each at most ``max_gap``, for as long as the total stays within ``window``."""
    delays: list[float] = []
    while sum(delays) + min(first * 2 ** len(delays), max_gap) <= window:
        delays.append(min(first * 2 ** len(delays), max_gap))
    return tuple(delays)


HUBSPOT_RETRIES = tuple(min(120.0 * 2**k, 8 * 3600.0) for k in range(10))  # 10 retries, doubling from 2 min
WORKFLOW_RETRIES = _backoff(60.0, 8 * 3600.0, 3 * 86400.0)  # from 1 min after, gaps <= 8 h, for 3 days
PIPEDRIVE_RETRIES = (3.0, 30.0, 150.0)  # 3 more attempts
# Flow retries wait "at least one minute"; gaps <= 2 h for 24 h are the sandbox's choice (crm-api/salesforce.md 3.7)
SALESFORCE_RETRIES = _backoff(60.0, 2 * 3600.0, 86400.0)
BATCH_LIMITS = {"hubspot": 100, "salesforce": 100, "pipedrive": 1, "hubspot_workflow": 1}
TIMEOUTS = {"hubspot": 5.0, "hubspot_workflow": 30.0, "pipedrive": 10.0, "salesforce": 60.0}


@dataclass
class WebhookConfig:
    """``url`` is a base: HubSpot posts to ``{url}/hubspot``, Pipedrive to ``{url}/pipedrive``, Salesforce to
    ``{url}/salesforce`` (``urls`` overrides one CRM's full URL).  No ``url``: no webhooks are sent."""

    url: str | None = None
    urls: dict[str, str] = field(default_factory=dict)
    crms: tuple[str, ...] = tuple(sorted(CRM_NAMES))
    hubspot_app_secret: str = "sandbox-hubspot-app-secret"
    hubspot_app_id: int = 1160452
    hubspot_portal_id: int = 62515
    hubspot_workflow_forms: bool = True  # a form submission enrols the contact in a "Send a webhook" workflow
    pipedrive_user: str = "leadsync"
    pipedrive_password: str = "sandbox-pipedrive-webhook-password"
    salesforce_secret: str = "sandbox-salesforce-webhook-secret"
    retry_scale: float = 0.001  # the vendors' 24 h of retries take 86 s
    retry_delays: dict[str, tuple[float, ...]] = field(default_factory=dict)  # per channel, sandbox seconds
    batch_window: float = 0.05  # HubSpot/Salesforce: changes this close together go in one request
    duplicate_rate: float = 0.0  # probability that a delivered request is sent once more (an ack lost)
    shuffle_seconds: float = 0.0  # each request waits uniform(0, this) first, so later changes may come first
    seed: int = 7

    def target(self, crm: str) -> str | None:
        if crm in self.urls:
            return self.urls[crm]
        return None if self.url is None else f"{self.url.rstrip('/')}/{crm}"

    def delays(self, channel: str) -> tuple[float, ...]:
        if channel in self.retry_delays:
            return tuple(self.retry_delays[channel])
        vendor = {
            "hubspot": HUBSPOT_RETRIES,
            "hubspot_workflow": WORKFLOW_RETRIES,
            "pipedrive": PIPEDRIVE_RETRIES,
            "salesforce": SALESFORCE_RETRIES,
        }[channel]
        return tuple(d * self.retry_scale for d in vendor)

    def validate(self) -> None:
        for name in ("duplicate_rate",):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.retry_scale <= 0 or self.shuffle_seconds < 0 or self.batch_window < 0:
            raise ValueError("retry_scale must be positive; shuffle_seconds and batch_window not negative")
