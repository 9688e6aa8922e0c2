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
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# --- text cleanup shared by every input form ------------------------------------------------

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\ufeff\u00ad]")
_TYPOGRAPHY = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ",
}
# Regular expressions, not str.translate: translating non-ASCII text looks up every character in a
# dict, which is most of the time spent normalizing a long policy; these characters are rare.
_TYPOGRAPHY_CHARS = re.compile("[" + re.escape("".join(_TYPOGRAPHY)) + "]")
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
_SPACED_PUNCTUATION = re.compile(r" [,.;:!?)\]]")


def clean_text(text: str) -> str:
    """Fold typographic and invisible noise (docs/architecture.md, "normalize") into one canonical form."""
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
        text = _TYPOGRAPHY_CHARS.sub(_typography, text)
    elif "`" in text:
        text = text.replace("`", "'")
    lowered = text.lower()
    if " ago" in lowered or "just now" in lowered or "yesterday" in lowered or "today" in lowered:
        text = _RELATIVE_DATE.sub(" ", text)
    text = " ".join(text.split())
    # Spaces are single now: a space before punctuation is one of these pairs (cheaper to look for than to sub).
    if " " in text and _SPACED_PUNCTUATION.search(text):
        text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    if "( " in text or "[ " in text:
        text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    return text


def _typography(match: re.Match) -> str:
    return _TYPOGRAPHY[match.group()]


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


_STAMP_WORDS = re.compile(r"\b(?:updated|revised|modified|amended|effective|dated|published|posted|version)\b",
                          re.IGNORECASE)
_DATE = re.compile(r"\b(?:19|20)\d\d\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b")


def is_date_line(text: str) -> bool:
    """A date stamp ("Last updated: May 1, 2024", "Effective 01/05/2024"): never a section title."""
    words = text.split()
    if not words or len(words) > 14 or not _DATE.search(text):
        return False
    stamp = _STAMP_WORDS.search(text)
    return stamp is not None and len(text[:stamp.start()].split()) <= 5


def heading_level(text: str, *, bold_only: bool = False) -> int | None:
    """Raw level for a line that real policies use as a heading without heading markup.

    Bold-only lines, numbered titles ("3.", "3.1", "III."), question lines and short
    all-caps lines become pseudo-headings (levels 7+, ranked later with the real ones).
    Date stamps are not titles, however they are set.
    """
    words = text.split()
    if not words or len(words) > 16 or len(text) > 140 or is_date_line(text):
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
    if text.isupper() and len(words) <= 10 and last not in ".;," and sum(c.isalpha() for c in text) >= 4:
        return PSEUDO_LEVEL
    return None


# --- the model ---------------------------------------------------------------------------------

