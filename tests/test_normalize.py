"""Normalizer: HTML/Markdown/text → sectioned Document → canonical Markdown."""

from pathlib import Path

import pytest

from policywatch.document import Document, clean_text, detect_language, parse_text
from policywatch.normalize import decode_cloudflare_email, looks_like_html, normalize_html, normalize_text
from policywatch.suspect import diagnose_page

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"

BODY = """
<h1>Privacy Policy</h1>
<p>Last updated: March 1, 2024</p>
<h2>1. Information We Collect</h2>
<p>We collect your name, email address and payment details when you register.</p>
<ul><li>Account data</li><li>Usage data</li></ul>
<h3>1.1 Cookies</h3>
<p>We use cookies to remember your preferences.</p>
<h2>2. How We Share Information</h2>
<p>We do not sell your personal information.</p>
<table><tr><th>Recipient</th><th>Purpose</th></tr><tr><td>Stripe</td><td>Payments</td></tr></table>
"""


def page(body: str = BODY, head: str = "", chrome: str = "") -> str:
    return (f"<!doctype html><html lang='en'><head><title>Privacy | ACME</title>{head}</head><body>"
            f"<header class='site'><nav><a href='/'>Home</a><a href='/blog'>Blog</a></nav></header>{chrome}"
            f"<main>{body}</main><footer><p>© 2024 ACME · <a href='/terms'>Terms</a></p></footer></body></html>")


def md(html: str, **kw) -> str:
    return normalize_html(html, **kw).markdown


def test_sections_headings_and_blocks():
    doc = normalize_html(page()).document
    assert [s.heading for s in doc.sections] == ["Privacy Policy", "1. Information We Collect", "1.1 Cookies",
                                                 "2. How We Share Information"]
    assert doc.sections[2].path == ("Privacy Policy", "1. Information We Collect", "1.1 Cookies")
    assert [b.kind for b in doc.sections[1].blocks] == ["p", "li", "li"]
    assert doc.sections[3].blocks[-1].text == "Stripe | Payments"
    text = md(page())
    assert "Home" not in text and "Terms" not in text and "Privacy | ACME" not in text
    assert text.startswith("# Privacy Policy\n\nLast updated: March 1, 2024\n")


def test_canonical_markdown_round_trips():
    text = md(page())
    assert Document.from_markdown(text).markdown() == text


NOISE = {
    "scripts and styles": "<script>var t = 123;</script><style>.a{color:red}</style><noscript>JS!</noscript>",
    "hidden elements": "<div hidden>secret</div><p style='display: none'>x</p><span aria-hidden='true'>y</span>",
    "aside menu": "<aside><ul><li><a href='/a'>Related</a></li></ul></aside>",
    "onetrust banner": "<div id='onetrust-consent-sdk'><p>We use cookies. <a href='/c'>Policy</a></p>"
                       "<button>Accept</button></div>",
    "generic cookie banner": "<div class='cookie-banner'><p>This site uses cookies to improve things.</p></div>",
    "consent dialog": "<div role='dialog' aria-label='Consent'><p>Do you accept tracking?</p></div>",
    "back to top": "<a href='#top' class='btn'>Back to top</a>",
    "skip link": "<a href='#main'>Skip to content</a>",
    "breadcrumbs": "<div class='breadcrumb'><a href='/'>Home</a> › Legal</div>",
    "div navbar": "<div class='navbar navbar-expand-lg'><div class='promo-bar'><a href='/n'>New: dark mode is here"
                  "</a></div><a href='/'>Home</a></div>",
    "div footer": "<div class='site-footer'><ul><li><a href='/s'>Sitemap</a></li></ul><p>© 2025 ACME Ltd.</p></div>",
    "testimonial slider": "<div class='testimonial-slider-container'><div class='fs-slider-1_slide'>15h saved per "
                          "week. Pat, Talent Research</div><div class='fs-slider-1_slide'>5h saved per task. Saad</div>"
                          "</div><div class='carousel'><p>Loved by 10,000 teams</p></div>",
    "toc": "<ol><li><a href='#a'>Information</a></li><li><a href='#b'>Sharing</a></li><li><a href='#c'>Rights</a>"
           "</li></ol>",
}


@pytest.mark.parametrize("kind", sorted(NOISE))
def test_chrome_noise_disappears(kind):
    assert md(page(chrome=NOISE[kind])) == md(page())


