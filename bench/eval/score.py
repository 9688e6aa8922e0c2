#!/usr/bin/env python3
"""Score `policywatch diff-files OLD NEW --format json` on the cases written by generate.py.

    .venv/bin/python bench/eval/score.py                          # bench/out/eval-cases, 2 jobs
    .venv/bin/python bench/eval/score.py --jobs 1 --json bench/out/eval-results.json
    .venv/bin/python bench/eval/score.py --limit 100 --worst 8

Each case's two files are copied into a fresh temporary folder as old.<ext> and new.<ext>, so the tool
sees neither the label nor the case name, and the command runs with a per-case timeout. A run that
crashes, times out or prints something that is not the diff JSON counts as a wrong verdict (a false alarm
on noise, a miss on a material change) and is listed separately. The exit status is 0 whatever the figures,
2 when there are no cases.
"""

from __future__ import annotations

import argparse
import concurrent.futures as futures
import io
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_CASES = os.path.join(ROOT, "bench", "out", "eval-cases")
VENV_CMD = os.path.join(ROOT, ".venv", "bin", "policywatch")
VOCABULARY = {"data_collected", "purposes", "sharing", "choices", "user_rights", "retention", "security",
              "international_transfers", "children", "tracking", "policy_changes", "controller_contact"}
GOALS = {"false_alarm": ("<=", 0.02), "precision": (">=", 0.90), "recall": (">=", 0.90),
         "category": (">=", 0.85)}

# ----------------------------------------------------------------------------------------- running


def find_cases(root: str) -> list[dict]:
    cases = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        label_path = os.path.join(folder, "label.json")
        if not os.path.isfile(label_path):
            continue
        with open(label_path, encoding="utf-8") as fh:
            label = json.load(fh)
        files = os.listdir(folder)
        old = next((f for f in files if f.startswith("old.")), None)
        new = next((f for f in files if f.startswith("new.")), None)
        if old and new:
            cases.append({"label": label, "old": os.path.join(folder, old), "new": os.path.join(folder, new)})
    return cases


