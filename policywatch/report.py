"""The report stage (docs/architecture.md): what the store knows, for people (text, Markdown) and
programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from policywatch.errors import UsageError
from policywatch.secrets import redact_page

if TYPE_CHECKING:
    from policywatch.history_import import BackfillReport
    from policywatch.monitor import RunReport
    from policywatch.outbox import FlushReport

# --- one home for output ---------------------------------------------------------------------------
# Every result the command line prints has a ``kind``; each kind has a table of renderers, one per
# format. A new format or a new result is one entry here, and the CLI's --format choices come from
# the table (``formats``), so a format cannot be offered that does not exist.
Renderer = Callable[..., str]
RENDERERS: dict[str, dict[str, Renderer]] = {}


def renders(kind: str, *fmts: str) -> Callable[[Renderer], Renderer]:
    """Register the decorated function as the renderer of ``kind`` results in ``fmts``."""
    def register(function: Renderer) -> Renderer:
        for fmt in fmts:
            RENDERERS.setdefault(kind, {})[fmt] = function
        return function
    return register


def formats(kind: str) -> list[str]:
    """The formats ``kind`` results can be rendered in: text, markdown, html, json."""
    order = ["text", "markdown", "html", "csv", "json"]
    return sorted(RENDERERS[kind], key=lambda f: order.index(f) if f in order else len(order))


def render(result: Any, fmt: str, **options: Any) -> str:
    """``result`` in ``fmt`` (text, markdown, html or json), ending with a newline."""
    table = RENDERERS[result.kind]
    if fmt not in table:
        raise UsageError(f"{result.kind} has no {fmt} output (one of: {', '.join(formats(result.kind))})")
    text = table[fmt](result, fmt=fmt, **options)
    return text if text.endswith("\n") or not text else text + "\n"

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


def review_json(reviews: list[dict] | None) -> dict | None:
    """The latest review of a change (what people decided), with how many there were."""
    if not reviews:
        return None
    last = reviews[-1]
    return {"action": last["action"], "severity": last["severity"], "note": last["note"],
            "by": last["reviewer"], "at": last["created_at"], "reviews": len(reviews)}


def with_review(data: dict, review: dict | None) -> dict:
    """A JSON object with the ``review`` key added (to an existing /1 schema, without breaking it)."""
    if review is not None:
        data["review"] = review
    return data


def beside_verdict(page: str, review: dict | None, escape: Callable[[str], str] = str) -> str:
    """The review's words as the line right after a page's first line (its verdict or title)."""
    if not review:
        return page
    first, _, rest = page.partition("\n")
    return f"{first}\n{escape(review_words(review))}\n{rest}"


def review_status(review: dict | None) -> str:
    """'unreviewed', 'acknowledged', 'false alarm', 'severity corrected to low'."""
    if not review:
        return "unreviewed"
    if review["action"] == "severity":
        return f"severity corrected to {review['severity']}"
    return {"ack": "acknowledged", "false_alarm": "false alarm"}.get(review["action"], review["action"])


def review_words(review: dict | None) -> str:
    """'reviewed: false alarm (by Dana: "a typo fix")' — next to the tool's verdict, never instead of it."""
    if not review:
        return ""
    what = review_status(review)
    who = f"by {review['by']}" if review.get("by") else ""
    note = f"“{review['note']}”" if review.get("note") else ""
    extra = ": ".join(filter(None, [who, note]))
    return f"reviewed: {what}" + (f" ({extra})" if extra else "")


def history_entries(timeline: Iterable[dict], reviews: dict[int, list[dict]] | None = None) -> list[dict]:
    """History as ``policywatch.history/1`` (docs/json.md)."""
    reviews = reviews or {}
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
        "change": row["id"],
        "review": review_json(reviews.get(row["id"])),
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
        if e.get("review"):
            note.append(review_words(e["review"]))
        lines.append(f"  v{e['version']:<3} {when}  {e['source']:<7} {e['words']:>6} words  "
                     f"{e['text_sha256'][:12]}  {' · '.join(note)}".rstrip())
    return "\n".join(lines)


