"""The reference's methods and flags (issue 24): SMART, EDA preparation, RNN / LSTM heads, the SST
adjustment matrix, single-task schedulers, every flag of its argument parser, the options that
make the `reference` profile train as it did, and the loop semantics (pal's epoch, patience)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mtlib.config import Config
from mtlib.config.command_line import parse_args
from mtlib.util.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_CODE = ROOT / "../shared/reference/code"


def reference_calls(file: str, name: str) -> list[ast.Call]:
    path = REFERENCE_CODE / file
    if not path.is_file():
        pytest.skip(f"{path} is not beside the project")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", getattr(n.func, "id", "")) == name]


# ---- every flag of the reference's --help ---------------------------------------------------------
REFUSED = {"--transformer roberta", "--transformer roberta-large"} | {
    f"--{t}_{s}_out /predictions/{t}-{s}-output.csv" for t in ("sst", "para", "sts") for s in ("dev", "test")
}
CONTEXT = {  # what a flag's value needs beside it to be a valid configuration
    "--option test": ["--pretrained_model_name", "runs/x"],
    "--option optimize": ["--pretrained_model_name", "runs/x"],
    "--combine_strategy encourage": ["--projection", "pcgrad", "--task_scheduler", "pal"],
    "--combine_strategy force": ["--projection", "pcgrad", "--task_scheduler", "pal"],
    "--no_train_pal": ["--use_pal"],
    "--projection pcgrad": [],
}


def reference_flags() -> list[list[str]]:
    """Every flag of the reference's get_args(), with each of its choices, else its default."""
    out = []
    for call in reference_calls("multitask_classifier.py", "add_argument"):
        flag = call.args[0].value
        kw = {k.arg: k.value for k in call.keywords}
        if "action" in kw:
            out.append([flag])
        elif "choices" in kw:
            out += [[flag, c.value] for c in kw["choices"].elts]
        else:
            default = ast.literal_eval(kw["default"])
            out.append([flag, "True" if isinstance(default, bool) else str(default)])
    return out


def test_every_flag_of_the_reference_parser_works_or_is_refused_in_one_line(capsys):
    flags = reference_flags()
    assert len({f[0] for f in flags}) == 44  # the whole parser was read
    refused = set()
    for argv in flags:
        typed = " ".join(argv)
        try:
            cfg = parse_args(argv + CONTEXT.get(typed, [])).validate()
        except ConfigError as exc:
            assert "\n" not in str(exc) and argv[0] in str(exc), typed
            refused.add(typed)
            continue
        except SystemExit:
            err = capsys.readouterr().err
            pytest.fail(f"{typed}: refused by the parser: {err}")
        assert cfg.explicit, f"{typed} changed no setting"
    assert refused == REFUSED


def test_reference_flags_mean_what_they_meant():
    assert parse_args(["--beta_vaccine", "0.2"]).multitask.gradvac_beta == 0.2
    assert parse_args(["--no_tensorboard"]).run.tensorboard is False
    assert parse_args(["--save_loss_acc_logs", "True"]).run.save_loss_acc_logs is True
    assert parse_args(["--transformer", "bert"]).model.encoder == "bert-base-uncased"
    assert parse_args(["--sst_train", "some/folder/ids-sst-train.csv"]).data.data_dir == "some/folder"
    with pytest.raises(ConfigError, match="standard name"):
        parse_args(["--sst_train", "data/preprocessed-ids-sst-train.csv"])
    with pytest.raises(ConfigError, match="one folder"):
        parse_args(["--sst_train", "a/ids-sst-train.csv", "--sts_dev", "b/sts-dev.csv"])
    cfg = parse_args(["--task_scheduler", "sst", "--no_train_classifier", "--use_smart_regularization", "--option", "optimize"])
    assert (cfg.multitask.task_scheduler, cfg.train.no_train_classifier, cfg.train.use_smart_regularization) == ("sst", True, True)


