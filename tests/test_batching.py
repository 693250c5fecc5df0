"""Tokenized pairs carry segment ids; bucketing keeps every example exactly once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlib.data.batching import TaskStream, bucketed_batches, collate, encode
from mtlib.data.task_files import Examples
from mtlib.model.encoders import load_tokenizer


def test_pairs_are_cross_encoded_with_segment_ids():
    tok = load_tokenizer("tiny-random")
    ex = Examples(
        "sts", "dev", "x", ["a", "b"], [("A man plays.", "A man is playing guitar."), ("Hi", "Hello there")], np.array([4.0, 1.0])
    )
    enc = encode(ex, tok, 64)
    ids, types = enc.input_ids[0], enc.token_type_ids[0]
    sep = [i for i, t in enumerate(ids) if t == tok.sep_token_id]
    assert ids[0] == tok.cls_token_id and len(sep) == 2 and sep[1] == len(ids) - 1
    assert set(types[: sep[0] + 1]) == {0} and set(types[sep[0] + 1 :]) == {1}
    batch = collate(enc, [0, 1])
    assert batch["input_ids"].shape[1] == max(len(x) for x in enc.input_ids)
    assert batch["attention_mask"][1].sum() == len(enc.input_ids[1]) and batch["token_type_ids"].max() == 1


def test_truncation_is_counted():
    tok = load_tokenizer("tiny-random")
    ex = Examples("sst", "dev", "x", ["a", "b"], [("word " * 100,), ("short",)], np.array([1.0, 2.0]))
    enc = encode(ex, tok, 16)
    assert enc.truncated == 1 and max(len(x) for x in enc.input_ids) == 16


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 128), min_size=1, max_size=400), batch=st.integers(1, 40), seed=st.integers(0, 99))
def test_bucketing_keeps_every_example_exactly_once(lengths, batch, seed):
    lengths = np.array(lengths)
    batches = bucketed_batches(lengths, batch, np.random.default_rng(seed), pool_batches=4)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert all(len(b) <= batch for b in batches)


def test_bucketing_reduces_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, 3200)
    padded = lambda bs: sum(len(b) * lengths[b].max() for b in bs)  # noqa: E731
    random_batches = np.array_split(rng.permutation(len(lengths)), 100)
    assert padded(bucketed_batches(lengths, 32, rng)) < 0.75 * padded(random_batches)


def test_task_stream_reshuffles_each_pass_and_resumes():
    from mtlib.data.batching import Encoded

    ex = Examples("sst", "train", "x", [str(i) for i in range(10)], [("w",)] * 10, np.zeros(10))
    enc = Encoded(ex, [[1] * (i + 1) for i in range(10)], [[0] * (i + 1) for i in range(10)], 0)
    stream = TaskStream(enc, 4, seed=1, task_index=0)
    first_pass = [stream.next_index().tolist() for _ in range(3)]
    assert sorted(sum(first_pass, [])) == list(range(10))
    second_pass = [stream.next_index().tolist() for _ in range(3)]
    assert sorted(sum(second_pass, [])) == list(range(10)) and second_pass != first_pass
    state = stream.state_dict()
    later = [stream.next_index().tolist() for _ in range(5)]
    other = TaskStream(enc, 4, seed=1, task_index=0)
    other.load_state_dict(state)
    assert [other.next_index().tolist() for _ in range(5)] == later


def test_bi_encoded_pairs_hold_each_sentence_alone_and_collate_to_two_halves():
    tok = load_tokenizer("tiny-random")
    texts = [("A man plays.", "A man is playing a guitar on stage."), ("Hi", "Hello there")]
    ex = Examples("sts", "dev", "x", ["a", "b"], texts, np.array([4.0, 1.0]))
    enc = encode(ex, tok, 64, pair_encoding="bi")
    assert enc.input_ids[0] == tok(texts[0][0])["input_ids"] and enc.second_ids[1] == tok(texts[1][1])["input_ids"]
    assert list(enc.lengths) == [max(len(enc.input_ids[i]), len(enc.second_ids[i])) for i in range(2)]
    batch = collate(enc, [1, 0])
    assert batch["input_ids"].shape == (4, max(enc.lengths))  # rows: firsts of [1, 0], then seconds of [1, 0]
    assert batch["attention_mask"][:, :].sum(1).tolist() == [
        len(enc.input_ids[1]),
        len(enc.input_ids[0]),
        len(enc.second_ids[1]),
        len(enc.second_ids[0]),
    ]
    assert batch["token_type_ids"].max() == 0 and batch["labels"].tolist() == [1.0, 4.0]
    # single sentences are unchanged by the setting; truncation is counted per sentence
    single = Examples("sst", "dev", "x", ["a"], [("word " * 100,)], np.array([1.0]))
    assert encode(single, tok, 16, pair_encoding="bi").second_ids is None
    long_pair = Examples("sts", "dev", "x", ["a"], [("word " * 100, "word " * 100)], np.array([1.0]))
    assert encode(long_pair, tok, 16, pair_encoding="bi").truncated == 2
