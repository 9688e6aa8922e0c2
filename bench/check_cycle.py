#!/usr/bin/env python3
"""Benchmark one ``policywatch check`` cycle against urlwatch on realistic pages served on loopback.

The script generates N deterministic ~60 KB privacy-policy pages (site header and navigation,
cookie banner, sidebar table of contents, footer, inline scripts and styles, 10-20 sections
with h2/h3 headings, paragraphs, lists and a table), serves them from real threaded HTTP
servers (one per loopback address 127.0.0.2, 127.0.0.3, ... so that the "one request at a
time per host" rule of policywatch does not serialize everything) with ETag, Last-Modified
and 304 answers to conditional requests, and times four cycles of each tool:

- ``first``: empty database / cache, every page is new;
- ``unchanged``: nothing changed, every page should be answered with 304;
- ``churned``: every page's bytes changed (per-request tokens in a script and a hidden form
  field), its text did not;
- ``changed``: the text of one section changed in 10% of the pages (new ETag, Last-Modified).

For every cycle it records wall time, CPU time, peak RSS of the tool's process (with its
children, from ``wait4``), the size of the database / cache afterwards, and the requests the
servers answered. Figures go to a table on stdout and to ``bench/out/check_cycle.json``.

Run ``python bench/check_cycle.py --help`` for the options; see ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import calendar
import datetime
import email.utils
import gzip
import hashlib
import html
import importlib.util
import ipaddress
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
CYCLES = ("first", "unchanged", "churned", "changed")
GOALS = {
    "first_ratio": 1.0,  # first cycle: policywatch wall time <= 1x urlwatch
    "unchanged_ratio": 0.4,  # unchanged cycle: <= 0.4x urlwatch
    "churned_ratio": 1.0,  # every page's bytes new, its text not: <= 1x urlwatch
    "changed_ratio": 1.2,  # 10 % of the pages changed: <= 1.2x urlwatch
    "peak_mb": 150.0,  # policywatch peak RSS in every cycle
}
URLWATCH_SPEC = "urlwatch"

# ------------------------------------------------------------------------------------------------
# Page generation: deterministic from (seed, page, revision), varied vocabulary.
# ------------------------------------------------------------------------------------------------

COMPANY_FIRST = [
    "Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
    "Cyberdyne", "Soylent", "Wonka", "Aperture", "Oscorp", "Monarch", "Blue Sun", "Nakatomi", "Dunder",
    "Sterling", "Bluth", "Prestige", "Gekko", "Duff", "Krusty", "Virtucon", "Zorg", "Yoyodyne", "Ollivander",
    "Pendant", "Sirius", "Tessier", "Wolfram", "Kessel", "Ingen", "Omni", "Cobalt", "Juniper", "Meridian",
    "Halcyon", "Lumen", "Quartz", "Saffron", "Tamarind", "Vireo", "Willow", "Zephyr", "Argent", "Borealis",
]
COMPANY_SECOND = [
    "Labs", "Systems", "Cloud", "Analytics", "Health", "Media", "Pay", "Travel", "Games", "Mobility", "Foods",
    "Bank", "Learning", "Energy", "Insurance", "Logistics", "Robotics", "Studios", "Networks", "Retail",
    "Software", "Bio", "Dating", "Fitness", "Security", "Realty", "Motors", "Telecom", "Marketplace", "AI",
]
SERVICE_WORDS = ["Services", "Platform", "Sites", "Products", "Apps", "Offerings", "Solutions"]
USER_WORDS = ["users", "customers", "members", "visitors", "subscribers", "account holders", "clients"]
PI_WORDS = ["personal information", "personal data", "information about you", "your data",
            "personally identifiable information"]
DATA = [
    "your name", "email address", "postal address", "phone number", "date of birth", "username",
    "password hash", "payment card details", "billing address", "purchase history", "IP address",
    "device identifiers", "browser type", "operating system version", "approximate location",
    "precise geolocation", "search queries", "pages viewed", "referring URL", "crash reports",
    "voice recordings", "photos you upload", "contact lists", "calendar entries", "support tickets",
    "survey responses", "employment history", "government ID number", "tax identifier", "health information",
    "fitness data", "biometric templates", "advertising identifier", "cookie identifiers", "session duration",
    "language preferences", "time zone", "social media handle", "profile picture", "messages you send",
    "bank account number", "loyalty program number", "vehicle telemetry", "travel itineraries",
    "education records", "household composition", "shipping preferences", "clickstream data",
    "audio and video content", "emergency contact details", "signature", "insurance policy number",
]
PURPOSES = [
    "provide and maintain the {svc}", "process your transactions", "personalize your experience",
    "send you service announcements", "respond to your requests", "detect and prevent fraud",
    "secure our systems and networks", "measure the performance of our marketing", "show you relevant advertising",
    "improve existing features and develop new ones", "comply with our legal obligations", "enforce our terms",
    "conduct research and analytics", "verify your identity", "facilitate payments", "provide customer support",
    "debug and repair errors", "train and evaluate our machine learning models", "administer contests and promotions",
    "manage your account", "deliver the products you ordered", "recommend content you may like",
    "audit our compliance programs", "communicate with you about your account", "plan capacity for our network",
    "calculate taxes and fees", "resolve disputes", "authenticate your sessions",
]
THIRD = [
    "payment processors", "cloud hosting providers", "analytics providers", "advertising partners",
    "customer support vendors", "email delivery services", "fraud prevention services", "professional advisers",
    "law enforcement authorities", "affiliated companies", "business partners", "shipping carriers",
    "identity verification providers", "survey providers", "social media platforms", "data brokers", "auditors",
    "insurers", "a successor entity in a merger or acquisition", "app store operators", "content delivery networks",
    "marketing agencies", "background check providers", "credit reference agencies", "translation vendors",
]
RIGHTS = [
    "access the personal information we hold about you", "correct inaccurate information",
    "delete your personal information", "object to our processing", "restrict our processing",
    "receive a portable copy of your data", "withdraw your consent at any time",
    "opt out of the sale or sharing of your information", "opt out of targeted advertising",
    "not be subject to decisions based solely on automated processing",
    "lodge a complaint with a supervisory authority", "appeal our decision on your request",
    "limit the use of sensitive personal information", "know which categories of data we collect",
]
REGIONS = [
    "the European Economic Area", "the United Kingdom", "Switzerland", "California", "Virginia", "Colorado",
    "Connecticut", "Utah", "Texas", "Brazil", "Canada", "Japan", "South Korea", "Australia", "Singapore", "India",
    "South Africa", "Quebec", "Oregon", "Montana", "New Zealand", "Mexico", "Argentina", "Israel",
]
PERIODS = [
    "30 days", "90 days", "six months", "12 months", "18 months", "two years", "three years", "five years",
    "seven years", "ten years", "the life of your account", "the period required by applicable law",
]
EVENTS = [
    "you close your account", "the transaction is completed", "our relationship with you ends", "your last login",
    "the end of the financial year", "the dispute is resolved", "you withdraw your consent", "the contract expires",
    "the promotion ends", "your subscription lapses",
]
BASES = [
    "the performance of a contract with you", "our legitimate interests", "your consent",
    "compliance with a legal obligation", "the protection of vital interests",
    "a task carried out in the public interest",
]
SECURITY = [
    "encryption in transit", "encryption at rest", "multi-factor authentication", "role-based access controls",
    "regular penetration testing", "network segmentation", "security awareness training",
    "intrusion detection systems", "hardware security modules", "least-privilege access", "audit logging",
    "vulnerability scanning", "documented incident response procedures", "background checks for staff",
    "pseudonymisation", "tokenization of card numbers", "independent SOC 2 audits", "ISO 27001 certification",
]
ACTIONS = [
    "create an account", "make a purchase", "contact support", "use our mobile apps", "visit our websites",
    "sign up for our newsletter", "participate in a survey", "connect a third-party account", "upload content",
    "apply for a job", "attend one of our events", "use voice features", "enable location services",
    "redeem a coupon", "join a loyalty program", "post a review", "chat with an agent", "book an appointment",
    "request a quote", "refer a friend",
]
ADJECTIVES = [
    "reasonable", "appropriate", "commercially reasonable", "industry-standard", "administrative", "technical",
    "physical", "organizational", "proportionate", "robust", "layered", "contractual",
]
CLOSINGS = [
    "", "", "", "", " in accordance with applicable law", " as described in this section",
    " subject to local legal requirements", " where permitted by law", " unless you tell us otherwise",
    " to the extent required by law", " as explained below", " in line with our internal policies",
]
PREFERENCES = ["language", "region", "display settings", "login state", "consent choices", "playback settings",
               "shopping cart", "accessibility options"]
CHANGE_REASONS = ["launch new features", "change our practices", "respond to new laws", "clarify our wording",
                  "add new partners", "reorganize our business"]

GENERAL_TEMPLATES = [
    "We collect {data} and {data2} when you {action}{close}.",
    "{co} uses {data} to {purpose}{close}.",
    "We may share {data} with {third} who help us {purpose}.",
    "If you are located in {region}, you may have the right to {right}{close}.",
    "We retain {data} for {period} after {event}, unless a longer period is required by law.",
    "Our processing of {data} is based on {basis}{close}.",
    "We protect {pi} using {sec}, {sec2} and other {adj} safeguards.",
    "When you {action}, we may also receive {data} from {third}.",
    "We do not sell {data} to {third}, but we may disclose it to {third2} to {purpose}.",
    "You can ask us to {right} by contacting our privacy team{close}.",
    "Some {users} choose to provide {data}; doing so is optional, but it helps us {purpose}.",
    "Where we rely on {basis}, we balance our interests against your rights and freedoms.",
    "We use {adj} measures, including {sec}, to keep {data} safe{close}.",
    "Information such as {data} may be combined with {data2} so that we can {purpose}.",
    "{Third} process {data} on our behalf under written contracts that require {adj} protection.",
    "Transfers of {pi} out of {region} rely on standard contractual clauses or another approved mechanism.",
    "Cookies and similar technologies let us {purpose} and remember your {pref}.",
    "If you have questions about how we handle {data}, please contact the {co} data protection officer.",
    "In some cases we process {data} automatically to {purpose}; you may ask for a human to review the result.",
    "We keep a record of requests to {right} for {period} so that we can demonstrate compliance.",
    "For {users} in {region}, {co} acts as the controller of {pi} processed through the {svc}.",
    "We review how long we keep {data} every {period} and delete what we no longer need{close}.",
    "Depending on where you live, {co} may ask you to verify your identity before we {purpose2}.",
    "Our {svc} may include features offered by {third}, whose own privacy notices govern those features.",
    "We limit access to {data} to employees and contractors who need it to {purpose}.",
]
TOPIC_TEMPLATES = {
    "collect": [
        "You give us {data} directly when you {action}.",
        "We automatically record {data} and {data2} each time you {action}.",
        "{Third} may provide us with {data} that we use to {purpose}.",
    ],
    "use": ["We use {pi} to {purpose} and to {purpose2}{close}.",
            "We may also use {data} to {purpose} where you have given your consent."],
    "share": ["We disclose {data} to {third} only to the extent necessary to {purpose}.",
              "If {co} is involved in a merger or sale of assets, {pi} may be transferred to {third}."],
    "cookies": ["Some cookies are set by {third} and last for {period}.",
                "You can change your {pref} at any time in the cookie settings of the {svc}."],
    "rights": ["To {right}, submit a request through our privacy portal or email us.",
               "We respond to requests to {right} within {period2} of receiving them."],
    "retention": ["{Data} is kept for {period} after {event}{close}.",
                  "Backups containing {data} are overwritten within {period2}."],
    "security": ["Our security program includes {sec}, {sec2} and {sec3}.",
                 "No method of transmission over the Internet is completely secure, so we cannot guarantee "
                 "the security of {data}."],
    "children": ["If we learn that we have collected {data} from a child under {age}, we delete it promptly.",
                 "Parents and guardians may contact us to review information about their child."],
    "contact": ["You can write to {co}, Attn: Privacy Office, {street}, {city}.",
                "Our data protection officer can be reached at privacy@{domain}."],
}
TOPICS = [
    # key, required, heading variants, subsection headings
    ("intro", False, ["Introduction", "About This Policy", "Scope of This Notice", "Who We Are"], []),
    ("collect", True, ["Information We Collect", "What Information We Collect", "Personal Data We Collect",
                       "The Data We Collect About You"],
     ["Information you provide to us", "Information we collect automatically", "Information from third parties",
      "Sensitive information"]),
    ("use", True, ["How We Use Your Information", "How We Use Personal Data", "Purposes of Processing",
                   "Why We Process Your Data"],
     ["To provide the services", "For safety and security", "For marketing", "For research and development"]),
    ("legal", False, ["Legal Bases for Processing", "Our Legal Grounds for Using Your Data",
                      "Lawful Basis"], ["Contract", "Legitimate interests", "Consent", "Legal obligations"]),
    ("share", True, ["How We Share Information", "Disclosure of Personal Data", "Who We Share Your Data With",
                     "Sharing and Disclosure"],
     ["Service providers", "Affiliates", "Legal requirements", "Business transfers", "With your consent"]),
    ("cookies", False, ["Cookies and Similar Technologies", "Cookies and Tracking", "Our Use of Cookies"],
     ["Strictly necessary cookies", "Analytics cookies", "Advertising cookies", "Managing cookies"]),
    ("ads", False, ["Advertising", "Interest-Based Advertising", "Personalized Ads"], []),
    ("rights", True, ["Your Rights and Choices", "Your Privacy Rights", "Your Choices", "Exercising Your Rights"],
     ["Access and portability", "Correction and deletion", "Objection and restriction", "Verifying requests"]),
    ("retention", True, ["Data Retention", "How Long We Keep Your Data", "Retention of Personal Information"],
     []),
    ("security", True, ["Security", "How We Protect Your Information", "Data Security"], []),
    ("transfers", False, ["International Data Transfers", "Cross-Border Transfers",
                          "Transfers Outside Your Country"], []),
    ("children", False, ["Children's Privacy", "Children", "Information from Minors"], []),
    ("us_states", False, ["Notice to California Residents", "Additional Information for US Residents",
                          "US State Privacy Rights"], ["Categories collected", "Sale and sharing",
                                                       "Sensitive personal information", "Authorized agents"]),
    ("eea", False, ["Additional Information for the EEA and UK", "European Privacy Rights", "GDPR Notice"], []),
    ("third_party", False, ["Third-Party Services", "Links to Other Websites", "Third-Party Links and Integrations"],
     []),
    ("signals", False, ["Do Not Track", "Global Privacy Control", "Browser Signals"], []),
    ("automated", False, ["Automated Decision-Making", "Profiling", "Artificial Intelligence Features"], []),
    ("marketing", False, ["Marketing Communications", "Your Communication Preferences", "Emails and Notifications"],
     []),
    ("applicants", False, ["Job Applicants", "Candidates and Recruitment"], []),
    ("dpo", False, ["Data Protection Officer", "Our EU Representative", "Controller Information"], []),
    ("changes", True, ["Changes to This Policy", "Updates to This Privacy Notice", "Policy Changes"], []),
    ("contact", True, ["Contact Us", "How to Contact Us", "Questions and Complaints"], []),
]
STREETS = ["Market Street", "Main Street", "Harbour Road", "King Street", "Elm Avenue", "Station Road",
           "Innovation Way", "Riverside Drive", "Mill Lane", "Oak Boulevard"]
CITIES = ["San Francisco, CA 94105", "Dublin 2, Ireland", "London EC2A 4NE", "Austin, TX 78701",
          "Amsterdam 1017", "Berlin 10115", "Toronto, ON M5V", "Seattle, WA 98101", "Luxembourg L-2453",
          "Sydney NSW 2000"]
NAV_MENUS = ["Products", "Solutions", "Pricing", "Resources", "Company", "Support", "Developers", "Partners"]
NAV_WORDS = ["Overview", "Features", "Integrations", "Enterprise", "Small business", "Customers", "Blog",
             "Guides", "Webinars", "Careers", "Press", "Investors", "Status", "Help center", "Community",
             "Documentation", "API reference", "Security", "Trust center", "Accessibility", "Sustainability",
             "Events", "Contact sales", "Download", "Changelog", "Templates", "Case studies", "Newsroom"]
FOOTER_HEADS = ["Company", "Product", "Resources", "Legal", "Support", "Community"]
LEGAL_LINKS = ["Privacy Policy", "Terms of Service", "Cookie Policy", "Cookie settings", "Accessibility",
               "Do Not Sell or Share My Personal Information", "Modern Slavery Statement", "Imprint",
               "Acceptable Use Policy", "Data Processing Addendum", "Sub-processors", "Law Enforcement Guidelines"]
LANGUAGES = ["English", "Deutsch", "Français", "Español", "Italiano", "Português", "Nederlands", "日本語", "한국어"]
CSS_PROPS = ["margin", "padding", "color", "background", "font-size", "line-height", "border", "display",
             "max-width", "letter-spacing", "font-weight", "grid-template-columns", "gap", "transition"]
CSS_VALUES = ["0", "1rem", "0 auto", "#1a1a2e", "#f4f4f8", "14px", "1.6", "1px solid #ddd", "flex", "72ch",
              ".02em", "600", "repeat(4, 1fr)", "24px", "opacity .2s ease", "block", "none", "#0b5fff"]
EPOCH = datetime.date(2023, 1, 1)  # "last updated" dates count days from here
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def _slug(text: str) -> str:
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(filter(None, out.split("-")))


class PageWriter:
    """Writes one policy page. All randomness comes from string-seeded ``random.Random`` objects
    (hashed with SHA-512, so independent of PYTHONHASHSEED): same (seed, page, revision) → same bytes."""

    def __init__(self, seed: int, index: int, target_bytes: int):
        self.seed, self.index = seed, index
        rng = random.Random(f"{seed}:page:{index}")
        self.rng = rng
        self.company = f"{rng.choice(COMPANY_FIRST)} {rng.choice(COMPANY_SECOND)}"
        self.domain = _slug(self.company).replace("-", "") + rng.choice([".com", ".io", ".net", ".co.uk", ".de"])
        self.slug = f"{_slug(self.company)}-{index:05d}"
        # Each page uses its own subset of the vocabulary, so pages differ in more than names.
        self.vocab = {name: rng.sample(pool, max(4, int(len(pool) * rng.uniform(0.45, 0.8))))
                      for name, pool in (("data", DATA), ("purpose", PURPOSES), ("third", THIRD), ("right", RIGHTS),
                                         ("region", REGIONS), ("period", PERIODS), ("event", EVENTS),
                                         ("basis", BASES), ("sec", SECURITY), ("action", ACTIONS),
                                         ("adj", ADJECTIVES), ("pref", PREFERENCES),
                                         ("templates", GENERAL_TEMPLATES))}
        self.svc = rng.choice(SERVICE_WORDS)
        self.users = rng.choice(USER_WORDS)
        self.pi = rng.choice(PI_WORDS)
        self.street = f"{rng.randint(1, 999)} {rng.choice(STREETS)}"
        self.city = rng.choice(CITIES)
        self.age = rng.choice([13, 16, 18])
        self.numbered = rng.random() < 0.5
        self.back_to_top = rng.random() < 0.4
        self.banner = rng.choice(["onetrust", "cookiebot", "didomi", "custom"])
        required = [t for t in TOPICS if t[1]]
        optional = [t for t in TOPICS if not t[1]]
        count = rng.randint(10, 20)
        chosen = {t[0] for t in required} | {t[0] for t in rng.sample(optional, max(0, count - len(required)))}
        self.topics = [(key, rng.choice(headings), subs) for key, _, headings, subs in TOPICS if key in chosen]
        self.table_topic = rng.choice([k for k, _, _ in self.topics if k in ("collect", "retention", "cookies",
                                                                              "us_states", "share")])
        self.target_bytes = target_bytes
        self.base_day = rng.randint(0, 540)  # "last updated" of revision 0: 2023-01-01 + base_day

    # -- text -------------------------------------------------------------------------------------
    def _fill(self, rng: random.Random, template: str) -> str:
        v = self.vocab

        def pick(name: str) -> str:
            return rng.choice(v[name])

        data, data2 = rng.sample(v["data"], 2)
        third, third2 = rng.sample(v["third"], 2)
        sec, sec2, sec3 = rng.sample(v["sec"], 3)
        values = {
            "data": data, "data2": data2, "Data": data[:1].upper() + data[1:], "third": third, "third2": third2,
            "Third": third[:1].upper() + third[1:], "purpose": pick("purpose").format(svc=self.svc),
            "purpose2": pick("purpose").format(svc=self.svc), "right": pick("right"), "region": pick("region"),
            "period": pick("period"), "period2": rng.choice(["30 days", "45 days", "one month", "60 days"]),
            "event": pick("event"), "basis": pick("basis"), "sec": sec, "sec2": sec2, "sec3": sec3,
            "action": pick("action"), "adj": pick("adj"), "pref": pick("pref"), "close": rng.choice(CLOSINGS),
            "co": self.company, "svc": self.svc, "users": self.users, "pi": self.pi, "age": self.age,
            "street": self.street, "city": self.city, "domain": self.domain,
        }
        return template.format(**values)

    def _sentence(self, rng: random.Random, topic: str) -> str:
        own = TOPIC_TEMPLATES.get(topic)
        template = rng.choice(own) if own and rng.random() < 0.4 else rng.choice(self.vocab["templates"])
        return self._fill(rng, template)

    def _paragraph(self, rng: random.Random, topic: str) -> str:
        text = " ".join(self._sentence(rng, topic) for _ in range(rng.randint(2, 6)))
        return f"<p>{html.escape(text, quote=False)}</p>\n"

    def _list(self, rng: random.Random, topic: str) -> str:
        tag = "ol" if rng.random() < 0.25 else "ul"
        items = []
        for _ in range(rng.randint(3, 8)):
            lead = rng.choice(self.vocab["data"] if topic in ("collect", "retention") else self.vocab["purpose"])
            lead = lead.format(svc=self.svc)
            lead = lead[:1].upper() + lead[1:]
            body = html.escape(self._sentence(rng, topic), quote=False)
            items.append(f'<li><strong>{html.escape(lead)}.</strong> {body}</li>' if rng.random() < 0.6
                         else f"<li>{body}</li>")
        return f"<{tag}>\n" + "\n".join(items) + f"\n</{tag}>\n"

    def _table(self, rng: random.Random, topic: str) -> str:
        if topic == "cookies":
            head = ["Cookie", "Provider", "Purpose", "Expiry"]
            rows = [[f"_{rng.choice(['ga', 'gid', 'fbp', 'sess', 'csrf', 'pref', 'ab', 'uid'])}{rng.randint(1, 99)}",
                     rng.choice(self.vocab["third"]), rng.choice(self.vocab["purpose"]).format(svc=self.svc),
                     rng.choice(["Session", "30 days", "13 months", "1 year", "2 years"])]
                    for _ in range(rng.randint(5, 10))]
        else:
            head = ["Category", "Examples", "Source", "Retention"]
            rows = [[rng.choice(["Identifiers", "Commercial information", "Internet activity", "Geolocation",
                                 "Professional information", "Inferences", "Sensitive information",
                                 "Audio and visual information", "Financial information"]),
                     ", ".join(rng.sample(self.vocab["data"], 3)), rng.choice(["You", "Your device", "Partners",
                                                                                 "Public sources"]),
                     rng.choice(self.vocab["period"])]
                    for _ in range(rng.randint(5, 10))]
        caption = "Categories of personal information" if topic != "cookies" else "Cookies we use"
        out = [f'<table class="policy-table">\n<caption>{caption}</caption>\n<thead><tr>']
        out += [f"<th scope=\"col\">{h}</th>" for h in head]
        out.append("</tr></thead>\n<tbody>\n")
        for row in rows:
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n")
        out.append("</tbody>\n</table>\n")
        return "".join(out)

    def _section(self, number: int, topic: str, heading: str, subs: list[str], revision: int,
                 budget: int) -> str:
        rng = random.Random(f"{self.seed}:section:{self.index}:{number}:{revision}")
        title = f"{number}. {heading}" if self.numbered else heading
        anchor = _slug(heading)
        out = [f'<section id="{anchor}" class="policy-section">\n<h2>{html.escape(title)}</h2>\n']
        size = len(out[0])
        if topic == self.table_topic:
            table = self._table(rng, topic)
            out.append(self._paragraph(rng, topic))
            out.append(table)
            size += len(out[-1]) + len(out[-2])
        available = list(subs)
        rng.shuffle(available)
        lists = 0
        while size < budget:
            roll = rng.random() if len(out) > 1 else 1.0  # a section opens with a paragraph
            if available and roll < 0.18:
                sub = available.pop()
                chunk = f"<h3>{html.escape(sub[:1].upper() + sub[1:])}</h3>\n" + self._paragraph(rng, topic)
            elif roll < 0.36 and lists < 2:
                lists += 1
                chunk = self._list(rng, topic)
            else:
                chunk = self._paragraph(rng, topic)
            out.append(chunk)
            size += len(chunk)
        if self.back_to_top:
            out.append('<p class="back-to-top"><a href="#top">Back to top</a></p>\n')
        out.append("</section>\n")
        return "".join(out)

    # -- chrome -----------------------------------------------------------------------------------
    def _head(self, rng: random.Random) -> str:
        css = []
        for i in range(rng.randint(45, 70)):
            props = "; ".join(f"{rng.choice(CSS_PROPS)}: {rng.choice(CSS_VALUES)}" for _ in range(rng.randint(2, 5)))
            css.append(f".{rng.choice(['c', 'u', 'x', 'lp', 'ui'])}-{rng.randrange(16 ** 5):05x}-{i} {{ {props} }}")
        flags = {f"feature_{rng.randrange(16 ** 4):04x}": rng.random() < 0.5 for _ in range(rng.randint(25, 45))}
        app_config = json.dumps({"flags": flags, "locale": "en-US", "build": rng.randrange(10 ** 6)})
        ld = {"@context": "https://schema.org", "@type": "WebPage", "name": f"{self.company} Privacy Policy",
              "publisher": {"@type": "Organization", "name": self.company, "url": f"https://www.{self.domain}/",
                            "logo": f"https://www.{self.domain}/static/logo.svg"}}
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>Privacy Policy | {html.escape(self.company)}</title>\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="description" content="Learn how {html.escape(self.company)} collects, uses and shares '
            'your personal information.">\n'
            f'<meta property="og:title" content="{html.escape(self.company)} Privacy Policy">\n'
            f'<meta property="og:url" content="https://www.{self.domain}/legal/privacy">\n'
            f'<link rel="canonical" href="https://www.{self.domain}/legal/privacy">\n'
            + "".join(f'<link rel="stylesheet" href="/static/css/{name}.{rng.randrange(16 ** 8):08x}.css">\n'
                      for name in ("main", "legal", "consent"))
            + "".join(f'<link rel="alternate" hreflang="{lang}" href="https://www.{self.domain}/{lang}/legal/privacy">\n'
                      for lang in ("de", "fr", "es", "it", "ja", "pt-br"))
            + "<style>\n" + "\n".join(css) + "\n</style>\n"
            + '<script type="application/ld+json">' + json.dumps(ld) + "</script>\n"
            + "<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}\n"
            f"gtag('js', new Date()); gtag('config', 'G-{rng.randrange(36 ** 8):X}', {{ anonymize_ip: true }});\n"
            f"window.__APP_CONFIG__ = {app_config};"
            "\n</script>\n</head>\n"
        )

    def _link(self, rng: random.Random, text: str) -> str:
        return f'<a href="/{_slug(text)}?ref=nav_{rng.randrange(1000)}">{html.escape(text)}</a>'

    def _header(self, rng: random.Random) -> str:
        menus = rng.sample(NAV_MENUS, rng.randint(5, 7))
        nav = []
        for menu in menus:
            links = "".join(f"<li>{self._link(rng, w)}</li>" for w in rng.sample(NAV_WORDS, rng.randint(5, 8)))
            nav.append(f'<li class="menu"><button aria-expanded="false">{menu}</button><ul class="submenu">{links}'
                       "</ul></li>")
        return (
            '<body class="legal-page" id="top">\n<a class="skip-link" href="#main">Skip to main content</a>\n'
            '<header class="site-header">\n'
            f'<a class="logo" href="/"><img src="/static/logo.svg" alt="{html.escape(self.company)}"></a>\n'
            '<nav class="main-nav" aria-label="Main"><ul>\n' + "\n".join(nav) + "\n</ul></nav>\n"
            '<form class="search" role="search" action="/search"><input type="search" name="q" '
            'placeholder="Search"><button type="submit">Search</button></form>\n'
            '<a class="button" href="/login">Sign in</a> <a class="button primary" href="/signup">Get started</a>\n'
            "</header>\n"
        )

    def _banner(self, rng: random.Random) -> str:
        text = (f"{self.company} and our partners use cookies and similar technologies to "
                f"{rng.choice(self.vocab['purpose']).format(svc=self.svc)}, to measure audiences and to "
                "personalize advertising. You can accept all cookies, reject non-essential cookies, or choose "
                "which categories you allow. You can change your mind at any time in Cookie settings.")
        buttons = ('<button class="accept">Accept all</button><button class="reject">Reject all</button>'
                   '<button class="settings">Cookie settings</button>')
        if self.banner == "onetrust":
            return (f'<div id="onetrust-consent-sdk"><div id="onetrust-banner-sdk" class="otFlat" role="dialog" '
                    f'aria-label="Cookie banner"><div id="onetrust-policy"><p id="onetrust-policy-text">{text} '
                    f'<a href="/legal/cookies">Cookie Policy</a></p></div>{buttons}</div></div>\n')
        if self.banner == "cookiebot":
            return (f'<div id="CybotCookiebotDialog" role="dialog" aria-modal="true"><h2>This website uses '
                    f'cookies</h2><div id="CybotCookiebotDialogBodyText">{text}</div>{buttons}</div>\n')
        if self.banner == "didomi":
            return (f'<div id="didomi-host" class="didomi-notice-banner"><div class="didomi-notice-text">{text}'
                    f'</div>{buttons}</div>\n')
        return (f'<div class="cookie-consent-banner" role="region" aria-label="Cookie consent"><p>{text}</p>'
                f"{buttons}</div>\n")

    def _sidebar(self, rng: random.Random) -> str:
        toc = "".join(f'<li><a href="#{_slug(h)}">{html.escape(h)}</a></li>' for _, h, _ in self.topics)
        related = "".join(f"<li>{self._link(rng, t)}</li>" for t in rng.sample(LEGAL_LINKS, 6))
        return ('<aside class="sidebar">\n<nav class="toc" aria-label="On this page"><h2>On this page</h2><ul>'
                + toc + '</ul></nav>\n<div class="related"><h2>Related documents</h2><ul>' + related
                + "</ul></div>\n</aside>\n")

    def _footer(self, rng: random.Random) -> str:
        cols = []
        for head in rng.sample(FOOTER_HEADS, 4):
            pool = LEGAL_LINKS if head == "Legal" else NAV_WORDS
            links = "".join(f"<li>{self._link(rng, t)}</li>" for t in rng.sample(pool, rng.randint(5, 8)))
            cols.append(f'<div class="footer-col"><h3>{head}</h3><ul>{links}</ul></div>')
        social = "".join(f'<a href="https://{s}.com/{_slug(self.company)}" aria-label="{s}">{s}</a> '
                         for s in ("twitter", "linkedin", "facebook", "instagram", "youtube"))
        langs = "".join(f'<option value="{i}">{lang}</option>' for i, lang in enumerate(LANGUAGES))
        return (
            '<footer class="site-footer">\n<div class="footer-cols">' + "".join(cols) + "</div>\n"
            f'<div class="social">{social}</div>\n'
            f'<label>Language <select name="lang">{langs}</select></label>\n'
            f"<p class=\"copyright\">&copy; {2019 + rng.randrange(6)}-2025 {html.escape(self.company)}, Inc. "
            "All rights reserved.</p>\n</footer>\n"
            f'<script src="/static/js/consent.{rng.randrange(16 ** 8):08x}.js" async></script>\n'
            "<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':new Date().getTime(),event:'gtm.js'});"
            "var f=d.getElementsByTagName(s)[0],j=d.createElement(s);j.async=true;"
            f"j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);}})"
            f"(window,document,'script','dataLayer','GTM-{rng.randrange(36 ** 6):X}');</script>\n"
            "</body>\n</html>\n"
        )

    # -- the page ---------------------------------------------------------------------------------
    def render(self, revisions: dict[int, int], updated_day: int, churn: int = 0) -> bytes:
        """The page with ``revisions`` (section number → revision; absent = 0). ``churn`` draws the
        per-request tokens a real site serves anew every time (a CSRF field, a request id, a build
        hash, a CSP nonce): the bytes change, the text does not."""
        chrome_rng = random.Random(f"{self.seed}:chrome:{self.index}")
        head = self._head(chrome_rng)
        header = self._header(chrome_rng)

        banner = self._banner(chrome_rng)
        sidebar = self._sidebar(chrome_rng)
        footer = self._footer(chrome_rng)
        day = EPOCH + datetime.timedelta(days=updated_day)
        updated = f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
        intro_rng = random.Random(f"{self.seed}:intro:{self.index}")
        intro = (f'<main id="main"><article class="policy">\n<h1>{html.escape(self.company)} Privacy Policy</h1>\n'
                 f'<p class="last-updated">Last updated: {updated}</p>\n'
                 + self._paragraph(intro_rng, "intro") + self._paragraph(intro_rng, "intro"))
        fixed = len(head) + len(header) + len(banner) + len(sidebar) + len(footer) + len(intro) + 40
        # A section stops growing once over its budget: on average half a chunk (~330 bytes) over.
        budget = max(800, (self.target_bytes - fixed) // len(self.topics) - 330)
        sections = [self._section(n, key, heading, subs, revisions.get(n, 0), budget)
                    for n, (key, heading, subs) in enumerate(self.topics, 1)]
        # The tokens go in after the sizes are settled: they change no text.
        token_rng = random.Random(f"{self.seed}:churn:{self.index}:{churn}")
        # fixed-length, as real ones are (a 128-bit CSRF token in hex, a UUID-sized request id, a nonce)
        token, request_id, nonce = (f"{token_rng.getrandbits(bits):0{bits // 4}x}" for bits in (128, 64, 48))
        stamp = token_rng.randrange(10 ** 12, 10 ** 13)
        head = head.replace("</head>\n", f'<meta name="csrf-token" content="{token}">\n'
                            f'<script nonce="{nonce}">window.__REQUEST_ID__ = "{request_id}"; '
                            f'window.__SESSION__ = {{"csrf": "{token}", "t": {stamp}}};'
                            "</script>\n</head>\n")
        header = header.replace('<input type="search" name="q" ',
                                f'<input type="hidden" name="authenticity_token" value="{token}">'
                                '<input type="search" name="q" ')
        page = head + header + banner + intro + "".join(sections) + "</article></main>\n" + sidebar + footer
        return page.encode("utf-8")


# ------------------------------------------------------------------------------------------------
# The site: pages, their revisions, validators, and the loopback servers.
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rendition:
    """One revision of a page as served: swapped whole, so a request never sees half of a change."""

    body: bytes
    gz: bytes
    etag: str
    last_modified: str
    last_modified_ts: float


@dataclass
class Page:
    index: int
    host: int  # index into Site.hosts
    path: str
    name: str
    writer: PageWriter
    revisions: dict[int, int] = field(default_factory=dict)
    updated_day: int = 0
    churn: int = 0
    served: Rendition | None = None

    def build(self, last_modified_ts: float) -> None:
        body = self.writer.render(self.revisions, self.updated_day, self.churn)
        # Validators and gzip are computed once per revision, as a static site or CDN would.
        ts = float(int(last_modified_ts))
        self.served = Rendition(body=body, gz=gzip.compress(body, 6, mtime=0),
                                etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
                                last_modified=email.utils.formatdate(ts, usegmt=True), last_modified_ts=ts)

    @property
    def body(self) -> bytes:
        assert self.served is not None
        return self.served.body

    @property
    def gz(self) -> bytes:
        assert self.served is not None
        return self.served.gz

    @property
    def etag(self) -> str:
        assert self.served is not None
        return self.served.etag


class Site:
    def __init__(self, pages: int, hosts: int, seed: int, page_kb: float):
        self.seed = seed
        self.hosts: list[tuple[str, int]] = []  # (address, port), filled by start()
        self.host_count = hosts
        self.pages: list[Page] = []
        self.lookup: dict[tuple[int, str], Page] = {}
        self.stats: Counter = Counter()
        self.lock = threading.Lock()
        size_rng = random.Random(f"{seed}:sizes")
        for i in range(pages):
            writer = PageWriter(seed, i, int(page_kb * 1000 * size_rng.uniform(0.92, 1.08)))
            page = Page(index=i, host=i % hosts, path=f"/{writer.slug}/legal/privacy-policy",
                        name=f"{writer.company} Privacy Policy ({i})", writer=writer)
            self.pages.append(page)
            self.lookup[(page.host, page.path)] = page
        self.reset()

    def reset(self) -> None:
        """Every page back to revision 0, published on its own date."""
        for page in self.pages:
            page.revisions = {}
            page.churn = 0
            page.updated_day = page.writer.base_day
            published = EPOCH + datetime.timedelta(days=page.updated_day)
            page.build(calendar.timegm((published.year, published.month, published.day, 9, 0, 0)))

    def change(self, fraction: float) -> list[int]:
        """Change the text of one section in ``fraction`` of the pages; return their indexes."""
        rng = random.Random(f"{self.seed}:change:{sum(sum(p.revisions.values()) for p in self.pages)}")
        count = max(1, round(len(self.pages) * fraction)) if fraction > 0 else 0
        chosen = sorted(rng.sample(range(len(self.pages)), count))
        now = time.time()
        for index in chosen:
            page = self.pages[index]
            section = rng.randint(1, len(page.writer.topics))
            page.revisions[section] = page.revisions.get(section, 0) + 1
            page.updated_day += rng.randint(30, 400)
            old = page.etag
            page.build(now)
            assert page.etag != old
        return chosen

    def churn(self) -> None:
        """New per-request tokens in every page: every page's bytes change, no text does."""
        now = time.time()
        for page in self.pages:
            page.churn += 1
            old = page.etag
            page.build(now)
            assert page.etag != old

    def url(self, page: Page) -> str:
        address, port = self.hosts[page.host]
        return f"http://{address}:{port}{page.path}"

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    def snapshot(self) -> Counter:
        with self.lock:
            return Counter(self.stats)


