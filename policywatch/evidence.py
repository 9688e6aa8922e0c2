"""Evidence bundles (``policywatch evidence``): one stored version as a dated zip for legal hold.

A bundle holds the page's bytes as they were fetched or replayed from an archive, what the
server (or archive) answered with them, the normalized text, its facts, the diff from the text in
effect before it, and a manifest with the sha256 of every file — in ``manifest.json`` and in a
``SHA256SUMS`` file that ``sha256sum -c`` checks. Every member is dated at the version's capture,
so two bundles of one version differ only where they say when they were made (``created_at``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from policywatch.export import json_bytes, write_member, zip_in_place, zip_time
from policywatch.store import Store

SCHEMA = "policywatch.evidence/1"

README = """Evidence bundle: {name} ({policy_id}), version {number}

Captured {captured_at} ({source}); the text states {stated}.
Made by policywatch {tool} on {created_at}.

Files
{files}

{raw_note}Verify: run `sha256sum -c SHA256SUMS` in the unzipped folder; manifest.json lists the same sums.
"""

EXTENSIONS = {"text/html": "html", "application/xhtml+xml": "xhtml", "text/markdown": "md", "text/plain": "txt",
              "application/pdf": "pdf"}


@dataclass
class Bundle:
    """What went into an evidence zip: its path and its files with their sha256."""

    path: Path
    files: list[dict[str, Any]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def write_evidence(store: Store, policy: dict, version: dict, out: Path | str) -> Bundle:
    """Write the evidence bundle of ``version`` (a stored row of ``policy``) to the zip ``out``."""
    from policywatch import __version__
    from policywatch.document import Document
    from policywatch.judge import compare, diff_json, load_rules
    from policywatch.render import render_html
    from policywatch.timeline import page_header, version_facts

    out = Path(out)
    policy_id, number = policy["id"], version["number"]
    created_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    members: list[tuple[str, bytes, str]] = []  # (name, content, what it is)

    observation = store.first_observation(version)
    capture = store.archived_capture(version, of_raw_page=True)
    if version["snapshot_sha256"]:
        content, content_type, encoding = store.snapshot(version["snapshot_sha256"])
        extension = EXTENSIONS.get((content_type or "").split(";")[0].strip().lower(), "bin")
        members.append((f"page/raw.{extension}", content, "the page's bytes as fetched (or replayed from the archive)"))
        response = {
            "requested_url": observation["url"] if observation else None,
            "final_url": observation["final_url"] if observation else None,
            "status": observation["status"] if observation else None,
            "fetched_at": observation["fetched_at"] if observation else None,
            "source": version["source"],
            "redirects": json.loads(observation["redirects"]) if observation and observation["redirects"] else [],
            "headers": json.loads(observation["headers"]) if observation and observation["headers"] else None,
            "content_type": content_type, "encoding": encoding, "sha256": version["snapshot_sha256"],
            "archive": None if capture is None else {
                "cdx": capture["archive"], "timestamp": capture["timestamp"], "original": capture["original"]},
        }
        members.append(("page/response.json", json_bytes(response),
                        "where the bytes came from: URLs, status, response headers, archive capture"))
    members.append(("text.md", version["text"].encode("utf-8"), "the normalized text, as stored and compared"))
    rules = load_rules()
    facts = [fact.to_row() for fact in version_facts(store, version)]
    members.append(("facts.json", json_bytes({"rules": rules.fingerprint, "facts": facts}),
                    "what the text says the company does, with evidence sentences"))
    previous = _previous(store, policy_id, version)
    if previous is not None:
        diff, judgement = compare(Document.from_markdown(previous["text"]), Document.from_markdown(version["text"]))
        old_label = f"{policy_id} v{previous['number']} ({previous['captured_at'][:10]})"
        new_label = f"{policy_id} v{number} ({version['captured_at'][:10]})"
        header = page_header(store, policy, previous, version)
        members.append(("diff.html", render_html(diff, judgement, old_label, new_label, header).encode("utf-8"),
                        f"the change from version {previous['number']}, the text in effect before it"))
        members.append(("diff.json", json_bytes(diff_json(diff, judgement, old_label, new_label)),
                        "the same change as data (policywatch.diff/1)"))

    files = [{"name": name, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content), "what": what}
             for name, content, what in members]
    manifest = {
        "schema": SCHEMA, "created_at": created_at, "tool": f"policywatch {__version__}",
        "policy": {"id": policy_id, "name": policy["name"], "url": policy["url"]},
        "version": {"number": number, "captured_at": version["captured_at"], "source": version["source"],
                    "text_sha256": version["text_sha256"], "stated_date": version.get("stated_date"),
                    "normalizer": version["normalizer"], "previous": previous["number"] if previous else None},
        "files": files,
    }
    sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in files).encode()
    readme = README.format(
        name=policy["name"], policy_id=policy_id, number=number, captured_at=version["captured_at"],
        source=version["source"], stated=version.get("stated_date") or "no date", tool=__version__,
        created_at=created_at, files="\n".join(f"  {f['name']:<20} {f['what']}" for f in files),
        raw_note="" if version["snapshot_sha256"] else
        "No raw page was kept for this version, so the bundle has no page/ folder.\n\n").encode()
    stamp = zip_time(version["captured_at"])
    with zip_in_place(out, "manifest.json") as bundle:
        for name, content in [*((n, c) for n, c, _ in members), ("SHA256SUMS", sums),
                              ("manifest.json", json_bytes(manifest)), ("README.txt", readme)]:
            write_member(bundle, name, content, stamp)
    return Bundle(out, files, manifest)


def _previous(store: Store, policy_id: str, version: dict) -> dict | None:
    """The text in effect just before ``version`` first took effect."""
    entries = [e for e in store.timeline(policy_id) if e["version_id"] == version["id"]]
    previous = entries[0]["previous_version_id"] if entries else None
    return store.version_by_id(previous) if previous is not None else None
