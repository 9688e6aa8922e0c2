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



# Why a check failed or a page was suspect, as people read it (the data and the CLI keep the codes).
REASON_WORDS = {
    "bot_wall": "a bot check stood in the way", "login": "a login page stood in the way",
    "error_page": "an error page came back", "redirected": "redirected away from the policy",
    "javascript": "the text needs JavaScript", "empty": "the page was nearly empty",
    "selector": "the selector matched nothing", "shrunk": "the text shrank suddenly",
    "language": "the page changed language", "connection": "the site could not be reached",
    "timeout": "the site was too slow", "http_error": "the site answered with an error",
    "not_found": "the page is gone", "rate_limited": "the site asked us to slow down",
    "too_large": "the page was too large", "unreadable": "the page could not be read",
    "redirect_loop": "the site redirects in a loop", "private_redirect": "redirected to a private address",
    "reader_died": "reading the page crashed", "bad_url": "the URL is not valid",
}


def reason_words(reason: str) -> str:
    """A failure or suspect reason code in plain words (an unknown code with its underscores spaced)."""
    return REASON_WORDS.get(reason, reason.replace("_", " "))
