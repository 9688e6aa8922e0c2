"""The normalize stage (docs/architecture.md): HTML (or Markdown / plain text) to a clean, sectioned Document.

Removes, with no per-site configuration, the noise real policy pages carry (docs/architecture.md):
scripts, styles, hidden elements, site navigation, headers, footers and sidebars, cookie and
consent banners, "back to top" and skip links, in-page tables of contents, link targets and
their tracking parameters (anchor text is kept), Cloudflare e-mail obfuscation, relative
dates, invisible and typographic characters, list numbering and bullets, attribute churn.
A policy's ``select``, ``remove`` and ``ignore`` settings refine the result.

lxml builds the tree: it is ten times faster than BeautifulSoup's tree on a 60 KB page
(measured: 0.8 ms against 9.8 ms), which matters for a daily run over thousands of vendors.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from policywatch.document import (
    PSEUDO_LEVEL,
    Document,
    clean_text,
    heading_level,
    parse_text,
    strip_list_marker,
    xml_safe,
)
from policywatch.errors import PolicywatchError

# Bump when the normalizer's output changes, so `renormalize` knows what is stale.
NORMALIZER_VERSION = 9

DROP_TAGS = {
    "script", "style", "noscript", "template", "svg", "math", "canvas", "iframe", "object", "embed",
    "button", "input", "select", "textarea", "option", "label", "form", "video", "audio", "picture",
    "img", "map", "dialog", "link", "meta", "head",
}
CHROME_TAGS = {"nav", "aside"}
CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog",
                "menu", "menubar", "toolbar"}
BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "center", "dd", "details", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    "caption", "html",
}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
BOLD_TAGS = {"b", "strong"}
BULLETS = "-*\u2022\u00b7\u25aa\u25e6\u2023\u25cf\u2013"
LINE_BREAK = "\x00"  # stands for <br> until a block is flushed
_BLANK_LINE = re.compile("\x00[\\s\u200b\u200c\u200d\u2060\ufeff]*\x00")
_BULLET_LINE = re.compile(r"^\s*(?:[-*\u2022\u00b7\u25aa\u25e6\u2023\u25cf\u2013]|\(?\d{1,3}[.)]|\([a-z]\))\s")

_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")
# Consent-management vendors: their containers are never policy text.
CONSENT_VENDORS = {"onetrust", "optanon", "cookiebot", "cybotcookiebot", "truste", "trustarc", "osano",
                   "didomi", "usercentrics", "iubenda", "termly", "cookieyes", "cky", "cmp", "qc",
                   "cookielaw", "cookiehub", "klaro", "cookiefirst", "consentmanager", "sp_message",
                   "evidon", "quantcast", "complianz", "cmplz", "borlabs"}
CONSENT_WORDS = {"cookie", "cookies", "consent", "cc", "gdpr"}
INLINE_TAGS = {"a", "span", "b", "strong", "em", "i", "u", "small", "label", "abbr", "code", "sup", "sub", "mark"}
BANNER_WORDS = {"banner", "bar", "notice", "popup", "modal", "overlay", "notification", "wall", "dialog",
                "alert", "message", "prompt", "window", "container", "law", "box", "sdk", "layer", "toast",
                "drawer", "panel"}
# Words of site chrome; section ids made from headings ("do-we-share-your-information") must
# not match, so only unambiguous words are here.
CHROME_WORDS = {"breadcrumb", "breadcrumbs", "skiplink", "skiplinks", "toc", "backtotop", "totop", "scrolltop",
                "sharebar", "sidebar", "sronly", "visuallyhidden", "screenreadertext", "screenreaderonly",
                "printbutton"}
# Words of rotating boxes (testimonials, logos, promotions): judged whole, on the outermost one.
CAROUSEL_WORDS = {"carousel", "slider", "swiper"}
# Whole class or id words of site chrome built from <div>s (Bootstrap's "navbar", a "site-footer").
CHROME_CLASSES = {"navbar", "footer", "sitefooter", "globalfooter", "pagefooter", "mainfooter", "siteheader",
                  "globalheader", "masthead", "topbar", "menubar", "sitenav", "mainnav", "topnav", "globalnav",
                  "promobar", "announcementbar"}
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
BACK_TO_TOP = re.compile(r"^\W*(back to (the )?top|to top|top of page|return to top|scroll to top|"
                         r"skip to (main )?content|skip to main|skip navigation|print( this page)?|"
                         r"zur[üu]ck nach oben|haut de page)\W*$", re.IGNORECASE)

TOC_TITLE = re.compile(r"^\W*(table of contents|contents|on this page|in this (article|policy|notice|section)|"
                       r"jump to( a)? section|inhaltsverzeichnis|inhalt|sommaire|table des mati[eè]res|"
                       r"[íi]ndice( de contenidos?)?|sommario|inhoudsopgave|spis tre[sś]ci|"
                       r"inneh[åa]llsf[öo]rteckning|目次)\W*$", re.IGNORECASE)
TOC_TITLE_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "summary", "p", "strong", "b", "span"}

# Plain lxml.etree elements: lxml.html's element classes cost a class lookup per node visited.
# A parser must not be shared between threads, so each fetch worker gets its own.
_local = threading.local()


def _parser() -> etree.HTMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.HTMLParser(remove_comments=True, remove_pis=True)
    return parser


def _text(element: etree._Element) -> str:
    return "".join(element.itertext())


def _cell_text(cell: etree._Element) -> str:
    """A table cell's text, its paragraphs and lines apart: "<p>A. Identifiers</p><p>Examples: …</p>"
    reads "A. Identifiers Examples: …", not "A. IdentifiersExamples: …"."""
    parts: list[str] = []

    def visit(element: etree._Element) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        apart = tag == "br" or tag in BLOCK_TAGS
        if apart:
            parts.append(" ")
        if element.text and tag:
            parts.append(element.text)
        for child in element:
            visit(child)
            if child.tail:
                parts.append(child.tail)
        if apart:
            parts.append(" ")

    visit(cell)
    return "".join(parts)


def _text_head(element: etree._Element, limit: int) -> str:
    """``_text(element)[:limit]``, without joining the rest of a long page."""
    parts, length = [], 0
    for piece in element.itertext():
        parts.append(piece)
        length += len(piece)
        if length >= limit:
            break
    return "".join(parts)[:limit]


_SELECTORS: dict[str, Callable[[etree._Element], list[etree._Element]]] = {}


def _select(root: etree._Element, selector: str) -> list[etree._Element]:
    if selector not in _SELECTORS:
        from lxml.cssselect import CSSSelector  # only policies with `select` or `remove` need it

        _SELECTORS[selector] = CSSSelector(selector)
    return _SELECTORS[selector](root)


@dataclass
class Normalized:
    """A Document plus what the suspect checks need to know about the page it came from."""

    document: Document
    title: str | None = None
    html_lang: str | None = None
    has_password_field: bool = False
    selector_missing: bool = False
    raw_text_sample: str = ""  # visible text before noise removal (bot walls hide in "noise")
    script_shell: bool = False  # an empty app mount point or script-only body: the text comes from JavaScript

    @property
    def markdown(self) -> str:
        return self.document.markdown()


_NO_TOKENS: frozenset[str] = frozenset()


def _tokens(element: etree._Element) -> set[str]:
    raw = " ".join(filter(None, (element.get("id"), element.get("class"), element.get("aria-label"),
                                 element.get("data-testid"))))
    if not raw:
        return set()
    # camelCase → camel case, so "cookieBanner" yields {"cookie", "banner"}
    raw = re.sub(r"([a-z])([A-Z])", r"\1 \2", raw).lower()
    tokens = set(_TOKEN_SPLIT.split(raw))
    tokens.discard("")
    joined = {word.replace("-", "").replace("_", "") for word in raw.split()}
    return tokens | joined


def _class_words(element: etree._Element) -> set[str]:
    raw = f"{element.get('id') or ''} {element.get('class') or ''}".lower()
    return {word.replace("-", "").replace("_", "") for word in raw.split()}


def _is_consent_banner(element: etree._Element, tokens: set[str]) -> bool:
    if tokens & CONSENT_VENDORS:
        return True
    if tokens & CONSENT_WORDS and tokens & BANNER_WORDS:
        # A policy's own "Cookies" section can carry such a class: banners are short and headless.
        if len(_text(element)) >= 3000:
            return False
        return not any(True for _ in element.iter("h1", "h2", "h3", "h4", "h5", "h6"))
    return False


def _is_chrome(element: etree._Element, tag: str, tokens: set[str]) -> bool:
    role = (element.get("role") or "").lower()
    if role in CHROME_ROLES or tag in CHROME_TAGS:
        return True
    if tag in ("header", "footer") or (tag == "div" and _class_words(element) & CHROME_CLASSES):
        # The site's header and footer, not an article's own header (title, "Last updated").
        return not any(a.tag in ("article", "main") or (a.get("role") or "") == "main"
                       for a in element.iterancestors())
    if tokens & CHROME_WORDS and tag not in ("body", "main", "article", "html"):
        return len(_text(element)) < 2000
    if tokens & CAROUSEL_WORDS and tag not in ("body", "main", "article", "html"):
        if any(_tokens(a) & CAROUSEL_WORDS for a in element.iterancestors()):
            return False  # a slide: its carousel decides for it
        return len(_text(element)) < 2000 and next(element.iter(*HEADINGS), None) is None
    return False


def _anchor_of(href: str, page: str) -> bool:
    """Does ``href`` point at an anchor of ``page`` (the part of an href before its "#")?"""
    before, mark, _ = href.partition("#")
    return bool(mark) and before == page


def _is_hidden(element: etree._Element) -> bool:
    if element.get("hidden") is not None or (element.get("aria-hidden") or "").lower() == "true":
        return True
    style = element.get("style")
    return bool(style and HIDDEN_STYLE.search(style))


def _is_toc_list(element: etree._Element) -> bool:
    """An in-page table of contents: a list whose every item is one link to an anchor of one page,
    written alike in every link ("#rights", or "https://acme.example/privacy#rights" throughout)."""
    items = [c for c in element if c.tag == "li"]
    if len(items) < 3:
        return False
    first_link = items[0].find(".//a")
    if first_link is None or "#" not in (first_link.get("href") or ""):
        return False
    page = (first_link.get("href") or "").partition("#")[0]
    links = [item.findall(".//a") for item in items]
    hrefs = [a.get("href") or "" for found in links for a in found]
    if not all(links) or not all(_anchor_of(href, page) for href in hrefs):
        return False
    if page:
        # Links naming a page are this page's contents only if their anchors are on it: a list of
        # articles of a law ("…/oj#art_15") or of another page's sections stays.
        anchors = set(element.getroottree().getroot().xpath("//@id | //a/@name"))
        if not all(href.partition("#")[2] in anchors for href in hrefs):
            return False
    return all(len(" ".join(_text(a) for a in found).strip()) >= len(_text(item).strip()) * 0.8
               for item, found in zip(items, links, strict=True))


def decode_cloudflare_email(hexstring: str) -> str | None:
    try:
        data = bytes.fromhex(hexstring)
    except ValueError:
        return None
    if len(data) < 2:
        return None
    key = data[0]
    try:
        return bytes(b ^ key for b in data[1:]).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _replace_with_text(element: etree._Element, text: str) -> None:
    parent = element.getparent()
    if parent is None:
        return
    tail = (text or "") + (element.tail or "")
    previous = element.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(element)


def _drop(element: etree._Element) -> None:
    """Remove an element but keep the text that follows it."""
    _replace_with_text(element, "")


def _last_descendant(element: etree._Element) -> etree._Element | None:
    """The last descendant in document order of an element (None when it has no child)."""
    last = None
    while len(element):
        last = element = element[-1]
    return last


def _clean_tree(root: etree._Element, remove: Sequence[str]) -> None:
    for selector in remove:
        for element in _select(root, selector):
            _drop(element)
    doomed: list[etree._Element] = []
    obfuscated: list[etree._Element] = []
    inside: etree._Element | None = None  # the last element of the doomed subtree being passed over
    for element in root.iter():
        if inside is not None:
            # What is inside an element that goes, goes with it: nothing there needs deciding.
            if element is inside:
                inside = None
            continue
        tag = element.tag
        if not isinstance(tag, str):  # comments and processing instructions
            doomed.append(element)
            continue
        tag = tag.lower()
        if tag in ("html", "body"):
            # The page itself, whatever it says of itself: hidden until its fonts load, classed by
            # a consent tool ("qc-cmp2-ui-showing"). What is inside it is decided element by element.
            continue
        if tag == "br":  # so that text_content() of a table cell keeps its line breaks as spaces
            element.tail = " " + (element.tail or "")
            continue
        if not element.attrib:  # most elements of a page: only the tag and the tree decide
            # (_is_chrome without attributes: a chrome tag, or a site's header or footer)
            if tag in DROP_TAGS or tag in CHROME_TAGS or (
                    tag in ("header", "footer") and _is_chrome(element, tag, _NO_TOKENS)) or (
                    tag in ("ul", "ol") and _is_toc_list(element)) or (
                    tag in TOC_TITLE_TAGS and len(element) <= 1 and TOC_TITLE.match(_text(element))):
                doomed.append(element)
                inside = _last_descendant(element)
            continue
        if tag in DROP_TAGS or _is_hidden(element):
            doomed.append(element)
            inside = _last_descendant(element)
            continue
        classes = element.get("class") or ""
        if "__cf_email__" in classes or (element.get("href") or "").find("/cdn-cgi/l/email-protection#") >= 0:
            obfuscated.append(element)  # decoded after the walk: changing the tree now would end it
            continue
        tokens = _tokens(element)
        # A banner is a box: a link or a span whose aria-label says "cookies" and whose class says
        # "Box" (a styled-components name) is a heading's permalink or a word in a sentence.
        if _is_chrome(element, tag, tokens) or (tag not in INLINE_TAGS and _is_consent_banner(element, tokens)) \
                or (tag in ("ul", "ol") and _is_toc_list(element)):
            doomed.append(element)
            inside = _last_descendant(element)
        elif tag in TOC_TITLE_TAGS and len(element) <= 1 and TOC_TITLE.match(_text(element)):
            doomed.append(element)  # the title of an in-page table of contents, which goes too
            inside = _last_descendant(element)
        elif (tag == "a" and (element.get("href") or "").startswith("#")) or \
                (tokens & {"top", "back", "skip", "print", "backtotop", "totop"}):
            text = _text(element)
            if len(text) < 40 and BACK_TO_TOP.match(text.strip() or "-"):
                doomed.append(element)
                inside = _last_descendant(element)
    for element in obfuscated:
        encoded = element.get("data-cfemail") or (element.get("href") or "").rpartition("#")[2]
        decoded = decode_cloudflare_email(encoded)
        if decoded is None:
            inner = next((e for e in element.iter() if e.get("data-cfemail")), None)
            decoded = decode_cloudflare_email(inner.get("data-cfemail")) if inner is not None else None
        if decoded and element.getparent() is not None:
            for child in list(element):
                element.remove(child)
            element.text = xml_safe(decoded)  # whichever attribute held it, a decoded byte may be a control
    removed: set[int] = set()
    for element in doomed:
        # Skip elements inside something already removed.
        if any(id(a) in removed for a in element.iterancestors()):
            continue
        removed.add(id(element))
        _drop(element)


# -- site furniture at the edges of the policy ------------------------------------------------------
# Menus, link lists, app badges, language pickers and promo boxes built from <div>s and class names
# no list can foresee. What they share: before the policy's first paragraph of prose and after its
# last one, they are blocks made mostly of links, or small boxes whose only substance is a link
# ("Codeium is now Windsurf. Learn more"). Only the edges are trimmed: a link list inside the policy
# (processors, opt-out pages) sits between paragraphs and stays.
PROSE_CHARS = 100  # non-link characters that make a block the policy's prose, where trimming stops
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")  # text nodes run together: "2025Download"
# Class words of furniture (from the class attribute only: ids are often made from headings, and a
# policy section "Social media" must not read as a share bar).
EDGE_CLASS_WORDS = {"nav", "navigation", "navbar", "sidenav", "menu", "megamenu", "submenu", "dropdown", "footer",
                    "cta", "newsletter", "subscribe", "signup", "appstore", "badges", "promo", "announcement",
                    "related", "languageswitcher", "langswitcher", "languagepicker", "localeswitcher", "switcher",
                    "breadcrumb", "breadcrumbs", "share", "sharebar", "socials"}
# Whole class names that hide an element in common stylesheets (Bootstrap, Tailwind, Webflow forms).
_HIDDEN_CLASSES = {"hidden", "d-none", "is-hidden", "hide", "w-form-done", "w-form-fail"}
# Language pickers: every entry a language's own name ("English", "Deutsch", "日本語 (ja-JP)").
LANGUAGE_NAMES = {"english", "deutsch", "français", "francais", "español", "espanol", "italiano", "português",
                  "portugues", "nederlands", "svenska", "dansk", "norsk", "suomi", "polski", "čeština", "cestina",
                  "magyar", "română", "romana", "türkçe", "turkce", "ελληνικά", "русский", "українська", "עברית",
                  "العربية", "हिन्दी", "ไทย", "tiếng việt", "bahasa indonesia", "bahasa melayu", "日本語", "한국어",
                  "中文", "简体中文", "繁體中文", "繁体中文", "中文(简体)", "中文(繁體)", "german", "french", "spanish",
                  "italian", "portuguese", "dutch", "japanese", "korean", "chinese", "en", "de", "fr", "es", "it", "pt",
                  "nl", "ja", "ko", "zh"}
_LANGUAGE_ENTRY = re.compile(r"\s*[(\[][a-z]{2}(?:[-_][a-z]{2,4})?[)\]]\s*$|\s*[-–]\s*[a-z]{2}$", re.IGNORECASE)
_COPYRIGHT = re.compile(r"^\W*(©|\(c\)|copyright\b)|\ball rights reserved\b", re.IGNORECASE)


@dataclass
class _Stats:
    chars: int = 0  # visible characters (whitespace stripped per text node)
    link_chars: int = 0  # of which inside links (mailto: and tel: links are contact details, not links)
    heading: bool = False  # holds an h1-h6
    blocks: bool = False  # has block-level element children
    own_chars: int = 0  # text directly inside, outside any child element
    heading_chars: int = 0  # of which inside headings


def _measure(root: etree._Element) -> dict[etree._Element, _Stats]:
    stats: dict[etree._Element, _Stats] = {}
    for _event, element in etree.iterwalk(root, events=("end",)):
        tag = element.tag
        if not isinstance(tag, str):
            continue
        tag = tag.lower()
        own = len((element.text or "").strip())
        s = _Stats(heading=tag in HEADINGS)
        for child in element:
            own += len((child.tail or "").strip())
            c = stats.get(child)
            if c is None:
                continue
            s.chars += c.chars
            s.link_chars += c.link_chars
            s.heading = s.heading or c.heading
            s.heading_chars += c.heading_chars
            s.blocks = s.blocks or c.blocks or child.tag in BLOCK_TAGS
        s.chars += own
        s.own_chars = own
        if tag in HEADINGS:
            s.heading_chars = s.chars
        if tag == "a" and not (element.get("href") or "").lower().startswith(("mailto:", "tel:")):
            s.link_chars = s.chars
        stats[element] = s
    return stats


def _is_language_picker(element: etree._Element) -> bool:
    entries = [e for e in element.iter("a", "li", "option") if e.tag != "li" or e.find(".//a") is None]
    names = [clean_text(_text(e)) for e in entries] or [clean_text(_text(element))]
    names = [n for n in names if n]
    if not names or not all(_LANGUAGE_ENTRY.sub("", n).lower() in LANGUAGE_NAMES for n in names):
        return False
    rest = len(clean_text(_text(element))) - sum(len(n) for n in names)
    return rest < 40  # "Select your language", "Other language versions →"


def _is_furniture(element: etree._Element, s: _Stats, total: int) -> bool:
    if s.chars < total / 2 and _HIDDEN_CLASSES.intersection((element.get("class") or "").lower().split()):
        # Hidden by the site's stylesheet (a newsletter box under class "hidden"). Only at the edges:
        # inside the policy, the same class marks accordion panels that a click opens.
        return True
    classes = (element.get("class") or "") + " " + (element.get("aria-label") or "")
    if classes.strip() and s.chars < total / 2:
        raw = re.sub(r"([a-z])([A-Z])", r"\1 \2", classes).lower()
        # "section_cta25", "nav-2": numbered variants of the same word
        words = {w.rstrip("0123456789") for w in _TOKEN_SPLIT.split(raw)} | \
            {w.replace("-", "").replace("_", "") for w in raw.split()}
        if words & EDGE_CLASS_WORDS:
            return True
    if s.chars < 200 and _is_language_picker(element):
        return True
    density = s.link_chars / s.chars
    if density >= (0.7 if s.heading else 0.5):
        return True
    # A promo or CTA box: a few words and a link, no heading, no date (a title block with "Last
    # updated 2024 · Download PDF" is the policy's own header).
    return (s.blocks and s.link_chars > 0 and not s.heading and s.chars - s.link_chars < PROSE_CHARS
            and not _YEAR.search(_text(element)))


def _is_footer_residue(element: etree._Element, s: _Stats) -> bool:
    return s.chars < PROSE_CHARS and (s.heading_chars == s.chars or bool(_COPYRIGHT.search(_text(element))))


def _trim_edge(node: etree._Element, stats: dict[etree._Element, _Stats], reverse: bool,
               doomed: list[etree._Element], total: int, kept: list[bool]) -> bool:
    """Mark furniture from one end of ``node`` up to the first prose; True once prose is reached.

    ``kept[0]`` says whether anything has been kept yet on this edge: at the very end of a page, a
    heading with nothing under it ("Download our app" over badges) or a "© 2025" line is the footer's.
    """
    if stats[node].own_chars >= PROSE_CHARS:
        return True
    children = [c for c in node if isinstance(c.tag, str)]
    for child in reversed(children) if reverse else children:
        s = stats.get(child)
        if s is None or not s.chars:
            continue
        if _is_furniture(child, s, total) or (reverse and not kept[0] and _is_footer_residue(child, s)):
            doomed.append(child)
        elif not s.blocks:
            if s.chars - s.link_chars >= PROSE_CHARS:
                return True
            kept[0] = True
        elif _trim_edge(child, stats, reverse, doomed, total, kept):
            return True
    return False


def _main_landmark(root: etree._Element, stats: dict[etree._Element, _Stats]) -> etree._Element:
    """The page's one <main> when it holds nearly all the text: what lies beside it is the site's."""
    landmarks = [e for e in root.iter("main", "div", "section") if e.tag == "main" or e.get("role") == "main"]
    if len(landmarks) != 1:
        return root
    main, total = stats.get(landmarks[0]), stats[root]
    if main is None:
        return root
    prose = main.chars - main.link_chars
    return landmarks[0] if prose >= 0.9 * (total.chars - total.link_chars) else root


# A legal hub ("/legal") holds the terms, the privacy policy, the DMCA policy… as collapsed <details>
# or tab panels; a privacy-policy watcher reads the panels about privacy and leaves the others.
_DOCUMENT_TITLE = re.compile(r"\b(terms|policy|notice|agreement|conditions|statement|guidelines|addendum|"
                             r"richtlinie|bedingungen|erkl[äa]rung|politique|pol[íi]tica|t[ée]rminos)\b",
                             re.IGNORECASE)
_PRIVACY_POLICY = re.compile(r"\bprivacy\s+(policy|notice|statement)\b|\bdatenschutz|\bpolitique\s+de\s+"
                             r"confidentialit|\bpol[íi]tica\s+de\s+privacidad|\binformativa\s+(sulla\s+)?privacy|"
                             r"\bprivacybeleid", re.IGNORECASE)
_ABOUT_PRIVACY = re.compile(r"privacy|personal\s+(data|information)|\bdata\s+(protection|retention|processing)|"
                            r"\bgdpr\b|\bccpa\b|\bcookie|datenschutz|confidentialit|privacidad|\bdpf", re.IGNORECASE)


def _panel_title(element: etree._Element) -> str:
    first = element.find("summary") if element.tag == "details" else None
    if first is None:
        first = next(element.iter("h1", "h2", "h3", "h4"), None)
    return clean_text(_text(first)) if first is not None else (element.get("aria-label") or "")


def _drop_other_documents(root: etree._Element, stats: dict[etree._Element, _Stats]) -> None:
    panels = [e for e in root.iter("details", "div", "section")
              if (e.tag == "details" or e.get("role") == "tabpanel") and stats.get(e)]
    panel_set = set(panels)
    titled = [(p, _panel_title(p)) for p in panels if not any(a in panel_set for a in p.iterancestors())]
    documents = [(p, t) for p, t in titled if stats[p].chars >= 1000 and len(t) < 120 and _DOCUMENT_TITLE.search(t)]
    if len(documents) < 3 or not any(_PRIVACY_POLICY.search(title) for _, title in documents):
        return
    for panel, title in titled:
        if title and not _ABOUT_PRIVACY.search(title):
            _drop(panel)


def _main_content(root: etree._Element) -> etree._Element:
    """The element to read the policy from, with the site's furniture at its edges removed."""
    stats = _measure(root)
    if not stats.get(root) or not stats[root].chars:
        return root
    root = _main_landmark(root, stats)
    _drop_other_documents(root, stats)
    for details in list(root.iter("details")):
        # A disclosure widget left with only its summary ("See details" over a removed table of contents).
        s = stats.get(details)
        if s is not None and s.chars == sum(stats[c].chars for c in details if c.tag == "summary" and c in stats):
            _drop(details)
    head: list[etree._Element] = []
    tail: list[etree._Element] = []
    # A page without any prose is left alone: what the policy is there cannot be told from chrome.
    total = stats[root].chars
    if _trim_edge(root, stats, False, head, total, [False]) and _trim_edge(root, stats, True, tail, total, [False]):
        for element in head + tail:
            if element.getparent() is not None:
                _drop(element)
    return root


