"""The published site: pages a real browser renders, links that resolve, feeds an independent parser
reads with stable ids, nothing a policy or a reviewer wrote ever running as code."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from console import run_cli
from pages import SALE, SECTIONS, policy_page

from policywatch.monitor import check
from policywatch.store import Store

# Planted wherever page text, names, URLs and review notes reach the site.
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'><svg/onload=alert(3)>"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def site_store(tmp_path, http_server, make_watchlist):
    """acme (XSS in its name, a heading and its text; sells data in v2, reviewed with an XSS note),
    beta (tagged 'EU / UK'); the store in tmp_path/pw.db and the watchlist beside it."""
    sections = [(f"Data we collect {XSS}", list(SECTIONS[0][1]))] + [(h, list(b)) for h, b in SECTIONS[1:]]
    acme_url = http_server.url('/acme?x="><svg/onload=alert(4)>')
    for path in ("/acme", '/acme?x="><svg/onload=alert(4)>'):
        http_server.route(path, policy_page(company=f"Acme {XSS}", sections=sections, churn=1))
    http_server.route("/beta", policy_page(company="Beta", churn=1))
    watchlist = make_watchlist([{"id": "acme", "name": f"ACME {XSS}", "url": acme_url, "tags": ["saas"]},
                                {"id": "beta", "name": "Beta Privacy", "url": http_server.url("/beta"),
                                 "tags": ["EU / UK", "saas"]}])
    with Store.open(tmp_path / "pw.db") as store:
        check(watchlist, store)
        for path in ("/acme", '/acme?x="><svg/onload=alert(4)>'):
            http_server.route(path, policy_page(company=f"Acme {XSS}", sections=sections, edits=dict([SALE]),
                                                churn=2))
        assert check(watchlist, store).results[0].outcome == "changed"
    assert run_cli(tmp_path, "review", "acme", "--ack", "--note", XSS, "--by", XSS).returncode == 0
    return tmp_path, http_server


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.scripts = 0
        self.handlers: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            if name == "id":
                self.ids.add(value)
            if name in ("href", "src") and value:
                self.links.append(value)


def parsed(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_a_site_of_pages_and_feeds_whose_links_resolve_and_whose_text_never_runs(site_store):
    folder, _ = site_store
    proc = run_cli(folder, "publish", "site", "--base-url", "https://policies.example/watch/")
    assert proc.returncode == 0, proc.stderr
    site = folder / "site"
    pages = sorted(site.rglob("*.html"))
    names = {p.relative_to(site).as_posix() for p in pages}
    assert {"index.html", "policies/acme.html", "policies/beta.html", "tags/saas.html",
            "tags/eu-uk-5db602.html"} <= names  # a tag that is no slug: its slug and a hash of it
    assert any(re.fullmatch(r"policies/acme/\d+\.html", n) for n in names)
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "default-src 'none'" in html  # the CSP: no script could run even if one got in
        tree = parsed(page)
        assert tree.scripts == 0 and tree.handlers == [], (page, tree.handlers)
        assert "<script>alert" not in html and "<svg/onload" not in html and "<img src=x" not in html
        for link in tree.links:  # every link inside the site resolves to a file (and its anchor)
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                assert parts.scheme in ("http", "https", "file"), link
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            assert target.is_file(), (page, link)
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in parsed(target).ids, (page, link)
    policy = (site / "policies" / "acme.html").read_text()
    assert "We sell your personal information to advertisers." in policy  # the evidence of the change
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in policy  # shown as text, never as markup
    assert "acknowledged" in policy and "<svg" in policy  # the review beside it; the inline SVG timeline


def test_feeds_are_valid_with_stable_ids_and_a_republish_writes_only_what_changed(site_store):
    feedparser = pytest.importorskip("feedparser")
    folder, http_server = site_store
    assert run_cli(folder, "publish", "site", "--base-url", "https://policies.example/").returncode == 0
    site = folder / "site"
    feed = feedparser.parse((site / "feeds" / "all.atom").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert [e.title for e in feed.entries] and all(e.id.startswith("urn:uuid:") for e in feed.entries)
    assert len({e.id for e in feed.entries}) == len(feed.entries) == 1  # material changes only: the sale
    entry = feed.entries[0]
    assert "advertisers" in entry.content[0].value and "<script>" not in entry.content[0].value
    assert entry.link == "https://policies.example/" + next(
        p.relative_to(site).as_posix() for p in (site / "policies" / "acme").glob("*.html"))
    assert feedparser.parse((site / "feeds" / "tags" / "eu-uk-5db602.atom").read_bytes()).entries == []
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}

    again = run_cli(folder, "publish", "site", "--base-url", "https://policies.example/")
    assert "0 files written" in again.stdout, again.stdout  # nothing changed: nothing rewritten
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before

    # beta changes: its pages, its feeds and the index are rewritten; acme's pages are not
    http_server.route("/beta", policy_page(company="Beta", edits={"ninety days": "three years"}, churn=3))
    from policywatch.watchlist import load_watchlist

    with Store.open(folder / "pw.db") as store:
        assert check(load_watchlist(folder / "watchlist.yaml"), store, ids=["beta"]).results[0].outcome == "changed"
    third = run_cli(folder, "publish", "site", "--base-url", "https://policies.example/")
    written = set(re.search(r"(\d+) files written", third.stdout).group(1))
    assert written
    after = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    changed = {p.relative_to(site).as_posix() for p in after if before.get(p) != after[p]}
    assert "policies/beta.html" in changed and "feeds/beta.atom" in changed and "feeds/all.atom" in changed
    assert not any(p.startswith("policies/acme") or p == "feeds/acme.atom" for p in changed), changed
    refreshed = feedparser.parse((site / "feeds" / "all.atom").read_bytes())
    assert entry.id in {e.id for e in refreshed.entries} and len(refreshed.entries) == 2  # old id kept


def test_a_customer_changelog_in_plain_words_without_internal_notes(site_store):
    feedparser = pytest.importorskip("feedparser")
    folder, _ = site_store
    assert run_cli(folder, "publish", "changelog", "--changelog", "acme").returncode == 0
    page = (folder / "changelog" / "index.html").read_text()
    assert re.search(r"What changed in our privacy policy on \d{1,2} \w+ \d{4}", page)
    assert "acknowledged" not in page and "alert(1)" in page and "<script>" not in page  # no review note
    feed = feedparser.parse((folder / "changelog" / "feed.atom").read_bytes())
    assert not feed.bozo and feed.entries[0].title.startswith("What changed in our privacy policy on")
    assert "Reviewed" not in feed.entries[0].content[0].value
    assert run_cli(folder, "publish", "x", "--changelog", "nobody").returncode == 2


def _png_colours(png: bytes) -> int:
    """How many distinct byte values the image's pixel data holds (a blank page: very few)."""
    data, position = b"", 8
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position:position + 8])
        if kind == b"IDAT":
            data += png[position + 8:position + 8 + length]
        position += 12 + length
    return len(set(zlib.decompress(data)))


