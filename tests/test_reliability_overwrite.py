"""Reliability, round two: --overwrite that cannot destroy a run, results that cannot lie, a
diverged run that is never "best", run-folder locks, stricter data checks, and one clean line
for every bad input (each test here failed before its fix)."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mtlib.__main__ import main
from mtlib.store.run_folder import RunDir
from mtlib.util.errors import CheckpointError, ConfigError, DataError
from mtlib.util.files import MARKER


def _run(cfg):
    from mtlib.run.pipeline import run

    return run(cfg)


@pytest.fixture
def trained(tiny_cfg, tmp_path):
    """A finished tiny run, its files' bytes, and a way to check they are intact."""
    folder = tmp_path / "trained"
    _run(tiny_cfg(save_path=str(folder)))
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}

    def intact() -> bool:
        return all((folder / rel).is_file() and (folder / rel).read_bytes() == data for rel, data in before.items())

    return folder, intact


def _one_line_error(capsys, argv, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") <= 2, err
    return err


# ---- 1. --overwrite validates first, and clears only mtlib's own run folders --------------------
def test_test_stage_into_its_own_checkpoint_folder_is_refused_and_the_run_kept(trained, capsys, real_data_dir):
    folder, intact = trained
    argv = ["--option", "test", "--pretrained_model_name", str(folder), "--save_path", str(folder), "--overwrite"]
    err = _one_line_error(capsys, [*argv, "--data_dir", str(real_data_dir)])
    assert "holds the checkpoint this run reads" in err
    assert intact()


def test_overwrite_of_a_folder_that_is_not_a_run_deletes_nothing(tmp_path, capsys, real_data_dir):
    foreign = tmp_path / "thesis"
    (foreign / "predictions").mkdir(parents=True)
    (foreign / "predictions" / "mine.csv").write_text("keep")
    (foreign / "results.json").write_text("{}")
    err = _one_line_error(
        capsys, ["--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--save_path", str(foreign), "--overwrite"]
    )
    assert "not an mtlib run folder" in err
    assert (foreign / "predictions" / "mine.csv").read_text() == "keep" and (foreign / "results.json").read_text() == "{}"


def test_a_missing_checkpoint_is_refused_before_the_folder_is_cleared(trained, capsys):
    folder, intact = trained
    err = _one_line_error(capsys, ["--pretrained_model_name", str(folder.parent / "nope"), "--save_path", str(folder), "--overwrite"])
    assert "does not exist" in err and intact()


def test_save_path_that_is_a_file_is_one_clean_line(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert "is a file" in _one_line_error(capsys, ["--encoder", "tiny-random", "--save_path", str(target)])


def test_every_run_folder_carries_the_marker_and_overwrite_clears_stale_files(trained, tiny_cfg):
    folder, _ = trained
    assert (folder / MARKER).is_file()
    (folder / ".model.safetensors.x1y2.tmp").write_bytes(b"torn")  # what a SIGKILL inside a write leaves
    _run(tiny_cfg(save_path=str(folder), overwrite=True))
    assert not (folder / ".model.safetensors.x1y2.tmp").exists()


# ---- 3. a diverged run is never "best" ----------------------------------------------------------
@pytest.mark.parametrize(
    "flag,value", [("--lr", "inf"), ("--lr", "nan"), ("--lr", "2"), ("--task_weights", "sst=inf"), ("--weight_decay", "-1")]
)
def test_non_finite_or_out_of_range_floats_are_refused(capsys, flag, value):
    _one_line_error(capsys, ["--encoder", "tiny-random", flag, value])


def test_the_mean_is_over_all_tasks_or_none():
    from mtlib.train.evaluate import summary

    assert summary({"sst": 0.5, "para": 0.7}) == pytest.approx(0.6)
    assert summary({"sst": 0.5, "sts": float("nan")}) != summary({"sst": 0.5, "sts": float("nan")})  # NaN


def test_weights_that_turn_non_finite_end_the_run_and_nothing_is_saved_as_best(tiny_cfg, tmp_path):
    import torch

    from mtlib.run.pipeline import prepare
    from mtlib.store.run_folder import RunDir as Dir
    from mtlib.train import Trainer
    from mtlib.train.events import UpdateDone
    from mtlib.util.errors import TrainingError

    cfg = tiny_cfg(save_path=str(tmp_path / "diverged"))
    p = prepare(cfg)
    run_dir = Dir.open(cfg)
    trainer = Trainer(cfg, p.model, p.tokenizer, p.data, p.precision, run_dir)

    def poison(e):
        with torch.no_grad():
            next(p.model.parameters()).fill_(float("nan"))

    trainer.register_callback(UpdateDone, poison)
    with pytest.raises(TrainingError, match="diverged"):
        trainer.fit()
    run_dir.release()
    assert not (tmp_path / "diverged" / "model.safetensors").exists()


# ---- 4. the tokenizer belongs to the checkpoint -------------------------------------------------
def test_the_tokenizer_is_rewritten_with_each_checkpoint_and_checked_on_load(trained, tmp_path):
    from mtlib.store.checkpoints import TOKENIZER_SOURCE, check_tokenizer

    folder, _ = trained
    recorded = json.loads((folder / "tokenizer" / TOKENIZER_SOURCE).read_text())
    assert recorded == {"encoder": "tiny-random"}
    check_tokenizer(folder / "tokenizer", "tiny-random")
    with pytest.raises(CheckpointError, match="tokenizer of encoder 'tiny-random'"):
        check_tokenizer(folder / "tokenizer", "minilm-l6")


def test_overwrite_removes_the_old_tokenizer(trained, tiny_cfg):
    folder, _ = trained
    (folder / "tokenizer" / "stale-vocab.txt").write_text("from another encoder")
    _run(tiny_cfg(save_path=str(folder), overwrite=True))
    assert not (folder / "tokenizer" / "stale-vocab.txt").exists()


# ---- 5. one process per run folder --------------------------------------------------------------
def test_a_second_process_on_a_locked_run_folder_gets_one_line_with_the_pid(trained, real_data_dir):
    folder, intact = trained
    holder = RunDir(folder)
    holder.lock()
    try:
        argv = [sys.executable, "-m", "mtlib", "--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--device", "cpu"]
        argv += ["--max_train_examples", "16", "--max_eval_examples", "16", "--epochs", "1", "--save_path", str(folder), "--overwrite"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        holder.release()
    import os

    assert proc.returncode == 2 and f"in use by another mtlib process (PID {os.getpid()})" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and intact()


# ---- 6. the reader does not merge rows ----------------------------------------------------------
HEADER = "\tid\tsentence\tsentiment\n"


def _sst_file(tmp_path, rows):
    path = tmp_path / "ids-sst-train.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_an_unmatched_quote_that_swallows_rows_is_reported_at_its_line(tmp_path):
    from mtlib.config.tasks import TASKS
    from mtlib.data.task_files import read_task_file

    rows = [f"{i}\tid{i}\tsentence {i} .\t{i % 5}\n" for i in range(6)]
    rows[2] = '2\tid2\t"an unmatched quote .\t2\n'
    rows[4] = '4\tid4\tclosed here"\t4\n'  # closes the quote: the csv module merges lines 4-6
    with pytest.raises(
        DataError, match=r"ids-sst-train.csv:4 \(column 'sentence'\): a double quote opened in this field swallowed lines 4 to 6"
    ):
        read_task_file(TASKS["sst"], _sst_file(tmp_path, rows), "train")


def test_a_duplicate_id_is_reported_with_both_lines(tmp_path):
    from mtlib.config.tasks import TASKS
    from mtlib.data.task_files import read_task_file

    rows = ["0\tidA\tone .\t1\n", "1\tidB\ttwo .\t2\n", "2\tidA\tthree .\t3\n"]
    with pytest.raises(DataError, match=r":4 \(column 'id'\): id 'idA' is used twice in this file \(first at line 2\)"):
        read_task_file(TASKS["sst"], _sst_file(tmp_path, rows), "train")


def test_examples_shared_between_train_and_dev_are_counted():
    import numpy as np

    from mtlib.data.task_files import Examples, shared_between_splits

    train = Examples("sst", "train", "t", ["a", "b"], [("Good .",), ("Bad .",)], np.zeros(2))
    dev = Examples("sst", "dev", "d", ["a", "c"], [("good .",), ("Fine .",)], np.zeros(2))
    assert shared_between_splits({"train": train, "dev": dev}) == "dev shares 1 id(s) and 1 identical example(s) with train"


# ---- 7. max_length beyond the encoder's positions -----------------------------------------------
def test_max_length_beyond_the_encoders_positions_is_refused_before_training(tiny_cfg, tmp_path):
    from mtlib.model.encoders import load_encoder

    limit = load_encoder("tiny-random").config.max_position_embeddings
    with pytest.raises(ConfigError, match=f"can read \\({limit} positions\\)"):
        _run(tiny_cfg(save_path=str(tmp_path / "long"), max_length=limit + 1))
    assert not (tmp_path / "long").exists()


# ---- 8. one clean line for every bad input ------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["--weight_decay", "-0.1"],
        ["--max_train_examples", "-1"],
        ["--max_eval_examples", "-5"],
        ["--threads", "-2"],
        ["--seed", "-1"],
        ["--seed", "1e23"],
        ["--epoch", "2"],  # a prefix of --epochs: refused, not guessed
    ],
)
def test_bad_numbers_and_prefixes_are_one_line_exit_2(capsys, argv):
    _one_line_error(capsys, ["--encoder", "tiny-random", *argv])


YAML_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize(
    "content",
    [b"- lr\n- 1\n", b"just a string\n", b"lr: 1e-3\nseed: \xff\xfe\n", b"[" * 20000 + b"]" * 20000, YAML_BOMB.encode(), b"lr: [1, 2]\n"],
    ids=["list", "scalar", "not-utf8", "deep", "alias-bomb", "wrong-type"],
)
def test_bad_yaml_files_are_one_line_exit_2(tmp_path, capsys, content):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    err = _one_line_error(capsys, ["--config", str(path)])
    assert str(path) in err


@pytest.mark.parametrize(
    "name,content", [("model.json", b"\x00\xff random"), ("model.json", b"[1, 2]"), ("model.json", b'{"encoder_name": 3}')]
)
def test_a_damaged_checkpoint_description_is_one_line(trained, tmp_path, capsys, name, content):
    folder, _ = trained
    (folder / name).write_bytes(content)
    err = _one_line_error(capsys, ["--option", "test", "--pretrained_model_name", str(folder), "--save_path", str(tmp_path / "t")])
    assert name in err


def test_a_damaged_training_state_is_one_line(tiny_cfg, tmp_path, capsys):
    folder = tmp_path / "r"
    _run(tiny_cfg(save_path=str(folder), keep_state=True))
    (folder / "state" / "trainer.json").write_text('{"loop": {"bogus": 1}}')
    err = _one_line_error(capsys, ["--resume", str(folder)])
    assert "state" in err


def test_resume_refuses_flags_it_cannot_honour(capsys, tmp_path):
    err = _one_line_error(capsys, ["--resume", str(tmp_path), "--lr", "0.5", "--epochs", "9", "--data_dir", "/nonexistent"])
    assert "--data_dir, --epochs, --lr cannot apply" in err


def test_an_unwritable_run_folder_is_one_line(tiny_cfg, tmp_path, capsys, real_data_dir):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes through read-only permissions; /proc is read-only for everyone")
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    err = _one_line_error(capsys, ["--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--save_path", str(locked / "run")])
    assert "cannot write" in err


def test_a_read_only_file_system_is_one_line(capsys, real_data_dir):
    err = _one_line_error(
        capsys,
        ["--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--max_train_examples", "8", "--save_path", "/proc/mtlib-run"],
    )
    assert "/proc/mtlib-run" in err


def test_the_workbook_refuses_a_yaml_tag_in_a_parameter(capsys):
    from mtlib.workbook.notebooks import runner as workbook

    with pytest.raises(SystemExit) as exit_:
        workbook.main(["--run", "x", "-p", "n=!!python/object/apply:os.system ['touch /tmp/pwned']"])
    assert exit_.value.code == 2 and "not a plain YAML scalar" in capsys.readouterr().err


# ---- 10. the one real unpickling path: a local encoder folder's pytorch_model.bin ---------------
class _Boom:
    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_an_encoder_folder_with_a_code_running_pickle_is_refused_without_running(tmp_path):
    from mtlib.model.encoders import TINY_CONFIG, load_encoder

    marker = tmp_path / "pwned"
    _Boom.marker = marker
    folder = tmp_path / "evil-encoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 30522, **TINY_CONFIG}))
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"embeddings.word_embeddings.weight": _Boom()}))
    # transformers opens .bin files with torch.load(weights_only=True): the pickle is refused, not run
    with pytest.raises(ConfigError, match=r"(?s)is not a Hugging Face BERT folder.*UnpicklingError: Weights only load failed"):
        load_encoder(str(folder))
    assert not marker.exists(), "the pickle ran"


