"""What every nurture destination (an e-mail marketing tool) implements, and the shapes it speaks in.

A destination knows nothing about scores: it is told to put contacts into a target (a Mailchimp tag or
static segment, an ActiveCampaign tag) and to take them out, and answers per contact.  It never subscribes
anyone: adding to a target touches existing members only, or creates a member with the one status the
settings allow (see ``connectors.nurture.mailchimp`` and ``connectors.nurture.activecampaign``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Member:
    """One contact as a destination sees it: the CRM id (to answer by), the e-mail, and what undoes an add."""

    contact_id: str
    email: str
    remote_ref: str = ""  # the destination's own ids kept from the add (ActiveCampaign: contact and contactTag)


@dataclass(frozen=True, slots=True)
class MoveResult:
    contact_id: str
    ok: bool
    remote_ref: str = ""
    error: str = ""  # why it did not happen, in the destination's words; "not_a_member" when it had nobody


NOT_A_MEMBER = "not_a_member"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a segment goes in one tool: ``kind`` "tag" or "segment", and the tag name or segment id."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Target:
        kind, _, name = text.partition(":")
        if kind not in ("tag", "segment") or not name:
            raise ValueError(f"a nurture target is 'tag:<name>' or 'segment:<id>', not {text!r}")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class Destination(Protocol):
    name: str

    def check(self, target: Target) -> list[str]:
        """Sentences for what is wrong (target missing, key refused or without rights); empty when ready."""
        ...

    def apply(
        self, target: Target, adds: Sequence[Member], removes: Sequence[Member]
    ) -> tuple[list[MoveResult], list[MoveResult]]:
        """Put ``adds`` into ``target`` and take ``removes`` out, in as few calls as the API allows."""
        ...

    def calls(self) -> dict[str, int]:
        """API calls made so far, by endpoint name."""
        ...

    def close(self) -> None: ...


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 hex digest of the lower-cased address (an identifier, not security)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
