"""Charts for the HTML report, drawn by matplotlib as inline SVG.

Why matplotlib: it is maintained, needs no browser or network to draw, and its SVG output
embeds in the page (no script, prints as vectors). Text stays text (`svg.fonttype: none`),
so labels are searchable, selectable and checkable by tests. The object API is used, never
pyplot, so no global figure state is kept between reports.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["bars", "stacked_days"]

_BLUE = "#3b6ea5"
_PALETTE = ("#3b6ea5", "#d08c2e", "#5a9e6f", "#a55a7a", "#7a7a7a", "#8c6bb1")
_RC: dict[str, Any] = {"svg.fonttype": "none", "font.size": 10, "svg.hashsalt": "policy-2503"}


def _plain(label: str) -> str:
    """A label as literal text: matplotlib would read `$...$` as math."""
    return label.replace("$", r"\$")


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    if "<metadata>" in text:  # RDF boilerplate: bytes a reader never sees
        text = text[: text.index("<metadata>")] + text[text.index("</metadata>") + 11 :]
    return text


def bars(rows: Sequence[tuple[str, int]], fmt: Callable[[int], str], wrap: int = 34) -> str:
    """Horizontal bars, largest first, full labels wrapped beside them and the value at the
    end of each bar; labels are never cut."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    if not rows:
        return "<p>None in this period.</p>"
    labels = ["\n".join(textwrap.wrap(_plain(label), wrap)) for label, _ in rows]
    values = [v for _, v in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    with rc_context(_RC):  # type: ignore[arg-type]  # (its stub keys are Literals)
        fig = Figure(figsize=(8.6, 0.3 * lines + 0.35 * len(rows) + 0.3))
        ax = fig.add_subplot()
        y = list(range(len(rows)))[::-1]
        ax.barh(y, values, color=_BLUE, height=0.6)
        ax.set_yticks(y, labels)
        top = max(values) or 1
        for yi, v in zip(y, values, strict=True):
            ax.text(v + top * 0.01, yi, fmt(v), va="center", fontsize=9)
        ax.set_xlim(0, top * 1.18)
        ax.xaxis.set_visible(False)
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        return _svg(fig)


def stacked_days(
    days: Sequence[str], sites: Sequence[str], values: dict[tuple[str, str], int]
) -> str:
    """Rule breaks per day (or week), one colour per site, stacked; every period shown,
    empty ones as gaps, so quiet days read as quiet."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not days:
        return "<p>None in this period.</p>"
    with rc_context(_RC):  # type: ignore[arg-type]  # (its stub keys are Literals)
        fig = Figure(figsize=(8.6, 2.8))
        ax = fig.add_subplot()
        base = [0] * len(days)
        for i, site in enumerate(sites):
            v = [values.get((d, site), 0) for d in days]
            ax.bar(
                range(len(days)),
                v,
                bottom=base,
                label=_plain(site),
                color=_PALETTE[i % len(_PALETTE)],
            )
            base = [a + b for a, b in zip(base, v, strict=True)]
        ax.set_xticks(range(len(days)), list(days))
        ax.tick_params(axis="x", labelrotation=60 if len(days) > 4 else 0, labelsize=8)
        ax.set_ylabel("rule breaks")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(frameon=False, fontsize=8)
        return _svg(fig)
