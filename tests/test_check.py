"""The check stage end to end: policywatch.monitor.check against a real loopback HTTP server.

Each test drives the pages a server returns between checks and asserts on what the store
recorded: versions, the timeline (changes), and one observation per fetch.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pages
import pytest
from console import policywatch

from policywatch.fetch import Fetcher
from policywatch.monitor import check

PAGE = pages.policy_page()
RETENTION = "for up to ninety days after it is closed"
SUBSTANTIVE = {RETENTION: "for up to five years after it is closed"}


# -- helpers -------------------------------------------------------------------------------------------------

def versions(store, policy_id: str = "p1") -> list[dict]:
    return store.versions_of(policy_id)


def observations(store, policy_id: str = "p1") -> list[dict]:
    return list(store.db.query("SELECT * FROM observations WHERE policy_id = ? ORDER BY id", [policy_id]))


def policy_row(store, policy_id: str = "p1") -> dict:
    return next(store.db.query("SELECT * FROM policies WHERE id = ?", [policy_id]))


def result_of(report, policy_id: str = "p1"):
    (result,) = [r for r in report.results if r.policy_id == policy_id]
    return result


def check_one(watchlist, store, policy_id: str = "p1"):
    return result_of(check(watchlist, store), policy_id)


# -- 1. a substantive change ---------------------------------------------------------------------------------

def test_substantive_change_creates_a_new_version(http_server, make_watchlist, store):
    http_server.route("/privacy", PAGE)
    watchlist = make_watchlist([http_server.url("/privacy")])

    first = check_one(watchlist, store)
    assert (first.outcome, first.version, first.previous_version) == ("new", 1, None)
    assert first.status == 200 and first.final_url == http_server.url("/privacy")

    http_server.route("/privacy", pages.policy_page(edits=SUBSTANTIVE))
    second = check_one(watchlist, store)
    assert (second.outcome, second.version, second.previous_version) == ("changed", 2, 1)

    stored = versions(store)
    assert [v["number"] for v in stored] == [1, 2]
    assert RETENTION in stored[0]["text"] and "five years" in stored[1]["text"]
    assert all(v["source"] == "live" and v["snapshot_sha256"] for v in stored)
    timeline = store.timeline("p1")
    assert [(e["version"], e["previous_version"], e["returns_to"]) for e in timeline] == [(1, None, None),
                                                                                        (2, 1, None)]
    assert [o["outcome"] for o in observations(store)] == ["new", "changed"]
    assert policy_row(store)["current_version_id"] == stored[1]["id"]


def test_a_stated_date_reads_as_the_policy_wrote_its_dates_before(http_server, make_watchlist, store):
    # "11/05/2026" alone does not say whether the day comes first; the version before ("22/07/2025") does.
    http_server.route("/privacy", pages.policy_page(updated="22/07/2025", relative=None))
    watchlist = make_watchlist([http_server.url("/privacy")])
    check_one(watchlist, store)
    http_server.route("/privacy", pages.policy_page(updated="11/05/2026", relative=None, edits=SUBSTANTIVE))
    check_one(watchlist, store)
    assert [v["stated_date"] for v in versions(store)] == ["2025-07-22", "2026-05-11"]


def test_stored_text_is_the_policy_without_the_site_around_it(http_server, make_watchlist, store):
    http_server.route("/privacy", pages.policy_page(banner="onetrust", back_to_top=True, hidden=True))
    check_one(make_watchlist([http_server.url("/privacy")]), store)
    (version,) = versions(store)
    text = version["text"]
    assert text.startswith("# Acme Privacy Policy\n")
    assert "## Your rights and choices" in text and "privacy@acme.example" in text
    assert "- Contact details such as your name, email address and phone number." in text
    for chrome in CHROME_MARKERS:
        assert chrome not in text


# -- 2. noise alone never makes a version --------------------------------------------------------------------

# Text that must never reach a stored version (site chrome, banners, scripts, obfuscation).
CHROME_MARKERS = ("All rights reserved", "Related documents", "Customers", "__INITIAL_STATE__", "dataLayer",
                  "font-family", "cookies", "Accept", "Back to top", "[email", "Tracking fallback",
                  "Decorative icon", "Experimental paragraph", "utm_", "subprocessors?")

B1, B2 = pages.BANNER_TEXTS

NOISE = {
    # id: (options of the first page, options of the second page)
    "scripts-and-styles": ({}, {"script": "window.__BUILD__ = 'ff09e1'; gtag('config', 'G-TEST');",
                                "style": ".hero{color:#111} main{max-width:70ch}", "extra_scripts": True}),
    "hidden-elements-added": ({}, {"hidden": True}),
    "nav-menu-changed": ({}, {"nav": ("Solutions", "Enterprise", "Resources", "Contact sales", "Log in")}),
    "header-promo-added": ({}, {"header_promo": "New: Acme AI is here. Try it free for 30 days!"}),
    "footer-changed": ({}, {"footer_links": ("Terms", "Imprint", "Accessibility", "Do Not Sell My Info"),
                            "copyright_year": 2025}),
    "aside-menu-changed": ({}, {"aside": ("Security overview", "Trust center", "Subprocessor list")}),
    "cookie-banner-onetrust": ({"banner": "onetrust", "banner_text": B1}, {"banner": "onetrust", "banner_text": B2}),
    "cookie-banner-div-class": ({"banner": "cookie-banner", "banner_text": B1},
                                {"banner": "cookie-banner", "banner_text": B2}),
    "consent-role-dialog": ({"banner": "dialog", "banner_text": B1}, {"banner": "dialog", "banner_text": B2}),
    "cookie-banner-cookiebot": ({"banner": "cookiebot", "banner_text": B1},
                                {"banner": "cookiebot", "banner_text": B2}),
    "cookie-notice-appears": ({}, {"banner": "cookie-notice"}),
    "back-to-top-buttons": ({}, {"back_to_top": True}),
    "link-target-changed": ({}, {"link_href": "https://www.acme.example/en-us/trust/subprocessor-list"}),
    "tracking-params-rotated": ({}, {"link_href": "https://acme.example/legal/subprocessors?utm_source=footer"
                                                  "&utm_campaign=q3&gclid=EAIaIQobChMI&fbclid=IwAR0x"}),
    "cloudflare-email-key": ({"cf_key": 0x3A}, {"cf_key": 0x7F}),
    "cloudflare-email-href-form": ({"cf_key": 0x3A, "cf_form": "href"}, {"cf_key": 0x11, "cf_form": "href"}),
    "relative-date": ({"relative": "3 days ago"}, {"relative": "5 days ago"}),
    "relative-date-words": ({"relative": "2 hours ago"}, {"relative": "a few minutes ago"}),
    "whitespace-and-indentation": ({}, {"spacing": "messy"}),
    "nbsp-and-zero-width": ({}, {"nbsp": True, "invisible": True}),
    "typographic-quotes-and-dashes": ({}, {"typography": "curly"}),
    "list-ol-instead-of-ul": ({}, {"list_style": "ol"}),
    "list-manual-numbers-in-items": ({}, {"list_style": "numbered-li"}),
    "list-numbered-lines": ({"list_style": "ol"}, {"list_style": "numbered-lines"}),
    "list-bullet-lines": ({}, {"list_style": "bullet-lines"}),
    "attribute-and-class-churn": ({"churn": 1}, {"churn": 2}),
}


@pytest.mark.parametrize("first, second", [pytest.param(*case, id=name) for name, case in NOISE.items()])
def test_noise_alone_makes_no_new_version(http_server, make_watchlist, store, first, second):
    before, after = pages.policy_page(**first), pages.policy_page(**second)
    assert before != after  # the bytes differ: the fast path cannot answer
    http_server.route("/privacy", before)
    watchlist = make_watchlist([http_server.url("/privacy")])
    assert check_one(watchlist, store).outcome == "new"

    http_server.route("/privacy", after)
    result = check_one(watchlist, store)
    assert (result.outcome, result.reason, result.version) == ("unchanged", None, 1)
    (version,) = versions(store)
    last = observations(store)[-1]
    assert last["outcome"] == "unchanged" and last["text_sha256"] == version["text_sha256"]
    assert last["raw_sha256"] != observations(store)[0]["raw_sha256"]
    # The text stored is the policy alone, so noise could not hide in it either.
    assert "## How we share information" in version["text"]
    for chrome in CHROME_MARKERS:
        assert chrome not in version["text"], chrome


def test_all_noise_at_once_still_no_new_version(http_server, make_watchlist, store):
    http_server.route("/privacy", pages.policy_page(banner="onetrust", churn=1))
    watchlist = make_watchlist([http_server.url("/privacy")])
    assert check_one(watchlist, store).outcome == "new"
    noisy = {key: value for _, (_, second) in NOISE.items()
             for key, value in second.items() if key not in ("list_style", "banner")}
    http_server.route("/privacy", pages.policy_page(**noisy, banner="onetrust", list_style="ol"))
    assert check_one(watchlist, store).outcome == "unchanged"
    assert len(versions(store)) == 1


def test_substantive_change_amid_noise_is_still_a_change(http_server, make_watchlist, store):
    http_server.route("/privacy", PAGE)
    watchlist = make_watchlist([http_server.url("/privacy")])
    check_one(watchlist, store)
    http_server.route("/privacy", pages.policy_page(edits={"We don{apos}t sell": "We may sell"}, spacing="messy",
                                                    banner="cookie-banner", churn=5, relative="9 days ago"))
    result = check_one(watchlist, store)
    assert (result.outcome, result.version) == ("changed", 2)
    assert "We may sell your personal information." in versions(store)[1]["text"]


# -- 3. flip-flops -------------------------------------------------------------------------------------------

def test_flip_flop_is_a_return_not_a_new_version(http_server, make_watchlist, store):
    a, b = PAGE, pages.policy_page(edits=SUBSTANTIVE)
    watchlist = make_watchlist([http_server.url("/privacy")])
    http_server.route("/privacy", a)
    assert check_one(watchlist, store).outcome == "new"
    http_server.route("/privacy", b)
    assert check_one(watchlist, store).outcome == "changed"
    http_server.route("/privacy", pages.policy_page(churn=3))  # A again, in new markup
    third = check_one(watchlist, store)
    assert (third.outcome, third.returns_to, third.version, third.previous_version) == ("reverted", 1, 1, 2)

    assert [v["number"] for v in versions(store)] == [1, 2]  # no third version row
    timeline = store.timeline("p1")
    assert [(e["version"], e["returns_to"]) for e in timeline] == [(1, None), (2, None), (1, 1)]
    assert policy_row(store)["current_version_id"] == versions(store)[0]["id"]
    assert observations(store)[-1]["outcome"] == "reverted"

    fourth = check_one(watchlist, store)  # and A stays A
    assert fourth.outcome == "unchanged" and len(store.timeline("p1")) == 3


# -- 4. fast paths -------------------------------------------------------------------------------------------

def test_etag_route_answers_304_to_the_second_check(http_server, make_watchlist, store):
    http_server.route("/privacy", body=PAGE, etag="auto")
    watchlist = make_watchlist([http_server.url("/privacy")])
    assert check_one(watchlist, store).outcome == "new"
    etag = policy_row(store)["etag"]
    assert etag and etag.startswith('"')

    second = check_one(watchlist, store)
    assert (second.outcome, second.reason, second.status) == ("unchanged", "not_modified", 304)
    first_request, second_request = http_server.requests_to("/privacy")
    assert first_request.header("If-None-Match") is None
    assert second_request.header("If-None-Match") == etag
    last = observations(store)[-1]
    assert (last["outcome"], last["reason"], last["status"]) == ("unchanged", "not_modified", 304)
    assert last["version_id"] == versions(store)[0]["id"]

    http_server.route("/privacy", body=pages.policy_page(edits=SUBSTANTIVE), etag="auto")
    third = check_one(watchlist, store)
    assert third.outcome == "changed" and http_server.requests_to("/privacy")[2].header("If-None-Match") == etag
    assert policy_row(store)["etag"] != etag


def test_last_modified_route_answers_304(http_server, make_watchlist, store):
    stamp = "Wed, 01 May 2024 10:00:00 GMT"
    http_server.route("/privacy", body=PAGE, last_modified=stamp)
    watchlist = make_watchlist([http_server.url("/privacy")])
    check_one(watchlist, store)
    second = check_one(watchlist, store)
    assert (second.outcome, second.reason) == ("unchanged", "not_modified")
    assert http_server.requests_to("/privacy")[1].header("If-Modified-Since") == stamp


def test_same_bytes_without_validators_is_same_raw(http_server, make_watchlist, store):
    http_server.route("/privacy", PAGE)
    watchlist = make_watchlist([http_server.url("/privacy")])
    check_one(watchlist, store)
    second = check_one(watchlist, store)
    assert (second.outcome, second.reason) == ("unchanged", "same_raw")
    request = http_server.requests_to("/privacy")[1]
    assert request.header("If-None-Match") is None and request.header("If-Modified-Since") is None
    assert observations(store)[-1]["reason"] == "same_raw"


def test_changed_watchlist_settings_bypass_the_fast_paths(http_server, make_watchlist, store):
    http_server.route("/privacy", body=PAGE, etag="auto")
    check_one(make_watchlist([http_server.url("/privacy")]), store)
    # A new `remove` changes what the text is: the page must be fetched in full and re-normalized.
    watchlist = make_watchlist([{"url": http_server.url("/privacy"), "remove": ["section#s5"]}])
    result = check_one(watchlist, store)
    assert http_server.requests_to("/privacy")[1].header("If-None-Match") is None
    assert (result.outcome, result.version) == ("changed", 2)
    assert "How long we keep information" not in versions(store)[1]["text"]
    assert check_one(watchlist, store).reason == "not_modified"


# -- 5. faults -----------------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timeout(server):
    server.route("/privacy", body=PAGE, delay=1.0)


def _timeout_mid_body(server):
    server.route("/privacy", body=PAGE, body_delay=1.0)


def _trickle(server):  # one byte at a time: each read is quick, the page never completes in time
    server.route("/privacy", body=PAGE, drip=0.1)


def _reset(server):
    server.route("/privacy", body=PAGE, cut_after=2500, reset=True)


def _http_500(server):
    server.route("/privacy", status=500, body="<h1>Internal Server Error</h1>")


def _truncated(server):
    size = len(PAGE.encode())
    server.route("/privacy", body=PAGE, content_length=size + 4096, cut_after=size)


def _too_large(server):
    server.route("/privacy", body=b"<html><body><p>" + b"word " * (4 * 1024 * 1024) + b"</p></body></html>")


def _too_large_streamed(server):
    server.route("/privacy", stream=lambda: (b"<p>" + b"x" * 65530 + b"</p>" for _ in range(320)),
                 content_length=None)


def _bad_encoding(server):
    server.route("/privacy", body=PAGE.encode("utf-8").replace(b"Springfield", b"Springf\xe9ld \xff\xfe"),
                 content_type="text/html; charset=utf-8")


def _redirect_loop(server):
    server.route("/privacy", status=302, location="/privacy/")
    server.route("/privacy/", status=301, location="/privacy")


def _bot_wall(server):
    server.route("/privacy", pages.bot_wall_page())


def _login_redirect(server):
    server.route("/privacy", status=302, location="/login?next=/privacy")
    server.route("/login", pages.login_page())


def _login_form(server):
    server.route("/privacy", pages.login_page())


def _empty(server):
    server.route("/privacy", body=b"")


def _blank_shell(server):
    server.route("/privacy", '<!DOCTYPE html><html><head><title>Acme</title><script src="/app.js"></script>'
                             '</head><body><div id="root"></div><noscript>You need to enable JavaScript to run '
                             "this app.</noscript></body></html>")


def _selector_missing(server):
    server.route("/privacy", pages.policy_page(policy_id="content"))


def _shrunk(server):
    server.route("/privacy", pages.policy_page(drop_sections=5))


def _redirected_home(server):
    server.route("/privacy", status=301, location="/")
    server.route("/", pages.home_page())


def _error_page(server):
    server.route("/privacy", pages.error_page())


def _http_404(server):
    server.route("/privacy", status=404, body=pages.error_page())


FAULTS = {
    # id: (set up the fault, outcome, reason, attempts or None)
    "timeout": (_timeout, "failed", "timeout", 3),
    "timeout-mid-body": (_timeout_mid_body, "failed", "timeout", 3),
    "timeout-trickled-body": (_trickle, "failed", "timeout", 3),
    "connection-reset-mid-body": (_reset, "failed", "truncated", 3),
    "http-500-retried": (_http_500, "failed", "http_error", 3),
    "http-404": (_http_404, "failed", "http_error", 1),
    "truncated-body": (_truncated, "failed", "truncated", 3),
    "too-large-20mb": (_too_large, "failed", "too_large", 1),
    "too-large-20mb-streamed": (_too_large_streamed, "failed", "too_large", 1),
    "bad-encoding": (_bad_encoding, "failed", "bad_encoding", 1),
    "redirect-loop": (_redirect_loop, "failed", "redirect_loop", 1),
    "bot-wall-200": (_bot_wall, "suspect", "bot_wall", 1),
    "login-redirect": (_login_redirect, "suspect", "login", 1),
    "login-form": (_login_form, "suspect", "login", 1),
    "empty-body": (_empty, "suspect", "empty", 1),
    "javascript-shell": (_blank_shell, "suspect", "javascript", 1),
    "selector-not-found": (_selector_missing, "suspect", "selector", 1),
    "shrunk-under-half": (_shrunk, "suspect", "shrunk", 1),
    "redirect-to-home-page": (_redirected_home, "suspect", "redirected", 1),
    "error-page-200": (_error_page, "suspect", "error_page", 1),
}


@pytest.mark.parametrize("fault, select", [
    pytest.param(fault, select, id=f"{fault}-{label}")
    for fault in FAULTS for select, label in ((None, "whole-page"), ("#policy", "with-select"))
    if select or FAULTS[fault][2] != "selector"])  # only a policy with a 'select' can miss it
def test_fault_is_an_observation_not_a_version(http_server, make_watchlist, store, fault, select):
    setup, outcome, reason, attempts = FAULTS[fault]
    other = pages.policy_page(company="Globex")
    http_server.route("/privacy", PAGE)
    http_server.route("/other", other)
    # A policy with `select` (as in the watchlist reference) must get the same diagnosis: the page that
    # stands in the policy's way lacks the selected element too, but that is not the cause.
    victim = {"id": "p1", "url": http_server.url("/privacy"), "select": select}
    if fault.startswith("timeout"):
        victim["timeout"] = 0.3
    watchlist = make_watchlist([victim, {"id": "p2", "url": http_server.url("/other")}])
    assert [r.outcome for r in check(watchlist, store).results] == ["new", "new"]
    (good,) = versions(store)
    requests_before = len(http_server.requests_to("/privacy"))

    setup(http_server)
    http_server.route("/other", pages.policy_page(company="Globex", edits=SUBSTANTIVE))
    report = check(watchlist, store)
    result = result_of(report, "p1")
    assert (result.outcome, result.reason) == (outcome, reason), result.message
    assert result.message and result.version == 1
    # The run went on to the next policy (same host, fetched after this one) and stored its change.
    assert result_of(report, "p2").outcome == "changed"
    assert report.exit_code == (3 if outcome == "failed" else 0)

    assert versions(store) == [good]  # no new version
    assert policy_row(store)["current_version_id"] == good["id"]
    assert policy_row(store)["failure_streak"] == 1 and policy_row(store)["last_outcome"] == outcome
    assert len(store.timeline("p1")) == 1
    last = observations(store)[-1]
    assert (last["outcome"], last["reason"], last["version_id"]) == (outcome, reason, None)
    assert last["error"] and last["run_id"] == report.run_id
    if outcome == "suspect":
        assert last["snapshot_sha256"]  # the page is kept for inspection
        assert last["status"] == 200
    if attempts is not None:
        assert last["attempts"] == attempts
        if fault != "redirect-loop":
            assert len(http_server.requests_to("/privacy")) - requests_before == attempts

    # Recovery: the policy's page is back, and that is no change either.
    http_server.route("/privacy", PAGE)
    again = check_one(watchlist, store)
    assert again.outcome == "unchanged" and len(versions(store)) == 1
    assert policy_row(store)["failure_streak"] == 0


def test_public_policy_redirected_to_a_private_address_fails_without_reading_it(http_server, make_watchlist,
                                                                              store, proxied_names):
    # The policy's host looks public; fetches reach the loopback server as their HTTP proxy.
    from policywatch.report import summary_lines

    proxied_names(http_server, {"public.example": "93.184.215.14"})
    http_server.route("/privacy", PAGE)
    http_server.route("/internal", pages.policy_page(company="Internal admin console"))
    http_server.route("/other", pages.policy_page(company="Globex"))
    watchlist = make_watchlist([{"id": "p1", "url": "http://public.example/privacy"}, http_server.url("/other")])
    assert [r.outcome for r in check(watchlist, store).results] == ["new", "new"]
    (good,) = versions(store)

    internal = http_server.url("/internal")
    http_server.route("/privacy", status=302, location=internal)
    report = check(watchlist, store)
    result = result_of(report, "p1")
    assert (result.outcome, result.reason) == ("failed", "private_redirect"), result.message
    assert internal in result.message and "\n" not in result.message
    assert result.version == 1 and report.exit_code == 3
    assert result_of(report, "p2").outcome == "unchanged"  # the run went on
    assert http_server.requests_to("/internal") == []  # never read

    assert versions(store) == [good]  # nothing stored from the private address
    assert policy_row(store)["current_version_id"] == good["id"]
    assert policy_row(store)["failure_streak"] == 1 and policy_row(store)["last_outcome"] == "failed"
    last = observations(store)[-1]
    assert (last["outcome"], last["reason"], last["version_id"], last["snapshot_sha256"]) == (
        "failed", "private_redirect", None, None)
    assert last["error"] == result.message
    (line,) = [line for line in summary_lines(report, quiet=False) if " p1:" in line]
    assert line.startswith("FAILED") and "private_redirect: " in line and internal in line


def test_local_policy_redirected_to_another_local_address_is_stored(http_server, make_server, make_watchlist,
                                                                    store):
    internal = make_server()
    internal.route("/internal", PAGE)
    http_server.route("/privacy", status=302, location=internal.url("/internal"))
    result = check_one(make_watchlist([http_server.url("/privacy")]), store)
    assert (result.outcome, result.version) == ("new", 1) and result.final_url == internal.url("/internal")
    assert len(internal.requests_to("/internal")) == 1


def test_trickling_page_fails_with_timeout_and_the_run_ends(http_server, make_watchlist, store):
    # A page sent a byte every 0.5 s never trips a per-read timeout: `timeout` bounds the whole answer.
    http_server.route("/privacy", body=PAGE, drip=0.5)
    http_server.route("/other", pages.policy_page(company="Globex"))
    watchlist = make_watchlist([{"url": http_server.url("/privacy"), "timeout": 1, "retries": 1},
                                http_server.url("/other")])
    started = time.monotonic()
    report = check(watchlist, store)
    took = time.monotonic() - started
    result = result_of(report, "p1")
    assert (result.outcome, result.reason) == ("failed", "timeout"), result.message
    assert result_of(report, "p2").outcome == "new"  # the run went on, and ended
    assert report.exit_code == 3
    (last,) = observations(store)
    assert last["error"] == "127.0.0.1: no complete answer within 1 s (the server is sending too slowly)"
    assert last["attempts"] == 2 and versions(store) == []
    assert took < 10, f"the check took {took:.1f}s"  # 2 attempts × 1 s: it ended, not a speed test


def test_retry_after_then_success(http_server, make_watchlist, store):
    http_server.route("/privacy", [{"status": 429, "headers": {"Retry-After": "1"}, "body": "Too Many Requests"},
                                   {"body": PAGE}])
    result = check_one(make_watchlist([http_server.url("/privacy")]), store)
    assert (result.outcome, result.version) == ("new", 1)
    first, second = http_server.requests_to("/privacy")
    assert second.started - first.finished >= 0.9  # it waited as asked
    assert observations(store)[-1]["attempts"] == 2


def test_unreachable_host_fails_and_run_continues(http_server, make_watchlist, store):
    http_server.route("/privacy", PAGE)
    watchlist = make_watchlist([f"http://127.0.0.1:{_closed_port()}/privacy", http_server.url("/privacy")])
    report = check(watchlist, store)
    assert [(r.outcome, r.reason) for r in report.results] == [("failed", "connection"), ("new", None)]
    assert report.exit_code == 3
    assert observations(store, "p1")[-1]["error"].endswith("connection refused")


def test_a_pdf_or_an_image_where_the_policy_was_fails_its_check_and_is_never_a_version(http_server, make_watchlist,
                                                                                      store, tmp_path):
    # A PDF's syntax read as text had become a "version", judged high; a compressed one failed as
    # "cannot detect the page's character set".
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n%%EOF\n"
    compressed = b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n1 0 obj<</Filter/FlateDecode>>stream\n\x78\x9c\xff\xfe\x00endstream\n"
    http_server.route("/privacy", PAGE)
    http_server.route("/policy.pdf", body=compressed, content_type="application/pdf")
    http_server.route("/logo", body=b"\x00\x01webp", content_type="image/webp")
    (tmp_path / "draft.pdf").write_bytes(pdf)
    watchlist = make_watchlist([http_server.url("/privacy"), http_server.url("/policy.pdf"), http_server.url("/logo"),
                                (tmp_path / "draft.pdf").as_uri()])
    report = check(watchlist, store)
    assert [(r.outcome, r.reason) for r in report.results] == [("new", None)] + [("failed", "not_text")] * 3
    assert "the page is a PDF document, not a web page" in report.results[1].message
    assert "the page is image/webp, not a web page" in report.results[2].message
    # A vendor media type that is text (GitHub's raw and html views), or markup under any type, is read.
    from policywatch.fetch import not_text

    assert not_text(b"# Privacy\n", "application/vnd.github.raw") is None
    assert not_text(b"<html><p>Privacy</p></html>", "application/vnd.github.html") is None
    assert not_text(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml") is None
    assert not_text(b"PK\x03\x04", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    # The vendor swaps its page for a PDF, served as HTML: the text in effect stays, nothing is announced.
    http_server.route("/privacy", body=pdf, content_type="text/html")
    again = check_one(watchlist, store)
    assert (again.outcome, again.reason, again.version) == ("failed", "not_text", 1)
    assert store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 1


def test_failure_streak_counts_consecutive_failures(http_server, make_watchlist, store):
    http_server.route("/privacy", PAGE)
    watchlist = make_watchlist([http_server.url("/privacy")])
    check_one(watchlist, store)
    http_server.route("/privacy", status=503, body="down")
    for expected in (1, 2, 3):
        assert check_one(watchlist, store).reason == "http_error"
        assert policy_row(store)["failure_streak"] == expected


# -- 6. politeness: one request at a time per host -----------------------------------------------------------

def test_one_request_at_a_time_per_host(http_server, make_watchlist, store):
    for n in range(1, 5):
        http_server.route(f"/p{n}", body=pages.policy_page(company=f"Vendor{n}"), delay=0.15)
    watchlist = make_watchlist([http_server.url(f"/p{n}") for n in range(1, 5)])
    report = check(watchlist, store, workers=8)
    assert [r.outcome for r in report.results] == ["new"] * 4
    assert len(http_server.requests) == 4
    assert http_server.max_concurrency() == 1
    spans = sorted((r.started, r.finished) for r in http_server.requests)
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_different_hosts_are_fetched_concurrently(make_server, make_watchlist, store, rendezvous):
    a, b = make_server(), make_server()
    met = rendezvous(a, b, "/privacy", PAGE)
    a.route("/terms", body=pages.policy_page(company="Initech"), delay=0.1)
    watchlist = make_watchlist([a.url("/privacy"), a.url("/terms"), b.url("/privacy")])
    report = check(watchlist, store, workers=4)
    assert [r.outcome for r in report.results] == ["new", "new", "new"]
    assert met == {a.host: True, b.host: True}  # the two hosts were in flight together
    assert a.max_concurrency() == 1 and b.max_concurrency() == 1


def test_shared_fetcher_is_left_open(http_server, make_watchlist, store):
    http_server.route("/privacy", PAGE)
    watchlist = make_watchlist([http_server.url("/privacy")])
    with Fetcher(workers=2) as fetcher:
        assert check(watchlist, store, fetcher=fetcher).results[0].outcome == "new"
        assert check(watchlist, store, fetcher=fetcher).results[0].reason == "same_raw"


# -- 7. local files ------------------------------------------------------------------------------------------

def test_file_url_and_plain_path_policies(tmp_path, make_watchlist, store):
    html_file = tmp_path / "acme.html"
    html_file.write_text(PAGE, encoding="utf-8")
    md_file = tmp_path / "draft.md"
    md_file.write_text(pages.policy_markdown(), encoding="utf-8")
    watchlist = make_watchlist([html_file.as_uri(), str(md_file)])

    first = check(watchlist, store)
    assert [(r.outcome, r.version) for r in first.results] == [("new", 1), ("new", 1)]
    html_version, md_version = versions(store, "p1")[0], versions(store, "p2")[0]
    assert html_version["source"] == md_version["source"] == "file"
    assert "## Your rights and choices" in html_version["text"]
    assert "## Your rights and choices" in md_version["text"]
    assert "privacy@acme.example" in md_version["text"]

    assert [r.outcome for r in check(watchlist, store).results] == ["unchanged", "unchanged"]

    html_file.write_text(pages.policy_page(edits=SUBSTANTIVE), encoding="utf-8")
    md_file.write_text(pages.policy_markdown(extra="We now use your content to train our AI models."),
                       encoding="utf-8")
    third = check(watchlist, store)
    assert [(r.outcome, r.version) for r in third.results] == [("changed", 2), ("changed", 2)]
    assert "train our AI models" in versions(store, "p2")[1]["text"]
    assert [e["source"] for e in store.timeline("p1")] == ["file", "file"]

    md_file.unlink()
    gone = check(watchlist, store)
    assert (gone.results[1].outcome, gone.results[1].reason) == ("failed", "not_found")


# -- 8 and 9. real processes: a crash, and two overlapping runs ----------------------------------------------

def run_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("POLICYWATCH_")}
    env["NO_COLOR"] = "1"
    return env


def assert_consistent(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute("SELECT v.id FROM versions v LEFT JOIN changes c ON c.version_id = v.id"
                               " WHERE c.id IS NULL").fetchall()
        assert orphans == [], "versions without a changes row"
        dangling = conn.execute("SELECT o.id FROM observations o LEFT JOIN versions v ON v.id = o.version_id"
                                " WHERE o.version_id IS NOT NULL AND v.id IS NULL").fetchall()
        assert dangling == [], "observations pointing at a missing version"
        unobserved = conn.execute("SELECT c.id FROM changes c LEFT JOIN observations o ON o.id = c.observation_id"
                                  " WHERE c.observation_id IS NOT NULL AND o.id IS NULL").fetchall()
        assert unobserved == []
        current = conn.execute("SELECT p.id FROM policies p LEFT JOIN versions v ON v.id = p.current_version_id"
                               " WHERE p.current_version_id IS NOT NULL AND v.id IS NULL").fetchall()
        assert current == []
        # The policy's current version is the one its timeline ends with.
        stale = conn.execute(
            "SELECT p.id FROM policies p WHERE p.current_version_id IS NOT (SELECT c.version_id FROM changes c"
            " WHERE c.policy_id = p.id ORDER BY c.captured_at DESC, c.id DESC LIMIT 1)").fetchall()
        assert stale == [], "policies whose current version is not the last change's"
        missing_snapshots = conn.execute(
            "SELECT v.id FROM versions v LEFT JOIN snapshots s ON s.sha256 = v.snapshot_sha256"
            " WHERE v.snapshot_sha256 IS NOT NULL AND s.sha256 IS NULL").fetchall()
        assert missing_snapshots == []
    finally:
        conn.close()


def count(db_path: Path, sql: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_sigkill_mid_run_leaves_a_consistent_database(http_server, make_watchlist, db_path, tmp_path):
    fast_ids = [f"v{n:02d}" for n in range(1, 7)]
    for n, policy_id in enumerate(fast_ids):
        http_server.route(f"/{policy_id}", body=pages.policy_page(company=f"Vendor{n}"))
    http_server.route("/slow", body=pages.policy_page(company="Slowco"), delay=30)
    entries = [{"id": pid, "url": http_server.url(f"/{pid}")} for pid in fast_ids]
    entries.append({"id": "slow", "url": http_server.url("/slow"), "timeout": 60})
    make_watchlist(entries)
    watchlist_file = tmp_path / "watchlist.yaml"

    proc = subprocess.Popen(policywatch("--db", str(db_path), "--watchlist", str(watchlist_file), "check",
                                        "--no-notify"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=run_env(), cwd=tmp_path)
    try:
        http_server.wait_for("/slow")
        time.sleep(0.5)  # the fast pages are stored by now; the run is waiting on the slow one
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert_consistent(db_path)
    assert count(db_path, "SELECT COUNT(*) FROM runs WHERE finished_at IS NULL") == 1  # it died mid-run
    assert count(db_path, "SELECT COUNT(*) FROM versions") == len(fast_ids)
    assert count(db_path, "SELECT COUNT(*) FROM versions WHERE policy_id = 'slow'") == 0

    # The next run works normally: the lock died with the process, nothing is stored twice.
    http_server.route("/slow", body=pages.policy_page(company="Slowco"))
    after = subprocess.run(policywatch("--db", str(db_path), "--watchlist", str(watchlist_file), "check",
                                       "--no-notify", "--format", "json"),
                           capture_output=True, text=True, env=run_env(), cwd=tmp_path, timeout=120)
    assert after.returncode == 0, after.stderr
    outcomes = {r["policy_id"]: r["outcome"] for r in json.loads(after.stdout)["results"]}
    assert outcomes == {**dict.fromkeys(fast_ids, "unchanged"), "slow": "new"}
    assert count(db_path, "SELECT COUNT(*) FROM versions") == len(fast_ids) + 1
    assert_consistent(db_path)


# A process killed at an exact instant inside one policy's write: the Store method named here
# runs, then the process SIGKILLs itself (a real death, not an exception that could be cleaned up).
DIE_AFTER = """
import os, signal, sys
from policywatch.monitor import check
from policywatch.store import Store
from policywatch.watchlist import load_watchlist

