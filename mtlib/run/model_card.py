"""`MODEL_CARD.md` of every run folder a stage writes (`python -m mtlib`, each stage of a workbook
or recipe run), in the Hugging Face model-card layout: YAML front matter with a `model-index`,
then Model, Data, Training, Dev results, Predictions, Machine and precision, Limitations.

Every statement comes from what the stage recorded (its config, results.json, manifest.json), and
no absolute path of the machine is written: paths are as the run records them
(`mtlib.util.paths.recorded`). A workbook or recipe run's own card (`runs/<run>/MODEL_CARD.md`,
`mtlib.workbook.reports.model_card`) adds the stages, the baselines and the confusion summaries, and
reuses `front_matter` from here; the core never imports the workbook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..config.config import Config
from ..config.tasks import TASKS
from ..store.results_file import RunResult
from ..util import paths
from ..util.files import atomic_write_text, read_json

FILE = "MODEL_CARD.md"
HUB_NAMES = {"minilm-l6": "sentence-transformers/all-MiniLM-L6-v2"}
HF_TASK = {"class": "text-classification", "binary": "text-classification", "score": "sentence-similarity"}
TRAINING_SETTINGS = ("option", "epochs", "num_batches_per_epoch", "batch_size", "lr", "task_scheduler", "projection", "use_pal", "seed")


def front_matter(results: dict[str, Any], base_model: str) -> str:
    """The card's YAML front matter: language, base model, tags and the dev scores as a `model-index`."""
    index = []
    for task in [t for t in TASKS if t in results["dev"]]:
        spec = TASKS[task]
        metric = {"type": "pearsonr" if spec.metric_name == "pearson" else spec.metric_name, "value": round(results["dev"][task], 4)}
        metric["name"] = f"dev {spec.metric_name}" + (
            f" (held-out fifth of {Path(spec.files['dev']).stem})" if spec.train_from_dev_split else ""
        )
        dataset = {"type": task, "name": f"{spec.title} (CS224N files)", "split": "dev"}
        index.append({"task": {"type": HF_TASK[spec.label_kind], "name": spec.title}, "dataset": dataset, "metrics": [metric]})
    meta = {
        "language": ["en"],
        "library_name": "transformers",
        "base_model": base_model,
        "tags": ["mtlib", "multitask", "bert", *(spec.card_tag for spec in TASKS.values())],
        "metrics": sorted({"pearsonr" if TASKS[t].metric_name == "pearson" else TASKS[t].metric_name for t in results["dev"]}),
        "model-index": [{"name": results["run"], "results": index}],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def base_model_of(encoder: str, folder: Path) -> str:
    """The encoder as a card names it: its hub id for a packaged alias, a local folder as the run records paths."""
    return HUB_NAMES.get(encoder, paths.recorded_argument(encoder, folder))


def render(folder: Path, cfg: Config, result: RunResult) -> str:
    """The card of the stage run folder `folder` (see the module docstring)."""
    folder = Path(folder)
    flat = cfg.to_flat()
    manifest = read_json(folder / "manifest.json") if (folder / "manifest.json").is_file() else {}
    data, counts = manifest.get("data") or {}, manifest.get("parameters") or {}
    base_model = base_model_of(flat["encoder"], folder)
    name = paths.enclosing_run(folder).name if folder.parent.name == "stages" else folder.name
    title = f"{name}/{folder.name}" if folder.parent.name == "stages" else name
    tasks = [t for t in TASKS if t in result.dev]
    pal = f"PAL blocks (width {flat['pal_size']}, {flat['pal_heads']} heads)" if flat["use_pal"] else "no PAL blocks"
    started = paths.recorded_argument(flat["pretrained_model_name"], folder) if flat["pretrained_model_name"] else ""
    lines = [front_matter({"dev": result.dev, "run": title}, base_model), f"# `{title}`: stage `{result.option}`", ""]
    lines += [
        "## Model",
        "",
        f"`{base_model}` ({counts.get('encoder', 0):,} parameters) with one head per task ({', '.join(flat['tasks'])}) and {pal}; "
        f"pooling {flat['pooling']}, pairs `pair_encoding={flat['pair_encoding']}`, at most {flat['max_length']} tokens per example"
        + (f"; started from `{started}`" if started else "")
        + ".",
        f"The checkpoint: `{paths.recorded_argument(str(Path(result.checkpoint).absolute()), folder) if result.checkpoint else '?'}`"
        + (" (the best mean dev score across epochs)." if result.option != "test" else " (scored as given, not trained here)."),
        "",
        "Use it with `mtlib.load(folder)` (`.sentiment`, `.paraphrase`, `.similarity`), `python -m mtlib predict --run FOLDER`, "
        "or `python -m mtlib export` (docs/use-the-model.md).",
        "",
        "## Data",
        "",
        f"The CS224N task files in `{paths.recorded_argument(data.get('data_dir') or '?', folder)}`:",
        "",
        "| file | md5 | rows dropped (empty field) |",
        "|---|---|---|",
        *[f"| `{Path(f).name}` | `{v['md5']}` | {v['rows_dropped']} |" for f, v in (data.get("files") or {}).items() if f != "splits"],
        "",
        "## Training",
        "",
        "| " + " | ".join(TRAINING_SETTINGS) + " |",
        "|" + "---|" * len(TRAINING_SETTINGS),
        "| " + " | ".join(str(flat.get(k, "")) for k in TRAINING_SETTINGS) + " |",
        "",
        "The command that recreates it (in the project root) is in `command.txt`; every setting in `config.yaml`."
        + (f" Training took {result.train_seconds:.0f} s." if result.train_seconds else ""),
        "",
        "## Dev results",
        "",
    ]
    if tasks:
        lines += ["| task | metric | dev [bootstrap 95% interval] |", "|---|---|---|"]
        lines += [
            f"| {TASKS[t].title} | {TASKS[t].metric_name} | {result.dev[t]:.3f} [{result.ci95[t][0]:.3f}, {result.ci95[t][1]:.3f}] |"
            for t in tasks
        ]
        lines += ["", f"Mean {result.dev_mean:.3f}." if result.dev_mean is not None else ""]
    else:
        lines += ["None: this stage scored no dev set."]
    lines += ["", "## Predictions", ""]
    lines += [f"- `{paths.recorded(p, folder)}`" for p in result.predictions] or ["None written."]
    versions = manifest.get("versions") or {}
    lines += [
        "",
        "## Machine and precision",
        "",
        f"{manifest.get('device_name', '?')} ({manifest.get('cpu_model', '?')}, {manifest.get('threads', '?')} torch threads, "
        f"{manifest.get('world_size', 1)} process(es)); precision `{manifest.get('precision', '?')}` (setting `amp: {flat['amp']}`); "
        f"torch {versions.get('torch', '?')}, transformers {versions.get('transformers', '?')}.",
        "",
        "## Limitations",
        "",
        *[f"- {line}" for line in limitations(flat, result)],
        "",
    ]
    return "\n".join(lines)


def limitations(flat: dict[str, Any], result: RunResult) -> list[str]:
    out = []
    if flat["encoder"] == "tiny-random":
        out.append("A tiny random encoder: the scores only show that the pipeline runs.")
    if result.dev and result.option != "test":
        out.append("Dev chose the checkpoint, so the dev scores are optimistic; the test labels are not public.")
    if flat["max_train_examples"]:
        out.append(f"Training rows were capped at {flat['max_train_examples']} per task (`max_train_examples`).")
    if flat["max_eval_examples"]:
        out.append(f"Dev rows were capped at {flat['max_eval_examples']} per task (`max_eval_examples`): the scores are of a sample.")
    out.append(f"English only; inputs longer than {flat['max_length']} tokens are truncated.")
    return out


def write(folder: str | Path, cfg: Config, result: RunResult) -> Path:
    """Write `folder`/MODEL_CARD.md whole (a temporary file renamed)."""
    path = Path(folder) / FILE
    atomic_write_text(path, render(Path(folder), cfg, result))
    return path
