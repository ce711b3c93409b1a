"""A ``requests.Session`` whose ``verify`` setting is not overridden by the environment.

requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` win over ``Session.verify`` (psf/requests#3829):
with either variable set, a session built with ``verify=ca_path`` silently verifies against the system
bundle instead.  Proxies from the environment still apply.
"""

from __future__ import annotations

from typing import Any

import requests


class VerifyingSession(requests.Session):
    def __init__(self, verify: str | bool | None = None) -> None:
        super().__init__()
        if verify is not None:
            self.verify = verify

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and isinstance(self.verify, str):
            settings["verify"] = self.verify
        return settings


def make_session(ca_path: str | None) -> requests.Session:
    """A session verifying TLS against ``ca_path`` when given, else the default trust store."""
    return VerifyingSession(ca_path) if ca_path else requests.Session()
