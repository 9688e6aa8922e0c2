"""The watchlist stage (docs/architecture.md): which pages to watch, how to clean them, whom to tell.

``load_watchlist`` reads ``watchlist.yaml`` (docs/watchlist.md is its reference), applies the
``defaults`` block to every policy and validates everything it can before anything runs.
Every problem is reported as ``file:line: message`` and all problems are reported at once.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from policywatch.errors import ConfigError
from policywatch.secrets import redact
from policywatch.vocabulary import CATEGORIES, SEVERITIES

NOTIFY_MODES = ("immediate", "digest")
# Several changes in one run reach a target as one message: a team reads one mail per run, not one per
# policy. A run with one message for a target sends that message itself. ``mode: immediate`` opts out.
DEFAULT_NOTIFY_MODE = "digest"
DEFAULT_USER_AGENT = "policywatch/{version} (+https://github.com/policywatch/policywatch; privacy-policy monitor)"

# Keys a policy may set; every one except id/name/url may also stand in `defaults`.
POLICY_ONLY_KEYS = {"id", "name", "url", "archive_url"}
TOP_KEYS = {"defaults", "notify", "policies"}
TARGET_KEYS = {"urls", "min_severity", "categories", "mode", "tags", "timeout"}
NOTIFY_TIMEOUT = 30.0  # seconds a notification service gets to connect, and to answer once it has the message
NOTIFY_TIMEOUT_RANGE = (0.1, 3600.0)

# --- settings: one declarative table ----------------------------------------------------------------
# Every key a policy may set besides id/name/url/archive_url, which may also stand in `defaults`:
# its default, how its value is read and checked, and whether lists from defaults and policy add up.


@dataclass
class _Reading:
    """One setting's raw value being read; problems name the key and say what it must be."""

    key: str
    value: Any
    where: str  # "defaults" or "policy 'acme'"
    targets: set[str] | None  # notification target names (None: cannot be checked)
    config_note: str
    problems: list[str]
    warnings: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        self.problems.append(message)


def _strings(r: _Reading) -> tuple[str, ...]:
    value = [r.value] if isinstance(r.value, str) else r.value
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        r.problem(f"'{r.key}' in {r.where} must be a string or a list of strings")
        return ()
    return tuple(value)


def _selector(r: _Reading) -> str | None:
    if r.value is not None and not isinstance(r.value, str):
        r.problem(f"'{r.key}' in {r.where} must be a CSS selector string")
    elif isinstance(r.value, str) and not r.value.strip():  # a selector left half-written, not "the whole page"
        r.problem(f"'{r.key}' in {r.where} is empty (leave it out to read the whole page)")
    elif r.value and (problem := _check_selector(r.value)):
        r.problem(problem)
    return r.value or None


def _selectors(r: _Reading) -> tuple[str, ...]:
    selectors = _strings(r)
    for selector in selectors:
        if problem := _check_selector(selector):
            r.problem(problem)
    return selectors


def _regexes(r: _Reading) -> tuple[str, ...]:
    patterns = _strings(r)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            r.problem(f"bad regex '{pattern}' in '{r.key}': {exc}")
            continue
        if _nested_quantifier(pattern):
            r.warnings.append(f"the regex '{pattern}' in '{r.key}' repeats a repetition: it can take very long on "
                              "some pages (a check gives up after a few seconds); write it without nesting")
    return patterns


def _nested_quantifier(pattern: str) -> bool:
    """Does a repeated group hold an unbounded repetition, as in '(a+)+' or '(\\w+\\s?)*'?"""
    import re._constants as c
    import re._parser as parser

    def walk(items, inside: bool) -> bool:
        for op, value in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                low, high, sub = value
                if inside and high == c.MAXREPEAT:
                    return True
                if walk(sub, inside or high > 1):
                    return True
            else:
                children = [value[-1]] if op is c.SUBPATTERN else value[1] if op is c.BRANCH else \
                    [value[1]] if op in (c.ASSERT, c.ASSERT_NOT) else []
                if any(walk(child, inside) for child in children):
                    return True
        return False

    return walk(parser.parse(pattern), False)


