"""The diff stage (docs/architecture.md): align two Documents section by section, then diff words inside each section.

Alignment comes before any word diff, so a moved section is "moved", not a removal plus an
addition, and a renamed heading is "renamed", not a new section:

1. sections whose heading means the same (numbering, case and punctuation aside) pair up;
2. sections with the same content under another heading are renamed;
3. what is left pairs by content similarity (bounded: candidates share rare words);
4. the rest is added or removed. Order changes among pairs (outside a longest increasing
   subsequence) are moves.

Inside a pair, blocks (paragraphs, items, rows) align with difflib, then changed blocks get a
word-level diff from diff-match-patch with semantic cleanup. There is no time limit — results
never depend on machine speed — so the work is bounded by size gates instead: block pairs that
share too few words are shown as a replacement without a character diff.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from diff_match_patch import diff_match_patch

from policywatch.document import Document, Section

MAX_WORD_DIFF_TOKENS = 4000  # per side: beyond this a block pair is one replacement
MIN_BLOCK_SIMILARITY = 0.25  # below this two blocks are different texts, not an edit of one another
# Below this share of words in common, a block pair reads as rewritten: shown old then new, whole,
# not as confetti of word edits (as code review tools highlight words only in similar lines).
MIN_WORD_DIFF_SIMILARITY = 0.5
MIN_SECTION_SIMILARITY = 0.45
MAX_SIMILARITY_PAIRS = 250_000
# diff-match-patch costs about (n + m) × d steps for n and m tokens with d of them differing;
# a document pair may spend this many (≈ 0.4 s of pure Python) before blocks become replacements.
MAX_WORD_DIFF_WORK = 1_500_000
BLOCK_PAIR_BUDGET = 10_000  # block comparisons in one changed range before pairing by position
BLOCK_WINDOW = 12

_TOKENS = re.compile(r"\s+|[\w'’-]+|[^\w\s]", re.UNICODE)
_WORDS = re.compile(r"[\w'’-]+", re.UNICODE)
_HEADING_NUMBER = re.compile(r"^(?:(?:section|article|part|chapter)\s+)?"
                             r"(?:\d{1,2}(?:\.\d{1,2})*[.:)]?|[ivxlc]{1,6}[.:)]|[a-z]\.|\(\w{1,3}\))\s+",
                             re.IGNORECASE)


@dataclass
class Edit:
    op: str  # insert, delete, replace
    old: str = ""
    new: str = ""

    def to_json(self) -> dict:
        return {"op": self.op, "old": self.old, "new": self.new}


@dataclass
class SectionDiff:
    status: str  # unchanged, modified, added, removed, moved, renamed
    old: Section | None
    new: Section | None
    old_index: int | None
    new_index: int | None
    moved: bool = False
    renamed: bool = False
    similarity: float = 1.0
    edits: list[Edit] = field(default_factory=list)
    ops: list[tuple[int, str]] = field(default_factory=list)  # word-level (-1/0/1, text) for rendering
    removed_blocks: list[str] = field(default_factory=list)  # whole old blocks not found in new
    added_blocks: list[str] = field(default_factory=list)
    changed_blocks: list[tuple[str, str]] = field(default_factory=list)  # (old, new) edited blocks
    # Filled by the judge:
    kinds: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    direction: str | None = None
    severity: str = "none"
    signals: list = field(default_factory=list)

    @property
    def old_heading(self) -> str | None:
        return self.old.heading if self.old else None

    @property
    def new_heading(self) -> str | None:
        return self.new.heading if self.new else None

    @property
    def heading(self) -> str:
        return (self.new_heading if self.new is not None else self.old_heading) or "(preamble)"

    @property
    def changed(self) -> bool:
        return self.status != "unchanged"

    @property
    def words_added(self) -> int:
        return sum(len(_WORDS.findall(t)) for op, t in self.ops if op == 1)

    @property
    def words_removed(self) -> int:
        return sum(len(_WORDS.findall(t)) for op, t in self.ops if op == -1)


@dataclass
class DocumentDiff:
    old: Document
    new: Document
    sections: list[SectionDiff]

    @property
    def identical(self) -> bool:
        return self.old.markdown() == self.new.markdown()

    @property
    def changed_sections(self) -> list[SectionDiff]:
        return [s for s in self.sections if s.changed]

    @property
    def stats(self) -> dict[str, int]:
        count = Counter(s.status for s in self.sections)
        return {
            "sections_added": count["added"],
            "sections_removed": count["removed"],
            "sections_modified": count["modified"],
            "sections_moved": sum(1 for s in self.sections if s.moved),
            "sections_renamed": sum(1 for s in self.sections if s.renamed),
            "words_added": sum(s.words_added for s in self.sections),
            "words_removed": sum(s.words_removed for s in self.sections),
        }


# --- helpers -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)
def heading_key(heading: str) -> str:
    """What a heading means for alignment: no numbering, case or punctuation."""
    text = _HEADING_NUMBER.sub("", heading.strip())
    return " ".join(_WORDS.findall(text.lower()))


@functools.lru_cache(maxsize=131072)
def fold(text: str) -> str:
    """Text equal after folding differs only in formatting (case, punctuation, spacing).

    Cached: the diff and the judgement of one pair fold the same sentences several times.
    """
    return " ".join(_WORDS.findall(text.lower()))


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def similarity(a: set[str] | Counter, b: set[str] | Counter) -> float:
    if not a and not b:
        return 1.0
    if isinstance(a, Counter):
        shared = sum((a & b).values())
        return 2 * shared / (sum(a.values()) + sum(b.values()))
    return len(a & b) / len(a | b)


def _bag_similarity(a: Counter, b: Counter, total: int) -> float:
    """``similarity`` of two word bags whose sizes add up to ``total``, without building their intersection."""
    if not total:
        return 1.0
    if len(a) > len(b):
        a, b = b, a
    shared = 0
    for word, count in a.items():
        other = b.get(word)
        if other:
            shared += count if count < other else other
    return 2 * shared / total


def _content(section: Section) -> str:
    return "\n".join(b.text for b in section.blocks)


def _content_hash(section: Section) -> str:
    return hashlib.sha1(fold(_content(section)).encode()).hexdigest()


def _longest_increasing(values: list[int]) -> set[int]:
    """Indexes (into ``values``) of one longest strictly increasing subsequence."""
    tails: list[int] = []
    tails_index: list[int] = []
    parent = [-1] * len(values)
    for i, v in enumerate(values):
        pos = bisect_left(tails, v)
        if pos == len(tails):
            tails.append(v)
            tails_index.append(i)
        else:
            tails[pos] = v
            tails_index[pos] = i
        parent[i] = tails_index[pos - 1] if pos else -1
    keep: set[int] = set()
    i = tails_index[-1] if tails_index else -1
    while i >= 0:
        keep.add(i)
        i = parent[i]
    return keep


# --- alignment ----------------------------------------------------------------------------------

def align_sections(old: list[Section], new: list[Section]) -> list[tuple[int | None, int | None]]:
    """Pairs of (old index, new index); None on one side for removed / added sections."""
    pairs: dict[int, int] = {}
    free_old = set(range(len(old)))
    free_new = set(range(len(new)))

    def pair(i: int, j: int) -> None:
        pairs[i] = j
        free_old.discard(i)
        free_new.discard(j)

    # 1. Same heading meaning (in order, for headings used more than once).
    by_key_new: dict[str, list[int]] = defaultdict(list)
    for j, s in enumerate(new):
        by_key_new[heading_key(s.heading)].append(j)
    for i, s in enumerate(old):
        candidates = by_key_new.get(heading_key(s.heading))
        if candidates:
            pair(i, candidates.pop(0))
    # 2. Same content under another heading.
    by_hash_new: dict[str, list[int]] = defaultdict(list)
    for j in sorted(free_new):
        if new[j].blocks:
            by_hash_new[_content_hash(new[j])].append(j)
    for i in sorted(free_old):
        if old[i].blocks and (candidates := by_hash_new.get(_content_hash(old[i]))):
            pair(i, candidates.pop(0))
    # 3. Similar content (bounded: only candidates that share a rare word).
    if free_old and free_new:
        bags_old = {i: Counter(words(old[i].heading + " " + _content(old[i]))) for i in free_old}
        bags_new = {j: Counter(words(new[j].heading + " " + _content(new[j]))) for j in free_new}
        document_frequency = Counter()
        for bag in list(bags_old.values()) + list(bags_new.values()):
            document_frequency.update(bag.keys())
        index: dict[str, list[int]] = defaultdict(list)
        for j, bag in bags_new.items():
            for word in sorted(bag, key=lambda w: (document_frequency[w], w))[:12]:
                index[word].append(j)
        scored = []
        budget = MAX_SIMILARITY_PAIRS
        for i, bag in sorted(bags_old.items()):
            candidates = set()
            for word in sorted(bag, key=lambda w: (document_frequency[w], w))[:12]:
                candidates.update(index.get(word, ()))
            for j in sorted(candidates):
                budget -= 1
                if budget < 0:
                    break
                score = similarity(bag, bags_new[j])
                if score >= MIN_SECTION_SIMILARITY:
                    scored.append((-score, i, j))
        for _, i, j in sorted(scored):
            if i in free_old and j in free_new:
                pair(i, j)
    result: list[tuple[int | None, int | None]] = [(i, j) for i, j in pairs.items()]
    result += [(i, None) for i in free_old] + [(None, j) for j in free_new]
    # Reading order of the new document; removed sections after their old predecessor.
    def order(p: tuple[int | None, int | None]) -> tuple[float, float]:
        i, j = p
        if j is not None:
            return (j, 0)
        previous = [pairs[k] for k in range(i) if k in pairs]
        return (max(previous) if previous else -1, 0.5 + i / 10_000)

    return sorted(result, key=order)


# --- word diff --------------------------------------------------------------------------------

_dmp = diff_match_patch()
_dmp.Diff_Timeout = 0  # deterministic: no result may depend on machine speed


def word_diff(a: str, b: str, budget: list[int] | None = None) -> list[tuple[int, str]]:
    """Word-granular diff ops (-1 delete, 0 equal, 1 insert), semantically cleaned up.

    ``budget`` (a one-item list shared by a whole document diff) holds the work still allowed
    through diff-match-patch; past it, and for very long blocks, a pair is one replacement.
    """
    if a == b:
        return [(0, a)] if a else []
    tokens_a, tokens_b = _TOKENS.findall(a), _TOKENS.findall(b)
    size = len(tokens_a) + len(tokens_b)
    differing = size * (1 - similarity(Counter(tokens_a), Counter(tokens_b))) + 1
    cost = int(size * differing)
    if len(tokens_a) > MAX_WORD_DIFF_TOKENS or len(tokens_b) > MAX_WORD_DIFF_TOKENS or \
            (budget is not None and budget[0] < cost) or \
            similarity(Counter(words(a)), Counter(words(b))) < MIN_WORD_DIFF_SIMILARITY:
        return [op for op in ((-1, a), (1, b)) if op[1]]
    if budget is not None:
        budget[0] -= cost
    vocabulary: dict[str, str] = {}

    def encode(tokens: list[str]) -> str:
        out = []
        for token in tokens:
            if token not in vocabulary:
                vocabulary[token] = chr(0xE000 + len(vocabulary)) if len(vocabulary) < 6400 else \
                    chr(0xF0000 + len(vocabulary))
            out.append(vocabulary[token])
        return "".join(out)

    ea, eb = encode(tokens_a), encode(tokens_b)
    decode = {v: k for k, v in vocabulary.items()}
    ops = _dmp.diff_main(ea, eb, False)
    _dmp.diff_cleanupSemantic(ops)
    return [(op, "".join(decode[c] for c in text)) for op, text in ops]


def edits_from_ops(ops: list[tuple[int, str]]) -> list[Edit]:
    edits: list[Edit] = []
    pending_delete, pending_insert = [], []

    def flush() -> None:
        old, new = "".join(pending_delete).strip(), "".join(pending_insert).strip()
        if old and new:
            edits.append(Edit("replace", old, new))
        elif old:
            edits.append(Edit("delete", old, ""))
        elif new:
            edits.append(Edit("insert", "", new))
        pending_delete.clear()
        pending_insert.clear()

    for op, text in ops:
        if op == 0:
            if text.strip():
                flush()
        elif op == -1:
            pending_delete.append(text)
        else:
            pending_insert.append(text)
    flush()
    return edits


def _diff_blocks(old: Section | None, new: Section | None, result: SectionDiff, budget: list[int]) -> None:
    old_blocks = [b.text for b in old.blocks] if old else []
    new_blocks = [b.text for b in new.blocks] if new else []
    if old is not None and new is not None and old.heading != new.heading:
        result.ops.extend([(-1, old.heading), (0, " → "), (1, new.heading), (0, "\n")]
                          if fold(old.heading) != fold(new.heading) else [])
    if old_blocks == new_blocks:  # most sections of a new version: nothing to match
        result.ops.extend((0, text + "\n") for text in old_blocks)
        return
    matcher = difflib.SequenceMatcher(None, [fold(t) for t in old_blocks], [fold(t) for t in new_blocks],
                                      autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i1, i2):
                if old_blocks[k] != new_blocks[j1 + k - i1]:
                    ops = word_diff(old_blocks[k], new_blocks[j1 + k - i1], budget)
                    result.ops.extend(ops + [(0, "\n")])
                    result.changed_blocks.append((old_blocks[k], new_blocks[j1 + k - i1]))
                else:
                    result.ops.append((0, old_blocks[k] + "\n"))
            continue
        olds, news = old_blocks[i1:i2], new_blocks[j1:j2]
        used: set[int] = set()
        # Blocks that only changed places inside the section are not edits.
        same_text: dict[str, list[int]] = defaultdict(list)
        for k, text in enumerate(news):
            same_text[fold(text)].append(k)
        # Pair edited blocks by similarity; unpaired ones are whole removals / additions. Large
        # ranges compare each block with its positional neighbours only, so the work stays linear.
        bags_new = [Counter(words(t)) for t in news]
        sizes_new = [sum(bag.values()) for bag in bags_new]
        window = None if len(olds) * len(news) <= BLOCK_PAIR_BUDGET else BLOCK_WINDOW
        for index, text in enumerate(olds):
            if candidates := same_text.get(fold(text)):
                used.add(candidates.pop(0))
                result.ops.append((0, text + "\n"))
                continue
            bag = Counter(words(text))
            size = sum(bag.values())
            best, best_score = None, MIN_BLOCK_SIMILARITY
            if window is None:
                span = range(len(news))
            else:
                centre = index * len(news) // max(1, len(olds))
                span = range(max(0, centre - window), min(len(news), centre + window + 1))
            for k in span:
                if k in used:
                    continue
                # Blocks of very different lengths cannot be similar enough: not compared word by word.
                total = size + sizes_new[k]
                # The same division as the score's: a tie with the best so far is never skipped.
                if total and 2 * min(size, sizes_new[k]) / total < best_score:
                    continue
                if (score := _bag_similarity(bag, bags_new[k], total)) >= best_score:
                    best, best_score = k, score
            if best is None:
                result.removed_blocks.append(text)
                result.ops.append((-1, text + "\n"))
            else:
                used.add(best)
                result.changed_blocks.append((text, news[best]))
                result.ops.extend(word_diff(text, news[best], budget) + [(0, "\n")])
        for k, text in enumerate(news):
            if k not in used:
                result.added_blocks.append(text)
                result.ops.append((1, text + "\n"))


def diff_documents(old: Document, new: Document) -> DocumentDiff:
    """Section-aligned, word-level diff of two documents."""
    pairs = align_sections(old.sections, new.sections)
    matched = [(i, j) for i, j in pairs if i is not None and j is not None]
    in_order = _longest_increasing([j for _, j in sorted(matched)])
    moved = {pair for k, pair in enumerate(sorted(matched)) if k not in in_order}
    budget = [MAX_WORD_DIFF_WORK]
    sections: list[SectionDiff] = []
    for i, j in pairs:
        o = old.sections[i] if i is not None else None
        n = new.sections[j] if j is not None else None
        diff = SectionDiff(status="unchanged", old=o, new=n, old_index=i, new_index=j)
        _diff_blocks(o, n, diff, budget)
        if o is None:
            diff.status = "added"
        elif n is None:
            diff.status = "removed"
        else:
            diff.moved = (i, j) in moved
            diff.renamed = heading_key(o.heading) != heading_key(n.heading)
            same_content = [b.text for b in o.blocks] == [b.text for b in n.blocks]
            if not same_content:
                diff.status = "modified"
                diff.similarity = similarity(Counter(words(_content(o))), Counter(words(_content(n))))
            elif diff.renamed:
                diff.status = "renamed"
            elif diff.moved:
                diff.status = "moved"
            elif o.heading != n.heading or o.level != n.level:
                diff.status = "modified"  # formatting only: numbering, case, level
        diff.edits = edits_from_ops(diff.ops)
        sections.append(diff)
    return DocumentDiff(old=old, new=new, sections=sections)
