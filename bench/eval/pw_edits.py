"""Labelled edits for the evaluation benchmark: material edits with several phrasings each, and noise edits.

A material edit is either an insertion (one side of the pair carries a statement the other lacks: adding a
data type in `new` is an expansion; the same statement only in `old` is its removal, a restriction) or a
replacement (both sides carry a statement in the same phrasing with different values: a retention period,
an age threshold, a negation, a promise, a controller). Each phrasing is one of several ways a policy might
say the same thing, in different legal styles; `phrasing_id` in the label names the one used.

Direction: expand = less protective for the user, restrict = more protective.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from pw_blocks import (
    AGE_PAIRS,
    DATA_TYPES,
    DESTINATIONS,
    EDIT_DATA_TYPES,
    EDIT_OPTOUTS,
    EDIT_PURPOSES,
    EDIT_RECIPIENTS,
    EDIT_RIGHTS,
    EDIT_SAFEGUARDS,
    EDIT_TRACKERS,
    HEADING_POOL,
    HOME_REGION,
    OPTOUTS,
    PURPOSES,
    QUESTION_ALTERNATIVES,
    RECIPIENTS,
    RETENTION_THINGS,
    RIGHTS,
    SAFEGUARDS,
    TRACKERS,
    Bullets,
    Para,
    Policy,
    Section,
    home_section,
)

# ----------------------------------------------------------------------------------------- phrasings
# A phrasing is (id, mode, template). mode: "para" = a paragraph of its own, "append" = a sentence added to
# an existing paragraph, "bullet" = an item added to the section's list (a list is created if it has none).
# Replacement phrasings are (id, mode, template_a, template_b) or one template filled with two values.

DATA_PHRASINGS = [
    ("d-plain", "para", "We also collect {np}."),
    ("d-feature", "para", "When you turn on certain features, we may gather {np}."),
    ("d-passive", "para", "{Np} may be obtained from your device and stored on our servers."),
    ("d-bullet", "bullet", "{label}: {desc}."),
    ("d-reserve", "append", "{brand} reserves the right to collect and process {np}."),
    ("d-include", "para", "The information we receive about you can include {np}."),
    ("d-apps", "append", "Depending on your settings, our apps access {np}."),
]

PURPOSE_PHRASINGS = [
    ("p-may-use", "para", "We may use your information {inf}."),
    ("p-processed-for", "append", "Your personal data may also be processed for the purpose of {ing}."),
    ("p-bullet", "bullet", "{Inf}."),
    ("p-brand-uses", "para", "{brand} uses the content and data you provide {inf}."),
    ("p-legit", "para", "Where the law permits, we rely on our legitimate interests when {ing}."),
    ("p-connection", "para", "Data collected through the service may additionally be used in connection with "
     "{ing}."),
]

RECIPIENT_PHRASINGS = [
    ("r-disclose", "para", "We may disclose your personal information to {np}."),
    ("r-could-be", "para", "Your information could be provided to {np}."),
    ("r-receive", "para", "{Np} can receive information about you from us, including your contact details and "
     "how you use the service."),
    ("r-bullet", "bullet", "{label}: {desc}."),
    ("r-made-available", "append", "Personal data is also made available to {np}."),
    ("r-share-certain", "para", "We share certain information, such as your usage history and device "
     "identifiers, with {np}."),
]

SALE_PAIRS = [  # (protective, permissive)
    ("s-do-not", "para", "We do not sell your personal information.", "We may sell your personal information."),
    ("s-never-sold", "append", "Your personal data is never sold to third parties.",
     "Your personal data may be sold to third parties."),
    ("s-has-not", "para", "{brand} has not sold, and will not sell, the personal information of its users.",
     "{brand} may sell the personal information of its users."),
    ("s-dont-rent", "append", "We don't rent or sell your details to anyone.",
     "We may rent or sell your details to selected partners."),
    ("s-consideration", "para", "Under no circumstances will we provide data about you to third parties in "
     "exchange for money or other valuable consideration.", "We may provide data about you to third parties in "
     "exchange for money or other valuable consideration."),
    ("s-business-model", "para", "Selling customer data is not part of our business model.",
     "Selling customer data is part of our business model."),
]

OPTOUT_PHRASINGS = [
    ("o-settings", "para", "You can {verb} at any time in your account settings."),
    ("o-email", "para", "If you prefer, you may {verb} by emailing {email}."),
    ("o-toggle", "para", "To {verb}, switch off \"{setting}\" under Settings > Privacy."),
    ("o-bullet", "bullet", "{setting}: you can turn this off from your dashboard."),
    ("o-option", "append", "Users have the option to {verb}; doing so does not affect the core features of the "
     "service."),
    ("o-ability", "para", "We give you the ability to {verb}."),
    ("o-should", "para", "Should you wish to {verb}, please use the form on our privacy page."),
]

RIGHT_PHRASINGS = [
    ("g-right-to", "para", "You have the right to {verb}."),
    ("g-entitled", "para", "You are also entitled to {verb}."),
    ("g-bullet", "bullet", "{Verb}."),
    ("g-subject-to", "para", "Subject to applicable law, you may also {verb}."),
    ("g-exercise", "append", "You can also exercise the right to {verb} by contacting us."),
    ("g-respect", "para", "We will respect your right to {verb}."),
]

RETENTION_PHRASINGS = [
    ("t-retain", "para", "We retain {thing} for {dur}."),
    ("t-kept", "append", "{Thing} are kept for {dur} and then deleted or anonymised."),
    ("t-no-longer", "para", "{Thing} will be stored for no longer than {dur}."),
    ("t-label", "bullet", "Retention period for {thing}: {dur}."),
    ("t-delete-after", "para", "We delete {thing} {dur} after they are created."),
    ("t-unless", "append", "Unless the law requires otherwise, {thing} are erased after {dur}."),
    ("t-up-to", "para", "{brand} may keep {thing} for up to {dur}."),
]

AGE_PHRASINGS = [
    ("a-knowingly", "para", "We do not knowingly collect personal information from children under {age}."),
    ("a-not-intended", "append", "The service is not intended for anyone under the age of {age}."),
    ("a-at-least", "para", "You must be at least {age} years old to create an account."),
    ("a-learn", "para", "If we learn that a user is younger than {age}, we will delete their account and the "
     "information associated with it."),
    ("a-consent", "para", "Users under {age} may only use the service with the verifiable consent of a parent or "
     "guardian."),
    ("a-minimum", "append", "The minimum age to use {brand} is {age}."),
]

NOTICE_PAIRS = [  # (strong promise, weak promise)
    ("n-email-30", "para", "If we make material changes, we will notify you by email at least 30 days before they "
     "take effect.", "If we make changes, we will post the updated policy on this page, and the changes take "
     "effect immediately."),
    ("n-consent", "para", "We will ask for your consent before applying any material change to how we use your "
     "data.", "We may apply changes to how we use your data without asking for your consent."),
    ("n-advance", "append", "You will receive advance notice, in the app and by email, of any significant change "
     "to this policy.", "We may not give advance notice of changes to this policy, so please check this page "
     "regularly."),
    ("n-14-days", "para", "Material amendments will only apply after you have been informed of them at least 14 "
     "days in advance.", "Amendments apply from the date of publication, and continued use of the service "
     "constitutes acceptance of them."),
    ("n-reduce-rights", "para", "Before any change that reduces your rights takes effect, we will contact you "
     "directly and give you the option to close your account.", "Changes, including ones that reduce your "
     "rights, may take effect without any direct notice to you."),
    ("n-retroactive", "para", "We will never apply a less protective version of this policy to information "
     "collected before the change without your express consent.", "A revised version of this policy applies to "
     "all information we hold, including information collected before the revision."),
]

CONTROLLER_PHRASINGS = [
    ("c-is-controller", "para", "{entity} is the controller responsible for your personal data."),
    ("c-data-controller", "append", "The data controller for {brand} is {entity}."),
    ("c-label", "para", "Controller: {entity}"),
    ("c-we-refers", "para", "In this policy, \"we\", \"us\" and \"our\" refer to {entity}."),
    ("c-responsibility", "append", "Your personal data is processed under the responsibility of {entity}."),
    ("c-operates", "para", "The company that operates {product} and decides how your information is used is "
     "{entity}."),
]

TRANSFER_PHRASINGS = [
    ("x-may-transfer", "para", "We may transfer your personal data to {dest}."),
    ("x-stored", "para", "Your information may be stored and processed in {dest}, where some of our service "
     "providers are located."),
    ("x-support-team", "para", "Members of our support team based in {dest} can access your account data."),
    ("x-lower-protection", "para", "Personal data is transferred to {dest}; these countries may not offer the "
     "same level of protection as the country where you live."),
    ("x-bullet", "bullet", "Service providers in {dest}, which provide hosting and customer support."),
    ("x-data-centres", "para", "{brand} uses data centres located in {dest}."),
    ("x-takes-place", "append", "Some of this processing takes place in {dest}."),
]

TRACKER_PHRASINGS = [
    ("k-we-use", "para", "We use {np}."),
    ("k-may-contain", "para", "Our pages may contain {np}."),
    ("k-deployed", "para", "{Np} may be deployed when you visit our site or open our app."),
    ("k-bullet", "bullet", "{label} - {desc}."),
    ("k-in-addition", "para", "In addition to cookies, we and our partners rely on {np}."),
    ("k-encounter", "append", "You may encounter {np} on our websites and apps."),
]

SAFEGUARD_PHRASINGS = [
    ("y-protect-using", "para", "We protect your data using {np}."),
    ("y-include", "append", "Our safeguards include {np}."),
    ("y-bullet", "bullet", "{label}: {desc}."),
    ("y-implemented", "para", "We have implemented {np}."),
    ("y-protected-by", "para", "Your information is protected by {np}."),
    ("y-maintains", "append", "{brand} maintains {np}."),
]

LIST_LEADS = {
    "data_collected": "We may also collect:", "purposes": "We also use information for these purposes:",
    "sharing": "Recipients include:", "choices": "Your options include:", "user_rights": "Your rights include:",
    "retention": "Specific retention periods:", "international_transfers": "Transfers include:",
    "tracking": "Technologies we use include:", "security": "Our safeguards include:",
}

# ----------------------------------------------------------------------------------------- whole sections
# (id, category, heading, paragraphs). Expansive ones are added by section_added_expand and removed by
# section_removed_restrict; protective ones are added by section_added_restrict.

EXPAND_SECTIONS = [
    ("ai-1", "purposes", "Artificial Intelligence and Your Content", [
        "We develop artificial intelligence features, such as automatic captions and smart suggestions. To build "
        "them, we use the content you create or upload, together with information about how you interact with "
        "it.",
        "Your content may be reviewed by our staff and by contractors who label examples used to train our "
        "models. Once a model has been trained, information it has learned cannot always be removed from it.",
    ]),
    ("ai-2", "purposes", "How We Build Machine-Learning Features", [
        "Material you submit to {brand}, including text, images and files, can be used to develop and improve "
        "our machine-learning models and those of our technology partners.",
        "These models may be offered to other customers. Removing your content from the service does not remove "
        "it from models that have already been trained on it.",
    ]),
    ("bio-1", "data_collected", "Biometric Information", [
        "Some features analyse images and recordings to create face geometry and voiceprints, which are "
        "biometric identifiers. We use them to recognise you and the people in your content.",
        "Biometric identifiers are stored on our servers and linked to your account.",
    ]),
    ("bio-2", "data_collected", "Face and Voice Data", [
        "When you use photo tagging or voice sign-in, we generate templates from the shape of faces and the "
        "characteristics of voices.",
        "These templates are collected for everyone who appears in your uploads, including people who do not "
        "have an account with us.",
    ]),
    ("partners-1", "sharing", "Data Partnerships", [
        "We have commercial partnerships with companies that use information about our users to market their "
        "own products. We provide them with your contact details, your interests and a summary of your "
        "activity.",
        "Our partners use this information under their own privacy policies, not this one.",
    ]),
    ("partners-2", "sharing", "Sharing With Advertising and Data Partners", [
        "Advertisers, data brokers and measurement companies may receive identifiers and profile information "
        "about you from us, and may combine it with information they obtain elsewhere.",
        "In return, we receive payment or data that helps us improve our advertising products.",
    ]),
    ("loc-1", "data_collected", "Location Data", [
        "With your device permission, we collect your precise location, including in the background when the "
        "app is closed.",
        "We build a history of the places you visit and how long you stay there, and we use it to personalise "
        "the service and the offers you see.",
    ]),
    ("loc-2", "data_collected", "Precise Location Services", [
        "Our apps read the GPS coordinates of your device at regular intervals, and log the Wi-Fi networks and "
        "Bluetooth beacons around you.",
        "This location information is kept with your account and can reveal where you live and work.",
    ]),
    ("adtech-1", "tracking", "Interest-Based Advertising", [
        "We allow advertising companies to place cookies, pixels and software development kits on our websites "
        "and in our apps. They use them to follow your activity across other sites and apps over time.",
        "These companies build profiles of your interests and use them to show you ads elsewhere.",
    ]),
    ("adtech-2", "tracking", "Advertising Technologies", [
        "Our sites and apps embed tags from third-party ad-tech vendors that record the pages you visit, the "
        "products you look at and the identifiers of your device.",
        "The vendors can link this activity to the profiles they hold about you across the web.",
    ]),
]

RESTRICT_SECTIONS = [
    ("optout-1", "choices", "Opting Out of Targeted Advertising", [
        "You can switch off personalised advertising at any time under Settings > Privacy > Ads. Once you do, "
        "we stop using your activity to choose the ads you see and stop passing it to advertising partners.",
        "We also treat a Global Privacy Control signal sent by your browser as a request to opt out.",
    ]),
    ("optout-2", "choices", "Your Advertising Choices", [
        "If you would rather not receive ads based on your interests, open the Advertising page in your account "
        "and turn off \"Interest-based ads\". The setting applies on every device where you are signed in.",
        "You can also ask us by email to exclude you from all advertising audiences.",
    ]),
    ("staterights-1", "user_rights", "Additional Rights for Residents of Certain US States", [
        "If you live in Colorado, Connecticut, Virginia or another state with a comprehensive privacy law, you "
        "can ask us to confirm whether we process your data, obtain a copy of it, correct it and delete it.",
        "If we decline your request, you can appeal our decision by replying to our response. We will answer "
        "your appeal within 45 days.",
    ]),
    ("staterights-2", "user_rights", "Rights Under State Privacy Laws", [
        "Residents of states with consumer privacy laws may request access to, correction of and deletion of "
        "their personal data, and may receive it in a portable format.",
        "You may also appeal any refusal, and if the appeal is denied you may contact your state attorney "
        "general.",
    ]),
    ("minimise-1", "retention", "Data Minimisation and Deletion Schedule", [
        "We delete raw activity logs after 30 days and keep only aggregated statistics after that.",
        "Content you delete is removed from our active systems immediately and from backups within 35 days.",
    ]),
    ("minimise-2", "retention", "When We Delete Your Data", [
        "Support conversations are erased 60 days after the ticket is closed, and payment records are deleted "
        "as soon as the legal retention period ends.",
        "If your account is inactive for 24 months, we close it and delete the information linked to it.",
    ]),
    ("secure-1", "security", "Encryption and Breach Notification", [
        "All personal data is encrypted in transit with TLS 1.2 or higher and at rest with AES-256.",
        "If a breach affects your information, we will notify you within 72 hours of discovering it, and tell "
        "you what we are doing about it.",
    ]),
    ("secure-2", "security", "Our Security Commitments", [
        "Our security programme is audited every year against ISO/IEC 27001 and SOC 2, and the reports are "
        "available to customers on request.",
        "Employees can access personal data only through audited tools and only when their role requires it.",
    ]),
]

# ----------------------------------------------------------------------------------------- kinds

MATERIAL_KINDS = {
    # kind: (category, direction, family)
    "data_added": ("data_collected", "expand", "data"),
    "data_removed": ("data_collected", "restrict", "data"),
    "purpose_added": ("purposes", "expand", "purpose"),
    "purpose_removed": ("purposes", "restrict", "purpose"),
    "recipient_added": ("sharing", "expand", "recipient"),
    "recipient_removed": ("sharing", "restrict", "recipient"),
    "sale_allowed": ("sharing", "expand", "sale"),
    "sale_ruled_out": ("sharing", "restrict", "sale"),
    "optout_removed": ("choices", "expand", "optout"),
    "optout_added": ("choices", "restrict", "optout"),
    "right_removed": ("user_rights", "expand", "right"),
    "right_added": ("user_rights", "restrict", "right"),
    "retention_lengthened": ("retention", "expand", "retention"),
    "retention_shortened": ("retention", "restrict", "retention"),
    "safeguard_removed": ("security", "expand", "safeguard"),
    "safeguard_added": ("security", "restrict", "safeguard"),
    "transfer_added": ("international_transfers", "expand", "transfer"),
    "transfer_removed": ("international_transfers", "restrict", "transfer"),
    "age_lowered": ("children", "expand", "age"),
    "age_raised": ("children", "restrict", "age"),
    "tracker_added": ("tracking", "expand", "tracker"),
    "tracker_removed": ("tracking", "restrict", "tracker"),
    "notice_weakened": ("policy_changes", "expand", "notice"),
    "notice_strengthened": ("policy_changes", "restrict", "notice"),
    "controller_changed": ("controller_contact", None, "controller"),
    "section_added_expand": (None, "expand", "section"),
    "section_added_restrict": (None, "restrict", "section"),
    "section_removed_expand": (None, "expand", "section"),
    "section_removed_restrict": (None, "restrict", "section"),
}

NOISE_KINDS = ["template_swap", "whitespace_reflow", "nav_footer_churn", "cookie_banner_churn", "link_params",
               "date_stamp", "relative_date", "typography", "zero_width", "html_entities", "attribute_churn",
               "section_moved", "heading_renamed", "typo_fix", "list_rebulleted", "synonym_swap", "combined_noise"]
HTML_ONLY_NOISE = {"template_swap", "nav_footer_churn", "cookie_banner_churn", "html_entities", "attribute_churn"}
NOT_TXT_NOISE = {"link_params"}

TOPIC_OF_FAMILY = {"data": "collection", "purpose": "use", "recipient": "sharing", "sale": "sharing",
                   "optout": "choices", "right": "rights", "retention": "retention", "safeguard": "security",
                   "transfer": "transfers", "age": "children", "tracker": "cookies", "notice": "changes",
                   "controller": "controller"}
CATEGORY_OF_FAMILY = {k: v[0] for k, v in MATERIAL_KINDS.items()}


@dataclass
class EditResult:
    heading: str  # heading of the section that changed (old heading when removed, new when added)
    phrasing_id: str
    description: str
    evidence_old: str | None
    evidence_new: str | None
    category: str | None = None
    extra: dict | None = None


def _cap(s: str) -> str:
    return s[0].upper() + s[1:] if s else s


def _fmt(template: str, **kw) -> str:
    kw = dict(kw)
    for k in list(kw):
        if isinstance(kw[k], str) and k[0].islower():
            kw.setdefault(k[0].upper() + k[1:], _cap(kw[k]))
    return template.format(**kw)


# ----------------------------------------------------------------------------------------- placement


def _target(policy: Policy, topic: str, mode: str) -> Section:
    """The (sub)section receiving an edit about `topic`."""
    s = home_section(policy, topic)
    if s.subs and not any(isinstance(b, Bullets) for b in s.blocks):
        with_list = [x for x in s.subs if any(isinstance(b, Bullets) for b in x.blocks)]
        if mode == "bullet" and with_list:
            return with_list[0]
        if len([b for b in s.blocks if isinstance(b, Para)]) < 2:
            return with_list[0] if with_list else s.subs[0]
    return s


def _placement(section: Section, mode: str, rng: random.Random) -> tuple:
    """Where to put the edit: a stable description that applies to both copies of the section."""
    if mode == "bullet":
        for i, b in enumerate(section.blocks):
            if isinstance(b, Bullets):
                return ("bullet", i, rng.randrange(len(b.items) + 1))
        return ("newlist", len(section.blocks))
    if mode == "append":
        paras = [i for i, b in enumerate(section.blocks) if isinstance(b, Para) and not b.text.endswith(":")]
        if paras:
            return ("append", rng.choice(paras))
    # a new paragraph: not between a lead-in ending with ":" and its list
    spots = [i for i in range(1, len(section.blocks) + 1)
             if not (isinstance(section.blocks[i - 1], Para) and section.blocks[i - 1].text.endswith(":"))]
    return ("para", rng.choice(spots) if spots else len(section.blocks))


def _put(section: Section, place: tuple, text: str | None, lead: str) -> None:
    if text is None:
        return
    kind = place[0]
    if kind == "bullet":
        section.blocks[place[1]].items.insert(place[2], text)
    elif kind == "newlist":
        section.blocks[place[1]:place[1]] = [Para(lead), Bullets([text])]
    elif kind == "append":
        p = section.blocks[place[1]]
        p.text = p.text + " " + text
    else:
        section.blocks.insert(place[1], Para(text))


def _insert_pair(old: Policy, new: Policy, topic: str, mode: str, text_old: str | None, text_new: str | None,
                 category: str, rng: random.Random) -> str:
    so, sn = _target(old, topic, mode), _target(new, topic, mode)
    place = _placement(so, mode, rng)
    lead = LIST_LEADS.get(category, "This includes:")
    _put(so, place, text_old, lead)
    _put(sn, place, text_new, lead)
    return sn.heading


def _choose(rng: random.Random, pool: list, exclude: set) -> str:
    return rng.choice([x for x in pool if x not in exclude])


# ----------------------------------------------------------------------------------------- material edits


def apply_material(kind: str, old: Policy, new: Policy, rng: random.Random, phrasing_index: int) -> EditResult:
    category, direction, family = MATERIAL_KINDS[kind]
    company = old.company
    facts = dict(company.facts)
    if family == "section":
        return _apply_section(kind, old, new, rng, phrasing_index)
    topic = TOPIC_OF_FAMILY[family]
    pools = {"data": DATA_PHRASINGS, "purpose": PURPOSE_PHRASINGS, "recipient": RECIPIENT_PHRASINGS,
             "optout": OPTOUT_PHRASINGS, "right": RIGHT_PHRASINGS, "transfer": TRANSFER_PHRASINGS,
             "tracker": TRACKER_PHRASINGS, "safeguard": SAFEGUARD_PHRASINGS, "sale": SALE_PAIRS,
             "retention": RETENTION_PHRASINGS, "age": AGE_PHRASINGS, "notice": NOTICE_PAIRS,
             "controller": CONTROLLER_PHRASINGS}
    pool = pools[family]
    ph = pool[phrasing_index % len(pool)]
    pid, mode = ph[0], ph[1]
    ex = company.exclude

    if family in ("data", "purpose", "recipient", "optout", "right", "transfer", "tracker", "safeguard"):
        if family == "data":
            item = DATA_TYPES[_choose(rng, EDIT_DATA_TYPES, ex)]
            text = _fmt(ph[2], np=item.np, label=item.label, desc=item.desc, brand=company.brand)
            what = item.label.lower()
        elif family == "purpose":
            pk = _choose(rng, EDIT_PURPOSES, ex)
            inf, ing = PURPOSES[pk]
            text = _fmt(ph[2], inf=inf, ing=ing, brand=company.brand)
            what = ing
        elif family == "recipient":
            item = RECIPIENTS[_choose(rng, EDIT_RECIPIENTS, ex)]
            text = _fmt(ph[2], np=item.np, label=item.label, desc=item.desc, brand=company.brand)
            what = item.np
        elif family == "optout":
            verb, setting = OPTOUTS[_choose(rng, EDIT_OPTOUTS, ex)]
            text = _fmt(ph[2], verb=verb, setting=setting, email=facts["email"])
            what = verb
        elif family == "right":
            verb, label = RIGHTS[_choose(rng, EDIT_RIGHTS, ex)]
            text = _fmt(ph[2], verb=verb, label=label)
            what = f"the right to {verb}"
        elif family == "transfer":
            dest = rng.choice(DESTINATIONS)
            text = _fmt(ph[2], dest=dest, brand=company.brand, home_region=HOME_REGION[company.region])
            what = f"transfers to {dest}"
        elif family == "tracker":
            item = TRACKERS[_choose(rng, EDIT_TRACKERS, ex)]
            text = _fmt(ph[2], np=item.np, label=item.label, desc=item.desc)
            what = item.label.lower()
        else:
            item = SAFEGUARDS[_choose(rng, EDIT_SAFEGUARDS, ex)]
            text = _fmt(ph[2], np=item.np, label=item.label, desc=item.desc, brand=company.brand)
            what = item.label.lower()
        adds = direction == "expand"
        if family in ("optout", "right", "safeguard"):
            adds = not adds  # removing an opt-out, a right or a safeguard is the expansion
        t_old, t_new = (None, text) if adds else (text, None)
        heading = _insert_pair(old, new, topic, mode, t_old, t_new, category, rng)
        desc = f"{'adds' if adds else 'removes'} {what}"
        return EditResult(heading, pid, desc, t_old, t_new)

    if family == "sale":
        a = _fmt(ph[2], brand=company.brand)
        b = _fmt(ph[3], brand=company.brand)
        t_old, t_new = (a, b) if direction == "expand" else (b, a)
        heading = _insert_pair(old, new, topic, mode, t_old, t_new, category, rng)
        return EditResult(heading, pid, "negation flip on sale of data", t_old, t_new)
    if family == "notice":
        t_old, t_new = (ph[2], ph[3]) if direction == "expand" else (ph[3], ph[2])
        heading = _insert_pair(old, new, topic, mode, t_old, t_new, category, rng)
        how = "weakened" if direction == "expand" else "strengthened"
        return EditResult(heading, pid, f"change-notification promise {how}", t_old, t_new)
    if family == "retention":
        thing, (short, long) = rng.choice(RETENTION_THINGS)
        a = _fmt(ph[2], thing=thing, dur=short, brand=company.brand)
        b = _fmt(ph[2], thing=thing, dur=long, brand=company.brand)
        t_old, t_new = (a, b) if direction == "expand" else (b, a)
        heading = _insert_pair(old, new, topic, mode, t_old, t_new, category, rng)
        return EditResult(heading, pid, f"retention of {thing}: {short if direction == 'expand' else long} -> "
                          f"{long if direction == 'expand' else short}", t_old, t_new)
    if family == "age":
        lo, hi = rng.choice(AGE_PAIRS)
        a = _fmt(ph[2], age=str(hi), brand=company.brand)
        b = _fmt(ph[2], age=str(lo), brand=company.brand)
        t_old, t_new = (a, b) if direction == "expand" else (b, a)
        heading = _insert_pair(old, new, topic, mode, t_old, t_new, category, rng)
        return EditResult(heading, pid, f"age threshold {hi if direction == 'expand' else lo} -> "
                          f"{lo if direction == 'expand' else hi}", t_old, t_new)
    if family == "controller":
        a = _fmt(ph[2], entity=f"{company.legal}, {company.address}", brand=company.brand, product=company.product)
        b = _fmt(ph[2], entity=company.new_controller, brand=company.brand, product=company.product)
        heading = _insert_pair(old, new, topic, mode, a, b, category, rng)
        return EditResult(heading, pid, f"controller {company.legal} -> {company.new_controller.split(',')[0]}", a, b)
    raise ValueError(kind)


def _section_from(spec: tuple, company) -> Section:
    sid, cat, heading, paras = spec
    return Section("extra-" + sid, heading, [Para(p.format(brand=company.brand)) for p in paras])


def _insert_position(policy: Policy, rng: random.Random) -> int:
    keys = [s.key for s in policy.sections]
    end = keys.index("changes") if "changes" in keys else len(keys) - 1
    return rng.randrange(2, max(3, end))


def _apply_section(kind: str, old: Policy, new: Policy, rng: random.Random, phrasing_index: int) -> EditResult:
    company = old.company
    if kind in ("section_added_expand", "section_removed_restrict", "section_added_restrict"):
        pool = RESTRICT_SECTIONS if kind == "section_added_restrict" else EXPAND_SECTIONS
        spec = pool[phrasing_index % len(pool)]
        pos = _insert_position(old, rng)
        target = new if kind.startswith("section_added") else old
        sec = _section_from(spec, company)
        target.sections.insert(pos, sec)
        text = " ".join(b.text for b in sec.blocks)
        ev_old, ev_new = (None, text) if target is new else (text, None)
        verb = "adds" if target is new else "removes"
        return EditResult(sec.heading, spec[0], f"{verb} section \"{sec.heading}\"", ev_old, ev_new, category=spec[1])
    # section_removed_expand: a protective section of the base policy disappears
    candidates = [("rights", "user_rights"), ("choices", "choices"), ("security", "security")]
    options = [(k, c) for k, c in candidates if any(s.key == k for s in new.sections)]
    key, cat = options[phrasing_index % len(options)]
    idx = next(i for i, s in enumerate(new.sections) if s.key == key)
    removed = new.sections.pop(idx)
    text = " ".join(b.text if isinstance(b, Para) else " ".join(b.items) for b in removed.blocks)
    return EditResult(removed.heading, f"{key}-{company.id}", f"removes section \"{removed.heading}\"", text[:400],
                      None, category=cat)


# ----------------------------------------------------------------------------------------- noise on the model

TYPOS = [("receive", "recieve"), ("separate", "seperate"), ("necessary", "neccessary"), ("their", "thier"),
         ("information", "infromation"), ("address", "adress"), ("account", "acount"), ("privacy", "privcy"),
         ("process", "proccess"), ("example", "exmaple"), ("service", "servcie"), ("occurred", "occured"),
         ("whether", "wether"), ("request", "reqeust"), ("third", "thrid")]

SYNONYMS = [("in order to", "to"), ("such as", "including"), ("prior to", "before"), ("in the event that", "if"),
            ("Additionally,", "In addition,"), ("obtain", "get"), ("assist with", "help with"),
            ("promptly", "quickly"), ("from time to time", "occasionally"), ("at any time", "whenever you like"),
("usually", "normally"), ("designed to", "intended to"),
            ("for example", "for instance")]


def _map_text(section: Section, fn) -> None:
    for b in section.blocks:
        if isinstance(b, Para):
            b.text = fn(b.text)
        else:
            b.items = [fn(i) for i in b.items]


def _section_text(section: Section) -> str:
    return " ".join(b.text if isinstance(b, Para) else " ".join(b.items) for b in section.blocks)


def inject_typos(policy: Policy, rng: random.Random) -> str | None:
    """Misspell 2-4 words in one section (used on `old`; `new` is the corrected text)."""
    cands = []
    for s, _ in policy.all_sections():
        text = _section_text(s)
        hits = [(a, b) for a, b in TYPOS if re.search(rf"\b{a}\b", text)]
        if len(hits) >= 2:
            cands.append((s, hits))
    if not cands:
        return None
    s, hits = rng.choice(cands)
    chosen = rng.sample(hits, min(len(hits), rng.randint(2, 4)))
    for a, b in chosen:
        _map_text(s, lambda t, a=a, b=b: re.sub(rf"\b{a}\b", b, t, count=1))
    return s.heading


def swap_synonyms(policy: Policy, rng: random.Random) -> str | None:
    cands = []
    for s, _ in policy.all_sections():
        text = _section_text(s)
        hits = [(a, b) for a, b in SYNONYMS if a in text]
        if len(hits) >= 1:
            cands.append((len(hits), s, hits))
    if not cands:
        return None
    cands.sort(key=lambda x: -x[0])
    _, s, hits = rng.choice(cands[:6])
    for a, b in hits:
        _map_text(s, lambda t, a=a, b=b: t.replace(a, b))
    return s.heading


_QUOTE_RE = re.compile(r'"([^"]*)"')


def typographic(text: str) -> str:
    text = _QUOTE_RE.sub("\u201c\\1\u201d", text)
    text = re.sub(r"(\w)'(\w)", "\\1\u2019\\2", text)
    text = text.replace(" - ", " \u2014 ").replace("...", "\u2026")
    text = re.sub(r"(\d) (days|months|years|hours)", "\\1\u00a0\\2", text)
    return text


ZW_CHARS = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


def zero_width(text: str, rng: random.Random, rate: float = 0.15) -> str:
    words = text.split(" ")
    out = []
    for w in words:
        if len(w) > 4 and rng.random() < rate:
            i = rng.randrange(1, len(w) - 1)
            w = w[:i] + rng.choice(ZW_CHARS) + w[i:]
        out.append(w)
    return " ".join(out)


def map_policy_text(policy: Policy, fn, headings: bool = False) -> None:
    for b in policy.intro:
        if isinstance(b, Para):
            b.text = fn(b.text)
    for s, _ in policy.all_sections():
        _map_text(s, fn)
        if headings:
            s.heading = fn(s.heading)


def move_section(policy: Policy, rng: random.Random) -> str:
    n = len(policy.sections)
    movable = [i for i in range(1, n - 1)]
    i = rng.choice(movable)
    sec = policy.sections.pop(i)
    targets = [j for j in range(1, n - 1) if abs(j - i) >= 2]
    j = rng.choice(targets)
    policy.sections.insert(j, sec)
    return sec.heading


def rename_heading(policy: Policy, rng: random.Random) -> tuple[str, str]:
    company = policy.company
    cands = [s for s in policy.sections if s.key in HEADING_POOL]
    if company.question_headings:
        cands = [s for s in cands if s.key in QUESTION_ALTERNATIVES]
    s = rng.choice(cands)
    if company.question_headings and s.key in QUESTION_ALTERNATIVES:
        alts = QUESTION_ALTERNATIVES[s.key]
    else:
        alts = [h for h in HEADING_POOL[s.key] if h != s.heading]
    old_heading = s.heading
    s.heading = rng.choice(alts)
    return old_heading, s.heading
