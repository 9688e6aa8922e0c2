"""Store: schema, snapshots, versions, timeline, full-text search, lock, re-normalization."""

import json
import random
import sqlite3
import zlib
from hashlib import sha256

import pytest

from policywatch.errors import LockedError, PolicywatchError
from policywatch.rederive import renormalize
from policywatch.store import MIGRATIONS, Store
from policywatch.watchlist import parse_watchlist


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "pw.db") as s:
        yield s


def _database_at_schema(path, schema: int) -> sqlite3.Connection:
    """A database as a policywatch at migration ``schema`` left it (its SQL functions registered)."""
    from policywatch.store import FTS_SQL, _deflate, fact_key, sentence_key

    conn = sqlite3.connect(path)
    conn.create_function("policywatch_fact_key", 10, fact_key, deterministic=True)
    conn.create_function("policywatch_deflate", 1, _deflate, deterministic=True)
    conn.create_function("policywatch_sentence_key", 1, sentence_key, deterministic=True)
    conn.executescript(MIGRATIONS[0] + ";" + FTS_SQL + ";" + "".join(m + ";" for m in MIGRATIONS[1:schema])
                       + f"PRAGMA user_version={schema};")
    return conn


def test_schema_is_current_and_in_wal_mode(store):
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"policies", "runs", "observations", "snapshots", "versions", "changes", "versions_fts"} <= set(
        store.db.table_names())


def test_reopening_does_not_migrate_twice(tmp_path):
    Store.open(tmp_path / "a.db").close()
    with Store.open(tmp_path / "a.db") as again:
        assert again.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(PolicywatchError, match="not a policywatch database"):
        Store.open(bogus)
    assert bogus.read_bytes().startswith(b"this is not sqlite")  # never overwritten


def test_another_applications_sqlite_file_is_refused_and_left_as_it_was(tmp_path):
    import sqlite3

    other = tmp_path / "crm.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('alice')")
    conn.close()
    before = other.read_bytes()
    for create in (True, False):
        with pytest.raises(PolicywatchError, match=r"crm.db: not a policywatch database \(it holds another "
                                                   r"application's tables: customers\); nothing was changed"):
            Store.open(other, create=create)
    assert other.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["crm.db"]  # no WAL either
    # A policywatch database copied with .dump lost its schema version: said so, and left as it is.
    dumped = tmp_path / "dumped.db"
    with Store.open(tmp_path / "ours.db") as ours:
        script = "\n".join(ours.db.conn.iterdump())
    with sqlite3.connect(dumped) as conn:
        conn.executescript(script)
    conn.close()
    with pytest.raises(PolicywatchError, match="a policywatch database whose schema version was lost"):
        Store.open(dumped)
    # An empty SQLite file (made by `touch` or by sqlite3 without a table) becomes a policywatch database.
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with Store.open(empty) as store:
        assert "versions" in store.db.table_names()


def test_snapshots_are_compressed_and_deduplicated(store):
    body = b"<html>" + b"privacy " * 5000 + b"</html>"
    with store.transaction():
        a = store.put_snapshot(body, "text/html", "utf-8")
        b = store.put_snapshot(body, "text/html", "utf-8")
    assert a == b
    assert store.db.execute("SELECT COUNT(*), MAX(stored_size) FROM snapshots").fetchone()[0] == 1
    size, stored = store.db.execute("SELECT size, stored_size FROM snapshots").fetchone()
    assert stored < size / 20
    assert store.snapshot(a)[0] == body


def _version(store, policy, text, when, number_expected):
    from policywatch.document import text_sha256

    with store.transaction():
        store.ensure_policy(policy, policy.title(), f"https://{policy}.example")
        v = store.add_version(policy, text=text, text_sha256=text_sha256(text), words=len(text.split()),
                              language="en", title=None, captured_at=when, source="live", snapshot_sha256=None,
                              normalizer=1)
        store.add_change(policy_id=policy, version_id=v["id"], captured_at=when, source="live")
    assert v["number"] == number_expected
    return v


def test_versions_timeline_in_effect_and_search(store):
    _version(store, "acme", "# Data\n\nWe collect your email.\n", "2019-03-01T00:00:00Z", 1)
    _version(store, "acme", "# Data\n\nWe collect biometric identifiers.\n", "2023-05-01T00:00:00Z", 2)
    _version(store, "other", "# Data\n\nNothing.\n", "2020-01-01T00:00:00Z", 1)
    assert [e["version"] for e in store.timeline("acme")] == [1, 2]
    assert store.in_effect_at("acme", "2020-12-31T23:59:59Z")["number"] == 1
    assert store.in_effect_at("acme", "2024-01-01T00:00:00Z")["number"] == 2
    assert store.in_effect_at("acme", "2018-01-01T00:00:00Z") is None
    hits = store.search("biometric")
    assert [(h["policy_id"], h["number"]) for h in hits] == [("acme", 2)]


