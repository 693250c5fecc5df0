"""Notebook 04's playground: type sentences (or pairs) and see what the trained model says.

One input per line. A line is a single sentence, or a pair written `first || second`. A
sentence is answered by every single-sentence task (SST: the sentiment and its probability),
a pair by every pair task (paraphrase: yes/no and its probability; similarity: 0..5). A
sentence is never paired with itself. The inputs go through the same tokenization and
prediction path as the test stage (`mtlib.data.batching.encode`, `mtlib.train.evaluate.predict_split`), with
the checkpoint's recorded settings (`mtlib.use.predict.Predictor`, which `mtlib.load` returns).

`widget` wraps it in ipywidgets for JupyterLab; `show` draws a static example as well, so a
headless papermill run renders the answers instead of waiting for input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...config.tasks import TASKS

PAIR_SEPARATOR = "||"


def parse_inputs(text: str | list[str]) -> list[tuple[str, ...]]:
    """Lines (or a list) into inputs: `(sentence,)` or `(first, second)` for `first || second`."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    inputs: list[tuple[str, ...]] = []
    for line in lines:
        parts = tuple(p.strip() for p in line.split(PAIR_SEPARATOR, 1))
        if all(parts) and parts:
            inputs.append(parts)
    return inputs


class Playground:
    """A trained model and its tokenizer, asked about a few inputs at a time."""

    def __init__(self, model: Any = None, tokenizer: Any = None, max_length: int = 128, batch_size: int = 64, *, predictor: Any = None):
        from ...use.predict import Predictor

        self.predictor = predictor or Predictor(model, tokenizer, max_length, batch_size)
        self.model, self.tokenizer, self.max_length = self.predictor.model, self.predictor.tokenizer, self.predictor.max_length

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> Playground:
        """Load a run folder (or weights file) written by `mtlib.run.pipeline.run` with every
        setting it was trained with (`mtlib.use.predict.load`)."""
        from ...use.predict import load

        return cls(predictor=load(path, device))

    def _predict(self, task: str, rows: list[tuple[str, ...]]) -> Any:
        return self.predictor.predictions(task, rows)

    def answer(self, inputs: str | list[str] | list[tuple[str, ...]]) -> pd.DataFrame:
        """One row per input: the input, then each answering task's label and probability (or
        score), rounded to 3 digits."""
        items = parse_inputs(inputs) if isinstance(inputs, str) or (inputs and isinstance(inputs[0], str)) else list(inputs)
        table = pd.DataFrame({"input": [f" {PAIR_SEPARATOR} ".join(x) for x in items]})
        for task in self.model.spec.tasks:
            spec = TASKS[task]
            rows = [i for i, x in enumerate(items) if len(x) == len(spec.text_columns)]
            if not rows:
                continue
            pred = self._predict(task, [items[i] for i in rows])
            name = spec.answer_name or task
            if spec.label_kind == "class":
                probs = np.asarray(pred.soft_outputs)
                labels = [spec.class_names[int(c)] for c in pred.predictions]
                table.loc[rows, name] = labels
                table.loc[rows, f"p({name})"] = probs[np.arange(len(rows)), pred.predictions.astype(int)].round(3)
            elif spec.label_kind == "binary":
                table.loc[rows, name] = [spec.class_names[int(c)] for c in pred.predictions]
                table.loc[rows, f"p({spec.class_names[1]})"] = np.asarray(pred.soft_outputs, float).round(3)
            else:
                low, high = spec.label_range
                table.loc[rows, f"{name} ({low:g}-{high:g})"] = np.asarray(pred.predictions, float).round(2)
        return table.astype(object).fillna("").set_index("input")

    def distributions(self, sentence: str) -> dict[str, list[float]]:
        """Each single-sentence classification task's class probabilities for `sentence`."""
        out = {}
        for task in self.model.spec.tasks:
            spec = TASKS[task]
            if spec.label_kind == "class" and not spec.is_pair:
                out[task] = np.asarray(self._predict(task, [(sentence,)]).soft_outputs)[0].round(3).tolist()
        return out


def widget(playground: Playground, text: str = "") -> Any:
    """A text box (one input per line) and a button; a click draws the model's answers below."""
    import ipywidgets as w
    from IPython.display import display

    box = w.Textarea(
        value=text,
        placeholder=f"one sentence per line; a pair as: first sentence {PAIR_SEPARATOR} second sentence",
        layout=w.Layout(width="95%", height="8em"),
    )
    button = w.Button(description="Ask the model", button_style="primary")
    output = w.Output()

    def answer(_: Any = None) -> None:
        output.clear_output(wait=True)
        with output:
            if not parse_inputs(box.value):
                print("type a sentence first (or a pair: first || second)")
                return
            display(playground.answer(box.value))

    button.on_click(answer)
    return w.VBox([box, button, output])


def show(checkpoint: str | Path, interactive: bool, examples: str, run: str | Path) -> pd.DataFrame:
    """The example inputs answered (a table, and the first sentence's distribution as the
    figure `04_playground_example`), plus the widget when `interactive`. `examples` holds the
    inputs separated by ' | ' (a pair as `first || second`). Building the widget never blocks,
    so this also finishes under papermill."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    from ..figures.error_plots import playground_figure
    from ..figures.plots import save_figure

    playground = Playground.from_checkpoint(checkpoint)
    inputs = parse_inputs([part for part in examples.split(" | ")])
    table = playground.answer(inputs)
    first = next((x[0] for x in inputs if len(x) == 1), None)
    if first is not None:
        fig = playground_figure(playground.distributions(first), first)
        save_figure(fig, run, "04_playground_example")
        display(fig)
        plt.close(fig)
    if interactive:
        display(widget(playground, "\n".join(f" {PAIR_SEPARATOR} ".join(x) for x in inputs)))
    return table
