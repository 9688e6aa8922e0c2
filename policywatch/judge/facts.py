"""What a policy says the company does: its practice facts, each with its evidence sentence.

A fact is a practice of one category (collects biometric data, shares personal data with data
brokers, keeps personal data for 30 days, offers an opt-out, minimum age 13…) with a polarity
(asserted, negated, or — for promises — only conditional), a normalised value where the practice
has a number or a name (a period in days, an age, a company), and the sentence that says so with
its section path.

Facts are what the judgement compares: two versions that say the same things in other words,
another order, other sections or other markup have the same fact set, so their difference is
editorial or formatting by construction.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from policywatch.diff import heading_key
from policywatch.document import Document, Section, in_other_language, row_cells, table_headers
from policywatch.judge.rules import CategoryRules, Rules, Term, is_date_stamp, load_rules

MAX_SENTENCE_WORDS = 120
NAMED_ONLY = "named:"  # a category a sentence touches by names alone (_Analysis.touched, _frames)
MAX_ANALYSED_CHARS = 300_000  # per document: the longest real policies are ~260,000; beyond, coarser
MAX_TERM_RUNS = 40_000  # term searches × 100 characters, per pair (the longest real pairs: ~27,000)
MAX_MATCHES_PER_TERM = 4  # in one sentence: more say nothing new, and cost time on hostile input
HEADING_LABEL_WORDS = 3  # a heading this short, without verb or negation, names a topic (READING 9)
# A sentence ends before a capital; "EU.Where" (a lost space between two rendered blocks) too.
# Matched from the punctuation on, so the search skips to the next [.!?;] in C; a cut is marked
# (_CUT) after it and the space after it is dropped.
_SENTENCE_END = re.compile(r"([.!?;])(?:\s+(?=[\"'(]?[A-Z0-9])|(?<=[a-z]{2}[.!?])(?=[A-Z][a-z]+\b)|"
                           r"(?<=[A-Z]{2}[.!?])(?=[A-Z][a-z]{2,}\b))")
_CUT = "\x00"
# A heading or cell run into the sentence after it, with no stop between ("Cookies and similar tools
# Most of our websites do not…", "Service Providers These could be…"): a sentence's opening word,
# capitalized after a lowercase word and followed by a lowercase one, starts a new sentence. Not the
# pronouns that policies capitalize as defined terms ("the data You provide"), nor title case
# ("Changes to This Policy", "based in The Netherlands": a capital follows), nor words that carry an
# exception into what comes before ("…with third parties Unless you consent"). Searched from the word,
# the rarer start: a search from each space took a third of the splitting's time.
_OPENER = re.compile(r"(?:Most|These|This|The|For|When|Where|If|As|Any|All|Some|Each|Please)(?=\s+[a-z])")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_ANY_BREAK = re.compile(r"[.!?;\n\x00]")  # a text without any of these is one sentence (or a run-on)
_CLAUSE_BREAK = re.compile(r";|:\s|,\s*(?:but|however|except|although|though|while|whereas|unless|and)\b|"
                           r"\s+but\s+|\s+(?:except|unless)\s+", re.IGNORECASE)
_DURATION = re.compile(r"\b(\d{1,4}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                       r"fourteen|fifteen|eighteen|twenty|twenty-four|thirty|forty|forty-five|sixty|ninety|a|an)"
                       r"\s*(?:\(\d+\)\s*)?(?:calendar |business |full )?"
                       r"(hours?|days?|weeks?|months?|years?)\b(?![\s-]+(?:old|of age)\b)", re.IGNORECASE)
_AGE = re.compile(r"\b(?:under(?: the age of)?|younger than|below(?: the age of)?|over(?: the age of)?|"
                  r"at least|aged?(?: of)?|older than)\s+(\d{1,2})\b|"
                  r"\b(\d{1,2})\s*(?:[\s-]years?[\s-](?:old|of age)|\+)|"
                  r"\b(?:minimum|required|legal) age\b(?:\W+\w+){0,5}?\W+(\d{1,2})\b", re.IGNORECASE)
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
                 "fifteen": 15, "eighteen": 18, "twenty": 20, "twenty-four": 24, "thirty": 30, "forty": 40,
                 "forty-five": 45, "sixty": 60, "ninety": 90}
_UNIT_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_LEGAL_FORM = re.compile(r"\b(?:inc|ltd|llc|l\s*l\s*c|llp|gmbh|ag|kg|sa|sas|sarl|s\s*a\s*r\s*l|bv|nv|b\s*v|n\s*v|"
                         r"pte|pty|limited|corporation|corp|plc|srl|s\s*r\s*l|sl|s\s*l|spa|s\s*p\s*a|oy|ab|as|aps|"
                         r"kk|k\s*k|co|company|incorporated)\b")
INDEFINITE = float("inf")
_COPULA_DENIAL = re.compile(r"\s*(?:\w+\s+)?(?:part of|permitted|allowed|done|something|what we do|our business)",
                            re.IGNORECASE)


# Never changed once made: readings share them (FactExtractor's section memo) and sets hash them by
# value. Not frozen only because a version makes a thousand of them and a frozen dataclass's
# __init__ costs six times as much: use dataclasses.replace, never assign to a field.
@dataclass(slots=True, unsafe_hash=True)
class Fact:
    """One thing a version says: ``key`` is what two versions compare; the rest is evidence."""

    category: str
    practice: str  # plain words: "biometric data", "an opt-out", "the right to erasure"
    polarity: str  # asserted | negated | conditional
    value: str | None  # normalised: "30" (days), "13" (age), "acme widgets" (company); None when none
    shown: str | None  # the value as the policy writes it: "30 days", "Acme Widgets Ltd"
    sensitive: bool
    evidence: str
    section: tuple[str, ...]
    section_index: int
    about: str | None = None  # what a choice or right is about, from the same sentence ("targeted advertising")
    lead: str | None = None  # the sentence leading into a list item: "We share your data with:"

    @property
    def key(self) -> tuple[str, str, str, str | None]:
        return self.category, self.practice, self.polarity, self.value

    def to_row(self) -> dict:
        """The columns of the store's ``facts`` table."""
        return {"category": self.category, "practice": self.practice, "polarity": self.polarity,
                "value": self.value, "shown": self.shown, "sensitive": int(self.sensitive), "about": self.about,
                "evidence": self.evidence, "section": _section_json(self.section),
                "section_index": self.section_index}

    @classmethod
    def from_row(cls, row: dict) -> Fact:
        return cls(row["category"], row["practice"], row["polarity"], row["value"], row["shown"],
                   bool(row["sensitive"]), row["evidence"], tuple(json.loads(row["section"])),
                   row["section_index"], row["about"])

    def to_json(self) -> dict:
        return {"category": self.category, "practice": self.practice, "polarity": self.polarity,
                "value": self.value, "shown": self.shown, "sensitive": self.sensitive,
                "about": self.about, "evidence": self.evidence, "section": list(self.section)}


