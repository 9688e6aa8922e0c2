"""Faults an attacker or an unlucky operator meets: one row each, each failing before its fix.

Run against real parts only: the CLI in a subprocess, the renderers a ticket system or
chat would use (python-markdown, markdown-it), loopback servers.
"""

from __future__ import annotations

import pytest
from console import run_cli

from policywatch.document import parse_text
from policywatch.judge import compare
from policywatch.messages import compose_change
from policywatch.normalize import normalize_html
from policywatch.watchlist import Policy

# Page text that becomes live Markdown if written raw: a link, an image with a script, raw HTML.
HOSTILE_HEADINGS = [
    "Contact [Verify your account](https://evil.example/phish)",
    "Sharing <img src=x onerror=alert(1)>",
    "Rights ![pixel](https://evil.example/track.gif) <script>alert(2)</script>",
]


def _page(headings: list[str], sell: bool) -> str:
    import html

    sections = "".join(f"<h2>{html.escape(h)}</h2><p>We {'sell' if sell and k == 1 else 'do not sell'} your "
                       f"personal information to data brokers, section {k}.</p>" for k, h in enumerate(headings))
    return f"<html><body><main><h1>Privacy</h1>{sections}</main></body></html>"


def _rendered(markdown_text: str) -> list[str]:
    """The HTML two common Markdown renderers make of a text."""
    import markdown
    from markdown_it import MarkdownIt

    return [markdown.markdown(markdown_text), MarkdownIt("commonmark").render(markdown_text)]


def _assert_inert(markdown_text: str) -> None:
    for page in _rendered(markdown_text):
        lowered = page.lower()
        assert 'href="https://evil.example' not in lowered and 'src="https://evil.example' not in lowered, page
        assert "<img" not in lowered and "<script" not in lowered, page


@pytest.mark.parametrize("heading", HOSTILE_HEADINGS)
def test_page_headings_are_inert_in_markdown_diffs(tmp_path, heading):
    old, new = tmp_path / "old.html", tmp_path / "new.html"
    old.write_text(_page(["Contact", "Sharing", "Rights"], sell=False), encoding="utf-8")
    # The hostile heading replaces an old one (a "renamed from" title) and heads a changed section.
    new.write_text(_page(["Contact", heading, "Rights"], sell=True), encoding="utf-8")
    for first, second in ((old, new), (new, old)):
        result = run_cli(tmp_path, "diff-files", str(first), str(second), "--format", "markdown")
        assert result.returncode == 0, result.stderr
        assert "alert(" in result.stdout or "evil.example" in result.stdout  # the words are kept, as text
        _assert_inert(result.stdout)


@pytest.mark.parametrize("heading", HOSTILE_HEADINGS)
def test_page_headings_are_inert_in_markdown_messages(heading):
    plain = normalize_html(_page(["Contact", "Sharing", "Rights"], sell=False)).document
    hostile = normalize_html(_page(["Contact", heading, "Rights"], sell=True)).document
    for old, new in ((plain, hostile), (hostile, plain)):  # as the new heading, and as "renamed from"
        diff, judgement = compare(old, new)
        message = compose_change(Policy(id="acme", name="ACME", url="https://acme.example/privacy"), diff, judgement)
        _assert_inert(message.markdown)


def test_markdown_input_keeps_its_link_words_not_its_targets():
    document = parse_text("# P\n\n## Contact [Verify your account](https://evil.example/phish)\n\nText.\n")
    assert "evil.example" not in document.markdown() and "Verify your account" in document.markdown()
