"""The fetch stage (docs/architecture.md): one polite HTTP client for live pages (and local files).

One ``requests.Session`` shared by a small worker pool that never sends two requests to the
same host at once; conditional requests (ETag / Last-Modified); bounded retries with
exponential backoff on connection errors, 5xx and 429 (honouring Retry-After); a size cap
read as a stream; charset from the header, a BOM, the page's own declaration, or detection.
"""

from __future__ import annotations

import codecs
import email.utils
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 120.0  # a server asking for longer than this is treated as a refusal for this run
CHUNK = 64 * 1024


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
    error_class: str | None = None  # timeout, connection, http_error, rate_limited, too_large, …
    error: str | None = None
    attempts: int = 0
    elapsed: float = 0.0
    redirects: list[str] = field(default_factory=list)
    location: str | None = None  # a 3xx answer's target, when redirects are not followed
    fetched_at: str = field(default_factory=lambda: utcnow())

    @property
    def ok(self) -> bool:
        return self.error_class is None


def utcnow() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FetchError(Exception):
    def __init__(self, error_class: str, message: str, retry: bool = False, wait: float | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.retry = retry
        self.wait = wait


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


def decode_body(content: bytes, content_type: str | None = None, forced: str | None = None) -> tuple[str, str]:
    """Decode a page: forced > Content-Type charset > BOM > declared in the page > detection.

    A body that is invalid in the charset it declares raises FetchError("bad_encoding"): a
    garbled page must not become a version. A site that always declares the wrong charset can
    be fixed with the policy's ``encoding`` setting.
    """
    from bs4.dammit import EncodingDetector

    declared = _known(forced) or _known(_content_type_charset(content_type))
    if not declared:
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


class Fetcher:
    """Fetch pages politely. Thread-safe; use as a context manager to close the session."""

    def __init__(self, user_agent: str | None = None, workers: int = 8, sleep: Callable[[float], None] = time.sleep):
        from policywatch import __version__

        self.user_agent = user_agent or f"policywatch/{__version__}"
        self.workers = max(1, workers)
        self.sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=64, pool_maxsize=max(10, self.workers), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.max_redirects = 10

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
        scheme = urlsplit(url).scheme.lower()
        try:
            if scheme not in ("http", "https"):
                self._read_file(url, result, max_bytes, encoding)
            else:
                self._fetch_http(url, result, timeout=timeout, retries=retries, backoff=backoff,
                                 max_bytes=max_bytes, headers=headers or {}, user_agent=user_agent,
                                 encoding=encoding, etag=etag, last_modified=last_modified, pace=pace,
                                 follow_redirects=follow_redirects)
        except FetchError as exc:
            result.error_class, result.error = exc.error_class, str(exc)
            result.text = None
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
        host = urlsplit(url).hostname or url
        try:
            response = self.session.get(url, headers=headers, timeout=(min(timeout, 15.0), timeout),
                                        stream=True, allow_redirects=follow_redirects)
        except requests.TooManyRedirects:
            raise FetchError("redirect_loop", f"too many redirects from {url}") from None
        except requests.Timeout:
            raise FetchError("timeout", f"no answer from {host} within {timeout:g}s", retry=True) from None
        except requests.exceptions.InvalidURL as exc:
            raise FetchError("bad_url", f"invalid URL {url}: {exc}") from None
        except requests.ConnectionError as exc:
            raise FetchError("connection", f"cannot reach {host}: {_root_cause(exc)}", retry=True) from None
        except requests.RequestException as exc:
            raise FetchError("connection", f"request to {host} failed: {_root_cause(exc)}", retry=True) from None
        with response:
            result.status = response.status_code
            result.final_url = response.url
            result.redirects = [r.headers.get("Location", "") for r in response.history]
            result.content_type = response.headers.get("Content-Type")
            if response.status_code == 304:
                result.not_modified = True
                result.etag = response.headers.get("ETag") or headers.get("If-None-Match")
                result.last_modified = response.headers.get("Last-Modified") or headers.get("If-Modified-Since")
                return
            if not follow_redirects and response.is_redirect:
                result.location = response.headers.get("Location")
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
            except requests.exceptions.ChunkedEncodingError as exc:
                raise FetchError("truncated", f"body from {host} cut off before its end "
                                 f"({_root_cause(exc)})", retry=True) from None
            except requests.exceptions.ConnectionError as exc:
                # requests reports a read timeout inside the body as a ConnectionError.
                if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                    raise FetchError("timeout", f"{host} stopped sending within {timeout:g}s",
                                     retry=True) from None
                raise FetchError("connection", f"connection to {host} lost: {_root_cause(exc)}",
                                 retry=True) from None
            except requests.Timeout:
                raise FetchError("timeout", f"{host} stopped sending within {timeout:g}s", retry=True) from None
            result.content = bytes(body)
            result.etag = response.headers.get("ETag")
            result.last_modified = response.headers.get("Last-Modified")
            result.text, result.encoding = decode_body(result.content, result.content_type, encoding)

    # -- many pages ---------------------------------------------------------------------------
    def run(self, jobs: Iterable[tuple[str, Callable[[], Any]]]) -> Iterator[Any]:
        """Run ``(host, work)`` jobs on the pool, at most one at a time per host.

        Yields each job's return value as soon as it is done, so the caller can store results
        while later pages are still being fetched.
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
                ok, value = done.get()
                if not ok:
                    raise value
                yield value
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)


def _root_cause(exc: BaseException) -> str:
    """The innermost message of a requests/urllib3 exception chain, on one line."""
    seen = exc
    for _ in range(10):
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        inner = inner or getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        if not isinstance(inner, BaseException) or inner is seen:
            break
        seen = inner
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
