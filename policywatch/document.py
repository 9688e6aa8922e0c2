"""The normalized form of a policy: a Document of sections, and its canonical Markdown.

A Document is what every later stage works on: the store keeps its canonical Markdown (whose
sha256 identifies a version), the diff aligns its sections. Documents come from HTML (see
``normalize``), from Markdown or plain text (``parse_text``, used for local drafts and
``diff-files``), or back from stored canonical Markdown (``Document.from_markdown``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

# --- text cleanup shared by every input form ------------------------------------------------

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\ufeff\u00ad"), None)
_TYPOGRAPHY = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ",
})
_SPACES = re.compile(r"\s+")
_RELATIVE_DATE = re.compile(
    r"(?:\b(?:updated|posted|edited|modified|published|changed|last\s+updated)\s*:?\s*)?"
    r"(?:\b(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|a\s+few|several)\s+"
    r"(?:second|minute|hour|day|week|month|year)s?\s+ago\b|\bjust\s+now\b|"
    r"(?<=updated )(?:yesterday|today)\b|(?<=posted )(?:yesterday|today)\b)",
    re.IGNORECASE,
)
# Bullets and numbering that say nothing once the text is a list item.
_LIST_MARKER = re.compile(r"^(?:[-*+\u2022\u00b7\u25aa\u25e6\u2023\u25cf\u25cb\u2013\u2014>]+|"
                          r"\(?(?:\d{1,3}|[a-zA-Z]|[ivxIVX]{1,4})[.)](?=\s))\s*")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[])\s+")


def clean_text(text: str) -> str:
    """Fold the typographic and invisible noise DESIGN.md lists into one canonical form."""
    if not text.isascii():
        text = text.translate(_INVISIBLE)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
        text = text.translate(_TYPOGRAPHY)
    elif "`" in text:
        text = text.replace("`", "'")
    lowered = text.lower()
    if " ago" in lowered or "just now" in lowered or "yesterday" in lowered or "today" in lowered:
        text = _RELATIVE_DATE.sub(" ", text)
    text = " ".join(text.split())
    if " " in text:
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
        if "( " in text or "[ " in text:
            text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    return text


def strip_list_marker(text: str) -> str:
    return _LIST_MARKER.sub("", text, count=1).strip()


# --- headings that are not marked up as headings --------------------------------------------

PSEUDO_LEVEL = 7  # below h6: bold-only lines, question lines, numbered titles
_NUMBERED = re.compile(r"^(?P<num>(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVXL]{1,5}\.|[A-Z]\.)|(?:section|article|part)\s+"
                       r"\d{1,2}[.:]?)\s+(?P<rest>\S.*)$", re.IGNORECASE)
_MINOR_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to",
                "with", "your", "our", "we", "you", "do", "does", "is", "are", "how", "what", "why", "who",
                "when", "where", "which", "can", "us", "this", "that", "it", "if", "about", "into", "under"}


def _title_like(text: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w'-]*", text)]
    if not words or not words[0][0].isupper():
        return False
    major = [w for w in words if w.lower() not in _MINOR_WORDS]
    return not major or sum(w[0].isupper() for w in major) / len(major) >= 0.6


def heading_level(text: str, *, bold_only: bool = False) -> int | None:
    """Raw level for a line that real policies use as a heading without heading markup.

    Bold-only lines, numbered titles ("3.", "3.1", "III."), question lines and short
    all-caps lines become pseudo-headings (levels 7+, ranked later with the real ones).
    """
    words = text.split()
    if not words or len(words) > 16 or len(text) > 140:
        return None
    last = text[-1]
    match = _NUMBERED.match(text)
    if match:
        rest = match.group("rest")
        num = match.group("num").rstrip(".:")
        if rest[-1] in ".;," or len(rest.split()) > 12:
            return None
        depth = num.count(".") if num[0].isdigit() else 0
        # "4.1 Within our corporate family": a multi-level number is a heading in any case style.
        if rest.endswith("?") or _title_like(rest) or bold_only or rest.isupper() or \
                (depth and len(rest.split()) <= 10) or len(rest.split()) <= 6:
            return PSEUDO_LEVEL + depth
        return None
    if bold_only and last not in ".;," and len(words) <= 14:
        return PSEUDO_LEVEL
    if last == "?" and len(words) <= 14 and words[0][0].isupper():
        return PSEUDO_LEVEL
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 4 and text.isupper() and len(words) <= 10 and last not in ".;,":
        return PSEUDO_LEVEL
    return None


# --- the model ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """A paragraph (``p``), list item (``li``, with nesting ``depth``) or table row (``row``)."""

    kind: str
    text: str
    depth: int = 0


@dataclass
class Section:
    heading: str  # "" for the text before the first heading
    level: int  # 0 for that preamble; headings are ranked 1, 2, … by their markup level
    path: tuple[str, ...]
    blocks: list[Block] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)


@dataclass
class Document:
    sections: list[Section]
    title: str | None = None
    lang: str | None = None

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(cls, items: Iterable[tuple[str, str, int]], title: str | None = None,
              lang: str | None = None) -> Document:
        """Build from ``(kind, text, level_or_depth)`` items in reading order.

        ``kind`` is ``h`` (level = raw heading level), ``p``, ``li`` (level = depth) or ``row``.
        Raw heading levels are ranked so that the same page under another template (h2/h3
        versus h3/h4, or bold paragraphs) yields the same text.
        """
        items = [(k, t, lv) for k, t, lv in items if t]
        ranks = {lv: i + 1 for i, lv in enumerate(sorted({lv for k, _, lv in items if k == "h"}))}
        sections = [Section(heading="", level=0, path=())]
        stack: list[tuple[int, str]] = []
        for kind, text, level in items:
            if kind == "h":
                rank = min(ranks[level], 6)
                while stack and stack[-1][0] >= rank:
                    stack.pop()
                stack.append((rank, text))
                sections.append(Section(heading=text, level=rank, path=tuple(h for _, h in stack)))
            else:
                sections[-1].blocks.append(Block(kind, text, level if kind == "li" else 0))
        if not sections[0].blocks:
            sections.pop(0)
        return cls(sections=sections, title=title, lang=lang)

    # -- canonical text ----------------------------------------------------------------------
    def markdown(self) -> str:
        """Canonical Markdown: the text whose sha256 identifies a version."""
        cached = self.__dict__.get("_markdown")
        if cached is None:
            cached = self.__dict__["_markdown"] = self._render_markdown()
        return cached

    def _render_markdown(self) -> str:
        out: list[str] = []
        for section in self.sections:
            if section.level:
                out.append("#" * section.level + " " + section.heading)
                out.append("")
            previous = None
            for block in section.blocks:
                if block.kind == "li":
                    # Nesting depth is presentation: a list re-indented by a new template is the same text.
                    line = "- " + block.text
                elif block.kind == "row":
                    line = "| " + block.text + " |"
                else:
                    line = _escape(block.text)
                if previous is not None and not (block.kind == previous and block.kind in ("li", "row")):
                    out.append("")
                out.append(line)
                previous = block.kind
            out.append("")
        return "\n".join(out).strip() + "\n" if out else ""

    @property
    def sha256(self) -> str:
        return text_sha256(self.markdown())

    @property
    def plain_text(self) -> str:
        cached = self.__dict__.get("_plain_text")
        if cached is None:
            cached = self.__dict__["_plain_text"] = self._render_plain_text()
        return cached

    def _render_plain_text(self) -> str:
        parts = []
        for section in self.sections:
            if section.heading:
                parts.append(section.heading)
            parts.extend(b.text for b in section.blocks)
        return "\n".join(parts)

    @property
    def word_count(self) -> int:
        return len(self.plain_text.split())

    @classmethod
    def from_markdown(cls, text: str) -> Document:
        """Read canonical Markdown (as ``markdown()`` writes it) back into a Document."""
        items: list[tuple[str, str, int]] = []
        paragraph: list[str] = []

        def flush() -> None:
            if paragraph:
                items.append(("p", _unescape(" ".join(paragraph)), 0))
                paragraph.clear()

        for line in text.splitlines():
            heading = re.match(r"^(#{1,6}) (.*)$", line)
            item = re.match(r"^( *)- (.*)$", line)
            if heading:
                flush()
                items.append(("h", heading.group(2), len(heading.group(1))))
            elif item:
                flush()
                items.append(("li", item.group(2), len(item.group(1)) // 2))
            elif line.startswith("| ") and line.endswith(" |"):
                flush()
                items.append(("row", line[2:-2], 0))
            elif not line.strip():
                flush()
            else:
                paragraph.append(line)
        flush()
        return cls.build(items)


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _escape(text: str) -> str:
    if re.match(r"^(#{1,6} |\s*- |\| |\\)", text):
        return "\\" + text
    return text


def _unescape(text: str) -> str:
    return text[1:] if text.startswith("\\") else text


# --- Markdown and plain text ----------------------------------------------------------------

_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])|"
                          r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])")
_INLINE_HTML = re.compile(r"<br\s*/?>|</?(?:span|a|b|i|em|strong|u|sup|sub|small|code)\b[^>]*>", re.I)
_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+\u2022\u00b7\u25aa\u25e6\u2023]|\d{1,3}[.)]|\(\w{1,4}\)|[a-z][.)])\s+(\S.*)$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(.+?)\1\s*:?\s*$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def _inline_markdown(text: str) -> str:
    text = _INLINE_HTML.sub(" ", text) if "<" in text else text
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub(lambda m: m.group(2) or m.group(3) or m.group(4), text)
    return text.replace("\\", "") if "\\" in text else text


def parse_text(text: str, title: str | None = None) -> Document:
    """Markdown or plain text → Document, finding headings in the forms policies use."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        for end in range(1, min(len(lines), 60)):
            if lines[end].strip() == "---":
                for meta in lines[1:end]:
                    key, _, value = meta.partition(":")
                    if key.strip() == "title" and value.strip():
                        title = value.strip().strip("'\"")
                lines = lines[end + 1:]
                break
    items: list[tuple[str, str, int]] = []
    paragraph: list[str] = []
    previous_blank = True
    wrapped = _hard_wrapped(lines)

    def flush() -> None:
        if paragraph:
            joined = clean_text(_inline_markdown(" ".join(paragraph)))
            items.append(("p", joined, 0))
            paragraph.clear()

    for index, raw in enumerate(lines):
        line = raw.rstrip()
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if not line.strip():
            flush()
            previous_blank = True
            continue
        if (match := _ATX.match(line)):
            flush()
            items.append(("h", clean_text(_inline_markdown(match.group(2))), len(match.group(1))))
        elif line.strip() and _SETEXT.match(following) and not paragraph and not _ITEM.match(line) \
                and len(line.split()) <= 16:
            flush()
            items.append(("h", clean_text(_inline_markdown(line)), 1 if following.strip()[0] == "=" else 2))
        elif _SETEXT.match(line) and items and items[-1][0] == "h":
            pass  # the underline of a setext heading
        elif _TABLE_SEPARATOR.match(line) and "|" in line:
            pass
        elif line.lstrip().startswith("|") and line.rstrip().endswith("|"):
            flush()
            cells = [clean_text(_inline_markdown(c)) for c in line.strip().strip("|").split("|")]
            items.append(("row", " | ".join(cells), 0))
        elif (bold := _BOLD_LINE.match(line)) and heading_level(clean_text(bold.group(2)), bold_only=True):
            flush()
            heading = clean_text(bold.group(2))
            items.append(("h", heading, heading_level(heading, bold_only=True) or PSEUDO_LEVEL))
        elif (level := _plain_heading(line, previous_blank, following)) is not None:
            flush()
            items.append(("h", clean_text(_inline_markdown(line)), level))
        elif (item := _ITEM.match(line)):
            flush()
            depth = len(item.group(1).expandtabs(4)) // 2
            items.append(("li", clean_text(_inline_markdown(item.group(2))), depth))
        elif not wrapped and paragraph and paragraph[-1].rstrip()[-1:] in ".!?:;" and \
                not raw.startswith((" ", "\t")):
            # Plain text often puts one paragraph per line: a finished sentence ends the block
            # (unless the text is hard-wrapped, where a line may end anywhere in a sentence).
            flush()
            paragraph.append(line.strip())
        elif not paragraph and items and items[-1][0] == "li" and raw.startswith(("  ", "\t")):
            kind, prev, depth = items.pop()
            items.append((kind, clean_text(prev + " " + _inline_markdown(line)), depth))
        else:
            paragraph.append(line.strip())
        previous_blank = False
    flush()
    return Document.build(items, title=title)


