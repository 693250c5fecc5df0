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
from mtlib.config.tasks import TASKS, metric_value
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


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_copy(smoke_run, tmp_path):
    """A copy of a finished smoke run: these tests try to make export delete it."""
    import shutil

    copy = tmp_path / "runs" / "pal-cross"
    shutil.copytree(smoke_run("pal-cross"), copy)
    return copy


def test_export_never_deletes_its_source_nor_a_folder_it_did_not_make(run_copy, tmp_path, capsys):
    before = _files(run_copy)
    stage = run_copy / "stages" / "finetune_vaccine"
    for run, to in [(run_copy, run_copy), (run_copy, run_copy / "stages"), (run_copy, stage), (stage, stage), (stage, run_copy.parent)]:
        with pytest.raises(ConfigError, match="holds what it exports"):
            export(run, to, overwrite=True)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("four years")
    assert cli.main(["export", "--run", str(run_copy), "--to", str(precious), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "not an mtlib export (no mtlib_model.json), so nothing in it is deleted" in err and err.count("\n") == 1
    assert cli.main(["export", "--run", str(run_copy), "--to", str(precious / "thesis.tex")]) == 2
    assert "thesis.tex is a file" in capsys.readouterr().err
    assert cli.main(["export", "--run", str(run_copy), "--to", "/sys/mtlib-export"]) == 2  # not writable, even for root
    err = capsys.readouterr().err
    assert err.startswith("mtlib export: error: cannot write") and err.count("\n") == 1
    assert _files(run_copy) == before and (precious / "thesis.tex").read_text() == "four years"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious", "runs"]  # no temporary folder left
    # nothing absolute in what the export writes: the checkpoint is named inside its run
    assert export(run_copy, tmp_path / "ex")["exported_from"] == "pal-cross/stages/finetune_vaccine/model.safetensors"
    assert str(tmp_path) not in (tmp_path / "ex" / "mtlib_model.json").read_text() + (tmp_path / "ex" / "README.md").read_text()


def test_an_export_stopped_at_any_moment_leaves_the_old_export_or_none(run_copy, tmp_path, monkeypatch):
    import signal
    import subprocess

    from mtlib import export as export_module

    def fail(*args):
        raise RuntimeError("stopped mid-export")

    out = tmp_path / "ex"
    monkeypatch.setattr(export_module, "readme", fail)  # the last step before the marker
    with pytest.raises(RuntimeError):
        export(run_copy, out)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    monkeypatch.undo()
    export(run_copy, out)
    old = _files(out)
    monkeypatch.setattr(export_module, "readme", fail)
    with pytest.raises(RuntimeError):
        export(run_copy, out, overwrite=True)
    assert _files(out) == old and sorted(p.name for p in tmp_path.iterdir()) == ["ex", "runs"]
    # SIGKILL in the middle of an --overwrite export: the old export stays whole where it was
    kill = (
        "import os, signal, sys; from mtlib import export as e; "
        "e.readme = lambda *a: os.kill(os.getpid(), signal.SIGKILL); "
        "e.export(sys.argv[1], sys.argv[2], overwrite=True)"
    )
    done = subprocess.run([sys.executable, "-c", kill, str(run_copy), str(out)], capture_output=True)
    assert done.returncode == -signal.SIGKILL
    assert _files(out) == old and (out / "config.json").is_file()  # what AutoModel.from_pretrained reads is the old one


def test_export_deletes_a_folder_set_aside_only_when_it_is_an_export(run_copy, tmp_path, capsys):
    """`replace_folder` sets an old export aside as `.<to>.old`: one found there that is not an
    export (no mtlib_model.json) is kept, with or without --overwrite, and nothing is written."""
    out, aside = tmp_path / "ex", tmp_path / ".ex.old"
    aside.mkdir()
    (aside / "thesis.tex").write_text("four years")
    for overwrite in ([], ["--overwrite"]):
        assert cli.main(["export", "--run", str(run_copy), "--to", str(out), *overwrite]) == 2
        err = capsys.readouterr().err
        assert f"{aside} is in the way and is not an mtlib export (no mtlib_model.json), so it is not deleted" in err, err
        assert err.count("\n") == 1 and not out.exists() and (aside / "thesis.tex").read_text() == "four years"
    (aside / "thesis.tex").unlink()
    (aside / "mtlib_model.json").write_text("{}")  # an earlier export a kill left aside: it goes
    assert cli.main(["export", "--run", str(run_copy), "--to", str(out)]) == 0
    assert (out / "mtlib_model.json").is_file() and not aside.exists()


def test_a_full_disk_during_an_export_is_one_line_exit_3_keeps_the_old_export_and_a_rerun_finishes(run_copy, tmp_path, monkeypatch, capsys):
    import transformers.modeling_utils
    from safetensors import SafetensorError
    from test_convert import ENOSPC_FROM_TOKENIZERS
    from test_disk_and_kernel import ENOSPC_FROM_SAFETENSORS

    import mtlib

    out = tmp_path / "ex"
    argv = ["export", "--run", str(run_copy), "--to", str(out), "--overwrite"]
    assert cli.main(argv) == 0
    old = _files(out)

    def encoder_disk_full(*args, **kwargs):
        raise SafetensorError(ENOSPC_FROM_SAFETENSORS)

    def tokenizer_disk_full(*args, **kwargs):
        raise Exception(ENOSPC_FROM_TOKENIZERS)

    tokenizer_class = type(mtlib.load(run_copy, device="cpu").tokenizer)
    for owner, name, fails in [
        (transformers.modeling_utils, "safe_save_file", encoder_disk_full),
        (tokenizer_class, "save_pretrained", tokenizer_disk_full),
    ]:
        monkeypatch.setattr(owner, name, fails)
        assert cli.main(argv) == 3, name
        said = capsys.readouterr().err.splitlines(keepends=True)  # transformers' progress bar goes before it
        err = "".join(line for line in said if line.strip() and "Writing model shards" not in line)
        assert err.startswith(f"mtlib export: error: the disk is full: cannot write {out}: No space left on device"), err
        assert err.count("\n") == 1 and "Traceback" not in err and "run the same command again" in err
        assert _files(out) == old and sorted(p.name for p in tmp_path.iterdir()) == ["ex", "runs"]  # the old export, no temporary
        monkeypatch.undo()
    assert cli.main(argv) == 0 and _files(out).keys() == old.keys()


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_run_and_export_files_honour_the_umask(smoke_run, tmp_path, umask, file_mode, folder_mode):
    import os

    from mtlib.run.pipeline import load_model
    from mtlib.store.checkpoints import save_model
    from mtlib.util.files import atomic_write_json

    stage = smoke_run("bi-no-pal") / "stages" / "finetune"
    model, tokenizer = load_model(stage)
    old = os.umask(umask)
    try:
        run = tmp_path / "run"  # what a run folder holds: weights, model.json, tokenizer/, JSON records
        save_model(run, model, tokenizer)
        atomic_write_json(run / "results.json", {"dev": {}})
        export(stage, tmp_path / "export")
    finally:
        os.umask(old)
    for folder in (run, tmp_path / "export"):
        for path in [folder, *folder.rglob("*")]:
            assert path.stat().st_mode & 0o777 == (folder_mode if path.is_dir() else file_mode), path
    assert (run / "tokenizer").is_dir() and (tmp_path / "export" / "1_Pooling").is_dir()