class _Walker:
    """Turns a cleaned tree into (kind, text, level) items in reading order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, int]] = []
        self.parts: list[str] = []
        self.bold_chars = 0
        self.plain_chars = 0
        self.context: list[tuple[str, int]] = []  # enclosing block kinds: ("h", level), ("li", depth)…

    def text(self, text: str | None, bold: bool) -> None:
        if not text:
            return
        self.parts.append(text)
        visible = len(text.strip())
        if bold:
            self.bold_chars += visible
        else:
            self.plain_chars += visible

    def flush(self) -> None:
        if not self.parts:
            return
        raw = "".join(self.parts)
        bold_only = self.bold_chars > 0 and self.plain_chars == 0
        self.parts, self.bold_chars, self.plain_chars = [], 0, 0
        kind, level = self.context[-1] if self.context else ("p", 0)
        if kind == "p" and _BLANK_LINE.search(raw):
            # "Last updated<br><br>This policy…": a blank line is a paragraph break, however it is made.
            for paragraph in _BLANK_LINE.split(raw):
                self.parts = [paragraph]
                self.bold_chars, self.plain_chars = (1, 0) if bold_only else (0, 1)
                self.flush()
            return
        if kind == "p" and not bold_only:
            # "• one<br>• two" and a lone "• item" paragraph are lists written without list markup.
            lines = [line for line in raw.split(LINE_BREAK) if line.strip()]
            if lines and all(_BULLET_LINE.match(line) for line in lines) and (len(lines) > 1 or
                                                                              raw.lstrip()[:1] in BULLETS):
                for line in lines:
                    if item := strip_list_marker(clean_text(line)):
                        self.items.append(("li", item, 0))
                return
        text = clean_text(raw.replace(LINE_BREAK, " "))
        if not text:
            return
        if kind == "li":
            text = strip_list_marker(text)
            if text:
                self.items.append(("li", text, level))
        elif kind == "h":
            self.items.append(("h", text, level))
        elif kind == "row":
            self.items.append(("row", text, 0))
        else:
            pseudo = heading_level(text, bold_only=bold_only or kind == "dt")
            if kind in ("dt", "summary") and len(text.split()) <= 16:
                pseudo = pseudo or PSEUDO_LEVEL + 1
            if pseudo is not None:
                self.items.append(("h", text, pseudo))
            else:
                self.items.append(("p", text, 0))

    def walk(self, element: etree._Element, bold: bool = False, list_depth: int = 0) -> None:
        tag = element.tag
        tag = tag.lower() if isinstance(tag, str) else ""
        if tag == "tr":
            self.flush()
            cells = [clean_text(_cell_text(c)) for c in element if isinstance(c.tag, str)
                     and c.tag.lower() in ("td", "th")]
            cells = [c for c in cells if c]
            if cells:
                self.items.append(("row", " | ".join(cells), 0))
            return
        if tag == "br":
            self.parts.append(LINE_BREAK)
            return
        block = tag in BLOCK_TAGS
        if block:
            self.flush()
            if tag in HEADINGS:
                self.context.append(("h", HEADINGS[tag]))
            elif tag == "li":
                self.context.append(("li", max(0, list_depth - 1)))
            elif tag in ("dt", "summary"):
                self.context.append((tag, 0))
        if tag in ("ul", "ol"):
            list_depth += 1
        bold = bold or tag in BOLD_TAGS
        self.text(element.text, bold)
        for child in element:
            self.walk(child, bold, list_depth)
            self.text(child.tail, bold)
        if block:
            self.flush()
            if tag in HEADINGS or tag in ("li", "dt", "summary"):
                self.context.pop()


# Where single-page-application frameworks mount what JavaScript renders.
APP_MOUNTS = {"root", "app", "__next", "__nuxt", "___gatsby", "svelte", "app-root", "main-app", "application"}


def _script_shell_signs(root: etree._Element) -> tuple[bool, int]:
    """An app mount point left empty, and how many characters of script the page carries."""
    empty_mount = any(not _text(e).strip() for e in root.xpath(
        "//*[@id and (" + " or ".join(f"@id='{m}'" for m in sorted(APP_MOUNTS)) + ")] | //*[@ng-app] | "
        "//*[@data-reactroot] | //app-root"))
    return empty_mount, sum(len(e.text or "") + (500 if e.get("src") else 0) for e in root.iter("script"))


def normalize_html(html: str, *, select: str | None = None, remove: Sequence[str] = (),
                   ignore: Sequence[str] = ()) -> Normalized:
    """HTML page → Normalized (Document + what the suspect checks need)."""
    html = html.strip()
    if not html:
        return Normalized(Document(sections=[]))
    root = _parse(html)
    if root is None:
        try:  # lxml refuses a str with an encoding declaration, and some empty-ish documents
            root = etree.fromstring(xml_safe(html).encode("utf-8"), etree.HTMLParser(encoding="utf-8"))
        except (etree.ParserError, ValueError):
            root = None
        if root is None:
            return Normalized(Document(sections=[]))
    return _normalized(root, _Head.of(root), select=select, remove=remove, ignore=ignore)


def _parse(html: str) -> etree._Element | None:
    """The tree of a stripped HTML page (None when lxml's HTML parser refuses it), with the markup
    its text shows escaped read as markup (``_expand_escaped_markup``)."""
    try:
        root = etree.fromstring(xml_safe(html), _parser())
    except (etree.ParserError, ValueError):
        return None
    if root is not None and _may_show_markup(html):
        _expand_escaped_markup(root)
    return root


# HTML pasted into a CMS's rich-text field is shown escaped: the page's words read
# "<p><span>Effective Date: …</span></p><p>…", every tag a word of the policy. Read as the markup it
# is, the text is what the page meant (its tags as words made a policy of nonsense, judged high).
# Only text holding ESCAPED_TAGS_MIN tags of text markup, a closing one among them, and not a code
# sample: a sentence naming "<br>" stays as it is. Normalizer 9.
ESCAPED_TAGS_MIN = 3
_ESCAPED_CLOSING = re.compile(r"&(?:lt|#0*60|#[xX]0*3[cC]);/")  # in the page's source
_ESCAPED_TAG = re.compile(r"<(/?)(?:p|span|div|li|ul|ol|dl|dt|dd|a|br|strong|b|em|i|u|h[1-6]|table|thead|tbody|"
                          r"tr|td|th|section|article|blockquote)\b[^<>]{0,300}>", re.IGNORECASE)
_PAGE_TAGS = re.compile(r"</?(?:html|body|head)\b[^<>]*>", re.IGNORECASE)  # a page's own, pasted in a fragment
_CODE_TAGS = {"pre", "code", "kbd", "samp", "xmp", "textarea", "script", "style", "template", "noscript", "title"}


def _may_show_markup(html: str) -> bool:
    """Does the page's source hold an escaped closing tag? (The expression finds it in a fifth of
    the time of ``"&lt;/" in html`` on a page that is not ASCII: it skips from "&" to "&".)"""
    return _ESCAPED_CLOSING.search(html) is not None


def _expand_escaped_markup(root: etree._Element) -> None:
    for node in root.xpath("//text()[contains(., '</')]"):
        text = str(node)
        owner = node.getparent()  # the element holding it, or (a tail) the one it follows
        if owner is None:
            continue
        holder = owner if node.is_text else owner.getparent()
        if holder is None or any(isinstance(e.tag, str) and e.tag.lower() in _CODE_TAGS
                                 for e in (holder, *holder.iterancestors())):
            continue
        closings = _ESCAPED_TAG.findall(text)  # "/" for each closing tag, "" for an opening one
        if len(closings) < ESCAPED_TAGS_MIN or "/" not in closings:
            continue
        try:
            # The body itself holds the fragment: a stray closing tag in it ("</div>", pasted
            # unbalanced) would end a wrapper of ours early and leave the rest outside it.
            parsed = etree.fromstring(f"<html><body>{_PAGE_TAGS.sub(' ', text)}</body></html>", _parser())
        except (etree.ParserError, ValueError):
            continue
        box = parsed.find("body") if parsed is not None else None
        if box is None:
            continue
        if node.is_text:
            owner.text = box.text
            for index, child in enumerate(list(box)):
                owner.insert(index, child)
        else:
            owner.tail = box.text
            at = holder.index(owner)
            for offset, child in enumerate(list(box), start=1):
                holder.insert(at + offset, child)


@dataclass
class _Head:
    """What the suspect checks read of a page's whole tree, before anything is removed from it."""

    title: str | None
    html_lang: str | None
    has_password: bool
    raw_sample: str
    empty_mount: bool
    script_chars: int

    @classmethod
    def of(cls, root: etree._Element) -> _Head:
        title_element = root.find(".//title")
        body = root.find("body")
        return cls(clean_text(_text(title_element)) if title_element is not None else None,
                   (root.get("lang") or root.get("xml:lang") or "").split("-")[0].lower() or None,
                   bool(root.xpath("//input[@type='password']")),
                   clean_text(_text_head(body if body is not None else root, 4000)), *_script_shell_signs(root))


