"""A small generator of realistic privacy-policy pages, and of the noise real sites add to them.

``policy_page(**options)`` renders a whole HTML page: a site header with navigation, an
optional cookie banner in one of several vendors' markups, the policy in ``<main>`` (h1,
"Last updated", sections with h2 headings, paragraphs, lists, links, an obfuscated e-mail
address), an aside, a footer and scripts. Every option changes only what its name says, so
two renderings that differ in one noise option must normalize to the same text, while
``sections=``/``edits=`` change the policy's words.

Also: ``bot_wall_page``, ``login_page``, ``error_page``, ``home_page``, ``policy_markdown``.
"""

from __future__ import annotations

import hashlib
import html
import re

COMPANY = "Acme"
# A material edit of policy_page: a promise not to sell becomes a sale (policy_page(edits=dict([SALE])))
SALE = ("We don{apos}t sell your personal information.", "We sell your personal information to advertisers.")

# (heading, [blocks]); a block is a paragraph string or a list of list items.
SECTIONS: list[tuple[str, list]] = [
    ("Who we are", [
        "{C} Inc. ({q}{C}{q}, {q}we{q}, {q}us{q}) provides online project-management software. This policy "
        "explains what personal information we collect when you use our websites and services, how we use it, "
        "with whom we share it and the choices you have. It applies to everyone who visits our sites or "
        "uses our apps, whether or not they have an account.",
    ]),
    ("Information we collect", [
        "We collect information you give us, information we collect automatically when you use the services, "
        "and information we receive from other sources{dash}for example from your employer when it invites you "
        "to a workspace.",
        ["Contact details such as your name, email address and phone number.",
         "Account credentials, profile information and your preferences.",
         "Payment information, which is handled by our payment processor.",
         "Usage data such as the pages you view, the features you use and the time you spend on them.",
         "Device information such as your IP address, browser type and operating system."],
    ]),
    ("How we use your information", [
        "We use personal information to provide, maintain and improve the services, to process transactions, "
        "to send you service messages and, where the law allows it, marketing messages you can unsubscribe "
        "from at any time. We also use it to protect the security of our users and to comply with the law.",
        ["To create and manage your account.",
         "To provide customer support and answer your requests.",
         "To understand how the services are used so that we can improve them."],
    ]),
    ("How we share information", [
        "We don{apos}t sell your personal information. We share it only with service providers who process it on "
        "our behalf under written contracts, with your employer when you use a workspace it administers, and "
        "when the law requires it. You can read the list of our processors on our {link}.",
    ]),
    ("Your rights and choices", [
        "Depending on where you live, you may have the right to access, correct, delete or export your personal "
        "information, and to object to or restrict some processing. To exercise these rights, write to "
        "{email} and we will answer within thirty days. You will not be charged for a request.",
    ]),
    ("How long we keep information", [
        "We keep personal information for as long as your account is active and for up to ninety days after "
        "it is closed, unless the law requires us to keep it longer{dash}for example invoices, which we keep "
        "for seven years.",
    ]),
    ("Contact us", [
        "If you have a question about this policy, contact our data protection officer at {C} Inc., "
        "100 Example Street, Springfield. We review this policy at least once a year and will tell you by "
        "email before a change that affects your rights takes effect.",
    ]),
]

BANNERS = {
    "onetrust": ('<div id="onetrust-consent-sdk"><div class="onetrust-pc-dark-filter"></div>'
                 '<div id="onetrust-banner-sdk" class="otFlat" role="region" aria-label="Cookie banner">'
                 '<div id="onetrust-policy"><p id="onetrust-policy-text">{text} <a href="/cookies">Cookie '
                 'Policy</a></p></div><div id="onetrust-button-group"><button id="onetrust-accept-btn-handler">'
                 'Accept All Cookies</button><button id="onetrust-pc-btn-handler">Cookies Settings</button>'
                 '</div></div></div>'),
    "cookie-banner": ('<div class="cookie-banner js-cookie-banner"><p class="cookie-banner__text">{text}</p>'
                      '<a href="#" class="cookie-banner__accept">OK, got it</a></div>'),
    "dialog": ('<div role="dialog" aria-modal="true" aria-label="Your privacy choices" class="consent">'
               '<p>{text}</p><a href="#" class="btn">Accept</a> <a href="#" class="btn">Reject</a></div>'),
    "cookiebot": ('<div id="CybotCookiebotDialog" class="CybotCookiebotDialogActive">'
                  '<div id="CybotCookiebotDialogBodyContent"><h2 id="CybotCookiebotDialogBodyContentTitle">'
                  'This website uses cookies</h2><div id="CybotCookiebotDialogBodyContentText">{text}</div>'
                  '</div></div>'),
    "cookie-notice": '<section id="cookie-notice"><span>{text}</span> <a href="#">Dismiss</a></section>',
}

