"""`make lab-check`: run the notebooks in JupyterLab, in headless Chromium, as a reader would.

Starts JupyterLab with `make lab` (PROFILE=smoke: a 2-layer random BERT on a few rows; `-o` skips
its install and data prerequisites, which the calling make target has run; Lab's root is the
project root, its default URL the profile's own copies, labs/smoke/), checks that Lab opens on
that folder and that the copies are notebooks/'s, opens each copy in Chromium (Debian's /usr/bin/chromium, driven by Playwright), runs Run > Run All Cells, and
waits until every code cell has an execution count and the kernel is idle. A notebook fails on an
error output, on stderr that holds a traceback or an error (other stderr is reported), or on a
cell that never finishes (--timeout). Each notebook is saved as a screenshot of its whole height
in --out, with JupyterLab's log. Then a figure the notebooks wrote to runs/<run>/figures/ must
open in the same Lab (its root is the project root), and so must a notebook as `make workbook`
saves it: notebook 01, executed headless first (papermill, through mtlib.workbook's own `execute`,
while Lab starts) into runs/workbook-smoke/notebooks/, is opened and not run; every image output
the file holds must be drawn (decoded <img> in the output areas; PNG draws in an untrusted
notebook too; outputs are drawn after the cells, so the check waits for them), with no error
output, the saved execution counts, and the file unchanged (screenshot workbook-smoke-01_*.png).

Nothing of the user's is written: the Lab copies go to a temporary $MTLIB_LABS under runs/, git's
notebook filter is not defined (--no-git-filter), run folders go to a temporary folder under runs/ (Lab reaches
only what is under the project root; or --runs, which must be under the root too), figures to a
temporary folder;
JupyterLab's settings, workspace, checkpoints and runtime files go to a temporary folder. Autosave
is off: the server must serve the check's setting and the browser's document manager must report
it off before a cell runs. And notebooks/*.ipynb are compared byte for byte before and after: a
notebook saved with outputs is restored (the saved copy kept in --out) and the check fails.

    .venv/bin/python tests/lab_check.py [--notebooks 01,02,03,04] [--out runs/lab-check] [--timeout 600] [--runs DIR]

03 trains on 02's checkpoint and 04 analyses 03's: a notebook whose input is not in --runs and
whose predecessor is not among --notebooks gets it from a headless papermill run first ("setup").
Exit status 0 only when every notebook passed; 2 when Chromium or Playwright is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a small /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # without these, connections to the server are refused many at a time
    "--disable-component-update",
    "--disable-sync",
]
RUN_NAME = "interactive-smoke"  # the notebooks' default run name under `make lab PROFILE=smoke`
LAB_PROFILE = "smoke"  # `make lab PROFILE=smoke` serves labs/smoke/ ($MTLIB_LABS/smoke)
# the stage folder a notebook reads, and the notebook that writes it
NEEDS = {"03": ("individual_pretrain", "02"), "04": ("finetune_vaccine", "03")}
# a run as `make workbook` saves it: notebook 01 (no training; three figures) executed headless
WORKBOOK_RUN, WORKBOOK_NOTEBOOK = "workbook-smoke", "01"
# JupyterLab user settings for the check (a temporary --LabApp.user_settings_dir)
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SHOT_HEIGHT = 16000  # Chromium's limit for one capture is about 16k pixels
ERROR_IN_STDERR = re.compile(r"Traceback|\b\w*Error\b")


class CheckError(Exception):
    """The check itself could not run (no browser, server did not start, ...)."""


@dataclass
class Result:
    notebook: str
    cells: int = 0
    ran: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    setup: bool = False
    unit: str = "code cells run"  # what ran/cells count

    @property
    def ok(self) -> bool:
        return not self.errors

    def line(self) -> str:
        status = "ok" if self.ok else "FAILED"
        text = f"[lab-check] {self.notebook}: {status}, {self.ran}/{self.cells} {self.unit} in {self.seconds:.1f} s"
        text += f", {len(self.errors)} error(s), {len(self.warnings)} stderr output(s)"
        if self.screenshot:
            text += f" -> {self.screenshot}"
        return text


# ---- notebooks on disk --------------------------------------------------------------------------
def notebook_paths(keys: list[str]) -> dict[str, Path]:
    found = {p.name[:2]: p for p in sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))}
    unknown = [k for k in keys if k not in found]
    if unknown:
        raise SystemExit(f"lab_check: no notebook {unknown} in {NOTEBOOKS_DIR} (have {sorted(found)})")
    return {k: found[k] for k in sorted(keys)}


def snapshot() -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(NOTEBOOKS_DIR.glob("*.ipynb"))}


def has_outputs(data: bytes) -> bool:
    try:
        cells = json.loads(data)["cells"]
    except (ValueError, KeyError):
        return False
    return any(c.get("outputs") or c.get("execution_count") for c in cells if c.get("cell_type") == "code")


def compare_sources(before: dict[Path, bytes], out: Path) -> list[str]:
    """Problems with notebooks/*.ipynb after the check; restores a notebook that JupyterLab saved."""
    problems = []
    for path, data in before.items():
        now = path.read_bytes() if path.exists() else None
        if now == data:
            continue
        digest = hashlib.sha256(data).hexdigest()[:12]
        if now is not None and has_outputs(now):
            kept = out / f"{path.stem}.saved-by-jupyterlab.ipynb"
            kept.write_bytes(now)
            path.write_bytes(data)
            problems.append(
                f"{path.relative_to(ROOT)} was saved with outputs during the check; restored (sha256 {digest}...), the saved copy: {kept}"
            )
        else:
            problems.append(f"{path.relative_to(ROOT)} changed during the check but holds no outputs (edited by someone?); left as it is")
    return problems


def lab_folder() -> Path:
    """The folder `make lab PROFILE=smoke` serves: $MTLIB_LABS/smoke."""
    return Path(os.environ["MTLIB_LABS"]) / LAB_PROFILE


def check_lab_folder(lab: Lab) -> None:
    """Lab's default URL is the profile's folder, whose copies are notebooks/'s (made on this start)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", lab.port, timeout=30)
    connection.request("GET", "/", headers={"Authorization": f"token {lab.token}"})  # the address `make lab` opens
    location = connection.getresponse().getheader("Location") or ""
    connection.close()
    expected = f"/lab/tree/{lab_folder().relative_to(ROOT).as_posix()}"
    if not location.split("?")[0].endswith(expected):
        raise CheckError(f"`make lab` does not open Lab on {expected}: / redirects to {location!r}")
    for source in sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        copy = lab_folder() / source.name
        if not copy.is_file() or copy.read_bytes() != source.read_bytes():
            raise CheckError(f"`make lab` did not copy {source.relative_to(ROOT)} to {copy.relative_to(ROOT)}")


# ---- JupyterLab ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """JupyterLab started by `make lab`, in its own process group."""

    def __init__(self, tmp: Path, env: dict[str, str], log: Path, timeout: float):
        self.port = free_port()
        self.token = hashlib.sha256(os.urandom(16)).hexdigest()[:32]
        self.base = f"http://127.0.0.1:{self.port}"
        settings = tmp / "lab-settings"
        for plugin, values in SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))
        args = [
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.shutdown_no_activity_timeout={int(max(1800, 2 * timeout))}",  # should this script be killed  # window.jupyterapp: the check reads cells and outputs from JupyterLab's model
            f"--IdentityProvider.token={self.token}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp / 'lab-workspaces'}",
            f"--FileCheckpoints.root_dir={tmp / 'checkpoints'}",  # not notebooks/.ipynb_checkpoints
        ]
        args.append(
            "--no-git-filter"
        )  # mtlib.workbook.notebooks.lab's own flag: the user's git config is left alone; --allow-root: added as root
        venv = Path(sys.prefix)
        if not (venv / "bin" / "jupyter").is_file():
            raise CheckError(f"{venv}/bin/jupyter not found: run this with the project's .venv/bin/python")
        self.command = [
            "make",
            "--no-print-directory",
            # the caller (make lab-check, make test) has installed and fetched the data already
            "-o",
            f"{venv}/.installed",
            "-o",
            "data",
            "lab",
            f"VENV={venv}",
            f"PROFILE={LAB_PROFILE}",
            "LAB_ARGS=" + " ".join(shlex.quote(a) for a in args),
        ]
        self.log_path = log
        self.log = open(log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def url(self, path: str, **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in {**query, "token": self.token}.items())
        return f"{self.base}{path}?{q}"

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"{self.base}{path}", method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def tail(self, lines: int = 30) -> str:
        if not self.log.closed:
            self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CheckError(f"`make lab` exited with status {self.proc.returncode}:\n{self.tail()}")
            try:
                self.api("/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise CheckError(f"JupyterLab did not answer on {self.base} within {timeout:.0f} s:\n{self.tail()}")

    def check_settings(self) -> None:
        """The server serves our settings: autosave off (else JupyterLab would save outputs into notebooks/)."""
        for plugin, values in SETTINGS.items():
            package, _, name = plugin.rpartition("/")
            got = self.api(f"/lab/api/settings/{package}:{name}")["settings"]
            wrong = {k: got.get(k) for k, v in values.items() if got.get(k) != v}
            if wrong:
                raise CheckError(f"JupyterLab did not take the check's settings for {plugin}: {wrong}")

    def kernel_ready(self, notebook: str) -> bool:
        """The notebook's kernel is started, idle and connected to the page."""
        for session in self.api("/api/sessions"):
            kernel = session.get("kernel") or {}
            if session["path"] == notebook and kernel.get("execution_state") == "idle" and kernel.get("connections", 0) > 0:
                return True
        return False

    def shutdown_kernels(self) -> None:
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.api("/api/shutdown", method="POST")  # shuts the kernels down too
                self.proc.wait(timeout=30)
            except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)  # make and the jupyter server it started (our own process group)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.log.close()


# ---- the browser --------------------------------------------------------------------------------
CELL_STATE_JS = """() => {
  // the notebook as JupyterLab holds it (window.jupyterapp: --LabApp.expose_app_in_browser) and as it shows it
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const indicator = panel.node.querySelector('.jp-Notebook-ExecutionIndicator');
  return {
    kernel: kernel ? kernel.status : null,
    indicator: indicator ? indicator.getAttribute('data-status') : null,
    cells: panel.content.widgets.map((cell, index) => ({cell, index})).filter(({cell}) => cell.model.type === 'code')
      .map(({cell, index}) => {
        const prompt = cell.node.querySelector('.jp-InputArea-prompt');
        const outputs = cell.model.outputs.toJSON().map(o => ({
          type: o.output_type, name: o.name || '', ename: o.ename || '', evalue: o.evalue || '',
          text: (o.output_type === 'error' ? o.traceback.join('\\n') : [].concat(o.text || []).join('')).slice(0, 6000),
          mimes: Object.keys(o.data || {}),
        }));
        return {index, count: cell.model.executionCount, prompt: prompt ? prompt.innerText.trim() : '', outputs};
      }),
  };
}"""


def running(state: dict) -> list[dict]:
    """The code cells JupyterLab shows as [*]: running or queued."""
    return [c for c in state["cells"] if re.fullmatch(r"\[\*\]:?", c["prompt"])]


def wait_for(page, predicate, timeout: float, poll: float = 0.5) -> dict | None:
    """Poll the notebook's state until predicate(state) holds or timeout seconds pass; the last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(CELL_STATE_JS)
        if state and predicate(state):
            return state
        if time.monotonic() > deadline:
            return state
        time.sleep(poll)


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def run_notebook(page, lab: Lab, path: Path, out: Path, timeout: float) -> Result:
    result = Result(path.stem)
    start = time.monotonic()
    lab_path = f"{lab_folder().relative_to(ROOT).as_posix()}/{path.name}"  # the profile's copy; Lab's root is the project root
    page.goto(lab.url(f"/lab/tree/{lab_path}", reset=""), wait_until="domcontentloaded")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
    deadline = time.monotonic() + 120
    while not lab.kernel_ready(lab_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    state = wait_for(page, lambda s: s["kernel"] == "idle", max(deadline - time.monotonic(), 1))
    if state is None:
        raise CheckError("window.jupyterapp is missing: JupyterLab did not take --LabApp.expose_app_in_browser")
    if state["kernel"] != "idle" or not lab.kernel_ready(lab_path):
        result.errors.append(f"the kernel did not start and become idle within 120 s of opening (status {state['kernel']})")
        return result
    # the document manager's own state (the Settings > Autosave Documents toggle), not only the server's settings
    if page.evaluate("() => window.jupyterapp.commands.isToggled('docmanager:toggle-autosave')") is not False:
        raise CheckError("autosave is on in the browser despite the check's settings: JupyterLab would save outputs into notebooks/")
    result.cells = len(state["cells"])
    sidebar = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if sidebar.count():
        sidebar.first.click()  # close the file browser: the notebook gets the window's width
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item .lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # started: a cell shows [*] or the kernel is busy (a very fast notebook may be done before the first poll)
    wait_for(page, lambda s: s["kernel"] != "idle" or running(s) or any(c["count"] for c in s["cells"]), 30, poll=0.2)
    state = wait_for(page, lambda s: s["kernel"] == "idle" and not running(s), timeout)
    result.seconds = time.monotonic() - start
    result.ran = sum(bool(c["count"]) for c in state["cells"])
    stuck = running(state)
    if stuck:
        result.errors.append(f"cell {stuck[0]['index'] + 1} never finished (still [*] after {timeout:.0f} s)")
        if len(stuck) > 1:
            result.errors.append(f"cell(s) {[c['index'] + 1 for c in stuck[1:]]} queued behind it never ran")
    elif state["kernel"] != "idle":
        result.errors.append(f"the kernel is still {state['kernel']} after {timeout:.0f} s")
    for cell in state["cells"]:
        number = cell["index"] + 1  # 1-based, markdown cells included, as JupyterLab's status bar counts
        for output in cell["outputs"]:
            text = strip_ansi(output["text"]).strip()
            if output["type"] == "error":
                result.errors.append(f"cell {number} raised {output['ename']}: {output['evalue']}\n{text}")
            elif output["type"] == "stream" and output["name"] == "stderr":
                if ERROR_IN_STDERR.search(text):
                    result.errors.append(f"cell {number} wrote an error to stderr:\n{text}")
                else:
                    result.warnings.append(f"cell {number} stderr:\n{text}")
    not_run = [c["index"] + 1 for c in state["cells"] if not c["count"] and c not in stuck]
    if not_run:
        result.errors.append(f"cell(s) {not_run} never ran (Run All stops at an error)")
    result.screenshot = screenshot(page, out / f"{path.stem}.png")
    return result


def screenshot(page, path: Path) -> Path:
    """The whole notebook: the window made as tall as the notebook's content, then back."""
    height = page.evaluate(
        """() => {
          const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
          return panel ? panel.scrollHeight - panel.clientHeight : 0;
        }"""
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(VIEWPORT["height"] + int(height) + 40, MAX_SHOT_HEIGHT)})
    page.wait_for_timeout(1000)  # relayout, and the images of outputs drawn
    page.evaluate("() => document.querySelectorAll('.jp-WindowedPanel-outer').forEach(e => e.scrollTop = 0)")
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)
    return path


def open_run_figure(page, lab: Lab, runs: Path, out: Path) -> Result:
    """Lab's root is the project root: a figure of runs/<run>/figures/ opens in the same Lab."""
    result = Result(f"runs/{RUN_NAME}/figures", unit="figures opened")
    run = (runs / RUN_NAME).relative_to(ROOT).as_posix()
    figures = sorted((runs / RUN_NAME / "figures").glob("*.png"))
    if not figures:
        result.errors.append(f"no figure in {run}/figures/")
        return result
    page.goto(lab.url(f"/lab/tree/{run}/figures/{figures[0].name}", reset=""), wait_until="domcontentloaded")
    try:
        page.locator(".jp-ImageViewer img").first.wait_for(timeout=60_000)
        result.cells = result.ran = 1
    except Exception as exc:  # playwright's TimeoutError
        result.errors.append(f"{run}/figures/{figures[0].name} did not open in Lab: {exc}")
    result.screenshot = screenshot(page, out / "run-folder-figure.png")
    return result


# ---- a notebook `make workbook` executed, opened as saved -----------------------------------------
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")  # rendered as <img> also in an untrusted notebook
OUTPUT_IMAGES_JS = """() => {
  // the images drawn in the current notebook's output areas, and how many of them are decoded
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content) return null;
  const images = [...panel.content.node.querySelectorAll('.jp-OutputArea-output img')];
  const outputs = [...panel.content.node.querySelectorAll('.jp-OutputArea-output')];
  return {images: images.length, decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
          untrusted: outputs.some(o => /Cannot display an untrusted/i.test(o.innerText))};
}"""


def execute_for_workbook(runs: Path, out: Path) -> tuple[Result, Path | None]:
    """Notebook WORKBOOK_NOTEBOOK executed headless as `make workbook` does it (mtlib.workbook's
    own `execute` and parameters, papermill, smoke profile), saved to runs/<WORKBOOK_RUN>/notebooks/."""
    from mtlib.workbook.notebooks.execute import WorkbookError, declared_parameters, execute
    from mtlib.workbook.notebooks.runner import notebook_parameters

    source = notebook_paths([WORKBOOK_NOTEBOOK])[WORKBOOK_NOTEBOOK]
    executed = runs / WORKBOOK_RUN / "notebooks" / source.name
    result = Result(f"{WORKBOOK_RUN} {source.stem}", setup=True)
    print(f"[lab-check] setup: {source.stem} headless (papermill) into {executed.relative_to(ROOT)}, to open in Lab ...", flush=True)
    executed.parent.mkdir(parents=True, exist_ok=True)
    declared = declared_parameters(source)
    params = {k: v for k, v in notebook_parameters("smoke", WORKBOOK_RUN, str(runs)).items() if k in declared}
    try:
        result.seconds = execute(source, executed, params, echo=False)
    except WorkbookError as exc:
        result.errors.append(f"setup failed: {exc}")
    print(f"[lab-check] setup: {source.stem} {'done' if result.ok else 'FAILED'} in {result.seconds:.1f} s", flush=True)
    return result, executed if result.ok else None


def saved_outputs(path: Path) -> tuple[list[int | None], int, list[str]]:
    """What the file holds: the code cells' execution counts, its image outputs, its error outputs."""
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c.get("cell_type") == "code"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    images = sum(1 for o in outputs if any(m in o.get("data", {}) for m in IMAGE_MIMES))
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error"]
    return [c.get("execution_count") for c in cells], images, errors


def open_executed_notebook(page, lab: Lab, path: Path, out: Path) -> Result:
    """An executed notebook of runs/<run>/notebooks/ opens in the same Lab, not run: its saved
    outputs shown, every image of the file drawn (decoded), no error output; the file unchanged."""
    rel = path.relative_to(ROOT).as_posix()
    result = Result(rel, unit="saved image outputs drawn (not run)")
    before = path.read_bytes()
    counts, expected, saved_errors = saved_outputs(path)
    result.cells = expected
    if not expected:
        result.errors.append(f"{rel} holds no image output (stripped, or not executed?): nothing to see in Lab")
    result.errors += [f"{rel} was saved with an error output: {e}" for e in saved_errors]
    start = time.monotonic()
    page.goto(lab.url(f"/lab/tree/{rel}", reset=""), wait_until="domcontentloaded")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
    sidebar = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if sidebar.count():
        sidebar.first.click()  # close the file browser: the notebook gets the window's width
    deadline = time.monotonic() + 60
    shown = page.evaluate(OUTPUT_IMAGES_JS)
    while (shown is None or shown["decoded"] < max(expected, 1)) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        shown = page.evaluate(OUTPUT_IMAGES_JS)
    state = page.evaluate(CELL_STATE_JS)
    result.seconds = time.monotonic() - start
    if shown is None or state is None:
        raise CheckError("window.jupyterapp is missing: JupyterLab did not take --LabApp.expose_app_in_browser")
    result.ran = shown["decoded"]
    if shown["decoded"] < expected:
        result.errors.append(
            f"Lab draws {shown['decoded']} of the {expected} image output(s) saved in {rel} ({shown['images']} <img> in its output areas)"
            + (", and says it cannot display an untrusted output" if shown["untrusted"] else "")
        )
    shown_counts = [c["count"] for c in state["cells"]]
    if shown_counts != counts:
        result.errors.append(f"Lab shows execution counts {shown_counts}, the file holds {counts}: not the saved outputs")
    for cell in state["cells"]:
        for output in cell["outputs"]:
            if output["type"] == "error":
                result.errors.append(f"cell {cell['index'] + 1} shows an error output: {output['ename']}: {output['evalue']}")
    result.screenshot = screenshot(page, out / f"{WORKBOOK_RUN}-{path.stem}.png")
    if path.read_bytes() != before:
        result.errors.append(f"{rel} changed while open in Lab (it was only to be read)")
    return result


# ---- setup: inputs of 03 and 04 from a headless run ---------------------------------------------
def prepare_inputs(selected: dict[str, Path], runs: Path, out: Path) -> list[Result]:
    """Run (papermill, smoke profile) the predecessors whose stage folders a selected notebook needs."""
    needed: list[str] = []

    def need(key: str) -> None:
        if key not in NEEDS:
            return
        stage, before = NEEDS[key]
        if before in selected or before in needed or (runs / RUN_NAME / "stages" / stage / "model.safetensors").is_file():
            return
        need(before)
        needed.append(before)

    for key in selected:
        need(key)
    results = []
    if not needed:
        return results
    import papermill as pm

    for path in notebook_paths(needed).values():
        result = Result(path.stem, setup=True)
        print(f"[lab-check] setup: {path.stem} headless (papermill), for the notebooks after it ...", flush=True)
        start = time.monotonic()
        try:
            pm.execute_notebook(
                str(path),
                str(out / f"setup-{path.name}"),
                parameters={"profile": "smoke", "run_name": RUN_NAME},
                cwd=str(NOTEBOOKS_DIR),
                progress_bar=False,
            )
        except pm.PapermillExecutionError as exc:
            result.errors.append(
                f"setup failed in cell {exc.cell_index}: {exc.ename}: {exc.evalue}; the executed copy: {out / f'setup-{path.name}'}"
            )
        result.seconds = time.monotonic() - start
        results.append(result)
        print(f"[lab-check] setup: {path.stem} {'done' if result.ok else 'FAILED'} in {result.seconds:.1f} s", flush=True)
        if not result.ok:
            break
    return results


# ---- main ---------------------------------------------------------------------------------------
def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", default="01,02,03,04", help="which notebooks, by number (default: 01,02,03,04)")
    parser.add_argument("--out", default="runs/lab-check", help="folder for the screenshots and logs (default: runs/lab-check)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a notebook may take to run all its cells (default: 600)")
    parser.add_argument(
        "--runs",
        default="",
        help="folder for run folders ($MTLIB_RUNS) under the project root, kept; default: a temporary folder under runs/, removed at the end",
    )
    args = parser.parse_args(argv)
    selected = notebook_paths([k.strip().zfill(2) for k in args.notebooks.split(",") if k.strip()])
    out = (ROOT / args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for path in selected.values():  # this check's own screenshots of a previous run
        for old in (out / f"{path.stem}.png", out / f"{path.stem}.failed.png"):
            old.unlink(missing_ok=True)

    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        print(f"lab_check: playwright is missing ({exc}); `make install` installs it (the dev extra)", file=sys.stderr)
        return 2
    if not os.access(CHROMIUM, os.X_OK):
        print(f"lab_check: {CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, interrupted)  # stop JupyterLab also when terminated
    tmp = Path(tempfile.mkdtemp(prefix="lab-check-"))
    (ROOT / "runs").mkdir(exist_ok=True)
    runs = Path(args.runs).resolve() if args.runs else Path(tempfile.mkdtemp(prefix="lab-check-runs-", dir=ROOT / "runs"))
    if not runs.is_relative_to(ROOT):
        parser.error(f"--runs {runs} is outside the project root {ROOT}: JupyterLab could not open the run folders")
    labs = Path(tempfile.mkdtemp(prefix="lab-check-labs-", dir=ROOT / "runs"))  # under the root: Lab opens it
    data_dir = Path(os.environ.get("MTLIB_DATA_DIR") or "data")
    os.environ.update(
        MTLIB_RUNS=str(runs),
        MTLIB_FIGURES=str(tmp / "figures"),
        MTLIB_DATA_DIR=str(data_dir if data_dir.is_absolute() else ROOT / data_dir),
        MTLIB_PROFILE="smoke",
        MTLIB_LABS=str(labs),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
    )
    before = snapshot()
    results: list[Result] = []
    problems: list[str] = []
    lab = None
    total = time.monotonic()
    print(f"[lab-check] notebooks {', '.join(p.stem for p in selected.values())}; runs in {runs}; screenshots in {out}", flush=True)
    try:
        results += prepare_inputs(selected, runs, out)
        if all(r.ok for r in results):
            lab = Lab(tmp, dict(os.environ), out / "jupyterlab.log", args.timeout)
            print(f"[lab-check] {shlex.join(lab.command)}", flush=True)
            result, executed = execute_for_workbook(runs, out)  # while JupyterLab starts
            results.append(result)
            lab.wait_ready()
            lab.check_settings()
            check_lab_folder(lab)
            print(f"[lab-check] JupyterLab up on {lab.base} (autosave off); its log: {lab.log_path}", flush=True)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport=VIEWPORT)
                    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?" (unsaved notebook) when opening the next
                    for path in selected.values():
                        print(f"[lab-check] {path.stem} ...", flush=True)
                        try:
                            result = run_notebook(page, lab, path, out, args.timeout)
                        except PlaywrightError as exc:
                            result = Result(path.stem, errors=[f"browser: {exc}"])
                            page.screenshot(path=str(out / f"{path.stem}.failed.png"))
                        try:
                            lab.shutdown_kernels()  # each notebook its own kernel, as a reader opening it
                        except (urllib.error.URLError, OSError) as exc:
                            raise CheckError(f"JupyterLab stopped answering: {exc}\n{lab.tail()}") from exc
                        results.append(result)
                        print(result.line(), flush=True)
                        for text in result.errors + result.warnings:
                            print("    " + text.replace("\n", "\n    "), flush=True)
                    if results and results[-1].ok:
                        try:
                            result = open_run_figure(page, lab, runs, out)
                        except PlaywrightError as exc:
                            result = Result(f"runs/{RUN_NAME}/figures", errors=[f"browser: {exc}"])
                        results.append(result)
                        print(result.line(), flush=True)
                        for text in result.errors:
                            print("    " + text, flush=True)
                    if executed is not None:
                        try:
                            result = open_executed_notebook(page, lab, executed, out)
                        except PlaywrightError as exc:
                            result = Result(
                                executed.relative_to(ROOT).as_posix(), errors=[f"browser: {exc}"], unit="saved image outputs drawn"
                            )
                        try:
                            lab.shutdown_kernels()  # the kernel Lab started on opening it (nothing ran in it)
                        except (urllib.error.URLError, OSError) as exc:
                            raise CheckError(f"JupyterLab stopped answering: {exc}\n{lab.tail()}") from exc
                        results.append(result)
                        print(result.line(), flush=True)
                        for text in result.errors:
                            print("    " + text, flush=True)
                finally:
                    browser.close()
    except CheckError as exc:
        problems.append(str(exc))
    except KeyboardInterrupt:
        problems.append("interrupted")
    finally:
        if lab is not None:
            lab.stop()
        problems += compare_sources(before, out)
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(labs, ignore_errors=True)
        if not args.runs:
            shutil.rmtree(runs, ignore_errors=True)
    for problem in problems:
        print(f"[lab-check] ERROR: {problem}", file=sys.stderr, flush=True)
    failed = [r.notebook for r in results if not r.ok]
    print("[lab-check] summary:")
    for result in results:
        print(result.line() if not result.setup else f"[lab-check] {result.notebook}: setup (papermill) in {result.seconds:.1f} s")
    ok = (
        not failed and not problems and len([r for r in results if not r.setup]) == len(selected) + 2
    )  # + the run folder's figure, the executed notebook
    print(f"[lab-check] {'passed' if ok else 'FAILED'} in {time.monotonic() - total:.0f} s; screenshots in {out}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
