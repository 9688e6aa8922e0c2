"""Reading Markdown and plain text: the same policy rendered as different Markdown is the same Document."""

import pytest

from policywatch.document import EMAIL_PLACEHOLDER, is_date_line, parse_text


def same(*texts: str) -> str:
    """The canonical Markdown all ``texts`` read to (and assert that they agree)."""
    rendered = [parse_text(text).markdown() for text in texts]
    for text, markdown in zip(texts[1:], rendered[1:], strict=True):
        assert markdown == rendered[0], f"{text!r} reads differently:\n{markdown}\n---\n{rendered[0]}"
    return rendered[0]


BODY = "We keep order records for six years.\n\nWe delete chat logs after a month.\n"


def sections(text: str) -> list[tuple[int, str]]:
    return [(s.level, s.heading) for s in parse_text(text).sections]


# --- headings, however they are marked up ---------------------------------------------------------

def test_setext_atx_and_bold_titles_read_alike():
    markdown = same(
        f"Keeping records\n===============\n\n{BODY}\nAsking questions\n================\n\nMail the office.\n",
        f"# Keeping records\n\n{BODY}\n# Asking questions\n\nMail the office.\n",
        f"**Keeping records**\n\n{BODY}\n**Asking questions**\n\nMail the office.\n",
        f"__Keeping records__\n\n{BODY}\n__Asking questions__\n\nMail the office.\n",
    )
    assert markdown.startswith("# Keeping records\n\nWe keep order records")
    assert "# Asking questions\n\nMail the office." in markdown


def test_second_level_titles_keep_their_rank_in_every_form():
    same("# Data notice\n\nIntro text here.\n\n## What we hold\n\nSome facts.\n",
         "Data notice\n===========\n\nIntro text here.\n\nWhat we hold\n------------\n\nSome facts.\n")


def test_bold_inside_a_heading_is_not_text():
    same("### **Things You Tell Us.**\n\nYour name and town.\n",
         "### Things You Tell Us.\n\nYour name and town.\n",
         "### __Things You Tell Us.__\n\nYour name and town.\n")


def test_numbered_paragraph_becomes_the_same_heading_as_its_marked_up_form():
    plain = "## How we gather data\n\nThree ways.\n\n1\\. When you hand it over\n\nFor example a form.\n"
    marked = "## How we gather data\n\nThree ways.\n\n### 1\\. When you hand it over\n\nFor example a form.\n"
    same(plain, marked)
    assert sections(plain)[-1] == (2, "1. When you hand it over")


def test_list_item_holding_only_a_bold_title_over_an_underline():
    # The underline is indented as far as the item's text (a heading inside the item) or less (the
    # parser cannot attach it); both are the numbered title of a section.
    inside = "3.  **Where Data Goes**\n    -------------------\n    \n\nWe send it to our host.\n"
    outside = "3.  **Where Data Goes**\n  -------------------\n\nWe send it to our host.\n"
    escaped = "3\\. Where Data Goes\n-------------------\n\nWe send it to our host.\n"
    markdown = same(inside, outside, escaped)
    assert markdown == "# 3. Where Data Goes\n\nWe send it to our host.\n"


def test_underline_cut_off_by_a_blank_line_still_underlines():
    same("Member terms\n\n\n============\n\nPlease read on.\n", "# Member terms\n\nPlease read on.\n")


def test_date_stamp_in_bold_is_not_a_heading():
    doc = parse_text("**Last updated: 4 March 2025**\n\n## Sharing\n\nWe share nothing.\n")
    assert [s.heading for s in doc.sections] == ["", "Sharing"]
    assert doc.sections[0].blocks[0].text == "Last updated: 4 March 2025"
    assert is_date_line("Effective date: 2024-01-09") and is_date_line("Revised 12/01/2023")
    assert not is_date_line("Updates to this policy") and not is_date_line("What we collect in 2024")


# --- inline Markdown --------------------------------------------------------------------------------