def _without_repeated_titles(items: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Drop a heading that repeats the heading right above it ("# HER Privacy Policy" over "## HER
    Privacy Policy"): a page title set twice, which templates add and remove between captures."""
    out: list[tuple[str, str, int]] = []
    for item in items:
        if item[0] == "h" and out and out[-1][0] == "h" and _title_key(out[-1][1]) == _title_key(item[1]):
            continue
        out.append(item)
    # The page's title over the policy's own title ("Privacy Policy" over "Acme Privacy Policy"):
    # only the first heading, only when every word of it stands in the one right below it.
    if len(out) > 1 and out[0][0] == out[1][0] == "h" and \
            set(_title_key(out[0][1]).split()) < set(_title_key(out[1][1]).split()):
        out.pop(0)
    return out


def _title_key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


CELL_SEPARATOR = " | "  # how a table row's cells are joined into its text


def row_cells(text: str) -> list[str]:
    """A table row's cells (a "|" inside a cell reads as a separator too: pages rarely have one)."""
    return [cell.strip() for cell in text.split("|")]


def table_headers(blocks: Sequence[Block]) -> list[str | None]:
    """For each block, the first row of the table it is a row of (where pages put a table's
    header), or None for a block that is not a table row."""
    out: list[str | None] = []
    head, previous = None, None
    for block in blocks:
        if block.kind == "row" and previous != "row":
            head = block.text
        out.append(head if block.kind == "row" else None)
        previous = block.kind
    return out


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
        items = _without_repeated_titles([(k, t, lv) for k, t, lv in items if t])
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
        """Identifies a version: its Markdown with every heading at one level, in lowercase.

        A page that drops its title or a heading level shifts every heading below it, and a template
        sets titles in capitals or not; a reader sees the same words in the same order, so it is the
        same version (kept as first seen).
        """
        cached = self.__dict__.get("_sha256")
        if cached is None:
            cached = self.__dict__["_sha256"] = text_sha256(_HEADING_MARK.sub("# ", self.markdown()).lower())
        return cached

    @property
    def detected_language(self) -> str | None:
        """The language its words are in (``detect_language``), whatever the page's markup claims."""
        if "_detected_language" not in self.__dict__:
            self.__dict__["_detected_language"] = detect_language(self.plain_text)
        return self.__dict__["_detected_language"]

    def precompute(self) -> Document:
        """Fill the caches of what every check reads (Markdown, sha256, plain text, words, language).

        A worker process that normalized the page calls it: the caches travel back with the pickle
        instead of costing the thread that writes the results, which every page waits for.
        """
        self.sha256, self.detected_language, self.word_count  # noqa: B018  (read for their caches)
        return self

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
        cached = self.__dict__.get("_word_count")
        if cached is None:
            cached = self.__dict__["_word_count"] = len(self.plain_text.split())
        return cached

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
            heading = _MARKDOWN_HEADING.match(line) if line.startswith("#") else None
            item = _MARKDOWN_ITEM.match(line) if heading is None and "- " in line else None
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


_HEADING_MARK = re.compile(r"^#{1,6} ", re.MULTILINE)  # block text starting with "#" is escaped
_MARKDOWN_HEADING = re.compile(r"^(#{1,6}) (.*)$")  # canonical Markdown, as markdown() writes it
_MARKDOWN_ITEM = re.compile(r"^( *)- (.*)$")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _escape(text: str) -> str:
    if re.match(r"^(#{1,6} |\s*- |\| |\\)", text):
        return "\\" + text
    return text


def _unescape(text: str) -> str:
    return text[1:] if text.startswith("\\") else text


# --- Markdown and plain text ----------------------------------------------------------------
#
# Markdown is read by a CommonMark parser (markdown-it-py) so that the text is what a Markdown
# reader sees: escapes resolved, emphasis, link targets, images and literal HTML tags gone, setext,
# ATX and bold headings alike. Policies also come as plain text that is not really Markdown (one
# paragraph per line, headings without markup), so each paragraph the parser finds is then read
# line by line the way a person reads plain text.

_ITEM = re.compile(r"^(\s*)(?:[-*+\u2022\u00b7\u25aa\u25e6\u2023]|\d{1,3}[.)]|\(\w{1,4}\)|[a-z][.)])\s+(\S.*)$")
_ATX = re.compile(r"^\s{0,3}#{1,6}\s")
_RULE_LINE = re.compile(r"^(?:={3,}|-{3,}|_{3,}|\*{3,})$")  # an underline or rule left standing alone
_INLINE_TAGS = frozenset({"a", "span", "b", "i", "em", "strong", "u", "sup", "sub", "small", "code", "font", "abbr",
                          "mark", "s", "del", "ins", "img", "label", "cite", "q", "time", "bdi", "wbr"})
_BLOCK_TAGS = frozenset({"p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "ul", "ol",
                         "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "blockquote", "pre",
                         "hr", "form", "figure", "figcaption", "address", "center", "details", "summary",
                         "h1", "h2", "h3", "h4", "h5", "h6"})
_TAG = re.compile(r"^<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9]*)\b([^>]*)>$", re.S)
# Tags a Markdown parser leaves as text because they are malformed (an unclosed attribute quote).
_BROKEN_LINK = re.compile(r"!?\[([^\[\]]*)\]\(([^()\s]*\s[^()]*)\)")
_STRAY_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b(?:\s[^<>]*)?/?>")
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"?|'([^']*)'?|([^\s>]+))""", re.IGNORECASE)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "svg"})
# Screen-reader labels of links, not policy text.
# (?<!…): a run of spaces, commas and dashes is taken from its start only (from every position, it is quadratic).
_NEW_WINDOW = re.compile(r"(?:(?<![\s,-])[\s,-]+)?(?:[(\[]\s*)?(?:this\s+)?(?:link\s+)?"
                         r"(?:opens|will open|open)\s+(?:in\s+)?(?:a\s+)?new\s+(?:browser\s+)?(?:window|tab)\s*[)\]]?",
                         re.IGNORECASE)
# Cloudflare's stand-in for an address it hides from scrapers: it says only "an address is here".
_EMAIL_PLACEHOLDER = re.compile(r"\[\s*email\s+protected\s*\]", re.IGNORECASE)
# What the page shows in place of an obfuscated address; never read as a practice ("e-mail address").
EMAIL_PLACEHOLDER = "[email protected]"
_TOC_TITLE = re.compile(r"^\W*(?:(?:privacy\s+(?:policy|notice)\s+)?table\s+of\s+contents?|contents|on\s+this\s+page|"
                        r"in\s+this\s+(?:article|policy|notice|page|section)|jump\s+to|quick\s+links|"
                        r"sections|skip\s+to)\W*$", re.IGNORECASE)
_FURNITURE = re.compile(r"^\W*(?:back\s+to\s+(?:the\s+)?top|to\s+top|top\s+of\s+(?:the\s+)?page|return\s+to\s+top|"
                        r"scroll\s+to\s+top|go\s+to\s+top|skip\s+to\s+(?:main\s+)?content|skip\s+navigation|"
                        r"share\s+this\s+(?:page|article)|print\s+this\s+page)\W*$", re.IGNORECASE)
# Said by a link alone, these are buttons of the page.
_LINK_FURNITURE = re.compile(r"^\W*(?:top|print|share)\W*$", re.IGNORECASE)
_WORD = re.compile(r"\w")
_INLINE_ITEM = re.compile(r"(?:^|(?<=[:;]))\s*-\s+(?=\w)")
# "**Data:**This" is no emphasis to CommonMark (a closing ** must not touch a letter after a colon),
# but it is bold in the page it was converted from: the stars are markup, not text.
_STRAY_BOLD = re.compile(r"\*{2,3}(?=[\w(\"'])|(?<=[\w.,:;!?)\"'])\*{2,3}")


class _Line:
    """One line of a block as a reader sees it, with what the plain-text reading needs to know."""

    __slots__ = ("parts", "raw")

    def __init__(self, parts: list[tuple[str, bool, str | None]] | None = None, raw: str | None = None) -> None:
        self.parts = parts if parts is not None else []  # (text, in bold, link target)
        self.raw = raw  # the source line, when the parser's line is one line of the file

    def add(self, text: str, bold: bool, href: str | None) -> None:
        if text:
            self.parts.append((text, bold, href))

    @property
    def text(self) -> str:
        return "".join(p[0] for p in self.parts)

    @property
    def bold(self) -> bool:
        """Every word is in strong emphasis (punctuation such as a trailing colon may be outside)."""
        inside = outside = False
        for text, bold, _ in self.parts:
            if _WORD.search(text):
                inside |= bold
                outside |= not bold
        return inside and not outside

    @property
    def hrefs(self) -> list[str]:
        return [href for text, _, href in self.parts if href is not None and text.strip()]

    @property
    def unlinked(self) -> str:
        return "".join(text for text, _, href in self.parts if href is None)


