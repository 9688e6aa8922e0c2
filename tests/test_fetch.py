"""The fetch stage on its own: policywatch.fetch.Fetcher against a real loopback HTTP server."""

from __future__ import annotations

import socket
import time

import pages
import pytest

from policywatch.fetch import Fetcher, decode_body, is_private_address, parse_retry_after

PAGE = pages.policy_page()
PAGE_BYTES = PAGE.encode("utf-8")
MB = 1024 * 1024


@pytest.fixture
def fetcher():
    with Fetcher(workers=4) as fetcher:
        yield fetcher


def fast(fetcher: Fetcher, url: str, **options):
    """One fetch with the small timeouts and backoff the tests use."""
    options = {"timeout": 2.0, "retries": 2, "backoff": 0.01, **options}
    return fetcher.fetch(url, **options)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a normal page -------------------------------------------------------------------------------------------

def test_fetch_returns_page_and_metadata(http_server, fetcher):
    http_server.route("/privacy", body=PAGE, etag='"v1"', last_modified="Wed, 01 May 2024 10:00:00 GMT")
    result = fast(fetcher, http_server.url("/privacy"), headers={"X-Team": "privacy"}, user_agent="pw-test/1.0")
    assert result.ok and result.error_class is None
    assert result.status == 200 and not result.not_modified
    assert result.content == PAGE_BYTES and result.text == PAGE
    assert result.encoding == "utf-8"
    assert result.etag == '"v1"' and result.last_modified == "Wed, 01 May 2024 10:00:00 GMT"
    assert result.final_url == http_server.url("/privacy") and result.redirects == []
    assert result.attempts == 1
    (request,) = http_server.requests_to("/privacy")
    assert request.header("User-Agent") == "pw-test/1.0"
    assert request.header("X-Team") == "privacy"
    assert request.header("If-None-Match") is None and request.header("If-Modified-Since") is None


def test_the_environment_proxy_settings_are_read_once_per_host_in_a_run(http_server, fetcher, monkeypatch):
    import requests.sessions

    looked_up = []
    real = requests.sessions.get_environ_proxies
    monkeypatch.setattr(requests.sessions, "get_environ_proxies",
                        lambda url, no_proxy=None: looked_up.append(url) or real(url, no_proxy=no_proxy))
    for path in ("/a", "/b", "/c"):
        http_server.route(path, body=PAGE)
        assert fast(fetcher, http_server.url(path)).ok
    assert len(looked_up) == 1  # the same scheme and host: read once


def test_redirects_are_followed_and_recorded(http_server, fetcher):
    http_server.route("/privacy", status=301, location="/legal/privacy")
    http_server.route("/legal/privacy", status=302, location=http_server.url("/legal/privacy-policy"))
    http_server.route("/legal/privacy-policy", body=PAGE)
    result = fast(fetcher, http_server.url("/privacy"))
    assert result.ok and result.status == 200
    assert result.final_url == http_server.url("/legal/privacy-policy")
    assert result.redirects == ["/legal/privacy", http_server.url("/legal/privacy-policy")]


def test_cookies_a_site_sets_are_sent_back_on_later_requests_and_redirects(http_server, fetcher):
    # The consent cookie a site sets on a redirect, or on the page, is what a browser (and requests)
    # sends back: on the next hops and on the site's later pages.
    http_server.route("/consent", status=302, location="/region", headers={"Set-Cookie": "consent=yes; Path=/"})
    http_server.route("/region", status=302, location="/privacy", headers={"Set-Cookie": "region=eu; Path=/"})
    http_server.route("/privacy", body=PAGE, headers={"Set-Cookie": "seen=1; Path=/"})
    http_server.route("/terms", body=PAGE)
    assert fast(fetcher, http_server.url("/consent")).ok
    assert fast(fetcher, http_server.url("/terms")).ok
    (second_hop,) = http_server.requests_to("/region")
    (redirected,) = http_server.requests_to("/privacy")
    (later,) = http_server.requests_to("/terms")
    assert second_hop.header("Cookie") == "consent=yes"
    assert redirected.header("Cookie") == "consent=yes; region=eu"
    assert sorted(later.header("Cookie").split("; ")) == ["consent=yes", "region=eu", "seen=1"]


