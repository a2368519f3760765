"""One colour per method label, the same in every figure of a report (and of any report of the
same labels).

matplotlib's default colour cycle gives a line the next colour of its own axes, so a method's
colour depended on which methods the picture drew before it: `pi@auto` orange in one picture and
blue in the next. Here the colour is a function of the label set alone:

- the method (the label before `@` and any parameters) picks a hue from a fixed table, the same
  in every report: `none` black, `pi` blue, `ntk` orange, and so on; a method not in the table (a
  plugin) takes a free hue by a stable hash of its name;
- labels of one method at several factors (or parameters) share its hue, in shades from dark to
  light in sorted order of the label (`pi@2` darker than `pi@4`; `@auto` sorts after numbers).

Every figure takes a `Palette` built once from all the labels of the report.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

# Hues for the shipped methods (tab10 order, colour-blind-safer than their neighbours), `none` black:
# the reference every other method is read against.
_FIXED = {
    "none": "#000000",
    "pi": "#1f77b4",
    "ntk": "#ff7f0e",
    "dynamic_ntk": "#2ca02c",
    "yarn": "#d62728",
    "llama3": "#9467bd",
    "longrope": "#8c564b",
    "p_rope": "#e377c2",
}
# Hues left for methods the table does not know (plugins), chosen by a stable hash of the name.
_SPARE = ("#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39", "#7b4173", "#3182bd")


def base_method(label: str) -> str:
    """`yarn(beta_fast=16)@4` -> `yarn`."""
    return re.split(r"[@(]", label, maxsplit=1)[0]


def _hue(method: str) -> str:
    if method in _FIXED:
        return _FIXED[method]
    digest = int(hashlib.sha256(method.encode()).hexdigest()[:8], 16)
    return _SPARE[digest % len(_SPARE)]


def _factor_key(label: str) -> tuple[int, float, str]:
    """Numbers in order, then `auto` and anything else by name."""
    tail = label.rsplit("@", 1)[-1] if "@" in label else ""
    try:
        return (0, float(tail), label)
    except ValueError:
        return (1, 0.0, label)


def _shade(hex_colour: str, t: float) -> str:
    """t < 0 mixes towards black, t > 0 towards white."""
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    target = 255 if t > 0 else 0
    mixed = [round(c + (target - c) * abs(t)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


class Palette:
    """label -> colour (`#rrggbb`) for a set of method labels."""

    def __init__(self, labels: Iterable[str]) -> None:
        by_method: dict[str, list[str]] = defaultdict(list)
        for label in sorted(set(labels)):
            by_method[base_method(label)].append(label)
        self._colours: dict[str, str] = {}
        for method, members in by_method.items():
            members.sort(key=_factor_key)
            hue = _hue(method)
            if method == "none":  # black has no shades towards black: greys, lightest last
                shades = [0.55 * i / max(1, len(members)) for i in range(len(members))]
            elif len(members) == 1:
                shades = [0.0]
            else:  # from 35% towards black to 55% towards white
                n = len(members) - 1
                shades = [-0.35 + 0.9 * i / n for i in range(len(members))]
            for label, t in zip(members, shades, strict=True):
                self._colours[label] = _shade(hue, t)

    def __getitem__(self, label: str) -> str:
        """A label the palette was not built with still gets its method's hue (never an error)."""
        return self._colours.get(label) or _hue(base_method(label))

    def as_dict(self) -> Mapping[str, str]:
        return dict(self._colours)
