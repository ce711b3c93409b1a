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

import math
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import NamedTuple

from connectors.sandbox.dataset import Dataset, SampleActivity, SampleOutcome, SampleOwner, SamplePerson

WINDOW_DAYS = 182  # activity histories cover about six months before ``now``
SITE = "https://www.leadsync-demo.com"
SALES_DOMAIN = "leadsync-demo.com"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Betty Mark Sandra Steven Ashley Paul "
    "Emily Andrew Kimberly Joshua Donna Kevin Michelle Brian Carol George Amanda Timothy Melissa Ronald Deborah "
    "Jason Stephanie Ryan Rebecca Jacob Laura Gary Sharon Nicholas Cynthia Eric Kathleen Jonathan Amy Priya "
    "Rahul Ananya Arjun Wei Mei Hiroshi Yuki Sofia Lucas Mateo Valentina Emma Noah Olivia Liam Mia Lukas Lena "
    "Jonas Hannah Pierre Camille Louis Chloe Lars Ingrid Sven Astrid Ahmed Fatima Omar Aisha Chinedu Ngozi "
    "Kwame Amara Diego Camila Joao Beatriz Pedro Ana Carlos Lucia Raj Deepa Vikram Kavya Ming Jun Sakura Kenji "
    "Aleksandr Olga Dmitri Irina Marco Giulia Alessandro Francesca Sean Siobhan Connor Aoife"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts Patel Sharma Gupta Singh Kumar Iyer Reddy Chen Wang Zhang Liu Li "
    "Tanaka Suzuki Sato Watanabe Muller Schmidt Schneider Fischer Weber Becker Dubois Laurent Bernard Moreau "
    "Rossi Russo Ferrari Bianchi Silva Santos Oliveira Souza Costa Pereira Fernandez Ruiz Diaz Alvarez Jansen "
    "DeVries Bakker Visser Andersson Johansson Karlsson Nilsson Okafor Adeyemi Mensah Osei Ivanov Petrov "
    "Kowalski Nowak OBrien Murphy Kelly Walsh Byrne Cohen Levi Haddad Khan Ali Hussain Yilmaz Kaya Novak"
)


@dataclass(frozen=True, slots=True)
class _Industry:
    name: str
    weight: float
    fit: float
    suffixes: tuple[str, ...]


INDUSTRIES: tuple[_Industry, ...] = (
    _Industry("Software & IT Services", 0.22, 1.0, ("Soft", "Labs", "Cloud", "Data", "Systems", "Logic", "AI")),
    _Industry("Financial Services", 0.10, 0.6, ("Capital", "Finance", "Bank", "Pay", "Invest", "Insurance")),
    _Industry("Marketing & Advertising", 0.07, 0.6, ("Media", "Digital", "Agency", "Creative", "Growth")),
    _Industry("Healthcare", 0.09, 0.2, ("Health", "Care", "Medical", "Clinics", "Bio", "Pharma")),
    _Industry("Education", 0.07, -0.5, ("Learning", "Academy", "University", "Education", "School")),
    _Industry("Retail & E-commerce", 0.09, 0.2, ("Retail", "Store", "Shop", "Brands", "Outfitters", "Market")),
    _Industry("Manufacturing", 0.09, 0.0, ("Industries", "Manufacturing", "Steel", "Components", "Machines")),
    _Industry("Telecommunications", 0.03, 0.3, ("Telecom", "Networks", "Wireless", "Connect")),
    _Industry("Consulting", 0.06, 0.3, ("Consulting", "Advisors", "Partners", "Associates")),
    _Industry("Logistics & Transportation", 0.04, 0.0, ("Logistics", "Freight", "Transport", "Shipping")),
    _Industry("Real Estate", 0.03, -0.2, ("Realty", "Properties", "Homes", "Estates")),
    _Industry("Media & Entertainment", 0.03, 0.1, ("Studios", "Entertainment", "Pictures", "Publishing")),
    _Industry("Energy & Utilities", 0.02, -0.1, ("Energy", "Power", "Solar", "Utilities")),
    _Industry("Hospitality", 0.02, -0.4, ("Hotels", "Hospitality", "Restaurants", "Travel")),
    _Industry("Government", 0.02, -0.7, ("Agency", "Council", "Authority", "Department")),
    _Industry("Non-profit", 0.02, -0.7, ("Foundation", "Trust", "Alliance", "Fund")),
)
_INDUSTRY_WEIGHTS = list(accumulate([i.weight for i in INDUSTRIES]))
COMPANY_PREFIXES = _words(
    "North Blue Bright Silver Apex Summit Vertex Nimbus Harbor Cedar Granite Evergreen Pioneer Quantum Stellar "
    "Crescent Beacon Falcon Meridian Orion Atlas Keystone Redwood Sterling Horizon Lumen Cobalt Vanguard Zenith "
    "Riverside Oak Maple Iron Golden Clear Swift True Prime Nova Polar Terra Aqua Solar Crimson Indigo Emerald "
    "Sapphire Copper Arrow Anchor Compass Lighthouse Summit Ridge Canyon Delta Echo Fusion Orbit Pixel Vector"
)
COMPANY_EXTRAS = ("", "", "", "", "Group", "Partners", "Solutions", "International", "Holdings", "Co")

