"""The check run: fetch every selected policy, normalize, weed out suspect pages, store versions.

``check(watchlist, store)`` is the library form of ``policywatch check``. Pages are fetched and
normalized on a worker pool (one request at a time per host); results are written by the
calling thread, one transaction (savepoint) per policy, in the order they arrive, and committed in
batches (``Store.batch``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from policywatch.errors import PolicywatchError, exit_code_of_interruption
from policywatch.fetch import Fetcher, FetchResult
from policywatch.normalize import (
    NORMALIZER_VERSION,
    IgnoreTimeout,
    Normalized,
    UnreadablePage,
    normalize_page,
    read_page,
)
from policywatch.outbox import Announcer, FlushReport, flush
from policywatch.store import PolicyState, Store
from policywatch.suspect import diagnose_page
from policywatch.watchlist import Policy, Watchlist

if TYPE_CHECKING:
    from policywatch.timeline import JudgedAhead

OUTCOMES = ("new", "changed", "reverted", "unchanged", "suspect", "failed")


@dataclass
class PolicyResult:
    """What one policy's check found; ``outcome`` is one of OUTCOMES."""

    policy_id: str
    name: str
    url: str
    outcome: str
    reason: str | None = None  # not_modified, same_raw, same_markup, bot_wall, timeout, …
    message: str | None = None
    version: int | None = None
    previous_version: int | None = None
    returns_to: int | None = None
    status: int | None = None
    final_url: str | None = None
    fetched_at: str | None = None
    severity: str | None = None  # of a new version against the previous one
    material: bool | None = None
    categories: list[str] = field(default_factory=list)
    summary: str | None = None
    notified: list[str] = field(default_factory=list)  # targets a message was queued for
    undoes: str | None = None  # a return to an earlier text that takes back this material change

    def to_json(self) -> dict:
        from policywatch.secrets import redact_page

        data = asdict(self)
        data["url"] = redact_page(self.url)
        data["final_url"] = redact_page(self.final_url) if self.final_url else self.final_url
        return data


@dataclass
class RunReport:
    kind: ClassVar[str] = "check"  # its renderers: report.RENDERERS
    run_id: int | None
    results: list[PolicyResult] = field(default_factory=list)
    notifications: FlushReport = field(default_factory=FlushReport)

    @property
    def counts(self) -> dict[str, int]:
        counter = Counter(r.outcome for r in self.results)
        return {outcome: counter.get(outcome, 0) for outcome in OUTCOMES}

    @property
    def material(self) -> bool:
        return any(r.material for r in self.results)

    def exit_code_for(self, exit_code_on_material: bool = False) -> int:
        """3 if some policy (or notification) failed, else 1 with --exit-code on a material change (docs/cli.md)."""
        if any(r.outcome == "failed" for r in self.results) or self.notifications.failed:
            return 3
        return 1 if exit_code_on_material and self.material else 0

    @property
    def exit_code(self) -> int:
        return self.exit_code_for(False)

    def to_json(self) -> dict:
        return {"schema": "policywatch.check/1", "run_id": self.run_id, "counts": self.counts,
                "results": [r.to_json() for r in self.results], "notifications": self.notifications.to_json()}


@dataclass
class Fetched:
    """One page as fetched (live, or replayed from an archive) and normalized: what classify() reads."""

    policy: Policy
    profile: str
    result: FetchResult
    normalized: Normalized | None
    same_raw: bool
    raw_sha256: str | None
    markup_sha256: str | None = None  # normalize.markup_sha256 of the page, when it was computed
    same_markup: bool = False  # new bytes, but only where no text is: not normalized
    ahead: Future | None = None  # timeline.judge_ahead of a new text, in a worker process


def response_record(result: FetchResult) -> dict[str, str | None]:
    """The observation columns that keep what the server said with the bytes it sent (evidence)."""
    return {"headers": json.dumps(result.headers, ensure_ascii=False) if result.headers else None,
            "redirects": json.dumps(result.redirects) if result.redirects else None}


def profile_of(policy: Policy) -> str:
    """Fingerprint of everything besides the page that shapes the text (see the fast path)."""
    return json.dumps({"normalizer": NORMALIZER_VERSION, **policy.profile}, sort_keys=True)


