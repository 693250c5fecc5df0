"""The model: encoders, the multitask BERT with its heads, PAL, and how it runs (precision, compile)."""

import importlib
import importlib.util


def __getattr__(name: str):  # mtlib.model was multitask_bert.py: its names stay importable from here
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule (`from mtlib.model import amp`)
        return importlib.import_module(f"{__name__}.{name}")
    return getattr(importlib.import_module(f"{__name__}.multitask_bert"), name)
