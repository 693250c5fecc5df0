"""benchmarks/baselines.py: the threshold search, and both baselines end to end on a tiny model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import baselines  # noqa: E402
from mtlib.workbook.reports.result_tables import summarise  # noqa: E402


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


def test_a_budget_buys_rows_then_steps_over_all_rows():
    cal = {"step_seconds": 0.5, "dev_row_seconds": 0.01}
    # 60 s share, 1,000 dev rows = 10 s of dev, 50 s = 100 steps of 32 rows
    assert baselines.size_task(60, cal, train_rows=8544, dev_rows=1000, batch_size=32, max_epochs=3) == {
        "rows": 3200, "steps": 100, "epochs": 1.0,
    }  # fmt: skip
    # the same share on a small task: all 1,500 rows (47 steps an epoch) for the 100 steps bought, 2.128 epochs
    assert baselines.size_task(60, cal, train_rows=1500, dev_rows=1000, batch_size=32, max_epochs=3) == {
        "rows": 0, "steps": 100, "epochs": 2.128,
    }  # fmt: skip
    assert baselines.size_task(6000, cal, train_rows=1500, dev_rows=1000, batch_size=32, max_epochs=3)["steps"] == 3 * 47  # capped
    assert baselines.size_task(5, cal, train_rows=1500, dev_rows=1000, batch_size=32, max_epochs=3) == {
        "rows": 32, "steps": 1, "epochs": 1.0,
    }  # at least a batch  # fmt: skip


def test_a_budgeted_trainer_run_trains_the_rows_its_share_buys_and_records_what_it_spent(tmp_path, real_data_dir, monkeypatch):
    monkeypatch.setattr(baselines, "calibrate", lambda args, task: {"step_seconds": 1.0, "dev_row_seconds": 0.0})
    common = ["--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--dev_limit", "40", "--threads", "1", "--batch_size", "16"]
    # 2 tasks x 1.5 s of share = one 16-row step each (the calibration is patched: no machine speed enters)
    assert baselines.main(["trainer", "--task", "sst,sts", "--minutes", str(3 / 60), "--out", str(tmp_path / "b"), *common]) == 0
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    for task in ("sst", "sts"):
        per = res["per_task"][task]
        assert per["train_examples"] == 16 and per["epochs"] == 1 and per["budget"]["rows"] == 16
        assert per["budget"]["spent_seconds"] == pytest.approx(
            per["train_seconds"] + per["dev_seconds"] + per["budget"]["calibration_seconds"]
        )
    # both tasks ran in this call: its minutes are the whole call's, at least what the tasks spent
    assert res["budget_minutes"] == pytest.approx(0.05)
    assert res["wall_seconds"] >= sum(r["budget"]["spent_seconds"] for r in res["per_task"].values())
    with pytest.raises(SystemExit):
        baselines.main(["trainer", "--minutes", "5", "--epochs", "2", *common])


def test_the_calibration_runs_the_real_model_on_real_rows(real_data_dir):
    args = baselines.parse_args(
        ["trainer", "--encoder", "tiny-random", "--data_dir", str(real_data_dir), "--batch_size", "4", "--eval_batch_size", "8"]
    )
    cal = baselines.calibrate(args, "para", steps=1)
    assert cal["step_seconds"] > 0 and cal["dev_row_seconds"] > 0


def test_baselines_write_only_a_run_folder_of_their_own_and_clear_it_only_with_overwrite(tmp_path, monkeypatch, capsys):
    """`trainer --out <a workbook run>` replaced that run's results.json and command.txt. Now a
    folder this script did not make is refused, --overwrite or not, before any work; its own
    folder (`baselines.MARKER`) fills up task by task, and --overwrite clears it first."""

    def no_work(*args, **kwargs):
        pytest.fail("a baseline ran")

    monkeypatch.setattr(baselines, "trainer_task", no_work)
    monkeypatch.setattr(baselines, "zero_shot", no_work)
    workbook = tmp_path / "runs" / "wb1"
    (workbook / "stages").mkdir(parents=True)
    (workbook / ".mtlib-workbook").touch()
    (workbook / "results.json").write_text('{"notebooks": {}}')
    (workbook / "command.txt").write_text("python -m mtlib workbook --profile cpu --run wb1\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    kept = {f: {p.name: p.read_bytes() for p in f.iterdir() if p.is_file()} for f in (workbook, mine)}
    for out in (workbook, mine):
        for kind, overwrite in [("trainer", []), ("trainer", ["--overwrite"]), ("zero-shot", ["--overwrite"])]:
            assert baselines.main([kind, "--out", str(out), *overwrite]) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"baselines.py: error: --out {out}") and "not a run folder of baselines.py (no .mtlib-baseline)" in err
            assert err.count("\n") == 1
    assert {f: {p.name: p.read_bytes() for p in f.iterdir() if p.is_file()} for f in kept} == kept

    def trained(args, task, plan):
        return {"dev": 0.5, "ci95": [0.4, 0.6], "train_seconds": 1.0, "dev_seconds": 0.0}

    monkeypatch.setattr(baselines, "trainer_task", trained)
    own = tmp_path / "own"
    assert baselines.main(["trainer", "--task", "sst", "--out", str(own)]) == 0
    assert baselines.main(["trainer", "--task", "sts", "--out", str(own)]) == 0  # its own folder fills up
    assert (own / baselines.MARKER).is_file() and set(json.loads((own / "results.json").read_text())["dev"]) == {"sst", "sts"}
    assert baselines.main(["trainer", "--task", "sts", "--out", str(own), "--overwrite"]) == 0
    assert set(json.loads((own / "results.json").read_text())["dev"]) == {"sts"} and not (own / "sst.json").exists()
