"""Stage 8: notify — compose messages, route them to targets, deliver them with apprise.

Library only (no database): ``monitor``/``cli`` decide *when* to send; this module decides *what*,
*to whom* and *how*.

- ``compose_change`` / ``compose_digest`` / ``compose_failing`` / ``compose_recovered`` /
  ``compose_test`` build a ``Message``: a title and a body in Markdown and in HTML, each body
  made of a lead line (the verdict summary, never cut), head blocks (date, links) and detail items
  (changed sections, or the changes of a digest) that are dropped from the end to fit a service's
  length limit, with "… N more sections" in their place. ``Message.to_dict``/``from_dict`` let an
  outbox store it.
- ``route`` says which targets a change (or an error-state message) goes to; ``mode_of`` whether a
  target wants it at once or in the run's digest.
- ``deliver`` sends one message to every URL of one target, one URL at a time, and reports each
  URL's outcome (``Delivery``/``UrlResult``); it never raises for a delivery problem. ``${VAR}``
  references are expanded from the environment only here, at send time.
- ``redact`` renders an apprise URL without its secrets (apprise's own privacy rendering, then
  masking of what apprise leaves visible: custom headers and payload values, token-like path parts).
  While apprise runs, every secret of the URL is scrubbed from the records of apprise's and
  urllib3's loggers, whatever handlers the application installed.
- ``describe_targets`` lists targets with redacted URLs for ``policywatch list``.

apprise is imported lazily: loading a watchlist or composing a message does not pay for it.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote

from policywatch.apprise_config import VARIABLE, ConfigEntry, is_yaml, read_apprise_config
from policywatch.errors import ConfigError
from policywatch.render import interesting_sections, message_title, section_path, status_text
from policywatch.watchlist import SEVERITIES, Policy, Watchlist

if TYPE_CHECKING:
    from policywatch.diff import DocumentDiff, SectionDiff
    from policywatch.judge import Judgement

KINDS = ("change", "digest", "failing", "recovered", "test")
RANK = {name: index for index, name in enumerate(SEVERITIES)}
APP_ID = "policywatch"
# apprise services that are e-mail: they get the HTML diff page as an attachment.
EMAIL_SCHEMES = {"mailto", "mailtos", "azure", "o365", "brevo", "groundmail", "mailersend", "mailgun", "resend",
                 "sendgrid", "ses", "smtp2go", "sparkpost"}
MAX_EVIDENCE = 300  # characters of one quoted sentence
MAX_SIGNALS = 4  # per section in a message

_VAR = VARIABLE
_SENTINEL = re.compile(r"pwvar(\d+)z")
_SECRET_KEY = re.compile(r"token|key|secret|pass|pwd|auth|sig|cred|session|bearer|access|hook|code|apikey",
                         re.IGNORECASE)
# apprise adds its operational defaults to every URL it renders; they only clutter a listing.
_NOISE_KEYS = {"overflow", "retry", "wait", "optional", "rto", "cto", "verify", "method", "emojis", "store"}
# Loggers whose records may carry a URL or a configuration: a filter scrubs secrets from them.
_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "urllib3.connection",
            "urllib3.response")


# -- messages -------------------------------------------------------------------------------------------

def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with … when cut."""
    if len(text) <= limit:
        return text
    return text[:max(limit - 1, 0)].rstrip() + "…" if limit > 0 else ""


