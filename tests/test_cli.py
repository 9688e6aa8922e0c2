"""End-to-end: the real `policywatch` console script in a subprocess, on local files."""

import json
import re
import subprocess
from pathlib import Path

import pytest
from console import cli_env, policywatch, run_cli

POLICY = """<!doctype html><html lang="en"><head><title>Privacy</title></head><body>
<nav><a href="/">Home</a></nav><main><h1>Example Privacy Policy</h1>
<h2>Information we collect</h2><p>{collect}</p>
<h2>How we share it</h2><p>We share information with service providers who process it for us under contract.
They may not use it for their own purposes. We require them to protect it and to delete it when done.</p>
<h2>Your rights</h2><p>You can access, correct and delete your information at any time by writing to us.
We answer within thirty days and never charge for a request.</p></main></body></html>"""


def run(tmp_path, *args, check_rc=None):
    proc = run_cli(tmp_path, *args, watchlist="wl.yaml", timeout=60)
    if check_rc is not None:
        assert proc.returncode == check_rc, (proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def project(tmp_path):
    first = POLICY.format(collect="We collect your name and email address when you sign up.")
    (tmp_path / "acme.html").write_text(first)
    (tmp_path / "draft.md").write_text("# Draft\n\n## Data\n\nWe collect as little as we can, and we say so "
                                       "in plain words that anyone can read and understand quickly. "
                                       "We keep it for thirty days,\n"
                                       "then we delete it for good.\n")
    (tmp_path / "wl.yaml").write_text(
        f"defaults: {{tags: [vendor]}}\npolicies:\n"
        f"  - {{id: acme, name: ACME Privacy Policy, url: 'file://{tmp_path}/acme.html', tags: [saas]}}\n"
        f"  - {{id: draft, name: Our draft, url: draft.md}}\n")
    return tmp_path


def test_validate_ok_and_errors(project):
    assert "2 policies" in run(project, "validate", check_rc=0).stdout
    (project / "wl.yaml").write_text("policies:\n  - url: https://a.example\n    colour: red\n")
    proc = run(project, "validate", check_rc=2)
    assert proc.stderr.strip().splitlines() == [
        f"{project / 'wl.yaml'}:3: unknown key 'colour' in policy '1'"]
    run(project, "check", check_rc=2)  # nothing runs on a bad watchlist
    assert not (project / "pw.db").exists()


def test_validate_reports_unusable_notify_urls_with_every_other_problem_in_line_order(project):
    # They came in a second pass, seen only once every other problem was fixed.
    (project / "wl.yaml").write_text(
        "defaults:\n  notify: [team]\nnotify:\n  team: ['mailtoo://alerts@example.com', 'json://127.0.0.1:9/x']\n"
        "  ops: ['slack://']\npolicies:\n  - id: a\n    url: https://a.example/p\n    ghost_key: 1\n")
    proc = run(project, "validate", check_rc=2)
    wl = project / "wl.yaml"
    assert proc.stderr.strip().splitlines() == [
        f"{wl}:4: notify target 'team': mailtoo://alerts@example.com is not a URL apprise can send to (its scheme, "
        "or a part it needs, is wrong)",
        f"{wl}:5: notify target 'ops': slack:// is not a URL apprise can send to (its scheme, or a part it needs, "
        "is wrong)",
        f"{wl}:9: unknown key 'ghost_key' in policy 'a'"]


def test_check_history_show_cycle(project):
    first = run(project, "check", check_rc=0)
    assert "NEW       acme: first version stored (v1)" in first.stdout
    assert "NEW       draft" in first.stdout
    again = run(project, "-q", "check", check_rc=0)
    assert again.stdout == ""  # cron: nothing changed, nothing printed
    (project / "acme.html").write_text(POLICY.format(collect="We collect your name, email address and precise "
                                                            "location when you sign up."))
    changed = run(project, "check", "acme", "--format", "json", check_rc=0)
    report = json.loads(changed.stdout)
    assert report["counts"]["changed"] == 1
    assert report["results"][0]["version"] == 2 and report["results"][0]["previous_version"] == 1

    history = json.loads(run(project, "history", "acme", "--format", "json", check_rc=0).stdout)
    entries = history["entries"]
    assert [e["version"] for e in entries] == [1, 2]
    assert set(entries[0]) >= {"version", "captured_at", "source", "text_sha256", "severity", "material",
                               "categories", "returns_to"}
    assert entries[0]["source"] == "file"  # a file:// URL: a legal team's own draft

    shown = json.loads(run(project, "show", "acme", "--version", "1", "--format", "json", check_rc=0).stdout)
    assert shown["version"] == 1 and "precise location" not in shown["text"]
    assert [s["heading"] for s in shown["sections"]][:2] == ["Example Privacy Policy", "Information we collect"]
    current = run(project, "show", "acme", "--at", "now", "--format", "markdown", check_rc=0).stdout
    assert "precise location" in current and "## Information we collect" in current
    assert "no version stored on or before 1999" in run(project, "show", "acme", "--at", "1999", check_rc=2).stderr

    listing = run(project, "list", "--format", "json", check_rc=0)
    acme = json.loads(listing.stdout)["policies"][0]
    assert acme["current_version"] == 2 and acme["tags"] == ["vendor", "saas"]


def test_flip_flop_is_reported_as_reverted(project):
    original = (project / "acme.html").read_text()
    run(project, "check", "acme", check_rc=0)
    (project / "acme.html").write_text(original.replace("name and email", "name, phone and email"))
    run(project, "check", "acme", check_rc=0)
    (project / "acme.html").write_text(original)
    report = json.loads(run(project, "check", "acme", "--format", "json", check_rc=0).stdout)
    assert report["results"][0]["outcome"] == "reverted" and report["results"][0]["returns_to"] == 1
    (project / "acme.html").write_text(original.replace("name and email", "name, phone and email"))
    assert run(project, "-q", "check", "acme", check_rc=0).stdout == ""  # cron: a flip-flop is not news
    entries = json.loads(run(project, "history", "acme", "--format", "json").stdout)["entries"]
    assert [(e["version"], e["returns_to"]) for e in entries] == [(1, None), (2, None), (1, 1), (2, 2)]


def test_failures_exit_3_with_one_line_per_policy(project):
    (project / "wl.yaml").write_text(
        "defaults: {retries: 0}\npolicies:\n  - {id: gone, url: 'http://127.0.0.1:9/privacy'}\n"
        f"  - {{id: missing, url: 'file://{project}/nowhere.html'}}\n")
    proc = run(project, "check", check_rc=3)
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("FAILED    gone: connection: cannot reach 127.0.0.1")
    assert lines[1].startswith("FAILED    missing: not_found: file not found")
    listing = run(project, "list", check_rc=0).stdout.splitlines()  # why each one failed, in a word
    assert "failed (connection)" in listing[0] and "failed (not_found)" in listing[1]


def test_usage_errors_exit_2(project):
    run(project, "check", check_rc=0)
    assert "did you mean 'acme'" in run(project, "check", "acm", check_rc=2).stderr
    assert "no stored policy 'nope'" in run(project, "history", "nope", check_rc=2).stderr
    assert "has no version 9" in run(project, "show", "acme", "--version", "9", check_rc=2).stderr
    assert "cannot read the date" in run(project, "show", "acme", "--at", "yesterday-ish", check_rc=2).stderr


def test_unusable_paths_and_a_missing_database_are_one_line_usage_errors(project):
    for command in (["history", "acme"], ["inbox"], ["report"], ["export", "out.zip"]):  # bad input: exit 2
        proc = run(project, "--db", str(project / "nowhere.db"), *command, check_rc=2)
        assert proc.stderr.strip() == f"policywatch: {project / 'nowhere.db'}: no database yet (run `policywatch " \
                                      "check` first, or give --db)"
    run(project, "check", check_rc=0)
    (project / "a-file").write_text("not a folder")
    for args in (("export", str(project / "no-such-dir" / "x.zip")),
                 ("evidence", "acme", str(project / "a-file" / "x.zip")), ("publish", str(project / "a-file"))):
        proc = run(project, *args, check_rc=2)
        [line] = proc.stderr.strip().splitlines()  # no traceback
        assert line.startswith("policywatch: ") and str(project) in line and "Traceback" not in proc.stderr


def test_without_a_watchlist_the_shipped_one_is_used_and_a_line_says_so(tmp_path):
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "POLICYWATCH_WATCHLIST"}
    said = subprocess.run(policywatch("validate"), capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert said.returncode == 0 and "17 policies" in said.stdout
    assert said.stderr.startswith("policywatch: no ./watchlist.yaml; using the one shipped with policywatch (")
    quiet = subprocess.run(policywatch("-q", "validate"), capture_output=True, text=True, cwd=tmp_path, env=env,
                           timeout=60)
    assert quiet.returncode == 0 and quiet.stderr == ""  # cron mails any output


def test_renormalize_command(project):
    run(project, "check", check_rc=0)
    out = run(project, "renormalize", check_rc=0).stdout
    assert "acme: 1 version(s) already current" in out


def test_demo_runs_offline_and_leaves_nothing_behind(tmp_path):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("policywatch-demo-*"))
    proc = run(tmp_path, "demo", check_rc=0)
    assert "check 2: changed (version v2)" in proc.stdout
    assert "HIGH (material)" in proc.stdout and "keeps personal data for 5 years instead of 30 days" in proc.stdout
    assert "Subject: Acme Notes Privacy Policy — material change (high)" in proc.stdout
    assert set(Path(tempfile.gettempdir()).glob("policywatch-demo-*")) == before
    assert not (tmp_path / "pw.db").exists()


