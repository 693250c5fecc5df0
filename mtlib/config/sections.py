"""The five sections of a `Config` (data, model, train, multitask, run): every setting with its
default, its help text (for `--help` and `--help-notebook`) and, where it has one, its fixed
list of choices or its range of values, declared on the field (as `run_glue.py`'s dataclasses
carry their help); `checks.problems` reads them. Each leaf name is unique across the sections,
so a setting is named the same way on the command line, in YAML and in a notebook's parameters.

A setting that picks a method (`--task_scheduler`, `--projection`, `--combine_strategy`,
`--head_rnn`, `--pooling`) takes its choices from the registry of methods,
`mtlib.config.methods` (tests/test_architecture.py and tests/test_registry.py check it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..util.errors import ConfigError
from .methods import COMBINE_BATCHES, Names, batches_per_update  # noqa: F401 (named here for the modules that read them)
from .tasks import PAIR_ENCODING_EXAMPLE, TASK_NAMES

OPTIONS = ("individual_pretrain", "pretrain", "finetune", "optimize", "test")  # optimize: the SST adjustment matrix alone
POOLINGS = Names("pooling")
LR_SCHEDULES = ("constant", "linear")
HEAD_ACTIVATIONS = Names("head_activation")
# the methods' names, read from the registry (mtlib.config.method_table declares them)
SCHEDULERS, PROJECTIONS, COMBINE_STRATEGIES = Names("task_scheduler"), Names("projection"), Names("combine_strategy")
AMP_MODES = ("off", "bf16", "fp16", "auto", "auto_fp16")  # auto, auto_fp16: resolve_amp picks one of the others
DEVICES = ("auto", "cpu", "cuda")
COMPILE_MODES = ("off", "default", "max-autotune", "reduce-overhead", "auto")
PREPROCESSING = ("none", "lengths", "lengths_augmented")  # the reference's --use_preprocessing (mtlib.data.eda)
SCHEDULER_SIZES = ("batches", "micro_batches")
RNN_KINDS = Names("head_rnn")  # --head_rnn (mtlib.model.heads)


@dataclass(frozen=True)
class Range:
    """The values a number may take: [low, high] with open ends where said, plus one `special`
    value outside it (what it `means`, e.g. 0: "off"); floats must also be finite."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    special: float | None = None
    means: str = ""

    def admits(self, value: float) -> bool:
        if self.special is not None and value == self.special:
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        return low_ok and (self.high is None or (value < self.high if self.high_open else value <= self.high))

    def describe(self) -> str:
        special = f"{self.special:g} ({self.means}) or " if self.special is not None else ""
        if self.high is not None:
            return f"{special}in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low_open:
            return f"{special}above {self.low:g}"
        if self.low == 0 or self.means:
            return f"{self.low:g}{f' ({self.means})' if self.means and self.special is None else ''} or more"
        return f"{special}at least {self.low:g}"


def at_least(low: float, means: str = "") -> Range:  # `means`: what `low` stands for, e.g. 0: "off"
    return Range(low, means=means)


def between(low: float, high: float, ends: str = "[]", special: float | None = None, means: str = "") -> Range:
    return Range(low, high, ends[0] == "(", ends[1] == ")", special, means)


SCHEDULE_WEIGHT = Range(0, 1e6)  # each of --schedule_weights: relative shares; huge ones overflow their sum


def _f(default: Any, help: str, choices: tuple | None = None, range: Range | None = None, **kw: Any) -> Any:
    """A config field with its help text (and choices or range) for the CLI, `--help-notebook` and the checks."""
    meta = {"help": help, "choices": choices, "range": range}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass
class DataConfig:
    # max_length: no BERT-family encoder reads more than a few thousand positions (checked against the encoder later)
    data_dir: str = _f("", "task-file folder; empty means $MTLIB_DATA_DIR or ./data")
    tasks: list[str] = _f(list(TASK_NAMES), "tasks to train and evaluate (comma-separated)")
    max_length: int = _f(128, "max tokens per example (sentence or pair); longer ones are truncated and counted", range=between(8, 8192))
    max_train_examples: int = _f(0, "cap on training rows per task (0: all); for smoke runs", range=at_least(0, "all"))
    max_eval_examples: int = _f(0, "cap on dev/test rows per task (0: all); for smoke runs", range=at_least(0, "all"))
    use_preprocessing: str = _f(
        "none",
        "training rows as the reference prepared them: lengths (the longest 2 percent of each task left out) or "
        "lengths_augmented (also EDA copies of under-represented SST classes and para duplicates; mtlib.data.eda)",
        PREPROCESSING,
    )


