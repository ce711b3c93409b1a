"""Fixtures for the connector tests: sandboxes, seeded data, the X Education CSV, CRM harnesses."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.seed import generate
from tests.connectors.harness import HARNESS_MODULES, Harness

REPO = Path(__file__).resolve().parents[2]
X_EDUCATION_CSV = REPO.parent / "shared" / "data" / "leads_train.csv"
X_EDUCATION_MAPPING = REPO / "connectors" / "sandbox" / "mappings" / "x_education.yaml"
NOW = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)  # the "now" of every generated test dataset


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox with the CRMs' documented rate limits, in memory, torn down after the test."""
    with Sandbox(SandboxConfig(seed=7)) as sb:
        yield sb


@pytest.fixture(scope="session")
def small_dataset() -> Dataset:
    """120 people, about 5 activities each (shared: Dataset is never mutated by a load)."""
    return generate(120, seed=7, now=NOW, activities_per_contact=5.0, owners=4)


@pytest.fixture
def x_education_csv() -> Path:
    if not X_EDUCATION_CSV.exists():
        pytest.skip(f"the X Education CSV is not at {X_EDUCATION_CSV} (it is never copied into the repo)")
    return X_EDUCATION_CSV


def make_harness(crm: str, sandbox: Sandbox) -> Harness:
    """The CRM's harness on ``sandbox``; skips (with the reason) while its harness module does not import."""
    name = HARNESS_MODULES[crm]
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        pytest.skip(f"{crm}: {name} is not importable yet ({exc})")
    factory = getattr(module, "make_harness", None)
    if factory is None:
        pytest.skip(f"{crm}: {name} has no make_harness(sandbox) yet")
    harness: Harness = factory(sandbox)
    return harness
