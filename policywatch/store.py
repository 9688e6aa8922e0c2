"""The store stage (docs/architecture.md): every observation, raw snapshot, distinct version and change, in SQLite.

Tables (open the file in Datasette or ``sqlite-utils`` to browse them):

- ``policies``: one row per watched policy, with the state a check needs (current version,
  validators for conditional requests, the last raw and markup hashes for the fast paths,
  failure streak).
- ``runs``: one row per ``check`` / ``backfill`` / ``renormalize`` run.
- ``observations``: every fetch — time, status, final URL, ETag/Last-Modified, outcome, error.
- ``snapshots``: raw responses, de-duplicated by sha256; zstd (most as a delta from the policy's
  last page stored whole, ``base_sha256``), or zlib in databases from before migration 12.
- ``versions``: distinct normalized texts per policy, numbered 1, 2, …; the text compressed in
  ``text_z``: zstd with the raw page it was read from as dictionary (``text_base``), or zlib
  alone; full-text searchable through ``versions_fts`` (contentless, written by add_version).
- ``fact_texts`` / ``version_facts``: each distinct fact once, and each version's list of them
  (evidence sentences and section paths once each: ``fact_sentences``, ``fact_sections``);
  ``facts`` is a view with one row per fact of a version.
- ``changes``: the timeline — one row each time the text in effect changed (a return to an
  earlier text points at that earlier version and sets ``returns_to``).
- ``captures``: archive captures a backfill looked at, and what each held.
- ``outbox``: notifications, written with the change they announce, then delivered (per URL
  outcomes in ``deliveries``, URLs redacted).

Writes happen in one transaction per policy result, in WAL mode; a file lock keeps two
overlapping runs from writing at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from hashlib import sha256
from json.encoder import encode_basestring as _json_string  # what json.dumps(ensure_ascii=False) uses
from pathlib import Path
from typing import Any

import sqlite_utils
from filelock import FileLock, Timeout

from policywatch.errors import LockedError, PolicywatchError, UsageError

MIGRATIONS: list[str] = [
    # 1: the initial schema
    """
    CREATE TABLE policies (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        current_version_id INTEGER REFERENCES versions(id),
        last_raw_sha256 TEXT,
        last_profile TEXT,
        etag TEXT,
        last_modified TEXT,
        last_checked_at TEXT,
        last_outcome TEXT,
        failure_streak INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        pid INTEGER,
        counts TEXT,
        exit_code INTEGER
    );
    CREATE TABLE snapshots (
        sha256 TEXT PRIMARY KEY,
        content BLOB NOT NULL,
        compression TEXT NOT NULL,
        size INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        content_type TEXT,
        encoding TEXT,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        policy_id TEXT NOT NULL REFERENCES policies(id),
        number INTEGER NOT NULL,
        text_sha256 TEXT NOT NULL,
        text TEXT NOT NULL,
        words INTEGER NOT NULL,
        language TEXT,
        title TEXT,
        captured_at TEXT NOT NULL,
        source TEXT NOT NULL,
        snapshot_sha256 TEXT REFERENCES snapshots(sha256),
        normalizer INTEGER NOT NULL,
        UNIQUE (policy_id, number),
        UNIQUE (policy_id, text_sha256)
    );
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        policy_id TEXT NOT NULL REFERENCES policies(id),
        fetched_at TEXT NOT NULL,
        source TEXT NOT NULL,
        url TEXT NOT NULL,
        final_url TEXT,
        status INTEGER,
        etag TEXT,
        last_modified TEXT,
        outcome TEXT NOT NULL,
        reason TEXT,
        error TEXT,
        raw_sha256 TEXT,
        snapshot_sha256 TEXT REFERENCES snapshots(sha256),
        text_sha256 TEXT,
        version_id INTEGER REFERENCES versions(id),
        attempts INTEGER,
        elapsed_ms INTEGER
    );
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        policy_id TEXT NOT NULL REFERENCES policies(id),
        version_id INTEGER NOT NULL REFERENCES versions(id),
        previous_version_id INTEGER REFERENCES versions(id),
        observation_id INTEGER REFERENCES observations(id),
        captured_at TEXT NOT NULL,
        source TEXT NOT NULL,
        returns_to INTEGER,
        technical INTEGER NOT NULL DEFAULT 0,
        severity TEXT,
        material INTEGER,
        categories TEXT,
        summary TEXT,
        diff TEXT
    );
    CREATE INDEX observations_policy ON observations (policy_id, fetched_at);
    CREATE INDEX observations_run ON observations (run_id);
    CREATE INDEX changes_policy ON changes (policy_id, captured_at);
    CREATE INDEX versions_snapshot ON versions (snapshot_sha256);
    """,
    # 2: the date a version says it was last updated or took effect ("Last updated: …")
    """
    ALTER TABLE versions ADD COLUMN stated_date TEXT;
    """,
    # 3: archive captures looked at by backfill (what each one held, so a rerun fetches nothing twice)
    """
    CREATE TABLE captures (
        id INTEGER PRIMARY KEY,
        policy_id TEXT NOT NULL REFERENCES policies(id),
        archive TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        captured_at TEXT NOT NULL,
        original TEXT NOT NULL,
        digest TEXT,
        profile TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        text_sha256 TEXT,
        version_id INTEGER REFERENCES versions(id),
        snapshot_sha256 TEXT REFERENCES snapshots(sha256),
        observation_id INTEGER REFERENCES observations(id),
        run_id INTEGER REFERENCES runs(id),
        fetched_at TEXT NOT NULL
    );
    CREATE INDEX captures_policy ON captures (policy_id, timestamp);
    CREATE INDEX captures_digest ON captures (policy_id, digest);
    ALTER TABLE changes ADD COLUMN baseline_version_id INTEGER REFERENCES versions(id);
    """,
    # 4: the outbox — each notification is written with the change it announces, then delivered
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        policy_id TEXT REFERENCES policies(id),
        change_id INTEGER REFERENCES changes(id) ON DELETE SET NULL,
        target TEXT NOT NULL,
        kind TEXT NOT NULL,
        mode TEXT NOT NULL,
        severity TEXT,
        title TEXT NOT NULL,
        message TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        next_attempt_at TEXT,
        last_attempt_at TEXT,
        sent_at TEXT,
        error TEXT,
        deliveries TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX outbox_change_target ON outbox (change_id, target) WHERE change_id IS NOT NULL;
    CREATE INDEX outbox_status ON outbox (status, next_attempt_at);
    ALTER TABLE policies ADD COLUMN failing_since TEXT;
    ALTER TABLE policies ADD COLUMN failure_alerted INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: what each version says — its practice facts, derived by one set of lexicons (``rules``,
    # their fingerprint): re-derived when the lexicons change, like versions after a normalizer upgrade
    """
    CREATE TABLE facts (
        id INTEGER PRIMARY KEY,
        version_id INTEGER NOT NULL REFERENCES versions(id),
        rules TEXT NOT NULL,
        category TEXT NOT NULL,
        practice TEXT NOT NULL,
        polarity TEXT NOT NULL,
        value TEXT,
        shown TEXT,
        sensitive INTEGER NOT NULL,
        about TEXT,
        evidence TEXT NOT NULL,
        section TEXT NOT NULL,
        section_index INTEGER NOT NULL
    );
    CREATE INDEX facts_version ON facts (version_id, rules);
    CREATE INDEX facts_practice ON facts (category, practice, polarity);
    """,
    # 6: what each sentence says, by the lexicons' fingerprint: a new version re-reads only its new
    # sentences. A cache — dropping it loses nothing — pruned whenever the lexicons change.
    """
    CREATE TABLE sentence_analyses (
        rules TEXT NOT NULL,
        sentence BLOB NOT NULL,
        analysis TEXT NOT NULL,
        PRIMARY KEY (rules, sentence)
    ) WITHOUT ROWID;
    """,
    # 7: what people decided about a change: acknowledged, a false alarm, another severity. Every
    # review is kept (an audit trail); the latest one is the change's review status.
    """
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY,
        change_id INTEGER NOT NULL REFERENCES changes(id),
        created_at TEXT NOT NULL,
        action TEXT NOT NULL,
        severity TEXT,
        note TEXT,
        reviewer TEXT
    );
    CREATE INDEX reviews_change ON reviews (change_id, id);
    """,
    # 8: the response headers and redirects of a fetch that brought raw bytes (evidence of what the
    # server said; observations of unchanged bytes do not repeat them)
    """
    ALTER TABLE observations ADD COLUMN headers TEXT;
    ALTER TABLE observations ADD COLUMN redirects TEXT;
    """,
    # 9: the markup of the last page whose text was read, less what never reaches text
    # (normalize.markup_sha256): a page that serves new tokens on every request is not read again
    """
    ALTER TABLE policies ADD COLUMN last_markup_sha256 TEXT;
    """,
    # 10: facts stored once: a version's facts are a list of ids into ``fact_texts`` (the same fact,
    # evidence and place in many versions is one row), and ``facts`` is a view with the old columns.
    # A version's facts took about 100 kB as rows; consecutive versions share almost all of them.
    """
    CREATE TABLE fact_texts (
        id INTEGER PRIMARY KEY,
        key BLOB NOT NULL UNIQUE,
        category TEXT NOT NULL,
        practice TEXT NOT NULL,
        polarity TEXT NOT NULL,
        value TEXT,
        shown TEXT,
        sensitive INTEGER NOT NULL,
        about TEXT,
        evidence TEXT NOT NULL,
        section TEXT NOT NULL,
        section_index INTEGER NOT NULL
    );
    INSERT OR IGNORE INTO fact_texts (key, category, practice, polarity, value, shown, sensitive, about, evidence,
                                      section, section_index)
        SELECT policywatch_fact_key(category, practice, polarity, value, shown, sensitive, about, evidence, section,
                                    section_index),
               category, practice, polarity, value, shown, sensitive, about, evidence, section, section_index
        FROM facts ORDER BY id;
    CREATE TABLE version_facts (
        version_id INTEGER NOT NULL REFERENCES versions(id),
        rules TEXT NOT NULL,
        fact_ids TEXT NOT NULL,
        PRIMARY KEY (version_id, rules)
    ) WITHOUT ROWID;
    INSERT INTO version_facts (version_id, rules, fact_ids)
        SELECT version_id, rules, json_group_array(fact_id) FROM (
            SELECT f.version_id, f.rules, t.id AS fact_id FROM facts f
            JOIN fact_texts t ON t.key = policywatch_fact_key(f.category, f.practice, f.polarity, f.value, f.shown,
                                                              f.sensitive, f.about, f.evidence, f.section,
                                                              f.section_index)
            ORDER BY f.id)
        GROUP BY version_id, rules;
    DROP TABLE facts;
    CREATE INDEX fact_texts_practice ON fact_texts (category, practice, polarity);
    CREATE VIEW facts AS
        SELECT CAST(j.key AS INTEGER) AS id, v.version_id, v.rules, t.category, t.practice, t.polarity, t.value,
               t.shown, t.sensitive, t.about, t.evidence, t.section, t.section_index
        FROM version_facts v, json_each(v.fact_ids) j JOIN fact_texts t ON t.id = j.value;
    """,
    # 11: a version's text stored compressed (``text_z``, zlib; ``text`` left empty), and full-text
    # search as an index without a copy of the text (contentless FTS5, written by ``add_version``):
    # versions are never deleted or rewritten, so the index never needs the text back.
    """
    DROP TRIGGER IF EXISTS versions_ai;
    DROP TRIGGER IF EXISTS versions_ad;
    DROP TRIGGER IF EXISTS versions_au;
    DROP TABLE IF EXISTS versions_fts;
    CREATE VIRTUAL TABLE versions_fts USING FTS5 (text, tokenize='porter', content='');
    INSERT INTO versions_fts (rowid, text) SELECT id, text FROM versions;
    ALTER TABLE versions ADD COLUMN text_z BLOB;
    UPDATE versions SET text_z = policywatch_deflate(text), text = '';
    """,
    # 12: a raw page may be stored as the difference from an earlier page of the same policy
    # (zstd with that page as dictionary): consecutive captures of a page share almost every byte
    """
    ALTER TABLE snapshots ADD COLUMN base_sha256 TEXT REFERENCES snapshots(sha256);
    CREATE INDEX observations_snapshots ON observations (policy_id, id) WHERE snapshot_sha256 IS NOT NULL;
    """,
    # 13: the analysis memory keeps a row per text (a paragraph's sentences and its company names,
    # judge.facts.text_key), no longer one per sentence: the old rows would never be read again.
    """
    DELETE FROM sentence_analyses;
    """,
    # 14: no query reads fact_texts by practice (the view reaches it by id; a search by practice is a
    # LIKE '%…%', which no index serves): the index cost a fifth of the table's size.
    """
    DROP INDEX IF EXISTS fact_texts_practice;
    """,
    # 15: a fact's evidence sentence and section path are kept once each (``fact_sentences``,
    # ``fact_sections``): a sentence stating three facts, and a section holding forty, had repeated
    # them in every row (a third of the facts' room). The ``facts`` view keeps its columns.
    """
    CREATE TABLE fact_sentences (
        id INTEGER PRIMARY KEY,
        key BLOB NOT NULL UNIQUE,
        text TEXT NOT NULL
    );
    CREATE TABLE fact_sections (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE
    );
    INSERT OR IGNORE INTO fact_sentences (key, text)
        SELECT policywatch_sentence_key(evidence), evidence FROM fact_texts ORDER BY id;
    INSERT OR IGNORE INTO fact_sections (path) SELECT section FROM fact_texts ORDER BY id;
    CREATE TABLE fact_texts_15 (
        id INTEGER PRIMARY KEY,
        key BLOB NOT NULL UNIQUE,
        category TEXT NOT NULL,
        practice TEXT NOT NULL,
        polarity TEXT NOT NULL,
        value TEXT,
        shown TEXT,
        sensitive INTEGER NOT NULL,
        about TEXT,
        sentence_id INTEGER NOT NULL REFERENCES fact_sentences(id),
        section_id INTEGER NOT NULL REFERENCES fact_sections(id),
        section_index INTEGER NOT NULL
    );
    INSERT INTO fact_texts_15
        SELECT t.id, t.key, t.category, t.practice, t.polarity, t.value, t.shown, t.sensitive, t.about, s.id, p.id,
               t.section_index
        FROM fact_texts t JOIN fact_sentences s ON s.key = policywatch_sentence_key(t.evidence)
        JOIN fact_sections p ON p.path = t.section;
    DROP VIEW facts;
    DROP TABLE fact_texts;
    ALTER TABLE fact_texts_15 RENAME TO fact_texts;
    CREATE VIEW facts AS
        SELECT CAST(j.key AS INTEGER) AS id, v.version_id, v.rules, t.category, t.practice, t.polarity, t.value,
               t.shown, t.sensitive, t.about, s.text AS evidence, p.path AS section, t.section_index
        FROM version_facts v, json_each(v.fact_ids) j JOIN fact_texts t ON t.id = j.value
        JOIN fact_sentences s ON s.id = t.sentence_id JOIN fact_sections p ON p.id = t.section_id;
    """,
    # 16: a judged change's policywatch.diff/1 JSON is kept zlib-compressed (``diff_z``; ``diff``
    # left empty): its word edits made it the largest thing a change stored, four times its size.
    """
    ALTER TABLE changes ADD COLUMN diff_z BLOB;
    UPDATE changes SET diff_z = policywatch_deflate(diff), diff = NULL WHERE diff IS NOT NULL;
    """,
    # 17: pruning the evidence sentences and section paths no fact uses checks fact_texts' references
    # to them (foreign keys are on): without these indexes, one scan of fact_texts per row pruned.
    """
    CREATE INDEX IF NOT EXISTS fact_texts_sentence ON fact_texts (sentence_id);
    CREATE INDEX IF NOT EXISTS fact_texts_section ON fact_texts (section_id);
    """,
    # 18: a version's text may be stored against the raw page it was read from (``text_base``; zstd
    # with that page as dictionary): the text is mostly the page's own words, so it takes a fifth of
    # the room it takes alone. Texts stored before stay zlib (``text_base`` NULL).
    """
    ALTER TABLE versions ADD COLUMN text_base TEXT REFERENCES snapshots(sha256);
    """,
]


# The full-text index of versions (as sqlite-utils' enable_fts makes it), created with the first
# migration in the same transaction.
FTS_SQL = """
CREATE VIRTUAL TABLE "versions_fts" USING FTS5 ("text", tokenize='porter', content="versions");
CREATE TRIGGER "versions_ai" AFTER INSERT ON "versions" BEGIN
  INSERT INTO "versions_fts" (rowid, "text") VALUES (new.rowid, new."text");