def test_emphasis_added_removed_or_moved_is_the_same_text():
    same("**_Gist:_** _We log visits when you:_\n",
         "_**Gist:** We log visits when you:_\n",
         "Gist: We log visits when you:\n",
         "*Gist:* **We** log *visits* when you:\n")


def test_a_bold_label_glued_to_its_text_loses_its_stars():
    same("- **Usage data:**Pages you open.\n", "- Usage data:Pages you open.\n")


def test_escapes_links_images_and_entities_resolve_like_a_reader_sees_them():
    markdown = same(
        "Read the [cookie notice](https://a.example/c?utm_source=x \"title\") \\*carefully\\* ![logo](l.png) "
        "&amp; ask.\n",
        "Read the [cookie notice](https://b.example/cookies) \\*carefully\\* & ask.\n",
        "Read the cookie notice \\*carefully\\* &amp; ask.\n",
    )
    assert markdown == "Read the cookie notice *carefully* & ask.\n"


def test_links_whose_target_has_a_space_are_still_links():
    same("See [the form](#contact us) or ![badge](a b.png) [this page](https://p.example/a b).\n",
         "See [the form](#contact) or ![badge](ab.png) [this page](https://p.example/ab).\n")


def test_literal_html_tags_inside_markdown_are_markup():
    same("Call us<br>or write to the <span class=\"hl\">office</span> at <a href=\"/contact\">the desk</a>.\n",
         "Call us\nor write to the office at [the desk](/contact).\n")
    same("<p>First point.</p> <p>Second point.</p>\n", "First point.\n\nSecond point.\n")
    same("Intro:\n\n<ul><li>apples</li><li>pears</li></ul>\n", "Intro:\n\n- apples\n- pears\n")


def test_unknown_tags_stay_visible():
    assert "<script>" in parse_text("We <script>x()</script> test.\n").markdown()
    assert parse_text("Write to <Company Name> today.\n").markdown() == "Write to <Company Name> today.\n"


def test_zero_width_characters_do_not_break_emphasis():
    same("#### [_Legal Duties_\u2060](#legal)\n\nText.\n", "#### [_Legal Duties_](#legal)\n\nText.\n")


# --- lists and tables ---------------------------------------------------------------------------------

def test_inline_list_reads_as_the_bullet_list():
    markdown = same("We hold: - your login; - your orders; - your messages.\n",
                    "We hold:\n\n- your login;\n- your orders;\n- your messages.\n",
                    "We hold:\n\n* your login;\n* your orders;\n* your messages.\n")
    assert markdown == "We hold:\n\n- your login;\n- your orders;\n- your messages.\n"
    assert parse_text("Costs rose - a lot - this year.\n").markdown() == "Costs rose - a lot - this year.\n"


def test_nesting_and_bullet_style_are_presentation():
    same("- Devices you use\n  - phone model\n  - app version\n",
         "* Devices you use\n    * phone model\n    * app version\n",
         "1. Devices you use\n   1. phone model\n   2. app version\n")


def test_a_table_and_bare_pipe_rows_are_the_same_rows():
    markdown = same("| Who | Why |\n| --- | --- |\n| Bank | Payments |\n",
                    "| Who | Why |\n|:----|----:|\n| Bank | Payments |\n",
                    "| Who | Why |\n| Bank | Payments |\n")
    assert markdown == "| Who | Why |\n| Bank | Payments |\n"


def test_deep_nesting_loses_no_text():
    deep = "".join("  " * i + f"- level{i}\n" for i in range(70))
    assert parse_text(deep).word_count == 70


# --- plain text that is not really Markdown --------------------------------------------------------

def test_one_paragraph_per_line_is_split_back_into_paragraphs():
    doc = parse_text("We sell nothing.\nWe share with couriers.\nWe keep logs for a year.\n")
    assert [b.text for s in doc.sections for b in s.blocks] == [
        "We sell nothing.", "We share with couriers.", "We keep logs for a year."]


