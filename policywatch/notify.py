"""The notify stage (docs/architecture.md): route messages to targets and deliver them with apprise.

Library only (no database): the outbox decides *when* to send; ``messages`` decides *what*; this
module decides *to whom* and *how*.

- ``route`` says which targets a change (or an error-state message) goes to; ``mode_of`` whether a
  target wants it at once or in the run's digest.
- ``deliver`` sends one message to every URL of one target, one URL at a time, and reports each
  URL's outcome (``Delivery``/``UrlResult``); it never raises for a delivery problem. Secrets are
  handled by ``secrets``: expanded only here, at send time, and never printed.
- ``describe_targets`` lists targets with redacted URLs for ``policywatch list``.

apprise is imported lazily: loading a watchlist or composing a message does not pay for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from policywatch.apprise_config import VARIABLE, ConfigEntry, is_yaml, read_apprise_config
from policywatch.errors import ConfigError
from policywatch.messages import KINDS, Message, clip, fit
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
from policywatch.watchlist import Policy, Watchlist

# apprise services that are e-mail: they get the HTML diff page as an attachment.
EMAIL_SCHEMES = {"mailto", "mailtos", "azure", "o365", "brevo", "groundmail", "mailersend", "mailgun", "resend",
                 "sendgrid", "ses", "smtp2go", "sparkpost"}
_VAR = VARIABLE


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
    if not KINDS[kind].about_a_change:
        return names
    if not material or severity is None:
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


def mode_of(watchlist: Watchlist, target_name: str) -> str:
    """'immediate' or 'digest'."""
    target = watchlist.targets.get(target_name)
    return target.mode if target else "immediate"


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

    flag = KINDS[message.kind].flag
    if flag == "severity":
        flag = "warning" if message.severity == "high" else "info"
    return {"info": NotifyType.INFO, "success": NotifyType.SUCCESS, "warning": NotifyType.WARNING,
            "failure": NotifyType.FAILURE}[flag]


def _send(plugin, message: Message, secrets: set[str], label: str, asset) -> UrlResult:
    """Send ``message`` to one apprise service; report, never raise."""
    with hushed(secrets):
        try:
            return _send_hushed(plugin, message, secrets, label, asset)
        except Exception as exc:  # noqa: BLE001 - report it, whatever it is
            return UrlResult(label, False, clip(scrub(f"{type(exc).__name__}: {exc}", secrets), 500))


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
        error = clip(scrub("; ".join(dict.fromkeys(lines)), secrets), 500) or "apprise reported a failure"
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
            after_send: Callable[[UrlResult], None] | None = None) -> Delivery:
    """Send ``message`` to every URL of target ``target_name``, one at a time; never raises.

    Each URL gets its own ``UrlResult`` (redacted URL, ok, apprise's logged error). ``${VAR}``
    references are expanded from ``env`` (default ``os.environ``) here and nowhere else; a missing
    variable fails that URL with an error naming the variable and the target. Services whose
    format is HTML get the HTML body, others the Markdown one; bodies are trimmed to each service's
    limits; e-mail services get the message's attachments (the HTML diff page).

    For the outbox: URLs whose redacted form is in ``skip`` are left out (already delivered), and
    ``before_send(redacted_url)`` runs just before each send, so the attempt can be recorded first,
    and ``after_send(result)`` as soon as apprise has answered.
    """
    def send(plugin, secrets: set[str], label: str) -> None:
        if before_send is not None:
            before_send(label)
        delivery.results.append(_send(plugin, message, secrets, label, asset))
        if after_send is not None:
            after_send(delivery.results[-1])

    env = os.environ if env is None else env
    delivery = Delivery(target_name)
    target = watchlist.targets.get(target_name)
    if target is None:
        delivery.error = f"no notify target named '{target_name}' in {watchlist.path}"
        return delivery
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
