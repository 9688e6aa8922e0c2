"""Notifications: routing, message content and trimming, and real delivery through apprise to
loopback receivers (HTTP webhooks for json:// and form://, an SMTP server for mailto://)."""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import sys

import pytest

from policywatch.demo import SAMPLES, VERSIONS
from policywatch.errors import ConfigError
from policywatch.judge import compare
from policywatch.messages import (
    Message,
    compose_change,
    compose_digest,
    compose_failing,
    compose_recovered,
    compose_test,
    fit,
)
from policywatch.normalize import normalize_html
from policywatch.notify import deliver, describe_targets, mode_of, route
from policywatch.render import PageHeader
from policywatch.report import plain_categories
from policywatch.secrets import redact
from policywatch.watchlist import parse_watchlist

WHEN = "2026-11-23T06:17:00+00:00"
ARCHIVED = "https://web.archive.org/web/20261123061700/https://acme.example/privacy"


@pytest.fixture(scope="module")
def judged():
    old, new = (normalize_html((SAMPLES / name).read_text(encoding="utf-8")).document for name in VERSIONS)
    return compare(old, new)


def make_watchlist(tmp_path, notify_block: str, policies: str | None = None, **files: str):
    for name, text in files.items():
        (tmp_path / name.replace("_", ".")).write_text(text, encoding="utf-8")
    policies = policies or "  - {id: acme, name: ACME Privacy Policy, url: 'https://acme.example/privacy'}\n"
    defaults = "defaults: {notify: [team]}\n" if "  team:" in notify_block else ""
    text = f"{defaults}notify:\n{notify_block}policies:\n{policies}"
    return parse_watchlist(text, tmp_path / "wl.yaml")


@pytest.fixture
def change(judged, tmp_path):
    wl = make_watchlist(tmp_path, "  team: ['json://127.0.0.1:9/x']\n")
    diff, judgement = judged
    return compose_change(wl.policies[0], diff, judgement, WHEN,
                          header=PageHeader(links=[("archived copy", ARCHIVED)]))


# -- routing ----------------------------------------------------------------------------------------------

ROUTING = """\
defaults: {notify: [team], min_severity: medium, tags: [vendor]}
notify:
  team: ["json://127.0.0.1:9/team"]
  risk: {urls: ["json://127.0.0.1:9/risk"], min_severity: high, categories: [sharing]}
  kids: {urls: ["json://127.0.0.1:9/kids"], categories: [children], mode: digest}
  saas-watch: {urls: ["json://127.0.0.1:9/saas"], tags: [saas]}
policies:
  - {id: acme, url: 'https://acme.example/p', notify: [team, risk, kids], tags: [saas]}
  - {id: other, url: 'https://other.example/p', min_severity: high}
"""


def test_routing_by_severity_category_and_tag():
    wl = parse_watchlist(ROUTING, "wl.yaml")
    acme, other = wl.policies
    assert route(wl, acme, "medium", ["sharing"]) == ["team", "saas-watch"]
    assert route(wl, acme, "high", ["sharing", "purposes"]) == ["team", "risk", "saas-watch"]
    assert route(wl, acme, "high", ["children"]) == ["team", "kids", "saas-watch"]
    assert route(wl, acme, "low", ["sharing"]) == []  # not material: nobody at the default threshold
    assert route(wl, other, "medium", ["sharing"]) == []  # the policy's own threshold
    assert route(wl, other, "high", ["sharing"]) == ["team"]  # the default notify list
    assert route(wl, acme, kind="failing") == ["team", "risk", "kids", "saas-watch"]
    assert mode_of(wl, "kids") == "digest" and mode_of(wl, "team") == "digest"  # the default
    everything = parse_watchlist(ROUTING.replace("min_severity: medium", "min_severity: low"), "wl.yaml")
    assert route(everything, everything.policies[0], "low", ["sharing"]) == ["team", "saas-watch"]  # as documented


def test_target_without_urls_is_an_error():
    with pytest.raises(ConfigError) as info:
        parse_watchlist("notify:\n  team: {min_severity: high}\npolicies:\n  - url: https://a.example/p\n", "wl.yaml")
    assert info.value.problems == ["wl.yaml:2: notify target 'team' has no apprise URLs"]