# The vendor's competitors: their staff sign up, read the pricing page, and never buy.
COMPETITORS: tuple[tuple[str, str], ...] = (
    ("Scorewise", "scorewise.io"),
    ("LeadLoom", "leadloom.com"),
    ("FunnelFox Analytics", "funnelfox.io"),
)
COMPETITOR_DOMAINS: frozenset[str] = frozenset(domain for _, domain in COMPETITORS)

FREE_MAIL = (
    ("gmail.com", 0.52),
    ("yahoo.com", 0.12),
    ("hotmail.com", 0.09),
    ("outlook.com", 0.09),
    ("icloud.com", 0.05),
    ("aol.com", 0.03),
    ("gmx.de", 0.03),
    ("protonmail.com", 0.03),
    ("yahoo.co.uk", 0.02),
    ("web.de", 0.02),
)
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(d for d, _ in FREE_MAIL)
_FREE_NAMES = [d for d, _ in FREE_MAIL]
_FREE_WEIGHTS = list(accumulate([w for _, w in FREE_MAIL]))


@dataclass(frozen=True, slots=True)
class _Country:
    name: str
    weight: float
    fit: float
    cities: tuple[str, ...]
    dial: str
    tld: str


COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "United States",
        0.36,
        0.3,
        ("New York", "San Francisco", "Austin", "Chicago", "Boston", "Seattle", "Denver", "Atlanta"),
        "+1",
        ".com",
    ),
    _Country("United Kingdom", 0.10, 0.3, ("London", "Manchester", "Edinburgh", "Bristol", "Leeds"), "+44", ".co.uk"),
    _Country("Germany", 0.08, 0.2, ("Berlin", "Munich", "Hamburg", "Frankfurt", "Cologne"), "+49", ".de"),
    _Country("India", 0.10, -0.3, ("Bengaluru", "Mumbai", "New Delhi", "Pune", "Hyderabad"), "+91", ".in"),
    _Country("Canada", 0.05, 0.3, ("Toronto", "Vancouver", "Montreal", "Calgary"), "+1", ".ca"),
    _Country("France", 0.05, 0.1, ("Paris", "Lyon", "Toulouse", "Lille"), "+33", ".fr"),
    _Country("Australia", 0.04, 0.2, ("Sydney", "Melbourne", "Brisbane", "Perth"), "+61", ".com.au"),
    _Country("Brazil", 0.04, -0.2, ("São Paulo", "Rio de Janeiro", "Belo Horizonte"), "+55", ".com.br"),
    _Country("Netherlands", 0.03, 0.2, ("Amsterdam", "Rotterdam", "Utrecht"), "+31", ".nl"),
    _Country("Spain", 0.03, 0.0, ("Madrid", "Barcelona", "Valencia"), "+34", ".es"),
    _Country("Sweden", 0.02, 0.2, ("Stockholm", "Gothenburg", "Malmö"), "+46", ".se"),
    _Country("Singapore", 0.02, 0.2, ("Singapore",), "+65", ".sg"),
    _Country("Mexico", 0.02, -0.2, ("Mexico City", "Guadalajara", "Monterrey"), "+52", ".mx"),
    _Country("Nigeria", 0.02, -0.4, ("Lagos", "Abuja"), "+234", ".ng"),
    _Country("Japan", 0.02, 0.0, ("Tokyo", "Osaka", "Yokohama"), "+81", ".jp"),
    _Country("", 0.02, -0.2, ("",), "", ".com"),  # never filled in
)
_COUNTRY_WEIGHTS = list(accumulate([c.weight for c in COUNTRIES]))

