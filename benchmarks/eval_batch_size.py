"""Dev-pass time against `--eval_batch_size`, with a profile's model and pair encoding.

    MTLIB_DATA_DIR=data .venv/bin/python benchmarks/eval_batch_size.py --profile cpu --out benchmarks/results/eval_batch_size.json

Builds the profile's stage-2 model (`mtlib.run.pipeline.prepare`, heads untrained: speed only) and
times `mtlib.train.evaluate.predict_split` on every task's whole dev set at each batch size, in the
order given, after one untimed warm-up pass. Predictions are identical across batch sizes up to
float rounding (length-sorted batches; padding is masked), so only the time differs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--stage", default="finetune")
    ap.add_argument("--batch-sizes", default="256,128,64,32")
    ap.add_argument("--data-dir", default="", help="task files (default: $MTLIB_DATA_DIR, else data/)")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)

    from mtlib.config.config import Config
    from mtlib.run.pipeline import prepare
    from mtlib.train.evaluate import predict_split

    cfg = Config.from_profile(args.profile, args.stage, data_dir=args.data_dir)
    p = prepare(cfg)
    pad = p.tokenizer.pad_token_id or 0
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    rows = []
    for task in cfg.data.tasks:
        dev = p.data[task]["dev"]
        predict_split(p.model, dev, p.precision, sizes[0], pad)  # warm-up
        for size in sizes:
            start = time.perf_counter()
            predict_split(p.model, dev, p.precision, size, pad)
            seconds = time.perf_counter() - start
            rows.append({"task": task, "rows": len(dev), "batch_size": size, "seconds": round(seconds, 2)})
            print(f"{task:5s} {len(dev):5d} rows  batch {size:4d}  {seconds:6.1f} s", flush=True)
    totals = {size: round(sum(r["seconds"] for r in rows if r["batch_size"] == size), 1) for size in sizes}
    print("all three dev sets: " + ", ".join(f"batch {b}: {s} s" for b, s in totals.items()))
    record = {
        "profile": args.profile,
        "pair_encoding": cfg.model.pair_encoding,
        "rows": rows,
        "total_seconds": totals,
        **common.machine_info(),
    }
    if args.out:
        common.write_json(args.out, record)
    return record


if __name__ == "__main__":
    main()
