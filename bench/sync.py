"""A HubSpot backfill at HubSpot's rate limit, against the floor that limit imposes; and the sync process's
peak memory as the number of contacts grows.  Figures, never pass/fail.

``--mode ratio``: the sandbox (a child process, seeded with ``--contacts`` x ~10 activities) enforces
HubSpot's burst limit of 100 calls per 10 s, its clock sped up ``--time-scale`` times; leadsync backfills
from this process through the real pipeline.  Floor = burst-limited calls made / calls allowed per real
second (10 x time scale); ratio = wall time / floor (target <= 1.1).  The sandbox reports its limit in
sandbox time (``X-HubSpot-RateLimit-Interval-Milliseconds: 10000`` is 10 sandbox seconds), so the adapter
gets a clock running at the sandbox's speed (``HubSpotConfig.monotonic`` / ``sleep``, as the test harness
does); a real portal needs no such conversion.  Pick a time scale at which the floor is well above the time
the backfill needs without any limit (about 2.5 ms of client CPU per contact here), or the ratio measures
this machine's CPU instead of the pacing.

``--mode memory``: per size, a sandbox DB file is seeded (streamed in chunks of 50,000 contacts, so the
seeding process stays small) and served by a child process, rate limits off; ``leadsync backfill`` runs as
another child, whose ``/proc/PID/status`` is read every 0.25 s: its peak RSS is the last VmHWM read (a spike
in the final 0.25 s would be missed), and VmRSS along the way shows whether memory grows during the run.
The sandbox's memory is not counted.

    .venv/bin/python bench/sync.py [--mode ratio|memory|all] [--contacts 100000[,300000...]]
                                   [--time-scale 2] [--activities 10] [--no-write]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import create_writeback_fields, machine, write_section
from connectors.base import CRMAdapter
from connectors.paging import chunks
from connectors.sandbox import Sandbox, SandboxConfig, run_subprocess
from connectors.sandbox.dataset import Dataset
from connectors.sandbox.seed import default_now, iter_records, make_owners
from sync.app import App
from sync.demo import sandbox_env_file
from sync.settings import Settings, load_settings
from sync.wiring import build_adapter

BURST_PER_10S = 100  # the sandbox's HubSpot default (private app, Free/Starter)
SEED = 7
SEED_CHUNK = 50_000
LABELS = {"hubspot": "HubSpot", "pipedrive": "Pipedrive"}
LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
SAMPLE_SECONDS = 0.25
# Pipedrive's sandbox sends its burst and budget headers even with rate limits off, and the adapter obeys them
UNLIMITED = {"pipedrive": {"burst": 10**9, "daily_budget": 10**12}}


# -- ratio: wall time against the rate limit's floor ----------------------------------------------------------
@dataclass
class RatioFigures:
    contacts: int
    time_scale: float
    written: int
    calls: dict[str, int]  # endpoint -> answered calls (429s left out)
    rate_limited: int  # 429s seen
    seconds: float
    cpu_seconds: float  # this process's CPU time during the backfill (the client's own work)

    @property
    def burst_calls(self) -> int:
        """Calls counted against the 10-second burst window (search has its own per-second limit)."""
        return sum(n for endpoint, n in self.calls.items() if not endpoint.endswith(".search"))

    @property
    def allowed_per_second(self) -> float:
        return BURST_PER_10S / 10 * self.time_scale

    @property
    def floor(self) -> float:
        return self.burst_calls / self.allowed_per_second

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor


def scaled_adapter(scale: float) -> Callable[[Settings, list[str]], CRMAdapter]:
    """An adapter factory whose pacing clock runs at the sandbox's speed (its headers are in sandbox time)."""

    def factory(settings: Settings, read_fields: list[str]) -> CRMAdapter:
        return build_adapter(
            settings,
            read_fields,
            sleep=lambda seconds: time.sleep(seconds / scale),
            monotonic=lambda: time.monotonic() * scale,
        )

    return factory


def bench_ratio(contacts: int, time_scale: float, activities: float) -> RatioFigures:
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="leadsync-bench-") as tmp,
        run_subprocess(
            contacts=contacts, activities=activities, crm="hubspot", time_scale=time_scale, timeout=1800
        ) as proc,
    ):
        print(f"ratio: sandbox seeded with {contacts:,} contacts in {time.perf_counter() - started:.0f} s", flush=True)
        settings = load_settings(sandbox_env_file(proc, "hubspot", Path(tmp)))
        create_writeback_fields(settings)
        proc.reset_counters()
        app = App(settings, adapter_factory=scaled_adapter(time_scale))
        started, cpu = time.perf_counter(), time.process_time()
        try:
            summary = app.run("backfill")
        finally:
            app.close()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if summary.error:
            print(f"ratio: backfill {summary.status}: {summary.error}", file=sys.stderr)
        counters = proc.counters()
    calls = {e: sum(n for s, n in st.items() if s != 429) for e, st in counters.items()}
    limited = sum(st.get(429, 0) for st in counters.values())
    return RatioFigures(contacts, time_scale, summary.counts["written"], calls, limited, seconds, cpu)


