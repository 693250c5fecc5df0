"""The baselines the README's comparison table measures mtlib against, as recorded runs.

    python benchmarks/baselines.py zero-shot                 # runs/baseline-zero-shot
    python benchmarks/baselines.py trainer --task all        # runs/baseline-trainer (sst, sts, para)
    python benchmarks/baselines.py trainer --task sst        # one task; the run folder fills up
    python benchmarks/baselines.py trainer --minutes 10      # all three tasks within about 10 CPU minutes
    python -m mtlib results --record runs/baseline-zero-shot runs/baseline-trainer

- `zero-shot`: the packaged sentence encoder as it is. STS: Pearson of the cosine of the
  mean-pooled embeddings. Para: the cosine thresholded at the value that is best on the *train*
  part of the md5 split (dev chooses nothing), scored on the held-out part; the accuracy at the
  threshold that is best on the held-out part itself is reported beside it (an optimistic
  upper bound, the figure the issue quotes). SST has no zero-shot reading.
- `trainer`: one `transformers.Trainer` fine-tuning run per task (one model per task, bf16): an
  `AutoModelForSequenceClassification` of the same encoder, pairs cross-encoded, batch 32,
  lr 5e-5, 10% linear warm-up, weight decay 0.01, max length 128, seed 0, bf16 where the
  machine computes it natively (`--amp auto`), 3 / 4 / 2 epochs for SST / STS / para, the
  dev score after the last epoch.
- `trainer --minutes M`: the same three runs sized to take about M minutes together on the
  machine at hand, training and dev prediction included. Each task asked for gets an equal share (M/3
  minutes for all three; equal, not by size: the question is what an afternoon buys each task). A
  short calibration per task times a few optimizer steps and a dev batch of the real model on
  real rows; the task then takes as many optimizer steps as its share buys: on a seeded subset
  of its rows when that is under one epoch, else on all its rows, a fractional number of epochs
  (`max_steps`; at most its usual epochs). The
  run records the budget, the calibration, the rows and epochs chosen, and the minutes actually
  spent: the whole process, start-up, model loading and calibration included (the shares are
  what is left of M after start-up and calibration), so a point on the budget figure is placed
  by what it cost, as a workbook run's minutes are.

Each writes a run folder that `python -m mtlib results --record` reads: results.json (dev scores with
bootstrap 95% intervals, seconds), command.txt, manifest.json and config.yaml.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

STARTED = time.perf_counter()  # the command line's start (after its imports): loading is part of a budgeted run's cost

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.train_throughput import ListDataset, hf_data, hf_model, hf_rows  # noqa: E402
from mtlib.config.tasks import DEV_SPLIT_TASKS, TASKS  # noqa: E402
from mtlib.data.task_files import cap_rows  # noqa: E402
from mtlib.model.amp import cpu_has_fast_bf16  # noqa: E402
from mtlib.model.multitask_bert import mean_pool  # noqa: E402
from mtlib.train.evaluate import Predictions, bootstrap_ci, summary  # noqa: E402
from mtlib.util.errors import run_command  # noqa: E402
from mtlib.util.files import atomic_write_json, atomic_write_text, check_output_folder  # noqa: E402

BY_THIS_SCRIPT = "python benchmarks/baselines.py "  # how its command.txt begins
MARKER = ".mtlib-baseline"  # in every run folder this script makes: it fills up or (--overwrite) clears only those
EPOCHS = {t: spec.baseline_epochs for t, spec in TASKS.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/baselines.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("zero-shot", "trainer"))
    parser.add_argument("--task", default="all", help=f"trainer: {' | '.join(TASKS)} | all")
    parser.add_argument("--out", default="", help="run folder (default runs/baseline-<kind>); one this script made fills up")
    parser.add_argument("--overwrite", action="store_true", help="clear --out first (only a run folder this script made)")
    parser.add_argument("--encoder", default="minilm-l6")
    parser.add_argument("--data_dir", default="")
    parser.add_argument("--amp", default="auto", choices=("auto", "off", "bf16"), help="trainer: bf16 on CUDA or a native-bf16 CPU")
    parser.add_argument("--epochs", type=int, default=0, help="trainer: override the per-task epochs")
    parser.add_argument("--minutes", type=float, default=0.0, help="trainer: size each task's rows to fit M minutes in all (equal shares)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--eval_batch_size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--train_limit", type=int, default=0, help="cap on training rows (tests)")
    parser.add_argument("--dev_limit", type=int, default=0, help="cap on dev rows (tests)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if not math.isfinite(args.minutes) or args.minutes < 0 or (args.minutes and args.kind != "trainer") or (args.minutes and args.epochs):
        parser.error(f"--minutes {args.minutes:g}: a finite, positive budget for `trainer`, without --epochs (it chooses the epochs)")
    args.out = Path(args.out or ROOT / "runs" / f"baseline-{args.kind}")
    args.command = BY_THIS_SCRIPT + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return args


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _prediction(task: str, split_examples: Any, values: np.ndarray) -> Predictions:
    return Predictions(task, "dev", split_examples.ids, split_examples.texts, values, values, split_examples.labels)


# ---- zero-shot ---------------------------------------------------------------------------------
@torch.inference_mode()
def embed(encoder: Any, tokenizer: Any, sentences: list[str], batch_size: int, max_length: int) -> torch.Tensor:
    """Unit-length mean-pooled embeddings, in batches sorted by length."""
    order = np.argsort([len(s) for s in sentences])
    out = torch.empty(len(sentences), encoder.config.hidden_size)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tokenizer([sentences[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        batch = {k: v.to(device()) for k, v in batch.items()}
        pooled = mean_pool(encoder(**batch).last_hidden_state, batch["attention_mask"])
        out[torch.as_tensor(idx)] = torch.nn.functional.normalize(pooled.float(), dim=-1).cpu()
    return out


def cosines(encoder: Any, tokenizer: Any, examples: Any, args: argparse.Namespace) -> np.ndarray:
    first, second = (embed(encoder, tokenizer, [t[c] for t in examples.texts], args.eval_batch_size, args.max_length) for c in (0, 1))
    return (first * second).sum(-1).numpy().astype(np.float64)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The cosine threshold (predict 1 above it) with the best accuracy, and that accuracy."""
    order = np.argsort(scores)
    s, y = scores[order], labels[order].astype(int)
    # predicting 1 for items i..n-1: correct = zeros below i + ones from i
    zeros_below = np.concatenate([[0], np.cumsum(1 - y)])
    ones_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = zeros_below + ones_from
    i = int(np.argmax(correct))
    cut = -np.inf if i == 0 else (s[i - 1] + s[i]) / 2 if i < len(s) else np.inf
    return float(cut), float(correct[i] / len(s))


