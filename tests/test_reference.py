"""The reference project's README, line by line: the `reference` profile holds its three example
commands value for value, and the commands, pasted after `python -m mtlib`, train on the schedule
they had there (on the tiny model: only the encoder, the rows, the length and the device are
swapped)."""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

import pytest

from mtlib.__main__ import main
from mtlib.config.command_line import parse_args
from mtlib.config.config import Config
from mtlib.store.metrics_file import PhaseStart, Train
from mtlib.store.metrics_file import read as read_metrics
from mtlib.train.events import UpdateDone

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "../shared/reference/cs224n-reference-project-README.md"  # beside the project, where it is
# The example commands, verbatim, by their line in the reference README.
COMMANDS = {
    34: "python3 multitask_classifier.py --option individual_pretrain --epochs 3 --lr 1e-3 --batch_size 256 --hidden_dropout_prob 0.2 --use_gpu --use_amp --patience 3 --n_hidden_layers 1 --max_batch_size_sst 256 --max_batch_size_para 32 --max_batch_size_sts 128",
    40: "python3 multitask_classifier.py --pretrained_model_name [INDIVIDUAL_PRETRAIN_MODEL.PT] --option finetune --epochs 10 --lr 1e-5 --batch_size 128 --hidden_dropout_prob 0.2 --use_gpu --num_batches_per_epoch 300 --task_scheduler pal --use_amp --patience 3 --n_hidden_layers 1",
    46: "python3 multitask_classifier.py --pretrained_model_name [FINETUNE_MODEL.PT] --option finetune --epochs 10 --lr 5e-6 --batch_size 32 --hidden_dropout_prob 0.2 --use_gpu --num_batches_per_epoch 1800 --projection vaccine --use_amp --patience 3 --n_hidden_layers 1  --max_batch_size_sst 16 --max_batch_size_para 16 --max_batch_size_sts 16",
}
STAGE_OF_LINE = {34: "individual_pretrain", 40: "finetune", 46: "finetune_vaccine"}
# The numbers of each line, as mtlib settings (--use_gpu is --device cuda, --use_amp is --amp auto_fp16).
COMMON = dict(head_dropout=0.2, device="cuda", amp="auto_fp16", patience=3, n_hidden_layers=1)
EXPECTED = {
    34: dict(COMMON, option="individual_pretrain", epochs=3, lr=1e-3, batch_size=256, max_micro_batch={"sst": 256, "para": 32, "sts": 128}),
    40: dict(COMMON, option="finetune", epochs=10, lr=1e-5, batch_size=128, num_batches_per_epoch=300, task_scheduler="pal"),
    46: dict(
        COMMON, option="finetune", epochs=10, lr=5e-6, batch_size=32, num_batches_per_epoch=1800, projection="vaccine",
        max_micro_batch={"sst": 16, "para": 16, "sts": 16},
    ),
}  # fmt: skip


def pasted(line: int, previous: Path | None = None) -> list[str]:
    """The command of README `line` as typed after `python -m mtlib` (the model file: a run folder)."""
    argv = shlex.split(COMMANDS[line])[2:]
    return [str(previous) if a.startswith("[") and a.endswith(".PT]") else a for a in argv]


def test_the_quoted_lines_are_the_readmes():
    if not README.is_file():
        pytest.skip(f"{README} is not on this machine; the lines are quoted above")
    lines = README.read_text(encoding="utf-8").splitlines()
    for number, command in COMMANDS.items():
        assert lines[number - 1].strip() == f"`{command}`"


@pytest.mark.parametrize("line", sorted(COMMANDS))
def test_the_reference_profile_is_the_readme_commands_value_for_value(line):
    stage = STAGE_OF_LINE[line]
    profile = Config.from_profile("reference", stage).validate().to_flat()
    command = parse_args(pasted(line, Path("previous-stage"))).to_flat()
    for key, value in EXPECTED[line].items():
        assert profile[key] == value, f"README line {line}: {key}"
        assert command[key] == value, f"README line {line} as mtlib parses it: {key}"
    # what the reference did without a flag: its AdamW (no weight decay) at a constant rate,
    # bert-base-uncased read through the pooler, ReLU in the hidden head layer
    assert (profile["lr_schedule"], profile["weight_decay"], profile["warmup_ratio"]) == ("constant", 0.0, 0.0)
    assert (profile["encoder"], profile["pooling"], profile["head_activation"], profile["pair_encoding"]) == (
        "bert-base-uncased",
        "pooler",
        "relu",
        "cross",
    )
    # and how it trained without a flag where mtlib's defaults differ (docs/reference-differences.md)
    assert (profile["scheduler_sizes"], profile["combine_only_with_pal"], profile["frozen_encoder_dropout"]) == (
        "micro_batches",
        True,
        True,
    )
    # and nothing else differs between the profile and the pasted command, but for those and the paths
    model_settings = {"encoder", "pooling", "head_activation", "max_length", "predict_splits", "pretrained_model_name"}
    model_settings |= {"scheduler_sizes", "combine_only_with_pal", "frozen_encoder_dropout", "max_micro_batch"}
    differ = {k for k in profile if profile[k] != command[k]} - model_settings
    assert not differ, f"README line {line}: the profile differs in {differ}"


