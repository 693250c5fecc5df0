"""Training throughput of mtlib on a CUDA GPU, by precision (fp32, bf16 autocast, fp16 + GradScaler).

    python benchmarks/gpu_throughput.py --encoder minilm-l6 --steps 200 --out benchmarks/results/gpu.json

For each precision: `mtlib.run.pipeline.prepare` + `common.BenchTrainer` (mtlib's own update path,
dev scoring and state saving off) on one task, `--steps` updates of `--batch-size` sentences;
sentences/s over updates 11..N (the first ten carry CUDA/cuBLAS warm-up). Needs a GPU; prints
one JSON object and writes it to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import common  # noqa: E402
from mtlib.config.tasks import TASK_NAMES  # noqa: E402


def measure(args: argparse.Namespace, amp: str) -> dict[str, Any]:
    from mtlib.config.config import Config
    from mtlib.run.pipeline import prepare
    from mtlib.store.run_folder import RunDir

    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        cfg = Config.from_dict(
            dict(
                encoder=args.encoder, tasks=[args.task], amp=amp, device="cuda", batch_size=args.batch_size,
                max_length=args.max_length, epochs=1, num_batches_per_epoch=args.steps, max_eval_examples=64,
                progress=False, save_path=tmp, overwrite=True, option="finetune", pair_encoding=args.pair_encoding,
            )
        )  # fmt: skip
        p = prepare(cfg)
        trainer = common.BenchTrainer(cfg, p.model, p.tokenizer, p.data, p.precision, RunDir(tmp))
        trainer.fit()
        torch.cuda.synchronize()
        trainer.run.close()
    wall = trainer.clock.wall
    warm = 10
    seconds = wall[-1] - wall[warm - 1]
    return {
        "amp": amp,
        "steps_timed": len(wall) - warm,
        "seconds": seconds,
        "sentences_per_s": (len(wall) - warm) * args.batch_size / seconds,
        "ms_per_step": 1000 * seconds / (len(wall) - warm),
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="minilm-l6")
    ap.add_argument("--task", default=TASK_NAMES[0])
    ap.add_argument("--pair_encoding", default="cross")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--amps", default="off,bf16,fp16")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_throughput.py needs a CUDA GPU")
    result = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "encoder": args.encoder,
        "task": args.task,
        "batch_size": args.batch_size,
        "runs": [measure(args, amp) for amp in args.amps.split(",")],
    }
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
