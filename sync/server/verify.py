"""Checking that a webhook delivery really comes from the CRM: pure functions over the request's parts.

HubSpot signs with ``X-HubSpot-Signature-v3``; Pipedrive sends the HTTP basic credentials it was given;
the Salesforce Flow sends the organization id in its body and a shared secret in ``X-Leadsync-Secret``.
Every comparison of a secret is constant-time.  See docs/crm-api.md, "Webhooks", for the sources.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

# HubSpot decodes these in the request URI before signing it (its docs' table); others stay encoded.
_HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class Rejected(Exception):
    """A delivery refused: ``status`` is the HTTP answer, the message says why without quoting the request."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def hubspot_uri(uri: str) -> str:
    """The request URI as HubSpot signs it: the listed percent-escapes decoded (either case)."""
    out = uri
    for escape, char in _HUBSPOT_DECODED.items():
        out = out.replace(escape, char).replace(escape.lower(), char)
    return out


def hubspot_signature_v3(secret: str, *, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(app secret, method + URI + body + timestamp)), the string UTF-8 encoded."""
    message = method.upper().encode() + hubspot_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_hubspot(
    secret: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Raise ``Rejected(401)`` unless the v3 signature matches and the timestamp (ms) is within ``max_age``."""
    if not signature or not timestamp:
        raise Rejected(401, "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise Rejected(401, "X-HubSpot-Request-Timestamp is not a number of milliseconds") from None
    age = timedelta(milliseconds=now.timestamp() * 1000 - sent_ms)
    if abs(age) > max_age:
        raise Rejected(401, f"X-HubSpot-Request-Timestamp is {int(age.total_seconds())} s away from now")
    expected = hubspot_signature_v3(secret, method=method, uri=uri, body=body, timestamp=timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise Rejected(401, "X-HubSpot-Signature-v3 does not match (wrong app secret, or URL or body changed)")


def verify_basic_auth(header: str | None, *, user: str, password: str) -> None:
    """Raise ``Rejected(401)`` unless ``Authorization: Basic`` carries exactly ``user:password``."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Rejected(401, "missing HTTP basic credentials")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(401, "malformed HTTP basic credentials") from None
    given_user, sep, given_password = given.partition(b":")
    # both compared, always, so the time taken does not tell which one was wrong
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    if not (sep and user_ok and password_ok):
        raise Rejected(401, "wrong HTTP basic credentials")


def verify_shared_secret(given: str | None, *, secret: str, header: str) -> None:
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        raise Rejected(401, f"missing or wrong {header}")


def same_org(given: object, expected: str) -> bool:
    """Salesforce ids come as 15 or 18 characters: the first 15 identify the organization."""
    return isinstance(given, str) and len(given) in (15, 18) and given[:15] == expected[:15]
