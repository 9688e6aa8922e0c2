"""The Internet Archive's own formats and failure answers, from recorded-format fixtures on loopback."""

from __future__ import annotations

import pytest

pytest.importorskip("warcio")

from ia_fake import ACME_URL, ia_fixture, install_fake_ia  # noqa: E402
from pages import SALE, policy_page  # noqa: E402
from pywb_harness import Capture  # noqa: E402

from policywatch.archive import Archive, ArchiveClient, ArchiveError, ArchiveRefused, parse_cdx  # noqa: E402
from policywatch.history_import import backfill  # noqa: E402


def fixture_text(name: str) -> str:
    return ia_fixture(name)["body"].decode("utf-8")


# -- the fixtures, parsed ----------------------------------------------------------------------------------

def test_json_and_text_fixtures_agree():
    as_json, as_text = parse_cdx(fixture_text("cdx-json")), parse_cdx(fixture_text("cdx-text"))
    assert as_json.captures and as_json.captures == as_text.captures
    assert {c.status for c in as_json.captures} >= {200, 301, None}  # None: a revisit ("-")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_resume_key_pages(fmt):
    page1, page2 = parse_cdx(fixture_text(f"cdx-{fmt}-page1")), parse_cdx(fixture_text(f"cdx-{fmt}-page2"))
    assert len(page1.captures) == 3 and page1.resume_key
    assert page2.resume_key is None
    whole = parse_cdx(fixture_text("cdx-json")).captures
    assert page1.captures + page2.captures == whole


@pytest.mark.parametrize("name", ["cdx-empty-json", "cdx-empty-text"])
def test_empty_fixtures(name):
    assert parse_cdx(fixture_text(name)).captures == []


def test_truncated_fixture_is_an_error():
    with pytest.raises(ArchiveError, match="cut off"):
        parse_cdx(fixture_text("cdx-truncated-json"))


# -- a fake web.archive.org ------------------------------------------------------------------------------

def captures(days: int = 12) -> list[Capture]:
    out = []
    for n in range(days):
        edits = dict([SALE]) if n >= 6 else {}
        out.append(Capture(ACME_URL, f"201901{n + 1:02d}120000", policy_page(edits=edits, churn=n)))
    return out


def client_for(fake, sleeps=None, **options) -> ArchiveClient:
    options.setdefault("rate", 0)
    options.setdefault("backoff", 0.01)
    return ArchiveClient(Archive.configured(fake.cdx_url, fake.replay_template),
                         sleep=(sleeps.append if sleeps is not None else lambda s: None), **options)


def test_listing_follows_resume_keys(http_server):
    fake = install_fake_ia(http_server, captures())
    client = client_for(fake)
    listed = client.list_captures(ACME_URL, page_size=5)
    assert [c.timestamp for c in listed] == [f"201901{n + 1:02d}120000" for n in range(12)]
    assert fake.count("cdx") == 3 and client.requests["cdx"] == 3
    params = fake.cdx_params()
    assert params[0]["output"] == ["json"] and params[0]["showResumeKey"] == ["true"]
    assert "resumeKey" in params[1] and params[2]["resumeKey"] != params[1]["resumeKey"]


def test_429_with_retry_after_is_waited_out(http_server):
    fake = install_fake_ia(http_server, captures())
    fake.fail_cdx(ia_fixture("rate-limited-429"))
    sleeps: list[float] = []
    listed = client_for(fake, sleeps).list_captures(ACME_URL)
    assert len(listed) == 12
    assert fake.count("cdx") == 2 and 1.0 in sleeps  # the fixture's Retry-After: 1


def test_503_backs_off_exponentially_then_succeeds(http_server):
    fake = install_fake_ia(http_server, captures())
    fake.fail_cdx(ia_fixture("unavailable-503"), ia_fixture("unavailable-503"))
    sleeps: list[float] = []
    assert len(client_for(fake, sleeps, backoff=1.0).list_captures(ACME_URL)) == 12
    assert sleeps == [1.0, 2.0]


