"""runs/<run>/MODEL_CARD.md: the Hugging Face model-card layout, every statement from the run's records."""

from __future__ import annotations

import json

import yaml

from mtlib.config.tasks import TASKS
from mtlib.data.task_files import QUORA_SPLIT_NOTE, md5_of
from mtlib.workbook.reports import model_card
from mtlib.workbook.sections import narrative

SECTIONS = [
    "## Model",
    "## Data",
    "## Training recipe",
    "## Dev results",
    "## Test predictions",
    "## Machine and precision",
    "## Limitations",
]


def test_a_finished_recipe_run_writes_its_model_card(smoke_run, real_data_dir):
    run = smoke_run("pal-cross")
    results = json.loads((run / "results.json").read_text())
    text = (run / "MODEL_CARD.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    # front matter: the model-index holds the reported dev scores
    scores = {r["task"]["name"]: r["metrics"][0]["value"] for r in meta["model-index"][0]["results"]}
    assert scores == {TASKS[t].title: round(v, 4) for t, v in results["dev"].items()}
    assert meta["base_model"] == "tiny-random" and meta["model-index"][0]["name"] == "pal-cross"
    assert [line for line in body.splitlines() if line.startswith("## ")] == SECTIONS
    # the data, with their md5 sums and the para split
    assert QUORA_SPLIT_NOTE in text and f"`{md5_of(real_data_dir / 'ids-sst-dev.csv')}`" in text
    # the recipe and its command; every stage in training order
    assert f"made by `{results['command']}`" in text
    assert text.index("| `individual_pretrain` (") < text.index("| `finetune` (") < text.index("| `finetune_vaccine` (")
    # the dev scores with their intervals, beside the recorded baselines, said not to compare here
    for task, value in results["dev"].items():
        low, high = results["ci95"][task]
        assert f"{value:.3f} [{low:.3f}, {high:.3f}]" in text
    for value in narrative.single_task_baseline()["dev"].values():
        assert f"{value:.3f} [" in text
    assert "do not compare with this run: the encoder is `tiny-random` and the dev sets were capped" in text
    # the test files predicted, the machine and the precision, the limitations
    tested = results["test_stage"]["predicted"]
    assert f"- `sst-test-output.csv`: {tested['sst/test']} rows" in text and "`para-test-output.csv`: 0 rows (no test file" in text
    assert "cpu (host " in text and "precision `off` (setting `amp: off`)" in text
    limits = body.split("## Limitations", 1)[1]
    assert "Smoke profile" in limits and "held-out fifth" in limits and "SST-5 sentiment (" in limits


def test_a_comparable_run_shows_its_difference_to_each_baseline():
    base = narrative.single_task_baseline()
    results = {"reported_stage": "finetune", "dev": {"sst": 0.5, "sts": 0.9}, "ci95": {"sst": [0.48, 0.52], "sts": [0.88, 0.92]}}
    rows = model_card.scores_table(results, comparable=True)
    sst = next(r for r in rows if r.startswith("| SST-5"))
    assert f"({0.5 - base['dev']['sst']:+.3f})" in sst and "0.500 [0.480, 0.520]" in sst
    assert "(+" not in model_card.scores_table(results, comparable=False)[2]


def test_the_model_card_names_paths_relative_to_the_run(smoke_run):
    run = smoke_run("pal-cross")
    results = json.loads((run / "results.json").read_text())
    text = model_card.render(run, results)
    checkpoint = f"`stages/{results['reported_stage']}/model.safetensors`"
    assert f"(the best mean dev score): {checkpoint}" in text and f"predicted with {checkpoint} into `stages/test/predictions`" in text
    # no path of the machine it was made on, outside the command that made it (which names what it was given)
    assert str(run.resolve().parent) not in text.replace(results["command"], "")


CORE_SECTIONS = ["## Model", "## Data", "## Training", "## Dev results", "## Predictions", "## Machine and precision", "## Limitations"]


def test_a_command_line_run_writes_its_own_model_card(tiny_cfg, tmp_path, real_data_dir):
    """Issue 35 item 10: `python -m mtlib` (`mtlib.run.pipeline.run`) writes MODEL_CARD.md into
    its run folder from the core (`mtlib.run.model_card`), without the workbook."""
    from mtlib.run.pipeline import run

    folder = tmp_path / "cli-run"
    result = run(tiny_cfg(save_path=str(folder), predict_splits="dev"))
    text = (folder / "MODEL_CARD.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    scores = {r["task"]["name"]: r["metrics"][0]["value"] for r in meta["model-index"][0]["results"]}
    assert scores == {TASKS[t].title: round(v, 4) for t, v in result.dev.items()}
    assert meta["base_model"] == "tiny-random" and meta["model-index"][0]["name"] == "cli-run"
    assert [line for line in body.splitlines() if line.startswith("## ")] == CORE_SECTIONS
    assert "The checkpoint: `./model.safetensors`" in text and f"`{md5_of(real_data_dir / 'ids-sst-dev.csv')}`" in text
    for task, value in result.dev.items():
        low, high = result.ci95[task]
        assert f"| {TASKS[task].title} | {TASKS[task].metric_name} | {value:.3f} [{low:.3f}, {high:.3f}] |" in text
    assert "- `./predictions/sst-dev-output.csv`" in text and "Training rows were capped at 32 per task" in text
    assert "tiny random encoder" in text and "`amp: off`" in text
    # the test stage of that run: the checkpoint it scored (outside the run: by its name alone), not trained
    tested = tmp_path / "cli-test"
    run(tiny_cfg(save_path=str(tested), option="test", pretrained_model_name=str(folder), predict_splits="dev"))
    card = (tested / "MODEL_CARD.md").read_text()
    assert "The checkpoint: `<outside>/model.safetensors` (scored as given, not trained here)" in card
    assert "# `cli-test`: stage `test`" in card and "Dev chose the checkpoint" not in card


def test_every_stage_of_a_recipe_run_has_a_model_card_and_the_run_its_workbook_card(smoke_run):
    run = smoke_run("pal-cross")
    for stage in ("individual_pretrain", "finetune", "finetune_vaccine", "test"):
        card = (run / "stages" / stage / "MODEL_CARD.md").read_text()
        assert card.startswith("---\n") and f"# `pal-cross/{stage}`" in card
    assert "## Training recipe" in (run / "MODEL_CARD.md").read_text()  # the run's own: the workbook's fuller card
