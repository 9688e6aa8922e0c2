"""Judgement: materiality, categories and direction on phrasings written for these tests."""

import pytest

from policywatch.document import parse_text
from policywatch.judge import compare, load_rules, stated_date

BASE = """# Acme Privacy Notice

Last updated: 2 February 2023

## What We Collect

We collect your name, email address and billing details when you create an account.

We also record which features you use so that we can fix bugs.

## How We Use Data

We use your information to provide and secure the service and to answer support requests.

## Who We Share It With

We share data with hosting and payment providers who act on our instructions.

We do not sell your personal information to anyone.

## How Long We Keep It

Account records are deleted 90 days after you close your account.

## Your Choices and Rights

You can opt out of product newsletters at any time from your settings.

You may ask us for a copy of your data or ask us to erase it.

## Children

The service is not directed to children under 16 and we do not knowingly collect their data.

## Security

We encrypt data in transit and at rest.

## Changes

We will email you at least 30 days before any material change takes effect.

## Contact

Acme Widgets Ltd, 1 Harbour Road, Dublin, is the controller of your data.
"""


def judged(old: str, new: str):
    return compare(parse_text(old), parse_text(new))


def edit(find: str, replace: str):
    assert find in BASE, find
    return judged(BASE, BASE.replace(find, replace))


MATERIAL = [
    # (find, replace, category, direction)
    ("We do not sell your personal information to anyone.",
     "We may sell your personal information to selected partners.", "sharing", "expand"),
    ("We share data with hosting and payment providers who act on our instructions.",
     "We share data with hosting and payment providers, and with Criteo and other ad networks.", "sharing",
     "expand"),
    ("so that we can fix bugs.", "so that we can fix bugs and to train our machine learning models.", "purposes",
     "expand"),
    ("We collect your name, email address and billing details",
     "We collect your name, email address, billing details and your voiceprint", "data_collected", "expand"),
    ("deleted 90 days after", "deleted 7 years after", "retention", "expand"),
    ("deleted 90 days after", "deleted 14 days after", "retention", "restrict"),
    ("You can opt out of product newsletters at any time from your settings.\n", "", "choices", "expand"),
    ("You may ask us for a copy of your data or ask us to erase it.\n", "", "user_rights", "expand"),
    ("children under 16", "children under 13", "children", "expand"),
    ("We encrypt data in transit and at rest.", "We store data as we see fit.", "security", "expand"),
    ("We will email you at least 30 days before any material change takes effect.",
     "Changes take effect when we post them here.", "policy_changes", "expand"),
    ("Acme Widgets Ltd, 1 Harbour Road, Dublin,", "Globex Holdings Inc, 5 Market Street, Wilmington,",
     "controller_contact", None),
    ("We use your information to provide and secure the service and to answer support requests.",
     "We use your information to provide and secure the service, to answer support requests, and to show you "
     "personalised ads on other websites.", "purposes", "expand"),
    ("We share data with hosting and payment providers who act on our instructions.",
     "We share data with hosting and payment providers who act on our instructions. Your data may be "
     "transferred to and stored in India.", "international_transfers", "expand"),
    ("We also record which features you use so that we can fix bugs.",
     "We also record which features you use so that we can fix bugs. We use tracking pixels and device "
     "fingerprinting to follow you across websites.", "tracking", "expand"),
]


@pytest.mark.parametrize("find, replace, category, direction", MATERIAL,
                         ids=[f"{m[2]}-{m[3]}-{i}" for i, m in enumerate(MATERIAL)])
def test_material_changes_are_caught_with_their_category(find, replace, category, direction):
    diff, verdict = edit(find, replace)
    assert verdict.material, verdict.summary
    assert category in verdict.categories, (verdict.categories, verdict.summary)
    if direction:
        assert any(s.direction == direction for s in diff.changed_sections), [
            (s.direction, [g.rule for g in s.signals]) for s in diff.changed_sections]
    assert verdict.summary and verdict.summary[0].isupper()
    # every signal carries its evidence sentence
    assert all(g.old or g.new for s in diff.changed_sections for g in s.signals)


def test_a_removed_promise_counts_as_much_as_an_added_one():
    _, added = edit("We do not sell your personal information to anyone.",
                    "We do not sell your personal information to anyone. We sell aggregated usage statistics.")
    _, flipped = edit("We do not sell", "We may sell")
    assert added.material and flipped.severity == "high"


