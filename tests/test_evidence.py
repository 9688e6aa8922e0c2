"""Evidence bundles: a version's raw page, response, text, facts and diff in a zip whose sums check."""

import hashlib
import json
import zipfile

from console import run_cli
from pages import policy_page

from policywatch.monitor import check
from policywatch.store import Store

SALE = ("We don{apos}t sell your personal information.", "We sell your personal information to data brokers.")


def test_an_evidence_zip_holds_the_page_as_fetched_and_every_sum_checks(tmp_path, http_server, make_watchlist):
    first, second = policy_page(churn=1), policy_page(edits=dict([SALE]), churn=2)
    http_server.route("/privacy", body=first.encode(), headers={"X-Build": "7", "Content-Type": "text/html"})
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy Policy", "url": http_server.url("/old")}])
    http_server.route("/old", status=301, headers={"Location": "/privacy"})
    with Store.open(tmp_path / "pw.db") as store:
        check(watchlist, store)
        http_server.route("/privacy", body=second.encode(), headers={"X-Build": "8", "Content-Type": "text/html"})
        assert check(watchlist, store).results[0].outcome == "changed"

    proc = run_cli(tmp_path, "evidence", "acme", "out.zip", "--version", "2")
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(tmp_path / "out.zip") as bundle:
        names = set(bundle.namelist())
        assert names == {"page/raw.html", "page/response.json", "text.md", "facts.json", "diff.html", "diff.json",
                         "manifest.json", "SHA256SUMS", "README.txt"}
        manifest = json.loads(bundle.read("manifest.json"))
        for entry in manifest["files"]:  # every sum in the manifest is the file's
            assert hashlib.sha256(bundle.read(entry["name"])).hexdigest() == entry["sha256"]
        sums = dict(reversed(line.split("  ", 1)) for line in bundle.read("SHA256SUMS").decode().splitlines())
        assert sums == {f["name"]: f["sha256"] for f in manifest["files"]}
        assert bundle.read("page/raw.html") == second.encode()  # the bytes as fetched
        response = json.loads(bundle.read("page/response.json"))
        assert response["requested_url"] == http_server.url("/old") and response["status"] == 200
        assert response["final_url"] == http_server.url("/privacy") and response["redirects"] == ["/privacy"]
        assert response["headers"]["X-Build"] == "8"
        assert "data brokers" in bundle.read("text.md").decode()
        assert any(f["category"] == "sharing" for f in json.loads(bundle.read("facts.json"))["facts"])
        assert "<del" in bundle.read("diff.html").decode() and json.loads(bundle.read("diff.json"))["material"]
        assert manifest["version"]["number"] == 2 and manifest["version"]["previous"] == 1
        assert manifest["policy"] == {"id": "acme", "name": "ACME Privacy Policy", "url": http_server.url("/old")}
        # dated at the capture, not when the bundle was made
        captured = manifest["version"]["captured_at"]
        assert bundle.getinfo("text.md").date_time[:3] == tuple(int(p) for p in captured[:10].split("-"))

    first_version = run_cli(tmp_path, "evidence", "acme", "v1.zip", "--version", "1")
    assert first_version.returncode == 0  # a first version has no diff
    with zipfile.ZipFile(tmp_path / "v1.zip") as bundle:
        assert "diff.html" not in bundle.namelist() and bundle.read("page/raw.html") == first.encode()
    missing = run_cli(tmp_path, "evidence", "acme", "v9.zip", "--version", "9")
    assert missing.returncode == 2 and "no version 9" in missing.stderr and not (tmp_path / "v9.zip").exists()
