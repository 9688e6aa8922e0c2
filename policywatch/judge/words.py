"""Plain words: how a change of facts reads to a lawyer, and the one-line verdict.

Rule ids and snake_case category names stay in JSON; people read practices and plain category
names ("may now sell personal data", "Sharing & sale").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policywatch.judge.facts import Fact
    from policywatch.judge.rules import Rules

HEADLINE_POINTS = 3


def practice(fact: Fact, rules: Rules, infinitive: bool = False) -> str:
    """ "collects biometric data", "shares personal data with data brokers", "offers an opt-out from …"."""
    does, do = rules.phrasing(fact.category, fact.practice)
    what = fact.practice
    kind, named, name = what.partition(": ")
    if fact.value is not None and fact.shown:
        what = fact.shown
    elif named:  # a named company or country: "AI companies: Anthropic" reads as "Anthropic"
        what = name
    if named and kind in _PREPOSITIONS:  # a term named by its preposition: "to: China" reads "to China"
        what = f"{kind} {what}"
    if fact.about and fact.about != fact.practice:
        what = f"{what} ({fact.about})"
    return (do if infinitive else does).format(what=what)


_PREPOSITIONS = {"to", "in", "from", "via", "at"}

# Practices whose plain words are their value, not a verb of their category.
_BY_VALUE = {"minimum age": "sets a minimum age of {shown}", "notice period": "promises {shown} notice of changes"}


def statement(fact: Fact, rules: Rules) -> str:
    """What a fact says, as a lawyer would list it: "does not sell personal data"."""
    if fact.practice in _BY_VALUE:
        return _BY_VALUE[fact.practice].format(shown=fact.shown)
    if fact.polarity == "negated":
        return f"does not {practice(fact, rules, True)}"
    if fact.polarity == "conditional":
        return f"may {practice(fact, rules, True)}"
    return practice(fact, rules)


def _promise(fact: Fact, rules: Rules) -> bool:
    """A denial of what would expand (not selling) is a promise; a denial of what protects (not giving
    a right, not relying on a safeguard) is a limit, and reads as a statement."""
    return fact.polarity == "negated" and fact.practice not in _BY_VALUE and not rules.protective(
        fact.category, fact.practice)


def added(fact: Fact, rules: Rules) -> str:
    if _promise(fact, rules):
        return f"now promises not to {practice(fact, rules, True)}"
    return f"now {statement(fact, rules)}" if fact.polarity != "negated" else f"now says it {statement(fact, rules)}"


def removed(fact: Fact, rules: Rules) -> str:
    if _promise(fact, rules):
        return f"no longer promises not to {practice(fact, rules, True)}"
    return f"no longer says it {statement(fact, rules)}"


def flipped(old: Fact, new: Fact, rules: Rules) -> str:
    if new.polarity == "negated":
        return f"now rules out: {practice(new, rules, True)} (it said it did)"
    if old.polarity == "negated":
        return f"may now {practice(new, rules, True)} (it promised not to)"
    if new.polarity == "conditional":
        return f"weakens its promise to {practice(new, rules, True)} ('will' becomes 'may')"
    return f"now firmly promises to {practice(new, rules, True)}"


def changed_value(old: Fact, new: Fact, rules: Rules) -> str:
    if old.category == "controller_contact":
        return f"names a different company: {new.shown} instead of {old.shown}"
    if old.practice == "minimum age":
        return f"sets the minimum age at {new.shown} instead of {old.shown}"
    if old.practice == "notice period":
        return f"gives {new.shown} notice of changes instead of {old.shown}"
    return f"{practice(new, rules)} instead of {(old.shown or '').removeprefix('for ')}"


def headline(messages: list[str], extra: int = 0) -> str:
    """At most three points, most severe first; the rest counted."""
    points = list(dict.fromkeys(messages))
    text = "; ".join(points[:HEADLINE_POINTS])
    more = len(points) - HEADLINE_POINTS + extra
    if more > 0:
        text += f"; and {more} more change{'s' if more > 1 else ''}"
    return text[:1].upper() + text[1:] + "."
