"""Which notebook file a headless workbook run executes: the committed one, pinned.

Papermill's convention is that a batch run executes a pinned notebook with injected parameters,
so `make workbook` never runs whatever JupyterLab last autosaved. In a git checkout each of
notebooks/NN_*.ipynb must be byte for byte the file of the commit (`git show HEAD:<path>`); it is
then executed from where it is (the executed copy's `input_path` names notebooks/NN_*.ipynb, and
the run records the commit and the sha256). Bytes, not git's own status: papermill runs what the
file holds, outputs included, and git's notebook filter would call a file with outputs or another
Python version in its metadata unchanged. An edited notebook is refused in one line, unless the
run is asked to execute edited notebooks (`--edited-notebooks [DIR]`): then the executed files are
kept in the run folder (sources/) with their sha256, and the run's command names that folder, so
the command recreates the run. Outside a git checkout the files run as they are (sha256 recorded).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...util import paths
from ...util.errors import ConfigError

KEPT = "sources"  # runs/<run>/sources/: the executed notebooks of a run given --edited-notebooks
EDITED_FLAG = "--edited-notebooks"


@dataclass(frozen=True)
class NotebookSource:
    """The file a notebook is executed from, and how the run records it."""

    path: Path
    record: dict[str, Any]  # {"source", "sha256", "commit"} (commit: None outside git or for an edited file)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    try:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def committed(path: Path) -> tuple[str, bytes | None] | None:
    """(HEAD's commit, the file's bytes there, or None when it is not committed) for `path` in a
    git checkout; None outside one (or without git)."""
    top = _git(path.parent, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        return None
    head = _git(path.parent, "rev-parse", "HEAD")
    if head is None or head.returncode != 0:
        return None
    rel = path.resolve().relative_to(Path(top.stdout.decode().strip()).resolve()).as_posix()
    shown = _git(path.parent, "show", f"HEAD:{rel}")
    return head.stdout.decode().strip(), (shown.stdout if shown is not None and shown.returncode == 0 else None)


def pinned_sources(names: tuple[str, ...], notebooks: Path, edited: str | None, run: Path) -> dict[str, NotebookSource]:
    """notebook key ("01") -> the file to execute. `edited` None: the committed notebooks of
    `notebooks` (refusing an edited one); else the notebooks of the folder `edited` ("" for
    `notebooks`), as they are, kept in `run`/sources/ (call `keep` once the run's lock is held)."""
    if edited is not None:
        folder = paths.from_root(edited) if edited else notebooks
        found = {}
        for name in names:
            path = folder / f"{name}.ipynb"
            if not path.is_file():
                raise ConfigError(f"{EDITED_FLAG} {edited or notebooks}: no {path.name} in {folder}")
            found[name[:2]] = NotebookSource(path, {"source": str(path), "sha256": sha256(path.read_bytes()), "commit": None})
        return found
    sources = {}
    for name in names:
        path = notebooks / f"{name}.ipynb"
        data = path.read_bytes()
        record = {"source": str(path), "sha256": sha256(data), "commit": None}
        pinned = committed(path)
        if pinned is not None:
            commit, blob = pinned
            if blob != data:
                what = "is not committed" if blob is None else f"differs from the committed one (commit {commit[:10]})"
                raise ConfigError(
                    f"{paths.recorded(str(path), run)} {what}: the workbook runs the committed notebooks, so that its command "
                    f"recreates the run. Commit it (or restore it: git checkout HEAD -- {path.name}), or run it as it is with "
                    f"{EDITED_FLAG} (make workbook EDITED=1), which keeps the executed notebooks in runs/{run.name}/{KEPT}/"
                )
            record["commit"] = commit
        sources[name[:2]] = NotebookSource(path, record)
    return sources


def keep(sources: dict[str, NotebookSource], run: Path) -> dict[str, NotebookSource]:
    """Edited notebooks copied into `run`/sources/ (not over themselves: a rerun of the recorded
    command reads them from there), executed from there, their sha256 checked after the copy."""
    kept_dir = run / KEPT
    kept_dir.mkdir(parents=True, exist_ok=True)
    kept = {}
    for key, source in sources.items():
        target = kept_dir / source.path.name
        if not (target.exists() and target.resolve() == source.path.resolve()):
            shutil.copyfile(source.path, target)
        if sha256(target.read_bytes()) != source.record["sha256"]:
            raise ConfigError(f"{source.path} changed while it was copied into {kept_dir}; run the workbook again")
        kept[key] = NotebookSource(target, {**source.record, "source": str(target)})
    return kept


def edited_setting(sources: dict[str, NotebookSource], run: Path) -> str | None:
    """The `--edited-notebooks` folder that recreates the run (its sources/), or None when the
    run executed the committed notebooks."""
    folders = {s.path.parent for s in sources.values()}
    return str(run / KEPT) if folders == {run / KEPT} else None
