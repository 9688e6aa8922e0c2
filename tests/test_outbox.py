"""Notifications end to end: check runs, the outbox, apprise, and real receivers on loopback."""

from __future__ import annotations

import json
import signal
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from console import run_cli, start_cli
from pages import SALE, policy_page

from policywatch.monitor import check
from policywatch.outbox import MAX_ATTEMPTS, flush
from policywatch.outbox import log as outbox_log
from policywatch.report import NotifyLog, render
from policywatch.store import Store
from policywatch.watchlist import parse_watchlist

TRAINING = ("can improve them.", "can improve them and train our artificial intelligence models on your content.")


def write_watchlist(tmp_path, policies: list[dict], targets: dict, **defaults) -> Path:
    doc = {"defaults": {"timeout": 2, "retries": 0, "backoff": 0.01, **defaults}, "notify": targets,
           "policies": policies}
    path = tmp_path / "watchlist.yaml"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def load(path: Path):
    return parse_watchlist(path.read_text(encoding="utf-8"), path)


def test_a_material_change_reaches_exactly_its_targets_once(tmp_path, store, http_server, make_http_receiver,
                                                             smtp_receiver):
    team, risk, security = make_http_receiver(), make_http_receiver(), make_http_receiver()
    http_server.route("/privacy", policy_page(churn=1))
    path = write_watchlist(tmp_path, [{"id": "acme", "name": "ACME Privacy Policy", "url": http_server.url("/privacy"),
                                       "notify": ["privacy-team", "vendor-risk", "security"]}],
                           {"privacy-team": [team.url("json"), smtp_receiver.url()],
                            "vendor-risk": {"urls": [risk.url("form")], "min_severity": "high"},
                            "security": {"urls": [security.url("json")], "categories": ["security"]}})
    watchlist = load(path)
    assert check(watchlist, store).results[0].outcome == "new"
    http_server.route("/privacy", policy_page(churn=2, relative="5 days ago"))  # noise only
    assert check(watchlist, store).results[0].outcome == "unchanged"
    assert team.posts == [] and risk.posts == [] and smtp_receiver.mails == []

    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=3))
    report = check(watchlist, store)
    result = report.results[0]
    assert result.outcome == "changed" and result.severity == "high" and "sharing" in result.categories
    assert sorted(result.notified) == ["privacy-team", "vendor-risk"]
    assert [d.status for d in report.notifications.deliveries] == ["sent", "sent"]
    assert len(team.posts) == 1 and len(risk.posts) == 1 and len(smtp_receiver.mails) == 1
    assert security.posts == []  # its category filter wants security changes only
    title = team.posts[0].fields["title"]
    assert title.startswith("ACME Privacy Policy — material change (high): Sharing & sale")
    assert "sell your personal information" in team.posts[0].fields["message"]
    assert risk.posts[0].form and "ACME Privacy Policy" in risk.posts[0].form["title"]
    mail = smtp_receiver.mails[0]
    assert "acme-diff.html" in mail.attachments and "material change" in mail.subject
    # A live check has no archived copy to link to (none exists); the raw page it kept is offered instead.
    plain = mail.body("plain")
    assert "archived copy" not in plain and "web.archive.org" not in plain
    assert "policywatch show acme --version 2 --raw (new)" in plain and http_server.url("/privacy") in plain
    assert "the previous text captured 20" in plain  # both capture dates: detected now, and the one before

    # Nothing is sent twice: later runs with the same text, and a flush, send nothing.
    check(watchlist, store)
    assert flush(store, watchlist, force=True).deliveries == []
    assert len(team.posts) == 1 and len(risk.posts) == 1 and len(smtp_receiver.mails) == 1


def test_no_notify_queues_and_sends_nothing(tmp_path, store, http_server, http_receiver):
    http_server.route("/privacy", policy_page(churn=1))
    watchlist = load(write_watchlist(tmp_path, [{"id": "acme", "name": "ACME", "url": http_server.url("/privacy")}],
                                     {"team": [http_receiver.url()]}, notify=["team"]))
    check(watchlist, store)
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    assert check(watchlist, store, notify=False).results[0].material
    assert store.db["outbox"].count == 0 and http_receiver.posts == []


