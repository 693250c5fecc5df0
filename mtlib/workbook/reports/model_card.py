"""`runs/<run>/MODEL_CARD.md`: a finished workbook or recipe run, in the Hugging Face model-card
layout (YAML front matter with a `model-index`, then sections), written by `report.write`.

Every statement comes from what the run folder recorded (results.json, each stage's config.yaml
and manifest.json, the prediction files), as report.md's do: the data and their md5 sums, the
para split, the recipe and its command, the dev scores with bootstrap intervals against the
recorded baselines, the test files predicted, the machine and precision, and the limitations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...config.config import Config
from ...config.tasks import DEV_SPLIT_TASKS, TASKS
from ...run.model_card import HF_TASK, HUB_NAMES, front_matter  # noqa: F401 (the core's card: the front matter is shared)
from ...store.results_file import summary_as_read
from ...util import paths
from ...util.files import atomic_write_text
from ..sections import narrative
from ..training.stages import BY_NAME, STAGE_NAMES, TEST_STAGE

FILE = "MODEL_CARD.md"
BASELINES = {  # recorded runs of the packaged encoder on the whole dev sets (results/, `mtlib.result_tables`)
    "single-task Trainer": narrative.SINGLE_TASK_BASELINE,
    "zero-shot encoder": "results/baseline-zero-shot.json",
}
# settings that tell one stage from another in the recipe table
STAGE_SETTINGS = ("option", "epochs", "num_batches_per_epoch", "lr", "task_scheduler", "projection", "use_pal", "max_train_examples")


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def in_run(path: str | Path, folder: Path) -> str:
    """`path` relative to the run folder (a card names no absolute path of the machine it was
    made on); a path outside the run by its last two parts."""
    path = Path(path)
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return Path(*path.parts[-2:]).as_posix()


def in_project(path: str | Path) -> str:
    """A folder relative to the project root; one outside it by its name."""
    path = Path(path)
    try:
        return path.resolve().relative_to(paths.project_root().resolve()).as_posix()
    except ValueError:
        return path.name


def _settings(folder: Path) -> dict[str, Any]:
    """A stage run folder's recorded settings, by name."""
    return Config.from_run(folder).to_flat()


def baselines() -> dict[str, dict[str, Any]]:
    found = {name: _json(paths.project_root() / rel) for name, rel in BASELINES.items()}
    return {name: b for name, b in found.items() if b}


def _titles() -> str:
    titles = [spec.title for spec in TASKS.values()]
    return ", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else titles[0]


