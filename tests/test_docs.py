"""The documentation is part of the product: its examples run and it names every option there is.

Like sqlite-utils' and urlwatch's documentation tests: README's Python blocks run (on loopback),
every YAML watchlist in README.md and docs/ loads, every CLI command and option is in docs/cli.md
and every option documented there exists, every watchlist key is in docs/watchlist.md, every
JSON schema name is in docs/json.md, and no page links to a file outside the repository.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from policywatch.cli import cli
from policywatch.judge import load_rules
from policywatch.watchlist import POLICY_ONLY_KEYS, SETTING_KEYS, TARGET_KEYS, TOP_KEYS, load_watchlist

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
CLI_DOC = ROOT / "docs" / "cli.md"


def blocks(path: Path, language: str) -> list[str]:
    return blocks_in(path.read_text(encoding="utf-8"), language)


def blocks_in(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        full = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            found.update(commands(command, full))
        else:
            found[full] = command
    return found


def options(command: click.Command) -> set[str]:
    return {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts if opt.startswith("--")}


def sections(text: str) -> dict[str, str]:
    """docs/cli.md's '## `policywatch COMMAND …`' sections by command name."""
    found = {}
    for match in re.finditer(r"^## `policywatch ([a-z -]+?)(?: \[?[A-Z]|`)(.*?)(?=^## |\Z)", text, re.M | re.S):
        found[match.group(1).strip()] = match.group(2)
    return found


def test_every_command_and_option_is_documented_and_every_documented_option_exists():
    text = CLI_DOC.read_text(encoding="utf-8")
    documented = sections(text)
    everything = commands()
    assert set(documented) == set(everything), "docs/cli.md and the CLI name different commands"
    for name, command in everything.items():
        named = set(re.findall(r"`(--[a-z][a-z-]*)", documented[name]))
        assert named == options(command), f"policywatch {name}: documented {sorted(named)}, " \
                                          f"has {sorted(options(command))}"
    global_options = options(cli) - {"--help"}
    head = text.split("\n## `policywatch", 1)[0]
    assert global_options <= set(re.findall(r"`(--[a-z][a-z-]*)", head))


def test_every_watchlist_key_is_documented():
    text = (ROOT / "docs" / "watchlist.md").read_text(encoding="utf-8")
    for key in POLICY_ONLY_KEYS | SETTING_KEYS | TARGET_KEYS | TOP_KEYS | {"apprise_config"}:
        assert f"`{key}`" in text, key


def test_every_json_schema_is_named_in_docs_json():
    text = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "policywatch").rglob("*.py"))
    schemas = set(re.findall(r'"(policywatch\.[a-z-]+/\d+)"', source))
    assert schemas and all(schema in text for schema in schemas), schemas - set(re.findall(r"policywatch\.[a-z-]+/\d+",
                                                                                                text))


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_stays_in_the_repository(path):
    text = path.read_text(encoding="utf-8")
    assert "DESIGN.md" not in text and "../shared" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        resolved = (path.parent / target).resolve()
        assert resolved.exists() and ROOT in resolved.parents, f"{path.name} links to {target}"


@pytest.mark.parametrize("index,path,block", [
    (index, path, block) for path in [README, *DOCS] for index, block in enumerate(blocks(path, "yaml"))],
    ids=lambda value: value.name if isinstance(value, Path) else str(value) if isinstance(value, int) else "")
