"""Watchlist loading: defaults inheritance and file:line validation."""

from pathlib import Path

import pytest

from policywatch.errors import ConfigError
from policywatch.watchlist import load_watchlist, parse_watchlist

ROOT = Path(__file__).resolve().parent.parent


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_watchlist(text, "wl.yaml")
    return info.value.problems


def test_defaults_are_inherited_and_lists_add_up():
    wl = parse_watchlist(
        """
defaults: {timeout: 12, remove: [".cookie"], tags: [vendor], notify: [team], min_severity: high}
notify:
  team: ["json://localhost/x"]
  risk: {urls: ["mailto://a@b.c"], min_severity: low, categories: [sharing], mode: digest}
policies:
  - name: ACME Privacy Policy
    url: https://acme.example/privacy
    remove: [".promo"]
    tags: [saas]
  - id: other
    url: https://other.example/p
    notify: [risk]
    timeout: 3
""",
        "wl.yaml",
    )
    acme, other = wl.policies
    assert acme.id == "acme-privacy-policy"
    assert acme.timeout == 12.0 and other.timeout == 3.0
    assert acme.remove == (".cookie", ".promo")
    assert acme.tags == ("vendor", "saas") and other.tags == ("vendor",)
    assert acme.notify == ("team",) and other.notify == ("risk",)
    assert acme.min_severity == "high"
    assert wl.targets["risk"].mode == "digest" and wl.targets["risk"].categories == ("sharing",)
    assert other.name == "https://other.example/p"
    assert [p.id for p in wl.select(tags=["saas"])] == ["acme-privacy-policy"]


@pytest.mark.parametrize(
    "snippet, line, fragment",
    [
        ("  - url: https://a.example/p\n    slect: main\n", 3,
         "unknown key 'slect' in policy '1' (did you mean 'select'?)"),
        ("  - url: ftp://a.example/p\n", 2, "scheme must be http, https or file"),
        ("  - url: https:///nohost\n", 2, "no host"),
        ("  - url: https://a.example/p\n    ignore: ['(unclosed']\n", 3, "bad regex '(unclosed'"),
        ("  - url: https://a.example/p\n    select: 'div[['\n", 3, "bad CSS selector 'div[['"),
        ("  - url: https://a.example/p\n    remove: ['##x']\n", 3, "bad CSS selector '##x'"),
        ("  - url: https://a.example/p\n    notify: [nobody]\n", 3, "notify target 'nobody' is not defined"),
        ("  - url: https://a.example/p\n    timeout: fast\n", 3, "'timeout' in policy '1' must be a number"),
        ("  - url: https://a.example/p\n    id: Bad Id\n", 3, "must be a slug"),
    ],
)
def test_each_problem_names_file_and_line(snippet, line, fragment):
    found = problems("policies:\n" + snippet)
    assert len(found) == 1, found
    assert found[0].startswith(f"wl.yaml:{line}: "), found
    assert fragment in found[0]


def test_duplicate_ids_point_at_both_lines():
    found = problems("policies:\n  - {id: a, url: 'https://x.example/1'}\n  - {id: a, url: 'https://x.example/2'}\n")
    assert found == ["wl.yaml:3: duplicate id 'a' (first defined on line 2)"]


def test_all_problems_are_reported_at_once():
    found = problems("colour: red\npolicies:\n  - url: nope://x\n  - {url: 'https://a.example', bogus: 1}\n")
    assert len(found) == 3
    assert found[0].startswith("wl.yaml:1: unknown key 'colour'")


def test_a_bad_url_or_id_does_not_hide_the_policys_other_problems_and_all_come_in_line_order():
    found = problems("policies:\n"
                     "  - id: acme\n    url: ftp://x.example/p\n    ignore: ['(unclosed']\n    timeout: fast\n"
                     "  - id: Bad_ID\n    url: https://b.example/p\n    select: 'main >>> ('\n"
                     "  - id: acme\n    url: https://c.example/p\n    ignore: ['(x']\n"
                     "  - {}\n  - {}\n"
                     "defaults: {timeout: slow}\n")
    assert [p.split(":")[1] for p in found] == ["3", "4", "5", "6", "8", "9", "11", "12", "13", "14"]
    assert "duplicate id 'acme'" in found[5] and "'timeout' in defaults" in found[-1]
    assert sum("duplicate id" in p for p in found) == 1  # two entries without url or id are not "duplicates"


def test_a_key_given_twice_is_a_problem_not_a_silent_last_value():
    found = problems("policies:\n  - url: https://d.example/\n    tags: [a]\n    url: https://e.example/\n")
    assert found == ["wl.yaml:4: 'url' is given twice in the same mapping (first on line 2)"]


def test_yaml_syntax_error_has_a_line():
    found = problems("policies:\n  - url: https://a.example\n   bad: [\n")
    assert found[0].startswith("wl.yaml:") and "invalid YAML" in found[0]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="watchlist not found"):
        load_watchlist(tmp_path / "nope.yaml")


