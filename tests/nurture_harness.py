"""The two nurture destinations on an in-thread sandbox, built the way ``sync.nurture`` builds them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connectors.nurture import ActiveCampaignDestination, Destination, MailchimpDestination
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.activecampaign import API_TOKEN, ActiveCampaignApi
from connectors.sandbox.mailchimp import API_KEY, LIST_ID, MailchimpApi

TOOLS = ("mailchimp", "activecampaign")
TAG = "Nurture"
_MONOTONIC_BASE = 1e9  # the pacer's clock runs on the sandbox's; keep it positive


@contextmanager
def nurture_sandbox(**config: Any) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(crms=TOOLS, **config)) as sandbox:
        sandbox.apis["mailchimp"].create_segment(TAG)  # type: ignore[attr-defined]
        sandbox.apis["activecampaign"].create_tag(TAG)  # type: ignore[attr-defined]
        yield sandbox


def mailchimp_api(sandbox: Sandbox) -> MailchimpApi:
    api = sandbox.apis["mailchimp"]
    assert isinstance(api, MailchimpApi)
    return api


def activecampaign_api(sandbox: Sandbox) -> ActiveCampaignApi:
    api = sandbox.apis["activecampaign"]
    assert isinstance(api, ActiveCampaignApi)
    return api


def destination(tool: str, sandbox: Sandbox, **options: Any) -> Destination:
    """A real client against the sandbox; waits go to the sandbox's clock, so pacing costs no real time."""
    if tool == "mailchimp":
        options.setdefault("poll_interval", 0.0)
        return MailchimpDestination(
            api_key=API_KEY, list_id=LIST_ID, base_url=sandbox.http_url + "/3.0", sleep=sandbox.clock.advance, **options
        )
    return ActiveCampaignDestination(
        api_token=API_TOKEN,
        base_url=sandbox.http_url,
        sleep=sandbox.clock.advance,
        monotonic=lambda: sandbox.clock.seconds() + _MONOTONIC_BASE,
        **options,
    )


def add_member(tool: str, sandbox: Sandbox, email: str, status: str = "subscribed") -> None:
    """The person is already in the tool (a Mailchimp member with ``status``; an ActiveCampaign contact)."""
    if tool == "mailchimp":
        mailchimp_api(sandbox).add_member(email, status)
    else:
        activecampaign_api(sandbox).add_contact(email)


def tagged(tool: str, sandbox: Sandbox) -> set[str]:
    if tool == "mailchimp":
        return mailchimp_api(sandbox).tagged(TAG)
    return activecampaign_api(sandbox).tagged(TAG)