def test_same_text_cannot_be_stored_twice(store):
    _version(store, "acme", "# A\n\ntext\n", "2020-01-01T00:00:00Z", 1)
    with pytest.raises(sqlite3.IntegrityError):
        _version(store, "acme", "# A\n\ntext\n", "2021-01-01T00:00:00Z", 2)


def test_writer_lock_excludes_a_second_writer(tmp_path):
    first = Store.open(tmp_path / "pw.db")
    second = Store.open(tmp_path / "pw.db")
    with first.writer(), pytest.raises(LockedError, match="another policywatch run"), second.writer():
        pass
    with second.writer():  # released
        pass
    first.close()
    second.close()


def test_renormalize_rederives_from_snapshots(store):
    from policywatch.normalize import NORMALIZER_VERSION, normalize_html

    html_v1 = "<html><body><h1>P</h1><p>We collect your email address for login.</p><p>Build 41</p></body></html>"
    html_v2 = "<html><body><h1>P</h1><p>We collect your email address for login.</p><p>Build 42</p></body></html>"
    for when, html in (("2024-01-01T00:00:00Z", html_v1), ("2024-02-01T00:00:00Z", html_v2)):
        normalized = normalize_html(html)
        with store.transaction():
            store.ensure_policy("acme", "ACME", "https://acme.example")
            snap = store.put_snapshot(html.encode(), "text/html; charset=utf-8", "utf-8")
            v = store.add_version("acme", text=normalized.markdown, text_sha256=normalized.document.sha256,
                                  words=9, language="en", title=None, captured_at=when, source="live",
                                  snapshot_sha256=snap, normalizer=NORMALIZER_VERSION)
            obs = store.add_observation(policy_id="acme", fetched_at=when, source="live", url="https://acme.example",
                                        outcome="changed", snapshot_sha256=snap, version_id=v["id"])
            store.add_change(policy_id="acme", version_id=v["id"], observation_id=obs, captured_at=when, source="live")
            store.update_policy("acme", current_version_id=v["id"])
    # The user now ignores the build number: both snapshots give one text, so there was never a change.
    wl = parse_watchlist("policies:\n  - {id: acme, url: 'https://acme.example', ignore: ['Build \\d+']}\n")
    [result] = renormalize(store, wl)
    assert result.rederived == 2 and result.merged == 1
    timeline = store.timeline("acme")
    assert len(timeline) == 1 and timeline[0]["technical"] == 1
    assert "Build" not in store.version_by_id(timeline[0]["version_id"])["text"]
    assert store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 3  # old versions kept
    [again] = renormalize(store, wl)
    assert not again.changed


def test_renormalize_reads_the_stated_dates_anew(store):
    from policywatch.normalize import NORMALIZER_VERSION, normalize_html

    html = "<html><body><h1>P</h1><p>Last updated: May 2024</p><p>We collect your email address.</p></body></html>"
    normalized = normalize_html(html)
    with store.transaction():
        store.ensure_policy("acme", "ACME", "https://acme.example")
        snap = store.put_snapshot(html.encode(), "text/html; charset=utf-8", "utf-8")
        # As an earlier reading stored it: the day of the month of the run that read it.
        v = store.add_version("acme", text=normalized.markdown, text_sha256=normalized.document.sha256, words=9,
                              language="en", title=None, captured_at="2024-06-01T00:00:00Z", source="live",
                              snapshot_sha256=snap, normalizer=NORMALIZER_VERSION, stated_date="2024-05-30")
        obs = store.add_observation(policy_id="acme", fetched_at="2024-06-01T00:00:00Z", source="live",
                                    url="https://acme.example", outcome="new", snapshot_sha256=snap,
                                    version_id=v["id"])
        store.add_change(policy_id="acme", version_id=v["id"], observation_id=obs,
                         captured_at="2024-06-01T00:00:00Z", source="live")
    [result] = renormalize(store)
    assert result.restated == 1 and not result.changed and "1 stated date(s) read anew" in result.line()
    assert store.version_by_id(v["id"])["stated_date"] == "2024-05-01"
    [again] = renormalize(store)
    assert again.restated == 0
    # A date an earlier reading found is kept where today's reads none.
    with store.transaction():
        store.update_version(v["id"], stated_date="2019-01-01")
    store.db.execute("UPDATE versions SET text_z = ?, text_base = NULL WHERE id = ?",
                     [zlib.compress(b"# P\n\nWe collect your email address.\n"), v["id"]])
    [kept] = renormalize(store)
    assert kept.restated == 0 and store.version_by_id(v["id"])["stated_date"] == "2019-01-01"


def test_a_version_1_database_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + "; PRAGMA user_version=1;")
    conn.execute("INSERT INTO policies (id, name, url, first_seen) VALUES ('a', 'A', 'https://a.example', 'x')")
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert "stated_date" in store.db["versions"].columns_dict
        assert list(store.policy_rows()) == ["a"]  # data kept


