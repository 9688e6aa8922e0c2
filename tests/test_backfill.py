"""Backfill from a real pywb archive (WARCs written with warcio, served by ``wayback`` on loopback)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time

import pytest

pytest.importorskip("pywb")
pytest.importorskip("warcio")

from console import run_cli, start_cli  # noqa: E402
from pages import SALE, SECTIONS, bot_wall_page, policy_page  # noqa: E402
from pywb_harness import Capture, PywbArchive  # noqa: E402

from policywatch.archive import Archive  # noqa: E402
from policywatch.history_import import backfill  # noqa: E402
from policywatch.monitor import check  # noqa: E402
from policywatch.store import Store  # noqa: E402

URL = "https://acme.example/privacy"
START = dt.date(2019, 1, 1)

TRAINING = ("can improve them.", "can improve them and train our artificial intelligence models on your content.")
RETENTION = ("ninety days", "three years")


def day(n: int) -> str:
    return (START + dt.timedelta(days=n)).strftime("%Y%m%d") + "120000"


def edits_on(n: int) -> dict[str, str]:
    """The text in effect on day n: training from day 12, a sale from 30 to 41 (then reverted),
    retention lengthened from day 50."""
    edits = {}
    if n >= 12:
        edits[TRAINING[0]] = TRAINING[1]
    if 30 <= n < 42:
        edits[SALE[0]] = SALE[1]
    if n >= 50:
        edits[RETENTION[0]] = RETENTION[1]
    return edits


def history(days: int = 64) -> list[Capture]:
    captures = []
    for n in range(days):
        # Days 3-5 repeat day 2's bytes (same digest); other days differ by page churn only.
        churn = 2 if 3 <= n <= 5 else n
        captures.append(Capture(URL, day(n), policy_page(edits=edits_on(n), churn=churn)))
    captures.append(Capture.redirect(URL, day(20)[:-6] + "180000", "https://acme.example/legal/privacy"))
    captures.append(Capture(URL, day(21)[:-6] + "180000", bot_wall_page()))
    return captures


TRUE_CHANGES = [day(0), day(12), day(30), day(42), day(50)]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("pywb")
    first = policy_page(churn=0)
    revisits = [Capture(URL, day(0), first)]
    revisits += [Capture(URL, day(n), policy_page(edits=dict([SALE]), churn=n)) for n in range(1, 10)]
    # Back to the first text's very bytes: the archive stores a revisit record (status "-").
    revisits.append(Capture(URL, day(10), first, revisit=True))
    # A teaser stands where the policy was for three days (a landing page, a script-built page).
    teaser = [Capture(URL, day(n), policy_page(churn=n, drop_sections=len(SECTIONS) - 1 if 4 <= n < 7 else 0,
                                               edits=dict([SALE]) if n >= 9 else None)) for n in range(12)]
    # The visitor's region got the German edition once (a geo-served page): another language, not a change.
    german = ("<html lang='de'><body><main><h1>Datenschutzerklärung</h1>" + "".join(
        f"<p>Wir verarbeiten Ihre personenbezogenen Daten nur, wenn und soweit dies für die Erbringung unserer "
        f"Dienste erforderlich ist, und wir geben sie nicht an Dritte weiter, es sei denn, Sie haben zugestimmt "
        f"oder das Gesetz verlangt es ({n}).</p>" for n in range(12)) + "</main></body></html>")
    editions = [Capture(URL, day(n), german if n == 3 else policy_page(churn=n)) for n in range(6)]
    with PywbArchive(root, {"acme": history(), "revisits": revisits, "teaser": teaser,
                            "editions": editions}) as running:
        yield running


@pytest.fixture
def source(archive):
    archive.reset_counts()
    return Archive.configured(archive.cdx_url("acme"), archive.replay_template("acme"))


def timeline_of(store: Store) -> list[tuple]:
    return [(row["captured_at"], row["version"], row["source"], row["returns_to"]) for row in store.timeline("acme")]


def stamp_of(captured_at: str) -> str:
    return captured_at.replace("-", "").replace("T", "").replace(":", "").rstrip("Z")


def test_all_strategy_imports_every_version_with_archive_timestamps(archive, source, make_watchlist, store):
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    report = backfill(watchlist, store, archive=source, strategy="all", rate=0)
    result = report.results[0]
    assert result.outcome == "ok", result.message
    assert result.listed == 65  # 64 days and the bot wall; the 302 capture is not listed
    assert result.distinct == 62  # days 3-5 share day 2's digest
    assert archive.count("replay") == 62 and result.fetched == 62
    assert result.skipped == 1  # the bot wall
    entries = timeline_of(store)
    assert [stamp_of(e[0]) for e in entries] == TRUE_CHANGES
    assert [e[1] for e in entries] == [1, 2, 3, 2, 4]  # numbered in order of first appearance
    assert all(e[2] == "wayback" for e in entries)
    assert entries[3][3] == 2  # the sale was reverted: a return to v2
    rows = store.timeline("acme")
    assert json.loads(rows[1]["categories"]) == ["purposes"] and rows[1]["material"]
    assert json.loads(rows[2]["categories"]) == ["sharing"] and rows[2]["severity"] == "high"
    assert json.loads(rows[4]["categories"]) == ["retention"]
    assert store.policy_rows()["acme"]["current_number"] == 4
    versions = {v["number"]: v for v in store.versions_of("acme")}
    assert versions[1]["captured_at"] == "2019-01-01T12:00:00Z" and versions[1]["source"] == "wayback"
    # every fetch is an observation; every looked-at capture is remembered
    assert store.db["observations"].count == 62
    assert store.db.execute("SELECT COUNT(*) FROM captures WHERE outcome = 'version'").fetchone()[0] == 61

    # A second run fetches nothing and changes nothing.
    archive.reset_counts()
    again = backfill(watchlist, store, archive=source, strategy="all", rate=0).results[0]
    assert archive.count("replay") == 0 and again.known == 62 and again.changes_added == 0
    assert timeline_of(store) == entries


def test_changes_strategy_finds_the_same_history_with_fewer_fetches(archive, source, make_watchlist, tmp_path):
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    with Store.open(tmp_path / "all.db") as store:
        backfill(watchlist, store, archive=source, strategy="all", rate=0)
        everything = timeline_of(store)
        all_fetches = archive.count("replay")
    archive.reset_counts()
    with Store.open(tmp_path / "changes.db") as store:
        result = backfill(watchlist, store, archive=source, strategy="changes", rate=0).results[0]
        assert timeline_of(store) == everything
        assert result.requests == {"cdx": 1, "replay": archive.count("replay")}
    assert archive.count("replay") * 2 < all_fetches, (archive.count("replay"), all_fetches)


def test_date_range_and_unknown_url(archive, source, make_watchlist, store):
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL},
                                {"id": "nothing", "name": "Not archived", "url": "https://nowhere.example/p"}])
    report = backfill(watchlist, store, archive=source, strategy="all", rate=0, since="2019-01-20", until="2019-02-05")
    acme, nothing = report.results
    assert acme.listed == 18 and nothing.listed == 0 and nothing.outcome == "ok"
    assert [stamp_of(e[0]) for e in timeline_of(store)] == ["20190120120000", day(30)]


def test_live_checks_continue_the_archived_history(archive, source, make_watchlist, store, http_server):
    http_server.route("/privacy", policy_page(edits=edits_on(63), churn=99))
    live_url = http_server.url("/privacy")
    # The archive knows the page by its public URL; the watchlist points at the test server.
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": live_url, "archive_url": URL}],
                               retries=0)
    assert check(watchlist, store).results[0].outcome == "new"
    backfill(watchlist, store, archive=source, strategy="changes", rate=0)
    entries = timeline_of(store)
    # The live text equals the archive's last one: the live check is no change of its own.
    assert [stamp_of(e[0]) for e in entries] == TRUE_CHANGES
    assert store.policy_rows()["acme"]["current_number"] == 4
    # A new live text is judged against the archived history.
    http_server.route("/privacy", policy_page(edits={**edits_on(63), **dict([SALE])}, churn=100))
    result = check(watchlist, store).results[0]
    assert (result.outcome, result.previous_version, result.version, result.returns_to) == ("changed", 4, 5, None)
    assert result.material and "sharing" in result.categories
    assert [e[2] for e in timeline_of(store)] == ["wayback"] * 5 + ["live"]


def test_cli_backfill_then_history_show_and_diff_across_years(archive, make_watchlist, tmp_path):
    make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    archive.reset_counts()
    proc = run_cli(tmp_path, "backfill", "acme", "--cdx-url", archive.cdx_url("acme"), "--rate", "0",
                   "--strategy", "changes")
    assert proc.returncode == 0, proc.stderr
    assert "acme: 65 captures listed, 62 distinct" in proc.stdout
    assert f"requests to 127.0.0.1:{archive.cdx_url('acme').split(':')[2].split('/')[0]}: 1 listing + " \
           f"{archive.count('replay')} replay" in proc.stdout
    history = json.loads(run_cli(tmp_path, "history", "acme", "--format", "json").stdout)
    assert [e["source"] for e in history["entries"]] == ["wayback"] * 5
    assert history["entries"][2]["categories"] == ["sharing"]
    shown = run_cli(tmp_path, "show", "acme", "--at", "2019-02-05", "--format", "json")
    assert json.loads(shown.stdout)["version"] == 3
    diff = run_cli(tmp_path, "diff", "acme", "--from", "2019-01-01", "--to", "now", "--format", "json")
    verdict = json.loads(diff.stdout)
    assert set(verdict["categories"]) >= {"purposes", "retention"}


def test_killed_backfill_resumes_without_fetching_twice(archive, make_watchlist, tmp_path):
    make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    archive.reset_counts()
    # 600 requests a minute: one every 0.1 s, so the kill lands mid-import.
    process = start_cli(tmp_path, "backfill", "--cdx-url", archive.cdx_url("acme"), "--strategy", "all",
                        "--rate", "600")
    deadline = time.monotonic() + 60
    while archive.count("replay") < 20 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first_run = archive.count("replay")
    assert 20 <= first_run < 62
    with Store.open(tmp_path / "pw.db") as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.timeline("acme") == []  # merged only once every capture was looked at
        done = store.db.execute("SELECT COUNT(*) FROM captures").fetchone()[0]
    assert done >= first_run - 1
    proc = run_cli(tmp_path, "backfill", "--cdx-url", archive.cdx_url("acme"), "--strategy", "all", "--rate", "0")
    assert proc.returncode == 0, proc.stderr
    fetched_paths = [r.path for r in archive.requests if r.kind == "replay"]
    assert len(fetched_paths) - len(set(fetched_paths)) <= 1  # at most the capture in flight at the kill
    assert len(set(fetched_paths)) == 62
    with Store.open(tmp_path / "pw.db") as store:
        assert [stamp_of(e[0]) for e in timeline_of(store)] == TRUE_CHANGES


def test_backfilled_history_notifies_only_when_asked(archive, source, tmp_path, http_receiver):
    from policywatch.watchlist import parse_watchlist

    text = json.dumps({"notify": {"team": {"urls": [http_receiver.url()], "mode": "immediate"}},
                       "policies": [{"id": "acme", "name": "ACME Privacy Policy", "url": URL, "notify": ["team"]}]})
    watchlist = parse_watchlist(text, tmp_path / "watchlist.yaml")
    with Store.open(tmp_path / "quiet.db") as store:
        backfill(watchlist, store, archive=source, strategy="changes", rate=0)
        assert len(store.timeline("acme")) == 5 and store.db["outbox"].count == 0
    assert http_receiver.posts == []
    with Store.open(tmp_path / "loud.db") as store:
        report = backfill(watchlist, store, archive=source, strategy="changes", rate=0, notify=True)
    titles = [post.fields["title"] for post in http_receiver.posts]
    # training, sale, retention: material; the return to the earlier text is not news
    assert len(titles) == 3 and report.notifications.count("sent") == 3
    assert "Purposes" in titles[0] and "Sharing & sale" in titles[1] and "Retention" in titles[2]
    # the archived copy is the archive's own replay of the capture that shows the change
    assert f"/acme/{day(12)}/{URL}" in http_receiver.posts[0].fields["message"]


def test_a_return_to_archived_bytes_is_found_through_the_revisit_record(archive, make_watchlist, store):
    source = Archive.configured(archive.cdx_url("revisits"), archive.replay_template("revisits"))
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    result = backfill(watchlist, store, archive=source, strategy="all", rate=0).results[0]
    assert result.listed == 11 and result.outcome == "ok"
    assert [(stamp_of(e[0]), e[1], e[3]) for e in timeline_of(store)] == [
        (day(0), 1, None), (day(1), 2, None), (day(10), 1, 1)]
    assert result.known == 1  # the revisit's digest is the first capture's: no second fetch


def test_new_policy_settings_are_applied_to_kept_bytes_without_refetching(archive, source, make_watchlist, store):
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    backfill(watchlist, store, archive=source, strategy="all", rate=0)
    assert len(store.timeline("acme")) == 5
    archive.reset_counts()
    # The sale sentence is now ignored: the flip-flop disappears from the history.
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL,
                                 "ignore": ["We (don't )?sell your personal information( to advertisers)?\\."]}])
    result = backfill(watchlist, store, archive=source, strategy="all", rate=0).results[0]
    assert archive.count("replay") == 0 and result.fetched == 0 and result.known == 62
    assert [stamp_of(e[0]) for e in timeline_of(store)] == [day(0), day(12), day(50)]


def test_kept_bytes_that_are_damaged_are_fetched_from_the_archive_again(archive, source, make_watchlist, store):
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    backfill(watchlist, store, archive=source, strategy="all", rate=0)
    # One kept page loses its bytes (a bit flip, a bad restore); not one a stored text is read against.
    damaged = store.db.execute("SELECT sha256 FROM snapshots WHERE sha256 NOT IN (SELECT text_base FROM versions"
                               " WHERE text_base IS NOT NULL) AND sha256 NOT IN (SELECT base_sha256 FROM snapshots"
                               " WHERE base_sha256 IS NOT NULL) ORDER BY rowid LIMIT 1").fetchone()[0]
    store.db.execute("UPDATE snapshots SET content = ? WHERE sha256 = ?", [b"\x28\xb5\x2f\xfd garbage", damaged])
    archive.reset_counts()
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL,
                                 "ignore": ["We (don't )?sell your personal information( to advertisers)?\\."]}])
    result = backfill(watchlist, store, archive=source, strategy="all", rate=0).results[0]
    assert result.outcome == "ok" and result.fetched == archive.count("replay") >= 1
    assert store.snapshot(damaged)[0]  # and kept again, whole
    assert [stamp_of(e[0]) for e in timeline_of(store)] == [day(0), day(12), day(50)]

def test_a_page_shrunk_to_a_teaser_is_suspect_as_in_a_live_check(archive, make_watchlist, store):
    """Under half the words of the text in effect before it: not a change of the policy.

    Captures are fetched out of time order, so the comparison is made when the timeline is built.
    """
    source = Archive.configured(archive.cdx_url("teaser"), archive.replay_template("teaser"))
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    result = backfill(watchlist, store, archive=source, strategy="all", rate=0).results[0]
    assert result.outcome == "ok" and result.fetched == 12
    entries = timeline_of(store)
    assert [stamp_of(e[0]) for e in entries] == [day(0), day(9)]  # neither the teaser nor the way back
    assert store.timeline("acme")[1]["severity"] == "high"  # the sale, judged against the full text


def test_evidence_of_an_archived_version_names_its_capture_and_keeps_its_bytes(archive, source, make_watchlist,
                                                                                  store, tmp_path):
    import hashlib
    import zipfile

    from policywatch.evidence import write_evidence

    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    backfill(watchlist, store, archive=source, strategy="changes", rate=0)
    version = store.version("acme", 2)  # training, from day 12
    bundle = write_evidence(store, store.policy_rows()["acme"], version, tmp_path / "v2.zip")
    with zipfile.ZipFile(bundle.path) as z:
        response = json.loads(z.read("page/response.json"))
        assert response["source"] == "wayback" and response["archive"]["cdx"] == source.cdx_url
        # the capture that served the kept bytes: the evidence and its provenance agree
        served = store.db.execute("SELECT timestamp FROM captures WHERE snapshot_sha256 = ?",
                                  [version["snapshot_sha256"]]).fetchone()[0]
        assert response["archive"]["timestamp"] == served and response["archive"]["original"] == URL
        raw = z.read("page/raw.html")
        assert hashlib.sha256(raw).hexdigest() == response["sha256"] and b"train our artificial intelligence" in raw
        assert response["headers"]  # what the archive answered with the bytes
        # the diff page links the archive's own replay of each side's capture
        page = z.read("diff.html").decode()
        assert f"/acme/{day(12)}/{URL}" in page and f"/acme/{day(0)}/{URL}" in page


def test_a_reviewed_change_whose_place_in_the_timeline_moves_keeps_its_review(archive, source, make_watchlist,
                                                                                store):
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    backfill(watchlist, store, archive=source, strategy="all", rate=0, since="2019-01-20")
    first = store.timeline("acme")[0]
    with store.writer(), store.transaction():
        store.add_review(first["id"], "ack", note="legal read the 2019 text")
    # the wider import finds this text in effect earlier: its change moves, and the review with it
    report = backfill(watchlist, store, archive=source, strategy="all", rate=0)
    assert report.results[0].outcome == "ok", report.results[0].message
    (review,) = store.db.execute("SELECT change_id, note FROM reviews").fetchall()
    holder = store.change_by_id(review[0])
    assert review[1] == "legal read the 2019 text" and holder["version_id"] == first["version_id"]


def test_a_capture_of_another_languages_edition_is_no_change_as_in_a_live_check(archive, make_watchlist, store):
    source = Archive.configured(archive.cdx_url("editions"), archive.replay_template("editions"))
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": URL}])
    assert backfill(watchlist, store, archive=source, strategy="all", rate=0).results[0].outcome == "ok"
    assert [stamp_of(e[0]) for e in timeline_of(store)] == [day(0)]  # neither the German page nor a return
