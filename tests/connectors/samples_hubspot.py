"""Small hand-made HubSpot datasets for the HubSpot tests (the seeded generator is for volume); the harness
itself is ``tests.harnesses.HubSpotHarness``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors.sandbox.dataset import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson
from tests.harnesses import NOW


def person(i: int, **overrides: Any) -> SamplePerson:
    values: dict[str, Any] = {
        "key": f"p{i:06d}",
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "email": f"person{i}@example{i % 7}.com",
        "title": ["CEO", "Engineer", "Student", ""][i % 4],
        "company": f"Company {i % 13}",
        "industry": ["Software", "Education", "Healthcare"][i % 3],
        "employees": ["1,000", "100-500", "1000+", "n/a", ""][i % 5],
        "country": ["US", "DE", "IN"][i % 3],
        "city": "Springfield",
        "phone": "",
        "lead_source": "Organic Search",
        "created_at": NOW - timedelta(days=300, minutes=i),
        "updated_at": NOW - timedelta(days=30, seconds=i),
        "owner_key": "o1" if i % 2 else "o2",
        "lifecycle_stage": ["lead", "marketingqualifiedlead", "customer"][i % 3],
        "page_views": i % 9,
        "visits": i % 4,
    }
    values.update(overrides)
    return SamplePerson(**values)


def dataset(n: int, *, activities: bool = True) -> Dataset:
    people = [person(i) for i in range(n)]
    owners = [
        SampleOwner("o1", "Ada", "Owner", "ada@leadsync-demo.com", teams=("Inbound",)),
        SampleOwner("o2", "Bob", "Owner", "bob@leadsync-demo.com"),
        SampleOwner("o3", "Cy", "Gone", "cy@leadsync-demo.com", active=False),
    ]
    acts: list[SampleActivity] = []
    if activities:
        kinds = ["email_open", "email_click", "email_reply", "meeting", "call", "demo_request", "page_view"]
        for i, p in enumerate(people):
            for k in range(i % 4):
                kind = kinds[(i + k) % len(kinds)]
                at = NOW - timedelta(days=40, hours=k, minutes=i)
                acts.append(
                    SampleActivity(f"{p.key}-{k}", p.key, kind, at, subject=f"s{k}", attributes={"url": "/pricing"})
                )
    outcomes = [SampleOutcome(people[0].key, True, NOW - timedelta(days=5), 1200.0, "Won deal")] if people else []
    if len(people) > 1:
        outcomes.append(SampleOutcome(people[1].key, False, NOW - timedelta(days=6), 0.0, "Lost deal"))
    return Dataset(owners=owners, people=people, activities=acts, outcomes=outcomes)