def _target_names(r: _Reading) -> tuple[str, ...]:
    names = _strings(r)
    for name in names:
        if r.targets is not None and name not in r.targets:
            hint = difflib.get_close_matches(name, r.targets, n=1)
            more = f" (did you mean '{hint[0]}'?)" if hint else ""
            r.problem(f"notify target '{name}' is not defined under 'notify:'{r.config_note}{more}")
    return names


def _severity(r: _Reading) -> str:
    if r.value not in SEVERITIES:
        r.problem(f"'{r.key}' must be one of {', '.join(SEVERITIES)}")
    return r.value


def _number(kind: type, low: float, high: float) -> Callable[[_Reading], Any]:
    # Bounded above too, and finite: YAML's .nan and .inf are floats, and a timeout of NaN crashed
    # the run in the socket layer, a billion retries kept it busy for ever.
    def read(r: _Reading) -> Any:
        value = r.value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                or (kind is int and not float(value).is_integer()):
            r.problem(f"'{r.key}' in {r.where} must be a{'' if kind is float else ' whole'} number from "
                      f"{_plain(low)} to {_plain(high)}")
            return value
        return kind(value)
    return read


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _headers(r: _Reading) -> dict[str, str]:
    if not isinstance(r.value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in r.value.items()):
        r.problem(f"'{r.key}' in {r.where} must map header names to strings")
        return {}
    return dict(r.value)


def _string(r: _Reading) -> str | None:
    if r.value is not None and not isinstance(r.value, str):
        r.problem(f"'{r.key}' in {r.where} must be a string")
    return r.value


def _encoding(r: _Reading) -> str | None:
    value = _string(r)
    if value and not r.problems:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            r.problem(f"unknown encoding '{value}'")
    return value


def _boolean(r: _Reading) -> bool:
    if not isinstance(r.value, bool):
        r.problem(f"'{r.key}' in {r.where} must be true or false")
    return r.value


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    read: Callable[[_Reading], Any]
    help: str
    additive: bool = False  # the defaults' list and the policy's add up (else the policy's replaces)


