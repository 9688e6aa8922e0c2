"""The backfill run: import a policy's history from a web archive (library form of ``policywatch backfill``).

For each policy: list its captures (status 200, HTML), drop those whose digest equals the previous
one (same bytes), then replay, normalize and store captures — every one of them with
``strategy="all"``, or only as many as it takes to locate the change points with
``strategy="changes"`` — and finally merge what was found into the policy's timeline.

``changes`` bisects the capture list on normalized-text hashes: a stretch whose two ends show the
same text is taken to hold that text throughout once it is at most ``probe_every`` captures long,
and is split again otherwise. So any text that stayed in effect for ``probe_every`` captures or more
is found, a change later reverted included, and every change is pinned to the first capture that
shows it.

Every capture looked at is recorded (table ``captures``) in the same transaction as its version,
so an interrupted backfill resumes without fetching anything twice; the timeline is merged only
once a policy's captures have all been looked at, and the database's write lock is held only
while writing, so a ``check`` from cron can run during a long import.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate
from typing import ClassVar

from policywatch.archive import (
    DEFAULT_RATE,
    Archive,
    ArchiveClient,
    ArchiveError,
    ArchiveStopped,
    ArchiveUnreachable,
    Capture,
    stamp,
    strip_archive_noise,
)
from policywatch.errors import PolicywatchError, exit_code_of_interruption
from policywatch.fetch import FetchError, FetchResult, decode_body, utcnow
from policywatch.monitor import Fetched, classify, profile_of, response_record
from policywatch.normalize import IgnoreTimeout, UnreadablePage, normalize_text
from policywatch.outbox import Announcer, FlushReport, flush
from policywatch.store import Store
from policywatch.timeline import find_or_add_version, judge_change, merge_archive_history
from policywatch.watchlist import Policy, Watchlist

STRATEGIES = ("changes", "all")
PROBE_EVERY = 10  # any text in effect for this many captures is found (about a fifth of the fetches)
FAILING_POLICIES = 3  # policies in a row the archive fails before the run stops (the archive's trouble, not theirs)
MAX_TRANSIENT_FAILURES = 3  # replays failing in a row (timeouts, resets, 5xx) before their policy fails
LOCK_WAIT = 900.0  # seconds to wait for a check run to finish writing
# Replay failures that will not go away on a later run: remembered, never fetched again.
PERMANENT = {"http_error", "redirected", "redirect_loop", "not_html", "bad_encoding", "not_text", "too_large",
             "not_found"}


@dataclass
class BackfillResult:
    """What one policy's backfill did. ``outcome`` is ok, stopped (resume later) or failed."""

    policy_id: str
    name: str
    url: str
    outcome: str = "ok"
    message: str | None = None
    listed: int = 0  # status-200 HTML captures in the listing
    distinct: int = 0  # after dropping captures whose digest equals the previous one
    fetched: int = 0  # replayed in this run
    known: int = 0  # looked at in an earlier run: not fetched again
    skipped: int = 0  # captures that hold no usable text (suspect pages, errors, redirects)
    versions: int = 0  # distinct texts among the captures looked at
    new_versions: int = 0  # of which new to the database
    changes_added: int = 0  # timeline entries added by the merge
    requests: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def line(self) -> str:
        from policywatch.report import backfill_line

        return backfill_line(self)


@dataclass
class BackfillReport:
    kind: ClassVar[str] = "backfill"  # its renderers: report.RENDERERS
    run_id: int | None
    strategy: str
    results: list[BackfillResult] = field(default_factory=list)
    requests: Counter = field(default_factory=Counter)
    notifications: FlushReport = field(default_factory=FlushReport)

    @property
    def exit_code(self) -> int:
        return 3 if any(r.outcome != "ok" for r in self.results) or self.notifications.failed else 0

    def to_json(self) -> dict:
        return {"schema": "policywatch.backfill/1", "run_id": self.run_id, "strategy": self.strategy,
                "requests": dict(self.requests), "results": [r.to_json() for r in self.results],
                "notifications": self.notifications.to_json()}


