"""Loading: the org's own records at start (the integration user, the Lead Status values), a CRM-neutral
``Dataset`` turned into Salesforce records, and the helpers tests and the demo use to change the org as
its users would (log an activity, edit a record, merge duplicates).

Assumptions (documented behaviour where found, otherwise noted here):
- Creating a Task, Event or CampaignMember does not change the Lead's or Contact's SystemModstamp: a sync
  must read activity changes itself.
- A person with ``converted`` or a won outcome becomes a converted Lead (Status 'Closed - Converted',
  IsConverted, with the Contact, Account and, for outcomes, the Opportunity that conversion creates, linked
  by ``ConvertedOpportunityId`` and an OpportunityContactRole); their activities sit on the Contact, as
  conversion moves them there.  A lost outcome on an unconverted lead becomes Status 'Closed - Not
  Converted'.
- Email opens/clicks/replies, page views, demo requests and the like are Tasks whose Subject starts with a
  label ("Email Opened: ..."), as sales-engagement tools log them; meetings are Events; webinars, content
  downloads and form fills are CampaignMembers of a Campaign whose Type says which.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.sandbox.dataset import Dataset, SampleActivity, SamplePerson
from connectors.sandbox.salesforce.auth import SANDBOX_CREDENTIALS, SalesforceOrg
from connectors.sandbox.salesforce.ids import id18
from connectors.sandbox.salesforce.objects import LEAD_STATUSES
from connectors.sandbox.salesforce.records import Records, full_name, sf_datetime
from connectors.sandbox.salesforce.schema import coerce

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context

# canonical activity type -> (Task Type, TaskSubtype, Subject label)
TASK_KINDS: dict[str, tuple[str, str, str]] = {
    "email_sent": ("Email", "Email", "Email"),
    "email_open": ("Email", "Email", "Email Opened"),
    "email_click": ("Email", "Email", "Email Clicked"),
    "email_reply": ("Email", "Email", "Email Reply"),
    "bounce": ("Email", "Email", "Email Bounced"),
    "unsubscribe": ("Email", "Email", "Unsubscribed"),
    "call": ("Call", "Call", "Call"),
    "page_view": ("Other", "Task", "Page View"),
    "demo_request": ("Other", "Task", "Demo Request"),
    "social_engagement": ("Other", "LinkedIn", "LinkedIn"),
    "note": ("Other", "Task", "Note"),
    "other": ("Other", "Task", ""),
}
# canonical activity type -> (Campaign Type, CampaignMember Status)
CAMPAIGN_KINDS: dict[str, tuple[str, str]] = {
    "webinar_registration": ("Webinar", "Registered"),
    "webinar_attended": ("Webinar", "Attended"),
    "content_download": ("Content", "Downloaded"),
    "form_submission": ("Website", "Responded"),
}


def seed_org(records: Records, org: SalesforceOrg) -> None:
    """What the org has before any data: the integration user, whose login and connected app the OAuth
    endpoint accepts, and the standard Lead Status values."""
    creds = SANDBOX_CREDENTIALS
    user = records.insert(
        "User",
        {
            "Username": creds["username"],
            "FirstName": "Integration",
            "LastName": "User",
            "Email": "integration@leadsync.sandbox",
            "IsActive": True,
            "UserType": "Standard",
        },
    )
    org.integration_user_id = user
    org.logins[creds["username"]] = (creds["password"], creds["security_token"], user)
    org.apps[creds["consumer_key"]] = creds["consumer_secret"]
    for order, (value, converted, default) in enumerate(LEAD_STATUSES, start=1):
        records.insert(
            "LeadStatus",
            {
                "MasterLabel": value,
                "ApiName": value,
                "IsConverted": converted,
                "IsDefault": default,
                "SortOrder": order,
            },
        )


class Loader:
    """Writes records the way the org's users and integrations would; remembers the campaigns it made."""

    def __init__(self, ctx: Context, org: SalesforceOrg):
        self.ctx = ctx
        self.org = org
        self._campaigns: dict[tuple[str, str], str] = {}
        self._members: set[tuple[str, str]] = set()

    def load(self, dataset: Dataset) -> dict[str, str]:
        """Turn a CRM-neutral dataset into Users, Leads (some converted), Contacts, Accounts, Tasks, Events,
        Campaigns/CampaignMembers, Opportunities and OpportunityContactRoles; returns person key -> Lead id."""
        rows: list[tuple[str, dict[str, Any]]] = []

        def add(sobject: str, values: dict[str, Any], when: str) -> str:
            data = self.ctx.records.prepare(sobject, values, when)
            rows.append((sobject, data))
            return str(data["Id"])

        owners: dict[str, str] = {}
        for owner in dataset.owners:
            when = self.ctx.records.now()
            owners[owner.key] = add(
                "User",
                {
                    "Username": owner.email,
                    "FirstName": owner.first_name,
                    "LastName": owner.last_name,
                    "Email": owner.email,
                    "IsActive": owner.active,
                    "Department": owner.teams[0] if owner.teams else None,
                    "UserType": "Standard",
                },
                when,
            )
        outcomes: dict[str, list[Any]] = {}
        for outcome in dataset.outcomes:
            outcomes.setdefault(outcome.person_key, []).append(outcome)
        leads: dict[str, str] = {}
        who: dict[str, tuple[str, str | None]] = {}  # person key -> (lead id, converted contact id)
        for person in dataset.people:
            owner_id = owners.get(person.owner_key or "", self.org.integration_user_id)
            created, updated = sf_datetime(person.created_at), sf_datetime(person.updated_at)
            lead = _lead_values(person, owner_id)
            mine = outcomes.get(person.key, [])
            converted = person.converted or any(o.won for o in mine)
            contact_id = None
            if converted:
                account_id = add(
                    "Account",
                    {"Name": person.company or "Unknown", "Industry": person.industry or None, "OwnerId": owner_id},
                    updated,
                )
                contact_id = add("Contact", _contact_values(person, owner_id, account_id), updated)
                lead.update(
                    {
                        "Status": "Closed - Converted",
                        "IsConverted": True,
                        "ConvertedDate": person.updated_at.astimezone(UTC).date().isoformat(),
                        "ConvertedAccountId": account_id,
                        "ConvertedContactId": contact_id,
                    }
                )
                for outcome in mine:
                    opp_id = add(
                        "Opportunity",
                        {
                            "Name": outcome.name or f"{person.company} deal",
                            "StageName": "Closed Won" if outcome.won else "Closed Lost",
                            "IsClosed": True,
                            "IsWon": outcome.won,
                            "CloseDate": outcome.closed_at.astimezone(UTC).date().isoformat(),
                            "Amount": outcome.amount,
                            "AccountId": account_id,
                            "OwnerId": owner_id,
                        },
                        sf_datetime(outcome.closed_at),
                    )
                    lead.setdefault("ConvertedOpportunityId", opp_id)
                    add(
                        "OpportunityContactRole",
                        {"OpportunityId": opp_id, "ContactId": contact_id, "Role": "Decision Maker", "IsPrimary": True},
                        sf_datetime(outcome.closed_at),
                    )
            elif mine:
                lead["Status"] = "Closed - Not Converted"
            lead_id = add("Lead", lead, updated)
            rows[-1][1]["CreatedDate"] = created
            leads[person.key] = lead_id
            who[person.key] = (lead_id, contact_id)
        for activity in dataset.activities:
            if activity.person_key not in who:
                continue
            lead_id, contact_id = who[activity.person_key]
            sobject, values = self._activity_values(lead_id, contact_id, activity)
            when = sf_datetime(activity.occurred_at)
            add(sobject, values, when)
        self.ctx.records.write(rows)
        return leads

    def _activity_values(
        self, lead_id: str | None, contact_id: str | None, activity: SampleActivity
    ) -> tuple[str, dict[str, Any]]:
        kind, subject, at = activity.type, activity.subject, activity.occurred_at
        who_id = contact_id or lead_id
        owner = self.org.integration_user_id
        if kind == "meeting":
            return "Event", {
                "WhoId": who_id,
                "Subject": f"Meeting: {subject}" if subject else "Meeting",
                "Type": "Meeting",
                "StartDateTime": sf_datetime(at),
                "EndDateTime": sf_datetime(at + timedelta(minutes=30)),
                "ActivityDateTime": sf_datetime(at),
                "DurationInMinutes": 30,
                "OwnerId": owner,
            }
        if kind in CAMPAIGN_KINDS:
            campaign_type, status = CAMPAIGN_KINDS[kind]
            name = activity.attributes.get("campaign") or subject or f"{campaign_type} campaign"
            member = contact_id or lead_id or ""
            campaign_id = self._campaign(campaign_type, name, member, at)
            return "CampaignMember", {
                "CampaignId": campaign_id,
                "LeadId": lead_id,
                "ContactId": contact_id,
                "Status": status,
                "HasResponded": True,
                "FirstRespondedDate": at.astimezone(UTC).date().isoformat(),
            }
        task_type, subtype, label = TASK_KINDS.get(kind, TASK_KINDS["other"])
        text = f"{label}: {subject}" if label and subject else (label or subject or "Task")
        return "Task", {
            "WhoId": who_id,
            "Subject": text,
            "Type": task_type,
            "TaskSubtype": subtype,
            "Status": "Completed",
            "Priority": "Normal",
            "ActivityDate": at.astimezone(UTC).date().isoformat(),
            "CompletedDateTime": sf_datetime(at),
            "Description": activity.attributes.get("url"),
            "OwnerId": owner,
        }

    def _campaign(self, campaign_type: str, name: str, member: str, at: datetime) -> str:
        """The campaign a member joins; a person can be a member of a campaign once, so repeats get a new one."""
        candidate, n = name, 1
        while True:
            campaign_id = self._campaigns.get((campaign_type, candidate))
            if campaign_id is None:
                campaign_id = self.ctx.records.insert(
                    "Campaign",
                    {
                        "Name": candidate[:80],
                        "Type": campaign_type,
                        "Status": "Completed",
                        "IsActive": True,
                        "StartDate": at.astimezone(UTC).date().isoformat(),
                    },
                    sf_datetime(at),
                )
                self._campaigns[(campaign_type, candidate)] = campaign_id
            if (member, campaign_id) not in self._members:
                self._members.add((member, campaign_id))
                return campaign_id
            n += 1
            candidate = f"{name} ({n})"

    def add_activity(self, contact_id: str, type: str, occurred_at: datetime | None = None, **attrs: Any) -> str:
        """Log an activity for a Lead or Contact now (SystemModstamp = now); returns the new record's id."""
        contact_id = id18(contact_id)
        found = self.ctx.records.get(contact_id)
        if found is None or found[0] not in ("Lead", "Contact"):
            raise KeyError(f"no Lead or Contact {contact_id}")
        at = occurred_at or self.ctx.clock.now()
        sample = SampleActivity(
            key="",
            person_key="",
            type=str(type),
            occurred_at=at,
            subject=str(attrs.pop("subject", "")),
            attributes={k: str(v) for k, v in attrs.items()},
        )
        is_lead = found[0] == "Lead"
        sobject, values = self._activity_values(
            contact_id if is_lead else None, None if is_lead else contact_id, sample
        )
        now = self.ctx.records.now()
        data = self.ctx.records.prepare(sobject, values, now)
        if sobject == "CampaignMember":
            data["CreatedDate"] = sf_datetime(at)
        self.ctx.records.write([(sobject, data)])
        return str(data["Id"])

    def touch(self, contact_id: str, **fields: Any) -> None:
        """Change fields (Salesforce names) on any record and bump its LastModifiedDate/SystemModstamp."""
        record_id = id18(contact_id)
        found = self.ctx.records.get(record_id)
        if found is None:
            raise KeyError(f"no record {contact_id}")
        sobject, data, _ = found
        schema = self.ctx.schemas.objects[sobject]
        for name, value in fields.items():
            definition = schema.get(name)
            if definition is None:
                raise KeyError(f"{sobject} has no field {name}")
            data[definition.name] = coerce(definition, value)
        if sobject in ("Lead", "Contact", "User"):
            data["Name"] = full_name(data)
        data["LastModifiedDate"] = data["SystemModstamp"] = self.ctx.records.now()
        self.ctx.records.write([(sobject, data)])

    def record(self, contact_id: str) -> dict[str, Any]:
        """The stored record as Salesforce returns it from ``GET /sobjects/{type}/{id}``."""
        found = self.ctx.records.get(id18(contact_id))
        if found is None:
            raise KeyError(f"no record {contact_id}")
        return self.ctx.records.full_record(found[0], found[1])

    def merge(self, master_id: str, *duplicate_ids: str) -> None:
        """Merge Leads or Contacts as Salesforce does: duplicates are deleted with MasterRecordId set, and
        their activities and campaign memberships move to the master, whose SystemModstamp moves too."""
        master = id18(master_id)
        now = self.ctx.records.now()
        found = self.ctx.records.get(master)
        if found is None:
            raise KeyError(f"no record {master_id}")
        sobject, master_data, _ = found
        changed: list[tuple[str, dict[str, Any]]] = []
        link = "LeadId" if sobject == "Lead" else "ContactId"
        for dup in map(id18, duplicate_ids):
            dup_found = self.ctx.records.get(dup)
            if dup_found is None:
                raise KeyError(f"no record {dup}")
            data = dup_found[1]
            data.update({"IsDeleted": True, "MasterRecordId": master, "LastModifiedDate": now, "SystemModstamp": now})
            changed.append((sobject, data))
            with self.ctx.store.read() as conn:
                children = conn.execute(
                    "SELECT id, type, data FROM sf_record WHERE (type IN ('Task', 'Event') AND "
                    "json_extract(data, '$.WhoId') = ?) OR (type = 'CampaignMember' AND "
                    f"json_extract(data, '$.{link}') = ?)",
                    (dup, dup),
                ).fetchall()
            for row in children:
                child = json.loads(row["data"])
                child["WhoId" if row["type"] != "CampaignMember" else link] = master
                child["LastModifiedDate"] = child["SystemModstamp"] = now
                changed.append((row["type"], child))
        master_data["LastModifiedDate"] = master_data["SystemModstamp"] = now
        changed.append((sobject, master_data))
        self.ctx.records.write(changed)


