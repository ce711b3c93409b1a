"""Seeded, realistic B2B lead data for the sandbox: ``generate(contacts, seed, now) -> Dataset``.

Same ``seed`` and ``now``, same dataset, byte for byte.  People are made in order, each from its own
``random.Random`` (seed, index), so ``iter_records`` streams them one at a time without holding the whole
set in memory.

What it looks like, and why:

- Profiles: industries, company sizes in the messy formats CRMs hold ("1,000", "100-500", "1000+", "n/a",
  ""), countries and cities, titles from decision makers to students and job seekers, free-mail and company
  domains, a few employees of competitors (``COMPETITOR_DOMAINS``), lead sources, owners (one inactive).
- Behaviour over the ~6 months before ``now``: page views (``/pricing``, ``/careers``, blog, docs...), form
  submissions, demo requests, email opens/clicks/replies, sales emails, meetings, calls, webinar registrations
  and attendance, content downloads, unsubscribes and bounces.  Activity counts follow a funnel: a
  log-normal per person with mean ``activities_per_contact``, so most leads do a little and a few do a lot.
- Outcomes: a lead closes with probability logistic(fit + engagement + noise) (about 10-20% close), and a
  closed lead is won with probability logistic(fit + intent + noise) (about 30-40% of closed are won),
  so outcomes correlate with fit and behaviour the way real funnels do, with noise.  Competitors never buy.
- Rollups on each person agree with its activities: ``page_views`` = page_view activities, ``visits`` =
  distinct UTC days with a page view, ``email_opens`` / ``email_clicks`` = those activities,
  ``form_submissions`` = activities carrying a ``form`` attribute (form submissions, demo requests, gated
  downloads, webinar registrations), ``last_visit_at`` = the latest page view.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from connectors.sandbox.samples import Dataset, SamplePerson
from connectors.sandbox.seed.owners import make_owners
from connectors.sandbox.seed.people import Generator, PersonRecord, format_employees
from connectors.sandbox.seed.tables import (
    BASE_MIX,
    COMPETITOR_DOMAINS,
    FIRST_NAMES,
    FREE_MAIL,
    FREE_MAIL_DOMAINS,
    LAST_NAMES,
)


def iter_records(
    contacts: int,
    seed: int,
    now: datetime,
    activities_per_contact: float = 10.0,
    owners: int = 8,
) -> Iterator[PersonRecord]:
    """People one at a time with their activities and outcome (stream-friendly ``generate``)."""
    gen = Generator(contacts, seed, now, activities_per_contact, owners)
    for i in range(contacts):
        yield gen.record(i)


def iter_people(
    contacts: int, seed: int, now: datetime, activities_per_contact: float = 10.0, owners: int = 8
) -> Iterator[SamplePerson]:
    for record in iter_records(contacts, seed, now, activities_per_contact, owners):
        yield record.person


def generate(
    contacts: int,
    seed: int,
    now: datetime,
    activities_per_contact: float = 10.0,
    owners: int = 8,
) -> Dataset:
    """``contacts`` people with about ``activities_per_contact`` activities each, deterministic per seed."""
    gen = Generator(contacts, seed, now, activities_per_contact, owners)
    dataset = Dataset(
        owners=list(gen.owners),
        source=f"generated: {contacts} contacts, seed {seed}, now {gen.now.isoformat()}, "
        f"{activities_per_contact} activities per contact",
    )
    people, activities, outcomes = dataset.people, dataset.activities, dataset.outcomes
    for i in range(contacts):
        person, acts, outcome = gen.record(i)
        people.append(person)
        activities.extend(acts)
        if outcome is not None:
            outcomes.append(outcome)
    return dataset


def default_now() -> datetime:
    """Today at midnight UTC: a ``now`` that keeps a day's runs identical."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


__all__ = [
    "BASE_MIX",
    "COMPETITOR_DOMAINS",
    "FIRST_NAMES",
    "FREE_MAIL",
    "FREE_MAIL_DOMAINS",
    "LAST_NAMES",
    "PersonRecord",
    "default_now",
    "format_employees",
    "generate",
    "iter_people",
    "iter_records",
    "make_owners",
]