def backfill(watchlist: Watchlist, store: Store, *, ids: Iterable[str] = (), tags: Iterable[str] = (),
             since: str | None = None, until: str | None = None, archive: Archive | None = None,
             strategy: str = "changes", rate: float = DEFAULT_RATE, probe_every: int = PROBE_EVERY,
             client: ArchiveClient | None = None, notify: bool = False, env: Mapping[str, str] | None = None,
             on_progress: Callable[[BackfillResult], None] | None = None) -> BackfillReport:
    """Import the selected policies' archived history into the store.

    History is old news: nothing is announced unless ``notify=True``, which queues the material
    changes found (with the merge, in one transaction) and sends them at the end.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}")
    policies = watchlist.select(ids, tags)
    since, until = stamp(since), stamp(until)
    own_client = client is None
    client = client or ArchiveClient(archive, rate=rate)
    with store.writer(wait=LOCK_WAIT), store.transaction():
        run_id = store.start_run("backfill")
        for policy in policies:
            store.ensure_policy(policy.id, policy.name, policy.url)
    report = BackfillReport(run_id, strategy)
    announcer = Announcer(store, watchlist, run_id, client.archive) if notify else None
    stopped: str | None = None  # why the archive cannot be used for the rest of this run
    failing = 0  # policies in a row the archive failed (slow or error answers)
    try:
        for policy in policies:
            result = BackfillResult(policy.id, policy.name, policy.url)
            report.results.append(result)
            if stopped:
                result.outcome, result.message = "stopped", f"not started: {stopped}"
                continue
            before = Counter(client.requests)
            try:
                _backfill_policy(store, client, policy, result, run_id=run_id, since=since, until=until,
                                 strategy=strategy, probe_every=probe_every, on_progress=on_progress,
                                 announcer=announcer)
            except ArchiveStopped as exc:
                result.outcome, result.message = "stopped", str(exc)
                stopped = str(exc)
            except ArchiveError as exc:
                result.outcome, result.message = "failed", str(exc)
                failing += 1
                if failing >= FAILING_POLICIES:
                    stopped = f"{client.archive.host} failed for {failing} policies in a row (the last: {exc})"
            else:
                failing = 0
            finally:
                result.requests = dict(client.requests - before)
                if on_progress:
                    on_progress(result)
    finally:
        report.requests = Counter(client.requests)
        exit_code = exit_code_of_interruption(report.exit_code)
        with store.writer(wait=LOCK_WAIT):
            if notify and exit_code == report.exit_code:  # an interrupted import sends nothing
                report.notifications = flush(store, watchlist, env=env, run_id=run_id)
            store.finish_run(run_id, {"policies": len(policies), **report.requests}, exit_code)
        if own_client:
            client.close()
    return report


class _Prober:
    """Looks at captures one at a time: from the database if seen before, else from the archive."""

    def __init__(self, store: Store, client: ArchiveClient, policy: Policy, result: BackfillResult,
                 heads: list[Capture], run_id: int | None,
                 on_progress: Callable[[BackfillResult], None] | None):
        self.store, self.client, self.policy, self.result = store, client, policy, result
        self.heads, self.run_id, self.on_progress = heads, run_id, on_progress
        self.profile = profile_of(policy)
        self.texts: dict[int, str | None] = {}
        self.versions: set[int] = set()
        self.transient_failures = 0
        self.unfetched: list[str] = []  # why captures could not be fetched this run (they are tried again)
        rows = store.captures_of(policy.id, self.profile)
        self.by_digest = {row["digest"]: row for row in rows if row["digest"]}
        self.by_stamp = {(row["archive"], row["timestamp"]): row for row in rows}
        # Raw bytes kept by earlier backfills under any settings, to derive captures again from.
        kept = store.kept_snapshots(policy.id)
        self.raw_by_stamp = {(archive, stamp): sha for archive, stamp, _, sha in kept}
        self.raw_by_digest = {digest: sha for _, _, digest, sha in kept if digest}

    def text_at(self, index: int) -> str | None:
        """The normalized-text hash of capture ``index`` (None: no usable text there)."""
        if index not in self.texts:
            self.texts[index] = self._look(self.heads[index])
            if self.on_progress:
                self.on_progress(self.result)
        return self.texts[index]

    def _look(self, capture: Capture) -> str | None:
        archive = self.client.archive.cdx_url
        row = self.by_stamp.get((archive, capture.timestamp)) or (
            self.by_digest.get(capture.digest) if capture.digest else None)
        if row is not None:
            self.result.known += 1
            if row["outcome"] == "version" and row["version_id"] is not None:
                if row["timestamp"] != capture.timestamp or row["archive"] != archive:
                    self._record(capture, "version", None, row["text_sha256"], row["version_id"], None,
                                 row["snapshot_sha256"])
                self._count_version(row["version_id"], new=False)
                return row["text_sha256"]
            self.result.skipped += 1
            return None
        stored = self.raw_by_stamp.get((archive, capture.timestamp)) or (
            self.raw_by_digest.get(capture.digest) if capture.digest else None)
        if stored is not None:
            # Seen under other settings (select, remove…) or an older normalizer: derive it again
            # from the raw bytes kept then, instead of asking the archive twice.
            try:
                content, content_type, encoding = self.store.snapshot(stored)
            except PolicywatchError:
                pass  # kept bytes that are damaged: the archive still has them
            else:
                self.result.known += 1
                return self._derive(capture, content, content_type, None, None)
        self.result.fetched += 1
        fetched = self.client.replay(capture, self.policy.max_bytes)
        if not fetched.ok:
            permanent = fetched.error_class in PERMANENT and fetched.status not in (500, 502, 504)
            self._record(capture, "skipped" if permanent else "failed", fetched.error_class, None, None, fetched)
            self.result.skipped += 1
            if not permanent:
                self.unfetched.append(fetched.error or fetched.error_class or "no answer")
                self.transient_failures += 1
                if self.transient_failures >= MAX_TRANSIENT_FAILURES:
                    failure = ArchiveUnreachable if fetched.connect_failed else ArchiveError
                    raise failure(f"{self.client.archive.host} is not answering ({fetched.error}); "
                                  "run backfill again later to resume")
            return None
        self.transient_failures = 0
        return self._derive(capture, fetched.content or b"", fetched.content_type, fetched.text, fetched)

    def _derive(self, capture: Capture, content: bytes, content_type: str | None, text: str | None,
                fetched: FetchResult | None) -> str | None:
        """Normalize a capture's bytes, weed out suspect pages, store the version; its text hash or None."""
        if content_type and "html" not in content_type and "text/plain" not in content_type:
            self._record(capture, "skipped", "not_html", None, None, fetched)
            self.result.skipped += 1
            return None
        try:
            text = text if text is not None else decode_body(content, content_type, self.policy.encoding)[0]
        except FetchError as exc:
            self._record(capture, "skipped", exc.error_class, None, None, fetched)
            self.result.skipped += 1
            return None
        page = FetchResult(capture.original, final_url=capture.original, status=200, content=content,
                           content_type=content_type)
        try:
            normalized = normalize_text(strip_archive_noise(text), content_type=content_type,
                                        select=self.policy.select, remove=self.policy.remove,
                                        ignore=self.policy.ignore)
        except (IgnoreTimeout, UnreadablePage) as exc:  # kept, to derive again (a pattern, or lxml, at fault)
            normalized, page = None, replace(page, error_class=exc.error_class, error=str(exc))
        # The same decision as a live check's; a shrunk page is weighed when the timeline is built.
        classified = classify(Fetched(self.policy, self.profile, page, normalized, False, None), None)
        with self.store.writer(wait=LOCK_WAIT), self.store.transaction():
            # The raw bytes are kept for suspect pages too: for diagnosis, and to re-derive them later.
            snapshot = self.store.put_snapshot(content, content_type, fetched.encoding if fetched else None,
                                               self.policy.id)
            if classified.kind != "text":
                self._record(capture, "skipped" if classified.kind == "failed" else "suspect", classified.reason,
                             None, None, fetched, snapshot)
                self.result.skipped += 1
                return None
            version, is_new = find_or_add_version(self.store, self.policy.id, normalized,
                                                  captured_at=capture.captured_at, source="wayback",
                                                  snapshot_sha256=snapshot)
            self._record(capture, "version", None, version["text_sha256"], version["id"], fetched, snapshot)
        self._count_version(version["id"], new=is_new)
        return version["text_sha256"]

    def _count_version(self, version_id: int, new: bool) -> None:
        if version_id not in self.versions:
            self.versions.add(version_id)
            self.result.versions += 1
        if new:
            self.result.new_versions += 1

    def _record(self, capture: Capture, outcome: str, reason: str | None, text_sha256: str | None,
                version_id: int | None, fetched, snapshot: str | None = None) -> None:
        """One observation and one capture row, in the caller's transaction or a new one."""
        with self.store.writer(wait=LOCK_WAIT), self.store.transaction():
            observation_id = None
            if fetched is not None:
                observation_id = self.store.add_observation(
                    run_id=self.run_id, policy_id=self.policy.id, fetched_at=fetched.fetched_at, source="wayback",
                    url=capture.original, final_url=fetched.final_url, status=fetched.status,
                    outcome="archived" if outcome == "version" else outcome, reason=reason, error=fetched.error,
                    snapshot_sha256=snapshot, text_sha256=text_sha256, version_id=version_id,
                    attempts=fetched.attempts, elapsed_ms=round(fetched.elapsed * 1000),
                    **(response_record(fetched) if snapshot else {}))
            self.store.add_capture(
                policy_id=self.policy.id, archive=self.client.archive.cdx_url, timestamp=capture.timestamp,
                captured_at=capture.captured_at, original=capture.original, digest=capture.digest,
                profile=self.profile, outcome=outcome, reason=reason, text_sha256=text_sha256,
                version_id=version_id, snapshot_sha256=snapshot, observation_id=observation_id,
                run_id=self.run_id,
                fetched_at=fetched.fetched_at if fetched is not None else utcnow(),
            )
        if outcome != "failed":
            row = {"archive": self.client.archive.cdx_url, "timestamp": capture.timestamp, "digest": capture.digest,
                   "outcome": outcome, "text_sha256": text_sha256, "version_id": version_id,
                   "snapshot_sha256": snapshot}
            self.by_stamp[(row["archive"], capture.timestamp)] = row
            if capture.digest:
                self.by_digest.setdefault(capture.digest, row)


