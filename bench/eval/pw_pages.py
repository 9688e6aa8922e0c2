"""Rendering a policy model as a web page (six templates, with site chrome), Markdown or plain text.

Render options carry everything the noise edits change outside the text itself: the template, the site
chrome (navigation, promo bar, sidebar, footer, cookie banner), class/attribute salts, link tracking
parameters, source formatting, list markup, HTML entity style and a relative "updated ... ago" line.
"""

from __future__ import annotations

import hashlib
import html
import html.entities
import re
import textwrap
from dataclasses import dataclass, field

from pw_blocks import Para, Policy, date_string

HTML_TEMPLATES = ["h2h3", "h3h4", "boldp", "numbered", "accordion", "deflist"]
TEMPLATES = HTML_TEMPLATES + ["markdown", "text"]
EXT = {t: "html" for t in HTML_TEMPLATES} | {"markdown": "md", "text": "txt"}
LIST_STYLES = ["ul", "ol", "pbullets", "divdash", "br"]


@dataclass
class RenderOpts:
    template: str
    nav: list = field(default_factory=list)  # [(text, path)]
    promo: str | None = None
    banner: str = "onetrust"
    banner_text: int = 0
    banner_version: str = "202403.1.0"
    sidebar: str = "toc"
    footer_extra: list = field(default_factory=list)
    footer_year: int = 2024
    chrome: str = "semantic"
    salt: str = "a"
    link_variant: int = 0
    reflow: str = "pretty"  # pretty | compact | wrapped (html); wrap width for md/txt via wrap
    wrap: int = 0
    list_default: str = "ul"
    list_override: dict = field(default_factory=dict)  # section heading -> list style
    entities: bool = False
    relative: str | None = None
    date_label: str = "Last updated:"


DATE_LABELS = {"lumenfold": "Last updated:", "brightwater": "Effective Date:", "quillpath": "Last updated on",
               "orbisly": "Version date:", "harvest": "Last Revised:", "kestrel": "Last modified:",
               "tinkerdock": "Effective"}

NAVS = {
    "lumenfold": [("Features", "/features"), ("Pricing", "/pricing"), ("Blog", "/blog"), ("Help", "/help"),
                  ("Sign in", "/login"), ("Get Lumenfold", "/download")],
    "brightwater": [("How it works", "/how-it-works"), ("Security", "/security"), ("Pricing", "/pricing"),
                    ("Learn", "/learn"), ("Log in", "/login"), ("Get started", "/signup")],
    "quillpath": [("For schools", "/schools"), ("For teachers", "/teachers"), ("For parents", "/parents"),
                  ("Resources", "/resources"), ("Log in", "/login")],
    "orbisly": [("Stays", "/stays"), ("Flights", "/flights"), ("Car rental", "/cars"), ("Deals", "/deals"),
                ("Help", "/help"), ("Sign in", "/signin")],
    "harvest": [("Shop", "/shop"), ("Weekly deals", "/deals"), ("Recipes", "/recipes"), ("Our farms", "/farms"),
                ("Delivery areas", "/areas"), ("Sign in", "/account")],
    "kestrel": [("Trackers", "/trackers"), ("Coach app", "/app"), ("Science", "/science"), ("Shop", "/shop"),
                ("Support", "/support")],
    "tinkerdock": [("Product", "/product"), ("Solutions", "/solutions"), ("Open source", "/oss"),
                   ("Pricing", "/pricing"), ("Docs", "/docs"), ("Sign in", "/login")],
}
NAV_EXTRAS = [("Careers", "/careers"), ("Gift cards", "/gift"), ("What's new", "/changelog"), ("Community", "/c"),
              ("Enterprise", "/enterprise"), ("Stories", "/stories")]
PROMOS = ["New: dark mode is here. Try it today", "Spring sale: 30% off annual plans until Friday",
          "We're hiring! See open roles", "Free delivery on your first order with code WELCOME",
          "Join our webinar on data protection, 12 June"]