SETTINGS = (
    Setting("select", None, _selector, "CSS selector of the policy text"),
    Setting("remove", (), _selectors, "CSS selectors to drop", additive=True),
    Setting("ignore", (), _regexes, "regexes whose matches are dropped from the text", additive=True),
    Setting("tags", (), _strings, "free labels for --tag and notification targets", additive=True),
    Setting("notify", (), _target_names, "notification target names"),
    Setting("min_severity", "medium", _severity, "lowest severity that notifies"),
    Setting("timeout", 30.0, _number(float, 0.1, 3600), "seconds to wait for the server"),
    Setting("backoff", 2.0, _number(float, 0.0, 3600), "first retry delay in seconds, doubled each retry"),
    Setting("retries", 2, _number(int, 0, 20), "extra attempts on connection errors, 5xx and 429"),
    Setting("max_bytes", 10 * 1024 * 1024, _number(int, 1024, 1 << 28), "largest body read"),
    Setting("alert_after", 3, _number(int, 1, 10_000), "failed or suspect runs in a row before one 'checks failing'"),
    Setting("headers", {}, _headers, "extra request headers"),
    Setting("user_agent", None, _string, "the User-Agent header"),
    Setting("encoding", None, _encoding, "a charset to force for a site that declares a wrong one"),
    Setting("enabled", True, _boolean, "false keeps a policy out of every run"),
)
SETTING_KEYS = {setting.name for setting in SETTINGS}
POLICY_KEYS = POLICY_ONLY_KEYS | SETTING_KEYS
ADDITIVE_KEYS = tuple(setting.name for setting in SETTINGS if setting.additive)
BUILTIN_DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class Policy:
    """One watched page, with the defaults already applied."""

    id: str
    name: str
    url: str
    # Defaults from SETTINGS, the one table of settings.
    select: str | None = BUILTIN_DEFAULTS["select"]
    remove: tuple[str, ...] = BUILTIN_DEFAULTS["remove"]
    ignore: tuple[str, ...] = BUILTIN_DEFAULTS["ignore"]
    tags: tuple[str, ...] = BUILTIN_DEFAULTS["tags"]
    notify: tuple[str, ...] = BUILTIN_DEFAULTS["notify"]
    min_severity: str = BUILTIN_DEFAULTS["min_severity"]
    alert_after: int = BUILTIN_DEFAULTS["alert_after"]
    timeout: float = BUILTIN_DEFAULTS["timeout"]
    retries: int = BUILTIN_DEFAULTS["retries"]
    backoff: float = BUILTIN_DEFAULTS["backoff"]
    max_bytes: int = BUILTIN_DEFAULTS["max_bytes"]
    headers: dict[str, str] = field(default_factory=dict, hash=False)
    user_agent: str | None = BUILTIN_DEFAULTS["user_agent"]
    encoding: str | None = BUILTIN_DEFAULTS["encoding"]
    enabled: bool = BUILTIN_DEFAULTS["enabled"]
    line: int = 0
    archive_url: str | None = None  # the URL web archives know the page by, if not ``url``

    @property
    def archived_as(self) -> str:
        return self.archive_url or self.url

    @property
    def host(self) -> str:
        """The key the fetcher uses to allow one request at a time per host."""
        parts = urlsplit(self.url)
        return parts.netloc.lower() if parts.scheme in ("http", "https") else "local-files"

    @property
    def profile(self) -> dict[str, Any]:
        """What, besides the page itself, decides the normalized text."""
        return {
            "select": self.select,
            "remove": list(self.remove),
            "ignore": list(self.ignore),
            "encoding": self.encoding,
        }


@dataclass(frozen=True)
class NotifyTarget:
    """A named group of apprise URLs (secrets may be ``${ENV_VAR}`` references).

    ``min_severity`` (if set) replaces the policy's for this target; ``categories`` (if set) keeps
    only changes touching one of them; ``tags`` also routes every policy carrying one of these
    policy tags here. ``from_config`` says the ``apprise_config`` file has services tagged with
    this name (they are sent to as well as ``urls``). ``timeout``: seconds each service gets to
    connect and, once it has the message, to answer (apprise's ``cto``/``rto``, unless a URL sets them).
    """

    name: str
    urls: tuple[str, ...]
    min_severity: str | None = None
    categories: tuple[str, ...] = ()
    mode: str = DEFAULT_NOTIFY_MODE
    line: int = 0
    tags: tuple[str, ...] = ()
    from_config: bool = False
    timeout: float = NOTIFY_TIMEOUT


@dataclass
class Watchlist:
    path: Path
    policies: list[Policy]
    targets: dict[str, NotifyTarget]
    apprise_config: Path | None = None
    warnings: list[str] = field(default_factory=list)  # "file:line: …" of settings accepted but risky
    min_severity: str | None = None  # the defaults' own min_severity, if the file sets one

    def __iter__(self):
        return iter(self.policies)

    def __len__(self) -> int:
        return len(self.policies)

    def get(self, policy_id: str) -> Policy:
        for policy in self.policies:
            if policy.id == policy_id:
                return policy
        raise KeyError(policy_id)

    def select(self, ids: Iterable[str] = (), tags: Iterable[str] = ()) -> list[Policy]:
        """Policies named by id and/or carrying one of ``tags``; all enabled ones if neither is given.

        An unknown id, or a tag no policy has, is a usage error that names it (and the closest known
        one): a mistyped ``--tag`` in cron would otherwise check nothing and say nothing.
        """
        ids, tags = list(ids), set(tags)
        known = {p.id for p in self.policies}
        unknown = [i for i in ids if i not in known]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], known, n=1)
            more = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"{self.path}: no policy with id '{unknown[0]}'{more}")
        known_tags = {tag for p in self.policies for tag in p.tags}
        if unused := sorted(tags - known_tags):
            hint = difflib.get_close_matches(unused[0], known_tags, n=1)
            more = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"{self.path}: no policy has the tag '{unused[0]}'{more}")
        chosen = [p for p in self.policies if (not ids or p.id in ids) and (not tags or tags & set(p.tags))]
        if not ids:
            chosen = [p for p in chosen if p.enabled]
        return chosen


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "policy"


