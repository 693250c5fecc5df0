"""Hypothesis over the commands, with the real task files, so that the fuzz reaches past data
loading: training values (the tiny model on a few rows), predict inputs, export and compare
paths. Every outcome is a success or one clean line with exit 2 or 3 (an `MtlibError`, a bad
path): any other exception fails the test with its traceback. Each test draws few examples,
derandomized, so the suite stays short and repeatable."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mtlib.__main__ import main

# no shrinking: a failing example is reported as drawn (shrinking reruns commands for minutes)
FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)

# a tiny run: 4 rows per task, 1 update, dev predictions only
TINY = ["--encoder", "tiny-random", "--device", "cpu", "--max_length", "16", "--batch_size", "2", "--eval_batch_size", "8"]
TINY += ["--max_train_examples", "4", "--max_eval_examples", "4", "--epochs", "1", "--updates_per_epoch", "1"]
TINY += ["--predict_splits", "dev", "--threads", "1", "--no-progress"]

ODD_VALUES = ["-1", "0", "nan", "inf", "-inf", "1e23", "", "x", "sst=1,para", "a=b=c", "1.5", "-0.0", "é", "2**40", "[1]", "{a: 1}"]
# settings whose value sets the cost of a run: only small values (0 rows means all rows)
SMALL = ["-1", "1", "2", "3", "nan", "x", "", "1.5", "1e23", "-0.0"]
COSTLY = {"epochs", "updates_per_epoch", "num_batches_per_epoch", "max_train_examples", "max_eval_examples", "batch_size"}
COSTLY |= {"eval_batch_size", "max_length", "pal_size", "pal_heads", "n_hidden_layers", "batches_per_update", "threads"}
COSTLY |= {"patience", "save_every", "conflict_every"}
# not fuzzed: where the run goes and what it starts from (fixed below), and torch.compile (minutes)
SKIPPED = {"save_path", "resume", "data_dir", "encoder", "overwrite", "debug", "progress", "compile", "device"}


def outcome(argv: list[str]) -> tuple[int, str]:
    """Run `python -m mtlib ARGV` in-process: its exit code and stderr. A code other than 0, 2
    or 3, or a traceback printed or raised, fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refusing a subcommand's flag: usage and one error line
            code = exc.code
    text = err.getvalue()
    assert code in (0, 2, 3), (argv, code, text)
    assert "Traceback" not in text, (argv, text)
    if code:
        assert text.strip().splitlines()[-1].startswith(("mtlib", "usage", "python -m mtlib")), (argv, text)
        assert "error" in text.strip().splitlines()[-1], (argv, text)
    return code, text


def _values(name: str) -> st.SearchStrategy[str]:
    from mtlib.config import _FIELDS

    if name in COSTLY:
        return st.sampled_from(SMALL)
    known = [str(c) for c in (_FIELDS[name].metadata.get("choices") or ())] if name in _FIELDS else []
    allowed = _FIELDS[name].metadata.get("range") if name in _FIELDS else None
    if allowed is not None:  # the ends of the declared range, and beyond them
        known += [str(v) for v in (allowed.low, allowed.high) if v is not None] + [str((allowed.high or 1e6) * 10), str(-1)]
    if name == "tasks":
        known += ["sst", "para,sts", "sts,sts"]
    if name in ("schedule_weights", "task_weights"):
        known += ["sst=1e308", "sst=0,para=0,sts=0", "sts=2"]
    return st.one_of(st.sampled_from(ODD_VALUES + known), st.text(max_size=5))


