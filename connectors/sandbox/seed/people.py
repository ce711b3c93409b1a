"""One person at a time: profile, activity history, outcome and rollups, from its own seeded ``random.Random``."""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import NamedTuple

from connectors.sandbox.samples import SampleActivity, SampleOutcome, SamplePerson
from connectors.sandbox.seed.owners import make_owners
from connectors.sandbox.seed.tables import (
    ACTIVITY_WEIGHT,
    ASSETS,
    BASE_MIX,
    CALL_SUBJECTS,
    CAMPAIGNS,
    COMPANY_EXTRAS,
    COMPANY_PREFIXES,
    COMPETITORS,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    EMAIL_IN,
    EMPLOYEE_RANGES,
    FIRST_NAMES,
    FORM_TYPES,
    FORMS,
    FREE_NAMES,
    FREE_WEIGHTS,
    INDUSTRIES,
    INDUSTRY_WEIGHTS,
    LAST_NAMES,
    LEAD_SOURCES,
    MEETING_SUBJECTS,
    PAGE_URLS,
    PAGE_WEIGHTS,
    SEGMENT_WEIGHTS,
    SITE,
    SIZE_BUCKETS,
    SIZE_WEIGHTS,
    SOURCE_WEIGHTS,
    TITLE_SEGMENTS,
    WEBINARS,
    WINDOW_DAYS,
    Country,
    Industry,
)


class PersonRecord(NamedTuple):
    person: SamplePerson
    activities: list[SampleActivity]
    outcome: SampleOutcome | None


@dataclass(frozen=True, slots=True)
class _Company:
    name: str
    domain: str
    industry: Industry
    employees: int
    size_fit: float
    country: Country
    competitor: bool = False


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _round_sig(n: int, digits: int = 2) -> int:
    if n < 100:
        return n
    scale = 10 ** (len(str(n)) - digits)
    return int(round(n / scale) * scale)


def format_employees(n: int, rng: random.Random) -> str:
    """A head count the way people type it into a CRM."""
    u = rng.random()
    shown = _round_sig(n)
    if u < 0.33:
        return str(shown)
    if u < 0.52:
        return f"{shown:,}"
    if u < 0.72:
        for low, high in EMPLOYEE_RANGES:
            if low <= n <= high:
                return f"{low}-{high}"
        return "10000+"
    if u < 0.82 and n >= 100:
        floor = 10 ** (len(str(n)) - 1)
        return f"{floor:,}+" if rng.random() < 0.5 else f"{floor}+"
    if 0.82 <= u < 0.91:
        return rng.choice(("n/a", "N/A", "unknown", "-"))
    return "" if u >= 0.91 else str(shown)


