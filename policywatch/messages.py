"""The messages stage (docs/architecture.md): what a notification says, in Markdown and HTML, trimmable per service.

``compose_change`` / ``compose_digest`` / ``compose_failing`` / ``compose_recovered`` /
``compose_test`` build a ``Message``: a title and a body in Markdown and in HTML, each body made of
a lead line (the verdict summary, never cut), head blocks (date, links) and detail items (changed
sections, or the changes of a digest) that are dropped from the end to fit a service's length
limit, with "… N more sections" in their place. ``Message.to_dict``/``from_dict`` let the outbox
store it. Nothing here sends anything or knows a secret.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from policywatch.document import Section, row_cells
from policywatch.render import (
    Ops,
    PageHeader,
    Table,
    interesting_sections,
    md_escape,
    message_title,
    render_html,
    row_heads,
    safe_link,
    section_path,
    status_text,
    templates,
)
from policywatch.report import plain_categories
from policywatch.secrets import redact_page
from policywatch.vocabulary import SEVERITIES, SEVERITY_RANK, reason_words
from policywatch.watchlist import Policy

if TYPE_CHECKING:
    from policywatch.diff import DocumentDiff, SectionDiff
    from policywatch.judge import Judgement

MAX_EVIDENCE = 300  # characters of one quoted sentence
MAX_SIGNALS = 4  # per section in a message


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with … when cut."""
    if len(text) <= limit:
        return text
    return text[:max(limit - 1, 0)].rstrip() + "…" if limit > 0 else ""


@dataclass
class Body:
    """One rendering of a message body, built to be trimmed without losing its verdict.

    ``lead`` (plain text) is the verdict/summary line: always first, cut only when the limit is
    smaller than it. ``head`` blocks (date, links) come next and go only if the lead alone fits.
    ``items`` (sections, or the changes of a digest) are dropped from the end, replaced by
    "… N more <noun>".
    """

    format: str  # markdown | html | text
    lead: str
    head: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    noun: str = "sections"
    details: list[str] = field(default_factory=list)  # the items with their evidence, where room allows

    def _lead(self, text: str) -> str:
        if self.format == "html":
            return f"<p><strong>{html.escape(text)}</strong></p>"
        return md_escape(text) if self.format == "markdown" else text

    def _more(self, count: int) -> str:
        noun = self.noun if count != 1 else self.noun.rstrip("s")
        text = f"… {count} more {noun}"
        if self.format == "html":
            return f"<p><em>{html.escape(text)}</em></p>"
        return f"*{text}*" if self.format == "markdown" else text

    def _join(self, blocks: list[str]) -> str:
        return ("\n" if self.format == "html" else "\n\n").join(b for b in blocks if b) + "\n"

    def render(self, limit: int | None = None) -> str:
        """The body, at most ``limit`` characters long (no limit: everything)."""
        lead = self._lead(self.lead)
        if self.details:  # a digest: every change with its evidence if all fit, else every change listed
            detailed = self._join([lead, *self.head, *self.details])
            if limit is None or len(detailed) <= limit:
                return detailed
        full = self._join([lead, *self.head, *self.items])
        if limit is None or len(full) <= limit:
            return full
        for keep in range(len(self.items) - 1, -1, -1):
            text = self._join([lead, *self.head, *self.items[:keep], self._more(len(self.items) - keep)])
            if len(text) <= limit:
                return text
        for blocks in ([lead, *self.head], [lead, self._more(len(self.items))] if self.items else [lead], [lead]):
            text = self._join(blocks)
            if len(text) <= limit:
                return text
        overhead = len(self._join([self._lead("")]))
        for room in range(limit - overhead, -1, -1):  # escaping may lengthen the cut lead: shrink until it fits
            text = self._join([self._lead(clip(self.lead, room))])
            if len(text) <= limit:
                return text
        return ""


@dataclass
class Attachment:
    filename: str
    content: str  # HTML text


