"""Helpers for the scoring tests: small models from YAML, contacts and activities by age."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from connectors.records import Activity, Contact
from scoring import STARTER_MODEL_PATH, Model, load_model, parse_model

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
_ids: Iterator[int] = count(1)


def make_model(body: str, name: str = "test") -> Model:
    """A model from YAML (dedented); ``name:`` is added when the text has none."""
    text = textwrap.dedent(body)
    if not re.search(r"^name:", text, re.MULTILINE):
        text = f"name: {name}\n{text}"
    return parse_model(text, "test.yaml")


def contact(contact_id: str = "c1", **fields: Any) -> Contact:
    return Contact(id=contact_id, updated_at=NOW, fields=fields)


def act(
    activity_type: str,
    days: float = 0.0,
    *,
    hours: float = 0.0,
    at: datetime | None = None,
    activity_id: str | None = None,
    now: datetime = NOW,
    **attributes: Any,
) -> Activity:
    """An activity ``days`` (and ``hours``) before ``now``, or at ``at``."""
    occurred = at if at is not None else now - timedelta(days=days, hours=hours)
    return Activity(
        id=activity_id or f"a{next(_ids)}",
        contact_id="c1",
        type=activity_type,
        occurred_at=occurred,
        attributes=attributes,
    )


@pytest.fixture(scope="session")
def starter() -> Model:
    return load_model(STARTER_MODEL_PATH)