def test_every_flag_the_readme_names_is_accepted():
    """README lines 20-27 and 82-85, as written there (`--batch_size_sts` and `-n_hidden_layers` included)."""
    cfg = parse_args(
        ["--option", "finetune", "--use_gpu", "--use_amp", "--pretrained_model_name", "runs/x", "--save_path", "runs/y"]
        + ["--task_scheduler", "pal", "--projection", "pcgrad", "--combine_strategy", "encourage", "--use_pal"]
        + ["--lr", "1e-5", "--epochs", "2", "--num_batches_per_epoch", "64", "--batch_size", "32", "-n_hidden_layers", "1"]
        + ["--batch_size_sts", "8", "--batch_size_sst", "16", "--batch_size_para", "4"]
    ).validate()
    assert (cfg.train.device, cfg.train.amp, cfg.model.use_pal, cfg.model.n_hidden_layers) == ("cuda", "auto_fp16", True, 1)
    assert cfg.train.max_micro_batch == {"sts": 8, "sst": 16, "para": 4}
    for option in ("test", "pretrain", "individual_pretrain", "finetune"):
        assert parse_args(["--option", option]).train.option == option


@pytest.fixture
def stop_after(monkeypatch):
    """Stop a run (as SIGTERM would: the state saved) once it has logged `n` updates."""
    from mtlib.train import Trainer

    limit = {"n": None}
    original = Trainer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)

        def stop(e):
            if limit["n"] and e.step >= limit["n"]:
                self._stop_signal = signal.SIGTERM

        self.register_callback(UpdateDone, stop)

    monkeypatch.setattr(Trainer, "__init__", init)
    return lambda n: limit.update(n=n)


def test_the_readme_commands_pasted_train_on_the_references_schedule(tmp_path, real_data_dir, monkeypatch, stop_after, capsys):
    monkeypatch.setenv("MTLIB_DATA_DIR", str(real_data_dir))

    def tiny(folder: Path, rows: int) -> list[str]:
        return [
            *("--encoder", "tiny-random", "--device", "cpu", "--amp", "off", "--max_length", "16"),
            *("--max_train_examples", str(rows), "--max_eval_examples", "16", "--predict_splits", "dev"),
            *("--no-progress", "--threads", "1", "--save_path", str(folder)),
        ]

    def train_rows(folder: Path) -> list[Train]:
        return [r for r in read_metrics(folder) if isinstance(r, Train)]

    # README line 34: each head alone, 3 epochs of one pass over its task's 300 rows in batches of 256
    s1 = tmp_path / "s1"
    assert main(pasted(34) + tiny(s1, 300)) == 0
    phases = [r for r in read_metrics(s1) if isinstance(r, PhaseStart)]
    assert [p.phase for p in phases] == ["individual_pretrain:sst", "individual_pretrain:para", "individual_pretrain:sts"]
    assert all(p.batches_per_epoch == p.updates_per_epoch == 2 and p.batches_per_update == 1 for p in phases)
    rows = train_rows(s1)
    assert len(rows) == 3 * 3 * 2 and all(len(r.tasks) == 1 and r.lr == 1e-3 for r in rows)

    # README line 40: 300 batches per epoch, each its own update (one task, drawn by `pal`), lr 1e-5 throughout
    s2 = tmp_path / "s2"
    stop_after(305)  # the first epoch and a few updates of the second
    assert main(pasted(40, s1) + tiny(s2, 4)) == 143
    (phase,) = [r for r in read_metrics(s2) if isinstance(r, PhaseStart)]
    assert (phase.batches_per_epoch, phase.batches_per_update, phase.updates_per_epoch) == (300, 1, 300)
    rows = train_rows(s2)
    assert [r.step for r in rows] == list(range(1, 306))
    assert sum(r.epoch == 1 for r in rows) == 300 and rows[300].epoch == 2
    assert all(sum(r.tasks.values()) == 1 for r in rows) and {t for r in rows for t in r.tasks} == {"sst", "para", "sts"}
    assert {r.lr for r in rows} == {1e-5}
    assert "[finetune] epoch 1/10: dev" in capsys.readouterr().out

    # README line 46: 1800 batches per epoch in 600 updates of one batch of each task (GradVac), lr 5e-6
    s3 = tmp_path / "s3"
    stop_after(12)
    assert main(pasted(46, s2) + tiny(s3, 4)) == 143
    (phase,) = [r for r in read_metrics(s3) if isinstance(r, PhaseStart)]
    assert (phase.batches_per_epoch, phase.batches_per_update, phase.updates_per_epoch) == (1800, 3, 600)
    rows = train_rows(s3)
    assert len(rows) == 12 and all(r.tasks == {"sst": 1, "para": 1, "sts": 1} for r in rows)
    assert {r.lr for r in rows} == {5e-6}
