"""The workbook's notebook parameters (`-p name=value`), checked before anything is written or
deleted: each declared by a notebook, of its declared type, its value one that the stages'
Config accepts; and the profile, given once. Which parameter sets which stage's setting is
`mtlib.workbook.training.stages.NOTEBOOK_SETTINGS`, the map the notebooks train with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...config.sections import Range, at_least, between
from ...config.yaml_files import profile_path
from ...util import paths
from ...util.errors import ConfigError
from ..training.stages import NOTEBOOK_SETTINGS, check_stages, notebook_settings

# the notebooks' own parameters (no stage setting): the values their analyses can use
NOTEBOOK_RANGES: dict[str, Range] = {
    "sample_rows": at_least(0, "all"),  # 01
    "bootstrap_resamples": between(100, 100_000),  # 04: scipy's bootstrap; 0 was an IndexError after every stage retrained
    "n_errors": between(0, 1000),  # 04
    "seed": between(0, 2**32, "[)"),  # 04's bootstrap seed too (02 and 03: the stages' seed)
}
_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str, int, float)}


def check_parameters(
    profile: str, folder: Path, data_dir: str, encoder: str, extra: dict[str, Any], declared: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The notebook parameters `extra`, checked before anything is written or deleted: each
    declared by a notebook, of the type it declares, its value one the stages' Config accepts;
    `run_name` and `runs_dir` only as this run's own. Returns them as the notebooks get them."""

    extra = dict(extra)
    own = {"run_name": folder.name, "runs_dir": folder.parent}
    for name, mine in own.items():
        if name in extra:
            theirs = str(extra.pop(name))
            if (paths.runs_dir(theirs).resolve() if name == "runs_dir" else theirs) != mine:
                raise ConfigError(
                    f"-p {name}={theirs}: this workbook writes run {folder} and no other; "
                    f"to write another run, give its name with --run (and its folder with --runs_dir)"
                )
    unknown = [k for k in extra if not any(k in d for d in declared.values())]
    if unknown:
        raise ConfigError(
            f"no notebook declares the parameter(s) {unknown} among those the workbook runs ({', '.join(declared)}); "
            "see `papermill --help-notebook notebooks/<name>.ipynb`"
        )
    for name, value in extra.items():
        for key, params in declared.items():
            kind = params.get(name, {}).get("inferred_type_name", "None")
            allowed = _TYPES.get(kind)
            if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and kind != "bool")):
                raise ConfigError(f"-p {name}={value!r}: notebook {key} declares {name} as {kind}; give a value of that type")
            if kind == "str":
                extra[name] = str(value)
    for name, allowed in NOTEBOOK_RANGES.items():
        if name in extra and not allowed.admits(extra[name]):
            raise ConfigError(f"-p {name}={extra[name]!r}: must be {allowed.describe()}")
    if extra.get("checkpoint"):
        check_checkpoint(str(extra["checkpoint"]), folder)
    given = {"encoder": encoder, "data_dir": data_dir, **extra}
    common, per_stage = notebook_settings(**{k: v for k, v in given.items() if k in NOTEBOOK_SETTINGS})
    check_stages(profile, folder, common, per_stage, given="the notebook parameters")
    return extra


def check_checkpoint(checkpoint: str, folder: Path) -> None:
    """Notebook 04's `checkpoint`, in the workbook: a stage of this run only; another run's
    analysis would go into this run's report under its name."""
    stage = paths.from_root(checkpoint).resolve()
    stage = stage.parent if stage.suffix == ".safetensors" else stage
    if stage.parent != folder / "stages":
        raise ConfigError(
            f"-p checkpoint={checkpoint}: the workbook analyses a stage of run {folder.name} only ({folder / 'stages'}/<stage>), "
            "so that its report shows its own model; to analyse another run, run the workbook (or notebook 04) for that run"
        )


def one_profile(profile: str, extra: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The profile, given once: `-p profile=` is --profile, and the two may not differ. A
    profile file becomes one absolute path, for every notebook and for the record."""

    def same(name: str) -> str:
        return str(profile_path(name)) if Path(name).suffix in (".yaml", ".yml") else name

    extra = dict(extra)
    asked = str(extra.pop("profile", "") or "")
    if asked and profile and same(asked) != same(profile):
        raise ConfigError(f"--profile {profile} and -p profile={asked} disagree; give the profile once")
    profile = asked or profile or "cpu"
    return same(profile), extra