# -- messages ---------------------------------------------------------------------------------------------

def test_change_message_content(change, judged):
    _, judgement = judged
    assert change.title == "ACME Privacy Policy — material change (high): " + plain_categories(judgement.categories)
    assert change.title.endswith("Sharing & sale, Purposes, Retention")  # plain names, never snake_case
    assert change.kind == "change" and change.severity == "high" and change.material and change.policy_id == "acme"
    md, page = change.markdown, change.html
    assert md.startswith(judgement.summary)
    assert "Detected 2026-11-23 06:17 UTC" in md
    assert "[live page](https://acme.example/privacy)" in md and f"[archived copy]({ARCHIVED})" in md
    assert "How we share information" in md and "no longer promises not to sell personal data (Sharing & sale)" in md
    assert "before: “We do not sell your personal information" in md
    assert "after: “When you delete your account, we delete your notes and account data within 5 years.”" in md
    assert page.startswith("<p><strong>No longer promises not to sell")
    assert 'live page: <a href="https://acme.example/privacy">https://acme.example/privacy</a>' in page
    text = change.body("text")  # plain text: no Markdown escapes, every URL written out
    assert text.startswith(judgement.summary) and f"archived copy: {ARCHIVED}" in text
    assert "before: “We do not sell your personal information" in text and "\\" not in text
    assert "<del>− We do not sell your personal information" in page
    assert change.attachments[0].filename == "acme-diff.html"
    assert change.attachment_html.startswith("<!doctype html>")
    assert Message.from_dict(json.loads(json.dumps(change.to_dict()))) == change  # an outbox can store it


@pytest.mark.parametrize("fmt", ["markdown", "html"])
@pytest.mark.parametrize("limit", [2000, 700, 400, 250])
def test_trimming_keeps_the_verdict(change, fmt, limit):
    body = change.body(fmt, limit)
    assert len(body) <= limit
    assert change.summary in body  # never cut while it fits
    if len(change.body(fmt)) > limit:  # whole sections go, and say so when there is room for it
        assert "more section" in body or "How we" not in body
    if limit == 700:
        assert "more section" in body and "https://acme.example/privacy" in body


def test_tiny_limits_cut_only_the_verdict_tail(change):
    title, body = fit(change, "markdown", body_maxlen=160, title_maxlen=0)  # an SMS: title inside the body
    assert len(title) + 8 + len(body) <= 160
    assert body.startswith(change.summary[:40]) and body.rstrip().endswith("…")
    title, body = fit(change, "html", body_maxlen=120, title_maxlen=30)
    assert len(title) <= 30 and len(body) <= 120 and body.startswith("<p><strong>No longer promises not to sell")


def test_digest_most_severe_first(change, judged, tmp_path):
    diff, judgement = judged
    wl = make_watchlist(tmp_path, "  team: ['json://127.0.0.1:9/x']\n",
                        "  - {id: acme, name: ACME Privacy Policy, url: 'https://acme.example/privacy'}\n"
                        "  - {id: beta, name: Beta Terms, url: 'https://beta.example/terms'}\n")
    medium = compose_change(wl.policies[1], diff, judgement, WHEN)
    medium.severity = "medium"
    failing = compose_failing(wl.policies[1], 3, "timeout", "read timed out after 30 s", "2026-11-20")
    digest = compose_digest("team", [medium, failing, change])
    assert digest.title == ("policywatch — 2 changes (1 high, 1 medium), 1 policy failing: "
                            "ACME Privacy Policy, Beta Terms")  # which policies, in the subject line
    md = digest.markdown
    assert md.index("ACME Privacy Policy — material") < md.index("Beta Terms — material") < md.index("checks failing")
    assert digest.severity == "high" and len(digest.attachments) == 2
    # without a length limit (e-mail), each change comes with its changed sections: the key sentences
    assert change.markdown_body.items[0] in md and medium.markdown_body.items[0] in md
    listed = digest.body("markdown", len(digest.markdown) - 1)  # no room for them all: every change listed
    assert change.markdown_body.items[0] not in listed and "Beta Terms — material" in listed
    short = digest.body("markdown", 420)
    assert short.startswith("2 changes (1 high, 1 medium), 1 policy failing — digest for team")
    assert "more change" in short and len(short) <= 420