def _etag_matches(header: str, etag: str) -> bool:
    header = header.strip()
    if header == "*":
        return True
    want = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == want for tag in header.split(","))


class PolicyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.24.0"
    sys_version = ""
    # Headers and body leave in one send() (the buffer is flushed after each request), and
    # TCP_NODELAY is set, as nginx does on keep-alive connections. Without both, a keep-alive
    # client waits ~40 ms per response: Nagle holds the body back until the client's delayed
    # ACK of the headers.
    wbufsize = 1 << 20
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_HEAD(self):
        self._serve(send_body=False)

    def do_GET(self):
        self._serve(send_body=True)

    def _serve(self, send_body: bool) -> None:
        site: Site = self.server.site  # type: ignore[attr-defined]
        page = site.lookup.get((self.server.host_index, self.path.split("?", 1)[0]))  # type: ignore[attr-defined]
        if page is None:
            site.count("404")
            body = b"<html><body><h1>404 Not Found</h1></body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)
            return
        served = page.served
        assert served is not None
        etag, last_modified, ts = served.etag, served.last_modified, served.last_modified_ts
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:  # RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since
            not_modified = _etag_matches(inm, etag)
        elif ims:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                since = None
            not_modified = since is not None and ts <= since
        else:
            not_modified = False
        common = [("ETag", etag), ("Last-Modified", last_modified), ("Cache-Control", "max-age=0, must-revalidate"),
                  ("Vary", "Accept-Encoding")]
        if not_modified:
            site.count("304")
            self.send_response(304)
            for name, value in common:
                self.send_header(name, value)
            self.end_headers()
            return
        site.count("200")
        use_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
        payload = served.gz if use_gzip else served.body
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        for name, value in common:
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(payload)


class PolicyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


def _loopback_aliases_work() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False


def loopback_addresses(count: int) -> list[str]:
    """127.0.0.2, 127.0.0.3, … skipping .0 and .255 addresses (count may exceed 253)."""
    out, n = [], int(ipaddress.IPv4Address("127.0.0.2"))
    while len(out) < count:
        address = ipaddress.IPv4Address(n)
        if str(address).split(".")[-1] not in ("0", "255"):
            out.append(str(address))
        n += 1
    return out


def start_servers(site: Site) -> list[PolicyServer]:
    """One threaded server per loopback address (or per port on 127.0.0.1 where aliases don't work)."""
    aliases = _loopback_aliases_work()
    addresses = loopback_addresses(site.host_count) if aliases else ["127.0.0.1"] * site.host_count
    if not aliases:
        print("note: 127.0.0.2 cannot be bound here; using one port per host on 127.0.0.1", file=sys.stderr)
    servers = []
    for index, address in enumerate(addresses):
        server = PolicyServer((address, 0), PolicyHandler)
        server.site = site  # type: ignore[attr-defined]
        server.host_index = index  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                         name=f"http-{address}").start()
        servers.append(server)
        site.hosts.append((address, server.server_address[1]))
    return servers


def stop_servers(servers: list[PolicyServer]) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------------
# Running and measuring the tools.
# ------------------------------------------------------------------------------------------------