BANNERS = ["onetrust", "cookiebot", "didomi", "trustarc", "usercentrics", "osano", "homemade", "cookieyes"]
BANNER_TEXTS = [
    "We use cookies and similar technologies to run this site, to understand how it is used and to show "
    "relevant content. You can accept all cookies or choose which ones to allow.",
    "This website uses cookies to enhance user experience and to analyse performance and traffic on our "
    "website. We also share information about your use of our site with our social media, advertising and "
    "analytics partners.",
    "We value your privacy. Click \"Accept\" to allow all cookies, or \"Manage\" to pick the ones you are "
    "happy with.",
]

UTM = [("utm_source=policy&utm_medium=web&utm_campaign=privacy_2024", "gclid=Cj0KCQjw5ubABhDIARIsAHMighb"),
       ("utm_source=newsletter&utm_medium=email&utm_campaign=spring_update&utm_content=footer",
        "fbclid=IwAR2xQ9kT7mZ0pLbA"),
       ("utm_source=site&utm_medium=referral&utm_term=privacy&_hsenc=p2ANqtz-8Kx", "mc_eid=5f3a9c1b2d"),
       ("ref=footer&utm_source=app&utm_campaign=legal_q3", "_ga=2.1834.991230-1234.1700000000")]


_MARKER = re.compile(r"^([-\u2013\u2014*+\u2022#>]|\d+(\.\d+)*[.)]?|\(?[a-z]\))$")


def safe_wrap(text: str, width: int, indent: str = "") -> list[str]:
    """textwrap.wrap that never starts a line with something a reader (or a Markdown parser) would take for a
    list marker or a heading number: such tokens stay glued to the word before them."""
    words = text.split(" ")
    glued: list[str] = []
    for w in words:
        if glued and _MARKER.match(w):
            glued[-1] += "\x01" + w
        else:
            glued.append(w)
    lines = textwrap.wrap(" ".join(glued), width, initial_indent=indent, subsequent_indent=indent,
                          break_long_words=False, break_on_hyphens=False)
    return [line.replace("\x01", " ") for line in lines]


def _h(s: str, n: int = 6) -> str:
    return hashlib.sha1(s.encode()).hexdigest()[:n]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48]