@dataclass
class ModelConfig:
    # upper bounds far past any head the reports use: --n_hidden_layers 100000 built 11 GB of heads, then failed
    encoder: str = _f("minilm-l6", "hub id (bert-base-uncased), local path, or packaged alias minilm-l6")
    pooling: str = _f("mean", "sentence representation fed to the heads", POOLINGS)
    pair_encoding: str = _f(
        "cross",
        "pairs as one sequence [CLS] s1 [SEP] s2 [SEP] (cross), or each sentence alone with the head on [u*v, |u-v|] (bi); "
        f"or per task, e.g. {PAIR_ENCODING_EXAMPLE}",
    )
    head_dropout: float = _f(
        0.1, "dropout inside the task heads (the reference project's --hidden_dropout_prob)", range=between(0, 1, "[)")
    )
    encoder_dropout: float = _f(
        -1.0, "dropout inside the encoder (hidden and attention); -1 keeps the encoder's own", range=between(0, 1, "[)", -1.0, "keep")
    )
    n_hidden_layers: int = _f(0, "hidden (dropout, linear, activation) blocks per head before the output layer", range=between(0, 64))
    head_activation: str = _f("gelu", "activation of the heads' hidden blocks (the reference project: relu)", HEAD_ACTIVATIONS)
    use_pal: bool = _f(False, "add Projected Attention Layers (Stickland & Murray, 2019)")
    # a PAL is a low-rank layer: its width stays under the encoder's hidden size (BERT-large: 1024)
    pal_size: int = _f(
        128, "PAL low-rank width (the reference project's models: 128; the paper: 204 for BERT-base)", range=between(1, 4096)
    )
    pal_heads: int = _f(4, "attention heads inside each PAL block", range=at_least(1))
    head_rnn: str = _f("none", "a recurrent reader of the token states in the heads (the reference report's RNN / LSTM rows)", RNN_KINDS)
    head_rnn_hidden: int = _f(128, "hidden size of --head_rnn (the report: 128 or 256)", range=between(1, 8192))
    head_rnn_tasks: list[str] = _f([], "tasks whose heads get --head_rnn (empty: all; the report's 'STS only': sts)")
    head_rnn_cls: bool = _f(
        True, "--head_rnn reads the tokens after [CLS] and the pooled [CLS] goes beside its last state ('+ [CLS] embed.')"
    )
    sst_adjustment: bool = _f(
        False, "a 5x5 matrix on the SST logits, starting as the identity (report 3.4.2; trained by --option optimize)"
    )


@dataclass
class TrainConfig:
    option: str = _f("finetune", "stage to run", OPTIONS)
    pretrained_model_name: str = _f("", "checkpoint to start from: a run folder or a .safetensors file")
    lr: float = _f(5e-5, "AdamW learning rate (the peak under --lr_schedule linear)", range=between(0, 1, "(]"))
    lr_schedule: str = _f(
        "constant",
        "learning rate within a stage: constant (the reference project: lower --lr by hand between stages) "
        "or linear (warm-up, then a linear decay to 0 at the stage's last update)",
        LR_SCHEDULES,
    )
    weight_decay: float = _f(0.0, "AdamW weight decay (the reference project: 0)", range=at_least(0))
    warmup_ratio: float = _f(0.0, "share of a stage's updates spent warming the learning rate up from 0", range=between(0, 1, "[)"))
    epochs: int = _f(3, "training epochs (per task for individual_pretrain)")
    batch_size: int = _f(32, "examples per task batch", range=at_least(1))
    eval_batch_size: int = _f(128, "examples per evaluation batch", range=at_least(1))
    num_batches_per_epoch: int = _f(
        0,
        "task batches per epoch, as the reference project counted them: an epoch runs this // batches-per-update "
        "updates (0: one pass over every task, the sum of their batch counts)",
        range=at_least(0),
    )
    updates_per_epoch: int = _f(0, "optimizer updates per epoch, instead of --num_batches_per_epoch (0: from it)", range=at_least(0))
    patience: int = _f(0, "stop after this many epochs without a better mean dev score (0: never)", range=at_least(0, "off"))
    seed: int = _f(0, "seed for weights init, data order and task schedule", range=between(0, 2**32, "[)"))
    max_micro_batch: dict[str, int] = _f(
        {},
        f"largest micro-batch per task, e.g. {TASK_NAMES[0]}=8 (the reference project's --max_batch_size_<task>); "
        "smaller than batch_size accumulates gradients (missing or 0: no split)",
    )
    device: str = _f("auto", "where to train", DEVICES)
    amp: str = _f("off", "mixed precision: bf16 autocast (CPU or GPU) or fp16 with a GradScaler", AMP_MODES)
    deterministic: bool = _f(False, "use deterministic algorithms (slower on GPU; CPU runs are already repeatable)")
    max_bad_steps: int = _f(20, "stop after this many non-finite losses in a row", range=at_least(1))
    threads: int = _f(0, "torch CPU threads (0: torch's default; more than cores only slows a run)", range=between(0, 256, special=None))
    compile: str = _f(
        "off",
        "torch.compile the encoder: default (inductor), max-autotune (inductor, benchmarking matmul and fusion choices), "
        "reduce-overhead (inductor + CUDA graphs; not yet trained successfully on a GPU), auto (what the benchmark records "
        "measured fastest on this kind of machine: mtlib.model.compiling); compiled batches are padded to multiples of 16 tokens",
        COMPILE_MODES,
    )
    head_lr: float = _f(
        0.0, "learning rate of the task heads (and PAL blocks) when it differs from --lr (0: --lr)", range=between(0, 1, "(]", 0.0, "--lr")
    )
    label_smoothing: float = _f(0.0, "label smoothing of the multi-class cross-entropy", range=between(0, 1, "[)"))
    class_balance: bool = _f(False, "weight the multi-class cross-entropy by inverse class frequency in the training rows")
    use_smart_regularization: bool = _f(False, "add SMART's smoothness-inducing adversarial loss on each head's input (mtlib.train.smart)")
    smart_weight_regularization: float = _f(1e-2, "weight of the SMART loss", range=at_least(0))
    no_train_classifier: bool = _f(False, "freeze the task heads (the reference's --no_train_classifier)")
    no_train_pal: bool = _f(False, "freeze the PAL blocks (the reference's --no_train_pal)")
    frozen_encoder_dropout: bool = _f(
        False, "keep the encoder's dropout on while it is frozen (pretrain stages), as the reference did; off: eval mode"
    )


