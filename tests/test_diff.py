"""Diff: section alignment (moved, renamed, split, merged, added, removed) and word-level edits."""

import json
import re

from policywatch.diff import align_sections, diff_documents, edits_from_ops, heading_key, word_diff
from policywatch.document import Document, parse_text
from policywatch.judge import compare, diff_json
from policywatch.render import render_diff


def doc(*sections: tuple[str, str]) -> Document:
    return parse_text("\n\n".join(f"## {h}\n\n{body}" for h, body in sections))


A = ("Information we collect", "We collect your name and email address. We also collect payment details.")
B = ("How we use information", "We use information to run the service and to bill you.")
C = ("Your rights", "You may access or delete your data at any time.")
D = ("Contact", "Write to privacy@example.com with any question.")


def statuses(old: Document, new: Document) -> list[tuple[str, str | None, str | None]]:
    return [(s.status, s.old_heading, s.new_heading) for s in diff_documents(old, new).sections if s.changed]


def test_heading_keys_ignore_numbering_and_case():
    assert heading_key("3.1 Your Rights") == heading_key("your rights") == heading_key("III. Your rights:")
    assert heading_key("Section 4: Contact") == "contact"


def test_unchanged_documents_have_no_changed_sections():
    assert statuses(doc(A, B, C), doc(A, B, C)) == []


def test_moved_section_is_one_move():
    assert statuses(doc(A, B, C, D), doc(A, C, D, B)) == [("moved", B[0], B[0])]


def test_renamed_heading_with_same_content():
    renamed = ("What we collect about you", A[1])
    assert statuses(doc(A, B), doc(renamed, B)) == [("renamed", A[0], renamed[0])]


def test_renamed_and_edited_section_still_pairs():
    edited = ("Data we collect", A[1].replace("payment details", "payment details and your phone number"))
    diff = diff_documents(doc(A, B, C), doc(edited, B, C))
    [section] = diff.changed_sections
    assert section.status == "modified" and section.renamed and section.old_heading == A[0]


def test_added_and_removed_sections():
    assert statuses(doc(A, B), doc(A, B, C)) == [("added", None, C[0])]
    assert statuses(doc(A, B, C), doc(A, C)) == [("removed", B[0], None)]


def test_renumbering_alone_is_not_a_change_of_content():
    old = parse_text("## 1. Collection\n\nWe collect names.\n\n## 2. Use\n\nWe use names.\n")
    new = parse_text("## 1. Collection\n\nWe collect names.\n\n## 2. Cookies\n\nWe set no cookies at all, ever.\n\n"
                     "## 3. Use\n\nWe use names.\n")
    diff, verdict = compare(old, new)
    changed = [(s.status, s.new_heading) for s in diff.changed_sections]
    assert ("added", "2. Cookies") in changed
    assert all(status in ("added", "modified") for status, _ in changed)


def test_split_section_moves_text_without_material_change():
    old = doc(("Sharing and retention", "We share data with our payment processor. We keep invoices for seven "
                                        "years because tax law requires it."), D)
    new = doc(("Sharing", "We share data with our payment processor."),
              ("Retention", "We keep invoices for seven years because tax law requires it."), D)
    diff, verdict = compare(old, new)
    assert not verdict.material, verdict.summary


def test_reordered_paragraphs_are_not_material():
    old = doc(("Use", "We use data to run the service.\n\nWe use data to send receipts.\n\nWe use data to stop fraud."))
    new = doc(("Use", "We use data to stop fraud.\n\nWe use data to run the service.\n\nWe use data to send receipts."))
    diff, verdict = compare(old, new)
    assert not verdict.material


def test_document_without_headings_aligns_paragraphs():
    paragraphs = [f"Paragraph {i} says something about data handling number {i}." for i in range(12)]
    old = parse_text("\n\n".join(paragraphs))
    changed = list(paragraphs)
    changed[5] = "Paragraph 5 says we now sell data to brokers."
    diff, verdict = compare(old, parse_text("\n\n".join(changed)))
    [section] = diff.changed_sections
    assert len(section.changed_blocks) == 1 and verdict.material and "sharing" in verdict.categories


def test_word_diff_is_word_granular():
    ops = word_diff("We keep logs for 30 days.", "We keep logs for 5 years.")
    assert edits_from_ops(ops)[0].to_json() == {"op": "replace", "old": "30 days", "new": "5 years"}
    assert "".join(t for op, t in ops if op != 1) == "We keep logs for 30 days."
    assert "".join(t for op, t in ops if op != -1) == "We keep logs for 5 years."


