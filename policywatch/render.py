"""Render a judged diff for people: terminal text (coloured on a TTY), Markdown, or one HTML page."""

from __future__ import annotations

import dataclasses
import functools
import unicodedata
from dataclasses import dataclass, field

from policywatch.diff import DocumentDiff, SectionDiff
from policywatch.document import Section, table_headers
from policywatch.judge import Judgement, Signal
from policywatch.report import plain_categories, review_words

SEVERITY_COLOR = {"high": "\033[1;31m", "medium": "\033[33m", "low": "\033[36m", "none": "\033[2m"}
RED, GREEN, BOLD, DIM, RESET = "\033[31m", "\033[32m", "\033[1m", "\033[2m", "\033[0m"


MAX_SHOWN_SIGNALS = 4  # per section in text, Markdown and HTML; JSON keeps them all




def shown_signals(section: SectionDiff) -> tuple[list[Signal], int]:
    """The most severe signals of a section (already ranked), and how many more there are."""
    return section.signals[:MAX_SHOWN_SIGNALS], max(0, len(section.signals) - MAX_SHOWN_SIGNALS)


def _more(count: int, where: str = " (all of them in --format json)") -> str:
    return f"… and {count} more finding{'s' if count > 1 else ''}{where}"


# What a section's kinds of change mean, for pages and messages read by people (JSON keeps the names).
KIND_WORDS = {"substantive": "changes what it says", "editorial": "reworded", "date_stamp": "date only",
              "formatting": "layout only"}


def verdict_line(judgement: Judgement) -> str:
    flag = "material" if judgement.material else "not material"
    cats = f" — {plain_categories(judgement.categories)}" if judgement.categories else ""
    return f"{judgement.severity.upper()} ({flag}){cats}: {judgement.summary}"


def status_text(section: SectionDiff) -> str:
    parts = [section.status]
    if section.renamed and section.status != "renamed":
        parts.append(f"renamed from “{section.old_heading}”")
    elif section.status == "renamed":
        parts = [f"renamed from “{section.old_heading}”"]
    if section.moved and section.status != "moved":
        parts.append(f"moved from § {section.old_index + 1}")
    elif section.status == "moved":
        parts = [f"moved from § {section.old_index + 1} to § {section.new_index + 1}"]
    return ", ".join(parts)


def interesting_sections(diff: DocumentDiff) -> list[SectionDiff]:
    return [s for s in diff.sections if s.changed and s.severity != "none" or s.status in ("added", "removed")] or \
        diff.changed_sections


def _inline_ops(section: SectionDiff, insert: str, delete: str, end: str, escape=lambda t: t) -> str:
    out = []
    for op, text in section.ops:
        if op == 0:
            out.append(escape(text))
        elif op == -1:
            out.append(delete + escape(text) + end)
        else:
            out.append(insert + escape(text) + end)
    return "".join(out).strip()


def _context_ops(section: SectionDiff) -> SectionDiff:
    """Keep only changed paragraphs (lines) of a section's word diff, for compact output."""
    trimmed = SectionDiff(section.status, section.old, section.new, section.old_index, section.new_index)
    for line in _lines(section.ops):
        if any(op != 0 for op, _ in line):
            trimmed.ops.extend(line + [(0, "\n")])
    return trimmed


def render_text(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str, color: bool,
                header: PageHeader | None = None) -> str:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if color else text

    out = [paint(SEVERITY_COLOR[judgement.severity], verdict_line(judgement))]
    out += [paint(DIM, line) for line in _with_dates(header, judgement).lines()] if header is not None else []
    out.append(paint(DIM, f"--- {old_label}\n+++ {new_label}"))
    if diff.identical:
        return "\n".join(out) + "\n"
    for section in interesting_sections(diff):
        out.append("")
        path = section_path(section)
        out.append(paint(BOLD, f"§ {path}") + f"  [{status_text(section)}; {section.severity}"
                   + (f"; {', '.join(section.kinds)}" if section.kinds else "") + "]")
        body = _context_ops(section)
        text = _inline_ops(body, GREEN + "\033[4m", RED + "\033[9m", RESET) if color else _plain_markers(body)
        if text:
            out.extend("    " + line for line in text.splitlines())
        shown, more = shown_signals(section)
        for signal in shown:
            out.append(paint(SEVERITY_COLOR[signal.severity], f"  ! {signal.severity} "
                                                               f"{plain_categories([signal.category])}: "
                                                               f"{signal.message}"))
            if signal.old:
                out.append(paint(RED, f"      − {signal.old}"))
            if signal.new:
                out.append(paint(GREEN, f"      + {signal.new}"))
        if more:
            out.append(paint(DIM, f"  {_more(more)}"))
    return "\n".join(out) + "\n"


