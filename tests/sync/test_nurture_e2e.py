"""The nurture hand-off through real backfills and syncs on each sandbox CRM, to both tools through their real
clients: a model file's ``segments:`` block, the engine's answers, each CRM's own e-mail and opt-out fields.

The test model is the starter model with ``nurture: stage == lead``: it leaves consent out of the segment on
purpose, so the only thing keeping opted-out contacts out of the tools is the hand-off's own reading of the
CRM's opt-out field (HubSpot ``hs_email_optout``, Salesforce ``HasOptedOutOfEmail``, Pipedrive
``marketing_status``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from connectors.sandbox.app import NURTURE_TAG
from scoring import STARTER_MODEL_PATH, load_model, score
from sync.nurture import may_email
from tests.harnesses import CRMS, NOW
from tests.nurture_harness import TOOLS, activecampaign_api, mailchimp_api
from tests.sync.conftest import Stack

# past the starter model's MQL line (40) whoever the contact is: demo 25, two meetings 30, two replies 20
LIFT = ("demo_request", "meeting", "meeting", "email_reply", "email_reply")


def below_mql_model(tmp_path: Path) -> Path:
    data = yaml.safe_load(STARTER_MODEL_PATH.read_text(encoding="utf-8"))
    data["segments"] = {"nurture": "stage == lead"}
    data.pop("examples", None)  # they expect the starter's segments
    path = tmp_path / "below-mql.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def tagged(stack: Stack, tool: str) -> set[str]:
    api = mailchimp_api(stack.sandbox) if tool == "mailchimp" else activecampaign_api(stack.sandbox)
    return api.tagged(NURTURE_TAG)


@pytest.mark.parametrize("crm", CRMS)
def test_a_backfill_hands_off_who_may_be_emailed_and_a_lift_past_mql_takes_exactly_those_out(
    crm: str, make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = make_stack(crm, model_file=below_mql_model(tmp_path), nurture=True)
    app = stack.app()
    opt_out = app.settings.nurture.opt_out_names(crm)
    summary = app.run("backfill")

    reader = stack.app()
    model = load_model(reader.settings.model_file)
    contacts = [c for page in reader.adapter.read_contacts(None) for c in page.contacts]
    activities = reader.adapter.read_activities([c.id for c in contacts])
    segment = {c.id: c for c in contacts if "nurture" in score(model, c, list(activities.get(c.id, [])), NOW).segments}
    wanted = {
        cid: str(c.get("email")) for cid, c in segment.items() if may_email(c.fields, opt_out, require_field=True)
    }
    opted_out = {str(c.get("email")) for cid, c in segment.items() if cid not in wanted and c.get("email")}

    assert all(name in contacts[0].fields for name in ("email", *opt_out)), "the CRM's e-mail and opt-out fields"
    assert len(wanted) >= 10 and opted_out, "the dataset has contacts both ways"
    assert summary.counts["nurture_added"] == len(TOOLS) * len(wanted)
    for tool in TOOLS:
        assert tagged(stack, tool) == set(wanted.values()), tool
        assert not tagged(stack, tool) & opted_out
    assert {mailchimp_api(stack.sandbox).status_of(email) for email in opted_out} == {"unsubscribed"}

    lifted = sorted(wanted)[:3]
    for cid in lifted:
        for kind in LIFT:
            stack.harness.api.add_activity(cid, kind, NOW - timedelta(hours=2))
    stack.sandbox.clock.advance(120)  # past the HubSpot adapter's search lag, so what just changed is read
    again = app.run("sync")

    assert again.counts["nurture_removed"] == len(TOOLS) * 3
    assert again.counts["nurture_added"] == 0
    for tool in TOOLS:
        assert tagged(stack, tool) == {email for cid, email in wanted.items() if cid not in lifted}, tool


def test_the_run_summary_counts_each_tool_and_a_dry_run_previews_the_moves(
    make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from sync.cli import _print_summary, cli
    from sync.cli_context import out

    stack = make_stack("hubspot", model_file=below_mql_model(tmp_path), nurture=True)
    planned = CliRunner().invoke(cli, ["--env-file", str(stack.env_file), "backfill", "--dry-run"])

    assert planned.exit_code in (0, 1), planned.output
    line = next(x for x in planned.output.splitlines() if x.strip().startswith("nurture:"))
    would = int(line.split("Mailchimp would add ")[1].split(",")[0])
    assert would >= 10 and f"ActiveCampaign would add {would}, would remove 0" in line
    assert f"nurture:mailchimp:tag:{NURTURE_TAG}" in planned.output  # rows of the printed preview
    assert not tagged(stack, "mailchimp") and not tagged(stack, "activecampaign")

    app = stack.app()  # leadsync's clock at the dataset's NOW (the command above ran at today's)
    summary = app.run("backfill")
    with out.capture() as printed:
        _print_summary(summary, app)
    done = len(tagged(stack, "mailchimp"))
    assert done >= 10 and done == len(tagged(stack, "activecampaign"))
    assert f"nurture: Mailchimp added {done}, removed 0; ActiveCampaign added {done}, removed 0" in printed.get()


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize("problem", ["missing tag", "refused key"])
def test_check_says_in_one_sentence_what_is_wrong_with_a_tool(
    tool: str, problem: str, make_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    stack = make_stack("hubspot", nurture=True, fields=False)
    env = stack.env_file.read_text(encoding="utf-8")
    if problem == "missing tag":
        env += f'LEADSYNC_NURTURE__SEGMENTS={{"nurture": ["{tool}:tag:Nurturing"]}}\n'
    else:
        key = "LEADSYNC_MAILCHIMP__API_KEY" if tool == "mailchimp" else "LEADSYNC_ACTIVECAMPAIGN__API_TOKEN"
        env += f'LEADSYNC_NURTURE__SEGMENTS={{"nurture": ["{tool}:tag:{NURTURE_TAG}"]}}\n'
        env += f"{key}=ffffffffffffffffffffffffffffffff-us1\n"
    stack.env_file.write_text(env, encoding="utf-8")

    report = stack.app().check()

    lines = [line for line in report["lines"] if line.startswith("Nurture ")]
    assert not report["ok"] and len(lines) == 1, report["lines"]
    sentence = lines[0]
    assert sentence.endswith(".") and "Traceback" not in sentence and "ffffffff" not in sentence
    if problem == "missing tag":
        assert "has no " in sentence and "tag 'Nurturing'" in sentence and "LEADSYNC_NURTURE__SEGMENTS" in sentence
    else:
        assert any(word in sentence.lower() for word in ("key", "token", "refused", "401", "403"))
