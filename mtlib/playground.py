"""Notebook 04's playground: type a sentence (or a pair) and see what the trained model says.

`Playground.predict` returns the SST sentiment distribution of the first sentence, and the
paraphrase probability and 0..5 similarity of the pair (a single sentence is paired with
itself). `widget` wraps it in ipywidgets for JupyterLab; `show` picks between the widget and a
static example, so a headless papermill run renders a figure instead of waiting for input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .tasks import TASKS


class Playground:
    """A trained model and its tokenizer, asked one example at a time."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128):
        self.model, self.tokenizer, self.max_length = model.eval(), tokenizer, max_length
        self.device = next(model.parameters()).device

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", max_length: int = 128) -> Playground:
        """Load a run folder (or weights file) written by `mtlib.pipeline.run`."""
        from .pipeline import load_model

        model, tokenizer = load_model(path, device)
        return cls(model, tokenizer, max_length)

    @torch.inference_mode()
    def _output(self, task: str, *texts: str) -> torch.Tensor:
        # a bi-encoded pair is a batch of two rows (the model splits it); otherwise one row
        args = [list(texts)] if len(texts) == 2 and self.model.bi_encoded(task) else list(texts)
        batch = self.tokenizer(
            *args, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt", return_token_type_ids=True
        )
        batch = {k: v.to(self.device) for k, v in batch.items()}
        return TASKS[task].probabilities(self.model(task, **batch)).float().cpu()[0]

    def predict(self, sentence: str, sentence2: str = "") -> dict[str, Any]:
        """{"sentiment": 5 probabilities, "paraphrase": P(paraphrase), "similarity": 0..5},
        for the tasks the model has heads for."""
        pair = (sentence, sentence2 or sentence)
        tasks = self.model.spec.tasks
        out: dict[str, Any] = {}
        if "sst" in tasks:
            out["sentiment"] = self._output("sst", sentence).tolist()
        if "para" in tasks:
            out["paraphrase"] = float(self._output("para", *pair))
        if "sts" in tasks:
            out["similarity"] = float(self._output("sts", *pair))
        return out


def widget(playground: Playground, sentence: str = "", sentence2: str = "") -> Any:
    """Two text boxes and a button; a click (or Enter in a box) draws the model's answer below."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .plots import playground_figure

    # continuous_update=False: the value changes (and the model answers) on Enter, not per key
    first = w.Text(value=sentence, description="sentence", continuous_update=False, layout=w.Layout(width="90%"))
    second = w.Text(
        value=sentence2,
        description="pair with",
        placeholder="(optional) a second sentence",
        continuous_update=False,
        layout=w.Layout(width="90%"),
    )
    button = w.Button(description="Ask the model", button_style="primary")
    output = w.Output()

    def answer(_: Any = None) -> None:
        output.clear_output(wait=True)
        with output:
            if not first.value.strip():
                print("type a sentence first")
                return
            fig = playground_figure(playground.predict(first.value, second.value), first.value, second.value or first.value)
            display(fig)
            plt.close(fig)  # drawn once, into the output area

    button.on_click(answer)
    first.observe(answer, "value")
    second.observe(answer, "value")
    return w.VBox([first, second, button, output])


def show(checkpoint: str | Path, interactive: bool, sentence: str, sentence2: str, run_name: str) -> dict[str, Any]:
    """The static example (always drawn and saved as `04_playground_example`), plus the widget
    when `interactive`; returns the example's answer. Building the widget never blocks, so this
    also finishes under papermill."""
    from IPython.display import display

    from .plots import playground_figure, save_figure

    playground = Playground.from_checkpoint(checkpoint)
    answer = playground.predict(sentence, sentence2)
    save_figure(playground_figure(answer, sentence, sentence2 or sentence), run_name, "04_playground_example")
    if interactive:
        display(widget(playground, sentence, sentence2))
    return answer
