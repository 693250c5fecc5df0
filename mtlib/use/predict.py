"""Predict with a trained model: `mtlib.load(...)` in Python, `python -m mtlib predict` in a shell.

    predictor = mtlib.load("runs/cpu-s1")    # a workbook/recipe run (its reported stage), a stage
                                             # or CLI run folder, or a .safetensors file
    predictor.sentiment(["A gripping film.", "A dull film."])
    predictor.paraphrase([("How old are you?", "What is your age?")])
    predictor.similarity([("A man plays a guitar.", "A person plays music.")])

Each answer is a table with one row per input: for a classification task the label name, its id,
its probability and every class's probability; for STS the 0..5 score. Inputs go through the
test stage's own path (`mtlib.data.batching.encode`, then `mtlib.train.evaluate.predict_split`: batched, sorted
by length) with every setting the checkpoint recorded: `max_length` from the run folder's
config.yaml, pair encoding, pooling and PAL from model.json, and the run's precision (its `amp`
setting, resolved on the device the predictor runs on, as the test stage resolves it). So the
rows of a test file get the test stage's predictions.
From a shell, `predict` runs its encoder and tokenizer without transformers where they give the
same answers (`--lean`; `mtlib.run.loading.load_model`), seconds sooner.

    python -m mtlib predict --run runs/X --task sst --input sentences.csv > predicted.csv
    python -m mtlib predict --run runs/X --task sst --input sentences.txt   # one a line
    python -m mtlib predict --run runs/X --task sts --text "A man plays." --text "A person plays."
    cat pairs.tsv | python -m mtlib predict --run runs/X --task sts --input -
    echo "A fine film." | python -m mtlib predict --run runs/X --task sst --format jsonl  # piped: stdin

A CSV or TSV (tab when its header line holds a tab, as the task files are) has a header naming
the task's text columns (`sentence`; `sentence1`, `sentence2` for pairs); an `id` column is
kept. Plain text (a `.txt` file, or an input without that header) is one example a line, a pair
as two tab-separated fields. The output CSV holds the id (or the line or row number), the texts
and the answer columns; `--format tsv` the same tab-separated, `--format jsonl` one JSON object
per input (`answers_as_jsonl`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config.tasks import SENTENCE_TASK, SIMILARITY_TASK, TASKS, TaskSpec, pair_mode
from ..model.amp import Precision
from ..train.evaluate import Predictions
from ..util.errors import ConfigError
from .inputs import check_output, read_inputs, text_inputs  # noqa: F401 (read_inputs: part of this module's API)


def task_named(name: str) -> str:
    """A task by its name (`sst`) or by what it answers (`sentiment`)."""
    for task, spec in TASKS.items():
        if name in (task, spec.answer_name):
            return task
    known = ", ".join(f"{t} ({s.answer_name})" for t, s in TASKS.items())
    raise ConfigError(f"no task {name!r}; tasks: {known}")


def answer_table(pred: Predictions) -> pd.DataFrame:
    """Predictions as named answers: `label`, `label_id`, `probability` (of the label) and
    `p(<class>)` for each class; or `score` for a regression task."""
    spec = pred.spec
    if spec.label_kind == "score":
        return pd.DataFrame({"score": np.asarray(pred.predictions, float)})
    probs = np.asarray(pred.soft_outputs, float)
    if spec.label_kind == "binary":  # the model gives P(class 1)
        probs = np.stack([1 - probs, probs], axis=1) if len(probs) else np.zeros((0, 2))
    ids = np.asarray(pred.predictions).astype(int)
    table = pd.DataFrame({"label": [spec.class_names[i] for i in ids], "label_id": ids, "probability": probs[np.arange(len(ids)), ids]})
    for i, name in enumerate(spec.class_names):
        table[f"p({name})"] = probs[:, i]
    return table


@dataclass
class Predictor:
    """A trained model with the settings it was trained with, answering batches of inputs."""

    model: Any
    tokenizer: Any
    max_length: int = 128
    batch_size: int = 64
    precision: Precision | None = None
    checkpoint: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # where each setting came from

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size {self.batch_size}: rows per batch must be at least 1")
        self.model.eval()
        if self.precision is None:
            self.precision = Precision.create(next(self.model.parameters()).device.type, "off")

    @property
    def tasks(self) -> list[str]:
        return list(self.model.spec.tasks)

    def predictions(self, task: str, inputs: Any, progress: bool = False) -> Predictions:
        """The raw `Predictions` of `task` for `inputs` (sentences, or pairs for a pair task);
        `progress`: a bar of the rows done on stderr (`mtlib.util.progress`), as `predict` shows."""
        from ..data.batching import encode
        from ..data.task_files import Examples
        from ..train.evaluate import predict_split

        task = task_named(task)
        if task not in self.tasks:
            raise ConfigError(f"this model was not trained on {task}; it answers {', '.join(self.tasks)}")
        rows = _rows(TASKS[task], inputs)
        examples = Examples(task, "predict", "predict", [str(i) for i in range(len(rows))], rows, None)
        encoded = encode(examples, self.tokenizer, self.max_length, pair_mode(self.model.spec.pair_encoding, task))
        assert self.precision is not None
        label = f"predict {task}" if progress else ""
        return predict_split(
            self.model, encoded, self.precision, self.batch_size, self.tokenizer.pad_token_id or 0, label, True, sys.stderr
        )

    def predict(self, task: str, inputs: Any, progress: bool = False) -> pd.DataFrame:
        """`answer_table` of `task` for `inputs`, one row per input, in input order."""
        return answer_table(self.predictions(task, inputs, progress))

    def embeddings(self, sentences: list[str], task: str = SIMILARITY_TASK) -> np.ndarray:
        """Unit-length sentence vectors: the encoder's pooled output for each sentence alone, as
        a bi-encoded pair task's head sees them (with that task's PAL blocks, if any)."""
        import torch
        import torch.nn.functional as F

        from ..data.batching import encode, sorted_batches
        from ..data.task_files import Examples

        rows = _rows(TASKS[SENTENCE_TASK], sentences)
        encoded = encode(
            Examples(task_named(task), "embed", "embed", [str(i) for i in range(len(rows))], rows, None), self.tokenizer, self.max_length
        )
        out = np.zeros((len(rows), self.model.encoder.config.hidden_size), dtype=np.float32)
        assert self.precision is not None
        with torch.inference_mode():
            for index in sorted_batches(encoded.lengths, self.batch_size):
                batch = self.precision.batch(encoded, index, self.tokenizer.pad_token_id or 0)
                with self.precision.autocast():
                    pooled = self.model.encode(encoded.examples.task, batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
                out[index] = F.normalize(pooled.float(), dim=-1).cpu().numpy()
        return out

    def sentiment(self, sentences: list[str]) -> pd.DataFrame:
        """SST-5: the sentiment's name (`0 very neg.` .. `4 very pos.`) and probabilities."""
        return self.predict("sentiment", sentences)

    def paraphrase(self, pairs: list[tuple[str, str]]) -> pd.DataFrame:
        """Quora: whether each pair is a paraphrase, and the probabilities."""
        return self.predict("paraphrase", pairs)

    def similarity(self, pairs: list[tuple[str, str]]) -> pd.DataFrame:
        """STS-B: each pair's similarity score on the 0..5 scale."""
        return self.predict("similarity", pairs)


