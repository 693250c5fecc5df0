"""`make lab PROFILE=P` (`python -m mtlib.workbook.notebooks.lab --profile P`): JupyterLab on the profile's
own copies of the notebooks.

Each profile's Lab works on labs/<profile>/NN_*.ipynb (gitignored; not in a run folder, which
`--overwrite` clears), copied from notebooks/ when absent and never overwritten afterwards. So two
Labs (`make lab`, `make lab PROFILE=smoke`) never autosave into each other's notebooks, and `make
workbook` runs the committed notebooks/, not what a Lab last saved. When a notebook of notebooks/
has changed since its copy was made, the launch says so and keeps the copy (delete the copy to
start again from the new one). JupyterLab's root is the project root (runs/ in the same file
browser), opened on labs/<profile>/; run as root, it gets --allow-root. In a git checkout whose
.gitattributes names the notebook filter, the filter is defined once (nbstripout with the keys
pre-commit strips), so a notebook of notebooks/ that Lab saves without edits leaves `git status`
clean (Lab writes the kernel's language_info, Python version included, on opening a notebook).

    python -m mtlib.workbook.notebooks.lab --profile smoke [--no-git-filter] [JupyterLab's flags ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from ...config.yaml_files import default_profile, profile_path
from ...util import paths
from ...util.errors import ConfigError, run_command
from ...util.files import atomic_write_json
from .sources import sha256

COPIED = ".copied-from.json"  # in labs/<profile>/: notebook name -> sha256 of notebooks/'s file when it was copied
FILTER_KEYS = "metadata.language_info.version metadata.widgets"  # what .pre-commit-config.yaml's nbstripout strips too


def lab_folder(profile: str, labs: str | Path = "") -> Path:
    """labs/<profile>/ ($MTLIB_LABS), under the project root so that Lab can open it."""
    folder = paths.labs_dir(labs) / Path(profile).stem
    if not folder.resolve().is_relative_to(paths.project_root()):
        raise ConfigError(f"the Lab folder {folder} is outside the project root {paths.project_root()}: JupyterLab could not open it")
    return folder


def prepare_copies(folder: Path, notebooks: Path | None = None) -> list[str]:
    """Copy each notebook of `notebooks` (notebooks/) missing in `folder`; never overwrite a copy.
    Returns what to tell the user: copies made, and copies whose source has changed since."""
    notebooks = notebooks or paths.notebooks_dir()
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / COPIED
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    said = []
    for source in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        copy, data = folder / source.name, source.read_bytes()
        if not copy.exists():
            copy.write_bytes(data)
            record[source.name] = sha256(data)
            said.append(f"copied {rel(source)} to {rel(copy)}")
        elif record.get(source.name) not in (None, sha256(data)):
            said.append(
                f"{rel(source)} has changed since {rel(copy)} was copied from it; your copy is kept "
                f"(delete or rename it to start again from the new one)"
            )
    atomic_write_json(record_path, record)
    return said


def rel(path: Path) -> str:
    return path.resolve().relative_to(paths.project_root()).as_posix() if path.resolve().is_relative_to(paths.project_root()) else str(path)


def install_git_filter(root: Path) -> str | None:
    """Define git's `nbstripout` filter when .gitattributes names it and the repository has none
    yet (an existing definition is left alone). Returns what to tell the user, or None."""
    attributes = root / ".gitattributes"
    if not attributes.is_file() or "filter=nbstripout" not in attributes.read_text(encoding="utf-8"):
        return None

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)

    try:
        if git("rev-parse", "--git-dir").returncode != 0 or git("config", "--get", "filter.nbstripout.clean").stdout.strip():
            return None
        import importlib.util

        if importlib.util.find_spec("nbstripout") is None:
            return "nbstripout is missing (make install): a notebook Lab saves may show as modified in git status"
        git(
            "config",
            "filter.nbstripout.clean",
            f"{shlex.quote(sys.executable)} -m nbstripout --keep-id --extra-keys {shlex.quote(FILTER_KEYS)}",
        )
        git("config", "filter.nbstripout.smudge", "cat")
    except (OSError, subprocess.SubprocessError) as exc:
        return f"git's notebook filter not installed ({exc})"
    return f"installed git's notebook filter (nbstripout --keep-id --extra-keys '{FILTER_KEYS}'; see .gitattributes)"


def lab_command(folder: Path, extra: list[str], as_root: bool | None = None) -> list[str]:
    """`jupyter lab` at the project root, opened on `folder`; --allow-root when run as root."""
    as_root = os.geteuid() == 0 if as_root is None else as_root
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={paths.project_root()}"]
    command.append(f"--LabApp.default_url=/lab/tree/{rel(folder)}")
    if as_root and "--allow-root" not in extra:
        command.append("--allow-root")  # Jupyter refuses root otherwise ("Running as root is not recommended")
    return command + extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mtlib.workbook.notebooks.lab", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument(
        "--profile", default="", help="cpu | cpu-full | gpu | reference | smoke (or a YAML path); default $MTLIB_PROFILE, else cpu"
    )
    parser.add_argument("--no-git-filter", action="store_true", help="do not define git's notebook filter")
    args, extra = parser.parse_known_args(argv)

    def work() -> None:
        profile = args.profile or default_profile()
        profile_path(profile)  # an unknown profile: one line, before anything is written
        folder = lab_folder(profile)
        for line in prepare_copies(folder) + ([] if args.no_git_filter else [install_git_filter(paths.project_root())]):
            if line:
                print(f"[lab] {line}", flush=True)
        command = lab_command(folder, extra)
        print(f"[lab] profile {Path(profile).stem}: notebooks in {rel(folder)}/ (yours; notebooks/ holds the committed ones)", flush=True)
        print(f"[lab] {shlex.join(command)}", flush=True)
        os.execve(command[0], command, {**os.environ, "MTLIB_PROFILE": profile})

    return run_command("mtlib.workbook.notebooks.lab", work)


if __name__ == "__main__":
    sys.exit(main())
