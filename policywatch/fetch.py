"""The fetch stage (docs/architecture.md): one polite HTTP client for live pages (and local files).

One ``requests.Session`` shared by a small worker pool that never sends two requests to the
same host at once; conditional requests (ETag / Last-Modified); bounded retries with
exponential backoff on connection errors, 5xx and 429 (honouring Retry-After); a size cap
read as a stream; charset from the header, a BOM, the page's own declaration, or detection.

``timeout`` bounds each attempt's whole answer (connect, redirects, headers and body), not each
socket read: a server trickling one byte a second fails at the deadline (see ``_Deadline``).

A page on a public host is never read from a private address (loopback, private, link-local, e.g.
a cloud's metadata service): a redirect there is refused before connecting, as error class
``private_redirect`` (see ``_RedirectGuard``). A watchlist URL that is itself private follows
redirects anywhere.
"""

from __future__ import annotations

import codecs
import contextlib
import email.utils
import heapq
import ipaddress
import os
import queue
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar, merge_cookies
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_netrc_auth
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError
from urllib3.poolmanager import ProxyManager

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 120.0  # a server asking for longer than this is treated as a refusal for this run
CHUNK = 64 * 1024
MAX_UNREAD_BODY = 1024 * 1024  # read to keep a connection (see _release); beyond, it is closed
# Conditional-request headers: they change with every request, so they are not merged once per run.
_VALIDATORS = frozenset({"if-none-match", "if-modified-since"})


@dataclass
class FetchResult:
    """What one fetch produced: a body, a 304, or an error with its class."""

    url: str
    final_url: str | None = None
    status: int | None = None
    content: bytes | None = None
    text: str | None = None
    encoding: str | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    error_class: str | None = None  # timeout, connection, http_error, rate_limited, too_large,
    #                                 private_redirect, …
    error: str | None = None
    attempts: int = 0
    elapsed: float = 0.0
    redirects: list[str] = field(default_factory=list)
    headers: dict[str, str] | None = None  # of the final answer
    location: str | None = None  # a 3xx answer's target, when redirects are not followed
    connect_failed: bool = False  # no connection was made (refused, unknown name, no route, connect timeout)
    fetched_at: str = field(default_factory=lambda: utcnow())

    @property
    def ok(self) -> bool:
        return self.error_class is None


def utcnow() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FetchError(Exception):
    def __init__(self, error_class: str, message: str, retry: bool = False, wait: float | None = None,
                 connect_failed: bool = False):
        super().__init__(message)
        self.error_class = error_class
        self.retry = retry
        self.wait = wait
        self.connect_failed = connect_failed


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _content_type_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip("'\"")
    return None


def _known(encoding: str | None) -> str | None:
    if not encoding:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return None