def _rows(spec: TaskSpec, inputs: Any) -> list[tuple[str, ...]]:
    width = len(spec.text_columns)
    if isinstance(inputs, str) or (width == 2 and isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], str)):
        inputs = [inputs]  # one sentence, or one pair
    rows = [(x,) if isinstance(x, str) else tuple(x) for x in inputs]
    bad = [i for i, r in enumerate(rows) if len(r) != width or not all(isinstance(t, str) for t in r)]
    if bad:
        wanted = "sentences (strings)" if width == 1 else "pairs of sentences"
        raise ConfigError(f"{spec.title} reads {wanted}; input {bad[0]} is {rows[bad[0]]!r}")
    return rows


def load(run_or_checkpoint: str | Path, device: str = "auto", amp: str = "", batch_size: int = 0, lean: bool = False) -> Predictor:
    """A `Predictor` for a run folder (workbook and recipe runs: the reported stage), a stage or
    CLI run folder, or a weights file. `amp` and `batch_size` default to the run's own. `lean`:
    in fp32, the encoder and tokenizer without transformers where the checkpoint allows
    (`mtlib.run.loading.load_model`; `settings["encoder"]` says which ran): the same answers,
    seconds sooner from a shell; not for `export`, which saves transformers' encoder."""
    from ..config.config import Config
    from ..run.loading import load_model, why_not_lean  # not run.pipeline: the training loop's imports are seconds one answer does not need
    from ..store.checkpoints import read_model_spec
    from ..store.stage_folders import reported_checkpoint

    weights = reported_checkpoint(run_or_checkpoint)
    recorded = weights.parent / "config.yaml"
    cfg = Config.from_yaml(recorded) if recorded.is_file() else Config()
    source = str(recorded) if recorded.is_file() else "mtlib's defaults (no config.yaml beside the checkpoint)"
    if batch_size < 0:
        raise ConfigError(f"--batch_size {batch_size}: rows per batch must be at least 1 (0 or none: the run's eval_batch_size)")
    if not batch_size and cfg.train.eval_batch_size < 1:
        raise ConfigError(
            f"{recorded}: eval_batch_size {cfg.train.eval_batch_size} must be at least 1; correct it there or pass --batch_size N"
        )
    if cfg.data.max_length < 1:
        raise ConfigError(f"{recorded}: max_length {cfg.data.max_length} must be at least 1; correct it there")
    precision = Precision.create(device, amp or cfg.train.amp)
    if lean and precision.mode != "off":  # autocast may round the two encoders' sums differently
        lean_reason = f"precision {precision.mode}: the lean encoder is checked in fp32 only"
    else:
        lean_reason = why_not_lean(read_model_spec(weights), weights.parent / "tokenizer") if lean else "not asked"
    model, tokenizer = load_model(weights, precision.device, lean=not lean_reason)
    limit = getattr(model.encoder.config, "max_position_embeddings", 0)
    if limit and cfg.data.max_length > limit:  # longer inputs would index past the position embeddings
        raise ConfigError(f"{recorded}: max_length {cfg.data.max_length} is more than the model reads ({limit} tokens); correct it there")
    settings = {"max_length": source, "amp": "asked" if amp else source, "model": str(weights.with_suffix(".json"))}
    settings["encoder"] = "lean: mtlib.model.lean_bert" if not lean_reason else f"transformers BertModel ({lean_reason})"
    return Predictor(model, tokenizer, cfg.data.max_length, batch_size or cfg.train.eval_batch_size, precision, weights, settings)


