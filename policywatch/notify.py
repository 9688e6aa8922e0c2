"""The notify stage (docs/architecture.md): route messages to targets and deliver them with apprise.

Library only (no database): the outbox decides *when* to send; ``messages`` decides *what*; this
module decides *to whom* and *how*.

- ``route`` says which targets a change (or an error-state message) goes to; ``mode_of`` whether a
  target wants it at once or in the run's digest.
- ``deliver`` sends one message to every URL of one target, one URL at a time, and reports each
  URL's outcome (``Delivery``/``UrlResult``); it never raises for a delivery problem. Secrets are
  handled by ``secrets``: expanded only here, at send time, and never printed.
- Each URL gets the target's ``timeout`` to connect and to answer, and the message carries an
  idempotency key (``Idempotency-Key`` header where the service takes custom headers, a footer
  line in e-mail). A request that was sent but not answered in time is ``unconfirmed``: the
  service may have it, so the outbox never sends it again (a connection failure stays a failure).
- ``describe_targets`` lists targets with redacted URLs for ``policywatch list``.

apprise is imported lazily: loading a watchlist or composing a message does not pay for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from policywatch.apprise_config import VARIABLE, ConfigEntry, is_yaml, read_apprise_config
from policywatch.errors import ConfigError
from policywatch.messages import KINDS, Message, clip, fit, key_footer
from policywatch.secrets import (
    apprise_asset,
    expand,
    hushed,
    instantiate,
    literal_secrets,
    redact,
    redact_plugin,
    scrub,
    variables,
    variants,
)
from policywatch.vocabulary import SEVERITY_RANK
from policywatch.watchlist import DEFAULT_NOTIFY_MODE, Policy, Watchlist

# apprise services that are e-mail: they get the HTML diff page as an attachment.
EMAIL_SCHEMES = {"mailto", "mailtos", "azure", "o365", "brevo", "groundmail", "mailersend", "mailgun", "resend",
                 "sendgrid", "ses", "smtp2go", "sparkpost"}
_VAR = VARIABLE
IDEMPOTENCY_HEADER = "Idempotency-Key"


# -- routing ---------------------------------------------------------------------------------------------

def route(watchlist: Watchlist, policy: Policy, severity: str | None = None, categories: Iterable[str] = (), *,
          kind: str = "change") -> list[str]:
    """Names of the targets that get a message about ``policy``.

    Candidates (``candidates``): the policy's ``notify`` list (defaults already applied) plus every
    target whose ``tags`` name one of the policy's tags. A change goes only where it is at least as
    severe as the target's ``min_severity`` (else the policy's, ``medium`` by default: material
    changes) and, for a target with ``categories``, touching one of them. Other kinds (failing,
    recovered) go to every candidate.
    """
    names = candidates(watchlist, policy)
    if not KINDS[kind].about_a_change:
        return names
    if severity is None:
        return []
    categories = set(categories)
    chosen = []
    for name in names:
        target = watchlist.targets.get(name)
        threshold = (target.min_severity if target else None) or policy.min_severity
        if SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK.get(threshold, 0):
            continue
        if target and target.categories and not categories & set(target.categories):
            continue
        chosen.append(name)
    return chosen


def usable_url(url: str) -> bool:
    """Can apprise make a service of this target URL (no mistyped scheme, no part the service needs
    missing)? Asked by ``policywatch validate`` (``load_watchlist(check_url=…)``), before the first
    change would find out. A URL whose ``${VAR}`` stands where apprise needs a real value (a host,
    a port) is given the benefit of the doubt."""
    if variables(url):
        return True
    with hushed(literal_secrets(url)):
        return instantiate(url) is not None


def candidates(watchlist: Watchlist, policy: Policy) -> list[str]:
    """Every target that may hear of ``policy``: its ``notify`` list and the targets tagged like it."""
    names = list(policy.notify)
    names += [t.name for t in watchlist.targets.values() if set(t.tags) & set(policy.tags)]
    return list(dict.fromkeys(names))


def mode_of(watchlist: Watchlist, target_name: str) -> str:
    """'immediate' or 'digest' (the default)."""
    target = watchlist.targets.get(target_name)
    return target.mode if target else DEFAULT_NOTIFY_MODE


# -- delivery --------------------------------------------------------------------------------------------

@dataclass
class UrlResult:
    url: str  # redacted
    ok: bool
    error: str | None = None  # for an unconfirmed one: why it may have arrived
    format: str | None = None  # html | markdown | text: what was sent
    attached: int = 0  # attachments sent
    unconfirmed: bool = False  # sent, but no answer came in time: the service may have it (not ok, never resend)
    key: str | None = None  # the idempotency key it carried (header or e-mail footer), if it could carry one


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

    flag = KINDS[message.kind].flag
    if flag == "severity":
        flag = "warning" if message.severity == "high" else "info"
    return {"info": NotifyType.INFO, "success": NotifyType.SUCCESS, "warning": NotifyType.WARNING,
            "failure": NotifyType.FAILURE}[flag]


# -- timeouts and idempotency ----------------------------------------------------------------------------

# While one service is sent to: the read timeouts requests raised (requests that went out and got no
# answer in time). A context variable: apprise runs a service in a worker thread in a copy of the
# caller's context, which shares this list.
_UNANSWERED: contextvars.ContextVar[list[float | None] | None] = contextvars.ContextVar("policywatch_unanswered",
                                                                                        default=None)
_WATCH_LOCK = threading.Lock()
CUT_OFF = -1.0  # in _UNANSWERED: the connection closed after the request went out, with no answer


def _watch_unanswered() -> None:
    """Once per process: have ``requests`` (which apprise's HTTP services use) note each request that
    was sent but not answered in time — apprise itself only logs "a connection error" and returns
    False, the same as for a refused connection, which was never sent. Nothing else changes: the
    exception goes on as before, and outside a send nothing is noted."""
    from http.client import RemoteDisconnected

    import requests
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    def unanswered(exc: BaseException) -> bool:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return False
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return True
        cause = exc.args[0] if exc.args else None  # a body read that timed out, a urllib3 retry that gave up
        return isinstance(cause, ReadTimeoutError) or isinstance(getattr(cause, "reason", None), ReadTimeoutError)

    def cut_off(exc: BaseException) -> bool:
        """The connection closed or was reset once the request was on its way, before any answer:
        the service may have the message (a refused connection never reached it)."""
        cause = exc.args[0] if exc.args else None
        cause = getattr(cause, "reason", None) or cause  # inside a urllib3 retry that gave up
        inner = cause.args[1] if isinstance(cause, ProtocolError) and len(cause.args) > 1 else None
        return isinstance(inner, (RemoteDisconnected, ConnectionResetError, BrokenPipeError))

    with _WATCH_LOCK:
        send = requests.Session.send
        if getattr(send, "_policywatch_watch", False):
            return

        @functools.wraps(send)
        def watched(self, request, **kwargs):
            try:
                return send(self, request, **kwargs)
            except requests.exceptions.RequestException as exc:
                seen = _UNANSWERED.get()
                if seen is not None and unanswered(exc):
                    timeout = kwargs.get("timeout")
                    seen.append(timeout[-1] if isinstance(timeout, tuple) else timeout)
                elif seen is not None and cut_off(exc):
                    seen.append(CUT_OFF)
                raise

        watched._policywatch_watch = True  # type: ignore[attr-defined]
        requests.Session.send = watched  # type: ignore[method-assign]


# While one e-mail is sent: (its HTML body, our plain text of it), for its text/plain part.
_PLAIN_PART: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("policywatch_plain_part",
                                                                                       default=None)


def _use_our_plain_part() -> None:
    """Once per process: an e-mail's text/plain part is our plain text, not apprise's conversion of the
    HTML part — that drops every link target and puts each table cell on a line of its own. Only the
    body being sent is replaced; any other conversion, or an apprise without this hook, is untouched
    (the HTML writes its URLs out, so even apprise's conversion keeps them)."""
    try:
        from apprise.plugins.email import base
    except ImportError:  # pragma: no cover - another apprise layout
        return
    with _WATCH_LOCK:
        convert = getattr(base, "convert_between", None)
        if convert is None or getattr(convert, "_policywatch", False):
            return

        @functools.wraps(convert)
        def converted(from_format, to_format, content, *args, **kwargs):
            ours = _PLAIN_PART.get()
            if ours is not None and str(content).strip() == ours[0].strip() and to_format == "text":
                return ours[1]
            return convert(from_format, to_format, content, *args, **kwargs)

        converted._policywatch = True  # type: ignore[attr-defined]
        base.convert_between = converted


def _utf8_html(path: str):
    """An HTML file attachment whose MIME type says it is UTF-8: a mail reader that follows MIME
    decodes an unmarked text part as ASCII (apprise checks a given type against a bare pattern)."""
    return _utf8_html_type()(path)


@functools.cache
def _utf8_html_type() -> type:
    """apprise's file attachment with our MIME type (made once: apprise is imported only to send)."""
    from apprise.attachment.file import AttachFile

    class Utf8Html(AttachFile):
        @property
        def mimetype(self) -> str:
            return "text/html; charset=utf-8"

    return Utf8Html


def _takes_headers(plugin) -> bool:
    """Does the service take custom headers (apprise's ``+Name=value`` URL arguments)?"""
    spec = (getattr(type(plugin), "template_kwargs", None) or {}).get("headers") or {}
    return spec.get("prefix") == "+" and isinstance(getattr(plugin, "headers", None), dict)


def _prepare(plugin, key: str, timeout: float) -> None:
    """Set a service up for one send: the target's timeouts, no retry of apprise's own, the key."""
    for name in ("socket_connect_timeout", "socket_read_timeout"):  # apprise's cto / rto
        if name not in vars(plugin):  # a URL's own cto=/rto= wins
            setattr(plugin, name, float(timeout))
    # The outbox retries, and only what was not sent: apprise's ``retry=`` would resend after a timeout.
    plugin.retry = 0
    asset = getattr(plugin, "asset", None)
    if asset is not None and hasattr(asset, "_service_timeout"):
        # apprise ≥ 2 stops waiting for a service after a minute (while it goes on in the background):
        # leave that for a service stuck beyond its socket timeouts.
        asset._service_timeout = 2 * (plugin.socket_connect_timeout + plugin.socket_read_timeout) + 30
    if _takes_headers(plugin):
        for name in [n for n in plugin.headers if str(n).lower() == IDEMPOTENCY_HEADER.lower()]:
            del plugin.headers[name]
        plugin.headers[IDEMPOTENCY_HEADER] = key


def _service_limit(plugin) -> float:
    return float(getattr(getattr(plugin, "asset", None), "_service_timeout", 0) or 0)


def _gave_up_waiting(outcome: Any) -> bool:
    """Did apprise stop waiting for the service (its own time limit) while it may still be sending?"""
    import apprise

    status = getattr(apprise, "AppriseResultStatus", None)
    return status is not None and getattr(outcome, "status", None) == status.TIMEOUT


def _send(plugin, message: Message, secrets: set[str], label: str, asset, key: str,
          timeout: float) -> UrlResult:
    """Send ``message`` to one apprise service; report, never raise."""
    with hushed(secrets):
        try:
            return _send_hushed(plugin, message, secrets, label, asset, key, timeout)
        except Exception as exc:  # noqa: BLE001 - report it, whatever it is
            return UrlResult(label, False, clip(scrub(f"{type(exc).__name__}: {exc}", secrets), 500))


def _send_hushed(plugin, message: Message, secrets: set[str], label: str, asset, key: str,
                 timeout: float) -> UrlResult:
    import apprise

    _prepare(plugin, key, timeout)
    fmt = _format_for(plugin)
    footer = key_footer(fmt, key) if _is_email(plugin) else None  # apprise sets e-mail's Message-ID itself
    carried = key if footer or _takes_headers(plugin) else None  # a chat service has no place for it
    limits = (getattr(plugin, "body_maxlen", None), getattr(plugin, "title_maxlen", None),
              bool(getattr(plugin, "overflow_amalgamate_title", False)))
    title, body = fit(message, fmt, *limits, footer)
    plain = None
    if footer and fmt == "html" and message.text_body is not None:  # an e-mail: its text part, ours
        _use_our_plain_part()
        plain = (body, fit(message, "text", *limits, key_footer("text", key))[1])
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
                attach.add(_utf8_html(str(file)))
        app = apprise.Apprise(asset=asset)
        app.add(plugin)
        unanswered: list[float | None] = []
        token, plain_token = _UNANSWERED.set(unanswered), _PLAIN_PART.set(plain)
        try:
            with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as capture:
                outcome = app.notify(body=body, title=title, body_format=body_format,
                                     notify_type=_notify_type(message), attach=attach)
        finally:
            _UNANSWERED.reset(token)
            _PLAIN_PART.reset(plain_token)
        ok = bool(outcome)
        logs = capture.getvalue()
    if ok:
        return UrlResult(label, True, None, fmt, len(attachments), key=carried)
    if unanswered or _gave_up_waiting(outcome):
        waited = next((t for t in unanswered if t and t > 0), None) or plugin.socket_read_timeout
        what = ("the service closed the connection after the message was sent, without answering"
                if unanswered and all(t == CUT_OFF for t in unanswered) else
                f"no answer within {waited:g} s after the message was sent" if unanswered else
                f"apprise stopped waiting after {_service_limit(plugin):g} s while sending")
        note = f" ({IDEMPOTENCY_HEADER if not footer else 'message key'} {carried})" if carried else ""
        return UrlResult(label, False, f"{what}: the service may have it, so it is not sent again{note}", fmt,
                         unconfirmed=True, key=carried)
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    error = clip(scrub("; ".join(dict.fromkeys(lines)), secrets), 500) or "apprise reported a failure"
    return UrlResult(label, False, error, fmt, key=carried)


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
    secrets = variants(v for v in values.values() if v)
    for entry in entries:
        secrets |= literal_secrets(entry.url)
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
    with hushed(secrets), apprise.LogCapture(level=logging.WARNING, fmt="%(message)s"):
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
            before_send: Callable[[str], None] | None = None,
            after_send: Callable[[UrlResult], None] | None = None,
            keys: Callable[[str], str] | None = None) -> Delivery:
    """Send ``message`` to every URL of target ``target_name``, one at a time; never raises.

    Each URL gets its own ``UrlResult`` (redacted URL, ok, apprise's logged error). ``${VAR}``
    references are expanded from ``env`` (default ``os.environ``) here and nowhere else; a missing
    variable fails that URL with an error naming the variable and the target. Services whose
    format is HTML get the HTML body, others the Markdown one; bodies are trimmed to each service's
    limits; e-mail services get the message's attachments (the HTML diff page).

    For the outbox: URLs whose redacted form is in ``skip`` are left out (already delivered), and
    ``before_send(redacted_url)`` runs just before each send, so the attempt can be recorded first,
    and ``after_send(result)`` as soon as apprise has answered. ``keys(redacted_url)`` gives the
    idempotency key of the message for that URL, the same on every retry (default: a new one).

    Every service gets the target's ``timeout`` (seconds) to connect and to answer. One that
    received the request and did not answer in time is ``unconfirmed`` (``UrlResult.unconfirmed``),
    not failed: it may have the message.
    """
    def send(plugin, secrets: set[str], label: str) -> None:
        if before_send is not None:
            before_send(label)
        key = keys(label) if keys is not None else f"policywatch-{uuid.uuid4().hex}"
        delivery.results.append(_send(plugin, message, secrets, label, asset, key, target.timeout))
        if after_send is not None:
            after_send(delivery.results[-1])

    env = os.environ if env is None else env
    delivery = Delivery(target_name)
    target = watchlist.targets.get(target_name)
    if target is None:
        delivery.error = f"no notify target named '{target_name}' in {watchlist.path}"
        return delivery
    _watch_unanswered()
    asset = apprise_asset()
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
        secrets = literal_secrets(expanded) | variants(env[name] for name in variables(url))
        with hushed(secrets), _captured() as logs:
            plugin = instantiate(expanded, asset)
        if plugin is None:
            why = scrub("; ".join(logs()), secrets)
            delivery.results.append(UrlResult(label, False, clip("not a usable apprise URL" + (f": {why}" if why
                                                                                              else ""), 500)))
            continue
        send(plugin, secrets, label)
    if target.from_config and watchlist.apprise_config is not None:
        services, secrets, error = _config_services(Path(watchlist.apprise_config), target_name, env, asset)
        if error:
            delivery.results.append(UrlResult(f"{Path(watchlist.apprise_config).name} [{target_name}]", False,
                                              scrub(error, secrets)))
        for plugin in services:
            label = redact_plugin(plugin, secrets)
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