def test_inline_noise_folds_to_the_same_text():
    base = md(page("<h2>Contact</h2><p>Write to \"privacy\" at privacy@acme.example - we answer.</p>"))
    variants = [
        "<h2>Contact</h2><p>Write to \u201cprivacy\u201d at <a class='__cf_email__' data-cfemail='{}'>[email protected]"
        "</a> \u2014 we answer.</p>".format(bytes([0x42] + [b ^ 0x42 for b in b"privacy@acme.example"]).hex()),
        "<h2 class='x1 y2' id='c'>Contact</h2><p data-v='9'>Write\u00a0to \u201cprivacy\u201d at "
        "privacy@acme.example\u200b \u2013 we  answer.</p>",
        "<h2>Contact</h2><p>Write to <a href='https://acme.example/?utm_source=x&gclid=1'>\"privacy\"</a> at "
        "privacy@acme.example - we answer. Updated 3 days ago</p>",
    ]
    for variant in variants:
        assert md(page(variant)) == base


def test_list_numbering_and_bullets_do_not_matter():
    ol = md(page("<h2>Rights</h2><ol><li>Access</li><li>Deletion</li></ol>"))
    ul = md(page("<h2>Rights</h2><ul><li>\u2022 Access</li><li>\u2022 Deletion</li></ul>"))
    manual = md(page("<h2>Rights</h2><ul><li>1. Access</li><li>2. Deletion</li></ul>"))
    lines = md(page("<h2>Rights</h2><p class='list'>\u2022 Access<br>\u2022 Deletion</p>"))
    paragraphs = md(page("<h2>Rights</h2><p>\u25e6 Access</p><p>\u25e6 Deletion</p>"))
    nested = md(page("<h2>Rights</h2><ul><li>Access<ul><li>Deletion</li></ul></li></ul>"))
    assert ol == ul == manual == lines == paragraphs == nested
    assert "- Access\n- Deletion" in ol


def test_template_swap_keeps_the_text():
    h2 = md(page("<h2>Sharing</h2><p>We share data.</p><h3>Partners</h3><p>Stripe.</p>"))
    h3 = md(page("<h3>Sharing</h3><p>We share data.</p><h4>Partners</h4><p>Stripe.</p>"))
    assert h2 == h3


def test_headings_without_heading_markup():
    html = page("<p><strong>Information we collect</strong></p><p>Your name.</p>"
                "<p>3. Sharing Your Information</p><p>With partners.</p>"
                "<p>Do we sell your data?</p><p>No.</p>"
                "<dl><dt>Retention</dt><dd>Thirty days.</dd></dl>"
                "<details><summary>Children</summary><p>Not for kids.</p></details>")
    headings = [s.heading for s in normalize_html(html).document.sections]
    assert headings == ["Information we collect", "3. Sharing Your Information", "Do we sell your data?",
                        "Retention", "Children"]


def test_select_remove_and_ignore():
    html = page("<div id='policy'><h2>Data</h2><p>We collect data. Build 1234.</p><div class='promo'>Buy!</div></div>"
                "<p>Unrelated text outside.</p>")
    text = md(html, select="#policy", remove=[".promo"], ignore=[r"Build \d+\."])
    assert text == "# Data\n\nWe collect data.\n"
    assert normalize_html(html, select="#missing").selector_missing


def test_policy_section_about_cookies_is_kept():
    html = page("<section id='cookie-notice' class='cookie-section'><h3>Cookies</h3>"
                "<p>We use cookies for analytics.</p></section>")
    assert "We use cookies for analytics." in md(html)


def test_a_headings_permalink_about_cookies_is_not_a_consent_banner():
    # A React page's heading anchor: aria-label "…cookies permalink", class "Box-sc-… prc-Link-…".
    html = page("<h2>Sharing</h2><p>We share data with processors.</p>"
                "<h3 id='npm-uses-cookies'><a class='Box-sc-g0xbh4-0 gwWBLw prc-Link-Link-85e08' "
                "href='#npm-uses-cookies' aria-label='npm uses cookies permalink'>npm uses cookies</a></h3>"
                "<p>The website uses internal cookies for analytics purposes.</p>")
    assert "## npm uses cookies" in md(html)  # ranked below "Sharing"


def test_cloudflare_decoding():
    encoded = bytes([0x17] + [b ^ 0x17 for b in b"dpo@example.com"]).hex()
    assert decode_cloudflare_email(encoded) == "dpo@example.com"
    assert decode_cloudflare_email("zz") is None


