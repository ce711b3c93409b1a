"""The web dashboard, mounted at /dashboard on the ``leadsync serve`` server (see the README's "Dashboard").

``build_dashboard(settings, clock=..., app_factory=...)`` returns the ASGI app; ``hash_password`` makes the
hash ``LEADSYNC_DASHBOARD__PASSWORD_HASH`` holds.
"""

from sync.dashboard.auth import hash_password, verify_password
from sync.dashboard.web import PREFIX, build_dashboard

__all__ = ["PREFIX", "build_dashboard", "hash_password", "verify_password"]
