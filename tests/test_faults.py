"""Faults an attacker or an unlucky operator meets: one row each, each failing before its fix.

Run against real parts only: the CLI in a subprocess, the renderers a ticket system or
chat would use (python-markdown, markdown-it), loopback servers.
"""

from __future__ import annotations

import pytest
from console import run_cli

from policywatch.document import parse_text
from policywatch.judge import compare
from policywatch.messages import compose_change
from policywatch.normalize import normalize_html
from policywatch.watchlist import Policy

# Page text that becomes live Markdown if written raw: a link, an image with a script, raw HTML.
HOSTILE_HEADINGS = [
    "Contact [Verify your account](https://evil.example/phish)",
    "Sharing <img src=x onerror=alert(1)>",
    "Rights ![pixel](https://evil.example/track.gif) <script>alert(2)</script>",
]


def _page(headings: list[str], sell: bool) -> str:
    import html

    sections = "".join(f"<h2>{html.escape(h)}</h2><p>We {'sell' if sell and k == 1 else 'do not sell'} your "
                       f"personal information to data brokers, section {k}.</p>" for k, h in enumerate(headings))
    return f"<html><body><main><h1>Privacy</h1>{sections}</main></body></html>"


def _rendered(markdown_text: str) -> list[str]:
    """The HTML two common Markdown renderers make of a text."""
    import markdown
    from markdown_it import MarkdownIt

    return [markdown.markdown(markdown_text), MarkdownIt("commonmark").render(markdown_text)]


def _assert_inert(markdown_text: str) -> None:
    for page in _rendered(markdown_text):
        lowered = page.lower()
        assert 'href="https://evil.example' not in lowered and 'src="https://evil.example' not in lowered, page
        assert "<img" not in lowered and "<script" not in lowered, page


@pytest.mark.parametrize("heading", HOSTILE_HEADINGS)
def test_page_headings_are_inert_in_markdown_diffs(tmp_path, heading):
    old, new = tmp_path / "old.html", tmp_path / "new.html"
    old.write_text(_page(["Contact", "Sharing", "Rights"], sell=False), encoding="utf-8")
    # The hostile heading replaces an old one (a "renamed from" title) and heads a changed section.
    new.write_text(_page(["Contact", heading, "Rights"], sell=True), encoding="utf-8")
    for first, second in ((old, new), (new, old)):
        result = run_cli(tmp_path, "diff-files", str(first), str(second), "--format", "markdown")
        assert result.returncode == 0, result.stderr
        # The words are kept, as text (a Markdown link typed into a page reads as its text alone).
        assert "alert(" in result.stdout or "evil.example" in result.stdout or "Verify your account" in result.stdout
        _assert_inert(result.stdout)


@pytest.mark.parametrize("heading", HOSTILE_HEADINGS)
def test_page_headings_are_inert_in_markdown_messages(heading):
    plain = normalize_html(_page(["Contact", "Sharing", "Rights"], sell=False)).document
    hostile = normalize_html(_page(["Contact", heading, "Rights"], sell=True)).document
    for old, new in ((plain, hostile), (hostile, plain)):  # as the new heading, and as "renamed from"
        diff, judgement = compare(old, new)
        message = compose_change(Policy(id="acme", name="ACME", url="https://acme.example/privacy"), diff, judgement)
        _assert_inert(message.markdown)


def test_markdown_input_keeps_its_link_words_not_its_targets():
    document = parse_text("# P\n\n## Contact [Verify your account](https://evil.example/phish)\n\nText.\n")
    assert "evil.example" not in document.markdown() and "Verify your account" in document.markdown()


# -- the database ------------------------------------------------------------------------------------

OPEN_AT = """
import sys, time
from policywatch.store import Store
start = float(sys.argv[2])
while time.time() < start:
    pass
with Store.open(sys.argv[1]) as store:
    print(store.db.execute("PRAGMA user_version").fetchone()[0])
"""