def version_json(policy: dict, version: dict) -> dict:
    from policywatch.document import Document

    document = Document.from_markdown(version["text"])
    return {
        "schema": "policywatch.version/1",
        "policy": _policy_head(policy),
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


def summary_lines(report: RunReport, quiet: bool, limit: int | None = None, min_severity: str = "low"
                  ) -> list[str]:
    """One line per policy worth reading: never the unchanged ones.

    ``quiet`` (cron) also leaves out flip-flops back to an earlier text, which are not news, and
    changes below ``min_severity`` (a date stamp is "low"); failures always show. ``limit`` keeps a
    terminal summary to one screen.
    """
    from policywatch.vocabulary import SEVERITY_RANK

    skip = {"unchanged", "reverted"} if quiet else {"unchanged"}
    lines = []
    for r in report.results:
        if r.outcome in skip and not r.undoes:  # undoing a material change is news, even under cron
            continue
        if quiet and r.outcome in ("changed", "reverted") and \
                SEVERITY_RANK.get(r.severity or "none", 0) < SEVERITY_RANK[min_severity]:
            continue
        if r.outcome in ("new",):
            detail = f"first version stored (v{r.version})"
        elif r.outcome == "changed":
            detail = f"new version v{r.version} (was v{r.previous_version})"
            if r.severity:
                flag = "material" if r.material else "not material"
                cats = f", {plain_categories(r.categories)}" if r.categories else ""
                detail += f" — {r.severity} ({flag}{cats}): {r.summary}"
        elif r.outcome == "reverted" and r.undoes:
            detail = f"reverted to v{r.returns_to} (was v{r.previous_version}), undoing: {r.undoes}"
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
            "policy": _policy_head(policy),
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


# --- the results the command line prints, and their renderers ----------------------------------------

def _json(result: Any, **_: Any) -> str:
    return to_json(result.to_json())


def _policy_head(policy: dict) -> dict:
    """A policy as JSON outputs name it: a password or token in its URL masked (secrets.redact_page)."""
    return {"id": policy["id"], "name": policy["name"], "url": redact_page(policy["url"])}


@dataclass
class PolicyList:
    """``policywatch list``: the watched policies and the notification targets (URLs redacted)."""

    kind: ClassVar[str] = "list"
    policies: list[dict]
    targets: list[dict]

    def to_json(self) -> dict:
        return {"schema": "policywatch.list/1", "policies": self.policies, "targets": self.targets}


@dataclass
class History:
    kind: ClassVar[str] = "history"
    policy: dict
    entries: list[dict]

    def to_json(self) -> dict:
        return {"schema": "policywatch.history/1", "policy": _policy_head(self.policy), "entries": self.entries}


@dataclass
class VersionView:
    kind: ClassVar[str] = "version"
    policy: dict
    version: dict
    review: dict | None = None  # of the change that put this version in effect

    def to_json(self) -> dict:
        return with_review(version_json(self.policy, self.version), self.review)


@dataclass
class FactsView:
    kind: ClassVar[str] = "facts"
    policy: dict
    version: dict
    facts: list
    rules: str  # the lexicons' fingerprint

    def to_json(self) -> dict:
        return facts_json(self.policy, self.version, self.facts, self.rules)


@dataclass
class DiffView:
    kind: ClassVar[str] = "diff"
    diff: Any
    judgement: Any
    old_label: str
    new_label: str
    review: dict | None = None  # what people decided about this stored change (review_json)
    header: Any = None  # render.PageHeader: the policy, its URL, dates and archived copies (stored versions)

    def to_json(self) -> dict:
        from policywatch.judge import diff_json

        return with_review(diff_json(self.diff, self.judgement, self.old_label, self.new_label), self.review)


@dataclass
class NotifyLog:
    kind: ClassVar[str] = "notify-log"
    entries: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"schema": "policywatch.notify-log/1", "entries": self.entries}


for _kind in ("list", "history", "version", "facts", "diff", "notify-log", "check", "backfill"):
    renders(_kind, "json")(_json)


@renders("list", "text")
def _list_text(result: PolicyList, **_: Any) -> str:
    lines = []
    width = max((len(e["id"]) for e in result.policies), default=2)
    for e in result.policies:
        count = f"{e['versions']} version" + ("" if e["versions"] == 1 else "s")
        state = f"v{e['current_version']} ({count})" if e["current_version"] else "not checked"
        outcome = f"{e['last_outcome']} ({e['reason']})" if e.get("reason") else e["last_outcome"]
        last = f"{outcome} {e['last_checked_at'][:16].replace('T', ' ')}" if e["last_checked_at"] else ""
        tags = f"  [{', '.join(e['tags'])}]" if e["tags"] else ""
        off = "  (disabled)" if not e["enabled"] else ""
        lines.append(f"{e['id']:<{width}}  {state:<18} {last:<26} {e['url']}{tags}{off}")
    if result.targets:
        lines.append("notify targets:")
    for t in result.targets:
        rules = [f"min_severity {t['min_severity']}"] if t["min_severity"] else []
        rules += [f"categories {', '.join(t['categories'])}"] if t["categories"] else []
        rules += [f"policies tagged {', '.join(t['tags'])}"] if t["tags"] else []
        mode = "digest: one message per run" if t["mode"] == "digest" else "immediate: one message per change"
        lines.append(f"  {t['name']} ({mode}{'; ' + '; '.join(rules) if rules else ''}): "
                     + (", ".join(t["urls"]) or "no URLs"))
    return "\n".join(lines)