def run_one(case: dict, cmd: list[str], timeout: float) -> dict:
    tmp = tempfile.mkdtemp(prefix="pw-eval-")
    result = {"outcome": "ok", "rc": None, "seconds": None, "out": None, "stderr": ""}
    try:
        old = os.path.join(tmp, "old" + os.path.splitext(case["old"])[1])
        new = os.path.join(tmp, "new" + os.path.splitext(case["new"])[1])
        shutil.copyfile(case["old"], old)
        shutil.copyfile(case["new"], new)
        env = dict(os.environ, POLICYWATCH_DB=os.path.join(tmp, "pw.db"), NO_COLOR="1")
        start = time.monotonic()
        try:
            proc = subprocess.Popen(cmd + ["diff-files", old, new, "--format", "json"], cwd=tmp, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
        except OSError as exc:
            result.update(outcome="crash", stderr=str(exc))
            return result
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            result.update(outcome="timeout", seconds=time.monotonic() - start)
            return result
        result["seconds"] = time.monotonic() - start
        result["rc"] = proc.returncode
        result["stderr"] = stderr.decode("utf-8", "replace")[-600:]
        try:
            out = json.loads(stdout.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            out = None
        problem = contract_problem(out)
        if problem:
            result["outcome"] = "crash" if proc.returncode not in (0, 1) else "invalid_json"
            result["stderr"] = (problem + "; " + result["stderr"])[-600:]
            return result
        result["out"] = out
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def contract_problem(out) -> str | None:
    """The minimum of the policywatch.diff/1 contract this scorer relies on."""
    if not isinstance(out, dict):
        return "no JSON object on stdout"
    if out.get("schema") != "policywatch.diff/1":
        return "schema is not policywatch.diff/1"
    if not isinstance(out.get("material"), bool):
        return "material is not a boolean"
    if out.get("severity") not in ("none", "low", "medium", "high"):
        return "bad severity"
    cats = out.get("categories")
    if not isinstance(cats, list) or not set(cats) <= VOCABULARY:
        return "categories missing or outside the vocabulary"
    if not isinstance(out.get("sections"), list) or not all(isinstance(s, dict) for s in out["sections"]):
        return "sections is not a list of objects"
    return None


# ----------------------------------------------------------------------------------------- judging

_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")


def heading_key(h) -> str:
    if not isinstance(h, str):
        return ""
    h = _INVISIBLE.sub("", unicodedata.normalize("NFKC", h)).lower()
    h = re.sub(r"^\s*\d+(\.\d+)*\.?\s*", "", h)
    return " ".join(re.findall(r"[a-z0-9]+", h))


def same_heading(a, b) -> bool:
    a, b = heading_key(a), heading_key(b)
    return bool(a and b) and (a == b or a in b or b in a)


def judge(case: dict, res: dict) -> dict:
    lab = case["label"]
    out = res["out"] or {}
    ok = res["outcome"] == "ok"
    sections = out.get("sections", []) if ok else []
    changed = [s for s in sections if s.get("status") != "unchanged"]
    cats = out.get("categories", []) if ok else []
    row = {
        "case_id": lab["case_id"], "edit": lab["edit"], "phrasing_id": lab.get("phrasing_id"),
        "template": lab["template"], "company": lab.get("company"), "label": lab,
        "kind": "material" if lab["material"] else "noise", "outcome": res["outcome"], "rc": res["rc"],
        "seconds": res["seconds"], "stderr": res["stderr"] if not ok else "",
        "material": out.get("material") if ok else None, "severity": out.get("severity"), "categories": cats,
        "summary": out.get("summary"),
        "changed_sections": [{k: s.get(k) for k in ("status", "old_heading", "new_heading", "severity", "kinds",
                                                      "categories", "direction", "signals", "edits")}
                             for s in changed][:12],
    }
    row["correct"] = ok and out["material"] == lab["material"]
    if lab["material"]:
        if lab.get("category"):
            row["category_hit"] = ok and lab["category"] in cats
            row["category_hit_3"] = row["category_hit"] and len(cats) <= 3
        if lab.get("direction"):
            row["direction_hit"] = ok and any(s.get("direction") == lab["direction"] for s in changed)
    status = lab.get("expect_status")
    head = lab.get("section_heading")
    if status in ("moved", "renamed"):
        found = [s for s in sections if s.get("status") == status]
        row["status_hit"] = ok and bool(found) and out["material"] is False
        row["status_hit_heading"] = row["status_hit"] and any(
            same_heading(s.get("old_heading"), head) or same_heading(s.get("new_heading"), head) for s in found)
    elif status in ("added", "removed"):
        found = [s for s in sections if s.get("status") == status]
        side = "new_heading" if status == "added" else "old_heading"
        row["status_hit"] = ok and bool(found)
        row["status_hit_heading"] = row["status_hit"] and any(same_heading(s.get(side), head) for s in found)
    elif status == "modified" and head:
        row["localized"] = ok and any(
            s.get("severity") in ("medium", "high")
            and (same_heading(s.get("old_heading"), head) or same_heading(s.get("new_heading"), head))
            for s in changed)
    return row


# ----------------------------------------------------------------------------------------- figures


def share(rows: list[dict], key: str):
    vals = [r[key] for r in rows if key in r]
    return (sum(1 for v in vals if v) / len(vals), len(vals)) if vals else (None, 0)


def figures(rows: list[dict]) -> dict:
    noise = [r for r in rows if r["kind"] == "noise"]
    material = [r for r in rows if r["kind"] == "material"]
    false_alarms = sum(1 for r in noise if not r["correct"])
    hits = sum(1 for r in material if r["correct"])
    precision = hits / (hits + false_alarms) if hits + false_alarms else None
    recall = hits / len(material) if material else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if material else None)
    secs = [r["seconds"] for r in rows if r["seconds"] is not None]
    fig = {
        "n": len(rows), "noise": len(noise), "material_cases": len(material),
        "false_alarm": false_alarms / len(noise) if noise else None, "false_alarms": false_alarms,
        "precision": precision, "recall": recall, "f1": f1, "misses": len(material) - hits,
        "category": share(rows, "category_hit")[0], "category_3": share(rows, "category_hit_3")[0],
        "direction": share(rows, "direction_hit")[0],
        "localized": share(rows, "localized")[0],
        "crash": sum(1 for r in rows if r["outcome"] == "crash"),
        "timeout": sum(1 for r in rows if r["outcome"] == "timeout"),
        "invalid_json": sum(1 for r in rows if r["outcome"] == "invalid_json"),
        "median_s": statistics.median(secs) if secs else None, "max_s": max(secs) if secs else None,
        "mean_categories_material": (sum(len(r["categories"]) for r in material) / len(material)) if material
        else None,
    }
    for status_set, name in (({"moved", "renamed"}, "moved_renamed"), ({"added", "removed"}, "added_removed")):
        sel = [r for r in rows if r["label"].get("expect_status") in status_set]
        fig[name] = share(sel, "status_hit")[0]
        fig[name + "_heading"] = share(sel, "status_hit_heading")[0]
        fig[name + "_n"] = len(sel)
        for st in status_set:
            one = [r for r in sel if r["label"]["expect_status"] == st]
            fig[st] = share(one, "status_hit")[0]
    return fig


def pct(x) -> str:
    return "    -" if x is None else f"{100 * x:5.1f}"


def goal_text(name: str, value) -> str:
    if name not in GOALS or value is None:
        return ""
    op, target = GOALS[name]
    met = value <= target if op == "<=" else value >= target
    return f"goal {op} {100 * target:.0f} %  {'met' if met else 'NOT MET'}"


def is_error(r: dict) -> bool:
    return (not r["correct"]) or (r.get("category_hit") is False)


def short(text, n: int = 220) -> str:
    if text is None:
        return "-"
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def print_report(rows: list[dict], args, write) -> dict:
    fig = figures(rows)
    write(f"policywatch held-out evaluation: {args.cases}")
    write(f"{fig['n']} cases ({fig['noise']} noise, {fig['material_cases']} material); command: {' '.join(args.cmd)}; "
          f"jobs {args.jobs}, timeout {args.timeout:g} s")
    write(f"measured: {measured_code(args)}")
    write("")
    write("overall                                    value   n/notes")
    lines = [
        ("noise false-alarm rate", fig["false_alarm"], "false_alarm",
         f"{fig['false_alarms']} of {fig['noise']} noise cases judged material"),
        ("material precision", fig["precision"], "precision", ""),
        ("material recall", fig["recall"], "recall", f"{fig['misses']} of {fig['material_cases']} material missed"),
        ("F1", fig["f1"], None, ""),
        ("category accuracy", fig["category"], "category", "labelled category among reported categories"),
        ("category accuracy, <= 3 categories", fig["category_3"], None, ""),
        ("direction accuracy", fig["direction"], None, "a changed section carries the labelled direction"),
        ("localisation", fig["localized"], None, "the edited section itself is medium/high"),
        ("moved/renamed detection", fig["moved_renamed"], None,
         f"status found and material=false (n={fig['moved_renamed_n']}); moved {pct(fig.get('moved'))} %, "
         f"renamed {pct(fig.get('renamed'))} %"),
        ("  ... with the right heading", fig["moved_renamed_heading"], None, ""),
        ("added/removed section detection", fig["added_removed"], None,
         f"status found (n={fig['added_removed_n']}); added {pct(fig.get('added'))} %, "
         f"removed {pct(fig.get('removed'))} %"),
        ("  ... with the right heading", fig["added_removed_heading"], None, ""),
    ]
    for name, value, goal, note in lines:
        g = goal_text(goal, value) if goal else ""
        write(f"  {name:<38} {pct(value)} %  {g:<24} {note}".rstrip())
    mc = fig["mean_categories_material"]
    write(f"  {'categories reported per material case':<38} {mc:6.2f}" if mc is not None else "")
    write(f"  {'crashes / timeouts / invalid JSON':<38} {fig['crash']} / {fig['timeout']} / {fig['invalid_json']}")
    if fig["median_s"] is not None:
        write(f"  {'seconds per case':<38} median {fig['median_s']:.2f}, max {fig['max_s']:.2f}")

    # per edit kind
    by_edit = defaultdict(list)
    for r in rows:
        by_edit[r["edit"]].append(r)
    order = sorted(by_edit, key=lambda k: (by_edit[k][0]["kind"] == "material", k))
    write("")
    write("per edit kind                  kind        n  flagged%  correct%  category%  direction%  status%  fails")
    for k in order:
        rs = by_edit[k]
        flagged = sum(1 for r in rs if r["material"]) / len(rs)
        correct = sum(1 for r in rs if r["correct"]) / len(rs)
        st = share(rs, "status_hit")[0]
        fails = sum(1 for r in rs if r["outcome"] != "ok")
        write(f"  {k:<28} {rs[0]['kind']:<9} {len(rs):>4}   {pct(flagged)}     {pct(correct)}      "
              f"{pct(share(rs, 'category_hit')[0])}       {pct(share(rs, 'direction_hit')[0])}    {pct(st)}  "
              f"{fails:>5}")

    # per template
    by_tpl = defaultdict(list)
    for r in rows:
        by_tpl[r["template"]].append(r)
    write("")
    write("per template          n  false-alarm%  recall%  category%  direction%  fails")
    for t in sorted(by_tpl):
        f = figures(by_tpl[t])
        fails = f["crash"] + f["timeout"] + f["invalid_json"]
        write(f"  {t:<16} {f['n']:>5}      {pct(f['false_alarm'])}    {pct(f['recall'])}     {pct(f['category'])}"
              f"       {pct(f['direction'])}  {fails:>5}")

    # per phrasing of material edits: recall and category
    by_ph = defaultdict(list)
    for r in rows:
        if r["kind"] == "material":
            by_ph[(r["edit"].rsplit("_", 1)[0] if not r["edit"].startswith("section") else r["edit"],
                   r["phrasing_id"])].append(r)
    if args.phrasings:
        write("")
        write("per phrasing (material)                          n  recall%  category%")
        for (fam, ph), rs in sorted(by_ph.items()):
            rec = sum(1 for r in rs if r["correct"]) / len(rs)
            write(f"  {fam + ' / ' + str(ph):<46} {len(rs):>3}   {pct(rec)}     {pct(share(rs, 'category_hit')[0])}")

    # worst edit kinds, with two failing examples each
    ranked = sorted(((sum(1 for r in rs if is_error(r)) / len(rs), k) for k, rs in by_edit.items()), reverse=True)
    ranked = [(rate, k) for rate, k in ranked if rate > 0][: args.worst]
    if ranked:
        write("")
        write(f"worst edit kinds (share of cases with a wrong verdict or a missed category), {len(ranked)} shown")
        for rate, k in ranked:
            rs = by_edit[k]
            bad = [r for r in rs if is_error(r)]
            write(f"- {k}: {100 * rate:.0f} % of {len(rs)} ({sum(1 for r in bad if not r['correct'])} wrong verdicts,"
                  f" {sum(1 for r in bad if r['correct'])} category misses)")
            picked, seen = [], set()
            for r in bad:  # prefer examples with different phrasings
                if r["phrasing_id"] not in seen:
                    picked.append(r)
                    seen.add(r["phrasing_id"])
                if len(picked) == 2:
                    break
            for r in picked:
                lab = r["label"]
                write(f"    {r['case_id']}  [{r['template']}, phrasing {r['phrasing_id']}]  {lab['description']}")
                if lab["material"]:
                    write(f"      label: {lab['category']} / {lab['direction']}; old: {short(lab['evidence']['old'])}")
                    write(f"                            new: {short(lab['evidence']['new'])}")
                if r["outcome"] != "ok":
                    write(f"      policywatch: {r['outcome']} rc={r['rc']} {short(r['stderr'], 160)}")
                    continue
                write(f"      policywatch: material={r['material']} severity={r['severity']} "
                      f"categories={r['categories']}")
                write(f"      summary: {short(r['summary'])}")
                for s in r["changed_sections"][:3]:
                    if s.get("severity") in ("none", None) and lab["material"] is False:
                        continue
                    ev = s.get("edits") or []
                    first = ev[0] if ev else {}
                    write(f"      section {s.get('status')} {short(s.get('new_heading') or s.get('old_heading'), 50)!r}"
                          f" severity={s.get('severity')} kinds={s.get('kinds')} dir={s.get('direction')}"
                          f" rules={[g.get('rule') for g in (s.get('signals') or [])][:4]}")
                    if first:
                        write(f"        edit {first.get('op')}: {short(first.get('old'), 100)!r} -> "
                              f"{short(first.get('new'), 100)!r}")
    write("")
    vals = " ".join(f"{k}={fig[k] or 0:.3f}" for k in ("f1", "false_alarm", "precision", "recall", "category",
                                                          "direction"))
    write(f"eval: {vals} failures={fig['crash'] + fig['timeout'] + fig['invalid_json']} (n={fig['n']})")
    return fig


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, check=True).stdout.strip()


