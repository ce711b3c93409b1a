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


def _rows(text: str, title: str, end: str) -> list[list[str]]:
    """The body rows of the rich table printed under ``title`` (before ``end``), as lists of cell texts."""
    section = text.split(title, 1)[1].split(end, 1)[0]
    return [
        [cell.strip() for cell in line.strip("│").split("│")] for line in section.splitlines() if line.startswith("│")
    ]


def test_the_demo_runs_each_crm_hands_off_the_nurture_segment_and_ends() -> None:
    buffer = io.StringIO()

    code = run_demo(crm="all", contacts=40, console=Console(file=buffer, width=200))

    text = buffer.getvalue()
    assert code == 0, text
    sections = text.split("seeded contacts")[1:]
    assert len(sections) == 3, text
    for section in sections:
        found = re.search(
            r"nurture: (\d+) contacts tagged Nurture in Mailchimp, (\d+) in ActiveCampaign$", section, re.M
        )
        assert found, section
        assert int(found[1]) == int(found[2]) > 0
        assert "Nurture mailchimp tag:Nurture (segment nurture): ok." in section
        # the tables read the CRM back after the runs: every contact, with the score leadsync wrote (the paced
        # nurture clients move the sandbox's clock, so reads bounded by the local clock missed what was written)
        stages = _rows(section, "Lifecycle stages in the CRM", "Top leads")
        assert sum(int(row[1]) for row in stages) == sum(int(row[2]) for row in stages) == 40, section
        top = _rows(section, "Top leads, as written to the CRM", "\n─")
        assert top and float(top[0][1]) > 0, section


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
