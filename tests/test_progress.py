"""What a person watching a run sees (issue 35 item 7): a bar over each epoch's updates that stays
when the epoch ends, a bar over the rows of each dev set scored and of each split predicted,
`python -m mtlib predict`'s rows on stderr, and a dev line per epoch that stays in the log.
A tiny random BERT on a few rows; the output is captured as a terminal (bar) or a log (text) shows it."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from mtlib import __main__ as cli
from mtlib.config.config import Config
from mtlib.run.pipeline import run
from mtlib.util import progress

DEV_ROWS = 32  # tiny_cfg's max_eval_examples: every task's dev and test split


def _train(tiny_cfg, tmp_path, **changes):
    """One epoch of two updates, dev scored, test predicted; progress on unless `changes` say otherwise."""
    settings = dict(option="finetune", progress=True, updates_per_epoch=2, predict_splits="dev,test", save_path=str(tmp_path / "run"))
    return run(tiny_cfg(**{**settings, **changes}))


def test_a_terminal_shows_the_epoch_bar_the_dev_bars_and_the_test_bars_and_keeps_the_dev_line(tiny_cfg, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTLIB_PROGRESS", "bar")
    result = _train(tiny_cfg, tmp_path)
    out, err = capsys.readouterr()
    for task in ("sst", "para", "sts"):
        # each dev set scored at the end of the epoch: its bar names the stage, epoch, split and task, with the rows
        assert re.search(rf"\[finetune\] epoch 1/1 dev {task}:\s+\d+%\|.*\| *\d+/{DEV_ROWS} ", err), err
        # the test split predicted after training: its bar stays, at all of its rows (none for a split without rows:
        # quora's test file is absent here)
        rows = result.predicted[f"{task}/test"]
        kept = re.search(rf"\[finetune\] predicting test {task}: 100%\|.*\| {rows}/{rows} .*\n", err)
        assert bool(kept) == bool(rows) and (f"predicting test {task}" in err) == bool(rows), err
    assert result.predicted["sst/test"] == DEV_ROWS
    # the epoch's bar is left on screen at 100% (tqdm's leave=True ends it with a newline)
    assert re.search(r"\[finetune\] epoch 1/1: 100%\|.*\| 2/2 [^\r\n]*\n", err), err
    # and the dev line with the scores stays below it
    assert re.search(r"^\[finetune\] epoch 1/1: dev sst \d\.\d{3}  para \d\.\d{3}  sts -?\d\.\d{3}  mean ", out, re.M), out


def test_a_log_gets_text_lines_of_the_dev_rows_before_the_epoch_line(tiny_cfg, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTLIB_PROGRESS", "text")
    monkeypatch.setattr(progress, "TEXT_EVERY", 0.0)  # a line at every batch, not every 30 s
    _train(tiny_cfg, tmp_path, eval_batch_size=8)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    epoch_line = next(i for i, line in enumerate(lines) if line.startswith("[finetune] epoch 1/1: dev sst "))
    for task in ("sst", "para", "sts"):
        shown = [i for i, line in enumerate(lines) if line.startswith(f"[finetune] epoch 1/1 dev {task}: ")]
        assert shown and max(shown) < epoch_line, out  # the epoch line comes after the rows, and stays last
        assert f"[finetune] epoch 1/1 dev {task}: 8/{DEV_ROWS} rows (25%), " in out and " left" in lines[shown[0]]
    assert "update 1/2 (50%)" in out  # the epoch's own text line, one before its last update
    assert "%|" not in err  # no bar where nobody watches a terminal


def test_progress_off_shows_no_bar_but_still_the_epoch_line(tiny_cfg, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MTLIB_PROGRESS", "bar")
    _train(tiny_cfg, tmp_path, progress=False)
    out, err = capsys.readouterr()
    assert " dev sst:" not in err and "predicting" not in err and "%|" not in err
    assert "[finetune] epoch 1/1: dev sst " in out


def test_predict_shows_its_rows_on_stderr_and_keeps_stdout_for_the_answers(tiny_cfg, tmp_path, monkeypatch, capsys):
    trained = run(tiny_cfg(option="finetune", updates_per_epoch=1, predict_splits="dev", save_path=str(tmp_path / "run")))
    sentences = [f"A film number {i}, {'good' if i % 2 else 'dull'}." for i in range(20)]
    source = tmp_path / "in.txt"
    source.write_text("\n".join(sentences) + "\n")
    argv = ["predict", "--run", str(trained.run), "--task", "sst", "--input", str(source), "--batch_size", "5"]
    for shown, every in (("bar", progress.TEXT_EVERY), ("text", 0.0)):
        monkeypatch.setenv("MTLIB_PROGRESS", shown)
        monkeypatch.setattr(progress, "TEXT_EVERY", every)
        capsys.readouterr()
        assert cli.main(argv) == 0
        out, err = capsys.readouterr()
        answers = pd.read_csv(io.StringIO(out))
        assert len(answers) == 20 and list(answers["line"]) == list(range(1, 21))  # stdout: the CSV alone
        if shown == "bar":
            assert re.search(r"predict sst: 100%\|.*\| 20/20 .*\n", err), err
        else:
            assert "predict sst: 5/20 rows (25%), " in err and "predict sst: 15/20 rows (75%), " in err, err


@pytest.mark.parametrize(("profile", "shown"), [("smoke", True), ("cpu", True), ("study-cpu", False), ("study-gpu", False)])
def test_the_smoke_profile_shows_progress_as_the_others_and_the_study_keeps_its_logs_short(profile, shown):
    assert Config.from_profile(profile).run.progress is shown