def test_a_redirect_not_followed_gives_its_connection_back(http_server, fetcher):
    # An archive's replays answer with redirects that are not followed, many times a run: each
    # had cost a new connection (requests closes one whose body was not read).
    http_server.route("/moved", status=302, location="/privacy", body="moved " * 100)
    http_server.route("/privacy", body=PAGE)
    for _ in range(3):
        result = fast(fetcher, http_server.url("/moved"), follow_redirects=False)
        assert result.error_class == "redirect" and result.location.endswith("/privacy")
    assert fast(fetcher, http_server.url("/privacy")).ok
    assert len({request.client for request in http_server.requests}) == 1
    # A redirect with a huge body is not read to the end: its connection is closed instead.
    http_server.route("/huge", status=302, location="/privacy", body="x" * (3 * MB))
    assert fast(fetcher, http_server.url("/huge"), follow_redirects=False).error_class == "redirect"
    assert fast(fetcher, http_server.url("/privacy")).ok
    assert len({request.client for request in http_server.requests}) == 2


def test_credentials_in_the_url_and_in_netrc_are_sent_as_basic_auth(http_server, tmp_path, monkeypatch):
    import base64

    http_server.route("/privacy", body=PAGE)
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login team password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with Fetcher() as fetcher:
        assert fast(fetcher, http_server.url("/privacy")).ok
        assert fast(fetcher, http_server.url("/privacy").replace("http://127.0.0.1", "http://me:pw@localhost")).ok
        # As requests has it: the host's netrc login wins over the URL's own.
        assert fast(fetcher, http_server.url("/privacy").replace("http://", "http://me:pw@")).ok
    from_netrc, from_url, from_both = http_server.requests_to("/privacy")
    assert from_netrc.header("Authorization") == "Basic " + base64.b64encode(b"team:s3cret").decode()
    assert from_url.header("Authorization") == "Basic " + base64.b64encode(b"me:pw").decode()
    assert from_both.header("Authorization") == from_netrc.header("Authorization")


# -- redirects from a public page to a private address (SSRF) -----------------------------------------------
#
# The page's URL is on a public-looking host; the fetch goes through the loopback test server as its
# HTTP proxy (proxied_names), so every request the fetch makes, redirects included, arrives there and
# is recorded by path: a refused redirect is one whose path never arrives.

NAMES = {"public.example": "93.184.215.14", "www.public.example": "93.184.215.15",
         "internal.example": "127.0.0.1", "intranet.example": "10.0.0.5"}


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/internal",
    "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
    "http://internal.example:{port}/internal",  # a public-looking name that resolves to loopback
    "http://[::1]:{port}/internal",
    "http://10.0.0.5/internal",
    "http://192.168.1.1/internal",
])
def test_redirect_from_public_page_to_private_address_is_refused(http_server, fetcher, proxied_names, target):
    proxied_names(http_server, NAMES)
    target = target.format(port=http_server.port)
    internal = target.split("/", 3)[3]
    http_server.route("/privacy", status=302, location=target)
    http_server.route("/" + internal, body="<html><body>internal admin page, secret token</body></html>")
    result = fast(fetcher, "http://public.example/privacy")
    assert not result.ok and result.error_class == "private_redirect", result.error
    assert target in result.error and "\n" not in result.error
    assert result.location == target and result.content is None and result.text is None
    assert result.attempts == 1  # not retried
    assert http_server.requests_to("/" + internal) == []  # refused before any request went there
    assert len(http_server.requests_to("/privacy")) == 1
    assert http_server.requests_to("/privacy")[0].host == "public.example"  # it did go through the proxy


def test_redirect_chain_through_another_public_host_to_a_private_one_is_refused(http_server, fetcher,
                                                                                 proxied_names):
    proxied_names(http_server, NAMES)
    http_server.route("/privacy", status=301, location="http://www.public.example/legal")
    http_server.route("/legal", status=302, location=http_server.url("/internal"))
    http_server.route("/internal", body=PAGE)
    result = fast(fetcher, "http://public.example/privacy")
    assert result.error_class == "private_redirect"
    assert len(http_server.requests_to("/legal")) == 1 and http_server.requests_to("/internal") == []


