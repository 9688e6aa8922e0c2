"""The report stage (docs/architecture.md): what the store knows, for people (text, Markdown) and
programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policywatch.monitor import RunReport

OUTCOME_STYLE = {"new": "cyan", "changed": "bold yellow", "reverted": "magenta", "unchanged": "dim",
                 "suspect": "bold red", "failed": "bold red"}


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)


def plain_categories(categories: list[str]) -> str:
    """Categories as people read them ("Sharing & sale, Data collected"); snake_case stays in JSON."""
    from policywatch.judge import load_rules

    rules = load_rules()
    return ", ".join(rules.label(c) for c in categories)


def _categories(value: Any) -> list[str]:
    if not value:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def history_entries(timeline: Iterable[dict]) -> list[dict]:
    """History as ``policywatch.history/1`` (docs/json.md)."""
    return [{
        "version": row["version"],
        "captured_at": row["captured_at"],
        "source": row["source"],
        "text_sha256": row["text_sha256"],
        "severity": row["severity"],
        "material": None if row["material"] is None else bool(row["material"]),
        "categories": _categories(row["categories"]),
        "returns_to": row["returns_to"],
        "summary": row["summary"],
        "technical": bool(row["technical"]),
        "words": row["words"],
        "stated_date": row.get("stated_date"),
    } for row in timeline]


def history_text(policy_id: str, entries: list[dict]) -> str:
    if not entries:
        return f"{policy_id}: no versions stored yet"
    lines = [f"{policy_id}: {len(entries)} change(s) of the text in effect, oldest first"]
    for e in entries:
        when = e["captured_at"][:19].replace("T", " ")
        note = []
        if e["returns_to"]:
            note.append(f"returns to v{e['returns_to']} (flip-flop)")
        if e["technical"]:
            note.append("technical (re-normalized)")
        if e["severity"]:
            flag = "material" if e["material"] else "not material"
            cats = f": {plain_categories(e['categories'])}" if e["categories"] else ""
            note.append(f"{e['severity']}, {flag}{cats}")
        if e["summary"]:
            note.append(e["summary"])
        if e.get("stated_date"):
            note.append(f"states {e['stated_date']}")
        lines.append(f"  v{e['version']:<3} {when}  {e['source']:<7} {e['words']:>6} words  "
                     f"{e['text_sha256'][:12]}  {' · '.join(note)}".rstrip())
    return "\n".join(lines)


def version_json(policy: dict, version: dict) -> dict:
    from policywatch.document import Document

    document = Document.from_markdown(version["text"])
    return {
        "schema": "policywatch.version/1",
        "policy": {"id": policy["id"], "name": policy["name"], "url": policy["url"]},
        "version": version["number"], "captured_at": version["captured_at"], "source": version["source"],
        "text_sha256": version["text_sha256"], "words": version["words"], "language": version["language"],
        "stated_date": version.get("stated_date"),
        "title": version["title"],
        "sections": [{"heading": s.heading, "level": s.level, "path": list(s.path),
                      "blocks": [{"kind": b.kind, "text": b.text, "depth": b.depth} for b in s.blocks]}
                     for s in document.sections],
        "text": version["text"],
    }


def version_markdown(policy: dict, version: dict) -> str:
    header = (f"<!-- policywatch: {policy['id']} v{version['number']}, captured {version['captured_at']} "
              f"({version['source']}), sha256 {version['text_sha256']} -->\n")
    return header + f"<!-- {policy['url']} -->\n\n" + version["text"]


def version_text(policy: dict, version: dict) -> str:
    head = (f"{policy['name']} — version {version['number']} "
            f"(captured {version['captured_at'][:19].replace('T', ' ')}, {version['source']}, "
            f"{version['words']} words)\n{policy['url']}\n")
    return head + "\n" + version["text"]


def summary_lines(report: RunReport, quiet: bool, limit: int | None = None) -> list[str]:
    """One line per policy worth reading: never the unchanged ones.

    ``quiet`` (cron) also leaves out flip-flops back to an earlier text, which are not news;
    ``limit`` keeps a terminal summary to one screen.
    """
    skip = {"unchanged", "reverted"} if quiet else {"unchanged"}
    lines = []
    for r in report.results:
        if r.outcome in skip:
            continue
        if r.outcome in ("new",):
            detail = f"first version stored (v{r.version})"
        elif r.outcome == "changed":
            detail = f"new version v{r.version} (was v{r.previous_version})"
            if r.severity:
                flag = "material" if r.material else "not material"
                cats = f", {plain_categories(r.categories)}" if r.categories else ""
                detail += f" — {r.severity} ({flag}{cats}): {r.summary}"
        elif r.outcome == "reverted":
            detail = f"back to v{r.returns_to} (flip-flop, was v{r.previous_version})"
        elif r.outcome == "unchanged":
            detail = f"v{r.version}" + (" (304)" if r.reason == "not_modified" else "")
        else:
            detail = f"{r.reason}: {r.message}"
        lines.append(f"{r.outcome.upper():<9} {r.policy_id}: {detail}")
    if limit is not None and len(lines) > limit:
        hidden = len(lines) - (limit - 1)
        lines = lines[: limit - 1] + [f"… and {hidden} more (policywatch check --format json shows all)"]
    return lines


def counts_line(report: RunReport) -> str:
    counts = report.counts
    return " · ".join(f"{n} {k}" for k, n in counts.items() if n or k in ("changed", "failed")) + \
        f"  ({len(report.results)} checked, run {report.run_id})"



def facts_json(policy: dict, version: dict, facts: list, rules_fingerprint: str) -> dict:
    """``policywatch.facts/1``: what one version says, fact by fact, with evidence."""
    return {"schema": "policywatch.facts/1",
            "policy": {"id": policy["id"], "name": policy["name"], "url": policy["url"]},
            "version": {"number": version["number"], "captured_at": version["captured_at"],
                        "text_sha256": version["text_sha256"]},
            "rules": rules_fingerprint,
            "facts": [f.to_json() for f in facts]}


def facts_text(policy: dict, version: dict, facts: list) -> str:
    """The facts of a version grouped by category (plain names), each with its first evidence sentence."""
    from policywatch.judge import load_rules
    from policywatch.judge.rules import PRIORITY
    from policywatch.judge.words import statement

    rules = load_rules()
    by_key: dict[tuple, list] = {}
    for fact in facts:
        by_key.setdefault(fact.key, []).append(fact)
    out = [f"{policy['name']} — version {version['number']} ({version['captured_at'][:10]}): "
           f"{len(by_key)} distinct facts"]
    order = {name: k for k, name in enumerate(PRIORITY)}
    for category in sorted({f.category for f in facts}, key=lambda c: order.get(c, 99)):
        out += ["", rules.label(category)]
        for key, group in by_key.items():
            if key[0] != category:
                continue
            first = group[0]
            where = " › ".join(first.section) or "(preamble)"
            also = f"; and {len(group) - 1} more place{'s' if len(group) > 2 else ''}" if len(group) > 1 else ""
            out.append(f"  - {statement(first, rules)}")
            out.append(f"      “{first.evidence}” (§ {where}{also})")
    if not facts:
        out.append("No practice facts found (is this the policy text? see `policywatch show`).")
    return "\n".join(out) + "\n"
