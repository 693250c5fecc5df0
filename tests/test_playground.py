"""Notebook 04's playground on a tiny random model (no checkpoint, no kernel)."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from mtlib.config.tasks import TASKS
from mtlib.model.encoders import load_encoder, load_tokenizer
from mtlib.model.multitask_bert import ModelSpec, MultitaskBert
from mtlib.workbook.sections.playground import Playground, parse_inputs, widget

matplotlib.use("Agg")


def playground(tasks=("sst", "para", "sts")):
    encoder = load_encoder("tiny-random")
    model = MultitaskBert(encoder, ModelSpec(encoder_name="tiny-random", encoder_config=encoder.config.to_dict(), tasks=list(tasks)))
    return Playground(model, load_tokenizer("tiny-random"))


def test_answers_several_sentences_and_pairs_with_label_names_and_rounded_numbers():
    table = playground().answer("A gripping film.\nA dull film.\nA man plays. || A person plays.")
    assert list(table.index) == ["A gripping film.", "A dull film.", "A man plays. || A person plays."]
    sentences, pair = table.iloc[:2], table.iloc[2]
    assert set(sentences["sentiment"]) <= set(TASKS["sst"].class_names)
    assert all(0 <= p <= 1 and round(p, 3) == p for p in sentences["p(sentiment)"])
    assert pair["paraphrase"] in TASKS["para"].class_names and 0 <= pair["p(paraphrase)"] <= 1
    assert 0 <= pair["similarity (0-5)"] <= 5 and round(pair["similarity (0-5)"], 2) == pair["similarity (0-5)"]


def test_a_single_sentence_gets_sentiment_only_never_a_pair_with_itself():
    table = playground().answer(["Fine."])
    assert table.loc["Fine.", "sentiment"] in TASKS["sst"].class_names
    assert set(table.columns) == {"sentiment", "p(sentiment)"}
    pair_only = playground(tasks=("sts",)).answer(["Fine."])
    assert pair_only.empty or "similarity (0-5)" not in pair_only.columns


def test_parse_inputs_skips_blank_lines_and_reads_pairs():
    assert parse_inputs("a\n\n b || c \n") == [("a",), ("b", "c")]


def test_widget_answers_a_click_without_a_kernel():
    box = widget(playground(), "A gripping film.")
    text, button, output = box.children
    assert text.value == "A gripping film."
    button.click()  # draws into the output area; outside a kernel it must simply not fail


def test_a_bi_encoded_pair_is_read_as_two_sentences():
    # identical sentences: cos(u, v) = 1, so the STS head at its cosine init gives 5*sigmoid(scale + offset)
    encoder = load_encoder("tiny-random")
    spec = ModelSpec(encoder_name="tiny-random", encoder_config=encoder.config.to_dict(), tasks=["sts"], pair_encoding="bi")
    pg = Playground(MultitaskBert(encoder, spec), load_tokenizer("tiny-random"))
    scale, offset = TASKS["sts"].cosine_init
    same = pg.answer([("A gripping film.", "A gripping film.")]).iloc[0]["similarity (0-5)"]
    assert same == pytest.approx(5 * torch.sigmoid(torch.tensor(scale + offset)).item(), abs=0.01)
    assert pg.answer([("A gripping film.", "A dull and long film about nothing.")]).iloc[0]["similarity (0-5)"] < same
