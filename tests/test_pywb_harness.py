"""The test infrastructure for archive imports: a real pywb (tests/pywb_harness.py), the fake
Internet Archive (tests/ia_fake.py) and its fixtures (tests/fixtures/ia/)."""

from __future__ import annotations

import gzip
import json
from urllib.parse import urlencode

import pytest
import requests
from ia_fake import (
    ACME_URL,
    FIXTURES,
    IA_FIELDS,
    acme_captures,
    cdx_digest,
    format_cdx_json,
    format_cdx_text,
    ia_fixture,
    install_fake_ia,
    make_resume_key,
    parse_resume_key,
    surt,
)
from pywb_harness import Capture, PywbArchive, classify, write_warc

URL = "https://acme.example/privacy"
V1 = "<html><body><h1>Privacy</h1><p>v1 caf\u00e9</p></body></html>"
V2 = b"<html><body><h1>Privacy</h1><p>v2 \xe2\x82\xac</p></body></html>"
SMOKE = [
    Capture(URL, "20200101120000", V1),
    Capture(URL, "20210315083000", V2, headers=(("ETag", '"v2"'),)),
    Capture.redirect(URL, "20220101000000", "https://acme.example/legal/privacy"),
]


@pytest.fixture(scope="module")
def pywb(tmp_path_factory):
    with PywbArchive(tmp_path_factory.mktemp("pywb"), {"acme": SMOKE, "empty": []}) as archive:
        yield archive


# -- WARC writing ----------------------------------------------------------------------------------------------