def test_redirect_from_public_page_to_public_host_is_followed(http_server, fetcher, proxied_names):
    proxied_names(http_server, NAMES)
    http_server.route("/privacy", status=301, location="/legal/privacy")
    http_server.route("/legal/privacy", status=302, location="http://www.public.example/policy")
    http_server.route("/policy", body=PAGE)
    result = fast(fetcher, "http://public.example/privacy")
    assert result.ok and result.text == PAGE
    assert result.final_url == "http://www.public.example/policy"
    assert result.redirects == ["/legal/privacy", "http://www.public.example/policy"]


@pytest.mark.parametrize("start", ["loopback", "intranet-name"])
def test_redirect_from_private_page_to_private_address_is_followed(http_server, make_server, fetcher,
                                                                   proxied_names, start):
    # A watchlist URL that is itself local or on an intranet may redirect to local addresses, as before.
    internal = make_server()  # another host (port) on loopback
    for server in (internal, http_server):  # through the proxy, the redirect is answered by http_server
        server.route("/internal", body=PAGE)
    if start == "loopback":
        url = http_server.url("/privacy")
    else:
        proxied_names(http_server, NAMES)
        url = "http://intranet.example/privacy"
    http_server.route("/privacy", status=302, location=internal.url("/internal"))
    result = fast(fetcher, url)
    assert result.ok and result.text == PAGE, result.error
    assert result.final_url == internal.url("/internal") and result.redirects == [internal.url("/internal")]
    assert len(http_server.requests_to("/internal")) == (1 if start == "intranet-name" else 0)  # proxied
    assert len(internal.requests_to("/internal")) == (0 if start == "intranet-name" else 1)


@pytest.mark.parametrize("address, private", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("10.1.2.3", True), ("172.16.0.1", True), ("172.31.255.255", True),
    ("192.168.0.10", True), ("169.254.169.254", True), ("0.0.0.0", True), ("100.64.0.1", True),
    ("::1", True), ("::", True), ("fd00::1", True), ("fc00::1", True), ("fe80::1", True), ("fe80::1%eth0", True),
    ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.1", True),
    ("172.32.0.1", False), ("8.8.8.8", False), ("93.184.215.14", False), ("192.0.2.1", False),
    ("2606:4700::1111", False), ("::ffff:8.8.8.8", False), ("not-an-address", False),
])
def test_is_private_address(address, private):
    assert is_private_address(address) is private


# -- conditional requests ------------------------------------------------------------------------------------

def test_etag_sends_if_none_match_and_gets_304(http_server, fetcher):
    http_server.route("/privacy", body=PAGE, etag="auto")
    first = fast(fetcher, http_server.url("/privacy"))
    assert first.ok and first.etag and first.etag.startswith('"')
    second = fast(fetcher, http_server.url("/privacy"), etag=first.etag)
    assert second.ok and second.not_modified and second.status == 304
    assert second.content is None and second.text is None
    assert second.etag == first.etag
    assert http_server.requests_to("/privacy")[1].header("If-None-Match") == first.etag

    http_server.route("/privacy", body=pages.policy_page(updated="June 1, 2024"), etag="auto")
    third = fast(fetcher, http_server.url("/privacy"), etag=first.etag)
    assert third.ok and not third.not_modified and third.status == 200
    assert third.etag != first.etag and "June 1, 2024" in third.text


def test_pages_of_one_host_share_a_kept_alive_connection_304s_included(http_server, fetcher):
    http_server.route("/privacy", body=PAGE, etag='"v1"')
    first = fast(fetcher, http_server.url("/privacy"))
    for _ in range(3):
        assert fast(fetcher, http_server.url("/privacy"), etag=first.etag).not_modified
    assert len({request.client for request in http_server.requests_to("/privacy")}) == 1


