"""The lexicons of the judgement, read from YAML files a user can read and extend.

``policywatch/judge/lexicon/*.yaml`` ship with policywatch; folders or files named by
``POLICYWATCH_RULES`` (os.pathsep-separated) are read after them, and a later file with the same
``category`` adds terms to it. Each category file says what a practice of that category is called
in plain words; ``language.yaml`` holds the words that change meaning across categories
(negations, modal verbs, user agency, date-stamp lines).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ahocorasick_rs import AhoCorasick

LEXICON_DIR = Path(__file__).parent / "lexicon"
# The order in which categories are listed, and which one names a sentence that touches several.
PRIORITY = ["children", "international_transfers", "retention", "user_rights", "choices", "security",
            "policy_changes", "controller_contact", "tracking", "sharing", "purposes", "data_collected"]


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """Strings of which every match of ``pattern`` contains one, read off its syntax tree.

    ``'data brokers?|data resellers?'`` gives ``('broker', 'reseller')`` (the parser factors out the
    common "data "; the longer factor wins). A text containing none of them cannot match, so the
    regular expression need not run on it: most policy sentences
    hold none of most terms, and Python's ``re`` is slow on long alternations.
    """
    import re._parser as parser  # the standard library's own regex parser

    try:
        tree = parser.parse(pattern)
    except re.error:
        return None
    found = _factors(list(tree))
    return tuple(sorted(found)) if found and min(map(len, found)) >= 2 else None


def _lowercase_ascii(pattern: str) -> bool:
    """Does every character the pattern names, however it is written (``a``, ``\\x61``, ``[a-z]``),
    fall in lowercase ASCII or caseless ASCII? Then it finds in a lowercased sentence, case-sensitively,
    what it finds case-insensitively in the sentence (facts._matches)."""
    import re._constants as sre
    import re._parser as parser

    def plain(code: int) -> bool:
        return code < 128 and not 65 <= code <= 90  # ASCII, and not A-Z

    def walk(items) -> bool:
        for op, value in items:
            if op in (sre.LITERAL, sre.NOT_LITERAL):
                ok = plain(value)
            elif op is sre.RANGE:
                ok = plain(value[0]) and plain(value[1]) and not value[0] <= 90 <= value[1] \
                    and not value[0] <= 65 <= value[1]
            elif op is sre.IN:
                ok = walk(value)
            elif op in (sre.ANY, sre.CATEGORY, sre.NEGATE, sre.AT, sre.GROUPREF):
                ok = True
            elif op is sre.SUBPATTERN:
                ok = not value[1] and not value[2] and walk(value[-1])  # no inline flags
            elif op is sre.BRANCH:
                ok = all(walk(branch) for branch in value[1])
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                ok = walk(value[2])
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                ok = walk(value[1])
            else:  # anything this reading does not know: searched as written
                ok = False
            if not ok:
                return False
        return True

    try:
        return walk(parser.parse(pattern, re.IGNORECASE))
    except re.error:
        return False


def _factors(items: list) -> set[str] | None:
    """Required literals of a sequence of regex syntax nodes: its most selective element's."""
    from re._constants import BRANCH, LITERAL, MAX_REPEAT, MIN_REPEAT, SUBPATTERN

    best: set[str] | None = None
    run = ""

    def consider(candidate: set[str] | None) -> None:
        nonlocal best
        if candidate and (best is None or min(map(len, candidate)) > min(map(len, best))):
            best = candidate

    for op, value in items + [(None, None)]:
        if op is LITERAL:
            # Lowercase whatever the case rules: a text holding the literal holds its lowercase in lowercase.
            run += chr(value).lower()
            continue
        consider({run} if run else None)
        run = ""
        if op is SUBPATTERN:
            consider(_factors(list(value[-1])))
        elif op is BRANCH:
            branches = [_factors(list(b)) for b in value[1]]
            consider(set().union(*branches) if all(branches) else None)
        elif op in (MAX_REPEAT, MIN_REPEAT) and value[0] >= 1:
            consider(_factors(list(value[2])))
    return best