def distinct_captures(captures: list[Capture]) -> list[Capture]:
    """Drop each capture whose digest equals the one before it: the archive holds the same bytes."""
    return [head for head, _ in counted_captures(captures)]


def counted_captures(captures: list[Capture]) -> list[tuple[Capture, int]]:
    """Each distinct capture (``distinct_captures``) with how many listed captures it stands for."""
    heads: list[tuple[Capture, int]] = []
    for capture in captures:
        if heads and capture.digest and capture.digest == heads[-1][0].digest:
            heads[-1] = (heads[-1][0], heads[-1][1] + 1)
            continue
        heads.append((capture, 1))
    return heads


def probe_all(count: int, text_at: Callable[[int], str | None]) -> None:
    for index in range(count):
        text_at(index)


def probe_changes(count: int, text_at: Callable[[int], str | None], probe_every: int = PROBE_EVERY,
                  spans: Sequence[int] | None = None) -> None:
    """Look at as few captures as it takes to find every text that lasted ``probe_every`` captures.

    First every ``probe_every``-th capture, then bisection on the text hashes wherever two
    neighbouring looks differ, down to two adjacent captures, which pins the change to a capture.
    A stretch whose ends agree is taken to hold that text throughout once it is at most
    ``probe_every`` captures long. A capture without usable text is stepped over. ``spans`` says
    how many listed captures each of the ``count`` stands for (the archive's repeats of the same
    bytes): lengths are counted in listed captures, so eleven captures of one text are eleven.
    """
    spans = list(spans) if spans is not None else [1] * count
    at = list(accumulate([0, *spans[:-1]]))  # where each one starts, in listed captures
    known: dict[int, str | None] = {}

    def look(index: int) -> str | None:
        if index not in known:
            known[index] = text_at(index)
        return known[index]

    first = next((i for i in range(count) if look(i) is not None), None)
    if first is None:
        return
    last = next((i for i in range(count - 1, first, -1) if look(i) is not None), None)
    if last is None:
        return
    seeds = [first]
    index, target = first + 1, at[first] + probe_every
    while index < last:
        if at[index] + spans[index] > target:  # covers the next probe position
            usable = next((i for i in range(index, last) if at[i] < target + probe_every and look(i) is not None),
                          None)
            if usable is not None:
                seeds.append(usable)
                index = usable
            target += probe_every
            while target < at[index] + spans[index]:  # one capture standing for many: seen once
                target += probe_every
        index += 1
    seeds.append(last)
    stretches = list(zip(seeds[:-1], seeds[1:], strict=True))[::-1]
    while stretches:
        low, high = stretches.pop()
        if high - low <= 1 or (look(low) == look(high) and at[high] - at[low] <= probe_every):
            continue
        middle = _usable_between(low, high, look)
        if middle is not None:
            stretches.append((middle, high))
            stretches.append((low, middle))  # popped first: history is read oldest first


