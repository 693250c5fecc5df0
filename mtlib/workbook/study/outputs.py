"""The study's outputs, written: study.md (`mtlib.workbook.study.report.study_block`) and the
forest plot beside it (`mtlib.workbook.figures.forest`), as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...util.files import atomic_write_text
from ..figures.forest import FIGURE, differences_figure
from .report import study_block


def write_outputs(summaries: list[dict[str, Any]], out: Path, keep_dirty: bool = False) -> list[Path]:
    """study.md (the block) and the figure into `out`."""
    import matplotlib.pyplot as plt

    from ..figures.common import write_figure

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "study.md", "# The reference report's Table 2, rerun\n\n" + study_block(summaries, keep_dirty) + "\n")
    fig = differences_figure(summaries, keep_dirty)
    try:
        return [out / "study.md", *write_figure(fig, out, FIGURE)]
    finally:
        plt.close(fig)
