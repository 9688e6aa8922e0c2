"""A real pywb archive for tests and bench scripts: WARCs from in-memory captures, a ``wayback``
server on a free 127.0.0.1 port, and a counting reverse proxy in front of it.

Importable (``from tests.pywb_harness import ...`` or, with ``tests/`` on ``sys.path``,
``from pywb_harness import ...``); nothing here needs pytest.

    from pywb_harness import Capture, PywbArchive

    URL = "https://acme.example/privacy"

    @pytest.fixture
    def pywb_archive(tmp_path):
        captures = [
            Capture(URL, "20200101000000", "<html><body>v1</body></html>"),
            Capture(URL, "20210101000000", "<html><body>v2</body></html>"),
            Capture.redirect(URL, "20220101000000", "https://acme.example/legal/privacy"),
        ]
        with PywbArchive(tmp_path / "pywb", {"acme": captures}) as archive:
            yield archive

    def test_import(pywb_archive):
        cdx = pywb_archive.cdx_url("acme")          # http://127.0.0.1:P/acme/cdx
        tpl = pywb_archive.replay_template("acme")  # http://127.0.0.1:P/acme/{timestamp}id_/{url}
        ...  # run policywatch against cdx / tpl
        assert pywb_archive.count("cdx") == 1
        assert pywb_archive.count("replay") == 2
        pywb_archive.reset_counts()

For a whole test session, start one archive with several collections (``scope="session"``
fixture, ``tmp_path_factory``) and use one collection per scenario: startup costs ~1 s.

``PywbArchive`` runs pywb's own ``FrontEndApp`` (exactly what the ``wayback`` console script
serves) in a subprocess of ``sys.executable``, with gevent's access log turned off, bound to
127.0.0.1 port 0; the child prints the port it got, so there is no free-port race. It also
builds each collection's ``indexes/index.cdxj`` the way ``wb-manager reindex`` does (pywb's
``write_multi_cdx_index`` with ``cdxj=True, sort=True``). Everything pywb prints goes to
``<root>/pywb.log`` (shown in the error if it fails to start).

The URLs it exposes (``base_url``, ``cdx_url``, ``replay_template``) are those of the counting
proxy, which forwards every request to pywb (Host header kept, so the absolute URLs pywb puts
in ``Location`` point back to the proxy) and records it: ``archive.requests`` (a list of
``ProxiedRequest``), ``archive.count(kind)`` with kind ``"cdx"``, ``"replay"`` or ``"other"``.
``archive.pywb_url`` is pywb itself, bypassing the counts.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import http.client
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

try:
    from loopback import LoopbackServer
except ImportError:  # imported as tests.pywb_harness
    from tests.loopback import LoopbackServer

__all__ = ["Capture", "CountingProxy", "ProxiedRequest", "PywbArchive", "write_warc", "DEFAULT_COLL"]

DEFAULT_COLL = "test"

_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
            307: "Temporary Redirect", 308: "Permanent Redirect", 403: "Forbidden", 404: "Not Found",
            410: "Gone", 500: "Internal Server Error", 503: "Service Unavailable"}


# -- captures and WARCs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Capture:
    """One archived HTTP response of ``url`` at ``timestamp`` (14 digits, UTC)."""

    url: str
    timestamp: str  # YYYYMMDDhhmmss
    body: bytes | str = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: Sequence[tuple[str, str]] = ()  # extra HTTP headers, e.g. (("Location", "..."),)
    # write a WARC ``revisit`` record (headers only, identical-payload-digest) pointing at the latest
    # earlier capture in the same ``write_warc`` call with the same URL and body
    revisit: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"\d{14}", self.timestamp):
            raise ValueError(f"timestamp must be 14 digits (YYYYMMDDhhmmss): {self.timestamp!r}")

    @classmethod
    def redirect(cls, url: str, timestamp: str, location: str, status: int = 302) -> Capture:
        """A 3xx capture: a Location header and the small HTML body servers usually send."""
        body = (f'<html><head><title>{status} {_REASONS.get(status, "Redirect")}</title></head>'
                f'<body><a href="{location}">moved here</a></body></html>')
        return cls(url, timestamp, body, status=status, headers=(("Location", location),))

    @property
    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body

    @property
    def datetime(self) -> _dt.datetime:
        return _dt.datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=_dt.timezone.utc)

    @property
    def warc_date(self) -> str:
        return self.datetime.strftime("%Y-%m-%dT%H:%M:%SZ")

    def http_header_list(self) -> list[tuple[str, str]]:
        """The HTTP headers written to the WARC (and replayed by pywb's ``id_``)."""
        headers: list[tuple[str, str]] = [("Date", formatdate(self.datetime.timestamp(), usegmt=True))]
        if self.content_type:
            headers.append(("Content-Type", self.content_type))
        headers.extend((str(k), str(v)) for k, v in self.headers)
        headers.append(("Content-Length", str(len(self.payload))))
        return headers


def write_warc(path: str | os.PathLike, captures: Sequence[Capture], gzip: bool | None = None) -> Path:
    """Write ``captures`` as WARC/1.0 ``response`` records (HTTP status line + headers + body).

    WARC-Date is each capture's timestamp. Gzipped per record when the name ends in ``.gz``
    (or ``gzip=True``), as pywb and the Internet Archive store them.
    """
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gzip is None:
        gzip = path.name.endswith(".gz")
    written: list[Capture] = []
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip)
        for capture in captures:
            payload = capture.payload
            status_line = f"{capture.status} {_REASONS.get(capture.status, 'Status')}"
            http_headers = StatusAndHeaders(status_line, capture.http_header_list(), protocol="HTTP/1.1")
            if capture.revisit:
                original = next((c for c in reversed(written) if c.url == capture.url and c.payload == payload
                                 and not c.revisit), None)
                if original is None:
                    raise ValueError(f"revisit capture {capture.timestamp} {capture.url} has no earlier original "
                                     "with the same body")
                digest = "sha1:" + base64.b32encode(hashlib.sha1(payload).digest()).decode("ascii")
                record = writer.create_revisit_record(
                    capture.url, digest, original.url, original.warc_date, http_headers=http_headers,
                    warc_headers_dict={"WARC-Date": capture.warc_date})
            else:
                record = writer.create_warc_record(
                    capture.url, "response", payload=io.BytesIO(payload), length=len(payload),
                    http_headers=http_headers, warc_headers_dict={"WARC-Date": capture.warc_date})
            writer.write_record(record)
            written.append(capture)
    return path


