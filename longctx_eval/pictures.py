"""matplotlib for pictures written to files: the headless Agg backend, a figure as PNG bytes, and
the colour each method label was drawn in."""

from __future__ import annotations

import io
from typing import Any


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), imported only when drawing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot keeps every open figure otherwise)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return buf.getvalue()


def colours(fig: Any) -> dict[str, str]:
    """Method label -> colour (`#rrggbb`) of every artist tagged with its label as `gid`.

    Read from the artists themselves, not from the palette that chose them, so a test can check
    that what was drawn agrees across figures. A label drawn in two colours in one figure keeps
    its first: the disagreement then shows against the other figures.
    """
    from matplotlib.colors import to_hex

    out: dict[str, str] = {}
    for ax in fig.axes:
        for artist in [*ax.get_lines(), *ax.collections, *ax.patches]:
            gid = artist.get_gid()
            if not gid:
                continue
            if hasattr(artist, "get_facecolor"):  # bands, bars, scatter markers
                faces = artist.get_facecolor()
                colour = faces if len(faces) and isinstance(faces[0], float) else faces[0]
            else:  # lines
                colour = artist.get_color()
            out.setdefault(str(gid), to_hex(colour, keep_alpha=False))
    return out