def test_unknown_id_suggests_the_closest():
    wl = parse_watchlist("policies:\n  - {id: google, url: 'https://g.example'}\n")
    with pytest.raises(ConfigError, match="did you mean 'google'"):
        wl.select(["gogle"])


def test_local_paths_and_file_urls_are_allowed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "privacy.md").write_text("# Draft\n")  # a plain path names an existing file
    wl = parse_watchlist("policies:\n  - {id: a, url: drafts/privacy.md}\n  - {id: b, url: 'file:///tmp/p.html'}\n")
    assert [p.host for p in wl.policies] == ["local-files", "local-files"]


def test_shipped_watchlist_is_valid_and_real():
    wl = load_watchlist(ROOT / "watchlist.yaml")
    assert 10 <= len(wl) <= 20
    assert all(p.url.startswith("https://") for p in wl)
    assert len({p.host for p in wl}) == len(wl)  # distinct vendors


def test_packaged_default_is_the_shipped_watchlist():
    packaged = ROOT / "policywatch" / "defaults" / "watchlist.yaml"
    assert packaged.read_text() == (ROOT / "watchlist.yaml").read_text()


def test_a_url_that_is_neither_a_web_address_nor_an_existing_file_is_an_error(tmp_path, monkeypatch):
    from policywatch.errors import ConfigError
    from policywatch.watchlist import parse_watchlist

    monkeypatch.chdir(tmp_path)
    (tmp_path / "draft.md").write_text("# Draft\n")
    text = ("policies:\n  - {id: a, name: A, url: draft.md}\n  - {id: b, name: B, url: acme.example/privacy}\n"
            "  - {id: c, name: C, url: 'file:///later/policy.html'}\n")
    with pytest.raises(ConfigError) as raised:
        parse_watchlist(text)
    assert raised.value.problems == [
        "watchlist.yaml:3: 'acme.example/privacy' is neither an http(s) or file:// URL nor an existing file"
        " in policy 'b'"]


def test_a_url_with_whitespace_anywhere_is_an_error():
    text = ("policies:\n  - {id: a, name: A, url: 'https://acme.example/privacy policy'}\n"
            "  - {id: b, name: B, url: \"https://acme.example/priv\\tacy\"}\n"
            "  - {id: c, name: C, url: \"https://acme.example/\\u00a0privacy\"}\n")
    assert [p.split(": ", 1)[1] for p in problems(text)] == [
        f"bad URL '{url}': contains whitespace in policy '{id_}'"
        for id_, url in (("a", "https://acme.example/privacy policy"), ("b", "https://acme.example/priv\tacy"),
                         ("c", "https://acme.example/\u00a0privacy"))]


def test_numbers_must_be_finite_and_within_their_bounds():
    # YAML's .nan and .inf are floats: a timeout of NaN crashed a run in the socket layer.
    text = ("defaults:\n  retries: 1000000000\npolicies:\n"
            "  - {id: a, url: 'https://a.example/p', timeout: .nan}\n"
            "  - {id: b, url: 'https://b.example/p', backoff: .inf}\n"
            "  - {id: c, url: 'https://c.example/p', max_bytes: 1.5e300, alert_after: -.inf}\n"
            "  - {id: d, url: 'https://d.example/p', timeout: 3600, retries: 20, backoff: 0}\n")
    assert problems(text) == [
        "wl.yaml:2: 'retries' in defaults must be a whole number from 0 to 20",
        "wl.yaml:4: 'timeout' in policy 'a' must be a number from 0.1 to 3600",
        "wl.yaml:5: 'backoff' in policy 'b' must be a number from 0 to 3600",
        "wl.yaml:6: 'max_bytes' in policy 'c' must be a whole number from 1024 to 268435456",
        "wl.yaml:6: 'alert_after' in policy 'c' must be a whole number from 1 to 10000"]


def test_a_tag_no_policy_has_is_an_error_that_names_it():
    # A mistyped --tag in cron checked nothing and said nothing.
    watchlist = parse_watchlist("policies:\n  - {id: a, url: 'https://a.example/p', tags: [saas, big]}\n"
                                "  - {id: b, url: 'https://b.example/p', enabled: false, tags: [legacy]}\n", "wl.yaml")
    assert [p.id for p in watchlist.select((), ["saas"])] == ["a"]
    assert watchlist.select((), ["legacy"]) == []  # a known tag whose policies are all disabled: nothing to do
    with pytest.raises(ConfigError, match=r"wl.yaml: no policy has the tag 'saa' \(did you mean 'saas'\?\)"):
        watchlist.select((), ["saas", "saa"])


def test_an_empty_select_is_an_error_not_the_whole_page():
    assert problems("policies:\n  - {id: a, url: 'https://a.example/p', select: ''}\n") == [
        "wl.yaml:2: 'select' in policy 'a' is empty (leave it out to read the whole page)"]