END;
CREATE TRIGGER "versions_ad" AFTER DELETE ON "versions" BEGIN
  INSERT INTO "versions_fts" ("versions_fts", rowid, "text") VALUES('delete', old.rowid, old."text");
END;
CREATE TRIGGER "versions_au" AFTER UPDATE ON "versions" BEGIN
  INSERT INTO "versions_fts" ("versions_fts", rowid, "text") VALUES('delete', old.rowid, old."text");
  INSERT INTO "versions_fts" (rowid, "text") VALUES (new.rowid, new."text");
END;
INSERT INTO "versions_fts" ("versions_fts") VALUES ('rebuild')
"""  # the index as databases before migration 11 had it (migration 11 replaces it)
CONTENTLESS_FTS = "CREATE VIRTUAL TABLE versions_fts USING FTS5 (text, tokenize='porter', content='')"
TEXT_LEVEL = 6  # zlib level of versions' texts without a raw page: 9 is 4x slower for 3 % less
TEXT_ON_PAGE_LEVEL = 9  # zstd level of a text against its raw page: 5x smaller than zlib, and as fast
TEXT_PAGE_MOST = 2_000_000  # bytes: a larger page is not a text's dictionary (reading it would cost more)
SNAPSHOT_BASES = 4  # whole pages of a policy a new page is compared with (on real histories: 21 % less room than 1)
SNAPSHOT_LEVEL = 6  # zstd level of raw pages: 0.6 ms for a 60 kB page, as small as zlib's 9

FACT_COLUMNS = ("category", "practice", "polarity", "value", "shown", "sensitive", "about", "evidence", "section",
                "section_index")
# fact_texts' own columns: the evidence sentence and the section path are ids of rows kept once each
STORED_FACT_COLUMNS = (*FACT_COLUMNS[:FACT_COLUMNS.index("evidence")], "sentence_id", "section_id", "section_index")


ANALYSIS_DEFLATE_FROM = 100  # characters of an analysis's JSON from which compressing it saves room


def _deflate(text: str | None) -> bytes | None:
    return None if text is None else zlib.compress(text.encode("utf-8"), TEXT_LEVEL)


def _packed_diff(values: dict[str, Any]) -> dict[str, Any]:
    """A change's columns with its diff JSON compressed into ``diff_z`` (migration 16)."""
    if "diff" not in values:
        return values
    values = dict(values)
    values["diff_z"] = _deflate(values.pop("diff"))
    return values


