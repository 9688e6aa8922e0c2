"""The archive stage (docs/architecture.md): list and replay a page's captures in the Wayback Machine
or any pywb archive.

Two requests kinds, both through the polite ``Fetcher`` (timeout, checked status, retry budget,
Retry-After) plus a rate limiter shared by every request to the archive:

- the CDX listing (``/cdx/search/cdx`` at the Internet Archive, ``/{collection}/cdx`` in pywb),
  paged with resume keys, in any of the three answer shapes: the Internet Archive's JSON array of
  arrays with a header row, pywb's JSON lines, and the plain space-separated text format;
- the raw replay (``/web/{timestamp}id_/{url}``, ``/{collection}/{timestamp}id_/{url}``), which
  returns the page as it was captured, without the archive's toolbar or rewritten links.

waybackpy's ``WaybackMachineCDXServerAPI`` serves for building the query (repeated ``filter``
parameters) and checking filters, but not for sending it: its requests carry no timeout, retry
only 5xx on https (not 429, and not at all on a plain-http pywb), do not check the status, and
read only the text format. So requests go through ``Fetcher`` and answers are parsed here.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

from waybackpy.cdx_utils import check_filters, full_url

from policywatch.errors import PolicywatchError, UsageError
from policywatch.fetch import Fetcher, FetchResult

IA_CDX_URL = "https://web.archive.org/cdx/search/cdx"
IA_REPLAY_URL = "https://web.archive.org/web/{timestamp}id_/{url}"
DEFAULT_RATE = 20.0  # requests a minute: what the Internet Archive asks of API clients
PAGE_SIZE = 5000  # CDX rows a page; the Internet Archive answers in seconds up to ~10,000
REFUSAL_STATUSES = {429, 503}
MAX_ARCHIVE_REDIRECTS = 3
IA_FIELDS = ("urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length")
FIELD_ALIASES = {"url": "original", "mime": "mimetype", "status": "statuscode"}  # pywb's names → IA's


class ArchiveError(PolicywatchError):
    """The archive cannot be used right now (unreachable, or it answered something unreadable)."""


class ArchiveStopped(ArchiveError):
    """The archive as a whole cannot be used now: the run stops, keeps what was fetched, and a later
    run resumes. Asking again for the next policy would only wait out the same retries."""


class ArchiveRefused(ArchiveStopped):
    """The archive keeps refusing (429/503)."""


class ArchiveUnreachable(ArchiveStopped):
    """No connection to the archive could be made (refused, its name unknown, no route, no answer to
    connect), retries included. A slow answer or an error answer may be one URL's (a heavily captured
    page's listing): those fail their policy only (history_import.FAILING_POLICIES)."""


@dataclass(frozen=True)
class Capture:
    """One row of a CDX listing."""

    timestamp: str  # 14 digits, UTC: 20190612083015
    original: str
    mimetype: str | None = None
    status: int | None = None
    digest: str | None = None
    length: int | None = None

    @property
    def captured_at(self) -> str:
        # A shorter timestamp (some archives list "201906") is the start of what it names: not day 00.
        t = self.timestamp + "0101000000"[len(self.timestamp) - 4:]
        return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"

    @property
    def is_html(self) -> bool:
        # "warc/revisit" rows and unknown types are kept: the replay's Content-Type decides.
        return not self.mimetype or self.mimetype in ("unk", "-", "warc/revisit") or "html" in self.mimetype


@dataclass
class CdxPage:
    captures: list[Capture]
    resume_key: str | None = None


class CdxShapeError(ArchiveError):
    """A complete CDX answer that is not a list of captures: asking again will not help."""


