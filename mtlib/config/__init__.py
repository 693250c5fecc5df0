"""Configuration: one typed `Config`, from the command line, a YAML profile or notebook parameters.

Imports nothing of the layers above it (no torch): the choices and ranges are declared on the
fields, the task facts are `tasks.py`, and every method (scheduler, projection, combine strategy,
head reader, pooling) is a row of the registry (`method_table.py`, `methods.py`).
"""

from .config import Config

__all__ = ["Config"]


def __getattr__(name: str):  # mtlib.config was config.py: its names stay importable from here
    from . import config

    return getattr(config, name)
