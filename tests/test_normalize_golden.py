"""The normalizer's output on a corpus of pages, against what it gave when NORMALIZER_VERSION was set.

Stored texts are compared with the texts of new fetches: a normalizer that reads the same page
otherwise, by one character, makes every policy look changed on the next check. So any change to
what it gives (the Markdown, the title, the language, what the suspect checks read, the markup
fingerprint) must come with a NORMALIZER_VERSION bump, which tells ``policywatch renormalize``
to read the stored pages again. A change that only makes it faster must leave this test green.

The corpus: the demo's sample pages, the test pages of ``pages.py`` in their variants, the
furniture pages of ``test_normalize_furniture``, the benchmark's generated pages, and, where
``../shared`` is present, the evaluation sets' pages and the sample policy texts.

After a deliberate change (and the bump): ``python -m pytest tests/test_normalize_golden.py --update-golden``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pages
import pytest
import test_normalize_furniture as furniture

from policywatch.normalize import NORMALIZER_VERSION, normalize_page, normalize_text, page_markup, read_page

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
GOLDEN = Path(__file__).resolve().parent / "fixtures" / "normalized.json"
OPTIONS = ({}, {"select": "main"}, {"remove": ["nav", ".sidebar"]})


def _bench_pages() -> Iterator[tuple[str, Callable[[], str]]]:
    spec = importlib.util.spec_from_file_location("check_cycle", ROOT / "bench" / "check_cycle.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_cycle", module)
    spec.loader.exec_module(module)
    for index in range(8):
        writer = module.PageWriter(1, index, 60_000)
        for churn, revisions in ((0, {}), (index + 1, {1: 1, 3: 2})):
            yield (f"bench/{index}/{churn}",
                   lambda w=writer, c=churn, r=revisions: w.render(r, 10, churn=c).decode("utf-8"))


def _test_pages() -> Iterator[tuple[str, Callable[[], str]]]:
    variants = {
        "default": {}, "hidden": {"hidden": True}, "curly": {"typography": "curly"}, "nbsp": {"nbsp": True},
        "invisible": {"invisible": True}, "ol": {"list_style": "ol"}, "back_to_top": {"back_to_top": True},
        "promo": {"header_promo": "New: Acme AI is here. Learn more"}, "scripts": {"extra_scripts": True},
        "churn": {"churn": 3}, "div_main": {"main_tag": "div"}, "no_relative": {"relative": None},
        "cf_link": {"cf_form": "a"}, "no_cf": {"cf_key": None}, "drop": {"drop_sections": 2},
        "messy": {"spacing": "messy"}, "edits": {"edits": {"for up to ninety days": "for thirty days"}},
    }
    for name, options in variants.items():
        yield f"pages/{name}", lambda o=options: pages.policy_page(**o)
    for banner in pages.BANNERS:
        yield f"pages/banner-{banner}", lambda b=banner: pages.policy_page(banner=b)
    for name in ("bot_wall_page", "login_page", "error_page", "home_page", "policy_markdown"):
        yield f"pages/{name}", getattr(pages, name)
    yield "furniture/plain", lambda: furniture.page()
    yield "furniture/menus", lambda: furniture.page(
        before=furniture.menu("Product", "Pricing", "Docs") + furniture.menu("English", "Deutsch", "Français"),
        after=furniture.footer(2025, ("Company", ("About us", "Careers")), ("Legal", ("Terms", "Privacy"))))
    yield "furniture/section", lambda: furniture.page(wrap="section")
    # A box that says "cookie banner" but holds a long script is weighed with the script's text.
    yield "furniture/banner-script", lambda: furniture.page(
        before="<div class='cookie-banner'><p>We use cookies.</p><script>var consent = {" +
               ", ".join(f"k{i}: {i}" for i in range(600)) + "};</script></div>")
    # The page's own elements saying things of themselves (normalizer 7: never the page's chrome).
    for name, html_attributes, body_attributes in (
            ("hidden-html", ' style="visibility:hidden"', ""), ("hidden-body", "", " hidden"),
            ("consent-class-body", "", ' class="qc-cmp2-ui-showing"'), ("role-html", ' role="navigation"', "")):
        yield f"furniture/{name}", lambda h=html_attributes, b=body_attributes: (
            furniture.page(before="<div class='cookie-banner'><p>We use cookies.</p></div>" + furniture.menu("Home"),
                           after="<aside><p>Write to <a class='__cf_email__' data-cfemail='1a6a686c637b7962'>"
                                 "[email protected]</a><br>any time.</p></aside>")
            .replace("<html lang='en'>", f"<html lang='en'{h}>").replace("<body>", f"<body{b}>"))
    # What lxml parses but will not let a program write back: a control character, a template's tag.
    yield "furniture/script-control-character", lambda: furniture.page(after="<script>var s = 'a\x0cb';</script>")
    yield "furniture/text-control-characters", lambda: furniture.page(
        after="<p>Page 2\x0c<script>x()</script> of the policy.<br>\x0bLine\x01 two\x00.</p>"
              "<div>Note\x0c<span hidden>h</span> ends.</div>")
    yield "furniture/script-template-attribute", lambda: furniture.page(
        after="<script {{ csp_nonce }} src='/app.js'></script><link id='privacy-top' rel='preload'>")
    for path in sorted((ROOT / "policywatch" / "samples").glob("*.html")):
        yield f"samples/{path.name}", lambda p=path: p.read_text(encoding="utf-8")
    yield from _bench_pages()


def _shared_pages() -> Iterator[tuple[str, Callable[[], str]]]:
    for path in sorted((SHARED / "eval-dev" / "cases").glob("*/*.html")):
        yield f"shared/eval-dev/{path.parent.name}/{path.name}", lambda p=path: p.read_text(encoding="utf-8")
    for path in sorted((SHARED / "eval-real-dev" / "data").glob("*/*.md")):
        yield f"shared/eval-real-dev/{path.parent.name}/{path.name}", lambda p=path: p.read_text(encoding="utf-8")
    for path in sorted((SHARED / "samples").glob("*.txt")):
        yield f"shared/samples/{path.name}", lambda p=path: p.read_text(encoding="utf-8")


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:20]


def outputs(corpus: Iterator[tuple[str, Callable[[], str]]], options: tuple[dict, ...] = OPTIONS
            ) -> dict[str, dict[str, str]]:
    """``{case: {"input": …, "output": …}}``: digests of each page with its settings, and of everything
    the normalizer gives for it."""
    found = {}
    for name, make in corpus:
        text = make()
        for settings in options:
            normalized = normalize_text(text, **settings)
            markup = page_markup(text, **{k: v for k, v in settings.items() if k != "ignore"})
            given = [normalized.markdown, normalized.title, normalized.html_lang, normalized.has_password_field,
                     normalized.selector_missing, normalized.raw_text_sample, normalized.script_shell,
                     normalized.document.sha256, normalized.document.detected_language,
                     normalized.document.word_count, markup]
            found[f"{name} {json.dumps(settings, sort_keys=True)}"] = {"input": _digest([text, settings]),
                                                                       "output": _digest(given)}
    return found


def _shared_present() -> bool:
    return (SHARED / "eval-dev").exists()


def _golden() -> dict[str, dict]:
    return json.loads(GOLDEN.read_text())["outputs"] if GOLDEN.exists() else {}


def _compare(found: dict[str, dict[str, str]], golden: dict[str, dict]) -> None:
    """Each case's output as recorded for the same page under this NORMALIZER_VERSION."""
    missing = sorted(case for case in found if case not in golden)
    moved = sorted(case for case in found if case in golden and golden[case]["input"] != found[case]["input"])
    stale = sorted(case for case in found if case in golden and golden[case]["normalizer"] != NORMALIZER_VERSION)
    assert not (missing or moved), (f"pages without a recorded output, or changed since (record them with "
                                    f"--update-golden): {(missing + moved)[:5]}")
    assert not stale, (f"outputs recorded under another NORMALIZER_VERSION than {NORMALIZER_VERSION}: record "
                       f"them with --update-golden, e.g. {stale[:3]}")
    differ = sorted(case for case in found if golden[case]["output"] != found[case]["output"])
    if differ:
        pytest.fail(f"the normalizer gives other texts for {len(differ)} of {len(found)} cases without a "
                    f"NORMALIZER_VERSION bump, e.g. {differ[:5]}")


