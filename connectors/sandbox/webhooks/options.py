"""``leadsync sandbox serve --webhook-url ...``: the command-line options (each also an environment variable)
that turn the sandbox's webhooks on, and the ``.env`` lines that make leadsync's intake accept them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import click

from connectors.sandbox.webhooks.config import WebhookConfig

F = TypeVar("F", bound=Callable[..., Any])
_ENV = "LEADSYNC_SANDBOX_WEBHOOK_"

_OPTIONS = [
    click.option(
        "--webhook-url",
        envvar=f"{_ENV}URL",
        default=None,
        help="Send webhooks to URL/hubspot, URL/pipedrive and URL/salesforce (e.g. http://127.0.0.1:8787/webhooks).",
    ),
    click.option(
        "--webhook-hubspot-secret", envvar=f"{_ENV}HUBSPOT_SECRET", default=None, help="App secret to sign with."
    ),
    click.option(
        "--webhook-pipedrive-auth",
        envvar=f"{_ENV}PIPEDRIVE_AUTH",
        default=None,
        metavar="USER:PASSWORD",
        help="HTTP basic credentials Pipedrive sends.",
    ),
    click.option(
        "--webhook-salesforce-secret", envvar=f"{_ENV}SALESFORCE_SECRET", default=None, help="X-Leadsync-Secret."
    ),
    click.option(
        "--webhook-retry-scale",
        envvar=f"{_ENV}RETRY_SCALE",
        type=click.FloatRange(min=0, min_open=True),
        default=0.001,
        show_default=True,
        help="Multiply the vendors' retry delays (0.001: 24 h in 86 s).",
    ),
    click.option(
        "--webhook-duplicates",
        envvar=f"{_ENV}DUPLICATES",
        type=click.FloatRange(0, 1),
        default=0.0,
        help="Probability that a delivered webhook is sent again.",
    ),
    click.option(
        "--webhook-shuffle",
        envvar=f"{_ENV}SHUFFLE",
        type=click.FloatRange(0),
        default=0.0,
        metavar="SECONDS",
        help="Delay each webhook by a random time up to this, so they can arrive out of order.",
    ),
]


def webhook_options(command: F) -> F:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def webhook_config(options: Mapping[str, Any], crms: tuple[str, ...], seed: int) -> WebhookConfig | None:
    """The ``WebhookConfig`` of the ``--webhook-*`` options (None without ``--webhook-url``)."""
    if not options.get("webhook_url"):
        return None
    config = WebhookConfig(url=options["webhook_url"], crms=crms, seed=seed)
    if options.get("webhook_hubspot_secret"):
        config.hubspot_app_secret = options["webhook_hubspot_secret"]
    if options.get("webhook_pipedrive_auth"):
        user, sep, password = str(options["webhook_pipedrive_auth"]).partition(":")
        if not sep or not user:
            raise click.BadParameter("expected USER:PASSWORD", param_hint="--webhook-pipedrive-auth")
        config.pipedrive_user, config.pipedrive_password = user, password
    if options.get("webhook_salesforce_secret"):
        config.salesforce_secret = options["webhook_salesforce_secret"]
    config.retry_scale = float(options.get("webhook_retry_scale") or config.retry_scale)
    config.duplicate_rate = float(options.get("webhook_duplicates") or 0.0)
    config.shuffle_seconds = float(options.get("webhook_shuffle") or 0.0)
    return config


def intake_env_lines(
    config: WebhookConfig, org_id: str, known: Mapping[str, Collection[str]] | None = None
) -> list[str]:
    """``LEADSYNC_SERVER__...`` lines that make leadsync's intake accept what this sandbox sends."""
    values = {
        "hubspot": {"hubspot_app_secret": config.hubspot_app_secret},
        "pipedrive": {"pipedrive_user": config.pipedrive_user, "pipedrive_password": config.pipedrive_password},
        "salesforce": {"salesforce_org_id": org_id, "salesforce_secret": config.salesforce_secret},
    }
    lines = [f"# webhooks go to {config.url}/<crm>; leadsync's intake needs:"]
    server = (known or {}).get("server")
    for crm in config.crms:
        for key, value in values[crm].items():
            line = f"LEADSYNC_SERVER__{key.upper()}={value}"
            lines.append(line if server is None or key in server else f"# {line}   (leadsync has no such setting)")
    return lines