def test_hard_wrapped_text_is_not_split_at_line_ends():
    sentence = ("We may share the details you give us with the carriers that deliver your parcels and "
                "with the payment firms that settle your bills. They act for us. ")
    wrapped, line = [], ""
    for word in (sentence * 3).split():
        if len(line) + len(word) > 70:
            wrapped.append(line)
            line = ""
        line = (line + " " + word).strip()
    wrapped.append(line)
    doc = parse_text("\n".join(wrapped) + "\n")
    assert len(doc.sections[0].blocks) == 1


def test_plain_text_titles_questions_and_capitals():
    text = ("Shop Privacy Notice\n\n1. What do we record?\nYour orders.\n\nKEEPING IT SAFE\n\nWe lock it away.\n\n"
            "Your Choices\n\nYou can opt out.\n")
    assert [h for _, h in sections(text)] == ["Shop Privacy Notice", "1. What do we record?", "KEEPING IT SAFE",
                                             "Your Choices"]


def test_front_matter_title():
    doc = parse_text("---\ntitle: 'Shop Notice'\nlayout: page\n---\n# Data\n\nText.\n")
    assert doc.title == "Shop Notice" and doc.sections[0].heading == "Data"


# --- page furniture and e-mail protection ------------------------------------------------------------

def test_tables_of_contents_are_dropped():
    body = "## Gathering\n\nWe gather little.\n\n## Sharing\n\nWe share less.\n\n## Deleting\n\nAsk us.\n"
    plain = same(
        body,
        "## Contents\n\n- [Gathering](#gathering)\n- [Sharing](#sharing)\n- [Deleting](#deleting)\n\n" + body,
        "Table of contents\n-----------------\n\n[Gathering](https://x.example/p#g)\n\n[Sharing](https://x.example/p#s)"
        "\n\n[Deleting](https://x.example/p#d)\n\n" + body,
        "Jump to: [Gathering](#g) | [Sharing](#s) | [Deleting](#d)\n\n" + body,
        "## On this page\n\n1. Gathering\n2. Sharing\n3. Deleting\n\n" + body,
    )
    assert plain.startswith("# Gathering")


def test_links_to_anchors_that_a_sentence_leads_into_are_kept():
    text = ("We hold data so that we can\n\n- [run your account](https://x.example/p#a)\n"
            "- [bill you](https://x.example/p#b)\n- [answer you](https://x.example/p#c)\n")
    assert parse_text(text).word_count == 14


def test_buttons_and_screen_reader_labels_are_dropped():
    same("## Help\n\nSee the [support site (opens in a new window)](https://h.example).\n\n[Back to top](#top)\n\n"
         "[Print this notice](#)\n\nSHARE THIS PAGE:\n",
         "## Help\n\nSee the [support site](https://h.example).\n")
    same("Visit [our forum](https://f.example) (opens in new tab) today.\n", "Visit our forum today.\n")


@pytest.mark.parametrize("placeholder", [
    "[\\[email protected\\]](https://s.example/cdn-cgi/l/email-protection)",
    "[\\[email&#160;protected\\]](https://s.example/cdn-cgi/l/email-protection)",
    "\\[email protected\\]",
])
def test_cloudflare_placeholder_says_only_that_an_address_is_there(placeholder):
    assert parse_text(f"Write to {placeholder} for help.\n").markdown() == f"Write to {EMAIL_PLACEHOLDER} for help.\n"


def test_cloudflare_address_is_decoded_when_the_link_carries_it():
    key = 0x42
    encoded = f"{key:02x}" + "".join(f"{ord(c) ^ key:02x}" for c in "help@s.example")
    text = f"Write to [\\[email protected\\]](https://s.example/cdn-cgi/l/email-protection#{encoded}) now.\n"
    same(text, "Write to [help@s.example](mailto:help@s.example) now.\n")


def test_real_addresses_stay_readable():
    assert "team@s.example" in parse_text("Mail [team@s.example](mailto:team@s.example).\n").markdown()


def test_escaped_dash_lines_are_the_items_of_an_inline_list():
    inline = "## Your rights\n\nYou can ask us:  \n\\- to see your data;  \n\\- to erase your data.\n"
    bulleted = "## Your rights\n\nYou can ask us:\n\n- to see your data;\n- to erase your data.\n"
    assert parse_text(inline).markdown() == parse_text(bulleted).markdown()


