"""Files, at the bottom of the stack: atomic writes (a reader sees the old file or the new one,
never half of one), JSON read with a clear error, and the marker that makes a folder a run folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