NOISE = [
    ("Last updated: 2 February 2023", "Last updated: 9 October 2024"),
    ("so that we can fix bugs.", "so that we can fix bugs ."),
    ("We collect your name", "We colect your name"),
    ("at any time from your settings", "at any time from your settngs"),
    ("to answer support requests", "to respond to support requests"),
    ("## Who We Share It With", "## Who We Share Information With"),
    ("We encrypt data in transit and at rest.", "We encrypt data in transit and at rest!"),
]


@pytest.mark.parametrize("find, replace", NOISE)
def test_noise_is_not_material(find, replace):
    diff, verdict = edit(find, replace)
    assert not verdict.material, (verdict.severity, verdict.summary, [
        [g.rule for g in s.signals] for s in diff.changed_sections])


def test_moved_and_renamed_sections():
    moved = BASE.replace("## Security\n\nWe encrypt data in transit and at rest.\n\n", "")
    moved = moved.replace("## Children", "## Security\n\nWe encrypt data in transit and at rest.\n\n## Children")
    diff, verdict = judged(BASE, moved)
    assert not verdict.material
    assert [s.status for s in diff.changed_sections] == ["moved"]
    diff, verdict = edit("## How Long We Keep It", "## Data Retention")
    assert [s.status for s in diff.changed_sections] == ["renamed"] and not verdict.material
    # A renamed heading is read: its words changed, so the change is editorial, not formatting.
    assert diff.changed_sections[0].kinds == ["editorial"] and verdict.severity == "low"
    diff, verdict = judged("# P\n\n## Effective April 2, 2024\n\nWe collect your e-mail address.\n",
                           "# P\n\n## Effective April 2nd 2024\n\nWe collect your e-mail address.\n")
    assert diff.changed_sections[0].kinds == ["date_stamp"] and verdict.severity == "low"


def test_a_changed_contact_address_is_an_edit_and_an_address_hidden_by_e_mail_protection_is_not():
    contact = "Acme Widgets Ltd, 1 Harbour Road, Dublin, is the controller of your data."
    old = BASE.replace(contact, contact + " Write to dpo@acme-inc.com with any question.")
    diff, verdict = judged(old, old.replace("dpo@acme-inc.com", "DPO@acme.com"))
    assert diff.changed_sections[0].kinds == ["editorial"] and (verdict.severity, verdict.material) == ("low", False)
    # The same address shown, then hidden behind the placeholder an e-mail protection renders (and back).
    hidden = old.replace("dpo@acme-inc.com", "[email\xa0protected]")
    for before, after in ((old, hidden), (hidden, old)):
        diff, verdict = judged(before, after)
        assert diff.changed_sections[0].kinds == ["formatting"] and verdict.severity == "none"
    # Only the address's case changed: the same address.
    diff, verdict = judged(old, old.replace("dpo@acme-inc.com", "DPO@Acme-Inc.com"))
    assert verdict.severity == "none"
    # The address changed beside a label that changed too; a phone number changed.
    card = "# P\n\n## Contact\n\nOur office\n\nWrite to dpo@acme-inc.com any time you like.\n\n- Phone: 0800 123 4567\n"
    for new in (card.replace("acme-inc", "acme").replace("Our office", "Our offices"),
                card.replace("0800 123 4567", "0900 765 4321")):
        diff, verdict = judged(card, new)
        assert (diff.changed_sections[0].kinds, verdict.severity) == (["editorial"], "low"), verdict.summary
    # A short contact card's new address is read as English: ".com" is no Portuguese word.
    card = "# P\n\n## Contact\n\n" + "".join(f"- E-mail {n}: team{n}@acme.com\n" for n in range(12))
    diff, verdict = judged(card, card.replace("team3@acme.com", "desk@acme.com"))
    assert "Not judged" not in verdict.summary and verdict.severity == "low", verdict.summary