def test_a_failing_receiver_gets_the_message_once_on_a_later_run(tmp_path, store, http_server, http_receiver):
    http_server.route("/privacy", policy_page(churn=1))
    watchlist = load(write_watchlist(tmp_path, [{"id": "acme", "name": "ACME", "url": http_server.url("/privacy")}],
                                     {"team": [http_receiver.url()]}, notify=["team"]))
    check(watchlist, store)
    http_receiver.script(500)
    http_server.route("/privacy", policy_page(edits=dict([TRAINING]), churn=2))
    first = check(watchlist, store)
    assert [d.status for d in first.notifications.deliveries] == ["pending"]
    assert first.exit_code == 0  # not failed yet: it will be retried
    assert len(http_receiver.posts) == 1
    second = check(watchlist, store)  # the page is unchanged; the outbox is flushed first
    assert [d.status for d in second.notifications.deliveries] == ["sent"]
    assert len(http_receiver.posts) == 2
    check(watchlist, store)
    assert len(http_receiver.posts) == 2
    row = next(store.db.query("SELECT status, attempts FROM outbox"))
    assert row == {"status": "sent", "attempts": 2}


def test_retry_budget_spent_marks_failed_and_exits_3(tmp_path, store, http_server, make_http_receiver):
    dead = make_http_receiver(default_status=500)
    http_server.route("/privacy", policy_page(churn=1))
    watchlist = load(write_watchlist(tmp_path, [{"id": "acme", "name": "ACME", "url": http_server.url("/privacy")}],
                                     {"team": [dead.url()]}, notify=["team"]))
    check(watchlist, store)
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    report = check(watchlist, store)
    assert report.notifications.deliveries[0].status == "pending"
    when = datetime.now(timezone.utc)
    for attempt in range(2, MAX_ATTEMPTS):
        when += timedelta(days=1)
        assert flush(store, watchlist, when=when).deliveries[0].status == "pending", attempt
    # Not due yet: nothing is sent before its retry delay.
    assert flush(store, watchlist, when=when).deliveries == []
    final = flush(store, watchlist, when=when + timedelta(days=1))
    assert final.failed == 1 and final.deliveries[0].status == "failed"
    assert len(dead.posts) == MAX_ATTEMPTS
    assert flush(store, watchlist, force=True).deliveries == []  # never retried again, never dropped
    row = next(store.db.query("SELECT status, error FROM outbox"))
    assert row["status"] == "failed" and "127.0.0.1" in row["error"]


def test_digest_mode_groups_a_runs_changes(tmp_path, store, make_server, http_receiver):
    servers = [make_server() for _ in range(3)]
    for server in servers:
        server.route("/privacy", policy_page(churn=1))
    policies = [{"id": f"p{i}", "name": f"Vendor {i} Privacy", "url": s.url("/privacy")} for i, s in enumerate(servers)]
    # no `mode`: a digest is the default
    watchlist = load(write_watchlist(tmp_path, policies, {"digest": {"urls": [http_receiver.url()],
                                                                    "min_severity": "low"}}, notify=["digest"]))
    check(watchlist, store)
    servers[0].route("/privacy", policy_page(edits={"ninety days": "thirty days"}, churn=2))  # medium
    servers[1].route("/privacy", policy_page(edits=dict([SALE]), churn=2))  # high
    servers[2].route("/privacy", policy_page(churn=2))  # noise: not in the digest
    report = check(watchlist, store)
    assert len(http_receiver.posts) == 1
    fields = http_receiver.posts[0].fields
    assert "2 changes (1 high, 1 medium)" in fields["title"]
    body = fields["message"]
    assert body.index("Vendor 1 Privacy") < body.index("Vendor 0 Privacy")  # the sale (high) first
    assert "Vendor 2" not in body
    assert [len(d.ids) for d in report.notifications.deliveries] == [2]


def test_error_states_fire_once_on_entry_and_once_on_recovery(tmp_path, store, http_server, http_receiver):
    http_server.route("/privacy", policy_page(churn=1))
    watchlist = load(write_watchlist(tmp_path, [{"id": "acme", "name": "ACME Privacy Policy",
                                                 "url": http_server.url("/privacy")}],
                                     {"team": [http_receiver.url()]}, notify=["team"]))
    check(watchlist, store)
    http_server.route("/privacy", {"status": 500, "body": "down"})
    for _ in range(2):
        assert check(watchlist, store).results[0].outcome == "failed"
    assert http_receiver.posts == []
    check(watchlist, store)  # the third failed run in a row
    assert len(http_receiver.posts) == 1
    assert "checks failing (3 runs)" in http_receiver.posts[0].fields["title"]
    http_server.route("/privacy", "<html><body><p>Access denied</p></body></html>")  # suspect: still failing
    for _ in range(2):
        check(watchlist, store)
    assert len(http_receiver.posts) == 1
    http_server.route("/privacy", policy_page(churn=5))
    assert check(watchlist, store).results[0].outcome == "unchanged"
    assert len(http_receiver.posts) == 2
    assert "recovered" in http_receiver.posts[1].fields["title"]
    check(watchlist, store)
    assert len(http_receiver.posts) == 2