def test_headers_merged_once_per_run_belong_to_their_own_requests(http_server, fetcher):
    # The merge of the session's and a request's headers is kept for the next request with the
    # same headers; validators are the request's own.
    http_server.route("/privacy", body=PAGE, etag='"v1"')
    fast(fetcher, http_server.url("/privacy"), headers={"X-Team": "privacy"}, etag='"old"')
    fast(fetcher, http_server.url("/privacy"), headers={"X-Team": "privacy"}, etag='"v1"')
    fast(fetcher, http_server.url("/privacy"), last_modified="Wed, 01 May 2024 10:00:00 GMT")
    first, second, third = http_server.requests_to("/privacy")
    assert [r.header("X-Team") for r in (first, second, third)] == ["privacy", "privacy", None]
    assert [r.header("If-None-Match") for r in (first, second, third)] == ['"old"', '"v1"', None]
    assert third.header("If-Modified-Since") == "Wed, 01 May 2024 10:00:00 GMT"
    assert fast(fetcher, http_server.url("/privacy"), etag='"v1"\r\nX-Injected: 1').error_class == "connection"
    assert len(http_server.requests_to("/privacy")) == 3  # a validator with a line break is never sent
    fetcher.session.headers["X-Team"] = "legal"  # the session's headers changed: no stale merge
    fast(fetcher, http_server.url("/privacy"))
    assert http_server.requests_to("/privacy")[-1].header("X-Team") == "legal"


def test_a_response_hook_on_the_session_still_sees_every_response(http_server, fetcher):
    http_server.route("/privacy", body=PAGE, etag='"v1"')
    seen = []
    fetcher.session.hooks["response"].append(lambda response, **_: seen.append(response.status_code))
    assert fast(fetcher, http_server.url("/privacy")).ok
    assert fast(fetcher, http_server.url("/privacy"), etag='"v1"').not_modified
    assert seen == [200, 304]


def test_a_304_sent_chunked_is_not_modified_and_does_not_wait_for_chunks(http_server, fetcher):
    # A 304 has no body, whatever its headers say; one that says "chunked" had made the fetch
    # wait for chunks until its deadline, then raise out of fetch() and end the whole run.
    http_server.route("/privacy", status=304, headers={"Transfer-Encoding": "chunked", "ETag": '"v1"'})
    result = fast(fetcher, http_server.url("/privacy"), etag='"v1"')
    assert result.ok and result.not_modified and result.etag == '"v1"'


def test_last_modified_sends_if_modified_since_and_gets_304(http_server, fetcher):
    stamp = "Wed, 01 May 2024 10:00:00 GMT"
    http_server.route("/privacy", body=PAGE, last_modified=stamp)
    first = fast(fetcher, http_server.url("/privacy"))
    assert first.last_modified == stamp and first.etag is None
    second = fast(fetcher, http_server.url("/privacy"), last_modified=first.last_modified)
    assert second.not_modified and second.last_modified == stamp
    assert http_server.requests_to("/privacy")[1].header("If-Modified-Since") == stamp


# -- faults --------------------------------------------------------------------------------------------------