def test_policies_are_ensured_and_their_states_read_all_at_once(store):
    with store.writer(), store.transaction():
        store.ensure_policies([("a", "A", "https://a.example/"), ("b", "B", "https://b.example/")])
    before = store.db.conn.total_changes
    with store.writer(), store.transaction():
        store.ensure_policies([("a", "A", "https://a.example/"), ("b", "B", "https://b.example/privacy")])
    assert store.db.conn.total_changes == before + 1  # only the policy whose URL changed is written
    states = store.states()
    assert states == {policy_id: store.state(policy_id) for policy_id in ("a", "b")}
    assert states["b"].current_version_id is None and store.policy_rows()["b"]["url"] == "https://b.example/privacy"


def test_facts_are_kept_per_version_and_rules_fingerprint(store):
    from policywatch.document import parse_text, text_sha256
    from policywatch.judge import Fact, extract_facts, load_rules

    store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
    text = "# P\n\n## Sharing\n\nWe do not sell your personal information.\n"
    version = store.add_version("acme", text=text, text_sha256=text_sha256(text), words=8, language="en",
                                title=None, captured_at="2026-01-01T00:00:00Z", source="live",
                                snapshot_sha256=None, normalizer=1)
    facts = extract_facts(parse_text(text))
    fingerprint = load_rules().fingerprint
    assert store.facts(version["id"], fingerprint) is None  # not derived yet
    store.put_facts(version["id"], fingerprint, [f.to_row() for f in facts])
    back = [Fact.from_row(row) for row in store.facts(version["id"], fingerprint)]
    assert back == facts and back[0].polarity == "negated"
    assert store.facts(version["id"], "other-lexicons") is None  # lexicons changed: derive again
    store.put_facts(version["id"], "other-lexicons", [])  # a version that states nothing is remembered
    assert store.facts(version["id"], "other-lexicons") == []
    assert store.facts(version["id"], fingerprint) is None  # the older derivation was replaced


def test_facts_and_analyses_prepared_elsewhere_are_kept_as_the_writer_would_keep_them(tmp_path):
    """A worker process makes a version's FactRows and packs its analyses; the database ends the same."""
    from policywatch.document import parse_text, text_sha256
    from policywatch.judge import extract_facts, load_rules
    from policywatch.store import FactRows, Store, packed_analyses

    text = "# P\n\n## Sharing\n\nWe do not sell your personal information.\n\nWe share it with data brokers.\n"
    rows = [f.to_row() for f in extract_facts(parse_text(text))]
    analyses = {b"l" * 16: json.dumps([[], [[[["sharing", "data brokers"]] * 8, ["sharing"]]]]), b"s" * 16: "[[],[]]"}
    dumps = []
    for prepared in (False, True):
        with Store.open(tmp_path / f"{prepared}.db") as store, store.writer(), store.transaction():
            store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
            for facts in (rows, []):
                version = store.add_version("acme", text=text, text_sha256=text_sha256(text + str(facts)), words=8,
                                            language="en", title=None, captured_at="2026-01-01T00:00:00Z",
                                            source="live", snapshot_sha256=None, normalizer=1)
                store.put_facts(version["id"], load_rules().fingerprint, FactRows.of(facts) if prepared else facts)
            store.put_sentence_analyses("lexicons", packed_analyses(analyses) if prepared else analyses)
            dumps.append([store.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in (
                "fact_texts", "fact_sentences", "fact_sections", "version_facts", "sentence_analyses")])
    assert dumps[0] == dumps[1] and all(dumps[0])
    assert packed_analyses(packed_analyses(analyses)) == packed_analyses(analyses)  # packed once only


def test_a_sentence_and_a_section_stating_many_facts_are_kept_once(store):
    from policywatch.document import parse_text, text_sha256
    from policywatch.judge import Fact, extract_facts

    store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
    text = ("# P\n\n## Sharing\n\nWe share your name, e-mail address and location with advertising partners "
            "and data brokers.\n\nWe keep it for two years.\n")
    version = store.add_version("acme", text=text, text_sha256=text_sha256(text), words=20, language="en",
                                title=None, captured_at="2026-01-01T00:00:00Z", source="live",
                                snapshot_sha256=None, normalizer=1)
    facts = extract_facts(parse_text(text))
    assert len(facts) >= 4 and len({f.evidence for f in facts}) == 2 and len({f.section for f in facts}) == 1
    store.put_facts(version["id"], "r1", [f.to_row() for f in facts])
    assert [Fact.from_row(row) for row in store.facts(version["id"], "r1")] == facts
    count = lambda table: store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
    assert (count("fact_texts"), count("fact_sentences"), count("fact_sections")) == (len(facts), 2, 1)
    store.put_facts(version["id"], "r2", [])  # re-derived under other lexicons: the old rows are unused
    assert store.prune_facts() == len(facts)
    assert (count("fact_sentences"), count("fact_sections")) == (1, 1)  # what the empty marker uses


