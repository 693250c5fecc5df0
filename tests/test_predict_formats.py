"""`python -m mtlib predict` for people (issue 35, item 8): `--format csv|tsv|jsonl`, and the input
read from stdin when it is piped and neither `--text` nor `--input` is given."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mtlib
import mtlib.__main__ as cli
from mtlib.config.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent

SENTENCES = ["It was fine, I guess.", 'She said "hi", then left.']


def _printed(capsys, run, *args) -> str:
    capsys.readouterr()
    assert cli.main(["predict", "--run", str(run), *args]) == 0
    return capsys.readouterr().out


def test_jsonl_holds_one_object_per_input_with_its_texts_label_and_probabilities(smoke_run, tmp_path, capsys):
    run = smoke_run("pal-cross")
    predictor = mtlib.load(run, device="cpu")
    (tmp_path / "s.txt").write_text("\n".join(SENTENCES) + "\n")
    lines = _printed(capsys, run, "--task", "sst", "--input", str(tmp_path / "s.txt"), "--format", "jsonl").splitlines()
    records = [json.loads(line) for line in lines]
    expected = predictor.sentiment(SENTENCES)
    assert [r["line"] for r in records] == [1, 2] and [r["sentence"] for r in records] == SENTENCES
    assert [r["label"] for r in records] == list(expected["label"]) and [r["label_id"] for r in records] == list(expected["label_id"])
    for record, (_, row) in zip(records, expected.iterrows()):
        assert set(record["probabilities"]) == set(TASKS["sst"].class_names)
        assert record["probabilities"] == pytest.approx({n: row[f"p({n})"] for n in TASKS["sst"].class_names}, abs=1e-9)
        assert record["probability"] == pytest.approx(record["probabilities"][record["label"]])
        assert not any(k.startswith("p(") for k in record)  # the probabilities once, by class name
    pair = json.loads(_printed(capsys, run, "--task", "sts", "--text", "A man plays.", "--text", "A person plays.", "--format", "jsonl"))
    assert pair["sentence1"] == "A man plays." and pair["sentence2"] == "A person plays." and "probabilities" not in pair
    assert pair["score"] == pytest.approx(predictor.similarity([("A man plays.", "A person plays.")])["score"][0], abs=1e-6)


def test_tsv_and_the_default_csv_hold_the_same_table(smoke_run, tmp_path, capsys):
    run = smoke_run("pal-cross")
    (tmp_path / "s.txt").write_text("\n".join(SENTENCES) + "\n")
    default = pd.read_csv(io.StringIO(_printed(capsys, run, "--task", "sst", "--input", str(tmp_path / "s.txt"))))
    csv = pd.read_csv(io.StringIO(_printed(capsys, run, "--task", "sst", "--input", str(tmp_path / "s.txt"), "--format", "csv")))
    tsv_text = _printed(capsys, run, "--task", "sst", "--input", str(tmp_path / "s.txt"), "--format", "tsv")
    tsv = pd.read_csv(io.StringIO(tsv_text), sep="\t")
    assert tsv_text.splitlines()[0].split("\t")[:3] == ["line", "sentence", "label"]
    pd.testing.assert_frame_equal(default, csv)
    pd.testing.assert_frame_equal(default, tsv)
    out = tmp_path / "answers.jsonl"  # --output takes the format as given
    assert cli.main(["predict", "--run", str(run), "--task", "sst", "--text", SENTENCES[0], "--format", "jsonl", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["sentence"] == SENTENCES[0]


def test_piped_stdin_is_read_without_input_and_a_terminal_is_refused(smoke_run, monkeypatch, capsys):
    run = smoke_run("pal-cross")
    monkeypatch.setattr("sys.stdin", io.StringIO(SENTENCES[0] + "\n"))
    piped = pd.read_csv(io.StringIO(_printed(capsys, run, "--task", "sst")))
    assert list(piped["sentence"]) == [SENTENCES[0]]
    monkeypatch.setattr("sys.stdin", io.StringIO(SENTENCES[0] + "\n"))  # --input - as before: the same answer
    pd.testing.assert_frame_equal(piped, pd.read_csv(io.StringIO(_printed(capsys, run, "--task", "sst", "--input", "-"))))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal(""))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "--run", str(run), "--task", "sst"])
    assert exit_.value.code == 2 and "pipe the input in" in capsys.readouterr().err


def test_echo_into_the_command_answers_the_line(smoke_run):
    """The shell's own pipe, in a fresh process: `echo "text" | python -m mtlib predict --run R --task sst`."""
    run = smoke_run("pal-cross")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mtlib", "predict", "--run", str(run), "--task", "sst", "--device", "cpu", "--format", "jsonl"],
        input=SENTENCES[0] + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["sentence"] == SENTENCES[0] and record["label"] == mtlib.load(run, device="cpu").sentiment(SENTENCES[:1])["label"][0]
