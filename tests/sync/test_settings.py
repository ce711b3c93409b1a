"""Settings: env and .env, nested sections, secrets redacted, one sentence per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.http import redact
from sync.settings import SettingsError, example_env, known_variables, load_settings, missing_credentials

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LEADSYNC_") and not key.startswith("LEADSYNC_TEST_"):
            monkeypatch.delenv(key)


def test_example_env_is_generated_from_the_schema() -> None:
    assert (REPO / "settings.example.env").read_text(encoding="utf-8") == example_env(), (
        "settings.example.env is stale: regenerate it with "
        "`python -c 'from sync.settings import example_env; print(example_env(), end=\"\")' > settings.example.env`"
    )


def test_example_env_lists_every_variable_and_no_secret(tmp_path: Path) -> None:
    text = example_env()
    for name in known_variables():
        assert f"\n{name}=" in text, name
    for line in text.splitlines():
        if any(s in line for s in ("TOKEN=", "PASSWORD=", "SECRET=", "SESSION_ID=", "WEBHOOK_URL=")):
            assert line.endswith("="), f"example must not carry a secret: {line}"
    env = tmp_path / ".env"
    env.write_text(text, encoding="utf-8")
    settings = load_settings(env)
    assert settings.crm == "hubspot"
    assert settings.daemon.sync_cron == "*/15 * * * *"
    assert settings.hubspot.access_token is None


def test_nested_env_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("LEADSYNC_CRM=pipedrive\nLEADSYNC_PIPEDRIVE__API_TOKEN=pd-file-token-123\n", encoding="utf-8")
    monkeypatch.setenv("LEADSYNC_PIPEDRIVE__API_TOKEN", "pd-env-token-456")
    settings = load_settings(env)
    assert settings.crm == "pipedrive"
    assert settings.pipedrive.api_token is not None
    assert settings.pipedrive.api_token.get_secret_value() == "pd-env-token-456"  # the environment wins
    assert "pd-env-token-456" not in repr(settings)
    assert redact("token pd-env-token-456 leaked") == "token *** leaked"


def test_problems_name_the_variable_and_suggest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSYNC_HUBSPOT__ACCES_TOKEN", "x")
    monkeypatch.setenv("LEADSYNC_BATCH_SIZE", "lots")
    monkeypatch.setenv("LEADSYNC_CRM", "zoho")
    with pytest.raises(SettingsError) as info:
        load_settings(None)
    text = str(info.value)
    assert "LEADSYNC_HUBSPOT__ACCES_TOKEN" in text and "Did you mean LEADSYNC_HUBSPOT__ACCESS_TOKEN?" in text
    assert "LEADSYNC_BATCH_SIZE" in text
    assert "LEADSYNC_CRM" in text
    assert len(info.value.problems) == 3


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LEADSYNC_CRM": "hubspot"}, ["LEADSYNC_HUBSPOT__ACCESS_TOKEN"]),
        ({"LEADSYNC_CRM": "pipedrive"}, ["LEADSYNC_PIPEDRIVE__API_TOKEN"]),
        (
            {"LEADSYNC_CRM": "salesforce", "LEADSYNC_SALESFORCE__AUTH": "session"},
            ["LEADSYNC_SALESFORCE__SESSION_ID", "LEADSYNC_SALESFORCE__INSTANCE_URL"],
        ),
        ({"LEADSYNC_CRM": "hubspot", "LEADSYNC_HUBSPOT__ACCESS_TOKEN": "pat-1"}, []),
        # client credentials (the default): Salesforce serves them on the org's My Domain only
        (
            {"LEADSYNC_CRM": "salesforce"},
            [
                "LEADSYNC_SALESFORCE__CONSUMER_KEY",
                "LEADSYNC_SALESFORCE__CONSUMER_SECRET",
                "LEADSYNC_SALESFORCE__LOGIN_URL is not set",
            ],
        ),
        *(
            (
                {
                    "LEADSYNC_CRM": "salesforce",
                    "LEADSYNC_SALESFORCE__CONSUMER_KEY": "3MVG9",
                    "LEADSYNC_SALESFORCE__CONSUMER_SECRET": "s",
                    "LEADSYNC_SALESFORCE__LOGIN_URL": url,
                },
                [f"LEADSYNC_SALESFORCE__LOGIN_URL is {url}, which Salesforce does not serve"],
            )
            for url in ("https://login.salesforce.com", "https://TEST.salesforce.com/")
        ),
        (
            {
                "LEADSYNC_CRM": "salesforce",
                "LEADSYNC_SALESFORCE__CONSUMER_KEY": "3MVG9",
                "LEADSYNC_SALESFORCE__CONSUMER_SECRET": "s",
                "LEADSYNC_SALESFORCE__LOGIN_URL": "https://acme.my.salesforce.com",
            },
            [],
        ),
        (
            {
                "LEADSYNC_CRM": "salesforce",
                "LEADSYNC_SALESFORCE__AUTH": "jwt",
                "LEADSYNC_SALESFORCE__USERNAME": "u@acme.com",
                "LEADSYNC_SALESFORCE__CONSUMER_KEY": "3MVG9",
                "LEADSYNC_SALESFORCE__PRIVATE_KEY_FILE": __file__,
                "LEADSYNC_SALESFORCE__LOGIN_URL": "https://login.salesforce.com",
            },
            [],
        ),
    ],
)
def test_missing_credentials_are_sentences(
    env: dict[str, str], expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    problems = missing_credentials(load_settings(None))
    assert len(problems) == len(expected)
    for name, problem in zip(expected, problems, strict=True):
        assert problem.startswith(name)
        assert problem.endswith(".")
