"""Adding a policy to a watchlist file people wrote: every other byte stays, the result validates."""

import pytest
from console import run_cli

from policywatch.errors import ConfigError
from policywatch.watchlist import parse_watchlist
from policywatch.watchlist_file import append_policy, propose_id, propose_name, scalar

ENTRY = {"id": "beta-privacy", "name": "Beta Corp: Privacy Notice", "url": "https://beta.example/privacy#top",
         "tags": ["saas", "eu"]}

COMMENTED = """\
# Vendors we watch — reviewed every quarter
defaults:
  tags: [vendor]   # every policy

policies:
  # analytics
  - id: acme
    name: ACME Privacy Policy
    url: https://acme.example/privacy   # the live page

  # - id: old-vendor
  #   url: https://old.example/privacy

notify:
  team: ['json://127.0.0.1:9/x']
"""


def added_lines(old: str, new: str) -> list[str]:
    """``new`` must be ``old`` with lines inserted at one place: those lines."""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    start = next((k for k, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b), len(old_lines))
    inserted = len(new_lines) - len(old_lines)
    assert new_lines[:start] == old_lines[:start] and new_lines[start + inserted:] == old_lines[start:]
    return new_lines[start:start + inserted]


def test_a_block_list_gets_a_block_entry_after_its_last_policy():
    new = append_policy(COMMENTED, ENTRY)
    assert added_lines(COMMENTED, new) == [
        "  - id: beta-privacy\n", '    name: "Beta Corp: Privacy Notice"\n',
        "    url: https://beta.example/privacy#top\n", "    tags: [saas, eu]\n"]
    assert new.index("beta-privacy") < new.index("# - id: old-vendor")  # before the commented-out entry
    policies = parse_watchlist(new, "wl.yaml").policies
    assert [(p.id, p.name, p.url, p.tags) for p in policies][1] == (
        "beta-privacy", "Beta Corp: Privacy Notice", "https://beta.example/privacy#top", ("vendor", "saas", "eu"))


def test_one_line_entries_get_a_one_line_entry_at_their_indentation():
    text = "policies:\n    - {id: a, url: 'https://a.example/p'}   # first\n    - {id: b, url: 'https://b.example/p'}\n"
    new = append_policy(text, ENTRY)
    assert added_lines(text, new) == [
        '    - {id: beta-privacy, name: "Beta Corp: Privacy Notice", url: "https://beta.example/privacy#top", '
        "tags: [saas, eu]}\n"]
    assert [p.id for p in parse_watchlist(new, "wl.yaml").policies] == ["a", "b", "beta-privacy"]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "defaults: {timeout: 10}\npolicies:\n",
                                  "defaults: {timeout: 10}\npolicies: []\nnotify: {}\n", "defaults: {timeout: 10}"])
def test_an_empty_or_missing_list_gets_its_first_policy(text):
    new = append_policy(text, ENTRY)
    (policy,) = parse_watchlist(new, "wl.yaml").policies
    assert policy.id == "beta-privacy" and policy.tags == ("saas", "eu")
    if "notify" in text:
        assert new.endswith("notify: {}\n")


def test_line_endings_and_a_missing_last_newline_are_kept():
    text = "policies:\r\n  - id: a\r\n    url: https://a.example/p"
    new = append_policy(text, {"id": "b", "url": "https://b.example/p"})
    assert new == "policies:\r\n  - id: a\r\n    url: https://a.example/p\r\n  - id: b\r\n    url: https://b.example/p\r\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_missing_last_newline_stays_missing_when_the_entry_goes_before_the_end(newline):
    text = newline.join(["policies:", "  - id: a", "    url: https://a.example/p", "notify: {}"])
    new = append_policy(text, {"id": "b", "url": "https://b.example/p"})
    assert new == newline.join(["policies:", "  - id: a", "    url: https://a.example/p", "  - id: b",
                                "    url: https://b.example/p", "notify: {}"])


def test_a_list_that_cannot_be_extended_in_place_is_an_error_with_its_line():
    with pytest.raises(ConfigError, match=r"wl.yaml:2: 'policies' is written as one \[...\] list"):
        append_policy("# x\npolicies: [{url: 'https://a.example/p'}]\n", ENTRY, "wl.yaml")
    with pytest.raises(ConfigError, match=r"wl.yaml:2: invalid YAML"):
        append_policy("policies: [\n", ENTRY, "wl.yaml")