def test_error_state_and_test_messages(tmp_path):
    policy = make_watchlist(tmp_path, "  team: ['json://127.0.0.1:9/x']\n").policies[0]
    failing = compose_failing(policy, 3, "timeout", "read timed out", "2026-11-20")
    assert failing.title == "ACME Privacy Policy — checks failing (3 runs): the site was too slow"  # no code word
    assert failing.markdown.startswith("The last 3 checks of ACME Privacy Policy failed: the site was too slow — "
                                       "read timed out")
    assert "the site asked us to slow down" in compose_failing(policy, 2, "rate_limited").title  # no "rate\\_limited"
    assert "Failing since 2026-11-20" in failing.markdown
    recovered = compose_recovered(policy, "2026-11-20", 3)
    assert recovered.title == "ACME Privacy Policy — checks recovered"
    assert "after 3 runs without a readable policy" in recovered.markdown and recovered.kind == "recovered"
    assert compose_test("team").title == "policywatch — test notification"


# -- delivery ---------------------------------------------------------------------------------------------

def test_json_and_form_payloads_in_each_targets_format(tmp_path, http_receiver, change):
    r = http_receiver
    wl = make_watchlist(tmp_path, f"  team: ['{r.url('json', '/j')}', '{r.url('form', '/f')}', "
                                  f"'{r.url('json', '/h', format='html')}']\n")
    delivery = deliver(wl, "team", change)
    assert delivery.ok, delivery
    assert [res.format for res in delivery.results] == ["markdown", "markdown", "html"]
    (j,), (f,), (h,) = r.received("/j"), r.received("/f"), r.received("/h")
    assert j.json["title"] == change.title and j.json["type"] == "warning"
    assert j.json["message"] == f.form["message"] == change.markdown.strip()
    assert f.form["title"] == change.title
    assert h.json["message"].startswith("<p><strong>No longer promises not to sell")
    assert all(res.attached == 0 for res in delivery.results)  # the diff page is for e-mail only


def test_each_service_gets_a_body_within_its_limit(tmp_path, http_receiver, change, monkeypatch):
    from apprise.plugins.custom_json import NotifyJSON

    monkeypatch.setattr(NotifyJSON, "body_maxlen", 300)
    wl = make_watchlist(tmp_path, f"  team: ['{http_receiver.url('json', '/j')}']\n")
    assert deliver(wl, "team", change).ok
    (post,) = http_receiver.received("/j")
    assert len(post.json["message"]) <= 300
    assert post.json["message"].startswith(change.summary) and "more sections" in post.json["message"]


def test_email_gets_html_and_the_diff_attached(tmp_path, smtp_receiver, change):
    wl = make_watchlist(tmp_path, f"  team: ['{smtp_receiver.url(to='privacy@example.com')}']\n")
    delivery = deliver(wl, "team", change)
    assert delivery.ok, delivery
    assert delivery.results[0].format == "html" and delivery.results[0].attached == 1
    (mail,) = smtp_receiver.wait_for(1)
    assert mail.rcpt_tos == ["privacy@example.com"]
    assert mail.subject == change.title
    assert "<strong>No longer promises not to sell" in mail.body("html")
    assert mail.attachments["acme-diff.html"].decode() == change.attachment_html
    (part,) = mail.message.iter_attachments()  # read as a MIME reader reads it: UTF-8, as declared
    assert part.get_content_type() == "text/html" and part.get_content_charset() == "utf-8"
    assert part.get_content() == change.attachment_html


def test_failing_service_is_reported_with_a_redacted_url(tmp_path, http_receiver, change):
    http_receiver.script(500, 200)
    url = http_receiver.url("json", "/hook", userinfo="alerts:hunter2hunter2")
    wl = make_watchlist(tmp_path, f"  team: ['{url}']\n")
    first = deliver(wl, "team", change)
    assert not first.ok
    (result,) = first.results
    assert not result.ok and "500" in result.error
    assert "hunter2hunter2" not in result.url and result.url.startswith("json://alerts:****@127.0.0.1:")
    assert deliver(wl, "team", change).ok  # the second answer is 200
    assert len(http_receiver.received("/hook")) == 2


