"""The apprise configuration file a watchlist may name (``notify: {apprise_config: file}``).

Read without apprise and without expanding ``${VAR}``: enough to validate the watchlist's target
names (every tag names a target) and to list targets. Sending parses the expanded file with
apprise itself (``notify.deliver``). Kept apart from ``notify`` so that the watchlist stage can
use it without depending on a later stage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policywatch.errors import ConfigError

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${NAME}: a secret taken from the environment


@dataclass(frozen=True)
class ConfigEntry:
    """One service of an apprise configuration file (as written: ``${VAR}`` not expanded)."""

    url: str
    tags: tuple[str, ...]
    line: int
    variables: tuple[str, ...] = ()


def is_yaml(path: Path, text: str) -> bool:
    if path.suffix.lower() in (".yml", ".yaml"):
        return True
    if path.suffix.lower() in (".txt", ".text", ".conf", ".cfg"):
        return False
    return bool(re.search(r"^\s*(version|urls)\s*:", text, re.MULTILINE))


def _split_tags(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    tags = []
    for item in items:
        for tag in re.split(r"[,\s]+", str(item)):
            tag = tag.strip()
            if ":" in tag:  # apprise 2's "tag:priority" / "priority:tag"
                tag = next((t for t in tag.split(":") if t and not t.isdigit()), "")
            if tag:
                tags.append(tag)
    return tags


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)


def _variables(node: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(1) for s in _strings(node) for m in VARIABLE.finditer(s)))


def read_apprise_config(path: str | os.PathLike) -> list[ConfigEntry]:
    """The services of an apprise configuration file (TEXT or YAML) with their tags and lines.

    Read without apprise and without expanding ``${VAR}``: enough to validate the watchlist's
    target names and to list targets. Sending parses the (expanded) file with apprise itself.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read apprise configuration: {exc}") from None
    if not is_yaml(path, text):
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped[0] in "#;" or stripped.lower().startswith("include "):
                continue
            match = re.match(r"^(?:(?P<tags>[^=]*?)\s*=\s*)?(?P<url>[A-Za-z][\w+.-]*://\S*)$", stripped)
            if not match:
                raise ConfigError(f"{path}:{number}: not an apprise URL line: expected [tags=]scheme://…")
            entries.append(ConfigEntry(match["url"], tuple(_split_tags(match["tags"])), number,
                                       _variables(match["url"])))
        return entries

    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        root = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"{path}:{mark.line + 1 if mark else 0}: invalid YAML: {exc.problem or exc.context}") \
            from None
    except YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(root, dict) or not isinstance(root.get("urls"), list):
        raise ConfigError(f"{path}:1: an apprise YAML configuration needs a 'urls:' list")
    common = _split_tags(root.get("tag")) + _split_tags(root.get("tags"))
    entries = []
    for index, item in enumerate(root["urls"]):
        try:
            line = item.lc.line + 1 if hasattr(item, "lc") else root["urls"].lc.item(index)[0] + 1
        except (AttributeError, KeyError, TypeError):
            line = 0
        if isinstance(item, str):
            entries.append(ConfigEntry(item, tuple(common), line, _variables(item)))
            continue
        if not isinstance(item, dict):
            raise ConfigError(f"{path}:{line}: each entry under 'urls:' must be a URL or a mapping of one")
        for url, options in item.items():
            tags = list(common)
            for option in options if isinstance(options, list) else [options]:
                if isinstance(option, dict):
                    tags += _split_tags(option.get("tag")) + _split_tags(option.get("tags"))
            entries.append(ConfigEntry(str(url), tuple(dict.fromkeys(tags)), line, _variables({url: options})))
    return entries


def config_tags(path: str | os.PathLike) -> list[str]:
    """Every tag of an apprise configuration file, in order of appearance (ConfigError if unreadable)."""
    return list(dict.fromkeys(tag for entry in read_apprise_config(path) for tag in entry.tags))
