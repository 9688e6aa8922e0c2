"""Noise real pages carry that no tag or class list names: the normalizer must give one text per policy text.

Each test builds a page the way a site template would (div soup, framework class names, no <nav> or
<footer>) in two or more renders that differ only in furniture, obfuscation or markup, and checks that
the policy text is the same and complete.
"""

from policywatch.normalize import normalize_html
from policywatch.suspect import diagnose_page

POLICY = """
<h1>Privacy Policy</h1>
<p><em>Last updated: March 4, 2025</em></p>
<p>Northwind Labs, Inc. ("Northwind", "we") explains in this Privacy Policy how we collect, use and share
personal information when you use the Northwind apps and website.</p>
<h2>1. Information we collect</h2>
<p>We collect the name, e-mail address and billing details you give us when you create an account, and the
content you store in your workspace.</p>
<h2>2. How we share information</h2>
<p>We share personal information with the service providers that host and support our service:</p>
<ul><li><a href="https://aws.example/privacy">Amazon Web Services</a></li>
<li><a href="https://stripe.example/privacy">Stripe</a></li><li><a href="https://zendesk.example/privacy">Zendesk</a></li></ul>
<p>We do not sell personal information and we do not share it for cross-context behavioural advertising.</p>
<h2>3. Contact</h2>
<p>Write to our data protection officer at the address below; we answer every request within thirty days of
receiving it.</p>
"""

POLICY_WORDS = ["Privacy Policy", "Last updated: March 4, 2025", "1. Information we collect", "Amazon Web Services",
                "Stripe", "Zendesk", "We do not sell personal information", "3. Contact"]


def page(before: str = "", after: str = "", policy: str = POLICY, wrap: str = "div") -> str:
    return (f"<!doctype html><html lang='en'><head><title>Privacy Policy | Northwind</title></head><body>"
            f"<div class='page-wrapper'>{before}<{wrap} class='content-block'><div class='rich-text w-richtext'>"
            f"{policy}</div></{wrap}>{after}</div></body></html>")


def text(html: str) -> str:
    return normalize_html(html).markdown


def assert_policy(markdown: str) -> None:
    for words in POLICY_WORDS:
        assert words in markdown, words


def menu(*items: str) -> str:
    return "<div class='w-layout-grid'>" + "".join(f"<div class='w-col'><a href='/{i.lower()}'>{i}</a></div>"
                                                  for i in items) + "</div>"


def footer(year: int, *columns: tuple[str, tuple[str, ...]]) -> str:
    cols = "".join(f"<div class='col'><h4>{title}</h4><ul>" + "".join(f"<li><a href='/x'>{link}</a></li>"
                                                                       for link in links) + "</ul></div>"
                   for title, links in columns)
    return f"<div class='bottom-block'><div class='row'><p>©{year} Northwind</p>{cols}</div></div>"


def test_link_lists_at_the_edges_go_whatever_their_markup():
    first = page(before=menu("Download", "About", "Help", "Blog", "Careers"),
                 after=footer(2024, ("About us", ("About Northwind", "Affiliate program", "Tinder vs Northwind")),
                              ("The legal stuff", ("Privacy Policy", "Terms of Service"))))
    second = page(before=menu("Download", "About", "Help", "Shop", "Careers", "Investors"),
                  after=footer(2025, ("About Northwind", ("About us", "We're hiring!", "Write for us")),
                               ("Legal", ("Privacy", "Terms", "Community Guidelines")), ("Download our app", ())))
    assert text(first) == text(second) == text(page())
    assert_policy(text(first))


def test_app_badges_language_picker_and_promo_box_go():
    badges = ("<div class='store-links'><a href='https://apps.apple.example/app'><span>Download on the</span> "
              "App Store</a><a href='https://play.example/app'>Get it on Google Play</a></div>")
    picker = ("<div class='lang-select'><div><h2>Select your language</h2></div><ul><li><a href='/en'>English</a>"
              "</li><li><a href='/de'>Deutsch</a></li><li><a href='/ja'>日本語 (ja-JP)</a></li></ul></div>")
    promo = ("<div class='fixed top-0 w-full'><div class='mx-auto flex'><span>Free unlimited Pro plan until "
             "April 28</span><a href='/blog/pro'>Learn more</a></div></div>")
    assert text(page(before=promo + picker, after=badges)) == text(page())