@dataclass
class MultitaskConfig:
    task_scheduler: str = _f("round_robin", "which task the next batch comes from", SCHEDULERS)
    sampling_temperature: float = _f(
        2.0, "T for the temperature scheduler: p_t ~ N_t^(1/T) (under 0.1 it overflows; over 1000 it is uniform)", range=between(0.1, 1000)
    )
    projection: str = _f("none", "how per-task gradients on the shared encoder combine (see mtlib.train.gradients)", PROJECTIONS)
    combine_strategy: str = _f("none", "how an update's batches are chosen when projecting", COMBINE_STRATEGIES)
    batches_per_update: int = _f(
        0,
        "batches gathered per update (0: 1 without a projection; with one, one batch of each task, or 16 with "
        "a combine strategy, as the reference project)",
        range=at_least(0, "auto"),
    )
    gradvac_beta: float = _f(0.01, "GradVac EMA rate of the target cosine (the reference's --beta_vaccine)", range=between(0, 1, "(]"))
    scheduler_sizes: str = _f(
        "batches",
        "the task sizes N_t the schedulers weigh: batches of --batch_size, or micro_batches (the reference counted "
        "its data loaders' micro-batches, so a task split in two counts double)",
        SCHEDULER_SIZES,
    )
    combine_only_with_pal: bool = _f(
        False,
        "--combine_strategy applies with --task_scheduler pal only; other schedulers take one batch of each task per "
        "update with a projection (the reference)",
    )
    task_weights: dict[str, float] = _f({}, f"loss weight per task, e.g. {TASK_NAMES[0]}=1,{TASK_NAMES[-1]}=0.5 (missing: 1)")
    schedule_weights: dict[str, float] = _f({}, f"the weighted scheduler's share per task, e.g. {TASK_NAMES[0]}=2 (missing: 1)")
    conflict_every: int = _f(0, "log pairwise task-gradient cosines every N updates (0: off)", range=at_least(0, "off"))


@dataclass
class RunConfig:
    save_path: str = _f("", "run folder (default runs/<timestamp>-<option>)")
    overwrite: bool = _f(False, "allow writing into an existing run folder")
    resume: str = _f("", "run folder to resume from its last state")
    debug: bool = _f(False, "show tracebacks")
    progress: bool = _f(True, "show progress bars")
    save_every: int = _f(0, "also checkpoint the training state every N updates (0: each epoch only)", range=at_least(0))
    tensorboard: bool = _f(True, "write TensorBoard logs to tb/ (the reference's --no_tensorboard turns them off)")
    save_loss_acc_logs: bool = _f(False, "also write train_loss.txt and dev_acc.txt, each task's per-epoch lists, as the reference")
    keep_state: bool = _f(False, "keep the training state (state/, for --resume) after the stage finishes; by default only the model stays")
    predict_splits: str = _f(
        "dev,test",
        "splits predicted into predictions/ at the end: dev, test or dev,test (the workbook's stages "
        "predict dev; its `test` stage predicts test once, with the reported checkpoint)",
    )


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "multitask": MultitaskConfig, "run": RunConfig}


def truthy(value: Any) -> bool:
    """A yes/no setting as written on a command line, in YAML or in a notebook."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y", "t"):
        return True
    if text in ("0", "false", "no", "off", "n", "f", ""):
        return False
    raise ConfigError(f"expected true/false, got {value!r}")