def test_labels_numbering_and_written_out_links_are_no_edit():
    # A rotating menu of events, dated: labels, whatever numbers they carry.
    menu = "# P\n\nApril Fools' Day\n\nPalm Sunday (Apr 5, 2020)\n\n## Use\n\nWe use your data to run the service.\n"
    diff, verdict = judged(menu, menu.replace("April Fools' Day\n\nPalm Sunday (Apr 5, 2020)",
                                              "Palm Sunday\n\nBaisakhi (Apr 13, 2020)"))
    assert verdict.severity == "none", verdict.summary
    # A list whose items became numbered subsections under an icon's label: the same sentences.
    items = ["to create and maintain your account;", "to answer your requests;", "to bill you."]
    listed = "# P\n\n## How we use your data\n\n" + "".join(f"- {item}\n" for item in items)
    split = "# P\n\n## How we use your data\n\n" + "".join(
        f"### {n}. Badge Check\n\n{item}\n\n" for n, item in enumerate(items, 1))
    diff, verdict = judged(listed, split)
    assert verdict.severity == "none", verdict.summary
    # A link written out with a broken scheme, then mended: no word a reader reads changed.
    link = BASE.replace("at rest.", "at rest, as certified at http.://privacyshield.gov.")
    diff, verdict = judged(link, link.replace("http.://privacyshield.gov", "http://privacyshield.gov/"))
    assert verdict.severity == "none", verdict.summary
    # "5 may" is no date: a count changed in a short item is an edit.
    item = "# P\n\n## Who\n\nWe limit access.\n\n- Up to 5 may view it\n"
    assert judged(item, item.replace("5 may", "50 may"))[1].severity == "low"
    # A date stamp is short too, and no label.
    diff, verdict = judged(menu.replace("April Fools' Day", "Effective April 2, 2024"),
                           menu.replace("April Fools' Day", "Effective April 9, 2024"))
    assert verdict.severity == "low", verdict.summary

def test_added_and_removed_sections_are_material():
    diff, verdict = judged(BASE, BASE + "\n## Voice Features\n\nWe keep recordings of your voice commands "
                                        "to improve speech recognition.\n")
    assert diff.changed_sections[-1].status == "added" and verdict.material
    without = BASE.replace("## Children\n\nThe service is not directed to children under 16 and we do not "
                           "knowingly collect their data.\n\n", "")
    diff, verdict = judged(BASE, without)
    assert [s.status for s in diff.changed_sections] == ["removed"] and verdict.material
    assert "children" in verdict.categories


def test_stated_dates_are_parsed():
    rules = load_rules()
    assert stated_date(BASE, rules) == "2023-02-02"
    assert stated_date("# P\n\nEffective as of March 3, 2021\n\nText.", rules) == "2021-03-03"
    assert stated_date("# P\n\nNo date here.", rules) is None


@pytest.mark.parametrize("line, expected", [
    # A month alone is its first day, whatever day the check runs (it was the day of the month of the run).
    ("Last updated: May 2024", "2024-05-01"),
    ("Last updated: \\[October 2021\\]", "2021-10-01"),  # was the run's year and day: 2026-10-30
    ("Version 2.1, effective May 1, 2024", "2024-05-01"),  # was 2001-05-02, from "2.1" and "2024"
    ("Last Revised: December, 9 2022.", "2022-12-09"),
    ("Valid from 7th of May 2020, updated 15th of Aug 2023.", "2023-08-15"),  # the latest of two
    ("Version : V202406 at the date of June 1, 2024", "2024-06-01"),
    ("Last updated: 03/04/2024", "2024-03-04"),  # month first, unless it cannot be
    ("Last updated: 25/12/2024", "2024-12-25"),
    ("Effective date: 2024-03-05", "2024-03-05"),
    ("Updated Sept. 3rd, 2021", "2021-09-03"),
    ("Last updated: February 30, 2024", None),  # not a date
    ("Version: 09.12.2025", "2025-12-09"),  # dots: day first
    ("Last updated: 14.5.24", "2024-05-14"),
    ("Last updated: 05/12/24", "2024-05-12"),
    ("Last updated: 2024-05-10T12:00:00Z", "2024-05-10"),
    ("Last Updated: 10-May-2024", "2024-05-10"),
    ("Last updated: March 1 , 2024", "2024-03-01"),
    ("Last updated: 3 May 2024 (ref. 1.2.3456)", "2024-05-03"),  # a number that is no date is passed over
    ("Last revised 01/15/2025.", "2025-01-15"),
    ("This Statement was last updated on 01.02.2024.", "2024-02-01"),
    ("© 2024 Acme Inc.", None),  # a year alone states no date
])
def test_the_stated_date_is_read_from_the_date_line_alone(line, expected):
    assert stated_date(f"# Privacy Policy\n\n{line}\n\nWe collect your name.\n", load_rules()) == expected


def test_identical_documents():
    diff, verdict = judged(BASE, BASE)
    assert diff.identical and verdict.severity == "none" and verdict.summary == "No change."


def test_every_kind_of_fact_change_is_one_registered_rule_with_its_docstring():
    from policywatch.judge.changes import RULES

    assert set(RULES) == {"added", "removed", "flipped", "value_changed", "statement"}
    assert all(function.__doc__ and function.__doc__.strip() for function in RULES.values())


