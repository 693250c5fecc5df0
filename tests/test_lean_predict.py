"""The lean inference path (`mtlib.model.lean_bert`, `mtlib.data.lean_tokenizer`) against
transformers': the same hidden states, the same token ids, the same answers; and the one-sentence
command imports no transformers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import mtlib
from mtlib.config.tasks import TASKS
from mtlib.data.lean_tokenizer import LeanTokenizer
from mtlib.data.lean_tokenizer import unsupported as tokenizer_unsupported
from mtlib.model.lean_bert import ACTIVATIONS, LeanBert
from mtlib.model.lean_bert import unsupported as encoder_unsupported
from mtlib.run.loading import load_model, why_not_lean
from mtlib.store.checkpoints import read_model_spec
from mtlib.train.evaluate import read_detailed

ROOT = Path(__file__).resolve().parent.parent
ODD_TEXTS = ["Café naïve RÉSUMÉ", "北京欢迎你 hello", "  spaces\t and tabs ", "", "word " * 200, "Don't!!! ...?", "emoji 😀 ok"]


def bert_pair(hidden_act: str = "gelu") -> tuple[torch.nn.Module, LeanBert]:
    """transformers' BertModel (tiny, random, seeded) and a LeanBert holding its weights."""
    from transformers.models.bert.configuration_bert import BertConfig
    from transformers.models.bert.modeling_bert import BertModel

    from mtlib.model.encoders import TINY_CONFIG

    torch.manual_seed(0)
    config = BertConfig(vocab_size=1000, hidden_act=hidden_act, **TINY_CONFIG)
    config._attn_implementation = "sdpa"
    reference = BertModel(config).eval()
    lean = LeanBert(config.to_dict()).eval()
    lean.load_state_dict(reference.state_dict(), strict=True)  # the same parameter names, none left over
    return reference, lean


def padded_batch() -> dict[str, torch.Tensor]:
    ids = torch.randint(1, 1000, (4, 11), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 6:], mask[2, 2:] = 0, 0  # padded rows, one of them almost all padding
    types = torch.zeros_like(ids)
    types[0, 5:] = 1  # a pair's second segment
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": types}


@pytest.mark.parametrize("hidden_act", list(ACTIVATIONS))
def test_the_lean_encoder_gives_bertmodels_hidden_states_and_pooler_output(hidden_act):
    reference, lean = bert_pair(hidden_act)
    batch = padded_batch()
    with torch.inference_mode():
        expected, got = reference(**batch), lean(**batch)
        unpadded = {k: v[:1] for k, v in batch.items()}  # a batch with no padding: no mask at all
        expected_one, got_one = reference(**unpadded), lean(**unpadded)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, atol=1e-5, rtol=0)  # padded positions too
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_one.last_hidden_state, expected_one.last_hidden_state, atol=1e-5, rtol=0)


def test_configs_the_lean_encoder_cannot_run_are_named():
    assert encoder_unsupported({"hidden_act": "gelu", "hidden_size": 32, "num_attention_heads": 2}) == ""
    assert "position_embedding_type" in encoder_unsupported({"position_embedding_type": "relative_key"})
    assert "hidden_act" in encoder_unsupported({"hidden_act": "swish"})
    assert "decoder" in encoder_unsupported({"is_decoder": True})
    assert "model_type" in encoder_unsupported({"model_type": "roberta"})
    with pytest.raises(ValueError, match="relative_key"):
        LeanBert({"position_embedding_type": "relative_key"})


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory) -> Path:
    """The tiny model's tokenizer saved as a run saves it (`mtlib.store.checkpoints.save_tokenizer`)."""
    from mtlib.model.encoders import load_tokenizer
    from mtlib.store.checkpoints import save_tokenizer

    folder = tmp_path_factory.mktemp("tok") / "tokenizer"
    save_tokenizer(folder, load_tokenizer("tiny-random"), "tiny-random")
    return folder


def quora_pairs(data_dir: Path, n: int = 500) -> tuple[list[str], list[str]]:
    with open(data_dir / "quora-dev.csv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))[:n]
    first = [r["sentence1"] or "" for r in rows] + ODD_TEXTS
    return first, [r["sentence2"] or "" for r in rows] + ODD_TEXTS[::-1]


def assert_same_ids(reference, lean, first: list[str], second: list[str]) -> None:
    """The calls `mtlib.data.batching.encode` makes, for sentences and pairs, with and without truncation."""
    calls = [
        dict(add_special_tokens=True, truncation=False, return_attention_mask=False, return_token_type_ids=False),
        dict(truncation=True, max_length=16, return_attention_mask=False, return_token_type_ids=True),
        dict(truncation=True, max_length=64, return_attention_mask=False, return_token_type_ids=True),
    ]
    for kwargs in calls:
        for args in ([first], [first, second]):
            expected, got = reference(*args, **kwargs), lean(*args, **kwargs)
            assert set(got) == set(expected)
            for key in got:
                assert got[key] == list(expected[key]), (kwargs, len(args), key)
    truncated = lean(first, second, truncation=True, max_length=16)["input_ids"]
    assert max(len(x) for x in truncated) == 16  # the truncation did cut
    assert reference("A fine film.") == lean("A fine film.")  # one sentence alone
    assert lean.pad_token_id == reference.pad_token_id


def test_the_lean_tokenizer_gives_the_transformers_tokenizers_ids(tokenizer_folder, real_data_dir):
    from mtlib.model.encoders import load_tokenizer

    assert tokenizer_unsupported(tokenizer_folder) == ""
    assert_same_ids(load_tokenizer(str(tokenizer_folder)), LeanTokenizer(tokenizer_folder), *quora_pairs(real_data_dir))


def test_a_tokenizer_folder_the_lean_tokenizer_cannot_read_is_named(tokenizer_folder, tmp_path):
    assert "tokenizer.json" in tokenizer_unsupported(tmp_path)  # an older run's folder: tokenizer_config.json alone
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "tokenizer.json").write_text((tokenizer_folder / "tokenizer.json").read_text())
    settings = json.loads((tokenizer_folder / "tokenizer_config.json").read_text())
    (odd / "tokenizer_config.json").write_text(json.dumps({**settings, "truncation_side": "left"}))
    assert "truncation_side" in tokenizer_unsupported(odd)


