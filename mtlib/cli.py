"""`python -m mtlib ...`: parse the config, run, and turn bad input into one clear message."""

from __future__ import annotations

import sys

from .config import parse_args
from .errors import MtlibError, disk_error_message


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        try:
            cfg = parse_args(argv)
        except SystemExit as exc:  # argparse: --help, or a bad flag (its message is printed)
            return int(exc.code or 0)
        from .pipeline import run
        from .train import Interrupted

        try:
            run(cfg)
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
