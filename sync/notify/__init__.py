"""Owner notifications: what is said (``message``), to whom on which channel (``routing``), and delivery
(``courier``: Slack-compatible and Teams webhooks, SMTP).  ``sync.leads`` decides when."""

from sync.notify.courier import Courier, Target
from sync.notify.message import Notice, notice_for, record_url
from sync.notify.routing import Router

__all__ = ["Courier", "Notice", "Router", "Target", "notice_for", "record_url"]
