"""Files, at the bottom of the stack: atomic writes (a reader sees the old file or the new one,
never half of one) and whole folders replaced atomically, with the modes the umask gives; JSON
read with a clear error; and the marker that makes a folder a run folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError


# ---- modes: as the umask says, like torch.save and Hugging Face ---------------------------------
def current_umask() -> int:
    """The process's umask (Linux: read from /proc, which changes nothing; elsewhere set and reset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open()` gives a new file: 0644 under umask 022, 0600 under 077. `tempfile`
    makes its files 0600 and folders 0700 whatever the umask; what it made is set to this (and
    `folder_mode`) before it is renamed into place, as torch.save and Hugging Face files are."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode `mkdir` gives a new folder: 0755 under umask 022, 0700 under 077."""
    return 0o777 & ~current_umask()


def make_temp_folder(target: Path) -> Path:
    """A new empty folder beside `target` (`.<name>.<random>.tmp`), with the umask's mode, to be
    filled and then moved into place by `replace_folder`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    os.chmod(tmp, folder_mode())
    return tmp


def replace_folder(new: Path, target: Path) -> None:
    """Move the complete folder `new` (from `make_temp_folder`) into `target`'s place. An old
    `target` is first renamed aside (`.<name>.old`) and deleted only once the new one is in
    place, so a kill at any moment leaves the old folder, no folder (the old one beside it, as
    `.<name>.old`), or the new one: never a part of either. What `new` holds gets the umask's
    modes first (safetensors, hence `save_pretrained`, writes its files 0600)."""
    files, folders = file_mode(), folder_mode()
    for parent, _subfolders, names in os.walk(new):
        os.chmod(parent, folders)
        for name in names:
            if not os.path.islink(os.path.join(parent, name)):
                os.chmod(os.path.join(parent, name), files)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


# ---- atomic writes -----------------------------------------------------------------------------
def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not UTF-8 text; the run folder is damaged") from None


# ---- the run-folder marker -------------------------------------------------------------------
MARKER = ".mtlib-run"  # written into every run folder mtlib creates: --overwrite clears only these
LOCK = ".lock"  # flock'ed for the life of a run (`RunDir.lock`)


def has_content(path: Path) -> bool:
    return path.is_dir() and any(p.name != LOCK for p in path.iterdir())


def mark_run_folder(path: Path) -> None:
    atomic_write_text(path / MARKER, "an mtlib run folder: --overwrite may clear it\n")


def is_run_folder(path: Path) -> bool:
    """A folder mtlib made: its marker, or (runs made before the marker) config.yaml and a
    manifest.json that records mtlib's versions."""
    if (path / MARKER).is_file():
        return True
    try:
        return (path / "config.yaml").is_file() and "versions" in json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False