FAULTS = {
    # id: (route fields (or a function making them), fetch options, error_class, attempts)
    "timeout-before-headers": ({"body": PAGE, "delay": 1.5}, {"timeout": 0.3}, "timeout", 3),
    "timeout-mid-body": ({"body": PAGE, "body_delay": 1.5}, {"timeout": 0.3}, "timeout", 3),
    "connection-reset-mid-body": ({"body": PAGE, "cut_after": 3000, "reset": True}, {}, "truncated", 3),
    "truncated-content-length": ({"body": PAGE, "content_length": len(PAGE_BYTES) + 5000,
                                  "cut_after": len(PAGE_BYTES)}, {}, "truncated", 3),
    "http-500": ({"status": 500, "body": "<h1>Internal Server Error</h1>"}, {}, "http_error", 3),
    "http-503": ({"status": 503, "body": "busy"}, {}, "http_error", 3),
    "http-404": ({"status": 404, "body": "<h1>Not Found</h1>"}, {}, "http_error", 1),
    "http-403": ({"status": 403, "body": "<h1>Forbidden</h1>"}, {}, "http_error", 1),
    "too-large-declared": (lambda: {"body": b"<p>" + b"a" * (20 * MB) + b"</p>"}, {}, "too_large", 1),
    "too-large-streamed": ({"stream": lambda: (b"b" * 65536 for _ in range(320))}, {}, "too_large", 1),
    "too-large-small-cap": ({"body": PAGE}, {"max_bytes": 4096}, "too_large", 1),
    "bad-encoding": ({"body": b"<html><body><p>caf\xe9 cr\xe8me \xff\xfe</p></body></html>",
                      "content_type": "text/html; charset=utf-8"}, {}, "bad_encoding", 1),
    "redirect-loop": ({"status": 302, "location": "/fault"}, {}, "redirect_loop", 1),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_gives_error_class(http_server, fetcher, fault):
    fields, options, error_class, attempts = FAULTS[fault]
    http_server.route("/fault", **(fields() if callable(fields) else fields))
    result = fast(fetcher, http_server.url("/fault"), **options)
    assert not result.ok
    assert result.error_class == error_class, result.error
    assert result.error  # a one-line message for the user
    assert "\n" not in result.error
    assert result.text is None
    assert result.attempts == attempts
    if fault != "redirect-loop":
        assert len(http_server.requests_to("/fault")) == attempts
    else:
        assert len(http_server.requests_to("/fault")) > 5  # followed until the limit, not retried


def test_connection_reset_message_says_so(http_server, fetcher):
    http_server.route("/fault", body=PAGE, cut_after=3000, reset=True)
    result = fast(fetcher, http_server.url("/fault"), retries=0)
    assert result.error_class == "truncated" and "reset" in result.error


def test_connection_refused(fetcher):
    result = fast(fetcher, f"http://127.0.0.1:{closed_port()}/privacy", retries=1)
    assert result.error_class == "connection" and "refused" in result.error
    assert result.attempts == 2


def test_recovers_when_a_retry_succeeds(http_server, fetcher):
    http_server.route("/privacy", [{"status": 502, "body": "bad gateway"},
                                   {"body": PAGE, "cut_after": 100, "content_length": len(PAGE_BYTES)},
                                   {"body": PAGE}])
    result = fast(fetcher, http_server.url("/privacy"))
    assert result.ok and result.text == PAGE and result.attempts == 3


# -- a server that trickles: `timeout` bounds the whole answer, not each read ----------------------------------

def test_page_trickled_a_byte_at_a_time_fails_at_the_timeout(http_server, fetcher):
    # 4.6 KB at one byte every 0.5 s would take over half an hour; every single read is quick.
    http_server.route("/slow", body=PAGE, drip=0.5)
    started = time.monotonic()
    result = fast(fetcher, http_server.url("/slow"), timeout=2, retries=0)
    took = time.monotonic() - started
    assert result.error_class == "timeout", result.error
    assert result.error == "127.0.0.1: no complete answer within 2 s (the server is sending too slowly)"
    assert result.attempts == 1 and result.text is None and result.content is None
    assert result.status == 200  # the headers came; the body did not, in time
    assert took < 6, f"the fetch took {took:.1f}s"  # it ended, near the 2 s deadline: not a speed test


TRICKLES = {
    # id: (route fields, fetch options, attempts)
    "body-without-length": ({"body": PAGE, "drip": 0.2, "content_length": None}, {}, 1),
    "headers-too": ({"body": PAGE, "drip": 0.2, "drip_headers": True}, {}, 1),
    "redirect-body": ({"status": 302, "location": "/privacy", "body": PAGE, "drip": 0.2}, {}, 1),
    "every-retry": ({"body": PAGE, "drip": 0.2}, {"retries": 2}, 3),
}


@pytest.mark.parametrize("trickle", list(TRICKLES))
def test_trickling_server_is_bounded_by_timeout_per_attempt(http_server, fetcher, trickle):
    fields, options, attempts = TRICKLES[trickle]
    http_server.route("/privacy", body=PAGE)  # where the redirect leads: never reached in time
    http_server.route("/slow", **fields)
    started = time.monotonic()
    result = fast(fetcher, http_server.url("/slow"), **{"timeout": 1, "retries": 0, **options})
    took = time.monotonic() - started
    assert result.error_class == "timeout", result.error  # a cut-short body is never taken as the page
    assert "no complete answer within 1 s" in result.error and "\n" not in result.error
    assert result.text is None and result.attempts == attempts
    assert len(http_server.requests_to("/slow")) == attempts
    assert http_server.requests_to("/privacy") == []
    assert took < attempts * 1 + 4, f"the fetch took {took:.1f}s"  # attempts × timeout (+ tiny backoff)


# -- retries and waits (injected sleep: no real waiting) -----------------------------------------------------

def test_attempts_share_one_deadline_thread(http_server, fetcher, monkeypatch):
    import threading

    started = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self.name) or real_start(self))
    http_server.route("/privacy", body=PAGE)
    for _ in range(20):
        assert fast(fetcher, http_server.url("/privacy")).ok
    client_threads = [name for name in started if "process_request_thread" not in name]  # not the server's
    assert len(client_threads) <= 1