def _normalized(root: etree._Element, head: _Head, *, select: str | None, remove: Sequence[str],
                ignore: Sequence[str]) -> Normalized:
    _clean_tree(root, remove)
    selector_missing = False
    if select:
        chosen = _select(root, select)
        # Keep outermost matches only, in document order.
        chosen_ids = {id(e) for e in chosen}
        chosen = [e for e in chosen if not any(id(a) in chosen_ids for a in e.iterancestors())]
        selector_missing = not chosen
        roots = chosen
    else:
        roots = [_main_content(root.find("body") if root.find("body") is not None else root)]

    walker = _Walker()
    for element in roots:
        walker.walk(element)
        walker.flush()
    items = _apply_ignore(_without_repeated_runs(_without_markdown_links(walker.items)), ignore)
    document = Document.build(items, title=head.title, lang=head.html_lang)
    shell = head.empty_mount or (head.script_chars > 2000 and document.word_count < 40)
    return Normalized(document, title=head.title, html_lang=head.html_lang, has_password_field=head.has_password,
                      selector_missing=selector_missing, raw_text_sample=head.raw_sample, script_shell=shell)


# Markdown a site's CMS left unrendered: a link's text stays, its target and reference go.
# Link words have a letter and are more than one character ("§ 1798.140[o][1]" is a citation).
_MARKDOWN_REFERENCE_LINK = re.compile(r"(?<![\w\]])\[([^\[\]]*[^\W\d_][^\[\]]*[^\[\]])\]\[[\w -]*\]")
_MARKDOWN_INLINE_LINK = re.compile(r"(?<![\w\]])\[([^\[\]]+)\]\((?:https?://|/|#|mailto:)[^()\s]*\)")
_MARKDOWN_LINK_DEFINITION = re.compile(r"\[[^\[\]]+\]:\s*(?:https?://|/|#|mailto:)\S*")


