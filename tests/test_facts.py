"""Practice facts, and the properties a facts-based judgement must hold on any policy.

Every phrasing here was written for these tests.
"""

import random
import re

import pytest

from policywatch.document import parse_text
from policywatch.judge import compare, extract_facts, load_rules
from policywatch.judge.facts import entity_key
from policywatch.normalize import normalize_html

POLICY = """# Brightside Privacy Notice

Last updated: 4 March 2024

## Information we collect

When you sign up we collect your email address, your full name and the device identifiers of your phone.
If you turn on trip logging, we collect precise location from your phone while the app is open.

## How we use information

We use information to run the service, to answer support questions and to detect fraud.

## Who receives information

We share information with service providers who host our servers and send our e-mails.
We do not sell your personal information to anyone.

## How long we keep it

Trip logs are deleted 90 days after a trip ends.

## Your choices

You can opt out of marketing e-mails from the link in every message.
You may ask for a copy of your data or ask us to delete it.

## Children

Brightside is not meant for children under 16 and we do not knowingly collect data from them.

## Changes to this notice

We will e-mail you 30 days before any material change to this notice takes effect.

## Who we are

The controller of your data is Brightside Mobility Ltd., 12 Quay Street, Galway.
"""


def facts_of(text: str):
    return extract_facts(parse_text(text))


def keys(text: str) -> set[tuple]:
    return {f.key for f in facts_of(text)}


def judged(old: str, new: str):
    return compare(parse_text(old), parse_text(new))[1]


# -- extraction ---------------------------------------------------------------------------------------

def test_a_policy_reads_as_practice_facts_with_evidence():
    found = facts_of(POLICY)
    by = {(f.category, f.practice, f.polarity): f for f in found}
    assert ("data_collected", "precise location", "asserted") in by
    assert ("data_collected", "contact details", "asserted") in by
    assert ("sharing", "service providers", "asserted") in by
    assert ("sharing", "sale of personal data", "negated") in by  # "we do not sell"
    assert ("choices", "an opt-out", "asserted") in by
    assert ("user_rights", "the right to erasure", "asserted") in by
    assert any(f.category == "retention" and f.value == "90" for f in found)
    assert any(f.category == "children" and f.practice == "minimum age" and f.value == "16" for f in found)
    assert any(f.category == "policy_changes" and f.practice == "notice period" and f.value == "30" for f in found)
    assert any(f.category == "controller_contact" and f.value == "brightsidemobility" for f in found)
    sale = by["sharing", "sale of personal data", "negated"]
    assert sale.evidence == "We do not sell your personal information to anyone."
    assert sale.section == ("Brightside Privacy Notice", "Who receives information")


def test_an_offered_opt_out_is_a_choice_not_a_denial():
    text = "# P\n\n## Choices\n\nYou can opt out of training through our privacy portal.\n"
    found = {(f.category, f.practice, f.polarity) for f in facts_of(text)}
    assert ("choices", "an opt-out", "asserted") in found
    assert not any(p == "negated" for _, _, p in found)


def test_a_negation_of_the_user_is_not_a_denial_of_the_company():
    text = "# P\n\n## Sharing\n\nIf you do not want us to share data with advertising partners, turn it off.\n"
    found = {(f.category, f.practice, f.polarity) for f in facts_of(text)}
    assert ("sharing", "advertising partners", "asserted") in found


def test_the_policys_own_company_is_not_a_third_party():
    text = ("# OpenAI Privacy Policy\n\n## How we share\n\nWe share content with Microsoft, our hosting provider. "
            "This page explains how OpenAI uses content you share with OpenAI.\n")
    named = {f.practice for f in facts_of(text) if f.category == "sharing"}
    assert "ad and analytics companies: Microsoft" in named
    assert not any("OpenAI" in n for n in named)