# ---- SMART --------------------------------------------------------------------------------------------
def test_smart_uses_the_references_noise_settings():
    from mtlib.train import smart

    (call,) = reference_calls("smart_regularization.py", "SMARTLoss")
    settings = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("num_steps", "step_size", "epsilon", "noise_var")}
    assert settings == {"num_steps": smart.NUM_STEPS, "step_size": smart.STEP_SIZE, "epsilon": smart.EPSILON, "noise_var": smart.NOISE_VAR}


@pytest.mark.parametrize("kind,outputs", [("class", 5), ("binary", 1), ("score", 1)])
def test_smart_loss_is_positive_for_every_head_and_reaches_the_weights(kind, outputs):
    """smart-pytorch's softmax over one logit is 1, so its loss is 0 for para and STS; this one is not."""
    from mtlib.train.smart import smart_loss

    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, outputs))
    features = torch.randn(4, 8, requires_grad=True)
    loss = smart_loss(head, features, head(features), kind)
    assert loss.item() > 0
    loss.backward()
    assert head[0].weight.grad.abs().sum() > 0 and features.grad.abs().sum() > 0


def test_smart_adds_its_weighted_loss_to_each_batchs_loss(tiny_cfg):
    """The reference computed the SMART loss and dropped it (its return value was discarded); here it counts."""
    from mtlib.config.tasks import TASKS
    from mtlib.data import load_task, resolve_data_dir
    from mtlib.data.batching import encode
    from mtlib.model.amp import Precision
    from mtlib.model.encoders import load_tokenizer
    from mtlib.run.loading import build_model
    from mtlib.train.smart import smart_loss
    from mtlib.train.update import UpdateContext, batch_loss

    cfg = tiny_cfg(use_smart_regularization=True, smart_weight_regularization=0.5, head_dropout=0.0)
    tokenizer = load_tokenizer("tiny-random")
    model, _ = build_model(cfg, tokenizer)
    model.eval()
    for task in ("sst", "para"):
        rows, _ = load_task(TASKS[task], resolve_data_dir(cfg.data.data_dir), ("dev",))
        data = {task: {"train": encode(rows["dev"].subset(range(6)), tokenizer, 32, "cross")}}
        precision = Precision.create("cpu", "off")
        bench = UpdateContext(cfg, model, precision, data, tokenizer.pad_token_id)
        batch = precision.batch(data[task]["train"], np.arange(6), tokenizer.pad_token_id)
        torch.manual_seed(1)
        with_smart = batch_loss(bench, task, batch)
        plain = bench.loss(task, model(task, **batch), batch["labels"])
        torch.manual_seed(1)
        features = model.features(task, **batch)
        expected = smart_loss(lambda x, t=task: model.head(t, x), features, model.head(task, features), TASKS[task].label_kind)
        assert expected.item() > 0
        assert with_smart.item() == pytest.approx(plain.item() + 0.5 * expected.item(), rel=1e-5)


# ---- RNN / LSTM heads, the adjustment matrix -------------------------------------------------------
def _model(**spec):
    from mtlib.model import ModelSpec, MultitaskBert
    from mtlib.model.encoders import load_encoder

    encoder = load_encoder("tiny-random", seed=0)
    return MultitaskBert(encoder, ModelSpec("tiny-random", encoder.config.to_dict(), ["sst", "para", "sts"], **spec)).eval()


def test_lstm_head_on_sts_only_reads_the_tokens_with_cls_beside():
    model = _model(head_rnn="lstm", head_rnn_hidden=16, head_rnn_tasks=["sts"], pooling="cls")
    hidden = model.encoder.config.hidden_size
    assert list(model.recurrent) == ["sts"] and isinstance(model.recurrent["sts"].rnn, torch.nn.LSTM)
    assert model.heads["sts"][1].in_features == hidden + 16 and model.heads["sst"][1].in_features == hidden
    ids = torch.tensor([[101, 7, 8, 9, 102]])
    padded = torch.tensor([[101, 7, 8, 9, 102, 0, 0, 0]])
    mask = torch.ones_like(ids)
    pad_mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    out = model("sts", ids, mask, torch.zeros_like(ids))
    # the last hidden state is the last real token's: padding changes nothing
    assert torch.allclose(out, model("sts", padded, pad_mask, torch.zeros_like(padded)), atol=1e-5)
    features = model.features("sts", ids, mask, torch.zeros_like(ids))
    pooled = model.encode("sts", ids, mask, torch.zeros_like(ids))
    assert torch.equal(features[:, :hidden], pooled)  # [CLS] beside the RNN's state
    # and the RNN reads the tokens after [CLS] only
    states = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    _, (h, _) = model.recurrent["sts"].rnn(states[:, 1:])
    assert torch.allclose(features[:, hidden:], h[-1], atol=1e-5)


