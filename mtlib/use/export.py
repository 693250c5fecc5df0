"""`python -m mtlib export --run runs/X --to DIR`: a trained model as a Hugging Face-style folder.

    DIR/
      config.json, model.safetensors   the encoder: transformers.AutoModel.from_pretrained(DIR)
      tokenizer.json, vocab.txt, ...   its tokenizer: AutoTokenizer.from_pretrained(DIR)
      heads.safetensors                the task heads and PAL blocks, under their mtlib names
      mtlib_model.json                 what rebuilds them: pooling, pair encoding, PAL, max_length,
                                       each task's outputs and label names; the export's own checks.
                                       Written last: the marker of a whole export (`MARKER`)
      mtlib_loader.py (+ pal.py)       a small loader that needs no mtlib (`mtlib.use.standalone_loader`)
      README.md                        the run's model card (MODEL_CARD.md), when it has one
      modules.json, sentence_bert_config.json, 1_Pooling/, 2_Normalize/
                                       a sentence-transformers model: SentenceTransformer(DIR)

The folder is built beside DIR and renamed into place once complete (`files.replace_folder`);
`--overwrite` replaces only an earlier export, never the run it reads (`check_target`).

The sentence-transformers part is written when a pair task is bi-encoded with mean pooling and
the model has no PAL blocks: then the encoder, mean pooling and L2 normalisation are exactly the
sentence vectors u, v of the pair heads. (PAL blocks make the encoder task-specific, which a
stock `SentenceTransformer` cannot hold; the loader can.) The STS head reads [u*v, |u-v|]
through a trained affine map, so what the folder reproduces is the cosine u.v, not the head's
score: the export computes the Pearson correlation of mtlib's own cosine with the gold scores on
the STS dev rows the run was scored on (fp32, CPU) and records it in mtlib_model.json, beside
the run's head score; SentenceTransformer(DIR) gives the same cosine Pearson within
`COSINE_PEARSON_TOLERANCE`, its embeddings mtlib's within `EMBEDDING_TOLERANCE`.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..config import methods
from ..config.tasks import SIMILARITY_TASK, TASKS, metric_value
from ..store.checkpoints import atomic_save_tensors
from ..util.errors import MtlibError, run_command
from ..util.files import atomic_write_json, atomic_write_text, built_aside, check_output_folder

LOADER = Path(__file__).with_name("standalone_loader.py")
PAL_SOURCE = Path(__file__).parents[1] / "model" / "pal.py"
# Same weights, tokenizer and pooling: the only differences are float rounding of other batch
# shapes (padding, attention kernels) in fp32, measured at about 1e-7 per coordinate.
EMBEDDING_TOLERANCE = 1e-5  # max |ST embedding - mtlib embedding|, per coordinate
COSINE_PEARSON_TOLERANCE = 1e-4  # |Pearson(ST cosine, gold) - Pearson(mtlib cosine, gold)| on STS dev


def sentence_transformers_reason(spec: Any) -> str:
    """Why no sentence-transformers folder can be written for this model ("" when it can)."""
    reasons = []
    if not any(_bi(spec, t) for t in spec.tasks):
        reasons.append("no pair task is bi-encoded (cross-encoded pairs give no sentence embeddings)")
    if not methods.method("pooling", spec.pooling).sentence_transformers:
        reasons.append(f"the model pools with {spec.pooling!r}, not mean pooling")
    if spec.use_pal:
        reasons.append(
            "the model has PAL blocks: its encoder differs per task, which a stock SentenceTransformer cannot hold (use mtlib_loader.py)"
        )
    return "; ".join(reasons)


def _bi(spec: Any, task: str) -> bool:
    from ..config.tasks import pair_mode

    return TASKS[task].is_pair and pair_mode(spec.pair_encoding, task) == "bi"


def sts_dev_rows(checkpoint: Path) -> tuple[list[tuple[str, str]], np.ndarray] | None:
    """The STS dev pairs and gold scores the checkpoint's run was scored on (its detailed
    prediction file), else the data folder's whole STS dev file; None when neither is there."""
    from ..train.evaluate import read_detailed

    spec = TASKS[SIMILARITY_TASK]
    detailed = checkpoint.parent / "predictions" / f"{spec.prediction_prefix}-dev-detailed.tsv"
    if detailed.is_file():
        table = read_detailed(detailed)
        first, second = spec.text_columns
        return list(zip(table[first], table[second])), table["label"].to_numpy(float)
    from ..data.task_files import load_task, resolve_data_dir

    try:
        dev = load_task(spec, resolve_data_dir(), ("dev",))[0]["dev"]
    except MtlibError:
        return None
    return [(a, b) for a, b in dev.texts], np.asarray(dev.labels, float)


