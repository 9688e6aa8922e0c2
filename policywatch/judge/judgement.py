"""Is a change material? The difference of two versions' fact sets, located by the section diff.

- A fact in the new version only is *added*, in the old only *removed*; an added and a removed
  fact of the same practice are one *changed* fact (a negation flip, a promise weakened, a
  period or an age or a company changed).
- Each change gets a rule id, a severity and a direction from one small rule in ``changes``:
  asserting more in an expanding category (collection, purposes, sharing, transfers, tracking,
  retention, children) expands — less protective, high; saying less there restricts — medium.
  In a protective category (choices, rights, security, change notices) it is the other way round.
- ``passages`` adds what the sets alone miss: new or dropped passages, reworded sentences.
- The section diff places each change's evidence in its section; changed sections without a
  fact change are editorial (words changed), date stamps, or formatting (nothing a reader sees).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from policywatch.diff import DocumentDiff, SectionDiff, fold, similarity, words
from policywatch.document import Document, detect_language
from policywatch.judge import words as plain
from policywatch.judge.changes import RULES, Assessment, Signal, rank
from policywatch.judge.facts import Fact, FactExtractor, sentences
from policywatch.judge.passages import SIMILARITY_BUDGET, SentenceIndex, reworded_changes, statement_changes
from policywatch.judge.rules import MONTHS, Rules, is_date_stamp, load_rules, stated_date
from policywatch.vocabulary import SEVERITY_RANK

# What a reader does not read as words: link targets written out, e-mail addresses and the
# placeholders that obfuscation leaves instead of them.
_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/\S*|\S+@\S+\.\w+|"
                  r"\[email[\s\xa0]*protected\]", re.IGNORECASE)
# E-mail addresses, and the placeholder an e-mail protection shows instead of one ("[email protected]").
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
_EMAIL_PLACEHOLDER = re.compile(r"\[email[\s\xa0]*protected\]", re.IGNORECASE)
# A date written in words ("Apr 5, 2020", "5 April 2020", "April 2020") or a year. Month names are
# capitalized, and a day before its month takes a year: "users under 16 may opt in" is no date.
_MONTH = "(?:" + "|".join(name.capitalize() for name in sorted(MONTHS, key=len, reverse=True)) + r")\b\.?"
_DATE = re.compile(rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}}\b)?|"
                   rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}\b|\b{_MONTH}\s+\d{{4}}\b|\b(?:19|20)\d{{2}}\b")
# A short label without a sentence's end ("Badge Check", "Ugadi (Mar 25, 2020)"): a widget, a link.
_FRAGMENT_WORDS = 4


@dataclass
class Judgement:
    severity: str
    material: bool
    categories: list[str]
    summary: str
    old_date: str | None = None
    new_date: str | None = None
    direction: str | None = None
    signals: list[Signal] = field(default_factory=list)  # every fact change, most severe first
    old_facts: list[Fact] | None = field(default=None, repr=False)
    new_facts: list[Fact] | None = field(default=None, repr=False)


# --- fact sets ---------------------------------------------------------------------------------------

def _by_key(facts: list[Fact]) -> dict[tuple, list[Fact]]:
    out: dict[tuple, list[Fact]] = {}
    for fact in facts:
        out.setdefault(fact.key, []).append(fact)
    return out


def _closest(fact: Fact, candidates: list[Fact]) -> int:
    bag = set(words(fact.evidence))
    return max(range(len(candidates)), key=lambda k: similarity(bag, set(words(candidates[k].evidence))))


def diff_facts(old: list[Fact], new: list[Fact], rules: Rules | None = None, *,
               old_mentions: set[tuple] = frozenset(), new_mentions: set[tuple] = frozenset()) -> list[Signal]:
    """The fact changes between two versions, most severe first.

    A fact the other version still *mentions* (in a sentence whose lead-in or heading no longer
    frames it: a list that lost its lead-in, a heading that became a paragraph) is not a change.
    """
    rules = rules or load_rules()
    old_keys, new_keys = _by_key(old), _by_key(new)
    gone = [facts[0] for key, facts in old_keys.items() if key not in new_keys and key not in new_mentions]
    came = [facts[0] for key, facts in new_keys.items() if key not in old_keys and key not in old_mentions]
    # Pair a gone and a new fact of the same practice: one changed fact, not two.
    came_by_practice: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for fact in came:
        came_by_practice[fact.category, fact.practice].append(fact)
    signals: list[Signal] = []

    def signal(assessment: Assessment, old_fact: Fact | None, new_fact: Fact | None) -> None:
        rule, severity, direction, message = assessment
        signals.append(Signal(rule, (new_fact or old_fact).category, severity, direction, message,
                              old_fact.evidence if old_fact else None, new_fact.evidence if new_fact else None,
                              old_fact, new_fact))

    paired: set[int] = set()
    for fact in gone:
        candidates = [f for f in came_by_practice.get((fact.category, fact.practice), []) if id(f) not in paired]
        same_value = [f for f in candidates if f.value == fact.value]
        same_polarity = [f for f in candidates if f.polarity == fact.polarity and f.value is not None]
        if same_value:
            partner = same_value[_closest(fact, same_value)]
            paired.add(id(partner))
            signal(RULES["flipped"](fact, partner, rules), fact, partner)
        elif same_polarity and (len(same_polarity) == 1 or fact.category != "controller_contact"):
            partner = same_polarity[_closest(fact, same_polarity)]
            paired.add(id(partner))
            signal(RULES["value_changed"](fact, partner, rules), fact, partner)
        else:
            signal(RULES["removed"](fact, rules), fact, None)
    for fact in came:
        if id(fact) not in paired:
            signal(RULES["added"](fact, rules), None, fact)
    signals.sort(key=rank)
    return signals


# --- sections ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=131072)
def _visible(sentence: str) -> str:
    """What a reader sees of a sentence: words, without link targets or e-mail placeholders."""
    lowered = sentence.lower()
    # Every branch of _URL needs one of these; most sentences have none, and the pattern backtracks.
    if "/" in sentence or "@" in sentence or "www" in lowered or "protected" in lowered:
        sentence = _URL.sub(" ", sentence)
    return fold(sentence)


def _sentence_bag(texts: list[str]) -> Counter:
    """The visible sentences of some text, in any order."""
    return Counter(v for t in texts for s in sentences(t) if (v := _visible(s)))


def _addresses_changed(old: list[str], new: list[str]) -> bool:
    """Did a contact address a reader sees change ("dpo@acme-inc.com" → "dpo@acme.com")? Addresses are
    not words of a sentence (``_visible``), so that an address shown on one side and hidden behind
    an e-mail protection's placeholder on the other is no change; two addresses that differ are."""
    def addresses(texts: list[str]) -> tuple[Counter, int]:
        joined = "\n".join(texts)
        if "@" not in joined and "protected" not in joined:
            return Counter(), 0
        # Word by word: the pattern scans a long run of word characters once per start without "@".
        found = Counter(a.lower() for t in joined.split() if "@" in t and len(t) <= 320 for a in _EMAIL.findall(t))
        return found, len(_EMAIL_PLACEHOLDER.findall(joined)) if "protected" in joined else 0

    (old_addresses, old_hidden), (new_addresses, new_hidden) = addresses(old), addresses(new)
    came, gone = new_addresses - old_addresses, old_addresses - new_addresses
    return sum(came.values()) > old_hidden or sum(gone.values()) > new_hidden