def build_collections(root: str | os.PathLike, collections: Mapping[str, Sequence[Capture]],
                      config: Mapping[str, Any] | None = None) -> Path:
    """Lay out ``root/collections/<coll>/archive/<coll>.warc.gz`` (+ an empty ``indexes/``) and a
    ``root/config.yaml`` (pywb defaults + ``config``, e.g. ``{"redirect_to_exact": True}``); the
    index itself is built by the pywb child (see ``PywbArchive``)."""
    root = Path(root)
    for coll, captures in collections.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", coll) or coll in {"static", "cdx", "pywb"}:
            raise ValueError(f"bad pywb collection name: {coll!r}")
        coll_dir = root / "collections" / coll
        if coll_dir.exists():
            shutil.rmtree(coll_dir)
        (coll_dir / "indexes").mkdir(parents=True)
        write_warc(coll_dir / "archive" / f"{coll}.warc.gz", captures)
    # a config file also keeps pywb from complaining about a missing ./config.yaml (JSON is YAML)
    (root / "config.yaml").write_text(json.dumps(dict(config or {"debug": False}), indent=1) + "\n",
                                      encoding="utf-8")
    return root


# -- the pywb child -------------------------------------------------------------------------------------------

# Run with cwd = the archive root. Indexes every collection like `wb-manager reindex`, loads the
# same app as the `wayback` console script, binds 127.0.0.1:0 with no access log, prints the port.
_LAUNCHER = r"""
from gevent.monkey import patch_all; patch_all()
import logging, os, sys
logging.basicConfig(format='%(asctime)s: [%(levelname)s]: %(message)s', level=logging.WARNING)
from pywb.indexer.cdxindexer import write_multi_cdx_index
for coll in sorted(os.listdir('collections')):
    archive = os.path.join('collections', coll, 'archive')
    index = os.path.join('collections', coll, 'indexes', 'index.cdxj')
    if os.path.isdir(archive) and not os.path.exists(index):
        write_multi_cdx_index(index, [archive], append_post=True, cdxj=True, sort=True, recurse=True)
from pywb.apps.frontendapp import FrontEndApp
from pywb.utils.geventserver import RequestURIWSGIHandler
from gevent.pywsgi import WSGIServer
app = FrontEndApp(config_file='./config.yaml')
server = WSGIServer(('127.0.0.1', 0), app, handler_class=RequestURIWSGIHandler, log=None)
server.init_socket()
sys.stdout.write('PYWB_PORT %d\n' % server.address[1]); sys.stdout.flush()
server.serve_forever()
"""