def test_a_section_the_other_version_shares_reads_the_same_as_on_its_own():
    """A new version read after the old one reuses what their shared sections say: never other facts."""
    from policywatch.judge import FactExtractor

    old = POLICY.replace("send our e-mails.", "send our e-mails. We share content with Microsoft, our host.")
    versions = [old, old.replace("90 days", "2 years"), old.replace("## Children", "## Kids"),
                # Microsoft now runs the service: in the section both share, it is no longer a third party
                old.replace("Brightside Mobility Ltd.", "Microsoft Ireland Operations Ltd."),
                "# Other\n\n" + old.split("\n", 1)[1]]  # every section one place further down
    for new in versions:
        both = FactExtractor()
        both.read(parse_text(old))
        shared, alone = both.read(parse_text(new)), FactExtractor().read(parse_text(new))
        assert shared.facts == alone.facts and shared.mentions == alone.mentions
    assert any("Microsoft" in f.practice for f in extract_facts(parse_text(versions[0])))
    assert not any("Microsoft" in f.practice for f in extract_facts(parse_text(versions[3])))


def test_a_lowercased_sentence_searched_plainly_finds_what_a_case_insensitive_search_finds():
    from policywatch.judge.facts import lowercase_is_caseless, readings, sentences

    rules = load_rules()
    plain = [t for t in rules.terms if t.lowered_regex is not None]
    assert len(plain) > len(rules.terms) // 2
    assert all(t.lowered_regex is None for t in rules.terms if t.entity)  # case-sensitive: searched as written
    texts = [s for section in parse_text(POLICY).sections for _, text in readings(section) for s in sentences(text)]
    texts += ["WE SELL YOUR DATA TO DATA BROKERS.", "We’ll “share” it — with Advertising Partners.",
              "Nous collectons l’adresse e-mail."]
    for sentence in texts:
        lowered = sentence.lower()
        assert lowercase_is_caseless(sentence, lowered)
        for term in plain:
            assert [m.span() for m in term.regex.finditer(sentence)] == \
                [m.span() for m in term.lowered_regex.finditer(lowered)], (term.name, sentence)
    for odd in ["We collect your addreſs.", "Data kept 30 days at 300 \u212a.", "İstanbul office collects data."]:
        assert not lowercase_is_caseless(odd, odd.lower())  # searched case-insensitively, as written
    # A pattern naming an uppercase or non-ASCII character in any spelling is searched as written too.
    from policywatch.judge.rules import _lowercase_ascii

    for pattern in [r"\x41cme corp", r"[\x41-\x5a]{3} data", r"coo\u212aies", r"[!-z]", r"(?i:abc)", "Acme"]:
        assert not _lowercase_ascii(pattern), pattern
    for pattern in [r"\bshar\w+|disclos\w+", r"driver.?s licen[cs]e", r"\d{1,2} days", r"(?=abc)x", r"[!-@]"]:
        assert _lowercase_ascii(pattern), pattern


def test_the_terms_a_sentence_may_hold_are_those_one_of_whose_literals_it_contains():
    """The one-pass literal search (overlapping literals, a literal across words) against the plain definition."""
    from policywatch.judge import FactExtractor
    from policywatch.judge.facts import readings, sentences

    texts = [s for section in parse_text(POLICY).sections for _, text in readings(section) for s in sentences(text)]
    texts += ["We’ll SHARE data we collect with Acme GmbH.", "ab ag as", "", "Ünïcödé: wé sell, récord & captüre."]
    extractor = FactExtractor()
    extractor._prepare(texts)
    for text in texts:
        lowered = text.lower()
        expected = {id(t) for t in extractor.rules.terms
                    if t.literals is None or any(lit in lowered for lit in t.literals)}
        assert extractor._candidates[text] == expected == extractor._candidate_terms(lowered), text


def test_a_restyled_company_is_the_same_company():
    assert entity_key("x.AI, L.L.C.") == entity_key("X.AI LLC") == entity_key("X.AI Llc")
    assert entity_key("Acme Widgets Ltd") != entity_key("Globex Holdings Inc")
    old = POLICY
    new = POLICY.replace("Brightside Mobility Ltd.", "BRIGHTSIDE MOBILITY LIMITED")
    assert not judged(old, new).material


# -- properties: the same facts in another form are never material -------------------------------------

def sections_of(text: str) -> tuple[str, list[str]]:
    head, *rest = text.split("\n## ")
    return head, ["## " + s.strip() + "\n" for s in rest]


