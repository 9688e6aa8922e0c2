"""The canned queries shipped for Datasette run on a real database and answer what they say."""

import asyncio
import json
import sqlite3

import pytest
from console import run_cli
from pages import SALE, policy_page

from policywatch.explore import datasette_metadata
from policywatch.monitor import check
from policywatch.store import Store


@pytest.fixture
def database(tmp_path, http_server, make_watchlist):
    http_server.route("/acme", policy_page(churn=1))
    http_server.route("/beta", policy_page(company="Beta", churn=1))
    watchlist = make_watchlist([{"id": "acme", "name": "ACME Privacy", "url": http_server.url("/acme")},
                                {"id": "beta", "name": "Beta Privacy", "url": http_server.url("/beta")}])
    with Store.open(tmp_path / "pw.db") as store:
        check(watchlist, store)
        http_server.route("/acme", policy_page(edits=dict([SALE]), churn=2))
        http_server.route("/beta", status=500, body=b"down")
        check(watchlist, store)
    return tmp_path / "pw.db"


def run_queries(db):
    queries = datasette_metadata(db)["databases"]["pw"]["queries"]
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    params = {"since": "", "practice": "", "category": ""}
    return {name: [dict(r) for r in connection.execute(q["sql"], params)] for name, q in queries.items()}


def test_each_canned_query_answers_its_question(database):
    found = run_queries(database)
    assert set(found) == {"recent_material_changes", "changes_by_category", "failing_policies",
                          "vendors_by_practice"}
    (recent,) = found["recent_material_changes"]
    assert recent["policy"] == "ACME Privacy" and recent["to_version"] == 2 and "sharing" in recent["categories"]
    assert {r["category"] for r in found["changes_by_category"]} >= {"sharing"}
    assert [(r["id"], r["last_outcome"]) for r in found["failing_policies"]] == [("beta", "failed")]
    advertisers = [r for r in found["vendors_by_practice"] if r["category"] == "sharing" and r["polarity"] ==
                   "asserted" and "sale" in r["practice"]]
    assert advertisers and advertisers[0]["vendors"] == "ACME Privacy"


def test_datasette_serves_the_canned_queries(database):
    datasette = pytest.importorskip("datasette.app")
    app = datasette.Datasette([str(database)], metadata=datasette_metadata(database))

    async def ask():
        response = await app.client.get("/pw/vendors_by_practice.json?practice=sale&category=sharing&_shape=array")
        return response.status_code, response.json()

    status, rows = asyncio.run(ask())
    assert status == 200 and any(r["vendors"] == "ACME Privacy" for r in rows)


def test_the_command_prints_its_metadata_and_says_what_is_missing(tmp_path, database):
    out = run_cli(tmp_path, "datasette", "--metadata-only")
    assert out.returncode == 0 and "recent_material_changes" in json.loads(out.stdout)["databases"]["pw"]["queries"]
    missing = run_cli(tmp_path, "--db", str(tmp_path / "none.db"), "datasette")
    assert missing.returncode == 2 and "no database yet" in missing.stderr