class Html:
    def __init__(self, policy: Policy, o: RenderOpts):
        self.p = policy
        self.c = policy.company
        self.o = o
        self.base = f"https://www.{self.c.site}"

    # -------------------------------------------------------------- text helpers
    def esc(self, text: str) -> str:
        if not self.o.entities:
            return html.escape(text, quote=False)
        out = []
        for ch in text:
            if ch == "&":
                out.append("&amp;")
            elif ch == "<":
                out.append("&lt;")
            elif ch == ">":
                out.append("&gt;")
            elif ch == "'":
                out.append("&#39;")
            elif ch == '"':
                out.append("&quot;")
            elif ord(ch) > 127:
                name = html.entities.codepoint2name.get(ord(ch))
                out.append(f"&{name};" if name and ord(ch) % 2 else f"&#{ord(ch)};")
            else:
                out.append(ch)
        return "".join(out)

    def href(self, path: str, i: int = 0) -> str:
        """A link target with tracking parameters, escaped for an attribute."""
        utm, click = UTM[(self.o.link_variant + i) % len(UTM)]
        url = path if path.startswith("http") else self.base + path
        query = utm if (i + self.o.link_variant) % 3 else utm + "&" + click
        return html.escape(f"{url}?{query}")

    def attr(self, name: str) -> str:
        """Class attribute with build-hash churn (CSS modules / scoped styles)."""
        return f' class="{name} {name.split("-")[0]}_{_h(name + self.o.salt, 5)}" data-v-{_h(self.o.salt, 8)}=""'

    def linkify(self, text_html: str) -> str:
        o = self.o
        text_html = re.sub(r"\b([a-z]+@[a-z0-9.-]+\.example)\b",
                           lambda m: f'<a href="mailto:{m.group(1)}">{m.group(1)}</a>', text_html, count=1)
        links = [("Terms of Service", "/legal/terms"), ("Cookie settings", "/cookie-settings"),
                 ("account settings", "/account/settings"), ("Help Centre", "/help"),
                 ("privacy page", "/privacy/requests")]
        for i, (phrase, path) in enumerate(links):
            if phrase in text_html:
                target = path if o.link_variant % 2 == 0 else path.replace("/", "/en/", 1)
                text_html = text_html.replace(phrase, f'<a href="{self.href(target, i)}">{phrase}</a>', 1)
        return text_html

    def text(self, text: str) -> str:
        t = self.linkify(self.esc(text))
        if self.o.reflow == "wrapped":
            t = "\n      ".join(textwrap.wrap(t, 78, break_long_words=False, break_on_hyphens=False))
        return t

    # -------------------------------------------------------------- blocks
    def blocks(self, blocks: list, heading: str) -> list[str]:
        style = self.o.list_override.get(heading, self.o.list_default)
        out = []
        for b in blocks:
            if isinstance(b, Para):
                out.append(f"<p>{self.text(b.text)}</p>")
            elif style in ("ul", "ol"):
                items = "".join(f"<li>{self.text(i)}</li>" for i in b.items)
                out.append(f"<{style}{self.attr('policy-list')}>{items}</{style}>")
            elif style == "pbullets":
                out.extend(f'<p class="li">\u2022 {self.text(i)}</p>' for i in b.items)
            elif style == "divdash":
                out.extend(f'<div class="bullet-item">\u2013 {self.text(i)}</div>' for i in b.items)
            else:  # br
                out.append("<p>" + "<br>".join(f"\u00b7 {self.text(i)}" for i in b.items) + "</p>")
        return out

    def section_html(self, s, n: int, tpl: str) -> list[str]:
        sid = slug(s.heading) + ("" if self.o.salt == "a" else "-" + _h(self.o.salt, 3))
        H = self.esc(s.heading)
        out = []
        subs_html = []
        for m, sub in enumerate(s.subs, 1):
            SH = self.esc(sub.heading)
            if tpl == "h2h3":
                sh = f'<h3 id="{slug(sub.heading)}">{SH}</h3>'
            elif tpl in ("h3h4", "accordion"):
                sh = f"<h4>{SH}</h4>"
            elif tpl == "boldp":
                sh = f"<p><strong><em>{SH}</em></strong></p>"
            elif tpl == "numbered":
                sh = f'<div class="clause-sub">{n}.{m} {SH}</div>'
            else:  # deflist
                sh = f"<p><b>{SH}</b></p>"
            subs_html.append(sh)
            subs_html.extend(self.blocks(sub.blocks, sub.heading))
        body = self.blocks(s.blocks, s.heading) + subs_html
        if tpl == "h2h3":
            out.append(f'<section{self.attr("policy-section")} id="{sid}"><h2>{H}</h2>')
            out += body + ["</section>"]
        elif tpl == "h3h4":
            out.append(f'<h3 id="{sid}"{self.attr("title")}>{H}</h3>')
            out += body
        elif tpl == "boldp":
            out.append(f'<p id="{sid}"><strong>{H}</strong></p>')
            out += body
        elif tpl == "numbered":
            out.append(f'<div{self.attr("clause")} id="{sid}"><p class="clause-title">{n}. {H}</p>')
            out += body + ["</div>"]
        elif tpl == "accordion":
            out.append(f'<details{self.attr("accordion-item")} id="{sid}"><summary>{H}</summary>'
                       f'<div class="accordion-body">')
            out += body + ["</div></details>"]
        else:
            out.append(f'<dt id="{sid}">{H}</dt><dd>')
            out += body + ["</dd>"]
        return out

    # -------------------------------------------------------------- chrome
    def head(self) -> str:
        c, o = self.c, self.o
        date = date_string("iso", self.p.date)
        return "\n".join([
            "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            f"<title>{self.esc(c.title)} | {self.esc(c.brand)}</title>",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta name="description" content="How {self.esc(c.brand)} collects, uses and protects your '
            f'personal information.">',
            f'<link rel="stylesheet" href="/assets/site.{_h(o.salt + "css", 8)}.css">',
            f'<link rel="canonical" href="{self.base}/privacy">',
            "<style>.cookie-notice{position:fixed;bottom:0;left:0;right:0;z-index:999}"
            f".{c.id}-nav a{{color:#222}} .hidden{{display:none}}</style>",
            "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
            f"gtag('js',new Date());gtag('config','G-{_h(c.id, 8).upper()}',{{anonymize_ip:true}});</script>",
            '<script type="application/ld+json">{"@context":"https://schema.org","@type":"WebPage","name":"'
            f'{c.title}","dateModified":"{date}","publisher":{{"@type":"Organization","name":"{c.legal}"}}}}'
            "</script>",
            "</head>",
        ])

    def nav(self) -> str:
        c, o = self.c, self.o
        items = "".join(f'<li><a href="{self.href(p, i)}">{self.esc(t)}</a></li>' for i, (t, p) in enumerate(o.nav))
        promo = (f'<div class="promo-bar"><a href="{self.href("/news")}">{self.esc(o.promo)}</a></div>'
                 if o.promo else "")
        logo = f'<a class="logo" href="{self.base}/"><img src="/img/logo.svg" alt="{self.esc(c.brand)}"></a>'
        search = '<form class="search" action="/search"><input type="search" name="q" placeholder="Search"></form>'
        if o.chrome == "semantic":
            return (f'<a class="skip-link" href="#main">Skip to content</a><header{self.attr("site-header")}>'
                    f'{promo}{logo}<nav aria-label="Main"><ul>{items}</ul></nav>{search}</header>')
        if o.chrome == "divrole":
            return (f'<div id="masthead" role="banner">{promo}{logo}<div class="menu" role="navigation">'
                    f'<ul>{items}</ul></div>{search}</div>')
        return f'<div class="navbar navbar-expand-lg">{promo}{logo}<ul class="navbar-nav">{items}</ul>{search}</div>'

    def sidebar(self) -> str:
        o = self.o
        if o.sidebar == "none":
            return ""
        if o.sidebar == "toc":
            sid = ("" if o.salt == "a" else "-" + _h(o.salt, 3))
            links = "".join(f'<li><a href="#{slug(s.heading)}{sid}">{self.esc(s.heading)}</a></li>'
                            for s in self.p.sections)
            inner = f'<p class="toc-title">On this page</p><ul class="toc">{links}</ul>'
        else:
            rel = [("Terms of Service", "/legal/terms"), ("Cookie Policy", "/legal/cookies"),
                   ("Security at " + self.c.brand, "/security"), ("Trust Center", "/trust"),
                   ("Accessibility", "/accessibility")]
            inner = '<p class="related-title">Related</p><ul>' + "".join(
                f'<li><a href="{self.href(p, i)}">{self.esc(t)}</a></li>' for i, (t, p) in enumerate(rel)) + "</ul>"
        if o.chrome == "semantic":
            return f'<aside{self.attr("sidebar")}>{inner}</aside>'
        if o.chrome == "divrole":
            return f'<div role="complementary" class="side">{inner}</div>'
        return f'<div class="sidebar-wrapper">{inner}</div>'

    def footer(self) -> str:
        c, o = self.c, self.o
        cols = [("Company", [("About us", "/about"), ("Careers", "/jobs"), ("Press", "/press")]),
                ("Legal", [("Privacy", "/privacy"), ("Terms", "/legal/terms"), ("Cookie Policy", "/legal/cookies"),
                           ("Imprint", "/imprint")]),
                ("Follow us", [("Instagram", "https://instagram.example/" + c.id),
                               ("LinkedIn", "https://linkedin.example/company/" + c.id)])]
        if o.footer_extra:
            cols.append(("More", o.footer_extra))
        html_cols = "".join(
            f'<div class="footer-col"><p class="footer-title">{t}</p><ul>'
            + "".join(f'<li><a href="{self.href(p, i)}">{self.esc(x)}</a></li>' for i, (x, p) in enumerate(links))
            + "</ul></div>" for t, links in cols)
        lang = ('<select class="lang" aria-label="Language"><option>English</option><option>Deutsch</option>'
                '<option>Fran\u00e7ais</option></select>')
        copy_ = f'<p class="copyright">\u00a9 {o.footer_year} {self.esc(c.legal)}. All rights reserved.</p>'
        top = '<a class="back-to-top" href="#top">Back to top \u2191</a>'
        inner = top + html_cols + lang + copy_
        if o.chrome == "semantic":
            return f'<footer{self.attr("site-footer")}>{inner}</footer>'
        if o.chrome == "divrole":
            return f'<div id="colophon" role="contentinfo">{inner}</div>'
        return f'<div class="footer">{inner}</div>'

    def banner(self) -> str:
        o = self.o
        t = self.esc(BANNER_TEXTS[o.banner_text % len(BANNER_TEXTS)])
        pol = f'<a href="{self.href("/legal/cookies", 2)}">Cookie Policy</a>'
        v = o.banner_version
        if o.banner == "onetrust":
            return (f'<div id="onetrust-consent-sdk" data-version="{v}"><div id="onetrust-banner-sdk" class="otFlat" '
                    f'role="region" aria-label="Cookie banner"><div id="onetrust-policy"><p id="onetrust-policy-text">'
                    f'{t} {pol}</p></div><div id="onetrust-button-group"><button id="onetrust-accept-btn-handler">'
                    'Accept All Cookies</button><button id="onetrust-reject-all-handler">Reject All</button>'
                    '<button id="onetrust-pc-btn-handler">Cookies Settings</button></div></div></div>')
        if o.banner == "cookiebot":
            return (f'<div id="CybotCookiebotDialog" name="CybotCookiebotDialog" role="dialog" aria-modal="true" '
                    f'data-template="popup" data-v="{v}"><div class="CybotCookiebotDialogContentWrapper">'
                    '<h2 id="CybotCookiebotDialogBodyContentTitle">This website uses cookies</h2>'
                    f'<div id="CybotCookiebotDialogBodyContentText">{t}</div>'
                    '<button id="CybotCookiebotDialogBodyButtonDecline">Deny</button>'
                    '<button id="CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll">Allow all</button>'
                    '</div></div>')
        if o.banner == "didomi":
            return (f'<div id="didomi-host" data-nosnippet="true"><div class="didomi-popup-container" data-v="{v}">'
                    '<div class="didomi-consent-popup-body"><h1 class="didomi-popup-title">Your privacy matters</h1>'
                    f'<p class="didomi-popup-notice-text">{t} {pol}</p></div><div class="didomi-buttons">'
                    '<button id="didomi-notice-agree-button">Agree and close</button>'
                    '<button id="didomi-notice-learn-more-button">Learn more</button></div></div></div>')
        if o.banner == "trustarc":
            return (f'<div id="truste-consent-track" style="display:block" data-v="{v}">'
                    f'<div id="truste-consent-content"><div id="truste-consent-text">{t}</div>'
                    '<button id="truste-consent-button">Accept Cookies</button>'
                    '<button id="truste-show-consent">Cookie Preferences</button></div></div>')
        if o.banner == "usercentrics":
            return (f'<div id="usercentrics-root" data-testid="uc-app-container"></div>'
                    f'<script id="usercentrics-cmp" src="https://app.usercentrics.eu/browser-ui/latest/loader.js" '
                    f'data-settings-id="{_h(v, 10)}" async></script>')
        if o.banner == "osano":
            return ('<div class="osano-cm-window"><div class="osano-cm-dialog osano-cm-dialog--type_bar" '
                    f'role="dialog" aria-live="polite" data-v="{v}"><span class="osano-cm-content">'
                    f'<span class="osano-cm-message">{t}</span>{pol}</span>'
                    '<button class="osano-cm-accept-all">Accept</button>'
                    '<button class="osano-cm-denyAll">Deny</button></div></div>')
        if o.banner == "cookieyes":
            return (f'<div class="cky-consent-container cky-box-bottom-left" data-v="{v}"><div class="cky-consent-bar">'
                    '<div class="cky-notice"><p class="cky-title">We value your privacy</p>'
                    f'<div class="cky-notice-des"><p>{t}</p></div><div class="cky-notice-btn-wrapper">'
                    '<button class="cky-btn cky-btn-customize">Customize</button>'
                    '<button class="cky-btn cky-btn-reject">Reject All</button>'
                    '<button class="cky-btn cky-btn-accept">Accept All</button></div></div></div></div>')
        return (f'<div class="cookie-notice" id="cookie-notice" role="dialog" aria-label="Cookie consent" '
                f'data-v="{v}"><p>{t} {pol}</p><button class="btn js-accept">OK</button>'
                '<button class="btn js-decline">No thanks</button></div>')

    # -------------------------------------------------------------- page
    def page(self) -> str:
        p, o, c = self.p, self.o, self.c
        tpl = o.template
        title_tag = "h1"
        date = f'{o.date_label} {date_string(c.date_fmt, p.date)}'
        content = [f'<{title_tag}{self.attr("page-title")}>{self.esc(p.title)}</{title_tag}>',
                   f'<p class="updated"><em>{self.esc(date)}</em></p>']
        if o.relative:
            content.append(f'<p class="meta">Updated {o.relative} \u00b7 9 min read</p>')
        for b in self.blocks(p.intro, ""):
            content.append(b)
        if tpl == "deflist":
            content.append(f'<dl{self.attr("policy-dl")}>')
        for n, s in enumerate(p.sections, 1):
            content.extend(self.section_html(s, n, tpl))
        if tpl == "deflist":
            content.append("</dl>")
        if o.reflow == "compact":
            main = "".join(content)
            sep = ""
        else:
            main = "\n    ".join(content)
            sep = "\n"
        wrapper = "article" if c.skin.get("chrome") != "classes" else "div"
        body = sep.join([
            f'<body class="page-privacy {c.id} {_h(o.salt, 4)}" id="top">',
            self.nav(),
            f'<div class="layout">{sep}{self.sidebar()}',
            f'<main id="main"><{wrapper}{self.attr("policy")}>{sep}    {main}{sep}</{wrapper}></main>',
            "</div>",
            self.footer(),
            self.banner(),
            f'<script src="https://www.googletagmanager.com/gtm.js?id=GTM-{_h(c.id + o.salt, 6).upper()}" async>'
            "</script>",
            "<script>(function(){var b=document.querySelector('.js-accept');if(b){b.onclick=function(){"
            "document.cookie='consent=1;path=/'}}})();</script>",
            "</body>", "</html>",
        ])
        return self.head() + "\n" + body + "\n"