def test_shuffled_sections_are_not_material():
    head, sections = sections_of(POLICY)
    for seed in range(5):
        shuffled = sections[:]
        random.Random(seed).shuffle(shuffled)
        verdict = judged(POLICY, head.rstrip() + "\n\n" + "\n".join(shuffled))
        assert not verdict.material, verdict.summary


def test_split_and_merged_paragraphs_are_not_material():
    split = POLICY.replace("e-mails.\nWe do not sell", "e-mails.\n\nWe do not sell")
    split = split.replace("your phone.\nIf you turn on", "your phone.\n\nIf you turn on")
    assert not judged(POLICY, split).material
    merged = POLICY.replace("in every message.\nYou may ask", "in every message. You may ask")
    assert not judged(POLICY, merged).material


def test_inline_lists_and_bullets_are_the_same_facts():
    inline = POLICY.replace(
        "We use information to run the service, to answer support questions and to detect fraud.",
        "We use information:\n\n- to run the service;\n- to answer support questions;\n- to detect fraud.")
    verdict = judged(POLICY, inline)
    assert not verdict.material, verdict.summary


def test_markdown_and_html_of_one_policy_are_not_material():
    def html_of(text: str) -> str:
        out = []
        for line in text.splitlines():
            if line.startswith("## "):
                out.append(f"<h2>{line[3:]}</h2>")
            elif line.startswith("# "):
                out.append(f"<h1>{line[2:]}</h1>")
            elif line.strip():
                out.append(f"<p>{line}</p>")
        return "<html><body><main>" + "\n".join(out) + "</main></body></html>"

    diff, verdict = compare(parse_text(POLICY), normalize_html(html_of(POLICY)).document)
    assert not verdict.material, verdict.summary


def test_a_duplicated_paragraph_is_not_material():
    twice = POLICY.replace("We do not sell your personal information to anyone.\n",
                           "We do not sell your personal information to anyone.\n\n"
                           "We do not sell your personal information to anyone.\n")
    assert not judged(POLICY, twice).material
    assert not judged(twice, POLICY).material


def test_rewording_with_the_same_facts_is_editorial():
    new = POLICY.replace("We use information to run the service, to answer support questions and to detect fraud.",
                         "Information is used to operate the service, reply to support questions and catch fraud.")
    verdict = judged(POLICY, new)
    assert verdict.severity == "low" and not verdict.material, verdict.summary


# -- negation and modality -------------------------------------------------------------------------------

def test_a_negation_flip_is_high_and_named_as_such():
    verdict = judged(POLICY, POLICY.replace("We do not sell your personal information to anyone.",
                                            "We may sell your personal information to selected partners."))
    assert verdict.severity == "high" and "sharing" in verdict.categories
    assert any(g.rule == "sharing.negation_flip" for g in verdict.signals)
    assert verdict.summary.startswith("May now sell personal data")


def test_a_promise_weakened_to_may_is_high():
    verdict = judged(POLICY, POLICY.replace("We will e-mail you 30 days before any material change",
                                            "We may e-mail you 30 days before any material change"))
    assert verdict.severity == "high"
    assert any(g.rule == "policy_changes.promise_weakened" for g in verdict.signals), verdict.signals


def test_a_removed_opt_out_is_high_and_an_added_one_medium():
    without = POLICY.replace("You can opt out of marketing e-mails from the link in every message.\n", "")
    removed, added = judged(POLICY, without), judged(without, POLICY)
    assert removed.severity == "high" and "choices" in removed.categories
    assert added.severity == "medium" and added.direction == "restrict"


def test_numbers_are_compared_both_ways():
    longer = judged(POLICY, POLICY.replace("deleted 90 days after", "deleted 2 years after"))
    assert longer.severity == "high" and longer.direction == "expand"
    assert "keeps personal data for 2 years instead of 90 days" in longer.summary.lower()
    younger = judged(POLICY, POLICY.replace("children under 16", "children under 13"))
    assert younger.severity == "high" and "sets the minimum age at 13 instead of 16" in younger.summary.lower()
    shorter = judged(POLICY, POLICY.replace("deleted 90 days after", "deleted 30 days after"))
    assert shorter.severity == "medium" and shorter.direction == "restrict"


