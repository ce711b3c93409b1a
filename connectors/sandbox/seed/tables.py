"""The tables the sample-data generator draws from: names, industries, countries, titles, lead sources,
company sizes, pages, campaigns and the activity mix, each with its weight and (where it matters) its fit.

Cumulative weights sit next to each table so a draw is one ``rng.choices(..., cum_weights=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

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
class Industry:
    name: str
    weight: float
    fit: float
    suffixes: tuple[str, ...]


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Software & IT Services", 0.22, 1.0, ("Soft", "Labs", "Cloud", "Data", "Systems", "Logic", "AI")),
    Industry("Financial Services", 0.10, 0.6, ("Capital", "Finance", "Bank", "Pay", "Invest", "Insurance")),
    Industry("Marketing & Advertising", 0.07, 0.6, ("Media", "Digital", "Agency", "Creative", "Growth")),
    Industry("Healthcare", 0.09, 0.2, ("Health", "Care", "Medical", "Clinics", "Bio", "Pharma")),
    Industry("Education", 0.07, -0.5, ("Learning", "Academy", "University", "Education", "School")),
    Industry("Retail & E-commerce", 0.09, 0.2, ("Retail", "Store", "Shop", "Brands", "Outfitters", "Market")),
    Industry("Manufacturing", 0.09, 0.0, ("Industries", "Manufacturing", "Steel", "Components", "Machines")),
    Industry("Telecommunications", 0.03, 0.3, ("Telecom", "Networks", "Wireless", "Connect")),
    Industry("Consulting", 0.06, 0.3, ("Consulting", "Advisors", "Partners", "Associates")),
    Industry("Logistics & Transportation", 0.04, 0.0, ("Logistics", "Freight", "Transport", "Shipping")),
    Industry("Real Estate", 0.03, -0.2, ("Realty", "Properties", "Homes", "Estates")),
    Industry("Media & Entertainment", 0.03, 0.1, ("Studios", "Entertainment", "Pictures", "Publishing")),
    Industry("Energy & Utilities", 0.02, -0.1, ("Energy", "Power", "Solar", "Utilities")),
    Industry("Hospitality", 0.02, -0.4, ("Hotels", "Hospitality", "Restaurants", "Travel")),
    Industry("Government", 0.02, -0.7, ("Agency", "Council", "Authority", "Department")),
    Industry("Non-profit", 0.02, -0.7, ("Foundation", "Trust", "Alliance", "Fund")),
)
INDUSTRY_WEIGHTS = list(accumulate([i.weight for i in INDUSTRIES]))
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
FREE_NAMES = [d for d, _ in FREE_MAIL]
FREE_WEIGHTS = list(accumulate([w for _, w in FREE_MAIL]))


@dataclass(frozen=True, slots=True)
class Country:
    name: str
    weight: float
    fit: float
    cities: tuple[str, ...]
    dial: str
    tld: str


COUNTRIES: tuple[Country, ...] = (
    Country(
        "United States",
        0.36,
        0.3,
        ("New York", "San Francisco", "Austin", "Chicago", "Boston", "Seattle", "Denver", "Atlanta"),
        "+1",
        ".com",
    ),
    Country("United Kingdom", 0.10, 0.3, ("London", "Manchester", "Edinburgh", "Bristol", "Leeds"), "+44", ".co.uk"),
    Country("Germany", 0.08, 0.2, ("Berlin", "Munich", "Hamburg", "Frankfurt", "Cologne"), "+49", ".de"),
    Country("India", 0.10, -0.3, ("Bengaluru", "Mumbai", "New Delhi", "Pune", "Hyderabad"), "+91", ".in"),
    Country("Canada", 0.05, 0.3, ("Toronto", "Vancouver", "Montreal", "Calgary"), "+1", ".ca"),
    Country("France", 0.05, 0.1, ("Paris", "Lyon", "Toulouse", "Lille"), "+33", ".fr"),
    Country("Australia", 0.04, 0.2, ("Sydney", "Melbourne", "Brisbane", "Perth"), "+61", ".com.au"),
    Country("Brazil", 0.04, -0.2, ("São Paulo", "Rio de Janeiro", "Belo Horizonte"), "+55", ".com.br"),
    Country("Netherlands", 0.03, 0.2, ("Amsterdam", "Rotterdam", "Utrecht"), "+31", ".nl"),
    Country("Spain", 0.03, 0.0, ("Madrid", "Barcelona", "Valencia"), "+34", ".es"),
    Country("Sweden", 0.02, 0.2, ("Stockholm", "Gothenburg", "Malmö"), "+46", ".se"),
    Country("Singapore", 0.02, 0.2, ("Singapore",), "+65", ".sg"),
    Country("Mexico", 0.02, -0.2, ("Mexico City", "Guadalajara", "Monterrey"), "+52", ".mx"),
    Country("Nigeria", 0.02, -0.4, ("Lagos", "Abuja"), "+234", ".ng"),
    Country("Japan", 0.02, 0.0, ("Tokyo", "Osaka", "Yokohama"), "+81", ".jp"),
    Country("", 0.02, -0.2, ("",), "", ".com"),  # never filled in
)
COUNTRY_WEIGHTS = list(accumulate([c.weight for c in COUNTRIES]))

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
SEGMENT_WEIGHTS = list(accumulate([s[1] for s in TITLE_SEGMENTS]))

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
SOURCE_WEIGHTS = list(accumulate([s[1] for s in LEAD_SOURCES]))

# (low, high, weight, fit) company head-count buckets
SIZE_BUCKETS: tuple[tuple[int, int, float, float], ...] = (
    (1, 10, 0.18, -0.6),
    (11, 50, 0.24, 0.0),
    (51, 200, 0.22, 0.5),
    (201, 1000, 0.18, 0.8),
    (1001, 5000, 0.11, 0.5),
    (5001, 50000, 0.07, 0.2),
)
SIZE_WEIGHTS = list(accumulate([b[2] for b in SIZE_BUCKETS]))
EMPLOYEE_RANGES = ((1, 10), (11, 50), (51, 200), (201, 500), (501, 1000), (1001, 5000), (5001, 10000))

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
PAGE_URLS = (*(SITE + p for p, _ in PAGES), SITE + "/pricing", SITE + "/careers")
PAGE_WEIGHTS = tuple(w for _, w in PAGES)
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
EMAIL_IN = frozenset({"email_open", "email_click", "email_reply"})
FORM_TYPES = frozenset({"form_submission", "demo_request", "content_download", "webinar_registration"})
ACTIVITY_WEIGHT = {  # what engagement means for closing (used for outcomes only)
    "demo_request": 1.3,
    "meeting": 0.7,
    "email_reply": 0.5,
    "webinar_attended": 0.4,
    "form_submission": 0.15,
    "content_download": 0.1,
    "email_click": 0.06,
}
