"""Scaling of mtlib's training update: sequence length, batch size, projections, PAL, levers.

    .venv/bin/python benchmarks/scaling.py --steps 3 --out benchmarks/results/scaling.json

Every figure times mtlib's own `Trainer.fit` (through `BenchTrainer`: no dev scoring or state
saving) for `--steps` updates after one untimed warm-up update, on synthetic token ids of a
fixed length (no padding, so the FLOP count is exact). Parts (`--parts`, comma-separated):

- `length`: time per update vs sequence length (`--lengths`, default 32,64,128) at `--batch-size`;
- `batch`: time per update vs batch size (`--batch-sizes`, default 8,16,32) at `--length`;
- `projection`: a 3-task update (sst, para, sts; `--proj-k` batches of `--proj-batch` examples,
  round robin, so k=3 is one batch of each task) for each of `--projections` (default none,pcgrad,vaccine,upgrad): time per
  example and its ratio to `none` (which also runs one backward per task, so the ratio is the
  cost of the per-task gradient rows and the aggregation alone);
- `pal`: the same 3-task update with and without PAL blocks (`--use_pal`, default sizes);
- `levers`: one change at a time on the `--length` x `--batch-size` single-task update:
  torch threads 1 vs the default, eager vs SDPA attention, bf16 autocast vs fp32 (on a small
  `--amp-lever-batch` x `--amp-lever-length` update), and AdamW foreach / fused / for-loop /
  word embeddings frozen (optimizer step alone, timed on the model's real parameters).

Model FLOP utilisation uses the formula in `benchmarks/common.py` against the fp32 and bf16
matmul peaks measured at the start of the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mtlib.config.tasks import TASK_NAMES  # noqa: E402

PARTS = ("length", "batch", "projection", "pal", "levers")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="minilm-l6")
    ap.add_argument("--amp", default="bf16", choices=("bf16", "off"))
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--steps", type=int, default=3, help="timed updates per configuration (after one warm-up update)")
    ap.add_argument("--lengths", default="32,64,128")
    ap.add_argument("--batch-sizes", default="8,16,32")
    ap.add_argument("--batch-size", type=int, default=32, help="batch size of the length sweep and the levers")
    ap.add_argument("--length", type=int, default=64, help="sequence length of the batch sweep, projections, PAL and levers")
    ap.add_argument("--proj-batch", type=int, default=16, help="examples per task batch in the 3-task updates")
    ap.add_argument("--projections", default="none,pcgrad,vaccine,upgrad")
    ap.add_argument(
        "--proj-k", type=int, default=3, help="batches per update in the 3-task updates (mtlib's default with a projection: 16)"
    )
    ap.add_argument("--amp-lever-batch", type=int, default=8, help="batch size of the bf16-vs-fp32 lever (small: bf16 can be very slow)")
    ap.add_argument("--amp-lever-length", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--peak-size", type=int, default=1024)
    ap.add_argument("--out", default="")
    return ap.parse_args(argv)


def synthetic(task: str, n: int, length: int, seed: int) -> Any:
    """`n` examples of exactly `length` tokens ([CLS] random ids [SEP]; pairs: segment 1 for the second half)."""
    from mtlib.config.tasks import TASKS
    from mtlib.data.batching import Encoded
    from mtlib.data.task_files import Examples

    spec = TASKS[task]
    rng = np.random.default_rng([seed, length, n])
    ids = rng.integers(1000, 30000, size=(n, length))
    ids[:, 0], ids[:, -1] = 101, 102
    types = np.zeros((n, length), dtype=np.int64)
    if spec.is_pair:
        types[:, length // 2 :] = 1
    if spec.label_kind == "class":
        labels = rng.integers(0, spec.num_outputs, n)
    elif spec.label_kind == "binary":
        labels = rng.integers(0, 2, n)
    else:
        labels = rng.uniform(0, 5, n)
    ex = Examples(task, "train", "synthetic", [str(i) for i in range(n)], [("x",) * len(spec.text_columns)] * n, labels.astype(np.float32))
    return Encoded(ex, ids.tolist(), types.tolist(), 0)


def time_updates(args: argparse.Namespace, tasks: list[str], batch: int, length: int, peaks: dict[str, Any], model_fn: Any = None,
                 **settings: Any) -> dict[str, Any]:  # fmt: skip
    """Time `args.steps` updates (after one warm-up update) of mtlib's Trainer on synthetic data."""
    from mtlib.config.config import Config
    from mtlib.model.amp import Precision
    from mtlib.run.pipeline import build_model
    from mtlib.store.run_folder import RunDir
    from mtlib.train.optimization import batches_per_update

    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        values = dict(
            encoder=args.encoder, tasks=tasks, amp=args.amp, device="cpu", lr=args.lr, seed=args.seed, batch_size=batch,
            epochs=1, updates_per_epoch=args.steps + 1, progress=False, save_path=tmp, overwrite=True, max_length=max(length, 8),
            lr_schedule="linear", warmup_ratio=0.1, weight_decay=0.01,
        )  # fmt: skip
        values.update(settings)
        cfg = Config.from_dict(values)
        cfg.validate()
        tokenizer = SimpleNamespace(pad_token_id=0)
        model = model_fn(cfg) if model_fn else build_model(cfg, tokenizer)[0]
        n = batch * (args.steps + 2) * batches_per_update(cfg, len(tasks))
        data = {t: {"train": synthetic(t, n, length, args.seed)} for t in tasks}
        trainer = common.BenchTrainer(cfg, model, tokenizer, data, Precision.create("cpu", args.amp), RunDir(tmp))
        trainer.fit()
        log = trainer.batch_log
        trainer.run.close()
    times = trainer.clock.summary()
    steady = times["steady"]
    updates = len(trainer.clock)
    per_update = len(log.rows) // updates
    t = log.totals(per_update, None)  # updates 2..N
    shape = common.flop_shape(model.encoder)
    out = {
        "tasks": tasks, "batch_size": batch, "length": length, "updates_timed": updates - 1,
        "seconds_per_update": steady / max(1, updates - 1), "examples_per_update": t["examples"] / max(1, updates - 1),
        "ms_per_example": 1e3 * steady / t["examples"], "sentences_per_s": t["examples"] / steady,
        "cpu_ms_per_example": 1e3 * times["steady_cpu"] / t["examples"],
        "tokens_per_s": t["real_tokens"] / steady, "threads": torch.get_num_threads(), "settings": settings,
        **common.flop_report(shape, t, steady, peaks),
    }  # fmt: skip
    return out