def test_sentence_analyses_outlive_the_process_and_only_new_sentences_are_read(store):
    from policywatch.document import parse_text
    from policywatch.judge import FactExtractor, load_rules

    old = parse_text("# P\n\n## Sharing\n\nWe do not sell your personal information.\n\n"
                     "We share it with service providers.\n")
    new = parse_text("# P\n\n## Sharing\n\nWe do not sell your personal information.\n\n"
                     "We share it with data brokers.\n")
    first = FactExtractor(memory=store).read(old).facts
    fingerprint = load_rules().fingerprint
    assert store.db.execute("SELECT count(*) FROM sentence_analyses WHERE rules = ?", [fingerprint]).fetchone()[0]

    later = FactExtractor(memory=store)  # a later run: what it knows comes from the store
    assert later.read(old).facts == first
    assert later._learned == [] and not later._runs  # nothing analysed anew
    facts = later.read(new).facts
    assert facts == FactExtractor().read(new).facts  # recalled or analysed, the same facts
    assert {f.practice for f in facts} >= {"data brokers"}

    store.put_sentence_analyses("other-lexicons", {b"k" * 16: "[[],[]]"})  # the lexicons changed
    assert store.db.execute("SELECT DISTINCT rules FROM sentence_analyses").fetchall() == [("other-lexicons",)]


def test_what_is_learned_ahead_elsewhere_is_recalled_by_the_writer_with_the_same_facts(store):
    from policywatch.document import parse_text
    from policywatch.judge import FactExtractor
    from policywatch.judge.facts import Gathered

    old = parse_text("# P\n\n## Sharing\n\nWe do not sell your personal information.\n\n"
                     "We share it with service providers.\n")
    new = parse_text("# P\n\n## Sharing\n\nWe do not sell your personal information.\n\n"
                     "We share it with data brokers for advertising.\n")
    known = FactExtractor(memory=store)
    known.read(parse_text("# P\n\nWe do not sell your personal information.\n"))  # the memory holds one
    gathered = Gathered(store)  # as a worker process does, reading the database only
    reader = FactExtractor(memory=gathered)
    for document in (old, new):
        reader.read(document)
    learned = gathered.learned
    assert learned and not any(key in store.sentence_analyses(known.rules.fingerprint, list(learned))
                               for key in learned)  # only what the memory lacked
    store.put_sentence_analyses(known.rules.fingerprint, learned)  # the writer keeps it

    writer = FactExtractor(memory=store)
    assert [writer.read(old).facts, writer.read(new).facts] == [FactExtractor().read(old).facts,
                                                                FactExtractor().read(new).facts]
    assert not writer._runs  # recalled, not analysed: not one term searched


def test_a_long_analysis_is_kept_compressed_and_read_back_as_written(store):
    long = json.dumps([[], [[[["sharing", "data brokers", "asserted", None, None, False, None, None, False]] * 4,
                            ["sharing"]]]])
    short = "[[],[]]"
    store.put_sentence_analyses("lexicons", {b"l" * 16: long, b"s" * 16: short})
    assert store.sentence_analyses("lexicons", [b"l" * 16, b"s" * 16]) == {b"l" * 16: long, b"s" * 16: short}
    kinds = dict(store.db.execute("SELECT sentence, typeof(analysis) FROM sentence_analyses").fetchall())
    assert kinds == {b"l" * 16: "blob", b"s" * 16: "text"}
    stored = store.db.execute("SELECT length(analysis) FROM sentence_analyses WHERE sentence = ?",
                              [b"l" * 16]).fetchone()[0]
    assert stored < len(long) / 2


def test_the_company_names_of_each_line_are_remembered_with_the_sentences(store, monkeypatch):

    from policywatch.document import parse_text
    from policywatch.judge import FactExtractor
    from policywatch.judge.facts import text_key

    text = ("# Acme Privacy Notice\n\n## Who we are\n\nThe controller is Acme Widgets Ltd of Dublin.\n\n"
            "## Sharing\n\nWe share data with Globex Holdings Inc and with Acme Widgets Ltd.\n")
    document = parse_text(text)
    first = FactExtractor(memory=store)
    facts = first.read(document).facts
    own = first.own_names(document)
    assert {"acme", "widgets", "ltd"} <= own
    line = "The controller is Acme Widgets Ltd of Dublin."
    [kept] = store.sentence_analyses(first.rules.fingerprint, [text_key(line)]).values()  # with its sentences
    assert json.loads(kept)[0] == ["acme", "ltd", "widgets"]

    later = FactExtractor(memory=store)  # a later run: no line is searched again
    searched = []
    monkeypatch.setattr(later, "_remember", lambda *_: searched.extend(later._learned_names))
    assert later.read(document).facts == facts
    assert later.own_names(document) == own
    assert searched == [] and later._learned_names == []


