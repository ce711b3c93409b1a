"""Salesforce record ids: a three-character key prefix per object, 15 case-sensitive characters, and the
three-character checksum that makes the 18-character form case-safe."""

from __future__ import annotations

# key prefixes of the standard objects (the first three characters of every id)
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "User": "005",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "CampaignMember": "00v",
    "OpportunityContactRole": "00K",
    "Campaign": "701",
    "LeadStatus": "01J",
    "Group": "00G",
    "PermissionSet": "0PS",
    "FieldPermissions": "01k",
    "PermissionSetAssignment": "0Pa",
    "CustomField": "00N",  # a Tooling API CustomField (the field's own id)
    "LeadHistory": "017",  # every field history object shares the 017 prefix
    "ContactHistory": "017",
}
PREFIX_TO_TYPE = {prefix: name for name, prefix in KEY_PREFIXES.items()}

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def id18(id15: str) -> str:
    """Salesforce's case-safe 18-character id: three checksum characters encode the upper-case letters."""
    if len(id15) == 18:
        return id15
    if len(id15) != 15:
        raise ValueError(f"not a Salesforce id: {id15!r}")
    suffix = ""
    for chunk in range(3):
        flags = 0
        for pos, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                flags |= 1 << pos
        suffix += _CHECKSUM_ALPHABET[flags]
    return id15 + suffix


def make_id(prefix: str, number: int) -> str:
    """A deterministic 18-character id; ids of one object sort in creation order."""
    digits = ""
    n = number
    while True:
        n, rem = divmod(n, 62)
        digits = _BASE62[rem] + digits
        if n == 0:
            break
    return id18(prefix + "Sb0" + digits.rjust(9, "0"))


def looks_like_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum()


ORG_ID = id18("00DSb0000000001")
QUEUE_ID = make_id("00G", 1)  # the "Lead Routing" queue the org's assignment rule sends leads to