# Files that are no text, by their first bytes (what a server calls them is often wrong), and the
# content types that name such files. A PDF read as text became a "version" of PDF syntax, judged high.
_BINARY_SIGNATURES = ((b"%PDF-", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
                      (b"\xff\xd8\xff", "a JPEG image"), (b"PK\x03\x04", "a zip archive or an Office document"),
                      (b"\xd0\xcf\x11\xe0", "an Office document"), (b"RIFF", "a media file"))
# Only the vnd. families of office documents: other vnd. types can be text (GitHub's raw and html).
_BINARY_TYPES = ("application/pdf", "application/zip", "application/msword", "application/vnd.ms-",
                 "application/vnd.openxmlformats-", "application/vnd.oasis.opendocument", "image/", "audio/",
                 "video/", "font/")


def not_text(content: bytes, content_type: str | None = None) -> str | None:
    """What a body that is no text is ("a PDF document", "image/webp"), or None for a page to read."""
    for signature, what in _BINARY_SIGNATURES:
        if content.startswith(signature):
            return what
    media = (content_type or "").split(";")[0].strip().lower()
    if media.startswith(_BINARY_TYPES) and not media.endswith(("+xml", "+json")) and \
            content.lstrip()[:1] != b"<":  # markup, whatever the type says
        return media
    return None


def _refuse_binary(content: bytes, content_type: str | None) -> None:
    what = not_text(content, content_type)
    if what is not None:
        raise FetchError("not_text", f"the page is {what}, not a web page: policywatch reads HTML, Markdown and "
                                     "plain text (watch a web or text form of the policy)")


def decode_body(content: bytes, content_type: str | None = None, forced: str | None = None) -> tuple[str, str]:
    """Decode a page: forced > Content-Type charset > BOM > declared in the page > detection.

    A body that is invalid in the charset it declares raises FetchError("bad_encoding"): a
    garbled page must not become a version. A site that always declares the wrong charset can
    be fixed with the policy's ``encoding`` setting.
    """
    declared = _known(forced) or _known(_content_type_charset(content_type))
    if not declared:
        # Imported only here: most servers name the charset, and importing bs4 takes 0.1 s.
        from bs4.dammit import EncodingDetector

        bom = EncodingDetector.strip_byte_order_mark(content[:4])[1]
        declared = _known(bom)
        if not declared:
            is_html = b"<" in content[:1024]
            declared = _known(EncodingDetector.find_declared_encoding(content[:8192], is_html=is_html))
    if declared:
        if declared in ("latin-1", "iso8859-1", "ascii"):
            declared = "cp1252"  # what browsers do, per the WHATWG encoding standard
        try:
            text = content.decode(declared)
        except UnicodeDecodeError as exc:
            raise FetchError("bad_encoding", f"bytes invalid in declared charset {declared} "
                             f"at offset {exc.start}") from None
        return text.lstrip("\ufeff"), declared
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(content).best()
    if best is None:
        raise FetchError("bad_encoding", "cannot detect the page's character set")
    return str(best), best.encoding


# -- private addresses -----------------------------------------------------------------------------------------

_PRIVATE_NETWORKS = tuple(ipaddress.ip_network(network) for network in (
    "127.0.0.0/8", "::1/128",  # loopback
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",  # private (RFC 1918, unique local)
    "100.64.0.0/10",  # shared address space (RFC 6598): carrier NAT, some clouds' internal services
    "169.254.0.0/16", "fe80::/10",  # link-local, cloud metadata services (169.254.169.254) included
    "0.0.0.0/8", "::/128",  # unspecified ("this host"): a connection to 0.0.0.0 reaches the local host
))


def is_private_address(address: str) -> bool:
    """Whether an IP address is loopback, private, link-local or unspecified (not an address: False)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return any(ip in network for network in _PRIVATE_NETWORKS)


def resolve_addresses(host: str) -> list[str]:
    """The addresses ``host`` resolves to, as the connection would find them; none if it does not resolve.

    The one place policywatch resolves a name itself (tests replace it to give test names addresses).
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, ValueError):  # no such name, no DNS, not a name at all (UnicodeError is a ValueError)
        return []
    return [str(info[4][0]) for info in infos]


def private_address_of(host: str) -> str | None:
    """The private address (see is_private_address) ``host`` is written as or resolves to, or None.

    A name with several addresses is private if any of them is: the connection may use any.
    """
    host = host.strip("[]").rstrip(".")
    literal = host.split("%", 1)[0]  # an IPv6 literal's zone: fe80::1%eth0
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        pass
    else:
        return host if is_private_address(literal) else None
    return next((address for address in resolve_addresses(host) if is_private_address(address)), None)


class PrivateRedirect(Exception):
    """A redirect from a public page to a private address, refused before connecting to it."""

    def __init__(self, url: str, host: str, address: str):
        where = address if host.strip("[]") == address else f"{host} resolves to {address}"
        super().__init__(f"refused a redirect from a public page to a private address: {url} ({where})")
        self.url = url


# Every request of an attempt, redirects included, goes through _DeadlineAdapter.send, which asks the
# attempt's guard (a thread-local, like the deadline: requests follows redirects in the calling thread)
# before sending it.
_attempt_guard = threading.local()


