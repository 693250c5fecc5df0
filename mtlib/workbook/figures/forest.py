"""The study's figure: the forest plot of its comparisons (each paired Δ with its 95% interval,
coloured by verdict, the equivalence band, the report's own Δ); `mtlib.workbook.study.report`
computes what it shows, `mtlib.workbook.study.outputs` writes it beside study.md."""

from __future__ import annotations

from typing import Any

FIGURE = "study_differences"


def differences_figure(summaries: list[dict[str, Any]], keep_dirty: bool = False) -> Any:
    """The forest plot of the largest study set: each comparison's paired Δ with its 95% interval,
    coloured by verdict, the equivalence band ±MARGIN, and the report's own Δ as a diamond."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ..study import stats as st  # here, not at the top: importing the study room runs its driver, which imports this
    from ..study.report import _report_delta, comparisons, study_sets

    sets = study_sets(summaries, keep_dirty)
    paired = [c for c in comparisons(sets[0]).values() if c.n > 1] if sets else []
    fig, ax = plt.subplots(figsize=(9.5, 0.42 * max(len(paired), 1) + 2.0))
    if not paired:
        ax.text(0.5, 0.5, "no comparison with two or more paired seeds recorded yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    colours = {st.HOLDS: "#4c72b0", st.REVERSED: "#c44e52", st.EQUIVALENT: "#55a868", st.INCONCLUSIVE: "#8c8c8c"}
    y = list(range(len(paired)))[::-1]
    ax.axvspan(-st.MARGIN, st.MARGIN, color="#55a868", alpha=0.12, lw=0)
    ax.axvline(0, color="grey", lw=0.8)
    for yi, c in zip(y, paired):
        colour = colours.get(c.verdict, "black")
        ax.plot(c.ci, [yi, yi], color=colour, lw=2)
        ax.plot([c.mean], [yi], "o", color=colour, ms=6)
        ax.plot([_report_delta(c.row, c.against)], [yi], "D", color="black", ms=5, zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{c.row} vs {c.against} (n={c.n})" for c in paired], fontsize=8)
    ax.set_xlabel("Δ mean dev score, paired by seed (row − compared row)")
    low, high = min(c.n for c in paired), max(c.n for c in paired)
    seeds = f"{low} paired seeds" if low == high else f"{low} to {high} paired seeds"
    ax.set_title(f"Table 2 comparisons, study set {sets[0].name}: {seeds}", fontsize=10)
    shown = [k for k in colours if k in {c.verdict for c in paired}]  # an entry for each kind of mark drawn, none for another
    handles = [Line2D([], [], color=colours[k], marker="o", lw=2, label=f"mtlib Δ, 95% CI: {k}") for k in shown]
    handles += [
        Line2D([], [], color="black", marker="D", lw=0, label="the report's Δ"),
        Patch(color="#55a868", alpha=0.25, label=f"equivalence band ±{st.MARGIN:g}"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