def fetch_and_normalize(fetcher: Fetcher, policy: Policy, profile: str, state,
                         read: Callable[..., tuple[str | None, Normalized | None]] = read_page,
                         ahead: Callable[[int, Normalized], Future | None] | None = None) -> Fetched:
    from hashlib import sha256

    conditional = state is not None and state.current_version_id is not None and state.last_profile == profile
    result = fetcher.fetch(
        policy.url, timeout=policy.timeout, retries=policy.retries, backoff=policy.backoff,
        max_bytes=policy.max_bytes, headers=policy.headers, user_agent=policy.user_agent,
        encoding=policy.encoding, etag=state.etag if conditional else None,
        last_modified=state.last_modified if conditional else None,
    )
    if not result.ok or result.not_modified or result.content is None:
        return Fetched(policy, profile, result, None, False, None)
    raw_sha256 = sha256(result.content).hexdigest()
    if conditional and raw_sha256 == state.last_raw_sha256:
        return Fetched(policy, profile, result, None, True, raw_sha256)  # fast path: same bytes
    try:
        markup, normalized = read(result.text or "", content_type=result.content_type, select=policy.select,
                                  remove=policy.remove, ignore=policy.ignore,
                                  known_markup=state.last_markup_sha256 if conditional else None)
    except (IgnoreTimeout, ReaderDied, UnreadablePage) as exc:  # this check of the policy fails, nothing stored
        return Fetched(policy, profile, replace(result, error_class=exc.error_class, error=str(exc)), None, False,
                        raw_sha256)
    if normalized is None:
        # the second fast path: new tokens, build ids or CSRF fields, and not one character of text
        return Fetched(policy, profile, result, None, False, raw_sha256, markup, same_markup=True)
    changed = state is not None and state.current_version_id is not None \
        and normalized.document.sha256 != state.current_sha256
    judging = ahead(state.current_version_id, normalized) if changed and ahead is not None else None
    return Fetched(policy, profile, result, normalized, False, raw_sha256, markup, ahead=judging)


POOL_THRESHOLD = 60  # pages normalized in this run before worker processes start paying for their start-up
AHEAD_THRESHOLD = 8  # new texts in this run before they do: each takes a judgement off the writer (judge_ahead)
POOL_STARTS = 3  # shared worker pools a run may start, a new one each time a worker process dies


class ReaderDied(PolicywatchError):
    """The worker process reading a page died (killed, out of memory), and again when the page was
    read alone: the check of that policy fails, and the next run reads the page again."""

    error_class = "reader_died"