def test_mega_menu_with_descriptions_goes_by_its_class():
    mega = ("<div class='nav_wrap'><div class='nav_dropdown'>" + "".join(
        f"<div class='card'><div>{name}</div><p>{name} lets marketing teams plan, write and publish campaigns "
        f"across every channel from one shared workspace.</p></div>" for name in ("Canvas", "Studio", "Agents"))
            + "</div></div>")
    cta = ("<section class='section_cta25'><h2>Don't just connect your apps, automate them.</h2>"
           "<p>200,000+ users and counting</p><a href='/signup'>Get started</a></section>")
    assert text(page(before=mega, after=cta)) == text(page())


def test_everything_beside_the_main_landmark_goes():
    announcement = "<div class='fixed top-0'><span>Northwind is now part of Contoso</span></div>"
    html = page(policy=f"{POLICY}", wrap="main").replace("<div class='page-wrapper'>",
                                                         f"<div class='page-wrapper'>{announcement}")
    assert text(html) == text(page(wrap="main"))


def test_link_lists_inside_the_policy_and_its_title_block_stay():
    title = ("<h1>Privacy Policy</h1><div class='meta'><p>Effective January 2nd 2025</p>"
             "<p><a href='/privacy.pdf'>Download</a></p></div>")
    html = page(policy=POLICY.replace("<h1>Privacy Policy</h1>", title))
    markdown = text(html)
    assert "Effective January 2nd 2025" in markdown
    assert_policy(markdown)


def test_footer_residue_at_the_very_end_goes():
    tail = ("<div class='bottom'><p>© 2025 Northwind Labs. All rights reserved.</p>"
            "<div><h4>Follow us</h4><a href='https://social.example/northwind'><img alt=''></a></div></div>")
    assert text(page(after=tail)) == text(page())


def test_boxes_the_stylesheet_hides_go_at_the_edges_and_accordion_panels_stay():
    # Webflow's newsletter and community cards under class "hidden", after the policy.
    hidden = ("<div class='hidden'><div class='bottom-card-section'><div class='big-card'><h3>Stay up-to-date</h3>"
              "<form><input type='email' placeholder='Enter your email'></form>"
              "<div class='w-form-done'>Thank you! Your submission has been received!</div></div>"
              "<div class='big-card'><h3>Join our community</h3><p>Connect with automation professionals, "
              "industry experts, and the latest technologies.</p></div></div></div>")
    assert text(page(after=hidden)) == text(page())
    # Inside the policy the same class marks a panel a click opens: its text is the policy's.
    accordion = POLICY.replace("<h2>3. Contact</h2>", "<h2>Retention</h2><div class='panel hidden'><p>We keep "
                               "account data for as long as your account is open and delete it within thirty "
                               "days after you close it.</p></div><h2>3. Contact</h2>")
    assert "We keep account data" in text(page(policy=accordion))


def test_legal_hub_keeps_the_privacy_documents_only():
    def panel(title: str, body: str) -> str:
        return f"<section><details><summary><h2>{title}</h2></summary><div>{body * 12}</div></details></section>"

    terms = "<p>These terms govern your use of the service and the fees you pay for the plan you choose.</p>"
    dmca = "<p>To report an infringement of your copyright, send a notice to our designated agent.</p>"
    hub = (panel("Terms of Use", terms) + panel("Privacy Policy", POLICY) + panel("DMCA Takedown Policy", dmca)
           + panel("Data Retention Notice", "<p>We keep account data for as long as your account is open.</p>")
           + panel("Security", "<ul>" + "<li><a href='/hof'>Researcher</a></li>" * 40 + "</ul>"))
    markdown = text(page(policy=hub))
    assert_policy(markdown)
    assert "We keep account data" in markdown
    assert "These terms govern" not in markdown and "designated agent" not in markdown
    assert "Researcher" not in markdown


def test_obfuscated_contact_details_read_the_same_in_every_render():
    def contact(address_html: str) -> str:
        return page(policy=POLICY.replace("at the address below", f"at {address_html}"))

    plain = contact("dpo@northwind.example")
    decimal_hex = contact("&#100;&#x70;&#111;&#64;&#x6e;orthwind&#46;&#x65;xample")
    hex_decimal = contact("&#x64;&#112;&#x6f;&#x40;&#110;orthwind&#x2e;&#101;xample")

    def cloudflare(key: int) -> str:
        encoded = f"{key:02x}" + "".join(f"{ord(c) ^ key:02x}" for c in "dpo@northwind.example")
        return contact(f"<a href='/cdn-cgi/l/email-protection#{encoded}'><span class='__cf_email__' "
                       f"data-cfemail='{encoded}'>[email&#160;protected]</span></a>")

    assembled = contact("<script>document.write('dpo' + '@' + 'northwind.example')</script>"
                        "<noscript>dpo [at] northwind [dot] example</noscript>dpo@northwind.example")
    texts = {text(html) for html in (plain, decimal_hex, hex_decimal, cloudflare(0x3a), cloudflare(0xc1), assembled)}
    assert len(texts) == 1
    assert "dpo@northwind.example" in texts.pop()