def _inflate(packed: bytes | None) -> str | None:
    """The text ``_deflate`` packed (None stays None)."""
    return None if packed is None else zlib.decompress(packed).decode("utf-8")


def _damaged(path: Path | None, what: str, why: object) -> PolicywatchError:
    """A stored page or text that no longer decodes: one line naming the database and the row."""
    return PolicywatchError(f"{path or 'the database'}: the stored {what} is damaged ({why}); "
                            "restore the file from a backup")


def _zstd_pack(data: bytes, level: int, dictionary: bytes | None = None) -> bytes:
    """A zstd frame of ``data``, against ``dictionary`` (raw content) if given. With a checksum: a
    frame decoded against other bytes than its dictionary fails instead of coming back wrong."""
    import zstandard

    shared = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT) \
        if dictionary is not None else None
    return zstandard.ZstdCompressor(level=level, dict_data=shared, write_checksum=True).compress(data)


UNPACKED_MOST = 1 << 28  # no stored text is larger (a page's size is its row's): a frame saying so is damaged


def _zstd_unpack(packed: bytes, dictionary: bytes | None = None, size: int | None = None) -> bytes:
    """The bytes of a zstd frame; a frame whose header declares another size than ``size`` (or, for a
    text, an impossible one) raises ZstdError before anything is allocated for it."""
    import zstandard

    declared = zstandard.frame_content_size(packed)  # -1: not written in the frame
    wrong = declared > UNPACKED_MOST if size is None else declared not in (-1, size)
    if wrong:
        raise zstandard.ZstdError(f"its frame declares {declared} bytes" + (f", not {size}" if size else ""))
    shared = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT) \
        if dictionary is not None else None
    return zstandard.ZstdDecompressor(dict_data=shared).decompress(packed)


def fact_key(*values: Any) -> bytes:
    """What identifies a fact's row in ``fact_texts``: all of its columns, as ``json.dumps(values,
    ensure_ascii=False)`` writes them (written out here: a version stores a thousand facts)."""
    return fact_keys([values])[0]


def fact_keys(rows: Iterable[Sequence[Any]]) -> list[bytes]:
    """``fact_key`` of many facts: each string spelled once, though a version's facts share their
    evidence sentences, sections and categories."""
    spelled: dict[str, str] = {}

    def json_value(value: Any) -> str:
        if type(value) is str:
            found = spelled.get(value)
            if found is None:
                found = spelled[value] = _json_string(value)
            return found
        if value is None:
            return "null"
        if type(value) is int:
            return str(value)
        return json.dumps(value, ensure_ascii=False)  # never in a fact's columns; spelled as json.dumps would

    return [sha256(f"[{', '.join(map(json_value, row))}]".encode()).digest()[:16] for row in rows]


@dataclass(frozen=True)
class FactRows:
    """A version's facts as ``put_facts`` keeps them: their columns' values (FACT_COLUMNS) and keys
    (``fact_keys``). Made from ``Fact.to_row`` dicts wherever that is cheapest: a worker process
    that judged the version makes them off the writer's thread."""

    values: list[tuple]
    keys: list[bytes]

    @classmethod
    def of(cls, rows: list[dict]) -> FactRows:
        # A version that states no fact at all keeps one empty marker fact, so it is not re-derived.
        rows = rows or [{"category": "", "practice": "", "polarity": "", "sensitive": 0, "evidence": "",
                         "section": "[]", "section_index": -1}]
        values = [tuple(map(row.get, FACT_COLUMNS)) for row in rows]
        return cls(values, fact_keys(values))


def packed_analyses(analyses: dict[bytes, str]) -> dict[bytes, str | bytes]:
    """Analyses as ``sentence_analyses`` keeps them: a long one zlib-compressed (a BLOB; its JSON
    repeats practice names), a short one as it is."""
    return {key: _deflate(value) if isinstance(value, str) and len(value) >= ANALYSIS_DEFLATE_FROM else value
            for key, value in analyses.items()}


def sentence_key(text: str) -> bytes:
    """What identifies an evidence sentence's row in ``fact_sentences``."""
    return sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


MIGRATION_WAIT = 120.0  # seconds to wait for another run's upgrade of the same database


def _other_applications_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables of a SQLite file that policywatch never made its schema in (user_version 0): an
    other application's database, reached by a mistyped --db, which must not be written to."""
    if conn.execute("PRAGMA user_version").fetchone()[0]:
        return []
    return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def _set_wal(db: sqlite_utils.Database) -> None:
    """Switch to WAL. Switching needs the file to itself and SQLite does not wait for that (no busy
    handler): while another run creates the same new database, ask again for a while."""
    for attempt in range(300):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 299:
                raise
            time.sleep(0.1)


def database_problem(path: Path | None, exc: Exception) -> str:
    """What an SQLite error means for the user, in one line: what is wrong, and what to do."""
    text, where = str(exc), f"{path}: " if path else ""
    if "malformed" in text:
        return (f"{where}the database file is damaged ({text}); nothing was changed. Restore a backup, or "
                "try `sqlite3 FILE .recover`")
    if "not a database" in text or "encrypted" in text:
        return f"{where}not a policywatch database ({text})"
    if "disk is full" in text or "disk I/O" in text:
        return f"{where}{text}: free some space and run again; what was stored before is intact"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return f"{where}cannot write the database ({text}): check the permissions of the file and its folder"
    return f"{where}database error: {text}"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PolicyState:
    """What a check needs to know about a policy before fetching it."""

    id: str
    current_version_id: int | None
    current_number: int | None
    current_sha256: str | None
    current_words: int | None
    current_language: str | None
    last_raw_sha256: str | None
    last_profile: str | None
    etag: str | None
    last_modified: str | None
    failure_streak: int
    failing_since: str | None = None
    failure_alerted: bool = False
    last_markup_sha256: str | None = None


class Batch:
    """Units of work (each a transaction of its own, a savepoint here) committed together.

    Call ``done()`` after each unit: what is done commits after ``most`` units or ``seconds``;
    and call ``commit()`` when idle (waiting for the next unit), so that nothing done waits long
    uncommitted. A crash loses at most the units not yet committed, each whole.
    """

    MARK = "policywatch_batch"  # a savepoint after the last unit done: what an exception rolls back to

    def __init__(self, conn: sqlite3.Connection | None, most: int, seconds: float,
                 clock: Callable[[], float] = time.monotonic):
        self.conn, self.most, self.seconds, self.clock = conn, most, seconds, clock
        self.units, self.since = 0, clock()

    def done(self) -> None:
        self.units += 1
        if self.units >= self.most or self.clock() - self.since >= self.seconds:
            self.commit()
        elif self.conn is not None and self.conn.in_transaction:
            self.conn.execute(f"RELEASE {self.MARK}")
            self.conn.execute(f"SAVEPOINT {self.MARK}")

    def commit(self) -> None:
        if self.conn is None or not self.units:
            return
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self.units, self.since = 0, self.clock()
        self.begin()

    def begin(self) -> None:
        if self.conn is not None:
            self.conn.execute("BEGIN")
            self.conn.execute(f"SAVEPOINT {self.MARK}")

    def end(self, failed: bool) -> None:
        """Commit the units done; after an exception, nothing of a unit left half done (its own
        savepoint undoes it, unless the exception came while it was being undone)."""
        if self.conn is None or not self.conn.in_transaction:
            return  # nested in an outer transaction, or an error ended the transaction (and its units)
        if failed:
            self.conn.execute(f"ROLLBACK TO {self.MARK}")
        self.conn.execute("COMMIT")


