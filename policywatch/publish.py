"""The published site (``policywatch publish``): static pages and Atom feeds of what changed.

A site is plain files that work from ``file://`` and any static host: no script (a
Content-Security-Policy forbids one), nothing fetched. It has

- ``index.html``: the watched policies, each with its last change (severity, categories) and a
  timeline of its changes as inline SVG; ``tags/<name>.html`` the same for one tag (tag_slugs);
- ``policies/<id>.html``: what the policy says now (its facts by category, with evidence), its
  history with each change's verdict in plain words and its review, links to the live page and
  archived copies; ``policies/<id>/<change>.html`` each change's section diff;
- ``feeds/all.atom``, ``feeds/<id>.atom``, ``feeds/tags/<name>.atom``: material changes (or those
  at ``min_severity``), with ids that never change, so a reader never shows an entry twice.

``changelog`` mode publishes one policy for its own customers instead: one page and one feed in
plain words ("What changed in our privacy policy on 1 March 2025"), without review notes.

Re-publishing writes only files whose bytes changed, removes the files of a previous publish that
are no longer part of the site, and re-renders a change's diff page only when what it shows
changed (``.policywatch-site.json`` remembers each page's inputs).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from policywatch.document import xml_safe
from policywatch.secrets import redact_page
from policywatch.store import Store
from policywatch.vocabulary import SEVERITY_RANK, reason_words

MANIFEST = ".policywatch-site.json"
ENTRY_NAMESPACE = uuid.UUID("6f1d7a44-3c55-4d6e-9f0e-2b1c8f0a9d31")  # feed entry ids: uuid5 of the change
MAX_EVIDENCE = 3  # findings quoted in a feed entry

POLARITY_WORDS = {"negated": "says it does not", "conditional": "only in some cases"}


@dataclass
class Published:
    """What a publish did: files written (new or changed), left as they were, and removed."""

    out: Path
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    diffs_rendered: int = 0


@dataclass
class SiteChange:
    """One change as the site shows it."""

    policy_id: str
    change_id: int
    version: int
    previous_version: int | None
    captured_at: str
    severity: str
    material: bool
    categories: list[str]  # plain words
    summary: str
    review: dict | None
    returns_to: int | None
    findings: list[dict]  # message, old, new: the key evidence
    entry_id: str
    page: str  # the diff page, relative to the site's root
    version_id: int
    previous_version_id: int
    archived: str | None = None  # the archive's copy of the page, when the version came from one
    old_sha256: str = ""  # the two texts' identities: what the diff page shows
    new_sha256: str = ""

    @property
    def day(self) -> str:
        return readable_date(self.captured_at)


@dataclass
class SitePolicy:
    id: str
    name: str
    url: str
    tags: list[str]
    last_checked: str | None
    state: str
    current_version: int | None
    versions: int
    changes: list[SiteChange]  # every change to a new text, newest first
    facts: dict[str, list[dict]]  # plain category → facts of the current version
    first_seen: str | None


def readable_date(timestamp: str | None) -> str:
    """'1 March 2025' for an ISO UTC time (the data stays ISO; people read this)."""
    if not timestamp:
        return ""
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return f"{when.day} {when.strftime('%B %Y')}"


def _entry_id(policy_id: str, captured_at: str, text_sha256: str) -> str:
    """A feed entry's id: the same change gets the same id on every publish, from any database."""
    return f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, f'{policy_id}/{captured_at}/{text_sha256}')}"


def _findings(diff_payload: str | None, summary: str = "", limit: int = MAX_EVIDENCE) -> list[dict]:
    """The key fact changes of a stored change (its policywatch.diff/1 ``facts``): most severe first,
    then in the order the verdict's summary names them, then those with a before and an after; one
    per quoted sentence (three "now shares with …" of one sentence are one piece of evidence)."""
    if not diff_payload:
        return []
    facts = json.loads(diff_payload).get("facts") or {}
    said = summary.lower()
    found = []
    for order, kind in enumerate(("changed", "removed", "added")):
        for item in facts.get(kind, []):
            old = (item.get("old") or (item["fact"] if kind == "removed" else None) or {}).get("evidence")
            new = (item.get("new") or (item["fact"] if kind == "added" else None) or {}).get("evidence")
            place = said.find(item["message"].lower())
            found.append(({"message": item["message"], "severity": item["severity"], "old": old, "new": new},
                          (-SEVERITY_RANK.get(item["severity"], 0), place if place >= 0 else len(said) + 1, order)))
    found.sort(key=lambda pair: pair[1])
    chosen, quoted = [], set()
    for finding, _ in found:
        sentences = {finding["old"], finding["new"]} - {None}
        if sentences and sentences <= quoted:
            continue
        quoted |= sentences
        chosen.append(finding)
    return chosen[:limit]


