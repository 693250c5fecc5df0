"""A run recorded before the core moved into folders (issue 27) still reads and loads: its stages'
results.json and config.yaml, the workbook's results.json, metrics.jsonl, and checkpoints of the
old layout (tests/fixtures/run-before-issue-27, see its README)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

FIXTURE = Path(__file__).parent / "fixtures" / "run-before-issue-27"
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}


@pytest.fixture(scope="module")
def old_run(tmp_path_factory) -> Path:
    """The recorded run, relocated into a temporary folder, with weights of the recorded layout."""
    from safetensors.torch import save_file

    from mtlib.model.encoders import load_tokenizer

    run = tmp_path_factory.mktemp("old") / "old-smoke"
    shutil.copytree(FIXTURE, run)
    tokenizer_dir = run.parent / "tokenizer"
    load_tokenizer("tiny-random").save_pretrained(str(tokenizer_dir))
    generator = torch.Generator().manual_seed(0)
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".jsonl", ".txt", ".md"):
            path.write_text(path.read_text(encoding="utf-8").replace("/RUN-FOLDER", str(run)), encoding="utf-8")
    for recorded in run.glob("stages/*/weights.json"):
        layout = json.loads(recorded.read_text())
        tensors = {k: torch.randn(shape, generator=generator).to(DTYPES[dtype]) for k, (shape, dtype) in layout["shapes"].items()}
        save_file(tensors, str(recorded.parent / "model.safetensors"), metadata=layout["metadata"])
        shutil.copy(tokenizer_dir / "tokenizer.json", recorded.parent / "tokenizer" / "tokenizer.json")
    return run


def test_an_old_runs_records_read(old_run):
    from mtlib.store.recorded_config import recorded_config
    from mtlib.store.results_file import RunResult, with_current_names
    from mtlib.workbook.sections import history
    from mtlib.workbook.training.stages import STAGE_NAMES, finished_stages, reported_stage

    done = finished_stages(old_run)
    assert list(done) == list(STAGE_NAMES)
    for folder in done.values():
        result = RunResult.read(folder)
        assert set(result.dev) == {"sst", "para", "sts"} and result.checkpoint.endswith("model.safetensors")
        cfg = recorded_config(folder)
        assert cfg.model.encoder == "tiny-random" and cfg.data.max_train_examples == 16
    assert recorded_config(done["finetune"]).multitask.task_scheduler == "pal"
    workbook = with_current_names(json.loads((old_run / "results.json").read_text()))
    assert workbook["reported_stage"] == reported_stage(done)
    losses = history.train_losses(done)
    assert len(losses) > 0 and set(losses["task"]) <= {"sst", "para", "sts"}


def test_an_old_runs_checkpoints_load_and_predict(old_run):
    import mtlib
    from mtlib.run.pipeline import load_model

    for stage in ("individual_pretrain", "finetune", "finetune_vaccine"):
        model, tokenizer = load_model(old_run / "stages" / stage)
        assert model.spec.encoder_name == "tiny-random" and tokenizer("a film")["input_ids"]
    assert load_model(old_run / "stages" / "finetune_vaccine")[0].spec.use_pal
    predictor = mtlib.load(old_run, device="cpu")
    scores = predictor.similarity([("a man plays a guitar", "a man plays music")])
    assert len(scores) == 1 and all(0.0 <= float(v) <= 5.0 for v in scores.select_dtypes("number").iloc[0])
