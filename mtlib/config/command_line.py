"""The command line of `python -m mtlib`: a flag per config field (with its help text and
choices), the CS224N reference project's spellings as aliases, and the flags that recreate a config."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import fields
from typing import get_type_hints

from ..util.errors import ConfigError
from . import methods, reference_flags
from .config import MICRO_BATCH_ALIASES, RENAMED, RUN_ONLY, SECTIONS, SPELLINGS, Config
from .tasks import TASKS

OPTIONAL_VALUE = ("save_loss_acc_logs",)  # bool settings whose flag takes an optional value


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a bad flag reported in one line (the usage is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (--help lists the flags)\n")


# `python -m mtlib COMMAND`: each runs its own parser (`mtlib.__main__.SUBCOMMANDS`; a test keeps the two in step)
COMMANDS = {
    "predict": "answer a task for a CSV, TSV, plain text or --text with a trained run",
    "export": "write a run's model as a Hugging Face folder",
    "convert": "read a CS224N reference-project checkpoint (.pt) into an mtlib folder",
    "compare": "runs side by side: scores with intervals, time, machine, differing settings",
    "recipe": "a profile's stages end to end, without notebooks",
    "workbook": "the notebooks 01-04 of a profile, executed by papermill into runs/<run>/",
    "sweep": "a profile over seeds and a grid of settings, resumable, then compared",
    "study": "the reference report's Table 2, row by row with seeds, resumable",
    "results": "record runs into results/ and regenerate the tables of docs/results.md and the README",
    "data": "fill data/ from a mirror, checking md5 sums",
}


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<10} {text}" for name, text in COMMANDS.items())
    parser = OneLineParser(
        prog="python -m mtlib",
        usage="python -m mtlib COMMAND [ARGS]   (python -m mtlib COMMAND --help)\n"
        "       python -m mtlib [--config PROFILE.yaml] [--FLAG VALUE ...]   (train, or test with --option test)",
        description=f"One BERT encoder fine-tuned jointly on {', '.join(spec.title for spec in TASKS.values())}.\n\n"
        f"commands:\n{commands}\n\nWithout a command, the flags below train one stage (or test a checkpoint:\n"
        "--option test --pretrained_model_name RUN), grouped by the config's sections; a YAML file or a\n"
        "profile takes the same names.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,  # only what the user typed overrides YAML
        allow_abbrev=False,  # --epoch is an error, not --epochs
    )
    parser.add_argument("--config", help="YAML file of settings (flat or by section); flags override it")
    parser.add_argument("--stage", help="with --config: apply that profile's `stages: <name>` overrides")
    readers: dict[str, list[str]] = {}  # a method's own setting -> the methods that read it (their registry rows)
    for kind in methods.KINDS:
        for m in methods.registered(kind).values():
            for name in m.options.values():
                readers.setdefault(name, []).append(f"--{kind} {m.name}")
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(section)
        hints = get_type_hints(cls)
        for f in fields(cls):
            kind = hints[f.name]
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            read_by = f" (read by {', '.join(readers[f.name])})" if f.name in readers else ""
            help_text = f"{f.metadata['help']}{read_by} (default: {default!r})"
            names = [f"--{f.name}", *SPELLINGS.get(f.name, ())]
            if f.name in OPTIONAL_VALUE:  # the reference's `type=bool` flag: `--save_loss_acc_logs True` or alone
                group.add_argument(*names, nargs="?", const=True, help=help_text)
            elif kind is bool:
                group.add_argument(*names, action=argparse.BooleanOptionalAction, help=help_text)
            else:
                choices = f.metadata.get("choices")
                if hasattr(choices, "described"):  # a method's setting: each registered method with its line
                    help_text = f"{f.metadata['help']}: {choices.described()}{read_by} (default: {default!r})"
                group.add_argument(*names, choices=choices, help=help_text)
    legacy = parser.add_argument_group("aliases kept from the CS224N reference project")
    for old, new in RENAMED.items():
        legacy.add_argument(f"--{old}", help=f"same as --{new}")
    for flag, task in MICRO_BATCH_ALIASES.items():
        legacy.add_argument(f"--{flag}", help=f"same as --max_micro_batch {task}=N" if flag.startswith("max_") else argparse.SUPPRESS)
    reference_flags.add_arguments(legacy)
    legacy.add_argument("--use_gpu", action="store_true", help="same as --device cuda")
    legacy.add_argument(
        "--use_amp",
        action="store_true",
        help="same as --amp auto_fp16 (on CUDA fp16 with a GradScaler, as the reference; on a CPU bf16 only where it is native, else fp32)",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> Config:
    args = vars(build_parser().parse_args(argv))
    path, stage = args.pop("config", None), args.pop("stage", "")
    if stage and not path:
        raise ConfigError("--stage needs --config PROFILE.yaml")
    if "resume" in args:
        ignored = sorted(k for k in args if k not in RUN_ONLY and k not in ("resume",))
        if ignored or path:
            flags = ", ".join(f"--{k}" for k in ignored + (["config"] if path else []))
            raise ConfigError(
                f"--resume {args['resume']} continues that run with the settings it started with, so {flags} cannot apply; "
                "drop them, or start a new run with --save_path"
            )
    cfg = Config.from_yaml(path, stage) if path else Config()
    cfg.update(args, source="command line")
    return cfg


def command_line(cfg: Config) -> list[str]:
    """The flags that recreate `cfg` from defaults (only those that differ)."""
    default = Config().to_flat()
    out: list[str] = []
    for key, value in cfg.to_flat().items():
        if key in ("resume", "overwrite", "debug") or value == default[key]:
            continue
        if isinstance(value, bool):
            out.append(f"--{key}" if value else f"--no-{key}")
        elif isinstance(value, list):
            out += [f"--{key}", ",".join(value)]
        elif isinstance(value, dict):
            out += [f"--{key}", ",".join(f"{k}={v}" for k, v in value.items())]
        else:
            out += [f"--{key}", str(value)]
    return out