def gather(store: Store, policy_ids: Iterable[str], tags: dict[str, list[str]], since: str | None = None
           ) -> list[SitePolicy]:
    """What the site shows of these stored policies."""
    from policywatch.judge import load_rules
    from policywatch.report import plain_categories, review_json
    from policywatch.timeline import archived_copy, version_facts

    rules = load_rules()
    rows = store.policy_rows()
    reasons = store.failing_reasons()
    policies = []
    for policy_id in sorted(set(policy_ids) & set(rows)):
        row = rows[policy_id]
        timeline = store.timeline(policy_id)
        identity = {e["version_id"]: e["text_sha256"] for e in timeline}
        entries = [e for e in timeline if e["previous_version_id"] is not None
                   and not e["technical"] and (since is None or e["captured_at"] >= since)]
        reviews = store.reviews([e["id"] for e in entries])
        changes = []
        for e in reversed(entries):
            categories = json.loads(e["categories"]) if e["categories"] else []
            changes.append(SiteChange(
                policy_id, e["id"], e["version"], e["previous_version"], e["captured_at"], e["severity"] or "none",
                bool(e["material"]), [plain_categories([c]) for c in categories], e["summary"] or "",
                review_json(reviews.get(e["id"])), e["returns_to"],
                _findings(store.change_diff(e["id"]), e["summary"] or ""),
                _entry_id(policy_id, e["captured_at"], e["text_sha256"]), f"policies/{policy_id}/{e['id']}.html",
                e["version_id"], e["previous_version_id"],
                archived_copy(store, store.version_by_id(e["version_id"])) if e["source"] == "wayback" else None,
                identity.get(e["previous_version_id"], ""), e["text_sha256"]))
        facts: dict[str, list[dict]] = {}
        if row["current_version_id"]:
            for fact in version_facts(store, store.version_by_id(row["current_version_id"])):
                if fact.polarity == "negated" and fact.category not in ("sharing", "tracking"):
                    continue
                facts.setdefault(rules.label(fact.category), []).append(
                    {"practice": fact.practice, "polarity": POLARITY_WORDS.get(fact.polarity, ""), "shown": fact.shown,
                     "evidence": fact.evidence, "section": " › ".join(fact.section)})
        state = "failing" if row["last_outcome"] == "failed" else "suspect" if row["last_outcome"] == "suspect" \
            else "ok" if row["last_outcome"] else "not checked"
        if state in ("failing", "suspect") and reasons.get(policy_id):
            state += f" ({reason_words(reasons[policy_id])})"
        policies.append(SitePolicy(policy_id, row["name"], redact_page(row["url"]), tags.get(policy_id, []),
                                   row["last_checked_at"], state, row["current_number"], row["versions"], changes,
                                   dict(sorted(facts.items())), row["first_seen"]))
    return policies


def tag_slugs(tags: Sequence[str]) -> dict[str, str]:
    """A file name for each tag: a tag is free text ("EU / UK", "../x"), a file name is not. A tag
    that is a slug already keeps its name; another gets its slug and a short hash of itself, so
    its page and feed never pass to another tag when tags are added ("🔒" and "Policy")."""
    from policywatch.watchlist import slugify

    names = {}
    for tag in tags:
        slug = slugify(tag)
        names[tag] = slug if slug == tag else f"{slug}-{hashlib.sha256(tag.encode()).hexdigest()[:6]}"
    return names


def _shown(change: SiteChange, min_severity: str | None) -> bool:
    """In feeds and as 'last change': material changes, or those at ``min_severity`` — never a false alarm."""
    if change.review and change.review["action"] == "false_alarm":
        return False
    if min_severity is None:
        return change.material
    return SEVERITY_RANK.get(change.severity, 0) >= SEVERITY_RANK.get(min_severity, 0)


