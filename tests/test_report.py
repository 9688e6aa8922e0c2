"""The one home for output: a renderer table per kind of result, and the CLI's --format read from it."""

from __future__ import annotations

import json

import click
import pytest

from policywatch.cli import cli
from policywatch.document import parse_text
from policywatch.errors import UsageError
from policywatch.judge import compare
from policywatch.report import RENDERERS, DiffView, History, NotifyLog, PolicyList, formats, render

POLICY = {"id": "acme", "name": "ACME", "url": "https://acme.example/privacy"}


def test_every_format_the_cli_offers_is_in_the_table_and_the_other_way_round():
    offered = {}
    for name, command in cli.commands.items():
        commands = command.commands.items() if isinstance(command, click.Group) else [(name, command)]
        for sub, leaf in commands:
            for param in leaf.params:
                if param.name == "fmt":
                    offered[sub] = list(param.type.choices)
    assert offered["diff"] == offered["diff-files"] == formats("diff") == ["text", "markdown", "html", "json"]
    assert offered["show"] == formats("version") == ["text", "markdown", "json"]
    assert offered["log"] == formats("notify-log") and offered["list"] == formats("list") == ["text", "json"]
    assert all("json" in table for kind, table in RENDERERS.items() if kind != "flush")


def test_a_format_a_result_does_not_have_is_a_one_line_usage_error():
    with pytest.raises(UsageError, match="history has no html output \\(one of: text, json\\)"):
        render(History(POLICY, []), "html")


def test_json_names_its_schema_and_text_ends_with_one_newline():
    diff, judgement = compare(parse_text("# P\n\nWe do not sell data.\n"), parse_text("# P\n\nWe sell data.\n"))
    results = [PolicyList([], []), History(POLICY, []), NotifyLog([]), DiffView(diff, judgement, "a", "b")]
    for result in results:
        assert json.loads(render(result, "json"))["schema"].startswith("policywatch.")
    for fmt in formats("diff"):
        page = render(results[-1], fmt)
        assert page.endswith("\n") and not page.endswith("\n\n\n")
    assert render(History(POLICY, []), "text") == "acme: no versions stored yet\n"
    assert render(NotifyLog([]), "text") == "no notifications yet\n"
