"""Files, at the bottom of the stack: atomic writes (a reader sees the old file or the new one,
never half of one) and whole folders replaced atomically, with the modes the umask gives; JSON
read with a clear error; and the marker that makes a folder a run folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, ConfigError, as_os_error, write_failure


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


def replace_folder(new: Path, target: Path, marker: str = "") -> None:
    """Move the complete folder `new` (from `make_temp_folder`) into `target`'s place. An old
    `target` is first renamed aside (`.<name>.old`) and deleted only once the new one is in
    place, so a kill at any moment leaves the old folder, no folder (the old one beside it, as
    `.<name>.old`), or the new one: never a part of either. What `new` holds gets the umask's
    modes first (safetensors, hence `save_pretrained`, writes its files 0600). With `marker`, a
    `.<name>.old` left by a kill is deleted only when it carries the marker (`aside_is_ours`)."""
    files, folders = file_mode(), folder_mode()
    for parent, _subfolders, names in os.walk(new):
        os.chmod(parent, folders)
        for name in names:
            if not os.path.islink(os.path.join(parent, name)):
                os.chmod(os.path.join(parent, name), files)
    old = aside(target)
    if marker and not aside_is_ours(target, marker):
        raise ConfigError(f"{old} is in the way and is not ours (no {marker}), so it is not deleted: move it away, then run again")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def aside(target: Path) -> Path:
    """Where `replace_folder` sets an old `target` while the new one is renamed in."""
    return target.with_name(f".{target.name}.old")


def aside_is_ours(target: Path, marker: str) -> bool:
    """`.<name>.old` is absent, or a folder holding `marker` (an earlier output set aside)."""
    old = aside(target)
    return not (old.exists() or old.is_symlink()) or (old.is_dir() and not old.is_symlink() and (old / marker).is_file())


@contextlib.contextmanager
def built_aside(target: Path, marker: str = "", hint: str = "") -> Iterator[Path]:
    """A temporary folder beside `target` for the body to fill (`marker` last); renamed into
    `target`'s place when the body ends (`replace_folder`), removed when it fails. A failed
    write (a full disk; also safetensors' and tokenizers' text for one) comes out as an OSError
    naming `target`, or with `hint` as one line saying what to do (`write_failure`: exit 3 for
    a full disk), never as a library's traceback."""
    try:
        tmp = make_temp_folder(target)
    except OSError as exc:
        raise (write_failure(target, exc, hint) if hint else exc) from None
    try:
        yield tmp
        replace_folder(tmp, target, marker)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        failure = as_os_error(exc, target)
        if failure is None:
            raise
        raise (write_failure(target, failure, hint) if hint else failure) from exc


def check_output_folder(
    folder: Path,
    marker: str,
    overwrite: bool,
    *,
    flag: str,
    what: str,
    reads: Iterable[Path] = (),
    verb: str = "reads",
    continues: bool = False,
) -> None:
    """The one rule for a command that writes `folder` (docs/reliability.md), checked before
    anything is read or written. A file is refused, and a folder holding what the command reads
    (`reads`, what it `verb`: the folder or one inside it). A folder with something in it is written only when
    it is `what` the command makes (it carries `marker`) and `overwrite` is given (or the
    command `continues` a folder of its own); so is one whose `.<name>.old` is not the
    command's (`replace_folder` would delete it)."""
    named, other = f"{flag} {folder}".strip(), f"another {flag or 'folder'}"
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{named} is a file; {what} is a folder: choose {other}")
    for source in reads:
        if Path(source).resolve().is_relative_to(folder.resolve()):
            raise ConfigError(f"{named} holds what it {verb} ({source}); writing there would destroy it: choose a folder outside it")
    if not aside_is_ours(folder, marker):
        raise ConfigError(
            f"{aside(folder)} is in the way and is not {what} (no {marker}), so it is not deleted: move it away, or choose {other}"
        )
    if not has_content(folder):
        return
    if not (folder / marker).is_file():
        said = f"{named} --overwrite: not" if overwrite else f"{named} exists and is not"
        raise ConfigError(f"{said} {what} (no {marker}), so nothing in it is deleted or replaced; choose {other}")
    if not overwrite and not continues:
        raise ConfigError(f"{named} exists and is not empty (it holds {what}); pass --overwrite to replace it, or choose {other}")


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