@renders("history", "text")
def _history_text(result: History, **_: Any) -> str:
    return history_text(result.policy["id"], result.entries)


@renders("version", "text")
def _version_text(result: VersionView, **_: Any) -> str:
    return beside_verdict(version_text(result.policy, result.version), result.review)


@renders("version", "markdown")
def _version_markdown(result: VersionView, **_: Any) -> str:
    return version_markdown(result.policy, result.version)


@renders("facts", "text")
def _facts_text(result: FactsView, **_: Any) -> str:
    return facts_text(result.policy, result.version, result.facts)


@renders("diff", "text", "markdown", "html")
def _diff_page(result: DiffView, fmt: str = "text", color: bool = False, **_: Any) -> str:
    from policywatch.render import md_escape, render_diff

    page = render_diff(result.diff, result.judgement, result.old_label, result.new_label, fmt,
                       color=color and fmt == "text", header=result.header)
    if fmt in ("text", "markdown"):  # beside the tool's verdict (its first line), never instead of it
        page = beside_verdict(page, result.review, md_escape if fmt == "markdown" else str)
    return page


@renders("notify-log", "text")
def _notify_log_text(result: NotifyLog, **_: Any) -> str:
    if not result.entries:
        return "no notifications yet"
    lines = []
    for row in result.entries:
        when = (row["sent_at"] or row["last_attempt_at"] or row["created_at"])[:16].replace("T", " ")
        state = row["status"] + (f" ({row['attempts']} attempts)" if row["attempts"] > 1 else "")
        lines.append(f"{when}  {state:<22} {row['target']:<16} {row['kind']:<9} {row['title']}")
        for url, outcome in row["deliveries"].items():
            error = f" — {outcome['error']}" if outcome.get("error") and outcome.get("status") != "sent" else ""
            lines.append(f"    {outcome.get('status', '?'):<11} {url}{error}")
        if row.get("review"):
            lines.append(f"    {review_words(row['review'])}")
    return "\n".join(lines)


def notification_lines(report: FlushReport, quiet: bool) -> list[str]:
    """What the deliveries of a run did: under cron only what needs reading (failures, doubts)."""
    lines = [delivery_line(d) for d in report.deliveries if not quiet or d.status != "sent" or d.unconfirmed]
    if report.failed:
        lines.append(f"{report.failed} notification(s) could not be delivered; see `policywatch notify log`")
    return lines


@renders("flush", "text")
def _flush_text(report: FlushReport, quiet: bool = False, **_: Any) -> str:
    if not report.deliveries:
        return "" if quiet else "nothing to send"
    return "\n".join(notification_lines(report, quiet))


@renders("check", "text")
def _check_text(report: RunReport, quiet: bool = False, min_severity: str = "low", **_: Any) -> str:
    lines = summary_lines(report, quiet=quiet, limit=None if quiet else 20, min_severity=min_severity)
    lines += notification_lines(report.notifications, quiet=quiet)
    if not quiet:
        lines.append(counts_line(report))
    return "\n".join(lines)


@renders("backfill", "text")
def _backfill_text(report: BackfillReport, quiet: bool = False, archive_host: str = "the archive",
                   **_: Any) -> str:
    lines = [backfill_line(r) for r in report.results if not quiet or r.outcome != "ok" or r.changes_added]
    if not quiet:
        totals = report.requests
        lines.append(f"{len(report.results)} policies; strategy {report.strategy}; requests to {archive_host}: "
                     f"{totals.get('cdx', 0)} listing + {totals.get('replay', 0)} replay")
    lines += notification_lines(report.notifications, quiet=quiet)
    return "\n".join(lines)


# --- one line per result: a policy's import, a re-derivation, a delivery ------------------------------

def backfill_line(r: Any) -> str:
    """One policy's archive import (history_import.BackfillResult)."""
    if r.outcome == "failed" and not r.listed:
        return f"{r.policy_id}: FAILED {r.message}"
    parts = [f"{r.listed} captures listed", f"{r.distinct} distinct",
             f"{r.fetched} fetched" + (f" ({r.known} known from earlier runs)" if r.known else ""),
             f"{r.skipped} skipped", f"{r.versions} versions ({r.new_versions} new)",
             f"{r.changes_added} changes added to the timeline"]
    requests = f"requests: {r.requests.get('cdx', 0)} listing + {r.requests.get('replay', 0)} replay"
    head = f"{r.policy_id}: " + ", ".join(parts) + f"; {requests}"
    if r.outcome != "ok":
        head += f"\n  {r.outcome.upper()}: {r.message}"
    return head


