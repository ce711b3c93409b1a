"""The settings sections of the hot path and the hand-offs: owner notifications, response SLAs, the dashboard,
the webhook worker and fast lane, and the nurture tools (Mailchimp, ActiveCampaign).  ``sync.settings`` holds
the root ``Settings`` and re-exports these."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from sync.settings_base import Section as _Section
from sync.settings_base import cron_line as _cron_line
from sync.settings_base import http_url as _http_url
from sync.settings_base import secret_url as _secret_url


class MailchimpSettings(_Section):
    api_key: SecretStr | None = None  # Account > Extras > API keys; ends in -<data center>
    list_id: str | None = None  # the audience id
    server: str | None = None  # data-center prefix (us21); unset: the part of the key after "-"
    base_url: str | None = None  # unset: https://<server>.api.mailchimp.com/3.0; set only for the sandbox
    new_member_status: Literal["", "pending", "transactional"] = ""  # "": existing members only
    batch_max_operations: int | None = Field(None, ge=1, description="operations per batch; unset: one batch")
    batch_poll_seconds: float = Field(5.0, ge=0)

    _urls = field_validator("base_url")(_http_url)

    @model_validator(mode="after")
    def _data_center(self) -> MailchimpSettings:
        key = self.api_key.get_secret_value() if self.api_key is not None else ""
        if key and not self.server and not self.base_url and "-" not in key.strip("-"):
            # never echo the key: it is a secret
            raise ValueError(
                "LEADSYNC_MAILCHIMP__API_KEY does not end in -<data center> (e.g. -us21): paste the whole key from "
                "Account > Extras > API keys, or set LEADSYNC_MAILCHIMP__SERVER"
            )
        return self


class ActiveCampaignSettings(_Section):
    api_token: SecretStr | None = None  # Settings > Developer
    base_url: str | None = None  # your account's API URL, https://<account>.api-us1.com
    create_contacts: bool = False  # false: only contacts ActiveCampaign already holds are tagged
    automations: dict[str, str] = Field(default_factory=dict)  # tag name -> automation id to add the contact to
    requests_per_second: float = Field(5.0, gt=0, le=5.0)

    _urls = field_validator("base_url")(_http_url)


NURTURE_TOOLS = ("mailchimp", "activecampaign")
# each CRM's standard "may not be e-mailed" field (Pipedrive: the Campaigns marketing status of a person)
DEFAULT_OPT_OUT_FIELDS = {
    "hubspot": ("hs_email_optout",),
    "salesforce": ("HasOptedOutOfEmail",),
    "pipedrive": ("marketing_status",),
}


class NurtureSettings(_Section):
    # model segment -> targets "<tool>:tag:<name>" or "mailchimp:segment:<id>"
    segments: dict[str, list[str]] = Field(default_factory=dict)
    # CRM fields that say a contact may not be e-mailed (true, or unsubscribed / no_consent); "": the CRM's own
    opt_out_fields: str = ""
    require_opt_out_field: bool = True  # a contact none of those fields was read for is not handed off

    @field_validator("segments")
    @classmethod
    def _targets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for segment, targets in value.items():
            for target in targets:
                tool, _, rest = target.partition(":")
                kind, _, name = rest.partition(":")
                if tool not in NURTURE_TOOLS or kind not in ("tag", "segment") or not name:
                    raise ValueError(
                        f"segment {segment!r}: {target!r} is not '<tool>:tag:<name>' or 'mailchimp:segment:<id>' "
                        f"(tools: {', '.join(NURTURE_TOOLS)})"
                    )
                if tool == "activecampaign" and kind != "tag":
                    raise ValueError(f"segment {segment!r}: ActiveCampaign targets are tags, not {kind}s")
        return value

    def opt_out_names(self, crm: str) -> list[str]:
        names = [name.strip() for name in self.opt_out_fields.split(",") if name.strip()]
        return names or list(DEFAULT_OPT_OUT_FIELDS.get(crm, ()))


NotifyEvent = Literal["p1", "sql", "owner", "escalation"]
NotifyChannel = Literal["slack", "teams", "email"]


def _timezone(value: str | None) -> str | None:
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin or UTC") from None
    return value


def _address(value: str | None) -> str | None:
    if value is not None and ("@" not in value or any(c in value for c in " ,;<>")):
        raise ValueError(f"{value!r} is not one e-mail address")
    return value


class OwnerRoute(_Section):
    """Where one owner is told (keyed by the owner's CRM user id or e-mail address in NOTIFY__OWNERS)."""

    email: str | None = None  # unset: the owner's e-mail address in the CRM
    slack_webhook_url: SecretStr | None = None  # the owner's own Slack webhook (a DM); unset: the team channel
    teams_webhook_url: SecretStr | None = None
    timezone: str | None = None  # unset: NOTIFY__TIMEZONE

    _urls = field_validator("slack_webhook_url", "teams_webhook_url")(_secret_url)
    _tz = field_validator("timezone")(_timezone)
    _email = field_validator("email")(_address)


def _default_events() -> dict[NotifyEvent, list[NotifyChannel]]:
    return {
        "p1": ["slack", "teams", "email"],
        "sql": ["email"],
        "owner": ["email"],
        "escalation": ["slack", "teams", "email"],
    }


class NotifySettings(_Section):
    """Owner notifications: a contact became P1 or SQL, its owner changed, or its SLA ran out untouched."""

    events: dict[NotifyEvent, list[NotifyChannel]] = Field(default_factory=_default_events)
    owners: dict[str, OwnerRoute] = Field(default_factory=dict)
    timezone: str = "UTC"  # owners' time zone unless their route names one
    slack_webhook_url: SecretStr | None = None  # the team's channel, for owners without a webhook of their own
    teams_webhook_url: SecretStr | None = None  # Teams Workflows ("When a Teams webhook request is received") URL
    manager_email: str | None = None  # escalations also go to the manager channel(s)
    manager_slack_webhook_url: SecretStr | None = None
    manager_teams_webhook_url: SecretStr | None = None
    in_backfill: bool = False  # a backfill tells nobody unless this is true
    max_per_run: int = Field(50, ge=0)  # beyond it, one summary message instead of the rest
    attempts: int = Field(3, ge=1, le=10)
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "plain"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "leadsync@localhost"
    smtp_timeout: float = Field(10.0, gt=0)
    hubspot_portal_id: str | None = None  # record links: app.hubspot.com/contacts/PORTAL/record/0-1/ID
    hubspot_app_url: str = "https://app.hubspot.com"  # https://app-eu1.hubspot.com for an EU account
    salesforce_url: str | None = None  # unset: SALESFORCE__INSTANCE_URL
    pipedrive_company_domain: str | None = None  # yourcompany in https://yourcompany.pipedrive.com

    _urls = field_validator(
        "slack_webhook_url", "teams_webhook_url", "manager_slack_webhook_url", "manager_teams_webhook_url"
    )(_secret_url)
    _links = field_validator("hubspot_app_url", "salesforce_url")(_http_url)
    _tz = field_validator("timezone")(_timezone)
    _email = field_validator("manager_email", "smtp_from")(_address)


class SlaSettings(_Section):
    """Response-SLA tracking of prioritized leads, and the daemon's escalation of leads untouched when due."""

    tiers: list[str] = Field(default_factory=lambda: ["P1", "P2"])
    escalate: bool = True
    escalation_cron: str = "* * * * *"  # how often the daemon looks for leads past their due time

    _cron = field_validator("escalation_cron")(_cron_line)


class DashboardSettings(_Section):
    """The web dashboard at /dashboard (on the daemon's and ``leadsync serve``'s server); off until a password
    hash is set."""

    user: str = "admin"
    password_hash: SecretStr | None = None  # `leadsync dashboard hash-password` makes one (scrypt)
    session_secret: SecretStr | None = None  # signs the session cookie; unset: a random one per process
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    record_url: str | None = None  # link to a CRM record, {id} replaced by the contact id
    page_size: int = Field(50, ge=10, le=500)

    @field_validator("password_hash")
    @classmethod
    def _password_hash(cls, value: SecretStr | None) -> SecretStr | None:
        parts = [] if value is None else value.get_secret_value().split("$")
        if value is not None and (len(parts) != 6 or parts[0] != "scrypt" or not all(p.isdigit() for p in parts[1:4])):
            raise ValueError("is not a scrypt hash: make one with `leadsync dashboard hash-password`")
        return value


class RealtimeSettings(_Section):
    """The worker that scores the contacts named by queued webhook events, and the fast lane (a short-interval
    incremental sync) for a CRM whose webhooks cannot be set up."""

    batch_events: int = Field(200, ge=1, le=1000, description="events claimed at once; their contacts read together")
    batch_wait_seconds: float = Field(2.0, ge=0, le=60, description="a batch waits this long for more events")
    poll_seconds: float = Field(0.5, gt=0, le=60, description="how often the worker looks at the queue")
    lease_seconds: int = Field(300, ge=1, le=86_400, description="a claimed event unacked this long is re-claimed")
    max_attempts: int = Field(5, ge=1, le=100, description="an event failing this often is acked with its reason")
    fast_lane_seconds: int | None = Field(None, ge=10, le=3600, description="fast lane poll interval; empty: off")
