"""A CRM that cannot be reached, said in one sentence that names the setting holding its URL.

The HTTP libraries describe a refused connection or an unknown host in a page of pool and retry details
(urllib3's ``MaxRetryError``); ``unreachable(exc, settings)`` recognises those failures in the error a
connector raised after its retries and returns a sentence such as "Cannot reach hubspot at
http://127.0.0.1:9 (connection refused): check LEADSYNC_HUBSPOT__BASE_URL and the network.", or None for any
other error.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from connectors.errors import TransientError
from sync.settings import Settings, mask_url

__all__ = ["crm_urls", "nurture_unreachable", "unreachable"]

# what requests/urllib3 (and the sockets below them) say when no connection could be made at all
_WHY = (
    (re.compile(r"NameResolutionError|Name or service not known|nodename nor servname|getaddrinfo"), "unknown host"),
    (re.compile(r"Connection refused|ConnectionRefusedError|\[Errno 111\]"), "connection refused"),
    (re.compile(r"ConnectTimeout|Connection to .* timed out"), "connection timed out"),
    (re.compile(r"No route to host|Network is unreachable"), "no route to the host"),
    (re.compile(r"NewConnectionError|Failed to establish a new connection"), "no connection"),
)
_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")


def crm_urls(settings: Settings) -> list[tuple[str, str]]:
    """(setting name, URL) of every URL leadsync calls for the configured CRM, the main one first."""
    if settings.crm == "hubspot":
        return [("LEADSYNC_HUBSPOT__BASE_URL", settings.hubspot.base_url)]
    if settings.crm == "salesforce":
        sf = settings.salesforce
        urls = [("LEADSYNC_SALESFORCE__LOGIN_URL", sf.login_url)] if sf.login_url else []
        if sf.instance_url:
            urls.insert(
                0 if sf.auth == "session" else len(urls), ("LEADSYNC_SALESFORCE__INSTANCE_URL", sf.instance_url)
            )
        return urls
    pd = settings.pipedrive
    return [("LEADSYNC_PIPEDRIVE__BASE_URL", pd.base_url), ("LEADSYNC_PIPEDRIVE__OAUTH_URL", pd.oauth_url)]


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return ((parts.hostname or "").lower(), port) if parts.hostname else None


def _why(exc: BaseException) -> str | None:
    """Why a connection could not be made (refused, no such host, timed out...), or None for another error."""
    if not isinstance(exc, TransientError):
        return None
    text = str(exc)
    return next((reason for pattern, reason in _WHY if pattern.search(text)), None)


def unreachable(exc: BaseException, settings: Settings) -> str | None:
    """The sentence for a connection that could not be made, or None when ``exc`` is another error."""
    why = _why(exc)
    if why is None:
        return None
    text = str(exc)
    urls = crm_urls(settings)
    name, url = urls[0]
    target = _HOST_PORT.search(text)
    if target is not None:
        wanted = (target.group(1).lower(), int(target.group(2)))
        matching = [(n, u) for n, u in urls if _host_port(u) == wanted]
        if matching:
            name, url = matching[0]
        else:  # a URL the CRM handed back (a Salesforce instance after login): name the host it tried
            url = f"{wanted[0]}:{wanted[1]}"
    return (
        f"Cannot reach {settings.crm} at {mask_url(url)} ({why}, after several attempts): "
        f"check {name} and the network (proxy, firewall, VPN)."
    )


def nurture_unreachable(exc: BaseException, settings: Settings, tool: str) -> str | None:
    """The same sentence for a nurture tool (Mailchimp, ActiveCampaign), naming the setting its host comes
    from; None when ``exc`` is another error."""
    why = _why(exc)
    if why is None:
        return None
    text = str(exc)
    if tool == "mailchimp":
        mc = settings.mailchimp
        if mc.base_url:
            name, url = "LEADSYNC_MAILCHIMP__BASE_URL", mc.base_url
        else:
            name = "LEADSYNC_MAILCHIMP__SERVER" if mc.server else "LEADSYNC_MAILCHIMP__API_KEY (its -<data center>)"
            target = _HOST_PORT.search(text)
            url = f"https://{target.group(1)}" if target else "Mailchimp"
    else:
        name, url = "LEADSYNC_ACTIVECAMPAIGN__BASE_URL", settings.activecampaign.base_url or "ActiveCampaign"
    return f"Cannot reach {tool} at {mask_url(url)} ({why}, after several attempts): check {name} and the network."