def _line(node: Any, key: Any = None) -> int:
    """1-based line of a mapping key (or of the node itself) in the YAML source."""
    try:
        if key is not None and isinstance(node, dict):
            return node.lc.key(key)[0] + 1
        if key is not None and isinstance(node, list):
            return node.lc.item(key)[0] + 1
        return node.lc.line + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return 0


MAX_PROBLEMS = 100


class _Checker:
    """Collects problems as ``file:line: message`` while the watchlist is read."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []
        self._lines: list[int] = []  # each problem's line, to report them in the file's order
        self.warnings: list[str] = []  # accepted, but worth changing (validate shows them)
        self.config_note = ""  # " nor tagged in apprise.yml" once an apprise_config file is known
        self.config_failed = False  # the apprise_config file is missing or unreadable (already reported)

    def error(self, line: int, message: str) -> None:
        self.problems.append(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")
        self._lines.append(line)
        if len(self.problems) == MAX_PROBLEMS:
            # A generated watchlist wrong in every entry: the first hundred say what to fix.
            raise ConfigError([*self.in_order(), f"{self.path}: stopped after {MAX_PROBLEMS} problems"])

    def in_order(self) -> list[str]:
        """The problems by line (those of the whole file first), each line's in the order found."""
        order = sorted(range(len(self.problems)), key=self._lines.__getitem__)
        return [self.problems[i] for i in order]

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")

    def unknown_keys(self, mapping: dict, allowed: set[str], where: str) -> None:
        for key in mapping:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                more = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.error(_line(mapping, key), f"unknown key '{key}' in {where}{more}")


def _string_list(check: _Checker, node: dict, key: str, where: str) -> tuple[str, ...]:
    value = node.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        check.error(_line(node, key), f"'{key}' in {where} must be a string or a list of strings")
        return ()
    return tuple(value)


def _check_url(url: Any) -> str | None:
    """Return a problem with ``url`` or None. Plain paths and file:// URLs are allowed."""
    if not isinstance(url, str) or not url.strip():
        return "'url' must be a non-empty string"
    if url != url.strip() or len(url.split()) > 1:  # whitespace anywhere (split: in C, not char by char)
        return f"bad URL '{url}': contains whitespace"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "https://[::1/p": an unclosed IPv6 bracket
        return f"bad URL '{url}': {exc}"
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            return f"bad URL '{url}': no host"
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            return f"bad URL '{url}': bad port"
        return None
    if parts.scheme == "file":
        return None  # a file:// URL may name a file that comes later: checked when fetched
    if not parts.scheme or re.match(r"^[A-Za-z]$", parts.scheme):  # Windows drive letters parse as schemes
        # A plain path is a legal team's own draft; a typo in a URL ("acme.example/privacy") reads as one.
        if not Path(url).expanduser().exists():
            return f"'{url}' is neither an http(s) or file:// URL nor an existing file"
        return None
    return f"bad URL '{url}': scheme must be http, https or file"


def _check_selector(selector: str) -> str | None:
    from cssselect import GenericTranslator, SelectorError

    try:
        GenericTranslator().css_to_xpath(selector)
    except SelectorError as exc:
        return f"bad CSS selector '{selector}': {exc}"
    return None