# (segment, weight, fit, titles)
TITLE_SEGMENTS: tuple[tuple[str, float, float, tuple[str, ...]], ...] = (
    (
        "decision_maker",
        0.12,
        1.0,
        (
            "CEO",
            "Founder",
            "Co-Founder",
            "CTO",
            "COO",
            "Chief Revenue Officer",
            "VP Sales",
            "VP Marketing",
            "VP Revenue Operations",
            "Head of Growth",
            "Director of Marketing",
            "Director of Sales Operations",
        ),
    ),
    (
        "manager",
        0.22,
        0.5,
        (
            "Marketing Manager",
            "Sales Manager",
            "RevOps Manager",
            "Demand Generation Manager",
            "Marketing Operations Manager",
            "Product Manager",
            "IT Manager",
            "Operations Manager",
        ),
    ),
    (
        "individual",
        0.38,
        0.0,
        (
            "Marketing Specialist",
            "Sales Development Representative",
            "Account Executive",
            "Software Engineer",
            "Data Analyst",
            "Marketing Coordinator",
            "Business Analyst",
            "Consultant",
            "Customer Success Manager",
        ),
    ),
    ("student", 0.08, -1.2, ("Student", "MBA Candidate", "Intern", "Graduate Student")),
    ("job_seeker", 0.06, -1.5, ("Looking for work", "Job Seeker", "Unemployed", "Open to opportunities")),
    ("unknown", 0.14, -0.3, ("",)),
)
_SEGMENT_WEIGHTS = list(accumulate([s[1] for s in TITLE_SEGMENTS]))

LEAD_SOURCES: tuple[tuple[str, float, float], ...] = (  # name, weight, effect on closing
    ("Organic Search", 0.24, 0.1),
    ("Paid Search", 0.14, 0.0),
    ("Direct Traffic", 0.12, 0.1),
    ("Social Media", 0.10, -0.2),
    ("Referral", 0.08, 0.4),
    ("Email Marketing", 0.08, 0.0),
    ("Event", 0.06, 0.3),
    ("Content Syndication", 0.05, -0.3),
    ("Partner", 0.04, 0.4),
    ("Webinar", 0.04, 0.2),
    ("Offline Sources", 0.02, 0.0),
    ("Purchased List", 0.03, -0.6),
)
_SOURCE_WEIGHTS = list(accumulate([s[1] for s in LEAD_SOURCES]))

# (low, high, weight, fit) company head-count buckets
SIZE_BUCKETS: tuple[tuple[int, int, float, float], ...] = (
    (1, 10, 0.18, -0.6),
    (11, 50, 0.24, 0.0),
    (51, 200, 0.22, 0.5),
    (201, 1000, 0.18, 0.8),
    (1001, 5000, 0.11, 0.5),
    (5001, 50000, 0.07, 0.2),
)
_SIZE_WEIGHTS = list(accumulate([b[2] for b in SIZE_BUCKETS]))
_RANGES = ((1, 10), (11, 50), (51, 200), (201, 500), (501, 1000), (1001, 5000), (5001, 10000))

PAGES: tuple[tuple[str, float], ...] = (  # path, base weight (pricing and careers are re-weighted per person)
    ("/", 0.16),
    ("/product", 0.10),
    ("/features", 0.08),
    ("/integrations/hubspot", 0.03),
    ("/integrations/salesforce", 0.03),
    ("/customers", 0.05),
    ("/about", 0.04),
    ("/blog/lead-scoring-101", 0.07),
    ("/blog/revops-metrics", 0.05),
    ("/blog/predictive-vs-rules", 0.05),
    ("/docs/getting-started", 0.05),
    ("/docs/api", 0.03),
    ("/security", 0.02),
    ("/contact", 0.02),
)
_PAGE_PATHS = (*(SITE + p for p, _ in PAGES), SITE + "/pricing", SITE + "/careers")
_PAGE_WEIGHTS = tuple(w for _, w in PAGES)
CAMPAIGNS = (
    "Monthly newsletter",
    "Product update",
    "Lead scoring guide nurture",
    "Webinar invitation",
    "Case study: RevOps at scale",
    "Trial follow-up",
)
FORMS = ("Newsletter signup", "Contact us", "Free trial", "Pricing calculator")
ASSETS = ("Lead scoring playbook (PDF)", "RevOps benchmark report", "ROI calculator template", "CRM hygiene checklist")
WEBINARS = ("Scoring leads with your own data", "RevOps office hours", "From MQL to revenue")
MEETING_SUBJECTS = ("Discovery call", "Product demo", "Technical deep dive", "Pricing discussion", "Follow-up")
CALL_SUBJECTS = ("Intro call", "Follow-up call", "Left voicemail", "Qualification call")

