"""benchmarks/baselines.py: the threshold search, and both baselines end to end on a tiny model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import baselines  # noqa: E402
from mtlib.workbook.result_tables import summarise  # noqa: E402


def test_best_threshold_maximises_accuracy():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    labels = np.array([0, 0, 1, 0, 1, 1])
    cut, acc = baselines.best_threshold(scores, labels)
    assert acc == pytest.approx(5 / 6) and (0.2 < cut < 0.3 or 0.7 < cut < 0.8)
    brute = max(np.mean((scores > c) == labels) for c in np.linspace(0, 1, 1001))
    assert acc == pytest.approx(brute)
    assert baselines.best_threshold(np.array([0.5, 0.6]), np.array([1, 1]))[1] == 1.0  # all positive: cut below all


def test_zero_shot_and_trainer_runs_are_recordable(tmp_path, real_data_dir):
    common = ["--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--train_limit", "48", "--dev_limit", "40", "--threads", "1"]
    assert baselines.main(["zero-shot", "--out", str(tmp_path / "zs"), *common]) == 0
    zs = json.loads((tmp_path / "zs" / "results.json").read_text())
    assert set(zs["dev"]) == {"sts", "para"} and -1 <= zs["dev"]["sts"] <= 1 and 0 <= zs["dev"]["para"] <= 1
    assert zs["details"]["para"]["held_out_accuracy_at_its_own_best_threshold"] >= zs["dev"]["para"]
    assert baselines.main(["trainer", "--task", "sst,sts", "--epochs", "1", "--out", str(tmp_path / "tr"), *common]) == 0
    tr = json.loads((tmp_path / "tr" / "results.json").read_text())
    assert set(tr["dev"]) == {"sst", "sts"} and tr["per_task"]["sst"]["epochs"] == 1 and tr["per_task"]["sts"]["dev_examples"] == 40
    summary = summarise(tmp_path / "tr", label="Trainer")
    assert summary["command"].startswith("python benchmarks/baselines.py trainer --task sst,sts") and summary["device"] == "cpu"
    with pytest.raises(SystemExit, match="unknown task"):
        baselines.main(["trainer", "--task", "nli", "--out", str(tmp_path / "x"), *common])