# ---- the command line --------------------------------------------------------------------------


FORMATS = {"csv": ",", "tsv": "\t", "jsonl": ""}


def predict_file(predictor: Predictor, task: str, source: str | pd.DataFrame, output: str, fmt: str = "csv") -> pd.DataFrame:
    """Answer every row of the input (a file for `read_inputs`, or a table); write its key (`id`,
    else the input's `line` or `row` number), texts and answers (`-`: stdout) as CSV, TSV or
    JSON lines (`answers_as_jsonl`)."""
    from ..util.errors import write_failure
    from ..util.files import atomic_write_text

    spec = TASKS[task_named(task)]
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
    check_output(output, source)
    table = source if isinstance(source, pd.DataFrame) else read_inputs(source, spec)
    answers = predictor.predict(spec.name, list(zip(*(table[c] for c in spec.text_columns))), progress=True)
    key_name = next((c for c in ("id", "line") if c in table.columns), "")
    key = table[[key_name]] if key_name else pd.DataFrame({"row": range(1, len(table) + 1)})
    out = pd.concat([key.reset_index(drop=True), table[list(spec.text_columns)].reset_index(drop=True), answers], axis=1)
    text = answers_as_jsonl(out, spec) if fmt == "jsonl" else out.to_csv(index=False, sep=FORMATS[fmt])
    if output == "-":
        sys.stdout.write(text)
    else:
        try:
            atomic_write_text(output, text)
        except OSError as exc:
            raise write_failure(output, exc, "choose a writable --output (or - for stdout)") from None
    return out


def answers_as_jsonl(out: pd.DataFrame, spec: TaskSpec) -> str:
    """One JSON object a line, one line per input: its key, its text(s), then `label`, `label_id`,
    `probability` and `probabilities` ({class name: p}), or `score`."""
    import json

    lines = []
    for row in out.to_dict(orient="records"):
        record = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if not k.startswith("p(")}
        if spec.label_kind != "score":
            record["probabilities"] = {name: float(row[f"p({name})"]) for name in spec.class_names}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ..util.errors import run_command

    parser = argparse.ArgumentParser(prog="python -m mtlib predict", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run", required=True, help="a run folder (workbook/recipe: its reported stage), a stage folder or a .safetensors file"
    )
    parser.add_argument("--task", required=True, help=f"{' | '.join(TASKS)} (or {' | '.join(s.answer_name for s in TASKS.values())})")
    given = parser.add_mutually_exclusive_group()
    given.add_argument(
        "--input",
        help="a CSV or TSV with the task's text columns, or plain text (.txt): one example a line, a pair as two tab-separated "
        "fields; - reads stdin (read without --input when stdin is a pipe or a file and no --text is given)",
    )
    given.add_argument("--text", action="append", help="one example on the command line (twice for a pair)")
    parser.add_argument("--output", default="-", help="the file to write (default -: stdout)")
    parser.add_argument(
        "--format", default="csv", choices=tuple(FORMATS), help="csv (default), tsv, or jsonl: one JSON object per input with its answer"
    )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run (default: the GPU if there is one)")
    parser.add_argument("--amp", default="", choices=("", "off", "bf16", "fp16", "auto"), help="precision (default: the run's)")
    parser.add_argument("--batch_size", type=int, default=0, help="rows per batch, at least 1 (default: the run's eval_batch_size)")
    parser.add_argument(
        "--lean",
        default="auto",
        choices=("auto", "off"),
        help="auto (default): in fp32, mtlib's lean BERT and tokenizer, which import no transformers (the same answers, "
        "seconds sooner), where the checkpoint allows; off: transformers' BertModel and tokenizer",
    )
    args = parser.parse_args(argv)
    if not args.text and not args.input:
        if sys.stdin is None or sys.stdin.isatty():
            parser.error("give --text, --input FILE (- for stdin), or pipe the input in: echo 'A fine film.' | python -m mtlib predict ...")
        args.input = "-"  # piped: `echo "text" | python -m mtlib predict --run R --task sst`

    def work() -> None:
        spec = TASKS[task_named(args.task)]
        check_output(args.output, args.input)
        table = text_inputs(args.text, spec) if args.text else read_inputs(args.input, spec)  # checked before the model loads
        predictor = load(args.run, args.device, args.amp, args.batch_size, lean=args.lean == "auto")
        out = predict_file(predictor, spec.name, table, args.output, args.format)
        if args.output != "-":
            print(f"{len(out)} rows predicted with {predictor.checkpoint}: {args.output}", file=sys.stderr)

    return run_command("mtlib predict", work)
