"""`make data`: fill the data folder from a mirror folder or the upstream URLs, checking md5 sums.

    python -m mtlib data --dest data --mirror ../shared/data

A file already in `--dest` with the right md5 is kept. A mirror file is copied (the mirror is
only read). A file missing from the mirror is downloaded from the CS224N starter repository
when the network allows; `quora-train.csv` and `quora-test-student.csv` may stay absent, and
then the paraphrase task uses the md5 split of quora-dev.csv (see data/README.md).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import urllib.request
from pathlib import Path

from ..config.tasks import DEV_SPLIT_TASKS, TASKS
from ..util.errors import DataError
from ..util.files import atomic_write_bytes
from .task_files import md5_of

UPSTREAM = "https://raw.githubusercontent.com/gpoesia/minbert-default-final-project/7ac8260577fc12a86c7aaf38918056c30054ef39/data/"

# md5 of the files as published upstream (None: not recorded, accepted as is), from the task table
FILES: dict[str, str | None] = {name: md5 for spec in TASKS.values() for name, md5 in spec.md5}
OPTIONAL = {name for spec in TASKS.values() for name in spec.optional_files}


def fetch(dest: Path, mirror: Path | None = None, download: bool = True, timeout: float = 20.0) -> dict[str, str]:
    """Bring every task file into `dest`; returns {file: how it got there}. Raises DataError
    with a clear message when a required file cannot be had or has the wrong md5."""
    dest.mkdir(parents=True, exist_ok=True)
    report: dict[str, str] = {}
    problems: list[str] = []
    for name, md5 in FILES.items():
        target = dest / name
        if target.exists() and (md5 is None or md5_of(target) == md5):
            report[name] = "present"
            continue
        source = mirror / name if mirror else None
        if source is not None and source.is_file():
            shutil.copyfile(source, target.with_suffix(".part"))
            target.with_suffix(".part").replace(target)
            report[name] = f"copied from {mirror}"
        elif download:
            try:
                with urllib.request.urlopen(UPSTREAM + name, timeout=timeout) as response:
                    atomic_write_bytes(target, response.read())
                report[name] = "downloaded"
            except OSError as exc:
                report[name] = f"absent ({type(exc).__name__})"
        else:
            report[name] = "absent"
        if not target.exists():
            if name not in OPTIONAL:
                problems.append(f"{name}: not in the mirror ({mirror}) and could not be downloaded")
            continue
        if md5 is not None and md5_of(target) != md5:
            problems.append(f"{target}: md5 {md5_of(target)} differs from the published {md5}; delete it and run `make data` again")
    if problems:
        raise DataError("make data failed: " + "; ".join(problems))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtlib data", description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default="data", help="folder to fill (default data/)")
    parser.add_argument("--mirror", default="", help="folder holding the task files (read only)")
    parser.add_argument("--no-download", action="store_true", help="never touch the network")
    args = parser.parse_args(argv)
    mirror = Path(args.mirror) if args.mirror else None
    try:
        report = fetch(Path(args.dest), mirror, download=not args.no_download)
    except DataError as exc:
        print(f"mtlib data: error: {exc}", file=sys.stderr)
        return exc.exit_code
    for name, how in report.items():
        print(f"{name:28s} {how}")
    for spec in (TASKS[t] for t in DEV_SPLIT_TASKS):
        if not (Path(args.dest) / spec.files["train"]).exists():
            print(
                f"note: {spec.files['train']} is absent; the {spec.answer_name} task will use the md5 split of {spec.files['dev']} (data/README.md)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
