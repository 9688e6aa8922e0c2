"""Time ``publish``: a site of many policies with many versions, then re-publishes.

    python bench/publish_perf.py                       # 1,000 policies × 10 versions (the setup is cached)
    python bench/publish_perf.py --policies 100        # a quick try
    python bench/publish_perf.py --json bench/out/publish_perf.json

The database is built once per (policies, versions, page size, seed) in ``bench/out``: realistic
policy pages (``check_cycle.PageWriter``), each version a few word edits on the one before it,
every change judged as ``check`` judges it. Then, timed (wall clock and CPU of this process):

1. the first publish into an empty folder (every page, every diff page, every feed);
2. a re-publish with nothing new (what it rewrites: nothing);
3. a re-publish after one more version of one policy (what it rewrites, by kind).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from check_cycle import PageWriter  # noqa: E402
from diff_perf import edited  # noqa: E402

from policywatch.normalize import NORMALIZER_VERSION, normalize_text  # noqa: E402
from policywatch.publish import publish  # noqa: E402
from policywatch.store import Store  # noqa: E402
from policywatch.timeline import judge_change  # noqa: E402


def add_version(store: Store, policy_id: str, html: str, day: int, previous: dict | None) -> dict:
    text = normalize_text(html)
    version = store.find_version(policy_id, text.document.sha256)
    captured = (date(2024, 1, 1) + timedelta(days=day)).isoformat() + "T06:00:00Z"
    if version is None:
        version = store.add_version(policy_id, text=text.markdown, text_sha256=text.document.sha256,
                                    words=text.document.word_count, language="en", title=None, captured_at=captured,
                                    source="live", snapshot_sha256=None, normalizer=NORMALIZER_VERSION)
    columns = judge_change(store, policy_id, previous["id"], version).columns if previous else {}
    store.add_change(policy_id=policy_id, version_id=version["id"],
                     previous_version_id=previous["id"] if previous else None, captured_at=captured, source="live",
                     **columns)
    store.update_policy(policy_id, current_version_id=version["id"], last_checked_at=captured, last_outcome="changed")
    return version


def build(path: Path, policies: int, versions: int, page_kb: int, seed: int) -> float:
    started = time.perf_counter()
    rng = random.Random(seed)
    with Store.open(path) as store:
        for index in range(policies):
            policy_id = f"p{index:05d}"
            store.ensure_policy(policy_id, f"Vendor {index} Privacy Policy", f"https://p{index}.example/privacy")
            html = PageWriter(seed, index, page_kb * 1000).render({}, 1).decode()
            previous = None
            with store.transaction():
                for number in range(versions):
                    if number:
                        html = edited(html, rng, 3)
                    previous = add_version(store, policy_id, html, number * 30 + index % 30, previous)
            if (index + 1) % 100 == 0:
                print(f"  built {index + 1} policies ({time.perf_counter() - started:.0f} s)", flush=True)
    return time.perf_counter() - started


def timed(store: Store, out: Path, ids: list[str]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = publish(store, out, ids, tags={i: ["saas" if int(i[1:]) % 2 else "eu"] for i in ids})
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--page-kb", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    db = out_dir / f"publish-{args.policies}x{args.versions}-{args.page_kb}kb-{args.seed}.db"
    if not db.exists():
        print(f"building {db.name} (once) …", flush=True)
        partial = db.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        seconds = build(partial, args.policies, args.versions, args.page_kb, args.seed)
        partial.rename(db)
        print(f"built in {seconds:.0f} s")
    work = out_dir / "publish-work.db"
    shutil.copy(db, work)
    site = out_dir / "publish-site"
    shutil.rmtree(site, ignore_errors=True)
    figures = {}
    with Store.open(work) as store:
        ids = sorted(store.policy_rows())
        wall, cpu, first = timed(store, site, ids)
        files = sum(1 for p in site.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        figures["first"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "files": files,
                            "diff_pages": first.diffs_rendered, "bytes": size}
        print(f"first publish: {wall:.1f} s wall, {cpu:.1f} s CPU; {files} files, {size / 1e6:.1f} MB, "
              f"{first.diffs_rendered} diff pages rendered")
        wall, cpu, again = timed(store, site, ids)
        figures["again"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "written": again.written,
                            "diff_pages": again.diffs_rendered}
        print(f"re-publish, nothing new: {wall:.1f} s wall; {len(again.written)} files written, "
              f"{again.diffs_rendered} diff pages rendered")
        policy_id = ids[len(ids) // 2]
        current = store.version_by_id(store.policy_rows()[policy_id]["current_version_id"])
        html = PageWriter(args.seed, int(policy_id[1:]), args.page_kb * 1000).render({}, 1).decode()
        add_version(store, policy_id, edited(html, random.Random(99), 5).replace("days", "years"), 400, current)
        wall, cpu, one = timed(store, site, ids)
        figures["one_change"] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "written": one.written,
                                 "diff_pages": one.diffs_rendered}
        print(f"re-publish after one change of {policy_id}: {wall:.1f} s wall; {len(one.written)} files written "
              f"({', '.join(one.written)}), {one.diffs_rendered} diff page rendered")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
