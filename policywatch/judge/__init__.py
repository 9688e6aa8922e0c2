"""Stage: judge — what a version says (its practice facts), and whether a change is material.

- ``rules``: the lexicons (YAML a user can read and extend with ``POLICYWATCH_RULES``);
- ``facts``: a version's practice facts, each with its evidence sentence;
- ``changes``: what one fact added, removed or turned means (rule id, severity, direction);
- ``passages``: new or dropped passages and reworded sentences, which the fact sets alone miss;
- ``judgement``: the difference of two fact sets, placed in the section diff, as a verdict;
- ``words``: the verdict in plain words.
"""

from policywatch.judge.changes import Signal
from policywatch.judge.facts import Fact, FactExtractor, extract_facts
from policywatch.judge.judgement import Judgement, compare, diff_facts, diff_json, judge, without_cycle_collection
from policywatch.judge.rules import Rules, is_date_stamp, load_rules, stated_date
from policywatch.vocabulary import SEVERITIES, SEVERITY_RANK

__all__ = ["SEVERITIES", "SEVERITY_RANK", "Fact", "FactExtractor", "Judgement", "Rules", "Signal", "compare",
           "diff_facts", "diff_json", "extract_facts", "is_date_stamp", "judge", "load_rules", "stated_date",
           "without_cycle_collection"]
