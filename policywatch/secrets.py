"""Secrets in apprise URLs: expanded only when sending, never printed.

``${VAR}`` references are expanded from the environment at send time (``expand``); ``redact``
renders a URL without its secrets (apprise's own privacy rendering, then masking of what apprise
leaves visible: custom headers and payload values, token-like path parts). While apprise runs
(``hushed``), every secret of the URL is scrubbed from the records of apprise's and urllib3's
loggers, whatever handlers the application installed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote, quote_plus, unquote

from policywatch.apprise_config import VARIABLE

APP_ID = "policywatch"
_VAR = VARIABLE
_SENTINEL = re.compile(r"pwvar(\d+)z")
_SECRET_KEY = re.compile(r"token|key|secret|pass|pwd|auth|sig|cred|session|bearer|access|hook|code|apikey"
                         r"|^(?:pw|sid)$", re.IGNORECASE)
# apprise adds its operational defaults to every URL it renders; they only clutter a listing.
_NOISE_KEYS = {"overflow", "retry", "wait", "optional", "rto", "cto", "verify", "method", "emojis", "store"}
# Loggers whose records may carry a URL or a configuration: a filter scrubs secrets from them.
_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager", "urllib3.connection",
            "urllib3.response")


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


def redact_page(url: str) -> str:
    """A policy's own URL safe to show or send: a password in it and the values of secret-named
    query keys (``access_token=…``, ``sig=…``) masked; the rest, which says which page it is, kept."""
    url, hash_, fragment = url.partition("#")
    parts = _split_url(url)
    if parts is None:
        return url + hash_ + _masked_pairs(fragment)
    scheme, userinfo, hostport, path, _ = parts
    user, colon, _ = userinfo.partition(":")
    shown = f"{scheme}://" + (f"{user}{':****' if colon else ''}@" if userinfo else "") + hostport
    path, semicolon, params = path.partition(";")  # ";jsessionid=…"
    shown += path + (semicolon + _masked_pairs(params, ";") if semicolon else "")
    query = url.partition("?")[2]
    return shown + ("?" + _masked_pairs(query) if query else "") + hash_ + _masked_pairs(fragment)


def _masked_pairs(text: str, separators: str = "&;") -> str:
    """``key=value`` pairs with the values of secret-named keys masked, separators kept."""
    def pair(match: re.Match) -> str:
        key, value = match.group(1), match.group(2)
        return f"{key}={'****' if value and _SECRET_KEY.search(unquote(key)) else value}"

    return re.sub(rf"([^=\s{re.escape(separators)}]+)=([^{re.escape(separators)}]*)", pair, text)


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


def literal_secrets(url: str) -> set[str]:
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
    return variants(found)


def variants(values: Iterable[str]) -> set[str]:
    out = set()
    for value in values:
        if _SENTINEL.search(value):  # a ${VAR} reference (while redacting a template): not a secret itself
            continue
        for form in (value, unquote(value)):
            if len(form) >= 4:
                out.update({form, quote(form, safe=""), quote_plus(form, safe="")})
    return out


def scrub(text: str, secrets: Iterable[str]) -> str:
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
        clean = scrub(text, secrets)
        if clean != text:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        return True


_FILTER = _ScrubFilter()


@contextlib.contextmanager
def hushed(secrets: Iterable[str]) -> Iterator[None]:
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


def apprise_asset():
    import apprise

    return apprise.AppriseAsset(app_id=APP_ID, app_desc="policywatch — privacy policy monitor",
                                app_url="https://github.com/policywatch/policywatch")


def instantiate(url: str, asset=None):
    import apprise

    try:
        return apprise.Apprise.instantiate(url, asset=asset or apprise_asset())
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
    secrets = literal_secrets(template)
    with hushed(secrets):
        plugin = instantiate(template)
        rendered = (_privacy_url(plugin) if plugin is not None else None) or template
    parts = _split_url(url)
    keep = {unquote(k).lower() for k, _ in parts[4]} if parts else set()
    out = scrub(_mask_url(rendered, keep_keys=keep), secrets)
    password = parts[1].partition(":")[2] if parts else ""
    if _VAR.fullmatch(password) and out.count(":****@") == 1:  # name the variable instead of hiding it
        out = out.replace(":****@", f":{password}@")
    return _SENTINEL.sub(lambda m: "${" + names[int(m.group(1))] + "}", out)


def redact_plugin(plugin, secrets: Iterable[str]) -> str:
    rendered = _privacy_url(plugin) or f"{getattr(plugin, 'service_name', 'service')}://…"
    return scrub(_mask_url(rendered), secrets)