def test_network_failures_are_reported_not_raised(tmp_path, change):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connection refused
    wl = make_watchlist(tmp_path, f"  team: ['json://127.0.0.1:{port}/x', 'nosuchscheme://x']\n")
    delivery = deliver(wl, "team", change)
    assert not delivery.ok
    refused, bogus = delivery.results
    assert not refused.ok and refused.error
    assert not bogus.ok and bogus.error.startswith("not a usable apprise URL")
    assert deliver(wl, "nobody", change).error.startswith("no notify target named 'nobody'")


def test_env_variables_expand_at_send_time_only(tmp_path, http_receiver, change):
    url = http_receiver.url("json", "/hook", userinfo="alerts:${HOOK_PASSWORD}") + "?+X-Token=${HOOK_TOKEN}"
    wl = make_watchlist(tmp_path, f"  team: ['{url}']\n")
    assert wl.targets["team"].urls == (url,)  # stored as written
    missing = deliver(wl, "team", change, env={"HOOK_PASSWORD": "pw-Zq8sK1x"})
    assert not missing.ok and http_receiver.received() == []
    assert missing.results[0].error == "environment variable HOOK_TOKEN is not set (notify target 'team')"
    env = {"HOOK_PASSWORD": "pw-Zq8sK1x", "HOOK_TOKEN": "tok-9fJ2mQ7vXb"}
    delivery = deliver(wl, "team", change, env=env)
    assert delivery.ok, delivery
    (post,) = http_receiver.received("/hook")
    assert post.header("authorization") == "Basic " + base64.b64encode(b"alerts:pw-Zq8sK1x").decode()
    assert post.header("x-token") == "tok-9fJ2mQ7vXb"
    assert delivery.results[0].url.startswith("json://alerts:${HOOK_PASSWORD}@127.0.0.1:")
    assert "X-Token=${HOOK_TOKEN}" in delivery.results[0].url


def test_redact():
    assert redact("json://user:s3cretpw@127.0.0.1:8080/hook?+X-Token=tok123456&:key=val") == \
        "json://user:****@127.0.0.1:8080/hook?+X-Token=t...6&:key=****"
    assert redact("mailto://me:${SMTP_PASSWORD}@smtp.example.com:2525?from=a@b.example&to=c@d.example") == \
        "mailto://me:${SMTP_PASSWORD}@smtp.example.com:2525/c%40d.example?from=a%40b.example"
    assert redact("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js") == "discord://4...8/J...s/"
    assert redact("form://127.0.0.1:9/p/abcdefghijklmnopqrstuvwx") == "form://127.0.0.1:9/p/a...x"
    # a URL apprise cannot read: the fallback masks password, token-like path parts and secret values
    assert redact("nosuch://u:pw12345@host/abc123def456ghi789?apikey=zzzzzz&to=x") == \
        "nosuch://u:****@host/a...9?apikey=****&to=x"


CONFIG_YAML = """\
version: 1
urls:
  - "{json}":
      - tag: privacy-team
  - "{form}":
      - tag: vendor-risk, privacy-team
        format: html
"""


def test_apprise_config_tags_are_targets(tmp_path, make_http_receiver, change):
    a, b = make_http_receiver(), make_http_receiver()
    config = CONFIG_YAML.format(json=a.url("json", "/a", userinfo="u:${CFG_PASSWORD}"), form=b.url("form", "/b"))
    wl = make_watchlist(tmp_path, "  apprise_config: apprise.yml\n  vendor-risk: {min_severity: high, mode: digest}\n",
                        "  - {id: acme, url: 'https://acme.example/p', notify: [privacy-team, vendor-risk]}\n",
                        apprise_yml=config)
    assert set(wl.targets) == {"privacy-team", "vendor-risk"}
    assert wl.targets["vendor-risk"].mode == "digest" and wl.targets["privacy-team"].from_config
    described = {t.name: t for t in describe_targets(wl)}
    assert described["privacy-team"].urls[0].startswith("json://u:${CFG_PASSWORD}@127.0.0.1:")
    missing = deliver(wl, "privacy-team", change, env={})
    assert not missing.ok and "environment variable CFG_PASSWORD is not set (notify target 'privacy-team'" \
        in missing.results[0].error
    vendor = deliver(wl, "vendor-risk", change, env={})  # its services need no variable
    assert vendor.ok and [r.format for r in vendor.results] == ["html"]
    assert b.received("/b")[0].form["message"].startswith("<p><strong>")
    team = deliver(wl, "privacy-team", change, env={"CFG_PASSWORD": "cfg-pw-77aa"})
    assert team.ok and len(team.results) == 2, team
    assert a.received("/a")[0].header("authorization") == "Basic " + base64.b64encode(b"u:cfg-pw-77aa").decode()
    assert all("cfg-pw-77aa" not in r.url for r in team.results)


