"""Settings: one root ``Settings`` built once at the edge (CLI, daemon) and passed down.

Read from environment variables with the ``LEADSYNC_`` prefix and from a ``.env`` file; nested sections
per CRM use ``__`` (``LEADSYNC_HUBSPOT__ACCESS_TOKEN``).  Secrets are ``SecretStr``: they print as
``**********`` and are registered with the redactor so no log line or error can show them.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connectors.http import redact

CRMName = Literal["hubspot", "salesforce", "pipedrive"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def mask_url(url: str) -> str:
    """``url`` fit to show: a password in it becomes ``***`` (``postgresql://leadsync:***@db/leads``)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return redact(url)
    if password:
        host = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        url = urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    return redact(url)


def url_password(url: str) -> str | None:
    """The password inside a URL, for the redactor; None when there is none (or the URL does not parse)."""
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None


def _http_url(value: str | None) -> str | None:
    """A CRM URL must name its scheme and host: ``api.hubapi.com`` alone would be sent as a relative URL."""
    if value is None:
        return None
    try:
        parts = urlsplit(value.strip())
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"must be a full URL starting with https:// (got {mask_url(value)!r})")
    return value.strip()


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

    @field_validator("report_base_url")
    @classmethod
    def _report_base_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            _http_url(value.get_secret_value())
        except ValueError:
            raise ValueError("must be a full URL starting with https://") from None
        return value


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


class RealtimeSettings(_Section):
    """The worker that scores the contacts named by queued webhook events, and the fast lane (a short-interval
    incremental sync) for a CRM whose webhooks cannot be set up."""

    batch_events: int = Field(200, ge=1, le=1000, description="events claimed at once; their contacts read together")
    batch_wait_seconds: float = Field(2.0, ge=0, le=60, description="a batch waits this long for more events")
    poll_seconds: float = Field(0.5, gt=0, le=60, description="how often the worker looks at the queue")
    lease_seconds: int = Field(300, ge=1, le=86_400, description="a claimed event unacked this long is re-claimed")
    max_attempts: int = Field(5, ge=1, le=100, description="an event failing this often is acked with its reason")
    fast_lane_seconds: int | None = Field(None, ge=10, le=3600, description="fast lane poll interval; empty: off")


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
        for section in (self.hubspot, self.salesforce, self.pipedrive, self.daemon, self.server):
            for value in section.__dict__.values():
                if isinstance(value, SecretStr):
                    out.append(value.get_secret_value())
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
    "DAEMON__REPORT_BASE_URL": "Where REPORT_DIR is served (https://...): the monthly report alert links it there.",
}


def _default_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
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
