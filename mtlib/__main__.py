"""`python -m mtlib ...`: parse the config, run, and turn bad input into one clear message.

A first argument naming a subcommand hands the rest to that command's own parser; anything
else is the training command line, as before:

    python -m mtlib --config mtlib/profiles/cpu.yaml --lr 2e-5      # train (or --option test)
    python -m mtlib predict --run runs/X --task sst --input file.csv  # mtlib.use.predict
    python -m mtlib export --run runs/X --to DIR                      # mtlib.use.export
    python -m mtlib compare runs/a runs/b --out DIR                   # mtlib.workbook.reports.compare
    python -m mtlib sweep --profile cpu --seeds 0,1 --grid lr=...     # mtlib.workbook.training.sweep
    python -m mtlib study --profile study-cpu --seeds 0,1,2           # mtlib.workbook.study (Table 2)
    python -m mtlib recipe --profile cpu --run NAME                   # mtlib.workbook.training.recipe
    python -m mtlib workbook --profile cpu --run NAME                 # mtlib.workbook.notebooks.runner (the notebooks)
    python -m mtlib results --update-readme                           # mtlib.workbook.reports.result_tables
    python -m mtlib data --dest data --mirror ../shared/data          # mtlib.data.download
    python -m mtlib convert ...                                       # mtlib.use.convert

The module paths that saved commands spell from earlier layouts (the recipe's, the sweep's, the
result tables', the data download's, each workbook module's) still run the same modules: the
table in mtlib/util/old_paths.py maps each to where it lives now.
"""

from __future__ import annotations

import sys

from .config.command_line import parse_args
from .util.errors import MtlibError, disk_error_message

SUBCOMMANDS = {
    "predict": ".use.predict",
    "export": ".use.export",
    "convert": ".use.convert",
    "compare": ".workbook.reports.compare",
    "sweep": ".workbook.training.sweep",
    "study": ".workbook.study",
    "recipe": ".workbook.training.recipe",
    "workbook": ".workbook.notebooks.runner",
    "results": ".workbook.reports.result_tables",
    "data": ".data.download",
}  # modules with a main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        import importlib

        return importlib.import_module(SUBCOMMANDS[argv[0]], __package__).main(argv[1:])
    debug = "--debug" in argv
    try:
        try:
            cfg = parse_args(argv)
        except SystemExit as exc:  # argparse: --help, or a bad flag (its message is printed)
            return int(exc.code or 0)
        refuse_a_stage_of_a_run(cfg.run.save_path)
        from .run.pipeline import run
        from .train import Interrupted
        from .workbook.figures.error_plots import RECORDERS  # the command line draws the workbook's figures too

        try:
            run(cfg, RECORDERS)
        except Interrupted as exc:
            print(f"mtlib: {exc}", file=sys.stderr)
            return exc.exit_code
    except MtlibError as exc:
        if debug:
            raise
        print(f"mtlib: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, whatever the message
        return exc.exit_code
    except OSError as exc:
        if debug:
            raise
        print(f"mtlib: error: {disk_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mtlib: interrupted", file=sys.stderr)
        return 130
    return 0


def refuse_a_stage_of_a_run(save_path: str) -> None:
    """The command line never writes into a workbook or recipe run (runs/<run>/stages/<stage>),
    even with --overwrite: the run's results.json and report would no longer tell what its
    stages hold. The command that made the run trains its stages again."""
    if not save_path:
        return
    from pathlib import Path

    from .workbook.notebooks.runner import RECIPE_MARKER, WORKBOOK_MARKER, run_maker

    path = Path(save_path).resolve()
    for folder in (path, *path.parents):
        made = run_maker(folder) if (folder / "stages").is_dir() else None  # not the project root (its notebooks/)
        made = made or next((m for m, f in (("workbook", WORKBOOK_MARKER), ("recipe", RECIPE_MARKER)) if (folder / f).is_file()), None)
        if made:
            again = "make workbook OVERWRITE=1 (or --overwrite)" if made == "workbook" else "python -m mtlib recipe --overwrite"
            raise MtlibError(
                f"--save_path {save_path} is inside the {made} run {folder}, which python -m mtlib does not write into "
                f"(its results.json and report would no longer tell what its stages hold): train it again with {again}, "
                "or choose a --save_path outside it"
            )


if __name__ == "__main__":
    sys.exit(main())
