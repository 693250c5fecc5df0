"""One typed config, filled from the command line, a YAML file, or a notebook's parameters.

The config is a `Config` of five sections (data, model, train, multitask, run). Every leaf
field has a unique name, so the same key works everywhere:

    python -m mtlib --config mtlib/profiles/cpu.yaml --lr 2e-5        # CLI overrides YAML
    Config.from_dict({"lr": 2e-5, "encoder": "minilm-l6"})              # papermill parameters
    Config.from_dict(yaml.safe_load(open("cpu.yaml")))                  # flat or sectioned YAML

Validation happens once, in `Config.validate()`, before any data is read or any model built.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import yaml

from . import paths
from .amp import AMP_MODES, DEVICES
from .compiling import COMPILE_MODES
from .errors import ConfigError
from .gradients import PROJECTIONS as PROJECTION_REGISTRY
from .schedulers import COMBINE_STRATEGIES
from .schedulers import SCHEDULERS as SCHEDULER_REGISTRY
from .tasks import TASK_NAMES, pair_modes

OPTIONS = ("individual_pretrain", "pretrain", "finetune", "test")
POOLINGS = ("cls", "mean", "pooler")
LR_SCHEDULES = ("constant", "linear")
HEAD_ACTIVATIONS = ("gelu", "relu")
# the other choices belong to their registries
SCHEDULERS = tuple(SCHEDULER_REGISTRY)
PROJECTIONS = tuple(PROJECTION_REGISTRY)


def _f(default: Any, help: str, choices: tuple | None = None, **kw: Any) -> Any:
    """A config field with its help text (and choices) for the CLI and `--help-notebook`."""
    meta = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass
class DataConfig:
    data_dir: str = _f("", "task-file folder; empty means $MTLIB_DATA_DIR or ./data")
    tasks: list[str] = _f(list(TASK_NAMES), "tasks to train and evaluate (comma-separated)")
    max_length: int = _f(128, "max tokens per example (sentence or pair); longer ones are truncated and counted")
    max_train_examples: int = _f(0, "cap on training rows per task (0: all); for smoke runs")
    max_eval_examples: int = _f(0, "cap on dev/test rows per task (0: all); for smoke runs")


@dataclass
class ModelConfig:
    encoder: str = _f("minilm-l6", "hub id (bert-base-uncased), local path, or packaged alias minilm-l6")
    pooling: str = _f("mean", "sentence representation fed to the heads", POOLINGS)
    pair_encoding: str = _f(
        "cross",
        "pairs as one sequence [CLS] s1 [SEP] s2 [SEP] (cross), or each sentence alone with the head on [u*v, |u-v|] (bi); "
        "or per task, e.g. para=cross,sts=bi",
    )
    hidden_dropout_prob: float = _f(0.1, "dropout inside the task heads")
    encoder_dropout: float = _f(-1.0, "dropout inside the encoder (hidden and attention); -1 keeps the encoder's own")
    n_hidden_layers: int = _f(0, "hidden (dropout, linear, activation) blocks per head before the output layer")
    head_activation: str = _f("gelu", "activation of the heads' hidden blocks (the reference project: relu)", HEAD_ACTIVATIONS)
    use_pal: bool = _f(False, "add Projected Attention Layers (Stickland & Murray, 2019)")
    pal_size: int = _f(128, "PAL low-rank width (the reference project's models: 128; the paper: 204 for BERT-base)")
    pal_heads: int = _f(4, "attention heads inside each PAL block")


@dataclass
class TrainConfig:
    option: str = _f("finetune", "stage to run", OPTIONS)
    pretrained_model_name: str = _f("", "checkpoint to start from: a run folder or a .safetensors file")
    lr: float = _f(5e-5, "AdamW learning rate (the peak under --lr_schedule linear)")
    lr_schedule: str = _f(
        "constant",
        "learning rate within a stage: constant (the reference project: lower --lr by hand between stages) "
        "or linear (warm-up, then a linear decay to 0 at the stage's last update)",
        LR_SCHEDULES,
    )
    weight_decay: float = _f(0.0, "AdamW weight decay (the reference project: 0)")
    warmup_ratio: float = _f(0.0, "share of a stage's updates spent warming the learning rate up from 0")
    epochs: int = _f(3, "training epochs (per task for individual_pretrain)")
    batch_size: int = _f(32, "examples per task batch")
    eval_batch_size: int = _f(128, "examples per evaluation batch")
    num_batches_per_epoch: int = _f(
        0,
        "task batches per epoch, as the reference project counted them: an epoch runs this // batches-per-update "
        "updates (0: one pass over every task, the sum of their batch counts)",
    )
    updates_per_epoch: int = _f(0, "optimizer updates per epoch, instead of --num_batches_per_epoch (0: from it)")
    patience: int = _f(0, "stop after this many epochs without a better mean dev score (0: never)")
    seed: int = _f(0, "seed for weights init, data order and task schedule")
    max_batch_size_sst: int = _f(0, "largest SST micro-batch; smaller than batch_size accumulates gradients (0: no split)")
    max_batch_size_para: int = _f(0, "largest para micro-batch (0: no split)")
    max_batch_size_sts: int = _f(0, "largest STS micro-batch (0: no split)")
    device: str = _f("auto", "where to train", DEVICES)
    amp: str = _f("off", "mixed precision: bf16 autocast (CPU or GPU) or fp16 with a GradScaler", AMP_MODES)
    deterministic: bool = _f(False, "use deterministic algorithms (slower on GPU; CPU runs are already repeatable)")
    max_bad_steps: int = _f(20, "stop after this many non-finite losses in a row")
    threads: int = _f(0, "torch CPU threads (0: torch's default)")
    compile: str = _f(
        "off",
        "torch.compile the encoder: default (inductor), reduce-overhead (inductor + CUDA graphs; not yet trained "
        "successfully on a GPU), auto (off for now: mtlib.compiling); compiled batches are padded to multiples of 16 tokens",
        COMPILE_MODES,
    )
    head_lr: float = _f(0.0, "learning rate of the task heads (and PAL blocks) when it differs from --lr (0: --lr)")
    label_smoothing: float = _f(0.0, "label smoothing of the multi-class cross-entropy (SST)")
    class_balance: bool = _f(False, "weight the multi-class cross-entropy by inverse class frequency in the training rows")


@dataclass
class MultitaskConfig:
    task_scheduler: str = _f("round_robin", "which task the next batch comes from", SCHEDULERS)
    sampling_temperature: float = _f(2.0, "T for the temperature scheduler: p_t ~ N_t^(1/T)")
    projection: str = _f("none", "how per-task gradients on the shared encoder combine (see mtlib.gradients)", PROJECTIONS)
    combine_strategy: str = _f("none", "how an update's batches are chosen when projecting", COMBINE_STRATEGIES)
    batches_per_update: int = _f(
        0,
        "batches gathered per update (0: 1 without a projection; with one, one batch of each task, or 16 with "
        "a combine strategy, as the reference project)",
    )
    gradvac_beta: float = _f(0.01, "GradVac EMA rate of the target cosine")
    task_weights: dict[str, float] = _f({}, "loss weight per task, e.g. sst=1,para=0.5 (missing: 1)")
    schedule_weights: dict[str, float] = _f({}, "the weighted scheduler's share per task, e.g. sst=2,para=1,sts=1 (missing: 1)")
    conflict_every: int = _f(0, "log pairwise task-gradient cosines every N updates (0: off)")


@dataclass
class RunConfig:
    save_path: str = _f("", "run folder (default runs/<timestamp>-<option>)")
    overwrite: bool = _f(False, "allow writing into an existing run folder")
    resume: str = _f("", "run folder to resume from its last state")
    debug: bool = _f(False, "show tracebacks")
    progress: bool = _f(True, "show progress bars")
    save_every: int = _f(0, "also checkpoint the training state every N updates (0: each epoch only)")
    keep_state: bool = _f(False, "keep the training state (state/, for --resume) after the stage finishes; by default only the model stays")
    predict_splits: str = _f(
        "dev,test",
        "splits predicted into predictions/ at the end: dev, test or dev,test (the workbook's stages "
        "predict dev; its `test` stage predicts test once, with the reported checkpoint)",
    )


def _pair_encoding_ok(setting: str) -> bool:
    try:
        pair_modes(setting)
    except ValueError:
        return False
    return True


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "multitask": MultitaskConfig, "run": RunConfig}

# The CS224N reference project's flag spellings, kept as aliases.
ALIASES = {"use_gpu": ("device", "cuda"), "use_amp": ("amp", "auto")}
# Other spellings of a flag, as the reference project's README writes them: `-n_hidden_layers 1`
# in its test commands, `--batch_size_sts` (for sst, para, sts) for the accumulation micro-batch.
SPELLINGS = {
    "n_hidden_layers": ("-n_hidden_layers",),
    **{f"max_batch_size_{t}": (f"--batch_size_{t}",) for t in TASK_NAMES},
}


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    multitask: MultitaskConfig = field(default_factory=MultitaskConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        # the settings given by name (command line, YAML, notebook): `--option test` refuses those
        # that contradict the checkpoint, and takes the others from it (mtlib.recorded)
        self.explicit: set[str] = set()

    # ---- building ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> Config:
        """Build from flat keys (`lr: 1e-5`) and/or sections (`train: {lr: 1e-5}`)."""
        cfg = cls()
        cfg.update(values, source)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path, stage: str = "") -> Config:
        """A YAML file of settings. A profile may hold a `stages:` mapping of per-stage
        overrides; `stage` picks one (applied over the top-level settings)."""
        return cls.from_dict(profile_settings(load_yaml(path), stage, str(path)), source=str(path))

    @classmethod
    def from_profile(cls, profile: str, stage: str = "", **overrides: Any) -> Config:
        """`mtlib/profiles/<profile>.yaml` (or a path), one of its stages, then overrides
        (empty strings and None mean "keep the profile's value", as papermill passes them)."""
        cfg = cls.from_yaml(profile_path(profile), stage)
        return cfg.update({k: v for k, v in overrides.items() if v not in ("", None)}, source="overrides")

    def update(self, values: dict[str, Any], source: str = "config") -> Config:
        for key, value in flatten(values, source).items():
            key, value = _alias(key, value)
            section = _SECTION_OF.get(key)
            if section is None:
                close = _close_names(key)
                raise ConfigError(f"{source}: unknown setting {key!r}" + (f"; did you mean {close}?" if close else ""))
            setattr(getattr(self, section), key, coerce(key, value, source))
            self.explicit.add(key)
        return self

    def to_flat(self) -> dict[str, Any]:
        return {f.name: getattr(getattr(self, s), f.name) for s, c in SECTIONS.items() for f in fields(c)}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, other: Config, ignore: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
        """{setting: (self's value, other's)} for every setting that trains differently
        (`RUN_ONLY` settings and `ignore` aside)."""
        mine, theirs = self.to_flat(), other.to_flat()
        skip = set(RUN_ONLY) | set(ignore)
        return {k: (v, theirs[k]) for k, v in mine.items() if k not in skip and v != theirs[k]}

    # ---- derived values ----------------------------------------------------------------
    @property
    def prediction_splits(self) -> tuple[str, ...]:
        """The splits written to predictions/ at the end of the stage (`--predict_splits`)."""
        return tuple(s.strip() for s in self.run.predict_splits.split(","))

    def max_micro_batch(self, task: str) -> int:
        value = getattr(self.train, f"max_batch_size_{task}", 0)
        return value or self.train.batch_size

    def task_weight(self, task: str) -> float:
        return float(self.multitask.task_weights.get(task, 1.0))

    # ---- validation --------------------------------------------------------------------
    def validate(self) -> Config:
        """Check every setting once, before any work; raise ConfigError naming the setting."""
        from . import schedule

        d, m, t, mt, r = self.data, self.model, self.train, self.multitask, self.run
        problems: list[str] = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        for name, choices in [
            ("option", OPTIONS),
            ("task_scheduler", SCHEDULERS),
            ("combine_strategy", COMBINE_STRATEGIES),
            ("pooling", POOLINGS),
            ("amp", AMP_MODES),
            ("device", DEVICES),
            ("projection", PROJECTIONS),
            ("lr_schedule", LR_SCHEDULES),
            ("head_activation", HEAD_ACTIVATIONS),
            ("compile", COMPILE_MODES),
        ]:
            value = getattr(getattr(self, _SECTION_OF[name]), name)
            need(value in choices, f"--{name} {value!r} is not one of: {', '.join(choices)}")
        need(
            _pair_encoding_ok(m.pair_encoding),
            f"--pair_encoding {m.pair_encoding!r}: expected cross, bi, or per task like para=cross,sts=bi",
        )
        unknown = [x for x in d.tasks if x not in TASK_NAMES]
        need(not unknown, f"--tasks: unknown task(s) {unknown}; choose from {', '.join(TASK_NAMES)}")
        need(len(d.tasks) > 0, "--tasks is empty; name at least one of " + ", ".join(TASK_NAMES))
        need(len(set(d.tasks)) == len(d.tasks), f"--tasks lists a task twice: {d.tasks}")
        need(t.batch_size > 0, f"--batch_size must be at least 1 (got {t.batch_size})")
        need(t.eval_batch_size > 0, f"--eval_batch_size must be at least 1 (got {t.eval_batch_size})")
        for name in (
            "lr",
            "weight_decay",
            "warmup_ratio",
            "hidden_dropout_prob",
            "encoder_dropout",
            "sampling_temperature",
            "gradvac_beta",
        ):
            value = getattr(getattr(self, _SECTION_OF[name]), name)
            need(math.isfinite(value), f"--{name} must be a finite number (got {value})")
        need(not math.isfinite(t.lr) or 0 < t.lr <= 1, f"--lr must be above 0 and at most 1 (got {t.lr})")
        need(not math.isfinite(t.weight_decay) or t.weight_decay >= 0, f"--weight_decay must be 0 or more (got {t.weight_decay})")
        need(d.max_train_examples >= 0, f"--max_train_examples must be 0 (all) or more (got {d.max_train_examples})")
        need(d.max_eval_examples >= 0, f"--max_eval_examples must be 0 (all) or more (got {d.max_eval_examples})")
        need(t.threads >= 0, f"--threads must be 0 (torch's default) or more (got {t.threads})")
        need(0 <= t.seed < 2**32, f"--seed must be in 0..{2**32 - 1} (got {t.seed})")
        need(t.epochs > 0 or t.option == "test", f"--epochs must be at least 1 (got {t.epochs})")
        need(t.patience >= 0, f"--patience must be 0 (off) or more (got {t.patience})")
        need(0 <= t.warmup_ratio < 1, f"--warmup_ratio must be in [0, 1) (got {t.warmup_ratio})")
        need(0 <= m.hidden_dropout_prob < 1, f"--hidden_dropout_prob must be in [0, 1) (got {m.hidden_dropout_prob})")
        need(
            m.encoder_dropout == -1.0 or 0 <= m.encoder_dropout < 1,
            f"--encoder_dropout must be -1 (keep) or in [0, 1) (got {m.encoder_dropout})",
        )
        need(m.n_hidden_layers >= 0, f"--n_hidden_layers must be 0 or more (got {m.n_hidden_layers})")
        need(d.max_length >= 8, f"--max_length must be at least 8 (got {d.max_length})")
        need(t.max_bad_steps >= 1, f"--max_bad_steps must be at least 1 (got {t.max_bad_steps})")
        for task in TASK_NAMES:
            mb = getattr(t, f"max_batch_size_{task}")
            need(mb >= 0, f"--max_batch_size_{task} must be 0 (no split) or more (got {mb})")
            need(
                mb <= t.batch_size,
                f"--max_batch_size_{task} ({mb}) is larger than --batch_size ({t.batch_size}); "
                "it is the micro-batch size for gradient accumulation, so it must not exceed the batch",
            )
        if m.use_pal:
            need(m.pal_size > 0 and m.pal_heads > 0, "--pal_size and --pal_heads must be at least 1")
            need(m.pal_size % max(m.pal_heads, 1) == 0, f"--pal_size ({m.pal_size}) must be divisible by --pal_heads ({m.pal_heads})")
        need(mt.sampling_temperature > 0, f"--sampling_temperature must be above 0 (got {mt.sampling_temperature})")
        need(0 < mt.gradvac_beta <= 1, f"--gradvac_beta must be in (0, 1] (got {mt.gradvac_beta})")
        need(mt.conflict_every >= 0, f"--conflict_every must be 0 (off) or more (got {mt.conflict_every})")
        need(
            t.head_lr == 0 or (math.isfinite(t.head_lr) and 0 < t.head_lr <= 1),
            f"--head_lr must be 0 (--lr) or in (0, 1] (got {t.head_lr})",
        )
        need(0 <= t.label_smoothing < 1, f"--label_smoothing must be in [0, 1) (got {t.label_smoothing})")
        for name, weights in (("schedule_weights", mt.schedule_weights),):
            unknown_w = [k for k in weights if k not in TASK_NAMES]
            need(not unknown_w, f"--{name} names unknown task(s) {unknown_w}")
            need(all(math.isfinite(w) and w >= 0 for w in weights.values()), f"--{name} must be finite and 0 or more")
            need(any(weights.get(x, 1.0) > 0 for x in d.tasks), f"--{name} gives every task weight 0")
        bad_weights = [k for k in mt.task_weights if k not in TASK_NAMES]
        need(not bad_weights, f"--task_weights names unknown task(s) {bad_weights}")
        need(all(math.isfinite(w) and w >= 0 for w in mt.task_weights.values()), "--task_weights must be finite and 0 or more")
        need(any(mt.task_weights.get(x, 1.0) > 0 for x in d.tasks), "--task_weights gives every task weight 0: nothing would train")
        need(
            mt.combine_strategy == "none" or mt.projection != "none",
            f"--combine_strategy {mt.combine_strategy} only applies with a gradient projection; "
            "add e.g. --projection pcgrad, or drop --combine_strategy",
        )
        problems += schedule.problems(self)
        need(
            t.option != "test" or bool(t.pretrained_model_name or r.resume),
            "--option test needs a checkpoint: pass --pretrained_model_name RUN_DIR_OR_FILE",
        )
        need(not (r.resume and t.option == "test"), "--resume continues training; use --pretrained_model_name with --option test")
        need(r.save_every >= 0, f"--save_every must be 0 or more (got {r.save_every})")
        splits = self.prediction_splits
        need(
            all(s in ("dev", "test") for s in splits) and len(set(splits)) == len(splits),
            f"--predict_splits must be dev, test or dev,test (got {r.predict_splits!r})",
        )
        if problems:  # one line, however many settings are wrong
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return self


_SECTION_OF: dict[str, str] = {f.name: s for s, c in SECTIONS.items() for f in fields(c)}
_TYPES: dict[str, Any] = {}
for _section, _cls in SECTIONS.items():
    _TYPES.update(get_type_hints(_cls))
_FIELDS = {f.name: f for c in SECTIONS.values() for f in fields(c)}


def _alias(key: str, value: Any) -> tuple[str, Any]:
    if key in ALIASES:
        target, fixed = ALIASES[key]
        if not _truthy(value):
            return target, "cpu" if target == "device" else "off"
        return target, fixed
    return key, value


def _close_names(key: str) -> str:
    import difflib

    return ", ".join(difflib.get_close_matches(key, list(_SECTION_OF) + list(ALIASES), n=3))


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y", "t"):
        return True
    if text in ("0", "false", "no", "off", "n", "f", ""):
        return False
    raise ConfigError(f"expected true/false, got {value!r}")


def flatten(values: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Accept both `{lr: 1}` and `{train: {lr: 1}}`."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping of settings, got {type(values).__name__}")
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if key in SECTIONS and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def coerce(key: str, value: Any, source: str = "config") -> Any:
    """Turn a YAML/CLI/papermill value into the field's type, or raise a clear ConfigError."""
    kind = _TYPES.get(key)
    try:
        if kind is bool:
            return _truthy(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return "" if value is None else str(value)
        if get_origin(kind) is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        if get_origin(kind) is dict:
            if isinstance(value, str):
                pairs = [p for p in re.split(r"[,\s]+", value) if p]
                value = dict(p.split("=", 1) for p in pairs)
            return {str(k): float(v) for k, v in (value or {}).items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: setting {key!r} expects {getattr(kind, '__name__', kind)}, got {value!r}") from exc
    return value


def default_profile() -> str:
    """The profile an empty `profile` means: $MTLIB_PROFILE, else cpu (`make lab PROFILE=smoke`)."""
    return os.environ.get("MTLIB_PROFILE") or "cpu"


def profile_path(profile: str) -> Path:
    """mtlib/profiles/<profile>.yaml (empty: `default_profile()`), or a YAML path as given."""
    profile = profile or default_profile()
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        return path
    path = paths.profiles_dir() / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in paths.profiles_dir().glob("*.yaml"))
        raise ConfigError(f"no profile {profile!r} (looked for {path}); profiles: {', '.join(known)}, or a path to a YAML file")
    return path


def profile_settings(values: dict[str, Any], stage: str = "", source: str = "config") -> dict[str, Any]:
    values = dict(values or {})
    stages = values.pop("stages", None) or {}
    if not isinstance(stages, dict):
        raise ConfigError(f"{source}: `stages` must map stage names to settings")
    if stage:
        if stage not in stages:
            raise ConfigError(f"{source}: no stage {stage!r}; it has: {', '.join(stages) or 'none'}")
        values = {**flatten(values, source), **flatten(stages[stage], f"{source} stage {stage}")}
    return values


MAX_YAML_BYTES = 1_000_000  # a config is a few hundred bytes; this bounds what parsing can cost


class _SafeLoaderNoAliases(yaml.SafeLoader):
    """yaml.SafeLoader without anchors and aliases: a config never needs them, and an alias bomb
    of a few hundred bytes expands to gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not accepted in mtlib configs", mark)
        return super().compose_node(parent, index)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of settings; anything else is a ConfigError naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = path.read_bytes()
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: {len(raw):,} bytes is too large for a config file (at most {MAX_YAML_BYTES:,})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_SafeLoaderNoAliases)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deep to be a config file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file is a mapping of settings (name: value), not a {type(data).__name__}")
    return data


# ---- the command line ----------------------------------------------------------------------
class OneLineParser(argparse.ArgumentParser):
    """argparse, with a bad flag reported in one line (the usage is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m mtlib",
        description="Train and test one BERT encoder on SST-5, Quora paraphrase and STS-B.",
        epilog="Subcommands: predict, export, compare, sweep (e.g. python -m mtlib predict --help).",
        argument_default=argparse.SUPPRESS,  # only what the user typed overrides YAML
        allow_abbrev=False,  # --epoch is an error, not --epochs
    )
    parser.add_argument("--config", help="YAML file of settings (flat or by section); flags override it")
    parser.add_argument("--stage", help="with --config: apply that profile's `stages: <name>` overrides")
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(section)
        hints = get_type_hints(cls)
        for f in fields(cls):
            kind = hints[f.name]
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            help_text = f"{f.metadata['help']} (default: {default!r})"
            names = [f"--{f.name}", *SPELLINGS.get(f.name, ())]
            if kind is bool:
                group.add_argument(*names, action=argparse.BooleanOptionalAction, help=help_text)
            else:
                choices = f.metadata.get("choices")
                group.add_argument(*names, choices=choices, help=help_text)
    legacy = parser.add_argument_group("aliases kept from the CS224N reference project")
    legacy.add_argument("--use_gpu", action="store_true", help="same as --device cuda")
    legacy.add_argument(
        "--use_amp",
        action="store_true",
        help="same as --amp auto (on CUDA bf16 where supported, else fp16; on a CPU bf16 only where it is native, else fp32)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> Config:
    args = vars(build_parser().parse_args(argv))
    path, stage = args.pop("config", None), args.pop("stage", "")
    if stage and not path:
        raise ConfigError("--stage needs --config PROFILE.yaml")
    if "resume" in args:
        ignored = sorted(k for k in args if k not in RUN_ONLY and k not in ("resume",))
        if ignored or path:
            flags = ", ".join(f"--{k}" for k in ignored + (["config"] if path else []))
            raise ConfigError(
                f"--resume {args['resume']} continues that run with the settings it started with, so {flags} cannot apply; "
                "drop them, or start a new run with --save_path"
            )
    cfg = Config.from_yaml(path, stage) if path else Config()
    cfg.update(args, source="command line")
    return cfg


# Settings that change how a run is carried out, not what it trains: two configs that differ only
# here describe the same stage (`Config.differences`).
RUN_ONLY = ("resume", "overwrite", "debug", "progress", "save_path", "save_every", "keep_state", "threads")


def command_line(cfg: Config) -> list[str]:
    """The flags that recreate `cfg` from defaults (only those that differ)."""
    default = Config().to_flat()
    out: list[str] = []
    for key, value in cfg.to_flat().items():
        if key in ("resume", "overwrite", "debug") or value == default[key]:
            continue
        if isinstance(value, bool):
            out.append(f"--{key}" if value else f"--no-{key}")
        elif isinstance(value, list):
            out += [f"--{key}", ",".join(value)]
        elif isinstance(value, dict):
            out += [f"--{key}", ",".join(f"{k}={v}" for k, v in value.items())]
        else:
            out += [f"--{key}", str(value)]
    return out
