"""`python -m mtlib export`: a Hugging Face folder whose loader answers as mtlib does, and a
sentence-transformers folder whose cosine is mtlib's."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
import torch

import mtlib
import mtlib.__main__ as cli
from mtlib.data.tasks import TASKS, metric_value
from mtlib.train.evaluate import read_detailed
from mtlib.use.export import COSINE_PEARSON_TOLERANCE, EMBEDDING_TOLERANCE, export
from mtlib.util.errors import ConfigError


def _dev_inputs(folder, task):
    table = read_detailed(folder / "predictions" / f"{task}-dev-detailed.tsv")
    columns = TASKS[task].text_columns
    return list(table[columns[0]]) if len(columns) == 1 else list(zip(table[columns[0]], table[columns[1]]))


def _standalone(folder, monkeypatch):
    """The folder's mtlib_loader, imported with mtlib made unimportable."""
    monkeypatch.setitem(sys.modules, "mtlib", None)
    spec = importlib.util.spec_from_file_location("exported_loader", folder / "mtlib_loader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(folder)


def assert_loader_answers_as_mtlib(stage, out, monkeypatch):
    predictor = mtlib.load(stage, device="cpu")
    loaded = _standalone(out, monkeypatch)
    for task in TASKS:
        inputs = _dev_inputs(stage, task)
        ours, theirs = predictor.predict(task, inputs), loaded.predict(task, inputs)
        spec = TASKS[task]
        if spec.label_kind == "score":
            np.testing.assert_allclose([a["score"] for a in theirs], ours["score"], atol=1e-5)
        else:
            assert [a["label"] for a in theirs] == list(ours["label"])
            probs = [[a["probabilities"][n] for n in spec.class_names] for a in theirs]
            np.testing.assert_allclose(probs, ours[[f"p({n})" for n in spec.class_names]].to_numpy(), atol=1e-5)
    monkeypatch.undo()


def test_a_pal_checkpoint_exports_encoder_heads_and_a_loader_that_answers_as_mtlib(smoke_run, tmp_path, monkeypatch, capsys):
    stage = smoke_run("pal-cross") / "stages" / "finetune_vaccine"  # PAL blocks, cross-encoded pairs
    out = tmp_path / "export"
    assert cli.main(["export", "--run", str(stage), "--to", str(out)]) == 0
    said = capsys.readouterr().out
    assert "no sentence-transformers folder: no pair task is bi-encoded" in said and "the model has PAL blocks" in said
    info = json.loads((out / "mtlib_model.json").read_text())
    assert info["use_pal"] and info["max_length"] == 64 and info["sentence_transformers"]["written"] is False
    assert (out / "pal.py").is_file() and not (out / "modules.json").exists()
    # the encoder is a plain Hugging Face BERT folder, with mtlib's weights
    from transformers import AutoModel, AutoTokenizer

    model, _ = mtlib.load_model(stage)
    encoder = AutoModel.from_pretrained(str(out))
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(encoder.state_dict()[name], tensor), name
    assert AutoTokenizer.from_pretrained(str(out))("a film")["input_ids"] == mtlib.load(stage).tokenizer("a film")["input_ids"]
    assert_loader_answers_as_mtlib(stage, out, monkeypatch)
    # a folder that holds something is kept unless --overwrite
    with pytest.raises(ConfigError, match="exists and is not empty"):
        export(stage, out)
    assert export(stage, out, overwrite=True)["use_pal"]


def test_a_bi_encoded_model_exports_a_sentence_transformer_with_mtlibs_embeddings_and_cosine(smoke_run, tmp_path, monkeypatch):
    st = pytest.importorskip("sentence_transformers")
    run = smoke_run("bi-no-pal")
    out = tmp_path / "st"
    info = export(run, out)
    checked = info["sentence_transformers"]
    assert checked["written"] and checked["max_seq_length"] == 64
    recorded = checked["sts_dev"]
    # the recorded cosine Pearson is mtlib's own on the STS dev rows the run was scored on
    source = mtlib.load(run, device="cpu")
    dev = read_detailed(source.checkpoint.parent / "predictions" / "sts-dev-detailed.tsv")
    u, v = source.embeddings(list(dev["sentence1"])), source.embeddings(list(dev["sentence2"]))
    assert recorded["rows"] == len(dev) and recorded["cosine_pearson"] == pytest.approx(
        metric_value("pearson", (u * v).sum(1), dev["label"].to_numpy(float)), abs=1e-9
    )
    # SentenceTransformer(DIR): the same embeddings, the same cosine, the same Pearson
    model = st.SentenceTransformer(str(out), device="cpu")
    assert model.max_seq_length == 64
    eu = model.encode(list(dev["sentence1"]), convert_to_numpy=True, batch_size=7)
    ev = model.encode(list(dev["sentence2"]), convert_to_numpy=True, batch_size=7)
    assert np.abs(eu - u).max() <= EMBEDDING_TOLERANCE and np.abs(ev - v).max() <= EMBEDDING_TOLERANCE
    cosine = model.similarity(eu, ev).diagonal().numpy()
    np.testing.assert_allclose(cosine, (u * v).sum(1), atol=EMBEDDING_TOLERANCE)
    pearson = metric_value("pearson", cosine, dev["label"].to_numpy(float))
    assert abs(pearson - recorded["cosine_pearson"]) <= COSINE_PEARSON_TOLERANCE
    # the head's own score (what the run reports) is recorded beside it, and the loader reads bi-encoded pairs
    assert recorded["head_pearson_reported"] == pytest.approx(
        json.loads((source.checkpoint.parent / "results.json").read_text())["dev"]["sts"]
    )
    assert_loader_answers_as_mtlib(source.checkpoint.parent, out, monkeypatch)
    assert "SentenceTransformer(folder)" in (out / "README.md").read_text()