def cosine_check(predictor: Any, rows: list[tuple[str, str]], gold: np.ndarray) -> dict[str, Any]:
    """mtlib's cosine of the bi-encoded sentence vectors on STS dev, and its Pearson with gold."""
    u = predictor.embeddings([a for a, _ in rows])
    v = predictor.embeddings([b for _, b in rows])
    cosine = (u * v).sum(1)
    return {"rows": len(rows), "cosine_pearson": metric_value("pearson", cosine, gold), "computed_with": "mtlib, fp32 on the CPU"}


MARKER = "mtlib_model.json"  # every export holds it (written last): --overwrite replaces only such folders


def check_target(to: Path, weights: Path, run: Path, overwrite: bool) -> None:
    """Whether `to` may receive an export of `weights` (from `run`): checked before anything is
    read or written (`files.check_output_folder`). A file is refused; so is a folder that holds
    something, unless --overwrite and it is an earlier export (its `mtlib_model.json`); and
    never the source: the checkpoint's folder, the run folder, or a folder that contains either."""
    reads = (run, weights.resolve().parent)
    check_output_folder(to, MARKER, overwrite, flag="--to", what="an mtlib export", reads=reads, verb="exports")


def source_name(weights: Path, run: Path) -> str:
    """The checkpoint as `<run folder name>/<path inside it>` (no absolute path in an export)."""
    base = run if run.is_dir() else weights.parent
    try:
        return str(Path(base.resolve().name) / weights.resolve().relative_to(base.resolve()))
    except ValueError:  # a test stage folder stands for a checkpoint in another stage folder
        return str(Path(weights.parent.name) / weights.name)


