"""Is a change material? The difference of two versions' fact sets, located by the section diff.

- A fact in the new version only is *added*, in the old only *removed*; an added and a removed
  fact of the same practice are one *changed* fact (a negation flip, a promise weakened, a
  period or an age or a company changed).
- Each change gets a rule id, a severity and a direction from one small rule below: asserting
  more in an expanding category (collection, purposes, sharing, transfers, tracking, retention,
  children) expands — less protective, high; saying less there restricts — medium. In a
  protective category (choices, rights, security, change notices) it is the other way round.
- The section diff places each change's evidence in its section; changed sections without a
  fact change are editorial (words changed), date stamps, or formatting (nothing a reader sees).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from policywatch.diff import DocumentDiff, SectionDiff, fold, similarity, words
from policywatch.document import Document
from policywatch.judge import words as plain
from policywatch.judge.facts import Fact, FactExtractor, sentences
from policywatch.judge.rules import PRIORITY, Rules, is_date_stamp, load_rules, stated_date
from policywatch.judge.words import SEVERITY_RANK

# What a reader does not read as words: link targets written out, e-mail addresses and the
# placeholders that obfuscation leaves instead of them.
_URL = re.compile(r"\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/\S*|\S+@\S+\.\w+|"
                  r"\[email[\s\xa0]*(?:protected|address)\]", re.IGNORECASE)
# A short label without a sentence's end ("Badge Check", "Ugadi (Mar 25, 2020)"): a widget, a link.
_FRAGMENT_WORDS = 4


@dataclass
class Signal:
    """One change of fact, with the evidence sentences before and after."""

    rule: str  # "sharing.added", "retention.lengthened", …: stable ids for JSON and tests
    category: str
    severity: str
    direction: str  # expand, restrict, clarify
    message: str  # plain words: "may now sell personal data (it promised not to)"
    old: str | None = None
    new: str | None = None
    old_fact: Fact | None = None
    new_fact: Fact | None = None

    @property
    def change(self) -> str:
        return "changed" if self.old_fact and self.new_fact else "added" if self.new_fact else "removed"

    def to_json(self) -> dict:
        return {"rule": self.rule, "category": self.category, "severity": self.severity,
                "direction": self.direction, "message": self.message, "change": self.change,
                "evidence": {"old": self.old, "new": self.new}}


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


# --- the rules of a change: one small function each ------------------------------------------------

Assessment = tuple[str, str, str, str]  # rule, severity, direction, message


def _expands(fact: Fact, rules: Rules, asserting: bool) -> bool:
    """Asserting more expands an expanding category; in a protective one, saying less does."""
    return asserting != rules.protective(fact.category, fact.practice)


def assess_added(fact: Fact, rules: Rules) -> Assessment:
    """A practice the old version did not state, or a new denial ("we do not sell")."""
    asserting = fact.polarity != "negated"
    if fact.category == "controller_contact":
        return f"{fact.category}.added", "medium", "clarify", plain.added(fact, rules)
    expand = _expands(fact, rules, asserting)
    return (f"{fact.category}.{'added' if asserting else 'denial_added'}", "high" if expand else "medium",
            "expand" if expand else "restrict", plain.added(fact, rules))


def assess_removed(fact: Fact, rules: Rules) -> Assessment:
    """A practice, promise or right the new version no longer states."""
    asserting = fact.polarity == "negated"  # dropping a denial asserts more
    if fact.category == "controller_contact":
        return f"{fact.category}.removed", "medium", "clarify", plain.removed(fact, rules)
    expand = _expands(fact, rules, asserting)
    return (f"{fact.category}.{'denial_removed' if asserting else 'removed'}", "high" if expand else "medium",
            "expand" if expand else "restrict", plain.removed(fact, rules))


def assess_flip(old: Fact, new: Fact, rules: Rules) -> Assessment:
    """The same practice, asserted then denied (or the reverse), or a promise weakened to 'may'."""
    strength = {"negated": 0, "conditional": 1, "asserted": 2}
    asserting = strength[new.polarity] > strength[old.polarity]
    expand = _expands(new, rules, asserting)
    rule = "negation_flip" if "negated" in (old.polarity, new.polarity) else "promise_weakened" if (
        new.polarity == "conditional") else "promise_strengthened"
    return (f"{new.category}.{rule}", "high" if expand else "medium", "expand" if expand else "restrict",
            plain.flipped(old, new, rules))


def assess_value(old: Fact, new: Fact, rules: Rules) -> Assessment:
    """A number or a name changed: a period, an age, the company responsible."""
    message = plain.changed_value(old, new, rules)
    if new.category == "controller_contact":
        return "controller_contact.company_changed", "high", "clarify", message
    before, after = float(old.value or 0), float(new.value or 0)
    if new.practice == "retention period":
        longer = after > before
        return (f"retention.{'lengthened' if longer else 'shortened'}", "high" if longer else "medium",
                "expand" if longer else "restrict", message)
    if new.practice == "minimum age":
        lower = after < before
        return (f"children.age_{'lowered' if lower else 'raised'}", "high" if lower else "medium",
                "expand" if lower else "restrict", message)
    if new.practice == "notice period":
        shorter = after < before
        return (f"policy_changes.notice_{'shortened' if shorter else 'lengthened'}", "high" if shorter else "medium",
                "expand" if shorter else "restrict", message)
    return f"{new.category}.value_changed", "medium", "clarify", message


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
            signal(assess_flip(fact, partner, rules), fact, partner)
        elif same_polarity and (len(same_polarity) == 1 or fact.category != "controller_contact"):
            partner = same_polarity[_closest(fact, same_polarity)]
            paired.add(id(partner))
            signal(assess_value(fact, partner, rules), fact, partner)
        else:
            signal(assess_removed(fact, rules), fact, None)
    for fact in came:
        if id(fact) not in paired:
            signal(assess_added(fact, rules), None, fact)
    signals.sort(key=_rank)
    return signals


_PRIORITY = {name: k for k, name in enumerate(PRIORITY)}


def _rank(signal: Signal) -> tuple:
    fact = signal.new_fact or signal.old_fact
    return (-SEVERITY_RANK[signal.severity], ".statement_" in signal.rule, not (fact and fact.sensitive),
            _PRIORITY.get(signal.category, 99))


# --- statements -------------------------------------------------------------------------------------

NEW_STATEMENT_SIMILARITY = 0.5  # below this word overlap with every sentence of the other version
MIN_PASSAGE_WORDS = 4
# Bounds that keep any input fast: past them the judgement is coarser, never slower.
MAX_CANDIDATES = 40  # sentences compared with one sentence, found through its rarest words
SIMILARITY_BUDGET = 60_000  # sentence comparisons per judgement; past it only the same words are "the same"


class _SentenceIndex:
    """The sentences of one version, to ask whether a sentence of the other is new or a rewording."""

    def __init__(self, document: Document, budget: list[int]):
        self.budget = budget  # shared by the indexes of one judgement
        self.folded: dict[str, str] = {}  # folded → a sentence as written
        for section in document.sections:
            for text in [section.heading] + [b.text for b in section.blocks]:
                for sentence in sentences(text):
                    self.folded.setdefault(fold(sentence), sentence)

    @functools.cached_property
    def _words(self) -> tuple[list[str], list[set[str]], dict[str, list[int]]]:
        """Sentences, their word sets, and which sentences hold each word: built on the first real query."""
        texts, bags, by_word = [], [], defaultdict(list)
        for key, sentence in self.folded.items():
            bag = set(key.split())
            for word in bag:
                by_word[word].append(len(bags))
            bags.append(bag)
            texts.append(sentence)
        return texts, bags, by_word

    def closest(self, sentence: str) -> tuple[str | None, float]:
        """The most similar sentence of this version, and how similar (1.0: the same words)."""
        if fold(sentence) in self.folded:
            return sentence, 1.0
        bag = set(words(sentence))
        if not bag:
            return None, 0.0
        if self.budget[0] <= 0:
            return None, 0.0
        texts, bags, by_word = self._words
        # Only sentences sharing one of its rarer words can be a rewording of it.
        candidates: set[int] = set()
        for word in sorted(bag, key=lambda w: (len(by_word.get(w, ())), w))[:6]:
            candidates.update(by_word.get(word, ())[:MAX_CANDIDATES])
            if len(candidates) >= MAX_CANDIDATES:
                break
        self.budget[0] -= len(candidates)
        best, score = None, 0.0
        for k in sorted(candidates):
            if (value := similarity(bag, bags[k])) > score:
                best, score = texts[k], value
        return best, score

    def is_new(self, sentence: str) -> bool:
        return self.closest(sentence)[1] < NEW_STATEMENT_SIMILARITY


def assess_statement(fact: Fact, rules: Rules, added: bool) -> Assessment:
    """A passage about a practice the other version also states, but in no sentence like this one."""
    asserting = (fact.polarity != "negated") == added
    expand = _expands(fact, rules, asserting)
    # A new passage on what the company does (collects, shares, uses…) is news whatever else it said;
    # a passage dropped, or one about a right or a promise, says less than a fact change does.
    severity = "high" if expand and added and fact.polarity != "negated" else "medium"
    verb = "adds" if added else "drops"
    what = plain.practice(fact, rules, infinitive=fact.polarity == "negated")
    message = f"{verb} a passage saying it {'does not ' if fact.polarity == 'negated' else ''}{what}"
    return (f"{fact.category}.statement_{'added' if added else 'removed'}", severity,
            "expand" if expand else "restrict", message)


def statement_changes(old: list[Fact], new: list[Fact], old_index: _SentenceIndex, new_index: _SentenceIndex,
                      changed_keys: set[tuple], rules: Rules) -> list[Signal]:
    """New (or dropped) sentences that state a practice, unlike any sentence of the other version.

    The fact sets alone miss a new passage about a practice the policy already named somewhere
    (a new feature that collects location data, a new recipient paragraph); a rewording or a move
    of an existing sentence is never one.
    """
    signals = []
    for facts, index, added in ((new, old_index, True), (old, new_index, False)):
        seen: set[tuple[str, str]] = set()
        for fact in facts:
            if fact.key in changed_keys or (fact.evidence, fact.category) in seen or \
                    fact.category == "controller_contact":
                continue
            # A list item is read with the sentence that leads into it ("We share your data with: affiliates");
            # a label on its own ("Cookies") is a title, not a passage.
            if fold(fact.evidence) in index.folded:
                continue  # the very sentence is in the other version
            passage = f"{fact.lead} {fact.evidence}" if fact.lead else fact.evidence
            if len(words(passage)) < MIN_PASSAGE_WORDS or not index.is_new(passage):
                continue
            seen.add((fact.evidence, fact.category))  # one finding per category of a new passage
            rule, severity, direction, message = assess_statement(fact, rules, added)
            signals.append(Signal(rule, fact.category, severity, direction, message,
                                  None if added else fact.evidence, fact.evidence if added else None,
                                  None if added else fact, fact if added else None))
    # A passage dropped and a passage added stating the same practice: the practice was said again
    # in other words (a list made of a sentence, a paragraph rewritten), not added or dropped.
    added_keys = {g.new_fact.key for g in signals if g.new_fact is not None}
    dropped_keys = {g.old_fact.key for g in signals if g.old_fact is not None}
    restated = added_keys & dropped_keys
    return [g for g in signals if (g.new_fact or g.old_fact).key not in restated]


def reworded_changes(extractor: FactExtractor, index: _SentenceIndex, new_doc: Document,
                     covered: set[tuple[str, str]], rules: Rules) -> list[Signal]:
    """A sentence reworded so that one of its facts turned: a period, an age, a company, a negation.

    The fact sets miss it when the old value or polarity is still stated elsewhere ("30 days" for
    other data); numbers and negations almost never change in an editorial rewording.
    """
    signals = []
    touched_categories: set[str] = set()
    for section_index, section in enumerate(new_doc.sections):
        for block in section.blocks:
            for sentence in sentences(block.text):
                if fold(sentence) in index.folded or not extractor.analysed(sentence):
                    continue
                new_findings = extractor.sentence_facts(sentence)
                if not new_findings:
                    continue
                old_sentence, score = index.closest(sentence)
                if old_sentence is None or score < NEW_STATEMENT_SIMILARITY or not extractor.analysed(old_sentence):
                    continue
                old_findings = extractor.sentence_facts(old_sentence)
                touched = {(f.category, f.practice) for f in new_findings} ^ {
                    (f.category, f.practice) for f in old_findings}
                for category in dict.fromkeys(c for c, _ in sorted(touched)):
                    if category in touched_categories:
                        continue
                    touched_categories.add(category)
                    old_fact = next((dataclasses.replace(f, evidence=old_sentence) for f in old_findings
                                     if f.category == category), None)
                    new_fact = next((dataclasses.replace(f, evidence=sentence, section=section.path,
                                                         section_index=section_index)
                                     for f in new_findings if f.category == category), None)
                    signals.append(Signal(f"{category}.passage_reworded", category, "low", "clarify",
                                          f"rewords a passage on {rules.label(category)}", old_sentence, sentence,
                                          old_fact, new_fact))
                for new in new_findings:
                    if (new.category, new.practice) in covered:
                        continue
                    same = [o for o in old_findings if (o.category, o.practice) == (new.category, new.practice)]
                    if not same or any(o.key == new.key for o in same):
                        continue
                    old = same[0]
                    old_fact = dataclasses.replace(old, evidence=old_sentence)
                    new_fact = dataclasses.replace(new, evidence=sentence, section=section.path,
                                                   section_index=section_index)
                    assessment = assess_flip(old_fact, new_fact, rules) if old.value == new.value else \
                        assess_value(old_fact, new_fact, rules)
                    rule, severity, direction, message = assessment
                    covered.add((new.category, new.practice))
                    signals.append(Signal(rule, new.category, severity, direction, message, old_sentence, sentence,
                                          old_fact, new_fact))
    return signals


# --- sections ----------------------------------------------------------------------------------------

def _visible(texts: list[str]) -> str:
    """What a reader sees of some text: words, without link targets or e-mail placeholders."""
    return fold(_URL.sub(" ", " ".join(texts)))


def _sentence_bag(texts: list[str]) -> Counter:
    """The visible sentences of some text, in any order."""
    return Counter(v for t in texts for s in sentences(t) if (v := _visible([s])))


def _is_fragment(sentence: str) -> bool:
    return len(words(sentence)) <= _FRAGMENT_WORDS and sentence.rstrip()[-1:] not in ".!?:;"


def _section_kind(section: SectionDiff, rules: Rules) -> str:
    """formatting (nothing a reader reads changed), date_stamp, or editorial (words changed)."""
    gone = list(section.removed_blocks) + [o for o, _ in section.changed_blocks]
    came = list(section.added_blocks) + [n for _, n in section.changed_blocks]
    old_bag, new_bag = _sentence_bag(gone), _sentence_bag(came)
    if old_bag == new_bag:
        return "formatting"
    old_sentences = {_visible([s]) for b in gone for s in sentences(b)}
    new_sentences = {_visible([s]) for b in came for s in sentences(b)}
    differing = [s for b in gone for s in sentences(b) if _visible([s]) not in new_sentences] + \
                [s for b in came for s in sentences(b) if _visible([s]) not in old_sentences]
    if not differing or all(_is_fragment(s) for s in differing):
        return "formatting"  # moved sentences, or labels of widgets and links
    if all(is_date_stamp(s, rules) for s in differing):
        return "date_stamp"
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
    if severity == "low" and any("editorial" in s.kinds for s in diff.changed_sections):
        parts.append("editorial rewording")
    return ("No material change: " + "; ".join(parts) + ".") if parts else "No material change: formatting only."


def judge(diff: DocumentDiff, rules: Rules | None = None, *, extractor: FactExtractor | None = None) -> Judgement:
    """Judge a section diff by the difference of the two versions' facts; fill every changed section."""
    rules = rules or load_rules()
    old_date, new_date = stated_date(diff.old.markdown(), rules), stated_date(diff.new.markdown(), rules)
    if diff.identical:
        return Judgement("none", False, [], "No change.", old_date, new_date)
    extractor = extractor or FactExtractor(rules)
    old, new = extractor.read(diff.old), extractor.read(diff.new)
    old_facts, new_facts = old.facts, new.facts
    signals = diff_facts(old_facts, new_facts, rules, old_mentions=old.mentions, new_mentions=new.mentions)
    # Practices whose change is already paired (a flip, a value changed) need no sentence-level look.
    covered = {(g.new_fact.category, g.new_fact.practice) for g in signals if g.change == "changed"}
    budget = [SIMILARITY_BUDGET]
    old_index, new_index = _SentenceIndex(diff.old, budget), _SentenceIndex(diff.new, budget)
    reworded = reworded_changes(extractor, old_index, diff.new, covered, rules)
    # A period lengthened to one the policy already states elsewhere reads, in the fact sets, as the
    # old period removed; the reworded sentence says what happened.
    explained = {f.key for g in reworded if not g.rule.endswith(".passage_reworded")
                 for f in (g.old_fact, g.new_fact) if f is not None}
    signals = [g for g in signals if g.change == "changed" or (g.new_fact or g.old_fact).key not in explained]
    signals += reworded
    changed_keys = {f.key for g in signals for f in (g.old_fact, g.new_fact) if f is not None}
    signals += statement_changes(old_facts, new_facts, old_index, new_index, changed_keys, rules)
    signals.sort(key=_rank)
    placed = _locate(diff, signals)
    for section in diff.changed_sections:
        _fill_section(section, placed.get(id(section), []), rules)
    if signals and SEVERITY_RANK[signals[0].severity] >= SEVERITY_RANK["medium"]:
        severity = signals[0].severity
        top = [g for g in signals if g.severity == severity]
        direction = "expand" if any(g.direction == "expand" for g in top) else top[0].direction
    else:
        severity = max((s.severity for s in diff.changed_sections), key=SEVERITY_RANK.get, default="none")
        if _sentence_bag([diff.old.plain_text]) == _sentence_bag([diff.new.plain_text]):
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


def compare(old: Document, new: Document, rules: Rules | None = None) -> tuple[DocumentDiff, Judgement]:
    """Diff two Documents and judge the result: ``(DocumentDiff, Judgement)``."""
    from policywatch.diff import diff_documents

    diff = diff_documents(old, new)
    return diff, judge(diff, rules)


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