def show(label: str, r: dict[str, Any], base: dict[str, Any] | None = None) -> None:
    ratio = (
        f"  x{r['ms_per_example'] / base['ms_per_example']:.2f} of none (CPU time x{r['cpu_ms_per_example'] / base['cpu_ms_per_example']:.2f})"
        if base
        else ""
    )
    print(
        f"{label:34} {r['seconds_per_update']:7.2f} s/update {r['ms_per_example']:8.1f} ms/example {r['tokens_per_s']:8.0f} tok/s "
        f"{r['gflop_per_s_real']:6.1f} GFLOP/s  MFU fp32 {r['mfu_vs_fp32_peak']:5.1%} bf16 {r['mfu_vs_bf16_peak']:6.1%}{ratio}",
        flush=True,
    )


def optimizer_lever(args: argparse.Namespace) -> list[dict[str, Any]]:
    """AdamW step time on the real MultitaskBert parameters (gradients random): foreach / fused / loop."""
    from mtlib.config.config import Config
    from mtlib.run.pipeline import build_model

    cfg = Config.from_dict({"encoder": args.encoder, "tasks": [TASK_NAMES[0]], "seed": args.seed})
    model = build_model(cfg, SimpleNamespace(pad_token_id=0))[0]
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    out = []
    word = model.encoder.embeddings.word_embeddings.weight
    variants = (
        ("foreach (mtlib)", {"foreach": True}, params),
        ("fused", {"fused": True}, params),
        ("for-loop", {"foreach": False}, params),
        ("foreach, word embeddings frozen", {"foreach": True}, [p for p in params if p is not word]),
    )
    for name, kw, group in variants:
        try:
            opt = torch.optim.AdamW(group, lr=args.lr, weight_decay=0.01, **kw)
            opt.step()
            start = time.perf_counter()
            for _ in range(args.steps):
                opt.step()
            seconds = (time.perf_counter() - start) / args.steps
        except (RuntimeError, TypeError) as exc:  # fused may be unavailable on a backend
            out.append({"optimizer": name, "error": str(exc).splitlines()[0]})
            continue
        out.append({"optimizer": name, "seconds_per_step": seconds, "params": sum(p.numel() for p in group)})
        print(f"AdamW {name:16} {seconds * 1e3:8.1f} ms/step over {out[-1]['params']:,} parameters", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    common.set_threads(args.threads)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    info = common.machine_info()
    peaks = common.measure_peaks(args.peak_size)
    print(f"machine: {info['cpu']}, {info['cpu_count']} CPUs, load {info['loadavg']}; matmul peaks fp32 "
          f"{peaks['fp32']['gflops']:.1f} / bf16 {peaks['bf16']['gflops']:.1f} GFLOP/s; amp {args.amp}", flush=True)  # fmt: skip
    res: dict[str, Any] = {}
    cache: dict[tuple[int, int], dict[str, Any]] = {}

    def single(batch: int, length: int) -> dict[str, Any]:
        if (batch, length) not in cache:
            cache[(batch, length)] = time_updates(args, [TASK_NAMES[0]], batch, length, peaks)
        return cache[(batch, length)]

    if "length" in parts:
        res["length"] = []
        for length in [int(x) for x in args.lengths.split(",")]:
            r = single(args.batch_size, length)
            res["length"].append(r)
            show(f"{TASK_NAMES[0]} batch {args.batch_size} length {length}", r)
    if "batch" in parts:
        res["batch"] = []
        for batch in [int(x) for x in args.batch_sizes.split(",")]:
            r = single(batch, args.length)
            res["batch"].append(r)
            show(f"{TASK_NAMES[0]} batch {batch} length {args.length}", r)
    three = list(TASK_NAMES)
    # round robin with 3 batches per update draws sst, para, sts every update; `force` (the same draw)
    # is only accepted with a projection
    multi = dict(batches_per_update=args.proj_k, task_scheduler="round_robin")
    if "projection" in parts:
        res["projection"] = []
        base = None
        for name in [x.strip() for x in args.projections.split(",")]:
            strategy = "none" if name == "none" else "force"
            r = time_updates(args, three, args.proj_batch, args.length, peaks, projection=name, combine_strategy=strategy, **multi)
            r["projection"] = name
            if name == "none":
                base = r
            r["ratio_ms_per_example_vs_none"] = r["ms_per_example"] / base["ms_per_example"] if base else None
            r["ratio_cpu_ms_per_example_vs_none"] = r["cpu_ms_per_example"] / base["cpu_ms_per_example"] if base else None
            res["projection"].append(r)
            show(f"3-task projection {name}", r, base if name != "none" else None)
    if "pal" in parts:
        res["pal"] = []
        base = None
        for use_pal in (False, True):
            r = time_updates(args, three, args.proj_batch, args.length, peaks, use_pal=use_pal, projection="none", **multi)
            r["use_pal"] = use_pal
            base = base or r
            r["ratio_ms_per_example_vs_no_pal"] = r["ms_per_example"] / base["ms_per_example"]
            res["pal"].append(r)
            show(f"3-task PAL {use_pal}", r)
    if "levers" in parts:
        from mtlib.model.encoders import load_encoder
        from mtlib.model.multitask_bert import ModelSpec, MultitaskBert

        levers: dict[str, Any] = {"baseline": single(args.batch_size, args.length)}
        show(f"lever baseline ({torch.get_num_threads()} threads, sdpa)", levers["baseline"])
        default_threads = torch.get_num_threads()
        if default_threads > 1:
            torch.set_num_threads(1)
            try:
                levers["threads_1"] = time_updates(args, [TASK_NAMES[0]], args.batch_size, args.length, peaks)
            finally:
                torch.set_num_threads(default_threads)
            show("lever: 1 torch thread", levers["threads_1"])

        def eager(cfg: Any) -> Any:
            torch.manual_seed(cfg.train.seed)
            enc = load_encoder(cfg.model.encoder, seed=cfg.train.seed, attn_implementation="eager")
            spec = ModelSpec(encoder_name=cfg.model.encoder, encoder_config=enc.config.to_dict(), tasks=list(cfg.data.tasks))
            return MultitaskBert(enc, spec)

        levers["eager_attention"] = time_updates(args, [TASK_NAMES[0]], args.batch_size, args.length, peaks, model_fn=eager)
        show("lever: eager attention", levers["eager_attention"])
        other = "off" if args.amp == "bf16" else "bf16"
        small_b, small_l = args.amp_lever_batch, args.amp_lever_length
        own = time_updates(args, [TASK_NAMES[0]], small_b, small_l, peaks)
        flipped = time_updates(argparse.Namespace(**{**vars(args), "amp": other}), [TASK_NAMES[0]], small_b, small_l, peaks)
        levers["amp"] = {args.amp: own, other: flipped}
        show(f"lever: amp {args.amp} (batch {small_b}, length {small_l})", own)
        show(f"lever: amp {other} (batch {small_b}, length {small_l})", flipped)
        levers["adamw"] = optimizer_lever(args)
        res["levers"] = levers
    info["loadavg_end"] = common.load_average()
    peaks_end = common.measure_peaks(args.peak_size)
    print(f"matmul peaks again at the end: fp32 {peaks_end['fp32']['gflops']:.1f} / bf16 {peaks_end['bf16']['gflops']:.1f} GFLOP/s "
          "(the MFU figures above use the start-of-run peaks)")  # fmt: skip
    peaks = {**peaks, "end_of_run": peaks_end}
    result = {
        "benchmark": "scaling",
        "command": " ".join(sys.argv),
        "settings": vars(args),
        "machine": info,
        "peaks": peaks,
        "results": res,
    }
    if args.out:
        print(f"wrote {common.write_json(args.out, result)}")
    return result


if __name__ == "__main__":
    main()
