"""A sandbox HubSpot synced once (a real backfill), and the dashboard on its state database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.seed import generate
from sync.app import App
from sync.dashboard import hash_password
from sync.demo import sandbox_env_file
from sync.settings import DashboardSettings, Settings, load_settings

USER, PASSWORD = "revops", "correct horse battery"


@dataclass
class Synced:
    sandbox: Sandbox
    settings: Settings
    backfill_run: int
    workdir: Path


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    workdir = tmp_path_factory.mktemp("dashboard")
    with Sandbox(SandboxConfig(seed=11)) as sandbox:
        sandbox.apis["hubspot"].load(generate(60, seed=11, now=datetime.now(UTC)))  # type: ignore[attr-defined]
        base = load_settings(sandbox_env_file(sandbox, "hubspot", workdir))
        app = App(base)
        try:
            app.check(create_fields=True)
            summary = app.run("backfill", progress=False)
        finally:
            app.close()
        assert summary.counts["written"] > 0
        dashboard = DashboardSettings(
            user=USER, password_hash=SecretStr(hash_password(PASSWORD)), session_secret=SecretStr("s" * 32)
        )
        settings = base.model_copy(update={"dashboard": dashboard})
        yield Synced(sandbox, settings, summary.run_id, workdir)