@dataclass
class ProxiedRequest:
    method: str
    path: str  # without the query string
    query: str
    kind: str  # "cdx", "replay" or "other"
    coll: str | None
    status: int | None = None  # pywb's answer (None if pywb could not be reached)
    started: float = field(default_factory=time.monotonic)


def classify(path: str) -> tuple[str, str | None]:
    """("cdx" | "replay" | "other", collection) for a pywb request path."""
    parts = path.lstrip("/").split("/", 2)
    if len(parts) >= 2 and parts[0] not in {"static", "_"}:
        coll, rest = parts[0], parts[1]
        if rest == "cdx" and len(parts) == 2:
            return "cdx", coll
        if re.fullmatch(r"\d{1,14}([a-z]{2}_)?", rest) and len(parts) == 3:
            return "replay", coll
    return "other", None


_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
               "content-length"}


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY a kept-alive client waits ~40 ms
    # for a delayed ACK on every answer.
    disable_nagle_algorithm = True
    server: CountingProxy

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._forward()

    def do_HEAD(self) -> None:  # noqa: N802
        self._forward()

    def _forward(self) -> None:
        path, _, query = self.path.partition("?")
        kind, coll = classify(path)
        entry = ProxiedRequest(self.command, path, query, kind, coll)
        self.server._record(entry)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        conn = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        try:
            conn.request(self.command, self.path, headers=headers)
            upstream = conn.getresponse()
            body = upstream.read()  # de-chunked; Content-Encoding left as is
        except OSError as exc:
            entry.status = None
            self.send_error(502, f"pywb unreachable: {exc}")
            return
        finally:
            conn.close()
        entry.status = upstream.status
        self.send_response_only(upstream.status, upstream.reason)
        for name, value in upstream.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class CountingProxy(LoopbackServer):
    """A threaded reverse proxy on 127.0.0.1 that forwards to ``upstream_port`` and records requests."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(_ProxyHandler)
        self.upstream_port = upstream_port
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()

    def _record(self, entry: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def handle_error(self, request: Any, client_address: Any) -> None:  # client went away: no traceback
        pass


class PywbArchive:
    """``with PywbArchive(root, captures) as archive:`` a running pywb over ``captures``.

    ``captures`` is a list (one collection named ``coll``, default ``"test"``) or a dict
    collection name -> list of ``Capture``. ``config`` adds pywb config.yaml keys (e.g.
    ``{"redirect_to_exact": True}``: id_ of an inexact timestamp answers 307 to the exact one).
    ``count_requests=False`` skips the proxy (the URLs are then pywb's own and ``count`` raises).
    """

    def __init__(self, root: str | os.PathLike, captures: Sequence[Capture] | Mapping[str, Sequence[Capture]],
                 coll: str = DEFAULT_COLL, config: Mapping[str, Any] | None = None, count_requests: bool = True,
                 startup_timeout: float = 30.0) -> None:
        self.root = Path(root)
        self.collections: dict[str, list[Capture]] = (
            {name: list(caps) for name, caps in captures.items()} if isinstance(captures, Mapping)
            else {coll: list(captures)})
        self.default_coll = coll if coll in self.collections else next(iter(self.collections))
        self.config = dict(config or {})
        self.count_requests = count_requests
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.proxy: CountingProxy | None = None
        self.pywb_port: int | None = None
        self.startup_seconds: float | None = None  # measured by __enter__

    # -- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> PywbArchive:
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        build_collections(self.root, self.collections, self.config)
        try:
            self._start_pywb()
            if self.count_requests:
                self.proxy = CountingProxy(self.pywb_port).start()
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _start_pywb(self) -> None:
        env = dict(os.environ)
        env.pop("PYWB_CONFIG_FILE", None)
        env["PYTHONUNBUFFERED"] = "1"
        self.log_path = self.root / "pywb.log"
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER], cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=log)
        line = _readline_with_timeout(self.process, self.startup_timeout)
        match = re.fullmatch(rb"PYWB_PORT (\d+)\s*", line or b"")
        if not match:
            self.close()
            raise RuntimeError(f"pywb did not start (got {line!r}); its log:\n{self._log_tail()}")
        self.pywb_port = int(match.group(1))
        # the app is loaded before the socket is bound, so it answers now; check once anyway
        conn = http.client.HTTPConnection("127.0.0.1", self.pywb_port, timeout=10)
        try:
            conn.request("GET", "/static/calendar.svg")
            conn.getresponse().read()
        finally:
            conn.close()

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process is not None and process.stdout:
            process.stdout.close()

    def _log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")[-chars:]
        except OSError:
            return "(no log)"

    # -- URLs ----------------------------------------------------------------------------------------------
    @property
    def pywb_url(self) -> str:
        """pywb itself (requests here are not counted)."""
        return f"http://127.0.0.1:{self.pywb_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}" if self.proxy is not None else self.pywb_url

    def cdx_url(self, coll: str | None = None) -> str:
        """pywb's CDX server endpoint of ``coll`` (query: ``?url=...&output=json``)."""
        return f"{self.base_url}/{coll or self.default_coll}/cdx"

    def replay_template(self, coll: str | None = None) -> str:
        """Raw replay URL template: ``.../coll/{timestamp}id_/{url}``."""
        return f"{self.base_url}/{coll or self.default_coll}/{{timestamp}}id_/{{url}}"

    def replay_url(self, timestamp: str, url: str, coll: str | None = None) -> str:
        return self.replay_template(coll).format(timestamp=timestamp, url=url)

    # -- counts ----------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[ProxiedRequest]:
        if self.proxy is None:
            raise RuntimeError("request counting is off (count_requests=False)")
        with self.proxy._lock:
            return list(self.proxy.requests)

    def count(self, kind: str | None = None, coll: str | None = None) -> int:
        """How many requests of ``kind`` ("cdx", "replay", "other"; None = all) reached pywb."""
        return sum(1 for r in self.requests if (kind is None or r.kind == kind) and (coll is None or r.coll == coll))

    def counts(self) -> dict[str, int]:
        result = {"cdx": 0, "replay": 0, "other": 0}
        for r in self.requests:
            result[r.kind] += 1
        return result

    def reset_counts(self) -> None:
        if self.proxy is not None:
            with self.proxy._lock:
                self.proxy.requests.clear()

    # -- convenience -----------------------------------------------------------------------------------------
    def get(self, path_or_url: str, counted: bool = False) -> tuple[int, dict[str, str], bytes]:
        """A raw GET against pywb (not counted unless ``counted``), redirects not followed."""
        base = self.base_url if counted else self.pywb_url
        if path_or_url.startswith("http://127.0.0.1:"):
            path_or_url = "/" + path_or_url.split("/", 3)[3]
        conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=30)
        try:
            conn.request("GET", path_or_url)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def cdx_lines(self, url: str, coll: str | None = None, **params: str) -> list[dict[str, str]]:
        """pywb's CDX JSON lines for ``url`` (uncounted), parsed."""
        from urllib.parse import urlencode

        query = urlencode({"url": url, "output": "json", **params})
        status, _, body = self.get(f"/{coll or self.default_coll}/cdx?{query}")
        if status != 200:
            raise RuntimeError(f"CDX query failed: {status} {body[:200]!r}")
        return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]


def _readline_with_timeout(process: subprocess.Popen, timeout: float) -> bytes | None:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else None
