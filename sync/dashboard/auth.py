"""Sign-in for the dashboard: a scrypt password hash in settings, a signed session cookie, CSRF tokens.

The hash is ``scrypt$N$r$p$salt$key`` (salt and key in URL-safe base64).  The session cookie is the user and a
CSRF token, signed and time-stamped by itsdangerous; it is HttpOnly, SameSite=Lax and Secure behind https.
Every POST that changes something carries the session's CSRF token in a form field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # OWASP's scrypt minimum is N=2^17 with r=8; 2^15 keeps sign-in ~0.1 s
_MAXMEM = 64 * 1024 * 1024
COOKIE = "leadsync_dashboard"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches; a malformed hash never matches (and never raises)."""
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        got = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), maxmem=_MAXMEM, dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    csrf: str


class Sessions:
    """Signs and reads the session cookie's value."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="leadsync-dashboard-session")
        self.max_age = max_age_seconds

    def new(self, user: str) -> tuple[Session, str]:
        session = Session(user, secrets.token_urlsafe(24))
        return session, self._signer.dumps({"u": session.user, "c": session.csrf})

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) or not isinstance(data.get("c"), str):
            return None
        return Session(data["u"], data["c"])


def csrf_ok(session: Session, token: object) -> bool:
    return isinstance(token, str) and hmac.compare_digest(session.csrf.encode(), token.encode())
