"""Adding a policy to a watchlist file without disturbing it (``policywatch add``).

A watchlist is a file people write and comment. An entry is added by inserting its lines after the
last policy, in the style of the policies before it (one flow mapping per line, or a block
mapping), at their indentation and with the file's line endings; every other byte stays as it was.
Loading the YAML and dumping it again would lose comments, blank lines, quoting and key order.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policywatch.errors import ConfigError

# A string YAML reads back as the same string without quotes (and not as a number, bool or null).
_PLAIN = re.compile(r"[A-Za-z_./(][\w ./()&'+%=?~@:#,;!$*-]*")
_NOT_STRINGS = re.compile(r"(?i)(y|n|yes|no|true|false|on|off|null|~|[-+]?[\d.]+(e[-+]?\d+)?|[-+]?\.(inf|nan))")


def scalar(value: Any, flow: bool) -> str:
    """``value`` as YAML: plain where that reads back as the same string, else double-quoted."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(scalar(v, True) for v in value) + "]"
    text = str(value)
    plain = _PLAIN.fullmatch(text) and not _NOT_STRINGS.fullmatch(text) and text == text.strip() and \
        not (flow and re.search(r"[:,\[\]{}#]", text)) and ": " not in text and " #" not in text and \
        not text.endswith(":")
    return text if plain else json.dumps(text, ensure_ascii=False)


def entry_lines(entry: Mapping[str, Any], *, flow: bool, dash: int, content: int) -> list[str]:
    """An entry as lines (without line ends): ``- {id: …, url: …}`` or a block mapping under ``- ``."""
    if flow:
        return [" " * dash + "- {" + ", ".join(f"{k}: {scalar(v, True)}" for k, v in entry.items()) + "}"]
    lines = []
    for k, (key, value) in enumerate(entry.items()):
        lead = " " * dash + "-" + " " * (content - dash - 1) if k == 0 else " " * content
        lines.append(f"{lead}{key}: {scalar(value, False)}")
    return lines


def append_policy(text: str, entry: Mapping[str, Any], path: Path | str = "watchlist.yaml") -> str:
    """``text`` with ``entry`` added after its last policy; nothing else in it changes."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    newline = "\r\n" if "\r\n" in text else "\n"
    try:
        root = YAML(typ="rt", pure=True).compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"{path}:{mark.line + 1 if mark else 0}: invalid YAML: {exc.problem or exc.context}") \
            from None
    lines = text.splitlines(keepends=True)

    def ended(at: list[str]) -> list[str]:
        """``at`` with its last line ended: only for lines to follow it, a file may end without a newline."""
        return at[:-1] + [at[-1] + newline] if at and not at[-1].endswith(("\n", "\r")) else at

    def block(at: list[str], insert_at: int, rendered: list[str]) -> str:
        return "".join(ended(at[:insert_at]) + [line + newline for line in rendered] + at[insert_at:])

    def first_policy(at: list[str], insert_at: int) -> str:  # under a "policies:" written just before
        return block(at, insert_at, entry_lines(entry, flow=False, dash=2, content=4))

    if root is None:
        return first_policy(ended(lines) + ["policies:" + newline], len(lines) + 1)
    if not isinstance(root, MappingNode):
        raise ConfigError(f"{path}:1: the watchlist must be a mapping with a 'policies:' list")
    found = [(k, v) for k, v in root.value if isinstance(k, ScalarNode) and k.value == "policies"]
    if not found:  # a new list at the end
        return first_policy(ended(lines) + ["policies:" + newline], len(lines) + 1)
    key, seq = found[-1]
    if isinstance(seq, ScalarNode) and seq.tag.endswith(":null"):  # "policies:", "policies: ~", "policies: null"
        row = key.start_mark.line
        if seq.value:  # the ~ or null goes; a comment after it stays
            comment = lines[row][seq.end_mark.column:].strip()
            lines[row] = lines[row][:seq.start_mark.column].rstrip() + (f"  {comment}" if comment else "") + newline
        return first_policy(lines, row + 1)
    if not isinstance(seq, SequenceNode):
        raise ConfigError(f"{path}:{key.start_mark.line + 1}: 'policies' must be a list")
    if seq.flow_style:
        if seq.value:
            raise ConfigError(f"{path}:{seq.start_mark.line + 1}: 'policies' is written as one [...] list; "
                              "write it as a block list (one '- ' per policy) for add to extend it")
        # "policies: []": the brackets go, the entry comes on the next line
        row = seq.start_mark.line
        before, after = lines[row][:seq.start_mark.column].rstrip(), lines[row][seq.end_mark.column:]
        lines[row] = before + (after if after.strip() else newline)
        return first_policy(lines, row + 1)
    first, last = seq.value[0], seq.value[-1]
    content = first.start_mark.column
    dash = lines[first.start_mark.line].rfind("-", 0, content)
    if not lines[first.start_mark.line][:content].rstrip().endswith("-"):  # "-" alone on its line, item below
        dash, content = lines[seq.start_mark.line].index("-"), lines[seq.start_mark.line].index("-") + 2
    flow = isinstance(last, MappingNode) and bool(last.flow_style)
    return block(lines, _end_line(last, lines) + 1,
                 entry_lines(entry, flow=flow, dash=max(dash, 0), content=content))


def _end_line(node: Any, lines: list[str]) -> int:
    """The last line of a node's own text: its last value's end, not the comments or blank lines after it
    (which YAML counts up to the next key) — and all of a block scalar, "#" lines included."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    deepest = node
    while isinstance(deepest, (MappingNode, SequenceNode)) and deepest.value and not deepest.flow_style:
        last = deepest.value[-1]
        deepest = last[1] if isinstance(deepest, MappingNode) else last
    end = deepest.end_mark
    line = min(end.line if end.column > 0 else end.line - 1, len(lines) - 1)
    block_scalar = isinstance(deepest, ScalarNode) and deepest.style in ("|", ">")
    while line > deepest.start_mark.line and (
            not lines[line].strip() or (not block_scalar and lines[line].lstrip().startswith("#"))):
        line -= 1  # blank lines, and comments unless inside a block scalar, belong to what follows
    return line


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a crash leaves the old file or the new one), keeping its mode."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def propose_id(url: str, taken: Sequence[str]) -> str:
    """An id from the site and the page: 'acme-privacy' for https://www.acme.com/legal/privacy."""
    from urllib.parse import urlsplit

    from policywatch.watchlist import slugify

    parts = urlsplit(url)
    host = (parts.hostname or "").removeprefix("www.")
    labels = [] if re.fullmatch(r"[\d.]+|\[.*\]", host) else [label for label in host.split(".") if label]
    site = labels[-2] if len(labels) >= 2 else (labels[0] if labels else "")
    page = next((p for p in reversed(parts.path.split("/")) if p and not re.fullmatch(r"[a-z]{2}([-_][a-z]{2})?",
                                                                                       p.lower())), "")
    page = re.sub(r"\.(html?|php|aspx?|md)$", "", page, flags=re.I)
    base = slugify("-".join(filter(None, [site, page]))) if site or page else slugify(Path(parts.path).stem)
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def propose_name(title: str | None, url: str) -> str:
    """The page's title, tidied (one line, at most 100 characters), else the URL's host and path."""
    from urllib.parse import urlsplit

    name = " ".join((title or "").split())
    if not name:
        parts = urlsplit(url)
        name = (parts.hostname or "") + parts.path if parts.hostname else Path(parts.path).name or url
    return name if len(name) <= 100 else name[:99].rstrip() + "…"