def test_empty_and_truncated_answers(http_server):
    fake = install_fake_ia(http_server, captures())
    fake.fail_cdx(ia_fixture("cdx-empty-json"))
    assert client_for(fake).list_captures("https://nothing.example/") == []
    fake.fail_cdx(ia_fixture("cdx-truncated-json"))
    assert len(client_for(fake).list_captures(ACME_URL)) == 12  # asked again
    fake.fail_cdx(*[ia_fixture("cdx-truncated-json")] * 3)
    with pytest.raises(ArchiveError, match="cut off"):
        client_for(fake, retries=2).list_captures(ACME_URL)


def test_requests_are_spaced_by_the_rate_limit(http_server):
    fake = install_fake_ia(http_server, captures(3))
    sleeps: list[float] = []
    client = client_for(fake, sleeps, rate=20)
    client.list_captures(ACME_URL)
    for capture in client.list_captures(ACME_URL)[:2]:
        client.replay(capture)
    # Four requests at 20 a minute, at once: the next three wait for their slots, 3, 6 and 9 s
    # away (the fake sleep lets no time pass).
    assert [round(s) for s in sleeps] == [3, 6, 9]


def test_replay_follows_the_archive_to_the_nearest_copy_only(http_server):
    fake = install_fake_ia(http_server, captures(3) + [
        Capture.redirect(ACME_URL, "20190201120000", "https://acme.example/legal/privacy", status=301)])
    closest = fake.add_nearest("20190102000000")
    client = client_for(fake)
    from policywatch.archive import Capture as Row

    nearest = client.replay(Row("20190102000000", ACME_URL))
    assert nearest.ok and nearest.status == 200 and closest in (nearest.final_url or "")
    moved = client.replay(Row("20190201120000", ACME_URL))
    assert moved.error_class == "redirected" and "legal/privacy" in moved.error


def test_refusals_stop_the_backfill_cleanly_and_it_resumes(http_server, make_watchlist, store):
    fake = install_fake_ia(http_server, captures())
    watchlist = make_watchlist([{"id": "acme", "name": "ACME", "url": ACME_URL},
                                {"id": "beta", "name": "Beta", "url": "https://beta.example/privacy"}])
    refusal = ia_fixture("rate-limited-429")
    # The first three replays succeed, then the archive refuses every attempt of the fourth.
    client = client_for(fake, retries=2)
    original_replay = client.replay
    calls = []

    def replay(capture, max_bytes=10 * 1024 * 1024):
        calls.append(capture.timestamp)
        if len(calls) == 4:
            fake.fail_replay(refusal, refusal, refusal)
        return original_replay(capture, max_bytes)

    client.replay = replay
    report = backfill(watchlist, store, strategy="all", client=client)
    acme, beta = report.results
    assert acme.outcome == "stopped" and "refused" in acme.message and "resume" in acme.message
    assert beta.outcome == "stopped" and beta.message.startswith("not started")
    assert report.exit_code == 3
    assert store.timeline("acme") == []  # nothing merged from a half-done import
    fetched_before = fake.count("replay")

    report = backfill(watchlist, store, strategy="all", client=client_for(fake))
    acme = report.results[0]
    assert acme.outcome == "ok" and acme.known == 3 and acme.fetched == 9
    assert fake.count("replay") - fetched_before == 9
    assert [row["captured_at"] for row in store.timeline("acme")] == ["2019-01-01T12:00:00Z", "2019-01-07T12:00:00Z"]
    with pytest.raises(ArchiveRefused):
        fake.fail_cdx(*[refusal] * 5)
        client_for(fake, retries=2).list_captures(ACME_URL)


def test_a_capture_that_could_not_be_fetched_keeps_the_timeline_unmerged_until_it_is(http_server, make_watchlist,
                                                                                    store):
    fake = install_fake_ia(http_server, captures())
    watchlist = make_watchlist([{"id": "acme", "name": "ACME", "url": ACME_URL}])
    broken = {"status": 500, "body": b"Internal Server Error", "content_type": "text/plain", "headers": {}}
    fake.fail_replay(broken, broken)  # one capture's replay fails, and its one retry (not a refusal)
    report = backfill(watchlist, store, strategy="all", client=client_for(fake, retries=1))
    (acme,) = report.results
    assert acme.outcome == "stopped" and "could not be fetched" in acme.message and "resume" in acme.message
    assert report.exit_code == 3 and store.timeline("acme") == []  # no change dated around a hole
    again = backfill(watchlist, store, strategy="all", client=client_for(fake)).results[0]
    assert again.outcome == "ok" and again.fetched == 1  # only the missing capture
    assert [row["captured_at"] for row in store.timeline("acme")] == ["2019-01-01T12:00:00Z", "2019-01-07T12:00:00Z"]