def test_changes_both_ways_take_the_most_severe_and_say_so():
    new = POLICY.replace("deleted 90 days after", "deleted 30 days after").replace(
        "We do not sell your personal information to anyone.", "We sell your personal information to data brokers.")
    verdict = judged(POLICY, new)
    assert verdict.severity == "high" and verdict.direction == "expand"
    assert {g.direction for g in verdict.signals} >= {"expand", "restrict"}


def test_a_new_passage_about_a_known_practice_is_caught():
    new = POLICY.replace("## How we use information",
                         "Our new Family feature also collects the precise location of every family member and "
                         "shows it to the family organiser at all times.\n\n## How we use information")
    verdict = judged(POLICY, new)
    assert verdict.material and "data_collected" in verdict.categories, verdict.summary


# -- plain words ------------------------------------------------------------------------------------------

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


@pytest.mark.parametrize("find, replace", [
    ("We do not sell your personal information to anyone.", "We sell your data to advertising partners."),
    ("deleted 90 days after", "kept indefinitely after"),
    ("You can opt out of marketing e-mails from the link in every message.\n", ""),
    ("We use information to run the service", "We use information to train our machine learning models, to run "
                                              "the service"),
])
def test_summaries_read_as_plain_words(find, replace):
    verdict = judged(POLICY, POLICY.replace(find, replace))
    assert verdict.material
    assert not SNAKE.search(verdict.summary), verdict.summary  # no rule ids, no snake_case categories
    labels = {c.label.lower() for c in load_rules().categories.values()}
    for point in verdict.summary.rstrip(".").split("; "):
        head, _, rest = point.partition(": ")
        assert not (rest and head.split()[-1].lower() == rest.lower()), point  # never "adds X: X"
        assert point.lower() not in labels
    assert verdict.summary.count(";") <= 3  # at most three points, the rest counted


def test_many_changes_are_counted_not_listed():
    new = POLICY
    for find, replace in [("We do not sell", "We sell"), ("deleted 90 days", "deleted 9 years"),
                          ("children under 16", "children under 10"),
                          ("You can opt out of marketing e-mails from the link in every message.\n", ""),
                          ("We will e-mail you", "We may e-mail you")]:
        new = new.replace(find, replace)
    verdict = judged(POLICY, new)
    assert re.search(r"; and \d+ more changes?\.$", verdict.summary), verdict.summary
    assert verdict.summary.count(";") == 3


def test_a_period_lengthened_to_one_stated_elsewhere_is_still_lengthened():
    old = POLICY.replace("Trip logs are deleted 90 days after a trip ends.",
                         "Trip logs are deleted 90 days after a trip ends. Invoices are kept for 2 years.")
    new = old.replace("deleted 90 days after", "deleted 2 years after")
    verdict = judged(old, new)
    assert verdict.severity == "high" and verdict.direction == "expand", verdict.summary
    assert any(g.rule == "retention.lengthened" for g in verdict.signals), [g.rule for g in verdict.signals]


def test_a_sentence_made_a_list_of_short_items_is_not_material():
    old = POLICY.replace("We share information with service providers who host our servers and send our e-mails.",
                         "We share your data with affiliates and advertising partners.")
    new = old.replace("We share your data with affiliates and advertising partners.",
                      "We share your data with:\n\n- affiliates\n- advertising partners\n")
    verdict = judged(old, new)
    assert not verdict.material, verdict.summary


@pytest.mark.parametrize("sentence, practice, polarity", [
    # A negation of the user that denies a right is a denial; one that describes the user is not.
    ("You do not have the right to data portability.", "the right to data portability", "negated"),
    ("If you do not have an account, you can still request access to your data.", "the right of access",
     "asserted"),
    ("You cannot opt out of essential cookies.", "an opt-out", "negated"),
    ("If you do not opt out, we will keep sending you offers.", "an opt-out", "asserted"),
    ("Renting out member data is not part of how we make money.", "sale of personal data", "negated"),
    ("Tracking cookies are never used on our checkout pages.", "cookies", "negated"),
    ("Precise location is not shared with advertising partners.", "precise location", "asserted"),
])
def test_a_denial_after_the_practice_denies_it_only_when_it_is_about_that_practice(sentence, practice, polarity):
    text = "# P\n\n## What we do\n\nWe collect the data you give us. " + sentence.replace(
        "Renting out", "Selling") + "\n"
    found = {(f.practice, f.polarity) for f in facts_of(text)}
    assert (practice, polarity) in found, found