def test_runs_creating_a_new_database_at_the_same_moment_all_open_it(tmp_path):
    import subprocess
    import sys
    import time

    from policywatch.store import MIGRATIONS

    path = tmp_path / "data" / "new.db"
    start = time.time() + 1.5  # after every interpreter has started: they race on the first statement
    runs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, str(path), str(start)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], [err for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {str(len(MIGRATIONS))}


def test_a_database_left_without_its_full_text_index_is_repaired_on_open(tmp_path):
    import sqlite3

    from policywatch.store import MIGRATIONS, Store

    path = tmp_path / "killed.db"
    conn = sqlite3.connect(path)  # what an older policywatch killed right after the first step left
    conn.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version=1; COMMIT;")
    conn.close()
    with Store.open(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
        store.add_version("acme", text="We sell biometric data.", text_sha256="x", words=4, language="en",
                          title=None, captured_at="2026-01-01T00:00:00Z", source="live", snapshot_sha256=None,
                          normalizer=3)
        found = store.db.execute("SELECT rowid FROM versions_fts WHERE versions_fts MATCH 'biometric'").fetchall()
        assert len(found) == 1
        with store.writer(), store.transaction():  # a text stored against its raw page (zstd)
            page = store.put_snapshot(b"<p>We keep voiceprints for ten years.</p>", "text/html", "utf-8", "acme")
            store.add_version("acme", text="We keep voiceprints for ten years.", text_sha256="y", words=6,
                              language="en", title=None, captured_at="2026-02-01T00:00:00Z", source="live",
                              snapshot_sha256=page, normalizer=3)
        store.db.execute("DROP TABLE versions_fts")  # lost again, with both kinds of stored text
    with Store.open(path) as store:
        found = store.db.execute("SELECT rowid FROM versions_fts WHERE versions_fts MATCH 'voiceprints OR biometric'")
        assert len(found.fetchall()) == 2


# -- users' regular expressions ------------------------------------------------------------------------

def test_validate_warns_on_a_regex_that_repeats_a_repetition(tmp_path):
    (tmp_path / "watchlist.yaml").write_text(
        "policies:\n  - id: acme\n    name: ACME\n    url: https://acme.example/privacy\n"
        "    ignore: ['(a+)+$', 'Build \\\\d+']\n", encoding="utf-8")
    result = run_cli(tmp_path, "validate")
    assert result.returncode == 0, result.stderr
    assert "watchlist.yaml:5: the regex '(a+)+$' in 'ignore' repeats a repetition" in result.stderr
    assert "Build" not in result.stderr


def test_an_ignore_pattern_that_backtracks_fails_that_check_and_the_run_ends(http_server, make_watchlist, store,
                                                                              monkeypatch):
    import pages

    from policywatch import normalize
    from policywatch.monitor import check

    monkeypatch.setattr(normalize, "IGNORE_SECONDS", 0.3)
    http_server.route("/privacy", pages.policy_page(edits={"provides online": "a" * 60 + "! provides online"}))
    watchlist = make_watchlist([{"id": "acme", "url": http_server.url("/privacy"), "ignore": ["(a|aa)+$"]}])
    report = check(watchlist, store, notify=False)
    result = report.results[0]
    assert (result.outcome, result.reason) == ("failed", "ignore_timeout")
    assert "the ignore pattern '(a|aa)+$' takes over 0.3 s" in result.message
    assert store.policy_rows()["acme"]["current_version_id"] is None  # nothing stored from that page


# -- no traceback: a clear line, the right exit code, nothing stored lost ------------------------------

def _stored(tmp_path):
    from policywatch.store import Store

    path = tmp_path / "data" / "policywatch.db"
    with Store.open(path) as store:
        store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
        for n in range(40):  # enough rows for pages beyond the schema's
            store.add_version("acme", text=f"Version {n}. " + "We collect your e-mail address. " * 40,
                              text_sha256=str(n), words=200, language="en", title=None,
                              captured_at=f"2026-01-{n % 28 + 1:02d}T00:00:00Z", source="live",
                              snapshot_sha256=None, normalizer=3)
    return path


@pytest.mark.parametrize("damage", ["schema", "data"])
def test_a_damaged_database_is_one_clear_line_and_exit_3(tmp_path, damage):
    path = _stored(tmp_path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    # Every page but the first (the open fails) or the second half of the file (a query fails).
    start = page if damage == "schema" else len(data) // 2 // page * page
    data[start:] = b"\xa5" * (len(data) - start)
    path.write_bytes(bytes(data))
    (tmp_path / "watchlist.yaml").write_text(
        "policies:\n  - {id: acme, name: ACME, url: 'https://acme.example/privacy'}\n", encoding="utf-8")
    commands = [["history", "acme"], ["show", "acme"], ["list"]] if damage == "schema" else \
        [["show", "acme", "--version", "40"], ["facts", "acme", "--version", "40"]]
    for command in commands:
        result = run_cli(tmp_path, "--db", str(path), *command)
        assert result.returncode == 3, (command, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "the database file is damaged" in result.stderr


def test_a_watchlist_nested_too_deeply_is_one_clear_line(tmp_path):
    (tmp_path / "watchlist.yaml").write_text("policies: " + "[" * 20_000 + "]" * 20_000 + "\n", encoding="utf-8")
    result = run_cli(tmp_path, "validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "watchlist.yaml" in result.stderr


# -- archives ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", ['{"error": "Unable to process the query"}', '[["a", "b"], [1, 2]]',
                                    '{"items": []}'])
def test_a_cdx_answer_of_the_wrong_shape_fails_the_import_instead_of_finding_nothing(
        http_server, make_watchlist, store, answer):
    from policywatch.archive import Archive
    from policywatch.history_import import backfill

    http_server.route("/coll/cdx", body=answer, content_type="application/json")
    watchlist = make_watchlist([{"id": "acme", "url": "https://acme.example/privacy"}])
    archive = Archive.configured(http_server.url("/coll/cdx"), http_server.url("/coll/{timestamp}id_/{url}"))
    report = backfill(watchlist, store, archive=archive, rate=0)
    assert report.results[0].outcome == "failed" and "not a list of captures" in report.results[0].message
    assert report.exit_code == 3


# -- interrupted runs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum,code", [(2, 130), (15, 143)])  # SIGINT (Ctrl-C), SIGTERM (kill, cron timeout)
def test_an_interrupted_check_records_how_it_ended_and_frees_the_lock(tmp_path, http_server, signum, code):
    import sqlite3
    import subprocess
    import time

    from console import cli_env, policywatch

    http_server.route("/privacy", body="<p>slow</p>", delay=30)
    (tmp_path / "watchlist.yaml").write_text(
        f"defaults: {{timeout: 60, retries: 0}}\npolicies:\n  - {{id: acme, name: ACME, url: "
        f"'{http_server.url('/privacy')}'}}\n", encoding="utf-8")
    run = subprocess.Popen(policywatch("-q", "check"), cwd=tmp_path, env=cli_env(tmp_path),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not http_server.requests and time.time() < deadline:  # the fetch is under way
        time.sleep(0.05)
    run.send_signal(signum)
    _, err = run.communicate(timeout=30)
    assert run.returncode == code and "Traceback" not in err, err
    with sqlite3.connect(tmp_path / "pw.db") as db:
        assert db.execute("SELECT exit_code FROM runs ORDER BY id DESC LIMIT 1").fetchone() == (code,)
    http_server.route("/privacy", body="<p>fast</p>")
    again = subprocess.run(policywatch("-q", "check", "--no-notify"), cwd=tmp_path, env=cli_env(tmp_path),
                           capture_output=True, text=True, timeout=60)
    assert "another policywatch run" not in again.stderr  # the lock went with the run


def test_notify_log_of_an_unknown_policy_names_it(tmp_path):
    from policywatch.store import Store

    with Store.open(tmp_path / "pw.db") as store:
        store.ensure_policy("acme", "ACME", "https://acme.example/privacy")
    (tmp_path / "watchlist.yaml").write_text(
        "policies:\n  - {id: acme, name: ACME, url: 'https://acme.example/privacy'}\n", encoding="utf-8")
    result = run_cli(tmp_path, "notify", "log", "acmee")
    assert result.returncode == 2 and "no stored policy 'acmee' (did you mean 'acme'?)" in result.stderr


def test_a_watchlist_wrong_in_every_entry_stops_after_a_hundred_problems():
    from policywatch.errors import ConfigError
    from policywatch.watchlist import MAX_PROBLEMS, parse_watchlist

    text = "policies:\n" + "".join(f"  - {{id: 'BAD ID {i}', name: x, url: 'ftp://x'}}\n" for i in range(2000))
    with pytest.raises(ConfigError) as raised:
        parse_watchlist(text)
    assert len(raised.value.problems) == MAX_PROBLEMS + 1
    assert raised.value.problems[-1].endswith(f"stopped after {MAX_PROBLEMS} problems")


def test_a_full_disk_is_one_clear_line_and_keeps_what_was_stored(tmp_path, http_server):
    """A file-size limit (RLIMIT_FSIZE) makes SQLite's writes fail as on a full disk, without a mount."""
    import random
    import resource
    import signal as signals
    import sqlite3
    import subprocess

    import pages
    from console import cli_env, policywatch

    http_server.route("/privacy", pages.policy_page())
    (tmp_path / "watchlist.yaml").write_text(
        f"policies:\n  - {{id: acme, name: ACME, url: '{http_server.url('/privacy')}'}}\n", encoding="utf-8")
    first = subprocess.run(policywatch("-q", "check", "--no-notify"), cwd=tmp_path, env=cli_env(tmp_path),
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    words = random.Random(1).choices(["data", "share", "partners", "retain", "consent", "cookies"], k=400_000)
    http_server.route("/privacy", body="<h1>Privacy</h1>" + "".join(
        f"<p>{' '.join(words[k:k + 40])} {k}.</p>" for k in range(0, len(words), 40)))
    limit = (tmp_path / "pw.db").stat().st_size + 64 * 1024

    def small_disk() -> None:
        signals.signal(signals.SIGXFSZ, signals.SIG_IGN)  # a write past the limit fails (EFBIG), as ENOSPC would
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(policywatch("-q", "check", "--no-notify"), cwd=tmp_path, env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=120, preexec_fn=small_disk)
    assert full.returncode == 3 and "Traceback" not in full.stderr, full.stderr
    assert "full" in full.stderr and len(full.stderr.strip().splitlines()) == 1, full.stderr
    with sqlite3.connect(tmp_path / "pw.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT number FROM versions").fetchall() == [(1,)]  # the first text, intact


def test_reading_commands_work_on_a_database_in_a_folder_that_cannot_be_written(tmp_path):
    import os
    import subprocess

    from console import cli_env, policywatch

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere: run as a user to see a read-only folder")
    path = _stored(tmp_path)
    (tmp_path / "watchlist.yaml").write_text(
        "policies:\n  - {id: acme, name: ACME, url: 'https://acme.example/privacy'}\n", encoding="utf-8")
    path.parent.chmod(0o555)
    try:
        shown = subprocess.run(policywatch("--db", str(path), "show", "acme", "--version", "3"), cwd=tmp_path,
                               env=cli_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and "Version 2." in shown.stdout, shown.stderr
        check = subprocess.run(policywatch("--db", str(path), "check"), cwd=tmp_path, env=cli_env(tmp_path),
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 3 and "cannot write the database" in check.stderr, check.stderr
    finally:
        path.parent.chmod(0o755)
