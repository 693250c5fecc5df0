"""The three tasks as one table of `TaskSpec` rows: the task facts, without torch.

Everything that differs between SST-5, Quora paraphrase and STS-B lives here, so the config's
checks, the data reader, the model heads, the losses, the metrics and the prediction writer
iterate over specs instead of carrying one branch per task. The table is a leaf of the config
(it imports nothing of mtlib), so the config reads the task names without the layers above it;
what a head's output means in torch (its loss, score, predictions) is `mtlib.model.task_outputs`,
keyed by the row's `label_kind`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    files: dict[str, str]  # split -> file name in the data folder
    text_columns: tuple[str, ...]  # one column (single sentence) or two (a pair)
    label_column: str
    label_kind: str  # "class" | "binary" | "score"
    num_outputs: int  # width of the head's output layer
    label_range: tuple[float, float]
    metric_name: str  # "accuracy" | "pearson"
    prediction_header: str  # column name in the CS224N prediction files
    prediction_prefix: str  # CS224N prediction file prefix
    # bi-encoded pairs: the output layer starts as scale * cos(u, v) + offset (see model.py)
    cosine_init: tuple[float, float] = (1.0, 0.0)
    class_names: tuple[str, ...] = ()  # classification tasks: a short name per class id
    answer_name: str = ""  # what the playground calls this task's answer
    color: str = "#4C72B0"  # the task's colour in every figure
    md5: tuple[tuple[str, str | None], ...] = ()  # (file, md5 as published upstream; None: not recorded)
    optional_files: tuple[str, ...] = ()  # files that may be absent from the mirror
    # without its train file, train on the md5 split of the dev file (rows with int(md5(id),16) % 5 != 0)
    # and score on the held-out fifth (`mtlib.data.task_files.quora_held_out`)
    train_from_dev_split: bool = False
    table_label: str = ""  # the column of the result tables (`mtlib.result_tables`)
    card_tag: str = ""  # the data set's tag on the model card
    reference_head: str = ""  # the CS224N reference project's name for this head (`mtlib.use.convert`)
    baseline_epochs: int = 3  # epochs of the single-task Trainer baseline (benchmarks/baselines.py)

    @property
    def split_note(self) -> str:
        """What the loader notes when it falls back to the md5 split of the dev file."""
        return (
            f"{self.files['train']} is absent: {self.name} trains on the md5 split of {self.files['dev']} "
            "(rows with int(md5(id),16) % 5 != 0) and is scored on the held-out fifth (% 5 == 0)"
        )

    @property
    def label(self) -> str:
        """The task's short name in TensorBoard tags and tables: `SST`."""
        return self.name.upper()

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def is_classification(self) -> bool:
        return self.label_kind in ("class", "binary")

    # ---- metric -------------------------------------------------------------------------
    def metric(self, predictions: np.ndarray, labels: np.ndarray) -> float:
        return metric_value(self.metric_name, predictions, labels)

    @property
    def baseline_name(self) -> str:
        return "mean predictor (Pearson undefined, 0)" if self.label_kind == "score" else "majority class"


def metric_value(name: str, predictions: np.ndarray, labels: np.ndarray) -> float:
    """Pure metric functions: accuracy, or Pearson's r (0.0 where it is undefined)."""
    predictions = np.asarray(predictions, dtype=float)
    labels = np.asarray(labels, dtype=float)
    if len(labels) == 0:
        return float("nan")
    if name == "accuracy":
        return float(np.mean(np.round(predictions) == np.round(labels)))
    if name == "pearson":
        if np.std(predictions) == 0 or np.std(labels) == 0:
            return 0.0
        from scipy.stats import pearsonr

        return float(pearsonr(predictions, labels)[0])
    raise ValueError(f"unknown metric {name!r}")


