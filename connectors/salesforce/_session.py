"""A ``requests.Session`` whose ``verify`` setting is not overridden by the environment, with a default timeout.

requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` win over ``Session.verify`` (psf/requests#3829):
with either variable set, a session built with ``verify=ca_path`` silently verifies against the system
bundle instead.  Proxies from the environment still apply.

simple-salesforce passes no ``timeout`` to the session, and requests waits forever without one: the
session supplies ``timeout`` to every request that does not name its own.
"""

from __future__ import annotations

from typing import Any

import requests


class VerifyingSession(requests.Session):
    def __init__(self, verify: str | bool | None = None, timeout: float | None = None) -> None:
        super().__init__()
        if verify is not None:
            self.verify = verify
        self.timeout = timeout

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and isinstance(self.verify, str):
            settings["verify"] = self.verify
        return settings

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None and self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def make_session(ca_path: str | None, timeout: float | None = None) -> requests.Session:
    """A session verifying TLS against ``ca_path`` when given (else the default trust store), with a default
    ``timeout`` in seconds for every request."""
    return VerifyingSession(ca_path or None, timeout)
