"""mtlib against transformers.Trainer on one GPU, in one run: every precision and compile mode.

    python benchmarks/gpu_bench.py --encoder minilm=/tmp/minilm --encoder bert-base-shape=build:/tmp/minilm \\
        --out benchmarks/results/gpu_bench_h200.json --md benchmarks/results/gpu_bench_h200.md

For each encoder (`name=path`; `build:TOKENIZER_DIR` makes a random-init `BertConfig` of
bert-base's size, hidden 768 and 12 layers, with that folder's tokenizer: cost depends on shape,
not on weights, and nothing is downloaded):

- **mtlib training** rows, one per (`--amps` x `--compiles`) pair: `mtlib.run.pipeline.prepare` +
  `common.BenchTrainer` (mtlib's own update path: length-bucketed batches, collate, autocast,
  AdamW, LR schedule, metrics and TensorBoard logging; dev scoring and state saving off) on SST,
  batch `--batch-size`, `--warmup` updates (compilation and CUDA-graph recording happen there)
  then `--steps` timed ones;
- **Trainer training** rows (`--trainer-amps`): `AutoModelForSequenceClassification` of the same
  folder with `DataCollatorWithPadding`, the same rows, batch, lr and steps;
- **prediction** rows (`--predict`): `mtlib.train.evaluate.predict_split` over SST's training sentences
  (8,544; length-sorted batches of `--predict-batch-size`), after one warm-up pass.

Reported per row: ms per update, updates/s, sentences/s, and MFU: the model FLOPs of the real
(unpadded) tokens (benchmarks/README.md, "FLOP formula") per second, over the bf16 and TF32 dense
matmul peaks measured at the start of the same run. Results are written after every row, so a
run cut short keeps what it measured. `--device cpu` runs the same rows on a CPU (the test does,
on the tiny random BERT); speed is never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import common  # noqa: E402
from benchmarks.train_throughput import ListDataset, hf_model, hf_rows  # noqa: E402
from mtlib.config.tasks import SENTENCE_TASK  # noqa: E402

TASK = SENTENCE_TASK  # SST: the single-sentence task


def build_shape(tokenizer_dir: str, out: Path) -> str:
    """A random-init bert-base-shaped BertModel (seed 0) saved with `tokenizer_dir`'s tokenizer."""
    from transformers import BertConfig, BertModel

    out.mkdir(parents=True, exist_ok=True)
    for f in Path(tokenizer_dir).iterdir():
        if f.name.startswith(("tokenizer", "vocab", "special_tokens")):
            shutil.copy(f, out / f.name)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    BertModel(config).save_pretrained(out)
    return str(out)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peaks(device: str, size: int) -> dict[str, float]:
    """Dense matmul TFLOP/s in bf16 and in fp32 (TF32 on CUDA), best of several calls."""
    out = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        best = float("inf")
        for _ in range(6):
            sync(device)
            t = time.perf_counter()
            for _ in range(5):
                a @ b
            sync(device)
            best = min(best, (time.perf_counter() - t) / 5)
        out[name] = 2 * size**3 / best / 1e12
    return out


def _timed(args: argparse.Namespace, clock: common.Clock, log: common.BatchLog, shape: dict[str, int]) -> dict[str, Any]:
    wall, warm = clock.wall, args.warmup
    seconds = wall[-1] - wall[warm - 1]
    n = len(wall) - warm
    totals = log.totals(first=warm, last=len(wall))
    flops = common.train_flops(shape, totals["real_tokens"], totals["sum_len_sq"])
    return {
        "updates_timed": n,
        "ms_per_update": 1000 * seconds / n,
        "updates_per_s": n / seconds,
        "sentences_per_s": totals["examples"] / seconds,
        "tflop_per_s": flops / seconds / 1e12,
        "padding_efficiency": totals["padding_efficiency"],
    }