class Store:
    """The policywatch database. ``Store.open(path)``; use ``with store.writer(): …`` to write."""

    def __init__(self, db: sqlite_utils.Database, path: Path | None):
        self.db = db
        self.path = path
        self._lock: FileLock | None = None
        self._savepoints = 0  # savepoints opened so far: each gets a name of its own
        self._prune_facts = False
        self._last_page: tuple[str, bytes] | None = None  # (sha256, bytes) of the raw page put or read last
        db.conn.create_function("policywatch_fact_key", len(FACT_COLUMNS), fact_key, deterministic=True)
        db.conn.create_function("policywatch_deflate", 1, _deflate, deterministic=True)
        db.conn.create_function("policywatch_sentence_key", 1, sentence_key, deterministic=True)

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = True) -> Store:
        path = Path(path)
        if not path.exists():
            if not create:
                raise UsageError(f"{path}: no database yet (run `policywatch check` first, or give --db)")
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            if others := _other_applications_tables(conn):
                conn.close()
                if {"policies", "versions", "snapshots"} <= set(others):  # ours, its schema version lost
                    raise PolicywatchError(f"{path}: a policywatch database whose schema version was lost (copied "
                                           "with sqlite3 .dump?); nothing was changed: restore it from the file, or "
                                           "copy it with .backup or .recover, which keep the version")
                raise PolicywatchError(f"{path}: not a policywatch database (it holds another application's tables: "
                                       f"{', '.join(others[:3])}{', …' if len(others) > 3 else ''}); nothing was "
                                       "changed: give another --db")
            db = sqlite_utils.Database(conn)
            _set_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            if not create and ("readonly" in str(exc) or "unable to open" in str(exc)):
                return cls._open_read_only(path, exc)
            raise PolicywatchError(database_problem(path, exc)) from None
        store = cls(db, path)
        store._migrate()
        return store

    @classmethod
    def _open_read_only(cls, path: Path, why: Exception) -> Store:
        """A database in a folder this user cannot write: commands that only read still work."""
        try:
            # immutable: no -wal/-shm files can be made here, and no one can be writing either.
            conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            store = cls(sqlite_utils.Database(conn), path)
            current = store._schema()
        except (sqlite3.DatabaseError, PolicywatchError) as exc:
            raise PolicywatchError(f"{path}: cannot open the database ({why}; read-only: {exc})") from None
        if current != len(MIGRATIONS) or not store._has_fts():
            raise PolicywatchError(f"{path}: the database needs upgrading and cannot be written ({why})")
        return store

    @classmethod
    def reader(cls, path: str | os.PathLike) -> Store:
        """A connection that only reads a database another connection may be writing (a worker
        process judging ahead for the run that writes: see timeline.judge_ahead)."""
        try:
            conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=30,
                                   check_same_thread=False)
            return cls(sqlite_utils.Database(conn), Path(path))
        except sqlite3.DatabaseError as exc:
            raise PolicywatchError(database_problem(Path(path), exc)) from None

    @classmethod
    def memory(cls) -> Store:
        store = cls(sqlite_utils.Database(memory=True), None)
        store._migrate()
        return store

    def close(self) -> None:
        if self._prune_facts:
            self.prune_facts()
        self.release()
        self.db.conn.close()

    def prune_facts(self) -> int:
        """Drop the fact texts no version's list uses (after a re-derivation under new lexicons)."""
        self._prune_facts = False
        try:
            with self.transaction():
                pruned = self.db.execute("DELETE FROM fact_texts WHERE id NOT IN (SELECT j.value FROM version_facts v,"
                                         " json_each(v.fact_ids) j)").rowcount
                if pruned:
                    self.db.execute("DELETE FROM fact_sentences WHERE id NOT IN (SELECT sentence_id FROM fact_texts)")
                    self.db.execute("DELETE FROM fact_sections WHERE id NOT IN (SELECT section_id FROM fact_texts)")
                return pruned
        except sqlite3.Error:  # read-only, or busy: what is left is pruned by a later run
            return 0

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _schema(self) -> int:
        try:
            current = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise PolicywatchError(database_problem(self.path, exc)) from None
        if current > len(MIGRATIONS):
            raise PolicywatchError(f"{self.path}: made by a newer policywatch (schema {current}); upgrade first")
        return current

    def _migrate(self) -> None:
        """Bring the schema up to date: under the write lock, one BEGIN IMMEDIATE transaction a step.

        Two runs opening a new database at the same moment: the second waits for the first to
        finish migrating, then finds nothing left to do. A step is all or nothing, the full-text
        index included, so a kill mid-way leaves the schema before or after it, never between.
        """
        if self._schema() == len(MIGRATIONS) and self._has_fts():
            return
        with self.writer(wait=MIGRATION_WAIT):
            for number in range(self._schema(), len(MIGRATIONS)):
                script = MIGRATIONS[number] + (FTS_SQL if number == 0 else "")
                self.db.conn.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={number + 1}; COMMIT;")
            if not self._has_fts():  # made by an older policywatch killed between two steps: repair
                with self.transaction():
                    self.db.execute(CONTENTLESS_FTS)
                    rows = self.db.execute("SELECT id, text, text_z, text_base FROM versions").fetchall()
                    for version_id, text, packed, base in rows:
                        plain = self._unpack_text(packed, base, version_id) if packed is not None else text
                        self.db.execute("INSERT INTO versions_fts (rowid, text) VALUES (?, ?)", [version_id, plain])

    def _has_fts(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'versions_fts'").fetchone() is not None

    # -- locking and transactions ---------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, wait: float = 0) -> Iterator[Store]:
        """Hold the database's write lock: a second run fails (after ``wait`` seconds) instead of interleaving.

        Re-entrant: a block already holding the lock may enter another.
        """
        if self.path is None or self._lock is not None:
            yield self
            return
        lock = FileLock(str(self.path) + ".lock")
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise LockedError(f"{self.path}: another policywatch run is writing to this database; "
                              "try again when it has finished") from None
        self._lock = lock
        try:
            yield self
        finally:
            self.release()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (nested blocks become savepoints)."""
        conn = self.db.conn
        if not conn.in_transaction:
            with self.db.atomic():
                yield
            return
        # Not sqlite-utils' nested atomic(): it names each savepoint from the system's random source,
        # a system call per policy in a batch (see batch).
        self._savepoints += 1
        name = f"policywatch_{self._savepoints}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # an error may have ended the whole transaction already
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {name}")

    @contextlib.contextmanager
    def batch(self, most: int = 200, seconds: float = 1.0,
              clock: Callable[[], float] = time.monotonic) -> Iterator[Batch]:
        """Let many small transactions (one per policy) commit together: a commit cost more than
        recording an unchanged page. See ``Batch``; what is done commits at the end of the block,
        also by an exception (a unit that failed was already undone by its own transaction, now a
        savepoint)."""
        conn = self.db.conn
        batch = Batch(None if conn.in_transaction else conn, most, seconds, clock)
        batch.begin()  # inside a transaction already, the batch does nothing: that one decides
        failed = True
        try:
            yield batch
            failed = False
        finally:
            try:
                batch.end(failed)
            except BaseException:
                self.db.rollback()
                raise

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """Plain INSERT: sqlite-utils' insert() inspects the table on every call, too slow per fetch."""
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        return self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())).lastrowid

    def _update(self, table: str, key: Any, values: dict[str, Any]) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        self.db.execute(f"UPDATE {table} SET {assignments} WHERE id = ?", [*values.values(), key])

    # -- runs -----------------------------------------------------------------------------------
    def start_run(self, command: str) -> int:
        with self.transaction():
            return self._insert("runs", {"command": command, "started_at": now(), "pid": os.getpid()})

    def finish_run(self, run_id: int, counts: dict[str, int], exit_code: int) -> None:
        with self.transaction():
            self._update("runs", run_id, {"finished_at": now(), "counts": json.dumps(counts),
                                          "exit_code": exit_code})

    # -- policies -------------------------------------------------------------------------------
    def ensure_policy(self, policy_id: str, name: str, url: str) -> None:
        self.db.execute(
            "INSERT INTO policies (id, name, url, first_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name = excluded.name, url = excluded.url"
            " WHERE name IS NOT excluded.name OR url IS NOT excluded.url",  # most runs: no write at all
            [policy_id, name, url, now()],
        )

    def ensure_policies(self, policies: Iterable[tuple[str, str, str]]) -> None:
        """``ensure_policy`` of many ``(id, name, url)``: one read, and a write only where one is needed."""
        known = {row[0]: (row[1], row[2]) for row in self.db.execute("SELECT id, name, url FROM policies")}
        for policy_id, name, url in policies:
            if known.get(policy_id) != (name, url):
                self.ensure_policy(policy_id, name, url)

    _STATE = ("SELECT p.id, p.current_version_id, v.number, v.text_sha256, v.words, v.language, p.last_raw_sha256,"
              " p.last_profile, p.etag, p.last_modified, p.failure_streak, p.failing_since, p.failure_alerted,"
              " p.last_markup_sha256 FROM policies p LEFT JOIN versions v ON v.id = p.current_version_id")

    def state(self, policy_id: str) -> PolicyState | None:
        row = self.db.execute(f"{self._STATE} WHERE p.id = ?", [policy_id]).fetchone()
        return PolicyState(*row) if row else None

    def states(self) -> dict[str, PolicyState]:
        """``state`` of every stored policy, in one query (a check of ten thousand asks them all)."""
        return {row[0]: PolicyState(*row) for row in self.db.execute(self._STATE)}

    def update_policy(self, policy_id: str, **values: Any) -> None:
        self._update("policies", policy_id, values)

    def policy_rows(self) -> dict[str, dict]:
        """Every stored policy with its current version number and version count."""
        rows = self.db.query(
            "SELECT p.*, v.number AS current_number, v.captured_at AS current_since,"
            " (SELECT COUNT(*) FROM versions WHERE policy_id = p.id) AS versions"
            " FROM policies p LEFT JOIN versions v ON v.id = p.current_version_id")
        return {row["id"]: row for row in rows}

    def failing_reasons(self) -> dict[str, str]:
        """Why each failing policy failed last (its latest failed or suspect observation's reason)."""
        rows = self.db.execute(
            "SELECT p.id, (SELECT reason FROM observations o WHERE o.policy_id = p.id"
            " AND o.outcome IN ('failed', 'suspect') ORDER BY o.fetched_at DESC, o.id DESC LIMIT 1)"
            " FROM policies p WHERE p.failure_streak > 0").fetchall()
        return {policy_id: reason for policy_id, reason in rows if reason}

    # -- snapshots ------------------------------------------------------------------------------
    def put_snapshot(self, content: bytes, content_type: str | None = None, encoding: str | None = None,
                     policy_id: str | None = None) -> str:
        """Keep a raw page once (by sha256). Given its policy, it is stored as its difference from the
        one of that policy's latest pages stored whole (SNAPSHOT_BASES) it differs least from, when
        that is under half the size of the page compressed alone."""
        digest = sha256(content).hexdigest()
        just_read = self._last_page is not None and self._last_page[0] == digest  # by snapshot(): it is sound
        self._last_page = (digest, bytes(content))  # the text read from it is stored against it (add_version)
        if self.db.execute("SELECT 1 FROM snapshots WHERE sha256 = ?", [digest]).fetchone() is not None:
            try:
                if not just_read:
                    self.snapshot(digest)
                return digest
            except PolicywatchError:  # kept damaged: these are its bytes (same sha256), stored whole again
                packed = _zstd_pack(content, SNAPSHOT_LEVEL)
                self.db.execute("UPDATE snapshots SET content = ?, compression = 'zstd', stored_size = ?,"
                                " base_sha256 = NULL WHERE sha256 = ?", [packed, len(packed), digest])
                return digest
        whole = _zstd_pack(content, SNAPSHOT_LEVEL)
        packed, compression, base = whole, "zstd", None
        for candidate in self._snapshot_bases(policy_id) if policy_id else ():
            try:
                base_page = self.snapshot(candidate)[0]
            except PolicywatchError:
                # A damaged page is no base: monitoring goes on, storing this page without it; reading
                # the damaged one still says it is damaged.
                continue
            delta = _zstd_pack(content, SNAPSHOT_LEVEL, base_page)
            if len(delta) < len(whole) / 2 and len(delta) < len(packed):
                packed, compression, base = delta, "zstd-delta", candidate
        # else this page is stored whole, and becomes a base
        self._insert("snapshots", {
            "sha256": digest, "content": packed, "compression": compression, "size": len(content),
            "stored_size": len(packed), "content_type": content_type, "encoding": encoding, "first_seen": now(),
            "base_sha256": base,
        })
        return digest

    def _snapshot_bases(self, policy_id: str) -> list[str]:
        """The latest raw pages of a policy stored whole, newest first: what its next page may be stored
        against. More than one, because a site can serve two templates by turns (an A/B test, a
        redesign rolled out and back) and a backfill fetches captures out of time order."""
        return [row[0] for row in self.db.execute(
            "SELECT o.snapshot_sha256 FROM observations o JOIN snapshots s ON s.sha256 = o.snapshot_sha256"
            " WHERE o.policy_id = ? AND o.snapshot_sha256 IS NOT NULL AND s.base_sha256 IS NULL"
            " GROUP BY o.snapshot_sha256 ORDER BY MAX(o.id) DESC LIMIT ?", [policy_id, SNAPSHOT_BASES])]

    def snapshot(self, digest: str) -> tuple[bytes, str | None, str | None]:
        row = self.db.execute("SELECT content, compression, content_type, encoding, base_sha256, size FROM snapshots"
                              " WHERE sha256 = ?", [digest]).fetchone()
        if row is None:
            raise KeyError(digest)
        packed, compression, content_type, encoding, base, size = row
        import zstandard

        try:
            if compression == "zlib":
                content = zlib.decompress(packed)
            else:  # a base is always stored whole: one step back at most
                content = _zstd_unpack(packed, self.snapshot(base)[0] if base is not None else None, size)
        except KeyError:
            raise _damaged(self.path, f"raw page {digest}", f"its base {base} is missing") from None
        except (zlib.error, zstandard.ZstdError) as exc:
            raise _damaged(self.path, f"raw page {digest}", exc) from None
        if sha256(content).hexdigest() != digest:  # content-addressed: what comes back is what went in
            raise _damaged(self.path, f"raw page {digest}", "its bytes no longer match their sha256")
        self._last_page = (digest, content)  # a backfill deriving it again stores it again (put_snapshot)
        return content, content_type, encoding

    # -- versions and changes -------------------------------------------------------------------
    def find_version(self, policy_id: str, text_sha256: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM versions WHERE policy_id = ? AND text_sha256 = ?",
                                  [policy_id, text_sha256]))
        return self._with_text(rows[0]) if rows else None

    def add_version(self, policy_id: str, *, text: str, text_sha256: str, words: int, language: str | None,
                    title: str | None, captured_at: str, source: str, snapshot_sha256: str | None,
                    normalizer: int, stated_date: str | None = None) -> dict:
        number = self.db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM versions WHERE policy_id = ?",
                                 [policy_id]).fetchone()[0]
        packed, base = self._pack_text(text, snapshot_sha256)
        row = {"policy_id": policy_id, "number": number, "text_sha256": text_sha256, "text": "",
               "text_z": packed, "text_base": base, "words": words, "language": language, "title": title,
               "captured_at": captured_at, "source": source, "snapshot_sha256": snapshot_sha256,
               "normalizer": normalizer, "stated_date": stated_date}
        row["id"] = self._insert("versions", row)
        self.db.execute("INSERT INTO versions_fts (rowid, text) VALUES (?, ?)", [row["id"], text])
        del row["text_z"], row["text_base"]
        row["text"] = text
        return row

    def _pack_text(self, text: str, page_sha256: str | None) -> tuple[bytes, str | None]:
        """A version's text compressed, and the raw page it is stored against (migration 18): the
        page it was read from when that page is stored (and not huge), else none (zlib alone). The
        frame has a checksum: read against other bytes, a text fails loudly instead of coming back
        wrong (a raw dictionary has no id that zstd could check)."""
        page = None
        if page_sha256 is not None:
            if self._last_page is not None and self._last_page[0] == page_sha256:
                page = self._last_page[1]
            else:
                with contextlib.suppress(KeyError, PolicywatchError):  # none, or damaged: the text alone
                    page = self.snapshot(page_sha256)[0]
        if page is None or len(page) > TEXT_PAGE_MOST:
            return _deflate(text), None
        return _zstd_pack(text.encode("utf-8"), TEXT_ON_PAGE_LEVEL, page), page_sha256

    def _unpack_text(self, packed: bytes, base: str | None, version_id: int | None = None) -> str:
        """The text ``_pack_text`` packed."""
        import zstandard

        try:
            if base is None:
                return zlib.decompress(packed).decode("utf-8")
            return _zstd_unpack(packed, self.snapshot(base)[0]).decode("utf-8")
        except KeyError:
            raise _damaged(self.path, f"text of version id {version_id}", f"its raw page {base} is missing") from None
        except (zlib.error, zstandard.ZstdError, UnicodeDecodeError) as exc:
            raise _damaged(self.path, f"text of version id {version_id}", exc) from None

    def _with_text(self, row: dict) -> dict:
        """A ``versions`` row with its text, decompressed from ``text_z`` (and ``text_base``)."""
        packed, base = row.pop("text_z", None), row.pop("text_base", None)
        if packed is not None:
            row["text"] = self._unpack_text(packed, base, row.get("id"))
        return row

    def add_change(self, **values: Any) -> int:
        """Add a change to the timeline; ``diff`` (its policywatch.diff/1 JSON) is kept compressed."""
        if isinstance(values.get("categories"), list):
            values["categories"] = json.dumps(values["categories"])
        return self._insert("changes", _packed_diff(values))

    def add_observation(self, **values: Any) -> int:
        return self._insert("observations", values)

    def version(self, policy_id: str, number: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM versions WHERE policy_id = ? AND number = ?", [policy_id, number]))
        return self._with_text(rows[0]) if rows else None

    def facts(self, version_id: int, rules: str) -> list[dict] | None:
        """The stored facts of a version as derived by lexicons ``rules`` (a fingerprint); None if not yet."""
        rows = list(self.db.query("SELECT * FROM facts WHERE version_id = ? AND rules = ? ORDER BY id",
                                  [version_id, rules]))
        return [r for r in rows if r["category"]] if rows else None

    def has_facts(self, version_id: int, rules: str) -> bool:
        """Are a version's facts stored as derived by lexicons ``rules``?"""
        return self.db.execute("SELECT 1 FROM version_facts WHERE version_id = ? AND rules = ?",
                               [version_id, rules]).fetchone() is not None

    def put_facts(self, version_id: int, rules: str, rows: list[dict] | FactRows) -> None:
        """Replace a version's facts (derived by older lexicons too) in one transaction."""
        prepared = rows if isinstance(rows, FactRows) else FactRows.of(rows)
        values, keys = prepared.values, prepared.keys
        with self.transaction():
            stale = self.db.execute("SELECT COUNT(*) FROM version_facts WHERE version_id = ? AND rules != ?",
                                    [version_id, rules]).fetchone()[0]
            self.db.execute("DELETE FROM version_facts WHERE version_id = ?", [version_id])
            # Most facts of a new version were stated by the one before: only the others are written.
            ids = self._fact_ids(keys)
            missing = {key: value for key, value in zip(keys, values, strict=True) if key not in ids}
            if missing:
                evidence, section = FACT_COLUMNS.index("evidence"), FACT_COLUMNS.index("section")
                sentences = self._sentence_ids([value[evidence] for value in missing.values()])
                sections = self._section_ids([value[section] for value in missing.values()])
                stored = [(key, *value[:evidence], sentences[value[evidence]], sections[value[section]],
                           *value[section + 1:]) for key, value in missing.items()]
                # executemany: sqlite-utils' insert_all inspects every value, ten times slower for a large policy
                self.db.conn.executemany(
                    f"INSERT OR IGNORE INTO fact_texts (key, {', '.join(STORED_FACT_COLUMNS)}) "
                    f"VALUES (?, {', '.join('?' for _ in STORED_FACT_COLUMNS)})", stored)
                ids.update(self._fact_ids(list(missing)))
            self.db.execute("INSERT INTO version_facts (version_id, rules, fact_ids) VALUES (?, ?, ?)",
                            [version_id, rules, json.dumps([ids[key] for key in keys])])
            if stale:  # facts of older lexicons may be used by no version now: pruned once, at close
                self._prune_facts = True

    def _sentence_ids(self, texts: list[str]) -> dict[str, int]:
        """The ``fact_sentences`` ids of these evidence sentences, stored first where missing."""
        keys = {sentence_key(text): text for text in texts}
        self.db.conn.executemany("INSERT OR IGNORE INTO fact_sentences (key, text) VALUES (?, ?)", keys.items())
        return {keys[key]: id for key, id in self._lookup("fact_sentences", "key", list(keys)).items()}

    def _section_ids(self, paths: list[str]) -> dict[str, int]:
        """The ``fact_sections`` ids of these section paths (JSON), stored first where missing."""
        unique = list(dict.fromkeys(paths))
        self.db.conn.executemany("INSERT OR IGNORE INTO fact_sections (path) VALUES (?)", [(p,) for p in unique])
        return self._lookup("fact_sections", "path", unique)

    def _lookup(self, table: str, column: str, values: list) -> dict:
        """``{value: id}`` of the rows of ``table`` whose unique ``column`` holds one of ``values``."""
        ids: dict = {}
        for start in range(0, len(values), 500):  # SQLite's bound-parameter limit
            chunk = values[start:start + 500]
            ids.update(self.db.execute(f"SELECT {column}, id FROM {table} WHERE {column} IN "
                                       f"({', '.join('?' * len(chunk))})", chunk).fetchall())
        return ids

    def _fact_ids(self, keys: list[bytes]) -> dict[bytes, int]:
        return self._lookup("fact_texts", "key", list(dict.fromkeys(keys)))

    def sentence_analyses(self, rules: str, keys: list[bytes]) -> dict[bytes, str]:
        """What the memory holds under these keys (``judge.facts.text_key``, ``names_key``) for lexicons ``rules``."""
        found: dict[bytes, str] = {}
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            for key, analysis in self.db.execute(
                    f"SELECT sentence, analysis FROM sentence_analyses WHERE rules = ? AND sentence IN"
                    f" ({', '.join('?' for _ in chunk)})", [rules, *chunk]):
                found[key] = _inflate(analysis) if isinstance(analysis, bytes) else analysis
        return found

    def put_sentence_analyses(self, rules: str, analyses: dict[bytes, str | bytes]) -> None:
        """Remember what texts say (``judge.facts.text_key``, ``names_key``), replacing what was kept under the
        same key; what other lexicons said is dropped (it can never be read again). ``analyses`` may be
        ``packed_analyses`` already."""
        with self.transaction():
            self.db.execute("DELETE FROM sentence_analyses WHERE rules < ? OR rules > ?", [rules, rules])
            self.db.conn.executemany("INSERT OR REPLACE INTO sentence_analyses (rules, sentence, analysis)"
                                     " VALUES (?, ?, ?)",
                                     [(rules, k, v) for k, v in packed_analyses(analyses).items()])

    def version_by_id(self, version_id: int) -> dict:
        return self._with_text(next(self.db.query("SELECT * FROM versions WHERE id = ?", [version_id])))

    def timeline(self, policy_id: str) -> list[dict]:
        """The texts in effect over time, oldest first (``policywatch.history/1`` in docs/json.md)."""
        return list(self.db.query(
            "SELECT c.*, v.number AS version, v.text_sha256, v.words, v.stated_date, pv.number AS previous_version"
            " FROM changes c JOIN versions v ON v.id = c.version_id"
            " LEFT JOIN versions pv ON pv.id = c.previous_version_id"
            " WHERE c.policy_id = ? ORDER BY c.captured_at, c.id", [policy_id]))

    # -- reviews ----------------------------------------------------------------------------------
    def add_review(self, change_id: int, action: str, *, severity: str | None = None, note: str | None = None,
                   reviewer: str | None = None) -> dict:
        """Record a review of a change (never edits an earlier one)."""
        row = {"change_id": change_id, "created_at": now(), "action": action, "severity": severity, "note": note,
               "reviewer": reviewer}
        with self.transaction():
            row["id"] = self._insert("reviews", row)
        return row

    def reviews(self, change_ids: list[int]) -> dict[int, list[dict]]:
        """Every review of these changes, oldest first, by change id."""
        found: dict[int, list[dict]] = {}
        for start in range(0, len(change_ids), 500):
            chunk = change_ids[start:start + 500]
            for row in self.db.query(f"SELECT * FROM reviews WHERE change_id IN ({', '.join('?' for _ in chunk)})"
                                     " ORDER BY id", chunk):
                found.setdefault(row["change_id"], []).append(row)
        return found

    def unreviewed_material_changes(self) -> list[dict]:
        """Material changes nobody has reviewed yet, with their policy and version numbers."""
        return list(self.db.query(
            "SELECT c.*, p.name AS policy_name, v.number AS version, pv.number AS previous_version,"
            # ID@N names the latest change to version N: another change may be reviewed by its id only
            " NOT EXISTS (SELECT 1 FROM changes l WHERE l.policy_id = c.policy_id AND l.version_id = c.version_id"
            " AND l.technical = 0 AND (l.captured_at > c.captured_at OR (l.captured_at = c.captured_at"
            " AND l.id > c.id))) AS latest_to_version"
            " FROM changes c JOIN policies p ON p.id = c.policy_id JOIN versions v ON v.id = c.version_id"
            " LEFT JOIN versions pv ON pv.id = c.previous_version_id"
            " WHERE c.material = 1 AND c.technical = 0"
            " AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.change_id = c.id) ORDER BY c.captured_at, c.id"))

    def changes_between(self, since: str | None = None, until: str | None = None) -> list[dict]:
        """Every change to a new text (not a first version, not a re-derivation) captured in a period,
        oldest first, with its policy's name and URL and both version numbers."""
        return list(self.db.query(
            "SELECT c.*, p.name AS policy_name, p.url AS policy_url, v.number AS version, v.stated_date,"
            " v.text_sha256, pv.number AS previous_version FROM changes c JOIN policies p ON p.id = c.policy_id"
            " JOIN versions v ON v.id = c.version_id LEFT JOIN versions pv ON pv.id = c.previous_version_id"
            " WHERE c.previous_version_id IS NOT NULL AND c.technical = 0 AND c.captured_at >= ? AND c.captured_at <= ?"
            " ORDER BY c.captured_at, c.id", [since or "", until or "9999"]))

    def troubles_between(self, since: str | None = None, until: str | None = None) -> list[dict]:
        """Policies whose checks failed or were suspect in a period: how often, and the last reason."""
        return list(self.db.query(
            "SELECT o.policy_id, p.name AS policy_name, p.url AS policy_url,"
            " SUM(o.outcome = 'failed') AS failed, SUM(o.outcome = 'suspect') AS suspect,"
            " MAX(o.fetched_at) AS last_at, p.last_outcome,"
            " (SELECT COALESCE(l.reason, l.outcome) FROM observations l WHERE l.policy_id = o.policy_id"
            "  AND l.outcome IN ('failed', 'suspect') AND l.fetched_at >= ? AND l.fetched_at <= ?"
            "  ORDER BY l.fetched_at DESC, l.id DESC LIMIT 1) AS reason"
            " FROM observations o JOIN policies p ON p.id = o.policy_id"
            " WHERE o.outcome IN ('failed', 'suspect') AND o.source != 'wayback' AND o.fetched_at >= ?"
            " AND o.fetched_at <= ? GROUP BY o.policy_id ORDER BY o.policy_id",
            [since or "", until or "9999"] * 2))

    def change_diff(self, change_id: int) -> str | None:
        """A change's stored ``policywatch.diff/1`` JSON (its fact changes with their evidence)."""
        row = self.db.execute("SELECT diff_z FROM changes WHERE id = ?", [change_id]).fetchone()
        return _inflate(row[0]) if row else None

    def change_by_id(self, change_id: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM changes WHERE id = ?", [change_id]))
        return rows[0] if rows else None

    def in_effect_at(self, policy_id: str, when: str) -> dict | None:
        rows = list(self.db.query(
            "SELECT v.* FROM changes c JOIN versions v ON v.id = c.version_id"
            " WHERE c.policy_id = ? AND c.captured_at <= ? ORDER BY c.captured_at DESC, c.id DESC LIMIT 1",
            [policy_id, when]))
        return self._with_text(rows[0]) if rows else None

    def last_alerted_version_id(self, policy_id: str) -> int | None:
        """The version of the latest material change (or the first version): what people last heard of."""
        row = self.db.execute(
            "SELECT version_id FROM changes WHERE policy_id = ? AND technical = 0 AND"
            " (material = 1 OR previous_version_id IS NULL) ORDER BY captured_at DESC, id DESC LIMIT 1",
            [policy_id]).fetchone()
        return row[0] if row else None

    def entering_change(self, policy_id: str, version_id: int) -> dict | None:
        """The latest change that put ``version_id`` in effect."""
        rows = list(self.db.query("SELECT * FROM changes WHERE policy_id = ? AND version_id = ? AND technical = 0"
                                  " ORDER BY captured_at DESC, id DESC LIMIT 1", [policy_id, version_id]))
        return rows[0] if rows else None

    def returns_since_new_text(self, policy_id: str) -> int:
        """How many material returns to earlier texts were recorded since the last material change
        to a new text: a page wobbling between texts (editorial variants of them included)."""
        return self.db.execute(
            "SELECT COUNT(*) FROM changes WHERE policy_id = ? AND material = 1 AND technical = 0"
            " AND returns_to IS NOT NULL AND id > COALESCE((SELECT MAX(id) FROM changes WHERE policy_id = ?"
            " AND material = 1 AND technical = 0 AND returns_to IS NULL AND previous_version_id IS NOT NULL), 0)",
            [policy_id, policy_id]).fetchone()[0]

    def changes_since_in_effect(self, policy_id: str, version_id: int) -> list[dict]:
        """The changes recorded since ``version_id`` was last put in effect, oldest first: what a
        return to it undoes."""
        return list(self.db.query(
            "SELECT id, material, summary FROM changes WHERE policy_id = ? AND technical = 0 AND id > COALESCE("
            "(SELECT MAX(id) FROM changes WHERE policy_id = ? AND version_id = ?), 0) ORDER BY id",
            [policy_id, policy_id, version_id]))

    def targets_of(self, change_ids: Iterable[int]) -> list[str]:
        """The notification targets these changes were queued for."""
        ids = list(change_ids)
        marks = ", ".join("?" for _ in ids)
        return [row[0] for row in self.db.execute(f"SELECT DISTINCT target FROM outbox WHERE change_id IN ({marks})"
                                                  " ORDER BY target", ids)] if ids else []

    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Versions whose text matches an FTS5 query, best first: policy, number and capture time."""
        return list(self.db.query(
            "SELECT v.policy_id, v.number, v.captured_at FROM versions_fts f JOIN versions v ON v.id = f.rowid"
            " WHERE versions_fts MATCH ? ORDER BY rank LIMIT ?", [query, limit]))

    def update_version(self, version_id: int, **values: Any) -> None:
        """Columns derived from a version's text (its stated date), never the text itself."""
        self._update("versions", version_id, values)

    def versions_of(self, policy_id: str) -> list[dict]:
        """Every stored version of a policy with its text, by number."""
        rows = self.db.query("SELECT * FROM versions WHERE policy_id = ? ORDER BY number", [policy_id])
        return [self._with_text(row) for row in rows]

    def version_sizes(self, policy_id: str) -> dict[int, tuple[int, str | None]]:
        """Each of a policy's versions' word count and detected language, by version id."""
        return {row[0]: (row[1], row[2]) for row in
                self.db.execute("SELECT id, words, language FROM versions WHERE policy_id = ?", [policy_id])}

    def version_numbers(self, policy_id: str) -> dict[int, int]:
        """Each of a policy's versions' number, by version id."""
        return dict(self.db.execute("SELECT id, number FROM versions WHERE policy_id = ?", [policy_id]).fetchall())

    def numbered_versions(self, policy_id: str) -> list[tuple[int, int, str]]:
        """Each of a policy's versions as ``(id, number, captured_at)``, in no particular order."""
        return self.db.execute("SELECT id, number, captured_at FROM versions WHERE policy_id = ?",
                               [policy_id]).fetchall()

    def renumber_versions(self, policy_id: str, wanted: dict[int, int]) -> None:
        """Give a policy's versions new numbers (``wanted``: number by version id); call in a transaction."""
        # Negated first, so no new number collides with an old one under UNIQUE (policy_id, number).
        self.db.execute("UPDATE versions SET number = -number WHERE policy_id = ?", [policy_id])
        for version_id, number in wanted.items():
            self.db.execute("UPDATE versions SET number = ? WHERE id = ?", [number, version_id])

    def backdate_version(self, version_id: int, captured_at: str, source: str) -> None:
        """Record an earlier first sighting of a version (``captured_at``, by ``source``); later ones change nothing."""
        self.db.execute("UPDATE versions SET captured_at = ?, source = ? WHERE id = ? AND captured_at > ?",
                        [captured_at, source, version_id, captured_at])

    def changes_of(self, policy_id: str) -> list[dict]:
        """Every stored change of a policy, all columns (``diff`` as its JSON), oldest first."""
        rows = list(self.db.query("SELECT * FROM changes WHERE policy_id = ? ORDER BY captured_at, id", [policy_id]))
        for row in rows:
            row["diff"] = _inflate(row.pop("diff_z", None))
        return rows

    def changes_with_snapshots(self, policy_id: str) -> list[dict]:
        """A policy's changes, oldest first, with their version's text hash and the raw snapshots behind it."""
        return list(self.db.query(
            "SELECT c.id, c.captured_at, c.source, v.id AS version_id, v.text_sha256, v.snapshot_sha256,"
            " o.snapshot_sha256 AS observed_snapshot FROM changes c JOIN versions v ON v.id = c.version_id"
            " LEFT JOIN observations o ON o.id = c.observation_id WHERE c.policy_id = ? ORDER BY c.captured_at, c.id",
            [policy_id]))

    def judged_change(self, change_id: int) -> tuple[int, int | None, int | None, int, int | None, str] | None:
        """A change's ``(version_id, baseline_version_id, material, technical, returns_to, captured_at)``."""
        return self.db.execute("SELECT version_id, baseline_version_id, material, technical, returns_to, captured_at"
                               " FROM changes WHERE id = ?", [change_id]).fetchone()

    def version_seen_before(self, policy_id: str, version_id: int, captured_at: str, change_id: int) -> bool:
        """Whether a change earlier in the timeline than change ``change_id`` (at ``captured_at``) has this version."""
        return self.db.execute(
            "SELECT 1 FROM changes WHERE policy_id = ? AND version_id = ? AND (captured_at < ? OR"
            " (captured_at = ? AND id < ?))",
            [policy_id, version_id, captured_at, captured_at, change_id]).fetchone() is not None

    def update_change(self, change_id: int, values: dict[str, Any]) -> None:
        """Set some columns of a change (which must exist); ``diff`` as in ``add_change``."""
        self.db["changes"].update(change_id, _packed_diff(values))

    def delete_change(self, change_id: int) -> list[int]:
        """Remove a change from the timeline; the ids of its reviews, which the caller gives to the
        change that takes its place (``move_reviews``) before the transaction ends: people's reviews
        are never dropped, and until then the reviews' reference to a change is not checked."""
        reviews = [row[0] for row in self.db.execute("SELECT id FROM reviews WHERE change_id = ?", [change_id])]
        if reviews:
            self.db.execute("PRAGMA defer_foreign_keys = ON")  # checked at commit, reset by it
        self.db.execute("DELETE FROM changes WHERE id = ?", [change_id])
        return reviews

    def move_reviews(self, review_ids: Iterable[int], change_id: int) -> None:
        """Give reviews to another change (the one that took the place of theirs in a timeline)."""
        ids = list(review_ids)
        if ids:
            self.db.execute(f"UPDATE reviews SET change_id = ? WHERE id IN ({', '.join('?' for _ in ids)})",
                            [change_id, *ids])

    # -- observations ---------------------------------------------------------------------------
    def live_start(self, policy_id: str) -> str | None:
        """When the first live check found a version of the policy (None: none has yet)."""
        return self.db.execute(
            "SELECT MIN(fetched_at) FROM observations WHERE policy_id = ? AND source != 'wayback'"
            " AND version_id IS NOT NULL", [policy_id]).fetchone()[0]

    # -- captures -------------------------------------------------------------------------------
    def add_capture(self, **values: Any) -> int:
        """Record an archive capture a backfill looked at; returns its id."""
        return self._insert("captures", values)

    def captures_of(self, policy_id: str, profile: str) -> list[dict]:
        """The captures looked at under ``profile`` that did not fail (a failed one is worth trying again)."""
        return list(self.db.query(
            "SELECT archive, timestamp, digest, outcome, text_sha256, version_id, snapshot_sha256 FROM captures"
            " WHERE policy_id = ? AND profile = ? AND outcome != 'failed'", [policy_id, profile]))

    def archived_capture(self, version: dict, *, of_raw_page: bool = False) -> dict | None:
        """An archive capture a version came from (``archive`` is its CDX URL), if any: the first that
        showed its text, or with ``of_raw_page`` the one that served the raw page kept for it (the
        evidence of those bytes). Versions re-derived by ``renormalize`` are found by their raw page."""
        by_raw = ("SELECT archive, timestamp, original FROM captures WHERE policy_id = ? AND snapshot_sha256 = ?"
                  " ORDER BY timestamp LIMIT 1", [version["policy_id"], version.get("snapshot_sha256")])
        by_text = ("SELECT archive, timestamp, original FROM captures WHERE version_id = ? ORDER BY timestamp LIMIT 1",
                   [version["id"]])
        for sql, args in ((by_raw, by_text) if of_raw_page else (by_text, by_raw)):
            if args[-1] is not None and (row := next(self.db.query(sql, args), None)) is not None:
                return row
        return None

    def first_observation(self, version: dict) -> dict | None:
        """The fetch that first brought a version's raw page (its URL, status, headers, redirects)."""
        if version.get("snapshot_sha256"):
            return next(self.db.query(
                "SELECT * FROM observations WHERE policy_id = ? AND snapshot_sha256 = ? ORDER BY fetched_at, id"
                " LIMIT 1", [version["policy_id"], version["snapshot_sha256"]]), None)
        return next(self.db.query("SELECT * FROM observations WHERE version_id = ? ORDER BY fetched_at, id LIMIT 1",
                                  [version["id"]]), None)

    def kept_snapshots(self, policy_id: str) -> list[tuple[str, str, str | None, str]]:
        """``(archive, timestamp, digest, snapshot_sha256)`` of every capture whose raw bytes were kept, any profile."""
        return self.db.execute("SELECT archive, timestamp, digest, snapshot_sha256 FROM captures"
                               " WHERE policy_id = ? AND snapshot_sha256 IS NOT NULL", [policy_id]).fetchall()

    def archive_captures(self, policy_id: str, profile: str, before: str | None) -> list[tuple[str, int, int | None]]:
        """``(captured_at, version_id, observation_id)`` of captures with a version before ``before``, oldest first."""
        return self.db.execute(
            "SELECT captured_at, version_id, observation_id FROM captures WHERE policy_id = ? AND profile = ?"
            " AND version_id IS NOT NULL AND (? IS NULL OR captured_at < ?) ORDER BY captured_at, id",
            [policy_id, profile, before, before]).fetchall()

    # -- outbox ---------------------------------------------------------------------------------
    def queue_message(self, *, run_id: int | None, policy_id: str | None, change_id: int | None, target: str,
                      kind: str, mode: str, severity: str | None, title: str, message: str) -> None:
        """Add a pending message, unless this change is already queued for this target."""
        self.db.execute(
            "INSERT OR IGNORE INTO outbox (run_id, policy_id, change_id, target, kind, mode, severity, title,"
            " message, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            [run_id, policy_id, change_id, target, kind, mode, severity, title, message, now()])

    def sending_messages(self) -> list[dict]:
        """The ``id`` and ``deliveries`` of every message left ``sending`` (by a run that died mid-delivery)."""
        return list(self.db.query("SELECT id, deliveries FROM outbox WHERE status = 'sending'"))

    def requeue_message(self, message_id: int, deliveries: str) -> None:
        """Set a message back to ``pending``, with its per-URL ``deliveries`` (JSON)."""
        self.db.execute("UPDATE outbox SET status = 'pending', deliveries = ? WHERE id = ?",
                        [deliveries, message_id])

    def due_messages(self, *, force: bool, moment: str, run_id: int | None) -> list[dict]:
        """Pending messages due at ``moment`` (all with ``force``; with ``run_id``, its unattempted ones), by id."""
        return list(self.db.query(
            "SELECT * FROM outbox WHERE status = 'pending' AND (? OR next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " AND (? IS NULL OR (run_id = ? AND attempts = 0)) ORDER BY id",
            [int(force), moment, run_id, run_id]))

    def update_messages(self, ids: list[int], columns: dict[str, Any]) -> None:
        """Set the same columns of several messages (the rows of one delivery)."""
        assignments = ", ".join(f"{name} = ?" for name in columns)
        marks = ",".join("?" for _ in ids)
        self.db.execute(f"UPDATE outbox SET {assignments} WHERE id IN ({marks})", [*columns.values(), *ids])

    def recent_messages(self, limit: int, policy_ids: list[str]) -> list[dict]:
        """The latest ``limit`` messages, newest first (only those of ``policy_ids`` if any), without their text."""
        where = f" WHERE policy_id IN ({','.join('?' for _ in policy_ids)})" if policy_ids else ""
        return list(self.db.query(
            f"SELECT id, created_at, policy_id, change_id, target, kind, mode, severity, title, status, attempts,"
            f" last_attempt_at, sent_at, next_attempt_at, error, deliveries FROM outbox{where}"
            f" ORDER BY id DESC LIMIT ?", [*policy_ids, limit]))
