"""The fixed vocabulary every stage shares: severities in order, and the twelve categories.

One home, so that the watchlist's checks, the judgement and the messages cannot disagree on an
order or a name. The plain names people read come from the lexicons (``judge.rules``).
"""

from __future__ import annotations

SEVERITIES = ("none", "low", "medium", "high")  # in order: a change at or above medium is material
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
CATEGORIES = (
    "data_collected",
    "purposes",
    "sharing",
    "choices",
    "user_rights",
    "retention",
    "security",
    "international_transfers",
    "children",
    "tracking",
    "policy_changes",
    "controller_contact",
)