def mtlib_row(args: argparse.Namespace, encoder: str, amp: str, compile: str) -> dict[str, Any]:
    from mtlib.config.config import Config
    from mtlib.run.pipeline import prepare
    from mtlib.store.run_folder import RunDir

    torch._dynamo.reset()
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        cfg = Config.from_dict(
            dict(
                encoder=encoder, tasks=[TASK], amp=amp, compile=compile, device=args.device, batch_size=args.batch_size,
                epochs=1, num_batches_per_epoch=args.warmup + args.steps, max_eval_examples=64, progress=False,
                save_path=tmp, overwrite=True, option="finetune", lr_schedule="linear", warmup_ratio=0.1, weight_decay=0.01,
            )
        )  # fmt: skip
        p = prepare(cfg)
        trainer = common.BenchTrainer(cfg, p.model, p.tokenizer, p.data, p.precision, RunDir(tmp))
        t = time.perf_counter()
        trainer.fit()
        sync(args.device)
        first = time.perf_counter() - t
        trainer.run.close()
        shape = common.flop_shape(p.model.encoder)
    return {
        "contender": "mtlib",
        "amp": p.precision.mode,
        "compile": p.precision.compile,
        "fit_seconds": first,
        **_timed(args, trainer.clock, trainer.batch_log, shape),
    }


def trainer_row(args: argparse.Namespace, encoder: str, amp: str) -> dict[str, Any]:
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from mtlib.config.tasks import TASKS
    from mtlib.data.batching import encode
    from mtlib.data.task_files import load_task, resolve_data_dir
    from mtlib.model.encoders import load_tokenizer

    tokenizer = load_tokenizer(encoder)
    train = encode(load_task(TASKS[TASK], resolve_data_dir(""), ("train",))[0]["train"], tokenizer, 128)
    model = hf_model(encoder, TASK, 0)
    log, clock = common.BatchLog(), common.Clock()

    class CountingCollator(DataCollatorWithPadding):
        def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
            log.add(np.array([len(f["input_ids"]) for f in features]))
            return super().__call__(features)

    class Stamp(TrainerCallback):
        def on_step_end(self, *a: Any, **kw: Any) -> None:
            sync(args.device)
            clock.stamp()

    with tempfile.TemporaryDirectory(prefix="gpu-bench-hf-") as tmp:
        targs = TrainingArguments(
            output_dir=tmp, max_steps=args.warmup + args.steps, per_device_train_batch_size=args.batch_size, learning_rate=5e-5,
            weight_decay=0.01, warmup_steps=int(0.1 * (args.warmup + args.steps)), lr_scheduler_type="linear", seed=0,
            bf16=amp == "bf16", use_cpu=args.device == "cpu", eval_strategy="no", save_strategy="no", report_to="none",
            dataloader_num_workers=0, disable_tqdm=True, logging_strategy="no",
        )  # fmt: skip
        trainer = Trainer(
            model=model,
            args=targs,
            train_dataset=ListDataset(hf_rows(train, False)),
            data_collator=CountingCollator(tokenizer),
            callbacks=[Stamp()],
        )
        clock.start()
        trainer.train()
    log.rows = log.rows[: len(clock)]  # the dataloader may fetch one batch ahead
    return {
        "contender": "trainer",
        "amp": amp,
        "compile": "off",
        "optimizer": str(targs.optim),
        **_timed(args, clock, log, common.flop_shape(model.bert)),
    }


