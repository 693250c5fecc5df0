"""Where a training update's time goes: mtlib's own update under `torch.profiler`, per op.

    MTLIB_DATA_DIR=data .venv/bin/python benchmarks/profile_step.py --amp off --out benchmarks/results/profile_avx2_fp32.json

Trains one task exactly as `train_throughput.py`'s mtlib contender does (`mtlib_config`: the same
encoder, batch, max length, precision, schedule and `--compile`; `common.BenchTrainer`, so each
update is mtlib's own), and profiles updates 3..N on the CPU: the first update carries one-off
costs and the second is the profiler's warm-up (`--skip K` leaves out K updates before the
warm-up one: a compiled model compiles in its first few). Written:

- the per-op table (`torch.profiler`'s `key_averages`, ops by self CPU time: each op's own time,
  not its children's, so the rows add up without double counting), in the JSON and as text
  beside it (`.txt`);
- the ops grouped into kinds (matmul, attention, optimizer, layer norm, activation, dropout,
  copies and casts, other elementwise, embedding, the rest) with each kind's share of the
  profiled wall time; what no op accounts for is Python and dispatch ("outside ops");
- the machine (CPU model, ISA flags), precision, compile mode, and the fp32/bf16 matmul peaks of
  this run, so a table is read against the machine it came from.

Self CPU time is the time on the thread that called the op; an op's intra-op worker threads run
inside it, so the shares are of wall time.
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
import torch  # noqa: E402
from train_throughput import mtlib_config  # noqa: E402

from mtlib.config.tasks import SENTENCE_TASK, TASKS  # noqa: E402

# op kinds, first match wins (aten names as the profiler reports them)
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("optimizer", ("_fused_adam", "_foreach_", "adamw")),
    ("attention", ("scaled_dot_product", "_softmax", "softmax", "baddbmm", "bmm")),
    ("matmul", ("aten::addmm", "aten::mm", "aten::matmul", "aten::linear", "mkldnn", "onednn")),
    ("layer norm", ("layer_norm",)),
    ("activation", ("gelu", "tanh")),
    ("dropout", ("dropout", "bernoulli")),
    ("copies and casts", ("copy_", "aten::to", "_to_copy", "contiguous", "clone", "cat", "stack")),
    ("embedding", ("embedding", "index_select", "index_add")),
    ("other elementwise", ("aten::add", "aten::mul", "aten::div", "aten::sub", "aten::sum", "aten::mean", "aten::fill_", "aten::zero_",
                           "aten::where", "aten::masked", "aten::neg", "aten::sqrt", "aten::pow", "aten::exp", "aten::rsub", "aten::clamp")),
)  # fmt: skip


def kind_of(op: str) -> str:
    name = op.lower()
    return next((kind for kind, keys in KINDS if any(k.lower() in name for k in keys)), "rest")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="minilm-l6")
    ap.add_argument("--task", default=SENTENCE_TASK, choices=sorted(TASKS))
    ap.add_argument("--steps", type=int, default=12, help="updates in all; updates skip+2..N are profiled")
    ap.add_argument(
        "--skip", type=int, default=1, help="updates before the profiler's warm-up one (a compiled model compiles in its first few)"
    )
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--amp", default="off", choices=("bf16", "off"))
    ap.add_argument("--compile", default="off", help="mtlib's --compile (off, default, max-autotune)")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=0, help="tokenize only this many training rows (0: all)")
    ap.add_argument("--data-dir", default="")
    ap.add_argument("--rows", type=int, default=40, help="op rows kept in the table")
    ap.add_argument("--peak-size", type=int, default=1024)
    ap.add_argument("--out", default="", help="JSON path; the text table goes beside it (.txt)")
    args = ap.parse_args(argv)
    args.eval_batch_size, args.dev_limit = 128, 0  # mtlib_config's other fields (no dev pass here)
    if args.skip < 1 or args.steps < args.skip + 2:
        ap.error("--steps must be at least --skip + 2 (--skip >= 1 updates are skipped, one warms the profiler up)")
    return args


def profile(args: argparse.Namespace) -> dict[str, Any]:
    from mtlib.run.pipeline import prepare
    from mtlib.store.run_folder import RunDir
    from mtlib.train.events import UpdateDone

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        cfg = mtlib_config(args, tmp)
        p = prepare(cfg)
        trainer = common.BenchTrainer(cfg, p.model, p.tokenizer, p.data, p.precision, RunDir(tmp))
        schedule = torch.profiler.schedule(wait=args.skip, warmup=1, active=args.steps - args.skip - 1, repeat=1)
        marks: list[float] = []
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], schedule=schedule) as prof:

            def step(_: Any) -> None:
                marks.append(time.perf_counter())
                prof.step()

            trainer.register_callback(UpdateDone, step)
            trainer.fit()
        trainer.run.close()
        profiled = args.steps - args.skip - 1
        wall_ms = (marks[-1] - marks[args.skip]) * 1e3  # from the end of the warm-up update to the end of N
        events = prof.key_averages()
        rows = sorted(
            ({"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1e3, "total_ms": e.cpu_time_total / 1e3} for e in events),
            key=lambda r: -r["self_ms"],
        )
        table = events.table(sort_by="self_cpu_time_total", row_limit=args.rows)
        log = trainer.batch_log.totals(args.skip + 1, args.steps)
        return {
            "precision": p.precision.mode,
            "compile": p.precision.compile,
            "profiled_updates": profiled,
            "wall_ms_per_update": wall_ms / profiled,
            "examples": log["examples"],
            "padding_efficiency": log["padding_efficiency"],
            "rows": rows,
            "table": table,
            "flop_shape": common.flop_shape(p.model.encoder),
            "steady_totals": log,
            "wall_ms": wall_ms,
        }


def by_kind(rows: list[dict[str, Any]], wall_ms: float) -> dict[str, dict[str, float]]:
    """Self time per op kind, as ms and as a share of the profiled wall time; the remainder is
    "outside ops" (Python, dispatch, the profiler's own cost)."""
    kinds: dict[str, float] = {}
    for r in rows:
        if r["op"].startswith("ProfilerStep"):
            continue
        kinds[kind_of(r["op"])] = kinds.get(kind_of(r["op"]), 0.0) + r["self_ms"]
    kinds["outside ops"] = max(0.0, wall_ms - sum(kinds.values()))
    return {k: {"ms": v, "share": v / wall_ms} for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    info = common.machine_info()
    common.set_threads(args.threads)
    peaks = common.measure_peaks(args.peak_size)
    result = profile(args)
    result["kinds"] = by_kind(result["rows"], result["wall_ms"])
    flops = common.train_flops(result["flop_shape"], result["steady_totals"]["real_tokens"], result["steady_totals"]["sum_len_sq"])
    gflops = flops / (result["wall_ms"] / 1e3) / 1e9
    result["gflop_per_s_real"] = gflops
    result["mfu_vs_fp32_peak"] = gflops / peaks["fp32"]["gflops"]
    result["mfu_vs_bf16_peak"] = gflops / peaks["bf16"]["gflops"]
    print(f"machine: {info['cpu']} ({', '.join(info['isa'])}); precision {result['precision']}, compile {result['compile']}; "
          f"peaks fp32 {peaks['fp32']['gflops']:.1f} / bf16 {peaks['bf16']['gflops']:.1f} GFLOP/s")  # fmt: skip
    print(f"{result['profiled_updates']} updates profiled: {result['wall_ms_per_update']:.0f} ms each (under the profiler), "
          f"{gflops:.1f} GFLOP/s real = {result['mfu_vs_fp32_peak']:.1%} of the fp32 peak, {result['mfu_vs_bf16_peak']:.1%} of the bf16 peak")  # fmt: skip
    for kind, v in result["kinds"].items():
        print(f"  {kind:18} {v['ms'] / result['profiled_updates']:8.1f} ms/update  {v['share']:6.1%}")
    print(result["table"])
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    record = {"benchmark": "profile_step", "command": " ".join(sys.argv), "settings": settings, "machine": info, "peaks": peaks,
              **{k: v for k, v in result.items() if k != "table"}, "rows": result["rows"][: args.rows]}  # fmt: skip
    if args.out:
        path = common.write_json(args.out, record)
        path.with_suffix(".txt").write_text(result["table"] + "\n", encoding="utf-8")
        print(f"wrote {path} and {path.with_suffix('.txt')}")
    return record


if __name__ == "__main__":
    main()