def _record(found: dict[str, dict[str, str]]) -> str:
    """Record the outputs (``--update-golden``); refused for a page whose output differs under the
    same version (a new or changed page, or a version bump, is recorded)."""
    golden = _golden()
    shared = outputs(_shared_pages(), ({},)) if _shared_present() else {}
    found = {**found, **shared}
    differ = sorted(case for case, now in found.items() if case in golden and golden[case]["input"] == now["input"]
                    and golden[case]["normalizer"] == NORMALIZER_VERSION and golden[case]["output"] != now["output"])
    if differ:
        pytest.fail(f"not recorded: {len(differ)} outputs differ and NORMALIZER_VERSION is still "
                    f"{NORMALIZER_VERSION} (bump it, so that renormalize reads stored pages again), e.g. {differ[:3]}")
    # What is recorded of ../shared stays where it is absent (under the version it was recorded for).
    kept = {case: record for case, record in golden.items() if case.startswith("shared/") and not shared}
    records = {**kept, **{case: {"normalizer": NORMALIZER_VERSION, **now} for case, now in found.items()}}
    GOLDEN.write_text(json.dumps({"outputs": records}, indent=0, sort_keys=True) + "\n")
    return f"recorded {len(found)} outputs in {GOLDEN.name}"


def test_the_normalizer_gives_the_recorded_texts_for_every_test_page(request):
    found = outputs(_test_pages())
    if request.config.getoption("--update-golden"):
        pytest.skip(_record(found))
    _compare(found, _golden())


@pytest.mark.skipif(not _shared_present(), reason="../shared not present")
def test_the_normalizer_gives_the_recorded_texts_for_the_shared_pages(request):
    if request.config.getoption("--update-golden"):
        pytest.skip("recorded with the test pages")
    _compare(outputs(_shared_pages(), ({},)), _golden())


def _same_read_whole_and_apart(name: str, text: str, settings: dict) -> None:
    markup, normalized = read_page(text, **settings)
    assert markup == page_markup(text, **settings), name
    assert normalized == normalize_page(text, **settings), name
    if markup is not None:  # an HTML page: known by its fingerprint, not read again
        assert read_page(text, known_markup=markup, **settings) == (markup, None), name


def test_reading_a_page_whole_gives_its_fingerprint_and_text_as_read_apart():
    """``read_page`` parses a page once for its markup fingerprint and its text: the same as each apart."""
    for name, make in _test_pages():
        text = make()
        for settings in OPTIONS:
            _same_read_whole_and_apart(name, text, settings)


@pytest.mark.skipif(not _shared_present(), reason="../shared not present")
def test_reading_a_shared_page_whole_gives_its_fingerprint_and_text_as_read_apart():
    for name, make in _shared_pages():
        if name.endswith(".html"):
            _same_read_whole_and_apart(name, make(), {})