@dataclass(frozen=True)
class Kind:
    """A kind of message: whom it goes to, whether a digest gathers it, how a service flags it."""

    name: str
    about_a_change: bool  # routed by materiality, severity and categories; other kinds go to every candidate
    digested: bool  # a target in digest mode gets it inside its run's one digest
    flag: str  # apprise's notification type: info, success, warning, failure; "severity": warning when high


KINDS = {kind.name: kind for kind in (
    Kind("change", about_a_change=True, digested=True, flag="severity"),
    Kind("failing", about_a_change=False, digested=True, flag="failure"),
    Kind("recovered", about_a_change=False, digested=True, flag="success"),
    Kind("digest", about_a_change=False, digested=False, flag="severity"),
    Kind("test", about_a_change=False, digested=False, flag="info"),
)}


@dataclass
class Message:
    """What one notification says, in Markdown and HTML, trimmable per service."""

    kind: str  # a name in KINDS
    title: str
    markdown_body: Body
    html_body: Body
    severity: str | None = None
    material: bool = False
    categories: list[str] = field(default_factory=list)
    policy_id: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    text_body: Body | None = None  # plain text (e-mail's text part, text-only services); else the Markdown
    policy_name: str | None = None  # the policy's name, as a digest names it

    @property
    def summary(self) -> str:
        return self.markdown_body.lead

    @property
    def markdown(self) -> str:
        return self.markdown_body.render()

    @property
    def html(self) -> str:
        return self.html_body.render()

    @property
    def attachment_html(self) -> str | None:
        return self.attachments[0].content if self.attachments else None

    def body(self, fmt: str, limit: int | None = None) -> str:
        """The body as ``html``, ``markdown`` or ``text``, trimmed to ``limit``."""
        if fmt == "html":
            return self.html_body.render(limit)
        return (self.text_body if fmt == "text" and self.text_body else self.markdown_body).render(limit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        data = dict(data)
        data["markdown_body"] = Body(**data["markdown_body"])
        data["html_body"] = Body(**data["html_body"])
        data["text_body"] = Body(**data["text_body"]) if data.get("text_body") else None  # older outbox rows
        data["attachments"] = [Attachment(**a) for a in data.get("attachments") or []]
        return cls(**data)


def key_footer(fmt: str, key: str) -> str:
    """The last line of a message that cannot carry its idempotency key in a header (e-mail): the key,
    the same on every retry of the message to the same address, so a second copy can be recognised."""
    text = f"Message key {key}: a copy with the same key is a duplicate of this message."
    if fmt == "html":
        return f'<p style="color:#777;font-size:small">{html.escape(text)}</p>'
    return md_escape(text) if fmt == "markdown" else text


def fit(message: Message, fmt: str, body_maxlen: int | None = None, title_maxlen: int | None = None,
        title_in_body: bool = False, footer: str | None = None) -> tuple[str, str]:
    """Title and body of ``message`` within a service's limits (apprise's ``title_maxlen``/``body_maxlen``).

    ``title_in_body``: the service has no title (``title_maxlen`` 0) or counts it in the body
    (``overflow_amalgamate_title``), so the body leaves room for it — at most half the limit.
    ``footer`` (``key_footer``) ends the body when it leaves the body at least half the limit.
    """
    title = message.title
    if title_maxlen is not None and title_maxlen > 0:
        title = clip(title, title_maxlen)
    limit = body_maxlen if body_maxlen and body_maxlen > 0 else None
    if limit is not None and (title_in_body or (title_maxlen is not None and title_maxlen <= 0)) and title:
        title = clip(title, max(limit // 2 - 8, 1))
        limit -= len(title) + 8  # apprise joins them with a line break (and bold markup in HTML)
    if footer:
        tail = ("" if fmt == "html" else "\n") + footer + "\n"  # bodies end with a line break
        if limit is None:
            return title, message.body(fmt) + tail
        if len(tail) <= limit // 2:
            return title, message.body(fmt, limit - len(tail)) + tail
    return title, message.body(fmt, limit)


def _md_link(label: str, url: str) -> str:
    url = safe_link(url)
    return f"[{label}]({url.replace(' ', '%20').replace('(', '%28').replace(')', '%29')})"


def _when(when: str | datetime | None) -> str:
    if when is None:
        when = datetime.now(timezone.utc)
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc)
        return when.strftime("%Y-%m-%d %H:%M UTC")
    text = str(when)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    with contextlib.suppress(ValueError):
        return _when(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return text


def _links(fmt: str, links: Sequence[tuple[str, str | None]], prefix: str = "") -> str:
    """``prefix · label: URL · …``. Every URL is written out, in HTML too: e-mail's text part is made
    from the HTML, and a forwarded or printed message keeps where it points."""
    parts = [prefix] if prefix else []
    for label, url in links:
        if not url:
            continue
        if fmt == "html":
            parts.append(f'{html.escape(label)}: <a href="{html.escape(safe_link(url))}">{html.escape(url)}</a>')
        elif fmt == "markdown":
            parts.append(_md_link(label, url))
        else:
            parts.append(f"{label}: {url}")
    text = " · ".join(parts)
    return f"<p>{text}</p>" if fmt == "html" and text else text


@dataclass
class Evidence:
    """One line of a section in a message: a finding (or an edited block) with the text before and after.
    A table row comes with its table's header row, so that it can be shown as a table."""

    message: str | None
    category: str
    old: str | None
    new: str | None
    header: str | None = None  # the header row of the table ``old``/``new`` are rows of
    is_row: bool = False  # ``old``/``new`` are table rows: shown as a table


def _rows(side: Section | None) -> dict[str, str]:
    """Table rows of one version of a section, by their text and by their reading with the header's
    labels (the evidence a finding quotes): a finding about a row shows the row."""
    from policywatch.judge.facts import readings, sentences

    rows: dict[str, str] = {}
    if side is not None:
        for block, (_, reading) in zip(side.blocks, readings(side), strict=True):
            if block.kind == "row":
                rows[block.text] = block.text
                for sentence in sentences(reading):
                    rows.setdefault(sentence, block.text)
    return rows


def _evidence(section: SectionDiff) -> list[Evidence]:
    """The lines of one section: its signals, else its key edited blocks."""
    heads_old, heads_new = row_heads(section.old), row_heads(section.new)
    rows_old, rows_new = _rows(section.old), _rows(section.new)

    def line(message: str | None, category: str, old: str | None, new: str | None) -> Evidence:
        old, new = rows_old.get(old or "", old), rows_new.get(new or "", new)
        head = heads_new.get(new or "") or heads_old.get(old or "")
        return Evidence(message, category, old, new, head if head not in (None, old, new) else None,
                        head is not None)

    found, quoted = [], set()
    for g in section.signals[:MAX_SIGNALS]:
        # Three findings in one sentence ("shares with brokers, partners and advertisers") quote it once.
        repeat = (g.old, g.new) in quoted
        quoted.add((g.old, g.new))
        found.append(line(g.message, plain_categories([g.category]), None if repeat else g.old,
                          None if repeat else g.new))
    if len(section.signals) > MAX_SIGNALS:
        more = len(section.signals) - MAX_SIGNALS
        found.append(Evidence(f"… and {more} more finding{'s' if more > 1 else ''}", "", None, None, None, False))
    if found:
        return found
    for old, new in section.changed_blocks[:2]:
        found.append(line(None, "", old, new))
    for new in section.added_blocks[:max(0, 2 - len(found))]:
        found.append(line(None, "", None, new))
    for old in section.removed_blocks[:max(0, 2 - len(found))]:
        found.append(line(None, "", old, None))
    return found


def _evidence_table(evidence: Evidence) -> Table:
    """Before and after rows of a table under its header row."""
    rows = [[[(op, clip(cell, MAX_EVIDENCE))] for cell in row_cells(text)]
            for op, text in ((-1, evidence.old), (1, evidence.new)) if text]
    header = [[(0, cell)] for cell in row_cells(evidence.header)] if evidence.header else None
    return Table(header, rows)


def _section_md(section: SectionDiff) -> str:
    lines = [f"**{md_escape(section_path(section))}** — {md_escape(status_text(section))}, {section.severity}"]
    for item in _evidence(section):
        indent = ""
        if item.message:
            lines.append(f"- {md_escape(item.message)}" + (f" ({md_escape(item.category)})" if item.category else ""))
            indent = "  "
        for label, row in (("before", item.old), ("after", item.new)):
            if row:
                shown = _labelled_row(row, item.header) if item.is_row else row
                lines.append(f"{indent}- {label}: “{md_escape(clip(shown, MAX_EVIDENCE))}”")
    return "\n".join(lines)


def _labelled_row(row: str, header: str | None) -> str:
    """A table row where Markdown has no table (chat services): each cell under its column's name,
    "Data: Server logs · How long we keep it: 90 days"."""
    cells, names = row_cells(row), row_cells(header) if header else []
    if len(names) != len(cells):
        return " · ".join(cells)
    return " · ".join(f"{name}: {cell}" if name else cell for name, cell in zip(names, cells, strict=True))


def _section_text(section: SectionDiff) -> str:
    """A section in plain text: table rows as aligned columns under their header row."""
    lines = [f"{section_path(section)} — {status_text(section)}, {section.severity}"]
    for item in _evidence(section):
        indent = "  "
        if item.message:
            lines.append(f"  * {item.message}" + (f" ({item.category})" if item.category else ""))
            indent = "    "
        if item.is_row:
            lines += [indent + row for row in text_table(_evidence_table(item))]
            continue
        if item.old:
            lines.append(f"{indent}before: “{clip(item.old, MAX_EVIDENCE)}”")
        if item.new:
            lines.append(f"{indent}after: “{clip(item.new, MAX_EVIDENCE)}”")
    return "\n".join(lines)


def text_table(table: Table) -> list[str]:
    """A table as aligned plain-text lines; removed rows marked −, added rows +."""
    rows = ([("", [_plain(c) for c in table.header])] if table.header else []) + [
        ("−" if any(op < 0 for c in row for op, _ in c) else "+" if any(op > 0 for c in row for op, _ in c)
         else "", [_plain(c) for c in row]) for row in table.rows]
    columns = max(len(cells) for _, cells in rows)
    widths = [max((len(cells[k]) for _, cells in rows if k < len(cells)), default=0) for k in range(columns)]
    return [f"{mark or ' '} | " + " | ".join(cells[k].ljust(widths[k]) if k < len(cells) else " " * widths[k]
                                              for k in range(columns)) + " |" for mark, cells in rows]


def _plain(cell: Ops) -> str:
    return "".join(text for _, text in cell)


def _section_html(section: SectionDiff) -> str:
    items = []
    for item in _evidence(section):
        if item.is_row:
            items.append({"message": item.message, "category": item.category, "table": _evidence_table(item)})
        else:
            items.append({"message": item.message, "category": item.category, "table": None,
                          "old": clip(item.old, MAX_EVIDENCE) if item.old else None,
                          "new": clip(item.new, MAX_EVIDENCE) if item.new else None})
    return templates().get_template("message.html").module.section(
        section_path(section), f"{status_text(section)}, {section.severity}", items).strip()


def _message_sections(diff: DocumentDiff) -> list[SectionDiff]:
    """Changed sections worth a message, most severe first (document order among equals)."""
    changed = interesting_sections(diff)
    sections = [s for s in changed if s.severity not in ("none", "low")] or changed
    return sorted(sections, key=lambda s: -SEVERITY_RANK.get(s.severity, 0))


def compose_change(policy: Policy, diff: DocumentDiff, judgement: Judgement, when: str | datetime | None = None,
                   *, header: PageHeader | None = None, old_label: str = "previous version",
                   new_label: str = "new version", reverted_to: str | None = None, undoes: str | None = None,
                   wobbling: bool = False
                   ) -> Message:
    """The message for one new version of ``policy``: verdict, changed sections with evidence, links.

    ``header`` says where the versions come from (``timeline.page_header``): the live page (default:
    the policy's URL), archived copies where they exist, how to see the raw page the tool kept. The
    HTML diff page (``render_html``) is attached for e-mail targets. ``reverted_to`` (a date) makes it
    the news of a return to an earlier text, and ``undoes`` says what that return takes back.
    """
    header = dataclasses.replace(header) if header is not None else PageHeader()
    header.policy, header.url = header.policy or policy.name, header.url or redact_page(policy.url)
    detected = f"Detected {_when(when)}" + (f" (the previous text captured {header.old_captured})"
                                             if header.old_captured else "")
    # The dates the versions themselves state ("Last updated"): what a lawyer cites.
    if judgement.new_date and judgement.new_date != judgement.old_date:
        detected += f"; the new text states {judgement.new_date}" + (
            f" (the previous one {judgement.old_date})" if judgement.old_date else "")
    elif judgement.new_date:
        detected += f"; both texts state {judgement.new_date}"
    links = [("live page", header.url), *header.links]
    sections = _message_sections(diff)
    lead = judgement.summary or f"{judgement.severity} change"
    title = message_title(policy.name, judgement)
    if reverted_to:
        title = f"{policy.name} — reverted to the text of {reverted_to} ({judgement.severity})"
        lead = f"Reverted to the text of {reverted_to}" + (f" (undoes: {undoes.rstrip('.')})" if undoes else "") + \
            f". {lead}"
        if wobbling:
            lead += (" This page has switched between these two texts before: further switches between them"
                     " will not be announced (`policywatch history` lists each one).")

    def head(fmt: str) -> list[str]:
        escape = {"html": html.escape, "markdown": md_escape}.get(fmt, str)
        notes = [f"<p>{escape(n)}</p>" if fmt == "html" else escape(n) for n in header.notes]
        return [_links(fmt, links, escape(detected)), *notes]

    markdown = Body("markdown", lead, head("markdown"), [_section_md(s) for s in sections])
    html_body = Body("html", lead, head("html"), [_section_html(s) for s in sections])
    text = Body("text", lead, head("text"), [_section_text(s) for s in sections])
    page = render_html(diff, judgement, old_label, new_label, header)
    return Message("change", title, markdown, html_body, judgement.severity,
                   judgement.material, list(judgement.categories), policy.id,
                   [Attachment(f"{policy.id}-diff.html", page)], text, policy.name)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


DIGEST_SECTIONS = 2  # changed sections shown per change in a digest, where its length limit allows


def compose_digest(target_name: str, messages: Iterable[Message]) -> Message:
    """One message listing every message of a run for ``target_name``: changes most severe first,
    then error states. E-mail gets every change's diff page attached."""
    messages = list(messages)
    changes = sorted((m for m in messages if KINDS[m.kind].about_a_change),
                     key=lambda m: -SEVERITY_RANK.get(m.severity or "none", 0))
    others = [m for m in messages if not KINDS[m.kind].about_a_change]
    ordered = changes + others
    counts = {}
    for m in changes:
        counts[m.severity or "none"] = counts.get(m.severity or "none", 0) + 1
    parts = []
    if changes:
        parts.append(_plural(len(changes), "change") + " ("
                     + ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if s in counts) + ")")
    failing = sum(1 for m in others if m.kind == "failing")
    if failing:
        parts.append(f"{failing} {'policy' if failing == 1 else 'policies'} failing")
    rest = len(others) - failing
    if rest:
        parts.append(_plural(rest, "other message"))
    overview = ", ".join(parts) or "nothing to report"
    lead = f"{overview} — digest for {target_name}"
    # A stored message from before names were kept: its title's name part.
    names = list(dict.fromkeys(m.policy_name or m.title.split(" — ", 1)[0] for m in ordered))
    named = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    def item_md(m: Message) -> str:  # hard line breaks: one block per message
        return "  \n".join([f"**{md_escape(m.title)}**", md_escape(m.summary), *m.markdown_body.head])

    def item_html(m: Message) -> str:
        return (f"<h3>{html.escape(m.title)}</h3><p>{html.escape(m.summary)}</p>" + "".join(m.html_body.head))

    def item_text(m: Message) -> str:
        return "\n".join([m.title, m.summary, *(m.text_body or m.markdown_body).head])

    def detailed(item: str, body: Body, join: str) -> str:  # the item and its two first sections
        return join.join([item, *body.items[:DIGEST_SECTIONS]])

    severity = max((m.severity for m in changes if m.severity), key=SEVERITY_RANK.__getitem__, default=None)
    categories = list(dict.fromkeys(c for m in changes for c in m.categories))
    markdown = Body("markdown", lead, [], [item_md(m) for m in ordered], "changes",
                    [detailed(item_md(m), m.markdown_body, "\n\n") for m in ordered])
    html_body = Body("html", lead, [], [item_html(m) for m in ordered], "changes",
                     [detailed(item_html(m), m.html_body, "\n") for m in ordered])
    text = Body("text", lead, [], [item_text(m) for m in ordered], "changes",
                [detailed(item_text(m), m.text_body or m.markdown_body, "\n\n") for m in ordered])
    return Message("digest", f"policywatch — {overview}: {named}" if named else f"policywatch — {overview}",
                   markdown, html_body, severity, any(m.material for m in changes), categories, None,
                   [a for m in ordered for a in m.attachments], text)


def compose_failing(policy: Policy, streak: int, reason: str, message: str | None = None,
                    since: str | datetime | None = None) -> Message:
    """'ACME Privacy Policy — checks failing (3 runs): timeout'."""
    runs = _plural(streak, "run")
    title = f"{policy.name} — checks failing ({runs}): {reason_words(reason)}"
    lead = f"The last {_plural(streak, 'check')} of {policy.name} failed: {reason_words(reason)}"
    if message:
        lead += f" — {message}"
    head_text = f"Failing since {_when(since)}" if since else ""
    links = [("page", redact_page(policy.url))]
    return Message("failing", title, Body("markdown", clip(lead, 600), [_links("markdown", links, head_text)]),
                   Body("html", clip(lead, 600), [_links("html", links, html.escape(head_text))]),
                   policy_id=policy.id, text_body=Body("text", clip(lead, 600), [_links("text", links, head_text)]),
                   policy_name=policy.name)


def compose_recovered(policy: Policy, since: str | datetime | None = None, streak: int | None = None) -> Message:
    """'ACME Privacy Policy — checks recovered' after a failing streak."""
    lead = f"{policy.name} can be checked again"
    if streak:
        lead += f" after {_plural(streak, 'run')} without a readable policy"
    if since:
        lead += f" (failing since {_when(since)})"
    links = [("page", redact_page(policy.url))]
    return Message("recovered", f"{policy.name} — checks recovered", Body("markdown", lead + ".",
                                                                           [_links("markdown", links)]),
                   Body("html", lead + ".", [_links("html", links)]), policy_id=policy.id,
                   text_body=Body("text", lead + ".", [_links("text", links)]), policy_name=policy.name)


def compose_test(target_name: str | None = None, when: str | datetime | None = None) -> Message:
    """The message of ``policywatch notify test``."""
    to = f" to notify target '{target_name}'" if target_name else ""
    lead = f"If you can read this, policywatch can send messages{to}."
    head = f"Sent {_when(when)}"
    return Message("test", "policywatch — test notification", Body("markdown", lead, [head]),
                   Body("html", lead, [f"<p>{html.escape(head)}</p>"]), text_body=Body("text", lead, [head]))