def test_a_fact_key_is_the_sha256_of_its_columns_as_json_writes_them():
    """Keys of databases written before must still match: the key is spelled out by hand for speed."""
    import hashlib

    from policywatch.store import fact_key

    for values in [("sharing", "data brokers", "asserted", None, None, 0, None, "We share it.", '["A"]', 3),
                   ("c", 'quote " back \\ slash', "\n\t\x00\u2028", "日本語 😀", "", 1, "é", "</a>", "[]", -1),
                   ("", "", "", None, None, True, None, "", "[]", 1.5)]:
        assert fact_key(*values) == hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).digest()[:16]


def test_a_kept_text_split_otherwise_than_now_is_read_again_and_kept_anew(store):
    """An entry whose sentences no longer line up with the text's (a splitting rule changed) is not trusted."""

    from policywatch.document import parse_text
    from policywatch.judge import FactExtractor
    from policywatch.judge.facts import text_key

    document = parse_text("# P\n\n## Sharing\n\nWe sell your data to brokers. We keep it 30 days.\n")
    facts = FactExtractor(memory=store).read(document).facts
    fingerprint = FactExtractor().rules.fingerprint
    text = "We sell your data to brokers. We keep it 30 days."
    store.put_sentence_analyses(fingerprint, {text_key(text): json.dumps([[], [[[], []]]])})  # one part, not two
    again = FactExtractor(memory=store)
    assert again.read(document).facts == facts  # analysed again, not read from the stale entry
    [kept] = store.sentence_analyses(fingerprint, [text_key(text)]).values()
    assert len(json.loads(kept)[1]) == 2  # and kept anew


def test_facts_are_stored_once_for_the_versions_that_share_them(tmp_path):
    """Migration 10: a version-9 database's facts rows become shared fact texts, read back the same."""
    path = tmp_path / "v9.db"
    conn = _database_at_schema(path, 9)
    conn.execute("INSERT INTO policies (id, name, url, first_seen) VALUES ('a', 'A', 'https://a.example', 'x')")
    for number in (1, 2):
        conn.execute("INSERT INTO versions (id, policy_id, number, text_sha256, text, words, captured_at, source,"
                     " normalizer) VALUES (?, 'a', ?, ?, 't', 1, 'x', 'live', 3)", [number, number, f"h{number}"])
    shared = ("sharing", "sale of personal data", "negated", None, None, 0, None, "We do not sell it.", "[]", 0)
    for version_id, rows in ((1, [shared]), (2, [shared, ("retention", "retention period", "asserted", "30",
                                                          "for 30 days", 0, None, "30 days.", "[]", 1)])):
        for row in rows:
            conn.execute("INSERT INTO facts (version_id, rules, category, practice, polarity, value, shown,"
                         " sensitive, about, evidence, section, section_index) VALUES (?, 'r1', ?, ?, ?, ?, ?, ?,"
                         " ?, ?, ?, ?)", [version_id, *row])
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert [r["practice"] for r in store.facts(2, "r1")] == ["sale of personal data", "retention period"]
        assert store.facts(1, "r1")[0]["evidence"] == "We do not sell it."
        assert store.db.execute("SELECT COUNT(*) FROM fact_texts").fetchone()[0] == 2  # the shared one once
        # a new derivation under other rules replaces a version's list; unused texts go
        store.put_facts(1, "r2", [])
        assert store.facts(1, "r2") == [] and store.facts(1, "r1") is None
        assert store.prune_facts() == 0  # both old texts are still version 2's
        store.put_facts(2, "r2", [])
    with Store.open(path) as store:  # pruned once, when the store that re-derived them closed
        assert store.db.execute("SELECT COUNT(*) FROM fact_texts").fetchone()[0] == 1  # the empty marker


def test_texts_are_stored_compressed_and_stay_searchable_across_the_upgrade(tmp_path):
    """Migration 11: a version-10 database's texts are compressed in place; search keeps finding them."""
    path = tmp_path / "v10.db"
    conn = _database_at_schema(path, 10)
    conn.execute("INSERT INTO policies (id, name, url, first_seen) VALUES ('a', 'A', 'https://a.example', 'x')")
    old_text = "# Privacy\n\nWe collect fingerprints to unlock your phone.\n" * 40
    conn.execute("INSERT INTO versions (policy_id, number, text_sha256, text, words, captured_at, source, normalizer)"
                 " VALUES ('a', 1, 'h1', ?, 9, '2024-01-01T00:00:00Z', 'live', 3)", [old_text])
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.version("a", 1)["text"] == old_text  # read back whole
        stored = store.db.execute("SELECT length(text), length(text_z) FROM versions").fetchone()
        assert stored[0] == 0 and stored[1] < len(old_text) / 5  # kept once, compressed
        assert [r["number"] for r in store.search("fingerprints")] == [1]
        new = store.add_version("a", text="# Privacy\n\nWe sell location data.\n", text_sha256="h2", words=5,
                                language="en", title=None, captured_at="2025-01-01T00:00:00Z", source="live",
                                snapshot_sha256=None, normalizer=3)
        assert store.version_by_id(new["id"])["text"].endswith("We sell location data.\n")
        assert [r["number"] for r in store.search("location")] == [2]
        store.db.execute("DROP TABLE versions_fts")  # an index lost (a tool, a crash): rebuilt on the next open
    with Store.open(path) as store:
        assert [r["number"] for r in store.search("fingerprints OR location")] in ([1, 2], [2, 1])