method = sys.argv[3]
original = getattr(Store, method)

def dying(self, *args, **kwargs):
    result = original(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(Store, method, dying)
check(load_watchlist(sys.argv[2]), Store.open(sys.argv[1]))
"""

@pytest.mark.parametrize("method", ["put_snapshot", "add_version", "add_observation", "add_change"])
def test_sigkill_inside_a_policy_write_is_all_or_nothing(http_server, make_watchlist, db_path, tmp_path, method):
    http_server.route("/privacy", PAGE)
    make_watchlist([http_server.url("/privacy")])
    watchlist_file = tmp_path / "watchlist.yaml"
    args = policywatch("--db", str(db_path), "--watchlist", str(watchlist_file), "check", "--no-notify",
                       "--format", "json")
    assert subprocess.run(args, capture_output=True, env=run_env(), cwd=tmp_path, timeout=60).returncode == 0

    http_server.route("/privacy", pages.policy_page(edits=SUBSTANTIVE))
    dead = subprocess.run([sys.executable, "-c", DIE_AFTER, str(db_path), str(watchlist_file), method],
                          capture_output=True, text=True, env=run_env(), cwd=tmp_path, timeout=60)
    assert dead.returncode == -signal.SIGKILL, dead.stderr

    assert_consistent(db_path)
    # Whatever the instant, the change is either wholly stored or not at all: the next run calls it a change.
    after = subprocess.run(args, capture_output=True, text=True, env=run_env(), cwd=tmp_path, timeout=60)
    assert after.returncode == 0, after.stderr
    (result,) = json.loads(after.stdout)["results"]
    assert (result["outcome"], result["version"], result["returns_to"]) == ("changed", 2, None)
    assert_consistent(db_path)


def test_overlapping_run_is_refused_without_writing(http_server, make_watchlist, db_path, tmp_path):
    import threading

    release = threading.Event()

    def slow(request):
        release.wait(30)
        return {"body": pages.policy_page(company="Slowco")}

    http_server.route("/fast", PAGE)
    http_server.route("/slow", slow)
    make_watchlist([{"id": "fast", "url": http_server.url("/fast")},
                    {"id": "slow", "url": http_server.url("/slow"), "timeout": 60}])
    watchlist_file = tmp_path / "watchlist.yaml"
    args = policywatch("--db", str(db_path), "--watchlist", str(watchlist_file), "check", "--no-notify")

    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env(),
                             cwd=tmp_path)
    try:
        http_server.wait_for("/slow")  # the first run holds the lock and waits on the slow page
        time.sleep(0.3)
        requests_before = len(http_server.requests)
        tables = ("runs", "observations", "versions", "changes", "policies")
        before = {t: count(db_path, f"SELECT COUNT(*) FROM {t}") for t in tables}

        second = subprocess.run(args, capture_output=True, text=True, env=run_env(), cwd=tmp_path, timeout=60)
        assert second.returncode == 3
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "another policywatch run" in lines[0], second.stderr
        assert second.stdout == ""
        assert {t: count(db_path, f"SELECT COUNT(*) FROM {t}") for t in tables} == before
        assert len(http_server.requests) == requests_before  # it fetched nothing either
    finally:
        release.set()
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert count(db_path, "SELECT COUNT(*) FROM versions") == 2
    assert count(db_path, "SELECT COUNT(*) FROM runs WHERE finished_at IS NOT NULL") == 1


def _serve_pages(http_server, edits: list[dict]) -> list[str]:
    """Serve a policy page with each set of edits at /p0, /p1, …; the pages."""
    bodies = [pages.policy_page(edits=edit) for edit in edits]
    for k, body in enumerate(bodies):
        http_server.route(f"/p{k}", body)
    return bodies


def test_reading_in_worker_processes_gives_the_same_versions(http_server, make_watchlist, store, monkeypatch):
    """Large runs read pages in processes (after POOL_THRESHOLD pages); the texts must be identical."""
    import policywatch.monitor as monitor
    from policywatch.normalize import normalize_text

    bodies = _serve_pages(http_server, [{RETENTION: f"for up to {days} days after it is closed"}
                                        for days in (10, 20, 30, 40)])
    watchlist = make_watchlist([http_server.url(f"/p{k}") for k in range(len(bodies))])
    monkeypatch.setattr(monitor, "POOL_THRESHOLD", 1)
    monkeypatch.setattr(monitor, "_spare_cores", lambda: 2)
    pools = []
    original = monitor.PageReader.__call__

    def spy(self, text, **options):
        result = original(self, text, **options)
        pools.append(self.pool is not None)
        return result

    monkeypatch.setattr(monitor.PageReader, "__call__", spy)
    report = check(watchlist, store)
    assert [r.outcome for r in report.results] == ["new"] * 4
    assert pools.count(True) == 3  # the first page in the thread, the others in worker processes
    for policy, body in zip(watchlist.policies, bodies, strict=True):
        stored = store.version_by_id(store.state(policy.id).current_version_id)["text"]
        text = body if isinstance(body, str) else body.decode()
        assert stored == normalize_text(text, content_type="text/html").markdown


def test_new_texts_judged_ahead_in_worker_processes_get_the_same_verdicts(http_server, make_watchlist, tmp_path,
                                                                          monkeypatch):
    """Once a run has AHEAD_THRESHOLD new texts, worker processes judge them against their baselines
    ahead of the writer, which then only stores the judgement: the same verdicts as without."""
    import policywatch.judge as judge
    import policywatch.judge.facts as facts
    import policywatch.monitor as monitor
    from policywatch.store import Store

    edits = [{RETENTION: f"for up to {days} days after it is closed"} for days in (10, 20, 30)]
    watchlist = make_watchlist([http_server.url(f"/p{k}") for k in range(len(edits))])
    monkeypatch.setattr(monitor, "AHEAD_THRESHOLD", 0)
    monkeypatch.setattr(monitor, "_spare_cores", lambda: 2)
    analysed, compared = [], []
    original, compare = facts.FactExtractor._analyse, judge.compare
    monkeypatch.setattr(facts.FactExtractor, "_analyse", lambda self, s: analysed.append(s) or original(self, s))
    monkeypatch.setattr(judge, "compare", lambda *args, **kwargs: compared.append(1) or compare(*args, **kwargs))
    verdicts, ahead_of_writer = {}, monitor.PageReader.ahead
    for ahead in (False, True):
        with Store.open(tmp_path / f"ahead-{ahead}.db") as store:
            monkeypatch.setattr(monitor.PageReader, "ahead", ahead_of_writer if ahead else
                                lambda self, baseline, normalized: None)
            _serve_pages(http_server, edits)
            assert {r.outcome for r in check(watchlist, store, notify=False).results} == {"new"}
            _serve_pages(http_server, [{RETENTION: "indefinitely"}] * len(edits))
            analysed.clear()
            compared.clear()
            report = check(watchlist, store, notify=False)
            assert {r.outcome for r in report.results} == {"changed"}
            verdicts[ahead] = [(r.severity, r.material, r.categories, r.summary) for r in report.results]
            facts_kept = store.db.execute("SELECT COUNT(*) FROM version_facts").fetchone()[0]
            learned = store.db.execute("SELECT COUNT(*) FROM sentence_analyses").fetchone()[0]
            if ahead:
                assert analysed == [] and compared == []  # in this process: the workers judged every change
            else:
                assert analysed and len(compared) == len(edits)  # the writer judged them itself
            assert facts_kept == 2 * len(edits) and learned  # both ways, the writer keeps facts and analyses
    assert verdicts[True] == verdicts[False]
    assert all(material for _, material, _, _ in verdicts[True])


def test_a_judgement_made_ahead_is_used_only_for_its_own_text_and_baseline(store):
    """The writer may judge against another baseline than the worker did (a return to an earlier
    text is judged against the last one people were told about), or the lexicons may differ."""
    from dataclasses import replace

    from policywatch.normalize import normalize_html
    from policywatch.timeline import find_or_add_version, judge_ahead, judge_change

    texts = [normalize_html(pages.policy_page(edits={RETENTION: f"for up to {days} days after it is closed"}))
             for days in (10, 20)]
    with store.writer(), store.transaction():
        store.ensure_policy("p", "P", "https://p.example/")
        old, _ = find_or_add_version(store, "p", texts[0], captured_at="2024-01-01T00:00:00Z", source="check",
                                     snapshot_sha256=None)
        new, _ = find_or_add_version(store, "p", texts[1], captured_at="2024-02-01T00:00:00Z", source="check",
                                     snapshot_sha256=None)
    ahead = judge_ahead(str(store.path), old["id"], texts[1].document.markdown())
    with store.writer(), store.transaction():
        assert judge_change(store, "p", old["id"], new, ahead=ahead).diff is ahead.diff  # taken as it is
        for stale in (replace(ahead, baseline_version_id=new["id"]), replace(ahead, rules="other lexicons"),
                      replace(ahead, markdown=texts[0].document.markdown())):
            judged = judge_change(store, "p", old["id"], new, ahead=stale)
            assert judged.diff is not ahead.diff  # judged anew
            assert judged.columns == judge_change(store, "p", old["id"], new).columns


def test_judging_ahead_is_given_up_when_the_worker_processes_are_gone(tmp_path):
    """Judging ahead only saves the writer time: a broken pool (a worker killed) must not end the run."""
    from concurrent.futures.process import BrokenProcessPool

    import policywatch.monitor as monitor
    from policywatch.normalize import normalize_html

    class BrokenPool:
        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("a child process terminated abruptly")

        def shutdown(self, **kwargs):
            pass

    reader = monitor.PageReader(db_path=tmp_path / "pw.db")
    reader.pool = BrokenPool()
    assert reader.ahead(1, normalize_html(pages.policy_page())) is None
    reader.close()
    reader.pool = None
    reader.new_texts = monitor.AHEAD_THRESHOLD
    assert reader.ahead(1, normalize_html(pages.policy_page())) is None and reader.pool is None  # closed


def _read_or_die(text: str, **options) -> str:
    """Reads "die" by killing the worker process it runs in (as the out-of-memory killer would);
    "slow…" takes a second and a half, so that it is being read when another page kills the pool."""
    import multiprocessing

    if text == "die" and multiprocessing.parent_process() is not None:
        os._exit(1)
    if text.startswith("slow"):
        time.sleep(1.5)
    return text.upper()


def _read_page_or_die(text: str, **options):
    """``read_page``, except that a page saying KILL-READER kills the worker process reading it."""
    import multiprocessing

    from policywatch.normalize import read_page

    if "KILL-READER" in text and multiprocessing.parent_process() is not None:
        os._exit(1)
    return read_page(text, **options)


def test_a_worker_process_that_dies_costs_the_run_one_page_at_most(monkeypatch):
    """A pool whose worker died is replaced; the page that killed it is read again alone and fails
    (never read in the run's own process); past POOL_STARTS pools, pages are read in the calling thread."""
    import policywatch.monitor as monitor

    monkeypatch.setattr(monitor, "_spare_cores", lambda: 2)
    reader = monitor.PageReader(threshold=0)
    try:
        assert reader._run(_read_or_die, "a") == "A" and reader.starts == 1
        with pytest.raises(monitor.ReaderDied, match="again reading it alone"):
            reader._run(_read_or_die, "die")  # in the first pool, then in a process of its own
        assert reader.starts == 2 and reader.pool is not None
        assert reader._run(_read_or_die, "b") == "B"  # the second pool reads on
        for _ in range(2):
            with pytest.raises(monitor.ReaderDied):
                reader._run(_read_or_die, "die")
        assert reader.starts == monitor.POOL_STARTS and reader.pool is None
        assert reader._run(_read_or_die, "c") == "C"  # in this thread now
    finally:
        reader.close()


def test_pages_being_read_when_another_kills_the_pool_are_read_again(monkeypatch):
    """Every page in a pool is lost with it: read again each in a process of its own, only the page
    that killed it fails (before: the innocent ones failed too when the killer struck twice)."""
    import threading

    import policywatch.monitor as monitor

    monkeypatch.setattr(monitor, "_spare_cores", lambda: 2)
    reader = monitor.PageReader(threshold=0)
    read: dict[str, object] = {}

    def run(text):
        try:
            read[text] = reader._run(_read_or_die, text)
        except monitor.ReaderDied as exc:
            read[text] = exc

    try:
        assert reader._run(_read_or_die, "warm") == "WARM"  # the pool's processes are up
        threads = [threading.Thread(target=run, args=(text,)) for text in ("slow-a", "slow-b", "slow-c")]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # the slow pages are in the pool
        run("die")
        for thread in threads:
            thread.join()
    finally:
        reader.close()
    assert {text: value for text, value in read.items() if text != "die"} == {
        "slow-a": "SLOW-A", "slow-b": "SLOW-B", "slow-c": "SLOW-C"}
    assert isinstance(read["die"], monitor.ReaderDied)


def test_a_page_that_kills_its_worker_process_fails_its_check_and_the_run_goes_on(http_server, make_watchlist,
                                                                                  store, monkeypatch):
    """Before: the pool's BrokenProcessPool escaped check() and ended the run with a traceback."""
    import policywatch.monitor as monitor
    from policywatch.normalize import read_page

    bodies = _serve_pages(http_server, [{}, {RETENTION: "for up to ten days after it is closed"}, {}])
    http_server.route("/p2", bodies[2].replace("</body>", "<!-- KILL-READER --></body>"))
    watchlist = make_watchlist([http_server.url(f"/p{k}") for k in range(len(bodies))])
    monkeypatch.setattr(monitor, "POOL_THRESHOLD", 0)
    monkeypatch.setattr(monitor, "_spare_cores", lambda: 2)
    monkeypatch.setattr(monitor, "read_page", _read_page_or_die)
    report = check(watchlist, store, workers=1)
    assert [(r.outcome, r.reason) for r in report.results] == [("new", None), ("new", None),
                                                               ("failed", "reader_died")]
    assert "worker process" in report.results[2].message
    monkeypatch.setattr(monitor, "read_page", read_page)
    http_server.route("/p2", bodies[2])
    assert [r.outcome for r in check(watchlist, store).results] == ["unchanged", "unchanged", "new"]


def test_control_characters_in_a_page_are_read_and_a_page_lxml_fails_on_fails_alone(http_server, make_watchlist,
                                                                                     store, monkeypatch):
    """Word's vertical tab and form feed pasted into a CMS (and other control characters) made lxml
    refuse to join texts, and the ValueError ended the whole run. Now they are read (normalizer 7),
    and whatever else lxml may fail on fails that policy's check only."""
    import policywatch.normalize as normalize

    pasted = "<p>Page 2\x0c<script>x()</script> of it.<br>\x0bLine two.</p>"
    body = pages.policy_page().replace("</main>", pasted + "</main>")
    http_server.route("/p0", body)
    http_server.route("/p1", pages.policy_page(edits={RETENTION: "for ten days"}))
    watchlist = make_watchlist([http_server.url("/p0"), http_server.url("/p1")])
    report = check(watchlist, store, notify=False)
    assert [r.outcome for r in report.results] == ["new", "new"]
    stored = store.version_by_id(store.state(watchlist.policies[0].id).current_version_id)["text"]
    assert "Page 2 of it. Line two." in stored

    def fails(root, remove):
        raise ValueError("All strings must be XML compatible")

    monkeypatch.setattr(normalize, "_clean_tree", fails)
    http_server.route("/p0", body.replace("Line two", "Line three"))
    report = check(watchlist, store, notify=False)
    assert [(r.outcome, r.reason) for r in report.results] == [("failed", "unreadable"), ("unchanged", "same_raw")]
    assert "could not be read (ValueError: All strings must be XML compatible)" in report.results[0].message


# -- classify: what a fetch means, without a database ---------------------------------------------

def _classified(result, normalized=None, state=None, same_raw=False):
    from policywatch.monitor import Fetched, classify
    from policywatch.watchlist import Policy

    policy = Policy(id="acme", name="ACME", url="https://acme.example/privacy")
    return classify(Fetched(policy, "{}", result, normalized, same_raw, "raw"), state)


def _state(**values):
    from policywatch.store import PolicyState

    defaults = dict(id="acme", current_version_id=1, current_number=1, current_sha256="x", current_words=300,
                    current_language="en", last_raw_sha256="raw", last_profile="{}", etag=None, last_modified=None,
                    failure_streak=0)
    return PolicyState(**{**defaults, **values})


def test_classify_tells_each_kind_of_fetch_apart_without_a_database():
    from policywatch.fetch import FetchResult
    from policywatch.normalize import normalize_html

    page = normalize_html(pages.policy_page())
    ok = FetchResult("https://acme.example/privacy", status=200)
    assert _classified(FetchResult("u", error_class="timeout", error="timed out")).kind == "failed"
    assert _classified(FetchResult("u", status=304, not_modified=True), state=_state()).reason == "not_modified"
    assert _classified(ok, page, _state(), same_raw=True).reason == "same_raw"
    assert _classified(ok, page).kind == "text"  # the first version
    same = _classified(ok, page, _state(current_sha256=page.document.sha256, current_words=page.document.word_count))
    assert same.kind == "unchanged" and same.reason is None
    shrunk = _classified(ok, page, _state(current_words=page.document.word_count * 3))
    assert (shrunk.kind, shrunk.reason) == ("suspect", "shrunk")
    assert _classified(ok, page, _state(current_words=page.document.word_count)).kind == "text"


def test_a_return_that_undoes_a_material_change_is_news_once(http_server, store, http_receiver):
    from policywatch.monitor import check
    from policywatch.report import summary_lines
    from policywatch.watchlist import parse_watchlist

    a, b = PAGE, pages.policy_page(edits=SUBSTANTIVE)
    watchlist = parse_watchlist(json.dumps({
        "defaults": {"timeout": 5, "retries": 0}, "notify": {"team": [http_receiver.url()]},
        "policies": [{"id": "p1", "name": "ACME Privacy Policy", "url": http_server.url("/privacy"),
                      "notify": ["team"]}]}))
    outcomes = []
    for page in (a, b, a, b, a):  # a change, its undoing, then a page wobbling between the two
        http_server.route("/privacy", page)
        report = check(watchlist, store)
        outcomes.append((report.results[0].outcome, bool(report.results[0].undoes)))
        if len(outcomes) == 3:
            lines = summary_lines(report, quiet=True)  # what cron mails
    # the undoing is news; so is the first switch back (people were told the other text is in
    # effect), said to be a wobble; later switches are not
    assert outcomes == [("new", False), ("changed", False), ("reverted", True), ("reverted", True),
                        ("reverted", False)]
    titles = [post.fields["title"] for post in http_receiver.posts]
    assert len(titles) == 3, titles
    assert "material change" in titles[0] and all("reverted to the text of" in t for t in titles[1:])
    assert "undoes:" in http_receiver.posts[1].fields["message"]
    assert "switched between these two texts before" in http_receiver.posts[2].fields["message"]
    assert "switched between" not in http_receiver.posts[1].fields["message"]
    assert len(lines) == 1 and "reverted to v1" in lines[0] and "undoing" in lines[0]


def test_a_return_after_an_editorial_edit_still_undoes_the_material_change_and_reaches_who_heard_of_it(
        http_server, store, http_receiver):
    from policywatch.monitor import check
    from policywatch.watchlist import parse_watchlist

    a, b = PAGE, pages.policy_page(edits=SUBSTANTIVE)
    b_reworded = pages.policy_page(edits={**SUBSTANTIVE, "We review this policy": "We look over this policy"})
    watchlist = parse_watchlist(json.dumps({
        "defaults": {"timeout": 5, "retries": 0},
        "notify": {"team": [http_receiver.url(path="/team")],
                   # hears of retention, not of what the return's own verdict may also touch
                   "keepers": {"urls": [http_receiver.url(path="/keepers")], "categories": ["retention"]},
                   "sellers": {"urls": [http_receiver.url(path="/sellers")], "categories": ["sharing"]}},
        "policies": [{"id": "p1", "name": "ACME Privacy Policy", "url": http_server.url("/privacy"),
                      "notify": ["team", "keepers", "sellers"]}]}))
    outcomes = []
    for page in (a, b, b_reworded, a):  # a material change, an editorial edit, then back to the first text
        http_server.route("/privacy", page)
        result = check(watchlist, store).results[0]
        outcomes.append((result.outcome, result.material, bool(result.undoes)))
    assert outcomes == [("new", None, False), ("changed", True, False), ("changed", False, False),
                        ("reverted", True, True)]
    by_target = {}
    for post in http_receiver.posts:
        by_target.setdefault(post.path, []).append(post.fields["title"])
    assert [len(by_target.get(p, [])) for p in ("/team", "/keepers", "/sellers")] == [2, 2, 0]
    assert "reverted to the text of" in by_target["/keepers"][1]


def test_cron_prints_a_date_stamp_change_only_when_asked(http_server, make_watchlist, store):
    from policywatch.monitor import check
    from policywatch.report import render

    watchlist = make_watchlist([http_server.url("/privacy")])
    http_server.route("/privacy", pages.policy_page(updated="March 3, 2024"))
    check(watchlist, store, notify=False)
    http_server.route("/privacy", pages.policy_page(updated="April 4, 2024"))
    report = check(watchlist, store, notify=False)
    assert (report.results[0].outcome, report.results[0].severity) == ("changed", "low")
    assert render(report, "text", quiet=True, min_severity="medium") == ""  # cron mails nothing
    assert render(report, "text", quiet=True).startswith("CHANGED   p1: new version v2")  # default: low
    http_server.route("/privacy", status=500, body="down")
    failed = check(watchlist, store, notify=False)
    assert render(failed, "text", quiet=True, min_severity="high").startswith("FAILED")  # failures always


def test_a_page_with_new_tokens_on_every_request_is_not_read_again_but_a_text_change_is(tmp_path, store,
                                                                                          http_server, make_watchlist):
    import policywatch.normalize as normalize

    def page(token: str, text: str = "We keep your data for thirty days.") -> str:
        return (f'<html><head><meta name="csrf-token" content="{token}"><script nonce="{token}">window.t="{token}"'
                f'</script><style>.x{{}}</style></head><body><form><input type="hidden" name="csrf" value="{token}">'
                f'</form><main data-build="{token}"><h1>Privacy</h1><p>{text} ' + "We explain what we collect, why, "
                "and for how long, and how you can see, correct or delete it at any time. " * 8 +
                "</p><!-- rendered " + token + " --></main></body></html>")

    watchlist = make_watchlist([{"id": "acme", "url": http_server.url("/p")}])
    http_server.route("/p", page("aa11"))
    assert check(watchlist, store).results[0].outcome == "new"
    reads = []
    original = normalize.normalize_text
    normalize.normalize_text = lambda *a, **k: reads.append(1) or original(*a, **k)
    try:
        http_server.route("/p", page("bb22"))
        result = check(watchlist, store, workers=1).results[0]
        assert (result.outcome, result.reason) == ("unchanged", "same_markup") and reads == []  # not normalized
        http_server.route("/p", page("cc33", "We keep your data for three years."))
        changed = check(watchlist, store, workers=1).results[0]
        assert changed.outcome == "changed" and reads == [1] and changed.severity == "high"
        http_server.route("/p", page("dd44", "We keep your data for three years."))
        assert check(watchlist, store, workers=1).results[0].reason == "same_markup" and reads == [1]
    finally:
        normalize.normalize_text = original


def test_a_return_over_two_changes_undoes_both_and_reaches_everyone_told_of_either(http_server, store,
                                                                                   http_receiver):
    from policywatch.monitor import check
    from policywatch.watchlist import parse_watchlist

    def watchlist(targets: dict) -> object:
        return parse_watchlist(json.dumps({
            "defaults": {"timeout": 5, "retries": 0},
            "notify": {name: {"urls": [http_receiver.url(path="/" + name)], **extra}
                       for name, extra in targets.items()},
            "policies": [{"id": "p1", "name": "ACME", "url": http_server.url("/privacy"), "notify": list(targets)}]}))

    a, b = PAGE, pages.policy_page(edits=dict([pages.SALE]))  # b: sharing
    c = pages.policy_page(edits={**dict([pages.SALE]), **SUBSTANTIVE})  # b → c: retention
    split = watchlist({"sellers": {"categories": ["sharing"]}, "keepers": {"categories": ["retention"]}})
    results = []
    for page in (a, b, c, a):
        http_server.route("/privacy", page)
        results.append(check(split, store).results[0])
    assert results[-1].outcome == "reverted" and "sell" in results[-1].undoes and "five years" in results[-1].undoes
    told = {}
    for post in http_receiver.posts:
        told.setdefault(post.path, []).append(post.fields["title"])
    assert [len(told.get(p, [])) for p in ("/sellers", "/keepers")] == [2, 2]  # each hears of the return

    http_server.route("/privacy", pages.policy_page(edits={"ninety days": "ten years"}))  # a new text: told
    assert check(split, store).results[0].material
    renamed = watchlist({"team2": {}})  # the targets told of it were renamed since: the return is routed as usual
    http_server.route("/privacy", a)
    assert check(renamed, store).results[0].undoes and len(http_receiver.received("/team2")) == 1


def test_a_page_wobbling_between_a_text_and_an_editorial_variant_of_the_other_is_announced_as_a_wobble_once(
        http_server, store, http_receiver):
    from policywatch.monitor import check
    from policywatch.watchlist import parse_watchlist

    a, b = PAGE, pages.policy_page(edits=SUBSTANTIVE)
    b_reworded = pages.policy_page(edits={**SUBSTANTIVE, "We review this policy": "We look over this policy"})
    watchlist = parse_watchlist(json.dumps({
        "defaults": {"timeout": 5, "retries": 0}, "notify": {"team": [http_receiver.url()]},
        "policies": [{"id": "p1", "name": "ACME", "url": http_server.url("/privacy"), "notify": ["team"]}]}))
    for page in (a, b, b_reworded, a, b_reworded, a, b_reworded, a):
        http_server.route("/privacy", page)
        check(watchlist, store)
    messages = [post.fields["message"] for post in http_receiver.posts]
    assert len(messages) == 3, [post.fields["title"] for post in http_receiver.posts]  # change, undo, wobble
    assert "switched between these two texts before" in messages[2]


def test_a_return_to_the_text_people_were_told_of_is_judged_against_the_text_before_it(http_server, store,
                                                                                       make_watchlist):
    from policywatch.monitor import check

    b = pages.policy_page(edits=SUBSTANTIVE)
    b_reworded = pages.policy_page(edits={**SUBSTANTIVE, "We review this policy": "We look over this policy"})
    watchlist = make_watchlist([http_server.url("/privacy")])
    results = []
    for page in (PAGE, b, b_reworded, b):  # back to b, the last text announced, from an editorial variant
        http_server.route("/privacy", page)
        results.append(check(watchlist, store, notify=False).results[0])
    back = results[-1]
    assert back.outcome == "reverted" and back.severity == "low" and back.summary != "No change."
    assert store.timeline("p1")[-1]["severity"] == "low"  # the recorded verdict too
