"""Render a judged diff for people: terminal text (coloured on a TTY), Markdown, or one HTML page."""

from __future__ import annotations

import html

from policywatch.diff import DocumentDiff, SectionDiff
from policywatch.judge import Judgement, Signal
from policywatch.report import plain_categories

SEVERITY_COLOR = {"high": "\033[1;31m", "medium": "\033[33m", "low": "\033[36m", "none": "\033[2m"}
RED, GREEN, BOLD, DIM, RESET = "\033[31m", "\033[32m", "\033[1m", "\033[2m", "\033[0m"


MAX_SHOWN_SIGNALS = 4  # per section in text, Markdown and HTML; JSON keeps them all




def shown_signals(section: SectionDiff) -> tuple[list[Signal], int]:
    """The most severe signals of a section (already ranked), and how many more there are."""
    return section.signals[:MAX_SHOWN_SIGNALS], max(0, len(section.signals) - MAX_SHOWN_SIGNALS)


def _more(count: int) -> str:
    return f"… and {count} more finding{'s' if count > 1 else ''} (all of them in --format json)"


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
    lines: list[list[tuple[int, str]]] = [[]]
    for op, text in section.ops:
        parts = text.split("\n")
        for k, part in enumerate(parts):
            if part:
                lines[-1].append((op, part))
            if k < len(parts) - 1:
                lines.append([])
    kept = [line for line in lines if any(op != 0 for op, _ in line)]
    trimmed = SectionDiff(section.status, section.old, section.new, section.old_index, section.new_index)
    for line in kept:
        trimmed.ops.extend(line + [(0, "\n")])
    return trimmed


def render_text(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str, color: bool) -> str:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if color else text

    out = [paint(SEVERITY_COLOR[judgement.severity], verdict_line(judgement)),
           paint(DIM, f"--- {old_label}\n+++ {new_label}")]
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


def render_markdown(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str) -> str:
    # Every piece of page text is escaped: headings, a renamed section's old title and company
    # names in the verdict are the page's words, and a ticket system renders them as Markdown.
    out = [f"**{md_escape(verdict_line(judgement))}**", "", f"{md_escape(old_label)} → {md_escape(new_label)}", ""]
    for section in interesting_sections(diff):
        out.append(f"### {md_escape(section_path(section))}")
        out.append(f"*{md_escape(status_text(section))} — severity {section.severity}"
                   + (f", {', '.join(section.kinds)}" if section.kinds else "") + "*")
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
            elif op == -1:
                rendered.append(f"~~{md_escape(line.strip())}~~")
            else:
                rendered.append(f"**{md_escape(line.strip())}**")
        out.append("\n".join(rendered))
    return "".join(out).strip()


HTML_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:1rem 2rem;background:#fff;border-bottom:1px solid #ddd}
main{display:flex;gap:2rem;padding:1rem 2rem}nav{min-width:16rem;max-width:20rem;font-size:13px}
nav ol{padding-left:1.2rem}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin-bottom:1rem;padding:.8rem 1rem}
.badge{display:inline-block;border-radius:3px;padding:0 .4em;font-size:12px;margin-left:.3em;color:#fff;background:#888}
.high{background:#c62828}.medium{background:#ef6c00}.low{background:#0277bd}.none{background:#9e9e9e}
ins{background:#d4f7d4;text-decoration:none}del{background:#fbd3d3}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.side div{white-space:pre-wrap;font-size:13px}
.signal{font-size:13px;margin:.3rem 0}.ev{color:#555;margin-left:1rem}
@media (max-width:900px){main{display:block}.side{display:block}}
"""


def render_html(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str) -> str:
    e = html.escape
    changed = interesting_sections(diff)
    outline = "".join(
        f'<li><a href="#s{k}">{e(s.heading)}</a><span class="badge {e(s.severity)}">{e(s.status)}</span></li>'
        for k, s in enumerate(changed))
    parts = []
    for k, s in enumerate(changed):
        body = _html_ops(_context_ops(s))
        old_text = e("\n".join(b.text for b in s.old.blocks)) if s.old else ""
        new_text = e("\n".join(b.text for b in s.new.blocks)) if s.new else ""
        shown, more = shown_signals(s)
        signals = "".join(
            f'<div class="signal"><span class="badge {e(g.severity)}">{e(g.severity)}</span> '
            f'{e(plain_categories([g.category]))}: {e(g.message)}'
            + (f'<div class="ev">− {e(g.old)}</div>' if g.old else "")
            + (f'<div class="ev">+ {e(g.new)}</div>' if g.new else "") + "</div>" for g in shown)
        if more:
            signals += f'<div class="signal">{e(_more(more))}</div>'
        parts.append(
            f'<section id="s{k}"><h2>{e(section_path(s))}'
            f'<span class="badge {e(s.severity)}">{e(s.severity)}</span></h2>'
            f'<p><em>{e(status_text(s))}</em>{" — " + e(", ".join(s.kinds)) if s.kinds else ""}</p>'
            f'<p style="white-space:pre-wrap">{body}</p>{signals}'
            f'<details><summary>old and new side by side</summary><div class="side"><div>{old_text}</div>'
            f'<div>{new_text}</div></div></details></section>')
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>policywatch diff — {e(new_label)}</title><style>{HTML_STYLE}</style></head><body>"
        f'<header><h1><span class="badge {e(judgement.severity)}">{e(judgement.severity)}</span> '
        f"{e(verdict_line(judgement))}</h1><p>{e(old_label)} → {e(new_label)}</p></header>"
        f"<main><nav><h3>Changed sections</h3><ol>{outline}</ol></nav><div>{''.join(parts)}</div></main>"
        "</body></html>\n")


def _html_ops(section: SectionDiff) -> str:
    out = []
    for op, text in section.ops:
        text = html.escape(text)
        out.append(text if op == 0 else (f"<del>{text}</del>" if op == -1 else f"<ins>{text}</ins>"))
    return "".join(out).strip()


def render_diff(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str, fmt: str,
                color: bool = False) -> str:
    if fmt == "markdown":
        return render_markdown(diff, judgement, old_label, new_label)
    if fmt == "html":
        return render_html(diff, judgement, old_label, new_label)
    return render_text(diff, judgement, old_label, new_label, color)


def message_title(policy_name: str, judgement: Judgement) -> str:
    """'ACME Privacy Policy — material change (high): Sharing & sale, Purposes'."""
    kind = "material change" if judgement.material else "change"
    cats = f": {plain_categories(judgement.categories)}" if judgement.categories else ""
    return f"{policy_name} — {kind} ({judgement.severity}){cats}"