def render_markdown(policy: Policy, o: RenderOpts) -> str:
    c = policy.company
    base = f"https://www.{c.site}"

    def link(text: str) -> str:
        utm = UTM[o.link_variant % len(UTM)][0]
        for phrase, path in [("Terms of Service", "/legal/terms"), ("Cookie settings", "/cookie-settings"),
                             ("account settings", "/account/settings")]:
            if phrase in text:
                text = text.replace(phrase, f"[{phrase}]({base}{path}?{utm})", 1)
        return text

    def wrap(text: str) -> str:
        return "\n".join(safe_wrap(text, o.wrap)) if o.wrap else text

    def blocks(bs, heading):
        style = o.list_override.get(heading, o.list_default)
        out = []
        for b in bs:
            if isinstance(b, Para):
                out.append(wrap(link(b.text)))
            else:
                marks = {"ul": "-", "ol": None, "pbullets": "*", "divdash": "+", "br": "*"}
                mk = marks.get(style, "-")
                lines = []
                for i, item in enumerate(b.items, 1):
                    m = f"{i}." if mk is None else mk
                    lines.append(f"{m} " + link(item))
                out.append("\n".join(lines))
        return out

    parts = [f"# {policy.title}", f"*{o.date_label} {date_string(c.date_fmt, policy.date)}*"]
    if o.relative:
        parts.append(f"_Updated {o.relative} \u00b7 9 min read_")
    parts += blocks(policy.intro, "")
    for s in policy.sections:
        parts.append(f"## {s.heading}")
        parts += blocks(s.blocks, s.heading)
        for sub in s.subs:
            parts.append(f"### {sub.heading}")
            parts += blocks(sub.blocks, sub.heading)
    return "\n\n".join(parts) + "\n"