def test_diff_files_and_stored_diff(project, http_server):
    json_out = json.loads(run(project, "diff-files", "acme.html", "draft.md", "--format", "json", check_rc=0).stdout)
    assert json_out["schema"] == "policywatch.diff/1" and json_out["identical"] is False
    # A file that is not there is bad input (2); a page that could not be fetched failed at run time (3).
    assert "missing.md: file not found" in run(project, "diff-files", "acme.html", "missing.md", check_rc=2).stderr
    (project / "scan.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")  # a file of the user's that is no text: bad input too
    assert "is a PDF document" in run(project, "diff-files", "acme.html", "scan.pdf", check_rc=2).stderr
    http_server.route("/down", status=500, body="down")
    run(project, "diff-files", "acme.html", http_server.url("/down"), check_rc=3)
    original = (project / "acme.html").read_text()
    run(project, "check", "acme", check_rc=0)
    (project / "acme.html").write_text(original.replace(
        "We collect your name and email address when you sign up.",
        "We collect your name, email address and fingerprints when you sign up."))
    proc = run(project, "check", "acme", "--exit-code", check_rc=1)
    assert "material" in proc.stdout
    out = run(project, "diff", "acme", check_rc=0).stdout
    assert out.startswith("HIGH (material) — Data collected: Now collects biometric data.")
    # --from before the history starts: from the first version, and a note that says so (exit 0)
    early = run(project, "diff", "acme", "--from", "2001", check_rc=0)
    assert early.stdout == out and "history starts" in early.stderr and "comparing from its first" in early.stderr
    assert "[data_collected" not in out and "data_collected.added" not in out  # rule ids stay in JSON
    assert "{+and fingerprints +}" in out and "[- and-]" in out  # wdiff-style markers when piped
    html = run(project, "diff", "acme", "--from", "1", "--to", "2", "--format", "html", check_rc=0).stdout
    assert html.startswith("<!doctype html>") and "<ins " in html
    assert not re.search(r"https?://", html.split("</style>")[0])  # nothing fetched: no script, font or sheet
    assert "script-src" not in html and "default-src 'none'" in html  # a CSP that forbids scripts
    # the header: the policy, its URL, when each version was captured, where to see each page as fetched
    assert "<strong>ACME Privacy Policy</strong>" in html and f"file://{project}/acme.html</a>" in html
    assert out.splitlines()[1] == f"ACME Privacy Policy — file://{project}/acme.html"
    assert "policywatch show acme --version 1 --raw (previous)" in out
    raw = run_cli(project, "show", "acme", "--version", "1", "--raw", watchlist="wl.yaml", text=False)
    assert raw.returncode == 0 and raw.stdout == original.encode()  # the bytes as fetched
    history = json.loads(run(project, "history", "acme", "--format", "json").stdout)["entries"]
    assert history[1]["material"] is True and "data_collected" in history[1]["categories"]
    # what each version says: facts with evidence, stored per version and read back
    facts = json.loads(run(project, "facts", "acme", "--format", "json", check_rc=0).stdout)
    assert facts["schema"] == "policywatch.facts/1" and facts["version"]["number"] == 2
    biometric = [f for f in facts["facts"] if f["practice"] == "biometric data"]
    assert biometric and biometric[0]["evidence"].endswith("and fingerprints when you sign up.")
    older = json.loads(run(project, "facts", "acme", "--version", "1", "--format", "json").stdout)["facts"]
    assert not any(f["practice"] == "biometric data" for f in older)
    text = run(project, "facts", "acme", check_rc=0).stdout
    assert "Data collected" in text and "collects biometric data" in text and "data_collected" not in text
    assert run(project, "facts", "acme", "--version", "9", check_rc=2).stderr.strip()


