"""The rules of a change: what a fact added, removed or turned means, one small function each.

Each returns an Assessment — a rule id (stable, for JSON and tests), a severity, a direction and
the plain words — and ``Signal`` carries it with the evidence before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from policywatch.judge import words as plain
from policywatch.judge.facts import Fact
from policywatch.judge.rules import PRIORITY, Rules
from policywatch.vocabulary import SEVERITY_RANK


@dataclass
class Signal:
    """One change of fact, with the evidence sentences before and after."""

    rule: str  # "sharing.added", "retention.lengthened", …: stable ids for JSON and tests
    category: str
    severity: str
    direction: str  # expand, restrict, clarify
    message: str  # plain words: "may now sell personal data (it promised not to)"
    old: str | None = None
    new: str | None = None
    old_fact: Fact | None = None
    new_fact: Fact | None = None

    @property
    def change(self) -> str:
        return "changed" if self.old_fact and self.new_fact else "added" if self.new_fact else "removed"

    def to_json(self) -> dict:
        return {"rule": self.rule, "category": self.category, "severity": self.severity,
                "direction": self.direction, "message": self.message, "change": self.change,
                "evidence": {"old": self.old, "new": self.new}}


Assessment = tuple[str, str, str, str]  # rule, severity, direction, message

# One small function per kind of change, registered under that kind; its docstring is the rule.
# The rule ids it returns are "<category>.<what happened>" (docs/judgement.md lists them all).
RULES: dict[str, Callable[..., Assessment]] = {}


def rule(kind: str) -> Callable[[Callable[..., Assessment]], Callable[..., Assessment]]:
    """Register the function that says what a change of ``kind`` means."""
    def register(function: Callable[..., Assessment]) -> Callable[..., Assessment]:
        RULES[kind] = function
        return function
    return register


def _expands(fact: Fact, rules: Rules, asserting: bool) -> bool:
    """Asserting more expands an expanding category; in a protective one, saying less does."""
    return asserting != rules.protective(fact.category, fact.practice)


def _presence(fact: Fact, rules: Rules, added: bool) -> Assessment:
    """A fact one version states and the other does not; a denial ("we do not sell") counts the
    other way round: dropping it asserts more."""
    asserting = (fact.polarity != "negated") == added
    message = (plain.added if added else plain.removed)(fact, rules)
    verb = "added" if added else "removed"
    if fact.category == "controller_contact":
        return f"{fact.category}.{verb}", "medium", "clarify", message
    expand = _expands(fact, rules, asserting)
    rule = f"denial_{verb}" if fact.polarity == "negated" else verb
    return f"{fact.category}.{rule}", "high" if expand else "medium", "expand" if expand else "restrict", message


@rule("added")
def assess_added(fact: Fact, rules: Rules) -> Assessment:
    """A practice the old version did not state, or a new denial ("we do not sell")."""
    return _presence(fact, rules, added=True)


@rule("removed")
def assess_removed(fact: Fact, rules: Rules) -> Assessment:
    """A practice, promise or right the new version no longer states."""
    return _presence(fact, rules, added=False)


@rule("flipped")
def assess_flip(old: Fact, new: Fact, rules: Rules) -> Assessment:
    """The same practice, asserted then denied (or the reverse), or a promise weakened to 'may'."""
    strength = {"negated": 0, "conditional": 1, "asserted": 2}
    asserting = strength[new.polarity] > strength[old.polarity]
    expand = _expands(new, rules, asserting)
    rule = "negation_flip" if "negated" in (old.polarity, new.polarity) else "promise_weakened" if (
        new.polarity == "conditional") else "promise_strengthened"
    return (f"{new.category}.{rule}", "high" if expand else "medium", "expand" if expand else "restrict",
            plain.flipped(old, new, rules))


@rule("value_changed")
def assess_value(old: Fact, new: Fact, rules: Rules) -> Assessment:
    """A number or a name changed: a period, an age, the company responsible."""
    message = plain.changed_value(old, new, rules)
    if new.category == "controller_contact":
        return "controller_contact.company_changed", "high", "clarify", message
    before, after = float(old.value or 0), float(new.value or 0)
    if new.practice == "retention period":
        longer = after > before
        return (f"retention.{'lengthened' if longer else 'shortened'}", "high" if longer else "medium",
                "expand" if longer else "restrict", message)
    if new.practice == "minimum age":
        lower = after < before
        return (f"children.age_{'lowered' if lower else 'raised'}", "high" if lower else "medium",
                "expand" if lower else "restrict", message)
    if new.practice == "notice period":
        shorter = after < before
        return (f"policy_changes.notice_{'shortened' if shorter else 'lengthened'}", "high" if shorter else "medium",
                "expand" if shorter else "restrict", message)
    return f"{new.category}.value_changed", "medium", "clarify", message


@rule("statement")
def assess_statement(fact: Fact, rules: Rules, added: bool) -> Assessment:
    """A passage about a practice the other version also states, but in no sentence like this one."""
    asserting = (fact.polarity != "negated") == added
    expand = _expands(fact, rules, asserting)
    # A new passage on what the company does (collects, shares, uses…) is news whatever else it said;
    # a passage dropped, or one about a right or a promise, says less than a fact change does.
    severity = "high" if expand and added and fact.polarity != "negated" else "medium"
    verb = "adds" if added else "drops"
    what = plain.practice(fact, rules, infinitive=fact.polarity == "negated")
    message = f"{verb} a passage saying it {'does not ' if fact.polarity == 'negated' else ''}{what}"
    return (f"{fact.category}.statement_{'added' if added else 'removed'}", severity,
            "expand" if expand else "restrict", message)


_PRIORITY = {name: k for k, name in enumerate(PRIORITY)}


def rank(signal: Signal) -> tuple:
    """Most severe first; fact changes before passages; sensitive practices first; then by category."""
    fact = signal.new_fact or signal.old_fact
    return (-SEVERITY_RANK[signal.severity], ".statement_" in signal.rule, not (fact and fact.sensitive),
            _PRIORITY.get(signal.category, 99))