def test_rendering_differences_between_captures_fold():
    base = text(page())
    variants = [
        page(policy=POLICY.replace("<p><em>Last updated: March 4, 2025</em></p>\n<p>",
                                   "<p><em>Last updated: March 4, 2025</em><br/>\u200d<br/>").replace(
            "apps and website.</p>", "apps and website.</p>", 1)),
        page(policy=POLICY.replace(" ", "\n  ").replace("Northwind Labs, Inc.", "Northwind&nbsp;Labs,&#32;Inc.")),
        page(policy=POLICY.replace('"', "&quot;").replace("We do not", "We do&#x20;not")),
        page(before="<div class='cookie-consent-wall'><p>We and our 812 partners use cookies.</p>"
                    "<button>Accept all</button></div>"),
        page(after="<div class='lazy-block' data-src='/related' style='display:none'><p>Loading…</p></div>"),
    ]
    for html in variants:
        assert text(html) == base


def test_table_of_contents_widget_leaves_no_title_behind():
    toc = ("<details open><summary>See details</summary><summary>Table of contents</summary><ul>"
           "<li><a href='#collect'>Information we collect</a></li><li><a href='#share'>How we share</a></li>"
           "<li><a href='#contact'>Contact</a></li></ul></details>")
    html = page(policy=POLICY.replace("<h2>1.", toc + "<h2>1.", 1))
    assert text(html) == text(page())


def test_a_script_filled_shell_is_suspect_and_says_why():
    shell = ("<!doctype html><html><head><title>Privacy Policy</title>"
             "<script src='/static/js/main.4f9c.js'></script></head><body><noscript>You need to enable JavaScript "
             "to run this app.</noscript><div id='root'></div></body></html>")
    normalized = normalize_html(shell)
    verdict = diagnose_page(normalized, requested_url="https://northwind.example/privacy",
                         final_url="https://northwind.example/privacy")
    assert verdict.suspect and verdict.reason == "javascript"
    assert "JavaScript" in verdict.detail
    plain_short = normalize_html("<html><body><p>Coming soon.</p></body></html>")
    assert diagnose_page(plain_short, requested_url="https://x.example/p", final_url=None).reason == "empty"


def test_a_page_without_prose_is_left_alone():
    links = "<ul>" + "".join(f"<li><a href='/p{i}'>Policy {i}</a></li>" for i in range(8)) + "</ul>"
    assert "Policy 7" in text(page(policy=f"<h1>Legal</h1>{links}"))


def test_what_the_page_says_of_itself_does_not_hide_it():
    """Anti-flicker snippets hide <html> or <body> until fonts or scripts load, and consent tools class
    <body> while their banner shows ("qc-cmp2-ui-showing"). Before normalizer 7 the first left the
    page's chrome in its text and the others emptied the page (a suspect page, never stored)."""
    chrome = "<div class='cookie-banner'><p>We use cookies to improve your experience.</p></div>" + menu("Home")
    plain = text(page(before=chrome))
    assert_policy(plain) and "cookies to improve" not in plain
    for html_attributes, body_attributes in ((' style="visibility:hidden"', ""), ("", ' style="display: none"'),
                                             ("", " hidden"), ("", ' class="qc-cmp2-ui-showing"'),
                                             ("", ' class="onetrust-consent-sdk"'), (' role="navigation"', "")):
        html = page(before=chrome).replace("<html lang='en'>", f"<html lang='en'{html_attributes}>")
        assert text(html.replace("<body>", f"<body{body_attributes}>")) == plain, (html_attributes, body_attributes)


def test_an_e_mail_decoded_from_an_inner_element_holding_a_control_byte_is_read():
    """Cloudflare's code sits on the link or on an element inside it; a decoded control byte (a
    garbled key) is dropped in both places, not written into the tree, where lxml refuses it."""
    key = 0x1A
    encoded = f"{key:02x}" + "".join(f"{byte ^ key:02x}" for byte in b"privacy\x00@northwind.example")
    link = ("<a class='__cf_email__' href='/cdn-cgi/l/email-protection'>"
            f"<span data-cfemail='{encoded}'>[email&#160;protected]</span></a>")
    markdown = text(page(policy=POLICY.replace("Write to our data protection officer", f"Write to {link}")))
    assert "Write to privacy@northwind.example at the address below" in markdown