def test_global_options_may_follow_the_command(project):
    assert run(project, "validate", check_rc=0).stdout.strip()  # "wl.yaml: OK — 2 policies"
    assert run(project, "validate", "-q", check_rc=0).stdout == ""  # -q after the command is heard
    other = project / "other.db"
    run(project, "check", "acme", "--db", str(other), check_rc=0)
    history = json.loads(run(project, "history", "acme", "--format", "json", "--db", str(other),
                             check_rc=0).stdout)
    assert len(history["entries"]) == 1 and other.exists()


def test_inbox_and_review_keep_an_audit_trail_beside_the_verdict(project):
    original = (project / "acme.html").read_text()
    run(project, "check", "acme", check_rc=0)
    (project / "acme.html").write_text(original.replace("name and email address", "name, email address and "
                                                                                    "fingerprints"))
    run(project, "check", "acme", check_rc=0)
    waiting = run(project, "inbox", "--exit-code", check_rc=1).stdout
    assert "1 material change to review" in waiting and "acme@2" in waiting and "high" in waiting
    assert "--at needs a date" in run(project, "show", "acme", "--at", "", check_rc=2).stderr
    mistyped = run(project, "inbox", "--tag", "saa", check_rc=2)  # a tag no policy has: a typo, said so
    assert "no policy has the tag 'saa' (did you mean 'saas'?)" in mistyped.stderr
    said = run(project, "review", "acme", "--false-alarm", "--note", "a demo page", "--by", "Dana", check_rc=0)
    assert "acme@2" in said.stdout and "false alarm" in said.stdout
    assert run(project, "inbox", "--exit-code", check_rc=0).stdout.strip() == "nothing to review"
    history = run(project, "history", "acme", check_rc=0).stdout
    assert "high, material" in history and "reviewed: false alarm (by Dana: “a demo page”)" in history
    run(project, "review", "acme@2", "--severity", "low", check_rc=0)
    entry = json.loads(run(project, "history", "acme", "--format", "json").stdout)["entries"][1]
    assert entry["severity"] == "high" and entry["review"]["severity"] == "low" and entry["review"]["reviews"] == 2
    version = run(project, "show", "acme", check_rc=0).stdout.splitlines()
    assert version[0].startswith("ACME Privacy Policy — version 2") and version[1].startswith("reviewed: severity")
    shown = run(project, "diff", "acme", check_rc=0).stdout.splitlines()
    assert shown[0].startswith("HIGH (material)") and shown[1].startswith("reviewed: severity corrected to low")
    assert json.loads(run(project, "diff", "acme", "--format", "json").stdout)["review"]["action"] == "severity"
    assert run(project, "review", "acme", check_rc=2).stderr.strip()  # a review says what it is
    # and only one thing: both were taken before, the last one silently
    both = run(project, "review", "acme", "--ack", "--false-alarm", check_rc=2)
    assert "give one of --ack, --false-alarm or --severity" in both.stderr
    report = json.loads(run(project, "report", "--since", "2020-01-01", "--format", "json", check_rc=0).stdout)
    assert report["since"].endswith("Z") and report["until"].endswith("Z")  # both UTC, said alike
    assert "no change 999" in run(project, "review", "999", "--ack", check_rc=2).stderr


