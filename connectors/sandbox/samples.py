"""The shapes of CRM-neutral sample data: owners, people, activities, outcomes, and the ``Dataset`` holding them.

A leaf: ``seed`` (generated data) and ``importer`` (a CSV export) build a ``Dataset`` from these shapes;
``HubSpotApi.load``, ``SalesforceApi.load`` and ``PipedriveApi.load`` turn it into contacts / leads / persons,
engagements / tasks / activities, owners / users and deals.  ``connectors.sandbox.dataset`` is the public face.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SampleOwner:
    key: str  # stable within the dataset, e.g. "o1"
    first_name: str
    last_name: str
    email: str
    active: bool = True
    teams: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SamplePerson:
    key: str  # stable within the dataset, e.g. "p000123"
    first_name: str
    last_name: str
    email: str
    title: str
    company: str
    industry: str
    employees: str  # messy, as CRMs hold it: "1,000", "100-500", "1000+", "n/a", ""
    country: str
    city: str
    phone: str
    lead_source: str
    created_at: datetime
    updated_at: datetime
    owner_key: str | None = None
    lifecycle_stage: str = "lead"  # lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer
    converted: bool = False  # a converted Salesforce lead
    do_not_email: bool = False
    # rollups a CRM keeps on the record (HubSpot analytics properties and the like)
    page_views: int = 0
    visits: int = 0
    email_opens: int = 0
    email_clicks: int = 0
    form_submissions: int = 0
    last_visit_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SampleActivity:
    key: str
    person_key: str
    type: str  # a canonical type from connectors.records.ActivityType
    occurred_at: datetime
    subject: str = ""
    attributes: dict[str, str] = field(default_factory=dict)  # url, form, campaign, ...


@dataclass(frozen=True, slots=True)
class SampleOutcome:
    person_key: str
    won: bool
    closed_at: datetime
    amount: float = 0.0
    name: str = ""


@dataclass
class Dataset:
    owners: list[SampleOwner] = field(default_factory=list)
    people: list[SamplePerson] = field(default_factory=list)
    activities: list[SampleActivity] = field(default_factory=list)
    outcomes: list[SampleOutcome] = field(default_factory=list)
    # where the data came from ("generated: seed 7, ..." or the CSV path), and one sentence per row problem
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    def activities_by_person(self) -> dict[str, list[SampleActivity]]:
        out: dict[str, list[SampleActivity]] = {p.key: [] for p in self.people}
        for activity in self.activities:
            out.setdefault(activity.person_key, []).append(activity)
        return out

    def summary(self) -> dict[str, int]:
        return {
            "owners": len(self.owners),
            "people": len(self.people),
            "activities": len(self.activities),
            "outcomes": len(self.outcomes),
            "won": sum(1 for o in self.outcomes if o.won),
            "warnings": len(self.warnings),
        }