def export(run_or_checkpoint: str | Path, to: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Write the export folder (see the module docstring); returns what mtlib_model.json holds.
    Everything is checked first; the folder is built beside `to` and renamed into place whole
    (`files.replace_folder`), an earlier export replaced only then."""
    from ..store.stage_folders import reported_checkpoint
    from .predict import load

    to, run = Path(to), Path(run_or_checkpoint)
    check_target(to, reported_checkpoint(run), run, overwrite)
    predictor = load(run, device="cpu", amp="off")  # fp32 weights and checks
    assert predictor.checkpoint is not None
    with built_aside(to, MARKER, "choose a writable --to") as tmp:  # a failed write: one line, the old export kept
        info = _write(predictor, tmp, source_name(predictor.checkpoint, run))
    return info


def _write(predictor: Any, to: Path, exported_from: str) -> dict[str, Any]:
    model, spec, checkpoint = predictor.model, predictor.model.spec, predictor.checkpoint
    model.encoder.save_pretrained(str(to))
    predictor.tokenizer.save_pretrained(str(to))
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    atomic_save_tensors(to / "heads.safetensors", own, metadata={"format": "pt", "mtlib": "heads"})
    shutil.copyfile(LOADER, to / "mtlib_loader.py")
    if spec.use_pal:
        shutil.copyfile(PAL_SOURCE, to / "pal.py")
    info: dict[str, Any] = {
        "exported_from": exported_from,
        "encoder_name": spec.encoder_name,
        "pooling": spec.pooling,
        "pair_encoding": spec.pair_encoding,
        "n_hidden_layers": spec.n_hidden_layers,
        "use_pal": spec.use_pal,
        "pal_size": spec.pal_size,
        "pal_heads": spec.pal_heads,
        "max_length": predictor.max_length,
        "tasks": {
            t: {
                "title": TASKS[t].title,
                "kind": TASKS[t].label_kind,
                "outputs": TASKS[t].num_outputs,
                "class_names": list(TASKS[t].class_names),
                "range": list(TASKS[t].label_range),
                "pair": TASKS[t].is_pair,
                "bi_encoded": model.bi_encoded(t),
            }
            for t in spec.tasks
        },
    }
    reason = sentence_transformers_reason(spec)
    if reason:
        info["sentence_transformers"] = {"written": False, "why_not": reason}
    else:
        info["sentence_transformers"] = {
            "written": True,
            **write_sentence_transformers(to, model.encoder.config.hidden_size, predictor.max_length),
        }
        rows = sts_dev_rows(checkpoint)
        if rows is not None:
            info["sentence_transformers"]["sts_dev"] = cosine_check(predictor, *rows)
            info["sentence_transformers"]["sts_dev"]["head_pearson_reported"] = _reported_sts(checkpoint)
    atomic_write_text(to / "README.md", readme(checkpoint, info))
    atomic_write_json(to / MARKER, info)  # last: the marker of a whole export
    return info


def readme(checkpoint: Path, info: dict[str, Any]) -> str:
    """The run's model card (runs/<run>/MODEL_CARD.md, or one beside the checkpoint) followed by
    how to load this folder."""
    card = ""
    for candidate in (checkpoint.parent.parent.parent / "MODEL_CARD.md", checkpoint.parent / "MODEL_CARD.md"):
        if candidate.is_file():  # runs/<run>/stages/<stage>/model.safetensors, or a CLI run
            card = candidate.read_text(encoding="utf-8").rstrip() + "\n\n"
            break
    first = next(iter(info["tasks"]))
    example = "[('A man plays.', 'A person plays.')]" if info["tasks"][first]["pair"] else "['A gripping film.']"
    lines = [
        "## Loading this folder",
        "",
        "```python",
        "import mtlib_loader  # in this folder: needs torch, transformers and safetensors, not mtlib",
        "model = mtlib_loader.load('.')",
        f"model.predict({first!r}, {example})",
        "```",
        "",
        "The encoder alone: `transformers.AutoModel.from_pretrained(folder)`; the heads: `heads.safetensors`.",
    ]
    st = info["sentence_transformers"]
    if st["written"]:
        lines += [
            "",
            "Sentence embeddings (mean pooling, unit length): `SentenceTransformer(folder).encode(sentences)`; the cosine of two",
            "is what the bi-encoded pair heads read (they map [u*v, |u-v|] through a trained layer to their scores).",
        ]
        if st.get("sts_dev"):
            check = st["sts_dev"]
            lines.append(
                f"On the run's {check['rows']} {TASKS[SIMILARITY_TASK].label} dev rows the cosine's Pearson correlation with the gold scores is {check['cosine_pearson']:.4f}."
            )
    else:
        lines += ["", f"No sentence-transformers files: {st['why_not']}."]
    return card + "\n".join(lines) + "\n"


def _reported_sts(checkpoint: Path) -> float | None:
    from ..store.stage_folders import is_finished, read_results

    folder = checkpoint.parent
    return read_results(folder).dev.get(SIMILARITY_TASK) if is_finished(folder) else None


def write_sentence_transformers(to: Path, hidden: int, max_length: int) -> dict[str, Any]:
    """The sentence-transformers files (the layout of sentence-transformers/all-MiniLM-L6-v2,
    which every sentence-transformers version reads): encoder at the root, mean pooling, then
    L2 normalisation."""
    modules = ["Transformer", "Pooling", "Normalize"]
    paths = ["", "1_Pooling", "2_Normalize"]
    atomic_write_json(
        to / "modules.json",
        [
            {"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{m}"}
            for i, (m, p) in enumerate(zip(modules, paths))
        ],
    )
    atomic_write_json(to / "sentence_bert_config.json", {"max_seq_length": max_length, "do_lower_case": False})
    atomic_write_json(
        to / "config_sentence_transformers.json", {"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"}
    )
    pooling = {
        "word_embedding_dimension": hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    atomic_write_json(to / "1_Pooling" / "config.json", pooling)
    (to / "2_Normalize").mkdir(exist_ok=True)
    return {
        "max_seq_length": max_length,
        "embedding_tolerance": EMBEDDING_TOLERANCE,
        "cosine_pearson_tolerance": COSINE_PEARSON_TOLERANCE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib export", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run", required=True, help="a run folder (workbook/recipe: its reported stage), a stage folder or a .safetensors file"
    )
    parser.add_argument("--to", required=True, help="the folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace the folder if it holds something")
    args = parser.parse_args(argv)
    return run_command("mtlib export", lambda: _report(export(args.run, args.to, args.overwrite), args.to))


def _report(info: dict[str, Any], to: str) -> None:
    st = info["sentence_transformers"]
    print(f"exported {info['exported_from']} to {to}")
    if st["written"]:
        check = st.get("sts_dev")
        shown = (
            f"; {TASKS[SIMILARITY_TASK].label} dev cosine Pearson {check['cosine_pearson']:.4f} on {check['rows']} rows" if check else ""
        )
        print(f"sentence-transformers: SentenceTransformer({to!r}){shown}")
    else:
        print(f"no sentence-transformers folder: {st['why_not']}")
