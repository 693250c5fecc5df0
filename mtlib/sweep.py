"""`python -m mtlib.sweep`, as the docs and the Makefile spell it: `mtlib.workbook.sweep` lives in the workbook package."""

import sys

from .workbook.sweep import main

if __name__ == "__main__":
    sys.exit(main())