# How the extractor reads a document (what counts as a sentence, how a table row is read). Part of the
# fingerprint: stored facts read another way are re-derived, as after a lexicon change.
# 3: sentences in another language than the lexicons' are not read; 5: names frame only after ":";
# 6: a heading run into its sentence is cut off; 7: a data kind after another practice's denied verb,
# and a right or choice denied to the user; 8: a heading of three words or fewer states no practice;
# 9: only such a heading without a verb of a practice or a negation ("Do Not Sell" states)
READING = 9

_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux-]")  # (?i), (?-i:…): flags a lowered pattern would not keep


@dataclass(frozen=True)
class Term:
    category: str
    name: str  # how people read the practice: "biometric data", "data brokers", "the right to erasure"
    regex: re.Pattern
    sensitive: bool = False  # counts without a frame and ranks first; a new passage about it is high
    verb: bool = False  # a generic word ("share", "collect"): frames a sentence, is never a fact itself
    named: bool = False  # a named company or country: the policy's own company is not a third party
    entity: bool = False  # a legal entity name (controller facts)
    framed: bool | None = None  # overrides the category's ``framed`` for this term
    protective: bool | None = None  # overrides the category's: a transfer safeguard protects the user
    does: str | None = None  # overrides the category's phrasing: "sells personal data"
    do: str | None = None

    @functools.cached_property
    def literals(self) -> tuple[str, ...] | None:
        """Strings one of which every match contains, lowercase (None: not known), to skip text quickly.

        Tested against lowercased text, so they hold for case-sensitive terms too.
        """
        return required_literals(self.regex.pattern)

    @functools.cached_property
    def lowered_regex(self) -> re.Pattern | None:
        """The pattern without IGNORECASE, for a sentence already lowercased: twice as fast.

        Only where it finds exactly the same spans: a case-insensitive pattern in plain lowercase
        ASCII, without inline flags; and only on sentences whose letters are ASCII (facts._matches).
        """
        pattern = self.regex.pattern
        if not self.regex.flags & re.IGNORECASE or _INLINE_FLAGS.search(pattern) or not _lowercase_ascii(pattern):
            return None
        return re.compile(pattern, self.regex.flags & ~re.IGNORECASE)


@dataclass
class CategoryRules:
    name: str
    protective: bool  # text that protects the user: adding it restricts, removing it expands
    label: str  # plain name shown to people ("Sharing & sale")
    does: str  # the practice asserted, third person: "shares personal data with {what}"
    do: str  # the same, infinitive: "share personal data with {what}"
    framed: bool = False  # a term counts only where the sentence (or its lead-in, or heading) frames it
    terms: list[Term] = field(default_factory=list)

    @property
    def specific_terms(self) -> list[Term]:
        return [t for t in self.terms if not t.verb]

    @property
    def verb_terms(self) -> list[Term]:
        return [t for t in self.terms if t.verb]


@dataclass
class Rules:
    categories: dict[str, CategoryRules]
    negation: re.Pattern
    negation_after: re.Pattern  # a denial right after the practice: "Selling data is not…"
    user_negation: re.Pattern
    strong_modal: re.Pattern
    weak_modal: re.Pattern
    date_stamp: re.Pattern
    user_agency: re.Pattern
    document_title: re.Pattern  # a first heading that names the document states no practice
    scope_statement: re.Pattern  # "This policy covers …": what the document is about states no practice
    user_denied: re.Pattern  # after a user negation: "you do not have the right to …" denies a right
    fingerprint: str  # changes whenever a lexicon changes: stored facts older than it are re-derived

    @functools.cached_property
    def terms(self) -> list[Term]:
        return [t for name in PRIORITY if name in self.categories for t in self.categories[name].terms]

    @functools.cached_property
    def literal_search(self) -> tuple[AhoCorasick, list[frozenset[int]], frozenset[int]]:
        """Every term literal in one automaton (all of them found in one pass over a text, overlaps
        included); for each literal, the ids of the terms whose matches contain it; and the literals
        of the entity terms. Built once for the lexicons, not for each reading."""
        from ahocorasick_rs import AhoCorasick

        by_literal: dict[str, set[int]] = {}
        entity_literals: set[str] = set()
        for term in self.terms:
            for literal in term.literals or ():
                by_literal.setdefault(literal, set()).add(id(term))
                if term.entity:
                    entity_literals.add(literal)
        return (AhoCorasick(list(by_literal)), [frozenset(ids) for ids in by_literal.values()],
                frozenset(k for k, literal in enumerate(by_literal) if literal in entity_literals))

    def phrasing(self, category: str, practice: str) -> tuple[str, str]:
        """(does, do) templates for a practice: the term's own, else its category's."""
        rules = self.categories[category]
        term = next((t for t in rules.terms if t.name == practice and t.does), None)
        return (term.does, term.do or term.does) if term else (rules.does, rules.do)

    def protective(self, category: str, practice: str) -> bool:
        """Does stating this practice protect the user (a right, an opt-out, a transfer safeguard)?"""
        rules = self.categories[category]
        term = next((t for t in rules.terms if t.name == practice and t.protective is not None), None)
        return term.protective if term else rules.protective

    def label(self, category: str) -> str:
        rules = self.categories.get(category)
        return rules.label if rules else category.replace("_", " ").capitalize()