def _same_sentences(diff: DocumentDiff, rules: Rules) -> bool:
    """Do both versions hold the same visible sentences, in any order, apart from labels (fragments:
    an icon's name, a widget's)? A section whose heading and blocks read the same on both sides holds
    the same sentences on both: only the others are read."""
    old: list[str] = []
    new: list[str] = []
    for section in diff.sections:
        if section.old is not None and section.new is not None and section.old.heading == section.new.heading \
                and [b.text for b in section.old.blocks] == [b.text for b in section.new.blocks]:
            continue
        for part, texts in ((section.old, old), (section.new, new)):
            if part is not None:
                texts.extend([part.heading, *(b.text for b in part.blocks)] if part.heading else
                             [b.text for b in part.blocks])
    if _addresses_changed(old, new):
        return False
    old_bag, new_bag = _sentence_bag(old), _sentence_bag(new)
    if old_bag == new_bag:
        return True
    differing = (old_bag - new_bag) + (new_bag - old_bag)
    # A date stamp is short too, and no label ("Effective April 2nd 2024").
    return all(_is_fragment(s) and not is_date_stamp(s, rules)
               for t in old + new for s in sentences(t) if _visible(s) in differing)


def _is_fragment(sentence: str) -> bool:
    """A label: a few words without a sentence's end. A date it carries ("Palm Sunday (Apr 5, 2020)")
    is not words of it; a number alone ("4.", "2.1", a heading's numbering split from it) is no
    sentence at all. A label carries no long number: a phone number or a postcode changed is an edit."""
    undated = _DATE.sub(" ", sentence)
    if sum(c.isdigit() for c in undated) > 4:
        return False
    counted = words(undated)
    if all(w.isdigit() for w in counted) and len(counted) <= 2:
        return True
    return len(counted) <= _FRAGMENT_WORDS and sentence.rstrip()[-1:] not in ".!?:;"