def test_an_archive_that_does_not_answer_stops_the_run_instead_of_each_policy_waiting(make_watchlist, store):
    import socket

    with socket.socket() as closed:  # a port nothing listens on: every connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    archive = Archive.configured(f"http://127.0.0.1:{port}/cdx/search/cdx",
                                 f"http://127.0.0.1:{port}/web/{{timestamp}}id_/{{url}}")
    client = ArchiveClient(archive, rate=0, retries=2, backoff=0.01, sleep=lambda s: None)
    watchlist = make_watchlist([{"id": name, "name": name.title(), "url": f"https://{name}.example/privacy"}
                                for name in ("acme", "beta", "gamma")])
    report = backfill(watchlist, store, strategy="all", client=client)
    acme, beta, gamma = report.results
    assert acme.outcome == "stopped" and "not answering" in acme.message and "resume" in acme.message
    assert [beta.outcome, gamma.outcome] == ["stopped", "stopped"]
    assert beta.message.startswith("not started") and "not answering" in beta.message
    assert client.requests["cdx"] == 3  # one listing and its two retries, not three policies' worth
    assert report.exit_code == 3


def test_an_archive_that_closes_connections_fails_the_policy_without_stopping_the_run(make_watchlist, store):
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    def close_each() -> None:  # a connection is made, then closed before any answer: one URL's trouble maybe
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    threading.Thread(target=close_each, daemon=True).start()
    try:
        archive = Archive.configured(f"http://127.0.0.1:{port}/cdx/search/cdx",
                                     f"http://127.0.0.1:{port}/web/{{timestamp}}id_/{{url}}")
        client = ArchiveClient(archive, rate=0, retries=1, backoff=0.01, sleep=lambda s: None)
        watchlist = make_watchlist([{"id": name, "name": name.title(), "url": f"https://{name}.example/privacy"}
                                    for name in ("acme", "beta")])
        acme, beta = backfill(watchlist, store, strategy="all", client=client).results
    finally:
        listener.close()
    assert acme.outcome == "failed" and beta.outcome == "failed"  # each policy tried, none stopped the run
    assert client.requests["cdx"] == 4

def test_replays_failing_in_a_row_fail_their_policy_and_the_next_is_tried(http_server, make_watchlist, store):
    fake = install_fake_ia(http_server, captures())
    watchlist = make_watchlist([{"id": "acme", "name": "ACME", "url": ACME_URL},
                                {"id": "beta", "name": "Beta", "url": "https://beta.example/privacy"}])
    broken = {"status": 502, "body": b"Bad Gateway", "content_type": "text/plain", "headers": {}}
    fake.fail_replay(*[broken] * 20)  # every replay and its retry, well past three captures in a row
    report = backfill(watchlist, store, strategy="all", client=client_for(fake, retries=1))
    acme, beta = report.results
    assert acme.outcome == "failed" and "not answering" in acme.message
    assert beta.outcome == "ok"  # an error answer may be one page's: the archive is asked for the next
    assert fake.count("cdx") == 2 and fake.count("replay") == 6  # three captures, each tried twice
    assert store.timeline("acme") == [] and report.exit_code == 3


def test_an_archive_failing_policy_after_policy_stops_the_run(http_server, make_watchlist, store):
    fake = install_fake_ia(http_server, captures())
    names = ("acme", "beta", "gamma", "delta")
    watchlist = make_watchlist([{"id": n, "name": n.title(), "url": f"https://{n}.example/privacy"} for n in names])
    broken = {"status": 502, "body": b"Bad Gateway", "content_type": "text/plain", "headers": {}}
    fake.fail_cdx(*[broken] * 20)
    report = backfill(watchlist, store, strategy="all", client=client_for(fake, retries=1))
    assert [r.outcome for r in report.results] == ["failed", "failed", "failed", "stopped"]
    last = report.results[-1].message
    assert last.startswith("not started") and "3 policies in a row" in last
    assert fake.count("cdx") == 6  # three listings, each tried twice; none for the fourth