@functools.lru_cache(maxsize=1024)
def _section_json(section: tuple[str, ...]) -> str:
    return json.dumps(list(section), ensure_ascii=False)  # the facts of a section share it: encoded once


def lowercase_is_caseless(sentence: str, lowered: str) -> bool:
    """Does a plain search of the lowercased sentence find what a case-insensitive one finds in it?

    Case-insensitive search costs twice a plain one. It is the same when the sentence's only
    letters with a case are ASCII: letters outside ASCII may match in ways lowercasing does not
    tell (the long "ſ" matches "s"; "İ" lowercases to two characters).
    """
    return len(lowered) == len(sentence) and (
        sentence.isascii() or all(c.lower() == c.upper() for c in sentence if not c.isascii()))


class _Span:
    """A term found in the lowercased sentence, read in the sentence as written (same positions)."""

    __slots__ = ("string", "_start", "_end")

    def __init__(self, string: str, start: int, end: int):
        self.string, self._start, self._end = string, start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, index: int = 0) -> str:
        if index:
            raise IndexError("a term's match is read whole")
        return self.string[self._start:self._end]


class _Finding(NamedTuple):
    """What one sentence says, before its section decides whether a framed term counts."""

    category: str
    practice: str
    polarity: str
    value: str | None
    shown: str | None
    sensitive: bool
    matched: str | None  # a named company or country as written, to tell the policy's own names apart
    about: str | None
    needs_frame: bool  # counts only where the lead-in or heading frames the category


class _Analysis(NamedTuple):
    findings: list[_Finding]
    touched: frozenset[str]  # categories any of its words belong to, verbs included: what it frames


class AnalysisMemory(Protocol):
    """Where what texts say outlives a process (the store): a new version of a policy shares most of
    its paragraphs with the last one, so reading it costs only its new ones. Each text is kept whole
    under ``text_key`` (its sentences' analyses and the company names it holds); the names of a line
    that is no text of its own (a table row) under ``names_key``."""

    def sentence_analyses(self, rules: str, keys: list[bytes]) -> dict[bytes, str]: ...

    def put_sentence_analyses(self, rules: str, analyses: dict[bytes, str]) -> None: ...


def names_key(line: str) -> bytes:
    """Where the memory keeps the company names a line holds that is read as no text of its own (a
    table row, read with its header's labels)."""
    return hashlib.sha256(b"names\x00" + line.encode("utf-8", "surrogatepass")).digest()[:16]


def text_key(text: str) -> bytes:
    """Where the memory keeps what a text says (a heading, a paragraph, a list item, a table row as
    read, a heading path): the analyses of its sentences, and the company names it holds as a line."""
    return hashlib.sha256(b"text\x00" + text.encode("utf-8", "surrogatepass")).digest()[:16]