def zero_shot(args: argparse.Namespace) -> dict[str, Any]:
    from mtlib.data.task_files import load_task, resolve_data_dir
    from mtlib.model.encoders import load_encoder, load_tokenizer

    encoder = load_encoder(args.encoder, seed=args.seed).to(device()).eval()
    tokenizer = load_tokenizer(args.encoder)
    data_dir = resolve_data_dir(args.data_dir)
    out: dict[str, Any] = {"dev": {}, "ci95": {}, "details": {}, "notes": []}
    start = time.perf_counter()
    for task, spec in TASKS.items():
        if not spec.is_pair:  # a single sentence has no cosine to read
            continue
        if spec.label_kind == "score":  # the cosine itself, as the score
            splits, _ = load_task(spec, data_dir, ("dev",))
            splits = {k: cap_rows(v, args.dev_limit, args.seed) for k, v in splits.items()}
            pred = _prediction(task, splits["dev"], cosines(encoder, tokenizer, splits["dev"], args))
            out["dev"][task], out["ci95"][task] = pred.score(), bootstrap_ci(pred, seed=args.seed)
            continue
        # a yes/no pair task: the cosine above the threshold best on the train part
        splits, notes = load_task(spec, data_dir, ("train", "dev"))
        splits = {k: cap_rows(v, args.train_limit if k == "train" else args.dev_limit, args.seed) for k, v in splits.items()}
        out["notes"] += notes
        train_cut, train_acc = best_threshold(cosines(encoder, tokenizer, splits["train"], args), splits["train"].labels)
        dev_cos = cosines(encoder, tokenizer, splits["dev"], args)
        pred = _prediction(task, splits["dev"], (dev_cos > train_cut).astype(np.float64))
        out["dev"][task], out["ci95"][task] = pred.score(), bootstrap_ci(pred, seed=args.seed)
        oracle_cut, oracle_acc = best_threshold(dev_cos, splits["dev"].labels)
        out["details"][task] = {
            "threshold_from_train_part": train_cut,
            "train_part_accuracy": train_acc,
            "held_out_best_threshold": oracle_cut,
            "held_out_accuracy_at_its_own_best_threshold": oracle_acc,
        }
    out["seconds"] = time.perf_counter() - start
    return out