def _hard_wrapped(lines: list[str]) -> bool:
    """Is this text wrapped at a fixed width (lines of a paragraph end anywhere in a sentence)?"""
    runs = [len(line.rstrip()) for line, after in zip(lines, lines[1:] + [""], strict=True)
            if line.strip() and after.strip() and not _ATX.match(line) and not _ITEM.match(after)]
    if len(runs) < 6:
        return False
    width = sorted(runs)[int(len(runs) * 0.9)]
    if not 30 <= width <= 120:
        return False
    return sum(1 for n in runs if n >= width * 0.7) >= len(runs) * 0.6


def _plain_heading(line: str, previous_blank: bool, following: str) -> int | None:
    """A plain-text line that stands alone and reads like a heading."""
    text = clean_text(_inline_markdown(line))
    if not previous_blank and following.strip() and not _NUMBERED.match(text):
        # Inside a run of lines only numbered titles count (e.g. "1. What information do we collect?").
        return None
    level = heading_level(text)
    if level is None and previous_blank and not following.strip() and len(text.split()) <= 8 \
            and text[-1:] not in ".;,:!" and _title_like(text) and not _ITEM.match(line):
        level = PSEUDO_LEVEL  # a short title standing alone between blank lines
    if level is None:
        return None
    if _ITEM.match(line) and not text.endswith("?") and not _title_like(strip_list_marker(text)):
        return None
    return level
