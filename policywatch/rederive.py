"""Re-derive stored versions from raw snapshots when the normalizer (or a policy's settings) improves.

Raw responses are immutable, so a better normalizer can be applied to the whole history. The
re-derived texts become new versions marked as technical updates: they are never judged as
changes of the policy and never alerted. Old versions stay in the database for the record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

from policywatch.fetch import FetchError, decode_body
from policywatch.judge import load_rules, stated_date
from policywatch.normalize import IgnoreTimeout, normalize_text
from policywatch.store import Store
from policywatch.timeline import find_or_add_version
from policywatch.watchlist import Policy, Watchlist


@dataclass
class RederiveResult:
    policy_id: str
    entries: int
    rederived: int = 0
    merged: int = 0
    missing: int = 0
    restated: int = 0  # versions whose stated date now reads otherwise

    @property
    def changed(self) -> bool:
        return bool(self.rederived or self.merged)

    def line(self) -> str:
        from policywatch.report import rederive_line

        return rederive_line(self)


def renormalize(store: Store, watchlist: Watchlist | None = None, ids: Iterable[str] = ()) -> list[RederiveResult]:
    ids = list(ids)
    stored = store.policy_rows()
    for policy_id in ids:
        if policy_id not in stored:
            from policywatch.errors import UsageError

            raise UsageError(f"no stored policy '{policy_id}'")
    policies = {p.id: p for p in watchlist} if watchlist else {}
    results = []
    with store.writer():
        for policy_id in ids or sorted(stored):
            row = stored[policy_id]
            policy = policies.get(policy_id) or Policy(id=policy_id, name=row["name"], url=row["url"])
            with store.transaction():
                results.append(_rederive_policy(store, policy))
    return results


def _rederive_policy(store: Store, policy: Policy) -> RederiveResult:
    timeline = store.changes_with_snapshots(policy.id)
    result = RederiveResult(policy.id, len(timeline))
    previous_version_id = previous_change_id = None
    for entry in timeline:
        snapshot = entry["observed_snapshot"] or entry["snapshot_sha256"]
        version_id = entry["version_id"]
        if snapshot is None:
            result.missing += 1
        else:
            content, content_type, encoding = store.snapshot(snapshot)
            try:
                text, _ = decode_body(content, content_type, policy.encoding or encoding)
            except FetchError:
                text = None
            normalized = None
            if text is not None:
                with contextlib.suppress(IgnoreTimeout):  # a broken `ignore` pattern: this text stays as it was
                    normalized = normalize_text(text, content_type=content_type, select=policy.select,
                                                remove=policy.remove, ignore=policy.ignore)
            if normalized is not None:
                sha = normalized.document.sha256
                if sha != entry["text_sha256"] and normalized.document.word_count:
                    version, _ = find_or_add_version(store, policy.id, normalized, captured_at=entry["captured_at"],
                                                     source=entry["source"], snapshot_sha256=snapshot)
                    version_id = version["id"]
                    result.rederived += 1
        if version_id == previous_version_id:
            # Two texts the old normalizer told apart are now one: that was never a change. Its
            # reviews go to the change that put this text in effect.
            store.move_reviews(store.delete_change(entry["id"]), previous_change_id)
            result.merged += 1
            continue
        if version_id != entry["version_id"] or result.changed:
            number = store.version_numbers(policy.id)[version_id]
            seen_before = store.version_seen_before(policy.id, version_id, entry["captured_at"], entry["id"])
            store.update_change(entry["id"], {
                "version_id": version_id, "previous_version_id": previous_version_id,
                "returns_to": number if seen_before else None,
                "technical": 1 if version_id != entry["version_id"] else 0,
            })
        previous_version_id, previous_change_id = version_id, entry["id"]
    # The dates the texts state, as read today ("May 2024" was read as the run's day of May). A date
    # stored by an earlier reading is kept where today's reads none.
    rules = load_rules()
    versions = store.versions_of(policy.id)
    history = "\n".join(version["text"] for version in versions)
    for version in versions:
        stated = stated_date(version["text"], rules, context=history)
        if stated is not None and stated != version.get("stated_date"):
            store.update_version(version["id"], stated_date=stated)
            result.restated += 1
    if result.changed and previous_version_id is not None:
        # The next check must normalize afresh instead of taking the same-bytes fast path.
        store.update_policy(policy.id, current_version_id=previous_version_id, last_profile=None,
                            last_raw_sha256=None)
    return result
