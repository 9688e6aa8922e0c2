"""Backfill from a real pywb archive: requests and wall time of ``--strategy all`` against ``changes``.

    python bench/backfill_perf.py                      # 400 daily captures, under a minute
    python bench/backfill_perf.py --captures 120 --seed 3 --json bench/out/backfill.json

A synthetic history of one policy URL: N daily captures (the time of day varies) with 6 material
change points and 2 flip-flops (a text that appears and is reverted 9-20 days later), placed by a
seeded RNG. Every capture's bytes differ (front-end build churn in the markup), so digest dedup does
not help, except on a few days recorded as WARC revisits of the day before; one day the crawler got
a bot wall. The WARCs are written with warcio and served by pywb behind a counting proxy
(tests/pywb_harness.py). Each strategy imports the history into its own fresh database (rate 0).

Goal (issue): ``changes`` makes ≥ 5× fewer replay requests than ``all``, and both find every change
point, flip-flops and their reverts included, pinned to the right capture. ``changes`` also runs at
``--probe-every`` / 2 and × 2 to show the trade-off: fewer fetches, a weaker guarantee (a text in
effect for fewer captures than probe-every may be missed). Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from pages import bot_wall_page, policy_page  # noqa: E402  (tests/: the realistic page generator)
from pywb_harness import Capture, PywbArchive  # noqa: E402  (tests/: pywb behind a counting proxy)

from policywatch.archive import Archive  # noqa: E402
from policywatch.history_import import PROBE_EVERY, backfill  # noqa: E402
from policywatch.normalize import normalize_text  # noqa: E402
from policywatch.store import Store  # noqa: E402
from policywatch.watchlist import parse_watchlist  # noqa: E402

URL = "https://acme.example/privacy"
POLICY = "acme"
CONTENT_TYPE = "text/html; charset=utf-8"
START = dt.date(2021, 3, 1)
GOAL_RATIO = 5.0
DEFAULT_RATE = 20.0  # policywatch's default: requests a minute to the archive
DEFAULT_SEED = 7  # with 400 captures: one flip-flop shorter than 16 days, one longer
MIN_STABLE = 14  # days a text other than a flip-flop stays in effect, at least
FLIP_DAYS = (9, 20)  # how long a flip-flop lasts
REVISITS = 4  # days whose bytes equal the day before (WARC revisit records)
MARGIN = 3  # revisit and bot-wall days keep this far from any change

# Edits of real sentences of pages.SECTIONS: (label, old, new).
CHANGES = [
    ("collects precise location", "browser type and operating system.",
     "browser type and operating system, and your precise location."),
    ("trains AI on user content", "so that we can improve them.",
     "so that we can improve them and train our artificial intelligence models on your content."),
    ("retention lengthened", "for up to ninety days after it is closed", "for up to five years after it is closed"),
    ("right to delete and export removed", "access, correct, delete or export your personal information",
     "access or correct your personal information"),
    ("transfer outside the EU", "and when the law requires it.",
     "and when the law requires it. We transfer personal information to our affiliates in the United States "
     "and other countries whose laws may not protect it as well as yours."),
    ("no more notice of changes", "will tell you by email before a change that affects your rights takes effect.",
     "may change it at any time without telling you."),
]
FLIPS = [
    ("sale to advertisers", "We don{apos}t sell your personal information.",
     "We sell your personal information to advertisers and data brokers."),
    ("marketing without opt-out", "marketing messages you can unsubscribe from at any time.",
     "marketing messages from us and our partners."),
]


@dataclass
class Event:
    kind: str  # "change" or "flip"
    label: str
    old: str
    new: str
    start: int  # first day in effect
    end: int | None = None  # flips: first day reverted


@dataclass
class Day:
    timestamp: str
    edits: dict[str, str]
    key: tuple[str, ...]  # labels of the edits in effect: equal keys, equal texts
    body: str
    revisit: bool = False
    bot_wall: bool = False

    @property
    def captured_at(self) -> str:
        t = self.timestamp
        return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"


def place_events(rng: random.Random, captures: int) -> list[Event]:
    """6 change points and 2 flip-flops: every stable text lasts ≥ MIN_STABLE days, no overlaps."""
    kinds = [("change", *c) for c in CHANGES] + [("flip", *f) for f in FLIPS]
    for _ in range(20000):
        rng.shuffle(kinds)
        starts = sorted(rng.sample(range(MIN_STABLE, captures - MIN_STABLE), len(kinds)))
        events = [Event(kind, label, old, new, start)
                  for (kind, label, old, new), start in zip(kinds, starts, strict=True)]
        boundaries = [0]
        for event in events:
            if event.kind == "flip":
                event.end = event.start + rng.randint(*FLIP_DAYS)
            if event.start - boundaries[-1] < MIN_STABLE:
                break
            boundaries.append(event.end or event.start)
        else:
            if captures - boundaries[-1] >= MIN_STABLE:
                return events
    raise SystemExit(f"cannot place 8 events in {captures} captures (each text ≥ {MIN_STABLE} days); "
                     "use --captures 200 or more")


def edits_on(events: list[Event], day: int) -> dict[str, str]:
    return {e.old: e.new for e in events if e.start <= day and (e.end is None or day < e.end)}


def build_history(seed: int, captures: int) -> tuple[list[Event], list[Day]]:
    rng = random.Random(seed)
    events = place_events(rng, captures)
    labels = {e.old: e.label for e in events}
    days = []
    for n in range(captures):
        edits = edits_on(events, n)
        moment = dt.datetime.combine(START + dt.timedelta(days=n), dt.time()) + dt.timedelta(
            seconds=rng.randrange(86400))
        body = policy_page(edits=edits, churn=n + 1, extra_scripts=True, banner="onetrust")
        days.append(Day(moment.strftime("%Y%m%d%H%M%S"), edits, tuple(sorted(labels[o] for o in edits)), body))
    # A few revisits (same bytes as the day before) and one bot wall, well inside stable stretches.
    boundaries = sorted({0, captures} | {e.start for e in events} | {e.end for e in events if e.end})
    flips = [range(e.start, e.end) for e in events if e.kind == "flip"]
    quiet = [n for n in range(1, captures) if all(abs(n - b) > MARGIN for b in boundaries)
             and not any(n in f for f in flips)]
    special = []
    while len(special) < REVISITS + 1:
        n = rng.choice(quiet)
        if all(abs(n - m) > 1 for m in special):
            special.append(n)
    for n in special[:REVISITS]:
        days[n].body, days[n].revisit = days[n - 1].body, True
    days[special[-1]].body, days[special[-1]].key, days[special[-1]].bot_wall = bot_wall_page(), (), True
    return events, days


def archive_captures(days: list[Day]) -> list[Capture]:
    return [Capture(URL, d.timestamp, d.body, revisit=d.revisit) for d in days]


@dataclass
class Truth:
    entries: list[tuple[str, str]]  # (captured_at, text sha256): the timeline policywatch should build
    labels: list[tuple[str, str, str]]  # (captured_at, what changed, state) for the printout
    day_sha: list[str | None]  # the text on each day (None: the bot wall)
    segment_heads: list[int]  # per day: captures (revisits not counted) its text stayed in effect in a row


def ground_truth(events: list[Event], days: list[Day]) -> Truth:
    sha_of: dict[tuple[str, ...], str] = {}
    for d in days:
        if not d.bot_wall and d.key not in sha_of:
            sha_of[d.key] = normalize_text(d.body, content_type=CONTENT_TYPE).document.sha256
    if len(set(sha_of.values())) != len(sha_of):
        raise SystemExit("two different edit sets normalize to the same text: the ground truth is wrong")
    starts = {e.start: e for e in events}
    ends = {e.end: e for e in events if e.end}
    entries, labels, day_sha = [], [], []
    previous = None
    for n, d in enumerate(days):
        sha = None if d.bot_wall else sha_of[d.key]
        day_sha.append(sha)
        if sha is None or sha == previous:
            continue
        entries.append((d.captured_at, sha))
        if n in starts:
            what = f"{starts[n].kind}: {starts[n].label}"
        elif n in ends:
            what = f"revert: {ends[n].label}"
        else:
            what = "first capture"
        labels.append((d.captured_at, what, "+".join(d.key) or "original"))
        previous = sha
    # Run lengths in distinct captures (what the guarantee counts); the bot wall is stepped over.
    segment_heads = [0] * len(days)
    n = 0
    while n < len(days):
        if day_sha[n] is None:
            n += 1
            continue
        end, heads = n, 0
        while end < len(days) and day_sha[end] in (day_sha[n], None):
            heads += day_sha[end] is not None and not days[end].revisit
            end += 1
        for k in range(n, end):
            segment_heads[k] = heads
        n = end
    return Truth(entries, labels, day_sha, segment_heads)


def found_timeline(store: Store) -> list[tuple[str, str]]:
    return [(row["captured_at"], row["text_sha256"]) for row in store.timeline(POLICY)]


def guarantee_holds(timeline: list[tuple[str, str]], truth: Truth, days: list[Day], probe_every: int) -> list[str]:
    """Problems: days of a text in effect for ≥ probe_every captures where the timeline says otherwise."""
    problems = []
    known = {sha for sha in truth.day_sha if sha}
    problems += [f"unknown text {sha[:12]} at {at}" for at, sha in timeline if sha not in known]
    index, current = 0, None
    for n, d in enumerate(days):
        while index < len(timeline) and timeline[index][0] <= d.captured_at:
            current = timeline[index][1]
            index += 1
        sha = truth.day_sha[n]
        if sha and truth.segment_heads[n] >= probe_every and current != sha:
            problems.append(f"{d.captured_at}: timeline shows {str(current)[:12]}, truth {sha[:12]}")
    return problems


def model_replays(r: dict, distinct: int) -> int:
    """Replays the strategy's design implies: every distinct capture for ``all``; for ``changes``, a
    look every probe_every captures, then a bisection of ⌈log2 p⌉ looks to pin each change found."""
    if r["strategy"] == "all":
        return distinct
    p = r["probe_every"]
    return math.ceil((distinct - 1) / p) + 1 + (len(r["timeline"]) - 1) * math.ceil(math.log2(p))


def git_commit() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return ""

    return {"commit": git("rev-parse", "HEAD"),
            "dirty": [line for line in git("status", "--porcelain", "--", "policywatch").splitlines() if line]}


def run(archive: PywbArchive, tmp: Path, name: str, strategy: str, probe_every: int) -> dict:
    watchlist = parse_watchlist(f"policies:\n  - id: {POLICY}\n    name: Acme Privacy Policy\n    url: {URL}\n",
                                tmp / "watchlist.yaml")
    source = Archive.configured(archive.cdx_url(), archive.replay_template())
    archive.reset_counts()
    with Store.open(tmp / f"{name}.db") as store:
        started = time.perf_counter()
        report = backfill(watchlist, store, archive=source, strategy=strategy, rate=0, probe_every=probe_every)
        wall = time.perf_counter() - started
        timeline = found_timeline(store)
    result = report.results[0]
    return {"name": name, "strategy": strategy, "probe_every": probe_every, "wall_s": wall,
            "proxy": archive.counts(), "client": dict(result.requests), "outcome": result.outcome,
            "message": result.message, "listed": result.listed, "distinct": result.distinct,
            "fetched": result.fetched, "skipped": result.skipped, "versions": result.versions,
            "timeline": timeline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=int, default=400, help="daily captures (default 400)")
    parser.add_argument("--probe-every", type=int, default=PROBE_EVERY,
                        help=f"changes strategy's probe-every (default {PROBE_EVERY}, as policywatch)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"places the events (default {DEFAULT_SEED})")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.probe_every < 2:
        parser.error("--probe-every must be 2 or more")

    events, days = build_history(args.seed, args.captures)
    truth = ground_truth(events, days)
    revisits = [d.timestamp[:8] for d in days if d.revisit]
    wall_day = next(d.timestamp[:8] for d in days if d.bot_wall)
    print(f"history: {args.captures} daily captures of {URL} from {START}, seed {args.seed}; "
          f"{len(revisits)} revisits (same bytes as the day before: {', '.join(revisits)}), bot wall on {wall_day}")
    print(f"ground truth: {len(truth.entries)} timeline entries")
    for n, (at, what, state) in enumerate(truth.labels):
        lasted = truth.segment_heads[next(i for i, d in enumerate(days) if d.captured_at == at)]
        edits = len(state.split("+")) if state != "original" else 0
        print(f"  {n + 1:2}. {at}  {what:<44} in effect {lasted:3} captures, "
              f"{edits} edit{'' if edits == 1 else 's'} in the text")

    plan = [("all", "all", args.probe_every), (f"changes/{args.probe_every}", "changes", args.probe_every),
            (f"changes/{args.probe_every // 2}", "changes", args.probe_every // 2),
            (f"changes/{args.probe_every * 2}", "changes", args.probe_every * 2)]
    runs = []
    with tempfile.TemporaryDirectory(prefix="pw-backfill-bench-") as tmpdir:
        tmp = Path(tmpdir)
        build_started = time.perf_counter()
        with PywbArchive(tmp / "pywb", archive_captures(days)) as archive:
            print(f"pywb: WARC written, indexed and serving in {time.perf_counter() - build_started:.1f} s")
            # Untimed warm-up, uncounted (straight to pywb): its first CDX query and replay load caches.
            archive.cdx_lines(URL)
            archive.get(f"/{archive.default_coll}/{days[0].timestamp}id_/{URL}")
            for name, strategy, probe_every in plan:
                runs.append(run(archive, tmp, name, strategy, probe_every))

    checks: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append((name, ok, detail))

    by_name = {r["name"]: r for r in runs}
    everything, main_run = by_name["all"], by_name[f"changes/{args.probe_every}"]
    for r in runs:
        check(f"{r['name']}: outcome ok", r["outcome"] == "ok", r["message"] or "")
        check(f"{r['name']}: proxy counts = client counts",
              (r["proxy"]["cdx"], r["proxy"]["replay"]) == (r["client"].get("cdx", 0), r["client"].get("replay", 0)),
              f"proxy {r['proxy']}, client {r['client']}")
    check("all: listed every capture, dropped the revisits",
          (everything["listed"], everything["distinct"]) == (args.captures, args.captures - len(revisits)),
          f"listed {everything['listed']}, distinct {everything['distinct']}")
    check("all: skipped the bot wall (only)", everything["skipped"] == 1, f"skipped {everything['skipped']}")
    # Strict for `all`, and for `changes` when every text lasted probe-every captures (the default history
    # with --probe-every 9 or less); otherwise only the guarantee holds.
    shortest = min(truth.segment_heads[n] for n, sha in enumerate(truth.day_sha) if sha)
    for r in runs:
        if r is everything or (r is main_run and shortest >= r["probe_every"]):
            missing = [e for e in truth.entries if e not in r["timeline"]]
            extra = [e for e in r["timeline"] if e not in truth.entries]
            check(f"{r['name']}: timeline = ground truth ({len(truth.entries)} entries, right capture each)",
                  r["timeline"] == truth.entries,
                  f"missing {[at for at, _ in missing]}, unexpected {[at for at, _ in extra]}"
                  if missing or extra else "")
        elif r["strategy"] == "changes":
            problems = guarantee_holds(r["timeline"], truth, days, r["probe_every"])
            check(f"{r['name']}: every text lasting ≥ {r['probe_every']} captures found and pinned",
                  not problems, "; ".join(problems[:3]))
        r["found"] = sum(e in r["timeline"] for e in truth.entries)
    ratio = everything["proxy"]["replay"] / max(main_run["proxy"]["replay"], 1)
    check(f"replays all / changes/{args.probe_every} ≥ {GOAL_RATIO:g}×", ratio >= GOAL_RATIO, f"{ratio:.1f}×")

    for r in runs:
        r["model"] = model_replays(r, everything["distinct"])
    print()
    header = (f"{'strategy':<12} {'replay':>6} {'cdx':>4} {'client':>7} {'wall s':>7} {'ms/replay':>9} "
              f"{'at 20/min':>9} {'versions':>8} {'entries':>7} {'found':>7} {'model':>6}")
    print(header)
    print("-" * len(header))
    for r in runs:
        client = f"{r['client'].get('cdx', 0)}+{r['client'].get('replay', 0)}"
        per = r["wall_s"] * 1000 / max(r["proxy"]["replay"], 1)
        polite = (r["proxy"]["cdx"] + r["proxy"]["replay"]) / DEFAULT_RATE
        found = f"{r['found']}/{len(truth.entries)}"
        print(f"{r['name']:<12} {r['proxy']['replay']:>6} {r['proxy']['cdx']:>4} {client:>7} {r['wall_s']:>7.2f} "
              f"{per:>9.1f} {polite:>5.1f} min {r['versions']:>8} {len(r['timeline']):>7} {found:>7} {r['model']:>6}")
    print(f"\nfetches all / changes/{args.probe_every}: {ratio:.1f}× fewer replays "
          f"(goal ≥ {GOAL_RATIO:g}×) {'ok' if ratio >= GOAL_RATIO else 'MISSED'}; "
          f"wall time {everything['wall_s'] / max(main_run['wall_s'], 1e-9):.1f}× shorter")
    print("replay, cdx: requests that reached pywb (counted by the proxy); client: cdx+replay in "
          "BackfillResult.requests;\nat 20/min: what the requests take at the default --rate; found: ground-truth "
          "timeline entries found at the right capture;\nmodel: replays the design implies — changes/p: "
          "⌈(distinct − 1)/p⌉ + 1 grid looks, plus ⌈log2 p⌉ per change found\n")
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""))

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "schema": "policywatch.bench.backfill_perf/1", "captures": args.captures, "seed": args.seed,
            "probe_every": args.probe_every, "git": git_commit(),
            "events": [e.__dict__ for e in events], "revisit_days": revisits, "bot_wall_day": wall_day,
            "truth": [{"captured_at": at, "text_sha256": sha, "what": what, "state": state}
                      for (at, sha), (_, what, state) in zip(truth.entries, truth.labels, strict=True)],
            "runs": [{**r, "timeline": [{"captured_at": at, "text_sha256": sha} for at, sha in r["timeline"]]}
                     for r in runs],
            "ratio": ratio, "goal_ratio": GOAL_RATIO,
            "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]}, indent=2) + "\n")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