def _section_kind(section: SectionDiff, rules: Rules) -> str:
    """formatting (nothing a reader reads changed), date_stamp, or editorial (words changed)."""
    gone = list(section.removed_blocks) + [o for o, _ in section.changed_blocks]
    came = list(section.added_blocks) + [n for _, n in section.changed_blocks]
    if section.renamed:  # a heading's words are read too ("Effective April 2, 2024" → "…2nd 2024")
        gone.append(section.old_heading or "")
        came.append(section.new_heading or "")
    old_bag, new_bag = _sentence_bag(gone), _sentence_bag(came)
    if old_bag == new_bag:
        return "editorial" if _addresses_changed(gone, came) else "formatting"
    old_sentences = {_visible(s) for b in gone for s in sentences(b)}
    new_sentences = {_visible(s) for b in came for s in sentences(b)}
    differing = [s for b in gone for s in sentences(b) if _visible(s) not in new_sentences] + \
                [s for b in came for s in sentences(b) if _visible(s) not in old_sentences]
    if differing and all(is_date_stamp(s, rules) for s in differing):
        return "date_stamp"  # before fragments: "Effective April 2nd 2024" is short, and a date stamp
    if not differing or all(_is_fragment(s) for s in differing):
        # moved sentences, or labels of widgets and links
        return "editorial" if _addresses_changed(gone, came) else "formatting"
    return "editorial"


def _locate(diff: DocumentDiff, signals: list[Signal]) -> dict[int, list[Signal]]:
    """Signals per changed section (by id), placed by their evidence's section."""
    by_new = {s.new_index: s for s in diff.sections if s.new_index is not None}
    by_old = {s.old_index: s for s in diff.sections if s.old_index is not None}
    placed: dict[int, list[Signal]] = defaultdict(list)
    for sig in signals:
        section = None
        if sig.new_fact is not None:
            section = by_new.get(sig.new_fact.section_index)
        if (section is None or not section.changed) and sig.old_fact is not None:
            section = by_old.get(sig.old_fact.section_index)
        if section is not None and section.changed:
            placed[id(section)].append(sig)
    return placed


def _fill_section(section: SectionDiff, signals: list[Signal], rules: Rules) -> None:
    section.signals = signals
    if any(SEVERITY_RANK[g.severity] >= SEVERITY_RANK["medium"] for g in signals):
        section.kinds = ["substantive"]
        section.severity = signals[0].severity
        section.direction = signals[0].direction
        section.categories = list(dict.fromkeys(g.category for g in signals))
        return
    kind = _section_kind(section, rules)
    section.kinds = [kind]
    section.severity = "none" if kind == "formatting" else "low"
    section.direction = None
    section.categories = []


# --- the verdict --------------------------------------------------------------------------------------

def _unchanged_summary(diff: DocumentDiff, severity: str, old_date: str | None, new_date: str | None) -> str:
    if diff.identical:
        return "No change."
    parts = []
    stats = diff.stats
    if stats["sections_moved"]:
        parts.append(f"{stats['sections_moved']} section(s) moved")
    if stats["sections_renamed"]:
        parts.append(f"{stats['sections_renamed']} heading(s) renamed")
    if old_date != new_date and new_date:
        parts.append(f"date stamp now {new_date}" + (f" (was {old_date})" if old_date else ""))
    unread = _unread_language(diff) if severity == "low" else None  # words changed, not only their form
    if unread:
        # The lexicons are English: in another language no practice is read, so none is said unchanged.
        return f"Not judged: the changed text is in {unread}, and policywatch reads practices in English only" + \
            "".join("; " + part for part in parts) + "."
    if severity == "low" and any("editorial" in s.kinds for s in diff.changed_sections):
        parts.append("editorial rewording")
    return ("No material change: " + "; ".join(parts) + ".") if parts else "No material change: formatting only."