# -- memory: peak RSS of `leadsync backfill` ------------------------------------------------------------------
@dataclass
class MemoryFigures:
    crm: str
    contacts: int
    activities: float
    seed_seconds: float
    seconds: float
    peak_mb: float  # VmHWM of the sync process: its peak RSS
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, VmRSS MB)
    summary: str = ""

    def rss_at(self, fraction: float) -> float:
        """VmRSS at ``fraction`` of the run (the sample nearest it)."""
        if not self.samples:
            return 0.0
        target = fraction * self.seconds
        return min(self.samples, key=lambda s: abs(s[0] - target))[1]


def seed_db(path: Path, crm: str, contacts: int, activities: float, now: datetime) -> float:
    """A sandbox DB with ``contacts`` seeded people in ``crm``, streamed in chunks (each with its own owners)."""
    started = time.perf_counter()
    sb = Sandbox(SandboxConfig(db_path=str(path), seed=SEED, crms=(crm,)))
    owners = make_owners(8, SEED)
    records = iter_records(contacts, SEED, now, activities)
    for chunk in chunks(records, SEED_CHUNK):
        dataset = Dataset(owners=list(owners))
        for person, acts, outcome in chunk:
            dataset.people.append(person)
            dataset.activities.extend(acts)
            if outcome is not None:
                dataset.outcomes.append(outcome)
        sb.load_into(crm, dataset)
    sb.store.conn.close()
    return time.perf_counter() - started


def _memory_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a process in MB; VmHWM is the peak RSS since its exec."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {
        k: int(v.split()[0]) / 1024
        for k, _, v in (line.partition(":") for line in status.splitlines())
        if k in ("VmRSS", "VmHWM")
    }
    return (values["VmRSS"], values["VmHWM"]) if len(values) == 2 else None


def bench_memory(crm: str, contacts: int, activities: float, now: datetime) -> MemoryFigures:
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-") as tmp:
        workdir = Path(tmp)
        db = workdir / "sandbox.db"
        seed_seconds = seed_db(db, crm, contacts, activities, now)
        print(f"memory: seeded {contacts:,} contacts into {db.name} in {seed_seconds:.0f} s", flush=True)
        # another seed than the seeding's: the Pipedrive sandbox draws new field keys from a generator seeded
        # with it, and would draw the keys of the fields it made while seeding again (UNIQUE constraint)
        with run_subprocess(
            db_path=str(db), crm=crm, seed=SEED + 1, rate_limits=False, limits=UNLIMITED, timeout=600
        ) as proc:
            env_file = sandbox_env_file(proc, crm, workdir)
            create_writeback_fields(load_settings(env_file))
            log_path = workdir / "backfill.log"
            with log_path.open("wb") as log:
                started = time.perf_counter()
                child = subprocess.Popen(
                    [LEADSYNC, "--env-file", str(env_file), "backfill"], stdout=log, stderr=subprocess.STDOUT
                )
                samples: list[tuple[float, float]] = []
                peak = 0.0
                # VmHWM, not the rusage of wait(): a child spawned from this process inherits this process's
                # peak (the kernel carries the pre-exec high-water mark into ru_maxrss), seeding included
                while child.poll() is None:
                    memory = _memory_mb(child.pid)
                    if memory is not None:
                        samples.append((time.perf_counter() - started, memory[0]))
                        peak = max(peak, memory[1])
                    time.sleep(SAMPLE_SECONDS)
                seconds = time.perf_counter() - started
            out = log_path.read_text(errors="replace")
    if child.returncode not in (0, 1):
        print(f"memory: leadsync backfill exited {child.returncode}:\n{out[-2000:]}", file=sys.stderr)
    summary = next((line for line in out.splitlines() if line.startswith("Run ")), out.strip()[-300:])
    return MemoryFigures(crm, contacts, activities, seed_seconds, seconds, peak, samples, summary)


# -- output ---------------------------------------------------------------------------------------------------
def describe_ratio(r: RatioFigures) -> str:
    calls = ", ".join(f"{e.removeprefix('hubspot.')} {n:,}" for e, n in sorted(r.calls.items()))
    return (
        f"ratio: {r.contacts:,} contacts, time scale {r.time_scale:g} ({r.allowed_per_second:g} calls/s allowed): "
        f"{r.burst_calls:,} burst calls [{calls}], wrote {r.written:,}; elapsed {r.seconds:.1f} s, floor "
        f"{r.floor:.1f} s, ratio {r.ratio:.3f}, 429s {r.rate_limited}; client CPU {r.cpu_seconds:.1f} s"
    )


