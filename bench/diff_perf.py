"""Time normalize + diff + judge: realistic 100 KB policy pairs, and hostile inputs up to 1 MB.

    python bench/diff_perf.py            # figures, and the goals beside them
    python bench/diff_perf.py --pairs 40 --json bench/out/diff_perf.json

Goals: a 100 KB pair with a handful of edits, normalize + facts + diff + judge, median ≤ 50 ms;
any pair up to 1 MB, unrelated documents included, ≤ 2 s. CPU time of this process is measured
(time.process_time), so a busy machine slows the figures less than wall time would.

Two figures for the 100 KB pair:
- *in a check*: what ``check`` spends on a new version of a watched policy — normalize the new
  page, read both texts back from the store, diff, judge, store the facts. The sentences of the
  version before it were analysed when that version was judged, and the store remembers them
  (``sentence_analyses``), so only the new sentences are read. This is the figure the goal is for.
- *cold*: both pages normalized and every sentence analysed from nothing, in a fresh process —
  the first change a new database ever judges, and ``diff-files``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from check_cycle import PageWriter  # noqa: E402  (the benchmark's realistic page generator)

from policywatch.judge import compare  # noqa: E402
from policywatch.normalize import NORMALIZER_VERSION, normalize_text  # noqa: E402
from policywatch.store import Store  # noqa: E402
from policywatch.timeline import judge_change, version_facts  # noqa: E402

EDITS = [
    ("We collect", "We may collect and combine"),
    ("days", "years"),
    ("do not", "may"),
    ("your consent", "our legitimate interests"),
    ("service providers", "advertising partners"),
    ("delete", "retain"),
    ("securely", "as we see fit"),
]


def edited(html: str, rng: random.Random, count: int) -> str:
    """A handful of word-level edits at random places of the policy text."""
    for _ in range(count):
        find, replace = rng.choice(EDITS)
        positions = [i for i in range(len(html)) if html.startswith(find, i)]
        if not positions:
            continue
        at = rng.choice(positions)
        html = html[:at] + replace + html[at + len(find):]
    return html


def forget() -> None:
    """Drop every in-process cache of texts, as a new process would start (the lexicons stay loaded)."""
    from policywatch.judge.judgement import forget_texts

    forget_texts()


def timed_in_check(store: Store, index: int, old: str, new: str) -> float:
    """normalize the new page + judge_change against the stored old one (its sentences known)."""
    old_text = normalize_text(old)
    store.ensure_policy(f"p{index}", f"Policy {index}", f"https://p{index}.example/privacy")
    stored = store.add_version(f"p{index}", text=old_text.markdown, text_sha256=old_text.document.sha256, words=0,
                               language="en", title=None, captured_at="2026-01-01T00:00:00Z", source="live",
                               snapshot_sha256=None, normalizer=NORMALIZER_VERSION)
    version_facts(store, stored)  # done when the old version was judged
    forget()
    started = time.process_time()
    new_text = normalize_text(new)
    version = store.add_version(f"p{index}", text=new_text.markdown, text_sha256=new_text.document.sha256, words=0,
                                language="en", title=None, captured_at="2026-01-02T00:00:00Z", source="live",
                                snapshot_sha256=None, normalizer=NORMALIZER_VERSION)
    judge_change(store, f"p{index}", stored["id"], version)
    return time.process_time() - started


def timed(old: str, new: str) -> tuple[float, str]:
    forget()
    started = time.process_time()
    a = normalize_text(old).document
    b = normalize_text(new).document
    _, verdict = compare(a, b)
    return time.process_time() - started, verdict.severity


def hostile_inputs(rng: random.Random) -> dict[str, tuple[str, str]]:
    words = ["data", "share", "partners", "retain", "consent", "cookies", "rights", "transfer", "children",
             "security", "policy", "notice", "collect", "purposes", "advertising", "delete", "years", "days"]

    def prose(n_words: int, seed: str) -> str:
        r = random.Random(seed)
        out = []
        for k in range(n_words):
            out.append(r.choice(words) + (". " if k % 17 == 16 else " "))
        return "".join(out)

    mb = 1_000_000
    page_a = PageWriter(7, 1, mb).render({}, 100).decode()
    page_b = PageWriter(8, 2, mb).render({}, 200).decode()
    paragraphs = [prose(120, f"p{k}") for k in range(1100)]
    headings = "".join(f"<h3>Heading {k}</h3><p>{prose(12, f'h{k}')}</p>" for k in range(9000))
    return {
        "unrelated 1 MB pages": (page_a, page_b),
        "1 MB page vs every paragraph edited": (
            page_a, edited(page_a, rng, 0).replace(" the ", " a ").replace(" and ", " or ")),
        "1 MB, no headings, paragraphs shuffled": (
            "<html><body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>",
            "<html><body>" + "".join(f"<p>{p}</p>" for p in rng.sample(paragraphs, len(paragraphs)))
            + "</body></html>"),
        "one 1 MB paragraph vs another": (
            f"<p>{prose(150_000, 'one')}</p>", f"<p>{prose(150_000, 'two')}</p>"),
        "9,000 tiny sections vs 9,000 others": (
            f"<html><body>{headings}</body></html>",
            f"<html><body>{headings.replace('Heading', 'Title')}</body></html>"),
        "1 MB text vs empty": (page_a, "<html><body></body></html>"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=30, help="realistic 100 KB pairs to time (default 30)")
    parser.add_argument("--edits", type=int, default=5, help="edits per pair (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="time the realistic pairs this many times (a fresh store each): the median of the "
                             "runs' medians is the figure, their range is printed beside it")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    pairs = []
    for index in range(args.pairs):
        old = PageWriter(args.seed, index, 100_000).render({}, 10).decode()
        pairs.append((old, edited(old, rng, args.edits)))
    sizes = [len(old.encode()) for old, _ in pairs]
    run_medians, run_cold = [], []
    for _ in range(max(1, args.repeat)):
        times, cold = [], []
        with tempfile.TemporaryDirectory() as scratch, Store.open(Path(scratch) / "bench.db") as store:
            for index, (old, new) in enumerate(pairs):
                times.append(timed_in_check(store, index, old, new))
                cold.append(timed(old, new)[0])
        run_medians.append(statistics.median(times) * 1000)
        run_cold.append(statistics.median(cold) * 1000)
    median_ms = statistics.median(run_medians)
    cold_ms = statistics.median(run_cold)

    def spread(values: list[float]) -> str:
        return f"p90 {sorted(values)[int(len(values) * 0.9)] * 1000:.1f} ms, max {max(values) * 1000:.1f} ms"

    print(f"realistic pairs: {args.pairs} × ~{statistics.mean(sizes) / 1000:.0f} KB with {args.edits} edits each")
    runs = f" (runs' medians {min(run_medians):.1f}–{max(run_medians):.1f} ms)" if len(run_medians) > 1 else ""
    print(f"  in a check (normalize new + facts + diff + judge + store): median {median_ms:.1f} ms{runs}, "
          f"last run {spread(times)} (goal: median ≤ 50 ms) {'ok' if median_ms <= 50 else 'MISSED'}")
    print(f"  cold (normalize both, every sentence analysed): median {cold_ms:.1f} ms, last run {spread(cold)}")

    hostile = {}
    print("hostile pairs (goal: each ≤ 2 s):")
    for name, (old, new) in hostile_inputs(rng).items():
        seconds, severity = timed(old, new)
        hostile[name] = {"seconds": seconds, "old_bytes": len(old.encode()), "new_bytes": len(new.encode()),
                         "severity": severity}
        print(f"  {name:<42} {len(old.encode()) / 1e6:5.2f} MB / {len(new.encode()) / 1e6:5.2f} MB  "
              f"{seconds:6.2f} s  {'ok' if seconds <= 2 else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"schema": "policywatch.bench.diff_perf/1", "median_ms": median_ms,
                                         "run_median_ms": run_medians,
                                         "pair_ms": [t * 1000 for t in times], "cold_median_ms": cold_ms,
                                         "cold_pair_ms": [t * 1000 for t in cold], "hostile": hostile}, indent=2))
    worst = max(h["seconds"] for h in hostile.values())
    return 0 if median_ms <= 50 and worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
