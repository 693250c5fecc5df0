"""Wall time of one answer from the shell: `python -m mtlib predict --run R --task sst --text "..."`,
the whole command (interpreter start, imports, model load, the answer), run N times, each in a
fresh process.

    MTLIB_DATA_DIR=data .venv/bin/python benchmarks/predict_latency.py --run runs/<run> --repeats 5 \\
        --out benchmarks/results/predict_latency.json

The record names the CPU, the precision the run predicts in, the load average before and after,
and whether other work shared the cores (`--shared "what ran"`, else judged from the load
average: more runnable processes than cores). Each repeat also records its CPU seconds (user +
system of the child), which other processes disturb less than its wall time. The issue's target:
one sentence answered in at most 5 s on the 2-core CPU machine, measured alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import machine_info, write_json

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "It was fine, I guess."


def one_command(run: str, task: str, text: str, python: str, lean: str = "auto") -> dict[str, Any]:
    """One whole `python -m mtlib predict` in a fresh process: its wall and CPU seconds and answer."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [python, "-m", "mtlib", "predict", "--run", run, "--task", task, "--text", text, "--device", "cpu", "--lean", lean],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"predict failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "answer": done.stdout.strip().splitlines()[-1]}


def precision_and_encoder(run: str, lean: str) -> tuple[str, str]:
    """The precision the run's predictions use on this CPU (its `amp` setting, resolved as predict
    resolves it), and which encoder answers (`--lean`: mtlib's lean BERT, or transformers' and why)."""
    sys.path.insert(0, str(ROOT))
    import mtlib

    predictor = mtlib.load(run, device="cpu", lean=lean == "auto")
    return predictor.precision.mode.replace("off", "fp32"), predictor.settings["encoder"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="a finished run folder (a smoke or MiniLM run)")
    parser.add_argument("--task", default="sst")
    parser.add_argument("--text", default=SENTENCE)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lean", default="auto", choices=("auto", "off"), help="predict's --lean: off times transformers' BertModel path")
    parser.add_argument("--shared", default="", help="what else ran on the cores, if anything (recorded as said)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)

    start = machine_info()
    runs = [one_command(args.run, args.task, args.text, args.python, args.lean) for _ in range(args.repeats)]
    end_load = os.getloadavg()[0]
    walls = [r["wall_seconds"] for r in runs]
    busy = max(start["loadavg"][0] if start["loadavg"] else 0.0, end_load) > (os.cpu_count() or 1)
    precision, encoder = precision_and_encoder(args.run, args.lean)
    result = {
        "command": f'python -m mtlib predict --run {args.run} --task {args.task} --text "{args.text}" --device cpu --lean {args.lean}',
        "machine": start,
        "loadavg_end": round(end_load, 2),
        "precision": precision,
        "encoder": encoder,
        "cores_shared": args.shared or ("yes: load average above the core count" if busy else "no"),
        "target_seconds": 5.0,
        "wall_seconds_median": round(statistics.median(walls), 3),
        "wall_seconds_min": min(walls),
        "cpu_seconds_median": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
        "runs": runs,
    }
    print(
        f"{args.repeats} x predict, {result['precision']}, {encoder}, {start['cpu']}: wall median {result['wall_seconds_median']:.2f} s "
        f"(min {result['wall_seconds_min']:.2f}), CPU median {result['cpu_seconds_median']:.2f} s; cores shared: {result['cores_shared']}"
    )
    if args.out:
        write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