class PageReader:
    """Reads pages (``read_page``) in the calling thread at first, and in worker processes once a run
    has normalized POOL_THRESHOLD pages.

    A worker process that dies (the kernel's out-of-memory killer, a signal) takes its pool down
    with every page it was reading: the run goes on with a new pool, and each of those pages is
    read again in a process of its own. A page whose reading dies there too fails its check
    (``ReaderDied``) rather than risk the run's own process. After POOL_STARTS pools, the run reads
    its pages in the fetch threads.

    Normalizing is pure Python around lxml: in processes it runs on every core instead of under
    the GIL that the fetch threads and the writer share. A daily run where few pages changed never
    pays for starting them; a page that only needs its fingerprint compared (most pages, most
    days) is fingerprinted in its fetch thread, cheaper than shipping it to a process.
    """

    def __init__(self, threshold: int | None = None, db_path: str | os.PathLike | None = None):
        self.threshold = POOL_THRESHOLD if threshold is None else threshold
        self.db_path = str(db_path) if db_path is not None else None
        self.count = 0  # pages read so far
        self.new_texts = 0  # texts other than their policy's current one, so far
        self.pool = None
        self.starts = 0  # pools started so far (POOL_STARTS)
        self.lone_pools: set = set()  # the one-process pools reading a lost page again (_alone)
        self.one_alone = threading.Lock()  # one such page at a time: a pool is often lost for want of memory
        self.closed = False
        self.lock = threading.Lock()

    def __call__(self, text: str, *, known_markup: str | None = None,
                 **options: Any) -> tuple[str | None, Normalized | None]:
        if known_markup is None:  # a first reading: fingerprint and text together, wherever they run
            return self._run(read_page, text, **options)
        # The fingerprint here; the text, if it must be read, wherever texts are normalized.
        return read_page(text, known_markup=known_markup, normalize=functools.partial(self._run, normalize_page),
                         **options)

    def ahead(self, baseline_version_id: int, normalized: Normalized) -> Future | None:
        """Start ``timeline.judge_ahead`` of a new text against its baseline in a worker process, if
        the run has them (none in a run with few new texts: the writer then judges them itself)."""
        if self.db_path is None:
            return None
        with self.lock:
            self.new_texts += 1
            if self.new_texts > AHEAD_THRESHOLD:
                self._start_pool()
            pool = self.pool
        if pool is None:
            return None
        from policywatch.timeline import judge_ahead

        try:
            return pool.submit(judge_ahead, self.db_path, baseline_version_id, normalized.document.markdown())
        except Exception:  # noqa: BLE001 - a broken or closed pool: the writer judges the text itself
            return None

    def _run(self, function: Callable[..., Any], text: str, **options: Any) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        with self.lock:
            self.count += 1
            if self.count > self.threshold:
                self._start_pool()
            pool = self.pool
        while pool is not None:
            try:
                future = pool.submit(function, text, **options)
            except BrokenProcessPool:  # another page's reading took it down: this one was not sent
                pool = self._replace(pool)
                continue
            try:
                return future.result()
            except BrokenProcessPool:
                self._replace(pool)
                return self._alone(function, text, **options)
        return function(text, **options)

    def _alone(self, function: Callable[..., Any], text: str, **options: Any) -> Any:
        """Read a page again in a process of its own, after the pool reading it lost a worker: every
        page in the pool was lost with it, and only the page that killed it kills its own reader too
        (never the run's process)."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        with self.one_alone:
            with self.lock:
                if self.closed:  # the run is ending (interrupted): no process is started any more
                    raise ReaderDied("the worker process reading the page died as the run ended")
                alone = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
                self.lone_pools.add(alone)
            try:
                return alone.submit(function, text, **options).result()
            except BrokenProcessPool:
                raise ReaderDied("the worker process reading the page died, and again reading it alone") from None
            finally:
                with self.lock:
                    self.lone_pools.discard(alone)
                alone.shutdown(wait=False, cancel_futures=True)

    def _replace(self, broken: Any) -> Any:
        """The pool to use after ``broken`` lost a worker process: a new one, while POOL_STARTS allows."""
        with self.lock:
            if self.pool is broken:
                self.pool = None
                broken.shutdown(wait=False, cancel_futures=True)
                self._start_pool()
            return self.pool

    def _start_pool(self) -> None:
        """Start the worker processes, if they are not running yet and there are cores for them."""
        if self.pool is None and not self.closed and self.starts < POOL_STARTS and _spare_cores():
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.starts += 1
            # "spawn": fetch threads are running, and forking a threaded process can copy a held lock.
            self.pool = ProcessPoolExecutor(max_workers=_spare_cores(), mp_context=multiprocessing.get_context("spawn"))

    def close(self) -> None:
        with self.lock:
            self.closed = True  # fetch threads still running after an interruption start no new pool
            pools = [self.pool, *self.lone_pools] if self.pool is not None else list(self.lone_pools)
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _spare_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if cores > 1 and os.environ.get("POLICYWATCH_PROCESSES") != "0" else 0


def check(watchlist: Watchlist, store: Store, *, ids: Iterable[str] = (), tags: Iterable[str] = (),
          fetcher: Fetcher | None = None, on_result: Callable[[PolicyResult], None] | None = None,
          on_start: Callable[[int], None] | None = None, workers: int = 8, notify: bool = True,
          env: Mapping[str, str] | None = None) -> RunReport:
    """Check the selected policies once, store what changed and send the notifications it calls for.

    Holds the database's write lock. Notifications still owed by earlier runs are sent first;
    with ``notify=False`` nothing is queued or sent.
    """
    policies = watchlist.select(ids, tags)
    own_fetcher = fetcher is None
    fetcher = fetcher or Fetcher(workers=workers)
    reader = PageReader(db_path=store.path)
    with store.writer(), contextlib.closing(reader):
        run_id = store.start_run("check")
        report = RunReport(run_id)
        announcer = Announcer(store, watchlist, run_id) if notify else None
        if notify:
            report.notifications = flush(store, watchlist, env=env)
        with store.transaction():
            store.ensure_policies((policy.id, policy.name, policy.url) for policy in policies)
        stored = store.states()
        states = {policy.id: stored.get(policy.id) for policy in policies}
        if on_start:
            on_start(len(policies))
        jobs = []
        for policy in policies:
            profile = profile_of(policy)
            jobs.append((policy.host, lambda p=policy, pr=profile: fetch_and_normalize(
                fetcher, p, pr, states[p.id], reader, reader.ahead)))
        try:
            # Results commit in batches, each whole, and whenever the writer waits for the next one:
            # a crash loses only those since the last commit, which the next check does again
            # (notifications are sent only once their batch is kept).
            with store.batch() as batch:
                for fetched in fetcher.run(jobs, idle=batch.commit):
                    result = record(store, fetched, states[fetched.policy.id], run_id, announcer=announcer)
                    batch.done()
                    report.results.append(result)
                    if on_result:
                        on_result(result)
            if notify:
                report.notifications.deliveries += flush(store, watchlist, env=env, run_id=run_id).deliveries
        finally:
            store.finish_run(run_id, report.counts, exit_code_of_interruption(report.exit_code))
            if own_fetcher:
                fetcher.close()
    order = {p.id: i for i, p in enumerate(policies)}
    report.results.sort(key=lambda r: order[r.policy_id])
    return report


@dataclass(frozen=True)
class Classified:
    """What one fetch means for its policy, decided before anything is written.

    ``kind`` is failed, unchanged, suspect or text (a text other than the current one: new,
    changed or reverted, which only the stored versions can tell).
    """

    kind: str
    reason: str | None = None  # failed: the error class; unchanged: not_modified, same_raw, same_markup or None
    detail: str | None = None


def classify(fetched: Fetched, state: PolicyState | None) -> Classified:
    """What a fetch means, from the fetch and the policy's last state alone: no database."""
    policy, result = fetched.policy, fetched.result
    if not result.ok:
        return Classified("failed", result.error_class, result.error)
    if result.not_modified or fetched.same_raw or fetched.same_markup:
        return Classified("unchanged", "not_modified" if result.not_modified else
                          "same_raw" if fetched.same_raw else "same_markup")
    normalized = fetched.normalized
    assert normalized is not None
    diagnosis = diagnose_page(normalized, requested_url=policy.url, final_url=result.final_url,
                              previous_words=state.current_words if state else None,
                              previous_language=state.current_language if state else None)
    if diagnosis.suspect:
        return Classified("suspect", diagnosis.reason, diagnosis.detail)
    if state and normalized.document.sha256 == state.current_sha256:
        return Classified("unchanged")  # new bytes, the same text
    return Classified("text")


