"""The org's data model: field definitions, the standard objects a Developer Edition org has (with the
picklist values leadsync meets) and an object's schema, looked up by case-insensitive name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    type: str  # id, string, email, phone, url, picklist, boolean, int, double, currency, date, datetime,
    #            reference, textarea
    label: str = ""
    custom: bool = False
    updateable: bool = True
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    nillable: bool = True

    def describe(self, default_picklist: str | None = None) -> dict[str, Any]:
        soap = {
            "id": "tns:ID",
            "reference": "tns:ID",
            "boolean": "xsd:boolean",
            "int": "xsd:int",
            "double": "xsd:double",
            "currency": "xsd:double",
            "date": "xsd:date",
            "datetime": "xsd:dateTime",
        }.get(self.type, "xsd:string")
        return {
            "name": self.name,
            "label": self.label or field_label(self.name),
            "type": self.type,
            "soapType": soap,
            "custom": self.custom,
            "updateable": self.updateable,
            "createable": self.updateable,
            "nillable": self.nillable,
            "filterable": self.type != "textarea",
            "sortable": self.type != "textarea",
            "calculated": False,
            "unique": False,
            "externalId": False,
            "autoNumber": False,
            "length": self.length,
            "byteLength": self.length * 3,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "defaultValue": None,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == default_picklist,
                    "label": value,
                    "validFor": None,
                    "value": value,
                }
                for value in self.picklist
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
        }


def field_label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id") if name != "Id" else "Record ID"
    out = ""
    for i, ch in enumerate(base.replace("_", " ")):
        if i and ch.isupper() and base[i - 1].islower():
            out += " "
        out += ch
    return out


def _f(name: str, type_: str, **kw: Any) -> FieldDef:
    return FieldDef(name, type_, **kw)


def _ro(name: str, type_: str, **kw: Any) -> FieldDef:
    return FieldDef(name, type_, updateable=False, **kw)


def _ref(name: str, to: tuple[str, ...], rel: str, updateable: bool = True) -> FieldDef:
    return FieldDef(name, "reference", reference_to=to, relationship_name=rel, updateable=updateable, length=18)


_AUDIT = (
    _ro("IsDeleted", "boolean", nillable=False),
    _ro("CreatedDate", "datetime", nillable=False),
    _ro("LastModifiedDate", "datetime", nillable=False),
    _ro("SystemModstamp", "datetime", nillable=False),
)

LEAD_STATUSES: tuple[tuple[str, bool, bool], ...] = (
    # (value, IsConverted, IsDefault): a Developer Edition org's standard Lead Status values
    ("Open - Not Contacted", False, True),
    ("Working - Contacted", False, False),
    ("Closed - Converted", True, False),
    ("Closed - Not Converted", False, False),
)
INDUSTRIES = (
    "Agriculture", "Banking", "Communications", "Consulting", "Education", "Electronics", "Energy",
    "Engineering", "Finance", "Government", "Healthcare", "Insurance", "Manufacturing", "Media",
    "Not For Profit", "Retail", "Technology", "Telecommunications", "Transportation", "Other",
)  # fmt: skip
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
TASK_TYPES = ("Call", "Email", "Meeting", "Other")
TASK_SUBTYPES = ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
# Webinar is a standard Campaign Type; Content and Website are values this org added to the picklist.
CAMPAIGN_TYPES = (
    "Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program",
    "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Content", "Website", "Other",
)  # fmt: skip


def standard_objects() -> dict[str, list[FieldDef]]:
    person_common = (
        _ro("Id", "id", nillable=False, length=18),
        _ref("MasterRecordId", (), "MasterRecord", updateable=False),
        _f("FirstName", "string", length=40),
        _f("LastName", "string", length=80, nillable=False),
        _ro("Name", "string", length=121),
        _f("Email", "email", length=80),
        _f("Title", "string", length=128),
        _f("Phone", "phone", length=40),
        _f("LeadSource", "picklist", length=255, picklist=LEAD_SOURCES),
        _f("HasOptedOutOfEmail", "boolean", nillable=False),
        _ref("OwnerId", ("User", "Group"), "Owner"),
    )
    return {
        "Lead": [
            *person_common,
            _f("Company", "string", length=255, nillable=False),
            _f("Industry", "picklist", length=255, picklist=INDUSTRIES),
            _f("NumberOfEmployees", "int"),
            _f("AnnualRevenue", "currency", precision=18, scale=0),
            _f("Country", "string", length=80),
            _f("State", "string", length=80),
            _f("City", "string", length=40),
            _f("Website", "url", length=255),
            _f("Status", "picklist", length=255, nillable=False, picklist=tuple(s[0] for s in LEAD_STATUSES)),
            _ro("IsConverted", "boolean", nillable=False),
            _ro("ConvertedDate", "date"),
            _ref("ConvertedAccountId", ("Account",), "ConvertedAccount", updateable=False),
            _ref("ConvertedContactId", ("Contact",), "ConvertedContact", updateable=False),
            _ref("ConvertedOpportunityId", ("Opportunity",), "ConvertedOpportunity", updateable=False),
            _ro("LastActivityDate", "date"),
            *_AUDIT,
            _f("Employee_Range__c", "string", length=40, custom=True, label="Employee Range"),
            _f("Lead_Score__c", "double", precision=18, scale=0, custom=True, label="Lead Score"),
        ],
        "Contact": [
            *person_common,
            _ref("AccountId", ("Account",), "Account"),
            _f("Department", "string", length=80),
            _f("MailingCountry", "string", length=80),
            _f("MailingState", "string", length=80),
            _f("MailingCity", "string", length=40),
            _ro("LastActivityDate", "date"),
            *_AUDIT,
            _f("Lead_Score__c", "double", precision=18, scale=0, custom=True, label="Lead Score"),
        ],
        "Account": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Name", "string", length=255, nillable=False),
            _f("Industry", "picklist", length=255, picklist=INDUSTRIES),
            _f("NumberOfEmployees", "int"),
            _f("Website", "url", length=255),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "Task": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("WhoId", ("Contact", "Lead"), "Who"),
            _ref("WhatId", ("Account", "Opportunity", "Campaign"), "What"),
            _f("Subject", "string", length=255),
            _f("Type", "picklist", length=255, picklist=TASK_TYPES),
            _f("TaskSubtype", "picklist", length=255, picklist=TASK_SUBTYPES),
            _f("Status", "picklist", length=255, picklist=("Not Started", "In Progress", "Completed")),
            _f("Priority", "picklist", length=255, picklist=("High", "Normal", "Low")),
            _f("ActivityDate", "date"),
            _f("CompletedDateTime", "datetime"),
            _f("Description", "textarea", length=32000),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "Event": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("WhoId", ("Contact", "Lead"), "Who"),
            _ref("WhatId", ("Account", "Opportunity", "Campaign"), "What"),
            _f("Subject", "string", length=255),
            _f("Type", "picklist", length=255, picklist=TASK_TYPES),
            _f("StartDateTime", "datetime"),
            _f("EndDateTime", "datetime"),
            _f("ActivityDateTime", "datetime"),
            _f("DurationInMinutes", "int"),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "Campaign": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Name", "string", length=80, nillable=False),
            _f("Type", "picklist", length=255, picklist=CAMPAIGN_TYPES),
            _f("Status", "picklist", length=255, picklist=("Planned", "In Progress", "Completed", "Aborted")),
            _f("IsActive", "boolean"),
            _f("StartDate", "date"),
            *_AUDIT,
        ],
        "CampaignMember": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("CampaignId", ("Campaign",), "Campaign", updateable=False),
            _ref("LeadId", ("Lead",), "Lead", updateable=False),
            _ref("ContactId", ("Contact",), "Contact", updateable=False),
            _f("Status", "picklist", length=255),
            _ro("HasResponded", "boolean"),
            _ro("FirstRespondedDate", "date"),
            *_AUDIT,
        ],
        "Opportunity": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Name", "string", length=120, nillable=False),
            _f("StageName", "picklist", length=255, nillable=False),
            _ro("IsClosed", "boolean"),
            _ro("IsWon", "boolean"),
            _f("CloseDate", "date", nillable=False),
            _f("Amount", "currency", precision=18, scale=2),
            _ref("AccountId", ("Account",), "Account"),
            _ref("OwnerId", ("User",), "Owner"),
            *_AUDIT,
        ],
        "OpportunityContactRole": [
            _ro("Id", "id", nillable=False, length=18),
            _ref("OpportunityId", ("Opportunity",), "Opportunity", updateable=False),
            _ref("ContactId", ("Contact",), "Contact"),
            _f("Role", "picklist", length=40),
            _f("IsPrimary", "boolean"),
            *_AUDIT,
        ],
        "User": [
            _ro("Id", "id", nillable=False, length=18),
            _f("Username", "string", length=80),
            _f("FirstName", "string", length=40),
            _f("LastName", "string", length=80),
            _ro("Name", "string", length=121),
            _f("Email", "email", length=128),
            _f("IsActive", "boolean"),
            _f("Department", "string", length=80),
            _ro("UserType", "picklist", length=40),
            *_AUDIT,
        ],
        "LeadStatus": [
            _ro("Id", "id", nillable=False, length=18),
            _ro("MasterLabel", "string", length=255),
            _ro("ApiName", "string", length=255),
            _ro("IsConverted", "boolean"),
            _ro("IsDefault", "boolean"),
            _ro("SortOrder", "int"),
            *_AUDIT,
        ],
    }


@dataclass
class ObjectSchema:
    name: str
    fields: dict[str, FieldDef] = field(default_factory=dict)  # lower-case name -> definition

    def get(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def add(self, definition: FieldDef) -> None:
        self.fields[definition.name.lower()] = definition

    def relationship(self, name: str) -> FieldDef | None:
        lname = name.lower()
        for definition in self.fields.values():
            if definition.relationship_name and definition.relationship_name.lower() == lname:
                return definition
        return None


def build_schemas() -> dict[str, ObjectSchema]:
    out: dict[str, ObjectSchema] = {}
    for name, defs in standard_objects().items():
        schema = ObjectSchema(name)
        for definition in defs:
            schema.add(definition)
        out[name] = schema
    return out
