"""The model: encoders, the multitask BERT with its heads, PAL, and how it runs (precision, compile)."""


def __getattr__(name: str):  # mtlib.model was multitask_bert.py: its names stay importable from here
    from . import multitask_bert

    return getattr(multitask_bert, name)
