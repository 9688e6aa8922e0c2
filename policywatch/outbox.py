"""The outbox: notifications are written in the same transaction as what they announce, then delivered.

``Announcer`` is what a run uses to queue messages while it stores results: a material change
for the targets routed to it, and error states — one "checks failing" message when a policy has
failed (or been suspect) ``alert_after`` runs in a row, one "recovered" message when it works
again, nothing in between. ``flush`` delivers what is due: immediate messages one by one, and for
each target in digest mode one message per run listing that run's changes, most severe first.

Delivery is at most once per message and URL. Just before a URL is sent, the attempt is
committed as ``sending``; once apprise answers, its outcome replaces it. A run that dies between
the two leaves the mark, and the next flush records that URL as ``unconfirmed`` rather than send
twice; so does a send whose request went out and got no answer within the target's ``timeout``
(the service may have it). A URL that failed (refused, unreachable, an error answer) is retried
by later runs — the next one at once, then after growing delays — and only the URLs still owed
are sent again. After ``MAX_ATTEMPTS`` the message is marked ``failed``: it is never dropped
silently (``check`` reports it and exits 3). A message whose URLs all went out, some of them
unconfirmed, is ``unconfirmed``: done, never sent again, and said so.

Every send of a message to a URL carries the same idempotency key (``idempotency_key``: from
the outbox rows and the URL), so a receiver can drop a copy it already has.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, ClassVar

from policywatch.store import Store
from policywatch.watchlist import Policy, Watchlist

# messages and notify (and, through them, the judge, the renderers and apprise) are imported
# where a message is composed or sent: a check that announces nothing does not load them.
if TYPE_CHECKING:
    from policywatch.archive import Archive
    from policywatch.messages import Message
    from policywatch.notify import UrlResult
    from policywatch.timeline import JudgedChange

RETRY_DELAYS = (0, 15 * 60, 2 * 3600, 12 * 3600)  # before attempts 2, 3, 4, 5 (0: the next run)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DELIVERED = ("sent", "unconfirmed")
INTERRUPTED = "the run sending it stopped before the answer: the service may have it, so it is not sent again"


class Announcer:
    """Queues notifications from inside a run's transactions (``monitor.record``, backfill)."""

    def __init__(self, store: Store, watchlist: Watchlist, run_id: int | None, archive: Archive | None = None):
        self.store, self.watchlist, self.run_id, self.archive = store, watchlist, run_id, archive

    def change(self, policy: Policy, change_id: int, verdict: JudgedChange, captured_at: str, *,
               reverted_to: str | None = None, undoes: str | None = None, undone_change_ids: Iterable[int] = (),
               wobbling: bool = False) -> list[str]:
        """Queue a judged change (or a return to an earlier text) for the targets routed to it; their names.

        A return that undoes changes also goes to the targets that were told of them (and still watch
        the policy), whatever its own categories: a team hears of the undoing of what it heard of.
        """
        from policywatch.messages import compose_change
        from policywatch.notify import candidates, route

        judgement = verdict.judgement
        targets = route(self.watchlist, policy, judgement.severity, judgement.categories)
        watching = candidates(self.watchlist, policy)
        told = [t for t in self.store.targets_of(undone_change_ids) if t in watching]
        targets = list(dict.fromkeys([*targets, *told]))
        if not targets:
            return []
        from policywatch.timeline import page_header

        header = page_header(self.store, {"id": policy.id, "name": policy.name, "url": policy.url},
                             verdict.old_version, verdict.new_version, self.archive)
        message = compose_change(policy, verdict.diff, judgement, captured_at, header=header,
                                 old_label=verdict.old_label, new_label=verdict.new_label,
                                 reverted_to=reverted_to, undoes=undoes, wobbling=wobbling)
        for target in targets:
            self._enqueue(policy.id, change_id, target, message)
        return targets

    def failing(self, policy: Policy, streak: int, reason: str, detail: str | None, since: str | None) -> None:
        from policywatch.messages import compose_failing

        self._announce(policy, compose_failing(policy, streak, reason, detail, since), "failing")

    def recovered(self, policy: Policy, since: str | None, streak: int) -> None:
        from policywatch.messages import compose_recovered

        self._announce(policy, compose_recovered(policy, since, streak), "recovered")

    def _announce(self, policy: Policy, message: Message, kind: str) -> None:
        from policywatch.notify import route

        for target in route(self.watchlist, policy, kind=kind):
            self._enqueue(policy.id, None, target, message)

    def _enqueue(self, policy_id: str | None, change_id: int | None, target: str, message: Message) -> None:
        from policywatch.notify import mode_of

        self.store.queue_message(
            run_id=self.run_id, policy_id=policy_id, change_id=change_id, target=target, kind=message.kind,
            mode=mode_of(self.watchlist, target), severity=message.severity, title=message.title,
            message=json.dumps(message.to_dict(), ensure_ascii=False))


@dataclass
class Sent:
    """One message's delivery in a flush (a digest stands for all its rows)."""

    ids: list[int]
    target: str
    title: str
    status: str  # sent, unconfirmed (all out, some maybe not received), pending (will retry), failed (budget spent)
    attempts: int
    errors: list[str] = field(default_factory=list)
    unconfirmed: int = 0  # URLs that may or may not have the message (never sent again)
    doubts: list[str] = field(default_factory=list)  # "url: why" for each of them

    def line(self) -> str:
        from policywatch.report import delivery_line

        return delivery_line(self)


@dataclass
class FlushReport:
    kind: ClassVar[str] = "flush"  # its renderers: report.RENDERERS
    deliveries: list[Sent] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(len(d.ids) for d in self.deliveries if d.status == status)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def to_json(self) -> dict:
        return {"sent": self.count("sent"), "unconfirmed": self.count("unconfirmed"),
                "retrying": self.count("pending"), "failed": self.failed,
                "deliveries": [d.__dict__ for d in self.deliveries]}


