"""Data: the task table, reading and validating task files, tokenizing and batching."""


def __getattr__(name: str):  # mtlib.data was task_files.py: its names stay importable from here
    from . import task_files

    return getattr(task_files, name)