def _flags() -> list[str]:
    from mtlib.config import _FIELDS

    return sorted(name for name in _FIELDS if name not in SKIPPED)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    from mtlib import paths

    if not (paths.data_dir() / "ids-sst-dev.csv").is_file():
        pytest.skip("task files not found; run `make data`")
    folder = tmp_path_factory.mktemp("fuzz") / "run"
    assert outcome([*TINY, "--data_dir", str(paths.data_dir()), "--save_path", str(folder)])[0] == 0
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_fuzzed_training_values_train_or_give_one_line(tmp_path, real_data_dir):
    """Flags and values over a tiny real run: most stop at validation, the rest train on real
    rows, so the values that only fail after data loading (a PAL too wide to allocate, sampling
    probabilities that overflow) are reached."""
    flags = _flags()

    @FUZZ
    @given(st.lists(st.sampled_from(flags).flatmap(lambda f: st.tuples(st.just(f"--{f}"), _values(f))), min_size=1, max_size=3))
    def check(pairs):
        folder = tmp_path / "run"
        shutil.rmtree(folder, ignore_errors=True)
        argv = [*TINY, "--data_dir", str(real_data_dir), "--save_path", str(folder)] + [x for pair in pairs for x in pair]
        code, _ = outcome(argv)
        if code == 0:
            assert (folder / "results.json").is_file() and (folder / "model.safetensors").is_file()

    check()


PREDICT_HEADERS = ["sentence\n", "sentence1,sentence2\n", "sentence1\tsentence2\n", "id,sentence\n", "", "text\n", "\ufeffsentence\n"]
PREDICT_ROWS = ["A fine film .", '"quoted, with a comma"', "unquoted, comma", '"unmatched', "tab\there", "", "é \u00a0 ☃", "x" * 600]


def test_fuzzed_predict_inputs_predict_or_give_one_line(tmp_path, tiny_run):
    before = _files(tiny_run)
    place = st.sampled_from(["out.csv", "folder", "missing/out.csv", "/proc/mtlib-fuzz.csv", "-"])

    @FUZZ
    @given(
        task=st.sampled_from(["sst", "para", "sts", "nope", ""]),
        header=st.sampled_from(PREDICT_HEADERS),
        rows=st.lists(st.lists(st.sampled_from(PREDICT_ROWS), min_size=1, max_size=3), max_size=4),
        sep=st.sampled_from([",", "\t"]),
        output=place,
        batch_size=st.sampled_from(["0", "1", "3", "-1", "x"]),
    )
    def check(task, header, rows, sep, output, batch_size):
        (tmp_path / "folder").mkdir(exist_ok=True)
        source = tmp_path / "in.csv"
        source.write_text(header + "".join(sep.join(r) + "\n" for r in rows), encoding="utf-8")
        target = output if output.startswith(("/", "-")) else str(tmp_path / output)
        argv = ["predict", "--run", str(tiny_run), "--task", task, "--input", str(source), "--output", target]
        outcome([*argv, "--device", "cpu", "--batch_size", batch_size])

    check()
    assert _files(tiny_run) == before, "predict changed the run it read"


def test_fuzzed_export_and_compare_paths_write_or_give_one_line(tmp_path, tiny_run):
    """Export and compare to every kind of place: a new folder, the run itself, its parent, a
    file, a folder of someone's work, a read-only place. The run and the other work stay intact."""
    before = _files(tiny_run)
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("keep")
    (tmp_path / "a-file").write_text("keep")
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_run, damaged, ignore=shutil.ignore_patterns(".lock"))
    (damaged / "results.json").write_text('{"dev": ')
    places = {
        "new": str(tmp_path / "new" / "place"),
        "run": str(tiny_run),
        "parent": str(tiny_run.parent),
        "file": str(tmp_path / "a-file"),
        "thesis": str(thesis),
        "read-only": "/proc/mtlib-fuzz",
        "missing": str(tmp_path / "missing"),
        "damaged": str(damaged),
    }

    @FUZZ
    @given(
        command=st.sampled_from(["export", "compare"]),
        sources=st.lists(st.sampled_from(["run", "missing", "file", "damaged", "thesis"]), min_size=1, max_size=2),
        to=st.sampled_from(sorted(places)),
        overwrite=st.booleans(),
    )
    def check(command, sources, to, overwrite):
        if command == "export":
            argv = ["export", "--run", places[sources[0]], "--to", places[to]] + (["--overwrite"] if overwrite else [])
        else:
            argv = ["compare", *(places[s] for s in sources), "--out", places[to]]
        outcome(argv)
        assert _files(tiny_run) == before, (argv, "the run changed")
        assert (thesis / "thesis.tex").read_text() == "keep" and (tmp_path / "a-file").read_text() == "keep", argv

    check()