def test_retry_after_seconds_is_honoured(http_server):
    sleeps: list[float] = []
    http_server.route("/privacy", [{"status": 429, "headers": {"Retry-After": "3"}, "body": "slow down"},
                                   {"body": PAGE}])
    with Fetcher(sleep=sleeps.append) as fetcher:
        result = fast(fetcher, http_server.url("/privacy"))
    assert result.ok and result.text == PAGE and result.attempts == 2
    assert sleeps == [3.0]


def test_retry_after_http_date_is_honoured(http_server):
    import email.utils

    sleeps: list[float] = []
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    http_server.route("/privacy", [{"status": 503, "headers": {"Retry-After": when}}, {"body": PAGE}])
    with Fetcher(sleep=sleeps.append) as fetcher:
        result = fast(fetcher, http_server.url("/privacy"))
    assert result.ok and len(sleeps) == 1 and 3.0 <= sleeps[0] <= 5.0


def test_retry_after_too_long_fails_for_this_run_without_waiting(http_server):
    sleeps: list[float] = []
    http_server.route("/privacy", status=429, headers={"Retry-After": "3600"}, body="come back later")
    with Fetcher(sleep=sleeps.append) as fetcher:
        result = fast(fetcher, http_server.url("/privacy"))
    assert result.error_class == "rate_limited" and "3600" in result.error
    assert sleeps == [] and result.attempts == 1


def test_backoff_doubles_between_retries(http_server):
    sleeps: list[float] = []
    http_server.route("/privacy", [{"status": 500}, {"status": 500}, {"body": PAGE}])
    with Fetcher(sleep=sleeps.append) as fetcher:
        result = fetcher.fetch(http_server.url("/privacy"), timeout=2, retries=2, backoff=0.5)
    assert result.ok and sleeps == [0.5, 1.0]


def test_real_retry_after_wait(http_server, fetcher):
    http_server.route("/privacy", [{"status": 429, "headers": {"Retry-After": "1"}}, {"body": PAGE}])
    result = fast(fetcher, http_server.url("/privacy"))
    assert result.ok and result.attempts == 2
    first, second = http_server.requests_to("/privacy")
    assert second.started - first.finished >= 0.9


