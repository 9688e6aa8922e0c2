"""The dataset (``policywatch export``): every stored version as files, for research and archives.

- ``zip``: ``<policy>/<date>.md`` (each version's text, byte for byte as stored),
  ``<policy>/<date>.facts.json``, ``metadata.csv`` and ``metadata.json`` (one row per version:
  where and when it was captured, the verdict on the change that brought it, sha256s) and a
  ``README.md`` of fields and provenance.
- ``git``: a repository with ``<policy>.md`` per policy and one commit per change of a text in
  effect (returns to an earlier text included), dated at its capture, so ``git log -p`` reads as
  the policies' history. Built with ``git fast-import`` in one pass.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from policywatch.errors import UsageError
from policywatch.store import Store

FIELDS = ["policy", "name", "url", "version", "captured_at", "source", "previous_version", "severity", "material",
          "categories", "verdict", "stated_date", "words", "text_sha256", "file", "file_sha256", "raw_sha256"]

README = """# policywatch dataset

Exported {created_at} by policywatch {tool}: {policies} policies, {versions} versions.

Each version is the normalized text of a policy page as policywatch stored it: the page's policy
text as Markdown, with navigation, banners and other page furniture removed. A version is stored
once, when its text was first seen; `captured_at` is that moment (UTC), from a live check
(`source` live or file) or from a web archive's capture (`source` wayback).

## Files

- `<policy>/<date>.md`: the text of one version, byte for byte as stored (UTF-8). Two versions
  first seen on one day are `<date>.md` and `<date>_v<N>.md`.
- `<policy>/<date>.facts.json`: what that version says the company does (practice facts with
  their evidence sentences), as read by the lexicons with fingerprint `{rules}`.
- `metadata.csv`, `metadata.json`: one row per version, fields below.

## Fields