def rederive_line(r: Any) -> str:
    """One policy's re-derivation (rederive.RederiveResult)."""
    restated = f", {r.restated} stated date(s) read anew" if r.restated else ""
    if not r.changed:
        extra = f", {r.missing} without a raw snapshot" if r.missing else ""
        return f"{r.policy_id}: {r.entries} version(s) already current{extra}{restated}"
    return (f"{r.policy_id}: {r.rederived} of {r.entries} version(s) re-derived as technical updates"
            + (f", {r.merged} change(s) folded into their predecessor" if r.merged else "") + restated)


def delivery_line(d: Any) -> str:
    """One message's delivery to one target (outbox.Sent)."""
    from policywatch.outbox import MAX_ATTEMPTS

    what = {"sent": "sent", "unconfirmed": "UNCONFIRMED",
            "pending": f"failed (attempt {d.attempts}/{MAX_ATTEMPTS}; will retry)",
            "failed": f"FAILED after {d.attempts} attempts; not retried"}[d.status]
    extra = f" — {'; '.join(d.errors)}" if d.errors and d.status not in ("sent", "unconfirmed") else ""
    if d.unconfirmed:
        extra += f" ({d.unconfirmed} URL(s) unconfirmed, not resent: {'; '.join(d.doubts)})"
    return f"notify {d.target}: {what}: {d.title}{extra}"


@dataclass
class Inbox:
    """``policywatch inbox``: material changes nobody has reviewed yet, most severe first."""

    kind: ClassVar[str] = "inbox"
    changes: list[dict]

    def to_json(self) -> dict:
        return {"schema": "policywatch.inbox/1", "changes": [{
            "change": c["id"], "policy": c["policy_id"], "name": c["policy_name"], "version": c["version"],
            "previous_version": c["previous_version"], "captured_at": c["captured_at"], "severity": c["severity"],
            "categories": _categories(c["categories"]), "summary": c["summary"]} for c in self.changes]}


renders("inbox", "json")(_json)


@renders("inbox", "text")
def _inbox_text(result: Inbox, **_: Any) -> str:
    if not result.changes:
        return "nothing to review"
    lines = [f"{len(result.changes)} material change{'s' if len(result.changes) != 1 else ''} to review, "
             "most severe first:"]
    for c in result.changes:
        cats = f" — {plain_categories(_categories(c['categories']))}" if c["categories"] else ""
        handle = f"{c['policy_id']}@{c['version']}" if c.get("latest_to_version", 1) else str(c["id"])
        lines.append(f"  {handle}  {c['captured_at'][:10]}  {c['severity']}{cats}: {c['summary']}")
    lines.append("review one: policywatch review ID@N (or the change's number) --ack | --false-alarm | "
                 "--severity S [--note TEXT]")
    return "\n".join(lines)


# --- the period report: what changed across the watchlist, for a vendor-risk review --------------------

def effective_severity(change: dict, review: dict | None) -> str:
    """The severity people settled on: a correction's, none for a false alarm, else the tool's."""
    if review and review["action"] == "false_alarm":
        return "none"
    if review and review["action"] == "severity" and review["severity"]:
        return review["severity"]
    return change["severity"] or "none"


