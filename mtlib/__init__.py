"""mtlib: one BERT encoder fine-tuned jointly for SST-5, Quora paraphrase and STS-B."""

from .config.config import Config
from .config.tasks import TASKS, TaskSpec
from .util import old_paths
from .util.errors import ConfigError, DataError, MtlibError

old_paths.install()

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "DataError", "MtlibError", "TASKS", "TaskSpec", "prepare", "load_model", "load"]


def __getattr__(name: str):  # the heavy modules load on first use
    if name in ("prepare", "load_model"):  # mtlib.run is the folder; run(cfg) is mtlib.run.pipeline.run
        from .run import pipeline

        return getattr(pipeline, name)
    if name == "load":  # mtlib.load(run_or_checkpoint): a Predictor (mtlib.use.predict)
        from .use.predict import load

        return load
    raise AttributeError(name)