def predict_row(args: argparse.Namespace, encoder: str, amp: str, compile: str) -> dict[str, Any]:
    from mtlib.config.config import Config
    from mtlib.run.pipeline import prepare
    from mtlib.train.evaluate import predict_split

    torch._dynamo.reset()
    with tempfile.TemporaryDirectory(prefix="gpu-bench-p-") as tmp:
        cfg = Config.from_dict(
            dict(encoder=encoder, tasks=[TASK], amp=amp, compile=compile, device=args.device, progress=False, save_path=tmp,
                 overwrite=True, option="finetune", max_train_examples=args.predict_rows)
        )  # fmt: skip
        p = prepare(cfg)
    encoded = p.data[TASK]["train"]
    predict_split(p.model, encoded, p.precision, args.predict_batch_size)  # warm-up: compilation, graphs, allocator
    times = []
    for _ in range(3):
        sync(args.device)
        t = time.perf_counter()
        predict_split(p.model, encoded, p.precision, args.predict_batch_size)
        sync(args.device)
        times.append(time.perf_counter() - t)
    lengths = np.asarray(encoded.lengths, dtype=np.float64)
    flops = common.forward_flops(common.flop_shape(p.model.encoder), lengths.sum(), (lengths**2).sum())
    best = min(times)
    return {
        "contender": "mtlib predict",
        "amp": p.precision.mode,
        "compile": p.precision.compile,
        "batch_size": args.predict_batch_size,
        "sentences": len(encoded),
        "sentences_per_s": len(encoded) / best,
        "tflop_per_s": flops / best / 1e12,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", action="append", default=[], help="name=path or name=build:TOKENIZER_DIR (repeatable)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--amps", default="off,bf16,fp16")
    ap.add_argument("--compiles", default="off,default,reduce-overhead")
    ap.add_argument("--compile-amps", default="bf16", help="precisions that get the compiled rows (the others: eager only)")
    ap.add_argument("--trainer-amps", default="off,bf16")
    ap.add_argument("--predict", default="bf16:off,bf16:reduce-overhead", help="amp:compile pairs of prediction rows")
    ap.add_argument("--predict-batch-size", type=int, default=512)
    ap.add_argument("--predict-rows", type=int, default=0, help="cap on the sentences predicted (0: all of SST train)")
    ap.add_argument("--peak-size", type=int, default=8192)
    ap.add_argument("--out", default="")
    ap.add_argument("--md", default="")
    return ap.parse_args(argv)


def plan(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows = []
    for amp in args.amps.split(","):
        for compile in args.compiles.split(","):
            if compile == "off" or amp in args.compile_amps.split(","):
                rows.append(("mtlib", amp, compile))
    rows += [("trainer", amp, "off") for amp in args.trainer_amps.split(",") if amp]
    rows += [("predict", *pair.split(":")) for pair in args.predict.split(",") if pair]
    # the rows the targets compare come first, so a run cut short by its deadline keeps them
    first = [
        ("mtlib", "off", "off"),
        ("mtlib", "bf16", "off"),
        ("mtlib", "bf16", "reduce-overhead"),
        ("trainer", "bf16", "off"),
        ("predict", "bf16", "reduce-overhead"),
    ]
    return sorted(rows, key=lambda r: (first.index(r) if r in first else len(first), r[0] != "trainer"))


def table(result: dict[str, Any]) -> str:
    pk = result["peaks_tflops"]
    lines = [
        f"{result['device']}, torch {result['torch']}, batch {result['batch_size']}, {result['steps']} timed updates after "
        f"{result['warmup']}; matmul peaks measured: bf16 {pk['bf16']:.0f}, fp32/TF32 {pk['fp32']:.0f} TFLOP/s",
        "",
        "| encoder | contender | precision | compile | ms/update | updates/s | sentences/s | MFU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['encoder']} | {r['contender']} | {r['amp']} | {r['compile']} | failed: {r['error'][:60]} | | | |")
            continue
        ms = f"{r['ms_per_update']:.1f}" if "ms_per_update" in r else "–"
        ups = f"{r['updates_per_s']:.1f}" if "updates_per_s" in r else "–"
        mfu = r["tflop_per_s"] / pk["fp32" if r["amp"] == "off" else "bf16"]  # against its own precision's peak
        lines.append(
            f"| {r['encoder']} | {r['contender']} | {r['amp']} | {r['compile']} | {ms} | {ups} | {r['sentences_per_s']:,.0f} | {100 * mfu:.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else common.machine_info().get("cpu", "cpu"),
        "torch": torch.__version__,
        "task": TASK,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "command": " ".join(["python", "benchmarks/gpu_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "peaks_tflops": peaks(args.device, args.peak_size),
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="gpu-bench-enc-") as tmp:
        for spec in args.encoder or ["minilm=minilm-l6"]:
            name, path = spec.split("=", 1)
            if path.startswith("build:"):
                path = build_shape(path[len("build:") :], Path(tmp) / name)
            for kind, amp, compile in plan(args):
                row = {"encoder": name, "contender": kind, "amp": amp, "compile": compile}
                try:
                    if kind == "mtlib":
                        row |= mtlib_row(args, path, amp, compile)
                    elif kind == "trainer":
                        row |= trainer_row(args, path, amp)
                    else:
                        row |= predict_row(args, path, amp, compile)
                except Exception as exc:  # one failing row must not lose the others
                    row["error"] = f"{type(exc).__name__}: {exc}"
                    traceback.print_exc()
                row["encoder"] = name
                result["rows"].append(row)
                print(json.dumps(row), flush=True)
                if args.out:
                    common.write_json(args.out, result)
    text = table(result)
    print(text)
    if args.md:
        Path(args.md).write_text(text)
    return result


if __name__ == "__main__":
    main()