def test_plain_rnn_head_reads_every_token_without_cls_beside():
    model = _model(head_rnn="rnn", head_rnn_hidden=8, head_rnn_cls=False)
    assert set(model.recurrent) == {"sst", "para", "sts"} and isinstance(model.recurrent["sst"].rnn, torch.nn.RNN)
    assert model.heads["para"][1].in_features == 8


def test_the_adjustment_matrix_starts_as_the_identity():
    plain, adjusted = _model(), _model(sst_adjustment=True)
    assert list(adjusted.adjust) == ["sst"]
    adjusted.load_state_dict(plain.state_dict(), strict=False)
    ids = torch.tensor([[101, 7, 8, 102]])
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    assert torch.allclose(plain("sst", *args), adjusted("sst", *args))


def _run(cfg):
    from mtlib.run.pipeline import run

    return run(cfg.validate())


def test_option_optimize_trains_the_adjustment_matrix_alone(tiny_cfg, tmp_path):
    from safetensors.torch import load_file

    _run(tiny_cfg(save_path=str(tmp_path / "base")))
    _run(tiny_cfg(option="optimize", pretrained_model_name=str(tmp_path / "base"), save_path=str(tmp_path / "opt"), lr=0.05, epochs=2))
    before, after = load_file(tmp_path / "base" / "model.safetensors"), load_file(tmp_path / "opt" / "model.safetensors")
    assert set(after) - set(before) == {"adjust.sst.weight", "adjust.sst.bias"}
    assert all(torch.equal(before[k], after[k]) for k in before)  # encoder and heads untouched
    assert not torch.equal(after["adjust.sst.weight"], torch.eye(5))


def test_single_task_scheduler_trains_and_scores_that_task_alone(tiny_cfg, tmp_path):
    from mtlib.store.metrics_file import Dev, Train
    from mtlib.store.metrics_file import read as read_metrics

    _run(tiny_cfg(task_scheduler="sst", num_batches_per_epoch=5))
    rows = read_metrics(tmp_path / "run")
    assert [r.tasks for r in rows if isinstance(r, Train)] == [{"sst": 1}] * 5
    assert [set(r.dev) for r in rows if isinstance(r, Dev)] == [{"sst"}]