def _cell(value: float | None, ci: list[float] | None = None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def scores_table(results: dict[str, Any], comparable: bool) -> list[str]:
    found = baselines()
    header = ["task", "metric", f"this run ({results['reported_stage']})", *found]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for task in [t for t in TASKS if t in results["dev"]]:
        cells = [TASKS[task].title, TASKS[task].metric_name, _cell(results["dev"][task], results["ci95"][task])]
        for base in found.values():
            value = base.get("dev", {}).get(task)
            gap = f" ({results['dev'][task] - value:+.3f})" if value is not None and comparable else ""
            cells.append(_cell(value, base.get("ci95", {}).get(task)) + gap)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def render(folder: Path, results: dict[str, Any]) -> str:
    """The model card's text (see the module docstring)."""
    results = summary_as_read(results, folder)  # its paths to open, whichever mtlib wrote the file
    order = [s for s in STAGE_NAMES if s in results["stages"]] + [s for s in results["stages"] if s not in STAGE_NAMES]
    stages = {s: Path(results["stages"][s]["run"]) for s in order}  # in training order (results.json sorts its keys)
    stages = {s: (p if p.is_dir() else folder / "stages" / s) for s, p in stages.items()}  # a moved run folder
    final = stages[results["reported_stage"]]
    cfg, manifest = _settings(final), _json(final / "manifest.json")
    data = manifest.get("data", {})
    notes = list(dict.fromkeys(data.get("notes", [])))
    base_model = HUB_NAMES.get(cfg["encoder"], cfg["encoder"])
    full_dev = all(_settings(p)["max_eval_examples"] == 0 for p in stages.values())
    comparable = cfg["encoder"] == "minilm-l6" and full_dev
    command = results.get("command") or f"make workbook PROFILE={results['profile']} RUN={results['run']}"
    counts = manifest.get("parameters", {})
    pal = (
        f"PAL blocks (width {cfg['pal_size']}, {cfg['pal_heads']} heads, {counts.get('pal', 0):,} parameters)"
        if cfg["use_pal"]
        else "no PAL blocks"
    )
    lines = [front_matter(results, base_model), f"# `{results['run']}`: one encoder for {_titles()}", ""]
    lines += [
        "## Model",
        "",
        f"`{base_model}` ({counts.get('encoder', 0):,} parameters), fine-tuned by mtlib on the three tasks at once, with one head per task "
        f"and {pal}. Pooling: {cfg['pooling']}; pairs: `pair_encoding={cfg['pair_encoding']}` (cross: one sequence "
        f"`[CLS] s1 [SEP] s2 [SEP]`; bi: each sentence alone, the head on [u*v, |u-v|]); at most {cfg['max_length']} tokens per example. "
        f"The checkpoint is the one of stage `{results['reported_stage']}` (the best mean dev score): `{in_run(final / 'model.safetensors', folder)}`.",
        "",
        "Use it with `mtlib.load(run)` (`.sentiment`, `.paraphrase`, `.similarity`), `python -m mtlib predict`, or export it to a "
        "Hugging Face folder with `python -m mtlib export` (docs/use-the-model.md).",
        "",
        "## Data",
        "",
        f"The CS224N task files in `{in_project(data['data_dir']) if data.get('data_dir') else '?'}`:",
        "",
        "| file | md5 | rows dropped (empty field) |",
        "|---|---|---|",
        *[f"| `{Path(f).name}` | `{v['md5']}` | {v['rows_dropped']} |" for f, v in data.get("files", {}).items() if f != "splits"],
        "",
        f"Rows used by `{results['reported_stage']}`: "
        + ", ".join(f"{k} {v:,}" for k, v in data.get("files", {}).get("splits", {}).items())
        + ".",
        "",
        *[f"- {n}" for n in notes],
        "",
        "## Training recipe",
        "",
        f"Profile `{results['profile']}`, made by `{command}`; each stage starts from the checkpoint of the one before.",
        "",
        "| stage | " + " | ".join(STAGE_SETTINGS) + " | dev mean | wall s |",
        "|---|" + "---|" * (len(STAGE_SETTINGS) + 2),
    ]
    for stage, path in stages.items():
        settings = _settings(path)
        title = BY_NAME[stage].title if stage in BY_NAME else stage
        info = results["stages"][stage]
        lines.append(
            f"| `{stage}` ({title}) | "
            + " | ".join(str(settings[k]) for k in STAGE_SETTINGS)
            + f" | {info['dev_mean']:.3f} | {info['wall_seconds']:.0f} |"
        )
    lines += [
        "",
        "## Dev results",
        "",
        *scores_table(results, comparable),
        "",
        "Dev score [bootstrap 95% interval]. The baselines are recorded runs of the packaged all-MiniLM-L6-v2 on the whole dev sets "
        + (
            "(in brackets after each: this run's difference)."
            if comparable
            else f"and do not compare with this run: {_why_not(cfg['encoder'], full_dev)}."
        ),
        "",
        "## Test predictions",
        "",
    ]
    tested = results.get("test_stage")
    if tested:
        where = Path("stages") / TEST_STAGE / "predictions"
        lines += [f"The test-student files, predicted with `{in_run(tested['checkpoint'], folder)}` into `{where}`:", ""]
        lines += [
            f"- `{TASKS[t.split('/')[0]].prediction_prefix}-test-output.csv`: {n:,} rows"
            + (" (no test file in the data folder)" if n == 0 else "")
            for t, n in tested["predicted"].items()
        ]
        lines += ["", "Their labels are not public: no test score is claimed."]
    else:
        lines += ["The test stage has not run: no test predictions."]
    lines += [
        "",
        "## Machine and precision",
        "",
        f"{manifest.get('device_name', manifest.get('device', '?'))} (host {manifest.get('host', '?')}, {manifest.get('cpu_count', '?')} CPUs, "
        f"{manifest.get('threads', '?')} torch threads, {manifest.get('world_size', 1)} process(es)); precision `{manifest.get('amp', '?')}` "
        f"(setting `amp: {cfg['amp']}`). torch {manifest.get('versions', {}).get('torch', '?')}, transformers "
        f"{manifest.get('versions', {}).get('transformers', '?')}; git {str(results.get('git', {}).get('commit') or '?')[:10]}"
        + (" (uncommitted changes)" if results.get("git", {}).get("dirty") else "")
        + f". The whole run took {results['total_seconds']:.0f} s.",
        "",
        "## Limitations",
        "",
        *[f"- {line}" for line in limitations(results, stages, final, cfg, full_dev)],
        "",
    ]
    return "\n".join(lines)


def _why_not(encoder: str, full_dev: bool) -> str:
    reasons = ([f"the encoder is `{encoder}`"] if encoder != "minilm-l6" else []) + ([] if full_dev else ["the dev sets were capped"])
    return " and ".join(reasons)


def limitations(results: dict[str, Any], stages: dict[str, Path], final: Path, cfg: dict[str, Any], full_dev: bool) -> list[str]:
    import numpy as np

    from ...train.evaluate import Predictions, confusion, read_detailed

    out = []
    if results["profile"] == "smoke":
        out.append("Smoke profile: a tiny random encoder on a few rows; the scores only show that the pipeline runs.")
    for task in [t for t in DEV_SPLIT_TASKS if t in results["dev"]]:
        spec = TASKS[task]
        out.append(
            f"{spec.name.capitalize()} is scored on the held-out fifth of {spec.files['dev']} (the md5 split), not on an official dev set."
        )
    out.append(
        "Dev chose the checkpoint (across epochs and across stages), so the dev scores are optimistic; the test labels are not public."
    )
    capped = [s for s, p in stages.items() if _settings(p)["max_train_examples"]]
    if capped:
        out.append(f"Training rows were capped (`max_train_examples`) in {', '.join(f'`{s}`' for s in capped)}.")
    if not full_dev:
        out.append("Dev rows were capped (`max_eval_examples`): the scores are of a sample of the dev sets.")
    for task in [t for t in TASKS if t in results["dev"] and TASKS[t].label_kind == "class"]:
        detailed = final / "predictions" / f"{TASKS[task].prediction_prefix}-dev-detailed.tsv"
        if detailed.is_file():
            table = read_detailed(detailed)
            pred = Predictions(
                task, "dev", [], [], table["prediction"].to_numpy(float), np.zeros(len(table)), table["label"].to_numpy(float)
            )
            out.append(narrative.confusion_summary(task, confusion(pred)).replace("**", ""))
    out.append(f"English only; inputs longer than {cfg['max_length']} tokens are truncated.")
    return out


def write(folder: Path, results: dict[str, Any]) -> Path:
    path = Path(folder) / FILE
    atomic_write_text(path, render(Path(folder), results))
    return path
