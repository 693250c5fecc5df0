"""One typed config, filled from the command line, a YAML file, or a notebook's parameters.

The config is a `Config` of five sections (data, model, train, multitask, run). Every leaf
field has a unique name, so the same key works everywhere:

    python -m mtlib --config mtlib/profiles/cpu.yaml --lr 2e-5        # CLI overrides YAML
    Config.from_dict({"lr": 2e-5, "encoder": "minilm-l6"})              # papermill parameters
    Config.from_dict(yaml.safe_load(open("cpu.yaml")))                  # flat or sectioned YAML

Validation happens once, in `Config.validate()`, before any data is read or any model built.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from ..util import paths
from ..util.errors import ConfigError
from . import checks as config_checks
from . import reference_flags
from .sections import SECTIONS, DataConfig, ModelConfig, MultitaskConfig, RunConfig, TrainConfig
from .sections import truthy as _truthy
from .tasks import TASK_NAMES
from .yaml_files import default_profile, load_yaml, profile_path

__all__ = ["Config", "default_profile", "load_yaml", "profile_path", "flatten", "profile_settings", "RUN_ONLY"]


# The CS224N reference project's flag spellings, kept as aliases.
ALIASES = {"use_gpu": ("device", "cuda"), "use_amp": ("amp", "auto_fp16")}
RENAMED = {"hidden_dropout_prob": "head_dropout", "beta_vaccine": "gradvac_beta"}  # the reference project's name -> mtlib's
# Stages renamed since: a profile, a `--set STAGE.KEY` or a run folder may still use the old name.
# (`finetune_pal` had no PAL layers, and cpu-full's does not use the `pal` schedule.)
RENAMED_STAGES = {"finetune_pal": "finetune"}
# The reference's per-task micro-batch flags: `--max_batch_size_<task>` (and `--batch_size_<task>`,
# as its README writes them) set one entry of `max_micro_batch`.
MICRO_BATCH_ALIASES = {f"{prefix}{t}": t for t in TASK_NAMES for prefix in ("max_batch_size_", "batch_size_")}
# Other spellings of a flag, as the reference project's README writes them: `-n_hidden_layers 1`
# in its test commands.
SPELLINGS = {"n_hidden_layers": ("-n_hidden_layers",)}


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    multitask: MultitaskConfig = field(default_factory=MultitaskConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        # the settings given by name (command line, YAML, notebook): `--option test` refuses those
        # that contradict the checkpoint, and takes the others from it (mtlib.store.recorded_config)
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
    def from_run(cls, folder: str | Path) -> Config:
        """A run folder's config.yaml as it was written (`mtlib.store.recorded_config.recorded_config` also
        fills in what older mtlib versions left out)."""
        return cls.from_yaml(Path(folder) / "config.yaml")

    @classmethod
    def from_profile(cls, profile: str, stage: str = "", **overrides: Any) -> Config:
        """`mtlib/profiles/<profile>.yaml` (or a path), one of its stages, then overrides
        (empty strings and None mean "keep the profile's value", as papermill passes them)."""
        cfg = cls.from_yaml(profile_path(profile), stage)
        return cfg.update({k: v for k, v in overrides.items() if v not in ("", None)}, source="overrides")

    def update(self, values: dict[str, Any], source: str = "config") -> Config:
        for key, value in flatten(values, source).items():
            if key in MICRO_BATCH_ALIASES:
                size = coerce("batch_size", value, source)
                self.train.max_micro_batch = {k: v for k, v in {**self.train.max_micro_batch, MICRO_BATCH_ALIASES[key]: size}.items() if v}
                self.explicit.add("max_micro_batch")
                continue
            translated = reference_flags.translate(self, key, value, source)
            if translated is not None:
                self.update(dict(translated), source)
                continue
            key, value = _alias(key, value)
            section = _SECTION_OF.get(key)
            if section is None:
                close = _close_names(key)
                raise ConfigError(f"{source}: unknown setting {key!r}" + (f"; did you mean {close}?" if close else ""))
            value = coerce(key, value, source)
            if key == "max_micro_batch":  # 0 means no split, as a missing task does
                value = {k: v for k, v in value.items() if v}
            setattr(getattr(self, section), key, value)
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
        for flat in (mine, theirs):  # the same folder however it is written (a run records it from the project root)
            flat["data_dir"] = str(paths.data_dir(flat["data_dir"])) if flat["data_dir"] else ""
        skip = set(RUN_ONLY) | set(ignore)
        return {k: (v, theirs[k]) for k, v in mine.items() if k not in skip and v != theirs[k]}

    # ---- derived values ----------------------------------------------------------------
    @property
    def prediction_splits(self) -> tuple[str, ...]:
        """The splits written to predictions/ at the end of the stage (`--predict_splits`)."""
        return tuple(s.strip() for s in self.run.predict_splits.split(","))

    def max_micro_batch_of(self, task: str) -> int:
        return self.train.max_micro_batch.get(task, 0) or self.train.batch_size

    def task_weight(self, task: str) -> float:
        return float(self.multitask.task_weights.get(task, 1.0))

    # ---- validation --------------------------------------------------------------------
    def validate(self) -> Config:
        """Check every setting once, before any work; raise ConfigError naming the setting."""
        problems = config_checks.problems(self)
        if problems:  # one line, however many settings are wrong
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return self


# Settings that change how a run is carried out, not what it trains: two configs that differ only
# here describe the same stage (`Config.differences`).
RUN_ONLY = ("resume", "overwrite", "debug", "progress", "save_path", "save_every", "keep_state", "threads")


_SECTION_OF: dict[str, str] = {f.name: s for s, c in SECTIONS.items() for f in fields(c)}
_TYPES: dict[str, Any] = {}
for _section, _cls in SECTIONS.items():
    _TYPES.update(get_type_hints(_cls))
_FIELDS = {f.name: f for c in SECTIONS.values() for f in fields(c)}


def _alias(key: str, value: Any) -> tuple[str, Any]:
    if key in RENAMED:
        return RENAMED[key], value
    if key in ALIASES:
        target, fixed = ALIASES[key]
        if not _truthy(value):
            return target, "cpu" if target == "device" else "off"
        return target, fixed
    return key, value


def _close_names(key: str) -> str:
    import difflib

    return ", ".join(difflib.get_close_matches(key, list(_SECTION_OF) + list(ALIASES) + list(RENAMED) + list(MICRO_BATCH_ALIASES), n=3))


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


def profile_settings(values: dict[str, Any], stage: str = "", source: str = "config") -> dict[str, Any]:
    values = dict(values or {})
    stages = values.pop("stages", None) or {}
    if not isinstance(stages, dict):
        raise ConfigError(f"{source}: `stages` must map stage names to settings")
    stages = {RENAMED_STAGES.get(name, name): settings for name, settings in stages.items()}
    stage = RENAMED_STAGES.get(stage, stage)
    if stage:
        if stage not in stages:
            raise ConfigError(f"{source}: no stage {stage!r}; it has: {', '.join(stages) or 'none'}")
        values = {**flatten(values, source), **flatten(stages[stage], f"{source} stage {stage}")}
    return values


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
            of = get_args(kind)[1]
            return {str(k): of(v) for k, v in (value or {}).items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: setting {key!r} expects {getattr(kind, '__name__', kind)}, got {value!r}") from exc
    return value
