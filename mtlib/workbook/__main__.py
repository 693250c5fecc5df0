"""`python -m mtlib.workbook`: see `mtlib.workbook.runner`."""

import sys

from .runner import main

sys.exit(main())