@dataclass
class _Chunk:
    """A block as the CommonMark parser sees it, before the plain-text reading of its lines."""

    kind: str  # h (marked-up heading), p, li (first paragraph of a list item), more (later ones), row, code
    lines: list[_Line]
    level: int = 0  # heading level; nesting depth of a list item
    marker: str = ""  # "3." of an ordered item, "-" of a bullet
    blank_before: bool = True
    blank_after: bool = True
    body: bool = False  # a list item holding more than its first paragraph
    item: int = 0  # the list item a li or more chunk belongs to
    group: int = 0  # the list a li chunk is an item of

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)


_PARSER = None
# markdown-it drops what is nested deeper than this (20 by default: a contact list ten levels deep).
_MAX_NESTING = 100


def _markdown_parser():
    # Imported on first use: parsing Markdown is needed by diff-files and drafts, not by every command.
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        parser = MarkdownIt("commonmark", {"maxNesting": _MAX_NESTING}).enable("table")
        # Link targets are only looked at, never output: percent-encoding them is a fifth of the time.
        parser.normalizeLink = parser.normalizeLinkText = _same
        _PARSER = parser
    return _PARSER


def _same(url: str) -> str:
    return url


def parse_text(text: str, title: str | None = None) -> Document:
    """Markdown or plain text → Document, finding headings in the forms policies use."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        # Before parsing: a zero-width character next to "_" or "*" would keep it from being emphasis.
        text = _INVISIBLE.sub("", text)
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
    tokens = _markdown_parser().parse("\n".join(lines))
    if any(token.level >= _MAX_NESTING - 2 for token in tokens):
        # Nesting that deep is no document structure, and what lies deeper would be lost: read it flat.
        lines = [line.lstrip(" \t>") for line in lines]
        tokens = _markdown_parser().parse("\n".join(lines))
    chunks = _drop_furniture(_chunks(tokens, lines))
    items = _read_chunks(chunks, _hard_wrapped(lines))
    return Document.build(_drop_toc_sections(items), title=title)


# -- from markdown-it's tokens to chunks --------------------------------------------------------

@dataclass
class _Item:
    number: int
    marker: str
    depth: int
    start: int  # index of its first chunk
    group: int  # the list it is in
    first: bool = True  # nothing of it read yet


def _blank(lines: list[str], index: int) -> bool:
    return index < 0 or index >= len(lines) or not lines[index].strip(" \t>")


def _chunks(tokens: list, lines: list[str]) -> list[_Chunk]:
    out: list[_Chunk] = []
    lists: list[tuple[bool, int]] = []  # (ordered?, list number)
    items: list[_Item] = []
    count = lists_seen = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists_seen += 1
            lists.append((kind == "ordered_list_open", lists_seen))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            count += 1
            marker = (token.info + token.markup) if lists and lists[-1][0] else "-"
            items.append(_Item(count, marker, len(lists) - 1, len(out), lists[-1][1] if lists else 0))
        elif kind == "list_item_close":
            item = items.pop()
            if len(out) - item.start > 1 and out[item.start].kind == "li" and out[item.start].item == item.number:
                out[item.start].body = True
        elif kind in ("heading_open", "paragraph_open"):
            inline = tokens[i + 1]
            start, end = token.map or (0, 0)
            groups = _inline_groups(inline.children or [])
            item = items[-1] if items else None
            if kind == "heading_open" and token.markup in ("=", "-") and (
                    len(inline.content.split()) > 16 or any(c.type == "softbreak" for c in inline.children or [])):
                kind = "paragraph_open"  # a separator line under running text, not a title
            if kind == "heading_open":
                line = _Line()
                for group in groups:
                    for part in group:
                        line.parts.extend(part.parts + [(" ", False, None)])
                if item is not None and item.first and item.marker[0].isdigit():
                    line.parts.insert(0, (item.marker + " ", False, None))  # "1. **Title**" over an underline
                if item is not None:
                    item.first = False
                out.append(_Chunk("h", [line], int(token.tag[1])))
            else:
                if len(groups) == 1 and len(groups[0]) == end - start:
                    for offset, line in enumerate(groups[0]):
                        line.raw = lines[start + offset]
                for g, group in enumerate(groups):
                    chunk = _Chunk("p", group, blank_before=g > 0 or _blank(lines, start - 1),
                                   blank_after=g < len(groups) - 1 or _blank(lines, end))
                    if item is not None:
                        chunk.kind = "li" if item.first else "more"
                        chunk.level, chunk.marker, chunk.item = item.depth, item.marker, item.number
                        chunk.group = item.group
                        item.first = False
                    if g and getattr(group, "li", False):
                        chunk.kind, chunk.marker, chunk.level = "li", "-", chunk.level + 1 if item else 0
                    out.append(chunk)
            i += 3
            continue
        elif kind in ("code_block", "fence"):
            start, end = token.map or (0, 0)
            body = lines[start:end] if kind == "code_block" else token.content.split("\n")
            code = [_Line([(line, False, None)], raw=line) for line in body]
            out.append(_Chunk("code", code, items[-1].depth if items else 0, blank_before=True, blank_after=True))
            if items:
                items[-1].first = False
        elif kind == "html_block":
            out.extend(_html_chunks(token.content))
            if items:
                items[-1].first = False
        elif kind == "tr_open":
            cells: list[str] = []
            i += 1
            while tokens[i].type != "tr_close":
                if tokens[i].type == "inline":
                    cells.append(_clean_line(" ".join(
                        line.text for group in _inline_groups(tokens[i].children or []) for line in group)))
                i += 1
            out.append(_Chunk("row", [_Line([(" | ".join(cells), False, None)])]))
        i += 1
    return out


class _Group(list):
    """Lines of one paragraph between block-level HTML tags; ``li`` when an ``<li>`` opened it."""

    li = False


def _inline_groups(children: list) -> list[_Group]:
    """Render an inline token's children as lines, split where literal block HTML tags split them."""
    groups = [_Group([_Line()])]
    bold = 0
    links: list[str] = []
    replacement: str | None = None  # the decoded address of a Cloudflare-protected link
    for token in children:
        kind = token.type
        if kind == "text" or kind == "code_inline":
            content = token.content
            if "<" in content:
                content = _STRAY_TAG.sub(_stray_tag, content)
            if replacement is not None:
                content, replacement = replacement, ""
            if "](" in content and not links:
                _add_broken_links(groups[-1][-1], content, bold > 0)
            else:
                groups[-1][-1].add(content, bold > 0, links[-1] if links else None)
        elif kind in ("softbreak", "hardbreak"):
            groups[-1].append(_Line())
        elif kind == "strong_open":
            bold += 1
        elif kind == "strong_close":
            bold = max(0, bold - 1)
        elif kind == "link_open":
            href = str(token.attrs.get("href") or "")
            links.append(href)
            replacement = _cloudflare_address(href)
        elif kind == "link_close":
            if links:
                links.pop()
            replacement = None
        elif kind == "html_inline":
            match = _TAG.match(token.content.strip())
            if not match:
                continue  # a comment or declaration
            closing, name = match.group(1), match.group(2).lower()
            if name not in _INLINE_TAGS and name not in _BLOCK_TAGS and name not in ("br", "td", "th"):
                # Not markup a policy page is made of (a <script>, a made-up tag): show it, hide nothing.
                groups[-1][-1].add(token.content, bold > 0, links[-1] if links else None)
            elif name == "br":
                groups[-1].append(_Line())
            elif name == "a":
                if closing:
                    if links:
                        links.pop()
                else:
                    href = _HREF.search(match.group(3))
                    links.append(next((g for g in href.groups() if g is not None), "") if href else "")
            elif name in ("strong", "b"):
                bold = max(0, bold - 1) if closing else bold + 1
            elif name in _BLOCK_TAGS:
                group = _Group([_Line()])
                group.li = name == "li" and not closing
                groups.append(group)
            elif name in ("td", "th") and not closing:
                groups[-1][-1].add(" ", False, None)
    kept = [g for g in groups if any(line.text.strip() for line in g)]
    return kept or [groups[0]]