def _without_markdown_links(items: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Markdown links shown as typed (``[text][ref]``, ``[text](/url)``, ``[ref]: /url``) read as their text.

    A page whose CMS skipped the Markdown step for a day shows the same words with brackets and
    targets around them; a reader, and the next capture, see a link.
    """
    out = []
    for kind, text, level in items:
        if "]" in text:
            if _MARKDOWN_LINK_DEFINITION.fullmatch(text):
                continue
            text = _MARKDOWN_INLINE_LINK.sub(r"\1", _MARKDOWN_REFERENCE_LINK.sub(r"\1", text))
        out.append((kind, text, level))
    return out


REPEAT_MIN_ITEMS = 8  # blocks in a row, the same as earlier in the page, before they count as a copy
REPEAT_MIN_SHARE = 0.2  # of the page's words (and at least REPEAT_MIN_WORDS)
REPEAT_MIN_WORDS = 200
_REPEAT_CANDIDATES = 8  # earlier places of a block tried as the start of a copy (bounds the work)


def _without_repeated_runs(items: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Drop a long run of blocks that repeats, block for block, a run earlier in the page.

    Responsive templates render the policy twice (a desktop and a mobile copy, one hidden by a
    media query that only a browser applies), and a page can carry it a second time in a print
    or "full text" panel. Headings compare by text, not level: the copies use different tags. A
    passage a policy repeats on purpose (the same rights listed for two jurisdictions) is short
    beside the page and sits under its own heading; a copy holds sections (two headings at least)
    and REPEAT_MIN_SHARE of the page's words.
    """
    if len(items) < 2 * REPEAT_MIN_ITEMS:
        return items
    places: dict[tuple[str, str], list[int]] = {}
    for index, (kind, text, _) in enumerate(items):
        places.setdefault((kind, text), []).append(index)
    if len(places) == len(items):  # every block once: most pages
        return items
    needed = 0.0  # words a copy must hold; counted once a run is long enough to ask
    dropped: list[range] = []
    # A copy starts at a block seen before: only those places are tried, in page order.
    starts = sorted(index for indexes in places.values() for index in indexes[1:])
    j = 0
    for start in starts:
        if start < j:
            continue
        j = start
        longest = 0
        for i in places[items[j][0], items[j][1]][:_REPEAT_CANDIDATES]:
            if i >= j:
                break
            length = 0
            while j + length < len(items) and i + length < j and items[i + length][:2] == items[j + length][:2]:
                length += 1
            longest = max(longest, length)
        if longest >= REPEAT_MIN_ITEMS and sum(1 for kind, _, _ in items[j:j + longest] if kind == "h") >= 2:
            if not needed:
                needed = max(REPEAT_MIN_WORDS, REPEAT_MIN_SHARE * sum(len(text.split()) for _, text, _ in items))
            if sum(len(text.split()) for _, text, _ in items[j:j + longest]) >= needed:
                dropped.append(range(j, j + longest))
        # A run inside this one repeats what this one repeats: go past it either way (linear time).
        j += longest
    if not dropped:
        return items
    gone = {index for run in dropped for index in run}
    return [item for index, item in enumerate(items) if index not in gone]


IGNORE_SECONDS = 2.0  # all of a policy's `ignore` patterns on one page: far beyond any sane pattern


class IgnoreTimeout(PolicywatchError):
    """An `ignore` pattern backtracked past IGNORE_SECONDS on a page: the check of that policy fails."""

    error_class = "ignore_timeout"


class UnreadablePage(PolicywatchError):
    """lxml failed on a page in a way no rule here foresaw: the check of that policy fails (and says
    why), and the run goes on with the others."""

    error_class = "unreadable"


def _readable(read: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(read)
    def reading(*args: Any, **options: Any) -> Any:
        try:
            return read(*args, **options)
        except (ValueError, etree.LxmlError) as exc:
            raise UnreadablePage(f"the page could not be read ({type(exc).__name__}: {exc})") from None
    return reading


def _apply_ignore(items: list[tuple[str, str, int]], ignore: Sequence[str]) -> list[tuple[str, str, int]]:
    if not ignore:
        return items
    import regex  # Python's re cannot stop a pattern like '(a|aa)+$' on 'aaaa…!'; regex takes a timeout

    patterns = [(p, regex.compile(p)) for p in ignore]
    deadline = time.monotonic() + IGNORE_SECONDS
    out = []
    for kind, text, level in items:
        for source, pattern in patterns:
            try:
                text = pattern.sub("", text, timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise IgnoreTimeout(f"the ignore pattern '{source}' takes over {IGNORE_SECONDS:g} s on this page "
                                    "(catastrophic backtracking); simplify it") from None
        text = clean_text(text)
        if text:
            out.append((kind, text, level))
    return out


# data- attributes the normalizer reads (everything else data- is where sites put per-request tokens)
_READ_DATA_ATTRIBUTES = {"data-cfemail", "data-testid", "data-reactroot"}


def markup_sha256(html: str, *, keep_data_attributes: bool = False) -> str | None:
    """Identifies an HTML page's tree less what never reaches its text, where sites put what they
    change on every request (per-request tokens, CSRF fields, build hashes, CSP nonces).

    The page is parsed as ``normalize_html`` parses it, then: a script's or style's content counts
    only by its length (the normalizer's size thresholds count it) and its attributes only by whether
    it has a ``src``; meta and link tags keep no attribute; hidden inputs lose their value; every
    element loses ``nonce`` and the data- attributes the normalizer does not read (all of them stay
    with ``keep_data_attributes``: a policy's own selectors may name them). Two pages with the same
    result normalize to the same text under the same settings, so a check that finds it unchanged
    need not normalize the page. None when the text does not parse as HTML.
    """
    html = html.strip()
    root = _parse(html) if html else None
    return None if root is None else _markup_digest(root, keep_data_attributes)


def _markup_digest(root: etree._Element, keep_data_attributes: bool) -> str:
    """``markup_sha256`` of a parsed page, whose tree it changes."""
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue
        if tag in ("script", "style"):
            has_source = element.get("src") is not None
            element.attrib.clear()
            if has_source:
                element.set("src", "")
            element.text = str(len(element.text or ""))
        elif tag in ("meta", "link"):
            element.attrib.clear()
        elif element.attrib:
            for name in [n for n in element.attrib if n == "nonce" or (
                    not keep_data_attributes and n.startswith("data-") and n not in _READ_DATA_ATTRIBUTES)]:
                del element.attrib[name]
            if tag == "input" and (element.get("type") or "").lower() == "hidden":
                element.attrib.pop("value", None)
    serialized = etree.tostring(root, encoding="unicode", method="html")
    return hashlib.sha256(serialized.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_html(text: str) -> bool:
    """HTML by content: a document skeleton, or markup dominating Markdown's own markers."""
    head = text[:4096].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")) or "<body" in head:
        return True
    sample = text[:50000]
    tags = len(re.findall(r"<(p|div|h[1-6]|li|ul|ol|section|article|table|main)\b", sample, re.I))
    markdown = len(re.findall(r"^(#{1,6} |\s*[-*] |\s*\d+\. |=+$|-+$)", sample, re.M))
    return tags >= 3 and tags > markdown


def is_html_page(text: str, content_type: str | None = None) -> bool:
    """HTML by its Content-Type, or else by its content."""
    declared = (content_type or "").split(";")[0].strip().lower()
    return declared in ("text/html", "application/xhtml+xml") or looks_like_html(text)


@_readable
def normalize_text(text: str, *, content_type: str | None = None, select: str | None = None,
                   remove: Sequence[str] = (), ignore: Sequence[str] = ()) -> Normalized:
    """Any page or file: HTML by content (or Content-Type), else Markdown / plain text."""
    if is_html_page(text, content_type):
        return normalize_html(text, select=select, remove=remove, ignore=ignore)
    document = parse_text(text)
    if ignore:
        document = Document.build(_apply_ignore(_items(document), ignore), title=document.title)
    return Normalized(document, title=document.title, raw_text_sample=text[:4000],
                      selector_missing=False)


def page_markup(text: str, *, content_type: str | None = None, select: str | None = None,
                remove: Sequence[str] = ()) -> str | None:
    """``markup_sha256`` of an HTML page under a policy's settings; None for any other page."""
    return markup_sha256(text, keep_data_attributes=bool(select or remove)) \
        if is_html_page(text, content_type) else None


def normalize_page(text: str, *, content_type: str | None = None, select: str | None = None,
                   remove: Sequence[str] = (), ignore: Sequence[str] = ()) -> Normalized:
    """``normalize_text``, with the Document's caches filled (``Document.precompute``): ready to
    travel back from a worker process with everything a check reads."""
    normalized = normalize_text(text, content_type=content_type, select=select, remove=remove, ignore=ignore)
    normalized.document.precompute()
    return normalized


@_readable
def read_page(text: str, *, content_type: str | None = None, select: str | None = None,
              remove: Sequence[str] = (), ignore: Sequence[str] = (), known_markup: str | None = None,
              normalize: Callable[..., Normalized] = normalize_page) -> tuple[str | None, Normalized | None]:
    """A fetched page's markup fingerprint (``page_markup``) and its normalized text (``normalize``).

    When the fingerprint equals ``known_markup`` (the page's last one, under the same settings) the
    text is the one read last time and is not read again: the Normalized is None.
    """
    if normalize is normalize_page and is_html_page(text, content_type):
        # Read here too: one parse serves the fingerprint (of a copy of the tree: copying is half
        # the cost of parsing) and the text.
        root = _parse(text.strip())
        if root is not None:
            markup = _markup_digest(copy.deepcopy(root), keep_data_attributes=bool(select or remove))
            if markup == known_markup:
                return markup, None
            normalized = _normalized(root, _Head.of(root), select=select, remove=remove, ignore=ignore)
            normalized.document.precompute()
            return markup, normalized
    markup = page_markup(text, content_type=content_type, select=select, remove=remove)
    if markup is not None and markup == known_markup:
        return markup, None
    return markup, normalize(text, content_type=content_type, select=select, remove=remove, ignore=ignore)


def _items(document: Document) -> list[tuple[str, str, int]]:
    items: list[tuple[str, str, int]] = []
    for section in document.sections:
        if section.level:
            items.append(("h", section.heading, section.level))
        items.extend((b.kind, b.text, b.depth) for b in section.blocks)
    return items
