"""Fixtures for the connector tests: sandboxes, seeded data, the X Education CSV, the fixed "now"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.pipedrive import PipedriveApi
from connectors.sandbox.seed import generate
from tests.harnesses import NOW, api_of

REPO = Path(__file__).resolve().parents[2]
X_EDUCATION_CSV = REPO.parent / "shared" / "data" / "leads_train.csv"
X_EDUCATION_MAPPING = REPO / "connectors" / "sandbox" / "mappings" / "x_education.yaml"


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox with the CRMs' documented rate limits, in memory, torn down after the test."""
    with Sandbox(SandboxConfig(seed=7)) as sb:
        yield sb


@pytest.fixture
def pd(sandbox: Sandbox) -> PipedriveApi:
    """The sandbox's Pipedrive emulation."""
    return api_of(sandbox, PipedriveApi)


@pytest.fixture
def adapters() -> Iterator[list[Any]]:
    """Adapters a test makes, closed after it (append each one)."""
    made: list[Any] = []
    yield made
    for adapter in made:
        adapter.close()


@pytest.fixture(scope="session")
def small_dataset() -> Dataset:
    """120 people, about 5 activities each (shared: Dataset is never mutated by a load)."""
    return generate(120, seed=7, now=NOW, activities_per_contact=5.0, owners=4)


@pytest.fixture
def x_education_csv() -> Path:
    if not X_EDUCATION_CSV.exists():
        pytest.skip(f"the X Education CSV is not at {X_EDUCATION_CSV} (it is never copied into the repo)")
    return X_EDUCATION_CSV