def _proc_stat_busy() -> float | None:
    """Seconds of CPU all processes on the machine have used so far (None off Linux)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    # irq and softirq are left out: loopback traffic is handled there and charged to no process.
    user, nice, system = (int(x) for x in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    tool: str
    cycle: str
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_mb: float
    store_bytes: int
    requests: dict[str, int]
    other_cpu_s: float | None  # CPU used meanwhile by processes other than the tool and the servers
    load_before: float
    verdict: str = "ok"
    detail: dict = field(default_factory=dict)


# The tool is started by this small wrapper, not by the benchmark process itself: on Linux a
# child's ru_maxrss includes the high-water RSS of the process it was forked from (recorded
# at exec), and the benchmark process holds every page in memory (~100 MB).
RUSAGE_WRAPPER = r"""
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - started
proc.returncode = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as fh:
    json.dump({"exit_code": proc.returncode, "wall_s": wall, "maxrss": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime}, fh)
"""


def run_measured(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> tuple[int, float, float, float,
                                                                                       float | None]:
    """Run ``cmd``; return (exit code, wall s, CPU s, peak RSS MB incl. children, others' CPU s)."""
    result = log.with_suffix(".rusage.json")
    busy_before, own_before = _proc_stat_busy(), time.process_time()
    with open(log, "ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen([sys.executable, "-c", RUSAGE_WRAPPER, str(result), *cmd], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait()
        except BaseException:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise
    busy_after = _proc_stat_busy()
    figures = json.loads(result.read_text())
    wall, cpu = figures["wall_s"], figures["cpu_s"]
    peak_mb = figures["maxrss"] / 1024 if sys.platform != "darwin" else figures["maxrss"] / 1024 / 1024
    other = None
    if busy_before is not None and busy_after is not None:
        other = max(0.0, (busy_after - busy_before) - cpu - (time.process_time() - own_before))
    return figures["exit_code"], wall, cpu, peak_mb, other


def files_size(*paths: Path) -> int:
    total = 0
    for path in paths:
        for candidate in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm"), Path(str(path) + "-journal")):
            if candidate.exists():
                total += candidate.stat().st_size
    return total


def git_state() -> dict:
    """The commit and the uncommitted changes the measured policywatch came from."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD"),
            "dirty": [line for line in git("status", "--porcelain", "--", "policywatch").splitlines() if line]}


def policywatch_python() -> str:
    if importlib.util.find_spec("policywatch") is not None:
        return sys.executable
    venv = ROOT / ".venv" / "bin" / "python"
    if venv.exists():
        return str(venv)
    sys.exit("check_cycle: policywatch is not importable; run with the project's venv python "
             "(.venv/bin/python bench/check_cycle.py)")


PROFILE_WRAPPER = r"""
import cProfile, pstats, sys, threading, time
out = sys.argv[1]
sys.argv = ["policywatch"] + sys.argv[2:]
profiles = []
def _boot(frame, event, arg):
    sys.setprofile(None)
    p = cProfile.Profile(time.thread_time)
    profiles.append(p)
    p.enable()
threading.setprofile(_boot)
main = cProfile.Profile(time.thread_time)  # CPU time of each thread: waiting for the GIL or I/O is not counted
main.enable()
code = 0
try:
    from policywatch.cli import main as run
    run()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
finally:
    main.disable()
    threading.setprofile(None)
    stats = pstats.Stats(main)
    for p in profiles:
        stats.add(p)
    stats.dump_stats(out)
    with open(out[:-5] + ".txt", "w") as fh:
        s = pstats.Stats(out, stream=fh)
        fh.write("== CPU time (time.thread_time) of all threads merged, by internal time ==\n")
        s.sort_stats("tottime").print_stats(40)
        fh.write("== by cumulative time ==\n")
        s.sort_stats("cumulative").print_stats(60)
sys.exit(code)
"""


class Runner:
    def __init__(self, args: argparse.Namespace, site: Site, tmp: Path):
        self.args, self.site, self.tmp = args, site, tmp
        self.python = policywatch_python()
        self.logs = tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.watchlist = tmp / "watchlist.yaml"
        self.urls = tmp / "urlwatch" / "urls.yaml"
        self.uw_config = tmp / "urlwatch" / "urlwatch.yaml"
        self.uw_hooks = tmp / "urlwatch" / "hooks.py"  # never created: no hooks
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYWATCH_", "PYTHONPROFILE"))}
        self.env.update({"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
                         "XDG_CACHE_HOME": str(self.home / ".cache"), "XDG_DATA_HOME": str(self.home / ".local"),
                         "NO_COLOR": "1", "PYTHONWARNINGS": "ignore"})
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            self.env.pop(key, None)
        self.env["NO_PROXY"] = self.env["no_proxy"] = "127.0.0.0/8,localhost"
        # Both tools run with cached byte code, as installed software does, without writing into the
        # project tree: the caches live under the temp dir and are filled by warm_up().
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        self.urlwatch: str | None = None
        self.write_job_files()

    # -- job files --------------------------------------------------------------------------------
    def write_job_files(self) -> None:
        lines = [
            "# generated by bench/check_cycle.py",
            "defaults:",
            "  tags: [bench]",
            "policies:",
        ]
        for page in self.site.pages:
            lines += [f"  - id: {page.writer.slug}", f"    name: {json.dumps(page.name)}",
                      f"    url: {self.site.url(page)}"]
        self.watchlist.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.urls.parent.mkdir(parents=True, exist_ok=True)
        # urlwatch as people run it on policy pages: the main element, as text (its html2text filter)
        filters = "filter:\n  - css: main\n  - html2text\n" if not self.args.urlwatch_raw else ""
        jobs = [f"name: {json.dumps(page.name)}\nurl: {json.dumps(self.site.url(page))}\n{filters}"
                for page in self.site.pages]
        self.urls.write_text("---\n".join(jobs), encoding="utf-8")
        # JSON is YAML: urlwatch merges this over its defaults. No reporter prints or sends anything.
        config = {
            "display": {"new": False, "error": True, "unchanged": False, "empty-diff": False},
            "report": {"stdout": {"enabled": False, "color": False}, "email": {"enabled": False},
                       "html": {"diff": "unified", "separate": False}},
        }
        self.uw_config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        os.chmod(self.urls, 0o600)
        os.chmod(self.uw_config, 0o600)

    # -- urlwatch ---------------------------------------------------------------------------------
    def ensure_urlwatch(self) -> str:
        venv = OUT / "urlwatch-venv"
        exe = venv / "bin" / "urlwatch"
        if not exe.exists():
            print(f"installing urlwatch into {venv} …", file=sys.stderr)
            base = getattr(sys, "_base_executable", sys.executable)
            subprocess.run([base, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", URLWATCH_SPEC, "html2text",
                            "cssselect"], check=True)
        version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True,
                                 env=self.env).stdout.strip()
        self.urlwatch = str(exe)
        return version

    def warm_up(self) -> None:
        """One untimed check of one page with each tool: byte-code caches and the OS page cache."""
        warm = self.tmp / "warmup"
        warm.mkdir(exist_ok=True)
        page = self.site.pages[0]
        (warm / "watchlist.yaml").write_text(f"policies:\n  - id: warmup\n    url: {self.site.url(page)}\n")
        (warm / "urls.yaml").write_text(f"name: warmup\nurl: {json.dumps(self.site.url(page))}\n")
        (warm / "urlwatch.yaml").write_text(self.uw_config.read_text())
        with open(self.logs / "warmup.log", "ab") as log:
            subprocess.run([self.python, "-m", "policywatch", "--db", str(warm / "pw.db"), "--watchlist",
                            str(warm / "watchlist.yaml"), "check"], cwd=warm, env=self.env, stdout=log, stderr=log,
                           check=True)
            if self.urlwatch:
                subprocess.run([self.urlwatch, "--urls", str(warm / "urls.yaml"), "--config",
                                str(warm / "urlwatch.yaml"), "--hooks", str(warm / "hooks.py"), "--cache",
                                str(warm / "cache.db")], cwd=warm, env=self.env, stdout=log, stderr=log, check=True)

    # -- one cycle of one tool --------------------------------------------------------------------
    def _measure(self, tool: str, cycle: str, cmd: list[str], store: Path, log: Path) -> Measurement:
        before = self.site.snapshot()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        code, wall, cpu, peak, other = run_measured(cmd, cwd=self.tmp, env=self.env, log=log)
        after = self.site.snapshot()
        requests = {k: after[k] - before[k] for k in ("200", "304", "404")}
        return Measurement(tool=tool, cycle=cycle, exit_code=code, wall_s=wall, cpu_s=cpu, peak_mb=peak,
                           store_bytes=files_size(store), requests=requests, other_cpu_s=other, load_before=load)

    def _expect(self, m: Measurement, changed: int) -> None:
        n = len(self.site.pages)
        want = {"first": {"200": n, "304": 0}, "unchanged": {"200": 0, "304": n}, "churned": {"200": n, "304": 0},
                "changed": {"200": changed, "304": n - changed}}[m.cycle]
        if m.tool == "urlwatch" and m.cycle == "changed" and not self.args.urlwatch_raw:
            # urlwatch keeps a page's old ETag while its filtered text is unchanged: after the churned
            # cycle every request of the next one is unconditional again.
            want = {"200": n, "304": 0}
        problems = [f"{k}: {m.requests.get(k, 0)} answers, expected {v}" for k, v in want.items()
                    if m.requests.get(k, 0) != v]
        if m.requests.get("404"):
            problems.append(f"{m.requests['404']} requests for unknown paths")
        if m.exit_code != 0:
            problems.append(f"exit code {m.exit_code}")
        if problems:
            m.verdict = "; ".join(problems)

    def policywatch(self, cycle: str, db: Path, changed: int, rep: int, profile: Path | None = None) -> Measurement:
        args = ["--db", str(db), "--watchlist", str(self.watchlist), "check", "--workers", str(self.args.workers)]
        if profile is None:
            cmd = [self.python, "-m", "policywatch", *args]
        else:
            cmd = [self.python, "-c", PROFILE_WRAPPER, str(profile), *args]
        m = self._measure("policywatch", cycle, cmd, db, self.logs / f"policywatch-{rep}-{cycle}.log")
        self._expect(m, changed)
        try:
            with sqlite3.connect(db) as conn:
                counts = json.loads(conn.execute("SELECT counts FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])
                versions = conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
            conn.close()
        except (sqlite3.Error, TypeError) as exc:
            counts, versions = {"error": str(exc)}, None
        n = len(self.site.pages)
        want = {"first": {"new": n}, "unchanged": {"unchanged": n}, "churned": {"unchanged": n},
                "changed": {"changed": changed, "unchanged": n - changed}}[cycle]
        wrong = {k: counts.get(k) for k, v in want.items() if counts.get(k) != v}
        if wrong:
            note = f"outcomes {counts} (expected {want})"
            m.verdict = note if m.verdict == "ok" else m.verdict + "; " + note
        m.detail = {"outcomes": {k: v for k, v in counts.items() if v}, "versions": versions,
                    "log": f"policywatch-{rep}-{cycle}.log"}
        return m

    def urlwatch_cycle(self, cycle: str, cache: Path, changed: int, rep: int) -> Measurement:
        assert self.urlwatch
        cmd = [self.urlwatch, "--urls", str(self.urls), "--config", str(self.uw_config), "--hooks",
               str(self.uw_hooks), "--cache", str(cache)]
        log = self.logs / f"urlwatch-{rep}-{cycle}.log"
        m = self._measure("urlwatch", cycle, cmd, cache, log)
        self._expect(m, changed)
        output = log.read_text(errors="replace").splitlines()[1:]
        m.detail = {"output_lines": len(output), "log": log.name}
        if any("Traceback" in line or "ERROR" in line for line in output):
            m.verdict = ("errors in output; " + m.verdict) if m.verdict != "ok" else "errors in output"
        try:
            with sqlite3.connect(cache) as conn:
                m.detail["cache_entries"] = conn.execute("SELECT COUNT(*) FROM CacheEntry").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            pass
        return m


# ------------------------------------------------------------------------------------------------
# Report.
# ------------------------------------------------------------------------------------------------

def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(runs: list[dict[str, dict[str, Measurement]]], skip_urlwatch: bool) -> list[dict]:
    rows = []
    for cycle in CYCLES:
        pw = [r["policywatch"][cycle] for r in runs]
        uw = [] if skip_urlwatch else [r["urlwatch"][cycle] for r in runs]
        row = {
            "cycle": cycle,
            "policywatch_wall_s": _median([m.wall_s for m in pw]),
            "policywatch_wall_range_s": [min(m.wall_s for m in pw), max(m.wall_s for m in pw)],
            "policywatch_cpu_s": _median([m.cpu_s for m in pw]),
            "policywatch_peak_mb": max(m.peak_mb for m in pw),
            "policywatch_db_bytes": pw[-1].store_bytes,
            "policywatch_ok": all(m.verdict == "ok" for m in pw),
        }
        if uw:
            row.update({
                "urlwatch_wall_s": _median([m.wall_s for m in uw]),
                "urlwatch_wall_range_s": [min(m.wall_s for m in uw), max(m.wall_s for m in uw)],
                "urlwatch_cpu_s": _median([m.cpu_s for m in uw]),
                "urlwatch_peak_mb": max(m.peak_mb for m in uw),
                "urlwatch_cache_bytes": uw[-1].store_bytes,
                "urlwatch_ok": all(m.verdict == "ok" for m in uw),
            })
            row["ratio"] = row["policywatch_wall_s"] / row["urlwatch_wall_s"]
            # each run's own ratio (the tools run side by side in it): how much the median can be trusted
            ratios = [r["policywatch"][cycle].wall_s / r["urlwatch"][cycle].wall_s for r in runs]
            row["ratio_range"] = [min(ratios), max(ratios)]
        goal = GOALS.get(f"{cycle}_ratio")
        row["ratio_goal"] = goal
        row["ratio_goal_met"] = None if goal is None or "ratio" not in row else row["ratio"] <= goal
        row["peak_goal_met"] = row["policywatch_peak_mb"] <= GOALS["peak_mb"]
        rows.append(row)
    return rows


def print_table(rows: list[dict], skip_urlwatch: bool, repeats: int) -> None:
    mb = 1024 * 1024

    def mark(ok: bool | None) -> str:
        return "" if ok is None else ("ok" if ok else "MISSED")

    head = (f"{'cycle':<10} {'policywatch s':>13} {'urlwatch s':>10} {'ratio pw/uw':>11}  {'ratio goal':<14}"
            f" {'pw peak MB':>10} {'uw peak MB':>10}  {'peak goal':<13} {'pw db MB':>8} {'uw cache MB':>11}"
            f" {'pw cpu s':>8} {'uw cpu s':>8}")
    print()
    print(f"check cycle, wall time = median of {repeats} run(s); peak RSS = max; sizes after the cycle")
    print("(the spread of each run's own ratio is printed below the table)")
    print(head)
    print("-" * len(head))
    for r in rows:
        uw = not skip_urlwatch
        ratio = f"{r['ratio']:.2f}" if uw else "-"
        goal = (f"<= {r['ratio_goal']:g}x {mark(r['ratio_goal_met'])}" if r["ratio_goal"] is not None and uw
                else ("-" if r["ratio_goal"] is None else f"<= {r['ratio_goal']:g}x"))
        peak_goal = f"<= {GOALS['peak_mb']:g} {mark(r['peak_goal_met'])}"
        print(f"{r['cycle']:<10} {r['policywatch_wall_s']:>13.2f} "
              f"{(format(r['urlwatch_wall_s'], '.2f') if uw else '-'):>10} {ratio:>11}  {goal:<14}"
              f" {r['policywatch_peak_mb']:>10.1f} {(format(r['urlwatch_peak_mb'], '.1f') if uw else '-'):>10}"
              f"  {peak_goal:<13} {r['policywatch_db_bytes'] / mb:>8.1f}"
              f" {(format(r['urlwatch_cache_bytes'] / mb, '.1f') if uw else '-'):>11}"
              f" {r['policywatch_cpu_s']:>8.2f} {(format(r['urlwatch_cpu_s'], '.2f') if uw else '-'):>8}")
    print()
    for r in rows:
        low, high = r["policywatch_wall_range_s"]
        spread = f"{r['cycle']:<10} policywatch {low:.2f}-{high:.2f} s"
        if "ratio_range" in r:
            spread += (f", urlwatch {r['urlwatch_wall_range_s'][0]:.2f}-{r['urlwatch_wall_range_s'][1]:.2f} s,"
                       f" ratio per run {r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}")
        print(spread)
    print()


# ------------------------------------------------------------------------------------------------
# Main.
# ------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time policywatch's check cycle (first, unchanged, churned, 10% changed) against urlwatch on "
                    "realistic privacy-policy pages served on loopback.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pages", type=int, default=1000, help="number of pages (one URL each)")
    parser.add_argument("--hosts", type=int, default=40,
                        help="number of loopback hosts (127.0.0.2 …) the pages are spread over")
    parser.add_argument("--workers", type=int, default=8,
                        help="policywatch check --workers (urlwatch 2.x has a fixed pool of 10 threads)")
    parser.add_argument("--skip-urlwatch", action="store_true", help="time policywatch only")
    parser.add_argument("--urlwatch-raw", action="store_true",
                        help="run urlwatch without its 'css: main' + 'html2text' filters (raw HTML diffs)")
    parser.add_argument("--repeat", type=int, default=1, help="run the four cycles this many times "
                        "(fresh database each time); wall times are medians")
    parser.add_argument("--seed", type=int, default=1, help="seed of the page generator")
    parser.add_argument("--page-kb", type=float, default=60.0, help="average page size in KB")
    parser.add_argument("--change-fraction", type=float, default=0.10,
                        help="fraction of pages whose text changes before the 'changed' cycle")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, run the four policywatch cycles once more under cProfile (CPU time of "
                             "all threads) "
                             "and write bench/out/profile-<cycle>.prof and .txt (not timed)")
    parser.add_argument("--json", type=Path, default=OUT / "check_cycle.json", help="where to write the figures")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary directory (logs, databases)")
    args = parser.parse_args(argv)
    if args.pages < 1 or args.hosts < 1 or args.workers < 1 or args.repeat < 1:
        parser.error("--pages, --hosts, --workers and --repeat must be at least 1")
    if not 0 <= args.change_fraction <= 1:
        parser.error("--change-fraction must be between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tree_at_start = git_state()
    print(f"generating {args.pages} pages (seed {args.seed}) …", file=sys.stderr)
    site = Site(args.pages, min(args.hosts, args.pages), args.seed, args.page_kb)
    sizes = [len(p.body) for p in site.pages]
    print(f"  {time.perf_counter() - started:.1f} s; page size mean {statistics.mean(sizes) / 1000:.1f} kB "
          f"(min {min(sizes) / 1000:.1f}, max {max(sizes) / 1000:.1f}), gzip mean "
          f"{statistics.mean(len(p.gz) for p in site.pages) / 1000:.1f} KB", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="policywatch-bench-"))
    servers: list[PolicyServer] = []
    try:
        servers = start_servers(site)
        print(f"serving on {len(servers)} hosts: {site.hosts[0][0]}:{site.hosts[0][1]} … "
              f"{site.hosts[-1][0]}:{site.hosts[-1][1]}", file=sys.stderr)
        runner = Runner(args, site, tmp)
        urlwatch_version = None if args.skip_urlwatch else runner.ensure_urlwatch()
        pw_version = subprocess.run([runner.python, "-m", "policywatch", "--version"], capture_output=True,
                                    text=True, env=runner.env).stdout.strip()
        print(f"{pw_version}; {urlwatch_version or 'urlwatch skipped'}; temp dir {tmp}", file=sys.stderr)
        runner.warm_up()
        runs: list[dict[str, dict[str, Measurement]]] = []
        for rep in range(args.repeat):
            site.reset()
            db, cache = tmp / f"policywatch-{rep}.db", tmp / f"urlwatch-cache-{rep}.db"
            result: dict[str, dict[str, Measurement]] = {"policywatch": {}, "urlwatch": {}}
            changed = 0
            for cycle in CYCLES:
                if cycle == "changed":
                    changed = len(site.change(args.change_fraction))
                elif cycle == "churned":
                    site.churn()
                tools = ["policywatch"] if args.skip_urlwatch else ["policywatch", "urlwatch"]
                if rep % 2:
                    tools.reverse()  # alternate who goes first, against order effects
                for tool in tools:
                    if tool == "policywatch":
                        m = runner.policywatch(cycle, db, changed, rep)
                    else:
                        m = runner.urlwatch_cycle(cycle, cache, changed, rep)
                    result[tool][cycle] = m
                    other = f", other processes used {m.other_cpu_s:.1f} CPU s" if m.other_cpu_s is not None else ""
                    print(f"  run {rep + 1}/{args.repeat} {cycle:<9} {tool:<11} {m.wall_s:7.2f} s wall, "
                          f"{m.cpu_s:6.2f} s CPU, {m.peak_mb:6.1f} MB peak, {m.store_bytes / 2 ** 20:6.1f} MB store, "
                          f"answers {m.requests}{other}: {m.verdict}", file=sys.stderr)
            runs.append(result)

        profiles = {}
        if args.profile:
            site.reset()
            db = tmp / "policywatch-profile.db"
            changed = 0
            for cycle in CYCLES:
                if cycle == "changed":
                    changed = len(site.change(args.change_fraction))
                elif cycle == "churned":
                    site.churn()
                prof = OUT / f"profile-{cycle}.prof"
                m = runner.policywatch(cycle, db, changed, rep=99, profile=prof)
                profiles[cycle] = {"prof": str(prof), "txt": str(prof.with_suffix(".txt")),
                                   "wall_s_profiled": m.wall_s}
                print(f"  profiled {cycle:<9} {m.wall_s:7.2f} s wall (with profiler) → {prof.with_suffix('.txt')}",
                      file=sys.stderr)

        rows = summarize(runs, args.skip_urlwatch)
        print_table(rows, args.skip_urlwatch, args.repeat)
        noisy = [m for r in runs for t in r.values() for m in t.values()
                 if m.other_cpu_s is not None and m.other_cpu_s > 0.1 * m.wall_s * (os.cpu_count() or 1)]
        if noisy:
            print(f"warning: other processes used over 10% of the machine's CPU during {len(noisy)} timed run(s); "
                  "figures may be noisy (see 'other_cpu_s' in the JSON)")
        if git_state() != tree_at_start:
            print("warning: policywatch's source changed while the benchmark ran; figures mix two versions")
        failed = [m for r in runs for t in r.values() for m in t.values() if m.verdict != "ok"]
        for m in failed:
            kept = OUT / f"failed-{m.detail.get('log', '')}"
            if m.detail.get("log") and (tmp / "logs" / m.detail["log"]).exists():
                shutil.copyfile(tmp / "logs" / m.detail["log"], kept)
            print(f"warning: {m.tool} {m.cycle}: {m.verdict} (output: {kept})")
        report = {
            "schema": "policywatch.bench.check_cycle/1",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join([Path(sys.executable).name, "bench/check_cycle.py", *(argv or sys.argv[1:])]),
            "config": {"pages": args.pages, "hosts": len(site.hosts), "workers": args.workers,
                       "repeat": args.repeat, "seed": args.seed, "change_fraction": args.change_fraction,
                       "page_bytes_mean": round(statistics.mean(sizes)), "page_bytes_min": min(sizes),
                       "page_bytes_max": max(sizes),
                       "gzip_bytes_mean": round(statistics.mean(len(p.gz) for p in site.pages)),
                       "host_addresses": f"{site.hosts[0][0]} … {site.hosts[-1][0]}"},
            "policywatch_tree": tree_at_start,
            "policywatch_tree_changed_during_run": git_state() != tree_at_start,
            "versions": {"policywatch": pw_version, "urlwatch": urlwatch_version, "python": platform.python_version()},
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "goals": GOALS,
            "cycles": rows,
            "runs": [{tool: {cycle: m.__dict__ for cycle, m in cycles.items()} for tool, cycles in r.items()}
                     for r in runs],
            "profiles": profiles,
            "total_s": time.perf_counter() - started,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
        return 1 if failed else 0
    finally:
        stop_servers(servers)
        if args.keep_temp:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
