"""Sign-in for the dashboard: a scrypt password hash in settings, a signed session cookie, CSRF tokens.

The hash is ``scrypt$N$r$p$salt$key`` (salt and key in URL-safe base64).  The session cookie is the user and a
CSRF token, signed and time-stamped by itsdangerous; it is HttpOnly, SameSite=Lax and Secure behind https.
Every POST that changes something carries the session's CSRF token in a form field.  ``SignInLimiter`` turns
away a client address after a few failed sign-ins in a minute (HTTP 429) until the oldest of them is a minute old.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
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


class SignInLimiter:
    """At most ``failures`` failed sign-ins per client address in any ``window_seconds``.

    Kept in memory (one process serves the dashboard): a restart forgets it.  Behind a reverse proxy every
    client has the proxy's address, so one guesser locks out everyone for a minute, which is the safe side.
    """

    MAX_CLIENTS = 10_000  # bound on the addresses remembered: a flood from many addresses cannot grow it

    def __init__(
        self, failures: int = 5, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.window = window_seconds
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        times = self._seen.get(client, deque())
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            self._seen.pop(client, None)
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again; 0 when it may now."""
        times = self._recent(client)
        if len(times) < self.failures:
            return 0
        return max(1, math.ceil(times[-self.failures] + self.window - self._clock()))

    def failed(self, client: str) -> None:
        if client not in self._seen and len(self._seen) >= self.MAX_CLIENTS:
            for other in list(self._seen):
                self._recent(other)  # forget every address whose failures have all aged out
            if len(self._seen) >= self.MAX_CLIENTS:
                self._seen.pop(next(iter(self._seen)))
        self._seen.setdefault(client, deque()).append(self._clock())

    def succeeded(self, client: str) -> None:
        self._seen.pop(client, None)
