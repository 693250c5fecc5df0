"""Notebook 04's playground on a tiny random model (no checkpoint, no kernel)."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from mtlib.encoders import load_encoder, load_tokenizer
from mtlib.model import ModelSpec, MultitaskBert
from mtlib.playground import Playground, widget
from mtlib.tasks import TASKS

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


def test_a_bi_encoded_pair_is_read_as_two_sentences():
    # identical sentences: cos(u, v) = 1, so the STS head at its cosine init gives 5*sigmoid(scale + offset)
    encoder = load_encoder("tiny-random")
    spec = ModelSpec(encoder_name="tiny-random", encoder_config=encoder.config.to_dict(), tasks=["sts"], pair_encoding="bi")
    pg = Playground(MultitaskBert(encoder, spec), load_tokenizer("tiny-random"))
    scale, offset = TASKS["sts"].cosine_init
    assert pg.predict("A gripping film.")["similarity"] == pytest.approx(5 * torch.sigmoid(torch.tensor(scale + offset)).item(), abs=1e-4)
    assert (
        pg.predict("A gripping film.", "A dull and long film about nothing.")["similarity"] < pg.predict("A gripping film.")["similarity"]
    )
