"""The one sentence leadsync prints when a CRM or a nurture tool cannot be reached (``sync/reach.py``)."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from connectors.errors import FatalApiError, TransientError
from sync.reach import nurture_unreachable, unreachable
from sync.settings import Settings

REFUSED = (
    "HTTPSConnectionPool(host='us7.api.mailchimp.com', port=443): Max retries exceeded "
    "(Caused by NewConnectionError(... [Errno 111] Connection refused))"
)


def _settings(**env: str) -> Settings:
    with mock.patch.dict(os.environ, {"LEADSYNC_CRM": "hubspot", **env}, clear=True):
        return Settings(_env_file=None)


@pytest.mark.parametrize(
    ("env", "tool", "named"),
    [
        (
            {"LEADSYNC_MAILCHIMP__API_KEY": "k" * 32 + "-us7"},
            "mailchimp",
            "LEADSYNC_MAILCHIMP__API_KEY (its -<data center>)",
        ),
        ({"LEADSYNC_MAILCHIMP__BASE_URL": "https://mc.example.com/3.0"}, "mailchimp", "LEADSYNC_MAILCHIMP__BASE_URL"),
        (
            {"LEADSYNC_ACTIVECAMPAIGN__BASE_URL": "https://acme.api-us1.com"},
            "activecampaign",
            "LEADSYNC_ACTIVECAMPAIGN__BASE_URL",
        ),
    ],
)
def test_a_nurture_tool_out_of_reach_is_one_sentence_naming_its_setting(
    env: dict[str, str], tool: str, named: str
) -> None:
    text = nurture_unreachable(TransientError(REFUSED), _settings(**env), tool)

    assert text is not None and text.startswith(f"Cannot reach {tool} at ")
    assert "(connection refused, after several attempts)" in text and f"check {named} and the network." in text
    assert "k" * 32 not in text and "Max retries" not in text


def test_other_errors_are_not_reach_problems() -> None:
    settings = _settings()
    assert nurture_unreachable(FatalApiError("400 bad request"), settings, "mailchimp") is None
    assert nurture_unreachable(TransientError("503 Service Unavailable"), settings, "mailchimp") is None
    assert unreachable(TransientError("503 Service Unavailable"), settings) is None
