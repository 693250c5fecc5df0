"""The errors mtlib raises for bad input. The CLI prints their message alone (no traceback
unless `--debug`) and exits non-zero; notebooks show them as ordinary exceptions."""

from __future__ import annotations

from typing import Any


class MtlibError(Exception):
    """A problem the user can fix: the message says what and how."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """What IPython (a notebook, JupyterLab, papermill) shows instead of the traceback: the
        one line the CLI prints. (`%debug` still reaches the frames.)"""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class ConfigError(MtlibError):
    pass


class DataError(MtlibError):
    """A task file that cannot be used, located as `file:line:column`."""

    def __init__(self, message: str, path: object = None, line: int | None = None, column: str | None = None, hint: str = ""):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            if column is not None:
                where += f" (column {column!r})"
            where += ": "
        text = where + message
        if hint:
            text += f" -> {hint}"
        super().__init__(text)
        self.path, self.line, self.column = path, line, column


class CheckpointError(MtlibError):
    pass


class TrainingError(MtlibError):
    exit_code = 3


def disk_error_message(exc: OSError, hint: str = "choose a writable folder (--save_path, $MTLIB_RUNS)") -> str:
    """One line for a failed write: which path, why, and for a full disk how much is free."""
    import errno
    import shutil
    from pathlib import Path

    where = exc.filename or "a file"
    text = f"cannot write {where}: {exc.strerror or exc}"
    if exc.errno == errno.ENOSPC and exc.filename:
        folder = Path(exc.filename).parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        text += f" ({shutil.disk_usage(folder).free / 2**20:,.0f} MiB free there; a run folder needs a few hundred MiB)"
    elif exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        text += f"; {hint}"
    return text


def write_failure(target: object, exc: OSError, hint: str) -> MtlibError:
    """A failed write of `target` (often through a temporary file beside it) as one line that
    names `target` and what to do (`hint`)."""
    import errno

    text = disk_error_message(OSError(exc.errno, exc.strerror or str(exc), str(target)), hint)
    if exc.errno == errno.ENOSPC:  # the machine failed, not the input: exit 3, and the same command finishes
        failure = MtlibError(f"the disk is full: {text}; free some space, then run the same command again")
        failure.exit_code = 3
        return failure
    return MtlibError(text if text.endswith(hint) else f"{text}; {hint}")


def as_os_error(exc: BaseException, target: object) -> OSError | None:
    """The failed write inside `exc`, as an OSError naming `target`: an OSError itself, or the
    text a Rust library gives one (safetensors' `IoError(Os { code: 28, .. })`, tokenizers'
    `No space left on device (os error 28)`); None for any other failure."""
    import os
    import re

    if isinstance(exc, OSError):
        return OSError(exc.errno, exc.strerror or str(exc), str(target)) if exc.errno else None
    code = re.search(r"code: (\d+)|os error (\d+)", str(exc)) if isinstance(exc, Exception) else None
    if code is None:
        return None
    number = int(code.group(1) or code.group(2))
    return OSError(number, os.strerror(number), str(target))


def run_command(prog: str, work: Any) -> int:
    """A command's `main` body: run `work()`; 0 when it returns, else `one_line`'s exit code
    (anything `one_line` does not know is re-raised with its traceback)."""
    try:
        work()
    except BaseException as exc:
        code = one_line(prog, exc)
        if code is None:
            raise
        return code
    return 0


def one_line(prog: str, exc: BaseException) -> int | None:
    """For a command's `main`: one line on stderr for a failure the user can act on, and its exit
    code; None for anything else (the caller re-raises it, traceback and all)."""
    import errno
    import sys

    if isinstance(exc, MtlibError):
        text, code = f"error: {exc}", exc.exit_code
    elif isinstance(exc, OSError):
        text, code = f"error: {disk_error_message(exc)}", 3 if exc.errno == errno.ENOSPC else 2
    elif isinstance(exc, Interrupted):  # the training loop saved its state
        text, code = f"{exc}. Run the same command again to continue.", exc.exit_code
    elif isinstance(exc, KeyboardInterrupt):
        text, code = "interrupted; run the same command again to continue (finished stages are kept, the stopped one resumes)", 130
    else:
        return None
    print(f"{prog}: {text}", file=sys.stderr)
    return code


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived during training; the state was saved and the run can be resumed
    (`mtlib.train`). The exit code is the shell's for that signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.exit_code = 128 + int(signum)
