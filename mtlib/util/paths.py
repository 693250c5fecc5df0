"""Where things are: one resolution of the project's folders, never the working directory.

JupyterLab starts kernels in `notebooks/`, papermill in whatever folder it was called from, and
`make` in the project root. So every folder mtlib reads or writes by default is resolved here,
against the project root, whatever the working directory:

    data/      $MTLIB_DATA_DIR, else data/        the task files
    runs/      $MTLIB_RUNS, else runs/            run folders (the workbook's and the CLI's default)
    figures/   $MTLIB_FIGURES, else figures/      copies of each run's figures, for papers

A relative path in one of these variables (or in `--data_dir`) is taken from the project root.
The project root is $MTLIB_ROOT, else the checkout this package lives in, else the nearest
folder above the working directory that holds `notebooks/` and `pyproject.toml` (a non-editable
install).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _is_root(folder: Path) -> bool:
    return (folder / "notebooks").is_dir() and (folder / "pyproject.toml").is_file()


def project_root() -> Path:
    """The checkout's root folder (see the module docstring)."""
    if os.environ.get("MTLIB_ROOT"):
        return Path(os.environ["MTLIB_ROOT"]).expanduser().resolve()
    if _is_root(PACKAGE_DIR.parent):
        return PACKAGE_DIR.parent
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_root(folder):
            return folder
    return PACKAGE_DIR.parent


def from_root(path: str | Path) -> Path:
    """`path` made absolute against the project root (an absolute path is kept)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def data_dir(setting: str | Path = "") -> Path:
    """The task-file folder: the setting, else $MTLIB_DATA_DIR, else data/."""
    return from_root(setting or os.environ.get("MTLIB_DATA_DIR") or "data")


def runs_dir(setting: str | Path = "") -> Path:
    """The folder of run folders: the setting, else $MTLIB_RUNS, else runs/."""
    return from_root(setting or os.environ.get("MTLIB_RUNS") or "runs")


def figures_dir(setting: str | Path = "") -> Path:
    """The folder of figure copies: the setting, else $MTLIB_FIGURES, else figures/."""
    return from_root(setting or os.environ.get("MTLIB_FIGURES") or "figures")


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def profiles_dir() -> Path:
    """The profiles ship inside the package (mtlib/profiles/), so a wheel install has them."""
    return PACKAGE_DIR / "profiles"


def check_run_name(name: str) -> str:
    """A run name is a folder name under runs/ and figures/, not a path."""
    if not RUN_NAME.fullmatch(name or "") or name in (".", ".."):
        raise ConfigError(
            f"run name {name!r} is not a plain name (letters, digits, '.', '_', '-'; no '/'); "
            "it becomes runs/<name>/. To put runs elsewhere, set $MTLIB_RUNS (or --runs_dir of the workbook and the recipe)"
        )
    return name


def run_folder(name: str, root: str | Path = "") -> Path:
    """runs/<name>/ (under `root`, else `runs_dir()`)."""
    return runs_dir(root) / check_run_name(name)
