"""What `python -m mtlib predict` reads: a CSV or TSV with the task's text columns, plain text
(one example a line, a pair as two tab-separated fields), or `--text` given on the command line,
each checked at its line before a model loads; and the `--output` it will write."""

from __future__ import annotations

import csv
import io
import os
import sys
from pathlib import Path

import pandas as pd

from ..config.tasks import TaskSpec
from ..util.errors import ConfigError, DataError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
MAX_TEXT_CHARS = 100_000  # a sentence is a few hundred; the tokenizer needs ~100 bytes a character of one line
QUOTING = 'quote a field that holds the separator, doubling its quotes: "It was fine, I guess." or "She said ""hi"", then left."'


def read_inputs(source: str, spec: TaskSpec) -> pd.DataFrame:
    """The input table (`-`: stdin). A `.csv`/`.tsv` file is a table with a header naming the
    task's text columns (an `id` column is kept); so is stdin or another file whose first line is
    such a header. Anything else (a `.txt` file, say) is plain text: one example a line, a pair as
    two tab-separated fields, numbered by `line`."""
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the input ({exc})", name) from None
    if not text.strip():
        raise DataError("the input is empty", name, 1)
    suffix = "" if source == "-" else Path(source).suffix.lower()
    first = text.splitlines()[0]
    sep = TABLE_SUFFIXES.get(suffix) or ("\t" if "\t" in first else ",")
    header = [c.strip().strip('"') for c in first.split(sep)]
    is_table = suffix in TABLE_SUFFIXES or (suffix != ".txt" and all(c in header for c in spec.text_columns))
    table = _read_table(text, name, sep, spec) if is_table else _read_lines(text, name, spec)
    empty = [i for i in range(len(table)) if not all(table.at[i, c] for c in spec.text_columns)]
    if empty:
        where = int(table.attrs["lines"][empty[0]])
        raise DataError(f"{len(empty)} example(s) have an empty text field (first: line {where})", name, where)
    return _short_enough(table, name)


def _short_enough(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """A text field over `MAX_TEXT_CHARS` is refused at its line: the model reads a few hundred
    tokens of it, and tokenizing one 94 MB line took 10.9 GB before the process was killed."""
    for column in (c for c in table.columns if c not in ("id", "line")):
        lengths = table[column].str.len().to_numpy()
        if len(lengths) and lengths.max() > MAX_TEXT_CHARS:
            where = int(table.attrs["lines"][int(lengths.argmax())])
            message = f"a text of {int(lengths.max()):,} characters; at most {MAX_TEXT_CHARS:,} are read"
            raise DataError(message, name, where, hint="split the text into sentences")
    return table


def _read_table(text: str, name: str, sep: str, spec: TaskSpec) -> pd.DataFrame:
    """A CSV/TSV with a header. In a one-column file an unquoted separator is part of the text
    (`It was fine, I guess.` is one sentence); elsewhere a row of the wrong width is refused at
    its line, with how to quote."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, strict=True)
    rows, lines, start = [], [], 1
    try:
        for fields in reader:
            if fields:
                rows.append(fields)
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        problem = (
            "a quote opened on this line is never closed" if "end of data" in str(exc) else "a quoted field goes on after its closing quote"
        )
        raise DataError(f"{problem} ({exc})", name, start, hint=QUOTING) from None
    header = [c.strip() for c in rows[0]]
    missing = [c for c in spec.text_columns if c not in header]
    if missing:
        raise DataError(
            f"the header lacks column(s) {missing}; it has {header}",
            name,
            1,
            hint=f"{spec.title} reads the column(s) {list(spec.text_columns)} (an `id` column is kept); "
            "or give plain text, one example a line, as a .txt file",
        )
    body = []
    for fields, line in zip(rows[1:], lines[1:]):
        if len(fields) != len(header):
            if len(header) == 1:
                fields = [sep.join(fields)]  # the separator was meant as text
            else:
                shown = "tab" if sep == "\t" else repr(sep)
                raise DataError(f"{len(fields)} {shown}-separated fields where the header names {len(header)}", name, line, hint=QUOTING)
        body.append([f.strip() for f in fields])  # as the task-file reader does
    table = pd.DataFrame(body, columns=header, dtype=str)
    table.attrs["lines"] = lines[1:]
    return table


def _read_lines(text: str, name: str, spec: TaskSpec) -> pd.DataFrame:
    """Plain text: one example a line (blank lines skipped); a pair as two tab-separated fields."""
    rows, numbers = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")] if spec.is_pair else [line.strip()]
        if len(fields) != len(spec.text_columns):
            raise DataError(
                f"{len(fields)} tab-separated field(s); {spec.title} reads a pair a line", name, number, hint="sentence1<TAB>sentence2"
            )
        rows.append(fields)
        numbers.append(number)
    table = pd.DataFrame(rows, columns=list(spec.text_columns), dtype=str)
    table.insert(0, "line", numbers)
    table.attrs["lines"] = numbers
    return table


def text_inputs(texts: list[str], spec: TaskSpec) -> pd.DataFrame:
    """`--text` given once (a sentence) or twice (a pair) as a one-row table."""
    if len(texts) != len(spec.text_columns):
        wanted = "once, with a sentence" if len(spec.text_columns) == 1 else "twice, once for each sentence of the pair"
        raise ConfigError(f"{spec.title} takes --text {wanted}; it was given {len(texts)} time(s)")
    if not all(t.strip() for t in texts):
        raise ConfigError("--text is empty; give the sentence to answer")
    table = pd.DataFrame([[t.strip() for t in texts]], columns=list(spec.text_columns), dtype=str)
    table.attrs["lines"] = [1]
    return _short_enough(table, "--text")


def check_output(output: str, source: object = None) -> None:
    """An `--output` that cannot be a file, or that is the `--input` file (`source`; through a
    link or another spelling too), is refused before anything is predicted."""
    if output != "-" and Path(output).is_dir():
        raise ConfigError(f"--output {output} is a folder; give the CSV file to write (e.g. {Path(output) / 'answers.csv'})")
    if isinstance(source, (str, Path)) and str(source) != "-" and output != "-" and Path(output).exists() and Path(source).exists():
        if os.path.samefile(output, source):
            raise ConfigError(
                f"--output {output} is the --input file {source}; writing it would destroy the input: choose another --output"
            )
