"""The model's pair heads: bi-encoded pairs start at the encoder's cosine and keep it symmetric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtlib.config.tasks import TASKS
from mtlib.data.batching import collate, encode
from mtlib.data.task_files import Examples
from mtlib.model.encoders import load_encoder, load_tokenizer
from mtlib.model.multitask_bert import ModelSpec, MultitaskBert


def _model(pair_encoding: str, n_hidden_layers: int = 0) -> MultitaskBert:
    encoder = load_encoder("tiny-random")
    spec = ModelSpec(
        "tiny-random", encoder.config.to_dict(), ["sst", "para", "sts"], n_hidden_layers=n_hidden_layers, pair_encoding=pair_encoding
    )
    return MultitaskBert(encoder, spec).eval()


def _pairs(pair_encoding: str, swap: bool = False):
    texts = [("A man plays a guitar.", "Someone is playing music."), ("The cat sleeps.", "Stocks fell sharply today.")]
    if swap:
        texts = [(b, a) for a, b in texts]
    ex = Examples("sts", "dev", "x", ["a", "b"], texts, np.array([3.0, 0.0]))
    return collate(encode(ex, load_tokenizer("tiny-random"), 64, pair_encoding), [0, 1])


@torch.inference_mode()
def test_bi_encoded_head_starts_as_an_affine_map_of_the_cosine():
    model = _model("bi")
    batch = _pairs("bi")
    pooled = model.encode("sts", batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    u, v = pooled.chunk(2)
    cos = torch.nn.functional.cosine_similarity(u, v)
    for task in ("para", "sts"):
        scale, offset = TASKS[task].cosine_init
        out = model(task, **batch).squeeze(-1)
        assert out.shape == (2,)
        torch.testing.assert_close(out, scale * cos + offset, atol=1e-5, rtol=1e-5)
    # the pair head is symmetric: swapping the sentences changes nothing
    torch.testing.assert_close(model("para", **_pairs("bi", swap=True)), model("para", **batch), atol=1e-5, rtol=1e-5)
    assert model.heads["para"][-1].in_features == 2 * model.encoder.config.hidden_size
    assert model.heads["sst"][-1].in_features == model.encoder.config.hidden_size


@torch.inference_mode()
def test_cross_encoded_pairs_and_hidden_layers_keep_the_plain_head():
    cross = _model("cross")
    assert cross.heads["sts"][-1].in_features == cross.encoder.config.hidden_size
    assert cross("sts", **_pairs("cross")).shape == (2, 1)
    deep = _model("bi", n_hidden_layers=1)  # the cosine start applies to a single output layer only
    assert deep("sts", **_pairs("bi")).shape == (2, 1)
    assert not torch.all(deep.heads["sts"][-1].weight == TASKS["sts"].cosine_init[0])


def test_pair_encoding_is_validated():
    from mtlib.config.config import Config
    from mtlib.util.errors import ConfigError

    for bad in ("dual", "para=dual", "nli=bi", "para:bi"):
        with pytest.raises(ConfigError, match=f"--pair_encoding '{bad}': expected cross, bi, or per task"):
            Config.from_dict({"pair_encoding": bad}).validate()
    Config.from_dict({"pair_encoding": "para=cross,sts=bi"}).validate()


def test_pair_encoding_can_differ_per_task():
    model = _model("para=cross,sts=bi")
    assert model.bi_encoded("sts") and not model.bi_encoded("para") and not model.bi_encoded("sst")
    assert model.heads["sts"][-1].in_features == 2 * model.heads["para"][-1].in_features


def test_loading_an_encoder_leaves_no_transformers_progress_bar(tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    load_encoder("tiny-random").save_pretrained(str(tmp_path / "bert"))
    capfd.readouterr()
    encoder = load_encoder(str(tmp_path / "bert"))
    out, err = capfd.readouterr()
    assert encoder.config.num_hidden_layers == 2
    assert "Loading weights" not in out + err and "%|" not in out + err  # a saved notebook would keep a frozen 0% bar
    assert hf_logging.is_progress_bar_enabled()  # switched off only while loading
