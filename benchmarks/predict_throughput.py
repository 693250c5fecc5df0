"""Prediction throughput: `mtlib.train.evaluate.predict_split` vs `transformers.Trainer.predict`.

    .venv/bin/python benchmarks/predict_throughput.py --repeats 2 --out benchmarks/results/predict.json

Scores the SST and STS dev sets with each contender, alternating (a, b, a, b, ...) in one process
after one untimed warm-up call each, and reports sentences/s (a pair counts as one), real and
padded tokens/s, forward FLOP/s (formula in `benchmarks/common.py`) and the process's peak RSS.

- `mtlib`: `MultitaskBert` built by `mtlib.run.pipeline.build_model` from the encoder (its encoder
  compiled under `--compile`, warmed up by the untimed first call); `predict_split`
  (batches sorted by length, `torch.inference_mode`, `--batch-size` examples per batch, autocast
  per --amp), including its probabilities and metric bookkeeping.
- `trainer`: `AutoModelForSequenceClassification` from the same encoder folder; `Trainer.predict`
  with `DataCollatorWithPadding`, the same batch size (per_device_eval_batch_size) and precision
  (bf16=True, bf16_full_eval False: autocast), 0 dataloader workers, report_to none.

The heads are untrained (speed only). `--levers` also times mtlib-style variants on the first
task, one change at a time: dataset order instead of length-sorted batches, `torch.no_grad`
instead of `inference_mode`, and batch sizes 32 and 512.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from train_throughput import ListDataset, hf_model, hf_rows  # noqa: E402

from mtlib.config.tasks import SENTENCE_TASK, SIMILARITY_TASK, TASKS  # noqa: E402
from mtlib.model.task_outputs import predict, soft_output  # noqa: E402

CONTENDERS = ("mtlib", "trainer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="minilm-l6")
    ap.add_argument("--tasks", default=f"{SENTENCE_TASK},{SIMILARITY_TASK}")
    ap.add_argument("--amp", default="bf16", choices=("bf16", "off"))
    ap.add_argument("--batch-size", type=int, default=128, help="eval batch size, both contenders (mtlib's --eval_batch_size default)")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="score only this many dev rows (0: all)")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--levers", action="store_true", help="also time mtlib-style variants (order, grad mode, batch size) on the first task")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--compile", default="off", help="mtlib's --compile for the mtlib contender's encoder (off, default, max-autotune)")
    ap.add_argument("--shared", default="", help="what else ran on the cores meanwhile (empty: the benchmark had them to itself)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default="")
    ap.add_argument("--out", default="")
    return ap.parse_args(argv)


def dev_split(args: argparse.Namespace, task: str, tokenizer: Any) -> Any:
    from mtlib.data.batching import encode
    from mtlib.data.task_files import load_task, resolve_data_dir

    ex = load_task(TASKS[task], resolve_data_dir(args.data_dir), ("dev",))[0]["dev"]
    if args.limit and len(ex) > args.limit:
        ex = ex.subset(np.arange(args.limit))
    return encode(ex, tokenizer, args.max_length)


def batch_totals(lengths: np.ndarray, batches: list[np.ndarray], multiple: int = 1) -> dict[str, float]:
    """Real and padded tokens of `batches`, widths rounded up to `multiple` (a compiled encoder's)."""
    log = common.BatchLog()
    for index in batches:
        log.add(lengths[index])
        n, total, squares, width = log.rows[-1]
        log.rows[-1] = (n, total, squares, -(-width // multiple) * multiple)
    return log.totals()


def variant_predict(
    model: Any, encoded: Any, precision: Any, batch_size: int, order: str, grad_mode: str
) -> tuple[float, list[np.ndarray]]:
    """predict_split's loop with one thing changed: the batch order or the grad mode."""
    from mtlib.data.batching import collate, sorted_batches

    spec = TASKS[encoded.examples.task]
    lengths = encoded.lengths
    if order == "sorted":
        batches = sorted_batches(lengths, batch_size)
    else:
        idx = np.arange(len(lengths))
        batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    ctx = torch.inference_mode() if grad_mode == "inference_mode" else torch.no_grad()
    model.eval()
    start = time.perf_counter()
    with ctx:
        for index in batches:
            batch = collate(encoded, index, 0)
            with precision.autocast():
                out = model(spec.name, **batch)
            predict(spec, out).float().numpy()
            soft_output(spec, out).float().numpy()
    return time.perf_counter() - start, batches


def call(c: str, model: Any, precision: Any, batch_size: int, pad: int, encoded: Any, hf_trainer: Any, dataset: Any) -> None:
    """One contender scores one split."""
    from mtlib.train.evaluate import predict_split

    if c == "mtlib":
        predict_split(model, encoded, precision, batch_size, pad)
    else:
        hf_trainer.predict(dataset)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from mtlib.config.config import Config
    from mtlib.data.batching import sorted_batches
    from mtlib.model.amp import Precision
    from mtlib.model.compiling import compile_encoder
    from mtlib.model.encoders import load_tokenizer
    from mtlib.run.pipeline import build_model

    args = parse_args(argv)
    common.set_threads(args.threads)
    info = common.machine_info()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    tokenizer = load_tokenizer(args.encoder)
    precision = Precision.create("cpu", args.amp, args.compile)
    cfg = Config.from_dict({"encoder": args.encoder, "tasks": tasks, "seed": args.seed, "amp": args.amp, "device": "cpu"})
    model, _ = build_model(cfg, tokenizer)
    compile_encoder(model, precision.compile)
    model.eval()
    shape = common.flop_shape(model.encoder)
    pad = tokenizer.pad_token_id or 0
    runs: list[dict[str, Any]] = []
    levers: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        for ti, task in enumerate(tasks):
            spec = TASKS[task]
            encoded = dev_split(args, task, tokenizer)
            lengths = encoded.lengths
            n = len(encoded)
            hf_trainer, dataset = None, None
            if "trainer" in contenders:
                hf = hf_model(args.encoder, task, args.seed).eval()
                targs = TrainingArguments(
                    output_dir=tmp, per_device_eval_batch_size=args.batch_size, bf16=args.amp == "bf16", use_cpu=True,
                    report_to="none", dataloader_num_workers=0, disable_tqdm=True,
                )  # fmt: skip
                hf_trainer = Trainer(model=hf, args=targs, data_collator=DataCollatorWithPadding(tokenizer))
                dataset = ListDataset(hf_rows(encoded, spec.label_kind == "score"))
            seq = np.arange(n)
            totals = {
                "mtlib": batch_totals(lengths, sorted_batches(lengths, args.batch_size), precision.pad_multiple),
                "trainer": batch_totals(lengths, [seq[i : i + args.batch_size] for i in range(0, n, args.batch_size)]),
            }
            warm = min(n, 2 * args.batch_size)

            warm_enc = type(encoded)(encoded.examples.subset(np.arange(warm)), encoded.input_ids[:warm], encoded.token_type_ids[:warm], 0)
            warm_ds = ListDataset(dataset.rows[:warm]) if hf_trainer is not None else None

            for c in contenders:  # warm-up, untimed
                call(c, model, precision, args.batch_size, pad, warm_enc, hf_trainer, warm_ds)
            for rep in range(args.repeats):
                for c in contenders:
                    start = time.perf_counter()
                    call(c, model, precision, args.batch_size, pad, encoded, hf_trainer, dataset)
                    seconds = time.perf_counter() - start
                    t = totals[c]
                    r = {
                        "task": task, "contender": c, "repeat": rep, "seconds": seconds, "examples": n,
                        "sentences_per_s": n / seconds, "real_tokens_per_s": t["real_tokens"] / seconds,
                        "padded_tokens_per_s": t["padded_tokens"] / seconds, "padding_efficiency": t["padding_efficiency"],
                        **common.flop_report(shape, t, seconds, None, kind="forward"),
                    }  # fmt: skip
                    runs.append(r)
                    print(f"[{task} repeat {rep + 1}/{args.repeats}] {c:8} {r['sentences_per_s']:8.1f} sent/s  pad eff "
                          f"{r['padding_efficiency']:.2f}  load {common.load_average()}", flush=True)  # fmt: skip
            if args.levers and ti == 0:
                variants = [
                    ("predict_split (sorted, inference_mode)", args.batch_size, "sorted", "inference_mode"),
                    ("dataset order instead of sorted", args.batch_size, "dataset", "inference_mode"),
                    ("no_grad instead of inference_mode", args.batch_size, "sorted", "no_grad"),
                    ("batch 32", 32, "sorted", "inference_mode"),
                    ("batch 512", 512, "sorted", "inference_mode"),
                ]
                for name, bs, order, grad_mode in variants:
                    seconds, batches = variant_predict(model, encoded, precision, bs, order, grad_mode)
                    t = batch_totals(lengths, batches)
                    levers.append({"task": task, "variant": name, "batch_size": bs, "seconds": seconds, "sentences_per_s": n / seconds,
                                   "padding_efficiency": t["padding_efficiency"]})  # fmt: skip
                    print(f"[lever {task}] {name:42} {n / seconds:8.1f} sent/s  pad eff {t['padding_efficiency']:.2f}", flush=True)
    summary: dict[str, Any] = {}
    for task in tasks:
        per: dict[str, Any] = {}
        for c in contenders:
            mine = [r for r in runs if r["task"] == task and r["contender"] == c]
            per[c] = {
                "sentences_per_s_median": common.median([r["sentences_per_s"] for r in mine]),
                "sentences_per_s_runs": [r["sentences_per_s"] for r in mine],
                "gflop_per_s_real_median": common.median([r["gflop_per_s_real"] for r in mine]),
                "padding_efficiency": mine[0]["padding_efficiency"],
            }
        if "mtlib" in per and "trainer" in per:
            per["ratio_mtlib_over_trainer"] = per["mtlib"]["sentences_per_s_median"] / per["trainer"]["sentences_per_s_median"]
        summary[task] = per
        shown = "  ".join(f"{c} {per[c]['sentences_per_s_median']:.1f}" for c in contenders)
        ratio = f"  ratio {per['ratio_mtlib_over_trainer']:.2f}" if "ratio_mtlib_over_trainer" in per else ""
        print(f"{task}: sentences/s {shown}{ratio}")
    info["loadavg_end"] = common.load_average()
    result = {
        "benchmark": "predict_throughput", "command": " ".join(sys.argv), "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "machine": info, "flop_shape": shape, "peak_rss_mb_process": common.peak_rss_mb(), "summary": summary, "runs": runs, "levers": levers,
    }  # fmt: skip
    print(f"peak RSS of the process (both contenders): {result['peak_rss_mb_process']:.0f} MB")
    if args.out:
        print(f"wrote {common.write_json(args.out, result)}")
    return result


if __name__ == "__main__":
    main()
