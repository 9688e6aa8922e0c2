"""The timeline of a policy: which text was in effect when, each change judged against its baseline.

Live checks append to it one change at a time (``monitor.record``). An archive import adds
history before the first live check, so the timeline is then rebuilt in time order
(``merge_archive_history``): live checks are authoritative from the first one on, archive captures
fill in the years before it, versions are renumbered in order of first appearance, and each
change is judged against its predecessor exactly as a live change is. A return to an earlier text
is judged against the last text people were told about (the latest material change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policywatch.judge import load_rules, stated_date
from policywatch.normalize import NORMALIZER_VERSION, Normalized
from policywatch.secrets import redact_page
from policywatch.store import FactRows, Store
from policywatch.suspect import is_shrunk

if TYPE_CHECKING:
    from policywatch.archive import Archive
    from policywatch.diff import DocumentDiff
    from policywatch.judge import Fact, FactExtractor, Judgement
    from policywatch.render import PageHeader


@dataclass
class JudgedChange:
    """A version judged against its baseline: the diff, the judgement, and the columns ``changes`` stores."""

    diff: DocumentDiff
    judgement: Judgement
    old_label: str
    new_label: str
    columns: dict
    old_version: dict  # the stored rows of the two versions
    new_version: dict


@dataclass
class JudgedAhead:
    """A new text judged against its baseline in a worker process, before the writer stores it
    (``judge_ahead``): what the writer's ``judge_change`` would find, and what the two texts say
    that the analysis memory lacks (the writer keeps it, for the runs after)."""

    rules: str  # the lexicons' fingerprint in the worker
    baseline_version_id: int
    markdown: str
    learned: dict[bytes, str | bytes]  # packed (store.packed_analyses)
    diff: DocumentDiff
    judgement: Judgement
    facts: tuple[FactRows | None, FactRows | None]  # the judgement's old and new facts, as the store keeps them


def judge_change(store: Store, policy_id: str, baseline_version_id: int, version: dict,
                 ahead: JudgedAhead | None = None) -> JudgedChange:
    """Diff a stored version against its baseline and judge it; store both versions' facts if new.

    ``ahead``: the same judgement made in a worker process (``judge_ahead``), used when it judged
    this text against this baseline with these lexicons.
    """
    from policywatch.judge import without_cycle_collection

    rules = load_rules().fingerprint
    if ahead is not None and ahead.rules == rules and ahead.baseline_version_id == baseline_version_id \
            and ahead.markdown == version["text"]:
        if ahead.learned:
            store.put_sentence_analyses(rules, ahead.learned)
        return _judged_change(store, policy_id, store.version_by_id(baseline_version_id), version, ahead.diff,
                              ahead.judgement, ahead.facts)
    with without_cycle_collection():  # the facts stored and the JSON written are part of the burst
        return _judge_change(store, policy_id, baseline_version_id, version)


_readers: dict[str, Store] = {}  # a worker process's connections, one per database


def judge_ahead(db_path: str, baseline_version_id: int, markdown: str) -> JudgedAhead:
    """In a worker process, before the writer stores a new text (``markdown``): the text judged
    against the stored version ``baseline_version_id``, for ``judge_change(ahead=…)``.

    A judgement is the largest part of a changed page's cost, and the first change of a policy
    reads its first version whole, which a check never read before: made here, it runs on
    another core than the writer's thread, which every page of the run waits for.
    """
    from policywatch.judge import FactExtractor
    from policywatch.judge.facts import Gathered
    from policywatch.store import packed_analyses

    store = _readers.get(db_path)
    if store is None:
        store = _readers[db_path] = Store.reader(db_path)
    rules = load_rules()
    gathered = Gathered(store)  # the database is the writer's: what is learned goes back to it
    _, diff, judgement = _compared(store, baseline_version_id, markdown, FactExtractor(rules, gathered))
    facts = tuple(None if found is None else FactRows.of([f.to_row() for f in found])
                  for found in (judgement.old_facts, judgement.new_facts))
    return JudgedAhead(rules.fingerprint, baseline_version_id, markdown, packed_analyses(gathered.learned), diff,
                       judgement, facts)


def _judge_change(store: Store, policy_id: str, baseline_version_id: int, version: dict) -> JudgedChange:
    from policywatch.judge import FactExtractor

    baseline, diff, judgement = _compared(store, baseline_version_id, version["text"], FactExtractor(memory=store))
    return _judged_change(store, policy_id, baseline, version, diff, judgement)


def _compared(store: Store, baseline_version_id: int, markdown: str, extractor: FactExtractor
              ) -> tuple[dict, DocumentDiff, Judgement]:
    """The stored baseline, and the diff and judgement of a text (Markdown) against it."""
    from policywatch.document import Document
    from policywatch.judge import compare

    baseline = store.version_by_id(baseline_version_id)
    diff, judgement = compare(Document.from_markdown(baseline["text"]), Document.from_markdown(markdown),
                              extractor=extractor)
    return baseline, diff, judgement


def _judged_change(store: Store, policy_id: str, baseline: dict, version: dict, diff: DocumentDiff,
                   judgement: Judgement, prepared: tuple[FactRows | None, FactRows | None] = (None, None)
                   ) -> JudgedChange:
    """Store the facts of both versions where new (``prepared``: as the store keeps them, where they
    were made ahead); the ``changes`` columns of the judgement."""
    from policywatch.judge import diff_json

    old_label = f"{policy_id} v{baseline['number']} ({baseline['captured_at'][:10]})"
    new_label = f"{policy_id} v{version['number']} ({version['captured_at'][:10]})"
    payload = diff_json(diff, judgement, f"{policy_id} v{baseline['number']}", f"{policy_id} v{version['number']}")
    rules = load_rules()
    for stored, facts, rows in zip((baseline, version), (judgement.old_facts, judgement.new_facts), prepared,
                                   strict=True):
        if facts is not None and not store.has_facts(stored["id"], rules.fingerprint):
            store.put_facts(stored["id"], rules.fingerprint, rows or [f.to_row() for f in facts])
    columns = {"severity": judgement.severity, "material": int(judgement.material),
               "categories": json.dumps(judgement.categories), "summary": judgement.summary,
               "diff": json.dumps(payload, ensure_ascii=False), "baseline_version_id": baseline["id"]}
    return JudgedChange(diff, judgement, old_label, new_label, columns, baseline, version)


def page_header(store: Store, policy: dict, old: dict, new: dict, archive: Archive | None = None) -> PageHeader:
    """What heads a diff of two stored versions: the policy, its URL, capture and stated dates, and
    where each page can be seen as it was — an archive's copy where the version came from one (the
    archive of the import at hand, else the one configured), else the raw page this tool kept."""
    from policywatch.render import PageHeader

    header = PageHeader(policy=policy["name"], url=redact_page(policy["url"]), old_captured=_minute(old["captured_at"]),
                        new_captured=_minute(new["captured_at"]), old_stated=old.get("stated_date"),
                        new_stated=new.get("stated_date"))
    raw = []
    for label, version in (("previous", old), ("new", new)):
        copy = archived_copy(store, version, archive)
        if copy is not None:
            header.links.append((f"archived copy of the {label} version", copy))
        elif version.get("snapshot_sha256"):
            raw.append(f"policywatch show {policy['id']} --version {version['number']} --raw ({label})")
    if raw:
        header.notes.append("The page as fetched: " + "; ".join(raw))
    return header


def archived_copy(store: Store, version: dict, archive: Archive | None = None) -> str | None:
    """The archive's own replay of the capture a version came from, if it came from one (``archive``:
    the archive of the import at hand, else the one that capture names)."""
    from policywatch.archive import Archive
    from policywatch.errors import UsageError

    capture = store.archived_capture(version)
    if capture is None:
        return None
    try:
        where = archive if archive is not None and archive.cdx_url == capture["archive"] else \
            Archive.of_capture(capture["archive"])
    except UsageError:  # an archive whose replay address cannot be told from its CDX URL
        return None
    return where.copy_url(capture["original"], capture["timestamp"])


def _minute(timestamp: str) -> str:
    return timestamp[:16].replace("T", " ") + " UTC" if len(timestamp) >= 16 else timestamp


def version_facts(store: Store, version: dict) -> list[Fact]:
    """What a stored version says: its stored facts, or — after the lexicons changed — derived anew and stored."""
    from policywatch.document import Document
    from policywatch.judge import Fact, extract_facts

    rules = load_rules()
    rows = store.facts(version["id"], rules.fingerprint)
    if rows is not None:
        return [Fact.from_row(row) for row in rows]
    facts = extract_facts(Document.from_markdown(version["text"]), rules, memory=store)
    store.put_facts(version["id"], rules.fingerprint, [f.to_row() for f in facts])
    return facts


def find_or_add_version(store: Store, policy_id: str, normalized: Normalized, *, captured_at: str, source: str,
                        snapshot_sha256: str | None) -> tuple[dict, bool]:
    """The stored version with this text, or a new one; and whether it is new."""
    document = normalized.document
    existing = store.find_version(policy_id, document.sha256)
    if existing is not None:
        return existing, False
    text = normalized.markdown
    def before() -> str:
        """The text before: it tells whether this policy writes the day first, where this one does not."""
        state = store.state(policy_id)
        return store.version_by_id(state.current_version_id)["text"] if state and state.current_version_id else ""

    return store.add_version(
        policy_id, text=text, text_sha256=document.sha256, words=document.word_count,
        language=document.detected_language, title=normalized.title, captured_at=captured_at,
        source=source, snapshot_sha256=snapshot_sha256, normalizer=NORMALIZER_VERSION,
        stated_date=stated_date(text, load_rules(), context=before)), True


@dataclass
class _Entry:
    captured_at: str
    version_id: int
    source: str
    row: dict | None = None  # the stored change, if there is one
    observation_id: int | None = None


JUDGED = ("severity", "material", "categories", "summary", "diff", "baseline_version_id")


def merge_archive_history(store: Store, policy_id: str, profile: str) -> list[int]:
    """Rebuild the timeline from archive captures (``profile``'s) and live changes; call in a transaction.

    Returns the ids of changes that were not in the timeline before (for ``backfill --notify``).
    """
    live_start = store.live_start(policy_id)
    captures = store.archive_captures(policy_id, profile, before=live_start)
    stored = store.changes_of(policy_id)
    archived = {(row["captured_at"], row["version_id"]): row for row in stored if row["source"] == "wayback"}

    sizes = store.version_sizes(policy_id)
    entries: list[_Entry] = []
    for captured_at, version_id, observation_id in captures:
        if entries and entries[-1].version_id == version_id:
            continue
        if entries:
            # What a live check calls suspect, weighed here in time order (captures are fetched out
            # of it): another language's edition (served by the visitor's region), or under half the
            # text in effect before (a teaser, a landing page, a page whose text now comes from scripts).
            (words, language), (words_before, language_before) = sizes[version_id], sizes[entries[-1].version_id]
            if (language and language_before and language != language_before) or is_shrunk(words, words_before):
                continue
        entries.append(_Entry(captured_at, version_id, "wayback", archived.get((captured_at, version_id)),
                              observation_id))
    for row in stored:
        if row["source"] != "wayback":
            if entries and entries[-1].version_id == row["version_id"] and not row["technical"]:
                continue  # the archive already shows this text in effect: no change happened here
            entries.append(_Entry(row["captured_at"], row["version_id"], row["source"], row, row["observation_id"]))

    renumbered = _renumber(store, policy_id, entries)
    numbers = store.version_numbers(policy_id)
    kept = {entry.row["id"] for entry in entries if entry.row is not None}
    reviewed: dict[int, list[int]] = {}  # version → reviews of its changes that leave the timeline
    for row in stored:
        if row["id"] not in kept:
            reviewed.setdefault(row["version_id"], []).extend(store.delete_change(row["id"]))

    added: list[int] = []
    placed: dict[int, int] = {}  # version → the first change of the new timeline that puts it in effect
    seen: set[int] = set()
    previous: int | None = None
    alerted: int | None = None  # the version of the latest material change (or the first version)
    for entry in entries:
        returns = entry.version_id in seen
        values = {"previous_version_id": previous,
                  "returns_to": numbers[entry.version_id] if returns else None}
        row = entry.row
        technical = bool(row and row["technical"])
        if previous is None or technical:
            judged = {name: None for name in JUDGED} if previous is None else {}
        else:
            baseline = alerted if returns and alerted not in (None, entry.version_id) else previous
            reuse = (row is not None and not renumbered and row["baseline_version_id"] == baseline
                     and row["previous_version_id"] == previous and row["severity"] is not None)
            judged = ({} if reuse else
                      judge_change(store, policy_id, baseline, store.version_by_id(entry.version_id)).columns)
        values.update(judged)
        if row is None:
            change_id = store.add_change(policy_id=policy_id, version_id=entry.version_id,
                                         captured_at=entry.captured_at, source=entry.source,
                                         observation_id=entry.observation_id, **values)
            added.append(change_id)
            material = values.get("material")
        else:
            changed = {k: v for k, v in values.items() if row.get(k) != v}
            if changed:
                store.update_change(row["id"], changed)
            material = values.get("material", row["material"])
            change_id = row["id"]
        placed.setdefault(entry.version_id, change_id)
        if previous is None or material:
            alerted = entry.version_id
        seen.add(entry.version_id)
        previous = entry.version_id

    for version_id, reviews in reviewed.items():  # people's reviews follow their text's place in the timeline
        target = placed.get(version_id) or next(iter(placed.values()), None)
        if reviews and target is not None:
            store.move_reviews(reviews, target)
    for entry in entries:
        store.backdate_version(entry.version_id, entry.captured_at, entry.source)
    if live_start is None and entries:
        store.update_policy(policy_id, current_version_id=entries[-1].version_id)
    return added


def _renumber(store: Store, policy_id: str, entries: list[_Entry]) -> bool:
    """Number versions in order of first appearance in the timeline; say whether any number moved."""
    rows = store.numbered_versions(policy_id)
    first_seen: dict[int, str] = {}
    for entry in entries:
        first_seen.setdefault(entry.version_id, entry.captured_at)
    # Versions outside the timeline (texts replaced by a re-normalization) keep their place by date.
    order = sorted(rows, key=lambda r: (first_seen.get(r[0], r[2]), r[1]))
    wanted = {row[0]: number for number, row in enumerate(order, 1)}
    if all(wanted[row[0]] == row[1] for row in rows):
        return False
    store.renumber_versions(policy_id, wanted)
    return True