def test_a_rewritten_paragraph_is_shown_old_then_new_not_as_confetti():
    old = "We collect your name and e-mail address when you register, and we keep them while the account is open."
    new = "Our partners may receive the device identifiers of your phone, which they use for advertising."
    assert word_diff(old, new) == [(-1, old), (1, new)]
    edited = old.replace("e-mail address", "phone number")  # mostly the same words: word by word
    assert [op for op in word_diff(old, edited) if op[0] != 0] == [(-1, "e-mail address"), (1, "phone number")]


def test_of_two_equally_similar_blocks_the_later_one_is_paired():
    """The length bound that skips hopeless pairs never skips a tie (the same division as the score)."""
    words = "alpha bravo charlie delta echo foxtrot golf"
    one, two = (words + " " + " ".join(f"{tag}{i}" for i in range(11)) for tag in ("one", "two"))
    diff = diff_documents(parse_text(f"# T\n\n## S\n\n{words}.\n"), parse_text(f"# T\n\n## S\n\n{one}.\n\n{two}.\n"))
    [section] = diff.changed_sections
    assert [new for _, new in section.changed_blocks] == [two + "."] and section.added_blocks == [one + "."]


def test_alignment_is_bounded_on_unrelated_documents():
    old = parse_text("\n\n".join(f"## Old {i}\n\nalpha{i} beta{i} gamma{i}" for i in range(400)))
    new = parse_text("\n\n".join(f"## New {i}\n\ndelta{i} eps{i} zeta{i}" for i in range(400)))
    pairs = align_sections(old.sections, new.sections)
    assert sum(1 for i, j in pairs if i is not None and j is not None) == 0
    assert len(pairs) == 800


def test_json_contract_keys_and_types():
    diff, verdict = compare(doc(A, B), doc(A, (B[0], B[1] + " We also sell it to advertisers.")))
    out = diff_json(diff, verdict, "old", "new")
    assert list(out) == ["schema", "old", "new", "identical", "material", "severity", "categories", "summary",
                         "stats", "sections", "direction", "facts"]
    assert out["schema"] == "policywatch.diff/1" and out["material"] is True and out["severity"] == "high"
    assert set(out["stats"]) == {"sections_added", "sections_removed", "sections_modified", "sections_moved",
                                 "sections_renamed", "words_added", "words_removed"}
    section = out["sections"][0]
    for key in ("status", "old_heading", "new_heading", "old_index", "new_index", "severity", "kinds",
                "categories", "direction", "signals", "edits"):
        assert key in section
    assert section["signals"][0]["evidence"]["new"].endswith("We also sell it to advertisers.")
    # the fact changes behind the verdict: what was added, with its evidence and section path
    sale = [c for c in out["facts"]["added"] if c["fact"]["category"] == "sharing"]
    assert sale and sale[0]["severity"] == "high" and out["direction"] == "expand"
    assert sale[0]["fact"]["evidence"].endswith("We also sell it to advertisers.")
    assert sale[0]["fact"]["section"] == [section["new_heading"]]
    json.dumps(out)  # serializable


def test_html_is_self_contained_and_escaped():
    evil = ("Scripts", "We <script>alert(1)</script> & \"quote\" <img src=x onerror=y>.")
    diff, verdict = compare(doc(A, B), doc(A, B, evil))
    page = render_diff(diff, verdict, "<old>", "new&", "html")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page and "&lt;old&gt;" in page and "new&amp;" in page
    assert not re.search(r"(src|href)=[\"']?https?://", page)  # nothing fetched from the network


def test_text_and_markdown_renderings():
    diff, verdict = compare(doc(A, B), doc(A, (B[0], B[1].replace("bill you", "bill you and profile you"))))
    text = render_diff(diff, verdict, "v1", "v2", "text")
    assert text.splitlines()[0].startswith(verdict.severity.upper())
    assert "bill you{+ and profile you+}." in text and "§ How we use information" in text
    markdown = render_diff(diff, verdict, "v1", "v2", "markdown")
    assert markdown.startswith("**") and "**and profile you**" in markdown
    colored = render_diff(diff, verdict, "v1", "v2", "text", color=True)
    assert "\033[" in colored
