"""A fake web.archive.org for one policy URL, on the conftest ``http_server``.

    from ia_fake import ACME_URL, acme_captures, install_fake_ia, ia_fixture

    def test_import(http_server):
        fake = install_fake_ia(http_server, acme_captures())
        fake.fail_cdx(ia_fixture("rate-limited-429"), ia_fixture("unavailable-503"))  # then real answers
        ...  # run policywatch with cdx_url=fake.cdx_url, replay template=fake.replay_template
        assert fake.count("cdx") == 3 and fake.count("replay") == 4
        assert fake.cdx_params()[-1]["output"] == ["json"]

``/cdx/search/cdx`` answers like the Internet Archive's CDX server (wayback-cdx-server): ``url``
(exact, or prefix with a trailing ``*`` / ``matchType=prefix``), ``output=json`` (array of arrays
with a header row) or text (space-separated lines), ``fl`` (IA field names), ``from``/``to``
(1-14 digits, inclusive), ``limit`` (N first, -N last), ``filter=[!]field:regex`` (repeatable,
whole-value match), ``collapse=field[:N]`` (adjacent duplicates), ``showResumeKey=true`` +
``resumeKey`` (key after a ``[]`` row in JSON, after a blank line in text), ``gzip=false``.
Every CDX row and body is generated from ``Capture`` objects (tests/pywb_harness.py), so one
scenario can run against both this fake and a real pywb.

``/web/{timestamp}id_/{url}`` replays each capture: its status, body and Content-Type, the
other original headers as ``X-Archive-Orig-*``, ``Memento-Datetime``, and for a 3xx capture a
``Location`` rewritten into the archive (``{base}/web/{same timestamp}id_/{absolute target}``),
as IA does. ``add_nearest(ts)`` adds IA's answer for a timestamp that has no capture: ``302``
without ``Memento-Datetime``, ``Location: {base}/web/{closest}id_/{url}`` and
``X-Archive-Redirect-Reason: found capture at {closest}``. Other paths get conftest's 404.

Scripted answers (``fail_cdx`` / ``fail_replay``) are served in turn before the normal ones.
Requests are counted from the server's own log: ``fake.count("cdx" | "replay")``.

The byte formats are those of tests/fixtures/ia/ (see its README.md for the sources), and
``python tests/ia_fake.py`` rewrites those fixture files from ``acme_captures()``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gzip as _gzip
import hashlib
import json
import re
import threading
import zlib
from collections.abc import Iterable, Sequence
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, unquote_plus, urljoin, urlsplit

from pywb_harness import Capture

__all__ = ["ACME_URL", "FIXTURES", "IA_FIELDS", "FakeWayback", "acme_captures", "cdx_digest", "cdx_row",
           "format_cdx_json", "format_cdx_text", "ia_fixture", "install_fake_ia", "make_resume_key",
           "parse_resume_key", "surt"]

FIXTURES = Path(__file__).parent / "fixtures" / "ia"
IA_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
CDX_PATH = "/cdx/search/cdx"
ACME_URL = "https://acme.example/privacy"

# Content types of the real CDX server: text from a recorded answer (2023, edgi-govdata-archiving/
# wayback cassettes), JSON from wayback-cdx-server's JsonWriter.
TEXT_TYPE = "text/plain;charset=UTF-8"
JSON_TYPE = "application/json"
IA_HEADERS = {"Server": "nginx", "X-location": "cdx"}


# -- sample data -------------------------------------------------------------------------------------------

def _policy(version: str, extra: str = "") -> str:
    return ("<!DOCTYPE html><html><head><title>Privacy Policy - Acme</title></head><body><main>"
            f"<h1>Privacy Policy</h1><p>Version {version}.</p><p>We collect your name and e-mail.</p>{extra}"
            "</main></body></html>")


def acme_captures() -> list[Capture]:
    """Six captures of ACME_URL: a duplicate digest, a 301 (http -> https), a revisit."""
    v1 = _policy("1")
    v2 = _policy("2", "<p>We share data with advertisers.</p>")
    v3 = _policy("3", "<p>We share data with advertisers and insurers.</p>")
    return [
        Capture(ACME_URL, "20190312084502", v1),
        Capture(ACME_URL, "20200105110233", v1),
        Capture.redirect("http://acme.example/privacy", "20200618093012", ACME_URL, status=301),
        Capture(ACME_URL, "20210220140511", v2),
        Capture(ACME_URL, "20210901000000", v2, revisit=True),
        Capture(ACME_URL, "20220410171544", v3),
    ]


# -- CDX formats ---------------------------------------------------------------------------------------------

def surt(url: str) -> str:
    """IA-style SURT url key: no scheme, no www., default port and trailing slash dropped, host
    reversed with commas, lower case, query parameters sorted ("example,acme)/privacy")."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "").lower()
    host = re.sub(r"^www\d*\.", "", host)
    port = parts.port
    if port and not ((parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path.lower() or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    key = ",".join(reversed(host.split("."))) + ")" + path
    if parts.query:
        key += "?" + "&".join(sorted(parts.query.lower().split("&")))
    return key


def cdx_digest(payload: bytes) -> str:
    """The CDX ``digest``: base32 SHA-1 of the HTTP payload."""
    return base64.b32encode(hashlib.sha1(payload).digest()).decode("ascii")


def cdx_row(capture: Capture) -> dict[str, str]:
    """The public CDX fields of ``capture`` (``length`` stands in for the compressed WARC record size)."""
    payload = capture.payload
    mime = (capture.content_type or "unk").split(";")[0].strip().lower()
    return {
        "urlkey": surt(capture.url),
        "timestamp": capture.timestamp,
        "original": capture.url,
        "mimetype": "warc/revisit" if capture.revisit else mime,
        "statuscode": "-" if capture.revisit else str(capture.status),
        "digest": cdx_digest(payload),
        "length": str((160 if capture.revisit else len(zlib.compress(payload, 9))) + 380),
    }


def _java_escape(value: str) -> str:
    return json.dumps(value)[1:-1]  # like StringEscapeUtils.escapeJava for these values


def format_cdx_json(rows: Sequence[Sequence[str]], fields: Sequence[str] = IA_FIELDS,
                    resume_key: str | None = None) -> bytes:
    """output=json exactly as wayback-cdx-server's JsonWriter prints it: ``[`` + the header row
    (no spaces) before the first row, rows joined with ``,\\n`` (fields joined with ``", "``), then
    ``,\\n[],\\n["<key>"]`` when a resume key follows, then ``]\\n``. No rows: ``[]\\n``."""
    out = "["
    for index, row in enumerate(rows):
        if index == 0:
            out += "[" + ",".join(f'"{name}"' for name in fields) + "],\n"
        else:
            out += ",\n"
        out += '["' + '", "'.join(_java_escape(v) for v in row) + '"]'
    if resume_key is not None:
        out += ',\n[],\n["' + resume_key + '"]'
    return (out + "]\n").encode("utf-8")


def format_cdx_text(rows: Sequence[Sequence[str]], resume_key: str | None = None) -> bytes:
    """Plain text output: one space-separated line per capture; a blank line and the resume key."""
    out = "".join(" ".join(row) + "\n" for row in rows)
    if resume_key is not None:
        out += "\n" + resume_key + "\n"
    return out.encode("utf-8")


def make_resume_key(urlkey: str, timestamp: str) -> str:
    """The key IA prints after a page: url-encoded ``"<urlkey> <last timestamp + 1 s>"``."""
    following = _dt.datetime.strptime(timestamp, "%Y%m%d%H%M%S") + _dt.timedelta(seconds=1)
    return quote_plus(f"{urlkey} {following:%Y%m%d%H%M%S}")


def parse_resume_key(key: str) -> tuple[str, str]:
    urlkey, _, timestamp = unquote_plus(key).rstrip("!").rpartition(" ")
    return urlkey, timestamp


def _pad(timestamp: str, up: bool) -> str:
    digits = re.sub(r"\D", "", timestamp)[:14]
    if up:
        upper = "99991231235959"
        padded = digits + upper[len(digits):]
        # clamp impossible dates like 20210231 the simple way: compare as strings is enough here
        return padded
    return digits + "00000101000000"[len(digits):]


# -- fixtures ------------------------------------------------------------------------------------------------

def ia_fixture(name: str) -> dict[str, Any]:
    """A recorded-format IA answer from tests/fixtures/ia/manifest.json as conftest Response fields
    (``status``, ``body`` bytes, ``content_type``, ``headers``); usable in ``server.route`` or
    ``fake.fail_cdx``."""
    manifest = json.loads((FIXTURES / "manifest.json").read_text("utf-8"))
    entry = manifest[name]
    headers = dict(entry.get("headers", {}))
    content_type = headers.pop("Content-Type", None)
    return {"status": entry["status"], "body": (FIXTURES / entry["file"]).read_bytes(),
            "content_type": content_type, "headers": headers}


# -- the fake ----------------------------------------------------------------------------------------------------

class FakeWayback:
    """Routes on a conftest TestServer that behave like web.archive.org (see the module docstring)."""

    def __init__(self, server: Any, captures: Iterable[Capture], *, gzip: bool = True,
                 max_rows: int = 150000) -> None:
        self.server = server
        self.captures = sorted(captures, key=lambda c: (surt(c.url), c.timestamp))
        self.gzip = gzip  # gzip CDX answers when the client accepts it, unless gzip=false (as IA)
        self.max_rows = max_rows  # IA's server-side cap on one CDX answer
        self._scripts: dict[str, list[Any]] = {"cdx": [], "replay": []}
        self._lock = threading.Lock()
        self._replay_routes: dict[str, list[Capture]] = {}
        self.install()

    # -- set up ------------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.server.url("")

    @property
    def cdx_url(self) -> str:
        return self.server.url(CDX_PATH)

    @property
    def replay_template(self) -> str:
        return self.server.url("/web/{timestamp}id_/{url}")

    def replay_url(self, timestamp: str, url: str) -> str:
        return self.replay_template.format(timestamp=timestamp, url=url)

    def install(self) -> None:
        self.server.route(CDX_PATH, self._cdx)
        for capture in self.captures:
            self._add_replay(capture.timestamp, capture)

    def _add_replay(self, timestamp: str, capture: Capture) -> None:
        path = "/web/" + timestamp + "id_/" + capture.url.split("?", 1)[0]
        with self._lock:
            known = self._replay_routes.setdefault(path, [])
            known.append(capture)
        self.server.route(path, lambda request, path=path: self._replay(request, path))

    def add_nearest(self, timestamp: str, url: str = ACME_URL) -> str:
        """Make ``/web/{timestamp}id_/{url}`` answer IA's redirect to the closest capture of ``url``
        (captures redirecting to the same url key do not count); returns that capture's timestamp."""
        # like the Wayback Machine, skip self-redirects (http -> https of the same url key)
        candidates = [c for c in self.captures if surt(c.url) == surt(url) and not (
            300 <= c.status < 400 and surt(urljoin(c.url, dict(c.headers).get("Location", ""))) == surt(url))]
        if not candidates:
            raise ValueError(f"no capture of {url}")
        wanted = _dt.datetime.strptime(_pad(timestamp, up=False), "%Y%m%d%H%M%S")
        closest = min(candidates, key=lambda c: abs((c.datetime.replace(tzinfo=None) - wanted).total_seconds()))
        location = self.replay_url(closest.timestamp, url)
        path = "/web/" + timestamp + "id_/" + url.split("?", 1)[0]
        self.server.route(path, lambda request: self._scripted("replay") or {
            "status": 302, "body": b"", "content_type": "text/plain; charset=utf-8",
            "headers": {"Location": location, "X-Archive-Redirect-Reason": f"found capture at {closest.timestamp}",
                        **IA_HEADERS}})
        return closest.timestamp

    def fail_cdx(self, *responses: Any) -> None:
        """Serve these (Response, dict of its fields, or ia_fixture(...)) to the next CDX requests, in turn."""
        with self._lock:
            self._scripts["cdx"].extend(responses)

    def fail_replay(self, *responses: Any) -> None:
        with self._lock:
            self._scripts["replay"].extend(responses)

    def _scripted(self, kind: str) -> Any:
        with self._lock:
            return self._scripts[kind].pop(0) if self._scripts[kind] else None

    # -- inspection --------------------------------------------------------------------------------------------
    def requests(self, kind: str | None = None) -> list[Any]:
        """conftest Request objects that reached the fake: kind "cdx", "replay" or None (both)."""
        with self.server._lock:
            seen = list(self.server.requests)
        return [r for r in seen if (kind in (None, "cdx") and r.path == CDX_PATH)
                or (kind in (None, "replay") and r.path.startswith("/web/"))]

    def count(self, kind: str | None = None) -> int:
        return len(self.requests(kind))

    def cdx_params(self) -> list[dict[str, list[str]]]:
        """The parsed query of every CDX request so far, in order."""
        return [parse_qs(r.query, keep_blank_values=True) for r in self.requests("cdx")]

    # -- CDX ----------------------------------------------------------------------------------------------------
    def _cdx(self, request: Any) -> Any:
        scripted = self._scripted("cdx")
        if scripted is not None:
            return scripted
        params = parse_qs(request.query, keep_blank_values=True)

        def first(name: str, default: str | None = None) -> str | None:
            return params.get(name, [default])[0]

        url = first("url")
        if not url:
            return self._text(400, b"org.archive.util.io.RuntimeIOException: url param is required\n")
        prefix = url.endswith("*") or first("matchType") == "prefix"
        key = surt(url.rstrip("*"))
        rows = [cdx_row(c) for c in self.captures]
        rows = [r for r in rows if (r["urlkey"].startswith(key) if prefix else r["urlkey"] == key)]
        if first("from"):
            low = _pad(first("from"), up=False)
            rows = [r for r in rows if r["timestamp"] >= low]
        if first("to"):
            high = _pad(first("to"), up=True)
            rows = [r for r in rows if r["timestamp"] <= high]
        for spec in params.get("filter", []):
            invert = spec.startswith("!")
            name, _, pattern = spec.lstrip("!").partition(":")
            if name not in IA_FIELDS:
                return self._text(400, f"Invalid filter field: {name}\n".encode())
            regex = re.compile(pattern)
            rows = [r for r in rows if bool(regex.fullmatch(r[name])) != invert]
        for spec in params.get("collapse", []):
            name, _, width = spec.partition(":")
            last, kept = None, []
            for r in rows:
                token = r.get(name, "")[:int(width)] if width else r.get(name, "")
                if token != last:
                    kept.append(r)
                last = token
            rows = kept
        resume = first("resumeKey")
        if resume:
            resume_at = parse_resume_key(resume)
            rows = [r for r in rows if (r["urlkey"], r["timestamp"]) >= resume_at]
        limit = int(first("limit", "0") or 0)
        next_key = None
        if limit < 0:
            rows = rows[limit:]
        else:
            cap = min(limit, self.max_rows) if limit else self.max_rows
            if len(rows) > cap:
                rows = rows[:cap]
                if (first("showResumeKey") or "").lower() == "true":
                    next_key = make_resume_key(rows[-1]["urlkey"], rows[-1]["timestamp"])
        fields = [f for f in (first("fl") or "").split(",") if f] or list(IA_FIELDS)
        unknown = [f for f in fields if f not in IA_FIELDS]
        if unknown:
            return self._text(400, f"Invalid field: {unknown[0]}\n".encode())
        table = [[r[f] for f in fields] for r in rows]
        if first("output") == "json":
            body, content_type = format_cdx_json(table, fields, next_key), JSON_TYPE
        else:
            body, content_type = format_cdx_text(table, next_key), TEXT_TYPE
        headers = dict(IA_HEADERS)
        accepts_gzip = "gzip" in (request.header("Accept-Encoding") or "")
        if self.gzip and accepts_gzip and (first("gzip") or "").lower() != "false":
            body = _gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return {"status": 200, "body": body, "content_type": content_type, "headers": headers}

    @staticmethod
    def _text(status: int, body: bytes) -> dict[str, Any]:
        return {"status": status, "body": body, "content_type": TEXT_TYPE, "headers": dict(IA_HEADERS)}

    # -- replay ---------------------------------------------------------------------------------------------------
    def _replay(self, request: Any, path: str) -> Any:
        scripted = self._scripted("replay")
        if scripted is not None:
            return scripted
        with self._lock:
            candidates = list(self._replay_routes.get(path, []))
        query = request.query
        capture = next((c for c in candidates if c.url.partition("?")[2] == query), None)
        if capture is None:
            return {"status": 404, "body": "<html><body><p>Hrm. The Wayback Machine has not archived that URL."
                                           "</p></body></html>"}
        headers: dict[str, str] = {
            "Memento-Datetime": formatdate(capture.datetime.timestamp(), usegmt=True),
            "Link": f'<{capture.url}>; rel="original", <{self.base_url}/web/{capture.timestamp}/{capture.url}>; '
                    f'rel="memento"; datetime="{formatdate(capture.datetime.timestamp(), usegmt=True)}"',
            "X-Archive-Src": "fake-ia/ACME-" + capture.timestamp + ".warc.gz",
            **IA_HEADERS,
        }
        content_type = capture.content_type
        for name, value in capture.http_header_list():
            lower = name.lower()
            if lower == "content-type":
                continue
            if lower == "location":
                target = urljoin(capture.url, value)
                headers["Location"] = self.replay_url(capture.timestamp, target)
                continue
            headers["X-Archive-Orig-" + name] = value
        return {"status": capture.status, "body": capture.payload, "content_type": content_type,
                "headers": headers}


def install_fake_ia(server: Any, captures: Iterable[Capture] | None = None, **options: Any) -> FakeWayback:
    """Install the fake on ``server`` (conftest's ``http_server``); default captures: ``acme_captures()``."""
    return FakeWayback(server, acme_captures() if captures is None else captures, **options)


# -- (re)writing the fixture files -------------------------------------------------------------------------------

def _fixture_bodies() -> dict[str, bytes]:
    rows = [cdx_row(c) for c in acme_captures()]
    table = [[r[f] for f in IA_FIELDS] for r in rows]
    key = make_resume_key(rows[2]["urlkey"], rows[2]["timestamp"])
    full_json = format_cdx_json(table)
    return {
        "cdx.json": full_json,
        "cdx-page1.json": format_cdx_json(table[:3], resume_key=key),
        "cdx-page2.json": format_cdx_json(table[3:]),
        "cdx.txt": format_cdx_text(table),
        "cdx-page1.txt": format_cdx_text(table[:3], resume_key=key),
        "cdx-page2.txt": format_cdx_text(table[3:]),
        "cdx-empty.json": format_cdx_json([]),
        "cdx-empty.txt": b"",
        "cdx-truncated.json": full_json[:int(len(full_json) * 0.6)],
    }


def write_fixtures(directory: Path = FIXTURES) -> list[Path]:
    """Rewrite the generated CDX fixtures (the error pages and manifest are kept as written)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in _fixture_bodies().items():
        (directory / name).write_bytes(body)
        written.append(directory / name)
    return written


if __name__ == "__main__":  # python tests/ia_fake.py  (from the repository root)
    for path in write_fixtures():
        print(path)