def test_a_run_killed_after_sending_does_not_send_twice(tmp_path, http_server, make_http_receiver):
    first, http_receiver = make_http_receiver(), make_http_receiver()
    http_server.route("/privacy", policy_page(churn=1))
    write_watchlist(tmp_path, [{"id": "acme", "name": "ACME", "url": http_server.url("/privacy")}],
                    {"team": [first.url(), http_receiver.url()]}, notify=["team"])
    assert run_cli(tmp_path, "check").returncode == 0
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    http_receiver.delay = 30  # the message arrives, the answer never does: the sender dies waiting
    process = start_cli(tmp_path, "check")
    try:
        http_receiver.wait_for(1, timeout=30)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    http_receiver.delay = 0
    again = run_cli(tmp_path, "check")
    assert again.returncode == 0, again.stderr
    assert "unconfirmed" in again.stdout
    time.sleep(0.2)
    assert len(http_receiver.posts) == 1 and len(first.posts) == 1
    log = json.loads(run_cli(tmp_path, "notify", "log", "--format", "json").stdout)["entries"]
    assert log[0]["status"] == "unconfirmed"  # done, never sent again, and said so
    # The first URL's answer was recorded before the second was tried; the second is unconfirmed.
    assert [d["status"] for d in log[0]["deliveries"].values()] == ["sent", "unconfirmed"]
    assert "the run sending it stopped before the answer" in list(log[0]["deliveries"].values())[1]["error"]


def test_no_secret_is_ever_printed(tmp_path, http_server, make_http_receiver):
    good, bad = make_http_receiver(), make_http_receiver(default_status=500)
    http_server.route("/privacy", policy_page(churn=1))
    secret, token = "s3cr3t-Passw0rd", "tok-9f8e7d6c5b4a3210"
    write_watchlist(tmp_path, [{"id": "acme", "name": "ACME", "url": http_server.url("/privacy")}],
                    {"team": [good.url("json", userinfo=f"alerts:{secret}"),
                              bad.url("json", "/hook") + "?+X-Token=${HOOK_TOKEN}"]}, notify=["team"])
    env = {"HOOK_TOKEN": token}
    outputs = [run_cli(tmp_path, "check", "-v", env=env)]
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    outputs += [run_cli(tmp_path, "check", "-v", env=env), run_cli(tmp_path, "list", env=env),
                run_cli(tmp_path, "list", "--format", "json", env=env), run_cli(tmp_path, "notify", "log", env=env),
                run_cli(tmp_path, "notify", "log", "--format", "json", env=env),
                run_cli(tmp_path, "notify", "test", env=env), run_cli(tmp_path, "notify", "flush", env=env),
                run_cli(tmp_path, "validate", env=env)]
    assert good.posts and bad.posts  # the secrets were really used …
    assert bad.posts[0].header("X-Token") == token
    for proc in outputs:  # … and never shown
        for stream in (proc.stdout, proc.stderr):
            assert secret not in stream and token not in stream, stream
    test_run = outputs[6]
    assert test_run.returncode == 3
    assert "ok" in test_run.stdout and "FAILED" in test_run.stdout
    with Store.open(tmp_path / "pw.db") as store:
        dump = "\n".join(str(row) for row in store.db.query("SELECT * FROM outbox"))
    assert secret not in dump and token not in dump



# -- a slow receiver: a timeout after sending is 'unconfirmed', never sent again ---------------------------

def slow_target(tmp_path, http_server, urls: list[str], timeout: float) -> object:
    http_server.route("/privacy", policy_page(churn=1))
    return load(write_watchlist(tmp_path, [{"id": "acme", "name": "ACME", "url": http_server.url("/privacy")}],
                                {"team": {"urls": urls, "timeout": timeout}}, notify=["team"]))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the block ends: connection refused


