"""The notebooks run in JupyterLab, in headless Chromium, as a reader runs them (tests/lab_check.py).

Needs Debian's chromium (/usr/bin/chromium) and playwright (the dev extra): skipped without them,
except under CI (CI set), where a missing browser fails. About three minutes on two cores (half a
minute of it: notebook 01 executed headless, as `make workbook` saves it, to open in Lab).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import data_dir

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS = ["01", "02", "03", "04"]  # all four: 03 trains on 02's checkpoint, 04 analyses 03's
TIMEOUT = 600  # per notebook; the smoke profile takes well under a minute each


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_browser() -> None:
    missing = [
        what for what, ok in (("/usr/bin/chromium", CHROMIUM.is_file()), ("playwright", importlib.util.find_spec("playwright"))) if not ok
    ]
    if not missing:
        return
    message = f"{' and '.join(missing)} missing (apt-get install chromium; pip install -e '.[dev]')"
    if in_ci():
        pytest.fail(f"{message}: CI must run the JupyterLab check, not skip it")
    pytest.skip(message)


@pytest.mark.slow
def test_notebooks_run_all_cells_in_jupyterlab(tmp_path):
    require_browser()
    shots = tmp_path / "screenshots"
    env = dict(os.environ, MTLIB_DATA_DIR=str(data_dir()))
    command = [sys.executable, str(ROOT / "tests" / "lab_check.py"), "--notebooks", ",".join(NOTEBOOKS)]
    command += ["--out", str(shots), "--timeout", str(TIMEOUT)]  # run folders: a temporary folder under runs/, which Lab reaches
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT * len(NOTEBOOKS) + 300)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # lab_check stops JupyterLab on SIGTERM
        output, _ = proc.communicate(timeout=60)
        pytest.fail(f"lab_check.py did not finish:\n{output}")
    assert proc.returncode == 0, output
    names = {p.stem: p for p in shots.glob("*.png")}
    for number in NOTEBOOKS:
        shot = next((p for stem, p in names.items() if stem.startswith(f"{number}_")), None)
        assert shot is not None and shot.stat().st_size > 20_000, f"no screenshot of notebook {number} in {shots}:\n{output}"
        assert f"[lab-check] {shot.stem}: ok," in output, output
    # Lab's root is the project root: the run's figures open in the same Lab
    assert "[lab-check] runs/interactive-smoke/figures: ok," in output, output
    # an executed run notebook (as `make workbook` saves it) opens without running: its saved figures drawn
    executed = "/workbook-smoke/notebooks/01_data_exploration.ipynb: ok, "  # in the run folders' temporary folder under runs/
    line = next((x for x in output.splitlines() if x.startswith("[lab-check] runs/") and executed in x), None)
    assert line is not None, output
    drawn = re.search(r": ok, (\d+)/(\d+) saved image outputs drawn", line)
    assert drawn and int(drawn[1]) == int(drawn[2]) > 0, line
    shot = shots / "workbook-smoke-01_data_exploration.png"
    assert shot.is_file() and shot.stat().st_size > 20_000, output


def test_saved_outputs_reads_what_lab_must_show(tmp_path):
    """The executed notebook's images that Lab must draw are counted from the file: PNG/JPEG
    outputs (drawn untrusted), not SVG-only ones (an untrusted notebook does not draw them); a
    stripped copy counts 0 images, which lab_check refuses; a saved error output is reported."""
    from lab_check import saved_outputs

    png = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}, "metadata": {}}
    svg = {"output_type": "display_data", "data": {"image/svg+xml": "<svg/>"}, "metadata": {}}
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    cells = [
        {"cell_type": "markdown", "source": "# x", "metadata": {}},
        {"cell_type": "code", "execution_count": 1, "outputs": [png, svg], "source": "", "metadata": {}},
        {"cell_type": "code", "execution_count": 2, "outputs": [png, error], "source": "", "metadata": {}},
    ]
    path = tmp_path / "executed.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert saved_outputs(path) == ([1, 2], 2, ["ValueError: bad"])
    for cell in cells[1:]:
        cell.update(outputs=[], execution_count=None)  # as nbstripout leaves it
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert saved_outputs(path) == ([None, None], 0, [])
