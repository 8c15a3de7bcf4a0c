"""The SSE frames built once per stream equal the frames encoded afresh, for any text."""
import json

from hypothesis import given
from hypothesis import strategies as st

from aichat.api import sse


@given(st.text())
def test_a_delta_frame_built_from_its_template_equals_the_one_encoded_afresh(text):
    assert sse.DELTA_FRAMES.of(text) == sse.frame("delta", {"content": text})


@given(st.text(), st.text(min_size=1, max_size=40))
def test_an_openai_chunk_built_from_its_template_equals_the_one_encoded_afresh(text, model):
    def chunk(content):
        return sse.data_frame({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]})

    frames = sse.TextFrames(chunk(sse.TextFrames.SLOT))
    built = frames.of(text)
    assert built == chunk(text)
    assert json.loads(built.removeprefix("data: "))["choices"][0]["delta"]["content"] == text
