"""Who hears about which event on which channel: ``LEADSYNC_NOTIFY__EVENTS`` and ``LEADSYNC_NOTIFY__OWNERS``.

An owner is looked up in ``NOTIFY__OWNERS`` by CRM user id, then by e-mail address; their e-mail defaults to
the one the CRM holds for them (read once, only when needed).  Slack and Teams go to the owner's own webhook,
else to the team's; escalations also go to the manager channels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cached_property

from pydantic import SecretStr

from connectors.records import Owner
from sync.notify.courier import Channel, Target
from sync.settings import NotifySettings, OwnerRoute

log = logging.getLogger("leadsync.notify")


class Router:
    def __init__(self, settings: NotifySettings, owners: Callable[[], Sequence[Owner]] = lambda: ()) -> None:
        self.settings = settings
        self._read_owners = owners

    @cached_property
    def directory(self) -> dict[str, Owner]:
        try:
            return {o.id: o for o in self._read_owners()}
        except Exception as exc:  # the CRM's user list is a convenience: without it, routes still apply
            log.warning("could not read the CRM's users for notification addresses (%s)", type(exc).__name__)
            return {}

    def route(self, owner_id: str | None) -> OwnerRoute | None:
        if owner_id is None:
            return None
        routes = self.settings.owners
        if not routes or owner_id in routes:
            return routes.get(owner_id)
        email = self._crm_email(owner_id)
        lowered = {k.lower(): v for k, v in routes.items()}
        return lowered.get(email.lower()) if email else None

    def timezone(self, owner_id: str | None) -> str:
        route = self.route(owner_id)
        return (route.timezone if route else None) or self.settings.timezone

    def owner_targets(self, event: str, owner_id: str | None) -> list[Target]:
        """The owner's channels for ``event``; an owner with no address on a channel gets the team's, if any."""
        route = self.route(owner_id)
        tz = self.timezone(owner_id)
        label = f"owner {owner_id}" if owner_id else "no owner"
        out: list[Target] = []
        for channel in self._channels(event):
            address: SecretStr | None = None
            if channel == "email" and not self.settings.smtp_host:
                continue  # e-mail is off: no SMTP server, and no reason to look the owner's address up
            if channel == "email":
                email = (route.email if route else None) or (self._crm_email(owner_id) if owner_id else "")
                address = SecretStr(email) if email else None
            elif channel == "slack":
                address = (route.slack_webhook_url if route else None) or self.settings.slack_webhook_url
            else:
                address = (route.teams_webhook_url if route else None) or self.settings.teams_webhook_url
            if address is not None and address.get_secret_value():
                out.append(Target(channel, address, tz, label))
            elif channel == "email":
                log.info("no e-mail address for %s: the %s notification is not e-mailed", label, event)
        return out

    def manager_targets(self, event: str) -> list[Target]:
        s = self.settings
        addresses: dict[Channel, SecretStr | None] = {
            "email": SecretStr(s.manager_email) if s.manager_email else None,
            "slack": s.manager_slack_webhook_url,
            "teams": s.manager_teams_webhook_url,
        }
        if not s.smtp_host:
            addresses["email"] = None
        return [
            Target(channel, address, s.timezone, "manager")
            for channel in self._channels(event)
            if (address := addresses[channel]) is not None
        ]

    def team_targets(self) -> list[Target]:
        """Where a run's summary goes: the team's webhooks and the manager's e-mail."""
        s = self.settings
        candidates: list[tuple[Channel, SecretStr | None]] = [
            ("slack", s.slack_webhook_url),
            ("teams", s.teams_webhook_url),
            ("email", SecretStr(s.manager_email) if s.manager_email and s.smtp_host else None),
        ]
        return [Target(channel, address, s.timezone, "team") for channel, address in candidates if address]

    def _channels(self, event: str) -> list[Channel]:
        return list(dict.fromkeys(self.settings.events.get(event, [])))  # type: ignore[call-overload]

    def _crm_email(self, owner_id: str) -> str:
        owner = self.directory.get(owner_id)
        return owner.email.strip() if owner is not None and owner.email else ""


def unique(targets: Sequence[Target]) -> list[Target]:
    """Targets without repeats: an owner without a webhook of their own and the team share the team's."""
    seen: set[tuple[str, str]] = set()
    out = []
    for target in targets:
        key = (target.channel, target.address.get_secret_value())
        if key not in seen:
            seen.add(key)
            out.append(target)
    return out