def _plain_markers(section: SectionDiff) -> str:
    """wdiff-style markers for pipes: [-removed-] {+added+}."""
    out = []
    for op, text in section.ops:
        if op == 0:
            out.append(text)
        elif op == -1:
            out.append(f"[-{text}-]")
        else:
            out.append(f"{{+{text}+}}")
    return "".join(out).strip()


def render_markdown(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str,
                    header: PageHeader | None = None) -> str:
    # Every piece of page text is escaped: headings, a renamed section's old title and company
    # names in the verdict are the page's words, and a ticket system renders them as Markdown.
    out = [f"**{md_escape(verdict_line(judgement))}**", ""]
    if header is not None:
        out += [md_escape(line) + "  " for line in _with_dates(header, judgement).lines()]
        out[-1] = out[-1].rstrip()
        out.append("")
    out += [f"{md_escape(old_label)} → {md_escape(new_label)}", ""]
    for section in interesting_sections(diff):
        out.append(f"### {md_escape(section_path(section))}")
        out.append(f"*{md_escape(status_text(section))} — severity {section.severity}"
                   + (f", {', '.join(KIND_WORDS.get(k, k) for k in section.kinds)}" if section.kinds else "") + "*")
        out.append("")
        body = _balance_markdown(_context_ops(section))
        if body:
            out.extend("> " + line for line in body.splitlines())
            out.append("")
        shown, more = shown_signals(section)
        for signal in shown:
            out.append(f"- **{signal.severity}** {md_escape(plain_categories([signal.category]))}: "
                       f"{md_escape(signal.message)}")
            out.extend(_md_evidence(signal))
        if more:
            out.append(f"- {md_escape(_more(more))}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _md_evidence(signal) -> list[str]:
    """The before / after sentences of a signal as Markdown sub-items."""
    out = []
    if signal.old:
        out.append(f"  - before: “{md_escape(signal.old)}”")
    if signal.new:
        out.append(f"  - after: “{md_escape(signal.new)}”")
    return out


def section_path(section: SectionDiff) -> str:
    return " › ".join((section.new or section.old).path) or "(preamble)"


def md_escape(text: str) -> str:
    """Page text made inert in Markdown: every character Markdown could read as syntax is escaped."""
    return "".join("\\" + c if c in "\\`*_[]<>|~" else c for c in text)


def _balance_markdown(section: SectionDiff) -> str:
    out = []
    for op, text in section.ops:
        lines = text.split("\n")
        rendered = []
        for line in lines:
            if not line.strip() or op == 0:
                rendered.append(md_escape(line))
            else:
                rendered.append(_marked(line, "~~" if op == -1 else "**"))
        out.append("\n".join(rendered))
    return "".join(out).strip()


def _marked(line: str, marker: str) -> str:
    """A changed run of one line between Markdown markers, the whitespace at its edges outside them:
    CommonMark only reads markers that touch words, and the spaces are the page's, between its words.

    So is the punctuation at its edges ("account**, and to train…**" is no emphasis to CommonMark:
    a marker after a letter cannot open before a comma), unless the run is punctuation alone.
    """
    words = line.strip()
    start = line.index(words)
    before, after = line[:start], line[start + len(words):]
    start, end = 0, len(words)
    while start < end and _edge(words[start]):
        start += 1
    while end > start and _edge(words[end - 1]):
        end -= 1
    if start < end:
        before, after = before + md_escape(words[:start]), md_escape(words[end:]) + after
        words = words[start:end]
    return f"{before}{marker}{md_escape(words)}{marker}{after}"


def _edge(character: str) -> bool:
    """Punctuation or a symbol, as CommonMark tells them (Unicode P and S), or a space."""
    return character.isspace() or unicodedata.category(character)[0] in "PS"


HTML_STYLE_TEXT = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:1rem 2rem;background:#fff;border-bottom:1px solid #ddd}
header table.versions{border-collapse:collapse;font-size:13px}
header table.versions th,header table.versions td{text-align:left;padding:0 1rem 0 0}
main{display:flex;gap:2rem;padding:1rem 2rem}nav{min-width:16rem;max-width:20rem;font-size:13px}
nav ol{padding-left:1.2rem}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin-bottom:1rem;padding:.8rem 1rem}
.badge{display:inline-block;border-radius:3px;padding:0 .4em;font-size:12px;margin-left:.3em;color:#fff;background:#888}
.high{background:#c62828}.medium{background:#ef6c00}.low{background:#0277bd}.none{background:#9e9e9e}
ins{background:#d4f7d4;text-decoration:none}del{background:#fbd3d3}
p.line{margin:.3rem 0;white-space:pre-wrap}table.rows{margin:.4rem 0;font-size:14px}
body{overflow-wrap:anywhere}main>*{min-width:0}svg{max-width:100%;height:auto}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.side div{font-size:13px}
.signal{font-size:13px;margin:.3rem 0}.ev{color:#555;margin-left:1rem}
@media (max-width:900px){main{display:block}.side{display:block}}
"""

class _Trusted(str):
    """Text of our own that templates insert as it is (jinja2 reads ``__html__``): our stylesheet,
    whose ``>`` selectors and quotes must not be escaped."""

    def __html__(self) -> str:
        return str(self)


HTML_STYLE = _Trusted(HTML_STYLE_TEXT)

Ops = list[tuple[int, str]]  # word-diff pieces: (-1 removed | 0 kept | 1 added, text)


@dataclass
class Table:
    """Table rows of a section as a table: a header row (the first row of the page's table) and rows of cells."""

    header: list[Ops] | None
    rows: list[list[Ops]]


@dataclass
class PageHeader:
    """What heads a diff page or message: the policy, its URL, when each version was captured and the
    date each one states ("Last updated"), links to archived copies, and notes (how to see the raw page)."""

    policy: str | None = None
    url: str | None = None
    old_captured: str | None = None
    new_captured: str | None = None
    old_stated: str | None = None
    new_stated: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    home: tuple[str, str] | None = None  # (label, relative URL): the page this one belongs to, on a site

    def lines(self) -> list[str]:
        """The header as plain lines (text and Markdown renderings escape them themselves)."""
        out = []
        if self.policy:
            out.append(self.policy + (f" — {self.url}" if self.url else ""))
        if self.old_captured or self.new_captured:
            out.append(f"captured {self.old_captured or '?'} → {self.new_captured or '?'}")
        if self.old_stated or self.new_stated:
            out.append(f"the text states {self.old_stated or 'no date'} → {self.new_stated or 'no date'}")
        out += [f"{label}: {url}" for label, url in self.links]
        return out + list(self.notes)


def _lines(ops: Ops) -> list[Ops]:
    """A section's word diff cut into its blocks (one line each)."""
    lines: list[Ops] = [[]]
    for op, text in ops:
        parts = text.split("\n")
        for k, part in enumerate(parts):
            if part:
                lines[-1].append((op, part))
            if k < len(parts) - 1:
                lines.append([])
    return [line for line in lines if line]


def row_heads(section: Section | None) -> dict[str, str]:
    """Each table row's text → the first row of its table (its header, as pages write tables)."""
    if section is None:
        return {}
    heads: dict[str, str] = {}
    for block, header in zip(section.blocks, table_headers(section.blocks), strict=True):
        if header is not None:
            heads.setdefault(block.text, header)
    return heads


def cells(line: Ops) -> list[Ops]:
    """A table row's word diff cut into cells where the normalizer joined them (``row_cells`` for plain text)."""
    out: list[Ops] = [[]]
    for op, text in line:
        for k, piece in enumerate(text.split("|")):
            if k:
                out.append([])
            if piece:
                out[-1].append((op, piece))
    for cell in out:  # the spaces around a separator are not part of a cell
        if cell:
            cell[0] = (cell[0][0], cell[0][1].lstrip())
            cell[-1] = (cell[-1][0], cell[-1][1].rstrip())
    return [[piece for piece in cell if piece[1]] for cell in out]


def _side(line: Ops, op: int) -> str:
    return "".join(t for o, t in line if o == 0 or o == op).strip()


def tabulate(lines: list[Ops], old: Section | None, new: Section | None) -> list[Ops | Table]:
    """Lines of a section's diff with its table rows gathered into tables (under their header row)."""
    heads_old, heads_new = row_heads(old), row_heads(new)
    out: list[Ops | Table] = []
    current: str | None = None
    for line in lines:
        before, after = _side(line, -1), _side(line, 1)
        head = heads_new.get(after) or heads_old.get(before)
        if head is None:
            out.append(line)
            current = None
            continue
        if head != current or not isinstance(out[-1], Table):
            current = head
            if head in (before, after):
                out.append(Table(cells(line), []))
                continue
            out.append(Table(cells([(0, head)]), []))
        out[-1].rows.append(cells(line))
    return out


def diff_blocks(section: SectionDiff) -> list[Ops | Table]:
    """The changed blocks of a section (with the header row of a changed table), for HTML."""
    changed = [line for line in _lines(section.ops) if any(op != 0 for op, _ in line)]
    return tabulate(changed, section.old, section.new)


def text_blocks(section: Section | None) -> list[Ops | Table]:
    """A whole section's blocks, unchanged, for HTML."""
    if section is None:
        return []
    return tabulate([[(0, b.text)] for b in section.blocks], section, section)


@functools.lru_cache(maxsize=1)
def templates():
    """The package's jinja2 templates, every value escaped for HTML."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("policywatch", "templates"),
                                     autoescape=True, trim_blocks=True, lstrip_blocks=True,
                                     undefined=jinja2.StrictUndefined)
    environment.filters["link"] = safe_link
    environment.filters["live_link"] = live_link
    environment.globals["review_words"] = review_words  # one wording of a review, as everywhere else
    return environment


def live_link(url: str | None):
    """A policy's address on a page: a link when it is a URL (web, or a file:// one); a plain path
    as text (as an href, it would resolve against wherever the page is served from)."""
    from markupsafe import Markup, escape

    text = (url or "").strip()
    if text.lower().startswith(("http://", "https://", "file://")):
        return Markup('<a href="{}">{}</a>').format(safe_link(text), text)
    return escape(text)


def safe_link(url: str | None) -> str:
    """A URL fit for an href: http(s), file, mailto or a relative path; anything else (javascript:,
    data:) becomes "#". Page text can reach links (a policy's URL, an archive's), and escaping alone
    does not stop a script URL."""
    text = (url or "").strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text.split("/", 1)[0] else ""
    return text if scheme in ("", "http", "https", "file", "mailto") else "#"


def render_html(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str,
                header: PageHeader | None = None) -> str:
    header = _with_dates(header, judgement)
    sections = []
    for s in interesting_sections(diff):
        shown, more = shown_signals(s)
        sections.append({
            "heading": s.heading, "path": section_path(s), "severity": s.severity, "status": s.status,
            "status_text": status_text(s), "kinds": [KIND_WORDS.get(k, k) for k in s.kinds], "changes": diff_blocks(s),
            "old": text_blocks(s.old), "new": text_blocks(s.new), "more": _more(more, "") if more else "",
            "signals": [{"severity": g.severity, "category": plain_categories([g.category]), "message": g.message,
                         "old": g.old, "new": g.new} for g in shown]})
    return templates().get_template("diff.html").render(
        style=HTML_STYLE, judgement=judgement, verdict=verdict_line(judgement), header=header,
        old_label=old_label, new_label=new_label, sections=sections)


def _with_dates(header: PageHeader | None, judgement: Judgement) -> PageHeader:
    """``header`` with the dates the versions state, from the judgement when the caller did not give them."""
    header = dataclasses.replace(header) if header is not None else PageHeader()
    header.old_stated = header.old_stated or judgement.old_date
    header.new_stated = header.new_stated or judgement.new_date
    return header


def render_diff(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str, fmt: str,
                color: bool = False, header: PageHeader | None = None) -> str:
    if fmt == "markdown":
        return render_markdown(diff, judgement, old_label, new_label, header)
    if fmt == "html":
        return render_html(diff, judgement, old_label, new_label, header)
    return render_text(diff, judgement, old_label, new_label, color, header)


def message_title(policy_name: str, judgement: Judgement) -> str:
    """'ACME Privacy Policy — material change (high): Sharing & sale, Purposes'."""
    kind = "material change" if judgement.material else "change"
    cats = f": {plain_categories(judgement.categories)}" if judgement.categories else ""
    return f"{policy_name} — {kind} ({judgement.severity}){cats}"