def _check_settings(check: _Checker, node: dict, where: str, targets: set[str] | None) -> dict:
    """Validate the setting keys present in ``node``; return the ones that are valid."""
    out: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name not in node:
            continue
        reading = _Reading(setting.name, node[setting.name], where, targets, check.config_note, [])
        value = setting.read(reading)
        problems = reading.problems
        for problem in problems:
            check.error(_line(node, setting.name), problem)
        for warning in reading.warnings:
            check.warn(_line(node, setting.name), warning)
        if not problems or setting.additive or setting.name == "notify":
            out[setting.name] = value
    return out


def _read_targets(check: _Checker, node: Any) -> tuple[dict[str, NotifyTarget], Path | None]:
    targets: dict[str, NotifyTarget] = {}
    apprise_config = None
    if node is None:
        return targets, None
    if not isinstance(node, dict):
        check.error(_line(node), "'notify' must map target names to apprise URLs")
        return targets, None
    for name, value in node.items():
        line = _line(node, name)
        if name == "apprise_config":
            if not isinstance(value, str):
                check.error(line, "'apprise_config' must be a file path")
            else:
                apprise_config = (check.path.parent / os.path.expandvars(value)).resolve()
                if not apprise_config.exists():
                    check.error(line, f"apprise_config file not found: {apprise_config}")
                    check.config_failed = True
            continue
        if not isinstance(name, str) or not SLUG_RE.match(name):
            check.error(line, f"notify target name '{name}' must be a lowercase slug")
            continue
        settings: dict[str, Any] = {}
        if isinstance(value, (str, list)):
            urls = [value] if isinstance(value, str) else value
        elif isinstance(value, dict):
            check.unknown_keys(value, TARGET_KEYS, f"notify target '{name}'")
            urls = value.get("urls", [])
            urls = [urls] if isinstance(urls, str) else urls
            if "min_severity" in value:
                if value["min_severity"] not in SEVERITIES:
                    check.error(_line(value, "min_severity"),
                                f"'min_severity' must be one of {', '.join(SEVERITIES)}")
                else:
                    settings["min_severity"] = value["min_severity"]
            cats = _string_list(check, value, "categories", f"notify target '{name}'")
            for cat in cats:
                if cat not in CATEGORIES:
                    check.error(_line(value, "categories"), f"unknown category '{cat}' (known: "
                                f"{', '.join(CATEGORIES)})")
            settings["categories"] = cats
            if "mode" in value:
                if value["mode"] not in NOTIFY_MODES:
                    check.error(_line(value, "mode"), "'mode' must be immediate or digest")
                else:
                    settings["mode"] = value["mode"]
            settings["tags"] = _string_list(check, value, "tags", f"notify target '{name}'")
            if "timeout" in value:
                timeout, (low, high) = value["timeout"], NOTIFY_TIMEOUT_RANGE
                if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not low <= timeout <= high:
                    check.error(_line(value, "timeout"), f"'timeout' in notify target '{name}' must be a number of "
                                f"seconds from {low:g} to {high:g}")
                else:
                    settings["timeout"] = float(timeout)
        else:
            check.error(line, f"notify target '{name}' must be an apprise URL, a list of them, or a mapping")
            continue
        if not isinstance(urls, list) or not all(isinstance(u, str) and "://" in u for u in urls):
            check.error(line, f"notify target '{name}' needs apprise URLs of the form scheme://…")
            continue
        targets[name] = NotifyTarget(name=name, urls=tuple(urls), line=line, **settings)
    if apprise_config is not None and not check.config_failed:
        _add_config_targets(check, node, targets, apprise_config)
    else:
        for target in targets.values():
            if not target.urls:
                check.error(target.line, f"notify target '{target.name}' has no apprise URLs")
    return targets, apprise_config


def _add_config_targets(check: _Checker, node: dict, targets: dict[str, NotifyTarget], config: Path) -> None:
    """Every tag of the apprise configuration file becomes a target (settings may stand under its name)."""
    from dataclasses import replace

    from policywatch.apprise_config import config_tags

    try:
        tags = config_tags(config)
    except ConfigError as exc:
        for problem in exc.problems:
            check.error(_line(node, "apprise_config"), problem)
        check.config_failed = True
        return
    for name, target in list(targets.items()):
        if name in tags:
            targets[name] = replace(target, from_config=True)
        elif not target.urls:
            check.error(target.line, f"notify target '{name}' has no apprise URLs and no service in "
                        f"{config.name} is tagged '{name}'")
    for tag in tags:
        if tag not in targets:
            targets[tag] = NotifyTarget(name=tag, urls=(), from_config=True)