@pytest.mark.parametrize("value, expected", [("7", 7.0), (" 0 ", 0.0), ("soon", None), ("", None), (None, None)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


# -- character sets ------------------------------------------------------------------------------------------

def html_bytes(text: str, encoding: str, meta: str | None = None) -> bytes:
    head = f'<meta charset="{meta}">' if meta else ""
    return (f"<html><head>{head}<title>Privacy</title></head><body><p>{text}</p></body></html>").encode(encoding)


CHARSETS = {
    # id: (body, content type, forced encoding, expected text fragment, expected encoding)
    "header-latin1-is-cp1252": (html_bytes("Fees: 5 \u20ac, caf\u00e9", "cp1252"), "text/html; charset=ISO-8859-1",
                                None, "5 \u20ac, caf\u00e9", "cp1252"),
    "meta-charset": (html_bytes("Gr\u00fc\u00dfe aus K\u00f6ln", "iso8859-15", meta="iso-8859-15"), "text/html", None,
                     "Gr\u00fc\u00dfe aus K\u00f6ln", "iso8859-15"),
    "bom-utf8": (b"\xef\xbb\xbf" + html_bytes("na\u00efve r\u00e9sum\u00e9", "utf-8"), "text/html", None,
                 "na\u00efve r\u00e9sum\u00e9", "utf-8"),
    "undeclared-utf8": (html_bytes("\u00bfQu\u00e9 datos?", "utf-8"), "text/html", None, "\u00bfQu\u00e9 datos?",
                        "utf-8"),
    "forced-overrides-wrong-header": (html_bytes("\u00e9t\u00e9", "cp1252"), "text/html; charset=utf-8", "cp1252",
                                      "\u00e9t\u00e9", "cp1252"),
}


@pytest.mark.parametrize("case", list(CHARSETS))
def test_charset_decoding_over_http(http_server, fetcher, case):
    body, content_type, forced, fragment, encoding = CHARSETS[case]
    http_server.route("/privacy", body=body, content_type=content_type)
    result = fast(fetcher, http_server.url("/privacy"), encoding=forced)
    assert result.ok, result.error
    assert fragment in result.text
    assert result.encoding == encoding
    assert "\ufeff" not in result.text


def test_decode_body_rejects_invalid_bytes_in_declared_charset():
    from policywatch.fetch import FetchError

    with pytest.raises(FetchError) as info:
        decode_body(b"<p>ok \xc3\x28 broken</p>", "text/html; charset=utf-8")
    assert info.value.error_class == "bad_encoding"


# -- many pages: one request at a time per host --------------------------------------------------------------

def test_run_never_sends_two_requests_to_one_host(http_server, fetcher):
    for n in range(4):
        http_server.route(f"/p{n}", body=PAGE, delay=0.15)
    jobs = [(http_server.host, lambda n=n: fast(fetcher, http_server.url(f"/p{n}"))) for n in range(4)]
    results = list(fetcher.run(jobs))
    assert len(results) == 4 and all(r.ok for r in results)
    assert http_server.max_concurrency() == 1
    spans = sorted((r.started, r.finished) for r in http_server.requests)
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_run_fetches_different_hosts_concurrently(make_server, fetcher, rendezvous):
    a, b = make_server(), make_server()
    met = rendezvous(a, b, "/privacy", PAGE)
    jobs = [(a.host, lambda: fast(fetcher, a.url("/privacy"))), (b.host, lambda: fast(fetcher, b.url("/privacy")))]
    results = list(fetcher.run(jobs))
    assert [r.ok for r in results] == [True, True]
    assert met == {a.host: True, b.host: True}


def test_run_surfaces_a_job_exception(fetcher):
    def boom():
        raise RuntimeError("worker failed")

    with pytest.raises(RuntimeError, match="worker failed"):
        list(fetcher.run([("h1", boom)]))


# -- local files ---------------------------------------------------------------------------------------------

def test_file_url_and_plain_path(tmp_path, fetcher):
    html_file = tmp_path / "policy.html"
    html_file.write_text(PAGE, encoding="utf-8")
    md_file = tmp_path / "draft.md"
    md_file.write_text(pages.policy_markdown(), encoding="utf-8")

    by_url = fetcher.fetch(html_file.as_uri())
    assert by_url.ok and by_url.status == 200 and by_url.text == PAGE
    assert by_url.content_type == "text/html" and by_url.final_url == html_file.as_uri()

    by_path = fetcher.fetch(str(md_file))
    assert by_path.ok and by_path.text.startswith("# Acme Privacy Policy") and by_path.content_type is None

    missing = fetcher.fetch(str(tmp_path / "nope.html"))
    assert missing.error_class == "not_found" and "nope.html" in missing.error

    too_big = fetcher.fetch(str(html_file), max_bytes=1024)
    assert too_big.error_class == "too_large"


def test_a_host_whose_name_does_not_resolve_fails_at_once_for_its_other_pages(monkeypatch):
    """17 policies on an unreachable host waited out 17 sets of retries; now the first one does."""
    import socket

    from policywatch.fetch import Fetcher

    lookups = []
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host == "gone.test":  # the OS resolver's own answer for a name that does not exist
            lookups.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with Fetcher(sleep=lambda seconds: None) as fetcher:
        first = fetcher.fetch("http://gone.test/privacy", retries=2, backoff=0.01, timeout=2)
        tried = len(lookups)
        second = fetcher.fetch("http://gone.test/terms", retries=2, backoff=0.01, timeout=2)
    assert first.error_class == second.error_class == "connection"
    assert "DNS lookup failed" in first.error and tried >= 1
    assert "earlier page of this host" in second.error and len(lookups) == tried  # not asked again