def test_a_text_is_stored_against_the_raw_page_it_was_read_from(tmp_path):
    """Migration 18: a version's text is compressed with its raw page as dictionary (the page holds
    most of its words), reads back exactly, also when that page is itself a delta; texts stored
    before, or without a stored page, stay zlib."""
    from policywatch.store import _deflate

    path = tmp_path / "v17.db"
    conn = _database_at_schema(path, 17)
    conn.execute("INSERT INTO policies (id, name, url, first_seen) VALUES ('a', 'A', 'https://a.example', 'x')")
    conn.execute("INSERT INTO versions (policy_id, number, text_sha256, text, text_z, words, captured_at, source,"
                 " normalizer) VALUES ('a', 1, 'h1', '', ?, 3, '2024-01-01T00:00:00Z', 'live', 3)",
                 [_deflate("# Old\n\nAn old text.\n")])
    conn.commit()
    conn.close()

    rng = random.Random(7)
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 11)))
                  for _ in range(3000)]
    words = [rng.choice(vocabulary) for _ in range(6000)]
    paragraphs = [" ".join(words[i:i + 60]) + "." for i in range(0, len(words), 60)]
    page = ("<html><body><main>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</main></body></html>").encode()
    text = "# Policy\n\n" + "\n\n".join(paragraphs) + "\n"
    later_page = page.replace(b"</main>", b"<p>We now sell it.</p></main>")
    later_text = text + "\nWe now sell it.\n"

    def add(number: int, body: str, snapshot: str | None) -> dict:
        return store.add_version("a", text=body, text_sha256=f"h{number}", words=1, language="en", title=None,
                                 captured_at=f"202{number}-01-01T00:00:00Z", source="live",
                                 snapshot_sha256=snapshot, normalizer=3)

    with Store.open(path) as store:
        with store.writer(), store.transaction():
            add(2, text, store.put_snapshot(page, "text/html", "utf-8", "a"))
            store.add_observation(policy_id="a", fetched_at="x", source="live", url="u", outcome="new",
                                  snapshot_sha256=store.put_snapshot(page, "text/html", "utf-8", "a"))
            later = store.put_snapshot(later_page, "text/html", "utf-8", "a")
            store.put_snapshot(b"<html>another page put in between</html>", "text/html", "utf-8", "a")
            add(3, later_text, later)  # its page read back from the store (a delta of the first)
            add(4, "# Typed in\n\nNo page.\n", None)
        rows = store.db.execute("SELECT number, length(text_z), text_base FROM versions ORDER BY number").fetchall()
        assert store.db.execute("SELECT base_sha256 FROM snapshots WHERE sha256 = ?", [later]).fetchone()[0]
    zlib_alone = len(zlib.compress(text.encode(), 6))
    assert rows[0][2] is None and rows[3][2] is None  # before migration 18, and without a page: zlib
    assert rows[1][2] == sha256(page).hexdigest() and rows[1][1] < zlib_alone / 4
    assert rows[2][2] == later and rows[2][1] < zlib_alone / 4
    with Store.open(path) as store:  # read back by every reader, from a store opened anew
        assert store.version("a", 1)["text"] == "# Old\n\nAn old text.\n"
        assert store.version("a", 2)["text"] == text
        assert [v["text"] for v in store.versions_of("a")][2:] == [later_text, "# Typed in\n\nNo page.\n"]
        assert "text_base" not in store.version("a", 3) and "text_z" not in store.version("a", 3)
        assert [r["number"] for r in store.search('"now sell"')] == [3]
        store.db.execute("UPDATE versions SET text_base = ? WHERE number = 2", [later])  # the wrong page
        with pytest.raises(PolicywatchError, match="text of version id 2 is damaged .*checksum"):  # never wrong
            store.version("a", 2)


