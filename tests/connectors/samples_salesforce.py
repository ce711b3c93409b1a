"""Helpers for the Salesforce tests: a hand-built ``Dataset`` and a logged-in simple-salesforce client on the
sandbox (the harness itself is ``tests.harnesses.SalesforceHarness``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
from simple_salesforce import Salesforce

from connectors.salesforce.client import make_session
from connectors.sandbox import Sandbox
from connectors.sandbox.dataset import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson
from connectors.sandbox.salesforce import SANDBOX_CREDENTIALS

# The sandbox user's OAuth password grant (the security token appended to the password, as Salesforce wants).
PASSWORD_GRANT = {
    "grant_type": "password",
    "client_id": SANDBOX_CREDENTIALS["consumer_key"],
    "client_secret": SANDBOX_CREDENTIALS["consumer_secret"],
    "username": SANDBOX_CREDENTIALS["username"],
    "password": SANDBOX_CREDENTIALS["password"] + SANDBOX_CREDENTIALS["security_token"],
}


def sf_client(sandbox: Sandbox, session: requests.Session | None = None) -> Salesforce:
    """simple-salesforce on the sandbox over TLS (sandbox CA), logged in with the password flow."""
    http = session or make_session(str(sandbox.ca_path))
    token = http.post(sandbox.salesforce_url + "/services/oauth2/token", data=PASSWORD_GRANT, timeout=30).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=http)


def people_dataset(
    n: int,
    *,
    activities: tuple[str, ...] = (),
    converted_every: int = 0,
    same_stamp_every: int = 1,
    base: datetime = datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
) -> Dataset:
    """``n`` people; ``same_stamp_every`` of them share each updated_at second (ties on SystemModstamp);
    every ``converted_every``-th person is converted with a won outcome; each gets the ``activities``."""
    owners = [
        SampleOwner("o1", "Ada", "Owner", "ada@example.com", teams=("Inbound",)),
        SampleOwner("o2", "Bo", "Gone", "bo@example.com", active=False),
    ]
    people, acts, outcomes = [], [], []
    for i in range(n):
        converted = bool(converted_every) and i % converted_every == 0
        people.append(
            SamplePerson(
                key=f"p{i:05d}",
                first_name=f"First{i}",
                last_name=f"Last{i}",
                email=f"person{i}@example.com",
                title="Head of Ops",
                company=f"Company {i % 37}",
                industry="Technology",
                employees=["1,000", "50", "100-500", "n/a"][i % 4],
                country="DE",
                city="Berlin",
                phone="+49 30 1234",
                lead_source="Web",
                created_at=base - timedelta(days=30),
                updated_at=base + timedelta(seconds=i // max(same_stamp_every, 1)),
                owner_key="o1",
                converted=converted,
            )
        )
        for j, kind in enumerate(activities):
            acts.append(
                SampleActivity(f"a{i}-{j}", f"p{i:05d}", kind, base - timedelta(days=j + 1), subject=f"{kind} {j}")
            )
        if converted:
            outcomes.append(SampleOutcome(f"p{i:05d}", True, base - timedelta(days=2), 1000.0 + i, f"Deal {i}"))
    return Dataset(owners=owners, people=people, activities=acts, outcomes=outcomes, source="samples_salesforce")
