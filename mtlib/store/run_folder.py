"""The run folder: everything a run leaves behind, and the record of how to make it again.

runs/<name>/
  config.yaml        the full config (its paths relative: `mtlib.store.recorded_config.record`)
  command.txt        a command that recreates the run, given in the project root (paths under it
                     written from it; a run folder outside it is ".": its paths as config.yaml's)
  manifest.json      versions, git commit (+dirty), data md5 sums, device, data notes
  metrics.jsonl      one record per event (train losses, dev scores, schedule, ...): `mtlib.store.metrics_file`
  results.json       final dev scores (written atomically)
  tb/                TensorBoard event files
  model.safetensors  best checkpoint (+ model.json, tokenizer/)
  state/             last training state, for --resume (removed once the run finishes, unless --keep_state)
  figures/           the workbook's figures of this run (PNG + SVG)
  predictions/       CS224N prediction files for dev and test, plus rich TSVs
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ..config.command_line import command_line
from ..config.config import Config
from ..util import paths
from ..util.errors import ConfigError
from ..util.files import LOCK, MARKER, atomic_write_json, atomic_write_text, has_content, is_run_folder, mark_run_folder
from . import metrics_file


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold `folder`'s run lock (`RunDir.lock`) for the body: one process per run folder."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = RunDir(folder)
    holder.lock()
    try:
        yield
    finally:
        holder.release()


def default_run_name(option: str) -> str:
    """runs/<timestamp>-<option> under the project root (`mtlib.util.paths.runs_dir`)."""
    return str(paths.runs_dir() / f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{option}")


def git_state(root: Path | None = None) -> dict[str, Any]:
    root = root or paths.project_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout
        return {"commit": commit or None, "dirty": bool(dirty.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def cpu_model() -> str:
    """The CPU's model name, as lscpu shows it (the CPU decides what a CPU run costs). A name
    without a model number, such as a virtual machine's "AMD EPYC", gets the CPU's family and model
    numbers: "AMD EPYC (family 25, model 1)" (Zen 3) is not "AMD EPYC (family 23, model 1)" (Zen 1),
    whose fp32 matmul peak on two cores is half of it."""
    try:
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if not line.strip():
                break  # the first processor's block is enough
            fields.setdefault(key.strip(), value.strip())
        name = fields.get("model name", "")
        if name and not any(ch.isdigit() for ch in name) and fields.get("cpu family") and fields.get("model"):
            return f"{name} (family {fields['cpu family']}, model {fields['model']})"
        if name:
            return name
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "tokenizers", "torchjd", "numpy", "safetensors", "papermill"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._writer: Any = None
        self.step_offset = 0  # TensorBoard steps continue the stage this run starts from (mtlib.store.tensorboard)

    # ---- creation ----------------------------------------------------------------------------
    @classmethod
    def check(cls, cfg: Config, path: Path | None = None) -> Path:
        """Where the run goes, and whether it may go there: validated before any work, nothing
        written. Refuses a file, an existing folder without --overwrite, a folder that is not an
        mtlib run folder (--overwrite clears only mtlib's own), and a folder that holds the
        checkpoint the run reads. `path`: the folder an earlier check chose (when --save_path
        was not given, the default name holds the time)."""
        run = cfg.run
        if run.resume:
            path = Path(run.resume)
            if not (path / "config.yaml").is_file():
                raise ConfigError(f"--resume {path}: not a run folder (no config.yaml)")
            return path
        path = Path(path or run.save_path or default_run_name(cfg.train.option))
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--save_path {path} is a file; a run needs a folder: choose another --save_path")
        if has_content(path):
            if not run.overwrite:
                raise ConfigError(f"run folder {path} already exists; pass --overwrite to replace it, or --resume {path} to continue it")
            if not is_run_folder(path):
                raise ConfigError(
                    f"--overwrite {path}: not an mtlib run folder (no {MARKER}), so nothing in it is deleted; choose another --save_path"
                )
        if cfg.train.pretrained_model_name:
            from .checkpoints import resolve_checkpoint

            weights = resolve_checkpoint(cfg.train.pretrained_model_name).resolve()
            if weights.is_relative_to(path.resolve()):
                raise ConfigError(
                    f"--save_path {path} holds the checkpoint this run reads ({weights}); writing there would destroy it: "
                    "choose another --save_path"
                )
        return path

    @classmethod
    def open(cls, cfg: Config, rank: int = 0, path: Path | None = None) -> RunDir:
        """Create the run folder (or reopen it for --resume), holding its lock for the life of
        the process. Call `check` first (`path` is its answer): it is checked again under the
        lock, so a run that wrote into the folder since is never replaced without --overwrite."""
        path = path or cls.check(cfg)
        run_dir = cls(path)
        if rank == 0:
            path.mkdir(parents=True, exist_ok=True)
            run_dir.lock()
            try:
                cls.check(cfg, path)  # under the lock: the folder as it is now, not as it was when the run started
                if not cfg.run.resume:
                    run_dir.clear_records()
                    mark_run_folder(path)
                from .checkpoints import remove_orphans

                remove_orphans(path)
            except BaseException:
                run_dir.release()
                raise
        return run_dir

    def lock(self) -> None:
        """An exclusive lock (flock on `.lock`) for as long as this process runs in the folder;
        a second process gets one line naming the holder's PID."""
        import fcntl

        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"run folder {self.path} is in use by another mtlib process (PID {holder}); wait for it to end, or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def release(self) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def clear_records(self) -> None:
        """Remove a previous run's records that a new run would append to or mix with
        (metrics.jsonl, TensorBoard events, training state, predictions, the best checkpoint); the rest of the
        folder is rewritten as the new run goes."""
        import shutil

        for name in ("metrics.jsonl", "results.json", "model.safetensors", "model.json"):
            (self.path / name).unlink(missing_ok=True)
        for name in ("tb", "state", "state.old", "state.new", "predictions", "tokenizer"):
            shutil.rmtree(self.path / name, ignore_errors=True)

    def record_start(self, cfg: Config, manifest: dict[str, Any]) -> None:
        from .recorded_config import record

        with_path = copy.deepcopy(cfg)
        with_path.run.save_path = str(self.path)
        atomic_write_text(self.path / "config.yaml", yaml.safe_dump(record(with_path, self.path), sort_keys=False))
        args = command_line(Config.from_dict(record(with_path, self.path, root_first=True)))
        command = "python -m mtlib " + " ".join(shlex.quote(a) for a in args) + " --overwrite"
        atomic_write_text(self.path / "command.txt", command + "\n")
        base = {
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
            "argv": [paths.recorded_argument(a, self.path) for a in sys.argv],
            "versions": library_versions(),
            "git": git_state(),
            "host": platform.node(),
            "cpu_count": os.cpu_count(),
        }
        atomic_write_json(self.path / "manifest.json", {**base, **manifest} | self._portable_data(manifest))

    def _portable_data(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """The manifest's data folder and files, written as `mtlib.util.paths.recorded` does."""
        data = manifest.get("data")
        if not isinstance(data, dict):
            return {}
        files = {paths.recorded(k, self.path) if os.path.isabs(k) else k: v for k, v in data.get("files", {}).items()}
        return {"data": {**data, "data_dir": paths.recorded(data.get("data_dir", ""), self.path), "files": files}}

    # ---- metrics -----------------------------------------------------------------------------
    def log(self, record: metrics_file.Record) -> None:
        """Append one record to metrics.jsonl (`mtlib.store.metrics_file.append`: fsynced)."""
        metrics_file.append(self.path, record)

    def writer(self, purge_step: int | None = None) -> Any:
        """The run's TensorBoard writer (created on first use, so a run that logs nothing leaves
        no event file); its steps continue the stage it started from (`mtlib.store.tensorboard`)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            from .tensorboard import OffsetWriter

            offset = self.step_offset
            purge = None if purge_step is None else purge_step + offset
            self._writer = OffsetWriter(SummaryWriter(str(self.path / "tb"), purge_step=purge), offset)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None

    def drop_state(self) -> None:
        """Remove the training state of a finished stage (`--keep_state` keeps it)."""
        import shutil

        for name in ("state", "state.old", "state.new"):
            shutil.rmtree(self.path / name, ignore_errors=True)

    @property
    def predictions(self) -> Path:
        return self.path / "predictions"

    @property
    def state(self) -> Path:
        return self.path / "state"


def truncate_metrics(path: Path, step: int) -> None:
    """On resume: drop records logged after the state being resumed (they will be logged again)."""
    if not (path / metrics_file.NAME).exists():
        return
    keep = [r for r in metrics_file.read(path) if r.step <= step]  # the start line is step 0
    atomic_write_text(path / metrics_file.NAME, "".join(metrics_file.to_line(r) + "\n" for r in keep))
