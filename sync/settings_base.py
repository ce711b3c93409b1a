"""What every settings section shares: the strict section base and the URL checks (no section lives here)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, SecretStr

from connectors.http import redact


class Section(BaseModel):
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


def http_url(value: str | None) -> str | None:
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


def cron_line(value: str) -> str:
    """A schedule setting must be a cron line the daemon can run; checked when settings load, not at 3 a.m."""
    from sync.daemon import DaemonConfigError, cron_trigger  # the daemon's own parser; imported only when set

    try:
        cron_trigger(value)
    except DaemonConfigError as exc:
        raise ValueError(str(exc)) from None
    return value


def secret_url(value: SecretStr | None) -> SecretStr | None:
    """A webhook URL is a secret: checked like any URL, but never echoed in the error."""
    if value is None:
        return None
    try:
        http_url(value.get_secret_value())
    except ValueError:
        raise ValueError("must be a full URL starting with https://") from None
    return value