@dataclass
class Body:
    """One rendering of a message body, built to be trimmed without losing its verdict.

    ``lead`` (plain text) is the verdict/summary line: always first, cut only when the limit is
    smaller than it. ``head`` blocks (date, links) come next and go only if the lead alone fits.
    ``items`` (sections, or the changes of a digest) are dropped from the end, replaced by
    "… N more <noun>".
    """

    format: str  # markdown | html
    lead: str
    head: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    noun: str = "sections"

    def _lead(self, text: str) -> str:
        return f"<p><strong>{html.escape(text)}</strong></p>" if self.format == "html" else _md_escape(text)

    def _more(self, count: int) -> str:
        noun = self.noun if count != 1 else self.noun.rstrip("s")
        text = f"… {count} more {noun}"
        return f"<p><em>{html.escape(text)}</em></p>" if self.format == "html" else f"*{text}*"

    def _join(self, blocks: list[str]) -> str:
        return ("\n" if self.format == "html" else "\n\n").join(b for b in blocks if b) + "\n"

    def render(self, limit: int | None = None) -> str:
        """The body, at most ``limit`` characters long (no limit: everything)."""
        lead = self._lead(self.lead)
        full = self._join([lead, *self.head, *self.items])
        if limit is None or len(full) <= limit:
            return full
        for keep in range(len(self.items) - 1, -1, -1):
            text = self._join([lead, *self.head, *self.items[:keep], self._more(len(self.items) - keep)])
            if len(text) <= limit:
                return text
        for blocks in ([lead, *self.head], [lead, self._more(len(self.items))] if self.items else [lead], [lead]):
            text = self._join(blocks)
            if len(text) <= limit:
                return text
        overhead = len(self._join([self._lead("")]))
        for room in range(limit - overhead, -1, -1):  # escaping may lengthen the cut lead: shrink until it fits
            text = self._join([self._lead(clip(self.lead, room))])
            if len(text) <= limit:
                return text
        return ""


@dataclass
class Attachment:
    filename: str
    content: str  # HTML text


@dataclass
class Message:
    """What one notification says, in Markdown and HTML, trimmable per service."""

    kind: str  # change | digest | failing | recovered | test
    title: str
    markdown_body: Body
    html_body: Body
    severity: str | None = None
    material: bool = False
    categories: list[str] = field(default_factory=list)
    policy_id: str | None = None
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return self.markdown_body.lead

    @property
    def markdown(self) -> str:
        return self.markdown_body.render()

    @property
    def html(self) -> str:
        return self.html_body.render()

    @property
    def attachment_html(self) -> str | None:
        return self.attachments[0].content if self.attachments else None

    def body(self, fmt: str, limit: int | None = None) -> str:
        """The body as ``html`` or ``markdown`` (also used for plain-text services), trimmed to ``limit``."""
        return (self.html_body if fmt == "html" else self.markdown_body).render(limit)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        data = dict(data)
        data["markdown_body"] = Body(**data["markdown_body"])
        data["html_body"] = Body(**data["html_body"])
        data["attachments"] = [Attachment(**a) for a in data.get("attachments") or []]
        return cls(**data)