def render_text(policy: Policy, o: RenderOpts) -> str:
    c = policy.company
    width = o.wrap or 76
    style = c.txt_style

    def para(text: str, indent: str = "") -> str:
        return "\n".join(safe_wrap(text, width, indent))

    def blocks(bs, heading):
        ls = o.list_override.get(heading, o.list_default)
        mark = {"ul": "*", "ol": "-", "pbullets": "o", "divdash": "-", "br": "\u2022"}.get(ls, "*")
        out = []
        for b in bs:
            if isinstance(b, Para):
                out.append(para(b.text))
            else:
                lines = []
                for i, item in enumerate(b.items):
                    m = f"({chr(97 + i)})" if ls == "ol" else mark
                    wrapped = safe_wrap(item, width - 6)
                    lines.append(f"  {m} " + wrapped[0])
                    lines.extend("      " + w for w in wrapped[1:])
                out.append("\n".join(lines))
        return out

    parts = [policy.title.upper() if style != "underline" else policy.title + "\n" + "=" * len(policy.title),
             f"{o.date_label} {date_string(c.date_fmt, policy.date)}"]
    if o.relative:
        parts.append(f"Updated {o.relative}")
    parts += blocks(policy.intro, "")
    for n, s in enumerate(policy.sections, 1):
        if style == "numbered":
            parts.append(f"{n}. {s.heading}")
        elif style == "caps":
            parts.append(s.heading.upper())
        else:
            parts.append(s.heading + "\n" + "-" * len(s.heading))
        parts += blocks(s.blocks, s.heading)
        for m, sub in enumerate(s.subs, 1):
            if style == "numbered":
                parts.append(f"{n}.{m} {sub.heading}")
            elif style == "caps":
                parts.append(sub.heading)
            else:
                parts.append(sub.heading + "\n" + "~" * len(sub.heading))
            parts += blocks(sub.blocks, sub.heading)
    return "\n\n".join(parts) + "\n"


def render(policy: Policy, o: RenderOpts) -> str:
    if o.template == "markdown":
        return render_markdown(policy, o)
    if o.template == "text":
        return render_text(policy, o)
    return Html(policy, o).page()


def default_opts(policy: Policy, template: str) -> RenderOpts:
    c = policy.company
    sk = c.skin
    return RenderOpts(template=template, nav=list(NAVS[c.id]), banner=sk.get("banner", "onetrust"),
                      sidebar=sk.get("sidebar", "toc"), chrome=sk.get("chrome", "semantic"),
                      footer_year=policy.date[0], list_default=sk.get("list", "ul"),
                      date_label=DATE_LABELS[c.id], wrap=0 if template == "markdown" else 76)
