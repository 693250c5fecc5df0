from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _close_widgets():
    """Widgets a test made (notebook 04's picker, the playground) are closed with the test, not
    by their `__del__` at interpreter exit, where ipywidgets can no longer import and prints a
    traceback per widget."""
    yield
    if "ipywidgets" in sys.modules:
        sys.modules["ipywidgets"].Widget.close_all()


ROOT = Path(__file__).resolve().parent.parent
torch.set_num_threads(1)  # pytest-xdist runs one worker per core


def data_dir() -> Path:
    from mtlib.util import paths

    path = paths.data_dir()  # $MTLIB_DATA_DIR (relative: from the project root), else data/
    if not (path / "ids-sst-dev.csv").exists():
        pytest.skip(f"task files not found in {path}; run `make data`")  # make test always runs make data first
    return path


@pytest.fixture
def real_data_dir() -> Path:
    return data_dir()


@pytest.fixture
def tiny_cfg(tmp_path, real_data_dir):
    """A factory for configs of the tiny random BERT on a few real rows per task."""
    from mtlib.config.config import Config

    def make(**changes):
        base = dict(
            encoder="tiny-random",
            data_dir=str(real_data_dir),
            device="cpu",
            amp="off",
            max_length=48,
            batch_size=8,
            eval_batch_size=64,
            max_train_examples=32,
            max_eval_examples=32,
            epochs=1,
            lr=1e-3,
            progress=False,
            save_path=str(tmp_path / "run"),
            overwrite=True,
        )
        base.update(changes)
        return Config.from_dict(base)

    return make


# Smoke recipe runs shared by the tests of predict, export, the model card and compare: each is
# trained once per test session, whichever xdist worker asks first (the others wait on a lock).
SMOKE_RUNS = {
    "pal-cross": ["threads=1"],  # the smoke profile as is: pairs cross-encoded, PAL in stage 3
    "bi-no-pal": ["threads=1", "pair_encoding=bi", "finetune_vaccine.use_pal=false"],  # sentence-transformers exportable
}


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, worker_id):
    """A factory: `smoke_run("pal-cross")` is the folder of a finished smoke recipe run."""
    from filelock import FileLock

    from mtlib.workbook.training.recipe import run_recipe

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    root = shared / "smoke-runs"
    root.mkdir(exist_ok=True)

    def make(name: str) -> Path:
        folder = root / name
        with FileLock(str(root / f"{name}.lock")):
            if not (folder / "results.json").is_file():
                run_recipe("smoke", name, [f"data_dir={data_dir()}", *SMOKE_RUNS[name]], root=root)
        return folder

    return make


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory):
    """A finished tiny --keep_state run, trained once per test module; each test gets a copy."""
    from mtlib.config import Config
    from mtlib.run.pipeline import run

    folder = tmp_path_factory.mktemp("kept") / "run"
    settings = dict(encoder="tiny-random", data_dir=str(data_dir()), device="cpu", amp="off", max_length=48, batch_size=8)
    settings |= dict(max_train_examples=32, max_eval_examples=32, epochs=1, lr=1e-3, progress=False, keep_state=True)
    run(Config.from_dict({**settings, "save_path": str(folder)}))
    return folder
