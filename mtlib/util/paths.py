"""Where things are: one resolution of the project's folders, never the working directory.

JupyterLab starts kernels in `notebooks/`, papermill in whatever folder it was called from, and
`make` in the project root. So every folder mtlib reads or writes by default is resolved here,
against the project root, whatever the working directory:

    data/      $MTLIB_DATA_DIR, else data/        the task files
    runs/      $MTLIB_RUNS, else runs/            run folders (the workbook's and the CLI's default)
    figures/   $MTLIB_FIGURES, else figures/      copies of each run's figures, for papers
    labs/      $MTLIB_LABS, else labs/            each Lab profile's notebooks (`make lab`)

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


def labs_dir(setting: str | Path = "") -> Path:
    """The folder of each Lab profile's own notebook copies (`make lab`): the setting, else $MTLIB_LABS, else labs/."""
    return from_root(setting or os.environ.get("MTLIB_LABS") or "labs")


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


# ---- paths in a run's records (issue 25) ------------------------------------------------------
# A run folder records no absolute path of the machine that made it, so it can be moved or
# copied: a path inside the run (the run folder of a workbook or recipe run, with its stages)
# is written relative to the folder whose file records it, starting "./" or "../"; another path
# under the project root is written relative to the project root; a path outside the project
# cannot be made portable and is kept absolute. `from_record` reads all three, and the absolute
# paths runs recorded before.


def enclosing_run(folder: str | Path) -> Path:
    """The run a folder belongs to: a workbook or recipe run for its stages (runs/<run>/stages/<stage>/), else itself."""
    folder = Path(folder)
    return folder.parent.parent if folder.parent.name == "stages" else folder


def recorded(path: str | Path, folder: str | Path, root_first: bool = False) -> str:
    """`path` as a file of the run folder `folder` records it (see above). A relative `path` is
    taken from the working directory, as the command line takes it; "" stays "". `root_first`:
    a path under the project root is written from it even inside the run (command.txt, a
    command to give in the project root)."""
    if path in ("", None):
        return ""
    target, here = Path(os.path.abspath(Path(path).expanduser())), Path(os.path.abspath(folder))
    if root_first and target.resolve().is_relative_to(project_root()):
        return target.resolve().relative_to(project_root()).as_posix()
    if not target.is_relative_to(enclosing_run(here)):  # perhaps the same place by another spelling (a symlink)
        target, here = target.resolve(), here.resolve()
    if target.is_relative_to(enclosing_run(here)):
        relative = Path(os.path.relpath(target, here)).as_posix()
        return relative if relative == "." or relative.startswith("../") else f"./{relative}"
    root = project_root()
    if target.resolve().is_relative_to(root):
        return target.resolve().relative_to(root).as_posix()
    return str(target)  # outside the project: no relative form would survive a move, so kept as it is


def from_record(value: str, folder: str | Path) -> str:
    """A path a record of the run folder `folder` holds, as a path to open: "./" and "../" from
    `folder`, another relative path from the project root, an absolute one (older runs) as it is."""
    if not value or Path(value).is_absolute():
        return value
    if value == "." or value.startswith(("./", "../")):
        return os.path.normpath(Path(folder) / value)
    return str(project_root() / value)


def recorded_argument(arg: str, folder: str | Path) -> str:
    """One word of a command line (manifest.json's `argv`) as the run folder `folder` records it:
    an absolute path (alone, or the value of `--flag=PATH`) inside the run or the project as
    `recorded` writes it, one inside an installed package's folder (the interpreter's
    site-packages: `.../site-packages/pytest/__main__.py`) from that folder (`pytest/__main__.py`),
    and one elsewhere (a temporary file, say) by its name alone (`<outside>/params.yaml`): the
    argv tells how the process was called; command.txt, not it, is the command to run again."""
    flag, sep, value = arg.partition("=") if arg.startswith("-") and "=" in arg else ("", "", arg)
    if not os.path.isabs(value):
        return arg
    target, run = Path(os.path.abspath(value)), enclosing_run(Path(os.path.abspath(folder)))
    # an installed package first: a virtual environment may sit inside the project (.venv/)
    package = next((target.relative_to(p).as_posix() for p in _package_dirs(site_only=True) if target.is_relative_to(p)), "")
    if package and not target.resolve().is_relative_to(run.resolve()):
        shown = package
    elif target.resolve().is_relative_to(run.resolve()) or target.resolve().is_relative_to(project_root()):
        shown = recorded(target, folder)
    else:
        shown = next((target.relative_to(p).as_posix() for p in _package_dirs() if target.is_relative_to(p)), f"<outside>/{target.name}")
    return flag + sep + shown


def _package_dirs(site_only: bool = False) -> list[Path]:
    """The interpreter's own folders (site-packages first, then, unless `site_only`, its prefix), longest first."""
    import site
    import sys

    found = [*site.getsitepackages(), site.getusersitepackages(), *(() if site_only else (sys.prefix, sys.base_prefix))]
    return sorted({Path(p) for p in found if p}, key=lambda p: -len(p.parts))