def test_apprise_config_text_format_and_unknown_tags(tmp_path):
    text = "# targets\nprivacy-team, legal = json://127.0.0.1:9/a\njson://127.0.0.1:9/untagged\n"
    wl = make_watchlist(tmp_path, "  apprise_config: apprise.txt\n",
                        "  - {id: acme, url: 'https://acme.example/p', notify: [legal]}\n", apprise_txt=text)
    assert set(wl.targets) == {"privacy-team", "legal"} and wl.policies[0].notify == ("legal",)
    with pytest.raises(ConfigError) as info:
        make_watchlist(tmp_path, "  apprise_config: apprise.txt\n",
                       "  - {id: acme, url: 'https://acme.example/p', notify: [legl]}\n")
    assert info.value.problems == [
        f"{tmp_path / 'wl.yaml'}:4: notify target 'legl' is not defined under 'notify:' nor tagged in apprise.txt "
        "(did you mean 'legal'?)",
    ]
    (tmp_path / "bad.txt").write_text("privacy-team = not a url\n")
    with pytest.raises(ConfigError) as info:
        make_watchlist(tmp_path, "  apprise_config: bad.txt\n")
    assert "bad.txt:1: not an apprise URL line" in info.value.problems[0]


def test_no_secret_is_ever_printed_or_logged(tmp_path, make_http_receiver, make_smtp_receiver, change, capfd,
                                             caplog):
    secrets = ["pw-Zq8sK1x", "tok-9fJ2mQ7vXb", "smtpS3cretpw", "literalPw0rd99", "cfg-pw-77aa", "AbC123xYz789QrS",
               "ClosedT0ken123456"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    web, failing = make_http_receiver(), make_http_receiver(500)
    smtp = make_smtp_receiver(auth=("alerts", "smtpS3cretpw"))
    config = CONFIG_YAML.format(json=web.url("json", "/cfg", userinfo="u:${CFG_PASSWORD}"), form=web.url("form", "/c"))
    urls = [web.url("json", "/hook", userinfo="alerts:${HOOK_PASSWORD}") + "?+X-Token=${HOOK_TOKEN}",
            failing.url("json", "/down", userinfo="alerts:literalPw0rd99") + "?+X-Token=${HOOK_TOKEN}",
            smtp.url(user="alerts", password="${SMTP_PASSWORD}"),
            web.url("json", "/wh/AbC123xYz789QrS"),  # a webhook whose path is its secret
            f"json://127.0.0.1:{closed}/wh/ClosedT0ken123456"]  # … and nobody listening
    wl = make_watchlist(tmp_path, "  apprise_config: apprise.yml\n  team: [" + ", ".join(f"'{u}'" for u in urls)
                        + "]\n", apprise_yml=config)
    env = {"HOOK_PASSWORD": secrets[0], "HOOK_TOKEN": secrets[1], "SMTP_PASSWORD": secrets[2],
           "CFG_PASSWORD": secrets[4]}
    handler = logging.StreamHandler(sys.stderr)  # what an application logging everything would print
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="apprise")
    try:
        team = deliver(wl, "team", change, env=env)
        cfg = deliver(wl, "privacy-team", change, env=env)
        print(json.dumps([team.to_dict(), cfg.to_dict()]), [redact(u) for u in urls], describe_targets(wl))
    finally:
        logging.getLogger().removeHandler(handler)
    assert [r.ok for r in team.results] == [True, False, True, True, False] and cfg.ok, (team, cfg)
    assert team.results[1].error == "Failed to send JSON POST notification: Internal server error., error=500."
    # the secrets did reach the services …
    assert web.received("/hook")[0].header("x-token") == secrets[1]
    assert smtp.wait_for(1)[0].login == ("alerts", secrets[2])
    assert "Loading raw configuration" in caplog.text  # apprise logs the (expanded) configuration at DEBUG,
    assert '"POST /wh/' in caplog.text  # urllib3 the path of each request …
    out, err = capfd.readouterr()
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records if not r.name.startswith("mail.log"))
    for secret in secrets:  # … but no secret shows anywhere
        assert secret not in out and secret not in err and secret not in logged, secret
        assert secret not in repr(team) + repr(cfg)