def test_an_age_limit_counts_without_the_word_children():
    old = "# P\n\n## Who may use it\n\nIf we learn that a user is younger than 16, we close the account.\n"
    verdict = judged(old, old.replace("younger than 16", "younger than 13"))
    assert verdict.severity == "high" and "children" in verdict.categories, verdict.summary


def test_a_material_verdict_also_names_what_its_reworded_passages_are_about():
    new = POLICY.replace("We do not sell your personal information to anyone.", "We sell your data to data brokers.")
    new = new.replace("Trip logs are deleted 90 days after a trip ends.",
                      "Trip logs and device identifiers are deleted 90 days after a trip ends.")
    verdict = judged(POLICY, new)
    assert verdict.material and verdict.categories[0] == "sharing"
    assert "data_collected" in verdict.categories  # the reworded passage, though no fact changed
    reworded = [g for g in verdict.signals if g.rule == "data_collected.passage_reworded"]
    assert reworded and reworded[0].severity == "low"
    alone = judged(POLICY, POLICY.replace("Trip logs are deleted 90 days after a trip ends.",
                                          "Trip logs and device identifiers are deleted 90 days after a trip ends."))
    assert not alone.material and alone.categories == []  # on its own, a reworded passage is not news


def test_a_right_removed_is_not_hidden_by_the_same_word_in_another_sense():
    verdict = judged(POLICY, POLICY.replace("You may ask for a copy of your data or ask us to delete it.",
                                            "You may ask for a copy of your data."))
    assert verdict.severity == "high" and "user_rights" in verdict.categories, verdict.summary


def test_a_run_of_dashes_after_a_practice_does_not_backtrack_for_ever():
    # "\W*(?:[\w-]+\W+){0,4}" read a dash both ways: 60 dashes took longer than any test run.
    facts = extract_facts(parse_text("# P\n\nWe sell cookies " + "-" * 60 + " and more.\n"))
    assert {f.practice for f in facts} >= {"sale of personal data"}


RETENTION_SCHEDULE = """<main><h1>Privacy Policy</h1><h2>How long we keep data</h2>
<table><tr><th>Data</th><th>How long we keep it</th></tr>
<tr><td>Account data</td><td>{account}</td></tr><tr><td>Support tickets</td><td>1 year</td></tr></table></main>"""


def test_a_table_row_is_read_with_its_header_row():
    old, new = (normalize_html(RETENTION_SCHEDULE.format(account=period)).document
                for period in ("30 days after you close your account", "5 years after you close your account"))
    periods = sorted(f.value for f in extract_facts(old, load_rules()) if f.category == "retention")
    assert periods == ["30", "365"]  # each row states a period only through its column's label
    _, verdict = compare(old, new)
    assert verdict.material and verdict.severity == "high" and verdict.categories == ["retention"]
    assert "5 years instead of 30 days" in verdict.summary
    # the same rows in another order, and the table re-rendered, say the same
    swapped = RETENTION_SCHEDULE.replace("<tr><td>Account data</td><td>{account}</td></tr>", "").replace(
        "</table>", "<tr><td>Account data</td><td>{account}</td></tr></table>")
    _, same = compare(old, normalize_html(swapped.format(account="30 days after you close your account")).document)
    assert not same.material


def test_an_age_above_childhood_is_not_a_minimum_age():
    # "age (40 years old and over)" is a protected class in US law; children's lines are drawn at 1-21.
    text = ("# P\n\n## Data\n\nWe collect characteristics of protected classifications, such as age (40 years old and "
            "over), and we do not knowingly collect data from children under 13.\n")
    ages = {f.value for f in facts_of(text) if f.practice == "minimum age"}
    assert ages == {"13"}


