"""Shared fixtures: a real threaded HTTP server on 127.0.0.1, watchlists and stores.

The server (``http_server`` / ``make_server``) answers from routes a test sets and may change
between checks: ``server.route("/privacy", body=...)`` (Response fields), a list of responses served
in turn (the last one repeats), or a callable ``handler(request) -> Response``. A Response can
delay, close the connection mid-body (with FIN or RST), declare a wrong Content-Length, stream
a body without one, trickle it (or its headers too) one byte at a time, redirect, and answer
conditional requests (ETag / Last-Modified) with 304.
Every request is recorded (method, path, headers, Host, start and end times) together with the
number of requests in flight per Host, so tests can assert on conditional requests and on
politeness (one request at a time per host).

A server also answers absolute-form request lines (``GET http://public.example/privacy``), so it can
stand as the HTTP proxy of fetches to host names of the tests' choosing (``proxied_names``).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.server
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from loopback import LoopbackServer
from receivers import http_receiver, make_http_receiver, make_smtp_receiver, smtp_receiver  # noqa: F401

from policywatch.store import Store
from policywatch.watchlist import Watchlist, parse_watchlist

AUTO = "auto"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="record the normalizer's outputs (tests/test_normalize_golden.py) after a deliberate "
                          "change and a NORMALIZER_VERSION bump")


@dataclass
class Response:
    """What a route answers. ``body`` may be str (sent as UTF-8) or bytes."""

    status: int = 200
    body: bytes | str = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    body_delay: float = 0.0  # seconds between the headers and the body
    content_length: int | str | None = AUTO  # AUTO = the real length; None = no header, close-delimited
    cut_after: int | None = None  # send only this many body bytes, then close the connection
    reset: bool = False  # with cut_after: close with a TCP RST instead of a FIN
    stream: Callable[[], Iterable[bytes]] | None = None  # body chunks instead of ``body``
    drip: float = 0.0  # send the body one byte at a time, this many seconds apart
    drip_headers: bool = False  # with drip: trickle the status line and headers that way too
    etag: str | None = None  # honour If-None-Match; AUTO = a hash of the body
    last_modified: str | None = None  # honour If-Modified-Since (an HTTP date)
    location: str | None = None  # Location header (for redirects)

    @property
    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


def _as_response(value: Any) -> Response:
    if isinstance(value, Response):
        return value
    if isinstance(value, (str, bytes)):
        return Response(body=value)
    if isinstance(value, dict):
        return Response(**value)
    raise TypeError(f"not a response: {value!r}")


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # lower-case names
    host: str
    started: float  # time.monotonic() when the request line was read
    finished: float | None = None  # when the handler was done with it
    client: tuple = ()  # the client's (address, port): one per connection

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TestServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the access log
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def _serve(self, head: bool) -> None:
        server = self.server
        if self.path.startswith(("http://", "https://")):  # absolute form: asked as a forward proxy
            target = urlsplit(self.path)
            path, query = target.path or "/", target.query
        else:
            path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, path, query, headers, headers.get("host", ""), time.monotonic(),
                          client=tuple(self.client_address))
        server._begin(request)
        try:
            response = server._respond(request)
            self._drip_interval = response.drip if response.drip_headers else 0.0
            self._send(response, request, head)
        except OSError:  # the client went away (too_large, timeout): nothing to answer
            self.close_connection = True
        finally:
            request.finished = time.monotonic()
            server._end(request)

    def _send(self, response: Response, request: Request, head: bool) -> None:
        server = self.server
        if response.delay and server.stopping.wait(response.delay):
            self.close_connection = True
            return
        payload = response.payload
        status, extra = response.status, dict(response.headers)
        if response.etag is not None:
            etag = response.etag if response.etag != AUTO else '"' + hashlib.sha256(payload).hexdigest()[:16] + '"'
            extra["ETag"] = etag
            wanted = request.header("If-None-Match")
            if wanted and (wanted.strip() == "*" or etag in {t.strip().removeprefix("W/") for t in wanted.split(",")}):
                status = 304
        if response.last_modified is not None:
            extra["Last-Modified"] = response.last_modified
            since = request.header("If-Modified-Since")
            if since and status != 304 and request.header("If-None-Match") is None:
                try:
                    if email.utils.parsedate_to_datetime(since) >= email.utils.parsedate_to_datetime(
                            response.last_modified):
                        status = 304
                except (TypeError, ValueError):
                    pass
        if response.location is not None:
            extra["Location"] = response.location
        self.send_response(status)
        if status == 304:
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in extra.items():
            self.send_header(name, value)
        if response.stream is not None or response.content_length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            length = len(payload) if response.content_length == AUTO else response.content_length
            self.send_header("Content-Length", str(length))
        if response.cut_after is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head:
            return
        self.wfile.flush()
        if response.body_delay and server.stopping.wait(response.body_delay):
            self.close_connection = True
            return
        if response.drip:
            self._drip(payload, response.drip)
            return
        if response.stream is not None:
            for chunk in response.stream():
                if server.stopping.is_set():
                    break
                self.wfile.write(chunk)
            self.wfile.flush()
            return
        if response.cut_after is not None:
            self.wfile.write(payload[:response.cut_after])
            self.wfile.flush()
            time.sleep(0.05)  # let the bytes reach the client before the connection goes
            if response.reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_WR)
            self.rfile.close()  # the socket's fd stays open while a makefile() object refers to it
            self.connection.close()
            self._aborted = True
            return
        self.wfile.write(payload)
        self.wfile.flush()

    def _drip(self, data: bytes, interval: float) -> None:
        """Write ``data`` a byte at a time, ``interval`` seconds apart; give up when the server stops."""
        for index in range(len(data)):
            self.wfile.write(data[index:index + 1])
            self.wfile.flush()
            if self.server.stopping.wait(interval):
                raise ConnectionAbortedError("server stopping")

    def flush_headers(self) -> None:
        interval = getattr(self, "_drip_interval", 0.0)
        if interval and getattr(self, "_headers_buffer", None):
            data, self._headers_buffer = b"".join(self._headers_buffer), []
            self._drip(data, interval)
            return
        super().flush_headers()

    def finish(self) -> None:
        if getattr(self, "_aborted", False):
            return
        with contextlib.suppress(OSError):
            super().finish()


class TestServer(LoopbackServer):
    """A loopback HTTP server whose routes tests set; records every request."""

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.routes: dict[str, Any] = {}
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._max_active: dict[str, int] = {}
        self._served: dict[str, int] = {}

    # -- set up -------------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """host:port, the key policywatch uses for its one-request-per-host rule."""
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}{path}"

    def route(self, path: str, response: Any = None, **fields: Any) -> None:
        """Set (or replace) what ``path`` answers.

        ``response`` is a Response, a dict of Response fields, a str/bytes (a 200 HTML page), a
        list of those (served in turn, the last one repeating) or a callable ``handler(request)``
        returning one; or give the Response fields as keyword arguments.
        """
        if response is None:
            response = Response(**fields)
        elif fields:
            raise TypeError("give a response or Response fields, not both")
        if isinstance(response, (list, tuple)):
            response = [_as_response(r) for r in response]
        elif not callable(response) or isinstance(response, Response):
            response = _as_response(response)
        with self._lock:
            self.routes[path] = response
            self._served[path] = 0

    def stop(self) -> None:
        self.stopping.set()  # wake handlers sleeping in a delay
        super().stop()

    def handle_error(self, request: Any, client_address: Any) -> None:  # no tracebacks on stderr
        import sys

        self.errors.append(sys.exc_info()[1])

    # -- serving ---------------------------------------------------------------------------------------
    def _respond(self, request: Request) -> Response:
        with self._lock:
            route = self.routes.get(request.path)
            index = self._served.get(request.path, 0)
            self._served[request.path] = index + 1
        if route is None:
            return Response(status=404, body="<html><head><title>404 Not Found</title></head>"
                                             "<body><h1>Not Found</h1></body></html>")
        if isinstance(route, list):
            return route[min(index, len(route) - 1)]
        if isinstance(route, Response):
            return route
        return _as_response(route(request))

    def _begin(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            active = self._active.get(request.host, 0) + 1
            self._active[request.host] = active
            self._max_active[request.host] = max(active, self._max_active.get(request.host, 0))

    def _end(self, request: Request) -> None:
        with self._lock:
            self._active[request.host] -= 1

    # -- inspection ----------------------------------------------------------------------------------
    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def max_concurrency(self, host: str | None = None) -> int:
        """The most requests ever in flight at once for ``host`` (default: this server's host)."""
        with self._lock:
            return self._max_active.get(host or self.host, 0)

    def wait_for(self, path: str, count: int = 1, timeout: float = 20.0) -> Request:
        """Block until ``path`` has been requested ``count`` times; return the latest such request."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.requests_to(path)
            if len(seen) >= count:
                return seen[count - 1]
            time.sleep(0.01)
        raise AssertionError(f"{path} was not requested {count} time(s) within {timeout}s")


@pytest.fixture
def make_server():
    """Factory for extra servers (each has its own port, hence its own host for policywatch)."""
    servers: list[TestServer] = []

    def make() -> TestServer:
        server = TestServer().start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def http_server(make_server) -> TestServer:
    return make_server()


@pytest.fixture
def proxied_names(monkeypatch):
    """``proxied_names(server, {"public.example": "93.184.215.14", …})``: every plain-HTTP fetch goes
    through ``server`` as its HTTP proxy (real HTTP on loopback, whatever the URL's host), and
    policywatch.fetch resolves the given names to the given addresses (other names as usual).

    So a URL on a public-looking host can be fetched from a loopback test server, and a redirect
    that leaves it can be seen arriving there (as the path it asks for) or not at all.
    """

    def setup(server: TestServer, names: dict[str, str]) -> None:
        from policywatch import fetch

        for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", server.url())
        real = fetch.resolve_addresses
        monkeypatch.setattr(fetch, "resolve_addresses",
                            lambda host: [names[host]] if host in names else real(host))

    return setup


# -- watchlists and stores -----------------------------------------------------------------------------------

FAST_DEFAULTS = {"timeout": 2, "backoff": 0.01, "retries": 2}


def watchlist_yaml(policies: Sequence[str | dict], **defaults: Any) -> str:
    """Watchlist YAML for ``policies`` (URLs, or dicts of policy keys); ids p1, p2, … by default."""
    entries = []
    for index, item in enumerate(policies, start=1):
        entry = {"url": item} if isinstance(item, str) else dict(item)
        entry.setdefault("id", f"p{index}")
        entry.setdefault("name", f"Policy {entry['id']}")
        entries.append(entry)
    settings = {**FAST_DEFAULTS, **defaults}
    # JSON is YAML's flow style: no quoting surprises with URLs and selectors.
    lines = ["defaults: " + json.dumps(settings), "policies:"]
    lines += ["  - " + json.dumps(entry) for entry in entries]
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_watchlist(tmp_path) -> Callable[..., Watchlist]:
    """``make_watchlist([url, {"url": …, "select": …}, …], **defaults)`` → a parsed Watchlist.

    The YAML is also written to ``tmp_path / "watchlist.yaml"`` for subprocess runs.
    """

    def make(policies: Sequence[str | dict], **defaults: Any) -> Watchlist:
        text = watchlist_yaml(policies, **defaults)
        path = tmp_path / "watchlist.yaml"
        path.write_text(text, encoding="utf-8")
        return parse_watchlist(text, path)

    return make


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "db.sqlite"


@pytest.fixture
def store(db_path):
    store = Store.open(db_path)
    yield store
    store.close()


@pytest.fixture
def rendezvous():
    """``met = rendezvous(server_a, server_b, path, body)``: each server's ``path`` waits (≤ 1.5 s)
    for the other's to be requested too; ``met[host]`` says whether it was, i.e. whether the two
    requests were in flight at the same time. A deterministic test of concurrency, not of speed."""

    def setup(server_a: TestServer, server_b: TestServer, path: str, body: str | bytes,
              wait: float = 1.5) -> dict[str, bool]:
        arrived = {server_a.host: threading.Event(), server_b.host: threading.Event()}
        met: dict[str, bool] = {}

        def handler_for(me: str, other: str) -> Callable[[Request], Response]:
            def handler(request: Request) -> Response:
                arrived[me].set()
                met[me] = arrived[other].wait(wait)
                return Response(body=body)

            return handler

        server_a.route(path, handler_for(server_a.host, server_b.host))
        server_b.route(path, handler_for(server_b.host, server_a.host))
        return met

    return setup
