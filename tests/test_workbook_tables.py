"""The workbook's tables on hand-made inputs: exploration, recorded metrics, baselines, analysis."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mtlib.data.task_files import DroppedRow, Examples
from mtlib.store import metrics_file
from mtlib.store.metrics_file import Conflict, Dev, PhaseStart, Train
from mtlib.workbook.reports import report
from mtlib.workbook.sections import analysis, explore, history
from mtlib.workbook.sections import trivial_baselines as baselines


def examples(task, split, texts, labels=None, dropped=()):
    ids = [f"{split}{i}" for i in range(len(texts))]
    return Examples(
        task, split, "mem", ids, [tuple(t) for t in texts], None if labels is None else np.asarray(labels, float), list(dropped)
    )


# ---- explore -----------------------------------------------------------------------------------
def test_overlap_normalises_text_and_matches_pairs_in_either_order():
    splits = {
        "sts": {
            "train": examples("sts", "train", [("A cat sits.", "A dog runs."), ("x", "y")], [1, 2]),
            "dev": examples("sts", "dev", [("a  DOG runs.", "a cat sits."), ("z", "w")], [3, 4]),
        }
    }
    table = explore.sentence_overlap(splits).set_index("unit")
    assert table.loc["pair", "shared"] == 1 and table.loc["pair", "share of later"] == 0.5
    assert table.loc["sentence", "shared"] == 2 and table.loc["sentence", "unique in later"] == 4


def test_truncation_table_counts_examples_over_the_limit():
    lengths = pd.DataFrame({"task": "sst", "split": "train", "length": [10, 20, 65, 64, 100]})
    row = explore.truncation_table(lengths, 64).loc[("sst", "train")]
    assert row["truncated"] == 2 and row["truncated share"] == pytest.approx(0.4) and row["max"] == 100


def test_dropped_rows_are_listed_once_when_splits_share_a_file():
    shared = [DroppedRow("data/quora-dev.csv", 7, "sentence2", "empty field")]
    splits = {"para": {s: examples("para", s, [("a", "b")], [1], shared) for s in ("train", "dev")}}
    assert explore.dropped_rows(splits).to_dict("records") == [
        {"task": "para", "file": "quora-dev.csv", "line": 7, "column": "sentence2", "reason": "empty field"}
    ]
    assert explore.split_sizes(splits).loc["para", "dropped"] == 1


def test_label_distribution_shares_sum_to_one_and_skip_unlabelled_splits():
    splits = {
        "sst": {"train": examples("sst", "train", [("a",)] * 4, [0, 1, 1, 4]), "test": examples("sst", "test", [("b",)])},
        "sts": {"train": examples("sts", "train", [("a", "b")] * 3, [0.0, 2.5, 5.0])},
    }
    table = explore.label_distribution(splits)
    assert set(table["split"]) == {"train"}
    assert table.groupby("task")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert table[(table.task == "sst") & (table.label == "1")]["count"].item() == 2


# ---- history -----------------------------------------------------------------------------------
def write_metrics(folder, records):
    folder.mkdir(parents=True)
    for record in records:
        metrics_file.append(folder, record)
    return folder


def test_stages_share_one_step_axis_and_sampling_counts_batches(tmp_path):
    first = write_metrics(
        tmp_path / "a",
        [
            PhaseStart(0, "finetune", {"sst": 3, "sts": 1}, 2, 1, 2),
            Train(1, 1, {"sst": 2}, {"sst": 1.0}, 0.1),
            Train(2, 1, {"sst": 1, "sts": 1}, {"sst": 0.5, "sts": 2.0}, 0.1),
            Conflict(2, {"sst-sts": -0.25}),
            Dev("finetune", 1, 2, {"sst": 0.3}, 0.3, True),
        ],
    )
    second = write_metrics(
        tmp_path / "b",
        [
            Train(1, 1, {"sts": 1}, {"sts": 1.5}, 0.01),
            Conflict(1, {"sst-sts": 0.5}),
        ],
    )
    stages = {"one": first, "two": second}
    assert history.stage_spans(stages).to_dict("records") == [
        {"stage": "one", "start": 1, "end": 2},
        {"stage": "two", "start": 3, "end": 3},
    ]
    assert history.train_losses(stages)["global_step"].tolist() == [1, 2, 2, 3]
    summary = history.sampling_summary(stages).set_index(["stage", "task"])
    assert summary.loc[("one", "sst"), "batches"] == 3 and summary.loc[("one", "sst"), "share"] == pytest.approx(0.75)
    assert summary.loc[("one", "sts"), "size share"] == pytest.approx(0.25)
    conflicts = history.conflict_summary(stages).set_index("stage")
    assert conflicts.loc["one", "conflicting"] == 1.0 and conflicts.loc["two", "conflicting"] == 0.0
    assert history.dev_scores(stages)["global_step"].tolist() == [2]


# ---- baselines ---------------------------------------------------------------------------------
def test_stage_progress_gives_every_stage_the_same_width():
    """A stage of 100 updates and one of 2 each span one unit of the axis; a task's updates fill
    its stage in order (slot centres), a dev pass sits after the updates before it, and a stage
    where the task trained nothing is read by its update steps."""
    import pandas as pd

    from mtlib.workbook.sections import history

    spans = pd.DataFrame({"stage": ["long", "short"], "start": [1, 101], "end": [100, 102]})
    steps = [*range(1, 101, 2), 101, 102]  # sst trains every other update of "long", both of "short"
    losses = pd.DataFrame({"stage": ["long"] * 50 + ["short"] * 2, "task": "sst", "global_step": steps})
    x = history.stage_progress(losses, losses, spans)
    assert x.iloc[0] == pytest.approx(0.01) and x.iloc[49] == pytest.approx(0.99)
    assert x.iloc[50:].tolist() == pytest.approx([1.25, 1.75])
    dev = pd.DataFrame(
        {"stage": ["long", "long", "short", "short"], "task": ["sst", "sst", "sst", "sts"], "global_step": [50, 100, 102, 101]}
    )
    assert history.stage_progress(dev, losses, spans, at_end=True).tolist() == pytest.approx([0.5, 1.0, 2.0, 1.5])


def test_baselines_predict_the_majority_class_and_the_mean():
    train = {"sst": np.array([3, 3, 1, 0]), "para": np.array([0, 0, 1]), "sts": np.array([1.0, 3.0])}
    dev = {"sst": np.array([3, 1, 3, 3]), "para": np.array([1, 0]), "sts": np.array([0.0, 5.0])}
    table = baselines.baseline_table({"sst": 0.5, "para": 0.5, "sts": 0.4}, train, dev)
    assert table.loc["sst", "baseline"] == 0.75 and table.loc["sst", "gain"] == -0.25
    assert table.loc["para", "baseline"] == 0.5
    assert table.loc["sts", "baseline"] == 0.0 and "2" in table.loc["sts", "baseline predicts"]


# ---- analysis ----------------------------------------------------------------------------------
def sst_frame():
    probs = np.array([[0.9, 0.1, 0, 0, 0], [0.2, 0.7, 0.1, 0, 0], [0.1, 0.1, 0.6, 0.1, 0.1], [0.0, 0.0, 0.0, 0.95, 0.05]])
    frame = pd.DataFrame(probs, columns=[f"p{i}" for i in range(5)])
    return frame.assign(id=list("abcd"), sentence=["s0", "s1", "s2", "s3"], label=[0, 0, 2, 4], prediction=probs.argmax(1))


def test_confident_errors_are_wrong_predictions_surest_first():
    errors = analysis.confident_errors("sst", sst_frame(), 5)
    assert errors["sentence"].tolist() == ["s3", "s1"]
    assert errors["confidence"].tolist() == pytest.approx([0.95, 0.7])
    assert errors["p(gold)"].tolist() == pytest.approx([0.05, 0.2])


def test_per_class_report_and_confusion_matrix_cover_every_class():
    frames = {"sst": sst_frame()}
    matrix = analysis.confusion_matrix_of("sst", frames["sst"])
    assert matrix.shape == (5, 5) and matrix[0, 1] == 1 and matrix[4, 3] == 1 and matrix.trace() == 2
    table = analysis.per_class_report(frames).set_index("class")
    assert len(table) == 5 and table["support"].sum() == 4
    assert table.iloc[0]["precision"] == 1.0 and table.iloc[0]["recall"] == 0.5


def test_sts_residuals_show_regression_toward_the_mean():
    gold = np.array([0.0, 0.5, 2.5, 4.5, 5.0])
    frame = pd.DataFrame({"label": gold, "prediction": 2.5 + 0.2 * (gold - 2.5)})
    table = analysis.residuals_by_bin(frame, analysis.bin_edges("sts"))
    assert list(table.index) == ["0-1", "1-2", "2-3", "3-4", "4-5"]
    assert table.loc["0-1", "bias"] > 0 > table.loc["4-5", "bias"]
    assert table["examples"].tolist() == [2, 0, 1, 0, 2]


def test_scores_with_ci_bracket_the_score():
    rng = np.random.default_rng(0)
    gold = rng.uniform(0, 5, 200)
    frame = pd.DataFrame({"id": map(str, range(200)), "sentence1": "a", "sentence2": "b", "label": gold})
    frame = frame.assign(prediction=gold + rng.normal(0, 1, 200))
    frame["probability"] = frame["prediction"]
    row = analysis.scores_with_ci({"sts": frame}, resamples=200).loc["sts"]
    assert row["ci low"] < row["score"] < row["ci high"] and 0.7 < row["score"] < 0.95


# ---- report ------------------------------------------------------------------------------------
def test_report_tables_keep_stage_order_after_a_json_round_trip(tmp_path):
    figure = tmp_path / "figures" / "run" / "04_sst_confusion.png"

    def stage(score, name):
        return {"dev": {"sst": score, "para": 0.75, "sts": 0.25}, "dev_mean": score, "wall_seconds": 3.0, "run": str(tmp_path / name)}

    results = {
        "run": "run",
        "profile": "cpu",
        "encoder": "minilm-l6",
        "device": "cpu",
        "created": "now",
        "git": {"commit": "abc", "dirty": False},
        "reported_stage": "finetune_vaccine",
        "dev": {"sst": 0.5, "para": 0.75, "sts": 0.25},
        "ci95": {"sst": [0.4, 0.6], "para": [0.7, 0.8], "sts": [0.1, 0.4]},
        "stages": {"individual_pretrain": stage(0.3, "individual_pretrain"), "finetune_vaccine": stage(0.5, "finetune_vaccine")},
        "notebooks": {"04": {"seconds": 12.0, "executed": str(tmp_path / "runs" / "run" / "notebooks" / "04_x.ipynb")}},
        "total_seconds": 12.0,
        "figures": [str(figure)],
    }
    stored = json.loads(json.dumps(results, sort_keys=True))  # as results.json holds it
    text = report.markdown(stored, tmp_path / "runs" / "run")
    lines = text.splitlines()
    assert lines.index("| SST-5 sentiment | accuracy | 0.300 | **0.500** | [0.400, 0.600] |") < lines.index(
        "| Quora paraphrase | accuracy | 0.750 | **0.750** | [0.700, 0.800] |"
    )
    assert "| mean |  | 0.300 | **0.500** |  |" in lines
    assert "`individual_pretrain` → `finetune_vaccine`" in text
    assert "](../../figures/run/04_sst_confusion.png)" in text
    assert "| 04_x | 12.0 |" in lines


def test_overwriting_a_run_folder_starts_its_records_afresh(tmp_path):
    from mtlib.config.config import Config
    from mtlib.store.metrics_file import Start
    from mtlib.store.metrics_file import read as read_metrics
    from mtlib.store.run_folder import RunDir

    cfg = Config.from_dict({"save_path": str(tmp_path / "run"), "overwrite": True})
    first = RunDir.open(cfg)
    first.log(Start(0, "finetune"))
    (first.predictions).mkdir()
    first.release()  # a run holds its folder's lock until it ends
    second = RunDir.open(cfg)
    second.log(Start(0, "finetune"))
    assert len(read_metrics(second.path)) == 1 and not second.predictions.exists()


def test_the_reported_stage_is_the_best_mean_dev_score_and_a_tie_goes_to_the_later_stage():
    def stages(*means):
        names = ("individual_pretrain", "finetune", "finetune_vaccine")
        return {n: {"dev_mean": m} for n, m in zip(names, means)}

    assert report.reported_stage_of(stages(0.3, 0.74, 0.73)) == "finetune"  # a short stage 3 lowered the mean
    assert report.reported_stage_of(stages(0.3, 0.73, 0.74)) == "finetune_vaccine"
    assert report.reported_stage_of(stages(0.3, 0.74, 0.74)) == "finetune_vaccine"
    assert report.reported_stage_of(json.loads(json.dumps(stages(0.9, 0.5, 0.4), sort_keys=True))) == "individual_pretrain"