def test_clean_text():
    assert clean_text("  \u201cHi\u201d \u2014 it\u2019s\u00a0here\u2026 posted 2 hours ago ") == '"Hi" - it\'s here...'
    assert clean_text("co\u00adop\u200beration") == "cooperation"


def test_markdown_and_text_detection():
    assert looks_like_html(page())
    assert not looks_like_html("# Title\n\nSome text with a <br> inside.\n\n- item\n")
    doc = normalize_text("# Title\n\n## Sharing\n\nWe **share** [data](https://x).\n\n- one\n- two\n").document
    assert [s.heading for s in doc.sections] == ["Title", "Sharing"]
    assert doc.sections[1].blocks[0].text == "We share data."


def test_plain_text_headings():
    text = ("Privacy Notice\n\n1. What information do we collect?\nWe collect your name.\n\n"
            "2. How do we use it?\nTo run the service.\n\nYOUR RIGHTS\n\nYou may ask for a copy.\n")
    doc = parse_text(text)
    assert [s.heading for s in doc.sections] == ["Privacy Notice", "1. What information do we collect?",
                                                 "2. How do we use it?", "YOUR RIGHTS"]


@pytest.mark.skipif(not SAMPLES.exists(), reason="../shared/samples not present")
@pytest.mark.parametrize("name, minimum", [("000_9cf480a6864671e0.txt", 3), ("001_e2513381f95221e1.txt", 3),
                                           ("002_75376a1d54c4a577.txt", 3), ("004_b777b8f6f8736356.txt", 3)])
def test_real_policy_texts_get_sections(name, minimum):
    doc = normalize_text((SAMPLES / name).read_text()).document
    assert len([s for s in doc.sections if s.heading]) >= minimum
    assert doc.word_count > 200


def test_suspect_pages():
    words = " ".join(["We collect and use your information for the service."] * 30)
    good = normalize_html(page(f"<h2>Data</h2><p>{words}</p>"))
    assert not diagnose_page(good, requested_url="https://a.example/privacy", final_url=None).suspect
    wall = normalize_html("<html><head><title>Just a moment...</title></head><body><p>Checking your browser "
                          "before accessing a.example.</p></body></html>")
    assert diagnose_page(wall, requested_url="https://a.example/privacy", final_url=None).reason == "bot_wall"
    home = diagnose_page(good, requested_url="https://a.example/privacy", final_url="https://a.example/en-us/")
    assert home.reason == "redirected"
    shrunk = diagnose_page(good, requested_url="https://a.example/p", final_url=None,
                        previous_words=good.document.word_count * 3)
    assert shrunk.reason == "shrunk"
    german = " ".join(["Wir verarbeiten die Daten und sie sind nicht mit den Diensten von uns verbunden."] * 30)
    flipped = normalize_html(page(f"<h2>Daten</h2><p>{german}</p>"))
    assert diagnose_page(flipped, requested_url="https://a.example/p", final_url=None,
                      previous_language="en").reason == "language"
    assert detect_language(good.document.plain_text) == "en"


P = "<p>" + "We explain what we collect, why, and for how long, and how you can delete it. " * 6 + "</p>"


def _page(inner: str) -> str:
    return f"<html><body><main><h1>Privacy policy</h1>{P}{inner}{P}</main></body></html>"


@pytest.mark.parametrize(("old", "new"), [
    ("<!--> <p>We keep data 30 days.</p>", "<!--> <p>We keep data 5 years.</p>"),  # what lxml reads as comments
    ("<!-- a --!> <p>We keep data 30 days.</p>", "<!-- a --!> <p>We keep data 5 years.</p>"),
    ("<script>x</script x><p>We keep data 30 days.</p>", "<script>x</script x><p>We keep data 5 years.</p>"),
    ('<p title="<script>">We keep data 30 days.</p><script></script>',
     '<p title="<script>">We keep data 5 years.</p><script></script>'),
    ("<link-card>We keep data 30 days.</link-card>", "<link-card hidden>We keep data 30 days.</link-card>"),
    ("<script>" + "x" * 10 + "</script>", "<script>" + "x" * 4000 + "</script>"),  # script size counts
])
def test_a_page_whose_text_may_differ_never_has_the_same_markup(old, new):
    from policywatch.normalize import markup_sha256

    assert markup_sha256(_page(old)) != markup_sha256(_page(new))


