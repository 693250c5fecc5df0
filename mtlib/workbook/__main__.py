"""`python -m mtlib.workbook`: see `mtlib.workbook.notebooks.runner`."""

import sys

from .notebooks.runner import main

sys.exit(main())