@pytest.mark.skipif(CHROMIUM is None, reason="a headless chromium is not installed")
def test_a_real_browser_renders_the_pages_and_runs_nothing(site_store):
    folder, http_server = site_store
    assert run_cli(folder, "publish", "site").returncode == 0
    site = folder / "site"
    requests_before = len(http_server.requests)
    for page in ["index.html", "policies/acme.html", "tags/saas.html",
                 next(p.relative_to(site).as_posix() for p in (site / "policies" / "acme").glob("*.html"))]:
        base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                f"--user-data-dir={folder / 'chromium'}"]
        dom = subprocess.run(base + ["--dump-dom", (site / page).as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        tree = _Links()
        tree.feed(dom)
        assert "<h1" in dom and "<main" in dom, page  # the page's outline is in the rendered DOM
        assert "<table" in dom or 'class="change"' in dom or "<section" in dom, page
        assert tree.scripts == 0 and tree.handlers == [], (page, tree.handlers)
        shot = folder / "shot.png"
        subprocess.run(base + [f"--screenshot={shot}", "--window-size=1000,700", (site / page).as_uri()],
                       capture_output=True, timeout=120)
        assert shot.exists() and _png_colours(shot.read_bytes()) > 20, page  # not a blank page
        shot.unlink()
    # nothing planted fetched anything: the loopback server saw no request from the browser
    assert len(http_server.requests) == requests_before


def test_evidence_names_the_verdicts_own_changes_first_and_quotes_each_sentence_once():
    from policywatch.publish import _findings

    def fact(sentence):
        return {"evidence": sentence}

    payload = json.dumps({"facts": {
        "added": [{"message": f"now shares personal data with {who}", "severity": "high", "fact": fact(
            "We share it with data brokers, advertising partners and third parties.")}
            for who in ("data brokers", "advertising partners", "third parties")],
        "changed": [{"message": "may now sell personal data (it promised not to)", "severity": "high",
                     "old": fact("We never sell it."), "new": fact("We may sell it.")},
                    {"message": "keeps personal data for 5 years instead of 30 days", "severity": "high",
                     "old": fact("We keep it 30 days."), "new": fact("We keep it 5 years.")}],
        "removed": [{"message": "no longer says it gives the right to erasure", "severity": "medium",
                     "fact": fact("You may erase it.")}]}})
    summary = "May now sell personal data (it promised not to); keeps personal data for 5 years instead of 30 days."
    chosen = _findings(payload, summary)
    assert [f["message"] for f in chosen] == ["may now sell personal data (it promised not to)",
                                              "keeps personal data for 5 years instead of 30 days",
                                              "now shares personal data with data brokers"]
    assert chosen[0]["old"] == "We never sell it." and chosen[0]["new"] == "We may sell it."


def test_a_site_survives_what_xml_cannot_hold_and_a_tampered_manifest_deletes_nothing_outside(tmp_path):
    feedparser = pytest.importorskip("feedparser")
    body = "\n\n## Rights\n\nYou can ask us for a copy of your data, correct it or delete it at any time.\n" * 4
    (tmp_path / "draft.md").write_text("# Draft\n\nWe collect your name and email address." + body)
    (tmp_path / "watchlist.yaml").write_text("policies:\n  - {id: draft, name: Draft, url: draft.md, tags: ['🔒']}\n")
    assert run_cli(tmp_path, "check").returncode == 0
    (tmp_path / "draft.md").write_text("# Draft\n\nWe collect your name\x01 and sell it to data brokers." + body)
    assert "CHANGED" in run_cli(tmp_path, "check").stdout
    first = run_cli(tmp_path, "publish", "site", "--min-severity", "low")
    assert first.returncode == 0, first.stderr  # a control character pasted into a draft
    site = tmp_path / "site"
    for feed in site.rglob("*.atom"):
        parsed_feed = feedparser.parse(feed.read_bytes())
        assert not parsed_feed.bozo, (feed, parsed_feed.bozo_exception)
    entry = feedparser.parse((site / "feeds" / "draft.atom").read_bytes()).entries[0]
    assert entry.link.startswith("../policies/draft/")  # relative to the feed: its diff page
    assert (site / "feeds" / entry.link).resolve().is_file()
    assert str(tmp_path) not in (site / "policies" / "draft.html").read_text()  # a local path is no link
    assert 'href="' + str(tmp_path) not in (site / "policies" / "draft.html").read_text()

    # a tag's page keeps its address when a tag with the same slug comes along
    lock = next((site / "tags").glob("policy-*.html")).name
    (tmp_path / "watchlist.yaml").write_text(
        "policies:\n  - {id: draft, name: Draft, url: draft.md, tags: ['🔒', 'Policy', policy]}\n")
    assert run_cli(tmp_path, "publish", "site").returncode == 0
    assert "Policies tagged 🔒" in (site / "tags" / lock).read_text()

    manifest = json.loads((site / ".policywatch-site.json").read_text())
    (tmp_path / "victim.txt").write_text("mine")
    manifest["files"].update({"../victim.txt": "x", str(tmp_path / "victim.txt"): "y"})
    (site / ".policywatch-site.json").write_text(json.dumps(manifest))
    assert run_cli(tmp_path, "publish", "site").returncode == 0
    assert (tmp_path / "victim.txt").read_text() == "mine"
    stamp = (site / ".policywatch-site.json").stat().st_mtime_ns
    assert "0 files written" in run_cli(tmp_path, "publish", "site").stdout
    assert (site / ".policywatch-site.json").stat().st_mtime_ns == stamp  # nothing at all rewritten

    refused = run_cli(tmp_path, "publish", "site", "--changelog", "draft")  # a changelog over a site
    assert refused.returncode == 2 and "another policywatch publication" in refused.stderr
    assert (site / "index.html").exists()


def test_a_review_moves_its_feed_entrys_updated_time(site_store):
    feedparser = pytest.importorskip("feedparser")
    folder, _ = site_store
    assert run_cli(folder, "publish", "site").returncode == 0
    before = feedparser.parse((folder / "site" / "feeds" / "acme.atom").read_bytes()).entries[0]
    time.sleep(1.1)  # review times are whole seconds
    assert run_cli(folder, "review", "acme", "--ack", "--note", "legal has read it").returncode == 0
    assert run_cli(folder, "publish", "site").returncode == 0
    after = feedparser.parse((folder / "site" / "feeds" / "acme.atom").read_bytes()).entries
    assert [e.id for e in after] == [before.id]
    assert after[0].updated_parsed > before.updated_parsed and after[0].published == before.published