def extract_rev(rev: str) -> tuple[str, str]:
    """Unpack policywatch/ as of a git revision into a temporary folder; returns (folder, full sha)."""
    sha = git("rev-parse", "--verify", rev + "^{commit}")
    data = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", sha, "policywatch"], capture_output=True,
                          check=True).stdout
    folder = tempfile.mkdtemp(prefix="pw-eval-src-")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    return folder, sha


def measured_code(args) -> str:
    try:
        if args.rev_sha:
            return f"policywatch at {args.rev_sha[:10]} ({args.rev}), unpacked from git"
        head = git("rev-parse", "--short=10", "HEAD")
        dirty = [line[3:] for line in git("status", "--porcelain", "--", "policywatch").splitlines()]
        return f"working tree at {head}" + (f", modified: {', '.join(dirty)}" if dirty else ", clean")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=DEFAULT_CASES, help="folder of cases (default bench/out/eval-cases)")
    ap.add_argument("--cmd", default=None,
                    help="command to run (default: .venv/bin/policywatch if present, else policywatch)")
    ap.add_argument("--jobs", type=int, default=2, help="cases run in parallel (default 2)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N cases")
    ap.add_argument("--only", default="", help="regular expression on the case id")
    ap.add_argument("--worst", type=int, default=6, help="how many of the worst edit kinds to list (default 6)")
    ap.add_argument("--phrasings", action="store_true", help="also print recall per phrasing of material edits")
    ap.add_argument("--rev", help="measure policywatch as committed at this git revision (e.g. HEAD) instead of "
                    "the working tree: its policywatch/ folder is unpacked to a temporary folder and run with the "
                    "virtualenv's python -m policywatch")
    ap.add_argument("--json", metavar="OUT", help="write the figures and the per-case results to OUT")
    args = ap.parse_args(argv)
    args.rev_sha = None
    src = None
    if args.rev:
        src, args.rev_sha = extract_rev(args.rev)
        os.environ["PYTHONPATH"] = src + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH")
                                          else "")
        python = os.path.join(ROOT, ".venv", "bin", "python")
        args.cmd = [python if os.access(python, os.X_OK) else sys.executable, "-m", "policywatch"]
        check = subprocess.run(args.cmd[:1] + ["-c", "import policywatch; print(policywatch.__file__)"],
                               capture_output=True, text=True, cwd=src)  # not cwd: it may hold policywatch/
        if not check.stdout.startswith(src):
            print(f"score: --rev: policywatch is not imported from {src}: {check.stdout or check.stderr}",
                  file=sys.stderr)
            return 2
    elif args.cmd:
        args.cmd = shlex.split(args.cmd)
    else:
        args.cmd = [VENV_CMD if os.access(VENV_CMD, os.X_OK) else "policywatch"]
    try:
        return run(args)
    finally:
        if src:
            shutil.rmtree(src, ignore_errors=True)