class _RedirectGuard:
    """Within one attempt begun at a public host, refuse every request to a private address.

    SSRF: a public policy page that redirects to http://127.0.0.1:…/admin or to a cloud's metadata
    service must not make policywatch read that and store it as the policy. Requests to the starting
    host (the first request's) are never checked; whether that host is public is decided (resolving
    it) only when a redirect leaves it, so most fetches resolve no name twice. A name that does not resolve here is
    not refused: a direct connection fails anyway, and a proxy resolves names in its own network.
    """

    def __init__(self) -> None:
        self.start: str | None = None  # as requests sends it (an international name in its IDNA form)
        self.public: bool | None = None

    def check(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").rstrip(".")
        if self.start is None:
            self.start = host
        if host == self.start:
            return
        if self.public is None:
            self.public = not self.start or private_address_of(self.start) is None
        if not self.public:
            return  # a local or intranet policy: redirects go where they go, as always
        address = private_address_of(host)
        if address is not None:
            raise PrivateRedirect(url, host, address)

    def __enter__(self) -> _RedirectGuard:
        _attempt_guard.current = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _attempt_guard.current = None


# -- the deadline of one attempt ---------------------------------------------------------------------------
#
# requests applies its timeout to each socket read, so a server sending a byte now and then never
# trips it. Each attempt therefore runs under a _Deadline: when the attempt's time is up, one watcher
# thread for all attempts (_DeadlineWatcher) shuts down the sockets the attempt uses (whatever it is
# blocked in: connect, TLS, headers, a redirect's body or the page's body), which makes the blocked
# read return at once. The connections report their sockets to the deadline of the attempt running
# in their thread (a requests call runs entirely in the calling thread, redirects included).

_attempt_deadline = threading.local()


class _Deadline:
    """The end of one attempt; use as a context manager around it, in the thread that runs it."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._connections: list[HTTPConnection] = []
        self._sockets: list[socket.socket] = []  # http.client drops conn.sock once a response owns it
        self._lock = threading.Lock()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.at

    def watch(self, connection: HTTPConnection) -> None:
        sock = getattr(connection, "sock", None)
        with self._lock:
            if not any(c is connection for c in self._connections):
                self._connections.append(connection)
            if sock is not None and not any(s is sock for s in self._sockets):
                self._sockets.append(sock)
            expired = self.expired
        if expired:  # a connection opened after the deadline (e.g. to follow a redirect)
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sockets = self._sockets + [c.sock for c in self._connections if getattr(c, "sock", None) is not None]
        for sock in sockets:
            _shut(sock)

    def __enter__(self) -> _Deadline:
        _attempt_deadline.current = self
        _watcher.watch(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self._done = True  # from now on the watcher leaves the (pooled) connections alone
            self._connections.clear()
            self._sockets.clear()
        _attempt_deadline.current = None


class _DeadlineWatcher:
    """One thread that expires every attempt's _Deadline when its time is up.

    A timer thread per attempt cost more than a conditional request itself (a thread start and
    join for every page of every run); attempts that end in time are dropped from the heap lazily.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._count = 0
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._wake:
            self._count += 1
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline.at, self._count, deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="fetch-deadlines", daemon=True)
                self._thread.start()
            elif earliest is None or deadline.at < earliest:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2]._done:
                    heapq.heappop(self._heap)  # ended in time
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                deadline = heapq.heappop(self._heap)[2]
            with contextlib.suppress(Exception):  # the watcher must outlive one attempt's trouble
                deadline._expire()


_watcher = _DeadlineWatcher()


def _new_watcher_after_fork() -> None:
    """A forked child has no watcher thread, and may hold a copy of its lock taken: start anew."""
    global _watcher
    _watcher = _DeadlineWatcher()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_watcher_after_fork)


def _shut(sock: socket.socket | None) -> None:
    """Wake whatever is blocked on ``sock``: reads then see the end of the stream.

    urllib3 sees a shut socket as dropped, so it never reuses it for a later request. A socket
    closed since (or detached into its TLS wrapper) has no descriptor left: nothing is touched.
    """
    if sock is None:
        return
    # Already closed, or not connected yet (connect has its own timeout, never longer): nothing to do.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the raw socket, also under TLS


class _Watched:
    """Mixin for urllib3 connections: put the socket under the current attempt's deadline."""

    def _watch(self) -> None:
        deadline = getattr(_attempt_deadline, "current", None)
        if deadline is not None:
            deadline.watch(self)  # type: ignore[arg-type]

    def connect(self) -> None:
        self._watch()
        super().connect()  # type: ignore[misc]
        self._watch()  # the deadline may have passed while connecting

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._watch()  # a kept-alive connection, connected during an earlier attempt
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct or through an HTTP proxy) obey _Deadline, and whose
    requests (redirects included) pass the attempt's _RedirectGuard."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        guard = getattr(_attempt_guard, "current", None)
        if guard is not None and request.url:
            guard.check(request.url)  # before any connection to the request's host
        return super().send(request, *args, **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):  # not SOCKS: its pools use their own connections
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