def test_per_request_tokens_leave_the_markup_as_it_was():
    from policywatch.normalize import markup_sha256

    def page(token: str) -> str:
        return _page(f'<form><input type="hidden" name="csrf" value="{token}"></form><div data-build="{token}" '
                     f'nonce="{token}"><script nonce="{token}">var t = "{token}";</script></div>'
                     f'<meta name="csrf" content="{token}"><link rel="preload" href="/app.{token}.js">')

    assert markup_sha256(page("a1b2c3")) == markup_sha256(page("d4e5f6"))
    # a policy whose selectors may name data- attributes keeps them
    assert markup_sha256(page("a1b2c3"), keep_data_attributes=True) != \
        markup_sha256(page("d4e5f6"), keep_data_attributes=True)


def test_a_policy_rendered_twice_for_desktop_and_mobile_is_read_once():
    # Responsive templates carry a second copy that a media query hides; only a browser applies it.
    # The copies differ in heading tags, and the mobile one adds its own lead.
    body = BODY + "<h2>3. Your Rights</h2>" + "".join(
        f"<p>Right number {n}: you may ask us about the personal information we hold about you, and we will "
        f"answer within thirty days of your request, free of charge.</p>" for n in range(12))
    shifted = body.replace("h3>", "h4>").replace("h2>", "h3>").replace("h1>", "h2>")
    desktop = "<div class='hidden lg:flex'>" + shifted + "</div>"
    mobile = "<div class='lg:hidden'><p>Summary of our latest update, for small screens.</p>" + body + "</div>"
    once = md(page("<p>Summary of our latest update, for small screens.</p>" + body))
    assert md(page(desktop + mobile)) == once
    # Selected whole, both copies reach the text walk: the copy is what drops the second one.
    assert md(page(mobile + desktop), select="main") == once


def test_a_passage_repeated_on_purpose_is_kept():
    rights = "".join(f"<li>The right to {r} the personal information we hold about you.</li>"
                     for r in ("know", "access", "correct", "delete", "port", "limit", "refuse", "appeal"))
    long_body = "<h2>Overview</h2>" + "<p>We describe here how we handle personal information. </p>" * 40
    body = long_body + f"<h2>California</h2><ul>{rights}</ul><h2>Virginia</h2><ul>{rights}</ul>"
    text = md(page(body))
    assert text.count("The right to appeal") == 2  # the same rights for two states: under a fifth of the page


def test_markdown_links_a_cms_left_unrendered_read_as_their_text():
    rendered = md(page("<h2>Content</h2><p>You agree to <a href='/terms#c'>license npm to share it</a>. See "
                       "<a href='/unpublish'>our policy</a>.</p>"))
    typed = md(page("<h2>Content</h2><p>You agree to [license npm to share it][your-content]. See "
                    "[our policy](/unpublish).</p><p>[your-content]: /policies/terms#your-content)</p>"))
    assert typed == rendered
    assert "[1]" in md(page("<h2>Notes</h2><p>As required by law [1], we keep records.</p>"))


def test_a_table_of_contents_inside_the_policy_goes_whatever_its_links_and_language():
    toc = ("<h3>Table des matières</h3><ul><li><a href='https://acme.example/privacy#a'>Information</a></li>"
           "<li><a href='https://acme.example/privacy#b'>Partage</a></li>"
           "<li><a href='https://acme.example/privacy#c'>Droits</a></li></ul>")
    marker = "<h2>2. How We Share Information</h2>"
    body = BODY.replace("<h2>1.", "<h2 id='a'>1.").replace("<h3>1.1", "<h3 id='b'>1.1").replace(
        "<h2>2.", "<h2 id='c'>2.")
    marked = marker.replace("<h2>", "<h2 id='c'>")
    assert md(page(body.replace(marked, toc + marked))) == md(page())
    # Links to anchors this page does not have (the articles of a law, another page's sections) stay.
    law = toc.replace("https://acme.example/privacy#", "https://eur-lex.europa.eu/eli/reg/2016/679/oj#art_")
    assert "Partage" in md(page(BODY.replace(marker, law + marker)))
    # A heading that only means "contents" in some languages is a section of its own.
    assert "## Contenido" in md(page(BODY + "<h2>Contenido</h2><p>Lo que publicas es tuyo; nos das licencia.</p>"))


def test_a_list_repeated_under_two_headings_of_a_short_page_is_kept():
    rights = "".join(f"<li>The right to {r} the personal information we hold about you, free of charge, within "
                     f"one month of your request, unless the law lets us refuse it and we tell you why.</li>"
                     for r in ("know", "access", "correct", "delete", "port", "limit", "refuse", "appeal"))
    intro = "<h2>Overview</h2>" + "<p>This policy explains what we collect and why we collect it.</p>" * 25
    body = intro + f"<h2>Your rights in the EEA</h2><ul>{rights}</ul><h2>Your rights in the UK</h2><ul>{rights}</ul>"
    assert md(page(body)).count("The right to appeal") == 2  # a fifth of the page, but no sections of its own