def test_every_message_kind_is_registered_with_its_routing_digest_and_flag():
    from policywatch.messages import KINDS

    assert set(KINDS) == {"change", "failing", "recovered", "digest", "test"}
    assert [k for k, kind in KINDS.items() if kind.about_a_change] == ["change"]
    assert {k for k, kind in KINDS.items() if kind.digested} == {"change", "failing", "recovered"}
    assert all(kind.flag in ("info", "success", "warning", "failure", "severity") for kind in KINDS.values())



# -- timeouts and idempotency keys ------------------------------------------------------------------------

def test_every_http_service_gets_the_idempotency_key_as_a_header(tmp_path, http_receiver, change):
    r = http_receiver
    wl = make_watchlist(tmp_path, f"  team: ['{r.url('json', '/j')}', '{r.url('form', '/f')}', "
                                  f"'{r.url('xml', '/x')}', '{r.url('json', '/h') + '?+Idempotency-Key=static'}']\n")
    delivery = deliver(wl, "team", change, keys=lambda url: "key-" + url.rsplit("/", 1)[-1].split("?")[0])
    assert delivery.ok, delivery
    assert [p.header("Idempotency-Key") for p in r.received()] == ["key-j", "key-f", "key-x", "key-h"]
    assert [res.key for res in delivery.results] == ["key-j", "key-f", "key-x", "key-h"]
    assert "Idempotency-Key" not in delivery.results[0].url  # the URL as shown and logged stays as written
    again = deliver(wl, "team", change)  # no outbox: a fresh key per URL
    fresh = [p.header("Idempotency-Key") for p in r.received()[4:]]
    assert all(k.startswith("policywatch-") for k in fresh) and len(set(fresh)) == 4 and again.ok


def test_email_carries_the_key_in_a_footer_and_a_header(tmp_path, smtp_receiver, change):
    wl = make_watchlist(tmp_path, f"  team: ['{smtp_receiver.url()}']\n")
    assert deliver(wl, "team", change, keys=lambda url: "policywatch-7-abc123").ok
    (mail,) = smtp_receiver.wait_for(1)
    html = mail.body("html")
    assert html.rstrip().endswith("Message key policywatch-7-abc123: a copy with the same key is a duplicate of "
                                  "this message.</p>")
    assert "<strong>No longer promises not to sell" in html  # the message itself is whole
    assert mail.message["Idempotency-Key"] == "policywatch-7-abc123"
    assert len(mail.message.get_all("Message-ID")) == 1  # apprise's own, never a second one


def test_the_key_footer_fits_within_a_services_limit(change):
    from policywatch.messages import key_footer

    footer = key_footer("markdown", "policywatch-7-abc123")
    _, body = fit(change, "markdown", body_maxlen=600, footer=footer)
    assert len(body) <= 600 and body.startswith(change.summary) and body.rstrip().endswith(footer)
    _, tiny = fit(change, "markdown", body_maxlen=100, footer=footer)  # no room: the message comes first
    assert footer not in tiny and len(tiny) <= 100


def test_a_read_timeout_is_unconfirmed_a_refused_connection_failed(tmp_path, make_http_receiver, change):
    slow = make_http_receiver()
    slow.delay = 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    wl = make_watchlist(tmp_path, f"  team: {{urls: ['{slow.url('json', '/slow')}', "
                                  f"'json://127.0.0.1:{closed}/refused'], timeout: 1}}\n")
    assert wl.targets["team"].timeout == 1.0
    delivery = deliver(wl, "team", change, keys=lambda url: "k1")
    unanswered, refused = delivery.results
    assert not delivery.ok
    assert unanswered.unconfirmed and not unanswered.ok
    assert unanswered.error == ("no answer within 1 s after the message was sent: the service may have it, so it "
                                "is not sent again (Idempotency-Key k1)")
    assert not refused.unconfirmed and not refused.ok and "Connection error" in refused.error
    assert len(slow.received("/slow")) == 1  # apprise did not try again by itself