def test_a_judgement_pauses_the_cycle_collector_and_gives_it_back():
    import gc

    from policywatch.judge import without_cycle_collection

    assert gc.isenabled()
    with without_cycle_collection():
        assert not gc.isenabled()
        with without_cycle_collection():  # nested: the outer one gives it back
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), without_cycle_collection():
        raise RuntimeError("a judgement that fails")
    assert gc.isenabled()


def test_a_term_with_an_unknown_key_is_refused_with_a_hint(tmp_path):
    from policywatch.errors import ConfigError
    from policywatch.judge import load_rules

    (tmp_path / "mine.yaml").write_text("category: data_collected\nterms:\n"
                                        "  - {name: photos, videos and audio, pattern: 'photos?'}\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: term 1 \(photos\): unknown key 'videos and audio' "
                                          r"\(a name holding a comma needs quotes\)"):
        load_rules((str(tmp_path / "mine.yaml"),))
    shipped = {t.name for t in load_rules().terms}
    assert "photos, videos and audio" in shipped and "content you provide (prompts, uploads, files)" in shipped


@pytest.mark.parametrize(("content", "message"), [
    (b"category: sharing\nterms: 5\n", r"t.yaml: 'terms' is a list of terms"),
    (b"negations: 5\n", r"t.yaml: 'negations' must be a regular expression \(text\), not 5"),
    (b"\xff\xfe\x00", r"t.yaml: cannot read rules: 'utf-8' codec can't decode"),
    (b"category: [sharing]\n", r"t.yaml: unknown category"),
    (b"category: sharing\nterms:\n  - {name: brokers, pattern: ''}\n", r"term 1 \(brokers\): the pattern is empty"),
    (b"category: sharing\nterms:\n  - {name: brokers, pattern: 'brokers?|x?'}\n",
     r"term 1 \(brokers\): the pattern matches empty text, so every sentence"),
    (b"category: sharing\nterms:\n  - {name: brokers, pattern: 5}\n", r"term 1 \(brokers\): 'pattern' must be text"),
    (b"category: sharing\nterms:\n  - {name: [a], pattern: 'a'}\n", r"term 1 \(\['a'\]\): 'name' must be text"),
])
def test_a_broken_user_lexicon_is_one_configuration_error(tmp_path, content, message):
    # Wrong types gave tracebacks (exit 1); an empty pattern made every sentence a fact.
    from policywatch.errors import ConfigError
    from policywatch.judge import load_rules

    (tmp_path / "t.yaml").write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_rules((str(tmp_path / "t.yaml"),))


def test_a_numeric_date_reads_day_first_where_the_text_says_so():
    rules = load_rules()
    # The text's other dates write the day first.
    assert stated_date("# P\n\nUpdated: 01/08/2024\n\nSince 25/05/2018 we comply with the GDPR.\n",
                       rules) == "2024-08-01"
    assert stated_date("# P\n\nUpdated: 01/08/2024\n\nSince 05/25/2018 we comply.\n", rules) == "2024-01-08"
    # Nothing else tells: month first, as a policy posted before it takes effect reads too.
    assert stated_date("# P\n\nEffective date: 06/01/2026\n", rules) == "2026-06-01"
    # The version before tells: this policy wrote "22/07/2025".
    assert stated_date("# P\n\nUpdated: 11/05/2026\n", rules, context="# P\n\nUpdated: 22/07/2025\n") == \
        "2026-05-11"
    old_text, new_text = "# P\n\nUpdated: 22/07/2025\n\nWe collect your name.\n", \
        "# P\n\nUpdated: 11/05/2026\n\nWe collect your name and e-mail.\n"
    _, judgement = compare(parse_text(old_text), parse_text(new_text))
    assert (judgement.old_date, judgement.new_date) == ("2025-07-22", "2026-05-11")


def test_denying_a_protection_reads_as_a_statement_and_denying_a_practice_as_a_promise():
    base = "# Privacy Policy\n\n## Your rights\n\nYou can access your data.\n\n## Sharing\n\nWe use processors.\n"
    portability, selling = "We do not offer a right to data portability.", "We do not sell your personal data."
    _, added = compare(parse_text(base), parse_text(f"{base}\n{portability}\n"))
    assert added.summary == "Now says it does not give the right to data portability."  # not "promises not to"
    _, dropped = compare(parse_text(f"{base}\n{portability}\n"), parse_text(base))
    assert dropped.summary.startswith("No longer says it does not give the right to data portability")
    _, promise = compare(parse_text(base), parse_text(f"{base}\n{selling}\n"))
    assert promise.summary == "Now promises not to sell personal data."
