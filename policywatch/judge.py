"""Stage 6: judge — is a change material? Explainable rules over lexicons kept in YAML.

Every rule that fires yields a Signal carrying the old and new evidence sentences. The
lexicons live in ``policywatch/rules/*.yaml`` (and in folders named by ``POLICYWATCH_RULES``):
data types, purposes, recipients, rights, opt-outs, retention, children, transfers, tracking,
security, change notifications, controller identity, and the words that turn meaning around
(negations, modal verbs, synonyms, date-stamp lines).

How a sentence counts:
- an added sentence asserts what it says; a removed sentence counts as much, the other way round;
- in an *expanding* category (collection, purposes, sharing, transfers, tracking, retention,
  children) asserting more is "expand" (less protective); in a *protective* one (rights,
  choices, security, change notifications) asserting more is "restrict" (more protective);
- a negation ("we do not sell") turns the direction around, so a flip of negation is caught
  as the most severe change of all;
- numbers are compared: retention periods in days, ages, notice periods.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from policywatch.diff import DocumentDiff, SectionDiff, fold, similarity, words

SEVERITY_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3}
# Bounds that keep any input fast: beyond them the judgement is coarser, never slower.
MAX_ANALYSED_SENTENCES = 400  # per document pair
PAIRING_BUDGET = 20_000  # sentence comparisons in a section before pairing only by shared rare words
MAX_CANDIDATES = 16  # per rare word, when pairing that way
# When a sentence touches several categories, the first of these with a specific term names it.
PRIORITY = ["children", "international_transfers", "retention", "user_rights", "choices", "security",
            "policy_changes", "controller_contact", "tracking", "sharing", "purposes", "data_collected"]
RULES_DIR = Path(__file__).parent / "rules"

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'(]?[A-Z0-9])")
_DURATION = re.compile(r"\b(\d{1,4}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                       r"fourteen|fifteen|eighteen|twenty|thirty|forty|forty-five|sixty|ninety|a|an)\s*"
                       r"(?:\(\d+\)\s*)?(?:calendar |business |full )?"
                       r"(hours?|days?|weeks?|months?|years?)\b(?![\s-]+(?:old|of age)\b)", re.IGNORECASE)
_AGE = re.compile(r"\b(?:under(?: the age of)?|younger than|below(?: the age of)?|over(?: the age of)?|"
                  r"at least|aged?(?: of)?|older than)\s+(\d{1,2})\b|"
                  r"\b(\d{1,2})\s*(?:[\s-]years?[\s-](?:old|of age)|\+)|"
                  r"\b(?:minimum|required|legal) age\b(?:\W+\w+){0,5}?\W+(\d{1,2})\b", re.IGNORECASE)
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
                 "fifteen": 15, "eighteen": 18, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
                 "sixty": 60, "ninety": 90}
_UNIT_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_STOPWORDS = {"the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "with", "by", "at", "as", "is", "are",
              "be", "this", "that", "these", "those", "it", "its", "our", "your", "we", "you", "us", "which", "who",
              "if", "when", "where", "whether", "than", "then", "so", "such", "any", "all", "some", "each", "event",
              "case", "order", "please", "also", "about", "from", "into", "onto", "upon", "within", "there", "here",
              "been", "being", "was", "were", "has", "have", "had", "do", "does", "did", "they", "them", "their",
              "he", "she", "his", "her", "what", "how", "why", "other", "own", "same", "very", "just", "well"}


# --- rules ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    category: str
    name: str
    regex: re.Pattern
    sensitive: bool = False
    verb: bool = False  # generic verbs only place a sentence in the category
    named: bool = False  # a named company or country


@dataclass
class CategoryRules:
    name: str
    protective: bool
    high_when_expanded: bool
    label: str
    terms: list[Term] = field(default_factory=list)


@dataclass
class Rules:
    categories: dict[str, CategoryRules]
    negation: re.Pattern
    strong_modal: re.Pattern
    weak_modal: re.Pattern
    date_stamp: re.Pattern
    user_agency: re.Pattern
    synonyms: dict[str, int]

    @functools.cached_property
    def terms(self) -> list[Term]:
        return [t for c in self.categories.values() for t in c.terms]


def _rule_files(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    folders = [RULES_DIR] + [Path(p) for p in extra]
    folders += [Path(p) for p in os.environ.get("POLICYWATCH_RULES", "").split(os.pathsep) if p]
    files: list[Path] = []
    for folder in folders:
        files.extend(sorted(folder.glob("*.yaml")) if folder.is_dir() else [folder])
    return files


@functools.lru_cache(maxsize=4)
def load_rules(extra: tuple[str, ...] = ()) -> Rules:
    """Read every lexicon; a broken file is a ConfigError naming the file and line."""
    from ruamel.yaml.error import YAMLError

    from policywatch.errors import ConfigError
    from policywatch.watchlist import CATEGORIES

    yaml = YAML(typ="safe")
    categories: dict[str, CategoryRules] = {}
    language: dict = {}
    for path in _rule_files(extra):
        try:
            data = yaml.load(path.read_text(encoding="utf-8")) or {}
        except (OSError, YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read rules: {' '.join(str(exc).split())[:200]}") from None
        if "category" not in data:
            language.update(data)
            continue
        name = data["category"]
        if name not in CATEGORIES:
            raise ConfigError(f"{path}: unknown category '{name}'")
        rules = categories.setdefault(name, CategoryRules(
            name, bool(data.get("protective")), bool(data.get("high_when_expanded", True)),
            data.get("label", name.replace("_", " "))))
        for index, term in enumerate(data.get("terms") or []):
            flags = 0 if term.get("case_sensitive") else re.IGNORECASE
            try:
                regex = re.compile(term["pattern"], flags)
            except (re.error, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}: term {index + 1} ({term.get('name', '?')}): bad pattern: {exc}") from None
            rules.terms.append(Term(name, term.get("name", term["pattern"]), regex, bool(term.get("sensitive")),
                                    bool(term.get("verb")), bool(term.get("named"))))
    synonyms: dict[str, int] = {}
    for group_id, group in enumerate(language.get("synonyms", [])):
        for word in group:
            synonyms[word.lower()] = group_id
    flags = re.IGNORECASE
    return Rules(categories=categories, negation=re.compile(language["negations"], flags),
                 strong_modal=re.compile(language["strong_modals"], flags),
                 weak_modal=re.compile(language["weak_modals"], flags),
                 date_stamp=re.compile(language["date_stamp"], flags | re.MULTILINE),
                 user_agency=re.compile(language["user_agency"], flags), synonyms=synonyms)


# --- facts about one sentence -------------------------------------------------------------------

@dataclass
class Facts:
    text: str
    terms: dict[str, set[str]]  # category → specific term names
    verbs: set[str]  # categories present only through generic verbs
    sensitive: set[str]
    named: set[str]  # named companies / countries (lowercase)
    strong: bool
    weak: bool
    durations: list[tuple[float, str]]  # (days, as written)
    ages: list[int]
    entities: set[str]

    negated_categories: set[str] = field(default_factory=set)  # every mention sits in a negated clause

    def categories(self) -> list[str]:
        specific = [c for c in PRIORITY if c in self.terms]
        return specific or [c for c in PRIORITY if c in self.verbs]

    def negated_in(self, category: str) -> bool:
        return category in self.negated_categories


_CLAUSE_BREAK = re.compile(r";|:\s|,\s*(?:but|however|except|although|though|while|whereas|unless)\b|\s+but\s+",
                           re.IGNORECASE)


def _clauses(text: str, rules: Rules) -> list[tuple[int, bool]]:
    """(end offset, negated) of each clause: "we do not sell it, but we share it" has two."""
    out = []
    start = 0
    for match in _CLAUSE_BREAK.finditer(text):
        out.append((match.start(), bool(rules.negation.search(text, start, match.start()))))
        start = match.start()
    out.append((len(text) + 1, bool(rules.negation.search(text, start))))
    return out


def analyse(text: str, rules: Rules) -> Facts:
    terms: dict[str, set[str]] = {}
    verbs: set[str] = set()
    sensitive: set[str] = set()
    named: dict[str, str] = {}  # name → category
    entities: set[str] = set()
    clauses = _clauses(text, rules)
    mentions: dict[str, list[bool]] = {}  # category → negated? for each specific mention
    verb_mentions: dict[str, list[bool]] = {}

    def negated_at(position: int) -> bool:
        return next(neg for end, neg in clauses if position < end)

    for term in rules.terms:
        for match in term.regex.finditer(text):
            if term.verb:
                verbs.add(term.category)
                verb_mentions.setdefault(term.category, []).append(negated_at(match.start()))
                continue
            terms.setdefault(term.category, set()).add(term.name)
            mentions.setdefault(term.category, []).append(negated_at(match.start()))
            if term.sensitive:
                sensitive.add(term.name)
            if term.named:
                named[match.group(0).lower()] = term.category
            if term.category == "controller_contact" and term.name == "legal entity":
                entities.add(" ".join(match.group(0).split()).rstrip(".,"))
    # A country in an address is not a transfer: countries count only beside a transfer verb or mechanism.
    if terms.get("international_transfers") == {"named countries"} and "international_transfers" not in verbs:
        del terms["international_transfers"]
        del mentions["international_transfers"]
        named = {n: c for n, c in named.items() if c != "international_transfers"}
    negated_categories = {c for c, flags in {**verb_mentions, **mentions}.items() if flags and all(flags)}
    durations = []
    for match in _DURATION.finditer(text):
        number, unit = match.group(1), match.group(2)
        value = float(number) if number.isdigit() else _NUMBER_WORDS.get(number.lower(), 0)
        durations.append((value * _UNIT_DAYS[unit.lower().rstrip("s")], " ".join(match.group(0).split())))
    ages = [int(next(g for g in match.groups() if g)) for match in _AGE.finditer(text)]
    return Facts(text, terms, verbs, sensitive, set(named),
                 bool(rules.strong_modal.search(text)), bool(rules.weak_modal.search(text)),
                 durations, ages, entities, negated_categories)


MAX_SENTENCE_WORDS = 120


def sentences(text: str) -> list[str]:
    """Sentences of a block; run-ons are cut at any full stop, then every MAX_SENTENCE_WORDS words."""
    out = []
    for line in text.split("\n"):
        for sentence in _SENTENCE_END.split(line):
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


# --- signals --------------------------------------------------------------------------------------

@dataclass
class Signal:
    rule: str
    category: str
    severity: str
    direction: str  # expand, restrict, clarify
    message: str  # a phrase for the one-line summary
    old: str | None = None
    new: str | None = None

    def to_json(self) -> dict:
        return {"rule": self.rule, "category": self.category, "severity": self.severity,
                "direction": self.direction, "message": self.message,
                "evidence": {"old": self.old, "new": self.new}}


def _changed_durations(old: list[tuple[float, str]], new: list[tuple[float, str]]):
    """The (before, after) durations of a sentence whose periods changed, or None.

    A sentence may name several periods ("ninety days after closing … invoices for seven
    years"): the ones that were replaced are compared, so a changed period is not hidden
    behind a longer one that stayed.
    """
    if not old or not new:
        return None
    old_days, new_days = {d for d, _ in old}, {d for d, _ in new}
    gone = [d for d in old if d[0] not in new_days]
    came = [d for d in new if d[0] not in old_days]
    if gone and came:
        return max(gone), max(came)
    if max(old)[0] != max(new)[0]:
        return max(old), max(new)
    return None


def _direction(category: CategoryRules, asserted: bool) -> str:
    """Asserting text in an expanding category expands; in a protective one it restricts."""
    return "restrict" if asserted == category.protective else "expand"


def _severity(category: CategoryRules, direction: str, sensitive: bool = False) -> str:
    if direction == "expand" and (category.high_when_expanded or sensitive):
        return "high"
    return "medium"


class _Judge:
    def __init__(self, rules: Rules):
        self.rules = rules

    def cat(self, name: str) -> CategoryRules:
        return self.rules.categories[name]

    # -- one sentence added or removed ---------------------------------------------------------
    def single(self, facts: Facts, added: bool, heading_category: str | None) -> list[Signal]:
        old, new = (None, facts.text) if added else (facts.text, None)
        categories = facts.categories() or ([heading_category] if heading_category else [])
        if not categories:
            return [Signal("substantive_text", "data_collected", "medium", "clarify",
                           "adds new text" if added else "removes text", old, new)]
        protective = [c for c in categories if c in facts.terms and self.cat(c).protective]
        if protective and self.rules.user_agency.search(facts.text):
            # "You can opt out of having your content used to train our models": the sentence gives
            # the user a choice or right; what it is about is not itself being added.
            categories = protective
        signals = []
        for name in categories[:2]:
            category = self.cat(name)
            negated = facts.negated_in(name)
            asserted = added != negated  # an added negation or a removed assertion denies
            direction = _direction(category, asserted)
            sensitive = bool(facts.sensitive & facts.terms.get(name, set()))
            terms = sorted(facts.terms.get(name, set())) or [category.label]
            listed = ", ".join(terms)
            if name == "retention" and facts.durations and added:
                message = f"states {category.label} of {max(facts.durations)[1]}"
            elif negated:
                message = f"rules out {listed}" if added else f"no longer rules out {listed}"
            elif category.protective:
                message = f"adds {listed}" if added else f"removes {listed}"
            else:
                message = f"adds {category.label}: {listed}" if added else f"drops {category.label}: {listed}"
            rule = f"{name}_{'added' if added else 'removed'}{'_negated' if negated else ''}"
            signals.append(Signal(rule, name, _severity(category, direction, sensitive), direction, message,
                                  old, new))
        return signals

    # -- one sentence reworded -----------------------------------------------------------------
    def pair(self, old: Facts, new: Facts, heading_category: str | None) -> list[Signal]:
        signals: list[Signal] = []
        categories = list(dict.fromkeys(new.categories() + old.categories())) or (
            [heading_category] if heading_category else [])
        main = categories[0] if categories else None
        evidence = (old.text, new.text)
        if main and old.negated_in(main) != new.negated_in(main):
            category = self.cat(main)
            asserted_now = not new.negated_in(main)
            direction = _direction(category, asserted_now)
            what = ", ".join(sorted(new.terms.get(main) or old.terms.get(main) or {category.label}))
            message = (f"no longer rules out {what}" if asserted_now else f"now rules out {what}") \
                if not category.protective else (f"restores {what}" if asserted_now else f"takes away {what}")
            signals.append(Signal("negation_flip", main, "high" if direction == "expand" else "medium", direction,
                                  message, *evidence))
        if old.strong and not new.strong and new.weak and main and self.cat(main).protective:
            signals.append(Signal("promise_weakened", main, "high", "expand",
                                  f"weakens a promise on {self.cat(main).label} ('will' becomes 'may')", *evidence))
        changed_durations = _changed_durations(old.durations, new.durations)
        if changed_durations:
            (before, before_text), (after, after_text) = changed_durations
            if "policy_changes" in categories:
                direction = "expand" if after < before else "restrict"
                signals.append(Signal("notice_period_changed", "policy_changes",
                                      "high" if direction == "expand" else "medium", direction,
                                      f"notice period {'shortened' if after < before else 'lengthened'} from "
                                      f"{before_text} to {after_text}", *evidence))
            else:
                direction = "expand" if after > before else "restrict"
                signals.append(Signal("retention_changed", "retention", "high" if direction == "expand" else "medium",
                                      direction, f"retention {'lengthened' if after > before else 'shortened'} from "
                                      f"{before_text} to {after_text}", *evidence))
        if old.ages and new.ages and min(old.ages) != min(new.ages):
            before, after = min(old.ages), min(new.ages)
            direction = "expand" if after < before else "restrict"
            signals.append(Signal("age_threshold_changed", "children", "high" if direction == "expand" else "medium",
                                  direction, f"age threshold {'lowered' if after < before else 'raised'} from "
                                  f"{before} to {after}", *evidence))
        if old.entities != new.entities and new.entities and old.entities:
            signals.append(Signal("controller_changed", "controller_contact", "high", "clarify",
                                  f"names a different company: {', '.join(sorted(new.entities))} "
                                  f"instead of {', '.join(sorted(old.entities))}", *evidence))
        if not any(s.rule in ("negation_flip",) for s in signals):
            signals += self._term_changes(old, new, evidence)
        return signals

    def _term_changes(self, old: Facts, new: Facts, evidence: tuple[str, str]) -> list[Signal]:
        signals = []
        for name in PRIORITY:
            added = new.terms.get(name, set()) - old.terms.get(name, set())
            removed = old.terms.get(name, set()) - new.terms.get(name, set())
            if name == "controller_contact":
                continue  # entities compared above
            category = self.cat(name)
            named_added = new.named - old.named if name in ("sharing", "international_transfers") else set()
            if added or named_added:
                direction = _direction(category, not new.negated_in(name))
                what = [w.title() for w in sorted(named_added)] if named_added else sorted(added)
                sensitive = bool(added & new.sensitive)
                signals.append(Signal(f"{name}_term_added", name, _severity(category, direction, sensitive),
                                      direction, f"adds {category.label}: {', '.join(what)}", *evidence))
            if removed:
                direction = _direction(category, old.negated_in(name))
                signals.append(Signal(f"{name}_term_removed", name, _severity(category, direction), direction,
                                      f"drops {category.label}: {', '.join(sorted(removed))}", *evidence))
        return signals

    # -- is a reworded sentence only editorial? ------------------------------------------------
    def editorial(self, old: str, new: str) -> bool:
        a, b = words(old), words(new)
        if a == b:
            return True
        from difflib import SequenceMatcher

        matcher = SequenceMatcher(None, a, b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            before, after = a[i1:i2], b[j1:j2]
            if any(w.isdigit() for w in before + after):
                return False
            if tag == "replace" and len(before) == len(after) and all(
                    self._same_word(x, y) for x, y in zip(before, after, strict=True)):
                continue
            phrase_a, phrase_b = " ".join(before), " ".join(after)
            group_a, group_b = self.rules.synonyms.get(phrase_a), self.rules.synonyms.get(phrase_b)
            if group_a is not None and group_a == group_b:
                continue
            if all(w in _STOPWORDS for w in before + after) and not self.rules.negation.search(
                    phrase_a + " " + phrase_b):
                continue
            return False
        return True

    def _same_word(self, x: str, y: str) -> bool:
        if x == y:
            return True
        group = self.rules.synonyms.get(x)
        if group is not None and group == self.rules.synonyms.get(y):
            return True
        if min(len(x), len(y)) < 4:
            return False
        from difflib import SequenceMatcher

        return SequenceMatcher(None, x, y).ratio() >= 0.75  # a typo fixed, a spelling variant


# --- sections and documents -----------------------------------------------------------------------

def _heading_category(section: SectionDiff, rules: Rules) -> str | None:
    heading = " ".join(filter(None, [section.new_heading, section.old_heading]))
    facts = analyse(heading, rules)
    categories = facts.categories()
    return categories[0] if categories else None


def is_date_stamp(text: str, rules: Rules) -> bool:
    return bool(rules.date_stamp.search(text.strip())) and bool(re.search(r"\d", text))


def stated_date(text: str, rules: Rules) -> str | None:
    """The date a policy says it was last updated or took effect, as YYYY-MM-DD."""
    from dateutil import parser as dateparser

    for line in text.splitlines()[:80] + text.splitlines()[-20:]:
        line = line.strip().lstrip("#").strip()
        if len(line) < 120 and is_date_stamp(line, rules):
            try:
                when = dateparser.parse(line, fuzzy=True, default=None)
            except (ValueError, OverflowError, TypeError):
                continue
            if when and 1990 < when.year < 2100:
                return when.date().isoformat()
    return None


@dataclass
class Judgement:
    severity: str
    material: bool
    categories: list[str]
    summary: str
    old_date: str | None = None
    new_date: str | None = None


def _changed_sentences(section: SectionDiff) -> tuple[list[str], list[str]]:
    """Sentences of one section that are gone (removed) and new (added)."""
    removed: list[str] = [s for block in section.removed_blocks for s in sentences(block)]
    added: list[str] = [s for block in section.added_blocks for s in sentences(block)]
    for old_block, new_block in section.changed_blocks:
        old_s, new_s = sentences(old_block), sentences(new_block)
        old_f, new_f = {fold(s) for s in old_s}, {fold(s) for s in new_s}
        removed += [s for s in old_s if fold(s) not in new_f]
        added += [s for s in new_s if fold(s) not in old_f]
    return removed, added


def _pair_sentences(removed: list[str], added: list[str]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Pair reworded sentences by word overlap; bounded by comparing only sentences sharing rare words."""
    bags_added = [set(words(s)) for s in added]
    frequency = Counter(w for bag in bags_added for w in bag)
    for sentence in removed:
        frequency.update(set(words(sentence)))
    index: dict[str, list[int]] = defaultdict(list)
    for k, bag in enumerate(bags_added):
        for word in sorted(bag, key=lambda w: (frequency[w], w))[:4]:
            index[word].append(k)
    pairs: list[tuple[str, str]] = []
    used: set[int] = set()
    still_removed = []
    budget = PAIRING_BUDGET
    for sentence in removed:
        bag = set(words(sentence))
        if len(removed) * len(added) <= PAIRING_BUDGET:
            candidates = range(len(added))
        elif budget <= 0:
            candidates = range(0)
        else:
            rare = sorted(bag, key=lambda w: (frequency[w], w))[:4]
            candidates = sorted({k for w in rare for k in index[w][:MAX_CANDIDATES]})
            budget -= len(candidates)
        best, best_score = None, 0.4
        for k in candidates:
            if k not in used and (score := similarity(bag, bags_added[k])) >= best_score:
                best, best_score = k, score
        if best is None:
            still_removed.append(sentence)
        else:
            used.add(best)
            pairs.append((sentence, added[best]))
    return pairs, still_removed, [s for k, s in enumerate(added) if k not in used]


def _drop_moved(texts: list[str], moved: Counter) -> list[str]:
    kept = []
    for text in texts:
        key = fold(text)
        if moved[key] > 0:
            moved[key] -= 1
        else:
            kept.append(text)
    return kept


def judge(diff: DocumentDiff, rules: Rules | None = None) -> Judgement:
    """Fill kinds, categories, direction, severity and signals of every changed section."""
    rules = rules or load_rules()
    judge_ = _Judge(rules)
    changed = diff.changed_sections
    per_section = {id(s): _changed_sentences(s) for s in changed}
    # Text that moved (to another section, or within one) is not a change of meaning.
    removed_count = Counter(fold(t) for r, _ in per_section.values() for t in r)
    added_count = Counter(fold(t) for _, a in per_section.values() for t in a)
    moved_removed = removed_count & added_count
    moved_added = moved_removed.copy()
    budget = [MAX_ANALYSED_SENTENCES]
    for section in changed:
        removed, added = per_section[id(section)]
        removed, added = _drop_moved(removed, moved_removed), _drop_moved(added, moved_added)
        pairs, removed, added = _pair_sentences(removed, added)
        _judge_section(section, pairs, removed, added, judge_, rules, budget)
    worst = max((s.severity for s in changed), key=SEVERITY_RANK.get, default="none")
    signals = sorted((sig for s in changed for sig in s.signals), key=lambda g: -SEVERITY_RANK[g.severity])
    top = [g for g in signals if g.severity == worst]
    categories = list(dict.fromkeys(g.category for g in top))[:3]
    if worst in ("medium", "high") and not categories:
        categories = list(dict.fromkeys(c for s in changed if s.severity == worst for c in s.categories))[:3]
    old_date, new_date = stated_date(diff.old.markdown(), rules), stated_date(diff.new.markdown(), rules)
    return Judgement(worst, worst in ("medium", "high"), categories,
                     summarize(diff, signals, worst, old_date, new_date), old_date, new_date)


def _judge_section(section: SectionDiff, pairs: list[tuple[str, str]], removed: list[str], added: list[str],
                   judge_: _Judge, rules: Rules, budget: list[int]) -> None:
    kinds: list[str] = []
    signals: list[Signal] = []
    changed_any = bool(pairs or removed or added)
    heading_category = _heading_category(section, rules) if changed_any else None
    if section.status in ("moved", "renamed") and not (pairs or removed or added):
        kinds.append("formatting")
    changed_texts = [s for p in pairs for s in p] + removed + added
    if not changed_texts and section.status == "modified":
        kinds.append("formatting")
    elif changed_texts and all(is_date_stamp(t, rules) for t in changed_texts):
        kinds.append("date_stamp")
    else:
        substantive = False
        skipped = 0
        for old, new in pairs:
            if budget[0] <= 0:
                skipped += 1
                continue
            budget[0] -= 2
            if is_date_stamp(old, rules) and is_date_stamp(new, rules):
                kinds.append("date_stamp")
                continue
            if judge_.editorial(old, new):
                kinds.append("editorial")
                continue
            found = judge_.pair(analyse(old, rules), analyse(new, rules), heading_category)
            if not found and _small_rewording(old, new):
                kinds.append("editorial")  # a few words changed and no rule saw a change of meaning
                continue
            if not found:
                found = [Signal("reworded", heading_category or _first_category(old + " " + new, rules),
                                "medium", "clarify", "rewords text", old, new)]
            signals += found
            substantive = True
        for is_added, group in ((False, removed), (True, added)):
            for sentence in group:
                if is_date_stamp(sentence, rules) or not words(sentence):
                    continue
                if budget[0] <= 0:
                    skipped += 1
                    substantive = True
                    continue
                budget[0] -= 1
                facts = analyse(sentence, rules)
                if len(words(sentence)) < 3 and not facts.terms:
                    continue  # a stray label or fragment; a short list item that names something counts
                substantive = True
                signals += judge_.single(facts, is_added, heading_category)
        if skipped:
            # Past the analysis budget (a rewrite, or unrelated documents): say so rather than slow down.
            signals.append(Signal("too_many_changes", heading_category or "data_collected", "medium", "clarify",
                                  f"{skipped} more changed sentence(s) not analysed one by one"))
            substantive = True
        if substantive:
            kinds.append("substantive")
        elif not kinds and section.status in ("added", "removed"):
            kinds.append("formatting")
    section.kinds = list(dict.fromkeys(kinds))
    section.signals = sorted(signals, key=lambda g: -SEVERITY_RANK[g.severity])
    if signals:
        section.severity = section.signals[0].severity
        section.direction = section.signals[0].direction
        section.categories = list(dict.fromkeys(g.category for g in section.signals))[:3]
    elif "editorial" in section.kinds:
        section.severity = "low"
    else:
        section.severity = "none"
    if section.status in ("added", "removed") and "substantive" in section.kinds:
        section.severity = max(section.severity, "medium", key=SEVERITY_RANK.get)


_PROPER_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b[A-Z][\w&'-]+")


def _proper_names(text: str) -> set[str]:
    return set(_PROPER_NAME.findall(text))


def _small_rewording(old: str, new: str) -> bool:
    """A rewording no rule objected to that adds no content: a paraphrase, not a new statement.

    Numbers never change editorially; besides function words, at most four words may change on
    either side and the new text may bring at most one more content word than it drops.
    """
    from difflib import SequenceMatcher

    a, b = words(old), words(new)
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    if any(any(c.isdigit() for c in w) for w in removed + added):
        return False
    if _proper_names(old) != _proper_names(new):
        return False  # a different person, company or country is named
    if max(len(removed), len(added)) <= 3 and similarity(set(a), set(b)) >= 0.75:
        return True
    content_removed = [w for w in removed if w not in _STOPWORDS and len(w) > 2]
    content_added = [w for w in added if w not in _STOPWORDS and len(w) > 2]
    return max(len(content_removed), len(content_added)) <= 4 and len(content_added) - len(content_removed) <= 1


def _first_category(text: str, rules: Rules) -> str:
    categories = analyse(text, rules).categories()
    return categories[0] if categories else "data_collected"


def summarize(diff: DocumentDiff, signals: list[Signal], severity: str, old_date: str | None,
              new_date: str | None) -> str:
    """One line a lawyer can read: the most severe findings first."""
    if diff.identical:
        return "No change."
    if severity in ("none", "low"):
        parts = []
        stats = diff.stats
        if stats["sections_moved"]:
            parts.append(f"{stats['sections_moved']} section(s) moved")
        if stats["sections_renamed"]:
            parts.append(f"{stats['sections_renamed']} heading(s) renamed")
        if old_date != new_date and new_date:
            parts.append(f"date stamp now {new_date}" + (f" (was {old_date})" if old_date else ""))
        if severity == "low":
            parts.append("editorial rewording")
        return ("No material change: " + "; ".join(parts)) if parts else "No material change: formatting only."
    material = [g for g in signals if SEVERITY_RANK[g.severity] >= 2]
    # One phrase per category first, so that a second kind of change is not lost behind the first.
    firsts = list({g.category: g.message for g in reversed(material)}.items())[::-1]
    first_of_category = [m for _, m in sorted(firsts, key=lambda cm: next(
        k for k, g in enumerate(material) if g.category == cm[0]))]
    phrases = list(dict.fromkeys(first_of_category + [g.message for g in material]))
    text = "; ".join(phrases[:4])
    if len(phrases) > 4:
        text += f"; and {len(phrases) - 4} more"
    return text[:1].upper() + text[1:] + "."



def compare(old, new, rules: Rules | None = None):
    """Diff two Documents and judge the result: ``(DocumentDiff, Judgement)``."""
    from policywatch.diff import diff_documents

    diff = diff_documents(old, new)
    return diff, judge(diff, rules)


# -- the JSON contract -------------------------------------------------------------------------------------------

def diff_json(diff: DocumentDiff, judgement: Judgement, old_label: str, new_label: str) -> dict:
    """DESIGN.md's ``policywatch.diff/1`` contract; keys in a stable order."""
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
            "signals": [{"rule": g.rule, "category": g.category, "severity": g.severity, "direction": g.direction,
                         "message": g.message, "evidence": {"old": g.old, "new": g.new}} for g in s.signals],
            "edits": [e.to_json() for e in s.edits],
        } for s in diff.sections if s.changed],
    }
