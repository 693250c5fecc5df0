"""`python -m mtlib.result_tables`, as the docs and the Makefile spell it: `mtlib.workbook.result_tables` lives in the workbook package."""

import sys

from .workbook.result_tables import main

if __name__ == "__main__":
    sys.exit(main())
