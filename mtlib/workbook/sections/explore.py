"""The tables of notebook 01 (data exploration): split sizes, labels, token lengths, dropped
rows and sentence overlap between splits.

Everything starts from `load_splits`, which reads the task files exactly as training does
(`mtlib.data.task_files.load_task`: the same validation, the same md5 split of quora-dev.csv when
quora-train.csv is absent), so the numbers describe the data the model sees.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...config.config import Config, default_profile
from ...config.tasks import TASK_NAMES, TASKS
from ...data.task_files import DataWarning, Examples, check_data_dir, load_task, resolve_data_dir
from ...model.encoders import load_tokenizer
from ...util import paths

Splits = dict[str, dict[str, Examples]]  # task -> split -> validated rows
SPLITS = ("train", "dev", "test")


def profile_config(profile: str, **settings: Any) -> Config:
    """The profile's config with the notebook's `settings` (None keeps the profile's value)."""
    return Config.from_profile(profile, **settings)


def profile_name(profile: str) -> str:
    return profile or default_profile()


def data_folder(cfg: Config) -> Path:
    return paths.data_dir(cfg.data.data_dir)


def tokenizer(cfg: Config) -> Any:
    return load_tokenizer(cfg.model.encoder)


def load_splits(data_dir: str = "", tasks: tuple[str, ...] | list[str] = TASK_NAMES) -> tuple[Splits, list[str]]:
    """Every task's train/dev/test rows and the loader's notes (e.g. the quora fallback split).

    Dropped rows are not warned about here: `dropped_rows` lists them as a table instead."""
    folder = resolve_data_dir(data_dir)
    check_data_dir(folder)
    splits: Splits = {}
    notes: list[str] = []
    for name in tasks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            splits[name], task_notes = load_task(TASKS[name], Path(folder))
        notes += task_notes
    return splits, notes


def split_sizes(splits: Splits) -> pd.DataFrame:
    """Rows per task and split (after validation), plus the rows validation dropped."""
    rows = []
    for task, by_split in splits.items():
        row: dict[str, Any] = {"task": task}
        for split in SPLITS:
            row[split] = len(by_split[split]) if split in by_split else 0
        row["dropped"] = len(_unique_dropped(by_split))
        row["labelled test"] = by_split.get("test") is not None and by_split["test"].labels is not None
        rows.append(row)
    return pd.DataFrame(rows).set_index("task")


def label_distribution(splits: Splits, sts_bins: int = 5) -> pd.DataFrame:
    """Long table (task, split, label, count, share): SST classes, para 0/1, STS scores binned
    into `sts_bins` equal bins over 0..5. Unlabelled splits are left out."""
    rows = []
    for task, by_split in splits.items():
        spec = TASKS[task]
        for split, ex in by_split.items():
            if ex.labels is None or len(ex) == 0:
                continue
            if spec.label_kind == "score":
                low, high = spec.label_range
                edges = np.linspace(low, high, sts_bins + 1)
                counts, _ = np.histogram(ex.labels, edges)
                names = [f"{a:g}-{b:g}" for a, b in itertools.pairwise(edges)]
            else:
                classes = np.arange(spec.num_outputs if spec.label_kind == "class" else 2)
                counts = np.array([(ex.labels == c).sum() for c in classes])
                names = [str(c) for c in classes]
            for name, count in zip(names, counts):
                rows.append({"task": task, "split": split, "label": name, "count": int(count), "share": count / len(ex)})
    return pd.DataFrame(rows)


def token_lengths(splits: Splits, tokenizer: Any, sample_rows: int = 0, seed: int = 0) -> pd.DataFrame:
    """Long table (task, split, length): tokens per example as the model sees it (pairs as
    `[CLS] s1 [SEP] s2 [SEP]`, special tokens included, nothing truncated). `sample_rows` > 0
    tokenizes a random sample of that many rows per split."""
    frames = []
    rng = np.random.default_rng(seed)
    for task, by_split in splits.items():
        for split, ex in by_split.items():
            if len(ex) == 0:
                continue
            if sample_rows and len(ex) > sample_rows:
                ex = ex.subset(np.sort(rng.choice(len(ex), sample_rows, replace=False)))
            columns = [list(c) for c in zip(*ex.texts)]
            ids = tokenizer(*columns, add_special_tokens=True, truncation=False, return_attention_mask=False, return_token_type_ids=False)
            lengths = [len(x) for x in ids["input_ids"]]
            frames.append(pd.DataFrame({"task": task, "split": split, "length": lengths}))
    return pd.concat(frames, ignore_index=True)


def truncation_table(lengths: pd.DataFrame, max_length: int) -> pd.DataFrame:
    """Per task and split: length quantiles and the share of examples `max_length` truncates."""
    grouped = lengths.groupby(["task", "split"], sort=False)["length"]
    table = grouped.agg(examples="size", median="median", p95=lambda x: x.quantile(0.95), max="max")
    table["truncated"] = grouped.apply(lambda x: int((x > max_length).sum()))
    table["truncated share"] = table["truncated"] / table["examples"]
    return table


def dropped_rows(splits: Splits) -> pd.DataFrame:
    """Rows validation dropped (file, line, column, reason); one row per file line."""
    rows = [
        {"task": task, "file": Path(d.file).name, "line": d.line, "column": d.column, "reason": d.reason}
        for task, by_split in splits.items()
        for d in _unique_dropped(by_split)
    ]
    return pd.DataFrame(rows, columns=["task", "file", "line", "column", "reason"])


def sentence_overlap(splits: Splits) -> pd.DataFrame:
    """How many sentences (and, for pair tasks, whole pairs) of one split also occur in another.

    Text is compared after lower-casing and collapsing whitespace; a pair matches in either
    order. `share of later` is the shared count over the unique items of the later split
    (dev or test): the part of that split a model may have seen in training."""
    rows = []
    for task, by_split in splits.items():
        units = {"sentence": _sentences} | ({"pair": _pairs} if TASKS[task].is_pair else {})
        for unit, extract in units.items():
            sets = {s: extract(ex) for s, ex in by_split.items() if len(ex)}
            for first, later in itertools.combinations([s for s in SPLITS if s in sets], 2):
                shared = len(sets[first] & sets[later])
                rows.append(
                    {
                        "task": task,
                        "unit": unit,
                        "splits": f"{first} & {later}",
                        "unique in first": len(sets[first]),
                        "unique in later": len(sets[later]),
                        "shared": shared,
                        "share of later": shared / max(len(sets[later]), 1),
                    }
                )
    return pd.DataFrame(rows)


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _sentences(ex: Examples) -> set[str]:
    return {_normalise(s) for texts in ex.texts for s in texts}


def _pairs(ex: Examples) -> set[tuple[str, ...]]:
    return {tuple(sorted(_normalise(s) for s in texts)) for texts in ex.texts}


def _unique_dropped(by_split: dict[str, Examples]) -> list[Any]:
    """Dropped rows of a task's files, each once (the quora fallback's two splits share a list)."""
    seen: dict[tuple[str, int], Any] = {}
    for ex in by_split.values():
        for d in ex.dropped:
            seen.setdefault((d.file, d.line), d)
    return list(seen.values())
