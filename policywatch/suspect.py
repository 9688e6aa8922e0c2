"""Is this page really the policy? Bot walls, logins, error pages, redirects, empty or shrunk pages.

A suspect page is recorded as an observation and never becomes a version: storing a captcha
page as "the new policy" would alert everyone twice (once for the captcha, once on recovery).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from policywatch.normalize import Normalized

MIN_WORDS = 25  # fewer words than this is not a policy (a "Loading…" shell, a stub)
SHRINK_RATIO = 0.5  # a new text under half of the last version's length

BOT_WALL = re.compile(
    r"captcha|are you (a )?(human|robot)|verify (that )?you are (a )?human|checking (if the site connection "
    r"is secure|your browser)|just a moment\.\.\.|attention required|access denied|request blocked|"
    r"unusual traffic|enable (javascript|cookies) (and cookies )?to continue|ddos protection|"
    r"pardon our interruption|press (&|and) hold|bot (detection|protection)|you have been blocked|"
    r"security check|cf-chl|please wait while we verify",
    re.IGNORECASE,
)
LOGIN = re.compile(r"\b(sign in|log in|login|sign-in|log-in|anmelden|connexion|iniciar sesi[oó]n)\b", re.I)
LOGIN_PATH = re.compile(r"/(login|log-in|signin|sign-in|sso|auth|oauth|account/login|session)(/|$|\?)", re.I)
ERROR_PAGE = re.compile(
    r"\b(404|403|410|500|502|503)\b.{0,40}\b(not found|forbidden|gone|error|unavailable)\b|"
    r"\bpage (was )?not (be )?found\b|\bpage (you requested |you are looking for )?(does not|doesn't|could not|"
    r"can't|cannot) (exist|be found)\b|\bsomething went wrong\b|\bservice unavailable\b|\binternal server error\b",
    re.IGNORECASE,
)

@dataclass
class PageDiagnosis:
    """Is a fetched page the policy? If not (``suspect``), why, in a word and in a sentence."""

    suspect: bool
    reason: str | None = None  # bot_wall, login, error_page, redirected, javascript, empty, shrunk, language, selector
    detail: str | None = None


def is_shrunk(words: int, previous_words: int | None) -> bool:
    """Under half the words of the text in effect: a teaser, a landing page, a broken render."""
    return bool(previous_words) and words < previous_words * SHRINK_RATIO


def _site_root(path: str) -> bool:
    """'/', '/en', '/en-us/' and the like: a home page, not a policy."""
    return re.fullmatch(r"/?([a-z]{2}([-_][a-z]{2})?/?)?(index\.html?)?", path.lower()) is not None


def diagnose_page(normalized: Normalized, *, requested_url: str, final_url: str | None,
                  previous_words: int | None = None, previous_language: str | None = None) -> PageDiagnosis:
    """Decide whether a fetched page is the policy or something standing in its way."""
    document = normalized.document
    words = document.word_count
    # A bot wall, login or error page also lacks the policy's 'select' element: name the cause, not
    # the symptom. With nothing selected, the page's own visible text says what it is.
    missing = normalized.selector_missing
    page_words = len(normalized.raw_text_sample.split()) if missing else words
    short = page_words < 400
    visible = normalized.raw_text_sample if missing else document.plain_text
    sample = " ".join(filter(None, [normalized.title, normalized.raw_text_sample[:1500]]))
    if short and BOT_WALL.search(sample):
        return PageDiagnosis(True, "bot_wall",
                             f"bot wall or captcha ({normalized.title or 'untitled'}, {page_words} words)")
    requested = urlsplit(requested_url)
    final = urlsplit(final_url or requested_url)
    if final.path != requested.path and LOGIN_PATH.search(final.path) and not LOGIN_PATH.search(requested.path):
        return PageDiagnosis(True, "login", f"redirected to a login page {final_url}")
    if short and normalized.has_password_field and LOGIN.search(sample):
        return PageDiagnosis(True, "login", "a login form stands where the policy was")
    if short and ERROR_PAGE.search(" ".join(filter(None, [normalized.title, visible[:600]]))):
        return PageDiagnosis(True, "error_page",
                             f"error page served with status 200 ({normalized.title or 'untitled'})")
    if final_url and final.scheme in ("http", "https") and _site_root(final.path) and not _site_root(requested.path):
        return PageDiagnosis(True, "redirected", f"redirected away from the policy to {final_url}")
    if page_words < MIN_WORDS and normalized.script_shell:
        return PageDiagnosis(True, "javascript", f"the page's text is injected by JavaScript: its HTML is an empty "
                                           f"shell ({page_words} words) and policywatch does not run scripts")
    if page_words < MIN_WORDS:
        return PageDiagnosis(True, "empty", f"page has only {page_words} words of text")
    if missing:
        return PageDiagnosis(True, "selector", "the 'select' CSS selector matched nothing on the page")
    if previous_words and is_shrunk(words, previous_words):
        return PageDiagnosis(True, "shrunk", f"text shrank from {previous_words} to {words} words")
    if previous_language:
        language = document.detected_language
        if language and language != previous_language:
            return PageDiagnosis(True, "language", f"language changed from {previous_language} to {language}")
    return PageDiagnosis(False)
