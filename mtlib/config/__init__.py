"""Configuration: one typed `Config`, from the command line, a YAML profile or notebook parameters.

Imports nothing of the training core (no torch): the choices and ranges are declared on the fields.
"""

from .config import Config

__all__ = ["Config"]


def __getattr__(name: str):  # mtlib.config was config.py: its names stay importable from here
    from . import config

    return getattr(config, name)