def _plain(analysis: _Analysis) -> list:
    """An analysis as JSON data: its findings' fields and the categories it touches."""
    return [[list(f) for f in analysis.findings], sorted(analysis.touched)]


@dataclass
class Reading:
    """A version's facts, and every practice it merely mentions (framed or not)."""

    facts: list[Fact]
    mentions: set[tuple]
    unread: list[str] = field(default_factory=list)  # sentences past the analysis bound, in order


def row_keys(section: Section) -> dict[str, str]:
    """A table row's reading → what identifies the row in any version: its table's header and its first
    cell ("Data | How long we keep it" / "Account data"), whatever its other cells say."""
    keys: dict[str, str] = {}
    if all(block.kind != "row" for block in section.blocks):
        return keys
    for block, header, (_, reading) in zip(section.blocks, table_headers(section.blocks), readings(section),
                                           strict=True):
        if header is not None and reading != block.text:
            keys[reading] = f"{header}\n{row_cells(block.text)[0]}"
    return keys


def readings(section: Section) -> list[tuple[str, str]]:
    """``(kind, text)`` of a section's blocks as they are read for facts.

    A table row under a header row of as many cells is read with the header's labels, as one
    sentence: "Account data | 5 years" under "Data | How long we keep it" says "Data: Account
    data, How long we keep it: 5 years." — a retention period, which the bare cells do not state.
    """
    if all(block.kind != "row" for block in section.blocks):  # most sections: no table
        return [(block.kind, block.text) for block in section.blocks]
    out: list[tuple[str, str]] = []
    for block, header in zip(section.blocks, table_headers(section.blocks), strict=True):
        text = block.text
        if header is not None and header != text:
            labels, cells = row_cells(header), row_cells(text)
            if len(cells) == len(labels) > 1:
                text = ", ".join(f"{label.rstrip(':')}: {cell}" if label else cell
                                 for label, cell in zip(labels, cells, strict=True) if cell) + "."
        out.append((block.kind, text))
    return out


@functools.lru_cache(maxsize=65536)
def sentences(text: str) -> tuple[str, ...]:
    """Sentences of a block; run-ons are cut at any full stop, then every MAX_SENTENCE_WORDS words.

    Cached: the diff, the facts and the judgement of one pair split the same blocks several times.
    """
    return tuple(_split_sentences(text))


def _cut_run_in_headings(text: str) -> str:
    """``text`` with a _CUT for the space before each opener run into a heading (_OPENER)."""
    parts: list[str] = []
    last = 0
    for match in _OPENER.finditer(text):
        start = match.start()
        if start >= 3 and text[start - 1] == " " and text[start - 2] in _LOWER and text[start - 3] in _LOWER:
            parts.append(text[last:start - 1])
            last = start
    if not parts:
        return text
    parts.append(text[last:])
    return _CUT.join(parts)


def _split_sentences(text: str) -> list[str]:
    if _CUT in text:
        text = text.replace(_CUT, " ")
    text = _cut_run_in_headings(text)
    # A heading, a label, a list item without a full stop: one sentence.
    if not _ANY_BREAK.search(text):
        sentence = text.strip()
        if len(sentence) <= MAX_SENTENCE_WORDS * 4:
            return [sentence] if sentence else []
    out = []
    for line in _SENTENCE_END.sub("\\1" + _CUT, text).split("\n"):
        for sentence in line.split(_CUT):
            sentence = sentence.strip()
            if not sentence:
                continue
            if len(sentence) > MAX_SENTENCE_WORDS * 4 and len(sentence.split()) > MAX_SENTENCE_WORDS:
                for part in re.split(r"(?<=[.;!?])\s+", sentence):
                    tokens = part.split()
                    out.extend(" ".join(tokens[k:k + MAX_SENTENCE_WORDS])
                               for k in range(0, len(tokens), MAX_SENTENCE_WORDS))
            else:
                out.append(sentence)
    return out


def entity_key(name: str) -> str:
    """A company's name without legal form, case or punctuation: "x.AI, L.L.C." and "X.AI LLC" are one."""
    text = re.sub(r"[^\w\s]", " ", name.lower())
    text = _LEGAL_FORM.sub(" ", re.sub(r"\b(\w) (?=\w\b)", r"\1", text))
    return "".join(text.split())


def durations(text: str) -> list[tuple[float, str]]:
    """(days, as written) of every period a sentence names."""
    out = []
    for match in _DURATION.finditer(text):
        number, unit = match.group(1), match.group(2)
        value = float(number) if number.isdigit() else _NUMBER_WORDS.get(number.lower(), 0)
        if value:
            out.append((value * _UNIT_DAYS[unit.lower().rstrip("s")], " ".join(match.group(0).split())))
    return out