TASKS: dict[str, TaskSpec] = {
    "sst": TaskSpec(
        name="sst",
        title="SST-5 sentiment",
        files={"train": "ids-sst-train.csv", "dev": "ids-sst-dev.csv", "test": "ids-sst-test-student.csv"},
        text_columns=("sentence",),
        label_column="sentiment",
        label_kind="class",
        num_outputs=5,
        label_range=(0, 4),
        metric_name="accuracy",
        prediction_header="Predicted_Sentiment",
        prediction_prefix="sst",
        class_names=("0 very neg.", "1 neg.", "2 neutral", "3 pos.", "4 very pos."),
        answer_name="sentiment",
        color="#4C72B0",
        table_label="SST acc",
        card_tag="sst-5",
        reference_head="linear_sentiment",
        md5=(
            ("ids-sst-train.csv", "f3daabb505555cc31dcc809c1d42eb57"),
            ("ids-sst-dev.csv", "fbbe5fbcfbe634ff2de643aa42abb3ca"),
            ("ids-sst-test-student.csv", "2aa44d6cafc98a053d041f6b1c1f15ad"),
        ),
    ),
    "para": TaskSpec(
        name="para",
        title="Quora paraphrase",
        files={"train": "quora-train.csv", "dev": "quora-dev.csv", "test": "quora-test-student.csv"},
        text_columns=("sentence1", "sentence2"),
        label_column="is_duplicate",
        label_kind="binary",
        num_outputs=1,
        label_range=(0, 1),
        metric_name="accuracy",
        prediction_header="Predicted_Is_Paraphrase",
        prediction_prefix="para",
        # all-MiniLM-L6-v2's best cosine threshold on 1,500 rows of the train part is 0.807
        cosine_init=(20.0, -16.0),
        class_names=("not para.", "paraphrase"),
        answer_name="paraphrase",
        color="#DD8452",
        table_label="Para acc*",
        card_tag="quora-question-pairs",
        reference_head="linear_paraphrase",
        baseline_epochs=2,
        md5=(("quora-train.csv", None), ("quora-dev.csv", "b7990635a450e3402919bdd80d719157"), ("quora-test-student.csv", None)),
        optional_files=("quora-train.csv", "quora-test-student.csv"),
        train_from_dev_split=True,
    ),
    "sts": TaskSpec(
        name="sts",
        title="STS-B similarity",
        files={"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test-student.csv"},
        text_columns=("sentence1", "sentence2"),
        label_column="similarity",
        label_kind="score",
        num_outputs=1,
        label_range=(0.0, 5.0),
        metric_name="pearson",
        # The CS224N starter code spells it this way; graders parse this exact header.
        prediction_header="Predicted_Similiary",
        prediction_prefix="sts",
        # logit(label / 5) ~ 6.3 cos - 3.9 on 600 STS train pairs (all-MiniLM-L6-v2, zero-shot)
        cosine_init=(6.0, -3.7),
        answer_name="similarity",
        color="#55A868",
        table_label="STS Pearson",
        card_tag="sts-b",
        reference_head="linear_similarity",
        baseline_epochs=4,
        md5=(
            ("sts-train.csv", "3eb8d84ac44373ecc3be9b8a8ed85496"),
            ("sts-dev.csv", "80116c340747a966f732644e54085044"),
            ("sts-test-student.csv", "5a77eb8b5387f8f04c71a16bbc2d6b41"),
        ),
    ),
}

TASK_NAMES: tuple[str, ...] = tuple(TASKS)
SENTENCE_TASK = next(t for t, spec in TASKS.items() if not spec.is_pair)  # embeds single sentences (`mtlib.use.predict`)
SIMILARITY_TASK = next(
    t for t, spec in TASKS.items() if spec.label_kind == "score" and spec.is_pair
)  # the cosine check of `mtlib.use.export`
DEV_SPLIT_TASKS = tuple(t for t, spec in TASKS.items() if spec.train_from_dev_split)  # may train on an md5 split of dev
PAIR_ENCODING_EXAMPLE = ",".join(f"{t}={mode}" for t, mode in zip([t for t, s in TASKS.items() if s.is_pair], ("cross", "bi")))


PAIR_ENCODINGS = ("cross", "bi")


def pair_modes(setting: str) -> dict[str, str]:
    """The `pair_encoding` setting as {pair task: "cross" | "bi"}: one mode for every pair task,
    or per task, e.g. "para=cross,sts=bi" (a pair task left out is cross-encoded). Raises
    ValueError on anything else."""
    pair_tasks = [t for t, spec in TASKS.items() if spec.is_pair]
    if "=" not in setting:
        given = dict.fromkeys(pair_tasks, setting)
    else:
        parts = [part.split("=", 1) for part in setting.replace(" ", "").split(",") if part]
        if not parts or any(len(p) != 2 for p in parts):
            raise ValueError(setting)
        given = {t: "cross" for t in pair_tasks} | dict(parts)
    if any(t not in TASKS for t in given) or any(m not in PAIR_ENCODINGS for m in given.values()):
        raise ValueError(setting)
    return given


def pair_mode(setting: str, task: str) -> str:
    """How `task`'s pairs are encoded under a `pair_encoding` setting (see `pair_modes`)."""
    return pair_modes(setting).get(task, "cross")