def record(store: Store, fetched: Fetched, state: PolicyState | None, run_id: int | None,
           source: str | None = None, announcer: Announcer | None = None) -> PolicyResult:
    """Write one policy's result in one transaction and say what it was.

    Notifications (a material change, a failing streak, a recovery) are queued through
    ``announcer`` in the same transaction, so a change is never stored without its messages.
    """
    classified = classify(fetched, state)
    writer = _Writer(store, fetched, state, run_id, source, announcer)
    with store.transaction():
        WRITERS[classified.kind](writer, classified)
    if fetched.ahead is not None:
        fetched.ahead.cancel()  # a judgement not used (a suspect page, another baseline) and not started
    return writer.result


class _Writer:
    """Writes what one classified fetch means: one method per kind (WRITERS)."""

    def __init__(self, store: Store, fetched: Fetched, state: PolicyState | None, run_id: int | None,
                 source: str | None, announcer: Announcer | None):
        policy, result = fetched.policy, fetched.result
        self.store, self.fetched, self.state, self.announcer = store, fetched, state, announcer
        self.policy, self.fetch = policy, result
        self.source = source or ("file" if policy.host == "local-files" else "live")
        self.result = PolicyResult(policy_id=policy.id, name=policy.name, url=policy.url, outcome="failed",
                                   status=result.status, final_url=result.final_url, fetched_at=result.fetched_at,
                                   version=state.current_number if state else None)
        self.observation = {
            "run_id": run_id, "policy_id": policy.id, "fetched_at": result.fetched_at, "source": self.source,
            "url": policy.url, "final_url": result.final_url, "status": result.status, "etag": result.etag,
            "last_modified": result.last_modified, "raw_sha256": fetched.raw_sha256, "attempts": result.attempts,
            "elapsed_ms": round(result.elapsed * 1000),
        }
        self.streak = state.failure_streak if state else 0

    # -- a page that is not the policy, or no page ------------------------------------------------
    def failed(self, classified: Classified) -> None:
        self.result.reason, self.result.message = classified.reason, classified.detail
        self.store.add_observation(**self.observation, outcome="failed", reason=classified.reason,
                                   error=classified.detail)
        self.store.update_policy(self.policy.id, **self._failing("failed", classified))

    def suspect(self, classified: Classified) -> None:
        result = self.fetch
        snapshot = self.store.put_snapshot(result.content, result.content_type, result.encoding, self.policy.id)
        self.result.outcome, self.result.reason, self.result.message = "suspect", classified.reason, classified.detail
        self.store.add_observation(**self.observation, outcome="suspect", reason=classified.reason,
                                   error=classified.detail, snapshot_sha256=snapshot)
        self.store.update_policy(self.policy.id, **self._failing("suspect", classified))

    def _failing(self, outcome: str, classified: Classified) -> dict:
        """The policy columns for one more failed (or suspect) run; announce the streak once."""
        state, fetched_at = self.state, self.fetch.fetched_at
        columns = {"last_checked_at": fetched_at, "last_outcome": outcome, "failure_streak": self.streak + 1}
        since = (state.failing_since if state else None) or fetched_at
        if self.streak == 0:
            columns["failing_since"] = fetched_at
        if self.streak + 1 >= self.policy.alert_after and not (state and state.failure_alerted):
            if self.announcer is not None:
                self.announcer.failing(self.policy, self.streak + 1, classified.reason or outcome, classified.detail,
                                       since)
            columns["failure_alerted"] = 1
        return columns

    # -- the policy --------------------------------------------------------------------------------
    def unchanged(self, classified: Classified) -> None:
        state = self.state
        assert state is not None
        self.result.outcome, self.result.reason = "unchanged", classified.reason
        self.store.add_observation(**self.observation, outcome="unchanged", reason=classified.reason,
                                   text_sha256=state.current_sha256, version_id=state.current_version_id)
        # New bytes with the same text: the next check can take the same-bytes fast path on them.
        read = classified.reason in (None, "same_markup")
        self._accept(last_outcome="unchanged",
                     **({"last_raw_sha256": self.fetched.raw_sha256, **self._markup()} if read else {}))

    def text(self, classified: Classified) -> None:
        store, policy, state, result = self.store, self.policy, self.state, self.fetch
        normalized = self.fetched.normalized
        assert normalized is not None
        snapshot = store.put_snapshot(result.content, result.content_type, result.encoding, policy.id)
        from policywatch.timeline import find_or_add_version, judge_change  # only a new text needs them

        version, is_new = find_or_add_version(store, policy.id, normalized, captured_at=result.fetched_at,
                                              source=self.source, snapshot_sha256=snapshot)
        if not is_new:
            outcome = "reverted"
            self.result.returns_to = version["number"]
        else:
            outcome = "changed" if state and state.current_version_id else "new"
        observation_id = store.add_observation(**self.observation, **response_record(result), outcome=outcome,
                                               snapshot_sha256=snapshot,
                                               text_sha256=normalized.document.sha256, version_id=version["id"])
        judged = undone = None
        wobbling = False
        if state and state.current_version_id:
            # A flip-flop is judged against the last text people were told about (the editorial
            # changes since are no news), so that a page wobbling between two texts is not announced
            # again on every wobble.
            baseline = store.last_alerted_version_id(policy.id) if outcome == "reverted" else state.current_version_id
            if baseline in (None, version["id"]):  # back to what people were told: judged against the text before
                baseline = state.current_version_id
            judged = judge_change(store, policy.id, baseline, version, ahead=self._judged_ahead(baseline))
            # What a return undoes: every material change since the text it returns to was in effect.
            undone = [c for c in store.changes_since_in_effect(policy.id, version["id"]) if c["material"]] \
                if outcome == "reverted" else None
            if outcome == "reverted" and judged.judgement.material and undone:
                # Undoing a material change is news; so is the first switch back after that (people
                # were told the other text is in effect), said to be a wobble; later switches are not.
                moves = store.returns_since_new_text(policy.id)
                if moves < 2:
                    from policywatch.messages import clip

                    self.result.undoes = clip("; ".join((c["summary"] or "").rstrip(".") for c in undone), 400)
                    wobbling = moves == 1
            self.result.severity, self.result.material = judged.judgement.severity, judged.judgement.material
            self.result.categories, self.result.summary = list(judged.judgement.categories), judged.judgement.summary
        change_id = store.add_change(policy_id=policy.id, version_id=version["id"],
                                     previous_version_id=state.current_version_id if state else None,
                                     observation_id=observation_id, captured_at=result.fetched_at, source=self.source,
                                     returns_to=self.result.returns_to, **(judged.columns if judged else {}))
        if judged is not None and self.announcer is not None:
            if outcome == "changed":
                self.result.notified = self.announcer.change(policy, change_id, judged, result.fetched_at)
            elif self.result.undoes is not None and undone:
                self.result.notified = self.announcer.change(
                    policy, change_id, judged, result.fetched_at, undoes=self.result.undoes,
                    reverted_to=version.get("stated_date") or version["captured_at"][:10],
                    undone_change_ids=[c["id"] for c in undone], wobbling=wobbling)
        self._accept(current_version_id=version["id"], last_outcome=outcome, last_raw_sha256=self.fetched.raw_sha256,
                     **self._markup())
        self.result.outcome, self.result.version = outcome, version["number"]
        self.result.previous_version = state.current_number if state else None

    def _judged_ahead(self, baseline: int) -> JudgedAhead | None:
        """The judgement a worker process made ahead of this one, if it judged against this baseline
        (waited for: the writer judging it too would only add the same work to the busier side).

        A worker that died meanwhile makes the writer judge the text itself: a judgement is bounded
        (judge.facts' analysis limits), so what killed it was most likely another page's reading.
        """
        future, state = self.fetched.ahead, self.state
        if future is None or state is None or baseline != state.current_version_id:
            return None
        try:
            return future.result()
        except Exception:  # noqa: BLE001 - judging ahead only saves time: the writer judges the text itself
            return None

    def _markup(self) -> dict[str, str]:
        """The markup fingerprint of a page whose text is now the policy's (see normalize.markup_sha256)."""
        return {"last_markup_sha256": self.fetched.markup_sha256} if self.fetched.markup_sha256 else {}

    def _accept(self, **columns) -> None:
        """A good page: the policy's state moves on, and a failing streak that was announced ends."""
        state, result = self.state, self.fetch
        if state and state.failure_alerted and self.announcer is not None:
            self.announcer.recovered(self.policy, state.failing_since, self.streak)
        self.store.update_policy(self.policy.id, last_checked_at=result.fetched_at, failure_streak=0,
                                 last_profile=self.fetched.profile, etag=result.etag,
                                 last_modified=result.last_modified, failing_since=None, failure_alerted=0,
                                 **columns)


# One writer per kind of classified fetch (see Classified).
WRITERS: dict[str, Callable[[_Writer, Classified], None]] = {
    "failed": _Writer.failed,
    "suspect": _Writer.suspect,
    "unchanged": _Writer.unchanged,
    "text": _Writer.text,
}
