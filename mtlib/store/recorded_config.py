"""The settings a run recorded: read back as that run meant them, and followed by `--option test`.

`recorded_config(folder)` reads a run folder's config.yaml. Runs recorded before mtlib counted
epochs as the reference project does (configs without `lr_schedule`) meant other things by two
settings; they are read as they trained: with a linear warm-up and decay, and, for updates of
more than one batch, with `num_batches_per_epoch` as the count of updates it then was (and 16
batches per update where a projection left the number to mtlib).

`adopt_checkpoint_settings(cfg, weights)` is `--option test`: the model is rebuilt from the
checkpoint's model.json, and read as it was trained (config.yaml beside the weights: max length
and precision). Those settings come from the checkpoint; one given by name that says otherwise
is refused, naming both values.

`record(cfg, folder)` is the config.yaml a run writes: its paths as `mtlib.util.paths.recorded`
writes them (the run folder itself ".", a stage it started from "../finetune", the data folder
from the project root), so the folder can move; `recorded_config` reads them back against the
folder (and the absolute paths of runs recorded before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import methods
from ..config.config import Config, flatten, load_yaml
from ..util import paths
from ..util.errors import ConfigError

# settings that name a file or folder: taken from the working directory on the command line
# (data_dir from the project root), written into a run's records relative to it (issue 25)
PATH_SETTINGS = ("save_path", "resume", "pretrained_model_name", "data_dir")

# model.json field -> setting: the architecture, rebuilt from the checkpoint
FROM_MODEL_SPEC = {
    "encoder_name": "encoder",
    "pooling": "pooling",
    "pair_encoding": "pair_encoding",
    "n_hidden_layers": "n_hidden_layers",
    "hidden_dropout_prob": "head_dropout",
    "head_activation": "head_activation",
    "use_pal": "use_pal",
    "pal_size": "pal_size",
    "pal_heads": "pal_heads",
}
# config.yaml settings that change what the checkpoint predicts
FROM_RUN_CONFIG = ("max_length", "amp")


def recorded_config(folder: str | Path) -> Config:
    """A run folder's config.yaml as the run meant it (see the module docstring)."""
    path = Path(folder) / "config.yaml"
    values = flatten(load_yaml(path), str(path))
    values |= {k: paths.from_record(v, folder) for k, v in values.items() if k in PATH_SETTINGS and isinstance(v, str)}
    if "lr_schedule" not in values:  # recorded by an mtlib that counted epochs in updates
        values = {**values, "lr_schedule": "linear"}
        projection = methods.registered("projection").get(values.get("projection", Config().multitask.projection))
        combines = projection is None or projection.combines  # an unknown name: Config.from_dict refuses it below
        k = values.get("batches_per_update") or (methods.COMBINE_BATCHES if combines else 1)
        if k > 1:
            values["batches_per_update"] = k
            values["updates_per_epoch"] = values.pop("num_batches_per_epoch", 0)
    return Config.from_dict(values, source=str(path))


def record(cfg: Config, folder: str | Path, root_first: bool = False) -> dict[str, Any]:
    """`cfg` by section, as the run folder `folder` records it (config.yaml): no absolute path
    (`root_first`: as command.txt does, `mtlib.util.paths.recorded`)."""
    out = cfg.to_dict()
    for section in out.values():
        if section.get("data_dir"):  # from the project root, as --data_dir is read
            section["data_dir"] = str(paths.data_dir(section["data_dir"]))
        section |= {k: paths.recorded(v, folder, root_first) for k, v in section.items() if k in PATH_SETTINGS}
    return out


def adopt_checkpoint_settings(cfg: Config, weights: Path, spec: dict[str, Any]) -> list[str]:
    """Set `cfg`'s model, max length and precision from the checkpoint `weights` (its model.json
    is `spec`); refuse a setting given by name that contradicts it. Returns notes."""
    recorded = {setting: spec[field] for field, setting in FROM_MODEL_SPEC.items() if field in spec}
    notes = []
    run_config = weights.parent / "config.yaml"
    if run_config.is_file():
        trained = recorded_config(weights.parent).to_flat()
        recorded.update({k: trained[k] for k in FROM_RUN_CONFIG})
    else:
        notes.append(f"{weights} has no config.yaml beside it: --max_length and --amp are this command's")
    current = cfg.to_flat()
    clash = {k: v for k, v in recorded.items() if k in cfg.explicit and current[k] != v}
    if clash:
        shown = "; ".join(f"--{k} {current[k]!r} given, {v!r} in the checkpoint" for k, v in clash.items())
        raise ConfigError(
            f"--option test reads {weights} as it was trained, and these settings say otherwise: {shown}. "
            "Leave them out (the checkpoint's are used)"
        )
    cfg.update(recorded, source=str(weights))
    return notes