# ---- on finished smoke runs: a PAL, cross-encoded run and a bi-encoded one ----------------------


@pytest.mark.parametrize("name", ["pal-cross", "bi-no-pal"])
def test_a_checkpoints_lean_model_computes_what_its_transformers_model_computes(smoke_run, name, real_data_dir):
    run = smoke_run(name)
    weights = mtlib.load(run, device="cpu").checkpoint
    assert why_not_lean(read_model_spec(weights), weights.parent / "tokenizer") == ""
    reference, reference_tok = load_model(weights)
    lean, lean_tok = load_model(weights, lean=True)
    assert isinstance(lean.encoder, LeanBert) and isinstance(lean_tok, LeanTokenizer)
    assert not isinstance(reference.encoder, LeanBert)
    first, second = quora_pairs(real_data_dir, 200)
    assert_same_ids(reference_tok, lean_tok, first, second)
    encoded = lean_tok(first[:6], second[:6], truncation=True, max_length=24)
    width = max(len(x) for x in encoded["input_ids"])  # padded to the longest pair, as collate pads
    batch = {k: torch.as_tensor([x + [0] * (width - len(x)) for x in v]) for k, v in encoded.items()}
    assert not bool(batch["attention_mask"].all())
    with torch.inference_mode():
        torch.testing.assert_close(lean.encoder(**batch).pooler_output, reference.encoder(**batch).pooler_output, atol=1e-5, rtol=0)
        for task in TASKS:  # each task's whole forward: its PAL blocks (hooked on the layers) and head
            torch.testing.assert_close(lean(task, **batch), reference(task, **batch), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["pal-cross", "bi-no-pal"])
def test_predict_answers_the_same_on_both_paths(smoke_run, name):
    run = smoke_run(name)
    transformers_path = mtlib.load(run, device="cpu")
    lean_path = mtlib.load(run, device="cpu", lean=True)
    assert transformers_path.settings["encoder"].startswith("transformers") and lean_path.settings["encoder"].startswith("lean")
    for task, spec in TASKS.items():
        detailed = read_detailed(run / "stages" / transformers_path.checkpoint.parent.name / "predictions" / f"{task}-dev-detailed.tsv")
        columns = [list(detailed[c]) for c in spec.text_columns]
        inputs = columns[0] if len(columns) == 1 else list(zip(*columns))
        expected, got = transformers_path.predict(task, inputs), lean_path.predict(task, inputs)
        assert len(got) == len(inputs) > 0 and list(got.columns) == list(expected.columns)
        for column in got.columns:
            if got[column].dtype.kind == "f":
                np.testing.assert_allclose(got[column], expected[column], atol=1e-5, rtol=0)
            else:
                assert list(got[column]) == list(expected[column])
    sentences = ["A gripping film.", "A dull film."]
    np.testing.assert_allclose(lean_path.embeddings(sentences), transformers_path.embeddings(sentences), atol=1e-5, rtol=0)


def test_autocast_keeps_transformers_encoder(smoke_run):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bf16 on a CPU without it: slow, said once; beside the point here
        predictor = mtlib.load(smoke_run("bi-no-pal"), device="cpu", amp="bf16", lean=True)
    assert "precision bf16" in predictor.settings["encoder"] and not isinstance(predictor.model.encoder, LeanBert)


def test_one_sentence_from_the_shell_imports_no_transformers(smoke_run):
    run = smoke_run("pal-cross")
    code = (
        "import sys, mtlib.__main__ as cli; "
        f"rc = cli.main(['predict', '--run', {str(run)!r}, '--task', 'sst', '--text', 'It was fine, I guess.', '--format', 'jsonl']); "
        "print(rc, sorted(m for m in sys.modules if m.split('.')[0] == 'transformers'), file=sys.stderr)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr
    answer = json.loads(done.stdout)
    assert answer["label"] in TASKS["sst"].class_names and abs(sum(answer["probabilities"].values()) - 1) < 1e-5
    fallback = subprocess.run(
        [sys.executable, "-c", code.replace("'jsonl'", "'jsonl', '--lean', 'off'")], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert "'transformers" in fallback.stderr.strip().splitlines()[-1]  # --lean off: transformers' BertModel
    assert json.loads(fallback.stdout)["probabilities"] == pytest.approx(answer["probabilities"], abs=1e-5)


def test_the_finite_check_by_sum_finds_nan_and_infinity_and_is_not_fooled_by_overflow():
    from mtlib.store.checkpoints import all_finite

    weights = torch.randn(50, 40)
    assert all_finite(weights)
    for bad in (float("nan"), float("inf"), float("-inf")):
        poisoned = weights.clone()
        poisoned[7, 3] = bad
        assert not all_finite(poisoned)
    assert all_finite(torch.full((100,), 60000.0, dtype=torch.float16))  # its fp16 sum overflows; every value is finite