def parse_watchlist(text: str, path: Path | str = "watchlist.yaml", *,
                    check_url: Callable[[str], bool] | None = None) -> Watchlist:
    """Parse and validate watchlist YAML; raise ConfigError listing every problem with its line.

    ``check_url``: whether a notify target's URL can be sent to (``notify.usable_url``); each that
    cannot is a problem too, in its line's place among the others (``policywatch validate``).
    """
    return _parse(text, Path(path), check_url)


class _Lines:
    """The ``.lc`` of ruamel's round-trip loader, which _line reads: where each key or item starts."""

    def __init__(self, line: int, starts: dict[Any, int]):
        self.line, self._starts = line, starts

    def key(self, key: Any) -> tuple[int, int]:
        return self._starts[key], 0

    item = key


class _LinedDict(dict):
    lc: _Lines


class _LinedList(list):
    lc: _Lines


def _load_with_lines(text: str, duplicates: list[tuple[int, str, int]] | None = None) -> Any:
    """YAML with the line of every key and item, composed by the C parser. A key given twice in a
    mapping keeps its last value, and is listed in ``duplicates`` as ``(line, key, first line)``.

    ruamel's round-trip loader knows lines too, but in pure Python: 8x slower, and a 10 MB watchlist
    with errors took minutes and a gigabyte. Composed in C, it costs what a plain safe load costs.
    """
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    yaml = YAML(typ="safe")
    root = yaml.compose(text)
    constructor = yaml.constructor

    def build(node: Any) -> Any:
        if isinstance(node, MappingNode):
            mapping, starts = _LinedDict(), {}
            for key_node, value_node in node.value:
                key = build(key_node)
                if isinstance(key, (dict, list)):
                    raise ConfigError(f"line {key_node.start_mark.line + 1}: a mapping key must be a plain value")
                if key in starts and duplicates is not None:
                    duplicates.append((key_node.start_mark.line + 1, str(key), starts[key] + 1))
                mapping[key] = build(value_node)
                starts[key] = key_node.start_mark.line
            mapping.lc = _Lines(node.start_mark.line, starts)
            return mapping
        if isinstance(node, SequenceNode):
            items = _LinedList(build(item) for item in node.value)
            items.lc = _Lines(node.start_mark.line, {k: item.start_mark.line for k, item in enumerate(node.value)})
            return items
        return constructor.construct_object(node)

    return None if root is None else build(root)


