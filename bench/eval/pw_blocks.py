"""Building blocks for the evaluation benchmark: fictional companies and the base text of their policies.

Everything here was written for this benchmark. A base policy is a small document model (title, date,
intro, sections with paragraphs, bullet lists and subsections) built from a company's facts and from pools
of paragraphs; `build_policy(company, rng)` assembles one. The edits in pw_edits.py change that model and
pw_pages.py renders it as a web page, Markdown or plain text.

The pools deliberately say nothing about the things the material edits change (sale of data, explicit
age thresholds, notification promises, retention periods of the edited data, AI training, biometric or
precise-location data, ...), so that an edit is the only statement of its kind in a document.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

# ----------------------------------------------------------------------------------------- document model


@dataclass
class Para:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Section:
    key: str  # topic key (collection, sharing, ...) or an extra key
    heading: str
    blocks: list = field(default_factory=list)  # Para | Bullets
    subs: list[Section] = field(default_factory=list)


@dataclass
class Policy:
    company: Company
    title: str
    date: tuple[int, int, int]
    intro: list
    sections: list[Section]

    def clone(self) -> Policy:
        company = self.company
        self.company = None  # the company is shared, never copied
        try:
            twin = copy.deepcopy(self)
        finally:
            self.company = company
        twin.company = company
        return twin

    def all_sections(self):
        for s in self.sections:
            yield s, None
            for sub in s.subs:
                yield sub, s

    def words(self) -> int:
        n = len(self.title.split())
        for b in self.intro:
            n += _block_words(b)
        for s, _ in self.all_sections():
            n += len(s.heading.split()) + sum(_block_words(b) for b in s.blocks)
        return n


def _block_words(b) -> int:
    if isinstance(b, Para):
        return len(b.text.split())
    return sum(len(i.split()) for i in b.items)


# ----------------------------------------------------------------------------------------- item pools
# Items are shared between base policies (a company uses some of them) and the material edits (which add
# or remove one the company does not already use).


@dataclass(frozen=True)
class Item:
    id: str
    np: str  # noun phrase usable after a verb ("We collect <np>")
    label: str  # short label for a bullet ("Contact details")
    desc: str  # description after the label


DATA_TYPES = {
    "contact": Item("contact", "contact details such as your name, email address and telephone number",
                    "Contact details", "your name, email address, postal address and telephone number"),
    "account": Item("account", "account credentials, including your username and password",
                    "Account credentials", "the username and password you choose, and your profile preferences"),
    "payment": Item("payment", "payment information such as your card type, the last four digits of your card "
                    "and your billing address", "Payment information",
                    "your card type, the last four digits of your card number and your billing address"),
    "usage": Item("usage", "information about how you use the service, such as the pages you view and the "
                  "features you use", "Usage information",
                  "the pages and screens you view, the features you use and the time you spend on them"),
    "device": Item("device", "information about your device, such as its model, operating system and browser "
                   "type", "Device information",
                   "the model of your device, its operating system, browser type and language settings"),
    "ip": Item("ip", "your IP address and the approximate region it indicates",
               "Network information", "your IP address and the approximate region it indicates"),
    "support": Item("support", "the content of your communications with our customer support team",
                    "Support communications",
                    "what you tell us when you contact customer support, including attachments"),
    "feedback": Item("feedback", "survey answers and other feedback you choose to give us",
                     "Feedback", "answers to surveys and reviews you choose to submit"),
    # items that only the edits use (never in a base policy)
    "precise_location": Item("precise_location", "the precise location of your device, derived from GPS and "
                             "nearby Wi-Fi networks", "Precise location",
                             "the exact position of your device, derived from GPS and nearby Wi-Fi networks"),
    "biometrics": Item("biometrics", "face geometry and voiceprints generated from your photos and recordings",
                       "Biometric identifiers",
                       "face geometry and voiceprints generated from your photos and recordings"),
    "address_book": Item("address_book", "the names and telephone numbers stored in your phone's address book",
                         "Address book", "the names and telephone numbers stored in your phone's contacts"),
    "health": Item("health", "health information, such as medical conditions, medications and symptoms you "
                   "record", "Health information", "medical conditions, medications and symptoms you record"),
    "credit": Item("credit", "your credit history and credit score obtained from credit reference agencies",
                   "Credit history", "your credit history and credit score from credit reference agencies"),
    "voice": Item("voice", "audio recordings of your voice when you use voice features",
                  "Voice recordings", "audio recordings made when you talk to voice features"),
    "gov_id": Item("gov_id", "a scan of your passport, driving licence or national identity card",
                   "Identity documents", "a scan of your passport, driving licence or national identity card"),
    "browsing": Item("browsing", "your browsing history on websites and apps that are not ours",
                     "Browsing history", "the websites and apps you visit that are not ours"),
    "messages": Item("messages", "the content of the private messages you exchange with other users",
                     "Private messages", "the content of messages you exchange with other users"),
    "ssn": Item("ssn", "your Social Security number or other national identification number",
                "National identification number", "your Social Security number or equivalent number"),
    "photos_device": Item("photos_device", "the photos and videos stored in your device's camera roll",
                          "Camera roll", "photos and videos stored on your device, including ones you never upload"),
}
EDIT_DATA_TYPES = ["precise_location", "biometrics", "address_book", "health", "credit", "voice", "gov_id",
                   "browsing", "messages", "ssn", "photos_device"]

PURPOSES = {
    # base purposes: (infinitive phrase, gerund phrase)
    "provide": ("to provide, operate and maintain the service", "providing, operating and maintaining the service"),
    "payments": ("to process your payments and send receipts", "processing payments and sending receipts"),
    "support": ("to answer your questions and help you when something goes wrong",
                "answering your questions and helping you when something goes wrong"),
    "security": ("to detect, investigate and prevent fraud, abuse and security incidents",
                 "detecting, investigating and preventing fraud, abuse and security incidents"),
    "improve": ("to understand how the service is used so that we can fix problems and make it better",
                "understanding how the service is used so that we can fix problems and make it better"),
    "service_msgs": ("to send you service messages, such as changes to features or billing",
                     "sending service messages, such as changes to features or billing"),
    "legal": ("to comply with our legal obligations and enforce our terms",
              "complying with our legal obligations and enforcing our terms"),
    # purposes that only the edits use
    "ai_training": ("to train and improve artificial intelligence and machine-learning models, including "
                    "generative models", "training and improving artificial intelligence and machine-learning "
                    "models, including generative models"),
    "targeted_ads": ("to show you personalised advertising on other companies' websites and apps",
                     "showing you personalised advertising on other companies' websites and apps"),
    "credit_scoring": ("to assess your creditworthiness and eligibility for financial products",
                       "assessing your creditworthiness and eligibility for financial products"),
    "dynamic_pricing": ("to set individual prices for you based on your profile and behaviour",
                        "setting individual prices for you based on your profile and behaviour"),
    "audience_segments": ("to build audience segments that advertisers can target",
                          "building audience segments that advertisers can target"),
    "emotion": ("to infer your mood and emotional state from your content and activity",
                "inferring your mood and emotional state from your content and activity"),
    "insurance_risk": ("to help insurers estimate your risk profile",
                       "helping insurers estimate your risk profile"),
}
BASE_PURPOSES = ["provide", "payments", "support", "security", "improve", "service_msgs", "legal"]
EDIT_PURPOSES = ["ai_training", "targeted_ads", "credit_scoring", "dynamic_pricing", "audience_segments",
                 "emotion", "insurance_risk"]

RECIPIENTS = {
    "processors": Item("processors", "service providers that host our systems, send our emails and provide "
                       "customer-support tools", "Service providers",
                       "companies that host our systems, send our emails and provide support tools on our behalf"),
    "payment_processors": Item("payment_processors", "payment processors that handle card transactions",
                               "Payment processors", "banks and payment companies that handle card transactions"),
    "advisers": Item("advisers", "our professional advisers, such as lawyers, auditors and insurers",
                     "Professional advisers", "lawyers, auditors and insurers who advise us"),
    "authorities": Item("authorities", "courts, regulators and law enforcement when the law requires it",
                        "Public authorities", "courts, regulators and police, where the law requires us to"),
    "buyers": Item("buyers", "a buyer or successor in the event that our business is reorganised or sold",
                   "Successors", "a company that acquires all or part of our business"),
    # edit-only recipients
    "data_brokers": Item("data_brokers", "data brokers", "Data brokers",
                         "companies that combine information from many sources and resell it"),
    "ad_networks": Item("ad_networks", "advertising networks and ad-tech companies", "Advertising networks",
                        "ad-tech companies that show and measure ads on other websites"),
    "insurers": Item("insurers", "insurance companies", "Insurance companies",
                     "insurers that may use it when pricing their products"),
    "affiliates_marketing": Item("affiliates_marketing", "our affiliated brands, for their own marketing",
                                 "Affiliated brands", "other companies in our group, for their own marketing"),
    "ai_vendors": Item("ai_vendors", "third-party AI model developers", "AI model developers",
                       "companies that develop AI models and may use the data to improve them"),
    "social_platforms": Item("social_platforms", "social media platforms", "Social media platforms",
                             "networks such as Facebook and TikTok, which may combine it with your profile there"),
    "employers": Item("employers", "your employer or the organisation that sponsors your account",
                      "Your employer", "the organisation that sponsors your account, including activity reports"),
    "researchers": Item("researchers", "academic and commercial research partners", "Research partners",
                        "universities and companies that run research studies"),
    "marketing_partners": Item("marketing_partners", "selected marketing partners", "Marketing partners",
                               "companies that want to send you offers for their own products"),
}
BASE_RECIPIENTS = ["processors", "payment_processors", "advisers", "authorities", "buyers"]
EDIT_RECIPIENTS = ["data_brokers", "ad_networks", "insurers", "affiliates_marketing", "ai_vendors",
                   "social_platforms", "employers", "researchers", "marketing_partners"]

# rights: (verb phrase after "to", short label)
RIGHTS = {
    "access": ("access the personal data we hold about you and get a copy of it", "Access"),
    "correction": ("have inaccurate or incomplete information corrected", "Correction"),
    "deletion": ("ask us to delete your personal data", "Deletion"),
    # edit-only rights
    "portability": ("receive your data in a structured, machine-readable format and have it sent to another "
                    "provider", "Portability"),
    "objection": ("object to processing that we base on our legitimate interests", "Objection"),
    "restriction": ("ask us to restrict the processing of your data while a complaint is resolved", "Restriction"),
    "withdraw": ("withdraw your consent at any time, without affecting processing that happened before",
                 "Withdrawal of consent"),
    "complaint": ("lodge a complaint with a data protection supervisory authority", "Complaint"),
    "automated": ("not be subject to a decision based solely on automated processing that significantly "
                  "affects you", "Automated decisions"),
    "appeal": ("appeal our decision if we refuse to act on your request", "Appeal"),
    "know_third_parties": ("know the categories of third parties to whom we disclose your information",
                           "Disclosure details"),
}
BASE_RIGHTS = ["access", "correction", "deletion"]
# "complaint" is not an edit item: every base policy already names the supervisory authority
EDIT_RIGHTS = ["portability", "objection", "restriction", "withdraw", "automated", "appeal", "know_third_parties"]

# opt-outs: (verb phrase after "to", setting name)
OPTOUTS = {
    "ads": ("opt out of personalised advertising", "Personalised ads"),
    "ai": ("opt out of having your content used to train our models", "Use my content for model training"),
    "sale": ("opt out of the sale or sharing of your personal information", "Allow sale and sharing of my data"),
    "analytics": ("opt out of product analytics", "Share usage analytics"),
    "partners": ("stop us from sharing your information with our partners", "Partner sharing"),
    "location": ("switch off the collection of location data", "Location access"),
    "profiling": ("opt out of profiling used to tailor offers to you", "Tailored offers"),
    "research": ("decline to take part in research studies", "Research participation"),
}
EDIT_OPTOUTS = list(OPTOUTS)

TRACKERS = {
    "session_replay": Item("session_replay", "session-replay scripts that record your clicks, scrolling and "
                           "keystrokes", "Session replay", "scripts that record clicks, scrolling and keystrokes"),
    "fingerprinting": Item("fingerprinting", "device fingerprinting techniques that recognise your browser "
                           "without cookies", "Fingerprinting",
                           "recognising your browser from its settings, without cookies"),
    "pixels": Item("pixels", "advertising pixels from Meta and TikTok", "Advertising pixels",
                   "pixels from Meta and TikTok that report your visits to those platforms"),
    "cross_device": Item("cross_device", "cross-device tracking that links your phone, tablet and computer",
                         "Cross-device tracking", "linking your phone, tablet and computer to one profile"),
    "ad_sdks": Item("ad_sdks", "third-party advertising SDKs embedded in our mobile apps",
                    "Advertising SDKs", "code from ad networks embedded in our mobile apps"),
    "email_beacons": Item("email_beacons", "tracking pixels in our emails that tell us when and where you open "
                          "them", "Email beacons", "invisible images that tell us when and where you open an email"),
    "server_side": Item("server_side", "server-side conversion tracking that sends your on-site activity "
                        "directly to advertising platforms", "Conversion APIs",
                        "server-to-server transmission of your on-site activity to advertising platforms"),
}
EDIT_TRACKERS = list(TRACKERS)

SAFEGUARDS = {
    "encryption": Item("encryption", "encryption of personal data in transit and at rest", "Encryption",
                       "personal data is encrypted in transit and at rest"),
    "breach_notice": Item("breach_notice", "notification of affected users within 72 hours of discovering a "
                          "personal data breach", "Breach notification",
                          "affected users are told within 72 hours of us discovering a breach"),
    "pentests": Item("pentests", "annual penetration tests by an independent security firm",
                     "Penetration testing", "an independent firm tests our defences every year"),
    "mfa": Item("mfa", "multi-factor authentication for every staff account and for your account if you enable "
                "it", "Multi-factor authentication", "required for staff accounts and available for yours"),
    "least_privilege": Item("least_privilege", "access controls that limit personal data to the employees who "
                            "need it for their job", "Access controls",
                            "only employees who need personal data for their job can reach it"),
    "certification": Item("certification", "an information security programme certified to ISO/IEC 27001",
                          "Certification", "our security programme is certified to ISO/IEC 27001"),
    "pseudonymisation": Item("pseudonymisation", "pseudonymisation of the data we use for analytics",
                             "Pseudonymisation", "analytics data is separated from your name and account"),
}
EDIT_SAFEGUARDS = list(SAFEGUARDS)

DESTINATIONS = ["India and the Philippines", "the People's Republic of China", "Brazil and Mexico",
                "Singapore and Australia", "the United Arab Emirates", "Vietnam", "South Africa and Kenya"]

# things whose retention an edit sets, with (short, long) durations
RETENTION_THINGS = [
    ("chat transcripts", ("30 days", "two years")),
    ("location records", ("90 days", "five years")),
    ("server logs", ("14 days", "18 months")),
    ("voice recordings", ("7 days", "three years")),
    ("deleted photos", ("30 days", "one year")),
    ("inactive accounts", ("12 months", "ten years")),
    ("marketing profiles", ("six months", "seven years")),
    ("support tickets", ("90 days", "six years")),
]

AGE_PAIRS = [(13, 16), (16, 18), (13, 18), (14, 16)]

# ----------------------------------------------------------------------------------------- companies


@dataclass
class Company:
    id: str
    brand: str
    legal: str
    address: str
    product: str
    site: str
    region: str  # EEA, UK, US, CA
    authority: str
    new_controller: str  # who takes over in a controller change
    date_fmt: str
    title: str
    headings: dict  # topic -> heading
    order: list  # topic order of top-level sections
    home: dict  # edit topic -> section key that receives it
    subs: dict  # section key -> list of (sub key, sub heading)
    data_items: list
    extra_data: list  # (label, desc) company-specific data bullets
    exclude: set  # edit items that would contradict the base policy
    prose_lists: bool  # base lists written as prose rather than bullets
    question_headings: bool = False
    txt_style: str = "numbered"  # numbered | caps | underline
    skin: dict = field(default_factory=dict)

    @property
    def facts(self) -> dict:
        return {"brand": self.brand, "legal": self.legal, "address": self.address, "product": self.product,
                "site": self.site, "email": f"privacy@{self.site}", "authority": self.authority}


# heading alternatives per topic: the first ones are used by companies, renamed-heading noise picks others
HEADING_POOL = {
    "intro": ["Introduction", "About This Policy", "Scope of This Notice", "Overview", "Who This Policy Applies To"],
    "controller": ["Who We Are", "Who Is Responsible for Your Data", "Data Controller", "About Us",
                   "The Company Responsible for Your Information"],
    "collection": ["Information We Collect", "What Data We Collect", "Personal Data We Process",
                   "The Information We Gather", "Data We Hold About You", "Categories of Personal Information"],
    "use": ["How We Use Your Information", "Why We Use Your Data", "Purposes of Processing",
            "What We Do With Your Information", "Uses of Personal Data"],
    "legal_basis": ["Legal Bases for Processing", "Our Lawful Grounds", "Why We Are Allowed to Use Your Data",
                    "Legal Grounds We Rely On"],
    "sharing": ["How We Share Information", "Who We Share Your Data With", "Recipients of Personal Data",
                "Disclosures to Third Parties", "Sharing and Disclosure"],
    "transfers": ["International Data Transfers", "Transfers Outside Your Country", "Where Your Data Is Processed",
                  "Sending Data Abroad", "Cross-Border Transfers"],
    "retention": ["How Long We Keep Your Data", "Data Retention", "Retention Periods", "Storage Period",
                  "Keeping Your Information"],
    "security": ["How We Protect Your Information", "Data Security", "Keeping Your Data Safe", "Security Measures",
                 "Safeguards"],
    "rights": ["Your Rights", "Your Data Protection Rights", "Your Privacy Rights", "Rights You Have",
               "Exercising Your Rights"],
    "choices": ["Your Choices", "Managing Your Preferences", "Controls and Opt-Outs", "Your Options",
                "Marketing and Communication Preferences"],
    "cookies": ["Cookies and Similar Technologies", "Cookies and Tracking", "How We Use Cookies",
                "Cookies, Pixels and SDKs", "Online Tracking Technologies"],
    "children": ["Children's Privacy", "Children", "Information About Minors", "Young People",
                 "Use by Children"],
    "changes": ["Changes to This Policy", "Updates to This Notice", "Amendments", "How We Update This Policy",
                "Revisions"],
    "contact": ["Contact Us", "How to Contact Us", "Questions and Complaints", "Getting in Touch",
                "Contact Information"],
    "links": ["Links to Other Websites", "Third-Party Sites and Services", "Other Websites"],
    "california": ["Additional Information for California Residents", "Notice to California Residents",
                   "California Privacy Disclosures"],
    "automated": ["Automated Decision-Making", "Automated Processing and Profiling", "Decisions Made by Software"],
}

QUESTION_HEADINGS = {
    "intro": "What does this policy cover?",
    "controller": "Who is responsible for my data?",
    "collection": "What information do we collect?",
    "use": "How do we use your information?",
    "sharing": "Who do we share it with?",
    "transfers": "Where is my data stored?",
    "retention": "How long do we keep it?",
    "security": "How do we keep it secure?",
    "rights": "What rights do I have?",
    "choices": "What choices do I have?",
    "cookies": "Do we use cookies?",
    "children": "Can children use Tinkerdock?",
    "changes": "Will this policy change?",
    "contact": "How can I contact you?",
    "california": "Are there additional disclosures for California residents?",
}
QUESTION_ALTERNATIVES = {
    "collection": ["What data do we gather about you?", "Which personal information do we hold?"],
    "use": ["Why do we process your data?", "What do we do with your information?"],
    "sharing": ["Do we disclose your data to anyone?", "Who receives your information?"],
    "transfers": ["Does my data leave the country?", "Where is my information processed?"],
    "retention": ["How long is my data stored?", "When do we delete your information?"],
    "security": ["How is my data protected?", "Is my information safe?"],
    "rights": ["How can I exercise my rights?", "Which rights can I use?"],
    "choices": ["How can I control my data?", "Can I opt out?"],
    "cookies": ["What cookies and trackers do we use?", "How do we use cookies?"],
    "children": ["Is Tinkerdock for children?", "What about minors?"],
    "changes": ["How will we tell you about updates?", "What happens when this policy changes?"],
    "contact": ["Who can I talk to about privacy?", "Where do I send questions?"],
}


def _headings(choice: dict) -> dict:
    return {k: HEADING_POOL[k][v] if isinstance(v, int) else v for k, v in choice.items()}


COMPANIES = [
    Company(
        id="lumenfold", brand="Lumenfold", legal="Lumenfold Labs Ltd.",
        address="14 Harbour Row, Dublin 2, D02 XK71, Ireland",
        product="the Lumenfold photo editor and Lumenfold Cloud", site="lumenfold.example", region="EEA",
        authority="the Data Protection Commission in Ireland",
        new_controller="Prismatic Media Holdings, Inc., 500 Howard Street, San Francisco, CA 94105, United States",
        date_fmt="dmy", title="Privacy Policy",
        headings=_headings({"intro": 0, "controller": 0, "collection": 0, "use": 0, "legal_basis": 0,
                            "sharing": 0, "transfers": 0, "retention": 0, "security": 0, "rights": 0,
                            "choices": 0, "cookies": 0, "children": 0, "changes": 0, "contact": 0}),
        order=["controller", "collection", "use", "legal_basis", "sharing", "transfers", "retention", "security",
               "rights", "choices", "cookies", "children", "changes", "contact"],
        home={}, subs={"collection": [("provided", "Information you give us"),
                                      ("automatic", "Information collected automatically"),
                                      ("third", "Information from other sources")]},
        data_items=["contact", "account", "payment", "usage", "device", "ip", "support"],
        extra_data=[("Your photos and edits", "the images you upload to Lumenfold Cloud and the edits you make")],
        exclude={"photos_device"}, prose_lists=False, txt_style="numbered",
        skin={"banner": "onetrust", "chrome": "semantic", "sidebar": "toc", "list": "ul"},
    ),
    Company(
        id="brightwater", brand="Brightwater", legal="Brightwater Financial Technologies, Inc.",
        address="2100 Congress Avenue, Suite 400, Austin, TX 78701, USA",
        product="the Brightwater budgeting app", site="brightwater.example", region="US",
        authority="the California Attorney General",
        new_controller="Crestline Bancorp, Inc., 90 Park Avenue, New York, NY 10016",
        date_fmt="mdy", title="Privacy Notice",
        headings=_headings({"intro": 2, "collection": 5, "use": 4, "sharing": 3, "cookies": 1, "choices": 1,
                            "security": 1, "retention": 1, "children": 0, "california": 0, "changes": 1,
                            "contact": 1, "links": 0}),
        order=["intro", "collection", "use", "sharing", "cookies", "choices", "security", "retention", "children",
               "links", "california", "changes", "contact"],
        home={"transfers": "sharing", "rights": "california", "controller": "intro"},
        subs={"sharing": [("affiliates", "Within our corporate family")]},
        data_items=["contact", "account", "usage", "device", "ip", "support", "feedback"],
        extra_data=[("Linked account data", "balances and transaction history from bank accounts you connect")],
        exclude={"credit", "ssn", "mfa"}, prose_lists=False, txt_style="caps",
        skin={"banner": "trustarc", "chrome": "divrole", "sidebar": "related", "list": "ul"},
    ),
    Company(
        id="quillpath", brand="Quillpath", legal="Quillpath Education Ltd",
        address="Unit 5, Ancoats Works, 22 Redhill Street, Manchester M4 5BA, United Kingdom",
        product="the Quillpath learning platform", site="quillpath.example", region="UK",
        authority="the Information Commissioner's Office (ICO)",
        new_controller="Northgate Learning Group plc, 1 King William Street, London EC4N 7AR",
        date_fmt="dmy", title="Privacy Notice",
        headings=_headings({"intro": 1, "controller": 1, "collection": 4, "use": 1, "sharing": 1, "children": 3,
                            "retention": 0, "security": 2, "transfers": 3, "rights": 2, "cookies": 2,
                            "changes": 0, "contact": 2}),
        order=["intro", "controller", "collection", "use", "sharing", "children", "retention", "security",
               "transfers", "rights", "cookies", "changes", "contact"],
        home={"choices": "choices_sub"},
        subs={"collection": [("pupils", "Pupils and students"), ("teachers", "Teachers and school staff")],
              "rights": [("choices_sub", "Your choices about emails")]},
        data_items=["contact", "account", "usage", "device", "ip", "support", "feedback"],
        extra_data=[("School records", "class membership, assignments, marks and teacher comments"),
                    ("Learning activity", "answers, progress through lessons and time spent on exercises")],
        exclude=set(), prose_lists=True, txt_style="underline",
        skin={"banner": "cookiebot", "chrome": "semantic", "sidebar": "none", "list": "ul"},
    ),
    Company(
        id="orbisly", brand="Orbisly", legal="Orbisly B.V.",
        address="Keizersgracht 410, 1016 GC Amsterdam, the Netherlands",
        product="the Orbisly website and travel apps", site="orbisly.example", region="EEA",
        authority="the Autoriteit Persoonsgegevens (Dutch Data Protection Authority)",
        new_controller="Orbisly Travel Group S.à r.l., 12 rue Eugène Ruppert, L-2453 Luxembourg",
        date_fmt="iso", title="Privacy Statement",
        headings=_headings({"intro": 0, "controller": 2, "collection": 2, "use": 2, "sharing": 2,
                            "transfers": 4, "retention": 2, "rights": 1, "choices": 4, "cookies": 4,
                            "security": 3, "children": 2, "changes": 2, "contact": 4, "automated": 0}),
        order=["intro", "controller", "collection", "use", "sharing", "transfers", "retention", "rights",
               "automated", "choices", "cookies", "security", "children", "changes", "contact"],
        home={}, subs={"use": [("bookings", "Bookings and customer service"),
                               ("marketing", "Marketing and personalisation")]},
        data_items=["contact", "account", "payment", "usage", "device", "ip", "support", "feedback"],
        extra_data=[("Booking details", "travel dates, destinations, fellow travellers and special requests"),
                    ("Passport details", "passport number and expiry date, when an airline requires them")],
        exclude={"gov_id"}, prose_lists=False, txt_style="numbered",
        skin={"banner": "didomi", "chrome": "classes", "sidebar": "toc", "list": "ul"},
    ),
    Company(
        id="harvest", brand="Harvest & Hearth", legal="Harvest & Hearth Grocers Inc.",
        address="88 Queens Quay West, Toronto, ON M5J 0B8, Canada",
        product="the Harvest & Hearth grocery delivery service", site="harvestandhearth.example", region="CA",
        authority="the Office of the Privacy Commissioner of Canada",
        new_controller="Maple Basket Holdings Ltd., 1250 René-Lévesque Blvd W, Montréal, QC H3B 4W8",
        date_fmt="mdy", title="Privacy Policy",
        headings=_headings({"intro": 3, "collection": 1, "use": 3, "sharing": 4, "choices": 4, "cookies": 2,
                            "transfers": 1, "retention": 4, "security": 4, "rights": 4, "children": 4,
                            "changes": 3, "contact": 3}),
        order=["intro", "collection", "use", "sharing", "choices", "cookies", "transfers", "retention", "security",
               "rights", "children", "changes", "contact"],
        home={"controller": "contact"}, subs={},
        data_items=["contact", "account", "payment", "usage", "device", "support", "feedback"],
        extra_data=[("Order history", "the groceries you buy, substitutions you accept and delivery instructions"),
                    ("Dietary preferences", "preferences you choose to save, such as vegetarian or nut-free")],
        exclude={"withdraw"}, prose_lists=True, txt_style="caps",
        skin={"banner": "homemade", "chrome": "semantic", "sidebar": "related", "list": "ul"},
    ),
    Company(
        id="kestrel", brand="Kestrel", legal="Kestrel Wearables GmbH",
        address="Leopoldstraße 121, 80804 München, Germany",
        product="Kestrel fitness trackers and the Kestrel Coach app", site="kestrel-wearables.example", region="EEA",
        authority="the Bavarian State Office for Data Protection Supervision (BayLDA)",
        new_controller="Kestrel Health Technologies AG, Bahnhofstrasse 45, 8001 Zürich, Switzerland",
        date_fmt="dotted", title="Privacy Notice",
        headings=_headings({"controller": 4, "collection": 2, "use": 2, "legal_basis": 3, "sharing": 2,
                            "transfers": 0, "retention": 3, "security": 3, "rights": 1, "choices": 2,
                            "cookies": 3, "children": 1, "changes": 1, "contact": 0}),
        order=["controller", "collection", "use", "legal_basis", "sharing", "transfers", "retention", "security",
               "rights", "choices", "cookies", "children", "changes", "contact"],
        home={}, subs={"collection": [("account_sub", "Account data"), ("sensor", "Sensor and activity data"),
                                      ("app_usage", "App usage data")]},
        data_items=["contact", "account", "payment", "usage", "device", "ip", "support"],
        extra_data=[("Activity and fitness data", "steps, heart rate, sleep duration and workouts measured by "
                     "your tracker")],
        exclude={"health", "encryption"}, prose_lists=False, txt_style="numbered",
        skin={"banner": "usercentrics", "chrome": "semantic", "sidebar": "toc", "list": "ul"},
    ),
    Company(
        id="tinkerdock", brand="Tinkerdock", legal="Tinkerdock, Inc.",
        address="535 Mission Street, 14th Floor, San Francisco, CA 94105, USA",
        product="Tinkerdock's code collaboration platform", site="tinkerdock.example", region="US",
        authority="the California Privacy Protection Agency",
        new_controller="Arcstone Software Corp., 4100 Lake Washington Blvd NE, Kirkland, WA 98033",
        date_fmt="mdy", title="Privacy Policy",
        headings=dict(QUESTION_HEADINGS),
        order=["intro", "controller", "collection", "use", "sharing", "transfers", "cookies", "retention",
               "security", "rights", "choices", "children", "california", "changes", "contact"],
        home={}, subs={},
        data_items=["contact", "account", "payment", "usage", "device", "ip", "support", "feedback"],
        extra_data=[("Repository content", "the code, issues and comments you store in repositories")],
        exclude={"messages"}, prose_lists=False, question_headings=True, txt_style="caps",
        skin={"banner": "osano", "chrome": "semantic", "sidebar": "none", "list": "ul"},
    ),
]
COMPANY_BY_ID = {c.id: c for c in COMPANIES}

# ----------------------------------------------------------------------------------------- base text pools
# Each topic: a list of paragraphs; a company draws several, in its own order. Placeholders: {brand},
# {legal}, {address}, {product}, {site}, {email}, {authority}.

INTRO = [
    "This policy explains how {legal} (\"{brand}\", \"we\" or \"us\") handles personal information when you "
    "use {product}. It applies to our websites, our apps and any other service that links to it.",
    "We have tried to write this in plain language. Where we use a term such as \"personal data\", we mean any "
    "information that relates to you as an identifiable person.",
    "Please read this policy together with our Terms of Service. If you do not agree with how we handle "
    "information, please do not use the service - you can always contact us first to ask questions.",
    "Some services we offer may come with additional notices. In the event that a specific notice conflicts "
    "with this policy, the specific notice applies to that service.",
    "This policy does not cover websites or services run by other companies, even if you reach them through a "
    "link on our site.",
]

CONTROLLER = [
    "{legal}, of {address}, decides why and how your personal data is used in connection with {product}.",
    "Our registered office is at {address}. You can reach the team responsible for privacy at {email}.",
    "We have appointed a data protection officer who monitors our compliance with this policy and with the law. "
    "You can write to our data protection officer at the address above, marked \"For the attention of the Data "
    "Protection Officer\".",
    "Where we process information on behalf of a business customer - for example an employer that gives its "
    "staff access to our service - that customer decides how the information is used, and we act as its "
    "service provider.",
]

COLLECTION_LEAD = [
    "We collect information in three ways: you give it to us, it is generated when you use the service, and "
    "occasionally we obtain it from other people or organisations.",
    "The information we collect depends on how you use {product} and on the choices you make in your settings.",
    "We try to collect only what we need. Below we describe the main categories.",
]
COLLECTION_PROVIDED = [
    "When you create an account, place an order or get in touch with us, you give us information such as the "
    "following:",
    "You provide most of the information we hold directly, for example when you register or fill in a form. "
    "This includes:",
]
COLLECTION_AUTOMATIC = [
    "When you use the service, our servers automatically record certain information in order to keep it "
    "working and secure.",
    "Like most online services, we receive technical information from your browser or device each time it "
    "connects to us. We use this information to assist with troubleshooting and to understand which features "
    "are popular.",
    "Some of this information is collected through cookies and similar technologies, which are described "
    "further below.",
]
COLLECTION_THIRD = [
    "We may obtain information about you from other sources, such as a friend who invites you, a business "
    "customer that sets up your account, or a payment provider that confirms a transaction.",
    "If you sign in with a third-party account, such as Google or Apple, we receive the information that "
    "service shares with us, which usually includes your name and email address.",
    "We combine this information with the information we already hold, in order to keep your records accurate.",
]

USE_LEAD = [
    "We use the information we collect for the following purposes:",
    "We process your information only where we have a reason to do so. The main reasons are:",
    "Depending on how you use the service, we use personal information:",
]
USE_EXTRA = [
    "We do not use information in ways that are incompatible with the purposes described here. In the event "
    "that we want to use it for a new purpose, we will tell you first and, where required, ask for your "
    "permission.",
    "We may create aggregated statistics - for example, how many people used a feature last month - that no "
    "longer identify anyone. Such statistics are not personal information.",
    "Additionally, we use information to personalise the service for you, such as remembering your language "
    "and the way you like the interface to look.",
    "We review the ways we use information at least once a year, in order to check that each use is still "
    "needed.",
]

LEGAL_BASIS = [
    "Data protection law requires us to have a legal basis for each use of your personal data. We rely on the "
    "following:",
    "Performance of a contract: we need the information to provide the service you signed up for.",
    "Legitimate interests: for example, to keep the service secure and to understand how it is used, where "
    "these interests are not overridden by your rights.",
    "Legal obligation: where the law requires us to keep or disclose information, such as tax records.",
    "Consent: where we have asked for your permission, for example for optional cookies.",
]

SHARING_LEAD = [
    "We share personal information only as described below:",
    "We do not disclose your information to others except in the following situations:",
    "Your information may be accessible to the following categories of recipients:",
]
SHARING_EXTRA = [
    "Our service providers may only use the information to perform services for us, under written contracts "
    "that require them to protect it.",
    "We may also share information with your consent or at your direction, for example when you ask us to "
    "connect your account to another app.",
    "If you post content in a public area of the service, other users can see it. Please think carefully before "
    "sharing anything you would prefer to keep private.",
    "We may disclose information where we believe in good faith that it is necessary to protect the safety of "
    "any person, or to respond to a lawful request from a public authority.",
]
AFFILIATES = [
    "We share information with companies in our corporate family that help us provide and support the "
    "service. They are bound by this policy.",
]

TRANSFERS = [
    "Our main servers are located in {home_region}. Some of our service providers operate in other countries.",
    "Whenever personal data leaves {home_region}, we put safeguards in place to protect it, such as contracts "
    "that require the recipient to apply the same standards as we do.",
    "You can ask us for more information about the safeguards we use by writing to {email}.",
]
HOME_REGION = {"EEA": "the European Union", "UK": "the United Kingdom", "US": "the United States",
               "CA": "Canada"}

RETENTION = [
    "We keep personal information only as long as we need it for the purposes described in this policy, "
    "including to meet legal, accounting or reporting requirements.",
    "To decide how long to keep information, we consider the amount, nature and sensitivity of the "
    "information, the risk of harm from unauthorised use, and whether we can achieve the purpose in other ways.",
    "When you close your account, we delete or anonymise your information, except for information we must keep "
    "by law, such as invoices.",
    "Backups are overwritten on a rolling schedule, so deleted information may remain in backups for a short "
    "time before it is removed.",
    "Where information has been anonymised so that it no longer identifies you, we may keep it for longer.",
]

SECURITY = [
    "We use technical and organisational measures designed to protect your information against loss, misuse "
    "and unauthorised access.",
    "No method of transmission over the internet or of electronic storage is completely secure, so we cannot "
    "guarantee absolute security.",
    "You are responsible for keeping your password secret. Please let us know promptly in the event that you "
    "suspect someone else has access to your account.",
    "We regularly review our security practices in order to keep pace with new threats.",
]

RIGHTS_LEAD = [
    "Depending on where you live, you may have the following rights over your personal information:",
    "You have rights over the information we hold about you. In particular, you can:",
    "Subject to certain exceptions, the law gives you the right to:",
]
RIGHTS_EXTRA = [
    "To make a request, write to {email} or use the privacy page in your account settings. We may need to "
    "verify your identity before we respond.",
    "We respond to requests within the time the law allows, which is usually one month. There is normally no "
    "charge.",
    "You can authorise someone else to make a request on your behalf. In that case we will ask for proof that "
    "they are authorised to act for you.",
]

CHOICES = [
    "You can update your profile information at any time from your account settings.",
    "Every marketing email we send contains an \"unsubscribe\" link. You can also change your email "
    "preferences in your account.",
    "Your browser or device may let you block or delete cookies. If you do, some parts of the service may not "
    "work as expected.",
    "Your mobile device lets you control whether our app may send you push notifications.",
]

COOKIES = [
    "Cookies are small text files stored by your browser. We and our service providers use cookies and similar "
    "technologies, such as local storage, for the purposes below.",
    "You can change your cookie preferences at any time through the \"Cookie settings\" link at the bottom of "
    "each page.",
    "Some cookies are set by us (first-party cookies) and some by other companies that provide services to us "
    "(third-party cookies).",
]
COOKIE_TYPES = [
    "Strictly necessary cookies, which keep you signed in and remember your cookie choices.",
    "Preference cookies, which remember settings such as your language.",
    "Analytics cookies, which help us count visits and see which pages are used most.",
]

CHILDREN = [
    "{product} is designed for adults and is not directed at children.",
    "If you are a parent or guardian and believe your child has given us personal information, please contact "
    "us and we will take appropriate steps.",
    "We encourage parents to talk to their children about staying safe online.",
]
CHILDREN_QUILLPATH = [
    "Many of our users are pupils, and we take particular care with their information. Schools decide which "
    "pupils use the platform and what information is entered about them.",
    "We only show pupils content and features that their school has switched on, and we never show pupils "
    "advertising.",
    "Parents who have questions about their child's data should normally contact the child's school first, "
    "as the school controls that information.",
]

CHANGES = [
    "We may update this policy from time to time, for example to reflect changes to our services or to the "
    "law.",
    "The date at the top of this page shows when it was last revised.",
    "Earlier versions of this policy are available on request.",
]

CONTACT = [
    "If you have any questions about this policy or how we handle your information, please contact us at "
    "{email}.",
    "You can also write to us at {legal}, {address}.",
    "You have the right to complain to {authority}. We would, however, appreciate the chance to deal with "
    "your concerns before you approach the regulator.",
]

LINKS = [
    "Our service may contain links to websites run by other companies. We are not responsible for their "
    "privacy practices, and we encourage you to read their policies.",
    "Clicking a link or enabling a connection to a third-party site may allow that company to collect "
    "information about you.",
]

CALIFORNIA = [
    "If you live in California, the California Consumer Privacy Act gives you certain rights. This section "
    "supplements the rest of this notice.",
    "In the past twelve months we have collected the categories of personal information described in the "
    "section on information we collect, for the purposes described in the section on how we use it.",
    "You can exercise your rights by writing to {email} or by calling our toll-free number, 1-800-555-0142.",
]

AUTOMATED = [
    "We use automated tools to detect fraudulent bookings. If a booking is flagged, a member of our team "
    "reviews it before any decision is taken.",
    "We do not otherwise make decisions about you that are based solely on automated processing.",
]

# text of company-specific subsections: a string is a paragraph, a list is a bullet list
SUB_TEXT = {
    "pupils": [
        "Schools usually enter pupil information themselves or import it from their management information "
        "system. Teachers can see the progress of the pupils in their classes.",
        "For each pupil, the school usually provides:",
        ["First name and surname.", "Year group and class.",
         "A login issued by the school, or the pupil's school email address."],
    ],
    "teachers": [
        "For teachers and school staff, we hold your name, school email address, role and the classes you "
        "teach. If you buy a subscription for your school, we also hold the billing contact's details.",
        "We record when teachers sign in and which reports they open, so that schools can audit access to "
        "pupil records.",
    ],
    "account_sub": [
        "To create a Kestrel account you give us your name, email address, date of birth and a password. If you "
        "buy a tracker from our online shop, we also process your delivery address and payment details.",
        "Your date of birth is used to calculate values that depend on age, such as your maximum heart rate.",
    ],
    "sensor": [
        "Your tracker records the following measurements:",
        ["Steps, distance and floors climbed.",
         "Heart rate, measured every few seconds during workouts and every ten minutes otherwise.",
         "Sleep phases, estimated from movement and heart rate.", "Changes in skin temperature overnight."],
    ],
    "app_usage": [
        "The Kestrel Coach app records how you use it, in order to fix errors and improve its design. This "
        "includes:",
    ],
    "bookings": [
        "When you make a booking, we use your details to confirm the reservation, send your travel documents "
        "and let you manage or cancel it.",
        "If something goes wrong during your trip, our customer service team uses your booking details and "
        "your previous contact with us to help you.",
    ],
    "marketing": [
        "If you have subscribed, we send you newsletters with travel ideas and deals, tailored to the "
        "destinations you have searched for.",
        "On our site we show you recommendations based on your searches and past bookings with Orbisly.",
    ],
}


def _sub_blocks(key: str) -> list:
    return [Para(x) if isinstance(x, str) else Bullets(list(x)) for x in SUB_TEXT[key]]


def date_string(fmt: str, date: tuple[int, int, int]) -> str:
    y, m, d = date
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December"]
    if fmt == "dmy":
        return f"{d} {months[m - 1]} {y}"
    if fmt == "mdy":
        return f"{months[m - 1]} {d}, {y}"
    if fmt == "iso":
        return f"{y:04d}-{m:02d}-{d:02d}"
    return f"{d:02d}.{m:02d}.{y}"


def _fill(text: str, company: Company) -> str:
    facts = dict(company.facts)
    facts["home_region"] = HOME_REGION[company.region]
    return text.format(**facts)


def _pick(rng: random.Random, pool: list, k: int) -> list:
    k = min(k, len(pool))
    idx = sorted(rng.sample(range(len(pool)), k))
    return [pool[i] for i in idx]


def _bullet_for(item: Item, style: int) -> str:
    if style == 0:
        return f"{item.label}: {item.desc}."
    if style == 1:
        return f"{item.label} - {item.desc}."
    return f"{item.label}, for example {item.desc}."


def _list_or_prose(company: Company, lead: str, items: list[str], joiner_lead: str) -> list:
    """Bullets after a lead-in, or the same items run together as a sentence for prose-style companies."""
    if not company.prose_lists:
        return [Para(lead), Bullets(items)]
    parts = [i.rstrip(".") for i in items]
    parts = [p[0].lower() + p[1:] if not p[:2].isupper() else p for p in parts]
    body = "; ".join(parts[:-1]) + "; and " + parts[-1] if len(parts) > 1 else parts[0]
    return [Para(f"{joiner_lead} {body}.")]


def build_policy(company: Company, rng: random.Random) -> Policy:
    """The base policy of one company (deterministic for a given rng state)."""
    f = lambda t: _fill(t, company)  # noqa: E731
    H = company.headings
    bstyle = rng.randrange(3)

    def section(key: str) -> Section:
        s = Section(key, H[key])
        if key == "intro":
            s.blocks = [Para(f(t)) for t in _pick(rng, INTRO, 4)]
        elif key == "controller":
            s.blocks = [Para(f(t)) for t in _pick(rng, CONTROLLER, 3)]
        elif key == "collection":
            s.blocks = [Para(f(rng.choice(COLLECTION_LEAD)))]
            items = [_bullet_for(DATA_TYPES[i], bstyle) for i in company.data_items if i not in ("usage", "device",
                                                                                                    "ip")]
            items += [f"{lab}: {desc}." for lab, desc in company.extra_data]
            auto = [_bullet_for(DATA_TYPES[i], bstyle) for i in company.data_items if i in ("usage", "device", "ip")]
            subs = company.subs.get("collection")
            if subs and subs[0][0] == "provided":
                s.subs = [Section(subs[0][0], subs[0][1], _list_or_prose(company, f(rng.choice(COLLECTION_PROVIDED)),
                                                                          items, "This includes")),
                          Section(subs[1][0], subs[1][1], [Para(f(t)) for t in _pick(rng, COLLECTION_AUTOMATIC, 2)]
                                  + [Bullets(auto)]),
                          Section(subs[2][0], subs[2][1], [Para(f(t)) for t in _pick(rng, COLLECTION_THIRD, 2)])]
            elif subs:  # company-specific subsections
                s.blocks += _list_or_prose(company, f(rng.choice(COLLECTION_PROVIDED)), items, "This includes")
                s.blocks += [Para(f(t)) for t in _pick(rng, COLLECTION_AUTOMATIC, 1)]
                for sk, sh in subs:
                    blocks = _sub_blocks(sk)
                    if sk == "app_usage":
                        blocks.append(Bullets(auto))
                    s.subs.append(Section(sk, sh, blocks))
            else:
                s.blocks += _list_or_prose(company, f(rng.choice(COLLECTION_PROVIDED)), items, "This includes")
                s.blocks += [Para(f(t)) for t in _pick(rng, COLLECTION_AUTOMATIC, 2)]
                s.blocks += _list_or_prose(company, "Automatically collected information includes:", auto,
                                           "It includes")
                s.blocks += [Para(f(t)) for t in _pick(rng, COLLECTION_THIRD, 2)]
        elif key == "use":
            purposes = [PURPOSES[p][0] for p in BASE_PURPOSES if rng.random() < 0.85 or p == "provide"]
            items = [p[0].upper() + p[1:] + "." for p in purposes]
            s.blocks = _list_or_prose(company, rng.choice(USE_LEAD), items, "We use personal information")
            s.blocks += [Para(f(t)) for t in _pick(rng, USE_EXTRA, 2)]
            for sk, sh in company.subs.get("use", []):
                s.subs.append(Section(sk, sh, _sub_blocks(sk)))
        elif key == "legal_basis":
            s.blocks = [Para(LEGAL_BASIS[0]), Bullets(LEGAL_BASIS[1:])]
        elif key == "sharing":
            rec = [r for r in BASE_RECIPIENTS if rng.random() < 0.85 or r == "processors"]
            items = [_bullet_for(RECIPIENTS[r], bstyle) for r in rec]
            s.blocks = _list_or_prose(company, rng.choice(SHARING_LEAD), items, "We share information with")
            s.blocks += [Para(f(t)) for t in _pick(rng, SHARING_EXTRA, 3)]
            for sk, sh in company.subs.get("sharing", []):
                s.subs.append(Section(sk, sh, [Para(f(t)) for t in AFFILIATES]))
        elif key == "transfers":
            s.blocks = [Para(f(t)) for t in TRANSFERS]
        elif key == "retention":
            s.blocks = [Para(f(t)) for t in _pick(rng, RETENTION, 4)]
        elif key == "security":
            s.blocks = [Para(f(t)) for t in _pick(rng, SECURITY, 3)]
        elif key == "rights":
            items = [f"{RIGHTS[r][0][0].upper()}{RIGHTS[r][0][1:]}." for r in BASE_RIGHTS]
            s.blocks = _list_or_prose(company, rng.choice(RIGHTS_LEAD), items, "You can")
            s.blocks += [Para(f(t)) for t in _pick(rng, RIGHTS_EXTRA, 2)]
            for sk, sh in company.subs.get("rights", []):
                s.subs.append(Section(sk, sh, [Para(f(t)) for t in _pick(rng, CHOICES, 2)]))
        elif key == "choices":
            s.blocks = [Para(f(t)) for t in _pick(rng, CHOICES, 3)]
        elif key == "cookies":
            s.blocks = [Para(f(COOKIES[0])), Bullets(list(COOKIE_TYPES))] + [Para(f(t)) for t in COOKIES[1:]]
        elif key == "children":
            pool = CHILDREN_QUILLPATH if company.id == "quillpath" else CHILDREN
            s.blocks = [Para(f(t)) for t in pool]
        elif key == "changes":
            s.blocks = [Para(f(t)) for t in _pick(rng, CHANGES, 2)]
        elif key == "contact":
            s.blocks = [Para(f(t)) for t in CONTACT]
        elif key == "links":
            s.blocks = [Para(f(t)) for t in LINKS]
        elif key == "california":
            s.blocks = [Para(f(t)) for t in CALIFORNIA]
            items = [f"{RIGHTS[r][0][0].upper()}{RIGHTS[r][0][1:]}." for r in BASE_RIGHTS]
            s.blocks.insert(1, Bullets(items))
            s.blocks.insert(1, Para("California residents have the right to:"))
        elif key == "automated":
            s.blocks = [Para(f(t)) for t in AUTOMATED]
        return s

    sections = [section(k) for k in company.order]
    if company.id == "harvest":
        # the controller paragraph lives in the contact section
        contact = next(s for s in sections if s.key == "contact")
        contact.blocks.insert(0, Para(f(CONTROLLER[0])))
    intro = [Para(f(t)) for t in _pick(rng, INTRO, 2)] if "intro" not in company.order else []
    year = 2022 + rng.randrange(3)
    date = (year, 1 + rng.randrange(12), 1 + rng.randrange(27))
    policy = Policy(company, company.title, date, intro, sections)
    add_company_paras(policy)
    return policy


def find_section(policy: Policy, key: str):
    for s, parent in policy.all_sections():
        if s.key == key:
            return s, parent
    return None, None


def home_section(policy: Policy, topic: str) -> Section:
    """The section where an edit about `topic` goes for this company."""
    key = policy.company.home.get(topic, topic)
    s, _ = find_section(policy, key)
    if s is None:
        raise KeyError(f"{policy.company.id} has no section for {topic}")
    return s

# ----------------------------------------------------------------------------------------- company-specific text
# Paragraphs only one company uses, appended to the named section. They make each policy read differently.

COMPANY_PARAS = {
    "lumenfold": {
        "collection": [
            "When you upload a photo, we also receive the metadata embedded in the file by your camera, such as "
            "the date it was taken and the camera model. You can strip this metadata before uploading by "
            "turning on \"Remove photo details\" in the export dialog.",
            "If you share an album, the people you invite receive a link. We record which albums are shared and "
            "how often they are opened, in order to show you view counts.",
        ],
        "use": [
            "Our editing tools run on your device wherever possible. Filters that need more computing power, "
            "such as noise reduction on large files, run on our servers, and the processed image is returned to "
            "you and then removed from the processing queue.",
            "We look at crash reports and anonymous performance measurements to decide which bugs to fix first.",
        ],
        "security": [
            "Photos stored in Lumenfold Cloud are kept in data centres operated by our hosting provider, which "
            "holds recognised security certifications and restricts physical access to its buildings.",
        ],
        "rights": [
            "You can download all the photos and edits stored in your Lumenfold Cloud library at any time from "
            "Settings > Library > Export. This is usually the quickest way to get a copy of your content.",
        ],
        "choices": [
            "If you no longer want to use Lumenfold Cloud, you can switch the app to local-only mode. Your "
            "library then stays on your device and nothing new is uploaded.",
        ],
        "changes": [
            "Previous versions of this policy are listed in our Help Centre, so that you can see what was "
            "revised and when.",
        ],
    },
    "brightwater": {
        "intro": [
            "Brightwater is not a bank. Banking services for Brightwater accounts are provided by our partner "
            "banks, each of which has its own privacy notice that also applies to you.",
            "This notice also serves as our notice under the Gramm-Leach-Bliley Act for consumers who obtain a "
            "financial product or service from us.",
        ],
        "collection": [
            "When you connect a bank account, card or investment account, we use a secure connection service to "
            "retrieve balances and transactions. We never see or store your online banking password.",
            "We may also obtain information from identity verification services in order to confirm that you are "
            "who you say you are, as federal law requires for financial products.",
        ],
        "use": [
            "We use your transaction history to categorise your spending, to forecast upcoming bills and to alert "
            "you when a balance is running low. You decide which alerts you receive.",
            "We use information about how members use budgets in aggregate to develop new features, such as "
            "savings goals and shared household budgets.",
        ],
        "security": [
            "Brightwater accounts are protected by device verification. When you sign in from a new phone or "
            "computer we send a one-time code to the phone number on your account.",
            "Our employees complete privacy and security training when they join and every year after that.",
        ],
        "choices": [
            "You can disconnect a linked account at any time from the Accounts screen. We stop retrieving new "
            "transactions from that account immediately.",
        ],
        "california": [
            "We will not discriminate against you for exercising any of your rights, for example by charging "
            "you a different price or giving you a lower quality of service.",
        ],
        "contact": [
            "For questions about a specific transaction, please use the in-app chat rather than the privacy "
            "address, so that our support team can help you promptly.",
        ],
    },
    "quillpath": {
        "intro": [
            "Quillpath provides online lessons, homework and assessment tools to primary and secondary schools. "
            "This notice is for pupils, parents, teachers and anyone else who uses the platform.",
            "For pupils' information we usually act as a processor for the school, which is the controller. "
            "For teachers' accounts and our own marketing, we are the controller.",
        ],
        "use": [
            "Teachers use the platform to set work, see how a class is getting on and spot pupils who may need "
            "extra help. The progress reports they see are based on the answers pupils give.",
            "We use information about how lessons are used, with names removed, to improve our lesson content "
            "and to fix questions that many pupils find confusing.",
        ],
        "sharing": [
            "A pupil's information is visible to the teachers at their school who have been given access by the "
            "school, and to the pupil's parents if the school has enabled the parent view.",
        ],
        "security": [
            "Teacher accounts must be protected by a strong password, and school administrators can require "
            "single sign-on through the school's own identity provider.",
            "Our staff receive training on safeguarding and data protection before they are given access to any "
            "school's data.",
        ],
        "retention": [
            "When a school's subscription ends, we keep its data for a short grace period so that the school can "
            "renew or export its records, and then we delete it.",
        ],
        "rights": [
            "Because schools control pupils' information, we pass requests about a pupil's data to the school "
            "and help it to respond.",
        ],
        "contact": [
            "Schools can contact their account manager or our support team through the help button in the "
            "teacher dashboard.",
        ],
    },
    "orbisly": {
        "collection": [
            "When you book on behalf of other travellers, you are responsible for making sure they agree to you "
            "sharing their details with us.",
            "If you write a review of an accommodation, we publish it on our site together with your first name, "
            "the month you stayed and your country.",
        ],
        "use": [
            "We pass the booking details a travel provider needs - such as names, dates and special requests - "
            "to the hotel, airline or rental company you book with, so that it can fulfil your reservation.",
        ],
        "sharing": [
            "Travel providers you book with are independent controllers of the information we pass to them. "
            "Their own privacy statements explain how they use it.",
            "Our customer service is partly provided by external contact centres, which can see your booking "
            "details when helping you.",
        ],
        "rights": [
            "If you are not satisfied with our response, you can contact the supervisory authority in the "
            "country where you live or work, or where you believe a breach occurred.",
        ],
        "choices": [
            "You can choose whether to receive our newsletter and travel inspiration when you create your "
            "account, and change your mind later in your profile.",
        ],
        "security": [
            "Payment card details are processed by our payment service provider in a PCI DSS compliant "
            "environment; they are not stored on our own servers.",
        ],
        "changes": [
            "Where a change affects a booking you have already made, the version of this statement in force on "
            "the day you made the booking continues to apply to that booking.",
        ],
    },
    "harvest": {
        "intro": [
            "Harvest & Hearth delivers groceries from local stores and farms to your door. We care about the "
            "trust you place in us when you let us into your kitchen, and we take that responsibility "
            "seriously.",
            "This policy is written to comply with the Personal Information Protection and Electronic Documents "
            "Act (PIPEDA) and applicable provincial privacy laws.",
        ],
        "collection": [
            "Our delivery drivers use an app that records the time and place each order is dropped off, so that "
            "we can confirm delivery and resolve missing-order claims.",
            "If you leave delivery instructions, such as a door code or the name of a neighbour, we store them "
            "with your address and show them to the driver who delivers your order.",
        ],
        "use": [
            "We use your order history to suggest items you buy regularly and to remind you when a favourite "
            "product is back in stock.",
            "Store partners receive the items in your order, your first name and your delivery window, which "
            "they need to pick and pack your groceries.",
        ],
        "sharing": [
            "Drivers see your name, delivery address, telephone number and delivery instructions only while "
            "they are completing your order.",
        ],
        "security": [
            "Drivers' devices are managed by us and can be wiped remotely if they are lost or stolen.",
        ],
        "rights": [
            "You may ask to see the personal information we hold about you and ask us to correct it. We will "
            "respond within 30 days, and we will explain our reasons if we cannot give you access to some of "
            "it.",
            "You may withdraw your consent to certain uses of your information, subject to legal or contractual "
            "restrictions and reasonable notice.",
        ],
        "contact": [
            "Our Privacy Officer is responsible for our compliance with this policy. Please write to the Privacy "
            "Officer at the address below.",
        ],
    },
    "kestrel": {
        "collection": [
            "Your tracker measures movement, heart rate and skin temperature continuously while you wear it. "
            "This data is first stored on the device and synchronised with the Kestrel Coach app when the two "
            "are connected.",
            "You can enter further information in the app, such as your height, weight and training goals. This "
            "is optional, but some features, such as calorie estimates, need it.",
        ],
        "use": [
            "We use your activity data to show you trends, to calculate training load and recovery "
            "recommendations, and to remind you to move if you have been inactive for a long time.",
            "If you join a challenge with friends, the participants can see your step count and ranking for "
            "the duration of the challenge.",
        ],
        "legal_basis": [
            "Where we process data about your health, such as heart rate, we do so on the basis of your "
            "explicit consent, which you give when you pair your tracker.",
        ],
        "security": [
            "Data is transmitted between your tracker and your phone over an encrypted Bluetooth connection "
            "that is established when you pair the devices.",
        ],
        "rights": [
            "You can export your activity data as a file from the app under Profile > Data. Requests concerning "
            "other data can be sent to our data protection officer.",
        ],
        "contact": [
            "Our data protection officer can be reached at dpo@kestrel-wearables.example or at our postal "
            "address, marked \"Datenschutzbeauftragter\".",
        ],
    },
    "tinkerdock": {
        "intro": [
            "Tinkerdock hosts source code, issues and documentation for individual developers and for "
            "organisations. This policy explains what happens to the personal information involved.",
            "If your organisation administers your Tinkerdock account, its administrators can see and manage "
            "the content in its repositories, and its own policies may also apply to you.",
        ],
        "collection": [
            "Public repositories, and the commits, issues and comments in them, can be seen by anyone. Commit "
            "metadata includes the name and email address configured in your Git client.",
            "We log requests to our API, including the access token used, the repository involved and the "
            "result, so that we can enforce rate limits and investigate abuse.",
        ],
        "use": [
            "We scan code pushed to public repositories for leaked credentials, such as API keys, and notify the "
            "issuer of the credential so that it can be revoked.",
            "We use aggregate information about repository activity to plan capacity and to decide which "
            "integrations to build next.",
        ],
        "sharing": [
            "When you install a third-party integration, it receives the permissions you grant during "
            "installation. You can review and revoke integrations in your settings.",
        ],
        "security": [
            "We run a public bug bounty programme and welcome reports of vulnerabilities from security "
            "researchers.",
        ],
        "choices": [
            "You can make your email address private in your profile settings. We will then use a no-reply "
            "address for commits made through the web interface.",
        ],
        "retention": [
            "Content in a deleted repository can be restored by its owner for a short period, after which it "
            "is permanently removed.",
        ],
    },
}


def add_company_paras(policy: Policy) -> None:
    paras = COMPANY_PARAS.get(policy.company.id, {})
    for key, texts in paras.items():
        s, _ = find_section(policy, key)
        if s is None:
            continue
        pos = len(s.blocks)
        s.blocks[pos:pos] = [Para(t) for t in texts]
