"""The task-file reader on fixture files with each quirk of the real files and each bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtlib.config.tasks import TASKS
from mtlib.data.task_files import DataWarning, load_task, quora_held_out, read_task_file
from mtlib.util.errors import DataError


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


SST_HEADER = "\tid\tsentence\tsentiment\n"
PARA_HEADER = "\tid\tsentence1\tsentence2\tis_duplicate\n"


def test_real_quirks_read_right(tmp_path):
    # triple-quoted fields with embedded quotes, a leading space, PTB tokens, a non-breaking space
    text = PARA_HEADER + '0\ta1\t"""Is ""this"" right?"""\t What is -LRB- it -RRB- ?\t1.0\n1\ta2\tx\u00a08 1/2\ty\t0.0\n'
    ex = read_task_file(TASKS["para"], write(tmp_path, "p.csv", text), "dev")
    assert ex.ids == ["a1", "a2"]
    assert ex.texts[0] == ('"Is "this" right?"', "What is -LRB- it -RRB- ?")
    assert ex.texts[1][0] == "x\u00a08 1/2"
    assert ex.labels.tolist() == [1.0, 0.0]


def test_sst_test_student_extra_column(tmp_path):
    text = "0\t\tid\tsentence\n1\t0.0\tb1\t Effective but too-tepid biopic\n"
    ex = read_task_file(TASKS["sst"], write(tmp_path, "t.csv", text), "test", labelled=False)
    assert ex.ids == ["b1"] and ex.texts == [("Effective but too-tepid biopic",)] and ex.labels is None


def test_empty_fields_are_dropped_and_reported(tmp_path):
    rows = "".join(f"{i}\tid{i}\ts{i}\tt{i}\t1.0\n" for i in range(20))
    text = PARA_HEADER + rows + "20\tbad1\tonly one\t\t1.0\n21\tbad2\tq\tr\t\n"
    with pytest.warns(DataWarning, match=r"dropped 2 row\(s\).*line 22 \(sentence2\).*line 23 \(is_duplicate\)"):
        ex = read_task_file(TASKS["para"], write(tmp_path, "p.csv", text), "dev")
    assert len(ex) == 20 and [(d.line, d.column) for d in ex.dropped] == [(22, "sentence2"), (23, "is_duplicate")]


@pytest.mark.parametrize(
    "task, body, message",
    [
        ("sst", "0\tx1\tfine\t7\n", r"s\.csv:2 \(column 'sentiment'\): label '7' is outside 0\.\.4"),
        ("sst", "0\tx1\tfine\tgood\n", r"s\.csv:2 \(column 'sentiment'\): label 'good' is not a number"),
        ("sst", "0\tx1\tfine\t2.5\n", r"s\.csv:2 \(column 'sentiment'\): label '2.5' is not a whole class number"),
        ("sts", "0\tx1\ta\tb\t5.5\n", r"s\.csv:2 \(column 'similarity'\): label '5.5' is outside 0\.0\.\.5\.0"),
        ("sts", "0\tx1\ta\tb\tnan\n", r"s\.csv:2 \(column 'similarity'\): label 'nan' is outside"),
        ("sst", "0\tx1\tfine\n", r"s\.csv:2: row has 3 tab-separated fields, the header has 4"),
        ("sst", "0\tx1\tfine\t1\textra\n", r"s\.csv:2: row has 5 tab-separated fields"),
    ],
)
def test_bad_rows_name_file_line_and_column(tmp_path, task, body, message):
    header = SST_HEADER if task == "sst" else "\tid\tsentence1\tsentence2\tsimilarity\n"
    with pytest.raises(DataError, match=message):
        read_task_file(TASKS[task], write(tmp_path, "s.csv", header + "0\tok\tfine\t1\n"[:0] + body), "train")


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match=r"(?s)missing.*make data"):
        read_task_file(TASKS["sst"], tmp_path / "nope.csv", "train")
    with pytest.raises(DataError, match=r"e\.csv:1: file is empty"):
        read_task_file(TASKS["sst"], write(tmp_path, "e.csv", ""), "train")
    with pytest.raises(DataError, match=r"h\.csv:1: header lacks column\(s\) \['sentiment'\]"):
        read_task_file(TASKS["sst"], write(tmp_path, "h.csv", "\tid\tsentence\n0\ta\tb\n"), "train")
    with pytest.raises(DataError, match=r"u\.csv:3: byte 0xff at character 9 is not UTF-8"):
        read_task_file(TASKS["sst"], write(tmp_path, "u.csv", SST_HEADER.encode() + b"0\ta\tb\t1\n1\tb\tbad \xff\t1\n"), "train")
    with pytest.raises(DataError, match=r"n\.csv:2: file has a header but no rows"):
        read_task_file(TASKS["sst"], write(tmp_path, "n.csv", SST_HEADER), "train")
    many_empty = SST_HEADER + "".join(f"{i}\tid{i}\t\t1\n" for i in range(30))
    with pytest.raises(DataError, match=r"30 of 30 rows have an empty field"):
        read_task_file(TASKS["sst"], write(tmp_path, "m.csv", many_empty), "train")


# the first rows of ids-sst-train.csv, shortened (line 1 is the header, row index i is on line i + 2)
SST_ROWS = [
    "0\t32a4f146782cbde1b7fa65799\t The Rock is destined to be the 21st Century 's new `` Conan '' .\t3\n",
    "1\t6e0fb51a6fefc7c1b6d77a1d5\t The gorgeously elaborate continuation of `` The Lord of the Rings '' .\t4\n",
    "2\t9b1d25f272afcc21d4508f652\t Singer\\/composer Bryan Adams contributes a slew of songs .\t3\n",
    "3\t40ad03c7e89899424ed723b96\t You 'd think by now America would have had enough .\t2\n",
    "4\t1ade8c062b919bec94fb66db9\t Yet the act is still charming here .\t3\n",
    "5\tfd2acb259d78020f00517d563\t Whether or not you 're enlightened by any of Derrida 's lectures .\t4\n",
    "6\t4d16aa7448d8f3a30d65f8e3a\t Just the labour involved in creating the layered richness .\t4\n",
    "7\t3c72741336a5eae80cc6b1a14\t Part of the charm of Satin Rouge is that it avoids the obvious .\t3\n",
]


def test_a_quote_around_the_leading_index_spanning_two_lines_is_refused_at_its_line(tmp_path):
    # a quote opens before line 6's index and closes after line 7's: the csv module makes one row
    # of the two, whose unnamed leading field holds all of line 6; it used to drop line 6 silently
    rows = list(SST_ROWS)
    rows[4] = '"' + rows[4]
    rows[5] = rows[5].replace("5\t", '5"\t', 1)
    path = write(tmp_path, "ids-sst-train.csv", SST_HEADER + "".join(rows))
    with pytest.raises(DataError) as err:
        read_task_file(TASKS["sst"], path, "train")
    assert str(err.value).startswith(f"{path}:6 (column '#1, unnamed'): a double quote opened in this field swallowed lines 6 to 7")
    assert "-> close the quote on its own line" in str(err.value)


def test_a_quoted_field_holding_a_tab_is_read(tmp_path):
    rows = list(SST_ROWS)
    rows[3] = '3\t40ad03c7e89899424ed723b96\t"You \'d think\tby now"\t2\n'
    ex = read_task_file(TASKS["sst"], write(tmp_path, "ids-sst-train.csv", SST_HEADER + "".join(rows)), "train")
    assert len(ex) == 8 and not ex.dropped
    assert ex.texts[3] == ("You 'd think\tby now",) and ex.labels[3] == 2.0


def test_quora_split_of_the_real_dev_file(real_data_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        splits, notes = load_task(TASKS["para"], real_data_dir)
    if (real_data_dir / "quora-train.csv").exists():
        pytest.skip("the full quora-train.csv is present")
    assert any("md5 split" in n for n in notes)
    train, dev = splits["train"], splits["dev"]
    assert len(train) + len(dev) == 20212  # 20,214 rows, 2 of them with empty fields
    assert (len(train), len(dev)) == (16235, 3977)
    assert set(train.ids).isdisjoint(dev.ids)
    assert all(quora_held_out(i) for i in dev.ids) and not any(quora_held_out(i) for i in train.ids[:500])
    assert set(np.unique(dev.labels)) == {0.0, 1.0}


def test_real_files_read_with_expected_sizes(real_data_dir):
    sizes = {"sst": (8544, 1101, 2210), "sts": (6040, 863, 1725)}
    for task, expected in sizes.items():
        splits, _ = load_task(TASKS[task], real_data_dir)
        assert (len(splits["train"]), len(splits["dev"]), len(splits["test"])) == expected
    sts = load_task(TASKS["sts"], real_data_dir)[0]["train"]
    assert sts.labels.dtype == np.float32 and not np.all(sts.labels == np.round(sts.labels))  # scores stay floats


_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(st.lists(_cell, min_size=0, max_size=6), max_size=6).map(
            lambda rows: "\n".join("\t".join(r) for r in rows).encode("utf-8", "surrogatepass")
        ),
        st.lists(
            st.tuples(
                _cell,
                st.one_of(_cell, st.sampled_from(['"opens', 'closes"', 'a "quote" inside'])),
                st.sampled_from(["0", "1", "4", "9", "x", "", "2.0", '"3"']),
            ),
            max_size=6,
        ).map(lambda rows: (SST_HEADER + "".join(f"{i}\t{a}\t{b}\t{c}\n" for i, (a, b, c) in enumerate(rows))).encode()),
    )
)
def test_fuzzed_files_end_in_rows_or_a_clean_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            ex = read_task_file(TASKS["sst"], path, "train")
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert len(ex.ids) == len(ex.texts) == len(ex.labels) > 0
    assert all(t[0] and t[0] == t[0].strip() for t in ex.texts)
    assert all(v in (0, 1, 2, 3, 4) for v in ex.labels)
    # no row swallowed another: every row kept or dropped came from its own line of the file, and
    # no field holds the line break that a merge leaves behind (a tab in a quoted field is text)
    assert all("\n" not in t[0] and "\r" not in t[0] for t in ex.texts)
    lines = data.decode("utf-8").splitlines()
    assert len(ex.ids) + len(ex.dropped) <= max(len(lines) - 1, 0)
