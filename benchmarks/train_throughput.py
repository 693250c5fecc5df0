"""Training throughput: mtlib's own training path vs a plain `transformers.Trainer`.

    .venv/bin/python benchmarks/train_throughput.py --steps 30 --repeats 2 --out benchmarks/results/train.json

Both contenders train the same encoder on the same task for the same number of optimizer steps
(batch size, max length, precision, learning rate with 10% linear warm-up then linear decay,
weight decay 0.01, seed), in alternation (a, b, a, b, ...), each run in a fresh Python process
so that its peak RSS is its own. Reported per run:

- training sentences/s over updates skip+1..N (`--skip`, default 1: the first update carries
  one-off start-up costs, and a compiled model compiles in its first few; a pair counts as one
  example), and over all N updates (what a run of N updates costs, compiling included);
- real and padded tokens/s, padding efficiency (real / padded tokens);
- model FLOP/s (formula in `benchmarks/common.py`) as a share of this machine's bf16 and fp32
  matmul peak, measured at the start of the same invocation;
- peak RSS of the contender's process (model load, tokenization, training, dev scoring);
- the dev score after the N steps (SST accuracy / STS Pearson on the full dev set), so that
  speed is not bought with accuracy.

Contenders (`--contenders`, alternated in the order given):
- `mtlib@MODE`: the same as `mtlib`, under `--compile MODE` (off, default, max-autotune);
- `mtlib`: `mtlib.run.pipeline.prepare` + `mtlib.train.Trainer.fit` restricted to the one task
  (epochs=1, num_batches_per_epoch=N), with the end-of-epoch dev scoring/checkpointing turned
  off while timing; its dev score comes from `mtlib.train.evaluate.predict_split` afterwards.
- `trainer`: `AutoModelForSequenceClassification` from the same encoder folder, `DataCollatorWithPadding`,
  `transformers.Trainer` with bf16=True (per --amp) on the CPU, no evaluation or saving during
  training, report_to none, 0 dataloader workers; dev score from `Trainer.predict`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mtlib.config.tasks import SENTENCE_TASK, SIMILARITY_TASK, TASKS  # noqa: E402

SCRIPT = Path(__file__).resolve()
CONTENDERS = ("mtlib", "trainer")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="minilm-l6", help="mtlib encoder name (minilm-l6, tiny-random, a local folder)")
    ap.add_argument("--tasks", default=f"{SENTENCE_TASK},{SIMILARITY_TASK}", help=f"comma-separated: {', '.join(TASKS)} (one run per task)")
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps per run")
    ap.add_argument("--skip", type=int, default=1, help="updates left out of the steady rate (one-off costs; compiling takes several)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--amp", default="bf16", choices=("bf16", "off"), help="bf16 autocast, or off (fp32)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each contender, alternating a, b, a, b")
    ap.add_argument(
        "--contenders", default=",".join(CONTENDERS),
        help="mtlib, trainer, and mtlib@MODE: mtlib under --compile MODE (e.g. mtlib,mtlib@default,trainer), alternated",
    )  # fmt: skip
    ap.add_argument("--eval-batch-size", type=int, default=128, help="dev scoring batch size (both contenders)")
    ap.add_argument("--dev-limit", type=int, default=0, help="score only this many dev rows (0: the full dev set)")
    ap.add_argument("--train-limit", type=int, default=0, help="tokenize only this many training rows (0: all; for smoke tests)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in each contender (0: torch's default)")
    ap.add_argument("--compile", default="off", help="mtlib's --compile for the plain `mtlib` contender (off, default, max-autotune, auto)")
    ap.add_argument("--shared", default="", help="what else ran on the cores meanwhile (empty: the benchmark had them to itself)")
    ap.add_argument("--data-dir", default="", help="task files (default $MTLIB_DATA_DIR or ./data)")
    ap.add_argument("--peak-size", type=int, default=1024, help="matmul size for the bf16 peak (fp32 uses twice it)")
    ap.add_argument("--out", default="", help="write the results as JSON here (e.g. benchmarks/results/train.json)")
    ap.add_argument("--summarise", metavar="JSON", help="only re-summarise and print a results file written by --out (rewriting it)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def split_contender(name: str) -> tuple[str, str]:
    """`mtlib@default` -> ("mtlib", "default"); `mtlib` -> ("mtlib", ""); `trainer` -> ("trainer", "")."""
    kind, _, mode = name.partition("@")
    if kind not in CONTENDERS or (mode and kind != "mtlib"):
        raise SystemExit(f"train_throughput.py: unknown contender {name!r} (mtlib, trainer, mtlib@MODE)")
    return kind, mode


def worker_args(args: argparse.Namespace, contender: str, task: str) -> list[str]:
    mode = split_contender(contender)[1] or args.compile
    return [
        "--worker", contender, "--task", task, "--encoder", args.encoder, "--steps", str(args.steps), "--skip", str(args.skip),
        "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--amp", args.amp,
        "--lr", str(args.lr), "--seed", str(args.seed), "--eval-batch-size", str(args.eval_batch_size),
        "--dev-limit", str(args.dev_limit), "--train-limit", str(args.train_limit), "--threads", str(args.threads), "--data-dir", args.data_dir, "--compile", mode,
    ]  # fmt: skip


# ---- contender (a): mtlib ---------------------------------------------------------------------
def mtlib_config(args: argparse.Namespace, save_path: str) -> Any:
    """The mtlib config of one benchmark run: one task, one epoch of `--steps` updates, the
    Trainer's schedule below; `--compile` as given (the mtlib contender's, see `--compile`)."""
    from mtlib.config.config import Config

    return Config.from_dict(
        dict(
            encoder=args.encoder, tasks=[args.task], data_dir=args.data_dir, max_length=args.max_length, amp=args.amp,
            device="cpu", lr=args.lr, seed=args.seed, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
            epochs=1, num_batches_per_epoch=args.steps, max_eval_examples=args.dev_limit, max_train_examples=args.train_limit, threads=args.threads,
            progress=False, save_path=save_path, overwrite=True, option="finetune", compile=args.compile,
            lr_schedule="linear", warmup_ratio=0.1, weight_decay=0.01,  # as the Trainer below
        )
    )  # fmt: skip


def run_mtlib(args: argparse.Namespace) -> dict[str, Any]:
    from mtlib.run.pipeline import prepare
    from mtlib.store.run_folder import RunDir
    from mtlib.train.evaluate import predict_split

    with tempfile.TemporaryDirectory(prefix="bench-mtlib-") as tmp:
        cfg = mtlib_config(args, tmp)
        p = prepare(cfg)
        rss_loaded = common.peak_rss_mb()
        trainer = common.BenchTrainer(cfg, p.model, p.tokenizer, p.data, p.precision, RunDir(tmp))
        trainer.fit()
        log = trainer.batch_log
        trainer.run.close()
        t = time.perf_counter()
        pred = predict_split(p.model, p.data[args.task]["dev"], p.precision, args.eval_batch_size, p.tokenizer.pad_token_id or 0)
        dev_seconds = time.perf_counter() - t
        shape = common.flop_shape(p.model.encoder)
        extra = {
            "optimizer": "torch.optim.AdamW(fused=True)",
            "attn_implementation": p.model.encoder.config._attn_implementation,
            "compile": p.precision.compile,
            "precision": p.precision.mode,
        }
        return finish(args, log, trainer.clock, pred.score(), len(pred.ids), dev_seconds, shape, rss_loaded, extra)


# ---- contender (b): transformers.Trainer ------------------------------------------------------
class ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def hf_rows(encoded: Any, regression: bool) -> list[dict[str, Any]]:
    labels = encoded.examples.labels
    return [
        {
            "input_ids": ids,
            "token_type_ids": types,
            "attention_mask": [1] * len(ids),
            "labels": float(labels[i]) if regression else int(labels[i]),
        }
        for i, (ids, types) in enumerate(zip(encoded.input_ids, encoded.token_type_ids))
    ]


def hf_model(encoder: str, task: str, seed: int) -> Any:
    """AutoModelForSequenceClassification from the encoder folder mtlib resolves `encoder` to."""
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    from mtlib.config.tasks import TASKS
    from mtlib.model.encoders import TINY_ALIAS, TINY_CONFIG, resolve_encoder_path

    spec = TASKS[task]
    kw: dict[str, Any] = {"num_labels": spec.num_outputs}
    if spec.label_kind == "score":
        kw["problem_type"] = "regression"
    elif spec.label_kind == "binary":
        kw["num_labels"] = 2
    torch.manual_seed(seed)
    path = resolve_encoder_path(encoder)
    if path == TINY_ALIAS:
        config = BertConfig(vocab_size=30522, **TINY_CONFIG, **kw)
        config._attn_implementation = "sdpa"
        return BertForSequenceClassification(config)
    return AutoModelForSequenceClassification.from_pretrained(path, **kw)


def hf_data(args: argparse.Namespace, task: str, tokenizer: Any, splits: tuple[str, ...] = ("train", "dev")) -> dict[str, Any]:
    """The same validated rows and token ids mtlib uses (mtlib.data.task_files.load_task + encode)."""
    from mtlib.config.tasks import TASKS
    from mtlib.data.batching import encode
    from mtlib.data.task_files import cap_rows, load_task, resolve_data_dir

    spec = TASKS[task]
    examples, _ = load_task(spec, resolve_data_dir(args.data_dir), splits)
    out = {}
    for split, ex in examples.items():
        ex = cap_rows(ex, args.train_limit if split == "train" else args.dev_limit, args.seed)
        out[split] = encode(ex, tokenizer, args.max_length)
    return out


def hf_score(task: str, raw: np.ndarray, labels: np.ndarray) -> float:
    from mtlib.config.tasks import TASKS

    spec = TASKS[task]
    pred = raw.reshape(len(labels), -1)
    values = pred[:, 0] if spec.label_kind == "score" else pred.argmax(-1)
    return spec.metric(values, labels)


def run_trainer(args: argparse.Namespace) -> dict[str, Any]:
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    from mtlib.config.tasks import TASKS
    from mtlib.model.encoders import load_tokenizer

    common.set_threads(args.threads)
    spec = TASKS[args.task]
    tokenizer = load_tokenizer(args.encoder)
    data = hf_data(args, args.task, tokenizer)
    regression = spec.label_kind == "score"
    train_ds, dev_ds = ListDataset(hf_rows(data["train"], regression)), ListDataset(hf_rows(data["dev"], regression))
    model = hf_model(args.encoder, args.task, args.seed)
    log = common.BatchLog()

    class CountingCollator(DataCollatorWithPadding):
        def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
            if model.training:
                log.add(np.array([len(f["input_ids"]) for f in features]))
            return super().__call__(features)

    clock = common.Clock()

    class Stamp(TrainerCallback):
        def on_step_end(self, *a: Any, **kw: Any) -> None:
            clock.stamp()

    rss_loaded = common.peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-hf-") as tmp:
        targs = TrainingArguments(
            output_dir=tmp, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.eval_batch_size, learning_rate=args.lr, weight_decay=0.01,
            warmup_steps=int(0.1 * args.steps), lr_scheduler_type="linear", seed=args.seed, data_seed=args.seed,
            bf16=args.amp == "bf16", use_cpu=True, eval_strategy="no", save_strategy="no", report_to="none",
            dataloader_num_workers=0, disable_tqdm=True, logging_strategy="no",
        )  # fmt: skip
        trainer = Trainer(model=model, args=targs, train_dataset=train_ds, data_collator=CountingCollator(tokenizer), callbacks=[Stamp()])
        clock.start()
        trainer.train()
        t = time.perf_counter()
        out = trainer.predict(dev_ds)
        dev_seconds = time.perf_counter() - t
    log.rows = log.rows[: len(clock)]  # the dataloader may have fetched one batch ahead
    score = hf_score(args.task, np.asarray(out.predictions, dtype=np.float64), data["dev"].examples.labels)
    shape = common.flop_shape(model.bert)
    extra = {"optimizer": str(targs.optim), "attn_implementation": model.config._attn_implementation}
    return finish(args, log, clock, score, len(dev_ds), dev_seconds, shape, rss_loaded, extra)


# ---- shared result assembly -----------------------------------------------------------------
def finish(
    args: argparse.Namespace, log: common.BatchLog, clock: common.Clock, score: float, dev_n: int, dev_seconds: float,
    shape: dict[str, int], rss_loaded: float, extra: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    steps = len(clock)
    skip = max(1, min(args.skip, steps - 1))
    times = clock.summary(skip)
    total, steady, steady_cpu = times["total"], times["steady"], times["steady_cpu"]
    all_t, steady_t = log.totals(0, steps), log.totals(skip, steps)
    if steps < 2:
        steady_t = all_t
    result = {
        "contender": args.worker,
        "task": args.task,
        "steps": steps,
        "train_seconds": total,
        "steady_seconds": steady,
        "sentences_per_s": steady_t["examples"] / steady,
        "sentences_per_s_all_steps": all_t["examples"] / total,
        "sentences_per_cpu_s": steady_t["examples"] / steady_cpu,
        "sentences_per_s_median_step": steady_t["examples"] / len(times["step_seconds"]) / float(np.median(times["step_seconds"])),
        "step_seconds": times["step_seconds"],
        "steady_cpu_seconds": steady_cpu,
        "real_tokens_per_s": steady_t["real_tokens"] / steady,
        "padded_tokens_per_s": steady_t["padded_tokens"] / steady,
        "padding_efficiency": all_t["padding_efficiency"],
        "examples_trained": all_t["examples"],
        "steady_totals": steady_t,
        "flop_shape": shape,
        "train_gflop_real": common.train_flops(shape, steady_t["real_tokens"], steady_t["sum_len_sq"]) / 1e9,
        "dev_score": score,
        "dev_metric": _metric(args.task),
        "dev_examples": dev_n,
        "dev_seconds": dev_seconds,
        "peak_rss_mb_after_load": rss_loaded,
        "peak_rss_mb": common.peak_rss_mb(),
        "torch_threads": torch.get_num_threads(),
        **extra,
    }
    result.update(common.flop_report(shape, steady_t, steady, None))
    return result


def _metric(task: str) -> str:
    from mtlib.config.tasks import TASKS

    return TASKS[task].metric_name


# ---- driver ----------------------------------------------------------------------------------
def summarise(runs: list[dict[str, Any]], tasks: list[str], contenders: list[str], peaks: dict[str, Any], amp: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dtype = "bf16" if amp == "bf16" else "fp32"
    for task in tasks:
        per: dict[str, Any] = {}
        for c in contenders:
            mine = [r for r in runs if r["task"] == task and r["contender"] == c]
            if not mine:
                continue
            sps = [r["sentences_per_s"] for r in mine]
            gflops = common.median([r["gflop_per_s_real"] for r in mine])
            per[c] = {
                "sentences_per_s_median": common.median(sps),
                "sentences_per_cpu_s_median": common.median([r.get("sentences_per_cpu_s", float("nan")) for r in mine]),
                "sentences_per_s_median_step": common.median([r.get("sentences_per_s_median_step", float("nan")) for r in mine]),
                "sentences_per_s_best": max(sps),
                "sentences_per_s_runs": sps,
                "peak_rss_mb_max": max(r["peak_rss_mb"] for r in mine),
                "dev_score_runs": [r["dev_score"] for r in mine],
                "padding_efficiency": common.median([r["padding_efficiency"] for r in mine]),
                "gflop_per_s_real_median": gflops,
                "mfu_vs_bf16_peak": gflops / peaks["bf16"]["gflops"],
                "mfu_vs_fp32_peak": gflops / peaks["fp32"]["gflops"],
                "mfu_vs_own_precision_peak": gflops / peaks[dtype]["gflops"],
            }
        for c in contenders:  # every mtlib variant against the Trainer
            if c != "trainer" and c in per and "trainer" in per:
                per.setdefault("ratios_over_trainer", {})[c] = per[c]["sentences_per_s_median"] / per["trainer"]["sentences_per_s_median"]
        if "mtlib" in per and "trainer" in per:
            a = [r["sentences_per_s"] for r in runs if r["task"] == task and r["contender"] == "mtlib"]
            b = [r["sentences_per_s"] for r in runs if r["task"] == task and r["contender"] == "trainer"]
            per["ratio_mtlib_over_trainer"] = per["mtlib"]["sentences_per_s_median"] / per["trainer"]["sentences_per_s_median"]
            per["ratio_per_repeat"] = [x / y for x, y in zip(a, b)]
            per["ratio_of_best_runs"] = max(a) / max(b)  # least disturbed run of each, under background load
            per["ratio_cpu_time"] = per["mtlib"]["sentences_per_cpu_s_median"] / per["trainer"]["sentences_per_cpu_s_median"]
            per["ratio_median_step"] = per["mtlib"]["sentences_per_s_median_step"] / per["trainer"]["sentences_per_s_median_step"]
            per["dev_score_delta_mtlib_minus_trainer"] = common.median(per["mtlib"]["dev_score_runs"]) - common.median(
                per["trainer"]["dev_score_runs"]
            )
        out[task] = per
    return out


def print_table(summary: dict[str, Any], peaks: dict[str, Any], contenders: tuple[str, ...] | list[str] = CONTENDERS) -> None:
    print(f"\nmatmul peak: fp32 {peaks['fp32']['gflops']:.1f} GFLOP/s, bf16 {peaks['bf16']['gflops']:.1f} GFLOP/s")
    header = f"{'task':5} {'contender':16} {'sent/s':>8} {'peak RSS MB':>11} {'dev':>7} {'pad eff':>7} {'GFLOP/s':>8} {'MFU bf16':>8} {'MFU fp32':>8}"
    print(header)
    for task, per in summary.items():
        for c in contenders:
            if c not in per:
                continue
            s = per[c]
            dev = common.median(s["dev_score_runs"])
            print(
                f"{task:5} {c:16} {s['sentences_per_s_median']:8.2f} {s['peak_rss_mb_max']:11.0f} {dev:7.3f} {s['padding_efficiency']:7.2f} "
                f"{s['gflop_per_s_real_median']:8.2f} {s['mfu_vs_bf16_peak']:8.1%} {s['mfu_vs_fp32_peak']:8.1%}"
            )
        if "ratio_mtlib_over_trainer" in per:
            shown = ", ".join(f"{r:.2f}" for r in per["ratio_per_repeat"])
            print(f"{task:5} ratio mtlib/Trainer sentences/s: {per['ratio_mtlib_over_trainer']:.2f} (per repeat: {shown}; "
                  f"best run vs best run: {per['ratio_of_best_runs']:.2f}; per CPU-second: {per['ratio_cpu_time']:.2f}; "
                  f"from median step times: {per['ratio_median_step']:.2f}); "
                  f"dev delta mtlib-Trainer {per['dev_score_delta_mtlib_minus_trainer']:+.3f}")  # fmt: skip
        for c, ratio in per.get("ratios_over_trainer", {}).items():
            if c != "mtlib":
                print(f"{task:5} ratio {c}/Trainer sentences/s: {ratio:.2f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.worker:
        result = run_mtlib(args) if split_contender(args.worker)[0] == "mtlib" else run_trainer(args)
        common.emit(result)
        return result
    if args.summarise:
        saved = json.loads(Path(args.summarise).read_text(encoding="utf-8"))
        st = saved["settings"]
        saved["summary"] = summarise(saved["runs"], st["tasks"].split(","), st["contenders"].split(","), saved["peaks"], st["amp"])
        print_table(saved["summary"], saved["peaks"], st["contenders"].split(","))
        common.write_json(args.summarise, saved)
        return saved
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for c in contenders:
        split_contender(c)
    info = common.machine_info()
    common.set_threads(args.threads)
    peaks = common.measure_peaks(args.peak_size)
    print(f"machine: {info['cpu']}, {info['cpu_count']} CPUs, load {info['loadavg']}; peaks fp32 {peaks['fp32']['gflops']:.1f} / "
          f"bf16 {peaks['bf16']['gflops']:.1f} GFLOP/s", flush=True)  # fmt: skip
    runs: list[dict[str, Any]] = []
    for task in tasks:
        for rep in range(args.repeats):
            for c in contenders:
                r = common.spawn_worker(SCRIPT, worker_args(args, c, task))
                r["repeat"] = rep
                runs.append(r)
                print(
                    f"[{task} repeat {rep + 1}/{args.repeats}] {c:16} {r['sentences_per_s']:8.2f} sent/s ({r['sentences_per_s_all_steps']:.2f} all steps)  "
                    f"peak RSS {r['peak_rss_mb']:.0f} MB  dev {r['dev_metric']} {r['dev_score']:.3f}  "
                    f"pad eff {r['padding_efficiency']:.2f}  load {common.load_average()}",
                    flush=True,
                )
    peaks = common.merge_peaks(peaks, common.measure_peaks(args.peak_size))  # again at the end: keep the best
    summary = summarise(runs, tasks, contenders, peaks, args.amp)
    print_table(summary, peaks, contenders)
    info["loadavg_end"] = common.load_average()
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "task", "out", "summarise")}
    result = {"benchmark": "train_throughput", "command": " ".join(sys.argv), "settings": settings, "machine": info, "peaks": peaks,
              "summary": summary, "runs": runs}  # fmt: skip
    if args.out:
        print(f"wrote {common.write_json(args.out, result)}")
    return result


if __name__ == "__main__":
    main()