def test_a_policy_laid_out_as_slides_is_kept_and_only_a_small_carousel_goes():
    slides = "".join(f"<div class='swiper-slide'><h2>Section {n}</h2><p>We keep your account data for {n} years "
                     f"after you close your account, then delete it from our systems and backups.</p></div>"
                     for n in range(1, 41))
    text = md(page(f"<h1>Privacy</h1><p>Intro.</p><div class='swiper'><div class='swiper-wrapper'>{slides}</div>"
                   "</div>"))
    assert "## Section 40" in text and "for 40 years" in text


def test_brackets_that_are_not_links_stay():
    text = md(page("<h2>Notes</h2><p>[Note]: Important changes are listed below.</p>"
                   "<p>Under Cal. Civ. Code § 1798.140[o][1] we list what we collect.</p>"))
    assert "[Note]: Important" in text and "1798.140[o][1]" in text


def test_a_table_cells_paragraphs_lines_and_items_stay_apart():
    html = ("<html><body><main><h1>Privacy</h1><h2>Categories</h2><table><tr><th>Category</th><th>Collected</th></tr>"
            "<tr><th><p>A. Identifiers</p><p><small><i>Examples:</i> Name, postal address</small></p></th>"
            "<td>Yes<br>since 2020</td></tr><tr><td>Uses<ul><li>Support</li><li>Billing</li></ul></td>"
            "<td>No</td></tr></table></main></body></html>")
    markdown = normalize_html(html).markdown
    assert "A. Identifiers Examples: Name, postal address | Yes since 2020" in markdown
    assert "Uses Support Billing | No" in markdown


def test_markup_a_cms_shows_escaped_is_read_as_markup():
    # HTML pasted into a rich-text field: the page shows "<p><span>…" as words, entities escaped twice.
    from html import escape

    from policywatch.normalize import page_markup, read_page

    rich = ("<p><span>Effective Date: 2 December 2024.</span></p><p><span >Welcome to Acme&#39;s Privacy "
            "Policy (&quot;Policy&quot;).</span></p><h2>Sharing</h2><ul><li><span>We share your data with "
            "service providers.</span></li><li>We do not sell it.</li></ul>")
    shown = page(f"<h1>Privacy Policy</h1><div class='w-richtext'><p>{escape(rich, quote=False)}</p></div>")
    meant = page(f"<h1>Privacy Policy</h1><div class='w-richtext'>{rich}</div>")
    assert "<span" not in md(shown) and "&#39;" not in md(shown)
    assert md(shown) == md(meant)
    assert "## Sharing" in md(shown) and "- We do not sell it." in md(shown)
    # The fingerprint that lets a later check skip reading the page is taken of the same tree.
    assert read_page(shown)[0] == page_markup(shown)
    # Pasted unbalanced: a stray closing tag loses no text after it.
    stray = page("<h1>Privacy Policy</h1><div class='w-richtext'><p>" + escape(
        "<p>First part.</p></div><p>Second part: we collect your e-mail address.</p></body><p>Third part.</p>",
        quote=False) + "</p></div>")
    assert [line for line in md(stray).splitlines() if "part" in line] == [
        "First part.", "Second part: we collect your e-mail address.", "Third part."]
    # The same markup in a tail, after an element, reads the same way.
    tail = page(f"<h1>Privacy Policy</h1><div class='w-richtext'><b></b>{escape(rich, quote=False)}</div>")
    assert md(tail) == md(meant)


def test_a_code_sample_or_a_tag_named_in_a_sentence_stays_as_written():
    code = "&lt;p&gt;&lt;span&gt;Opt out&lt;/span&gt;&lt;/p&gt;&lt;a href='#'&gt;here&lt;/a&gt;"
    text = md(page(f"<h1>Privacy</h1><p>Site owners paste this snippet:</p><pre><code>{code}</code></pre>"
                   "<p>Line breaks (&lt;br&gt;) and paragraphs (&lt;/p&gt;) in messages are kept as sent.</p>"))
    assert "<p><span>Opt out</span></p>" in text
    assert "Line breaks (<br>) and paragraphs (</p>) in messages are kept as sent." in text
