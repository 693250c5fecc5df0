"""Notebook 04's playground on a tiny random model (no checkpoint, no kernel)."""

from __future__ import annotations

import matplotlib
import pytest

from mtlib.encoders import load_encoder, load_tokenizer
from mtlib.model import ModelSpec, MultitaskBert
from mtlib.playground import Playground, widget

matplotlib.use("Agg")


def playground(tasks=("sst", "para", "sts")):
    encoder = load_encoder("tiny-random")
    model = MultitaskBert(encoder, ModelSpec(encoder_name="tiny-random", encoder_config=encoder.config.to_dict(), tasks=list(tasks)))
    return Playground(model, load_tokenizer("tiny-random"))


def test_predict_gives_a_distribution_a_probability_and_a_score():
    answer = playground().predict("A gripping film.", "A dull film.")
    assert len(answer["sentiment"]) == 5 and sum(answer["sentiment"]) == pytest.approx(1.0, abs=1e-5)
    assert 0 <= answer["paraphrase"] <= 1 and 0 <= answer["similarity"] <= 5


def test_a_single_sentence_is_paired_with_itself_and_missing_heads_are_left_out():
    pg = playground(tasks=("sst", "sts"))
    assert set(pg.predict("Fine.")) == {"sentiment", "similarity"}
    assert pg.predict("Fine.")["similarity"] == pytest.approx(pg.predict("Fine.", "Fine.")["similarity"])


def test_widget_answers_a_click_without_a_kernel():
    box = widget(playground(), "A gripping film.")
    first, second, button, output = box.children
    assert first.value == "A gripping film." and second.value == ""
    button.click()  # draws into the output area; outside a kernel it must simply not fail