def timeline_svg(changes: Sequence[SiteChange], start: str, end: str, width: int = 220, height: int = 16) -> dict:
    """Where each change sits on a strip from ``start`` to ``end``: the data of an inline SVG."""
    def position(timestamp: str) -> float:
        a, b = (datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in (start, end))
        t = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
        return 6 + (width - 12) * ((t - a) / (b - a) if b > a else 1.0)

    return {"width": width, "height": height, "dots": [
        {"x": round(position(c.captured_at), 1), "severity": c.severity,
         "title": f"{c.day}: {c.severity} — {c.summary}"} for c in sorted(changes, key=lambda c: c.captured_at)]}


class _Site:
    """Collects a site's files, then writes those whose bytes changed.

    ``.policywatch-site.json`` keeps each file's sha256 and each diff page's inputs: a re-publish
    compares hashes instead of reading the site back, and keeps a diff page whose inputs did not
    change without rendering it.
    """

    def __init__(self, out: Path, kind: str = "site"):
        self.out, self.kind = out, kind
        self.files: dict[str, bytes] = {}
        self.kept: set[str] = set()
        try:
            self.previous_manifest = (out / MANIFEST).read_text(encoding="utf-8")
            previous = json.loads(self.previous_manifest)
        except (OSError, ValueError):
            self.previous_manifest, previous = "", {}
        previous = previous if isinstance(previous, dict) else {}
        if previous.get("kind", kind) != kind:  # a manifest from before kinds were kept: either
            from policywatch.errors import UsageError

            raise UsageError(f"{out} holds another policywatch publication ({previous.get('kind', 'site')}); "
                             "publish into a folder of its own")
        files = previous.get("files", {})
        # Only what a publish can have written: a manifest edited to name "../x" or "/x" deletes nothing.
        self.previous_files: dict[str, str] = {
            path: digest for path, digest in (files.items() if isinstance(files, dict) else ())
            if isinstance(path, str) and _inside(path)}
        inputs = previous.get("inputs", {})
        self.previous_inputs: dict[str, str] = inputs if isinstance(inputs, dict) else {}
        self.inputs: dict[str, str] = {}

    def add(self, path: str, content: str | bytes) -> None:
        self.files[path] = content.encode("utf-8") if isinstance(content, str) else content

    def keep(self, path: str, inputs: str) -> bool:
        """Is the page at ``path`` still what ``inputs`` would make? (then it is kept, not re-rendered)"""
        self.inputs[path] = inputs
        if self.previous_inputs.get(path) == inputs and path in self.previous_files and (self.out / path).is_file():
            self.kept.add(path)
            return True
        return False

    def write(self) -> Published:
        result = Published(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        hashes = {path: self.previous_files[path] for path in self.kept}
        result.unchanged = len(self.kept)
        for path, content in sorted(self.files.items()):
            digest = hashes[path] = hashlib.sha256(content).hexdigest()
            target = self.out / path
            if self.previous_files.get(path) == digest and target.is_file():
                result.unchanged += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.partial")
            temporary.write_bytes(content)
            os.replace(temporary, target)
            result.written.append(path)
        for path in self.previous_files:
            if path not in hashes and (self.out / path).is_file():
                (self.out / path).unlink()
                result.removed.append(path)
        manifest = json.dumps({"kind": self.kind, "files": hashes, "inputs": self.inputs}, indent=0,
                              sort_keys=True) + "\n"
        if manifest != self.previous_manifest:  # nothing changed: not even the manifest is rewritten
            temporary = self.out / f"{MANIFEST}.partial"
            temporary.write_text(manifest, encoding="utf-8")
            os.replace(temporary, self.out / MANIFEST)
        return result


def _inside(path: str) -> bool:
    """A relative path that stays in the site's folder."""
    from pathlib import PurePosixPath, PureWindowsPath

    parts = PurePosixPath(path).parts
    windows = PureWindowsPath(path)
    return (bool(parts) and not PurePosixPath(path).is_absolute() and ".." not in parts and "\\" not in path
            and not windows.drive and not windows.root)


def _relative(depth: int) -> str:
    return "../" * depth


def _change_page(store: Store, site: _Site, policy: SitePolicy, change: SiteChange, fingerprint: str) -> bool:
    """The diff page of one change (rendered only when its inputs changed); whether it was rendered.
    ``fingerprint``: what else shapes every page (the tool's version and its rules)."""
    from policywatch.document import Document
    from policywatch.judge import FactExtractor, compare
    from policywatch.render import render_html
    from policywatch.timeline import page_header

    inputs = hashlib.sha256(json.dumps([fingerprint, change.old_sha256, change.new_sha256, policy.name, policy.url,
                                        change.review], sort_keys=True).encode()).hexdigest()
    if site.keep(change.page, inputs):
        return False
    old, new = store.version_by_id(change.previous_version_id), store.version_by_id(change.version_id)
    # the sentences of both versions were analysed when the change was judged: the store remembers them
    diff, judgement = compare(Document.from_markdown(old["text"]), Document.from_markdown(new["text"]),
                              extractor=FactExtractor(memory=store))
    header = page_header(store, {"id": policy.id, "name": policy.name, "url": policy.url}, old, new)
    header.notes = [n for n in header.notes if "--raw" not in n]  # a command line means nothing on a site
    header.home = ("← " + policy.name, f"../{policy.id}.html")
    label = lambda v: f"{policy.id} v{v['number']} ({readable_date(v['captured_at'])})"  # noqa: E731
    site.add(change.page, render_html(diff, judgement, label(old), label(new), header))
    return True


def publish(store: Store, out: Path | str, policy_ids: Iterable[str], *, tags: dict[str, list[str]] | None = None,
            min_severity: str | None = None, since: str | None = None, base_url: str | None = None) -> Published:
    """Write the site of these policies to ``out`` (see the module's docstring)."""
    from policywatch import __version__
    from policywatch.judge import load_rules
    from policywatch.render import HTML_STYLE, templates

    out = Path(out)
    tags = tags or {}
    policies = gather(store, policy_ids, tags, since)
    site = _Site(out)
    env = templates()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    def span(subset: list[SitePolicy]) -> tuple[str, str]:
        """From the first time shown (``since``, or the first policy seen) to the last change or check."""
        starts = [p.first_seen for p in subset if p.first_seen] + [c.captured_at for p in subset for c in p.changes]
        first = since if since else min(starts) if starts else now
        ends = [c.captured_at for p in subset for c in p.changes] + [p.last_checked or "" for p in subset]
        return first, max([e for e in ends if e] or [now])

    start, end = span(policies)
    rendered = 0
    all_tags = sorted({t for p in policies for t in p.tags})
    tag_files = tag_slugs(all_tags)
    common = {"style": HTML_STYLE, "readable": readable_date, "base_url": base_url}
    fingerprint = f"{__version__} {load_rules().fingerprint}"
    for policy in policies:
        for change in policy.changes:
            rendered += _change_page(store, site, policy, change, fingerprint)
        shown = [c for c in policy.changes if _shown(c, min_severity)]
        site.add(f"policies/{policy.id}.html", env.get_template("site_policy.html").render(
            **common, root=_relative(1), policy=policy, tags=[(t, tag_files[t]) for t in policy.tags],
            # its own span: the page stays as it is until this policy changes
            svg=timeline_svg(policy.changes, policy.first_seen or start,
                             max([c.captured_at for c in policy.changes] or [policy.first_seen or start]),
                             width=640, height=22)))
        site.add(f"feeds/{policy.id}.atom", _feed(policy.name, [(policy, c) for c in shown], f"feeds/{policy.id}.atom",
                                                  f"policies/{policy.id}.html", base_url))

    def index(subset: list[SitePolicy], title: str, depth: int, feed: str) -> str:
        first, last = span(subset)  # a tag's page stays as it is while its own policies do not change
        rows = [{"policy": p, "last": next((c for c in p.changes if _shown(c, min_severity)), None),
                 "svg": timeline_svg(p.changes, first, last)} for p in subset]
        return env.get_template("site_index.html").render(
            **common, root=_relative(depth), title=title, rows=rows, tags=[(t, tag_files[t]) for t in all_tags],
            feed=feed, start=readable_date(first), end=readable_date(last))

    site.add("index.html", index(policies, "Watched policies", 0, "feeds/all.atom"))
    site.add("feeds/all.atom", _feed("All watched policies", [(p, c) for p in policies for c in p.changes
                                                              if _shown(c, min_severity)],
                                     "feeds/all.atom", "index.html", base_url))
    for tag in all_tags:
        subset, name = [p for p in policies if tag in p.tags], tag_files[tag]
        site.add(f"tags/{name}.html", index(subset, f"Policies tagged {tag}", 1, f"feeds/tags/{name}.atom"))
        site.add(f"feeds/tags/{name}.atom", _feed(f"Policies tagged {tag}", [(p, c) for p in subset for c in p.changes
                                                                            if _shown(c, min_severity)],
                                                  f"feeds/tags/{name}.atom", f"tags/{name}.html", base_url))
    result = site.write()
    result.diffs_rendered = rendered
    return result


def publish_changelog(store: Store, out: Path | str, policy_id: str, *, min_severity: str | None = "low",
                      since: str | None = None, base_url: str | None = None) -> Published:
    """One policy's customer-facing changelog: a page and a feed in plain words, no internal notes."""
    from policywatch.render import HTML_STYLE, templates

    out = Path(out)
    (policy,) = gather(store, [policy_id], {}, since) or [None]
    if policy is None:
        from policywatch.errors import UsageError

        raise UsageError(f"no stored policy '{policy_id}'")
    changes = [c for c in policy.changes if _shown(c, min_severity)]
    for change in changes:
        change.review = None  # internal: never on a customer's page
    site = _Site(out, kind=f"changelog of {policy_id}")
    site.add("index.html", templates().get_template("site_changelog.html").render(
        style=HTML_STYLE, readable=readable_date, policy=policy, changes=changes, base_url=base_url))
    site.add("feed.atom", _feed(f"Changes to the {policy.name}", [(policy, c) for c in changes], "feed.atom",
                                "index.html", base_url, changelog=True))
    return site.write()


def _feed(title: str, items: Sequence[tuple[SitePolicy, SiteChange]], path: str, page: str,
          base_url: str | None, changelog: bool = False) -> bytes:
    """An Atom feed of ``items``, newest first; stable bytes while nothing in it changed."""
    from feedgen.feed import FeedGenerator

    from policywatch.render import templates

    # Without --base-url, links are relative to the feed's own address (Atom resolves them so).
    base = (base_url or "").rstrip("/") + "/" if base_url else _relative(path.count("/"))
    items = sorted(items, key=lambda pc: pc[1].captured_at, reverse=True)
    updated = max((_updated(c) for _, c in items), default="1970-01-01T00:00:00Z", key=_datetime)
    feed = FeedGenerator()
    feed.id(f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, 'feed/' + path)}")
    feed.title(xml_safe(title))
    feed.author({"name": "policywatch"})
    feed.generator("policywatch")
    feed.updated(_datetime(updated))
    if base_url:
        feed.link(href=base + path, rel="self")
    feed.link(href=base + page, rel="alternate")
    entry_template = templates().get_template("feed_entry.html")
    for policy, change in reversed(items):  # feedgen puts the last added first
        entry = feed.add_entry()
        # A company's changelog is another feed than a watcher's: its entries are other entries.
        entry.id(f"urn:uuid:{uuid.uuid5(ENTRY_NAMESPACE, 'changelog/' + change.entry_id)}" if changelog
                 else change.entry_id)
        heading = f"What changed in our privacy policy on {change.day}" if changelog else \
            f"{policy.name} — {change.day}: {change.summary or change.severity + ' change'}"
        entry.title(xml_safe(heading))
        entry.updated(_datetime(_updated(change)))  # a review is news to a reader of the entry
        entry.published(_datetime(change.captured_at))
        entry.link(href=policy.url if changelog else base + change.page, rel="alternate")
        entry.content(xml_safe(entry_template.render(policy=policy, change=change, changelog=changelog)),
                      type="html")
    return feed.atom_str(pretty=True)


def _updated(change: SiteChange) -> str:
    """When an entry last changed: its capture, or the review shown in it."""
    reviewed = (change.review or {}).get("at")
    return max(change.captured_at, reviewed, key=_datetime) if reviewed else change.captured_at


def _datetime(timestamp: str) -> datetime:
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