def test_yaml_watchlists_in_the_docs_load(tmp_path, monkeypatch, index, path, block):
    if not re.search(r"^(defaults|notify|policies):", block, re.M):
        pytest.skip("not a watchlist (a lexicon or another file)")
    if "policies:" not in block:  # a notify or defaults excerpt: give it a policy to apply to
        block += "\npolicies:\n  - {id: acme, name: ACME, url: 'https://acme.example/privacy', tags: [saas]}\n"
    if "apprise_config:" in block:
        (tmp_path / "apprise.yml").write_text("urls:\n  - json://localhost/:\n    - tag: ops\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(block, encoding="utf-8")
    assert len(load_watchlist(watchlist)) >= 1


def test_readme_python_blocks_run(tmp_path, monkeypatch, http_server):
    """The Library section, run as written, against loopback servers (a page and a fake Wayback)."""
    from ia_fake import ACME_URL, acme_captures, install_fake_ia
    from pages import policy_page

    import policywatch
    from policywatch import history_import

    fake = install_fake_ia(http_server, acme_captures())
    monkeypatch.setenv("POLICYWATCH_CDX_URL", fake.cdx_url)
    monkeypatch.setenv("POLICYWATCH_REPLAY_URL", fake.replay_template)
    # The archive is ours: no politeness delay (the README's call keeps the default rate).
    monkeypatch.setattr(policywatch, "backfill", functools.partial(history_import.backfill, rate=0))
    http_server.route("/privacy", policy_page())
    (tmp_path / "watchlist.yaml").write_text(
        "defaults: {timeout: 5, retries: 0}\npolicies:\n"
        f"  - {{id: acme, name: ACME, url: '{http_server.url('/privacy')}', archive_url: '{ACME_URL}',"
        " tags: [saas]}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    python = blocks(README, "python")
    assert len(python) >= 2
    namespace = {"old_text": "# P\n\nWe do not sell your data.\n", "new_text": "# P\n\nWe sell your data.\n"}
    for block in python:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["report"].counts["new"] == 1
    assert namespace["imported"].results[0].outcome == "ok"
    assert namespace["verdict"].material


def test_the_librarys_names_are_functions_whatever_was_imported_before():
    import policywatch
    import policywatch.history_import  # noqa: F401 - a submodule loaded first must not shadow a name
    import policywatch.monitor  # noqa: F401
    from policywatch import backfill, check, load_watchlist, normalize_html  # noqa: I001
    assert all(callable(f) for f in (backfill, check, load_watchlist, normalize_html))
    assert policywatch.backfill is backfill


def _worked_example() -> tuple[str, str]:
    """judgement.md's worked example: ``old.md`` as printed, and ``new.md`` rebuilt from its diff."""
    text = (ROOT / "docs" / "judgement.md").read_text(encoding="utf-8")
    example = text[text.index("## Worked example"):]
    old = blocks_in(example, "markdown")[0]
    lines = old.split("\n")
    ops = blocks_in(example, "diff")[0].rstrip("\n").split("\n")
    for index, op in enumerate(ops):
        follows = ops[index + 1][1:] if index + 1 < len(ops) and ops[index + 1].startswith("+") else None
        if op.startswith("-"):
            at = lines.index(op[1:])
            if follows is None:
                del lines[at]
            else:
                lines[at] = follows
        elif op.startswith(" ") and follows is not None:
            lines.insert(lines.index(op[1:]) + 1, follows)
    return old, "\n".join(lines)


def test_the_worked_examples_output_and_json_md_values_are_what_policywatch_prints_today(tmp_path):
    """The identities and fingerprint that docs/json.md shows are those the worked example gives
    now: a change to the version identity or the lexicons must update the docs with it."""
    old, new = _worked_example()
    (tmp_path / "old.md").write_text(old, encoding="utf-8")
    (tmp_path / "new.md").write_text(new, encoding="utf-8")
    run = [sys.executable, "-m", "policywatch", "diff-files", "old.md", "new.md"]
    shown = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    doc = (ROOT / "docs" / "judgement.md").read_text(encoding="utf-8")
    assert shown.stdout.splitlines()[0] in doc  # the verdict line printed there
    diff = json.loads(subprocess.run([*run, "--format", "json"], capture_output=True, text=True, cwd=tmp_path,
                                     timeout=120).stdout)
    json_doc = (ROOT / "docs" / "json.md").read_text(encoding="utf-8")
    shown_hashes = set(re.findall(r'"text_sha256": "([0-9a-f]{64})"', json_doc))
    assert shown_hashes == {diff["old"]["text_sha256"], diff["new"]["text_sha256"]}
    assert set(re.findall(r'"rules": "([0-9a-f]{16})"', json_doc)) == {load_rules().fingerprint}