def test_a_sentence_in_another_language_is_not_read_with_the_english_lexicons():
    # English words in a French sentence are a partial reading at best, false friends at worst
    # ("acquisition" is no merger, "affiliation" no affiliate): the sentence is not read.
    text = ("# Politique\n\n## Partage des données avec des tiers\n\nPartage avec des tiers : nos partenaires "
            "marketing et analytics reçoivent vos données.\n\nAcquisition de connaissances et enrichissement des "
            "données.\n\nWe share your e-mail address with advertising partners.\n")
    found = {(f.practice, f.evidence) for f in facts_of(text)}
    assert found and all(evidence.startswith("We share") for _, evidence in found)


def test_a_rewording_in_another_language_says_it_was_not_judged():
    old = ("# Politique\n\n## Conservation\n\nNous conservons vos données pendant la durée de votre abonnement et "
           "les supprimons ensuite. Les données de facturation sont conservées pour la durée prévue par la loi.\n")
    verdict = judged(old, old.replace("pendant la durée", "pendant toute la durée"))
    assert verdict.severity == "low" and not verdict.material
    assert verdict.summary.startswith("Not judged: the changed text is in French")


def test_an_english_sentence_naming_foreign_companies_and_places_is_english():
    from policywatch.document import in_other_language

    english = ["Data held at La Poste de France", "Controller: Banco de la Nación Argentina",
               "Our processors: Criteo SA; Le Monde; La Redoute; Du Pont de Nemours",
               "Contact Acme at Rue de la Loi 1, Brussels",
               "We pass on personal data to external partners and service providers on our behalf."]
    other = ["Règles de conservation spécifiques par affiliation", "Wir geben Ihre Daten nicht an Dritte weiter.",
             "Los datos se conservan durante el tiempo necesario.",
             "Die Verarbeitung der Daten erfolgt auf Grundlage von Art. 6 DSGVO und wir speichern sie nicht."]
    assert [in_other_language(s) for s in english] == [False] * len(english)
    assert [in_other_language(s) for s in other] == [True] * len(other)


def test_a_title_that_names_the_document_states_no_practice_whatever_the_companys_name_says():
    text = "# Beta Analytics Privacy Notice\n\nWe collect your email address.\n\n## Analytics\n\nNone here.\n"
    practices = {(f.practice, f.evidence) for f in facts_of(text)}
    assert ("analytics", "Beta Analytics Privacy Notice") not in practices
    # Nor does a heading that only labels a topic ("None here." is what the section says of it),
    # while a heading that says something still does.
    assert ("analytics", "Analytics") not in practices
    assert ("analytics", "We use analytics tools on our website") in {(f.practice, f.evidence) for f in facts_of(
        text.replace("## Analytics", "## We use analytics tools on our website"))}


def test_what_the_policy_covers_and_the_service_provided_to_you_state_no_practice():
    scope = ('This privacy policy ("Privacy Policy") covers the processing activities of our services, websites '
             'and advertisements (together: "Services").')
    service = "The Services may be provided to you online or may be integrated in a third party service."
    text = f"# Privacy Policy\n\n## Introduction\n\n{scope} {service}\n"
    assert facts_of(text) == []
    # The same words stated as practices still are.
    stated = {(f.category, f.practice) for f in facts_of(
        "# Privacy Policy\n\n## Sharing\n\nWe use your data for advertisements. We may provide your data to "
        "third parties.\n")}
    assert {("purposes", "advertising"), ("sharing", "third parties")} <= stated
    # A policy that says what it explains, and what "we" do, states it.
    explained = {(f.category, f.practice) for f in facts_of(
        "# Privacy Policy\n\n## Introduction\n\nThis privacy policy explains how we sell your personal "
        "information to data brokers.\n")}
    assert ("sharing", "sale of personal data") in explained


def test_the_pages_you_visit_and_the_pages_visited_are_the_same_browsing_history():
    old = "# Policy\n\nWe collect the pages visited on our site and the searches made in our app.\n"
    new = "# Policy\n\nWe collect the pages you visit on our site and the searches you make in our app.\n"
    assert keys(old) == keys(new) and any(k[1] == "browsing and search history" for k in keys(new))
    assert not judged(old, new).material


