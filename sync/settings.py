"""Settings: one root ``Settings`` built once at the edge (CLI, daemon) and passed down.

Read from environment variables with the ``LEADSYNC_`` prefix and from a ``.env`` file; nested sections
per CRM use ``__`` (``LEADSYNC_HUBSPOT__ACCESS_TOKEN``).  Secrets are ``SecretStr``: they print as
``**********`` and are registered with the redactor so no log line or error can show them.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from connectors.http import redact
from sync.settings_base import Section as _Section
from sync.settings_base import cron_line as _cron_line
from sync.settings_base import http_url as _http_url
from sync.settings_base import mask_url, url_password
from sync.settings_base import secret_url as _secret_url
from sync.settings_sections import (
    DEFAULT_OPT_OUT_FIELDS,
    NURTURE_TOOLS,
    ActiveCampaignSettings,
    DashboardSettings,
    MailchimpSettings,
    NotifyChannel,
    NotifyEvent,
    NotifySettings,
    NurtureSettings,
    OwnerRoute,
    RealtimeSettings,
    SlaSettings,
)

__all__ = [
    "DEFAULT_OPT_OUT_FIELDS",
    "NURTURE_TOOLS",
    "ActiveCampaignSettings",
    "DashboardSettings",
    "MailchimpSettings",
    "NotifyChannel",
    "NotifyEvent",
    "NotifySettings",
    "NurtureSettings",
    "OwnerRoute",
    "RealtimeSettings",
    "Settings",
    "SettingsError",
    "SlaSettings",
    "load_settings",
    "mask_url",
    "url_password",
]

CRMName = Literal["hubspot", "salesforce", "pipedrive"]


class HubSpotSettings(_Section):
    access_token: SecretStr | None = None  # private-app token
    client_id: str | None = None  # OAuth app (instead of a private-app token)
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    base_url: str = "https://api.hubapi.com"
    burst_limit: int = Field(100, description="requests per 10 s allowed to this app (100 free/starter, 190 pro+)")
    search_lag_seconds: float = Field(60.0, ge=0, description="incremental reads stay this far behind now")
    search_overlap_seconds: float = Field(300.0, ge=0, description="re-read this much before the cursor")
    form_activity_types: dict[str, str] = Field(
        default_factory=dict,
        description="form map: form id, form name, or a part of the name or page URL -> activity type",
    )
    page_views: Literal["auto", "events", "rollups"] = "auto"  # events: /events/v3/events (Enterprise only)
    behaviour_lookback_days: float = Field(180.0, gt=0, description="how far back submissions and events are read")

    _urls = field_validator("base_url")(_http_url)


class SalesforceSettings(_Section):
    # client credentials by default: Salesforce is retiring the username-password flow
    auth: Literal["client_credentials", "jwt", "password", "session"] = "client_credentials"
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key_file: Path | None = None
    session_id: SecretStr | None = None
    instance_url: str | None = None
    login_url: str | None = None  # unset: https://login.salesforce.com (password, JWT); client credentials need it
    object: Literal["Lead", "Contact"] = "Lead"
    api_version: str = "59.0"

    _urls = field_validator("instance_url", "login_url")(_http_url)


class PipedriveSettings(_Section):
    api_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    base_url: str = "https://api.pipedrive.com"
    oauth_url: str = "https://oauth.pipedrive.com"
    daily_token_budget: int | None = Field(None, description="override when the API does not report it")

    _urls = field_validator("base_url", "oauth_url")(_http_url)


class DaemonSettings(_Section):
    sync_cron: str = "*/15 * * * *"
    rescore_cron: str = "0 2 * * *"
    calibrate_cron: str = "0 6 1 * *"
    metrics_port: int | None = None  # off by default; e.g. 9464 serves /healthz and /metrics on 127.0.0.1
    metrics_host: str = "127.0.0.1"
    webhook_url: SecretStr | None = None  # Slack-compatible incoming webhook (its URL is a secret)
    quota_wait_max_seconds: int = 6 * 3600
    report_dir: Path = Path("reports")
    report_base_url: str | None = None  # where report_dir is served (https://...): alerts link the report there

    _crons = field_validator("sync_cron", "rescore_cron", "calibrate_cron")(_cron_line)

    @field_validator("report_base_url")
    @classmethod
    def _report_base_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    _webhook_url = field_validator("webhook_url")(_secret_url)


class ServerSettings(_Section):
    """``leadsync serve``: webhook intake, /healthz and /metrics on one ASGI server; each CRM's endpoint is off
    (404) until its secret is set."""

    host: str = "127.0.0.1"  # behind a reverse proxy with TLS; never expose this port directly
    port: int = Field(8787, ge=0, le=65535)
    public_url: str | None = None  # the https:// address the CRMs post to (HubSpot signs that exact URL)
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    hubspot_app_secret: SecretStr | None = None  # the app's client secret; falls back to hubspot.client_secret
    hubspot_max_age_seconds: int = Field(300, ge=1, le=3600)
    pipedrive_user: str | None = None
    pipedrive_password: SecretStr | None = None
    salesforce_org_id: str | None = None
    salesforce_secret: SecretStr | None = None
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-* headers are trusted

    _urls = field_validator("public_url")(_http_url)

    @field_validator("salesforce_org_id")
    @classmethod
    def _org_id(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) not in (15, 18):
            raise ValueError("must be the 15- or 18-character organization id (Setup > Company Information)")
        return None if value is None else value.strip()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEADSYNC_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
    )

    crm: CRMName = "hubspot"
    model_file: Path = Path("scoring.yaml")
    state_url: str = "sqlite:///leadsync.db"
    # contacts per page: 2,000 is one Salesforce query batch and two full HubSpot association reads
    batch_size: int = Field(2000, ge=1, le=10_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: Path | None = None
    plan_dir: Path = Path("plans")  # dry-run CSVs
    ca_bundle: Path | None = None  # extra CA to trust (the sandbox's); unset for the real CRMs
    hubspot: HubSpotSettings = HubSpotSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    pipedrive: PipedriveSettings = PipedriveSettings()
    daemon: DaemonSettings = DaemonSettings()
    server: ServerSettings = ServerSettings()
    notify: NotifySettings = NotifySettings()
    sla: SlaSettings = SlaSettings()
    dashboard: DashboardSettings = DashboardSettings()
    mailchimp: MailchimpSettings = MailchimpSettings()
    activecampaign: ActiveCampaignSettings = ActiveCampaignSettings()
    nurture: NurtureSettings = NurtureSettings()
    realtime: RealtimeSettings = RealtimeSettings()

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: str) -> str:
        if not (value.startswith(("sqlite:", "postgresql://", "postgres://")) or "://" not in value):
            raise ValueError("must be sqlite:///PATH, a file path, or postgresql://USER@HOST/DB")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings

    def secrets(self) -> list[str]:
        """Every secret value configured, for the redactor."""
        out: list[str] = []
        sections = (self.hubspot, self.salesforce, self.pipedrive, self.daemon, self.server, self.notify)
        for section in (*sections, self.dashboard, self.mailchimp, self.activecampaign):
            for value in section.__dict__.values():
                if isinstance(value, SecretStr):
                    out.append(value.get_secret_value())
        for route in self.notify.owners.values():
            out += [url.get_secret_value() for url in (route.slack_webhook_url, route.teams_webhook_url) if url]
        password = url_password(self.state_url)
        if password:
            out.append(password)
        return out


class SettingsError(Exception):
    """Settings are invalid: one sentence per problem, naming the variable."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _env_name(loc: tuple[object, ...]) -> str:
    name = "__".join(str(part).upper() for part in loc)
    # an unknown top-level variable from the .env file comes back under its full name
    return name if name.startswith("LEADSYNC_") else f"LEADSYNC_{name}"


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Build settings from the environment and ``env_file``; raise ``SettingsError`` naming each variable."""
    if env_file is not None and not Path(env_file).exists():
        env_file = None
    try:
        settings = Settings(_env_file=env_file, **overrides)
    except SourceError as exc:  # a JSON setting that does not parse: pydantic-settings names only its section
        raise SettingsError([unparsable_json(env_file, exc)]) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            name = _env_name(loc)
            where = f" (environment or {env_file})" if env_file else " (environment)"
            if err.get("type") == "extra_forbidden":
                close = difflib.get_close_matches(name, known_variables(), n=1)
                hint = f" Did you mean {close[0]}?" if close else " See settings.example.env for the valid names."
                problems.append(f"{name}{where}: unknown setting.{hint}")
            else:
                message = str(err.get("msg")).removeprefix("Value error, ")
                problems.append(f"{name}{where}: {redact(message)}")
        raise SettingsError(problems) from None
    redact.add(*settings.secrets())
    return settings


def _is_json(annotation: Any) -> bool:
    """Whether pydantic-settings reads a field of this type as JSON (a mapping, a list, a section)."""
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel | dict | list | tuple | set)
    origin = get_origin(annotation)
    if origin in (dict, list, tuple, set):
        return True
    return any(_is_json(arg) for arg in get_args(annotation) if arg is not type(None))


def json_variables() -> list[str]:
    """The variables whose value is JSON (``LEADSYNC_NOTIFY__OWNERS``; a whole section, ``LEADSYNC_NOTIFY``)."""
    names: list[str] = []
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if _is_json(annotation):
            names.append(f"LEADSYNC_{name.upper()}")
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += [
                f"LEADSYNC_{name.upper()}__{sub.upper()}"
                for sub, field in annotation.model_fields.items()
                if _is_json(field.annotation)
            ]
    return names


def unparsable_json(env_file: str | Path | None, exc: Exception) -> str:
    """The sentence for a JSON setting that does not parse, naming it; never its value (it may hold a secret
    webhook URL)."""
    from dotenv import dotenv_values

    values = {k.upper(): v for k, v in os.environ.items()}
    if env_file is not None:
        from_file = dotenv_values(env_file, encoding="utf-8")
        values = {k.upper(): v for k, v in from_file.items() if v is not None} | values
    for name in json_variables():
        value = values.get(name)
        if not value:
            continue
        try:
            json.loads(value)
        except ValueError as error:
            where = f" (environment or {env_file})" if env_file else " (environment)"
            detail = f": {error.msg} at character {error.pos + 1}" if isinstance(error, json.JSONDecodeError) else ""
            return (
                f"{name}{where}: is not valid JSON{detail}; write it as in settings.example.env, "
                'e.g. {"key": "value"} or ["a", "b"], single-quoted in a .env file'
            )
    return f"A JSON setting does not parse: {redact(str(exc))}; see settings.example.env."


def known_variables() -> list[str]:
    names: list[str] = []
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.extend(f"LEADSYNC_{name.upper()}__{sub.upper()}" for sub in annotation.model_fields)
        else:
            names.append(f"LEADSYNC_{name.upper()}")
    return names


def missing_credentials(settings: Settings) -> list[str]:
    """Sentences naming the variables still needed to reach the configured CRM."""
    crm = settings.crm
    missing: list[str] = []
    if crm == "hubspot":
        hs = settings.hubspot
        if hs.access_token is None and not (hs.client_id and hs.client_secret and hs.refresh_token):
            missing.append(
                "LEADSYNC_HUBSPOT__ACCESS_TOKEN is not set: create a private app in HubSpot (Settings > "
                "Integrations > Private apps) with the crm.objects.contacts read/write and crm.schemas.contacts"
                " scopes,"
                " and paste its token (or set CLIENT_ID, CLIENT_SECRET and REFRESH_TOKEN for OAuth)."
            )
    elif crm == "salesforce":
        sf = settings.salesforce
        need = {
            "password": ["username", "password", "consumer_key", "consumer_secret"],
            "jwt": ["username", "consumer_key", "private_key_file"],
            "client_credentials": ["consumer_key", "consumer_secret"],
            "session": ["session_id", "instance_url"],
        }[sf.auth]
        for name in need:
            if getattr(sf, name) in (None, ""):
                missing.append(
                    f"LEADSYNC_SALESFORCE__{name.upper()} is not set (needed for LEADSYNC_SALESFORCE__AUTH={sf.auth})."
                )
        if sf.auth == "client_credentials":
            missing += _my_domain_problems(sf.login_url)
        if sf.private_key_file is not None and not sf.private_key_file.exists():
            missing.append(f"LEADSYNC_SALESFORCE__PRIVATE_KEY_FILE: no file at {sf.private_key_file}.")
    else:
        pd = settings.pipedrive
        if pd.api_token is None and pd.access_token is None and pd.refresh_token is None:
            missing.append(
                "LEADSYNC_PIPEDRIVE__API_TOKEN is not set: copy your personal API token from Pipedrive "
                "(Personal preferences > API), or set the OAuth variables."
            )
    return missing


# Salesforce's shared login hosts; the client-credentials flow is served only on an org's My Domain
SALESFORCE_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


def _my_domain_problems(login_url: str | None) -> list[str]:
    where = (
        "your org's My Domain URL (Setup > My Domain), e.g. https://yourcompany.my.salesforce.com, or "
        "https://yourcompany--sandboxname.sandbox.my.salesforce.com for a sandbox org"
    )
    if not login_url:
        return [f"LEADSYNC_SALESFORCE__LOGIN_URL is not set: the client-credentials flow needs {where}."]
    host = urlsplit(login_url if "://" in login_url else f"https://{login_url}").hostname or ""
    if host.lower() in SALESFORCE_LOGIN_HOSTS:
        return [
            f"LEADSYNC_SALESFORCE__LOGIN_URL is {login_url}, which Salesforce does not serve the client-credentials "
            f"flow on: set it to {where} (or use LEADSYNC_SALESFORCE__AUTH=jwt)."
        ]
    return []


def env_defaults() -> dict[str, str]:
    """The LEADSYNC_ variables currently set in the environment (names only matter to callers)."""
    return {k: v for k, v in os.environ.items() if k.startswith("LEADSYNC_")}


_COMMENTS: dict[str, str] = {
    "CRM": "Which CRM this installation syncs: hubspot, salesforce or pipedrive.",
    "MODEL_FILE": "The scoring model file (YAML), reviewed in git. `leadsync init` writes a starter one.",
    "STATE_URL": "State database: sqlite:///leadsync.db (default) or postgresql://user@host/dbname.",
    "BATCH_SIZE": "Contacts scored and written per batch; the cursor advances after each batch.",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR. Secrets are redacted at every level.",
    "LOG_FILE": "Also log to this file (created readable by its owner only). Empty: stderr only.",
    "PLAN_DIR": "Where --dry-run writes its CSV of planned changes.",
    "CA_BUNDLE": "Extra CA certificate to trust (only for the built-in sandbox; leave empty for real CRMs).",
    "HUBSPOT__ACCESS_TOKEN": "Private-app token (Settings > Integrations > Private apps). Scopes: "
    "crm.objects.contacts.read/write, crm.schemas.contacts.read/write, crm.objects.owners.read, "
    "crm.objects.deals.read, sales-email-read, forms, content.",
    "HUBSPOT__CLIENT_ID": "OAuth instead of a private app: client id, client secret and a refresh token.",
    "HUBSPOT__BASE_URL": "API root; change only to point at the sandbox.",
    "HUBSPOT__BURST_LIMIT": "Requests per 10 s your HubSpot tier allows (100 free/starter, 190 pro/enterprise).",
    "HUBSPOT__SEARCH_LAG_SECONDS": "Incremental reads stay this far behind now: HubSpot's search index lags "
    "behind writes.",
    "HUBSPOT__SEARCH_OVERLAP_SECONDS": "Each incremental read re-reads this much before its cursor, for a longer "
    "lag; unchanged contacts are skipped.",
    "HUBSPOT__FORM_ACTIVITY_TYPES": "Form map, JSON: form id, form name, or a part of the name or page URL -> activity "
    'type, e.g. {"Talk to sales": "demo_request"}. Defaults: demo -> demo_request, webinar -> webinar_registration, '
    "download/ebook/whitepaper/gated -> content_download, any other form -> form_submission.",
    "HUBSPOT__PAGE_VIEWS": "Page views: auto (ask HubSpot), events (/events/v3/events, Enterprise only) or rollups "
    "(hs_analytics_* properties).",
    "HUBSPOT__BEHAVIOUR_LOOKBACK_DAYS": "How far back form submissions and marketing email / web events are read.",
    "SALESFORCE__AUTH": "client_credentials (consumer key + secret of an app whose Run As user is the integration "
    "user; needs LOGIN_URL = your My Domain), jwt (username + consumer key + private key), session (session id + "
    "instance URL), or password (username-password flow: Salesforce is retiring it).",
    "SALESFORCE__PRIVATE_KEY_FILE": "JWT bearer flow: the connected app's private key (PEM).",
    "SALESFORCE__LOGIN_URL": "Your org's My Domain, e.g. https://yourcompany.my.salesforce.com (required by "
    "client_credentials). Empty: https://login.salesforce.com for jwt and password (test.salesforce.com for a "
    "sandbox org).",
    "SALESFORCE__OBJECT": "Which records to score: Lead or Contact.",
    "PIPEDRIVE__API_TOKEN": "Personal API token (Personal preferences > API), or the OAuth variables below.",
    "PIPEDRIVE__BASE_URL": "Your company domain, e.g. https://yourcompany.pipedrive.com.",
    "PIPEDRIVE__DAILY_TOKEN_BUDGET": "Your plan's daily API token budget if the API does not report it.",
    "DAEMON__SYNC_CRON": "When the daemon runs an incremental sync (cron, UTC).",
    "DAEMON__RESCORE_CRON": "When the daemon rescores contacts whose scores changed with time (cron, UTC).",
    "DAEMON__CALIBRATE_CRON": "When the daemon writes the calibration report (cron, UTC).",
    "DAEMON__METRICS_PORT": "Serve /healthz and /metrics on 127.0.0.1:PORT. Empty: off.",
    "DAEMON__WEBHOOK_URL": "Slack-compatible webhook for failures, quarantines and new P1 leads. Empty: off.",
    "SERVER__HOST": "`leadsync serve` binds here. Keep 127.0.0.1 and put a reverse proxy with TLS in front.",
    "SERVER__PORT": "`leadsync serve` port: /webhooks/{hubspot,pipedrive,salesforce}, /healthz and /metrics.",
    "SERVER__PUBLIC_URL": "The https:// address the CRMs post to, as they see it (HubSpot signs the full URL).",
    "SERVER__MAX_BODY_BYTES": "A webhook body larger than this is refused with 413.",
    "SERVER__HUBSPOT_APP_SECRET": "HubSpot app client secret that signs webhooks (X-HubSpot-Signature-v3). "
    "Empty: HUBSPOT__CLIENT_SECRET; neither: the HubSpot endpoint is off.",
    "SERVER__HUBSPOT_MAX_AGE_SECONDS": "HubSpot deliveries whose X-HubSpot-Request-Timestamp is older are refused.",
    "SERVER__PIPEDRIVE_USER": "HTTP basic auth user and password you give Pipedrive for the webhook. Empty: off.",
    "SERVER__SALESFORCE_ORG_ID": "Salesforce: the only organization id accepted, and the shared secret the Flow "
    "sends in X-Leadsync-Secret. Empty: off.",
    "SERVER__FORWARDED_ALLOW_IPS": "Reverse proxies whose X-Forwarded-For/-Proto headers are trusted.",
    "DASHBOARD__USER": "The dashboard (/dashboard on `leadsync serve`): the user name to sign in with.",
    "DASHBOARD__PASSWORD_HASH": "The dashboard's password as a scrypt hash from `leadsync dashboard hash-password`. "
    "Empty: the dashboard is off.",
    "DASHBOARD__SESSION_SECRET": "Signs the dashboard's session cookie. Empty: a random one, so a restart signs "
    "everyone out.",
    "DASHBOARD__SESSION_HOURS": "A dashboard sign-in lasts this long.",
    "DASHBOARD__RECORD_URL": "Link to a record in the CRM, {id} replaced by the contact id, e.g. "
    "https://app.hubspot.com/contacts/PORTAL_ID/record/0-1/{id}. Empty: Salesforce links are derived from the "
    "instance URL; HubSpot and Pipedrive rows get no link.",
    "DASHBOARD__PAGE_SIZE": "Rows per dashboard page.",
    "MAILCHIMP__API_KEY": "Nurture hand-off to Mailchimp: an API key (Account > Extras > API keys).",
    "MAILCHIMP__LIST_ID": "The audience (list) id whose members leadsync tags.",
    "MAILCHIMP__BASE_URL": "API root; change only to point at the sandbox (http://127.0.0.1:PORT/3.0).",
    "MAILCHIMP__NEW_MEMBER_STATUS": "Empty: only existing members are tagged. pending: an address not in the "
    "audience is added and asked to confirm (double opt-in). transactional: added for transactional mail only. "
    "leadsync never sends subscribed.",
    "MAILCHIMP__BATCH_MAX_OPERATIONS": "Operations per batch request (POST /batches). Empty: one batch per run step.",
    "ACTIVECAMPAIGN__API_TOKEN": "Nurture hand-off to ActiveCampaign: an API token (Settings > Developer).",
    "ACTIVECAMPAIGN__BASE_URL": "Your account's API URL, e.g. https://youraccount.api-us1.com.",
    "ACTIVECAMPAIGN__CREATE_CONTACTS": "true: a contact ActiveCampaign lacks is created (address only, on no list) "
    "before it is tagged. false: only existing contacts are tagged.",
    "ACTIVECAMPAIGN__AUTOMATIONS": 'JSON: tag -> automation id to add a tagged contact to, e.g. {"Nurture": "12"}.',
    "NURTURE__SEGMENTS": 'JSON: model segment -> targets, e.g. {"nurture": ["mailchimp:tag:Nurture", '
    '"activecampaign:tag:Nurture"]} or "mailchimp:segment:<static segment id>". Empty: no hand-off.',
    "NURTURE__OPT_OUT_FIELDS": "CRM fields (comma-separated) that, true or unsubscribed / no_consent, keep a contact "
    "out of every nurture destination. Empty: the CRM's own (HubSpot hs_email_optout, Salesforce "
    "HasOptedOutOfEmail, Pipedrive marketing_status).",
    "NURTURE__REQUIRE_OPT_OUT_FIELD": "true: a contact for whom none of those fields was read is not handed off.",
    "DAEMON__REPORT_BASE_URL": "Where REPORT_DIR is served (https://...): the monthly report alert links it there.",
    "NOTIFY__EVENTS": "Which events go to which channels, JSON: p1, sql, owner (changed), escalation -> slack, teams, "
    "email.",
    "NOTIFY__OWNERS": 'Per owner (CRM user id or e-mail), JSON: {"123": {"email": "ann@example.com", '
    '"slack_webhook_url": "https://hooks.slack.com/...", "timezone": "Europe/Berlin"}}. Unset e-mail: the CRM\'s.',
    "NOTIFY__TIMEZONE": "Owners' time zone for SLA due times (IANA name) unless their entry in OWNERS names one.",
    "NOTIFY__SLACK_WEBHOOK_URL": "Team Slack-compatible webhook for owners without their own. Empty: no Slack.",
    "NOTIFY__TEAMS_WEBHOOK_URL": "Teams Workflows webhook URL (an Adaptive Card is posted). Empty: no Teams.",
    "NOTIFY__MANAGER_EMAIL": "Escalations (a lead untouched at its SLA due time) also go to the manager channels.",
    "NOTIFY__IN_BACKFILL": "Notify during a backfill too (false: a backfill tells nobody).",
    "NOTIFY__MAX_PER_RUN": "At most this many notifications per run; the rest become one summary message.",
    "NOTIFY__SMTP_HOST": "SMTP server for e-mail notifications. Empty: no e-mail.",
    "NOTIFY__SMTP_SECURITY": "starttls (port 587), ssl (port 465) or plain (a local relay only).",
    "NOTIFY__HUBSPOT_PORTAL_ID": "HubSpot account (portal) id, for links to the contact record.",
    "NOTIFY__SALESFORCE_URL": "Lightning URL for record links. Empty: SALESFORCE__INSTANCE_URL.",
    "NOTIFY__PIPEDRIVE_COMPANY_DOMAIN": "Pipedrive company domain for person links (yourcompany).",
    "SLA__TIERS": "Tiers whose response SLA is tracked (JSON list).",
    "SLA__ESCALATION_CRON": "How often the daemon escalates leads untouched at their due time (cron, UTC).",
}


def _default_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "'" + json.dumps(value, separators=(",", ":")) + "'"  # JSON, single-quoted so .env keeps it whole
    text = str(value)
    return f'"{text}"' if " " in text else text


def example_env() -> str:
    """The text of settings.example.env: every variable with a comment and a safe default, no secret."""
    lines = [
        "# leadsync settings. Copy to .env (or run `leadsync init`) and fill in your CRM's credentials.",
        "# Environment variables override this file. Nested sections use a double underscore.",
        "",
    ]
    defaults = Settings.model_construct()
    for name in Settings.model_fields:
        value = getattr(defaults, name)
        if isinstance(value, BaseModel):
            lines.append(f"# --- {name} ---")
            for sub, _sub_info in type(value).model_fields.items():
                key = f"{name.upper()}__{sub.upper()}"
                if key in _COMMENTS:
                    lines.append(f"# {_COMMENTS[key]}")
                lines.append(f"LEADSYNC_{key}={_default_text(getattr(value, sub))}")
            lines.append("")
            continue
        key = name.upper()
        if key in _COMMENTS:
            lines.append(f"# {_COMMENTS[key]}")
        lines.append(f"LEADSYNC_{key}={_default_text(value)}")
    lines.append("")
    return "\n".join(lines)
