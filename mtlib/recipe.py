"""`python -m mtlib.recipe`, as the docs and the Makefile spell it: `mtlib.workbook.recipe` lives in the workbook package."""

import sys

from .workbook.recipe import main

if __name__ == "__main__":
    sys.exit(main())
