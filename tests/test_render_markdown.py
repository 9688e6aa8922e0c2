"""The Markdown view of a diff, read as a ticket system or chat renders it (markdown-it, CommonMark)."""

from __future__ import annotations

import html
import re

import pytest

from policywatch.document import parse_text
from policywatch.judge import compare
from policywatch.render import render_markdown


def _markdown(old_paragraph: str, new_paragraph: str) -> str:
    old = parse_text(f"# Tinyco Privacy Policy\n\n## Sharing\n\n{old_paragraph}\n")
    new = parse_text(f"# Tinyco Privacy Policy\n\n## Sharing\n\n{new_paragraph}\n")
    diff, judgement = compare(old, new)
    return render_markdown(diff, judgement, "old", "new")


def _quoted_diff(markdown_text: str) -> str:
    """The diff lines of a rendering (its "> " block quote), as Markdown."""
    return "\n".join(line[2:] for line in markdown_text.splitlines() if line.startswith("> "))


def _rendered(markdown_text: str) -> str:
    """HTML as CommonMark renders it, with the ~~strikethrough~~ of GitHub and most ticket systems."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("strikethrough").render(markdown_text)


def _words(rendered_html: str) -> str:
    """What a reader sees of a rendering: its text, tags gone."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered_html))


def test_an_insertion_keeps_the_space_before_it():
    quoted = _quoted_diff(_markdown("We do not sell your personal data. We share it with processors.",
                                    "We may sell your personal data to advertising partners. We share it with "
                                    "processors."))
    assert quoted == "We ~~do not~~**may** sell your personal data **to advertising partners**. We share it with " \
                     "processors."
    rendered = _rendered(quoted)
    assert "<strong>to advertising partners</strong>" in rendered
    assert "personal data to advertising partners." in _words(rendered)


@pytest.mark.parametrize(("old", "new", "expected", "seen"), [
    # the deleted run carries the space before it ...
    ("We do not sell your personal data to brokers. We share it.", "We do not sell your personal data. We share it.",
     "We do not sell your personal data ~~to brokers~~. We share it.", "personal data to brokers. We"),
    # ... or the space after it
    ("We never sell your data.", "We sell your data.", "We ~~never~~ sell your data.", "We never sell"),
])
def test_a_deletion_keeps_the_space_at_its_edge(old, new, expected, seen):
    quoted = _quoted_diff(_markdown(old, new))
    assert quoted == expected  # the space written once, outside the markers
    rendered = _rendered(quoted)
    assert re.search(r"<s>(to brokers|never)</s>", rendered), rendered
    assert seen in _words(rendered)


def test_a_replaced_line_stays_struck_then_bold():
    quoted = _quoted_diff(_markdown("Last updated: January 5, 2024", "Last updated: March 1, 2025"))
    assert quoted == "~~Last updated: January 5, 2024~~**Last updated: March 1, 2025**"
    assert _rendered(quoted) == \
        "<p><s>Last updated: January 5, 2024</s><strong>Last updated: March 1, 2025</strong></p>\n"


def test_punctuation_at_the_edge_of_a_run_stays_outside_its_markers():
    quoted = _quoted_diff(_markdown("We use your data to run your account.",
                                    "We use your data to run your account, and to train artificial intelligence "
                                    "models."))
    assert quoted == "We use your data to run your account, **and to train artificial intelligence models**."
    rendered = _rendered(quoted)
    assert "<strong>and to train artificial intelligence models</strong>" in rendered and "**" not in rendered
    quoted = _quoted_diff(_markdown("See section 5.", "See section 5/6 and 7%."))
    assert "**" not in _rendered(quoted) and "5/6" in _words(_rendered(quoted))
