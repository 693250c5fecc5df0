"""One notebook executed headless by papermill: its kernel on IPC sockets, with plain-text
progress, its output echoed to the terminal as it comes, and a failing cell reported in one
`WorkbookError` (cell, exception, traceback, the executed notebook to open)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...util.errors import MtlibError


class WorkbookError(MtlibError):
    """A notebook failed, or the run folder may not be written; the message says why."""

    exit_code = 1


class KernelDied(WorkbookError):
    """The kernel running a notebook died (killed, out of memory): the run can be continued."""

    exit_code = 3


def declared_parameters(path: Path) -> dict[str, Any]:
    """The names, types and defaults of a notebook's `parameters` cell, as papermill reads them."""
    import papermill as pm

    return pm.inspect_notebook(str(path))


class _Lines:
    """A file-like sink for a kernel's stdout that echoes it to the terminal as it comes."""

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        return len(text)

    def flush(self) -> None:
        sys.stdout.flush()


@contextlib.contextmanager
def _kernel_environment() -> Iterator[None]:
    """Kernels started by papermill print plain-text progress (`mtlib.util.progress`)."""
    saved = os.environ.get("MTLIB_PROGRESS")
    os.environ["MTLIB_PROGRESS"] = "text"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MTLIB_PROGRESS", None)
        else:
            os.environ["MTLIB_PROGRESS"] = saved


def _ipc_kernel_manager() -> Any:
    """A kernel manager on IPC transport: no TCP ports, and no unencrypted-TCP warning. Each
    kernel's sockets live in a folder of their own: jupyter_client's default (`kernel-ipc-N` in
    the working directory, N picked by checking which files exist) let two workbooks running at
    once pick the same sockets, and each rejected the other's messages ("Invalid Signature")."""
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kw: Any):
            super().__init__(**kw)
            self.transport = "ipc"
            self.ip = os.path.join(tempfile.mkdtemp(prefix="mtlib-kernel-"), "kernel-ipc")

    return IPCKernelManager


def execute(source: Path, output: Path, parameters: dict[str, Any], echo: bool = True, cwd: Path | None = None) -> float:
    """Run one notebook; returns its wall time. Raises WorkbookError naming the failing cell."""
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    start = time.perf_counter()
    try:
        with _kernel_environment():
            pm.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                progress_bar=False,
                stdout_file=_Lines() if echo else None,
                cwd=str(cwd or source.parent),
                kernel_manager_class=_ipc_kernel_manager(),
            )
    except pm.PapermillExecutionError as exc:
        trace = _strip_ansi("\n".join(exc.traceback))
        raise WorkbookError(
            f"{source.name} failed in cell {exc.cell_index} (execution {exc.exec_count}): {exc.ename}: {exc.evalue}\n"
            f"{trace}\n\nthe executed notebook, with the error: {output}"
        ) from exc
    except DeadKernelError as exc:
        raise KernelDied(
            f"the kernel running {source.name} died ({exc}: killed, or out of memory); the run's finished stages are kept "
            "and the stage it was training resumes from its last saved state: run the same command again to continue"
        ) from exc
    return time.perf_counter() - start


def make_portable(notebook: Path, run_dir: Path) -> None:
    """Write the absolute paths an executed notebook holds (papermill's metadata, the injected
    parameters, printed output) as the run's records write them (`paths.recorded`): a place in
    the run from the run folder ("./stages/finetune/model.safetensors"), one in the project from
    its root ("notebooks/03_staged_finetuning.ipynb", "data"); a place outside both stays as it is."""
    from ...util import paths
    from ...util.files import atomic_write_text

    text = notebook.read_text(encoding="utf-8")
    places = {str(run_dir), os.path.abspath(run_dir), str(Path(run_dir).resolve()), str(paths.project_root())}
    pattern = "|".join(re.escape(p) for p in sorted(places, key=len, reverse=True))  # the run before the project holding it
    portable = re.sub(rf"(?:{pattern})(?:/[\w.+@%=-]+)*(?![\w.+@%=-])", lambda m: paths.recorded(m.group(0), run_dir), text)
    if portable != text:
        atomic_write_text(notebook, portable)


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