def rule_files(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    folders = [LEXICON_DIR] + [Path(p) for p in extra]
    folders += [Path(p) for p in os.environ.get("POLICYWATCH_RULES", "").split(os.pathsep) if p]
    # A folder is listed again only when it changed (a file added or removed changes its mtime):
    # the judgement and every page of a published site ask for the rules, thousands of times a run.
    stamps = []
    for folder in folders:
        try:
            stamps.append(folder.stat().st_mtime_ns if folder.is_dir() else None)
        except OSError:
            stamps.append(None)
    return list(_listed(tuple(folders), tuple(stamps)))


@functools.lru_cache(maxsize=64)
def _listed(folders: tuple[Path, ...], stamps: tuple[int | None, ...]) -> tuple[Path, ...]:
    files: list[Path] = []
    for folder, stamp in zip(folders, stamps, strict=True):
        files.extend(sorted(folder.glob("*.yaml")) if stamp is not None else [folder])
    return tuple(files)


@functools.lru_cache(maxsize=4)
def _load(files: tuple[Path, ...]) -> Rules:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from policywatch.errors import ConfigError
    from policywatch.vocabulary import CATEGORIES

    yaml = YAML(typ="safe")
    categories: dict[str, CategoryRules] = {}
    language: dict = {}
    origins: dict[str, Path] = {}  # the file each of the language's expressions comes from
    digest = hashlib.sha256(f"reading {READING}".encode())
    for path in files:
        try:
            raw = path.read_text(encoding="utf-8")
            data = yaml.load(raw) or {}
        except (OSError, YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read rules: {' '.join(str(exc).split())[:200]}") from None
        digest.update(raw.encode("utf-8"))
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a rules file is a mapping (category: …, terms: […])")
        if "category" not in data:
            language.update(data)
            origins.update(dict.fromkeys(data, path))
            continue
        name = data["category"]
        if not isinstance(name, str) or name not in CATEGORIES:
            raise ConfigError(f"{path}: unknown category '{name}' (one of: {', '.join(sorted(CATEGORIES))})")
        rules = categories.get(name)
        if rules is None:
            rules = categories[name] = CategoryRules(
                name, bool(data.get("protective")), data.get("label") or name.replace("_", " ").capitalize(),
                data.get("does") or "mentions {what}", data.get("do") or "mention {what}", bool(data.get("framed")))
        terms = data.get("terms") or []
        if not isinstance(terms, list):
            raise ConfigError(f"{path}: 'terms' is a list of terms (pattern: …, name: …)")
        for index, term in enumerate(terms):
            if not isinstance(term, dict) or "pattern" not in term:
                raise ConfigError(f"{path}: term {index + 1}: needs a pattern")
            if unknown := sorted(str(key) for key in term if key not in TERM_KEYS):
                # {name: photos, videos and audio, …}: YAML reads "videos and audio" as a key of its own
                raise ConfigError(f"{path}: term {index + 1} ({term.get('name', '?')}): unknown key "
                                  f"'{unknown[0]}' (a name holding a comma needs quotes)")
            if wrong := next((key for key in TEXT_TERM_KEYS if key in term and not isinstance(term[key], str)), None):
                raise ConfigError(f"{path}: term {index + 1} ({term.get('name', '?')}): '{wrong}' must be text")
            if not term["pattern"].strip():
                # An empty pattern matches every sentence: each would state the practice.
                raise ConfigError(f"{path}: term {index + 1} ({term.get('name', '?')}): the pattern is empty")
            flags = 0 if term.get("case_sensitive") else re.IGNORECASE
            try:
                regex = re.compile(term["pattern"], flags)
            except (re.error, TypeError) as exc:
                raise ConfigError(f"{path}: term {index + 1} ({term.get('name', '?')}): bad pattern: {exc}") from None
            if regex.search("") is not None:  # "x?", "(?:)": it matches nothing at all, so in every sentence
                raise ConfigError(f"{path}: term {index + 1} ({term.get('name', '?')}): the pattern matches empty "
                                  "text, so every sentence")
            rules.terms.append(Term(name, term.get("name", term["pattern"]), regex, bool(term.get("sensitive")),
                                    bool(term.get("verb")), bool(term.get("named")), bool(term.get("entity")),
                                    term.get("framed"), term.get("protective"), term.get("does"), term.get("do")))
    flags = re.IGNORECASE
    missing = [k for k in ("negations", "user_negations", "strong_modals", "weak_modals",
                           "date_stamp", "user_agency") if k not in language]
    if missing:
        raise ConfigError(f"{LEXICON_DIR / 'language.yaml'}: missing {', '.join(missing)}")
    if wrong := next((k for k, v in language.items() if k in LANGUAGE_KEYS and not isinstance(v, str)), None):
        raise ConfigError(f"{origins[wrong]}: '{wrong}' must be a regular expression (text), not {language[wrong]!r}")
    try:
        return Rules(categories=categories, negation=re.compile(language["negations"], flags),
                     negation_after=re.compile(language.get("negations_after", "(?!)"), flags),
                     user_negation=re.compile(language["user_negations"], flags),
                     strong_modal=re.compile(language["strong_modals"], flags),
                     weak_modal=re.compile(language["weak_modals"], flags),
                     date_stamp=re.compile(language["date_stamp"], flags | re.MULTILINE),
                     user_agency=re.compile(language["user_agency"], flags),
                     document_title=re.compile(language.get("document_title", "(?!)"), flags),
                     scope_statement=re.compile(language.get("scope_statement", "(?!)"), flags),
                     user_denied=re.compile(language.get("user_denied", "(?!)"), flags),
                     fingerprint=digest.hexdigest()[:16])
    except re.error as exc:
        raise ConfigError(f"language rules: bad pattern: {exc}") from None


# What a lexicon term may say (docs/lexicons.md), and which of it is text.
TERM_KEYS = {"name", "pattern", "case_sensitive", "sensitive", "verb", "named", "entity", "framed", "protective",
             "does", "do"}
TEXT_TERM_KEYS = ("pattern", "name", "does", "do")
# The expressions of language.yaml (a file without a category) that the reading uses.
LANGUAGE_KEYS = {"negations", "negations_after", "user_negations", "strong_modals", "weak_modals", "date_stamp",
                 "user_agency", "document_title", "scope_statement", "user_denied"}


def load_rules(extra: tuple[str, ...] = ()) -> Rules:
    """Read every lexicon; a broken file is a ConfigError naming the file (and term)."""
    return _load(tuple(rule_files(extra)))


def is_date_stamp(text: str, rules: Rules) -> bool:
    """A line that only says when the policy was written ("Last updated: 3 May 2024")."""
    return bool(rules.date_stamp.search(text.strip())) and bool(re.search(r"\d", text))


def stated_date(text: str, rules: Rules, *, context: str | Callable[[], str] = "") -> str | None:
    """The date a policy says it was last updated or took effect, as YYYY-MM-DD.

    ``context``: other texts of the same policy (its version before, its history), or what gives
    them (called only when needed). Where ``text`` does not tell whether the policy writes numeric
    dates day first, their dates may ("Updated: 11/05/2026" in a policy that wrote "22/07/2025")."""
    lines = text.splitlines()
    for line in lines[:80] + lines[-20:]:
        line = line.strip().lstrip("#").strip().strip("*_").strip()
        if len(line) < 120 and is_date_stamp(line, rules):
            convention = None  # whether the policy writes numeric dates day first: only they need it
            if _NUMERIC_DATE.search(line):
                convention = _day_first(text)
                if convention is None and context:
                    convention = _day_first(context() if callable(context) else context)
            when = latest_date(line, day_first=convention)
            if when:
                return when.isoformat()
    return None


_NUMERIC_DATE = re.compile(r"(?<!\d)(\d{1,2})[-/](\d{1,2})[-/](?:\d{4}|\d{2})(?!\d)")


def _day_first(text: str) -> bool | None:
    """Whether ``text`` writes numeric dates day first ("25/05/2018"), month first ("05/25/2018"),
    or None: it does not tell (no such date, or both kinds)."""
    day_first = month_first = False
    for match in _NUMERIC_DATE.finditer(text):
        first, second = int(match.group(1)), int(match.group(2))
        day_first |= 12 < first <= 31 and second <= 12
        month_first |= 12 < second <= 31 and first <= 12
    return day_first if day_first != month_first else None


MONTHS = {name: number for number, names in enumerate([  # month names and abbreviations, lowercase
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
    ("july", "jul"), ("august", "aug"), ("september", "sept", "sep"), ("october", "oct"), ("november", "nov"),
    ("december", "dec")], start=1) for name in names}
_MONTH = "(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_DATE = re.compile(
    r"(?<!\d)(?P<iso>(\d{4})[-/.](\d{1,2})[-/.](\d{1,2}))(?!\d)"  # also the date of "2024-05-10T12:00:00Z"
    rf"|\b(?P<mdy>{_MONTH}\s*,?\s*{_DAY}\s*,?\s+(\d{{4}}))(?!\d)"  # "March 3, 2024", "December, 9 2022"
    rf"|\b(?P<dmy>{_DAY}[\s-]+(?:of\s+)?{_MONTH}[\s,-]+(\d{{4}}))(?!\d)"  # "3 March 2024", "10-May-2024"
    r"|(?<!\d)(?<!\d\.)(?P<numeric>(\d{1,2})([-/.])(\d{1,2})\15(\d{4}|\d{2}))(?!\d|\.\d)"  # "03/04/2024", "14.5.24"
    rf"|\b(?P<my>{_MONTH}\s*,?\s+(\d{{4}}))(?!\d)", re.IGNORECASE)  # "May 2024"


def latest_date(line: str, *, day_first: bool | None = None) -> datetime.date | None:
    """The latest date from 1990 to 2099 written in ``line`` ("Valid from 7th of May 2020, updated
    15th of Aug 2023").

    A month alone is its first day. Numbers separated by dots are day first ("11.05.2026");
    by slashes or dashes as ``day_first`` says, unless one of them is over 12, else month first
    ("03/04/2024" is March 4). A two-digit year is of this century. Not a general date parser:
    fuzzy parsing took "Version 2.1, effective May 1, 2024" for 2001-05-02, and gave "May 2024"
    the day of the month the check ran.
    """
    found = []
    for match in _DATE.finditer(line):
        g = match.groups()
        if match.group("iso"):
            year, month, day = int(g[1]), int(g[2]), int(g[3])
        elif match.group("mdy"):
            month, day, year = MONTHS[g[5].lower()], int(g[6]), int(g[7])
        elif match.group("dmy"):
            day, month, year = int(g[9]), MONTHS[g[10].lower()], int(g[11])
        elif match.group("numeric"):
            first, second, year = int(g[13]), int(g[15]), int(g[16])
            year += 2000 if year < 100 else 0
            dotted = g[14] == "."
            if first > 12 or ((dotted or day_first) and second <= 12):
                month, day = second, first
            else:
                month, day = first, second
        else:
            month, day, year = MONTHS[g[18].lower()], 1, int(g[19])
        try:
            when = datetime.date(year, month, day)
        except ValueError:  # "February 30": not a date
            continue
        if 1990 < year < 2100:
            found.append(when)
    return max(found, default=None)