BANNER_TEXTS = (
    "We use cookies to improve your experience, analyse traffic and show you relevant ads.",
    "This site uses cookies and similar technologies to personalise content and measure our audience. "
    "By clicking Accept you agree to their use.",
)


def _churn(seed: int, name: str) -> str:
    """Attributes a front-end build regenerates on every deploy (CSS-module hashes, data-v-…)."""
    if not seed:
        return ""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()
    return (f' class="css-{digest[:6]} sc-{digest[6:12]}" data-v-{digest[12:18]}="" '
            f'data-reactid=".{int(digest[18:22], 16)}" style="margin-top:{int(digest[22:24], 16) % 24}px"')


def _cf_encode(address: str, key: int) -> str:
    return f"{key:02x}" + "".join(f"{b ^ key:02x}" for b in address.encode())


def policy_page(*, title: str = f"Privacy Policy | {COMPANY}", company: str = COMPANY,
                sections: list[tuple[str, list]] | None = None, edits: dict[str, str] | None = None,
                drop_sections: int = 0, updated: str = "March 3, 2024", relative: str | None = "3 days ago",
                script: str = "window.__BUILD__ = 'a1b2c3'; dataLayer.push({event: 'pageview'});",
                style: str = "body{font-family:sans-serif} .hero{color:#333}", extra_scripts: bool = False,
                hidden: bool = False, nav: tuple[str, ...] = ("Product", "Pricing", "Customers", "Blog", "Sign in"),
                header_promo: str | None = None, footer_links: tuple[str, ...] = ("Terms", "Privacy", "Security",
                                                                                   "Status", "Careers"),
                copyright_year: int = 2024, aside: tuple[str, ...] = ("Terms of Service", "Cookie Policy",
                                                                      "Data Processing Addendum"),
                banner: str | None = None, banner_text: str = BANNER_TEXTS[0], back_to_top: bool = False,
                link_href: str = "https://acme.example/legal/subprocessors?utm_source=privacy&utm_medium=web",
                cf_key: int | None = 0x3A, cf_form: str = "span", email: str = "privacy@acme.example",
                spacing: str = "normal", invisible: bool = False, nbsp: bool = False, typography: str = "ascii",
                list_style: str = "ul", churn: int = 0, policy_id: str | None = "policy",
                main_tag: str = "main") -> str:
    """Render a privacy-policy page; see the module docstring."""
    sections = [(h, list(b)) for h, b in (sections or SECTIONS)]
    if drop_sections:
        sections = sections[:len(sections) - drop_sections]
    curly = typography == "curly"
    quotes = ("\u201c", "\u201d") if curly else ('"', '"')
    dash = " \u2014 " if curly else " - "
    apostrophe = "\u2019" if curly else "'"

    def text(raw: str) -> str:
        """A text node: edits, substitutions, then the whitespace/invisible-character noise."""
        value = raw
        for old, new in (edits or {}).items():
            value = value.replace(old, new)
        value = value.replace("{C}", company).replace("{dash}", dash).replace("{apos}", apostrophe)
        value = re.sub(r"\{q\}(.*?)\{q\}", lambda m: quotes[0] + m.group(1) + quotes[1], value)
        value = html.escape(value, quote=False)
        if invisible:
            value = value.replace("personal", "per\u200bsonal").replace("information", "infor\u00admation")
            value = value.replace("services", "\u200dservices\u2060")
        if nbsp:
            value = value.replace("We ", "We\u00a0").replace(" and ", " and&nbsp;").replace("% ", "%\u202f")
        if spacing == "messy":
            value = value.replace(". ", ".\n        ").replace(", ", ",   ").replace(" the ", "  the\t")
        return value

    def attrs(name: str) -> str:
        return _churn(churn, name)

    def link() -> str:
        return f'<a href="{html.escape(link_href)}" rel="noopener"{attrs("link")}>list of subprocessors</a>'

    def mail() -> str:
        if cf_key is None:
            return f'<a href="mailto:{email}">{email}</a>'
        encoded = _cf_encode(email, cf_key)
        if cf_form == "href":
            return (f'<a href="/cdn-cgi/l/email-protection#{encoded}">'
                    f'<span class="__cf_email__" data-cfemail="{encoded}">[email&#160;protected]</span></a>')
        return (f'<a href="/cdn-cgi/l/email-protection" class="__cf_email__" data-cfemail="{encoded}">'
                f'[email&#160;protected]</a>')

    def paragraph(raw: str, name: str) -> str:
        body = text(raw).replace("{link}", link()).replace("{email}", mail())
        return f"<p{attrs(name)}>{body}</p>"

    def items(values: list[str], name: str) -> str:
        if list_style == "ul":
            inner = "".join(f"<li{attrs(name + str(i))}>{text(v)}</li>" for i, v in enumerate(values))
            return f"<ul{attrs(name)}>{inner}</ul>"
        if list_style == "ol":
            inner = "".join(f"<li{attrs(name + str(i))}>{text(v)}</li>" for i, v in enumerate(values))
            return f'<ol type="1"{attrs(name)}>{inner}</ol>'
        if list_style == "numbered-li":  # numbers typed into the items by the CMS
            inner = "".join(f"<li>{i}. {text(v)}</li>" for i, v in enumerate(values, start=1))
            return f'<ul class="list-none">{inner}</ul>'
        if list_style == "numbered-lines":  # "1. …<br>2. …" in one paragraph
            return "<p>" + "<br>\n".join(f"{i}. {text(v)}" for i, v in enumerate(values, start=1)) + "</p>"
        if list_style == "bullet-lines":  # "• …<br>• …" in one paragraph
            return "<p>" + "<br>\n".join(f"\u2022 {text(v)}" for v in values) + "</p>"
        raise ValueError(list_style)

    out = ['<!DOCTYPE html>', '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>",
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<style>{style}</style>", f"<script>{script}</script>"]
    if extra_scripts:
        out.append('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "WebPage", '
                   '"dateModified": "2024-05-01T10:00:00Z"}</script>')
        out.append('<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>')
        out.append('<link rel="preload" href="/static/app.9f8e7d.css" as="style">')
    out.append("</head>")
    out.append(f'<body class="page-privacy"{attrs("body")}>')
    if extra_scripts:
        out.append('<noscript><img src="https://px.example/t.gif?id=99" alt=""></noscript>')
        out.append("<style>.legal h2{margin-top:2em}</style>")
    if banner:
        out.append(BANNERS[banner].format(text=html.escape(banner_text)))
    out.append(f'<header class="site-header"{attrs("header")}><a href="/" class="logo">{company}</a>')
    if header_promo:
        out.append(f'<div class="promo">{html.escape(header_promo)}</div>')
    out.append("<nav aria-label=\"Main\"><ul>" + "".join(f'<li><a href="/{n.lower().replace(" ", "-")}">{n}</a></li>'
                                                          for n in nav) + "</ul></nav></header>")
    main_attrs = f' id="{policy_id}"' if policy_id else ""
    out.append(f'<{main_tag}{main_attrs} class="legal"{attrs("main")}>')
    out.append(f"<h1{attrs('h1')}>{text(company + ' Privacy Policy')}</h1>")
    stamp = f"Last updated: {updated}"
    if relative:
        stamp += f" (updated {relative})"
    out.append(f'<p class="meta"{attrs("meta")}>{text(stamp)}</p>')
    for number, (heading, blocks) in enumerate(sections):
        out.append(f'<section id="s{number}"{attrs("section" + str(number))}>')
        out.append(f"<h2{attrs('h2-' + str(number))}>{text(heading)}</h2>")
        for index, block in enumerate(blocks):
            name = f"b{number}-{index}"
            out.append(items(block, name) if isinstance(block, list) else paragraph(block, name))
        if hidden:
            out.append('<div style="display: none">Tracking fallback text that no visitor ever sees.</div>')
            out.append('<p hidden>Experimental paragraph that is switched off for this audience.</p>')
            out.append('<span aria-hidden="true" class="icon">Decorative icon label</span>')
        if back_to_top:
            out.append('<p class="back"><a href="#top">Back to top \u2191</a></p>')
        out.append("</section>")
    out.append(f"</{main_tag}>")
    if aside:
        out.append('<aside class="related"><h3>Related documents</h3><ul>'
                   + "".join(f'<li><a href="/legal/{a.lower().replace(" ", "-")}">{a}</a></li>' for a in aside)
                   + "</ul></aside>")
    out.append(f'<footer class="site-footer"{attrs("footer")}><ul>'
               + "".join(f'<li><a href="/{f.lower()}">{f}</a></li>' for f in footer_links)
               + f"</ul><p>\u00a9 {copyright_year} {company} Inc. All rights reserved.</p></footer>")
    out.append(f"<script>window.__INITIAL_STATE__ = {{\"build\": \"{script[-12:]}\"}};</script>")
    out.append("</body></html>")
    separator = "\n" if spacing == "normal" else "\n\n   \t"
    return separator.join(out) + "\n"


def bot_wall_page() -> str:
    """Cloudflare's interstitial, served with status 200 (or 403/503)."""
    return ("<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
            '<meta http-equiv="refresh" content="390"><style>body{margin:0}</style></head><body>'
            '<div class="main-wrapper" role="main"><div class="main-content">'
            '<h1 class="zone-name-title h1">acme.example</h1>'
            '<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>'
            '<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript>'
            '<div id="challenge-body-text" class="core-msg spacer">acme.example needs to review the security '
            "of your connection before proceeding.</div>"
            '<form id="challenge-form" action="/privacy?__cf_chl_f_tk=abc" method="POST"></form></div></div>'
            '<div class="footer" role="contentinfo"><div class="footer-inner">Ray ID: <code>8a1b2c3d4e5f</code>'
            " Performance &amp; security by Cloudflare</div></div>"
            "<script>(function(){window._cf_chl_opt={cvId: '3'};})();</script></body></html>")


def login_page() -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><title>Sign in | Acme</title></head><body>"
            '<main class="auth"><h1>Sign in to Acme</h1><form method="post" action="/session">'
            '<label>Email <input type="email" name="email"></label>'
            '<label>Password <input type="password" name="password"></label>'
            "<button type=\"submit\">Sign in</button></form>"
            '<p><a href="/password/reset">Forgot your password?</a></p></main></body></html>')