def _employees(text: str) -> int | None:
    cleaned = text.replace(",", "").replace("+", "").strip()
    return int(cleaned) if cleaned.isdigit() else None


def _lead_status(person: SamplePerson) -> str:
    return "Open - Not Contacted" if person.lifecycle_stage in ("", "lead") else "Working - Contacted"


def _lead_values(person: SamplePerson, owner_id: str) -> dict[str, Any]:
    return {
        "FirstName": person.first_name or None,
        "LastName": person.last_name or "Unknown",
        "Email": person.email or None,
        "Title": person.title or None,
        "Company": person.company or "Unknown",
        "Industry": person.industry or None,
        "NumberOfEmployees": _employees(person.employees),
        "Employee_Range__c": person.employees or None,
        "Country": person.country or None,
        "City": person.city or None,
        "Phone": person.phone or None,
        "LeadSource": person.lead_source or None,
        "Status": _lead_status(person),
        "IsConverted": False,
        "HasOptedOutOfEmail": person.do_not_email,
        "OwnerId": owner_id,
    }


def _contact_values(person: SamplePerson, owner_id: str, account_id: str) -> dict[str, Any]:
    return {
        "FirstName": person.first_name or None,
        "LastName": person.last_name or "Unknown",
        "Email": person.email or None,
        "Title": person.title or None,
        "Phone": person.phone or None,
        "AccountId": account_id,
        "MailingCountry": person.country or None,
        "MailingCity": person.city or None,
        "LeadSource": person.lead_source or None,
        "HasOptedOutOfEmail": person.do_not_email,
        "OwnerId": owner_id,
    }