class Generator:
    def __init__(self, contacts: int, seed: int, now: datetime, activities_per_contact: float, owners: int):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if contacts < 0:
            raise ValueError("contacts must not be negative")
        self.contacts = contacts
        self.seed = seed
        self.now = now.astimezone(UTC).replace(microsecond=0)
        self.now_ts = self.now.timestamp()
        self.mean_acts = max(activities_per_contact, 0.0)
        self.owners = make_owners(owners, seed)
        self.active_owners = [o.key for o in self.owners if o.active]
        self.inactive_owners = [o.key for o in self.owners if not o.active]
        self.n_companies = max(25, contacts // 3)
        self._company_names: set[str] = set()
        self._companies = [self._make_company(c) for c in range(self.n_companies)]
        self._emails: set[str] = set()
        # log-normal activity multiplier with mean 1: exp(mu + sigma z), mu = -sigma^2 / 2
        self.sigma = 1.1
        self.mu = -(self.sigma**2) / 2

    # -- companies --------------------------------------------------------------------------------------------
    def company(self, c: int) -> _Company:
        return self._companies[c]

    def _make_company(self, c: int) -> _Company:
        rng = random.Random(f"{self.seed}/company/{c}")
        industry = rng.choices(INDUSTRIES, cum_weights=INDUSTRY_WEIGHTS)[0]
        country = rng.choices(COUNTRIES, cum_weights=COUNTRY_WEIGHTS)[0]
        low, high, _, size_fit = rng.choices(SIZE_BUCKETS, cum_weights=SIZE_WEIGHTS)[0]
        employees = int(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
        for attempt in range(20):
            extra = rng.choice(COMPANY_EXTRAS)
            name = f"{rng.choice(COMPANY_PREFIXES)} {rng.choice(industry.suffixes)}" + (f" {extra}" if extra else "")
            if attempt == 19:
                name += f" {c}"
            if name not in self._company_names:
                break
        self._company_names.add(name)
        slug = "".join(ch for ch in name.lower() if ch.isalnum())
        tld = country.tld if rng.random() < 0.45 else rng.choice((".com", ".com", ".com", ".io", ".co", ".net"))
        return _Company(name, slug + tld, industry, employees, size_fit, country)

    # -- people ---------------------------------------------------------------------------------------------
    def record(self, i: int) -> PersonRecord:
        rng = random.Random(self.seed * 1_000_003 + i)
        segment, _, title_fit, titles = rng.choices(TITLE_SEGMENTS, cum_weights=SEGMENT_WEIGHTS)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        consumer = segment in ("student", "job_seeker")
        competitor = not consumer and rng.random() < 0.015
        if competitor:
            comp_name, comp_domain = rng.choice(COMPETITORS)
            base = self.company(rng.randrange(self.n_companies))
            company = _Company(comp_name, comp_domain, INDUSTRIES[0], 80, 0.5, base.country, True)
        else:
            company = self.company(int(self.n_companies * rng.random() ** 1.4))
        industry, country = company.industry, company.country
        if consumer:
            company_name = "" if rng.random() < 0.6 else rng.choice(("Self-employed", "University", "None"))
            industry_name = "Education" if segment == "student" and rng.random() < 0.7 else ""
            employees = ""
            size_fit = -0.5
            country = rng.choices(COUNTRIES, cum_weights=COUNTRY_WEIGHTS)[0]
            free_mail = rng.random() < 0.9
        else:
            company_name = company.name
            industry_name = industry.name if rng.random() < 0.9 else ""
            employees = format_employees(company.employees, rng)
            size_fit = company.size_fit
            free_mail = not competitor and rng.random() < 0.22
        city = rng.choice(country.cities)
        title = rng.choice(titles)
        source, _, source_fit = rng.choices(LEAD_SOURCES, cum_weights=SOURCE_WEIGHTS)[0]

        local = f"{first}.{last}".lower() if rng.random() < 0.7 else f"{first[0]}{last}".lower()
        if free_mail:
            local += str(rng.randrange(1, 99)) if rng.random() < 0.5 else ""
            domain = rng.choices(FREE_NAMES, cum_weights=FREE_WEIGHTS)[0]
        else:
            domain = company.domain
        email = f"{local}@{domain}"
        if email in self._emails:
            email = f"{local}{i}@{domain}"
        self._emails.add(email)
        phone = ""
        if country.dial and rng.random() < 0.75:
            phone = f"{country.dial} {rng.randrange(100, 999)} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"

        fit = (
            title_fit
            + size_fit
            + (industry.fit if not consumer else -0.5)
            + country.fit
            + source_fit
            - (0.5 if free_mail else 0.0)
        )
        # engagement: a log-normal activity count; intent (who reads pricing, asks for demos) correlates with it
        z = rng.gauss(0.0, 1.0)
        intent = 0.5 * z + 0.25 * fit + rng.gauss(0.0, 0.8) + (1.0 if competitor else 0.0)
        n = int(self.mean_acts * math.exp(self.mu + self.sigma * z) + rng.random())
        n = min(n, int(self.mean_acts * 25) + 1)

        created_ts = self.now_ts - rng.uniform(3600.0, WINDOW_DAYS * 86400.0)
        created_ts = float(int(created_ts))
        key = f"p{i:06d}"
        acts = self.activities(rng, key, n, created_ts, intent, segment)
        won, closed_ts, amount = self.outcome(rng, acts, fit, intent, competitor, created_ts, company.employees)

        counts: dict[str, int] = {}
        views = 0
        last_view = 0.0
        view_days: set[int] = set()
        forms = 0
        for a in acts:
            counts[a.type] = counts.get(a.type, 0) + 1
            if a.type == "page_view":
                ts = a.occurred_at.timestamp()
                views += 1
                view_days.add(int(ts // 86400))
                last_view = max(last_view, ts)
            if a.type in FORM_TYPES:
                forms += 1
        last_ts = max([created_ts, *(a.occurred_at.timestamp() for a in acts[-1:])])
        if closed_ts is not None:
            last_ts = max(last_ts, closed_ts)
        updated_ts = float(int(min(self.now_ts, last_ts + rng.uniform(0, 3600.0))))

        if won:
            stage = "customer"
        elif closed_ts is not None:
            stage = "opportunity"
        elif counts.get("demo_request") or counts.get("meeting"):
            stage = "salesqualifiedlead"
        elif forms and len(acts) >= 6:
            stage = "marketingqualifiedlead"
        else:
            stage = "lead"
        owner: str | None = None
        if self.active_owners and (stage != "lead" or fit > -0.5 or rng.random() < 0.6):
            if self.inactive_owners and rng.random() < 0.03:
                owner = rng.choice(self.inactive_owners)
            else:
                owner = rng.choice(self.active_owners)

        person = SamplePerson(
            key=key,
            first_name=first,
            last_name=last,
            email=email,
            title=title,
            company=company_name,
            industry=industry_name,
            employees=employees,
            country=country.name,
            city=city,
            phone=phone,
            lead_source=source,
            created_at=_dt(created_ts),
            updated_at=_dt(updated_ts),
            owner_key=owner,
            lifecycle_stage=stage,
            converted=closed_ts is not None,
            do_not_email=bool(counts.get("unsubscribe")),
            page_views=views,
            visits=len(view_days),
            email_opens=counts.get("email_open", 0),
            email_clicks=counts.get("email_click", 0),
            form_submissions=forms,
            last_visit_at=_dt(last_view) if views else None,
        )
        outcome = None
        if closed_ts is not None:
            plan = "Enterprise" if company.employees > 1000 else "Growth" if company.employees > 50 else "Starter"
            outcome = SampleOutcome(
                key, won, _dt(closed_ts), amount, f"{company_name or f'{first} {last}'} - {plan} plan"
            )
        return PersonRecord(person, acts, outcome)

    def activities(
        self, rng: random.Random, key: str, n: int, created_ts: float, intent: float, segment: str
    ) -> list[SampleActivity]:
        if n <= 0:
            return []
        mix = dict(BASE_MIX)
        boost = math.exp(0.6 * intent)
        for t in ("demo_request", "meeting", "email_reply", "webinar_attended"):
            mix[t] *= boost
        if segment in ("student", "job_seeker"):
            mix["demo_request"] *= 0.1
            mix["meeting"] *= 0.1
            mix["call"] *= 0.3
        types = rng.choices(list(mix), cum_weights=list(accumulate(mix.values())), k=n)
        span = self.now_ts - created_ts
        recency = 1.0 / (1.0 + max(intent, 0.0))  # high intent: activity piles up recently
        rand = rng.random
        events = sorted(zip((int(created_ts + span * rand() ** recency) for _ in range(n)), types, strict=True))
        # a hard bounce means no mail was ever read; an unsubscribe ends the mail history
        if rng.random() < (0.05 if segment in ("unknown", "job_seeker") else 0.015):
            events = [(ts, "page_view" if t in EMAIL_IN else t) for ts, t in events]
            events.insert(0, (events[0][0], "bounce"))
        elif rng.random() < 0.04 * math.exp(-0.5 * intent):
            mail = [ts for ts, t in events if t in EMAIL_IN or t == "email_sent"]
            events.append((min(int(self.now_ts), (max(mail) if mail else events[-1][0]) + 60), "unsubscribe"))
            events.sort()
        pricing_w = 0.04 * math.exp(0.8 * intent)
        careers_w = 0.25 if segment in ("student", "job_seeker") else 0.02
        pages = PAGE_URLS
        page_cum = list(accumulate((*PAGE_WEIGHTS, pricing_w, careers_w)))

        out: list[SampleActivity] = []
        registered = False
        for j, (ts, kind) in enumerate(events):
            attrs: dict[str, str]
            subject = ""
            if kind == "page_view":
                attrs = {"url": _pick(rng, pages, page_cum)}
            elif kind in ("email_open", "email_click", "email_reply", "email_sent"):
                subject = rng.choice(CAMPAIGNS)
                attrs = {"campaign": subject}
                if kind == "email_click":
                    attrs["url"] = SITE + rng.choice(("/pricing", "/blog/lead-scoring-101", "/webinars", "/product"))
            elif kind == "form_submission":
                attrs = {"form": rng.choice(FORMS), "url": SITE + "/contact"}
            elif kind == "demo_request":
                attrs = {"form": "Request a demo", "url": SITE + "/demo"}
            elif kind == "content_download":
                attrs = {"form": "Gated content", "asset": rng.choice(ASSETS)}
            elif kind == "webinar_registration" or (kind == "webinar_attended" and not registered):
                kind = "webinar_registration"
                registered = True
                attrs = {"form": "Webinar registration", "webinar": rng.choice(WEBINARS)}
            elif kind == "webinar_attended":
                attrs = {"webinar": rng.choice(WEBINARS), "minutes": str(rng.randrange(5, 60))}
            elif kind == "meeting":
                subject = rng.choice(MEETING_SUBJECTS)
                attrs = {"outcome": rng.choice(("completed", "completed", "completed", "no show", "rescheduled"))}
            elif kind == "call":
                subject = rng.choice(CALL_SUBJECTS)
                attrs = {"direction": "outbound", "duration_s": str(rng.randrange(0, 1800))}
            elif kind == "bounce":
                subject = "Hard bounce"
                attrs = {"reason": "hard bounce"}
            else:  # unsubscribe
                attrs = {"campaign": rng.choice(CAMPAIGNS)}
            out.append(SampleActivity(f"{key}-{j}", key, kind, _dt(ts), subject, attrs))
        return out

    def outcome(
        self,
        rng: random.Random,
        acts: list[SampleActivity],
        fit: float,
        intent: float,
        competitor: bool,
        created_ts: float,
        employees: int,
    ) -> tuple[bool, float | None, float]:
        signal = sum(ACTIVITY_WEIGHT.get(a.type, 0.0) for a in acts)
        signal += 0.35 * math.log1p(len(acts))
        signal -= sum(1.0 for a in acts if a.type in ("unsubscribe", "bounce"))
        p_close = _sigmoid(-3.1 + 0.45 * fit + 0.55 * signal + rng.gauss(0.0, 0.6))
        if competitor or rng.random() >= p_close:
            return False, None, 0.0
        p_win = _sigmoid(-2.3 + 0.8 * fit + 0.45 * intent + 0.15 * signal + rng.gauss(0.0, 0.7))
        won = rng.random() < p_win
        last = acts[-1].occurred_at.timestamp() if acts else created_ts
        closed = min(self.now_ts - 60.0, last + rng.uniform(86400.0, 30 * 86400.0))
        closed = float(int(max(closed, created_ts)))
        amount = round(
            (4000.0 + 6.0 * min(employees, 20000)) * math.exp(rng.gauss(0.0, 0.4)), -2
        )  # annual contract value
        return won, closed, amount


def _pick(rng: random.Random, items: Sequence[str], cum_weights: Sequence[float]) -> str:
    return items[bisect(cum_weights, rng.random() * cum_weights[-1])]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