# Activity mix before per-person adjustment (types from connectors.records.ActivityType).
BASE_MIX: tuple[tuple[str, float], ...] = (
    ("page_view", 0.42),
    ("email_open", 0.17),
    ("email_click", 0.06),
    ("email_sent", 0.06),
    ("form_submission", 0.04),
    ("content_download", 0.04),
    ("call", 0.04),
    ("webinar_registration", 0.025),
    ("webinar_attended", 0.015),
    ("email_reply", 0.02),
    ("meeting", 0.015),
    ("demo_request", 0.01),
)
_EMAIL_IN = frozenset({"email_open", "email_click", "email_reply"})
_FORM_TYPES = frozenset({"form_submission", "demo_request", "content_download", "webinar_registration"})
_ACTIVITY_WEIGHT = {  # what engagement means for closing (used for outcomes only)
    "demo_request": 1.3,
    "meeting": 0.7,
    "email_reply": 0.5,
    "webinar_attended": 0.4,
    "form_submission": 0.15,
    "content_download": 0.1,
    "email_click": 0.06,
}


class PersonRecord(NamedTuple):
    person: SamplePerson
    activities: list[SampleActivity]
    outcome: SampleOutcome | None


@dataclass(frozen=True, slots=True)
class _Company:
    name: str
    domain: str
    industry: _Industry
    employees: int
    size_fit: float
    country: _Country
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
        for low, high in _RANGES:
            if low <= n <= high:
                return f"{low}-{high}"
        return "10000+"
    if u < 0.82 and n >= 100:
        floor = 10 ** (len(str(n)) - 1)
        return f"{floor:,}+" if rng.random() < 0.5 else f"{floor}+"
    if 0.82 <= u < 0.91:
        return rng.choice(("n/a", "N/A", "unknown", "-"))
    return "" if u >= 0.91 else str(shown)


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


class _Generator:
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
        industry = rng.choices(INDUSTRIES, cum_weights=_INDUSTRY_WEIGHTS)[0]
        country = rng.choices(COUNTRIES, cum_weights=_COUNTRY_WEIGHTS)[0]
        low, high, _, size_fit = rng.choices(SIZE_BUCKETS, cum_weights=_SIZE_WEIGHTS)[0]
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
        segment, _, title_fit, titles = rng.choices(TITLE_SEGMENTS, cum_weights=_SEGMENT_WEIGHTS)[0]
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
            country = rng.choices(COUNTRIES, cum_weights=_COUNTRY_WEIGHTS)[0]
            free_mail = rng.random() < 0.9
        else:
            company_name = company.name
            industry_name = industry.name if rng.random() < 0.9 else ""
            employees = format_employees(company.employees, rng)
            size_fit = company.size_fit
            free_mail = not competitor and rng.random() < 0.22
        city = rng.choice(country.cities)
        title = rng.choice(titles)
        source, _, source_fit = rng.choices(LEAD_SOURCES, cum_weights=_SOURCE_WEIGHTS)[0]

        local = f"{first}.{last}".lower() if rng.random() < 0.7 else f"{first[0]}{last}".lower()
        if free_mail:
            local += str(rng.randrange(1, 99)) if rng.random() < 0.5 else ""
            domain = rng.choices(_FREE_NAMES, cum_weights=_FREE_WEIGHTS)[0]
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
            if a.type in _FORM_TYPES:
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
            events = [(ts, "page_view" if t in _EMAIL_IN else t) for ts, t in events]
            events.insert(0, (events[0][0], "bounce"))
        elif rng.random() < 0.04 * math.exp(-0.5 * intent):
            mail = [ts for ts, t in events if t in _EMAIL_IN or t == "email_sent"]
            events.append((min(int(self.now_ts), (max(mail) if mail else events[-1][0]) + 60), "unsubscribe"))
            events.sort()
        pricing_w = 0.04 * math.exp(0.8 * intent)
        careers_w = 0.25 if segment in ("student", "job_seeker") else 0.02
        pages = _PAGE_PATHS
        page_cum = list(accumulate((*_PAGE_WEIGHTS, pricing_w, careers_w)))

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
        signal = sum(_ACTIVITY_WEIGHT.get(a.type, 0.0) for a in acts)
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


def iter_records(
    contacts: int,
    seed: int,
    now: datetime,
    activities_per_contact: float = 10.0,
    owners: int = 8,
) -> Iterator[PersonRecord]:
    """People one at a time with their activities and outcome (stream-friendly ``generate``)."""
    gen = _Generator(contacts, seed, now, activities_per_contact, owners)
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
    gen = _Generator(contacts, seed, now, activities_per_contact, owners)
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
    "COMPETITOR_DOMAINS",
    "FREE_MAIL_DOMAINS",
    "PersonRecord",
    "default_now",
    "format_employees",
    "generate",
    "iter_people",
    "iter_records",
    "make_owners",
]