# ---- 8. fuzzed YAML (the command-line fuzz, with the real task files, is tests/test_fuzz.py) ------
def test_fuzzed_yaml_config_files_give_one_line_and_exit_2(tmp_path):
    import contextlib
    import io

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    empty = tmp_path / "empty"
    empty.mkdir()
    pieces = [
        "lr: ",
        "seed: ",
        "tasks: ",
        "stages:",
        "  x: ",
        "- ",
        "&a ",
        "*a",
        "!!python/name:os.system",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "\n",
        "\t",
    ]
    pieces += ["\xff", "1e9", "nan", "sst", "'", '"', "#", "---", "...", "? "]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.one_of(st.sampled_from(pieces), st.text(max_size=4)), max_size=12))
    def check(parts):
        path = tmp_path / "fuzz.yaml"
        path.write_bytes("".join(parts).encode("utf-8", errors="surrogatepass") if parts else b"")
        err = io.StringIO()
        argv = ["--config", str(path), "--encoder", "tiny-random", "--data_dir", str(empty), "--save_path", str(tmp_path / "never")]
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        text = err.getvalue()
        assert code == 2 and "Traceback" not in text and text.strip().count("\n") == 0, (parts, code, text)

    check()


# ---- 8/9. the recipe stopped by a signal; a state that survived only as state.old ----------------
def test_the_recipe_stopped_by_sigterm_says_how_to_continue_and_continues(tmp_path, real_data_dir):
    import os
    import signal
    import time

    argv = [sys.executable, "-m", "mtlib.recipe", "--profile", "smoke", "--run", "r", "--runs_dir", str(tmp_path)]
    argv += ["--set", f"data_dir={real_data_dir}", "--set", "threads=1", "--set", "save_every=1"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    metrics = tmp_path / "r" / "stages" / "finetune" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count('"kind": "train"') >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "Run the same command again to continue" in err
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "[finetune] resuming the interrupted stage" in again.stdout
    assert (tmp_path / "r" / "results.json").is_file()


def test_a_stage_whose_state_survived_only_as_state_old_resumes(tiny_cfg, tmp_path, monkeypatch, real_data_dir):
    """A kill between the two renames of a state save leaves only state.old/: the stage resumes
    from it instead of starting again."""
    from mtlib.store.checkpoints import state_exists
    from mtlib.workbook.training import stages

    monkeypatch.setenv("MTLIB_DATA_DIR", str(real_data_dir))
    run = tmp_path / "run"
    folder = stages.stage_folder(run, "individual_pretrain")
    cfg = stages.stage_config("smoke", run, "individual_pretrain", {"keep_state": True, "threads": 1})
    _run(cfg)
    (folder / "results.json").unlink()  # as if killed before the end
    (folder / "state").rename(folder / "state.old")
    assert state_exists(folder / "state")
    said = []
    stages.run_stage("smoke", run, "individual_pretrain", {"keep_state": True, "threads": 1}, say=said.append)
    assert any("resuming the interrupted stage" in s for s in said), said
