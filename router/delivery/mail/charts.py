"""Small charts for emails, drawn with matplotlib (Agg, no display) as PNG bytes."""

from __future__ import annotations

import io
from collections import Counter

from router.core.weekly import WHEN


def pages_chart(pages: dict[str, Counter[str]]) -> bytes:
    """Pages per engineer, stacked by when they went out (business hours, nights, ...)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    names = sorted(pages)
    figure, axes = pyplot.subplots(figsize=(6, 1.2 + 0.45 * max(1, len(names))), dpi=100)
    left = [0] * len(names)
    colours = ("#1849a9", "#6941c6", "#dc6803", "#b42318")
    for when, colour in zip(WHEN, colours, strict=True):
        counts = [pages[name][when] for name in names]
        axes.barh(names, counts, left=left, color=colour, label=when)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    axes.set_xlabel("pages")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.invert_yaxis()
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45), ncol=4, fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    pyplot.close(figure)
    return out.getvalue()