| field | meaning |
|---|---|
| `policy`, `name`, `url` | the policy's id, name and watched URL |
| `version` | the version's number for this policy (1 is the first text seen) |
| `captured_at` | when the text was first seen, ISO 8601 UTC |
| `source` | `live` (a check), `file` (a local file) or `wayback` (imported from a web archive) |
| `previous_version` | the text in effect before this one first took effect (empty for a first version) |
| `severity`, `material`, `categories`, `verdict` | policywatch's judgement of that change (empty for a first version) |
| `stated_date` | the date the text itself states ("Last updated"), when it states one |
| `words` | words of text |
| `text_sha256` | the version's identity in policywatch (sha256 of its text with headings folded) |
| `file`, `file_sha256` | the exported file and the sha256 of its bytes |
| `raw_sha256` | sha256 of the raw page the text came from, when it was kept |
"""


@dataclass
class Exported:
    path: Path
    policies: int
    versions: int
    commits: int = 0


def _version_rows(store: Store, policy_ids: Iterable[str] | None) -> list[tuple[dict, list[dict]]]:
    """(policy row, its versions with the judgement of the change that first brought each) per policy."""
    rows = store.policy_rows()
    wanted = list(rows) if policy_ids is None else [p for p in policy_ids if p in rows]
    out = []
    for policy_id in sorted(wanted):
        entering: dict[int, dict] = {}
        for entry in store.timeline(policy_id):
            entering.setdefault(entry["version_id"], entry)
        versions = store.versions_of(policy_id)
        for version in versions:
            version["entering"] = entering.get(version["id"])
        versions.sort(key=lambda v: (v["captured_at"], v["number"]))
        out.append((rows[policy_id], versions))
    return out


def _file_names(policy_id: str, versions: list[dict]) -> dict[int, str]:
    names: dict[int, str] = {}
    taken: set[str] = set()
    for version in versions:
        day = version["captured_at"][:10]
        name = f"{policy_id}/{day}" if day not in taken else f"{policy_id}/{day}_v{version['number']}"
        taken.add(day)
        names[version["id"]] = name
    return names


def _metadata(policy: dict, version: dict, file: str, content: bytes) -> dict[str, Any]:
    entering = version["entering"] or {}
    first = entering.get("previous_version_id") is None
    categories = json.loads(entering["categories"]) if entering.get("categories") else []
    return {
        "policy": policy["id"], "name": policy["name"], "url": policy["url"], "version": version["number"],
        "captured_at": version["captured_at"], "source": version["source"],
        "previous_version": None if first else entering.get("previous_version"),
        "severity": None if first else entering.get("severity"),
        "material": None if first else bool(entering.get("material")),
        "categories": [] if first else categories, "verdict": None if first else entering.get("summary"),
        "stated_date": version.get("stated_date"), "words": version["words"], "text_sha256": version["text_sha256"],
        "file": file, "file_sha256": hashlib.sha256(content).hexdigest(), "raw_sha256": version["snapshot_sha256"],
    }


def export_zip(store: Store, out: Path | str, policy_ids: Iterable[str] | None = None) -> Exported:
    """The dataset as one zip (written next to ``out``, then moved into place)."""
    from policywatch import __version__
    from policywatch.judge import load_rules
    from policywatch.timeline import version_facts

    out = Path(out)
    rules = load_rules().fingerprint
    table = _version_rows(store, policy_ids)
    metadata: list[dict[str, Any]] = []
    with zip_in_place(out, "metadata.json") as bundle:
        for policy, versions in table:
            names = _file_names(policy["id"], versions)
            for version in versions:
                content = version["text"].encode("utf-8")
                stamp = zip_time(version["captured_at"])
                write_member(bundle, f"{names[version['id']]}.md", content, stamp)
                facts = [f.to_row() for f in version_facts(store, version)]
                write_member(bundle, f"{names[version['id']]}.facts.json",
                             json_bytes({"rules": rules, "policy": policy["id"], "version": version["number"],
                                         "facts": facts}), stamp)
                metadata.append(_metadata(policy, version, f"{names[version['id']]}.md", content))
        now = datetime.now(timezone.utc).replace(microsecond=0)
        created = now.isoformat().replace("+00:00", "Z")
        stamp = now.timetuple()[:6]
        write_member(bundle, "metadata.json", json_bytes({
            "schema": "policywatch.dataset/1", "created_at": created, "rules": rules, "versions": metadata}), stamp)
        write_member(bundle, "metadata.csv", _csv(metadata), stamp)
        write_member(bundle, "README.md", README.format(created_at=created, tool=__version__, policies=len(table),
                                                       versions=len(metadata), rules=rules).encode(), stamp)
    return Exported(out, len(table), len(metadata))


def export_git(store: Store, out: Path | str, policy_ids: Iterable[str] | None = None) -> Exported:
    """The history as a git repository: one commit per change of a text in effect, at its capture date."""
    from policywatch import __version__

    out = Path(out)
    git = shutil.which("git")
    if git is None:
        raise UsageError("--format git needs the git program, which is not on PATH")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty; give a new folder for the repository")
    table = _version_rows(store, policy_ids)
    events = []  # (captured_at, order, policy, entry)
    for policy, _ in table:
        for order, entry in enumerate(store.timeline(policy["id"])):
            if not entry["technical"]:
                events.append((entry["captured_at"], order, policy, entry))
    events.sort(key=lambda e: (e[0], e[2]["id"], e[1]))
    texts: dict[int, bytes] = {}
    stream = io.BytesIO()

    def data(content: bytes) -> None:
        stream.write(b"data %d\n" % len(content) + content + b"\n")

    for captured_at, _, policy, entry in events:
        version_id = entry["version_id"]
        if version_id not in texts:
            texts[version_id] = store.version_by_id(version_id)["text"].encode("utf-8")
        when = int(datetime.fromisoformat(captured_at.replace("Z", "+00:00")).timestamp())
        stream.write(b"commit refs/heads/main\n")
        stream.write(f"committer policywatch <policywatch@localhost> {when} +0000\n".encode())
        data(_commit_message(policy, entry).encode("utf-8"))
        stream.write(f'M 100644 inline "{policy["id"]}.md"\n'.encode())  # on the branch's tip: no 'from'
        data(texts[version_id])
    now = int(datetime.now(timezone.utc).timestamp())
    stream.write(b"commit refs/heads/main\n")
    stream.write(f"committer policywatch <policywatch@localhost> {now} +0000\n".encode())
    data(f"policywatch {__version__}: dataset README\n".encode())
    stream.write(b'M 100644 inline "README.md"\n')
    data(_git_readme(len(table), len(events)).encode("utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    environment = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(out), "LC_ALL": "C"}
    try:
        _git(git, out, environment, "init", "-q")
        _git(git, out, environment, "symbolic-ref", "HEAD", "refs/heads/main")
        _git(git, out, environment, "fast-import", "--quiet", stdin=stream.getvalue())
        _git(git, out, environment, "reset", "-q", "--hard", "refs/heads/main")
    except subprocess.CalledProcessError as exc:
        message = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise UsageError(f"git failed while writing {out}: {message[-1] if message else exc}") from None
    return Exported(out, len(table), len(texts), len(events) + 1)


def _git(git: str, folder: Path, environment: dict[str, str], *args: str, stdin: bytes | None = None) -> None:
    import os

    subprocess.run([git, "-C", str(folder), *args], input=stdin, capture_output=True, check=True,
                   env={**os.environ, **environment})


def _commit_message(policy: dict, entry: dict) -> str:
    """'ACME Privacy Policy v3: Now collects biometric data.' and the facts of the change below it."""
    number = entry["version"]
    if entry["previous_version_id"] is None:
        subject = f"{policy['name']} v{number}: first version seen"
    elif entry["returns_to"] is not None:
        subject = f"{policy['name']}: back to the text of v{number}"
    else:
        subject = f"{policy['name']} v{number}: {entry['summary'] or 'new text'}"
    lines = [subject, "", f"captured {entry['captured_at']} ({entry['source']})"]
    if entry["previous_version_id"] is not None:
        from policywatch.report import plain_categories

        categories = plain_categories(json.loads(entry["categories"])) if entry["categories"] else "none"
        lines.append(f"severity {entry['severity'] or 'none'}; material {bool(entry['material'])}; "
                     f"categories {categories}")
    if entry.get("stated_date"):
        lines.append(f"the text states {entry['stated_date']}")
    lines.append(f"policy {policy['id']}: {policy['url']}")
    return "\n".join(lines) + "\n"


def _git_readme(policies: int, commits: int) -> str:
    return (f"# policywatch history\n\n{policies} policies; one commit per change of the text in effect "
            f"({commits} commits), dated at its capture (UTC).\n\n`<policy>.md` is a policy's normalized text. "
            "`git log -p <policy>.md` reads its history; each commit message gives policywatch's verdict.\n")


@contextlib.contextmanager
def zip_in_place(out: Path, marker: str) -> Iterator[zipfile.ZipFile]:
    """A zip written next to ``out`` and moved into place once whole, and never over a file that is
    not one policywatch wrote (a zip holding ``marker``) or empty: a mistyped OUT naming the database,
    the watchlist or a document (a .docx is a zip too) would have replaced it."""
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; give the name of the zip to write")
    if out.exists() and out.stat().st_size and not _written_by_us(out, marker):
        raise UsageError(f"{out}: the file exists and is not a zip policywatch wrote; policywatch does not write "
                         "over it (choose another name)")
    temporary = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            yield bundle
        temporary.replace(out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _written_by_us(path: Path, marker: str) -> bool:
    """Is the file a zip (it starts as one: zipfile.is_zipfile looks for an end record anywhere near
    the end of any file) that holds ``marker``, as every export or evidence bundle does?"""
    try:
        with path.open("rb") as file:
            if file.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                return False
        with zipfile.ZipFile(path) as bundle:
            return marker in bundle.namelist()
    except (OSError, zipfile.BadZipFile):  # unreadable, or damaged: not a zip of ours to replace
        return False


def write_member(bundle: zipfile.ZipFile, name: str, content: bytes, stamp: tuple) -> None:
    """One zip member, dated ``stamp``, readable once unzipped."""
    member = zipfile.ZipInfo(name, date_time=stamp)
    member.external_attr = 0o644 << 16
    bundle.writestr(member, content, zipfile.ZIP_DEFLATED)


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "categories": ";".join(row["categories"]),
                         "material": "" if row["material"] is None else int(row["material"])})
    return out.getvalue().encode("utf-8")


def zip_time(timestamp: str) -> tuple[int, int, int, int, int, int]:
    """A zip member's date for an ISO UTC time (zip cannot date before 1980)."""
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    when = when.astimezone(timezone.utc) if when.tzinfo else when
    return max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second
