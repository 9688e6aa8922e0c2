"""The dataset export: every stored version, byte for byte, as a zip of files or a git history."""

import csv
import io
import json
import shutil
import subprocess
import zipfile

import pytest
from console import run_cli
from pages import SALE, policy_page

from policywatch.monitor import check
from policywatch.store import Store


@pytest.fixture
def history(tmp_path, http_server, make_watchlist):
    """Two policies: acme changes, then returns to its first text; beta changes once. In tmp_path/pw.db."""
    http_server.route("/acme", policy_page(churn=1))
    http_server.route("/beta", policy_page(company="Beta", churn=1))
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": http_server.url("/acme")},
                                {"id": "beta", "name": "Beta Privacy", "url": http_server.url("/beta"),
                                 "tags": ["saas"]}])
    with Store.open(tmp_path / "pw.db") as store:
        check(watchlist, store)
        http_server.route("/acme", policy_page(edits=dict([SALE]), churn=2))
        http_server.route("/beta", policy_page(company="Beta", edits={"ninety days": "three years"}, churn=2))
        check(watchlist, store)
        http_server.route("/acme", policy_page(churn=3))
        assert check(watchlist, store).results[0].outcome == "reverted"
        texts = {(p, v["number"]): v["text"] for p in ("acme", "beta")
                 for v in (store.version(p, n) for n in (1, 2))}
    return tmp_path, texts


def test_the_zip_holds_every_version_byte_for_byte_with_metadata(history):
    folder, texts = history
    proc = run_cli(folder, "export", "data.zip")
    assert proc.returncode == 0 and "2 policies, 4 versions" in proc.stdout, proc.stderr
    with zipfile.ZipFile(folder / "data.zip") as bundle:
        meta = json.loads(bundle.read("metadata.json"))
        assert meta["schema"] == "policywatch.dataset/1" and len(meta["versions"]) == 4
        for row in meta["versions"]:
            content = bundle.read(row["file"])
            assert content == texts[(row["policy"], row["version"])].encode("utf-8")  # byte for byte
            assert row["source"] == "live" and row["url"].startswith("http://127.0.0.1")
            facts = json.loads(bundle.read(row["file"].removesuffix(".md") + ".facts.json"))
            assert facts["policy"] == row["policy"] and isinstance(facts["facts"], list)
        acme2 = next(r for r in meta["versions"] if (r["policy"], r["version"]) == ("acme", 2))
        assert acme2["material"] is True and "sharing" in acme2["categories"] and acme2["previous_version"] == 1
        first = next(r for r in meta["versions"] if (r["policy"], r["version"]) == ("acme", 1))
        assert first["severity"] is None and first["verdict"] is None
        rows = list(csv.DictReader(io.StringIO(bundle.read("metadata.csv").decode())))
        assert [(r["policy"], r["version"]) for r in rows] == [(r["policy"], str(r["version"])) for r in
                                                               meta["versions"]]
        assert "## Fields" in bundle.read("README.md").decode()
    tagged = run_cli(folder, "export", "saas.zip", "--tag", "saas")
    assert tagged.returncode == 0 and "1 policy, 2 versions" in tagged.stdout
    assert run_cli(folder, "export", "x.zip", "nobody").returncode == 2


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_git_history_has_a_commit_per_change_at_its_capture_date(history):
    folder, texts = history
    proc = run_cli(folder, "export", "repo", "--format", "git")
    assert proc.returncode == 0 and "6 commits" in proc.stdout, proc.stderr  # 2 + 2 + 1 return, and the README

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder / "repo"), *args], capture_output=True, text=True,
                              check=True).stdout

    log = git("log", "--reverse", "--format=%H %ct %s", "--", "acme.md").splitlines()
    assert [line.split(" ", 2)[2] for line in log] == [
        "ACME Privacy Policy v1: first version seen", "ACME Privacy Policy v2: " + log[1].split(": ", 1)[1],
        "ACME Privacy Policy: back to the text of v1"]
    shown = [git("show", f"{line.split()[0]}:acme.md") for line in log]
    assert shown == [texts[("acme", 1)], texts[("acme", 2)], texts[("acme", 1)]]  # byte for byte, in order
    with Store.open(folder / "pw.db") as store:
        captured = [e["captured_at"] for e in store.timeline("acme")]
    from datetime import datetime

    assert [int(line.split()[1]) for line in log] == [
        int(datetime.fromisoformat(c.replace("Z", "+00:00")).timestamp()) for c in captured]
    assert "+We sell your personal information to advertisers." in git("log", "-p", "--", "acme.md")
    assert (folder / "repo" / "beta.md").read_text() == texts[("beta", 2)]  # the worktree is checked out
    again = run_cli(folder, "export", "repo", "--format", "git")
    assert again.returncode == 2 and "not empty" in again.stderr


def test_a_zip_is_never_written_over_the_database_the_watchlist_or_any_file_that_is_not_a_zip(history):
    folder, texts = history
    kept = {name: (folder / name).read_bytes() for name in ("pw.db", "watchlist.yaml")}
    for command in (["export", "pw.db"], ["export", "watchlist.yaml"], ["evidence", "acme", "pw.db"],
                    ["evidence", "beta", "--version", "1", "watchlist.yaml"]):
        proc = run_cli(folder, *command)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert "exists and is not a zip policywatch wrote" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert {name: (folder / name).read_bytes() for name in kept} == kept
    assert not list(folder.glob(".*.partial"))
    # Nor over a zip that policywatch did not write (an Office document is a zip too), or a folder.
    with zipfile.ZipFile(folder / "notes.docx", "w") as document:
        document.writestr("word/document.xml", "<w:document/>")
    kept_document = (folder / "notes.docx").read_bytes()
    assert "not a zip policywatch wrote" in run_cli(folder, "export", "notes.docx").stderr
    assert run_cli(folder, "evidence", "acme", "notes.docx").returncode == 2
    assert (folder / "notes.docx").read_bytes() == kept_document
    (folder / "a-folder").mkdir()
    assert "is a folder" in run_cli(folder, "export", "a-folder").stderr
    # An empty file (made by mktemp) may be written, and an earlier export or bundle replaced, as before.
    (folder / "empty.zip").touch()
    assert run_cli(folder, "export", "empty.zip").returncode == 0
    assert run_cli(folder, "evidence", "acme", "bundle.zip").returncode == 0
    assert run_cli(folder, "evidence", "acme", "--version", "1", "bundle.zip").returncode == 0
    assert run_cli(folder, "export", "again.zip").returncode == 0
    assert run_cli(folder, "export", "again.zip", "beta").returncode == 0
    with zipfile.ZipFile(folder / "again.zip") as bundle:
        assert len(json.loads(bundle.read("metadata.json"))["versions"]) == 2