def error_page() -> str:
    """A 'soft 404': the site's template around an error message, served with status 200."""
    return ("<!DOCTYPE html><html lang=\"en\"><head><title>Page not found | Acme</title></head><body>"
            '<header class="site-header"><a href="/">Acme</a><nav><a href="/product">Product</a></nav></header>'
            "<main><h1>Page not found</h1><p>Sorry, the page you are looking for does not exist or has been "
            'moved. Try the <a href="/">home page</a> or search our help center.</p></main>'
            "<footer><p>\u00a9 2024 Acme Inc.</p></footer></body></html>")


def home_page() -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><title>Acme | Project management for busy teams</title>"
            "</head><body><header><nav><a href=\"/product\">Product</a><a href=\"/pricing\">Pricing</a></nav>"
            "</header><main><h1>Plan, track and ship your projects together</h1>"
            "<p>Acme brings your team's tasks, documents and conversations into one place, so that everyone "
            "knows what to do next and nobody has to chase updates in email threads. Thousands of teams use "
            "Acme every day to plan their work and deliver on time.</p>"
            "<h2>Why teams choose Acme</h2><ul><li>Boards, lists and timelines for every kind of project.</li>"
            "<li>Integrations with the tools you already use.</li><li>Enterprise-grade security and "
            "support.</li></ul><p>Start your free trial today and see how much time your team can save.</p>"
            "</main><footer><a href=\"/privacy\">Privacy</a></footer></body></html>")


def policy_markdown(extra: str = "") -> str:
    """The policy as a Markdown draft (a legal team's own file)."""
    parts = [f"# {COMPANY} Privacy Policy", "", "Last updated: March 3, 2024", ""]
    for heading, blocks in SECTIONS:
        parts += [f"## {heading}", ""]
        for block in blocks:
            if isinstance(block, list):
                parts += [f"- {item}" for item in block]
            else:
                body = block.replace("{C}", COMPANY).replace("{dash}", " - ").replace("{q}", '"').replace("{apos}", "'")
                body = body.replace("{link}", "[list of subprocessors](https://acme.example/legal/subprocessors)")
                parts.append(body.replace("{email}", "privacy@acme.example"))
            parts.append("")
    if extra:
        parts += [extra, ""]
    return "\n".join(parts)
