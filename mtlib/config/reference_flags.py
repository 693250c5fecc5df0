"""The reference project's flags that are not one of mtlib's settings by name: each is
translated into mtlib's settings, or refused in one line that says why and what to use.

`Config.update` asks `translate` about every key, so a flag works the same on the command
line, in YAML and in a notebook's parameters; `add_arguments` puts them on the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..util.errors import ConfigError
from .sections import truthy
from .tasks import TASKS

SPLITS = ("train", "dev", "test")
DATA_FILES = {f"{t}_{split}": (t, split) for t in TASKS for split in SPLITS}  # --sst_train PATH, ...
OUTPUT_FILES = {f"{t}_{split}_out": (t, split) for t in TASKS for split in ("dev", "test")}  # --sst_dev_out PATH, ...
# --transformer: the encoders the reference named, as mtlib's --encoder (None: refused, with why)
TRANSFORMERS = {
    "bert": ("bert-base-uncased", None),
    "bert-large": ("bert-large-uncased", None),
    "roberta": (None, "roberta-base"),
    "roberta-large": (None, "roberta-large-mnli"),
}
SWITCHES = {"no_tensorboard": ("tensorboard", False)}  # a store_true flag that sets a setting to a value


def translate(cfg: Any, key: str, value: Any, source: str) -> list[tuple[str, Any]] | None:
    """mtlib's (setting, value) pairs for the reference's flag `key`; None when `key` is not one."""
    if key in SWITCHES:
        target, when_on = SWITCHES[key]
        return [(target, when_on if truthy(value) else not when_on)]
    if key == "num_batches_per_epoch" and str(value).lstrip().startswith("-"):
        return [(key, 0)]  # the reference's default -1: any value <= 0 is one pass over every task, mtlib's 0
    if key == "transformer":
        encoder, refused = TRANSFORMERS.get(str(value), (None, None))
        if encoder:
            return [("encoder", encoder)]
        if refused:
            raise ConfigError(
                f"{source}: --transformer {value} needs {refused}, a RoBERTa model: mtlib's heads, pair encoding and "
                "checkpoints are BERT's, and its weights cannot be fetched here; use --encoder (bert-base-uncased, minilm-l6, a local path)"
            )
        raise ConfigError(f"{source}: --transformer {value!r} is not one of: {', '.join(TRANSFORMERS)}")
    if key in DATA_FILES:
        return [("data_dir", _data_dir(cfg, key, str(value), source))]
    if key in OUTPUT_FILES:
        task, split = OUTPUT_FILES[key]
        raise ConfigError(
            f"{source}: --{key}: mtlib writes a run's predictions into the run folder, as "
            f"RUN/predictions/{TASKS[task].prediction_prefix}-{split}-output.csv; choose RUN with --save_path"
        )
    return None


def _data_dir(cfg: Any, key: str, value: str, source: str) -> str:
    """`--sst_train data/ids-sst-train.csv` is `--data_dir data`: mtlib reads every task file
    under its standard name from one folder."""
    task, split = DATA_FILES[key]
    path = Path(value)
    expected = TASKS[task].files[split]
    folder = str(path.parent)
    if path.name != expected:
        raise ConfigError(
            f"{source}: --{key} {value}: mtlib reads each task file under its standard name from one folder; "
            f"put the file there as {expected} and pass --data_dir FOLDER"
        )
    if "data_dir" in cfg.explicit and cfg.data.data_dir and Path(cfg.data.data_dir) != Path(folder):
        raise ConfigError(
            f"{source}: --{key} {value} is in {folder}, but the task files are read from {cfg.data.data_dir}; "
            "mtlib reads every task file from one folder (--data_dir)"
        )
    return folder


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """The reference's flags that `translate` handles, on the command line."""
    group.add_argument("--no_tensorboard", action="store_true", help="same as --no-tensorboard")
    group.add_argument(
        "--transformer", help="bert: --encoder bert-base-uncased; bert-large: bert-large-uncased; roberta*: refused (use --encoder)"
    )
    for flag, (task, split) in DATA_FILES.items():
        group.add_argument(f"--{flag}", help=f"a path ending in /{TASKS[task].files[split]}: same as --data_dir of its folder")
    for flag in OUTPUT_FILES:
        group.add_argument(f"--{flag}", help="refused: predictions go to RUN/predictions/ (--save_path RUN)")
