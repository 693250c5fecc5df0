"""`mtlib.load(run)` and `python -m mtlib predict`: the test stage's answers for the same rows."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

import mtlib
import mtlib.__main__ as cli
from mtlib.config.tasks import TASKS
from mtlib.train.evaluate import read_detailed
from mtlib.use.predict import read_inputs
from mtlib.util.errors import ConfigError, DataError
from mtlib.workbook.training.stages import finished_stages, reported_checkpoint, reported_stage


def _inputs(table: pd.DataFrame, task: str) -> list:
    columns = TASKS[task].text_columns
    return list(table[columns[0]]) if len(columns) == 1 else list(zip(table[columns[0]], table[columns[1]]))


def assert_same_answers(answers: pd.DataFrame, detailed: pd.DataFrame, task: str) -> None:
    """Answers against a detailed prediction file (5 decimals for probabilities, 6 digits for scores)."""
    spec = TASKS[task]
    assert len(answers) == len(detailed) > 0
    if spec.label_kind == "score":
        np.testing.assert_allclose(answers["score"], detailed["prediction"].astype(float), atol=2e-5)
        return
    np.testing.assert_array_equal(answers["label_id"], detailed["prediction"].astype(int))
    assert list(answers["label"]) == [spec.class_names[i] for i in detailed["prediction"].astype(int)]
    if spec.label_kind == "class":
        recorded = detailed[[f"p{i}" for i in range(spec.num_outputs)]].to_numpy(float)
        np.testing.assert_allclose(answers[[f"p({n})" for n in spec.class_names]].to_numpy(), recorded, atol=1e-5)
    else:
        np.testing.assert_allclose(answers[f"p({spec.class_names[1]})"], detailed["probability"].astype(float), atol=1e-5)
    chosen = answers[[f"p({n})" for n in spec.class_names]].to_numpy()[np.arange(len(answers)), answers["label_id"]]
    np.testing.assert_allclose(answers["probability"], chosen)


def test_a_run_folder_predicts_the_test_stage_rows_as_the_test_stage_did(smoke_run):
    run = smoke_run("pal-cross")
    predictor = mtlib.load(run, device="cpu")
    stage = reported_stage(finished_stages(run))
    assert predictor.checkpoint == run / "stages" / stage / "model.safetensors"
    assert predictor.max_length == 64 and predictor.batch_size == 64 and predictor.precision.mode == "off"  # smoke.yaml's
    named = {"sst": predictor.sentiment, "para": predictor.paraphrase, "sts": predictor.similarity}
    for task in TASKS:  # test rows where the mirror has them (para has no test file), else dev rows
        test = read_detailed(run / "stages" / "test" / "predictions" / f"{task}-test-detailed.tsv")
        detailed = test if len(test) else read_detailed(run / "stages" / stage / "predictions" / f"{task}-dev-detailed.tsv")
        assert_same_answers(named[task](_inputs(detailed, task)), detailed, task)


@pytest.mark.parametrize("name, stage", [("pal-cross", "finetune_vaccine"), ("bi-no-pal", "finetune")])
def test_each_stage_checkpoint_answers_its_dev_rows_as_recorded(smoke_run, name, stage):
    # a PAL checkpoint (task-specific encoder) and a bi-encoded one (each sentence alone)
    folder = smoke_run(name) / "stages" / stage
    predictor = mtlib.load(folder, device="cpu")
    assert predictor.model.spec.use_pal == (stage == "finetune_vaccine" and name == "pal-cross")
    assert predictor.model.spec.pair_encoding == ("bi" if name == "bi-no-pal" else "cross")
    for task in TASKS:
        detailed = read_detailed(folder / "predictions" / f"{task}-dev-detailed.tsv")
        assert_same_answers(predictor.predict(task, _inputs(detailed, task)), detailed, task)


def test_the_cli_predicts_a_file_and_stdin(smoke_run, tmp_path, monkeypatch, capsys):
    run = smoke_run("pal-cross")
    detailed = read_detailed(run / "stages" / "test" / "predictions" / "sst-test-detailed.tsv")
    tsv = tmp_path / "in.tsv"
    detailed[["id", "sentence"]].to_csv(tsv, sep="\t", index=False)  # the task files' own layout
    out = tmp_path / "out" / "sst.csv"
    assert cli.main(["predict", "--run", str(run), "--task", "sst", "--input", str(tsv), "--output", str(out)]) == 0
    written = pd.read_csv(out, dtype={"id": str})
    assert list(written["id"]) == list(detailed["id"]) and list(written["sentence"]) == list(detailed["sentence"])
    assert_same_answers(written, detailed, "sst")
    # stdin, comma-separated, no id column: rows are numbered; the answer name works as the task
    sts = read_detailed(run / "stages" / "test" / "predictions" / "sts-test-detailed.tsv").head(5)
    monkeypatch.setattr("sys.stdin", io.StringIO(sts[["sentence1", "sentence2"]].to_csv(index=False)))
    capsys.readouterr()
    assert cli.main(["predict", "--run", str(run), "--task", "similarity", "--input", "-"]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(printed.columns) == ["row", "sentence1", "sentence2", "score"] and list(printed["row"]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(printed["score"], sts["prediction"].astype(float), atol=2e-5)


def test_bad_input_is_refused_with_the_reason(smoke_run, tmp_path, capsys):
    run = smoke_run("pal-cross")
    predictor = mtlib.load(run, device="cpu")
    with pytest.raises(ConfigError, match="reads pairs of sentences"):
        predictor.similarity(["one sentence only"])
    with pytest.raises(ConfigError, match="no task 'nli'"):
        predictor.predict("nli", ["x"])
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nA fine film.\n")
    assert cli.main(["predict", "--run", str(run), "--task", "sst", "--input", str(bad)]) == 2
    assert "lacks column(s) ['sentence']" in capsys.readouterr().err
    (tmp_path / "empty.csv").write_text("sentence1,sentence2\nA,\n")
    with pytest.raises(DataError, match="empty text field"):
        read_inputs(str(tmp_path / "empty.csv"), TASKS["sts"])


def test_a_run_folder_stands_for_its_reported_checkpoint(smoke_run):
    run = smoke_run("pal-cross")
    recorded = json.loads((run / "results.json").read_text())["test_stage"]["checkpoint"]
    assert recorded == f"./stages/{reported_stage(finished_stages(run))}/model.safetensors"  # from the run folder (issue 25)
    checkpoint = str(run / recorded)
    assert str(reported_checkpoint(run)) == checkpoint
    assert str(reported_checkpoint(run / "stages" / "test")) == checkpoint  # the test stage: what it tested
    assert reported_checkpoint(run / "stages" / "finetune") == run / "stages" / "finetune" / "model.safetensors"


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("mtlib predict: error:") and err.count("\n") == 1, err
    return err


def test_a_batch_size_under_one_is_refused_from_the_command_line_and_from_the_runs_config(smoke_run, tmp_path, capsys):
    import shutil

    stage = smoke_run("pal-cross") / "stages" / "finetune_vaccine"
    argv = ["predict", "--run", str(stage), "--task", "sst", "--text", "A fine film."]
    assert cli.main([*argv, "--batch_size", "-1"]) == 2
    assert "--batch_size -1: rows per batch must be at least 1" in _one_line_error(capsys)
    copy = tmp_path / "stage"
    shutil.copytree(stage, copy)
    config = copy / "config.yaml"
    config.write_text(config.read_text().replace("eval_batch_size: 64", "eval_batch_size: -5"))
    assert cli.main(["predict", "--run", str(copy), "--task", "sst", "--text", "A fine film."]) == 2
    assert f"{config}: eval_batch_size -5 must be at least 1" in _one_line_error(capsys)
    # --batch_size given is a way out, and answers as the run's own batch size does
    assert cli.main(["predict", "--run", str(copy), "--task", "sst", "--text", "A fine film.", "--batch_size", "3"]) == 0
    assert (
        pd.read_csv(io.StringIO(capsys.readouterr().out))["label"][0]
        == mtlib.load(stage, device="cpu").sentiment("A fine film.")["label"][0]
    )


def test_plain_text_text_flags_and_an_unquoted_comma_are_read_as_people_write_them(smoke_run, tmp_path, capsys):
    run = smoke_run("pal-cross")
    predictor = mtlib.load(run, device="cpu")
    sentences = ["It was fine, I guess.", 'She said "hi", then left.']

    def cli_answers(*args):
        capsys.readouterr()
        assert cli.main(["predict", "--run", str(run), *args]) == 0
        return pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"sentence": str})

    (tmp_path / "s.txt").write_text(f"{sentences[0]}\n\n{sentences[1]}\n")  # one a line; a blank line skipped
    out = cli_answers("--task", "sst", "--input", str(tmp_path / "s.txt"))
    assert list(out["line"]) == [1, 3] and list(out["sentence"]) == sentences
    assert list(out["label"]) == list(predictor.sentiment(sentences)["label"])
    (tmp_path / "pairs.txt").write_text("A man plays.\tA person plays.\n")
    out = cli_answers("--task", "sts", "--input", str(tmp_path / "pairs.txt"))
    assert out["score"][0] == pytest.approx(predictor.similarity([("A man plays.", "A person plays.")])["score"][0], abs=1e-6)
    out = cli_answers("--task", "sts", "--text", "A man plays.", "--text", "A person plays.")
    assert list(out.columns[:3]) == ["row", "sentence1", "sentence2"] and out["score"][0] == pytest.approx(
        predictor.similarity([("A man plays.", "A person plays.")])["score"][0], abs=1e-6
    )
    assert cli_answers("--task", "sst", "--text", sentences[0])["label"][0] == predictor.sentiment(sentences[:1])["label"][0]
    # a one-column CSV: an unquoted comma is part of the sentence, a quoted one too
    (tmp_path / "one.csv").write_text(f'sentence\n{sentences[0]}\n"{sentences[0]}"\n')
    assert list(cli_answers("--task", "sst", "--input", str(tmp_path / "one.csv"))["sentence"]) == [sentences[0]] * 2


def test_unreadable_input_and_output_are_one_line_at_their_place(smoke_run, tmp_path, capsys):
    run = smoke_run("pal-cross")

    def refused(*args) -> str:
        assert cli.main(["predict", "--run", str(run), *args]) == 2
        return _one_line_error(capsys)

    (tmp_path / "pairs.csv").write_text("sentence1,sentence2\nA man plays, loudly.,A person plays.\n")
    assert "pairs.csv:2: 3 ','-separated fields where the header names 2 -> quote a field" in refused(
        "--task", "sts", "--input", str(tmp_path / "pairs.csv")
    )
    (tmp_path / "open.csv").write_text('sentence\nfine\n"It was fine, I guess.\nA dull film.\n')
    assert "open.csv:3: a quote opened on this line is never closed" in refused("--task", "sst", "--input", str(tmp_path / "open.csv"))
    (tmp_path / "pairs.txt").write_text("A man plays.\tA person plays.\nno pair here\n")
    assert "pairs.txt:2: 1 tab-separated field(s)" in refused("--task", "sts", "--input", str(tmp_path / "pairs.txt"))
    assert "takes --text twice" in refused("--task", "sts", "--text", "A man plays.")
    assert f"--output {tmp_path} is a folder" in refused("--task", "sst", "--text", "fine", "--output", str(tmp_path))
    assert "cannot write /sys/answers.csv: Permission denied; choose a writable --output" in refused(
        "--task",
        "sst",
        "--text",
        "fine",
        "--output",
        "/sys/answers.csv",  # not writable, even for root
    )


def test_predict_never_writes_over_its_own_input(smoke_run, tmp_path, capsys):
    """`predict --input f.csv --output f.csv` replaced its input; so did a link to it."""
    import os

    source = tmp_path / "mine.csv"
    source.write_text("id,sentence\n1,a gripping film\n")
    os.symlink(source, tmp_path / "link.csv")
    for output in (source, tmp_path / "link.csv", tmp_path / "." / "mine.csv"):
        argv = ["predict", "--run", str(smoke_run("pal-cross")), "--task", "sst", "--input", str(source), "--output", str(output)]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "is the --input file" in err and err.count("\n") == 1, err
        assert source.read_text() == "id,sentence\n1,a gripping film\n"