# ---- single-task Trainer -----------------------------------------------------------------------
def use_bf16(amp: str) -> bool:
    if amp == "off":
        return False
    if amp == "bf16":
        return True
    return torch.cuda.is_available() or cpu_has_fast_bf16()


def trainer_task(args: argparse.Namespace, task: str, sizing: dict[str, Any] | None = None) -> dict[str, Any]:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from mtlib.model.encoders import load_tokenizer

    spec = TASKS[task]
    tokenizer = load_tokenizer(args.encoder)
    rows = sizing["rows"] if sizing else args.train_limit
    data = hf_data(argparse.Namespace(**{**vars(args), "train_limit": rows}), task, tokenizer)
    regression = spec.label_kind == "score"
    train_ds, dev_ds = ListDataset(hf_rows(data["train"], regression)), ListDataset(hf_rows(data["dev"], regression))
    model = hf_model(args.encoder, task, args.seed)
    epochs = sizing["epochs"] if sizing else args.epochs or EPOCHS[task]
    bf16 = use_bf16(args.amp)
    steps = sizing["steps"] if sizing else epochs * -(-len(train_ds) // args.batch_size)
    with tempfile.TemporaryDirectory(prefix="baseline-hf-") as tmp:
        targs = TrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, max_steps=steps, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=args.eval_batch_size, learning_rate=args.lr, weight_decay=0.01,
            warmup_steps=int(0.1 * steps), lr_scheduler_type="linear", seed=args.seed, data_seed=args.seed,
            bf16=bf16, use_cpu=device().type == "cpu", eval_strategy="no", save_strategy="no", report_to="none",
            dataloader_num_workers=0, disable_tqdm=True, logging_strategy="no",
        )  # fmt: skip
        trainer = Trainer(model=model, args=targs, train_dataset=train_ds, data_collator=DataCollatorWithPadding(tokenizer))
        start = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - start
        raw = np.asarray(trainer.predict(dev_ds).predictions, dtype=np.float64).reshape(len(dev_ds), -1)
        dev_seconds = time.perf_counter() - start - train_seconds
    values = raw[:, 0] if regression else raw.argmax(-1).astype(np.float64)
    pred = _prediction(task, data["dev"].examples, values)
    return {
        "task": task,
        "dev": pred.score(),
        "ci95": bootstrap_ci(pred, seed=args.seed),
        "train_seconds": train_seconds,
        "dev_seconds": dev_seconds,
        "epochs": epochs,
        "steps": steps,
        "train_examples": len(train_ds),
        "dev_examples": len(dev_ds),
        "bf16": bf16,
    }


