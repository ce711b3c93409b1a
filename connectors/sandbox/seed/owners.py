"""The sales users who own leads: seeded, one of three or more has left the company."""

from __future__ import annotations

import random

from connectors.sandbox.samples import SampleOwner
from connectors.sandbox.seed.tables import FIRST_NAMES, LAST_NAMES, SALES_DOMAIN


def make_owners(count: int, seed: int) -> list[SampleOwner]:
    """Sales users; the last of three or more has left the company (inactive) but still owns a few leads."""
    rng = random.Random(f"{seed}/owners")
    teams = (("Inbound",), ("Outbound",), ("Enterprise",), ("Inbound", "SMB"), ("Partners",))
    owners: list[SampleOwner] = []
    seen: set[str] = set()
    for i in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}@{SALES_DOMAIN}".lower()
        if email in seen:
            email = f"{first}.{last}{i}@{SALES_DOMAIN}".lower()
        seen.add(email)
        active = not (count >= 3 and i == count)
        owners.append(SampleOwner(f"o{i}", first, last, email, active, teams[(i - 1) % len(teams)]))
    return owners
