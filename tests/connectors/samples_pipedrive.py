"""Helpers for the Pipedrive tests: hand-built datasets and a ``requests`` session on the sandbox (the
harness itself is ``tests.harnesses.PipedriveHarness``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from connectors.sandbox import Sandbox
from connectors.sandbox.dataset import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson
from connectors.sandbox.pipedrive import SANDBOX_CREDENTIALS

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def people_dataset(n: int, *, per_second: int = 1, activities: int = 0, start: datetime = T0) -> Dataset:
    """``n`` people whose ``updated_at`` advance one second every ``per_second`` people (ties on purpose),
    two owners, ``activities`` email opens each, and a won deal for every 10th person."""
    owners = [SampleOwner("o1", "Ada", "Owner", "ada@example.com"), SampleOwner("o2", "Bo", "Seller", "bo@example.com")]
    stages = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
    people = [
        SamplePerson(
            key=f"p{i:04d}",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            email=f"p{i}@corp{i % 7}.example",
            title="VP Sales" if i % 2 else "Engineer",
            company=f"Corp {i % 7}",
            industry="Software",
            employees="100-500",
            country="Germany",
            city="Berlin",
            phone=f"+49 30 {i:06d}",
            lead_source="Webinar",
            created_at=start - timedelta(days=30),
            updated_at=start + timedelta(seconds=i // per_second),
            owner_key="o1" if i % 2 else "o2",
            lifecycle_stage=stages[i % len(stages)],
        )
        for i in range(n)
    ]
    acts = [
        SampleActivity(f"a{i}-{j}", p.key, "email_open", start - timedelta(hours=j + 1), "Monthly newsletter")
        for i, p in enumerate(people)
        for j in range(activities)
    ]
    outcomes = [
        SampleOutcome(p.key, True, start - timedelta(days=2), 1000.0 + i) for i, p in enumerate(people) if i % 10 == 0
    ]
    return Dataset(owners=owners, people=people, activities=acts, outcomes=outcomes, source="hand-built")


def api_session(sandbox: Sandbox) -> requests.Session:
    """A plain ``requests`` session that authenticates with the sandbox's API token header."""
    session = requests.Session()
    session.headers["x-api-token"] = SANDBOX_CREDENTIALS["api_token"]
    return session
