"""Scoring engine throughput: contacts scored per second on one core with the starter model.

    .venv/bin/python bench/scoring.py [--contacts 2000] [--seconds 2] [--profile]

Builds seeded, realistic contacts (messy employee counts, free-mail and company domains, decision makers
to students) with N activities each (page views, forms, demos, email, webinars... over the last 180 days)
and scores them in a loop for a fixed time per N.  Prints contacts/s at 0, 5, 10, 20 and 40 activities,
one ``score()`` call per contact and through ``score_many()`` (one call per batch of contacts), and the cost
of each activity beyond the contact's own (us/activity), so a glance shows whether the cost is linear in
activities; then the 20-activity rate when no title or URL repeats (text tests remember their answers for
repeated values, which real CRM data is full of), the rate when every result's reasons are also read
(``explain()``, as a sync does for each contact it writes: reasons and evidence are built when first read),
and the rate of the reference path that the fast path must match (``CompiledModel.score_reference``).
It runs whichever build ``scoring`` imports: the mypyc-compiled modules (``setup.py``), or the plain
sources with ``LEADSYNC_PURE_PYTHON=1``.  Time is the process's CPU time, so other work on the machine does
not distort it.  A benchmark, not a test: it never fails on time.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.records import Activity, Contact
from connectors.sandbox.seed import BASE_MIX
from scoring import STARTER_MODEL_PATH, Model, compiled, explain, load_model, score, score_many
from scoring.engine import compile_model

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
TITLES = (
    "CEO",
    "VP Sales",
    "Head of Growth",
    "Director of Marketing",
    "Marketing Manager",
    "RevOps Manager",
    "Software Engineer",
    "Account Executive",
    "Data Analyst",
    "Student",
    "Job Seeker",
    "",
)
INDUSTRIES = ("Software & IT Services", "Financial Services", "Healthcare", "Education", "Manufacturing", "Retail")
EMPLOYEES = ("1,000", "100-500", "1000+", "n/a", "", "25", "250", "5000", "11-50", "2.5k")
DOMAINS = ("gmail.com", "northsoft.io", "apex-capital.com", "yahoo.com", "meridian.health", "leadloom.com")
PAGES = ("/", "/pricing", "/product", "/blog/lead-scoring-101", "/careers", "/docs/api", "/customers")
FORMS = ("Newsletter signup", "Contact us", "Free trial", "Pricing calculator")
MIX = (*BASE_MIX, ("unsubscribe", 0.005))  # the sandbox generator's mix, and a few unsubscribes


def make_contacts(
    count: int, activities: int, seed: int, unique_text: bool = False
) -> list[tuple[Contact, list[Activity]]]:
    """Seeded contacts with ``activities`` each; ``unique_text`` makes every title and URL distinct."""
    rng = random.Random(seed)
    types = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    out = []
    for i in range(count):
        fields = {
            "email": f"person{i}@{rng.choice(DOMAINS)}",
            "title": rng.choice(TITLES),
            "industry": rng.choice(INDUSTRIES),
            "employees": rng.choice(EMPLOYEES),
            "country": rng.choice(("United States", "Germany", "India", "")),
            "created_at": (NOW - timedelta(days=rng.uniform(30, 400))).isoformat(),
        }
        if rng.random() < 0.5:
            fields["hs_analytics_num_page_views"] = str(rng.randrange(0, 40))
            fields["hs_email_last_open_date"] = str(int((NOW - timedelta(days=rng.uniform(0, 90))).timestamp() * 1000))
        if unique_text:
            fields["title"] = f"{fields['title']} ({i})"
            fields["industry"] = f"{fields['industry']} {i}"
            fields["employees"] = f"{rng.randrange(1, 20000):,}"
        contact = Contact(id=f"c{i}", updated_at=NOW, fields=fields)
        acts = []
        for j, kind in enumerate(rng.choices(types, weights, k=activities)):
            attributes: dict[str, str] = {}
            if kind == "page_view":
                attributes = {"url": "https://example.com" + rng.choice(PAGES)}
                if unique_text:
                    attributes["url"] += f"?utm_id={i}-{j}"
            elif kind in ("email_open", "email_click", "email_sent"):
                attributes = {"campaign": rng.choice(("Monthly newsletter", "Product update"))}
            elif kind == "form_submission":
                attributes = {"form": rng.choice(FORMS)}
            occurred = NOW - timedelta(seconds=rng.uniform(0, 180 * 86400))
            acts.append(Activity(f"c{i}-a{j}", contact.id, kind, occurred, attributes))
        out.append((contact, acts))
    return out


Items = list[tuple[Contact, list[Activity]]]


def one_by_one(model: Model, items: Items) -> None:
    for contact, activities in items:
        score(model, contact, activities, NOW)


def batch(model: Model, items: Items) -> None:
    for _ in score_many(model, items, NOW):
        pass


def with_reasons(model: Model, items: Items) -> None:
    """What a sync does for a contact it writes: score, then read every reason (explain() for the CRM field)."""
    for contact, activities in items:
        result = score(model, contact, activities, NOW)
        explain(result)
        for reason in result.reasons:
            reason.evidence  # noqa: B018 - reading it is the point: reasons and evidence are built when read


def reference(model: Model, items: Items) -> None:
    run = compile_model(model).score_reference
    for contact, activities in items:
        run(contact, activities, NOW)


def rate(model: Model, items: Items, seconds: float, how: Callable[[Model, Items], None] = one_by_one) -> float:
    """Contacts per second: whole passes over ``items`` until ``seconds`` have gone by; best of 3 runs."""
    best = 0.0
    for _ in range(3):
        done = 0
        start = time.process_time()
        while True:
            how(model, items)
            done += len(items)
            elapsed = time.process_time() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, done / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000, help="distinct contacts per run (default 2000)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per activity count (default 2)")
    parser.add_argument("--profile", action="store_true", help="profile 20 activities with cProfile instead")
    args = parser.parse_args()
    model = load_model(STARTER_MODEL_PATH)
    if args.profile:
        items = make_contacts(args.contacts, 20, seed=20)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(3):
            for contact, activities in items:
                score(model, contact, activities, NOW)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return
    print(f"scoring engine, starter model {model.version}, {args.contacts} contacts per run, one core")
    print(
        "engine build: "
        + ("compiled (mypyc)" if compiled() else "plain Python (set by LEADSYNC_PURE_PYTHON=1 or no compiled build)")
    )
    print(f"python {platform.python_version()} on {platform.machine()} ({platform.processor() or 'unknown cpu'})")
    print("CPU time of this process (time.process_time), best of 3; other processes do not count")
    print(f"{'activities':>10}  {'score()/s':>10}  {'us/contact':>10}  {'us/activity':>11}  {'score_many()/s':>14}")
    base = 0.0
    for count in (0, 5, 10, 20, 40):
        items = make_contacts(args.contacts, count, seed=count)
        per_second = rate(model, items, args.seconds)
        in_batch = rate(model, items, args.seconds, batch)
        per_contact = 1e6 / per_second
        if count == 0:
            base = per_contact
        extra = f"{(per_contact - base) / count:11.2f}" if count else f"{'-':>11}"
        print(f"{count:>10}  {per_second:>10,.0f}  {per_contact:>10.1f}  {extra}  {in_batch:>14,.0f}")
    items = make_contacts(args.contacts, 20, seed=20, unique_text=True)
    per_second = rate(model, items, args.seconds)
    print(f"20 activities, every title and URL distinct (no memo hits): {per_second:,.0f} contacts/s")
    items = make_contacts(args.contacts, 20, seed=20)
    per_second = rate(model, items, args.seconds, with_reasons)
    print(f"20 activities, score() then explain() and every reason's evidence read: {per_second:,.0f} contacts/s")
    per_second = rate(model, items, args.seconds, reference)
    print(f"20 activities, reference path (score_reference, what score() must equal): {per_second:,.0f} contacts/s")


if __name__ == "__main__":
    main()
