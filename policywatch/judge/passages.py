"""Passages: what the fact sets alone miss, found sentence by sentence.

- A new (or dropped) passage: a sentence stating a practice that reads like no sentence of the
  other version (word overlap below 0.5), such as a new feature collecting location data when
  location was collected before. A list item is read with its lead-in; a passage dropped and
  one added stating the same fact are a restatement and cancel out.
- A reworded sentence (overlap 0.5 or more) whose period, age, company or negation turned, even
  when the old value is still stated elsewhere; or whose terms changed (a low finding that only
  names what a material verdict is also about).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection

from policywatch.diff import fold, similarity, words
from policywatch.document import Document
from policywatch.judge.changes import RULES, Signal
from policywatch.judge.facts import Fact, FactExtractor, readings, row_keys, sentences
from policywatch.judge.rules import Rules

NEW_STATEMENT_SIMILARITY = 0.5  # below this word overlap with every sentence of the other version
MIN_PASSAGE_WORDS = 4
# Bounds that keep any input fast: past them the judgement is coarser, never slower.
MAX_CANDIDATES = 40  # sentences compared with one sentence, found through its rarest words
SIMILARITY_BUDGET = 60_000  # sentence comparisons per judgement; past it only the same words are "the same"


class SentenceIndex:
    """The sentences of one version, to ask whether a sentence of the other is new or a rewording."""

    def __init__(self, document: Document, budget: list[int]):
        self.budget = budget  # shared by the indexes of one judgement
        self.folded: dict[str, str] = {}  # folded → a sentence as written
        self.rows: dict[str, str] = {}  # a table row's key (row_keys) → the first sentence of its reading
        self._by_word: dict[str, list[int]] = {}  # a word → the sentences holding it (_postings)
        for section in document.sections:
            for text in [section.heading] + [text for _, text in readings(section)]:
                for sentence in sentences(text):
                    self.folded.setdefault(fold(sentence), sentence)
            for reading, key in row_keys(section).items():
                self.rows.setdefault(key, sentences(reading)[0])

    @functools.cached_property
    def _bags(self) -> tuple[list[str], list[frozenset[str]]]:
        """Sentences and their word sets: built on the first real query."""
        return list(self.folded.values()), [_word_set(key) for key in self.folded]

    def _postings(self, bag: set[str]) -> dict[str, list[int]]:
        """Which sentences hold each word of a query, in order. A judgement asks a handful of queries,
        so the words are looked up as they are asked for, not indexed all at once."""
        postings = self._by_word
        todo = bag.difference(postings)
        if todo:
            for word in todo:
                postings[word] = []
            for k, other in enumerate(self._bags[1]):
                if not todo.isdisjoint(other):
                    for word in todo & other:
                        postings[word].append(k)
        return postings

    def closest(self, sentence: str) -> tuple[str | None, float]:
        """The most similar sentence of this version, and how similar (1.0: the same words)."""
        if fold(sentence) in self.folded:
            return sentence, 1.0
        bag = set(words(sentence))
        if not bag:
            return None, 0.0
        if self.budget[0] <= 0:
            return None, 0.0
        texts, bags = self._bags
        by_word = self._postings(bag)
        # Only sentences sharing one of its rarer words can be a rewording of it.
        candidates: set[int] = set()
        for word in sorted(bag, key=lambda w: (len(by_word[w]), w))[:6]:
            candidates.update(by_word[word][:MAX_CANDIDATES])
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


@functools.lru_cache(maxsize=65536)
def _word_set(folded: str) -> frozenset[str]:
    return frozenset(folded.split())  # the two versions' indexes share most sentences: split once


def statement_changes(old: list[Fact], new: list[Fact], old_index: SentenceIndex, new_index: SentenceIndex,
                      changed_keys: set[tuple], rules: Rules) -> list[Signal]:
    """New (or dropped) sentences that state a practice, unlike any sentence of the other version.

    The fact sets alone miss a new passage about a practice the policy already named somewhere
    (a new feature that collects location data, a new recipient paragraph); a rewording or a move
    of an existing sentence is never one.
    """
    signals = []
    for facts, index, added in ((new, old_index, True), (old, new_index, False)):
        seen: set[tuple[str, str]] = set()
        elsewhere: dict[str, bool] = {}  # evidence → is the very sentence in the other version
        for fact in facts:
            present = elsewhere.get(fact.evidence)
            if present is None:
                present = elsewhere[fact.evidence] = fold(fact.evidence) in index.folded
            if present or fact.key in changed_keys or (fact.evidence, fact.category) in seen or \
                    fact.category == "controller_contact":
                continue
            # A list item is read with the sentence that leads into it ("We share your data with: affiliates");
            # a label on its own ("Cookies") is a title, not a passage.
            passage = f"{fact.lead} {fact.evidence}" if fact.lead else fact.evidence
            if len(words(passage)) < MIN_PASSAGE_WORDS or not index.is_new(passage):
                continue
            seen.add((fact.evidence, fact.category))  # one finding per category of a new passage
            rule, severity, direction, message = RULES["statement"](fact, rules, added)
            signals.append(Signal(rule, fact.category, severity, direction, message,
                                  None if added else fact.evidence, fact.evidence if added else None,
                                  None if added else fact, fact if added else None))
    # A passage dropped and a passage added stating the same practice: the practice was said again
    # in other words (a list made of a sentence, a paragraph rewritten), not added or dropped.
    added_keys = {g.new_fact.key for g in signals if g.new_fact is not None}
    dropped_keys = {g.old_fact.key for g in signals if g.old_fact is not None}
    restated = added_keys & dropped_keys
    return [g for g in signals if (g.new_fact or g.old_fact).key not in restated]


def reworded_changes(extractor: FactExtractor, index: SentenceIndex, new_doc: Document,
                     covered: set[tuple[str, str]], rules: Rules, same: Collection[int] = ()) -> list[Signal]:
    """A sentence reworded so that one of its facts turned: a period, an age, a company, a negation.

    The fact sets miss it when the old value or polarity is still stated elsewhere ("30 days" for
    other data); numbers and negations almost never change in an editorial rewording. ``same``:
    sections of the new version whose blocks are those of an old section (no sentence of theirs is new).
    """
    signals = []
    touched_categories: set[str] = set()
    for section_index, section in enumerate(new_doc.sections):
        if section_index in same:
            continue
        keys = row_keys(section)
        for _, text in readings(section):
            # A table row is compared with the same row (same table, same first cell) of the other
            # version: not with the most similar row, which may be another one stating the same value.
            row = index.rows.get(keys[text]) if text in keys else None
            for sentence in sentences(text):
                if fold(sentence) in index.folded or not extractor.analysed(sentence):
                    continue
                new_findings = extractor.sentence_facts(sentence)
                if not new_findings:
                    continue
                old_sentence, score = (row, 1.0) if row is not None and sentence == sentences(text)[0] else \
                    index.closest(sentence)
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
                    matching = [o for o in old_findings if (o.category, o.practice) == (new.category, new.practice)]
                    if not matching or any(o.key == new.key for o in matching):
                        continue
                    old = matching[0]
                    old_fact = dataclasses.replace(old, evidence=old_sentence)
                    new_fact = dataclasses.replace(new, evidence=sentence, section=section.path,
                                                   section_index=section_index)
                    assessment = RULES["flipped"](old_fact, new_fact, rules) if old.value == new.value else \
                        RULES["value_changed"](old_fact, new_fact, rules)
                    rule, severity, direction, message = assessment
                    covered.add((new.category, new.practice))
                    signals.append(Signal(rule, new.category, severity, direction, message, old_sentence, sentence,
                                          old_fact, new_fact))
    return signals