def _parse(text: str, path: Path, check_url: Callable[[str], bool] | None = None) -> Watchlist:
    check = _Checker(path)
    try:
        duplicates: list[tuple[int, str, int]] = []
        root = _load_with_lines(text, duplicates)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    if root is None:
        raise ConfigError(f"{path}: the watchlist is empty (it needs a 'policies:' list)")
    if not isinstance(root, dict):
        raise ConfigError(f"{path}:1: the watchlist must be a mapping with a 'policies:' list")
    check.unknown_keys(root, TOP_KEYS, "the watchlist")
    # YAML lets the last value win without a word; an alias of an anchored mapping repeats it: said once.
    for line, key, first in dict.fromkeys(duplicates):
        check.error(line, f"'{key}' is given twice in the same mapping (first on line {first})")

    targets, apprise_config = _read_targets(check, root.get("notify"))
    if apprise_config is not None:
        check.config_note = f" nor tagged in {apprise_config.name}"
    # Tags of an apprise_config file are targets too; an unreadable file was reported: check nothing more.
    target_names = None if check.config_failed else set(targets)

    defaults_node = root.get("defaults") or {}
    defaults = dict(BUILTIN_DEFAULTS)
    if not isinstance(defaults_node, dict):
        check.error(_line(root, "defaults"), "'defaults' must be a mapping")
    else:
        check.unknown_keys(defaults_node, SETTING_KEYS, "defaults")
        defaults.update(_check_settings(check, defaults_node, "defaults", target_names))

    policies: list[Policy] = []
    seen: dict[str, int] = {}
    nodes = root.get("policies")
    if not isinstance(nodes, list) or not nodes:
        check.error(_line(root, "policies") if "policies" in root else 0,
                    "'policies' must be a non-empty list")
        nodes = []
    for index, node in enumerate(nodes):
        line = _line(nodes, index)
        if not isinstance(node, dict):
            check.error(line, "each policy must be a mapping with at least 'url'")
            continue
        label = f"policy '{node.get('id') or node.get('name') or index + 1}'"
        check.unknown_keys(node, POLICY_KEYS, label)
        # Every problem of a policy is reported at once: a bad URL or id does not hide its other settings.
        found = len(check.problems)
        url = node.get("url")
        if problem := _check_url(url):
            check.error(_line(node, "url") if "url" in node else line, f"{problem} in {label}")
        archive_url = node.get("archive_url")
        if archive_url is not None and ((problem := _check_url(archive_url))
                                        or urlsplit(archive_url).scheme not in ("http", "https")):
            check.error(_line(node, "archive_url"), f"{problem or 'archive_url must be an http(s) URL'} "
                        f"(archive_url) in {label}")
        name = node.get("name") or url
        if not isinstance(name, str) and node.get("name") not in (None, ""):
            check.error(_line(node, "name"), f"'name' in {label} must be a string")
        name = name if isinstance(name, str) else ""
        policy_id = node.get("id") or (slugify(name) if name else None)
        if policy_id is None:
            pass  # no id, name nor URL to make one of: the URL's problem says it
        elif not isinstance(policy_id, str) or not SLUG_RE.match(policy_id):
            check.error(_line(node, "id"), f"id '{policy_id}' must be a slug: lowercase letters, digits, "
                        "'.', '_' or '-'")
        elif policy_id in seen:
            check.error(_line(node, "id") if "id" in node else line,
                        f"duplicate id '{policy_id}' (first defined on line {seen[policy_id]})")
        else:
            seen[policy_id] = line
        settings = dict(defaults)
        own = _check_settings(check, node, label, target_names)
        if len(check.problems) > found:
            continue  # reported; the watchlist will not be used
        for key in ADDITIVE_KEYS:
            if key in own:
                own[key] = tuple(dict.fromkeys(defaults[key] + own[key]))
        settings.update(own)
        if settings["user_agent"] is None:
            from policywatch import __version__

            settings["user_agent"] = DEFAULT_USER_AGENT.format(version=__version__)
        policies.append(Policy(id=policy_id, name=name, url=url, line=line, archive_url=archive_url, **settings))

    if check_url is not None:
        for target in targets.values():
            for url in target.urls:
                if not check_url(url):
                    check.error(target.line, f"notify target '{target.name}': {redact(url)} is not a URL apprise can "
                                "send to (its scheme, or a part it needs, is wrong)")
    if check.problems:
        raise ConfigError(check.in_order())
    return Watchlist(path=path, policies=policies, targets=targets, apprise_config=apprise_config,
                     warnings=check.warnings,
                     min_severity=defaults_node.get("min_severity") if isinstance(defaults_node, dict) else None)


def load_watchlist(path: str | os.PathLike, *, check_url: Callable[[str], bool] | None = None) -> Watchlist:
    """Read and validate a watchlist file (``check_url``: see ``parse_watchlist``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: watchlist not found (use --watchlist PATH or POLICYWATCH_WATCHLIST)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read watchlist: {exc}") from None
    try:
        return parse_watchlist(text, path, check_url=check_url)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a watchlist (a mapping with a 'policies:' list)") from None
