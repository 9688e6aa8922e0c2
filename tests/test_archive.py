"""The archive stage without a server: CDX parsing, the probe strategies, rate limiting, dates, noise."""

from __future__ import annotations

import random

import pytest

from policywatch.archive import (
    IA_CDX_URL,
    Archive,
    ArchiveError,
    Capture,
    RateLimiter,
    parse_cdx,
    stamp,
    strip_archive_noise,
)
from policywatch.errors import UsageError
from policywatch.history_import import distinct_captures, probe_all, probe_changes

# -- CDX shapes -----------------------------------------------------------------------------------

IA_JSON = """[["urlkey","timestamp","original","mimetype","statuscode","digest","length"],
["example,acme)/privacy","20190101120000","https://acme.example/privacy","text/html","200","AAAA","5120"],
["example,acme)/privacy","20190102120000","https://acme.example/privacy","text/html","200","BBBB","5121"]]
"""

PYWB_LINES = (
    '{"urlkey": "example,acme)/privacy", "timestamp": "20190101120000", "url": "https://acme.example/privacy", '
    '"mime": "text/html", "status": "200", "digest": "AAAA", "length": "1800", "offset": "0", '
    '"filename": "a.warc.gz"}\n'
    '{"urlkey": "example,acme)/privacy", "timestamp": "20190105120000", "url": "https://acme.example/privacy", '
    '"mime": "text/html", "status": "302", "digest": "CCCC", "length": "500", "offset": "1800", '
    '"filename": "a.warc.gz"}\n')

PLAIN = ("example,acme)/privacy 20190101120000 https://acme.example/privacy text/html 200 AAAA 5120\n"
         "example,acme)/privacy 20190102120000 https://acme.example/privacy text/html 200 BBBB 5121\n"
         "\n"
         "example%2Cacme%29%2Fprivacy+20190102120000\n")


def test_parse_internet_archive_json_array():
    page = parse_cdx(IA_JSON)
    assert [c.timestamp for c in page.captures] == ["20190101120000", "20190102120000"]
    first = page.captures[0]
    assert (first.original, first.mimetype, first.status, first.digest, first.length) == (
        "https://acme.example/privacy", "text/html", 200, "AAAA", 5120)
    assert first.captured_at == "2019-01-01T12:00:00Z"
    assert page.resume_key is None


def test_parse_json_array_with_resume_key():
    body = IA_JSON.rstrip()[:-1] + ',\n[],\n["example%2Cacme%29%2Fprivacy+20190102120000"]]'
    page = parse_cdx(body)
    assert len(page.captures) == 2
    assert page.resume_key == "example%2Cacme%29%2Fprivacy+20190102120000"


def test_parse_pywb_json_lines_maps_field_names():
    page = parse_cdx(PYWB_LINES)
    assert [(c.timestamp, c.status, c.mimetype, c.digest) for c in page.captures] == [
        ("20190101120000", 200, "text/html", "AAAA"), ("20190105120000", 302, "text/html", "CCCC")]


def test_parse_plain_text_with_resume_key():
    page = parse_cdx(PLAIN)
    assert [c.digest for c in page.captures] == ["AAAA", "BBBB"]
    assert page.resume_key == "example%2Cacme%29%2Fprivacy+20190102120000"


@pytest.mark.parametrize("body", ["", "  \n", "[]"])
def test_empty_answers_mean_no_captures(body):
    assert parse_cdx(body).captures == []