def test_a_timeout_after_sending_is_unconfirmed_and_never_resent(tmp_path, store, http_server, make_http_receiver):
    slow = make_http_receiver()
    watchlist = slow_target(tmp_path, http_server, [slow.url("json", "/hook")], timeout=1)
    check(watchlist, store)
    slow.delay = 2  # the message arrives at once, the answer after the target's timeout
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    first = check(watchlist, store)
    (sent,) = first.notifications.deliveries
    assert sent.status == "unconfirmed" and first.exit_code == 0
    assert sent.line().startswith("notify team: UNCONFIRMED: ACME — material change (high)")
    assert "1 URL(s) unconfirmed, not resent: json://127.0.0.1:" in sent.line()
    assert "no answer within 1 s after the message was sent: the service may have it" in sent.line()
    assert first.notifications.to_json()["unconfirmed"] == 1
    assert len(slow.received("/hook")) == 1
    slow.delay = 0
    check(watchlist, store)  # the next run flushes the outbox first: nothing is owed
    assert flush(store, watchlist, force=True).deliveries == []
    assert flush(store, watchlist, when=datetime.now(timezone.utc) + timedelta(days=30)).deliveries == []
    time.sleep(0.2)
    assert len(slow.received("/hook")) == 1  # exactly one POST, not five
    row = next(store.db.query("SELECT status, attempts, deliveries FROM outbox"))
    assert row["status"] == "unconfirmed" and row["attempts"] == 1
    (state,) = json.loads(row["deliveries"]).values()
    assert state["status"] == "unconfirmed" and "no answer within 1 s" in state["error"]
    assert state["key"] == slow.posts[0].header("Idempotency-Key")
    shown = render(NotifyLog(outbox_log(store)), "text")
    assert "unconfirmed" in shown.splitlines()[0]
    assert f"unconfirmed json://127.0.0.1:{slow.port}/hook — no answer within 1 s after the message was sent" in shown


def test_a_refused_connection_is_still_retried_beside_an_unconfirmed_url(tmp_path, store, http_server,
                                                                          make_http_receiver):
    slow, late = make_http_receiver(), closed_port()
    watchlist = slow_target(tmp_path, http_server, [slow.url("json", "/slow"), f"json://127.0.0.1:{late}/late"],
                            timeout=1)
    check(watchlist, store)
    slow.delay = 2
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    (first,) = check(watchlist, store).notifications.deliveries
    assert first.status == "pending" and first.unconfirmed == 1  # the refused URL is owed, the slow one is not
    assert "json://127.0.0.1:" in first.line() and "unconfirmed, not resent" in first.line()
    row = next(store.db.query("SELECT deliveries FROM outbox"))
    assert [s["status"] for s in json.loads(row["deliveries"]).values()] == ["unconfirmed", "failed"]
    slow.delay = 0
    (second,) = check(watchlist, store).notifications.deliveries  # retried: only the refused URL
    assert second.status == "pending" and second.attempts == 2
    time.sleep(0.2)
    assert len(slow.received("/slow")) == 1


def test_every_retry_carries_the_same_idempotency_key(tmp_path, store, http_server, make_http_receiver):
    hook, other = make_http_receiver(), make_http_receiver()
    watchlist = slow_target(tmp_path, http_server, [hook.url("json", "/hook"), other.url("form", "/form")],
                            timeout=5)
    check(watchlist, store)
    hook.script(500, 500)  # two failures, then 200
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    assert check(watchlist, store).notifications.deliveries[0].status == "pending"
    when = datetime.now(timezone.utc)
    for status in ("pending", "sent"):
        when += timedelta(days=1)
        assert flush(store, watchlist, when=when).deliveries[0].status == status
    keys = [post.header("Idempotency-Key") for post in hook.received("/hook")]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("policywatch-")
    (form,) = other.received("/form")  # sent once, with a key of its own (another URL)
    assert form.header("Idempotency-Key").startswith("policywatch-") and form.header("Idempotency-Key") != keys[0]
    # Another message to the same URL: another key.
    http_server.route("/privacy", policy_page(edits=dict([SALE, TRAINING]), churn=3))
    assert check(watchlist, store).notifications.deliveries[0].status == "sent"
    assert hook.received("/hook")[-1].header("Idempotency-Key") not in keys
    logged = [state["key"] for row in outbox_log(store) for state in row["deliveries"].values()]
    assert keys[0] in logged


def test_a_long_enough_timeout_lets_a_slow_receiver_succeed(tmp_path, store, http_server, make_http_receiver):
    slow = make_http_receiver()
    watchlist = slow_target(tmp_path, http_server, [slow.url("json", "/hook")], timeout=10)
    check(watchlist, store)
    slow.delay = 1.5  # more than the 1 s that made it unconfirmed above, within this target's 10 s
    http_server.route("/privacy", policy_page(edits=dict([SALE]), churn=2))
    (sent,) = check(watchlist, store).notifications.deliveries
    assert sent.status == "sent" and sent.unconfirmed == 0
    assert len(slow.received("/hook")) == 1
    row = next(store.db.query("SELECT status FROM outbox"))
    assert row["status"] == "sent"