def test_notify_log_shows_the_review_beside_the_message(project, http_receiver):
    (project / "wl.yaml").write_text(
        f"notify: {{team: ['{http_receiver.url()}']}}\n"
        f"policies:\n  - {{id: acme, name: ACME Privacy Policy, url: 'file://{project}/acme.html', notify: [team]}}\n")
    original = (project / "acme.html").read_text()
    run(project, "check", check_rc=0)
    (project / "acme.html").write_text(original.replace("name and email address", "name, email address and "
                                                                                    "fingerprints"))
    run(project, "check", check_rc=0)
    assert len(http_receiver.posts) == 1
    run(project, "review", "acme", "--ack", "--by", "Dana", check_rc=0)
    logged = run(project, "notify", "log", check_rc=0).stdout
    assert "material change" in logged and "reviewed: acknowledged (by Dana)" in logged
    entry = json.loads(run(project, "notify", "log", "--format", "json").stdout)["entries"][0]
    assert entry["review"]["action"] == "ack"


def test_list_says_how_each_target_is_sent_to(project):
    text = (project / "wl.yaml").read_text()
    (project / "wl.yaml").write_text(
        "notify:\n  team: ['json://127.0.0.1:9/team']\n  pager: {urls: ['json://127.0.0.1:9/p'], mode: immediate}\n"
        + text)
    lines = run(project, "list", check_rc=0).stdout.splitlines()
    assert "  team (digest: one message per run): json://127.0.0.1:9/team" in lines  # the default
    assert "  pager (immediate: one message per change): json://127.0.0.1:9/p" in lines