class _Session(requests.Session):
    """A Session that reads the environment's proxy and CA settings once per scheme and host in a
    run instead of once per request: they cost as much as building the request, and a run's
    environment does not change."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple, dict[str, Any]] = {}
        self._urls: dict[str, str | None] = {}  # as given → as prepared (IDNA, quoting)
        self._netrc: dict[str, tuple[str, str] | None] = {}  # scheme://host → its netrc login
        self._shared_headers: dict[tuple, CaseInsensitiveDict] = {}  # see _checked_headers

    def get_page(self, url: str, headers: Mapping[str, str], timeout: tuple[float, float],
                 follow_redirects: bool) -> requests.Response:
        """``get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=follow_redirects)``.

        A plain GET (see ``prepare_request``) goes to the transport adapter directly, and only what
        requests' ``Session.send`` would then do for it is done here: keep the cookies set, follow
        the redirects. Its other bookkeeping (hooks, timings, the next request of a redirect not
        followed) has nothing to do for a GET without hooks, and cost a fifth of a revalidation."""
        prepared = self.prepare_request(requests.Request("GET", url, headers=dict(headers)))
        options = {"timeout": timeout, **self.merge_environment_settings(prepared.url, {}, True, None, None)}
        if prepared.hooks.get("response"):
            return self.send(prepared, allow_redirects=follow_redirects, **options)
        response = self.get_adapter(prepared.url).send(prepared, **options)
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            extract_cookies_to_jar(self.cookies, prepared, response.raw)
        if follow_redirects and response.is_redirect:
            history = [response, *self.resolve_redirects(response, prepared, **options)]
            response = history.pop()
            response.history = history
        return response

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """A plain GET (no body, parameters, auth, cookies or hooks of its own or the session's) is
        prepared here as requests prepares it, with the URL and the netrc lookup done once per run
        instead of once per request: requests' own preparation cost as much as a whole 304."""
        if (request.method or "").upper() != "GET" or not isinstance(request.url, str) or request.files \
                or request.data or request.json or request.params or request.auth or request.cookies \
                or request.hooks.get("response") or self.hooks.get("response") or self.auth or self.params \
                or any(value is None for value in self.headers.values()):
            return super().prepare_request(request)
        prepared = requests.PreparedRequest()
        prepared.method = "GET"
        url = request.url
        prepared.url = self._urls.get(url)
        if prepared.url is None:
            if len(self._urls) > 100_000:
                self._urls.clear()
            prepared.prepare_url(url, None)
            self._urls[url] = prepared.url
        prepared.headers = self._checked_headers(request.headers)
        prepared.body = None
        # As requests: a netrc login for the host, else the URL's own user:password.
        origin = urlsplit(url)
        login = None
        if self.trust_env:
            key = f"{origin.scheme}://{origin.netloc}"
            if key not in self._netrc:
                self._netrc[key] = get_netrc_auth(url)
            login = self._netrc[key]
        if login or "@" in origin.netloc:
            prepared.prepare_auth(login)
        # A copy, as requests makes: redirects add their cookies to the request's jar, not the session's.
        if len(self.cookies):
            prepared.prepare_cookies(merge_cookies(RequestsCookieJar(), self.cookies))
        else:  # nothing to send: the jar only keeps what a redirect sets (prepare_cookies would add nothing)
            prepared._cookies = RequestsCookieJar()
        prepared.prepare_hooks({"response": []})
        return prepared

    def _checked_headers(self, headers: Mapping[str, str | None]) -> CaseInsensitiveDict:
        """The session's headers merged with a request's, checked as requests' ``prepare_headers``
        checks them. The merge of the headers all requests share is done once per run: checking
        them cost a third of a revalidation's preparation. A request's validators (If-None-Match,
        If-Modified-Since) differ every time and are checked every time."""
        own = tuple((name, value) for name, value in headers.items() if name.lower() not in _VALIDATORS)
        key = (own, tuple(self.headers.items()))
        shared = self._shared_headers.get(key)
        if shared is None:
            merged = CaseInsensitiveDict(self.headers)
            for name, value in own:
                if value is None:
                    merged.pop(name, None)
                else:
                    merged[name] = value
            checking = requests.PreparedRequest()
            checking.prepare_headers(merged)
            shared = checking.headers
            if len(self._shared_headers) > 1000:
                self._shared_headers.clear()
            self._shared_headers[key] = shared
        checked = shared.copy()
        for name, value in headers.items():
            if value is not None and name.lower() in _VALIDATORS:
                check_header_validity((name, value))
                checked[name] = value
        return checked

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        if proxies:  # a request's own proxies: merged as requests merges them
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        merged = self._environment.get(key)
        if merged is None:
            merged = self._environment[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        return {**merged, "proxies": dict(merged["proxies"])}


class Fetcher:
    """Fetch pages politely. Thread-safe; use as a context manager to close the session."""

    def __init__(self, user_agent: str | None = None, workers: int = 8, sleep: Callable[[float], None] = time.sleep):
        from policywatch import __version__

        self.user_agent = user_agent or f"policywatch/{__version__}"
        self.workers = max(1, workers)
        self.sleep = sleep
        self.session = _Session()
        adapter = _DeadlineAdapter(pool_connections=64, pool_maxsize=max(10, self.workers), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.max_redirects = 10
        self.unresolved: set[str] = set()  # hosts whose name did not resolve in this run: not asked again

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    # -- one page -----------------------------------------------------------------------------
    def fetch(self, url: str, *, timeout: float = 30.0, retries: int = 2, backoff: float = 2.0,
              max_bytes: int = 10 * 1024 * 1024, headers: dict[str, str] | None = None,
              user_agent: str | None = None, encoding: str | None = None,
              etag: str | None = None, last_modified: str | None = None,
              pace: Callable[[], None] | None = None, follow_redirects: bool = True) -> FetchResult:
        """Fetch one URL (or local path) and never raise: errors are returned in the result.

        ``pace`` is called before every attempt, retries included (the archive's rate limiter).
        With ``follow_redirects=False`` a 3xx answer is returned as error class ``redirect`` with
        its target in ``location``.
        """
        result = FetchResult(url=url)
        started = time.monotonic()
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        try:
            if scheme not in ("http", "https"):
                self._read_file(url, result, max_bytes, encoding)
            elif host in self.unresolved:
                # Every policy of a host whose name did not resolve would wait out its own retries.
                raise FetchError("connection", f"cannot reach {host}: DNS lookup failed (as for an earlier "
                                               "page of this host in this run)", connect_failed=True)
            else:
                self._fetch_http(url, result, timeout=timeout, retries=retries, backoff=backoff,
                                 max_bytes=max_bytes, headers=headers or {}, user_agent=user_agent,
                                 encoding=encoding, etag=etag, last_modified=last_modified, pace=pace,
                                 follow_redirects=follow_redirects)
        except FetchError as exc:
            result.error_class, result.error = exc.error_class, str(exc)
            result.connect_failed = exc.connect_failed
            result.text = None
            if exc.error_class == "connection" and str(exc).endswith(": DNS lookup failed") and host:
                self.unresolved.add(host)
        result.elapsed = time.monotonic() - started
        return result

    def _read_file(self, url: str, result: FetchResult, max_bytes: int, encoding: str | None) -> None:
        path = Path(unquote(urlsplit(url).path)) if url.startswith("file:") else Path(url)
        result.attempts = 1
        result.final_url = path.resolve().as_uri() if path.is_absolute() or path.exists() else url
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise FetchError("too_large", f"{path} is {size} bytes, over the {max_bytes}-byte cap")
            content = path.read_bytes()
        except FileNotFoundError:
            raise FetchError("not_found", f"file not found: {path}") from None
        except OSError as exc:
            raise FetchError("io_error", f"cannot read {path}: {exc.strerror or exc}") from None
        result.status = 200
        result.content = content
        result.content_type = "text/html" if path.suffix.lower() in (".html", ".htm") else None
        _refuse_binary(content, result.content_type)
        result.text, result.encoding = decode_body(content, result.content_type, encoding)

    def _fetch_http(self, url: str, result: FetchResult, *, timeout: float, retries: int, backoff: float,
                    max_bytes: int, headers: dict[str, str], user_agent: str | None, encoding: str | None,
                    etag: str | None, last_modified: str | None, pace: Callable[[], None] | None,
                    follow_redirects: bool = True) -> None:
        request_headers = {
            "User-Agent": user_agent or self.user_agent,
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
            "Accept-Language": "en;q=1.0, *;q=0.5",
        }
        request_headers.update(headers)
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            attempt += 1
            result.attempts = attempt
            if pace is not None:
                pace()
            try:
                self._attempt(url, result, request_headers, timeout, max_bytes, encoding, follow_redirects)
                return
            except FetchError as exc:
                if not exc.retry or attempt > retries:
                    raise
                wait = exc.wait if exc.wait is not None else backoff * (2 ** (attempt - 1))
                if wait > MAX_RETRY_AFTER:
                    raise FetchError(exc.error_class, f"{exc} (server asks to wait {wait:.0f}s; "
                                     "will try again next run)") from None
                self.sleep(wait)

    def _attempt(self, url: str, result: FetchResult, headers: dict[str, str], timeout: float,
                 max_bytes: int, encoding: str | None, follow_redirects: bool = True) -> None:
        with _Deadline(timeout) as deadline, _RedirectGuard():
            content, response = self._exchange(url, result, headers, timeout, max_bytes, follow_redirects,
                                               deadline)
        if content is None:
            return  # a 304
        result.content = content
        result.etag = response.headers.get("ETag")
        result.last_modified = response.headers.get("Last-Modified")
        _refuse_binary(content, result.content_type)
        result.text, result.encoding = decode_body(result.content, result.content_type, encoding)

    def _exchange(self, url: str, result: FetchResult, headers: dict[str, str], timeout: float,
                  max_bytes: int, follow_redirects: bool,
                  deadline: _Deadline) -> tuple[bytes | None, requests.Response]:
        """One request and its whole answer, before ``deadline``: (body or None for a 304, response)."""
        host = urlsplit(url).hostname or url

        def too_slow(why: str = "the server is sending too slowly") -> FetchError:
            return FetchError("timeout", f"{host}: no complete answer within {timeout:g} s ({why})", retry=True)

        try:
            response = self.session.get_page(url, headers, (min(timeout, 15.0), timeout), follow_redirects)
        except PrivateRedirect as exc:
            result.location = exc.url
            raise FetchError("private_redirect", str(exc)) from None
        except requests.TooManyRedirects:
            raise FetchError("redirect_loop", f"too many redirects from {url}") from None
        except requests.exceptions.InvalidURL as exc:
            raise FetchError("bad_url", f"invalid URL {url}: {exc}") from None
        except requests.RequestException as exc:
            if deadline.expired:  # the deadline cut the connection: no headers yet, or a redirect's body
                raise too_slow("the server is too slow to answer") from None
            if isinstance(exc, requests.Timeout):
                raise FetchError("timeout", f"no answer from {host} within {timeout:g}s", retry=True,
                                 connect_failed=isinstance(exc, requests.ConnectTimeout)) from None
            if isinstance(exc, requests.ConnectionError):
                raise FetchError("connection", f"cannot reach {host}: {_root_cause(exc)}", retry=True,
                                 connect_failed=_no_connection(exc)) from None
            raise FetchError("connection", f"request to {host} failed: {_root_cause(exc)}", retry=True) from None
        with response:
            result.status = response.status_code
            result.final_url = response.url
            result.redirects = [r.headers.get("Location", "") for r in response.history]
            result.headers = dict(response.headers)
            result.content_type = response.headers.get("Content-Type")
            if response.status_code == 304:
                if not response.raw.chunked:
                    # A 304 "chunked" has no body either, but urllib3 would wait for its chunks.
                    _release(response)
                result.not_modified = True
                result.etag = response.headers.get("ETag") or headers.get("If-None-Match")
                result.last_modified = response.headers.get("Last-Modified") or headers.get("If-Modified-Since")
                return None, response
            if not follow_redirects and response.is_redirect:
                result.location = response.headers.get("Location")
                _release(response)  # an archive's replays answer 302s all day
                raise FetchError("redirect", f"HTTP {response.status_code} to {result.location}")
            if response.status_code in RETRY_STATUSES:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                kind = "rate_limited" if response.status_code == 429 else "http_error"
                raise FetchError(kind, f"HTTP {response.status_code} {response.reason or ''}".strip()
                                 + f" from {host}", retry=True, wait=wait)
            if response.status_code >= 400:
                raise FetchError("http_error", f"HTTP {response.status_code} {response.reason or ''}".strip()
                                 + f" from {host}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError("too_large", f"page is {int(declared)} bytes, over the {max_bytes}-byte cap")
            body = bytearray()
            try:
                for chunk in response.iter_content(CHUNK):
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError("too_large", f"page exceeds the {max_bytes}-byte cap")
                    if deadline.passed():
                        raise too_slow()
            except requests.exceptions.ChunkedEncodingError as exc:
                if deadline.expired:
                    raise too_slow() from None
                raise FetchError("truncated", f"body from {host} cut off before its end "
                                 f"({_root_cause(exc)})", retry=True) from None
            except requests.exceptions.ConnectionError as exc:
                if deadline.expired:
                    raise too_slow() from None
                # requests reports a read timeout inside the body as a ConnectionError.
                if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                    raise FetchError("timeout", f"{host} stopped sending within {timeout:g}s",
                                     retry=True) from None
                raise FetchError("connection", f"connection to {host} lost: {_root_cause(exc)}",
                                 retry=True) from None
            except requests.Timeout:
                raise FetchError("timeout", f"{host} stopped sending within {timeout:g}s", retry=True) from None
            if deadline.expired:  # a body without a length ends at the cut: it is not the whole page
                raise too_slow()
            return bytes(body), response

    # -- many pages ---------------------------------------------------------------------------
    def run(self, jobs: Iterable[tuple[str, Callable[[], Any]]],
            idle: Callable[[], None] | None = None) -> Iterator[Any]:
        """Run ``(host, work)`` jobs on the pool, at most one at a time per host.

        Yields each job's return value as soon as it is done, so the caller can store results
        while later pages are still being fetched; ``idle`` is called whenever the caller would
        wait for the next one.
        """
        by_host: OrderedDict[str, list[Callable[[], Any]]] = OrderedDict()
        for host, work in jobs:
            by_host.setdefault(host, []).append(work)
        if not by_host:
            return
        # Bounded: workers wait rather than pile up fetched pages while the caller stores results.
        done: queue.Queue = queue.Queue(maxsize=self.workers * 2)
        stop = threading.Event()

        def hand_over(item: tuple[bool, Any]) -> None:
            while not stop.is_set():
                try:
                    done.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def drain(works: list[Callable[[], Any]]) -> None:
            for work in works:
                if stop.is_set():
                    return
                try:
                    item = (True, work())
                except BaseException as exc:  # surfaced in the caller's thread
                    item = (False, exc)
                hand_over(item)

        total = sum(len(w) for w in by_host.values())
        pool = ThreadPoolExecutor(max_workers=min(self.workers, len(by_host)), thread_name_prefix="fetch")
        try:
            for works in by_host.values():
                pool.submit(drain, works)
            for _ in range(total):
                if idle is not None and done.empty():
                    idle()
                ok, value = done.get()
                if not ok:
                    raise value
                yield value
        finally:
            stop.set()
            # Interrupted (Ctrl-C, SIGTERM): do not wait for fetches in flight; their results would
            # never be written, and the process is on its way out (cli.main ends it at once).
            interrupted = isinstance(sys.exc_info()[1], (KeyboardInterrupt, SystemExit))
            pool.shutdown(wait=not interrupted, cancel_futures=True)


def _release(response: requests.Response, most: int = MAX_UNREAD_BODY) -> None:
    """Read what is left of an answer's body that nobody needs (a 304's, an unfollowed redirect's)
    and hand its connection back to the pool: requests closes a connection whose body was not
    read, and each such answer cost a new connection. A body of more than ``most`` bytes, or one
    cut off, is left unread: its connection is closed with the response."""
    raw, read = response.raw, 0
    try:
        while chunk := raw.read(CHUNK, decode_content=False):
            read += len(chunk)
            if read > most:
                return
    except (Urllib3Error, OSError, HTTPException):
        return
    raw.release_conn()


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """A requests/urllib3 exception and the ones it wraps, outermost first."""
    seen = exc
    for _ in range(11):  # ten steps in at most
        yield seen
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        inner = inner or getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if not isinstance(inner, BaseException) or inner is seen:
            return
        seen = inner


def _no_connection(exc: BaseException) -> bool:
    """Did the request fail before a connection was made (refused, unknown name, no route), rather
    than on a connection the server then closed?"""
    from urllib3.exceptions import NewConnectionError

    return any(isinstance(e, NewConnectionError) for e in _exception_chain(exc))


def _root_cause(exc: BaseException) -> str:
    """The innermost message of a requests/urllib3 exception chain, on one line."""
    *_, seen = _exception_chain(exc)
    text = str(seen) or seen.__class__.__name__
    if "Name or service not known" in text or "nodename nor servname" in text or "Temporary failure in name" in text:
        return "DNS lookup failed"
    if "Connection refused" in text:
        return "connection refused"
    if "Connection reset" in text:
        return "connection reset by peer"
    if "Network is unreachable" in text:
        return "network unreachable"
    text = text.split(": ", 1)[-1] if text.startswith("<") else text
    return " ".join(text.split())[:200]