@dataclass
class Added:
    """What ``add_policy`` did: the entry written, the page it fetched, and whether that page looked wrong."""

    path: Path
    entry: dict[str, Any]
    lines: list[str]  # the entry as written to the file
    policies: int  # in the watchlist now
    words: int  # of policy text found on the page
    warning: str | None  # why the page looks like something other than the policy (bot wall, login…)
    written: bool


def add_policy(path: Path | str, url: str, *, policy_id: str | None = None, name: str | None = None,
               tags: Sequence[str] = (), select: str | None = None, dry_run: bool = False) -> Added:
    """Fetch ``url`` once, propose its entry (name from the page title) and append it to the watchlist.

    The watchlist's defaults (timeouts, headers, ``remove``, ``ignore``) apply to the fetch, as in a
    check. The file is written only if the result validates; a page that looks like a bot wall, a
    login or an error page is still added, with a warning (the user may know better). Raises
    ``UsageError`` for a URL already watched or a page that cannot be fetched, ``ConfigError`` for a
    watchlist (or entry) that does not validate.
    """
    from policywatch.errors import UsageError
    from policywatch.fetch import Fetcher
    from policywatch.monitor import fetch_and_normalize, profile_of
    from policywatch.suspect import diagnose_page
    from policywatch.watchlist import parse_watchlist

    path = Path(path)
    try:
        # As bytes, not read_text: its universal newlines would turn CRLF into LF, and the file is written back.
        text = path.read_bytes().decode("utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read watchlist: {exc}") from None
    current = _policies_in(text, path)
    same = [p for p in current if p.url == url]
    if same:
        raise UsageError(f"{url} is already watched as '{same[0].id}' ({path}:{same[0].line})")
    if policy_id is not None and any(p.id == policy_id for p in current):
        raise UsageError(f"id '{policy_id}' is taken ({path}); choose another with --id")
    entry: dict[str, Any] = {"id": policy_id or propose_id(url, [p.id for p in current]), "name": name or url,
                             "url": url}
    if tags:
        entry["tags"] = list(dict.fromkeys(tags))
    if select:
        entry["select"] = select
    # The entry as it will be checked: the watchlist's defaults and this entry's own settings.
    policy = next(p for p in parse_watchlist(append_policy(text, entry, path), path).policies if p.id == entry["id"])
    with Fetcher(workers=1) as fetcher:
        fetched = fetch_and_normalize(fetcher, policy, profile_of(policy), None)
    result = fetched.result
    if not result.ok or fetched.normalized is None:
        raise UsageError(f"{url}: cannot fetch it ({result.error or 'no content'}); nothing was added")
    normalized = fetched.normalized
    diagnosis = diagnose_page(normalized, requested_url=url, final_url=result.final_url)
    title = normalized.title or normalized.document.title
    if name is None:
        entry["name"] = propose_name(title, url)
    new_text = append_policy(text, entry, path)
    watchlist = parse_watchlist(new_text, path)  # all problems at once, before anything is written
    added = Added(path, entry, _new_lines(text, new_text), len(watchlist.policies),
                  normalized.document.word_count, diagnosis.detail if diagnosis.suspect else None, False)
    if not dry_run:
        write_atomically(path.resolve(), new_text)  # through a symlink: the file it points to
        added.written = True
    return added


def _policies_in(text: str, path: Path) -> list:
    """The policies a watchlist holds; none in an empty file or one without a 'policies' list yet
    (any other problem of the file is reported when the new text is validated)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from policywatch.watchlist import parse_watchlist

    try:
        root = YAML(typ="safe").load(text) if text.strip() else None
    except YAMLError:
        root = None
    if not isinstance(root, dict) or not root.get("policies"):
        return []
    return parse_watchlist(text, path).policies


def _new_lines(old: str, new: str) -> list[str]:
    """The lines ``new`` has that ``old`` does not (the entry; ``policies:`` too for a new list)."""
    import difflib

    return [line[2:] for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line.startswith("+ ")]
