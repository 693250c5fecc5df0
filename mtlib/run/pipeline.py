"""From a `Config` to a finished run: the one entry point the CLI and the notebooks share.

    results = run(cfg)   # validate -> data -> model -> train (or test) -> predictions -> results

Each step is one call; `prepare` is exposed for notebooks that want the data and the model
without training.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..config.config import Config
from ..data.batching import Encoded
from ..model.amp import Precision
from ..model.compiling import compile_encoder
from ..model.cpu_kind import cpu_kind
from ..model.encoders import load_tokenizer
from ..model.multitask_bert import MultitaskBert
from ..store.checkpoints import load_weights_into, read_model_spec, resolve_checkpoint
from ..store.metrics_file import Start
from ..store.recorded_config import adopt_checkpoint_settings, recorded_config
from ..store.results_file import RunResult
from ..store.run_folder import RunDir, cpu_model, default_run_name
from ..store.tensorboard import step_offset, write_final_scores
from ..train import distributed as dist
from ..train.evaluate import bootstrap_ci, predict_split, summary, write_predictions
from ..train.loop import Recorder
from ..util.errors import ConfigError
from ..util.progress import say_once
from . import model_card
from .loading import build_model, load_data, load_model, shown_path


@dataclass
class Prepared:
    cfg: Config
    precision: Precision
    tokenizer: Any
    model: MultitaskBert
    data: dict[str, dict[str, Encoded]]
    notes: list[str]
    data_manifest: dict[str, Any]


@dataclass(frozen=True)
class Runtime:
    """How and where this process runs, decided once per run (as nanoGPT decides its device and
    autocast up front): the device and precision, and the rank among `world` processes."""

    precision: Precision
    rank: int
    world: int


def resolve_runtime(cfg: Config) -> Runtime:
    """The device and precision of `cfg`, the process group torchrun describes, torch's threads
    and determinism: every process-wide decision, once."""
    precision = Precision.create(cfg.train.device, cfg.train.amp, cfg.train.compile)
    dist.init_from_env(precision.device.type)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return Runtime(precision, dist.rank(), dist.world_size())


def settle(cfg: Config) -> tuple[Config, list[str]]:
    """A validated copy of `cfg` (the caller's stays as it was), with `--option test`'s settings
    taken from the checkpoint; and the notes that says so."""
    cfg = copy.deepcopy(cfg).validate()
    return cfg, adopt_test_settings(cfg)


def prepare(cfg: Config, runtime: Runtime | None = None, notes: list[str] | None = None) -> Prepared:
    """Every input read and checked (the checkpoint, the encoder, the data) and the model built.
    `runtime` and `notes` are given by `execute`, which has settled `cfg` already."""
    if runtime is None:
        cfg, notes = settle(cfg)
        runtime = resolve_runtime(cfg)
    notes = list(notes or [])
    precision = runtime.precision
    if cfg.train.option == "test":
        model, tokenizer = load_model(cfg.train.pretrained_model_name, precision.device)
        cfg.data = dataclasses.replace(cfg.data, tasks=[t for t in cfg.data.tasks if t in model.spec.tasks])
        notes.append(f"testing {shown_path(resolve_checkpoint(cfg.train.pretrained_model_name), cfg)}")
    else:
        tokenizer = load_tokenizer(cfg.model.encoder)
        model, notes = build_model(cfg, tokenizer)
    limit = getattr(model.encoder.config, "max_position_embeddings", None)
    if limit and cfg.data.max_length > limit:
        raise ConfigError(
            f"--max_length {cfg.data.max_length} is longer than encoder {cfg.model.encoder!r} can read ({limit} positions); "
            f"pass --max_length {limit} or less"
        )
    wanted = cfg.prediction_splits
    splits = wanted if cfg.train.option == "test" else ("train", "dev", *(s for s in wanted if s != "dev"))
    data, data_notes, data_manifest = load_data(cfg, tokenizer, splits)
    model.to(precision.device)
    compile_encoder(model, precision.compile)
    return Prepared(cfg, precision, tokenizer, model, data, notes + data_notes, data_manifest)


def adopt_test_settings(cfg: Config) -> list[str]:
    """`--option test`: the model, max length and precision of the checkpoint (mtlib.store.recorded_config)."""
    if cfg.train.option != "test":
        return []
    weights = resolve_checkpoint(cfg.train.pretrained_model_name)
    return adopt_checkpoint_settings(cfg, weights, read_model_spec(weights))


def score_and_write(
    p: Prepared, run: RunDir, splits: tuple[str, ...] = ("dev", "test"), known: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Predict every task's `splits`, write the prediction files, return the dev scores (none
    when dev is not among the splits). `known` holds dev predictions already made by the same
    weights (the best epoch's)."""
    results: dict[str, Any] = {"dev": {}, "ci95": {}, "predictions": []}
    start = time.perf_counter()
    examples = 0
    for task in p.cfg.data.tasks:
        for split in splits:
            if split == "dev" and known and task in known:
                pred = known[task]
            else:
                label = (
                    f"[{p.cfg.train.option}] predicting {split} {task}" if p.cfg.run.progress else ""
                )  # kept on screen: no line follows it
                pred = predict_split(
                    p.model, p.data[task][split], p.precision, p.cfg.train.eval_batch_size, p.tokenizer.pad_token_id or 0, label, True
                )
            examples += len(pred.ids)
            if dist.rank() == 0:
                results["predictions"].append(str(write_predictions(run.predictions, pred)))
                results.setdefault("predicted", {})[f"{task}/{split}"] = len(pred.ids)
            if split == "dev":
                results["dev"][task] = pred.score()
                results["ci95"][task] = bootstrap_ci(pred, seed=p.cfg.train.seed)
    results["dev_mean"] = summary(results["dev"]) if results["dev"] else None
    results["predict_seconds"] = time.perf_counter() - start
    results["predict_examples"] = examples
    return results


def run(cfg: Config, recorders: Sequence[Recorder] = ()) -> RunResult:
    """Run the configured stage end to end; returns the results also written to results.json.
    `recorders` attach more hooks to the training loop (the workbook's figures, `mtlib.train.events`)."""
    return execute(cfg, recorders)[0]


def execute(cfg: Config, recorders: Sequence[Recorder] = ()) -> tuple[RunResult, Prepared]:
    """`run`, also handing back the prepared data and the trained model (best checkpoint)."""

    t0 = time.perf_counter()
    cfg, notes = settle(cfg)  # a contradicting setting is refused before the run folder is made
    runtime = resolve_runtime(cfg)
    if runtime.world > 1 and not cfg.run.save_path and not cfg.run.resume:
        cfg.run = dataclasses.replace(cfg.run, save_path=dist.broadcast_object(default_run_name(cfg.train.option)))
    path = RunDir.check(cfg)  # before anything is written or deleted
    if cfg.run.resume:  # the run's own settings, device and precision
        saved = recorded_config(path)
        saved.run = dataclasses.replace(saved.run, resume=cfg.run.resume, debug=cfg.run.debug, progress=cfg.run.progress)
        try:
            cfg, notes = settle(saved)
        except ConfigError as exc:  # the values are the run's own: say which file holds them
            raise ConfigError(
                f"{path / 'config.yaml'}: {exc}; the run's recorded settings are damaged: start it again with --overwrite"
            ) from None
        runtime = resolve_runtime(cfg)
    else:
        cfg.run = dataclasses.replace(cfg.run, save_path=str(path))
    p = prepare(cfg, runtime, notes)  # every input read and checked: the checkpoint, the encoder, the data
    run_dir = RunDir.open(p.cfg, dist.rank(), path)
    try:
        return _execute(p, run_dir, t0, recorders)
    finally:
        run_dir.release()


def _execute(p: Prepared, run_dir: RunDir, t0: float, recorders: Sequence[Recorder] = ()) -> tuple[RunResult, Prepared]:
    """The run's story: say what the model is, record the start, train (or not: the test stage
    scores the given checkpoint, not copied), predict and score, record the end."""
    dist.barrier()
    cfg = p.cfg
    _say_model(p)
    if dist.rank() == 0 and not cfg.run.resume:
        run_dir.record_start(cfg, _manifest(p))
        run_dir.log(Start(0, cfg.train.option, list(p.notes)))
    run_dir.step_offset = step_offset(cfg.train.pretrained_model_name)  # one TensorBoard step axis across the stages
    results: dict[str, Any] = {"option": cfg.train.option, "run": str(run_dir.path), "notes": p.notes}
    known, steps = {}, 0
    if cfg.train.option != "test":
        known, steps = _train(p, run_dir, results, recorders)
    else:
        results["checkpoint"] = str(resolve_checkpoint(cfg.train.pretrained_model_name))
    dist.barrier()
    results.update(score_and_write(p, run_dir, cfg.prediction_splits, known=known))
    results["wall_seconds"] = time.perf_counter() - t0
    results["tb_last_step"] = run_dir.step_offset + steps
    result = RunResult.from_dict(results)
    if dist.rank() == 0:
        _record_end(cfg, run_dir, result, steps)
    return result, p


def _say_model(p: Prepared) -> None:
    if dist.rank() != 0:
        return
    for note in p.notes:  # a note holds for the process: a notebook running two stages says it once
        say_once(f"note: {note}")
    if p.cfg.model.use_pal:
        counts = p.model.count_parameters()
        _say(f"PAL adds {counts['pal']:,} parameters ({counts['pal'] / counts['encoder']:.1%} of the encoder's {counts['encoder']:,})")


def _manifest(p: Prepared) -> dict[str, Any]:
    """manifest.json's account of where and how the run ran."""
    return {
        "device": str(p.precision.device),
        "device_name": torch.cuda.get_device_name() if p.precision.device.type == "cuda" else "cpu",
        "amp": p.precision.mode,
        "precision": p.precision.mode if p.precision.mode != "off" else "fp32",
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_kind": cpu_kind(),  # AVX2 | AVX512 | AVX512-BF16 | AMX-BF16: what --amp/--compile auto chose by
        "compile": p.precision.compile,
        "threads": torch.get_num_threads(),
        "world_size": dist.world_size(),
        "parameters": p.model.count_parameters(),
        "data": p.data_manifest,
        "model_notes": p.notes,
    }


def _train(p: Prepared, run_dir: RunDir, results: dict[str, Any], recorders: Sequence[Recorder]) -> tuple[dict[str, Any], int]:
    """Fit, then load the best checkpoint; the best epoch's dev predictions and the steps taken."""
    from ..train import Trainer

    trainer = Trainer(p.cfg, p.model, p.tokenizer, p.data, p.precision, run_dir, recorders=recorders)
    results.update(trainer.fit())
    best = run_dir.path / "model.safetensors"
    dist.barrier()
    if best.exists():
        load_weights_into(p.model, best)
    results["checkpoint"] = str(best)
    return trainer.best_dev_predictions, trainer.state.global_step


def _record_end(cfg: Config, run_dir: RunDir, result: RunResult, steps: int) -> None:
    result.write(run_dir.path)  # its paths relative to the run folder (RunResult.write)
    model_card.write(run_dir.path, cfg, result)  # every run folder gets its MODEL_CARD.md
    if cfg.train.option != "test" and not cfg.run.keep_state:
        run_dir.drop_state()  # finished: the model and the records stay, the resume state goes
    if result.dev and cfg.run.tensorboard:  # the test stage has no dev scores: it writes no (empty) event file
        write_final_scores(run_dir.writer(), result.dev, result.dev_mean, steps, cfg.to_flat())
    run_dir.close()
    if result.dev:
        shown = "  ".join(f"{t} {v:.3f} [{result.ci95[t][0]:.3f}, {result.ci95[t][1]:.3f}]" for t, v in result.dev.items())
        _say(f"dev: {shown}  mean {result.dev_mean:.3f}")
    _say(f"checkpoint: {result.checkpoint}")
    _say(f"predictions: {run_dir.predictions}")


def _say(text: str) -> None:
    if dist.rank() == 0:
        print(text, flush=True)


__all__ = ["run", "prepare", "load_model", "load_data", "build_model", "score_and_write", "ConfigError"]