def test_write_warc_records_carry_the_capture_time_status_and_headers(tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    path = write_warc(tmp_path / "x.warc.gz", SMOKE)
    with open(path, "rb") as stream:
        records = [(r.rec_headers.get_header("WARC-Date"), r.rec_headers.get_header("WARC-Target-URI"),
                    r.http_headers.get_statuscode(), r.http_headers.get_header("Location"),
                    r.content_stream().read()) for r in ArchiveIterator(stream)]
    assert [r[0] for r in records] == ["2020-01-01T12:00:00Z", "2021-03-15T08:30:00Z", "2022-01-01T00:00:00Z"]
    assert {r[1] for r in records} == {URL}
    assert [r[2] for r in records] == ["200", "200", "302"]
    assert records[2][3] == "https://acme.example/legal/privacy"
    assert records[0][4] == V1.encode("utf-8") and records[1][4] == V2


def test_capture_rejects_a_short_timestamp():
    with pytest.raises(ValueError):
        Capture(URL, "2020", "x")


def test_classify_tells_cdx_from_replay():
    assert classify("/acme/cdx") == ("cdx", "acme")
    assert classify("/acme/20200101000000id_/https://a.example/") == ("replay", "acme")
    assert classify("/acme/id_/https://a.example/") == ("other", None)  # timegate, no timestamp
    assert classify("/static/calendar.svg") == ("other", None)


# -- pywb ------------------------------------------------------------------------------------------------------------

def test_pywb_cdx_json_lines_and_raw_replay(pywb):
    pywb.reset_counts()
    answer = requests.get(pywb.cdx_url("acme"), params={"url": URL, "output": "json"}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/x-ndjson"
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [(x["timestamp"], x["status"], x["mime"], x["url"]) for x in lines] == [
        ("20200101120000", "200", "text/html", URL),
        ("20210315083000", "200", "text/html", URL),
        ("20220101000000", "302", "text/html", URL),
    ]
    assert lines[0]["digest"] == cdx_digest(V1.encode("utf-8"))
    assert {"urlkey", "timestamp", "url", "mime", "status", "digest", "length", "offset", "filename"} <= set(lines[0])

    for capture in SMOKE[:2]:
        raw = requests.get(pywb.replay_template("acme").format(timestamp=capture.timestamp, url=URL),
                           allow_redirects=False, timeout=10)
        assert raw.status_code == 200
        assert raw.content == capture.payload
        assert raw.headers["Content-Type"] == "text/html; charset=utf-8"
        assert raw.headers["Memento-Datetime"] == capture.http_header_list()[0][1]
    assert raw.headers["X-Archive-Orig-ETag"] == '"v2"'

    moved = requests.get(pywb.replay_url("20220101000000", URL, "acme"), allow_redirects=False, timeout=10)
    assert moved.status_code == 302
    assert moved.headers["Location"] == "https://acme.example/legal/privacy"  # the original, not rewritten
    assert moved.content == SMOKE[2].payload

    assert pywb.counts() == {"cdx": 1, "replay": 3, "other": 0}
    assert pywb.count("replay", coll="acme") == 3


def test_pywb_serves_the_closest_capture_for_an_inexact_timestamp(pywb):
    raw = requests.get(pywb.replay_url("20210601000000", URL, "acme"), allow_redirects=False, timeout=10)
    assert raw.status_code == 200
    assert raw.content == V2
    assert raw.headers["Content-Location"].endswith("/acme/20210315083000id_/" + URL)


def test_pywb_unknown_url_and_empty_collection(pywb):
    assert pywb.cdx_lines("https://nothing.example/", "acme") == []
    assert pywb.cdx_lines(URL, "empty") == []
    status, _, _ = pywb.get(pywb.replay_url("20200101120000", "https://nothing.example/", "acme"))
    assert status == 404


def test_pywb_text_output_and_ia_filter_names(pywb):
    status, headers, body = pywb.get(f"/acme/cdx?{urlencode({'url': URL, 'output': 'text'})}"
                                     "&fl=timestamp,status&filter=statuscode:200")
    assert status == 200 and headers["content-type"] == "text/plain"
    assert body.decode().splitlines() == ["20200101120000 200", "20210315083000 200"]


# -- the fake Internet Archive ------------------------------------------------------------------------------------

def test_surt_and_resume_keys():
    assert surt("https://www.Acme.example:443/Privacy/") == "example,acme)/privacy"
    assert surt("http://acme.example/privacy") == surt(ACME_URL)
    key = make_resume_key("example,acme)/privacy", "20200618093012")
    assert key == "example%2Cacme%29%2Fprivacy+20200618093013"
    assert parse_resume_key(key) == ("example,acme)/privacy", "20200618093013")


def test_json_writer_shape_matches_the_cdx_server_readme():
    rows = [["org,archive)/", "19970126045828", "http://www.archive.org:80/", "text/html", "200",
             "Q4YULN754FHV2U6Q5JUT6Q2P57WEWNNY", "1415"],
            ["org,archive)/", "19971011050034", "http://www.archive.org:80/", "text/html", "200",
             "XAHDNHZ5P3GSSSNJ3DMEOJF7BMCCPZR3", "1402"]]
    expected = ('[["urlkey","timestamp","original","mimetype","statuscode","digest","length"],\n'
                '["org,archive)/", "19970126045828", "http://www.archive.org:80/", "text/html", "200", '
                '"Q4YULN754FHV2U6Q5JUT6Q2P57WEWNNY", "1415"],\n'
                '["org,archive)/", "19971011050034", "http://www.archive.org:80/", "text/html", "200", '
                '"XAHDNHZ5P3GSSSNJ3DMEOJF7BMCCPZR3", "1402"],\n'
                '[],\n'
                '["org%2Carchive%29%2F+19980109140106%21"]]\n')
    assert format_cdx_json(rows, resume_key="org%2Carchive%29%2F+19980109140106%21").decode() == expected
    assert json.loads(expected)[-2:] == [[], ["org%2Carchive%29%2F+19980109140106%21"]]
    assert format_cdx_json([]) == b"[]\n"
    assert format_cdx_text(rows[:1], resume_key="k").decode().endswith("1415\n\nk\n")


def _manifest():
    return json.loads((FIXTURES / "manifest.json").read_text("utf-8"))


@pytest.mark.parametrize("name", [n for n, e in _manifest().items() if e["status"] == 200 and "query" in e
                                  and "truncated" not in n and "empty" not in n])
def test_fake_answers_equal_the_fixtures(http_server, name):
    entry = _manifest()[name]
    fake = install_fake_ia(http_server)
    answer = requests.get(fake.cdx_url + "?" + entry["query"], headers={"Accept-Encoding": "identity"}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == entry["headers"]["Content-Type"]
    assert answer.content == (FIXTURES / entry["file"]).read_bytes()


def test_fixture_files_parse_as_documented():
    full = json.loads((FIXTURES / "cdx.json").read_bytes())
    assert full[0] == list(IA_FIELDS) and len(full) == 7
    assert [row[4] for row in full[1:]] == ["200", "200", "301", "200", "-", "200"]
    page1 = json.loads((FIXTURES / "cdx-page1.json").read_bytes())
    assert page1[-2] == [] and page1[-1] == ["example%2Cacme%29%2Fprivacy+20200618093013"]
    assert json.loads((FIXTURES / "cdx-empty.json").read_bytes()) == []
    assert (FIXTURES / "cdx-empty.txt").read_bytes() == b""
    with pytest.raises(json.JSONDecodeError):
        json.loads((FIXTURES / "cdx-truncated.json").read_bytes())
    text = (FIXTURES / "cdx-page1.txt").read_text().split("\n")
    assert text[-3:] == ["", "example%2Cacme%29%2Fprivacy+20200618093013", ""]
    limited = ia_fixture("rate-limited-429")
    assert limited["status"] == 429 and limited["headers"]["Retry-After"] == "1"
    assert limited["content_type"].startswith("text/html")


def test_fake_pages_through_resume_keys_and_filters(http_server):
    fake = install_fake_ia(http_server)
    params = {"url": ACME_URL, "output": "json", "showResumeKey": "true", "limit": "4"}
    first = requests.get(fake.cdx_url, params=params, timeout=10).json()  # gzip-encoded, decoded by requests
    assert len(first) == 1 + 4 + 2 and first[-2] == []
    second = requests.get(fake.cdx_url, params={**params, "resumeKey": first[-1][0]}, timeout=10).json()
    assert [row[1] for row in second[1:]] == ["20210901000000", "20220410171544"]
    ok = requests.get(fake.cdx_url, params={"url": ACME_URL, "output": "json", "fl": "timestamp,statuscode",
                                            "filter": "statuscode:200", "from": "2020", "to": "2021"}, timeout=10)
    assert ok.json() == [["timestamp", "statuscode"], ["20200105110233", "200"], ["20210220140511", "200"]]
    collapsed = requests.get(fake.cdx_url, params={"url": ACME_URL, "fl": "timestamp", "collapse": "digest"},
                             timeout=10)
    assert collapsed.text.split() == ["20190312084502", "20200618093012", "20210220140511", "20220410171544"]
    last = requests.get(fake.cdx_url, params={"url": ACME_URL, "fl": "timestamp", "limit": "-1"}, timeout=10)
    assert last.text == "20220410171544\n"
    assert fake.count("cdx") == 5 and fake.count("replay") == 0
    assert fake.cdx_params()[1]["resumeKey"] == [first[-1][0]]


def test_fake_serves_scripted_failures_in_turn(http_server):
    fake = install_fake_ia(http_server)
    fake.fail_cdx(ia_fixture("rate-limited-429"), ia_fixture("unavailable-503"))
    answers = [requests.get(fake.cdx_url, params={"url": ACME_URL, "output": "json", "gzip": "false"}, timeout=10)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 503, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[2].content == (FIXTURES / "cdx.json").read_bytes()
    empty = requests.get(fake.cdx_url, params={"url": "https://nothing.example/", "output": "json"}, timeout=10)
    assert empty.content == b"[]\n"
    assert fake.count("cdx") == 4


def test_fake_replays_captures_redirects_and_nearest(http_server):
    captures = acme_captures()
    fake = install_fake_ia(http_server, captures)
    page = requests.get(fake.replay_url("20210220140511", ACME_URL), allow_redirects=False, timeout=10)
    assert page.status_code == 200 and page.content == captures[3].payload
    assert page.headers["Memento-Datetime"] == "Sat, 20 Feb 2021 14:05:11 GMT"
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "X-Archive-Orig-Date" in page.headers
    revisit = requests.get(fake.replay_url("20210901000000", ACME_URL), allow_redirects=False, timeout=10)
    assert revisit.status_code == 200 and revisit.content == captures[3].payload

    moved = requests.get(fake.replay_url("20200618093012", "http://acme.example/privacy"), allow_redirects=False,
                         timeout=10)
    assert moved.status_code == 301
    assert moved.headers["Location"] == fake.replay_url("20200618093012", ACME_URL)
    assert "Memento-Datetime" in moved.headers
    assert fake.add_nearest("20200618093012") == "20200105110233"
    nearest = requests.get(moved.headers["Location"], allow_redirects=False, timeout=10)
    assert nearest.status_code == 302
    assert "Memento-Datetime" not in nearest.headers
    assert nearest.headers["Location"] == fake.replay_url("20200105110233", ACME_URL)
    assert nearest.headers["X-Archive-Redirect-Reason"] == "found capture at 20200105110233"

    fake.fail_replay({"status": 503, "body": "busy"})
    assert requests.get(fake.replay_url("20190312084502", ACME_URL), timeout=10).status_code == 503
    assert requests.get(fake.replay_url("20190312084502", ACME_URL), timeout=10).content == captures[0].payload
    assert requests.get(fake.replay_url("20190312084502", "https://other.example/"), timeout=10).status_code == 404
    assert fake.count("replay") == 7 and fake.count("cdx") == 0


def test_fake_gzips_like_ia_unless_told_not_to(http_server):
    fake = install_fake_ia(http_server)
    raw = requests.get(fake.cdx_url, params={"url": ACME_URL}, stream=True, timeout=10)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw.raw.read()) == (FIXTURES / "cdx.txt").read_bytes()
    plain = requests.get(fake.cdx_url, params={"url": ACME_URL, "gzip": "false"}, timeout=10)
    assert "Content-Encoding" not in plain.headers