def fit(message: Message, fmt: str, body_maxlen: int | None = None, title_maxlen: int | None = None,
        title_in_body: bool = False) -> tuple[str, str]:
    """Title and body of ``message`` within a service's limits (apprise's ``title_maxlen``/``body_maxlen``).

    ``title_in_body``: the service has no title (``title_maxlen`` 0) or counts it in the body
    (``overflow_amalgamate_title``), so the body leaves room for it — at most half the limit.
    """
    title = message.title
    if title_maxlen is not None and title_maxlen > 0:
        title = clip(title, title_maxlen)
    limit = body_maxlen if body_maxlen and body_maxlen > 0 else None
    if limit is not None and (title_in_body or (title_maxlen is not None and title_maxlen <= 0)) and title:
        title = clip(title, max(limit // 2 - 8, 1))
        limit -= len(title) + 8  # apprise joins them with a line break (and bold markup in HTML)
    return title, message.body(fmt, limit)


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>|~" else c for c in text)


def _md_link(label: str, url: str) -> str:
    return f"[{label}]({url.replace(' ', '%20').replace('(', '%28').replace(')', '%29')})"


def _when(when: str | datetime | None) -> str:
    if when is None:
        when = datetime.now(timezone.utc)
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.astimezone(timezone.utc)
        return when.strftime("%Y-%m-%d %H:%M UTC")
    text = str(when)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    with contextlib.suppress(ValueError):
        return _when(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return text


def _links(fmt: str, links: Sequence[tuple[str, str | None]], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for label, url in links:
        if url:
            parts.append(f'<a href="{html.escape(url)}">{html.escape(label)}</a>' if fmt == "html"
                         else _md_link(label, url))
    text = " · ".join(parts)
    return f"<p>{text}</p>" if fmt == "html" and text else text


def _evidence(section: SectionDiff) -> list[tuple[str | None, str, str | None, str | None]]:
    """(message, category, old, new) rows for one section: its signals, else its key edited sentences."""
    rows: list[tuple[str | None, str, str | None, str | None]] = [
        (g.message, g.category, g.old, g.new) for g in section.signals[:MAX_SIGNALS]]
    if rows:
        return rows
    for old, new in section.changed_blocks[:2]:
        rows.append((None, "", old, new))
    for new in section.added_blocks[:max(0, 2 - len(rows))]:
        rows.append((None, "", None, new))
    for old in section.removed_blocks[:max(0, 2 - len(rows))]:
        rows.append((None, "", old, None))
    return rows


def _section_md(section: SectionDiff) -> str:
    lines = [f"**{_md_escape(section_path(section))}** — {status_text(section)}, {section.severity}"]
    for message, category, old, new in _evidence(section):
        indent = ""
        if message:
            lines.append(f"- {_md_escape(message)} ({category})")
            indent = "  "
        if old:
            lines.append(f"{indent}- before: “{_md_escape(clip(old, MAX_EVIDENCE))}”")
        if new:
            lines.append(f"{indent}- after: “{_md_escape(clip(new, MAX_EVIDENCE))}”")
    return "\n".join(lines)


def _section_html(section: SectionDiff) -> str:
    e = html.escape
    rows = []
    for message, category, old, new in _evidence(section):
        parts = [f"{e(message)} <em>({e(category)})</em>"] if message else []
        if old:
            parts.append(f"<del>− {e(clip(old, MAX_EVIDENCE))}</del>")
        if new:
            parts.append(f"<ins>+ {e(clip(new, MAX_EVIDENCE))}</ins>")
        rows.append("<li>" + "<br>".join(parts) + "</li>")
    return (f"<h3>{e(section_path(section))} <small>— {e(status_text(section))}, {e(section.severity)}</small></h3>"
            + (f"<ul>{''.join(rows)}</ul>" if rows else ""))


def _message_sections(diff: DocumentDiff) -> list[SectionDiff]:
    """Changed sections worth a message, most severe first (document order among equals)."""
    changed = interesting_sections(diff)
    sections = [s for s in changed if s.severity not in ("none", "low")] or changed
    return sorted(sections, key=lambda s: -RANK.get(s.severity, 0))


def compose_change(policy: Policy, diff: DocumentDiff, judgement: Judgement, when: str | datetime | None = None,
                   *, url: str | None = None, archived_url: str | None = None, old_label: str = "previous version",
                   new_label: str = "new version") -> Message:
    """The message for one new version of ``policy``: verdict, changed sections with evidence, links.

    ``url`` is the live page (default: the policy's URL); ``archived_url`` a stored copy, if any. The
    HTML diff page (``render_html``) is attached for e-mail targets.
    """
    from policywatch.render import render_html

    live = url or policy.url
    detected = f"Detected {_when(when)}"
    links = [("live page", live), ("archived copy", archived_url)]
    sections = _message_sections(diff)
    lead = judgement.summary or f"{judgement.severity} change"
    markdown = Body("markdown", lead, [_links("markdown", links, detected)], [_section_md(s) for s in sections])
    html_body = Body("html", lead, [_links("html", links, html.escape(detected))], [_section_html(s) for s in sections])
    page = render_html(diff, judgement, old_label, new_label)
    return Message("change", message_title(policy.name, judgement), markdown, html_body, judgement.severity,
                   judgement.material, list(judgement.categories), policy.id,
                   [Attachment(f"{policy.id}-diff.html", page)])


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def compose_digest(target_name: str, messages: Iterable[Message]) -> Message:
    """One message listing every message of a run for ``target_name``: changes most severe first,
    then error states. E-mail gets every change's diff page attached."""
    messages = list(messages)
    changes = sorted((m for m in messages if m.kind == "change"), key=lambda m: -RANK.get(m.severity or "none", 0))
    others = [m for m in messages if m.kind != "change"]
    ordered = changes + others
    counts = {}
    for m in changes:
        counts[m.severity or "none"] = counts.get(m.severity or "none", 0) + 1
    parts = []
    if changes:
        parts.append(_plural(len(changes), "change") + " ("
                     + ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if s in counts) + ")")
    failing = sum(1 for m in others if m.kind == "failing")
    if failing:
        parts.append(f"{failing} {'policy' if failing == 1 else 'policies'} failing")
    rest = len(others) - failing
    if rest:
        parts.append(_plural(rest, "other message"))
    overview = ", ".join(parts) or "nothing to report"
    lead = f"{overview} — digest for {target_name}"

    def item_md(m: Message) -> str:  # hard line breaks: one block per message
        return "  \n".join([f"**{_md_escape(m.title)}**", _md_escape(m.summary), *m.markdown_body.head])

    def item_html(m: Message) -> str:
        return (f"<h3>{html.escape(m.title)}</h3><p>{html.escape(m.summary)}</p>" + "".join(m.html_body.head))

    severity = max((m.severity for m in changes if m.severity), key=lambda s: RANK[s], default=None)
    categories = list(dict.fromkeys(c for m in changes for c in m.categories))
    return Message("digest", f"policywatch — {overview}", Body("markdown", lead, [], [item_md(m) for m in ordered],
                                                                  "changes"),
                   Body("html", lead, [], [item_html(m) for m in ordered], "changes"), severity,
                   any(m.material for m in changes), categories, None,
                   [a for m in ordered for a in m.attachments])


def compose_failing(policy: Policy, streak: int, reason: str, message: str | None = None,
                    since: str | datetime | None = None) -> Message:
    """'ACME Privacy Policy — checks failing (3 runs): timeout'."""
    runs = _plural(streak, "run")
    title = f"{policy.name} — checks failing ({runs}): {reason}"
    lead = f"The last {_plural(streak, 'check')} of {policy.name} failed: {reason}"
    if message:
        lead += f" — {message}"
    head_text = f"Failing since {_when(since)}" if since else ""
    links = [("page", policy.url)]
    return Message("failing", title, Body("markdown", clip(lead, 600), [_links("markdown", links, head_text)]),
                   Body("html", clip(lead, 600), [_links("html", links, html.escape(head_text))]),
                   policy_id=policy.id)


def compose_recovered(policy: Policy, since: str | datetime | None = None, streak: int | None = None) -> Message:
    """'ACME Privacy Policy — checks recovered' after a failing streak."""
    lead = f"{policy.name} can be checked again"
    if streak:
        lead += f" after {_plural(streak, 'failed run')}"
    if since:
        lead += f" (failing since {_when(since)})"
    links = [("page", policy.url)]
    return Message("recovered", f"{policy.name} — checks recovered", Body("markdown", lead + ".",
                                                                           [_links("markdown", links)]),
                   Body("html", lead + ".", [_links("html", links)]), policy_id=policy.id)


def compose_test(target_name: str | None = None, when: str | datetime | None = None) -> Message:
    """The message of ``policywatch notify test``."""
    to = f" to notify target '{target_name}'" if target_name else ""
    lead = f"If you can read this, policywatch can send messages{to}."
    head = f"Sent {_when(when)}"
    return Message("test", "policywatch — test notification", Body("markdown", lead, [head]),
                   Body("html", lead, [f"<p>{html.escape(head)}</p>"]))


# -- routing ---------------------------------------------------------------------------------------------

def route(watchlist: Watchlist, policy: Policy, severity: str | None = None, material: bool = False,
          categories: Iterable[str] = (), *, kind: str = "change") -> list[str]:
    """Names of the targets that get a message about ``policy``.

    Candidates: the policy's ``notify`` list (defaults already applied) plus every target whose
    ``tags`` name one of the policy's tags. A change goes only where it is material, at least as
    severe as the target's ``min_severity`` (else the policy's) and, for a target with
    ``categories``, touching one of them. Other kinds (failing, recovered) go to every candidate.
    """
    names = list(policy.notify)
    names += [t.name for t in watchlist.targets.values() if set(t.tags) & set(policy.tags)]
    names = list(dict.fromkeys(names))
    if kind != "change":
        return names
    if not material or severity is None:
        return []
    categories = set(categories)
    chosen = []
    for name in names:
        target = watchlist.targets.get(name)
        threshold = (target.min_severity if target else None) or policy.min_severity
        if RANK.get(severity, 0) < RANK.get(threshold, 0):
            continue
        if target and target.categories and not categories & set(target.categories):
            continue
        chosen.append(name)
    return chosen


def mode_of(watchlist: Watchlist, target_name: str) -> str:
    """'immediate' or 'digest'."""
    target = watchlist.targets.get(target_name)
    return target.mode if target else "immediate"


# -- secrets ---------------------------------------------------------------------------------------------

def variables(url: str) -> list[str]:
    """Names of the ``${VAR}`` references in ``url``."""
    return list(dict.fromkeys(_VAR.findall(url)))


def expand(text: str, env: Mapping[str, str]) -> str:
    """``text`` with every ``${VAR}`` replaced from ``env`` (KeyError naming the first one unset or empty)."""
    def value(match: re.Match) -> str:
        found = env.get(match.group(1))
        if not found:
            raise KeyError(match.group(1))
        return found

    return _VAR.sub(value, text)


def _token_like(text: str) -> bool:
    text = unquote(text)
    if len(text) < 12 or "@" in text or _SENTINEL.search(text):  # around a ${VAR}: the secret is the variable
        return False
    if "." in text and len(text) < 40:  # host and file names
        return False
    return bool(re.search(r"\d", text)) or len(text) >= 20


def _mask(text: str) -> str:
    if not text or _SENTINEL.fullmatch(text) or set(text) <= set("*."):
        return text
    return "****" if len(unquote(text)) <= 8 else f"{text[0]}...{text[-1]}"


def _secret_query(key: str, value: str) -> bool:
    key = unquote(key)
    return bool(value) and ((key[:1] != "" and key[:1] in "+-:") or bool(_SECRET_KEY.search(key))
                            or _token_like(value))


def _split_url(url: str) -> tuple[str, str, str, str, list[tuple[str, str]]] | None:
    """scheme, userinfo, hostport, path, query pairs (raw text) — tolerant of anything apprise accepts."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?]*)([^?]*)(?:\?(.*))?$", url, re.DOTALL)
    if not match:
        return None
    scheme, authority, path, query = match.groups()
    userinfo, _, hostport = authority.rpartition("@")
    pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in (query or "").split("&") if p]
    return scheme, userinfo, hostport, path, pairs  # type: ignore[return-value]


def _mask_url(url: str, keep_keys: set[str] | None = None) -> str:
    """Mask the secret-looking parts of an apprise URL: password, token-like user/host/path parts,
    query values of custom headers (+), payload (:), GET (-) and secret-named keys."""
    parts = _split_url(url)
    if parts is None:
        return _mask(url)
    scheme, userinfo, hostport, path, pairs = parts
    out = f"{scheme}://"
    if userinfo:
        user, colon, password = userinfo.partition(":")
        out += _mask(user) if _token_like(user) else user
        if colon:
            out += ":" + (password if _SENTINEL.fullmatch(password) else "****")
        out += "@"
    host, colon, port = hostport.rpartition(":") if re.search(r":\d*$", hostport) else (hostport, "", "")
    out += (_mask(host) if _token_like(host) else host) + colon + port
    out += "/".join(_mask(seg) if _token_like(seg) else seg for seg in path.split("/"))
    kept = []
    for key, value in pairs:
        name = unquote(key).lower()
        if keep_keys is not None and name not in keep_keys:
            continue
        if keep_keys is None and name in _NOISE_KEYS:
            continue
        shown = unquote(key)
        kept.append(f"{shown}={_mask(value) if _secret_query(key, value) else value}" if value else shown)
    return out + ("?" + "&".join(kept) if kept else "")


def _literal_secrets(url: str) -> set[str]:
    """The parts of ``url`` that may be secrets (for scrubbing logs and outputs)."""
    parts = _split_url(url)
    if parts is None:
        return {url} if len(url) >= 4 else set()
    _, userinfo, hostport, path, pairs = parts
    found = set()
    user, _, password = userinfo.partition(":")
    found.add(password)
    found.update(s for s in (user, hostport.split(":")[0], *path.split("/")) if _token_like(s))
    found.update(v for k, v in pairs if _secret_query(k, v))
    return _variants(found)


def _variants(values: Iterable[str]) -> set[str]:
    out = set()
    for value in values:
        if _SENTINEL.search(value):  # a ${VAR} reference (while redacting a template): not a secret itself
            continue
        for form in (value, unquote(value)):
            if len(form) >= 4:
                out.update({form, quote(form, safe=""), quote_plus(form, safe="")})
    return out


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, "****")
    return text


class _ScrubFilter(logging.Filter):
    """Removes secrets from log records of apprise and urllib3 before any handler sees them."""

    def __init__(self) -> None:
        super().__init__("policywatch-secrets")
        self.secrets: dict[str, int] = {}
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            secrets = list(self.secrets)
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        clean = _scrub(text, secrets)
        if clean != text:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = _scrub(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        return True


_FILTER = _ScrubFilter()


@contextlib.contextmanager
def _hushed(secrets: Iterable[str]) -> Iterator[None]:
    """While inside, ``secrets`` never reach a handler of apprise's or urllib3's loggers."""
    secrets = {s for s in secrets if s}
    with _FILTER.lock:
        for secret in secrets:
            _FILTER.secrets[secret] = _FILTER.secrets.get(secret, 0) + 1
        for name in _LOGGERS:
            if _FILTER not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(_FILTER)
    try:
        yield
    finally:
        with _FILTER.lock:
            for secret in secrets:
                _FILTER.secrets[secret] -= 1
                if not _FILTER.secrets[secret]:
                    del _FILTER.secrets[secret]


def _asset():
    import apprise

    return apprise.AppriseAsset(app_id=APP_ID, app_desc="policywatch — privacy policy monitor",
                                app_url="https://github.com/policywatch/policywatch")


def _instantiate(url: str, asset=None):
    import apprise

    try:
        return apprise.Apprise.instantiate(url, asset=asset or _asset())
    except Exception:  # noqa: BLE001 - a broken plugin must not break a listing or a run
        return None


def _privacy_url(plugin) -> str | None:
    try:
        return plugin.url(privacy=True)
    except Exception:  # noqa: BLE001
        return None


def redact(url: str) -> str:
    """``url`` safe to print: apprise's privacy rendering (``plugin.url(privacy=True)``), with what it
    leaves visible masked too; a masking fallback for URLs apprise cannot read. ``${VAR}``
    references stay as they are: they name a secret without holding it."""
    names = variables(url)
    template = _VAR.sub(lambda m: f"pwvar{names.index(m.group(1))}z", url)
    secrets = _literal_secrets(template)
    with _hushed(secrets):
        plugin = _instantiate(template)
        rendered = (_privacy_url(plugin) if plugin is not None else None) or template
    parts = _split_url(url)
    keep = {unquote(k).lower() for k, _ in parts[4]} if parts else set()
    out = _scrub(_mask_url(rendered, keep_keys=keep), secrets)
    password = parts[1].partition(":")[2] if parts else ""
    if _VAR.fullmatch(password) and out.count(":****@") == 1:  # name the variable instead of hiding it
        out = out.replace(":****@", f":{password}@")
    return _SENTINEL.sub(lambda m: "${" + names[int(m.group(1))] + "}", out)


def _redact_plugin(plugin, secrets: Iterable[str]) -> str:
    rendered = _privacy_url(plugin) or f"{getattr(plugin, 'service_name', 'service')}://…"
    return _scrub(_mask_url(rendered), secrets)


# -- delivery --------------------------------------------------------------------------------------------

@dataclass
class UrlResult:
    url: str  # redacted
    ok: bool
    error: str | None = None
    format: str | None = None  # html | markdown | text: what was sent
    attached: int = 0  # attachments sent


@dataclass
class Delivery:
    target: str
    results: list[UrlResult] = field(default_factory=list)
    error: str | None = None  # a problem with the target as a whole

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.results) and all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "ok": self.ok, "error": self.error,
                "results": [asdict(r) for r in self.results]}


def _format_for(plugin) -> str:
    """The format a service takes: our HTML for HTML services, our Markdown otherwise."""
    from apprise import NotifyFormat

    resolve = getattr(plugin, "resolve_format", None)
    fmt = resolve(NotifyFormat.MARKDOWN) if resolve else plugin.notify_format
    if isinstance(fmt, (tuple, list)):
        fmt = fmt[0]
    return {NotifyFormat.HTML: "html", NotifyFormat.MARKDOWN: "markdown"}.get(fmt, "text")


def _is_email(plugin) -> bool:
    protocols = set()
    for value in (getattr(plugin, "protocol", None), getattr(plugin, "secure_protocol", None)):
        protocols.update(value if isinstance(value, (tuple, list)) else [value])
    is_email = bool(protocols & EMAIL_SCHEMES) or any(cls.__name__ == "NotifyEmail" for cls in type(plugin).__mro__)
    return bool(getattr(plugin, "attachment_support", False)) and is_email


def _notify_type(message: Message):
    from apprise import NotifyType

    if message.kind == "failing":
        return NotifyType.FAILURE
    if message.kind == "recovered":
        return NotifyType.SUCCESS
    if message.severity == "high":
        return NotifyType.WARNING
    return NotifyType.INFO


def _send(plugin, message: Message, secrets: set[str], label: str, asset) -> UrlResult:
    """Send ``message`` to one apprise service; report, never raise."""
    with _hushed(secrets):
        try:
            return _send_hushed(plugin, message, secrets, label, asset)
        except Exception as exc:  # noqa: BLE001 - report it, whatever it is
            return UrlResult(label, False, clip(_scrub(f"{type(exc).__name__}: {exc}", secrets), 500))


def _send_hushed(plugin, message: Message, secrets: set[str], label: str, asset) -> UrlResult:
    import apprise

    fmt = _format_for(plugin)
    title, body = fit(message, fmt, getattr(plugin, "body_maxlen", None), getattr(plugin, "title_maxlen", None),
                      bool(getattr(plugin, "overflow_amalgamate_title", False)))
    body_format = {"html": apprise.NotifyFormat.HTML, "markdown": apprise.NotifyFormat.MARKDOWN}.get(
        fmt, apprise.NotifyFormat.TEXT)
    attachments = message.attachments if _is_email(plugin) else []
    with contextlib.ExitStack() as stack:
        attach = None
        if attachments:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="policywatch-")))
            attach = apprise.AppriseAttachment(asset=asset)
            for index, item in enumerate(attachments):
                name = re.sub(r"[^\w.-]+", "-", item.filename) or "diff.html"
                (folder / str(index)).mkdir()  # one folder each: two policies' files may share a name
                file = folder / str(index) / name
                file.write_text(item.content, encoding="utf-8")
                attach.add(str(file))
        app = apprise.Apprise(asset=asset)
        app.add(plugin)
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as capture:
            ok = bool(app.notify(body=body, title=title, body_format=body_format,
                                 notify_type=_notify_type(message), attach=attach))
        logs = capture.getvalue()
    error = None
    if not ok:
        lines = [line.strip() for line in logs.splitlines() if line.strip()]
        error = clip(_scrub("; ".join(dict.fromkeys(lines)), secrets), 500) or "apprise reported a failure"
    return UrlResult(label, ok, error, fmt, len(attachments) if ok else 0)


def _config_services(path: Path, tag: str, env: Mapping[str, str], asset) -> tuple[list, set[str], str | None]:
    """The apprise services of ``path`` tagged ``tag``, ``${VAR}`` expanded; (services, secrets, error)."""
    import apprise

    try:
        entries = read_apprise_config(path)
        text = path.read_text(encoding="utf-8")
    except ConfigError as exc:
        return [], set(), str(exc)
    except OSError as exc:
        return [], set(), f"{path}: cannot read apprise configuration: {exc}"
    for entry in entries:
        if tag in entry.tags:
            for name in entry.variables:
                if not env.get(name):
                    return [], set(), (f"environment variable {name} is not set (notify target '{tag}', "
                                       f"{path.name}:{entry.line})")
    names = sorted({name for entry in entries for name in entry.variables} | set(_VAR.findall(text)))
    values = {name: env.get(name) or "" for name in names}
    secrets = _variants(v for v in values.values() if v)
    for entry in entries:
        secrets |= _literal_secrets(entry.url)
    yaml = is_yaml(path, text)
    if yaml:
        from io import StringIO

        from ruamel.yaml import YAML

        def substitute(node: Any) -> Any:
            if isinstance(node, str):
                return _VAR.sub(lambda m: values.get(m.group(1), ""), node)
            if isinstance(node, dict):
                return {substitute(k): substitute(v) for k, v in node.items()}
            if isinstance(node, list):
                return [substitute(v) for v in node]
            return node

        safe = YAML(typ="safe", pure=True)
        stream = StringIO()
        safe.dump(substitute(safe.load(text)), stream)
        text = stream.getvalue()
    else:
        text = _VAR.sub(lambda m: values.get(m.group(1), ""), text)
    with _hushed(secrets), apprise.LogCapture(level=logging.WARNING, fmt="%(message)s"):
        config = apprise.AppriseConfig(asset=asset)
        config.add_config(text, asset=asset, format="yaml" if yaml else "text")
        app = apprise.Apprise(asset=asset)
        app.add(config)
        services = list(app.find(tag=tag))
    if not services:
        return [], secrets, f"no usable apprise service in {path.name} is tagged '{tag}'"
    return services, secrets, None


def deliver(watchlist: Watchlist, target_name: str, message: Message,
            env: Mapping[str, str] | None = None, *, skip: Collection[str] = (),
            before_send: Callable[[str], None] | None = None) -> Delivery:
    """Send ``message`` to every URL of target ``target_name``, one at a time; never raises.

    Each URL gets its own ``UrlResult`` (redacted URL, ok, apprise's logged error). ``${VAR}``
    references are expanded from ``env`` (default ``os.environ``) here and nowhere else; a missing
    variable fails that URL with an error naming the variable and the target. Services whose
    format is HTML get the HTML body, others the Markdown one; bodies are trimmed to each service's
    limits; e-mail services get the message's attachments (the HTML diff page).

    For the outbox: URLs whose redacted form is in ``skip`` are left out (already delivered), and
    ``before_send(redacted_url)`` runs just before each send, so the attempt can be recorded first.
    """
    def send(plugin, secrets: set[str], label: str) -> None:
        if before_send is not None:
            before_send(label)
        delivery.results.append(_send(plugin, message, secrets, label, asset))

    env = os.environ if env is None else env
    delivery = Delivery(target_name)
    target = watchlist.targets.get(target_name)
    if target is None:
        delivery.error = f"no notify target named '{target_name}' in {watchlist.path}"
        return delivery
    asset = _asset()
    for url in target.urls:
        label = redact(url)
        if label in skip:
            continue
        try:
            expanded = expand(url, env)
        except KeyError as exc:
            delivery.results.append(UrlResult(label, False, f"environment variable {exc.args[0]} is not set "
                                                            f"(notify target '{target_name}')"))
            continue
        secrets = _literal_secrets(expanded) | _variants(env[name] for name in variables(url))
        with _hushed(secrets), _captured() as logs:
            plugin = _instantiate(expanded, asset)
        if plugin is None:
            why = _scrub("; ".join(logs()), secrets)
            delivery.results.append(UrlResult(label, False, clip("not a usable apprise URL" + (f": {why}" if why
                                                                                              else ""), 500)))
            continue
        send(plugin, secrets, label)
    if target.from_config and watchlist.apprise_config is not None:
        services, secrets, error = _config_services(Path(watchlist.apprise_config), target_name, env, asset)
        if error:
            delivery.results.append(UrlResult(f"{Path(watchlist.apprise_config).name} [{target_name}]", False,
                                              _scrub(error, secrets)))
        for plugin in services:
            label = _redact_plugin(plugin, secrets)
            if label not in skip:
                send(plugin, secrets, label)
    if not delivery.results and not skip:
        delivery.error = f"notify target '{target_name}' has no apprise URLs"
    return delivery


@contextlib.contextmanager
def _captured() -> Iterator[Any]:
    """Capture apprise's warnings; yields a function returning the captured lines."""
    import apprise

    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as stream:
        yield lambda: [line.strip() for line in stream.getvalue().splitlines() if line.strip()]


# -- listing ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TargetInfo:
    name: str
    urls: tuple[str, ...]  # redacted
    min_severity: str | None
    categories: tuple[str, ...]
    mode: str
    tags: tuple[str, ...] = ()
    from_config: bool = False


def describe_targets(watchlist: Watchlist) -> list[TargetInfo]:
    """Every target with redacted URLs (those of the apprise_config file included) for ``policywatch list``."""
    entries: list[ConfigEntry] = []
    if watchlist.apprise_config is not None:
        with contextlib.suppress(ConfigError):
            entries = read_apprise_config(watchlist.apprise_config)
    out = []
    for target in watchlist.targets.values():
        urls = [redact(u) for u in target.urls]
        if target.from_config:
            urls += [redact(e.url) for e in entries if target.name in e.tags]
        out.append(TargetInfo(target.name, tuple(urls), target.min_severity, tuple(target.categories), target.mode,
                              tuple(target.tags), target.from_config))
    return out