def test_a_text_read_from_a_huge_page_is_stored_alone(tmp_path, monkeypatch):
    """Above TEXT_PAGE_MOST bytes a page is not a dictionary: each read of the text would decompress it."""
    import policywatch.store

    monkeypatch.setattr(policywatch.store, "TEXT_PAGE_MOST", 100)
    with Store.open(tmp_path / "t.db") as store, store.writer(), store.transaction():
        store.ensure_policy("a", "A", "https://a.example")
        page = store.put_snapshot(b"<main>" + b"<p>We may share it.</p>" * 10 + b"</main>", "text/html", None, "a")
        store.add_version("a", text="We may share it.\n" * 10, text_sha256="h", words=40, language="en",
                          title=None, captured_at="2026-01-01T00:00:00Z", source="live", snapshot_sha256=page,
                          normalizer=3)
        assert store.db.execute("SELECT text_base FROM versions").fetchone()[0] is None
        assert store.version("a", 1)["text"] == "We may share it.\n" * 10


def test_a_changes_diff_json_is_kept_compressed_across_the_upgrade(tmp_path):
    """Migration 16: a version-15 database's diff JSON moves to diff_z; it reads back as written."""
    path = tmp_path / "v15.db"
    conn = _database_at_schema(path, 15)
    payload = json.dumps({"schema": "policywatch.diff/1", "summary": "Now sells personal data.",
                          "sections": [{"edits": [{"op": "insert", "old": "", "new": "We sell it. " * 50}]}]})
    conn.execute("INSERT INTO policies (id, name, url, first_seen) VALUES ('a', 'A', 'https://a.example', 'x')")
    conn.execute("INSERT INTO versions (policy_id, number, text_sha256, text, words, captured_at, source, normalizer)"
                 " VALUES ('a', 1, 'h1', '', 1, '2024-01-01T00:00:00Z', 'live', 3)")
    conn.execute("INSERT INTO changes (policy_id, version_id, captured_at, source, diff)"
                 " VALUES ('a', 1, '2024-01-01T00:00:00Z', 'live', ?)", [payload])
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.change_diff(1) == payload
        kept, packed = store.db.execute("SELECT diff, length(diff_z) FROM changes").fetchone()
        assert kept is None and packed < len(payload) / 4
        added = store.add_change(policy_id="a", version_id=1, captured_at="2025-01-01T00:00:00Z", source="live",
                                 diff=payload)
        assert store.change_diff(added) == payload
        assert [row["diff"] for row in store.changes_of("a")] == [payload, payload]  # as the timeline compares it
        assert "diff_z" not in store.changes_of("a")[0]
        store.update_change(added, {"diff": "{}"})
        assert store.change_diff(added) == "{}"
        assert store.db.execute("SELECT diff FROM changes WHERE id = ?", [added]).fetchone()[0] is None


def test_a_raw_page_is_stored_as_its_difference_from_the_policys_last_whole_page(store, monkeypatch):
    import hashlib

    import zstandard

    rng = random.Random(7)
    words = [f"w{rng.randrange(10 ** 6)}" for _ in range(12000)]
    first = ("<html><body>" + " ".join(words) + "</body></html>").encode()
    second = first.replace(words[500].encode(), b"CHANGED", 1)
    unrelated = ("<html><body>" + " ".join(reversed(words[:9000])) + "</body></html>").encode()
    store.ensure_policy("a", "A", "https://a.example")
    digests = []
    for content in (first, second, unrelated):
        digest = store.put_snapshot(content, "text/html", "utf-8", policy_id="a")
        store.add_observation(policy_id="a", fetched_at="2026-01-01T00:00:00Z", source="live", url="u",
                              outcome="changed", snapshot_sha256=digest)
        digests.append(digest)
    rows = {d: store.db.execute("SELECT compression, base_sha256, stored_size, size FROM snapshots WHERE sha256 = ?",
                                [d]).fetchone() for d in digests}
    assert rows[digests[0]][:2] == ("zstd", None)
    assert rows[digests[1]][:2] == ("zstd-delta", digests[0]) and rows[digests[1]][2] < rows[digests[0]][2] / 20
    assert rows[digests[2]][1] is None  # unlike its base: stored whole, a new base
    for digest, content in zip(digests, (first, second, unrelated), strict=True):
        assert store.snapshot(digest)[0] == content  # byte for byte
    assert store.put_snapshot(second, policy_id="a") == digests[1]  # kept once
    # The site serves the first template again (an A/B test): stored against that one, not the newest base.
    third = first.replace(words[900].encode(), b"AGAIN", 1)
    digest = store.put_snapshot(third, "text/html", "utf-8", policy_id="a")
    assert store.db.execute("SELECT compression, base_sha256 FROM snapshots WHERE sha256 = ?",
                            [digest]).fetchone() == ("zstd-delta", digests[0])
    assert store.snapshot(digest)[0] == third
    # A delta decoded against other bytes than its base (a base row damaged) fails: never a wrong page.
    damaged = first.replace(words[700].encode(), b"x" * len(words[700]), 1)  # same length, other bytes
    store.db.execute("UPDATE snapshots SET content = ? WHERE sha256 = ?",
                     [zstandard.ZstdCompressor().compress(damaged), digests[0]])
    with pytest.raises(PolicywatchError, match=f"stored raw page {digests[0]} is damaged .*sha256"):
        store.snapshot(digest)
    # Without the sha256 test, the delta's own checksum catches it.
    monkeypatch.setattr("policywatch.store.sha256", lambda data: hashlib.sha256(first if data == damaged else data))
    with pytest.raises(PolicywatchError, match=f"stored raw page {digest} is damaged .*checksum"):
        store.snapshot(digest)
    monkeypatch.undo()
    # A frame whose header declares another size than the page's is damaged, and nothing is allocated for it.
    store.db.execute("UPDATE snapshots SET content = ? WHERE sha256 = ?",
                     [zstandard.ZstdCompressor().compress(b"x" * (len(first) * 4)), digests[0]])
    with pytest.raises(PolicywatchError, match=f"stored raw page {digests[0]} is damaged .*declares"):
        store.snapshot(digests[0])
    # A damaged base does not stop the policy's next pages from being stored (against another base, or whole).
    fourth = first.replace(words[1100].encode(), b"FOURTH", 1)
    digest = store.put_snapshot(fourth, "text/html", "utf-8", policy_id="a")
    assert store.db.execute("SELECT base_sha256 FROM snapshots WHERE sha256 = ?", [digest]).fetchone()[0] != digests[0]
    assert store.snapshot(digest)[0] == fourth