LANGUAGE_NAMES = {"de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
                  "nl": "Dutch", "sv": "Swedish", "pl": "Polish", "cjk": "Chinese or Japanese"}


def _unread_language(diff: DocumentDiff) -> str | None:
    """The language the changed passages are written in, when it is not the lexicons' English."""
    text = " ".join(block.text for change in diff.changed_sections for section in (change.new, change.old)
                    if section is not None for block in section.blocks)
    # Not links, addresses or other long tokens: the "com" of ".com" is a Portuguese word.
    words_only = " ".join(t for t in text.split() if len(t) <= 40 and "@" not in t and "/" not in t
                          and not t.lower().startswith("www."))
    return LANGUAGE_NAMES.get(detect_language(words_only) or "en")


def judge(diff: DocumentDiff, rules: Rules | None = None, *, extractor: FactExtractor | None = None) -> Judgement:
    """Judge a section diff by the difference of the two versions' facts; fill every changed section."""
    rules = rules or load_rules()
    old_text, new_text = diff.old.markdown(), diff.new.markdown()
    old_date = stated_date(old_text, rules, context=new_text)
    new_date = stated_date(new_text, rules, context=old_text)
    if diff.identical:
        return Judgement("none", False, [], "No change.", old_date, new_date)
    extractor = extractor or FactExtractor(rules)
    old, new = extractor.read(diff.old), extractor.read(diff.new)
    old_facts, new_facts = old.facts, new.facts
    signals = diff_facts(old_facts, new_facts, rules, old_mentions=old.mentions, new_mentions=new.mentions)
    # Practices whose change is already paired (a flip, a value changed) need no sentence-level look.
    covered = {(g.new_fact.category, g.new_fact.practice) for g in signals if g.change == "changed"}
    budget = [SIMILARITY_BUDGET]
    old_index, new_index = SentenceIndex(diff.old, budget), SentenceIndex(diff.new, budget)
    same = {s.new_index for s in diff.sections
            if s.old is not None and s.new is not None and s.old.blocks == s.new.blocks}
    reworded = reworded_changes(extractor, old_index, diff.new, covered, rules, same)
    # A period lengthened to one the policy already states elsewhere reads, in the fact sets, as the
    # old period removed; the reworded sentence says what happened.
    explained = {f.key for g in reworded if not g.rule.endswith(".passage_reworded")
                 for f in (g.old_fact, g.new_fact) if f is not None}
    signals = [g for g in signals if g.change == "changed" or (g.new_fact or g.old_fact).key not in explained]
    signals += reworded
    changed_keys = {f.key for g in signals for f in (g.old_fact, g.new_fact) if f is not None}
    signals += statement_changes(old_facts, new_facts, old_index, new_index, changed_keys, rules)
    signals.sort(key=rank)
    placed = _locate(diff, signals)
    for section in diff.changed_sections:
        _fill_section(section, placed.get(id(section), []), rules)
    if signals and SEVERITY_RANK[signals[0].severity] >= SEVERITY_RANK["medium"]:
        severity = signals[0].severity
        top = [g for g in signals if g.severity == severity]
        direction = "expand" if any(g.direction == "expand" for g in top) else top[0].direction
    else:
        severity = max((s.severity for s in diff.changed_sections), key=SEVERITY_RANK.get, default="none")
        if _same_sentences(diff, rules):
            severity = "none"  # only markup, link targets or the order of the same sentences changed
        direction = None
    # Text past the analysis bound is only compared as a whole: a change there is at least medium.
    unjudged = sum((Counter(map(fold, new.unread)) - Counter(map(fold, old.unread))).values()) + \
        sum((Counter(map(fold, old.unread)) - Counter(map(fold, new.unread))).values())
    if unjudged and SEVERITY_RANK[severity] < SEVERITY_RANK["medium"]:
        severity, direction = "medium", "clarify"
    material = SEVERITY_RANK[severity] >= SEVERITY_RANK["medium"]
    # A material verdict also names what its reworded passages are about: a lawyer reads those too.
    categories = list(dict.fromkeys([g.category for g in signals if SEVERITY_RANK[g.severity] >= 2] + (
        [g.category for g in signals if g.rule.endswith(".passage_reworded")] if material else [])))
    if material:
        summary = plain.headline([g.message for g in signals if SEVERITY_RANK[g.severity] >= 2],
                                 sum(1 for g in signals if SEVERITY_RANK[g.severity] < 2))
    else:
        summary = _unchanged_summary(diff, severity, old_date, new_date)
    if unjudged:
        summary = (summary if signals else "The policy changed") + \
            f" ({unjudged} changed sentences past the analysis bounds not judged one by one)."
        summary = summary.replace(". (", " (")
    return Judgement(severity, material, categories, summary, old_date, new_date, direction, signals,
                     old_facts, new_facts)