def test_no_train_classifier_and_no_tensorboard_and_loss_logs(tiny_cfg, tmp_path):
    from safetensors.torch import load_file

    _run(tiny_cfg(save_path=str(tmp_path / "base")))
    _run(
        tiny_cfg(
            pretrained_model_name=str(tmp_path / "base"),
            no_train_classifier=True,
            tensorboard=False,
            save_loss_acc_logs=True,
            save_path=str(tmp_path / "frozen"),
        )
    )
    before, after = load_file(tmp_path / "base" / "model.safetensors"), load_file(tmp_path / "frozen" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("heads."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not (tmp_path / "frozen" / "tb").exists()
    lines = (tmp_path / "frozen" / "dev_acc.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["sst", "para", "sts"] and "train_loss.txt" in {
        p.name for p in (tmp_path / "frozen").iterdir()
    }


# ---- EDA ---------------------------------------------------------------------------------------------
SYNONYMS = {"good": ["fine"], "film": ["movie", "picture"], "bad": ["poor"]}.get


def test_rows_to_augment_are_the_references_choice():
    from mtlib.data.eda import rows_to_augment

    labels = np.array([0] * 10 + [1] * 4 + [2] * 7 + [3] * 10)
    chosen = rows_to_augment(labels, np.random.default_rng(0))
    # each class but the most frequent gets (10 - n) // 2 copies (a tie: none)
    assert np.bincount(labels[chosen], minlength=4).tolist() == [0, 3, 1, 0]
    assert len(set(chosen.tolist())) == len(chosen)


def test_the_four_eda_operations():
    from mtlib.data import eda

    rng = np.random.default_rng(0)
    words = "the good film was not bad".split()
    synonyms = lambda w: SYNONYMS(w.lower()) or []  # noqa: E731
    replaced = eda.synonym_replacement(words, 2, rng, synonyms)
    changed = [(a, b) for a, b in zip(words, replaced) if a != b]
    assert len(changed) == 2 and all(b in SYNONYMS(a) for a, b in changed)
    inserted = eda.random_insertion(words, 2, rng, synonyms)
    assert len(inserted) == 8 and set(inserted) - set(words) <= {"fine", "movie", "picture", "poor"}
    swapped = eda.random_swap(words, 1, rng)
    assert sorted(swapped) == sorted(words) and sum(a != b for a, b in zip(words, swapped)) == 2
    deleted = eda.random_deletion(words * 10, 0.5, rng)
    assert 10 < len(deleted) < 50 and set(deleted) <= set(words)
    assert eda.random_deletion(["alone"], 0.99, rng) == ["alone"]


def test_preparation_is_seeded_recorded_and_touches_only_training_rows(real_data_dir):
    from mtlib.config.tasks import TASKS
    from mtlib.data import load_task
    from mtlib.data.eda import OPERATIONS, prepare_train

    splits, _ = load_task(TASKS["sst"], real_data_dir, ("train", "dev"))
    train = splits["train"].subset(range(400))
    synonyms = lambda w: SYNONYMS(w.lower()) or ["word"]  # noqa: E731
    out, record = prepare_train(train, TASKS["sst"], "lengths_augmented", 3, synonyms)
    again, _ = prepare_train(train, TASKS["sst"], "lengths_augmented", 3, synonyms)
    assert out.texts == again.texts and out.ids == again.ids
    assert record["rows_removed"] == 8 and record["seed"] == 3 and set(record["operations"]) <= set(OPERATIONS)
    assert record["rows_after"] == len(out) == 400 - 8 + record["rows_added"] and record["rows_added"] > 0
    assert all(i.endswith("-eda") for i in out.ids[392:])
    assert prepare_train(splits["dev"], TASKS["sst"], "lengths_augmented", 3, synonyms)[0] is splits["dev"]
    sts, _ = load_task(TASKS["sts"], real_data_dir, ("train",))
    assert prepare_train(sts["train"].subset(range(100)), TASKS["sts"], "lengths_augmented", 3, synonyms)[1]["rows_added"] == 0


def test_missing_wordnet_is_one_line_naming_the_install(tiny_cfg, tmp_path, monkeypatch, capsys):
    from mtlib.__main__ import main

    monkeypatch.setenv("MTLIB_WORDNET_DIR", str(tmp_path))
    argv = ["--encoder", "tiny-random", "--data_dir", tiny_cfg().data.data_dir, "--max_train_examples", "16"]
    assert main(argv + ["--use_preprocessing", "lengths_augmented", "--save_path", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install wordnet-base" in err


def test_wordnet_synonyms_through_nltk():
    from mtlib.data import eda

    try:
        synonyms = eda.wordnet_synonyms()
    except ConfigError:
        pytest.skip("WordNet (wordnet-base) is not installed here")
    assert "glad" in synonyms("happy") and "happy" not in synonyms("happy")


# ---- the reference's behaviours, as options ---------------------------------------------------------
def _streams(**rows):
    return {t: SimpleNamespace(num_batches=-(-n // 128), encoded=range(n)) for t, n in rows.items()}


def test_pal_sizes_in_micro_batches_as_the_reference():
    """Stage 2 of the reference on this data: p(para) in epoch 1 is 0.69 (micro-batches), not 0.525 (batches)."""
    from mtlib.train.reference_methods import scheduler_sizes
    from mtlib.train.task_schedulers import make_scheduler

    streams = _streams(sst=8544, para=16235, sts=6040)
    for cfg, expected in ((Config.from_profile("reference", "finetune"), 0.69), (Config.from_dict({"batch_size": 128}), 0.525)):
        pal = make_scheduler("pal", ["sst", "para", "sts"], scheduler_sizes(cfg, streams), 0, 10)
        pal.set_epoch(1)
        assert pal.probabilities()[1] == pytest.approx(expected, abs=0.005)


def test_combine_strategies_only_with_pal_in_the_reference_profile():
    from mtlib.train.optimization import batches_per_update
    from mtlib.train.reference_methods import combine_strategy
    from mtlib.train.task_schedulers import draw_update, make_scheduler

    flags = {"projection": "pcgrad", "task_scheduler": "random", "combine_strategy": "encourage"}
    mine, theirs = Config.from_dict(flags), Config.from_dict({**flags, "combine_only_with_pal": True})
    assert (batches_per_update(mine, 3), batches_per_update(theirs, 3)) == (16, 3)
    scheduler = make_scheduler("random", ["sst", "para", "sts"], {"sst": 1, "para": 9, "sts": 1}, 0, 1)
    assert all(draw_update(scheduler, 3, combine_strategy(theirs)) == ["sst", "para", "sts"] for _ in range(20))
    with_pal = Config.from_dict({**flags, "task_scheduler": "pal", "combine_only_with_pal": True})
    assert (batches_per_update(with_pal, 3), combine_strategy(with_pal)) == (16, "encourage")


def test_the_frozen_encoder_keeps_its_dropout_in_the_reference_profile():
    from mtlib.train.reference_methods import prepare_phase
    from mtlib.train.state import Phase

    model = _model()
    phase = Phase("pretrain", ["sst", "para", "sts"], True)
    prepare_phase(model, Config.from_profile("reference", "individual_pretrain"), phase)
    model.train()
    assert model.encoder.training and not any(p.requires_grad for p in model.encoder.parameters())
    prepare_phase(model, Config(), phase)
    model.train()
    assert not model.encoder.training and model.heads.training


# ---- the loop: pal's epoch index, patience --------------------------------------------------------
def test_the_pal_schedule_is_proportional_in_epoch_1_and_at_alpha_02_in_the_last(tiny_cfg, tmp_path, monkeypatch):
    from mtlib.store.metrics_file import PhaseStart
    from mtlib.store.metrics_file import read as read_metrics
    from mtlib.train.task_schedulers import AnnealedPAL

    seen: dict[int, np.ndarray] = {}
    original = AnnealedPAL.next_task

    def record(self):
        seen.setdefault(self.epoch, self.probabilities())
        return original(self)

    monkeypatch.setattr(AnnealedPAL, "next_task", record)
    _run(tiny_cfg(task_scheduler="pal", epochs=3, num_batches_per_epoch=2, max_train_examples=40))
    (phase,) = [r for r in read_metrics(tmp_path / "run") if isinstance(r, PhaseStart)]
    sizes = np.array([phase.sizes[t] for t in ("sst", "para", "sts")], dtype=float)
    assert sorted(seen) == [1, 2, 3]
    assert np.allclose(seen[1], sizes / sizes.sum())  # α = 1 in the first epoch
    assert np.allclose(seen[3], sizes**0.2 / (sizes**0.2).sum())  # α = 0.2 in the last


def test_patience_stops_after_that_many_epochs_without_improvement(tiny_cfg, tmp_path):
    """lr 1e-30 changes no weight, so no epoch after the first improves: patience 2 stops after epoch 3."""
    from mtlib.store.metrics_file import Dev
    from mtlib.store.metrics_file import read as read_metrics

    _run(tiny_cfg(lr=1e-30, epochs=6, patience=2, num_batches_per_epoch=1, head_dropout=0.0))
    dev = [r for r in read_metrics(tmp_path / "run") if isinstance(r, Dev)]
    assert [r.epoch for r in dev] == [1, 2, 3] and [r.best for r in dev] == [True, False, False]