def _runs(path) -> list[tuple]:
    with sqlite3.connect(path) as other:  # another connection: sees only what was committed
        return other.execute("SELECT command, finished_at IS NOT NULL FROM runs ORDER BY id").fetchall()


def test_a_batch_commits_its_units_together_when_full_when_due_and_at_its_end(tmp_path):
    path = tmp_path / "pw.db"
    clock = [0.0]
    with Store.open(path) as store, store.batch(most=3, seconds=10, clock=lambda: clock[0]) as batch:
        for name in ("a", "b"):
            store.start_run(name)
            batch.done()
        assert _runs(path) == []  # two units: not committed yet
        store.start_run("c")
        batch.done()
        assert [command for command, _ in _runs(path)] == ["a", "b", "c"]  # full
        store.start_run("d")
        clock[0] = 10.0
        batch.done()
        assert len(_runs(path)) == 4  # due
        store.start_run("e")
        batch.done()
        assert len(_runs(path)) == 4
        batch.commit()
        assert len(_runs(path)) == 5  # asked (the writer has nothing else to do)
        store.start_run("f")
        batch.done()
    assert len(_runs(path)) == 6  # the end


def test_a_unit_that_fails_in_a_batch_is_undone_alone(tmp_path):
    path = tmp_path / "pw.db"
    with Store.open(path) as store:
        with pytest.raises(RuntimeError), store.batch() as batch:
            store.start_run("kept")
            batch.done()
            with store.transaction():
                store.start_run("undone")
                raise RuntimeError("the unit fails")
        assert _runs(path) == [("kept", False)]
        store.start_run("after")  # the store is usable: no transaction left open
    assert [command for command, _ in _runs(path)] == ["kept", "after"]


def test_an_exception_that_escapes_a_half_done_unit_leaves_only_the_units_done(tmp_path):
    path = tmp_path / "pw.db"
    with Store.open(path) as store, pytest.raises(KeyboardInterrupt), store.batch() as batch:
        store.start_run("done")
        batch.done()
        store.start_run("half done")  # outside any unit's own transaction: nothing undoes it
        raise KeyboardInterrupt
    assert _runs(path) == [("done", False)]


def test_a_process_killed_in_a_batch_leaves_only_whole_units(tmp_path):
    import signal
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "pw.db"
    child = textwrap.dedent(f"""
        import os, signal
        from policywatch.store import Store
        store = Store.open({str(path)!r})
        with store.batch(most=4, seconds=3600) as batch:
            for unit in range(10):
                with store.transaction():
                    run = store.start_run(f"unit {{unit}}")
                    if unit == 6:
                        os.kill(os.getpid(), signal.SIGKILL)  # in the middle of a unit
                    store.finish_run(run, {{}}, 0)
                batch.done()
    """)
    killed = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with Store.open(path) as store:  # opens (and recovers) cleanly
        assert store.db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _runs(path) == [(f"unit {unit}", True) for unit in range(4)]  # the first batch, whole


def test_ensuring_a_known_policy_writes_nothing_unless_its_name_or_url_changed(store):
    store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
    before = store.db.conn.total_changes
    store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
    assert store.db.conn.total_changes == before  # a daily run rewrote every policy's row
    store.ensure_policy("acme", "ACME Corp", "https://acme.example/privacy")
    assert store.db.conn.total_changes == before + 1
    assert store.db.execute("SELECT name FROM policies WHERE id = 'acme'").fetchone() == ("ACME Corp",)