def test_long_runs_of_spaces_commas_and_dashes_are_read_in_linear_time():
    from policywatch.document import _clean_line

    # The "opens in a new window" label pattern tried every position of a run: 200,000 dashes took hours.
    for unit in ("-", ", ", " -"):
        line = _clean_line("Terms" + unit * 100_000 + " opens a new chapter, not a window")
        assert line.startswith("Terms") and line.endswith("window")
    assert _clean_line("Help, link opens in a new window [ opens in new tab ]") == "Help"


def test_a_version_is_its_words_in_order_whatever_the_heading_levels():
    from policywatch.document import Document

    # A page that drops its title or a heading level shifts every heading below it.
    nested = Document.build([("h", "Privacy", 1), ("h", "Sharing", 2), ("p", "We share data.", 0),
                             ("h", "Partners", 3), ("p", "Our partners.", 0)])
    flat = Document.build([("h", "Privacy", 1), ("h", "Sharing", 2), ("p", "We share data.", 0),
                           ("h", "Partners", 2), ("p", "Our partners.", 0)])
    assert nested.markdown() != flat.markdown() and nested.sha256 == flat.sha256
    renamed = Document.build([("h", "Privacy", 1), ("h", "Disclosure", 2), ("p", "We share data.", 0),
                              ("h", "Partners", 2), ("p", "Our partners.", 0)])
    assert renamed.sha256 != flat.sha256
    assert Document.from_markdown(nested.markdown()).sha256 == nested.sha256


def test_a_title_repeated_by_the_heading_below_it_is_one_heading():
    from policywatch.document import Document

    twice = Document.build([("h", "HER Privacy Policy", 1), ("h", "HER privacy policy", 2),
                            ("p", "Last updated: May 1, 2024.", 0), ("h", "Sharing", 2), ("p", "We share.", 0)])
    once = Document.build([("h", "HER Privacy Policy", 2), ("p", "Last updated: May 1, 2024.", 0),
                           ("h", "Sharing", 3), ("p", "We share.", 0)])
    assert twice.sha256 == once.sha256
    # The same words as a heading further down are a section of their own.
    apart = Document.build([("h", "Privacy", 1), ("p", "Intro.", 0), ("h", "Privacy", 2), ("p", "More.", 0)])
    assert [s.heading for s in apart.sections] == ["Privacy", "Privacy"]



def test_the_page_title_over_the_policys_own_title_and_capitals_make_no_new_version():
    from policywatch.document import Document

    before = Document.build([("h", "PRIVACY POLICY AND COOKIE POLICY", 1), ("h", "GRINDR PRIVACY AND COOKIE POLICY", 2),
                             ("p", "We collect your e-mail address.", 0), ("h", "Sharing", 3), ("p", "We share.", 0)])
    after = Document.build([("h", "Grindr Privacy and Cookie Policy", 1), ("p", "We collect your e-mail address.", 0),
                            ("h", "Sharing", 2), ("p", "We share.", 0)])
    assert before.sha256 == after.sha256
    # Only the first heading, and only when all its words stand in the next: sections keep their parents.
    nested = Document.build([("h", "Privacy", 1), ("p", "Intro.", 0), ("h", "Your rights", 2),
                             ("h", "Your rights in California", 3), ("p", "You may opt out.", 0)])
    assert [s.heading for s in nested.sections] == ["Privacy", "Your rights", "Your rights in California"]


def test_ascii_words_are_counted_as_the_expression_reads_them():
    from collections import Counter

    from policywatch.document import _LETTERS, _ascii_word_counts

    for sample in ("we share e-mail addresses with third-party processors", "a--b -c- d---e-f g----h-",
                   "e-mail, e-mail; co-op_2024 x-y-z --- - end-", ""):
        frequency, count = _ascii_word_counts(sample)
        words = _LETTERS.findall(sample)
        assert count == len(words)
        assert {word.decode(): n for word, n in frequency.items() if n} == Counter(words)