def run(args) -> int:

    if not os.path.isdir(args.cases):
        print(f"score: no cases folder {args.cases}; run bench/eval/generate.py first", file=sys.stderr)
        return 2
    cases = find_cases(args.cases)
    if args.only:
        cases = [c for c in cases if re.search(args.only, c["label"]["case_id"])]
    if args.limit:
        cases = cases[: args.limit]
    if not cases:
        print(f"score: no cases in {args.cases}", file=sys.stderr)
        return 2
    if shutil.which(args.cmd[0]) is None:
        print(f"score: command not found: {args.cmd[0]}", file=sys.stderr)
        return 2

    rows = [None] * len(cases)
    started = time.monotonic()
    with futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        jobs = {pool.submit(run_one, c, args.cmd, args.timeout): i for i, c in enumerate(cases)}
        for done, fut in enumerate(futures.as_completed(jobs), 1):
            i = jobs[fut]
            rows[i] = judge(cases[i], fut.result())
            if sys.stderr.isatty() and (done % 10 == 0 or done == len(cases)):
                print(f"\rscore: {done}/{len(cases)} cases, {time.monotonic() - started:.0f} s", end="",
                      file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    fig = print_report(rows, args, print)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"figures": fig, "cases": rows}, fh, indent=1, ensure_ascii=False)
        print(f"per-case results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