def test_a_named_country_reads_with_its_preposition():
    old = "# Privacy Policy\n\n## Transfers\n\nWe store your data in Ireland.\n"
    new = old.replace("in Ireland.", "in Ireland and may transfer it to the United States.")
    assert "transfers personal data to United States" in judged(old, new).summary


def test_identifiers_of_your_device_are_device_identifiers():
    old = "# Policy\n\n## What we collect\n\nWe collect contact details and device identifiers.\n"
    new = "# Policy\n\n## What we collect\n\nWe collect your contact details as well as identifiers of your device.\n"
    assert keys(old) == keys(new) and not judged(old, new).material


def test_a_name_frames_nothing_a_country_in_an_address_is_no_transfer():
    contact = ("# P\n\n## Contact\n\nEpic Games, Inc., located at 620 Crossroads Blvd., Cary, NC 27518, USA.\n\n"
               "- Data Controller: Epic Games, Inc.\n- Address: 620 Crossroads Blvd., Cary, NC 27518, USA\n")
    assert not [f for f in facts_of(contact) if f.category == "international_transfers"]
    # A lead-in that introduces its list frames it by the names it holds too.
    countries = "# P\n\n## Where\n\nAs well as the United States, your data may be sent to:\n\n- India\n- Brazil\n"
    assert "transfers personal data to China" in judged(countries, countries + "- China\n").summary
    companies = "# P\n\n## Who\n\nBesides Google, these companies get your data:\n\n- Criteo\n- Mixpanel\n"
    assert "shares personal data with TikTok" in judged(companies, companies + "- TikTok\n").summary
    # Only the names of the sentence that introduces the list: not an address named before it.
    representative = ("# P\n\n## Contact\n\nOur representative in the European Union is Acme Europe Ltd, Ireland. "
                      "You can write to them at:\n\n- 1 Harbour Road, Dublin, Ireland\n")
    assert not [f for f in facts_of(representative) if f.category == "international_transfers"]
    # A lead-in that speaks of transfers still frames its list's countries.
    transfers = "# P\n\n## Where\n\nWe transfer your data to our offices in:\n\n- the USA\n- India\n"
    assert {f.practice for f in facts_of(transfers) if f.category == "international_transfers"} >= {
        "to: USA", "to: India"}


@pytest.mark.parametrize("sentence, category, practice", [
    ("We collect your name, phone number, job profession and company name.", "data_collected",
     "employment and education data"),
    ("We collect your occupation when you sign up.", "data_collected", "employment and education data"),
    ("We use the list of installed apps to protect you against malicious applications.", "purposes",
     "fraud prevention and safety"),
    ("We share your information with advertisers only with your consent.", "sharing", "advertising partners"),
])
def test_real_phrasings_of_practices(sentence, category, practice):
    found = {(f.category, f.practice) for f in facts_of(f"# P\n\n## Data\n\n{sentence}\n")}
    assert (category, practice) in found, found


def test_hashing_and_pseudonyms_are_safeguards_only_where_security_is_spoken_of():
    def security(text: str) -> set[str]:
        return {f.practice for f in facts_of(text) if f.category == "security"}

    assert not security("# P\n\n## Advertising\n\nWe share your e-mail address in a hashed format with ad partners.\n")
    assert not security("# P\n\n## Analytics\n\nHotjar stores this information in a pseudonymized user profile.\n")
    assert "encryption" in security("# P\n\n## Accounts\n\nWe protect your password by hashing it.\n")
    assert "security safeguards" in security("# P\n\n## Keeping your data safe\n\nWe pseudonymise analytics data.\n")
    # A fact one of whose terms needs no frame counts anywhere, whichever term was found first.
    assert "security safeguards" in security(
        "# P\n\n## How we handle data\n\nWe pseudonymise usage data and apply strict access controls.\n")


def test_a_heading_run_into_its_first_sentence_does_not_undo_the_sentences_denial():
    # Headings re-rendered as bold lines lose their stop: "Cookies and similar tools Most of our…".
    denial = "Most of our websites do not use cookies or scripts designed to track the websites you visit."
    old = POLICY + f"\n## Cookies and similar tools\n\n{denial}\n"
    new = POLICY + f"\nCookies and similar tools {denial}\n"
    verdict = judged(old, new)
    assert not verdict.material, verdict.summary