def parse_cdx(body: str, source: str = "CDX") -> CdxPage:
    """Read a CDX answer in any of its three shapes; raise ArchiveError if it is cut off or garbled."""
    text = body.strip()
    if not text:
        return CdxPage([])
    if text.startswith("["):
        page = _parse_json_array(text, source)
    else:
        lines = text.splitlines()
        page = _parse_json_lines(lines, source) if lines[0].lstrip().startswith("{") else _parse_plain(lines, source)
    for number, capture in enumerate(page.captures, 1):
        # An error object or another shape of JSON is not "no captures": it is an answer we cannot read.
        if not (capture.timestamp.isdigit() and 4 <= len(capture.timestamp) <= 14):
            raise CdxShapeError(f"{source}: CDX answer is not a list of captures (row {number} has no "
                               f"timestamp: {body.strip()[:80]!r})")
        try:
            datetime.strptime(capture.captured_at, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise CdxShapeError(f"{source}: CDX row {number} has an impossible timestamp "
                                f"{capture.timestamp!r}") from None
    return page


def _parse_json_array(text: str, source: str) -> CdxPage:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArchiveError(f"{source}: CDX answer is not complete JSON ({exc.msg} at character {exc.pos}); "
                           "it was probably cut off") from None
    if not isinstance(rows, list) or any(not isinstance(row, list) for row in rows):
        raise ArchiveError(f"{source}: CDX JSON is not an array of arrays")
    resume_key = None
    # With showResumeKey the Internet Archive ends the array with [] and then [resume key].
    if len(rows) >= 2 and rows[-2] == [] and len(rows[-1]) == 1:
        resume_key = str(rows[-1][0])
        rows = rows[:-2]
    rows = [row for row in rows if row]
    if not rows:
        return CdxPage([], resume_key)
    header = [FIELD_ALIASES.get(str(name), str(name)) for name in rows[0]]
    if "timestamp" not in header:
        header, data = list(IA_FIELDS), rows  # an answer to fl= without a header row
    else:
        data = rows[1:]
    return CdxPage([_capture(dict(zip(header, row, strict=False))) for row in data], resume_key)


def _parse_json_lines(lines: list[str], source: str) -> CdxPage:
    captures = []
    resume_key = None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("{"):
            resume_key = line  # pywb never sends one, but a proxy in front of IA might
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise ArchiveError(f"{source}: CDX line {number} is not complete JSON; the answer was probably "
                               "cut off") from None
        captures.append(_capture({FIELD_ALIASES.get(k, k): v for k, v in row.items()}))
    return CdxPage(captures, resume_key)


def _parse_plain(lines: list[str], source: str) -> CdxPage:
    resume_key = None
    # The resume key is the last line, after a blank one.
    if len(lines) >= 2 and not lines[-2].strip() and len(lines[-1].split()) == 1:
        resume_key = lines[-1].strip()
        lines = lines[:-2]
    captures = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 3 or not fields[1].isdigit():
            raise ArchiveError(f"{source}: CDX line {number} is not a capture: {line[:80]!r}")
        captures.append(_capture(dict(zip(IA_FIELDS, fields, strict=False))))
    return CdxPage(captures, resume_key)


def _capture(row: dict) -> Capture:
    def number(value) -> int | None:
        return int(value) if str(value).isdigit() else None

    return Capture(timestamp=str(row.get("timestamp", "")), original=str(row.get("original") or ""),
                   mimetype=row.get("mimetype") or None, status=number(row.get("statuscode")),
                   digest=row.get("digest") if row.get("digest") not in (None, "", "-") else None,
                   length=number(row.get("length")))


class RateLimiter:
    """At most ``per_minute`` requests a minute, evenly spaced; shared by threads. 0 = no limit."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.next_slot = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = self.clock()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


@dataclass(frozen=True)
class Archive:
    """Where to list captures (a CDX endpoint) and replay them (a template with {timestamp} and {url})."""

    cdx_url: str = IA_CDX_URL
    replay_template: str = IA_REPLAY_URL

    @classmethod
    def configured(cls, cdx_url: str | None = None, replay_url: str | None = None) -> Archive:
        """From options, then POLICYWATCH_CDX_URL / POLICYWATCH_REPLAY_URL, then the Internet Archive.

        Given only a pywb CDX URL (``http://host/coll/cdx``), the replay template is derived from it.
        """
        cdx = cdx_url or os.environ.get("POLICYWATCH_CDX_URL") or IA_CDX_URL
        replay = replay_url or os.environ.get("POLICYWATCH_REPLAY_URL")
        return cls._checked(cdx, replay)

    @classmethod
    def of_capture(cls, cdx_url: str) -> Archive:
        """The archive a stored capture came from (its CDX URL): the configured one when it is that
        archive (its replay URL included), else what the CDX URL's shape tells."""
        configured = os.environ.get("POLICYWATCH_CDX_URL") or IA_CDX_URL
        if cdx_url == configured:
            return cls.configured()
        return cls._checked(cdx_url, None)

    @classmethod
    def _checked(cls, cdx: str, replay: str | None) -> Archive:
        if not replay:
            if cdx == IA_CDX_URL or urlsplit(cdx).path.rstrip("/").endswith("/cdx/search/cdx"):
                root = cdx.rstrip("/")[: -len("/cdx/search/cdx")]
                replay = root + "/web/{timestamp}id_/{url}"
            elif cdx.rstrip("/").endswith("/cdx"):
                replay = cdx.rstrip("/")[: -len("/cdx")] + "/{timestamp}id_/{url}"
            else:
                raise UsageError(f"cannot tell the replay URL for CDX endpoint {cdx}; give --replay-url "
                                 "(a template with {timestamp} and {url})")
        for name, value in (("--cdx-url", cdx), ("--replay-url", replay)):
            if urlsplit(value).scheme not in ("http", "https"):
                raise UsageError(f"{name} must be an http(s) URL, not {value!r}")
        if "{timestamp}" not in replay or "{url}" not in replay:
            raise UsageError(f"--replay-url must contain {{timestamp}} and {{url}}: {replay}")
        return cls(cdx, replay)

    @property
    def host(self) -> str:
        return urlsplit(self.cdx_url).netloc

    @property
    def is_internet_archive(self) -> bool:
        return self.host.endswith("archive.org")

    def replay_url(self, capture: Capture) -> str:
        return self.replay_template.format(timestamp=capture.timestamp, url=capture.original)

    def copy_url(self, url: str, timestamp: str) -> str:
        """Where people see a capture: the archive's normal replay (its banner, its links), not the raw ``id_``."""
        stamp = "".join(ch for ch in timestamp if ch.isdigit())[:14]
        return self.replay_template.replace("id_/", "/").format(timestamp=stamp, url=url)


class ArchiveClient:
    """Lists and replays captures of one archive, politely. ``requests`` counts what was sent."""

    def __init__(self, archive: Archive | None = None, *, rate: float = DEFAULT_RATE, fetcher: Fetcher | None = None,
                 timeout: float = 60.0, retries: int = 4, backoff: float = 4.0,
                 sleep: Callable[[float], None] = time.sleep):
        from policywatch import __version__

        self.archive = archive or Archive.configured()  # POLICYWATCH_CDX_URL / _REPLAY_URL, as the CLI
        self.limiter = RateLimiter(rate, sleep=sleep)
        self.fetcher = fetcher or Fetcher(user_agent=f"policywatch/{__version__} (history import)", sleep=sleep)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.requests: Counter[str] = Counter()  # "cdx" / "replay" → requests sent, retries included

    def close(self) -> None:
        self.fetcher.close()

    def _get(self, url: str, kind: str, max_bytes: int = 50 * 1024 * 1024) -> FetchResult:
        def pace() -> None:
            self.limiter.wait()
            self.requests[kind] += 1

        return self.fetcher.fetch(url, timeout=self.timeout, retries=self.retries, backoff=self.backoff,
                                  max_bytes=max_bytes, pace=pace, follow_redirects=False)

    def _raise_if_refused(self, result: FetchResult, what: str) -> None:
        if result.status in REFUSAL_STATUSES or result.error_class == "rate_limited":
            raise ArchiveRefused(f"{self.archive.host} refused {what} ({result.error}); stopped after "
                                 f"{result.attempts} attempt(s) — run backfill again later to resume")

    def list_captures(self, url: str, since: str | None = None, until: str | None = None,
                      page_size: int = PAGE_SIZE) -> list[Capture]:
        """Every status-200 HTML capture of ``url`` in time order (``since``/``until``: 1-14 digit stamps)."""
        # Not "statuscode:200": that would drop revisit rows (status "-"), which is how an archive
        # records a return to bytes it holds already — a reverted change would go unseen. The
        # negated regex trims 3xx-5xx rows at the Internet Archive; pywb reads it as a substring
        # that never occurs, so there it lets everything through, and rows are checked below.
        filters = ["!statuscode:[345].."]
        check_filters(filters)
        params: dict[str, str] = {"url": url, "output": "json"}
        if since:
            params["from"] = since
        if until:
            params["to"] = until
        for number, value in enumerate(filters):
            params[f"filter{number}"] = value  # full_url() turns filter0, filter1… into repeated filter=
        if self.archive.is_internet_archive or "/cdx/search" in self.archive.cdx_url:
            params.update({"limit": str(page_size), "showResumeKey": "true"})
        captures: list[Capture] = []
        seen_keys: set[str] = set()
        while True:
            page = self._list_page(full_url(self.archive.cdx_url, params))
            if page is None:
                break
            captures.extend(page.captures)
            if not page.resume_key or page.resume_key in seen_keys:
                break
            seen_keys.add(page.resume_key)
            params["resumeKey"] = page.resume_key
        wanted = {}
        for capture in captures:
            if (capture.status in (200, None)) and capture.is_html and capture.timestamp.isdigit():
                wanted.setdefault(capture.timestamp, capture)
        return [wanted[t] for t in sorted(wanted)]

    def _list_page(self, request_url: str) -> CdxPage | None:
        """One CDX page; an answer cut off mid-way is asked for again, within the retry budget."""
        attempt = 0
        while True:
            attempt += 1
            result = self._get(request_url, "cdx")
            self._raise_if_refused(result, "the capture listing")
            if not result.ok:
                if result.status == 404:
                    return None  # pywb: no captures of this URL in the collection
                if result.connect_failed:
                    raise ArchiveUnreachable(f"{self.archive.host} is not answering ({result.error}); stopped "
                                             f"after {result.attempts} attempt(s) — run backfill again later to "
                                             "resume")
                raise ArchiveError(f"capture listing from {self.archive.host} failed: {result.error}")
            try:
                return parse_cdx(result.text or "", f"CDX answer from {self.archive.host}")
            except CdxShapeError:
                raise
            except ArchiveError:  # cut off on the way: ask again
                if attempt > self.retries:
                    raise
                self.fetcher.sleep(self.backoff * 2 ** (attempt - 1))

    def replay(self, capture: Capture, max_bytes: int = 10 * 1024 * 1024) -> FetchResult:
        """The capture's raw bytes. Refusals raise ArchiveRefused; other failures are in the result.

        Redirects are followed only inside the archive and only to a copy of the same page (the
        Internet Archive sends a replay to the nearest timestamp that way). A redirect capture's
        Location is the live web's (pywb) or another page's copy: it is skipped, never followed.
        """
        url = self.archive.replay_url(capture)
        archive_host = urlsplit(url).netloc
        for _ in range(MAX_ARCHIVE_REDIRECTS + 1):
            result = self._get(url, "replay", max_bytes)
            self._raise_if_refused(result, f"the replay of {capture.timestamp}")
            if result.error_class != "redirect":
                return result
            target = urljoin(url, result.location or "")
            original = _original_of(target)
            if (urlsplit(target).netloc != archive_host or original is None
                    or _page_key(original) != _page_key(capture.original)):
                result.error_class = "redirected"
                result.error = f"capture {capture.timestamp} redirects to {result.location}"
                return result
            url = target
        result.error_class, result.error = "redirect_loop", f"capture {capture.timestamp}: too many redirects"
        return result


_REPLAY_PATH = re.compile(r"/(\d{4,14})(?:[a-z]{2}_)?/(.+)$")


def _original_of(replay_url: str) -> str | None:
    match = _REPLAY_PATH.search(replay_url)
    return match.group(2) if match else None


def _page_key(url: str) -> str:
    """Compare page URLs the way archives do: no scheme, no www., no trailing slash."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "").removeprefix("www.")
    return host + parts.path.rstrip("/") + ("?" + parts.query if parts.query else "")


# Archive noise that survives a raw replay (or comes with a non-raw one): the Wayback toolbar,
# pywb's banner and scripts, and archive-rewritten URLs written out in the text.
_TOOLBAR = re.compile(r"<!--\s*BEGIN WAYBACK TOOLBAR INSERT\s*-->.*?<!--\s*END WAYBACK TOOLBAR INSERT\s*-->",
                      re.S | re.I)
_ARCHIVE_IDS = re.compile(
    r"<(div|iframe|script|style|link)\b[^>]*\bid=[\"']?(?:wm-ipp[\w-]*|donato|_wb_frame_top_banner|"
    r"_wb_plain_banner|wb_header|playback)\b[^>]*>.*?</\1>", re.S | re.I)
_REWRITTEN = re.compile(r"(?:https?:)?(?://[\w.:-]+)?/(?:web|[\w.-]+)/\d{8,14}(?:[a-z]{2}_)?/(?=(?:https?:)?//)",
                        re.I)


def strip_archive_noise(html: str) -> str:
    """Remove what an archive adds to a page, so an archived copy reads like the live one."""
    html = _TOOLBAR.sub("", html)
    html = _ARCHIVE_IDS.sub("", html)
    return _REWRITTEN.sub("", html)


def stamp(when: str | None) -> str | None:
    """'2019', '2019-06', '2019-06-01', an ISO time or 'now' → a CDX timestamp bound (4–14 digits).

    A partial stamp covers its whole period: ``to=2019`` includes every capture of 2019.
    """
    if not when:
        return None
    text = when.strip()
    if text.lower() in ("now", "today", "latest"):
        return None
    if re.fullmatch(r"\d{4,14}", text):
        return text
    if re.fullmatch(r"\d{4}-\d{2}(?:-\d{2})?", text):
        try:  # a real month and day: "2019-13" would be sent to the archive as it is
            datetime.strptime(text, "%Y-%m-%d" if text.count("-") == 2 else "%Y-%m")
        except ValueError:
            raise UsageError(f"cannot read the date '{when}' (use YYYY, YYYY-MM, YYYY-MM-DD or an ISO time)") from None
        return text.replace("-", "")
    from dateutil import parser as dateparser

    try:
        moment = dateparser.isoparse(text)
    except ValueError:
        raise UsageError(f"cannot read the date '{when}' (use YYYY, YYYY-MM, YYYY-MM-DD or an ISO time)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y%m%d%H%M%S")