@dataclass
class PeriodReport:
    """``policywatch report``: every change in a period, most severe first, and the policies that failed."""

    kind: ClassVar[str] = "period"
    since: str | None
    until: str
    changes: list[dict]  # store.changes_between rows with "review" (review_json) added
    troubles: list[dict]  # store.troubles_between rows

    def rows(self) -> list[dict]:
        """One plain row per change, most severe (as reviewed) first, newest first among equals."""
        from policywatch.vocabulary import SEVERITY_RANK

        rows = [{
            "change": c["id"], "policy": c["policy_id"], "name": c["policy_name"], "url": redact_page(c["policy_url"]),
            "date": c["captured_at"][:10], "captured_at": c["captured_at"], "version": c["version"],
            "previous_version": c["previous_version"], "severity": c["severity"] or "none",
            "reviewed_severity": effective_severity(c, c.get("review")), "material": bool(c["material"]),
            "categories": _categories(c["categories"]), "verdict": c["summary"] or "",
            "reverted": c["returns_to"] is not None, "review": c.get("review"),
            "review_status": review_status(c.get("review")), "source": c["source"]} for c in self.changes]
        rows.sort(key=lambda r: r["captured_at"], reverse=True)
        rows.sort(key=lambda r: SEVERITY_RANK.get(r["reviewed_severity"], 0), reverse=True)
        return rows

    def to_json(self) -> dict:
        # The start bound is kept without its "Z" to sort before every time of its second (cli.parse_when):
        # shown, it is a UTC time like the others.
        since = self.since + "Z" if self.since and not self.since.endswith("Z") else self.since
        return {"schema": "policywatch.report/1", "since": since, "until": self.until, "changes": self.rows(),
                "troubles": [{"policy": t["policy_id"], "name": t["policy_name"], "url": redact_page(t["policy_url"]),
                              "failed": t["failed"], "suspect": t["suspect"], "last_at": t["last_at"],
                              "reason": t["reason"], "now": t["last_outcome"]} for t in self.troubles]}

    def heading(self) -> str:
        changes, material = len(self.changes), sum(1 for c in self.changes if c["material"])
        period = f"{(self.since or 'the start')[:10]} to {self.until[:10]}"
        trouble = f"; {len(self.troubles)} {'policy' if len(self.troubles) == 1 else 'policies'} failed or " \
                  "suspect" if self.troubles else ""
        return f"Changes {period}: {changes} change{'s' if changes != 1 else ''}, {material} material{trouble}"


renders("period", "json")(_json)


def _trouble_words(t: dict) -> str:
    parts = [f"failed {t['failed']}×"] if t["failed"] else []
    parts += [f"suspect {t['suspect']}×"] if t["suspect"] else []
    now = "; ok now" if t["last_outcome"] not in ("failed", "suspect") else ""
    return f"{', '.join(parts)}; last {t['last_at'][:10]}: {t['reason']}{now}"


@renders("period", "text")
def _period_text(result: PeriodReport, **_: Any) -> str:
    lines = [result.heading()]
    rows = result.rows()
    width = max((len(r["policy"]) for r in rows), default=6)
    for r in rows:
        cats = plain_categories(r["categories"]) if r["categories"] else "—"
        severity = r["severity"].upper() + ("" if r["reviewed_severity"] == r["severity"] else
                                            f"→{r['reviewed_severity']}")
        lines.append(f"  {severity:<10} {r['date']}  {r['policy']:<{width}}  {cats}: {r['verdict']} "
                     f"[{r['review_status']}]")
    if result.troubles:
        lines.append("Checks that failed or were suspect:")
        lines += [f"  {t['policy_id']}: {_trouble_words(t)}" for t in result.troubles]
    return "\n".join(lines)


@renders("period", "markdown")
def _period_markdown(result: PeriodReport, **_: Any) -> str:
    from policywatch.render import md_escape

    lines = [f"## {md_escape(result.heading())}", ""]
    rows = result.rows()
    if rows:
        lines += ["| severity | date | policy | categories | verdict | review |", "|---|---|---|---|---|---|"]
        for r in rows:
            severity = r["severity"] + ("" if r["reviewed_severity"] == r["severity"] else
                                        f" → {r['reviewed_severity']}")
            lines.append("| " + " | ".join(md_escape(cell) for cell in (
                severity, r["date"], r["name"], plain_categories(r["categories"]), r["verdict"],
                r["review_status"])) + " |")
    if result.troubles:
        lines += ["", "### Checks that failed or were suspect", ""]
        lines += [f"- {md_escape(t['policy_name'])}: {md_escape(_trouble_words(t))}" for t in result.troubles]
    return "\n".join(lines)


@renders("period", "csv")
def _period_csv(result: PeriodReport, **_: Any) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "policy", "name", "date", "severity", "reviewed_severity", "material", "categories",
                     "verdict", "review", "url", "version", "previous_version"])
    for r in result.rows():
        writer.writerow(["change", r["policy"], r["name"], r["date"], r["severity"], r["reviewed_severity"],
                         int(r["material"]), ";".join(r["categories"]), r["verdict"], r["review_status"], r["url"],
                         r["version"], r["previous_version"]])
    for t in result.troubles:
        writer.writerow(["trouble", t["policy_id"], t["policy_name"], t["last_at"][:10], "", "", "", "",
                         _trouble_words(t), "", redact_page(t["policy_url"]), "", ""])
    return out.getvalue()


@renders("period", "html")
def _period_html(result: PeriodReport, **_: Any) -> str:
    from policywatch.render import HTML_STYLE, templates

    return templates().get_template("report.html").render(
        style=HTML_STYLE, heading=result.heading(), rows=result.rows(), troubles=result.troubles,
        categories=plain_categories, trouble_words=_trouble_words)
