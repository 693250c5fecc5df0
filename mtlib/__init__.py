"""mtlib: one BERT encoder fine-tuned jointly for SST-5, Quora paraphrase and STS-B."""

from .config import Config
from .errors import ConfigError, DataError, MtlibError
from .tasks import TASKS, TaskSpec

__version__ = "0.1.0"

__all__ = ["Config", "ConfigError", "DataError", "MtlibError", "TASKS", "TaskSpec", "run", "prepare", "load_model", "load"]


def __getattr__(name: str):  # the heavy modules load on first use
    if name in ("run", "prepare", "load_model"):
        from . import pipeline

        return getattr(pipeline, name)
    if name == "load":  # mtlib.load(run_or_checkpoint): a Predictor (mtlib.predict)
        from .predict import load

        return load
    raise AttributeError(name)