def test_a_connection_closed_after_the_message_went_out_is_unconfirmed_not_sent_twice(tmp_path, http_receiver,
                                                                                       change):
    http_receiver.script(0)
    wl = make_watchlist(tmp_path, f"  team: ['{http_receiver.url('json', '/cut')}']\n")
    (result,) = deliver(wl, "team", change, keys=lambda url: "k2").results
    assert result.unconfirmed and not result.ok
    assert result.error.startswith("the service closed the connection after the message was sent, without "
                                   "answering: the service may have it")
    assert len(http_receiver.received("/cut")) == 1


def test_a_urls_own_read_timeout_wins_over_the_targets(tmp_path, make_http_receiver, change):
    slow = make_http_receiver()
    slow.delay = 1.5
    wl = make_watchlist(tmp_path, f"  team: {{urls: ['{slow.url('json', '/slow', rto='10')}'], timeout: 1}}\n")
    assert deliver(wl, "team", change).ok


def test_a_target_timeout_is_validated():
    def watchlist(timeout: str = ""):
        target = "{urls: ['json://127.0.0.1:9/x']" + (f", timeout: {timeout}" if timeout else "") + "}"
        return parse_watchlist(f"notify:\n  team: {target}\npolicies:\n  - url: https://a.example/p\n", "wl.yaml")

    assert watchlist("12.5").targets["team"].timeout == 12.5
    assert watchlist().targets["team"].timeout == 30.0  # the default
    for bad in ("0", "-1", "true", "'30'", ".inf", ".nan", "7200"):
        with pytest.raises(ConfigError) as info:
            watchlist(bad)
        assert info.value.problems == ["wl.yaml:2: 'timeout' in notify target 'team' must be a number of seconds "
                                       "from 0.1 to 3600"], bad


def test_a_change_message_names_the_dates_the_versions_state():
    from policywatch.document import parse_text
    from policywatch.judge import compare
    from policywatch.messages import compose_change
    from policywatch.watchlist import Policy

    old = parse_text("# P\n\nLast updated: March 3, 2024\n\n## Sharing\n\nWe do not sell your personal data.\n")
    new = parse_text("# P\n\nLast updated: June 1, 2025\n\n## Sharing\n\nWe sell your personal data.\n")
    diff, judgement = compare(old, new)
    message = compose_change(Policy(id="acme", name="ACME", url="https://acme.example/privacy"), diff, judgement,
                             "2025-06-02T08:00:00Z")
    assert "the new text states 2025-06-01 (the previous one 2024-03-03)" in message.markdown
    assert "the new text states 2025-06-01" in message.html


RETENTION_TABLE = """<html><body><main><h1>Privacy Policy</h1>
<h2>How long we keep data</h2><p>We keep data as the table below says.</p>
<table><tr><th>Data</th><th>How long we keep it</th></tr>
<tr><td>Account data</td><td>{account}</td></tr><tr><td>Support tickets</td><td>1 year</td></tr></table>
<h2>Contact</h2><p>Write to privacy@acme.example.</p></main></body></html>"""