def test_a_short_heading_names_a_topic_and_states_no_practice():
    # "## Children" had read as "collects data from children": the section's own sentence said the
    # opposite, and adding such a section was judged high.
    children = "# Privacy\n\n## Children\n\nOur services are for adults only.\n"
    assert not {k for k in keys(children) if k[0] == "children"}
    assert judged("# Privacy\n\n## Contact\n\nWrite to us.\n", children).severity in ("none", "low")
    kids = keys("# Privacy\n\n## Children's privacy\n\nWe do not knowingly collect data from children.\n")
    assert ("children", "children", "negated") in {k[:3] for k in kids}
    assert ("children", "children", "asserted") not in {k[:3] for k in kids}
    # A heading that says something is still read: a paragraph set as a heading keeps its facts,
    # and so does a short one with a verb or a negation.
    assert {k[:3] for k in keys("# Privacy\n\n## We do not sell your personal information\n\nWe mean it.\n")} == \
        {("sharing", "sale of personal data", "negated")}
    base = "# Privacy Policy\n\n## Information we collect\n\n### Contact details\n\nWe use these to reply to you.\n"
    assert "Now promises not to sell personal data" in judged(base, base + "\n## Do Not Sell\n\nClick below.\n").summary
    # A label states nothing even under a heading that would frame it: templates nest headings
    # otherwise ("Automated decision-making" under "Marketing" in one, under the title in another),
    # and what a label says must not change with them. Its section's sentences say it.
    assert keys(base) == set()
    biometric = base + "\n### Biometric identifiers\n\nWe collect your fingerprint to sign you in.\n"
    assert judged(base, biometric).severity == "high"


@pytest.mark.parametrize("text, expected", [
    ("Service Providers These could be parties that host our servers.",
     ("Service Providers", "These could be parties that host our servers.")),
    ("to run our business operations For example, data hosting.",
     ("to run our business operations", "For example, data hosting.")),
    ("Changes to This Policy", ("Changes to This Policy",)),  # title case: a capital follows
    ("Our headquarters are based in The Netherlands.", ("Our headquarters are based in The Netherlands.",)),
    ("We keep the data You provide for a year.", ("We keep the data You provide for a year.",)),  # a defined term
])
def test_a_sentence_opener_capitalized_after_a_lowercase_word_starts_a_sentence(text, expected):
    from policywatch.judge.facts import sentences

    assert sentences(text) == expected


def test_a_denied_sharing_of_a_kind_of_data_is_no_denied_collection_of_it():
    # It said it did not share precise location; that never said it did not collect it.
    old = "# P\n\n## Location\n\nWe do not share your precise location with third parties without your consent.\n"
    new = old + "\nWe collect your precise location to show you nearby events.\n"
    denied = {(f.category, f.practice, f.polarity) for f in facts_of(old)}
    assert ("data_collected", "precise location", "negated") not in denied
    assert ("sharing", "third parties", "negated") in denied
    assert "it promised not to" not in judged(old, new).summary
    # A denial whose verb is the collection's still denies the collection.
    assert ("data_collected", "precise location", "negated") in {
        (f.category, f.practice, f.polarity) for f in facts_of("# P\n\n## Location\n\nWe do not collect your "
                                                                 "precise location.\n")}


def test_a_choice_denied_to_the_user_denies_the_choice_alone_and_do_not_track_is_the_signal_by_name():
    found = {(f.category, f.practice, f.polarity) for f in facts_of(
        "# P\n\n## Cookies\n\nYou cannot opt out of essential cookies.\n")}
    assert ("choices", "an opt-out", "negated") in found and ("tracking", "cookies", "asserted") in found
    # "We do not track your location" is no Do Not Track signal; the signal by its name is.
    assert not [f for f in facts_of("# P\n\n## Location\n\nWe do not track your precise location.\n")
                if f.category == "choices"]
    assert ("choices", "an opt-out", "negated") in {(f.category, f.practice, f.polarity) for f in facts_of(
        "# P\n\n## Signals\n\nWe do not respond to Do Not Track signals.\n")}