def _usable_between(low: int, high: int, text_at: Callable[[int], str | None]) -> int | None:
    middle = (low + high) // 2
    for step in range(high - low):
        for index in (middle + step, middle - step - 1) if step else (middle,):
            if low < index < high and text_at(index) is not None:
                return index
    return None


def _backfill_policy(store: Store, client: ArchiveClient, policy: Policy, result: BackfillResult, *,
                     run_id: int | None, since: str | None, until: str | None, strategy: str, probe_every: int,
                     on_progress: Callable[[BackfillResult], None] | None, announcer: Announcer | None) -> None:
    captures = client.list_captures(policy.archived_as, since, until)
    counted = counted_captures(captures)
    heads = [head for head, _ in counted]
    result.listed, result.distinct = len(captures), len(heads)
    if on_progress:
        on_progress(result)
    prober = _Prober(store, client, policy, result, heads, run_id, on_progress)
    if strategy == "all":
        probe_all(len(heads), prober.text_at)
    else:
        probe_changes(len(heads), prober.text_at, probe_every, spans=[span for _, span in counted])
    if prober.unfetched:
        # A timeline built around a missing capture would date a change wrongly: merged next time.
        result.outcome = "stopped"
        result.message = (f"{len(prober.unfetched)} capture(s) could not be fetched ({prober.unfetched[0]}); "
                          "run backfill again to resume")
        return
    with store.writer(wait=LOCK_WAIT), store.transaction():
        added = merge_archive_history(store, policy.id, prober.profile)
        if announcer is not None:
            _announce(store, announcer, policy, added)
    result.changes_added = len(added)


def _announce(store: Store, announcer: Announcer, policy: Policy, change_ids: list[int]) -> None:
    """Queue the material changes a backfill added (only with ``notify=True``: history is old news)."""
    for change_id in change_ids:
        row = store.judged_change(change_id)
        version_id, baseline_id, material, technical, returns_to, captured_at = row
        if material and not technical and not returns_to and baseline_id is not None:
            verdict = judge_change(store, policy.id, baseline_id, store.version_by_id(version_id))
            announcer.change(policy, change_id, verdict, captured_at)