def describe_memory(m: MemoryFigures) -> str:
    return (
        f"memory: {m.crm}, {m.contacts:,} contacts x {m.activities:g} activities: peak RSS {m.peak_mb:.0f} MB "
        f"(VmRSS at 25/50/75% of the run: {m.rss_at(0.25):.0f} / {m.rss_at(0.5):.0f} / {m.rss_at(0.75):.0f} MB), "
        f"{m.seconds:.0f} s = {m.contacts / m.seconds:,.0f} contacts/s; {m.summary}"
    )


def section(argv: Sequence[str], ratio: RatioFigures | None, memory: Sequence[MemoryFigures], header: str) -> str:
    lines = [
        f"`bench/sync.py {' '.join(argv)}`, {datetime.now(UTC):%Y-%m-%d}, {header}; the sandbox in its own process.",
        "",
    ]
    if ratio is not None:
        r = ratio
        lines += [
            f"**Backfill at HubSpot's rate limit** ({r.contacts:,} contacts x ~10 activities; burst limit "
            f"{BURST_PER_10S} calls / 10 s, sandbox clock x{r.time_scale:g}, so {r.allowed_per_second:g} calls "
            "per real second; the adapter's pacing clock runs at the sandbox's speed). Target: ratio <= 1.1.",
            "",
            "| Burst-limited calls | Elapsed | Floor (calls / allowed per s) | Ratio | 429s | Client CPU |",
            "|---|---|---|---|---|---|",
            f"| {r.burst_calls:,} | {r.seconds:.1f} s | {r.floor:.1f} s | **{r.ratio:.3f}** | {r.rate_limited} "
            f"| {r.cpu_seconds:.1f} s |",
            "",
            "Calls: " + ", ".join(f"`{e.removeprefix('hubspot.')}` {n:,}" for e, n in sorted(r.calls.items())) + ".",
            "",
            "The sandbox's `X-HubSpot-RateLimit-Interval-Milliseconds` is in sandbox time, so the adapter is given "
            "a clock running at the sandbox's speed (`HubSpotConfig.monotonic` / `sleep`); with the real clock "
            "it would wait a real second for each sandbox second, time-scale times too long. The ratio measures "
            "the pacing only while the floor is well above the client's own work (its CPU time, last column).",
            "",
        ]
    if memory:
        lines += [
            "**Peak memory of `leadsync backfill`** (rate limits off; peak = VmHWM of the sync process, "
            "VmRSS sampled every 0.25 s). Target: <= 300 MB, and no higher for more contacts.",
            "",
            "| CRM | Contacts | Activities each | Peak RSS | VmRSS at 25% / 50% / 75% of the run | Backfill "
            "| Contacts/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in memory:
            lines.append(
                f"| {LABELS[m.crm]} | {m.contacts:,} | ~{m.activities:g} | **{m.peak_mb:.0f} MB** | "
                f"{m.rss_at(0.25):.0f} / {m.rss_at(0.5):.0f} / {m.rss_at(0.75):.0f} MB | {m.seconds:.0f} s | "
                f"{m.contacts / m.seconds:,.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["ratio", "memory", "all"], default="all")
    parser.add_argument(
        "--contacts",
        default=None,
        help="comma-separated sizes; ratio uses the first (default 100000), memory each (default 100000,300000)",
    )
    parser.add_argument("--crm", choices=["hubspot", "pipedrive"], default="hubspot", help="memory mode's CRM")
    parser.add_argument("--time-scale", type=float, default=2.0, help="the sandbox clock's speed (ratio mode)")
    parser.add_argument("--activities", type=float, default=10.0, help="mean activities per contact")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    sizes = [int(n) for n in args.contacts.split(",")] if args.contacts else []
    header = machine()
    ratio: RatioFigures | None = None
    memory: list[MemoryFigures] = []
    if args.mode in ("ratio", "all"):
        ratio = bench_ratio(sizes[0] if sizes else 100_000, args.time_scale, args.activities)
        print(describe_ratio(ratio), flush=True)
    if args.mode in ("memory", "all"):
        now = default_now()
        for contacts in sizes or [100_000, 300_000]:
            memory.append(bench_memory(args.crm, contacts, args.activities, now))
            print(describe_memory(memory[-1]), flush=True)
    if not args.no_write:
        write_section("Sync", section(sys.argv[1:], ratio, memory, header))
        print("wrote the Sync section of bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