def _add_broken_links(line: _Line, content: str, bold: bool) -> None:
    """Links whose target has a space are text to CommonMark, but links in the page they were taken from."""
    at = 0
    for match in _BROKEN_LINK.finditer(content):
        line.add(content[at:match.start()], bold, None)
        if not match.group(0).startswith("!"):  # an image says nothing
            line.add(match.group(1), bold, match.group(2).strip())
        at = match.end()
    line.add(content[at:], bold, None)


def _stray_tag(match: re.Match) -> str:
    name = match.group(1).lower()
    if name in _INLINE_TAGS:
        return ""
    return " " if name in _BLOCK_TAGS or name == "br" else match.group(0)


def _cloudflare_address(href: str) -> str | None:
    """The address a Cloudflare e-mail protection link encodes after its '#', if it does."""
    if "/cdn-cgi/l/email-protection#" not in href:
        return None
    try:
        data = bytes.fromhex(href.rpartition("#")[2])
        return bytes(b ^ data[0] for b in data[1:]).decode("utf-8") if len(data) > 1 else None
    except (ValueError, UnicodeDecodeError):
        return None


def _html_chunks(html: str) -> list[_Chunk]:
    """A literal HTML block inside Markdown, read as a browser would show it."""
    from html.parser import HTMLParser

    chunks: list[_Chunk] = []

    class Reader(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.chunk: _Chunk | None = None
            self.bold = self.skip = self.lists = 0
            self.links: list[str] = []
            self.row: list[str] | None = None

        def flush(self, kind: str = "p", level: int = 0) -> None:
            if self.chunk is not None and self.chunk.text.strip():
                chunks.append(self.chunk)
            self.chunk = _Chunk(kind, [_Line()], level, marker="-")

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in _SKIP_TAGS:
                self.skip += 1
            elif tag == "br":
                if self.chunk is not None:
                    self.chunk.lines.append(_Line())
            elif tag == "a":
                self.links.append(dict(attrs).get("href") or "")
            elif tag in ("strong", "b"):
                self.bold += 1
            elif tag == "li":
                self.flush("li", max(0, self.lists - 1))
            elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.flush("h", int(tag[1]))
            elif tag == "tr":
                self.flush()
                self.row = []
            elif tag in ("td", "th") and self.row is not None:
                self.flush()
            elif tag in _BLOCK_TAGS:
                self.lists += tag in ("ul", "ol")
                self.flush()

        def handle_endtag(self, tag: str) -> None:
            if tag in _SKIP_TAGS:
                self.skip = max(0, self.skip - 1)
            elif tag == "a":
                if self.links:
                    self.links.pop()
            elif tag in ("strong", "b"):
                self.bold = max(0, self.bold - 1)
            elif tag in ("td", "th") and self.row is not None:
                self.row.append(_clean_line(self.chunk.text) if self.chunk else "")
                self.chunk = None
            elif tag == "tr" and self.row is not None:
                chunks.append(_Chunk("row", [_Line([(" | ".join(self.row), False, None)])]))
                self.row = None
            elif tag in _BLOCK_TAGS:
                self.lists -= tag in ("ul", "ol") and self.lists > 0
                self.flush()

        def handle_data(self, data: str) -> None:
            if self.skip:
                return
            if self.chunk is None:
                self.flush()
            self.chunk.lines[-1].add(data.replace("\n", " "), self.bold > 0, self.links[-1] if self.links else None)

    reader = Reader()
    # An unclosed attribute quote must not turn the rest of the block into an attribute value.
    reader.feed(re.sub(r"<a\b[^<>]*>", lambda m: f'<a href="{_html_href(m.group(0))}">', html))
    reader.close()
    reader.flush()
    return chunks


def _html_href(tag: str) -> str:
    match = _HREF.search(tag)
    href = next((g for g in match.groups() if g is not None), "") if match else ""
    return href.replace('"', "%22").replace("<", "%3C")


# -- page furniture --------------------------------------------------------------------------

def _anchor_target(chunk: _Chunk) -> str | None:
    """For a block of nothing but links to anchors of one page, that page ("" for "#..." links)."""
    if chunk.kind not in ("p", "li", "more"):
        return None
    hrefs = [href for line in chunk.lines for href in line.hrefs]
    if not hrefs or any("#" not in href or href.endswith("#") for href in hrefs):
        return None
    pages = {href.partition("#")[0] for href in hrefs}
    if len(pages) > 1:
        return None
    rest = " ".join(line.unlinked for line in chunk.lines)
    if _WORD.search(rest) and not _TOC_TITLE.match(rest.strip()):
        return None
    return pages.pop()


def _link_texts(chunk: _Chunk) -> list[str]:
    texts: list[str] = []
    for line in chunk.lines:
        previous = None
        for text, _, href in line.parts:
            if href is not None and href == previous and texts:
                texts[-1] += text
            elif href is not None:
                texts.append(text)
            previous = href
    return [t for t in texts if t.strip()]


def _is_toc(chunks: list[_Chunk], start: int, end: int, page: str, titled: bool) -> bool:
    """Links to anchors that are a table of contents, not links that a sentence leads into."""
    entries = [text for chunk in chunks[start:end] for text in _link_texts(chunk)]
    if len(entries) < 3 and not (titled and entries):
        return False
    if titled or page == "":  # "#section" links can only lead within the page
        return True
    # Links with a whole address might lead to another page: a contents lists the sections that follow.
    later = {_heading_key(_clean_line(c.text)) for c in chunks[end:]
             if c.kind == "h" or (c.kind in ("p", "li", "more") and len(c.lines) == 1 and len(c.text) < 140)}
    return sum(_heading_key(_clean_line(text)) in later for text in entries) >= len(entries) / 2


def _drop_furniture(chunks: list[_Chunk]) -> list[_Chunk]:
    """Drop tables of contents, "back to top" and share or print buttons."""
    keep = [True] * len(chunks)
    for index, chunk in enumerate(chunks):
        text = chunk.text
        if chunk.kind not in ("p", "li", "more") or len(text) > 120:
            continue  # buttons and their labels are short
        text = _clean_line(text)
        hrefs = [href for line in chunk.lines for href in line.hrefs]
        unlinked = " ".join(line.unlinked for line in chunk.lines)
        if _FURNITURE.match(text):
            keep[index] = False
        elif hrefs and not _WORD.search(unlinked) and (
                _LINK_FURNITURE.match(text) or all(h in ("#", "") or h.startswith("javascript:") for h in hrefs)):
            keep[index] = False  # a button: a link that goes nowhere or only says "Print"
    # A table of contents: a whole list, or a run of paragraphs, of links to anchors of one page.
    index = 0
    while index < len(chunks):
        chunk = chunks[index]
        page = _anchor_target(chunk)
        end = index + 1
        if chunk.kind == "li":
            while end < len(chunks) and chunks[end].kind in ("li", "more") and chunks[end].group >= chunk.group:
                end += 1  # the list with its nested lists
            if not all(_anchor_target(c) == page for c in chunks[index:end] if c.kind in ("li", "more")):
                page = None
        else:
            while page is not None and end < len(chunks) and chunks[end].kind == "p" \
                    and _anchor_target(chunks[end]) == page:
                end += 1
        before = index - 1
        while before >= 0 and not keep[before]:
            before -= 1
        titled = before >= 0 and chunks[before].kind in ("h", "p") and len(chunks[before].text) < 60 \
            and _TOC_TITLE.match(_clean_line(chunks[before].text)) is not None
        if page is not None and _is_toc(chunks, index, end, page, titled):
            for doomed in range(index, end):
                keep[doomed] = False
            if titled:
                keep[before] = False
        index = end
    return [chunk for chunk, kept in zip(chunks, keep, strict=True) if kept]


def _drop_toc_sections(items: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """A "Contents" title over nothing, or over entries that name the sections that follow, is furniture."""
    titles = [i for i, (kind, text, _) in enumerate(items) if kind == "h" and _TOC_TITLE.match(text)]
    if not titles:
        return items
    last_heading = {_heading_key(text): i for i, (kind, text, _) in enumerate(items) if kind == "h"}
    doomed: set[int] = set()
    for index in titles:
        end = index + 1
        while end < len(items) and items[end][0] != "row" and last_heading.get(_heading_key(items[end][1]), -1) > end:
            end += 1  # an entry: its section comes later
        if end - index > 2 or (end == index + 1 and (end == len(items) or items[end][0] == "h")):
            doomed.update(range(index, end))
    return [item for i, item in enumerate(items) if i not in doomed]


def _heading_key(text: str) -> str:
    return re.sub(r"\W+", " ", _NUMBERED.sub(r"\g<rest>", text)).strip().casefold()


# -- reading the lines of each chunk as plain text ----------------------------------------------

def _clean_line(text: str) -> str:
    text = clean_text(text)
    lowered = text.lower()
    if "new" in lowered and ("window" in lowered or "tab" in lowered):
        text = clean_text(_NEW_WINDOW.sub("", text))
    if "protected" in lowered:
        text = _EMAIL_PLACEHOLDER.sub(EMAIL_PLACEHOLDER, text)
    if "**" in text:
        text = _STRAY_BOLD.sub("", text)
    return text


def _read_chunks(chunks: list[_Chunk], wrapped: bool) -> list[tuple[str, str, int]]:
    items: list[tuple[str, str, int]] = []
    open_item = (0, -1)  # (list item, index in items) of the li that later paragraphs of that item extend
    for index, chunk in enumerate(chunks):
        following = chunks[index + 1] if index + 1 < len(chunks) else None
        if chunk.kind in ("p", "li") and len(chunk.lines) == 1 and following is not None \
                and following.kind in ("p", "code") and len([t for t in following.lines if t.text.strip()]) == 1 \
                and _RULE_LINE.match(underline := following.text.strip()) and underline[0] in "=-" \
                and len(chunk.text.split()) <= 16:
            # A setext underline the parser could not take: cut from its title by a blank line, or less
            # indented than the text of the list item it underlines.
            if chunk.kind == "li" and chunk.marker[:1].isdigit():
                chunk.lines[0].parts.insert(0, (chunk.marker + " ", False, None))
            chunk.kind, chunk.level = "h", 1 if underline[0] == "=" else 2
        if chunk.kind == "row":
            items.append(("row", chunk.lines[0].text, 0))
            continue
        if chunk.kind == "h":
            text = _clean_line(chunk.text)
            if not _WORD.search(text):
                continue
            items.append(("p" if is_date_line(text) else "h", text, chunk.level))
            continue
        if chunk.kind == "more":
            # A later paragraph of a list item: a title of its own (a bold line), or more of the item.
            chunk.kind = "p"
            read: list[tuple[str, str, int]] = []
            _read_lines(chunk, wrapped, read)
            if not read or any(kind != "p" for kind, _, _ in read):
                items.extend(read)
                continue
            text = clean_text(" ".join(text for _, text, _ in read))
            if open_item == (chunk.item, len(items) - 1):
                kind, first, depth = items.pop()
                items.append((kind, clean_text(first + " " + text), depth))
            elif items and items[-1][0] == "li" and open_item[0] != chunk.item:
                items.append(("li", text, chunk.level))  # after a nested list: still the list
            else:
                items.append(("p", text, 0))
            continue
        _read_lines(chunk, wrapped, items)
        if chunk.kind == "li":
            open_item = (chunk.item, len(items) - 1) if items and items[-1][0] == "li" else (chunk.item, -1)
    return _split_inline_lists(items)


def _split_inline_lists(items: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """A list flattened into one line ("We collect: - your name; - your email") is that list."""
    out: list[tuple[str, str, int]] = []
    for kind, text, depth in items:
        if kind not in ("p", "li") or " - " not in text and not text.startswith("- "):
            out.append((kind, text, depth))
            continue
        starts = [m for m in _INLINE_ITEM.finditer(text) if m.start() > 0 or kind == "p"]
        if len(starts) < (2 if kind == "p" else 1):
            out.append((kind, text, depth))
            continue
        head = text[:starts[0].start()].strip()
        if head:
            out.append((kind, head, depth))
        inner = depth + 1 if kind == "li" else 0
        for match, after in zip(starts, starts[1:] + [None], strict=True):
            out.append(("li", text[match.end():after.start() if after else len(text)].strip(), inner))
    return out


def _read_lines(chunk: _Chunk, wrapped: bool, items: list[tuple[str, str, int]]) -> None:
    paragraph: list[str] = []
    li_open = False  # the last item is a list item that indented lines continue

    def flush() -> None:
        if paragraph:
            items.append(("p", clean_text(" ".join(paragraph)), 0))
            paragraph.clear()

    texts = [_clean_line(line.text) for line in chunk.lines]
    previous_blank = chunk.blank_before
    for index, (line, text) in enumerate(zip(chunk.lines, texts, strict=True)):
        if not text:
            flush()
            previous_blank, li_open = True, False
            continue
        following_blank = not texts[index + 1] if index + 1 < len(texts) else chunk.blank_after
        raw = line.raw
        indented = raw is not None and raw[:1] in (" ", "\t") and chunk.kind != "code"
        is_item = chunk.kind == "li" and index == 0
        shown = f"{chunk.marker} {text}" if is_item and chunk.marker else text
        # "\- item" (a converter escaping a dash it found in the page's text) is still an item
        # of a list written inline: the same list as a bulleted one.
        plain_item = None if is_item else (_ITEM.match(raw if raw is not None else text) or (
            _ITEM.match(text) if raw is not None and raw.lstrip().startswith("\\") else None))
        underline = texts[index + 1] if index + 1 < len(texts) else ""
        if not _WORD.search(text):
            flush()  # a rule, a stray underline or quote: no words to read
            previous_blank, li_open = True, False
            continue
        if not paragraph and underline[:1] in ("=", "-") and _RULE_LINE.match(underline) \
                and len(text.split()) <= 16:
            # A setext underline the parser could not take (it is less indented than the item's text).
            items.append(("h", shown, 1 if underline[0] == "=" else 2))
            li_open = False
        elif not is_item and text.startswith("|") and text.endswith("|") and len(text) > 1:
            flush()
            cells = [clean_text(c) for c in text.strip("|").split("|")]
            items.append(("row", " | ".join(cells), 0))
            li_open = False
        elif (level := _bold_heading(line, shown, chunk, is_item)) is not None or \
                (level := _plain_heading(shown, previous_blank, following_blank,
                                         is_item or plain_item is not None)) is not None:
            flush()
            items.append(("h" if not is_date_line(shown) else "p", shown, level))
            li_open = False
        elif is_item:
            items.append(("li", text, chunk.level))
            li_open = True
        elif plain_item is not None:
            flush()
            indent = len(plain_item.group(1).expandtabs(4)) // 2 if raw is not None else 0
            items.append(("li", strip_list_marker(text), chunk.level + indent))
            li_open = True
        elif li_open and not paragraph and (indented or raw is None or wrapped or chunk.kind == "code"):
            kind, prev, depth = items.pop()
            items.append((kind, clean_text(prev + " " + text), depth))
        elif not wrapped and paragraph and paragraph[-1][-1:] in ".!?:;" and not indented:
            # Plain text often puts one paragraph per line: a finished sentence ends the block
            # (unless the text is hard-wrapped, where a line may end anywhere in a sentence).
            flush()
            paragraph.append(text)
        else:
            li_open = False
            paragraph.append(text)
        previous_blank = False
    flush()


def _bold_heading(line: _Line, shown: str, chunk: _Chunk, is_item: bool) -> int | None:
    """A line all in bold that reads as a title (a numbered list item only when a body follows it)."""
    if not line.bold or (is_item and not (chunk.marker[:1].isdigit() and chunk.body)):
        return None
    if not is_item and _ITEM.match(line.raw or ""):
        return None
    return heading_level(shown, bold_only=True)


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


def _plain_heading(text: str, previous_blank: bool, following_blank: bool, is_item: bool) -> int | None:
    """A plain-text line that stands alone and reads like a heading."""
    if not previous_blank and not following_blank and not _NUMBERED.match(text):
        # Inside a run of lines only numbered titles count (e.g. "1. What information do we collect?").
        return None
    level = heading_level(text)
    if level is None and previous_blank and following_blank and len(text.split()) <= 8 \
            and text[-1:] not in ".;,:!" and _title_like(text) and not is_item:
        level = PSEUDO_LEVEL  # a short title standing alone between blank lines
    if level is None:
        return None
    if is_item and not text.endswith("?") and not _title_like(strip_list_marker(text)):
        return None
    return level


# A few function words per language: enough to notice an English policy served in German.
STOPWORDS = {
    "en": {"the", "and", "of", "to", "you", "we", "your", "is", "for", "with", "that", "or", "our", "this"},
    "de": {"der", "die", "und", "das", "ist", "wir", "sie", "ihre", "mit", "von", "zu", "den", "nicht", "oder"},
    "fr": {"le", "la", "les", "et", "des", "vous", "nous", "est", "pour", "une", "que", "vos", "sur", "dans"},
    "es": {"el", "la", "los", "las", "y", "de", "que", "en", "para", "sus", "su", "con", "por", "una"},
    "it": {"il", "di", "che", "e", "la", "per", "un", "una", "sono", "con", "dei", "delle", "vostri", "gli"},
    "pt": {"o", "os", "as", "e", "do", "da", "que", "para", "com", "uma", "seus", "sua", "não", "dos"},
    "nl": {"de", "het", "een", "en", "van", "we", "uw", "is", "voor", "met", "dat", "op", "niet", "zijn"},
    "sv": {"och", "att", "det", "som", "en", "på", "är", "för", "med", "vi", "du", "dina", "inte", "av"},
    "pl": {"i", "w", "na", "z", "do", "się", "że", "nie", "jest", "dla", "lub", "oraz", "przez", "są"},
    "ja": set(),
}


# Words, hyphenated ones whole: the "e" of "e-mail" is no Italian "and".
_LETTERS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
# The same words of lowercase ASCII text, as bytes: every other byte made a space (_ascii_word_counts).
_ASCII_WORD_BYTES = bytes(c if 97 <= c <= 122 or c == 45 else 32 for c in range(256))
_STOPWORD_BYTES = {lang: {w.encode() for w in stop} for lang, stop in STOPWORDS.items()}


def _ascii_word_counts(sample: str) -> tuple[Counter, int]:
    """``Counter(_LETTERS.findall(sample))`` of a lowercase ASCII sample (in bytes) and the number of
    words, in half the time: split at every byte that is no letter or hyphen, counted, then the few
    runs holding a hyphen read as the expression reads them ("e-mail" is a word, "a--b" two, and a
    hyphen at either end is no part of one)."""
    spaced = sample.encode("ascii").translate(_ASCII_WORD_BYTES)
    tokens = spaced.split()
    frequency, count = Counter(tokens), len(tokens)
    if b"-" in spaced:
        for token in [token for token in frequency if b"-" in token]:
            times = frequency.pop(token)
            parts = [part for piece in token.split(b"--") if (part := piece.strip(b"-"))]
            count += times * (len(parts) - 1)
            for part in parts:
                frequency[part] += times
    return frequency, count


def detect_language(text: str) -> str | None:
    sample = text[:20000].lower()
    if sample.isascii():
        frequency, count = _ascii_word_counts(sample)
        stopwords = _STOPWORD_BYTES
    else:
        words = _LETTERS.findall(sample)
        frequency, count, stopwords = Counter(words), len(words), STOPWORDS
    if count < 30:
        return None
    counts = {lang: sum(frequency[w] for w in stop) for lang, stop in stopwords.items() if stop}
    best = max(counts, key=counts.get)
    if counts[best] < count * 0.05:
        cjk = sum(1 for c in text[:5000] if "\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff")
        return "cjk" if cjk > 200 else None
    return best


# Function words of other languages for telling one sentence's language (with STOPWORDS, less the
# words that are English too: "as", "die", "van"…).
_MORE_FUNCTION_WORDS = {
    "de": {"ein", "eine", "einer", "auf", "für", "dem", "des", "im", "zur", "zum", "bei", "werden", "wird", "sind"},
    "fr": {"de", "du", "par", "aux", "au", "ou", "en", "ces", "leur", "sont", "être", "avec", "cette"},
    "es": {"del", "al", "se", "lo", "como", "este", "esta", "son", "sobre", "datos"},
    "it": {"del", "della", "al", "alla", "nel", "nella", "sui", "dati", "questo", "questa"},
    "pt": {"ao", "na", "no", "nos", "pelo", "pela", "dados", "este", "esta"},
    "nl": {"te", "om", "bij", "door", "worden", "wordt", "gegevens", "deze"},
    "sv": {"till", "om", "från", "eller", "vara", "uppgifter"},
    "pl": {"ze", "lub", "aby", "od", "danych", "są"},
}
_ENGLISH_TOO = {"a", "i", "o", "e", "as", "is", "we", "in", "on", "do", "no", "die", "den", "van", "sie", "at", "to",
                "me", "be", "al", "lo", "se", "te", "om", "till", "od", "son", "ze", "ein", "des", "by", "so"}
_OTHER_WORDS = [frozenset((STOPWORDS.get(lang, set()) | more) - STOPWORDS["en"] - _ENGLISH_TOO)
                for lang, more in _MORE_FUNCTION_WORDS.items()]
_ANY_OTHER_WORDS = frozenset().union(*_OTHER_WORDS)
_ENGLISH_WORDS = frozenset(STOPWORDS["en"] | {"a", "in", "on", "to", "by", "be", "as", "are", "it", "not", "any",
                                              "at", "from", "per"})
FOREIGN_SHARE = 0.1  # of a sentence's words: function words of another language, names' particles aside


def in_other_language(sentence: str) -> bool:
    """Is a sentence written in another language than English, by its function words?

    Two or more function words of one other language, over twice as many as English ones, and
    FOREIGN_SHARE of its words, not counting the particles of names ("Rue de la Loi", "Banco de la
    Nación"): "Règles de conservation par affiliation" is French, "data held at La Poste de France"
    is English.
    """
    words = sentence.split()
    if len(words) < 3:
        return False
    lowered = set(sentence.lower().split())  # lowercasing makes no whitespace: the same words
    if len(lowered & _ANY_OTHER_WORDS) < 2:
        return False  # not two function words of any other language: most sentences stop here
    found = max(_OTHER_WORDS, key=lambda other: len(lowered & other))
    if len(lowered & found) < 2 or len(lowered & found) <= 2 * len(lowered & _ENGLISH_WORDS):
        return False
    foreign = sum(1 for w in _without_name_particles(words) if w.lower() in found)
    return foreign >= 2 and foreign >= FOREIGN_SHARE * len(words)


def _without_name_particles(words: list[str]) -> list[str]:
    """The words less the particles of names, in any language: short lowercase words between two
    capitalised words ("Rue *de la* Loi", "Banco *de la* Nación") and a short capitalised word before
    another ("*Le* Monde", "*La* Poste"). German capitalises its nouns: its longer function words stay."""
    kept: list[str] = []
    run: list[str] = []
    for word in words:
        if word[:1].islower():
            run.append(word)
            continue
        if run and not (kept and kept[-1][:1].isupper() and word[:1].isupper() and all(len(w) <= 3 for w in run)):
            kept.extend(run)
        run = []
        kept.append(word)
    kept += run
    return [w for i, w in enumerate(kept)
            if not (len(w) <= 3 and w[:1].isupper() and i + 1 < len(kept) and kept[i + 1][:1].isupper())]


# Characters XML (and so lxml, and a feed) cannot hold: parsed, they make the normalizer fail where it
# joins texts, and a feed refuses them. A vertical tab or form feed (Word's line and page breaks,
# pasted into a CMS) is a space; the other control characters are noise. Normalizer 7.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_CONTROLS = tuple(chr(c) for c in range(32) if chr(c) not in "\t\n\r")


def xml_safe(html: str) -> str:
    """``html`` without what XML cannot hold (``_NOT_XML``): a parse by lxml, an Atom feed."""
    return _NOT_XML.sub(lambda m: " " if m.group() in "\x0b\x0c" else "", html) if _not_xml(html) else html


def _not_xml(html: str) -> bool:
    """Does the text hold what ``_NOT_XML`` matches? A search per character is a quarter of the
    regular expression's time on a 60 KB page (every page is looked at, before each parse)."""
    if any(control in html for control in _CONTROLS):
        return True
    if html.isascii():
        return False
    if "\ufffe" in html or "\uffff" in html:
        return True
    try:
        html.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return True
    return False