def _utc(when: datetime | None) -> datetime:
    return when or datetime.now(timezone.utc)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def idempotency_key(rows: list[dict], url: str) -> str:
    """The key every send of this message to ``url`` (redacted) carries: the same on each retry,
    different for another message, URL or database (the rows' creation times are in it)."""
    ids = sorted(row["id"] for row in rows)
    seed = "\n".join([*(f"{row['id']}@{row['created_at']}" for row in sorted(rows, key=lambda r: r["id"])), url])
    return f"policywatch-{ids[0]}-{hashlib.sha256(seed.encode('utf-8')).hexdigest()[:20]}"


def reconcile(store: Store) -> int:
    """Mark URLs a dead run left ``sending`` as ``unconfirmed`` (never sent again); returns how many."""
    marked = 0
    with store.transaction():
        for row in store.sending_messages():
            deliveries = json.loads(row["deliveries"] or "{}")
            for state in deliveries.values():
                if state.get("status") == "sending":
                    state["status"], state["error"] = "unconfirmed", INTERRUPTED
                    marked += 1
            store.requeue_message(row["id"], json.dumps(deliveries))
    return marked


def flush(store: Store, watchlist: Watchlist, *, force: bool = False, when: datetime | None = None,
          env: Mapping[str, str] | None = None, run_id: int | None = None) -> FlushReport:
    """Deliver every message that is due (all pending ones with ``force``; with ``run_id``, only
    that run's new ones). Call holding the write lock."""
    reconcile(store)
    moment = _utc(when)
    due = store.due_messages(force=force, moment=_stamp(moment), run_id=run_id)
    report = FlushReport()
    if not due:
        return report
    from policywatch.messages import KINDS, Message, compose_digest

    digests: dict[tuple, list[dict]] = {}
    for row in due:
        if row["mode"] == "digest" and KINDS[row["kind"]].digested:
            digests.setdefault((row["target"], row["run_id"]), []).append(row)
        else:
            report.deliveries.append(_deliver(store, watchlist, [row], Message.from_dict(json.loads(row["message"])),
                                              moment, env))
    for (target, _run), rows in digests.items():
        messages = [Message.from_dict(json.loads(row["message"])) for row in rows]
        message = messages[0] if len(messages) == 1 else compose_digest(target, messages)
        report.deliveries.append(_deliver(store, watchlist, rows, message, moment, env))
    return report


def _deliver(store: Store, watchlist: Watchlist, rows: list[dict], message: Message, moment: datetime,
             env: Mapping[str, str] | None) -> Sent:
    from policywatch.notify import deliver

    ids = [row["id"] for row in rows]
    target = rows[0]["target"]
    deliveries: dict[str, dict] = json.loads(rows[0]["deliveries"] or "{}")
    attempts = max(row["attempts"] for row in rows) + 1

    def save(**columns) -> None:
        columns["deliveries"] = json.dumps(deliveries, ensure_ascii=False)
        with store.transaction():
            store.update_messages(ids, columns)

    def before_send(url: str) -> None:
        deliveries[url] = {"status": "sending", "at": _stamp(moment)}
        save(status="sending", attempts=attempts, last_attempt_at=_stamp(moment))

    def after_send(result: UrlResult) -> None:
        # Saved with the next URL's mark, or at the end: a crash in between loses no known outcome.
        status = "sent" if result.ok else "unconfirmed" if result.unconfirmed else "failed"
        deliveries[result.url] = {"status": status, "at": _stamp(moment), "error": result.error,
                                  "format": result.format, "key": result.key}

    done = {url for url, state in deliveries.items() if state.get("status") in DELIVERED}
    delivery = deliver(watchlist, target, message, env, skip=done, before_send=before_send, after_send=after_send,
                       keys=lambda url: idempotency_key(rows, url))
    for result in delivery.results:
        after_send(result)  # the URLs that failed before anything was sent (e.g. a missing variable)
    errors = [f"{url}: {state['error']}" for url, state in deliveries.items()
              if state.get("status") == "failed" and state.get("error")]
    if delivery.error:
        errors.insert(0, delivery.error)
    ok = not delivery.error and bool(deliveries) and all(s.get("status") in DELIVERED for s in deliveries.values())
    doubts = [f"{url}: {state.get('error') or INTERRUPTED}" for url, state in deliveries.items()
              if state.get("status") == "unconfirmed"]
    if ok:
        status = "unconfirmed" if doubts else "sent"
        save(status=status, attempts=attempts, sent_at=_stamp(moment), error="; ".join(doubts)[:2000] or None,
             next_attempt_at=None, last_attempt_at=_stamp(moment))
    elif attempts >= MAX_ATTEMPTS:
        save(status="failed", attempts=attempts, error="; ".join(errors)[:2000], last_attempt_at=_stamp(moment))
        status = "failed"
    else:
        retry = moment + timedelta(seconds=RETRY_DELAYS[attempts - 1])
        save(status="pending", attempts=attempts, error="; ".join(errors)[:2000], next_attempt_at=_stamp(retry),
             last_attempt_at=_stamp(moment))
        status = "pending"
    return Sent(ids, target, message.title, status, attempts, errors, len(doubts), doubts)


def log(store: Store, limit: int = 50, ids: Iterable[str] = ()) -> list[dict]:
    """The outbox, newest first: what was (or will be) sent to whom, when, and how it went."""
    rows = store.recent_messages(limit, list(ids))
    out = []
    for row in rows:
        row = dict(row)
        row["deliveries"] = json.loads(row["deliveries"] or "{}")
        out.append(row)
    return out

