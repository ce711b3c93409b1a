"""``leadsync demo`` (``make demo``) on one CRM: it ends by itself, and its backfill hands the nurture segment to
both sandbox tools."""

from __future__ import annotations

import io
import os
import re
from unittest import mock

from rich.console import Console

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.app import CRMS, DESTINATIONS
from sync.demo import run_demo
from sync.sandbox_cli import env_lines
from sync.settings import Settings


def test_the_demo_hands_the_nurture_segment_to_both_tools_and_ends() -> None:
    buffer = io.StringIO()

    code = run_demo(crm="pipedrive", contacts=60, console=Console(file=buffer, width=200))

    text = buffer.getvalue()
    assert code == 0, text
    found = re.search(r"nurture: (\d+) contacts tagged Nurture in Mailchimp, (\d+) in ActiveCampaign$", text, re.M)
    assert found, text
    assert int(found[1]) == int(found[2]) > 0
    assert "Nurture mailchimp tag:Nurture (segment nurture): ok." in text


def test_the_sandbox_prints_the_nurture_tools_lines_leadsync_reads_when_it_serves_them() -> None:
    with Sandbox(SandboxConfig(crms=CRMS)) as plain:
        assert not [line for line in env_lines(plain, ["hubspot"]) if "MAILCHIMP" in line or "NURTURE" in line]
    with Sandbox(SandboxConfig(crms=CRMS + DESTINATIONS)) as sandbox:
        lines = env_lines(sandbox, ["hubspot"])
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values["LEADSYNC_MAILCHIMP__BASE_URL"] == f"{sandbox.http_url}/3.0"
    assert values["LEADSYNC_ACTIVECAMPAIGN__BASE_URL"] == sandbox.http_url

    with mock.patch.dict(os.environ, values):
        loaded = Settings(_env_file=None)
    assert loaded.mailchimp.api_key is not None and loaded.mailchimp.list_id
    assert loaded.activecampaign.api_token is not None
    assert loaded.nurture.segments == {"nurture": ["mailchimp:tag:Nurture", "activecampaign:tag:Nurture"]}