def test_email_shows_a_changed_table_row_as_a_table_in_both_parts(tmp_path, smtp_receiver):
    old = normalize_html(RETENTION_TABLE.format(account="30 days after you close your account")).document
    new = normalize_html(RETENTION_TABLE.format(account="5 years after you close your account")).document
    diff, judgement = compare(old, new)
    wl = make_watchlist(tmp_path, f"  team: ['{smtp_receiver.url()}']\n")
    archived = "https://web.archive.org/web/20261123061700/https://acme.example/privacy"
    message = compose_change(wl.policies[0], diff, judgement, WHEN,
                             header=PageHeader(links=[("archived copy", archived)]))
    assert deliver(wl, "team", message).ok
    (mail,) = smtp_receiver.wait_for(1)
    html_part, plain = mail.body("html"), mail.body("plain")
    # HTML: the row before and after, under the table's header row, in a real table
    table = re.search(r"<table.*?</table>", html_part, re.S).group(0)
    assert re.search(r"<th[^>]*>Data</th><th[^>]*>How long we keep it</th>", table)
    assert re.search(r"<del[^>]*>30 days after you close your account</del>", table)
    assert re.search(r"<ins[^>]*>5 years after you close your account</ins>", table)
    assert " | " not in re.sub(r"<[^>]+>", "", table)
    # plain text: our own part (not the HTML flattened), columns aligned, every URL written out
    rows = [line for line in plain.splitlines() if line.strip().endswith(" |")]
    assert [r.strip()[0] for r in rows] == ["|", "−", "+"], plain
    assert len({r.index(" | ", 4) for r in rows}) == 1  # one column edge: aligned
    assert "https://acme.example/privacy" in plain and archived in plain
    assert "Message key" in plain and "\\" not in plain


def test_a_password_or_token_in_a_policys_own_url_never_leaves_in_a_message(tmp_path, judged):
    from policywatch.secrets import redact_page

    secret_url = "https://reader:PagePass77@acme.example/draft.html?access_token=abcd1234efgh5678&lang=en"
    assert redact_page(secret_url) == "https://reader:****@acme.example/draft.html?access_token=****&lang=en"
    wl = make_watchlist(tmp_path, "  team: ['json://127.0.0.1:9/x']\n",
                        policies=f"  - {{id: acme, name: ACME, url: '{secret_url}'}}\n")
    diff, judgement = judged
    message = compose_change(wl.policies[0], diff, judgement, WHEN)
    failing = compose_failing(wl.policies[0], 3, "http_error", "HTTP 500", WHEN)
    for text in (json.dumps(message.to_dict()), json.dumps(failing.to_dict())):
        assert "PagePass77" not in text and "abcd1234efgh5678" not in text
        assert "acme.example/draft.html" in text  # which page it is stays said


def test_a_sections_findings_beyond_those_shown_are_counted_and_a_sentence_is_quoted_once(tmp_path):
    from policywatch.document import parse_text

    old = "# Privacy\n\n## Sharing\n\nWe share personal data with our service providers.\n"
    new = ("# Privacy\n\n## Sharing\n\nWe share personal data with our service providers, data brokers, "
           "advertising partners, insurers, government agencies and social networks, and we sell it.\n")
    diff, judgement = compare(parse_text(old), parse_text(new))
    policy = make_watchlist(tmp_path, "  team: ['json://127.0.0.1:9/x']\n").policies[0]
    message = compose_change(policy, diff, judgement, WHEN)
    for body in (message.markdown, message.body("text"), message.html):
        assert "more findings" in body or "more finding" in body
        assert body.count("data brokers, advertising partners") == 1  # one quote for the sentence's findings


def test_a_changed_table_row_in_markdown_names_each_cell_by_its_column(tmp_path):
    from policywatch.document import parse_text

    table = "# Privacy\n\n## Retention\n\n| Data | How long we keep it |\n|---|---|\n| Server logs | {} |\n"
    diff, judgement = compare(parse_text(table.format("90 days")), parse_text(table.format("5 years")))
    message = compose_change(make_watchlist(tmp_path, "  team: ['json://127.0.0.1:9/x']\n").policies[0], diff,
                             judgement, WHEN)
    assert "after: “Data: Server logs · How long we keep it: 5 years”" in message.markdown
    assert "before: “Data: Server logs · How long we keep it: 90 days”" in message.markdown


def test_a_digest_names_policies_whose_names_hold_a_dash(tmp_path, judged):
    diff, judgement = judged
    wl = make_watchlist(tmp_path, "  team: ['json://127.0.0.1:9/x']\n",
                        "  - {id: eu, name: 'ACME — EU edition', url: 'https://acme.example/eu'}\n"
                        "  - {id: us, name: 'ACME — US edition', url: 'https://acme.example/us'}\n")
    digest = compose_digest("team", [compose_change(p, diff, judgement, WHEN) for p in wl.policies])
    assert digest.title.endswith(": ACME — EU edition, ACME — US edition")
    stored = Message.from_dict(digest.to_dict())  # kept in the outbox and read back
    assert stored.title == digest.title