def test_scalars_read_back_as_the_same_strings():
    for value in ["https://a.example/p?x=1#y", "yes", "0.5", ".inf", "-.NaN", "Beta: Corp", "a #b", "[x]",
                  "O'Brien & Co", "null", "ünïcode — dash", " padded", "ends:"]:
        for flow in (False, True):
            loaded = parse_watchlist(f"policies:\n  - {{url: 'https://a.example/p', name: {scalar(value, True)}}}\n"
                                     if flow else f"policies:\n  - url: https://a.example/p\n    name: "
                                                  f"{scalar(value, False)}\n", "wl.yaml")
            assert loaded.policies[0].name == value, (value, flow)


def test_proposed_ids_and_names():
    assert propose_id("https://www.acme.com/en-us/legal/privacy-policy/", []) == "acme-privacy-policy"
    assert propose_id("https://acme.com/", ["acme"]) == "acme-2"
    assert propose_id("http://127.0.0.1:8080/beta.html", []) == "beta"
    assert propose_name("  Privacy\n Notice  ", "https://a.example/p") == "Privacy Notice"
    assert propose_name(None, "https://a.example/legal/privacy") == "a.example/legal/privacy"


PAGE = """<!doctype html><html><head><title>Beta Corp Privacy Notice</title></head><body><main>
<h1>Privacy Notice</h1><h2>What we collect</h2><p>We collect your name, your e-mail address and the
messages you send us, so that we can run the service you asked for and answer you.</p>
<h2>Sharing</h2><p>We share data with the processors that host our service, under contracts that forbid them
any other use. We never sell personal data, and we tell you before any of this changes.</p>
<h2>Your rights</h2><p>You may see, correct or delete your data at any time by writing to privacy@beta.example;
we answer every request within thirty days, free of charge, and we keep a record of it.</p></main></body></html>"""

WALL = """<html><head><title>Just a moment...</title></head><body><p>Checking your browser before accessing
beta.example. Please enable JavaScript and cookies to continue.</p></body></html>"""


def test_add_fetches_once_proposes_the_name_and_keeps_the_file(tmp_path, http_server):
    http_server.route("/privacy", PAGE)
    (tmp_path / "watchlist.yaml").write_text(COMMENTED)
    proc = run_cli(tmp_path, "add", http_server.url("/privacy"), "--tag", "saas")
    assert proc.returncode == 0, proc.stderr
    new = (tmp_path / "watchlist.yaml").read_text()
    lines = added_lines(COMMENTED, new)
    assert lines == ["  - id: privacy\n", "    name: Beta Corp Privacy Notice\n",
                     f"    url: {http_server.url('/privacy')}\n", "    tags: [saas]\n"]
    assert proc.stdout == "".join(lines)  # the entry, as written
    assert "added 'privacy'" in proc.stderr and "2 policies" in proc.stderr
    assert len([r for r in http_server.requests if r.path == "/privacy"]) == 1  # fetched once
    assert run_cli(tmp_path, "validate").returncode == 0
    # the same URL again: refused, the file untouched
    again = run_cli(tmp_path, "add", http_server.url("/privacy"))
    assert again.returncode == 2 and "already watched as 'privacy' (" in again.stderr
    assert "watchlist.yaml:10)" in again.stderr
    assert (tmp_path / "watchlist.yaml").read_text() == new


def test_add_warns_about_a_bot_wall_and_refuses_a_dead_page(tmp_path, http_server):
    http_server.route("/wall", WALL)
    (tmp_path / "watchlist.yaml").write_text(COMMENTED)
    walled = run_cli(tmp_path, "add", http_server.url("/wall"), "--id", "beta", "--name", "Beta")
    assert walled.returncode == 0 and "warning:" in walled.stderr and "bot wall" in walled.stderr
    assert "  - id: beta\n    name: Beta\n" in (tmp_path / "watchlist.yaml").read_text()
    before = (tmp_path / "watchlist.yaml").read_text()
    http_server.route("/gone", status=404, body=b"not here")
    dead = run_cli(tmp_path, "add", http_server.url("/gone"))
    assert dead.returncode == 2 and "cannot fetch it (HTTP 404" in dead.stderr and "nothing was added" in dead.stderr
    dry = run_cli(tmp_path, "add", http_server.url("/wall"), "--id", "other", "--dry-run")
    assert dry.returncode == 2 and "already watched" in dry.stderr
    taken = run_cli(tmp_path, "add", http_server.url("/new"), "--id", "acme")
    assert taken.returncode == 2 and "id 'acme' is taken" in taken.stderr
    assert (tmp_path / "watchlist.yaml").read_text() == before


