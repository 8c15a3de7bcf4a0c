"""Follow-up suggestions are parsed from the tail and never leak into the content."""
import pytest

from aichat.gateway.suggestions import StreamFilter, parse, split
from aichat.providers.base import SUGGESTIONS_MARKER as M


def test_split_takes_the_tail_off():
    content, follow_ups = split(f"Paris is the capital.\n{M}[\"Population?\", \"History?\"]")
    assert content == "Paris is the capital."
    assert follow_ups == ["Population?", "History?"]


def test_no_marker_means_no_suggestions():
    assert split("Just an answer.") == ("Just an answer.", [])


def test_at_most_three_and_lines_when_not_json():
    assert parse('["a", "b", "c", "d"]') == ["a", "b", "c"]
    assert parse("\n- first?\n- second?\n") == ["first?", "second?"]
    assert parse("") == []


def run_filter(pieces):
    stream = StreamFilter()
    out = [stream.feed(p) for p in pieces]
    tail, follow_ups = stream.finish()
    return "".join(out) + tail, follow_ups, out


@pytest.mark.parametrize("pieces", [
    ["Hello", " world.", "\n", M, '["Next?"]'],
    ["Hello world.\n<<<SUGG", "ESTIONS>>>", '["Next?"]'],
    ["Hello world.", "\n<", "<<", "SUGGESTIONS>>>[\"Ne", "xt?\"]"],
    ["Hello world.\n" + M + '["Next?"]'],
])
def test_stream_filter_strips_the_tail_however_it_is_split(pieces):
    content, follow_ups, _ = run_filter(pieces)
    assert content == "Hello world."
    assert follow_ups == ["Next?"]


def test_stream_filter_forwards_ordinary_text_at_once():
    _, _, out = run_filter(["a < b", " and c", " done"])
    assert out == ["a < b", " and c", " done"]


def test_stream_filter_releases_a_false_start():
    content, follow_ups, _ = run_filter(["x <<", "< not a marker"])
    assert content == "x <<< not a marker" and follow_ups == []