OLDEST_CHILD_AGE = 21  # a line drawn for children and young people; an older age is something else


def ages(text: str) -> list[int]:
    """The ages a sentence draws a line at for children (1-21: "age (40 years old and over)" is a
    protected class in US law, not a minimum age)."""
    found = (int(next(g for g in match.groups() if g)) for match in _AGE.finditer(text))
    return [age for age in found if 1 <= age <= OLDEST_CHILD_AGE]


def _days(value: float) -> str:
    return "inf" if value == INDEFINITE else f"{value:g}"


class FactExtractor:
    """Extracts facts; sentences shared by two versions are analysed once (across runs, given a memory)."""

    def __init__(self, rules: Rules | None = None, memory: AnalysisMemory | None = None):
        self.rules = rules or load_rules()
        self.memory = memory
        self._cache: dict[str, _Analysis] = {}
        self._learned: list[str] = []  # sentences analysed here, not recalled
        self._learned_names: list[str] = []  # lines searched for names here, not recalled
        self._known: set[str] = set()  # texts the memory already holds whole
        # (index, path, heading, blocks) → (own names, facts, mentions) of a section read whole
        self._sections: dict[tuple, tuple[frozenset[str], list[Fact], set[tuple]]] = {}
        self._names: dict[str, frozenset[str]] = {}  # line → the company names it holds
        self._terms = {id(t): t for t in self.rules.terms}
        self._rank = {id(t): k for k, t in enumerate(self.rules.terms)}  # PRIORITY order, then lexicon order
        self._runs = 0  # term searches so far (MAX_TERM_RUNS)
        # by literal index: the terms whose matches contain it; and which literals are entity terms'
        self._literals, self._literal_terms, self._entity_literals = self.rules.literal_search
        self._always = {id(t) for t in self.rules.terms if t.literals is None}  # terms without known literals
        self._entities = [t for t in self.rules.terms if t.entity]  # legal entity names: the policy's own company
        self._verb_terms = [t for t in self.rules.terms if t.verb]
        self._candidates: dict[str, set[int]] = {}  # sentence → ids of the terms it may hold

    # -- documents ---------------------------------------------------------------------------
    def read(self, document: Document) -> Reading:
        split = {text: sentences(text) for section in document.sections
                 for text in [section.heading] + [text for _, text in readings(section)]}
        # Past MAX_ANALYSED_CHARS of distinct text (far beyond any real policy) sentences are not analysed.
        budget = MAX_ANALYSED_CHARS
        fresh: dict[str, None] = {}
        complete = True  # every sentence analysed: what a section says then depends on nothing else
        for parts in split.values():
            for sentence in parts:
                if sentence not in fresh:
                    if budget > 0:
                        fresh[sentence] = None
                        budget -= len(sentence)
                    else:
                        complete = False
        # Heading paths frame their sections: prepared with the rest, so they are read the fast way too.
        path_texts = {" ".join(section.path) for section in document.sections if section.path}
        paths = {s for text in path_texts for s in sentences(text)}
        lines = document.plain_text.split("\n")
        texts = [*split, *(t for t in path_texts if t not in split)]
        self._recall(texts, lines)
        self._prepare(list(fresh) + [p for p in paths if p not in fresh])
        # Term-search budget: sentences whose candidate terms would exceed it are left unread too.
        analysed: set[str] = set()
        for sentence in fresh:
            if sentence in self._cache:
                analysed.add(sentence)
                continue
            # A search costs more on a longer sentence: count it per 100 characters.
            runs = len(self._candidates.get(sentence, ())) * (1 + len(sentence) // 100)
            if self._runs + runs > MAX_TERM_RUNS:
                complete = False
                break
            self._runs += runs
            analysed.add(sentence)
        unread: list[str] = []
        own = self.own_names(document, lines)
        facts: list[Fact] = []
        mentions: set[tuple] = set()
        own_key = frozenset(own)
        if len(self._sections) > 10_000:
            self._sections.clear()
        for index, section in enumerate(document.sections):
            # A section the other version has too, at the same place, says the same (when both were
            # read whole and name the same company): most sections of a new version.
            memo = (index, section.path, section.heading, tuple(section.blocks))
            known = self._sections.get(memo) if complete else None
            if known is not None and known[0] == own_key:
                facts.extend(known[1])
                mentions.update(known[2])
                continue
            first_fact, section_mentions = len(facts), set()
            heading_frames: frozenset[str] | None = None  # read when a framed term first needs them
            lead = ""
            # A heading says things too: a paragraph that became a heading must not lose its facts.
            # Not the document's title, which names it ("Beta Analytics Privacy Notice").
            title = index == 0 and bool(section.heading) and bool(self.rules.document_title.search(section.heading))
            # Nor does a heading of a few words with no verb and no negation, a topic's label
            # ("Children", "Biometric identifiers"): what the section says of the topic is in its
            # sentences ("Our services are for adults only"). Not framed by the headings above it
            # either: a template that nests its headings otherwise would change what it says.
            label = bool(section.heading) and not title and self._is_label(section.heading)
            units = [("title" if title or label else "h", section.heading)] if section.heading else []
            units += readings(section)
            for kind, text in units:
                context = lead if kind in ("li", "row") else ""
                frames: frozenset[str] | None = None
                lead_in = split[context][-1] if context and split.get(context) else None
                for sentence in split[text]:
                    if sentence not in analysed:
                        unread.append(sentence)
                        continue
                    for f in self._sentence(sentence):  # a title is read too: the memory keeps it
                        if kind == "title":
                            break
                        if f.matched is not None and f.matched in own:
                            continue  # the policy's own company or brand is not a third party
                        fact = Fact(f.category, f.practice, f.polarity, f.value, f.shown, f.sensitive, sentence,
                                    section.path, index, f.about, lead_in)
                        if kind != "p":
                            # A list item or heading is framed by what surrounds it, which may change
                            # without the policy saying anything else; a paragraph frames itself.
                            section_mentions.add(fact.key)
                        if f.needs_frame and frames is None:
                            if heading_frames is None:
                                heading_frames = self._frames(" ".join(section.path)) if section.path else \
                                    frozenset()
                            frames = heading_frames | self._frames(context) if context else heading_frames
                        if not f.needs_frame or f.category in frames:
                            facts.append(fact)
                if kind == "p":
                    lead = text
            mentions |= section_mentions
            if complete:
                self._sections[memo] = (own_key, facts[first_fact:], section_mentions)
        self._remember(texts, lines)
        return Reading(facts, mentions, unread)

    def _is_label(self, heading: str) -> bool:
        """A heading of HEADING_LABEL_WORDS words or fewer (its numbering aside) with no verb of a
        practice and no negation: "Children", "6. Biometric data", but not "We sell data" or "Do Not
        Sell"."""
        if len(heading_key(heading).split()) > HEADING_LABEL_WORDS:
            return False
        return not self.rules.negation.search(heading) and not any(
            term.regex.search(heading) for term in self._verb_terms)

    def _recall(self, texts: list[str], lines: Iterable[str] = ()) -> None:
        """What the memory knows of these texts (their sentences' analyses, their company names as
        lines), and of the names in the other lines (table rows): one query, a key per block of text."""
        if self.memory is None:
            return
        asked = [t for t in texts if t not in self._known]
        keys = {text_key(t): t for t in asked}
        named = set(asked)  # a line that is a text of its own has its names in its text's entry
        name_keys = {names_key(line): line for line in lines if line not in self._names and line not in named}
        if not keys and not name_keys:
            return
        found = self.memory.sentence_analyses(self.rules.fingerprint, [*keys, *name_keys])
        entries = {key: value for key, value in found.items() if key in keys}
        if entries:
            # One json.loads for them all: a version recalls hundreds, and each call has its own overhead.
            for key, (names, parts) in zip(entries, json.loads(f"[{','.join(entries.values())}]"), strict=True):
                text = keys[key]
                if len(parts) != len(sentences(text)):
                    continue  # split otherwise when it was kept: read again, and kept anew
                self._known.add(text)
                self._names.setdefault(text, frozenset(names))
                for sentence, (findings, touched) in zip(sentences(text), parts, strict=True):
                    if sentence not in self._cache:
                        self._cache[sentence] = _Analysis([_Finding(*f) for f in findings], frozenset(touched))
        names = {key: value for key, value in found.items() if key in name_keys}
        for key, held_names in zip(names, json.loads(f"[{','.join(names.values())}]"), strict=True):
            self._names[name_keys[key]] = frozenset(held_names)

    def _remember(self, texts: Iterable[str] = (), lines: Iterable[str] = ()) -> None:
        """Keep what these texts say, each whole (all its sentences analysed), and the names of lines
        that are no text of their own, for the next version of this policy or another one."""
        if self.memory is not None:
            entries: dict[bytes, str] = {}
            for text in texts:
                parts = sentences(text)
                if text in self._known or not all(s in self._cache for s in parts):
                    continue
                self._known.add(text)
                names = sorted(self._line_names(text))
                entries[text_key(text)] = json.dumps([names, [_plain(self._cache[s]) for s in parts]],
                                                     ensure_ascii=False, separators=(",", ":"))
            entries.update((names_key(line), json.dumps(sorted(self._names[line]), ensure_ascii=False))
                           for line in lines if line in self._learned_names and line not in self._known)
            if entries:
                self.memory.put_sentence_analyses(self.rules.fingerprint, entries)
        self._learned.clear()
        self._learned_names.clear()

    def _prepare(self, texts: list[str]) -> None:
        """Find which terms each new sentence may hold: every literal of every term, in one pass over them all.

        Running every regular expression on every sentence is what made a 100 KB policy cost 0.5 s;
        an Aho-Corasick automaton finds all the literals (overlapping ones too) in one pass, in C.
        """
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache and t not in self._candidates))
        if not todo:
            return
        lowered = [t.lower() for t in todo]
        starts, position = [], 0
        for text in lowered:
            starts.append(position)
            position += len(text) + 1
        found: list[set[int]] = [set(self._always) for _ in todo]
        seen: set[tuple[int, int]] = set()
        for literal, at, _ in self._literals.find_matches_as_indexes("\n".join(lowered), overlapping=True):
            index = bisect_right(starts, at) - 1
            if (literal, index) not in seen:
                seen.add((literal, index))
                found[index].update(self._literal_terms[literal])
        self._candidates.update(zip(todo, found, strict=True))

    def _candidate_terms(self, lowered: str) -> set[int]:
        """Which terms one lowercased sentence may hold (see _prepare)."""
        found = set(self._always)
        for literal in {k for k, _, _ in self._literals.find_matches_as_indexes(lowered, overlapping=True)}:
            found.update(self._literal_terms[literal])
        return found

    def analysed(self, sentence: str) -> bool:
        """Was this sentence analysed while reading a document (not past the analysis bound)?"""
        return sentence in self._cache

    def sentence_facts(self, sentence: str) -> list[Fact]:
        """The facts one sentence states on its own (framed or not; no section)."""
        return [Fact(f.category, f.practice, f.polarity, f.value, f.shown, f.sensitive, sentence, (), -1, f.about)
                for f in self._sentence(sentence)]

    def own_names(self, document: Document, lines: list[str] | None = None) -> set[str]:
        """The policy's own company and brands: its legal entities and the words of its title.

        Line by line (a company's name does not span paragraphs): lines the other version shares,
        or a version read before (recalled from the memory with its sentences), are not searched again.
        """
        names: set[str] = set()
        if lines is None:
            lines = document.plain_text.split("\n")
            self._recall([], lines)
        for line in lines:
            names |= self._line_names(line)
        title = " ".join(filter(None, [document.title] + [s.heading for s in document.sections[:1]]))
        names.update(w.lower() for w in re.findall(r"[\w.]+", title) if len(w) > 1)
        return names

    def _line_names(self, line: str) -> frozenset[str]:
        """The company names a line holds (its legal entities' words), searched once."""
        found = self._names.get(line)
        if found is None:
            # Only the entity terms some of whose literals the line holds can match in it.
            held = {k for k, _, _ in self._literals.find_matches_as_indexes(line.lower(), overlapping=True)
                    if k in self._entity_literals} if self._entities else ()
            found = self._names[line] = frozenset(
                w.lower() for term in self._entities
                if term.literals is None or any(id(term) in self._literal_terms[k] for k in held)
                for match in term.regex.finditer(line)
                for w in re.findall(r"[\w.]+", match.group(0)) if len(w) > 1)
            self._learned_names.append(line)
        return found

    # -- sentences ---------------------------------------------------------------------------
    def _frames(self, text: str) -> frozenset[str]:
        """Categories a heading or lead-in puts its content in.

        A name (a company, a country) frames only in a text that introduces what follows ("As well
        as the United States, your data may go to:"): "…, Cary, NC 27518, USA." before a list of
        contact details does not make the list's "Address: …, USA" a transfer.
        """
        if not text:
            return frozenset()
        parts = sentences(text)
        touched = frozenset().union(*(self._analysis(s).touched for s in parts))
        framing = {name for name in touched if not name.startswith(NAMED_ONLY)}
        if parts and parts[-1].endswith(":"):  # the names of the sentence that introduces, not of those before it
            framing |= {name.removeprefix(NAMED_ONLY) for name in self._analysis(parts[-1]).touched}
        return frozenset(framing)

    def _sentence(self, sentence: str) -> list[_Finding]:
        return self._analysis(sentence).findings

    def _analysis(self, sentence: str) -> _Analysis:
        cached = self._cache.get(sentence)
        if cached is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            cached = self._cache[sentence] = self._analyse(sentence)
            self._learned.append(sentence)
        return cached

    def _matches(self, sentence: str) -> tuple[dict[str, list[tuple[Term, re.Match]]], set[str]]:
        """Specific term matches by category, and the categories whose verbs the sentence uses."""
        candidates = self._candidates.pop(sentence, None)
        if candidates is None:
            candidates = self._candidate_terms(sentence.lower())
        hits: dict[str, list[tuple[Term, re.Match | _Span]]] = {}
        verbs: set[str] = set()
        lowered = sentence.lower()
        plain = lowercase_is_caseless(sentence, lowered)
        terms = self._terms
        for term_id in sorted(candidates, key=self._rank.__getitem__):
            term = terms[term_id]
            name = term.category
            lowered_regex = term.lowered_regex if plain else None
            if term.verb:  # whether it is there at all
                if (term.regex if lowered_regex is None else lowered_regex).search(
                        sentence if lowered_regex is None else lowered):
                    verbs.add(name)
                continue
            found = term.regex.finditer(sentence) if lowered_regex is None else lowered_regex.finditer(lowered)
            for count, match in enumerate(found):
                hits.setdefault(name, []).append(
                    (term, match if lowered_regex is None else _Span(sentence, match.start(), match.end())))
                if count + 1 >= MAX_MATCHES_PER_TERM:
                    break
        for name, found in hits.items():
            # "advertising partners" is one recipient, not also "partners": drop matches inside a longer one.
            if len(found) > 1:
                spans = [(m.start(), m.end()) for _, m in found]
                hits[name] = [hit for hit, (start, end) in zip(found, spans, strict=True) if not any(
                    other_start <= start and end <= other_end and other_end - other_start > end - start
                    for other_start, other_end in spans)]
        return hits, verbs

    def _analyse(self, sentence: str) -> _Analysis:
        rules = self.rules
        hits, verbs = self._matches(sentence)
        if (hits or verbs) and in_other_language(sentence):
            # The lexicons are English: in another language their words are false friends ("Acquisition
            # de connaissances" is no merger, "par affiliation" no affiliate).
            return _Analysis([], frozenset())
        # A category only names found (a company, a country) touch is marked NAMED_ONLY: see _frames.
        touched = frozenset(name if not all(term.named for term, _ in found) else NAMED_ONLY + name
                            for name, found in hits.items()) | frozenset(verbs)
        if not hits or is_date_stamp(sentence, rules) or rules.scope_statement.search(sentence):
            return _Analysis([], touched)
        return _Analysis(list(self._findings(sentence, hits, verbs)), touched)

    def _findings(self, sentence: str, hits: dict[str, list[tuple[Term, re.Match]]],
                  verbs: set[str]) -> Iterator[_Finding]:
        rules = self.rules
        clauses = self._clauses(sentence)
        negations, denials = self._negations(sentence, clauses)
        agency = bool(rules.user_agency.search(sentence))
        conditional = not agency and bool(rules.weak_modal.search(sentence)) and not rules.strong_modal.search(
            sentence)
        about = self._about(hits)
        if agency and any(rules.categories[name].protective for name in hits):
            # "You can opt out of marketing e-mails": the sentence offers a choice; what the choice is
            # about (marketing) is not thereby a new practice of the company.
            hits = {name: found for name, found in hits.items() if rules.categories[name].protective}
        # One finding per fact; it needs a frame only if every term that states it does (a framed
        # "pseudonymise" and an unframed "access controls" both state security safeguards).
        found_rows: dict[tuple, tuple[tuple, bool]] = {}
        for name, found in hits.items():
            category = rules.categories[name]
            for term, match in found:
                needs_frame = (category.framed if term.framed is None else term.framed) and not term.sensitive \
                    and name not in verbs
                protects = category.protective if term.protective is None else term.protective
                negated = self._negated(clauses, negations, match.start()) or (
                    bool(denials) and protects and self._negated(clauses, denials, match.start())) or \
                    self._denied_after(sentence, clauses, match, category)
                polarity = "negated" if negated else "asserted"
                if negated and name == "data_collected" and self._denied_verb_is_another(
                        sentence, clauses, match.start(), verbs):
                    # "We do not share your precise location with third parties": the denial is of the
                    # sharing, whose verb the clause uses, not of collecting what it names.
                    continue
                if polarity == "asserted" and category.protective and conditional:
                    polarity = "conditional"
                for row in self._facts_of(category, term, match, polarity, sentence, about):
                    kept, framed = found_rows.get(row[:5], (row, True))
                    found_rows[row[:5]] = (kept, framed and needs_frame)
        for row, needs_frame in found_rows.values():
            yield _Finding(*row, needs_frame)

    def _facts_of(self, category: CategoryRules, term: Term, match: re.Match, polarity: str, sentence: str,
                  about: str | None) -> Iterator[tuple]:
        matched = match.group(0).lower() if term.named else None
        if term.entity:
            name = " ".join(match.group(0).split()).rstrip(".,")
            key = entity_key(name)
            if key:
                yield category.name, term.name, polarity, key, name, False, None, None
            return
        if category.name == "retention":
            if term.name == "without a fixed period":
                yield category.name, "retention period", polarity, _days(INDEFINITE), term.name, True, None, None
                return
            if term.name != "retention period":  # a period in words ("for a limited period")
                yield category.name, term.name, polarity, None, None, term.sensitive, None, None
                return
            for days, written in durations(sentence):
                yield category.name, "retention period", polarity, _days(days), f"for {written}", False, None, None
            return
        if category.name == "children":
            found = ages(sentence)
            if found:
                age = min(found)
                yield category.name, "minimum age", "asserted", str(age), str(age), False, None, None
            if term.name != "minimum age":
                yield category.name, term.name, polarity, None, None, term.sensitive, None, None
            return
        if category.name == "policy_changes":
            for days, written in durations(sentence):
                if days >= 1:
                    yield category.name, "notice period", "asserted", _days(days), written, False, None, None
        if term.named:
            practice = f"{term.name}: {' '.join(match.group(0).split())}"
            yield category.name, practice, polarity, None, None, term.sensitive, matched, None
            return
        yield (category.name, term.name, polarity, None, None, term.sensitive, None,
               about if category.protective else None)

    def _about(self, hits: dict[str, list[tuple[Term, re.Match]]]) -> str | None:
        """What a choice or a right in this sentence is about: a purpose, a kind of sharing, tracking."""
        for name in ("purposes", "sharing", "tracking", "data_collected"):
            for term, _ in hits.get(name, ()):
                if not term.named:
                    return term.name
        return None

    # -- negation ------------------------------------------------------------------------------
    def _clauses(self, text: str) -> list[int]:
        """Start offset of each clause: "we do not sell it, but we share it" has two."""
        return [0] + [m.end() for m in _CLAUSE_BREAK.finditer(text)]

    def _negations(self, text: str, clause_starts: list[int]) -> tuple[list[int], list[int]]:
        """Where the sentence denies something of the company, in order; and where it denies the
        user a right or a choice.

        "If you do not want us to…" and "unless you opt in" deny something of the user, not of the
        company, so they do not count. "You do not have the right to…" and "you cannot opt out of…"
        deny a right or a choice: they count for those alone ("…of essential cookies" is no denial
        of cookies).
        """
        company, user = [], []
        for match in self.rules.negation.finditer(text):
            start = max(clause_starts[bisect_right(clause_starts, match.start()) - 1], match.start() - 24)
            if not self.rules.user_negation.search(text[start:match.end()]):
                company.append(match.start())
            elif self.rules.user_denied.match(text, match.end()):
                user.append(match.start())
        return company, user

    def _denied_after(self, text: str, clause_starts: list[int], match: re.Match, category: CategoryRules) -> bool:
        """ "Selling customer data is not part of our model", "cookies are never used": a denial after
        the practice, when what is denied is the practice itself (a verb of its category, or a copula)."""
        k = bisect_right(clause_starts, match.start())
        end = clause_starts[k] if k < len(clause_starts) else len(text)
        after = text[match.end():min(end, match.end() + 80)]  # "… is not": the next few words only
        denial = self.rules.negation_after.match(after)
        if denial is None:
            return False
        rest = after[denial.end():]
        return bool(_COPULA_DENIAL.match(rest)) or any(t.regex.search(rest[:80]) for t in category.verb_terms)

    def _denied_verb_is_another(self, sentence: str, clause_starts: list[int], position: int,
                                verbs: set[str]) -> bool:
        """Does the clause of ``position`` use another practice's verb (share, sell…) and not
        collection's? Only the verbs the sentence holds at all are looked for."""
        k = bisect_right(clause_starts, position) - 1
        clause = sentence[clause_starts[k]:clause_starts[k + 1] if k + 1 < len(clause_starts) else len(sentence)]
        found = {term.category for term in self._verb_terms if term.category in verbs and term.regex.search(clause)}
        return bool(found) and "data_collected" not in found

    @staticmethod
    def _negated(clause_starts: list[int], negations: list[int], position: int) -> bool:
        """Is the word at ``position`` denied by a negation before it in its own clause?"""
        start = clause_starts[bisect_right(clause_starts, position) - 1]
        k = bisect_right(negations, position) - 1
        return k >= 0 and negations[k] >= start


def extract_facts(document: Document, rules: Rules | None = None, memory: AnalysisMemory | None = None
                  ) -> list[Fact]:
    """The practice facts of a Document, in reading order."""
    return FactExtractor(rules, memory).read(document).facts


class Gathered:
    """An AnalysisMemory that recalls from another one and gathers what is learned, for whoever can
    write it: a worker process reads the database its run is writing (``timeline.judge_ahead``)."""

    def __init__(self, recall: AnalysisMemory | None):
        self.recall = recall
        self.learned: dict[bytes, str] = {}

    def sentence_analyses(self, rules: str, keys: list[bytes]) -> dict[bytes, str]:
        return self.recall.sentence_analyses(rules, keys) if self.recall is not None else {}

    def put_sentence_analyses(self, rules: str, analyses: dict[bytes, str]) -> None:
        self.learned.update(analyses)