def test_report_lists_a_periods_changes_most_severe_first_with_reviews_and_failures(project):
    import csv
    import io

    run(project, "check", check_rc=0)
    original = (project / "acme.html").read_text()
    (project / "acme.html").write_text(original.replace("and email address", "and <b>email</b> address"))
    run(project, "check", "acme", check_rc=0)  # markup only: no new version
    (project / "draft.md").write_text((project / "draft.md").read_text().replace("thirty days", "five years"))
    (project / "acme.html").write_text(original.replace("email address", "email address and fingerprints"))
    run(project, "check", check_rc=0)
    run(project, "review", "draft", "--severity", "low", "--note", "<script>alert(1)</script>", check_rc=0)
    (project / "acme.html").unlink()
    run(project, "check", "acme", check_rc=3)  # fails: the page is gone

    text = run(project, "report", check_rc=0).stdout.splitlines()
    assert text[0].startswith("Changes ") and "2 changes, 2 material; 1 policy failed or suspect" in text[0]
    assert text[1].lstrip().startswith("HIGH") and "acme" in text[1] and "[unreviewed]" in text[1]
    assert "HIGH→low" in text[2] and "draft" in text[2] and "[severity corrected to low]" in text[2]
    assert text[-1].startswith("  acme: failed 1×; last ")
    data = json.loads(run(project, "report", "--format", "json", check_rc=0).stdout)
    assert data["schema"] == "policywatch.report/1" and [c["policy"] for c in data["changes"]] == ["acme", "draft"]
    assert data["changes"][1]["review"]["action"] == "severity" and data["troubles"][0]["failed"] == 1
    rows = list(csv.DictReader(io.StringIO(run(project, "report", "--format", "csv", check_rc=0).stdout)))
    assert [(r["kind"], r["policy"], r["reviewed_severity"]) for r in rows] == [
        ("change", "acme", "high"), ("change", "draft", "low"), ("trouble", "acme", "")]
    html = run(project, "report", "--format", "html", check_rc=0).stdout
    assert "<script>alert" not in html and "default-src 'none'" in html and html.count("<tr>") == 3
    assert run(project, "report", "--tag", "saas", "--format", "json", check_rc=0).stdout.count('"change":') == 1
    assert "No change" in run(project, "report", "--since", "2001", "--until", "2001-12-31", "--format", "html",
                              check_rc=0).stdout
    assert "cannot read the date" in run(project, "report", "--since", "ninety days", check_rc=2).stderr