@pytest.mark.parametrize("ending", ["\r\n", ""], ids=["last-newline", "no-last-newline"])
def test_add_keeps_a_crlf_watchlist_byte_for_byte(tmp_path, http_server, ending):
    http_server.route("/privacy", PAGE)
    old = COMMENTED.replace("\n", "\r\n").removesuffix("\r\n") + ending
    (tmp_path / "watchlist.yaml").write_bytes(old.encode())
    proc = run_cli(tmp_path, "add", http_server.url("/privacy"))
    assert proc.returncode == 0, proc.stderr
    new = (tmp_path / "watchlist.yaml").read_bytes().decode()  # as stored: no newline translation
    assert added_lines(old, new) == ["  - id: privacy\r\n", "    name: Beta Corp Privacy Notice\r\n",
                                     f"    url: {http_server.url('/privacy')}\r\n"]
    assert new.endswith("']" + ending)
    assert proc.stdout == "  - id: privacy\n    name: Beta Corp Privacy Notice\n" \
                          f"    url: {http_server.url('/privacy')}\n"  # the entry, shown without the CRs
    again = run_cli(tmp_path, "add", http_server.url("/privacy"))  # lines counted as in the file
    assert again.returncode == 2 and "already watched as 'privacy' (" in again.stderr
    assert "watchlist.yaml:10)" in again.stderr


def test_add_creates_a_watchlist(tmp_path, http_server):
    http_server.route("/privacy", PAGE)
    proc = run_cli(tmp_path, "add", http_server.url("/privacy"), "--dry-run")
    assert proc.returncode == 0 and "not written (--dry-run)" in proc.stderr
    assert not (tmp_path / "watchlist.yaml").exists()
    assert run_cli(tmp_path, "add", http_server.url("/privacy")).returncode == 0
    assert (tmp_path / "watchlist.yaml").read_text().startswith("policies:\n  - id: privacy\n")


@pytest.mark.parametrize(("text", "expected"), [
    # a block scalar's "#" lines are its text, not comments: the entry goes after all of it
    ("policies:\n  - id: a\n    url: https://a.example/p\n    select: |\n      main,\n      #policy\n\n  # note\n"
     "notify: {}\n",
     "policies:\n  - id: a\n    url: https://a.example/p\n    select: |\n      main,\n      #policy\n"
     "  - id: b\n    url: https://b.example/p\n\n  # note\nnotify: {}\n"),
    ("policies: ~  # none yet\n", "policies:  # none yet\n  - id: b\n    url: https://b.example/p\n"),
    ("policies: null\n", "policies:\n  - id: b\n    url: https://b.example/p\n"),
    ("policies:\n  -\n    id: a\n    url: https://a.example/p\nnotify: {}\n",
     "policies:\n  -\n    id: a\n    url: https://a.example/p\n  - id: b\n    url: https://b.example/p\nnotify: {}\n"),
    ("policies:\n- id: a\n  url: https://a.example/p\nnotify: {}\n",
     "policies:\n- id: a\n  url: https://a.example/p\n- id: b\n  url: https://b.example/p\nnotify: {}\n"),
])
def test_awkward_layouts(text, expected):
    new = append_policy(text, {"id": "b", "url": "https://b.example/p"})
    assert new == expected
    policies = parse_watchlist(new, "wl.yaml").policies
    assert policies[-1].id == "b" and (len(policies) == 1 or policies[0].select in (None, "main,\n#policy\n"))


def test_add_writes_through_a_symlinked_watchlist(tmp_path, http_server):
    http_server.route("/privacy", PAGE)
    (tmp_path / "real.yaml").write_text(COMMENTED)
    (tmp_path / "watchlist.yaml").symlink_to(tmp_path / "real.yaml")
    assert run_cli(tmp_path, "add", http_server.url("/privacy")).returncode == 0
    assert (tmp_path / "watchlist.yaml").is_symlink() and "id: privacy" in (tmp_path / "real.yaml").read_text()