@pytest.mark.parametrize("body", [IA_JSON[: len(IA_JSON) // 2], PYWB_LINES[:-60], "<html>oops</html>"])
def test_cut_off_or_garbled_answers_raise(body):
    with pytest.raises(ArchiveError):
        parse_cdx(body, "CDX answer from test")


@pytest.mark.parametrize("timestamp, captured_at", [
    ("2019", "2019-01-01T00:00:00Z"), ("201906", "2019-06-01T00:00:00Z"), ("20190612", "2019-06-12T00:00:00Z"),
    ("20190612083015", "2019-06-12T08:30:15Z")])
def test_a_short_timestamp_is_the_start_of_what_it_names(timestamp, captured_at):
    # It was "2019-06-00T00:00:00Z": a day 00 that no date reader takes.
    body = f'[["timestamp","original"],["{timestamp}","https://a.example/p"]]'
    assert parse_cdx(body).captures[0].captured_at == captured_at


def test_an_impossible_timestamp_is_an_answer_we_cannot_read():
    body = '[["timestamp","original"],["20191345000000","https://a.example/p"]]'
    with pytest.raises(ArchiveError, match="row 1 has an impossible timestamp '20191345000000'"):
        parse_cdx(body, "CDX")


def test_revisit_and_dash_digests():
    body = ('[["urlkey","timestamp","original","mimetype","statuscode","digest","length"],'
            '["k","20190101000000","https://a.example/p","warc/revisit","-","-","0"]]')
    capture = parse_cdx(body).captures[0]
    assert capture.status is None and capture.digest is None and capture.is_html


# -- the probe strategies ----------------------------------------------------------------------------

def _history(lengths: list[tuple[str, int]]) -> list[str]:
    texts = []
    for text, count in lengths:
        texts += [text] * count
    return texts


def _run(strategy, texts, **options):
    looked = []

    def text_at(index: int):
        looked.append(index)
        return texts[index]

    strategy(len(texts), text_at, **options)
    return looked


def _found_changes(texts, looked):
    """The change points the probes pin down: indexes whose text differs from the nearest probe before."""
    seen = sorted(set(looked))
    points = []
    for before, after in zip(seen, seen[1:], strict=False):
        if texts[before] != texts[after]:
            points.append(after)
    return points


def _true_changes(texts):
    return [i for i in range(1, len(texts)) if texts[i] != texts[i - 1]]


def test_changes_strategy_finds_every_change_with_far_fewer_looks():
    texts = _history([("A", 60), ("B", 50), ("C", 90), ("B", 12), ("C", 40), ("D", 80), ("E", 20),
                      ("F", 10), ("E", 38)])
    assert len(texts) == 400
    looked = _run(probe_changes, texts, probe_every=8)
    assert _found_changes(texts, looked) == _true_changes(texts)
    assert len(set(looked)) * 5 <= len(texts)
    assert len(looked) == len(set(looked)), "no capture is looked at twice"
    assert _run(probe_all, texts) == list(range(400))


def test_changes_strategy_guarantee_holds_on_random_histories():
    rng = random.Random(7)
    for _ in range(200):
        texts, n = [], rng.randint(1, 300)
        while len(texts) < n:
            texts += [rng.choice("ABCD")] * rng.randint(6, 40)
        looked = _run(probe_changes, texts, probe_every=6)
        assert _found_changes(texts, looked) == _true_changes(texts)


def test_short_lived_text_may_be_missed_only_below_the_span():
    texts = _history([("A", 50), ("B", 3), ("A", 50)])
    assert _found_changes(texts, _run(probe_changes, texts, probe_every=8)) in ([], [50, 53])
    assert _found_changes(texts, _run(probe_changes, texts, probe_every=2)) == [50, 53]


def test_unusable_captures_are_stepped_over():
    texts = _history([("A", 30), ("B", 30)])
    texts[0] = texts[29] = texts[30] = texts[45] = texts[59] = None
    looked = _run(probe_changes, texts, probe_every=8)
    found = _found_changes([t or "?" for t in texts], [i for i in looked if texts[i] is not None])
    assert found == [31]
    assert _run(probe_changes, [None] * 10) == list(range(10))


def test_a_text_kept_in_the_same_bytes_counts_every_capture_it_stood_for():
    """Eleven captures of one text with identical bytes are one distinct capture, yet eleven
    captures long: longer than probe_every, so it must be found."""
    rng = random.Random(3)
    for _ in range(100):
        lengths = [rng.randint(1, 30) for _ in range(rng.randint(2, 12))]
        kinds = [rng.choice("AB") if i % 2 else "G" for i in range(len(lengths))]
        texts, spans = [], []  # a churning text: one distinct capture per listed one; a frozen one: one for all
        for kind, length in zip(kinds, lengths, strict=True):
            if kind == "G":
                texts += [kind] * length
                spans += [1] * length
            else:
                texts.append(kind)
                spans.append(length)
        looked = set(_run(probe_changes, texts, probe_every=6, spans=spans))
        runs, start = [], 0  # each stretch of one text: its indexes and how many listed captures it lasted
        for i in range(1, len(texts) + 1):
            if i == len(texts) or texts[i] != texts[start]:
                runs.append((range(start, i), sum(spans[start:i])))
                start = i
        for indexes, lasted in runs:
            if lasted >= 6:  # in effect for probe_every captures or more: looked at
                assert looked & set(indexes), (texts, spans, indexes)


def test_distinct_captures_drops_repeated_digests_only_when_adjacent():
    captures = [Capture(f"2019010{i}000000", "u", digest=d) for i, d in enumerate("AABAC", 1)]
    assert [c.digest for c in distinct_captures(captures)] == ["A", "B", "A", "C"]


# -- politeness, configuration, dates, noise ----------------------------------------------------------

def test_rate_limiter_spaces_requests():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(20, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait()
    assert slept == [3.0, 3.0, 3.0]
    RateLimiter(0, clock=lambda: now[0], sleep=sleep).wait()
    assert len(slept) == 3


def test_archive_configuration(monkeypatch):
    monkeypatch.delenv("POLICYWATCH_CDX_URL", raising=False)
    monkeypatch.delenv("POLICYWATCH_REPLAY_URL", raising=False)
    default = Archive.configured()
    assert default.cdx_url == IA_CDX_URL and default.is_internet_archive
    assert default.replay_url(Capture("20190101000000", "https://a.example/p")) == \
        "https://web.archive.org/web/20190101000000id_/https://a.example/p"
    pywb = Archive.configured("http://127.0.0.1:8080/coll/cdx")
    assert pywb.replay_template == "http://127.0.0.1:8080/coll/{timestamp}id_/{url}"
    monkeypatch.setenv("POLICYWATCH_CDX_URL", "http://h/c/cdx")
    assert Archive.configured().cdx_url == "http://h/c/cdx"
    with pytest.raises(UsageError, match="replay"):
        Archive.configured("http://h/cdx-api")
    with pytest.raises(UsageError, match=r"\{timestamp\}"):
        Archive.configured("http://h/c/cdx", "http://h/c/{url}")


@pytest.mark.parametrize(("text", "expected"), [
    ("2019", "2019"), ("2019-06", "201906"), ("2019-06-01", "20190601"), ("20190601123000", "20190601123000"),
    ("2019-06-01T12:30:00Z", "20190601123000"), ("2019-06-01T14:30:00+02:00", "20190601123000"),
    ("now", None), (None, None)])
def test_stamp(text, expected):
    assert stamp(text) == expected


def test_stamp_rejects_nonsense():
    with pytest.raises(UsageError, match="cannot read the date"):
        stamp("last tuesday")
    for impossible in ("2019-13", "2020-02-31", "2019-00"):  # never sent to the archive as they are
        with pytest.raises(UsageError):
            stamp(impossible)


def test_strip_archive_noise():
    page = ("<html><head><script src='/_static/js/bundle-playback.js'></script></head><body>"
            "<!-- BEGIN WAYBACK TOOLBAR INSERT --><div id='wm-ipp-base'>Wayback Machine 1,234 captures</div>"
            "<!-- END WAYBACK TOOLBAR INSERT -->"
            "<div id='_wb_frame_top_banner'>pywb banner</div>"
            "<p>See https://web.archive.org/web/20190101000000/https://acme.example/terms and "
            "http://127.0.0.1:8080/coll/20190101000000id_/https://acme.example/cookies.</p></body></html>")
    cleaned = strip_archive_noise(page)
    assert "Wayback Machine" not in cleaned and "pywb banner" not in cleaned
    assert "See https://acme.example/terms and https://acme.example/cookies." in cleaned
