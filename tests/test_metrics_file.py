"""metrics.jsonl's one schema (`mtlib.store.metrics_file`): records round-trip, an old file is
read, and a file this mtlib cannot read is refused in one line naming the file and the line."""

from __future__ import annotations

import json

import pytest

from mtlib.store import metrics_file
from mtlib.store.metrics_file import FORMAT_VERSION, Conflict, Dev, PhaseStart, Skipped, Start, Train
from mtlib.util.errors import ConfigError

RECORDS = [
    Start(0, "finetune", ["para trains on a split of quora-dev.csv"], format=FORMAT_VERSION),
    PhaseStart(0, "finetune", {"sst": 4, "para": 2}, 2, 3, 6),
    Conflict(1, {"sst-para": -0.25}),
    Skipped(2, ["sts"]),
    Train(3, 1, {"sst": 2, "para": 1}, {"sst": 1.5, "para": 0.5}, 1e-5),
    Dev("finetune", 1, 3, {"sst": 0.4, "para": 0.7}, 0.55, True),
]


def test_every_record_round_trips_through_its_json_line(tmp_path):
    for record in RECORDS:
        metrics_file.append(tmp_path, record)
    assert metrics_file.read(tmp_path) == RECORDS
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert kinds == ["start", "phase", "conflict", "skipped", "train", "dev"]
    assert metrics_file.of_type(metrics_file.read(tmp_path), Train) == [RECORDS[4]]


def test_a_file_from_before_the_format_version_is_read_as_version_1(tmp_path):
    """The lines a run wrote before 2026-12-07: a start line without `format`, and a kind no
    longer written, which an old file may hold and is left out."""
    lines = [
        {"kind": "start", "step": 0, "option": "finetune", "notes": []},
        {"kind": "train", "step": 1, "epoch": 1, "tasks": {"sst": 1}, "loss": {"sst": 1.0}, "lr": 0.001},
        {"kind": "retired", "step": 1},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert metrics_file.read(tmp_path) == [Start(0, "finetune", [], format=1), Train(1, 1, {"sst": 1}, {"sst": 1.0}, 0.001)]


def test_a_torn_last_line_is_skipped_and_a_torn_middle_line_is_refused(tmp_path):
    file = tmp_path / "metrics.jsonl"
    metrics_file.append(tmp_path, RECORDS[0])
    file.write_text(file.read_text() + '{"kind": "tra')
    assert metrics_file.read(tmp_path) == [RECORDS[0]]
    file.write_text(file.read_text() + "\n" + metrics_file.to_line(RECORDS[4]) + "\n")
    with pytest.raises(ConfigError, match=r"metrics.jsonl: line 2: not JSON"):
        metrics_file.read(tmp_path)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ({"kind": "start", "step": 0, "option": "finetune", "format": FORMAT_VERSION + 1}, "newer than"),
        ({"kind": "retired", "step": 1}, "unknown record kind 'retired'"),
        ({"kind": "train", "step": 1, "epoch": 1, "tasks": {}, "loss": {}}, "a 'train' record lacks 'lr'"),
        ([1, 2], "expected a JSON object with a 'kind'"),
    ],
)
def test_a_file_this_mtlib_cannot_read_is_refused_naming_the_file_and_line(tmp_path, line, why):
    file = tmp_path / "metrics.jsonl"
    metrics_file.append(tmp_path, RECORDS[0])
    file.write_text(file.read_text() + json.dumps(line) + "\n")
    with pytest.raises(ConfigError, match="metrics.jsonl: line [12]: ") as caught:
        metrics_file.read(tmp_path)
    assert why in str(caught.value)