# ---- a budget in minutes ----------------------------------------------------------------------
def calibrate(args: argparse.Namespace, task: str, steps: int = 3) -> dict[str, float]:
    """Seconds per optimizer step and per dev row of this task's Trainer model on this machine:
    one warm-up step, then `steps` timed AdamW steps on real training batches, and one timed
    dev batch (forward only). Rough by design: it sizes a budget, it is no benchmark."""
    from transformers import DataCollatorWithPadding

    from mtlib.model.encoders import load_tokenizer

    spec = TASKS[task]
    tokenizer = load_tokenizer(args.encoder)
    probe = argparse.Namespace(**{**vars(args), "train_limit": args.batch_size * (steps + 1), "dev_limit": args.eval_batch_size})
    data = hf_data(probe, task, tokenizer)
    regression = spec.label_kind == "score"
    collate = DataCollatorWithPadding(tokenizer)
    model = hf_model(args.encoder, task, args.seed).to(device())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    rows = hf_rows(data["train"], regression)
    batches = [collate(rows[i : i + args.batch_size]) for i in range(0, len(rows), args.batch_size)]
    autocast = torch.autocast(device().type, dtype=torch.bfloat16, enabled=use_bf16(args.amp))
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        if i == 1:
            start = time.perf_counter()  # the first step warms up
        with autocast:
            loss = model(**{k: v.to(device()) for k, v in batch.items()}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    step_seconds = (time.perf_counter() - start) / max(1, len(batches) - 1)
    dev = collate(hf_rows(data["dev"], regression))
    start = time.perf_counter()
    with torch.inference_mode(), autocast:
        model(**{k: v.to(device()) for k, v in dev.items()})
    return {"step_seconds": step_seconds, "dev_row_seconds": (time.perf_counter() - start) / len(data["dev"].examples)}


def size_task(
    share_seconds: float, calibration: dict[str, float], train_rows: int, dev_rows: int, batch_size: int, max_epochs: int
) -> dict[str, Any]:
    """Rows and optimizer steps that fill `share_seconds`: the dev pass first, then as many steps
    as the rest buys: on a seeded subset of the rows when that is under one epoch, else on all
    rows for as many steps as fit (a fractional number of epochs), at most `max_epochs` epochs."""
    train_seconds = max(0.0, share_seconds - dev_rows * calibration["dev_row_seconds"])
    steps = max(1, int(train_seconds / calibration["step_seconds"]))
    if steps * batch_size < train_rows:
        return {"rows": steps * batch_size, "steps": steps, "epochs": 1.0}
    per_epoch = -(-train_rows // batch_size)
    steps = min(steps, max_epochs * per_epoch)
    return {"rows": 0, "steps": steps, "epochs": round(steps / per_epoch, 3)}  # rows 0: every row


def plan_budget(args: argparse.Namespace, tasks: list[str]) -> dict[str, dict[str, Any]]:
    """Each task's equal share of `--minutes`, after the calibrations have spent their part."""
    from mtlib.data import load_task, resolve_data_dir

    start = time.perf_counter()
    calibrations = {task: calibrate(args, task) for task in tasks}
    spent = time.perf_counter() - start
    share = max(0.0, args.minutes * 60 - (time.perf_counter() - args.started)) / len(tasks)  # what start-up and calibration left
    plans = {}
    for task in tasks:
        splits, _ = load_task(TASKS[task], resolve_data_dir(args.data_dir), ("train", "dev"))
        train_rows = min(len(splits["train"]), args.train_limit or len(splits["train"]))
        dev_rows = min(len(splits["dev"]), args.dev_limit or len(splits["dev"]))
        plan = size_task(share, calibrations[task], train_rows, dev_rows, args.batch_size, EPOCHS[task])
        if plan["rows"] == 0 and args.train_limit:
            plan["rows"] = args.train_limit
        plans[task] = {**plan, "share_seconds": share, "calibration": calibrations[task], "calibration_seconds": spent / len(tasks)}
    return plans


# ---- run folder --------------------------------------------------------------------------------
def open_out(args: argparse.Namespace) -> None:
    """The one write rule (docs/reliability.md), before any work: `--out` is new, empty, or a run
    folder of this script (its `MARKER`, or from before the marker its command.txt), which fills
    up with the tasks run now, or with --overwrite is cleared first. Anything else (a workbook
    run, a user's folder) is refused, --overwrite or not."""
    import shutil

    command, mark = args.out / "command.txt", "made by benchmarks/baselines.py: it fills up, --overwrite clears it\n"
    if not (args.out / MARKER).exists() and command.is_file() and command.read_text(errors="replace").startswith(BY_THIS_SCRIPT):
        atomic_write_text(args.out / MARKER, mark)  # a run folder of this script from before the marker
    check_output_folder(args.out, MARKER, args.overwrite, flag="--out", what="a run folder of baselines.py", continues=True)
    if args.overwrite and (args.out / MARKER).is_file():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / MARKER, mark)


def manifest(args: argparse.Namespace, notes: list[str]) -> dict[str, Any]:
    from mtlib.store.run_folder import cpu_model, git_state

    return {
        "device": str(device()),
        "device_name": torch.cuda.get_device_name() if device().type == "cuda" else "cpu",
        "cpu_model": cpu_model(),  # minutes mean something only beside the CPU and precision they were spent on
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "precision": "bf16" if use_bf16(args.amp) else "fp32",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "git": git_state(),
        "data": {"notes": notes},
    }


def write_run(args: argparse.Namespace, results: dict[str, Any], notes: list[str]) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    results["dev_mean"] = summary(results["dev"])
    atomic_write_json(args.out / "results.json", results)
    atomic_write_json(args.out / "manifest.json", manifest(args, notes))
    atomic_write_text(args.out / "config.yaml", f"model:\n  encoder: {args.encoder}\n")
    print(json.dumps({k: results[k] for k in ("dev", "ci95", "dev_mean")}, indent=1))


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """`started`: when the command began (the module's import, from the command line); else now."""
    args = parse_args(argv)
    args.started = time.perf_counter() if started is None else started
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = list(EPOCHS) if args.task == "all" else args.task.split(",")
    unknown = [t for t in tasks if t not in EPOCHS]
    if unknown and args.kind == "trainer":
        raise SystemExit(f"baselines.py: unknown task(s) {unknown}; choose from {', '.join(EPOCHS)} or all")
    refused = run_command("baselines.py", lambda: open_out(args))  # one line and exit 2, before any work
    if refused:
        return refused
    if args.kind == "zero-shot":
        results = zero_shot(args)
        results["wall_seconds"] = results["seconds"]
        atomic_write_text(args.out / "command.txt", args.command + "\n")
        write_run(args, results, results["notes"])
        return 0
    plans = plan_budget(args, tasks) if args.minutes else {}
    for task in tasks:  # one file per task, so tasks can run as separate processes into one folder
        result = trainer_task(args, task, plans.get(task))
        result["command"] = args.command
        if task in plans:
            spent = plans[task]["calibration_seconds"] + result["train_seconds"] + result["dev_seconds"]
            result["budget"] = {"minutes": args.minutes, **plans[task], "spent_seconds": spent}
        atomic_write_json(args.out / f"{task}.json", result)
        print(f"{task}: dev {result['dev']:.4f} {result['ci95']} in {result['train_seconds']:.0f} s", flush=True)
    done = {t: json.loads((args.out / f"{t}.json").read_text()) for t in EPOCHS if (args.out / f"{t}.json").exists()}
    results = {
        "dev": {t: r["dev"] for t, r in done.items()},
        "ci95": {t: r["ci95"] for t, r in done.items()},
        "wall_seconds": sum(r["train_seconds"] for r in done.values()),
        "per_task": done,
    }
    if all("budget" in r for r in done.values()):  # a budgeted run: its minutes are what it spent
        results["budget_minutes"] = args.minutes
        results["wall_seconds"] = sum(r["budget"]["spent_seconds"] for r in done.values())
        if set(done) == set(tasks):  # all of them in this process: the whole process, start-up and loading included
            results["wall_seconds"] = time.perf_counter() - args.started
    commands = sorted({r["command"] for r in done.values()})
    atomic_write_text(args.out / "command.txt", "\n".join(commands) + "\n")
    write_run(args, results, [TASKS[t].split_note for t in DEV_SPLIT_TASKS if t in done])
    return 0


if __name__ == "__main__":
    sys.exit(main(started=STARTED))