def compare(old: Document, new: Document, rules: Rules | None = None, *,
            extractor: FactExtractor | None = None) -> tuple[DocumentDiff, Judgement]:
    """Diff two Documents and judge the result: ``(DocumentDiff, Judgement)``."""
    from policywatch.diff import diff_documents

    with without_cycle_collection():
        try:
            diff = diff_documents(old, new)
            return diff, judge(diff, rules, extractor=extractor)
        finally:
            forget_texts()


def forget_texts() -> None:
    """Empty the caches of one pair's texts (sentences, folds, word sets…). They serve the many
    passes over the same two versions; kept from pair to pair, a large run would hold every
    policy's sentences at once."""
    from policywatch.diff import fold, heading_key
    from policywatch.judge.facts import _section_json
    from policywatch.judge.passages import _word_set

    for cached in (sentences, fold, heading_key, _visible, _word_set, _section_json):
        cached.cache_clear()


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector for the burst of a judgement.

    A judgement makes tens of thousands of short-lived objects that form no cycles (sentences,
    facts, tuples); each 700 of them start a collection that walks the caches again, for nothing:
    a tenth of the judgement's time (bench/diff_perf.py). Reference counting still frees them.
    """
    if not gc.isenabled():  # nested, or paused by the caller
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def diff_json(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str) -> dict:
    """The ``policywatch.diff/1`` contract (docs/json.md); keys in a stable order."""
    changes: dict[str, list] = {"added": [], "removed": [], "changed": []}
    for g in judgement.signals:
        if g.rule.endswith(".passage_reworded"):
            continue  # a reworded passage is located in its section's signals; no fact changed
        entry = {"rule": g.rule, "severity": g.severity, "direction": g.direction, "message": g.message}
        if g.change == "changed":
            changes["changed"].append({**entry, "old": g.old_fact.to_json(), "new": g.new_fact.to_json()})
        else:
            changes[g.change].append({**entry, "fact": (g.new_fact or g.old_fact).to_json()})
    return {
        "schema": "policywatch.diff/1",
        "old": {"label": old_label, "text_sha256": diff.old.sha256, "stated_date": judgement.old_date},
        "new": {"label": new_label, "text_sha256": diff.new.sha256, "stated_date": judgement.new_date},
        "identical": diff.identical,
        "material": judgement.material,
        "severity": judgement.severity,
        "categories": judgement.categories,
        "summary": judgement.summary,
        "stats": diff.stats,
        "sections": [{
            "status": s.status,
            "old_heading": s.old_heading,
            "new_heading": s.new_heading,
            "old_index": s.old_index,
            "new_index": s.new_index,
            "moved": s.moved,
            "renamed": s.renamed,
            "severity": s.severity,
            "kinds": s.kinds,
            "categories": s.categories,
            "direction": s.direction,
            "signals": [g.to_json() for g in s.signals],
            "edits": [e.to_json() for e in s.edits],
        } for s in diff.sections if s.changed],
        # Added in policywatch.diff/1 without breaking it: the verdict's direction and its fact changes.
        "direction": judgement.direction,
        "facts": changes,
    }