def test_inbox_names_each_change_by_a_handle_that_review_reads_as_that_change(project):
    a = POLICY.format(collect="We collect your name and email address when you sign up.")
    b = POLICY.format(collect="We collect your name, email address and precise location when you sign up.")
    for text in (a, b, a, b):  # v2 is entered twice: acme@2 can name only the later change
        (project / "acme.html").write_text(text)
        run(project, "check", "acme", check_rc=0)
    listed = run(project, "inbox", check_rc=0).stdout.splitlines()[1:-1]
    handles = [line.split()[0] for line in listed]
    assert len(handles) == len(set(handles)) and "acme@2" in handles, listed
    for handle in handles:  # every handle shown reviews the change on its line
        run(project, "review", handle, "--ack", check_rc=0)
    assert run(project, "inbox", check_rc=0).stdout.strip() == "nothing to review"


def test_validate_reports_every_notify_url_apprise_cannot_use_with_its_line(project):
    (project / "wl.yaml").write_text(
        "notify:\n  team: ['notaservice://x/y']\n  chat: ['rocket://token@host']\n  ok: ['json://127.0.0.1:9/x']\n"
        "  later: ['mailto://u:${PASS}@127.0.0.1:25?to=a@b.example']\n"
        "policies:\n  - {id: a, url: 'https://a.example/p', notify: [team, chat, ok, later]}\n")
    proc = run(project, "validate", check_rc=2)
    lines = proc.stderr.strip().splitlines()
    assert [line.split(": notify target ")[0] for line in lines] == [f"{project / 'wl.yaml'}:2",
                                                                      f"{project / 'wl.yaml'}:3"]
    assert "'team'" in lines[0] and "'chat'" in lines[1]


def test_a_time_as_history_prints_it_is_on_both_sides_of_itself_and_a_bad_date_is_one_line(project):
    from policywatch.cli import parse_when

    for stored in ("2018-01-15T12:00:00Z", "2018-01-15T12:00:00.503670Z"):  # an archive's, a live check's
        assert parse_when("2018-01-15T12:00:00Z", end=False) <= stored <= parse_when("2018-01-15T12:00:00Z")
        assert parse_when("2018-01-15", end=False) <= stored <= parse_when("2018-01")
    assert parse_when("2018-01-15T11:59:59Z") < "2018-01-15T12:00:00Z"  # the second before is before
    assert parse_when("2019-02") == "2019-02-28T23:59:59Z" and parse_when("2019", end=False) == "2019-01-01T00:00:00"
    run(project, "check", check_rc=0)
    for args in (("show", "acme", "--at", "2019-13"), ("report", "--since", "2019-02-30"),
                 ("diff", "acme", "--from", "2019-00"), ("report", "--since", "2022", "--until", "2019"),
                 ("publish", str(project / "site"), "--since", "2999")):
        proc = run(project, *args, check_rc=2)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, args
    assert not (project / "site").exists()  # refused before anything was written
