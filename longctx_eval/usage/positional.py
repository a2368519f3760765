"""Positional heads: heads whose attention sits at a fixed offset, whatever the tokens.

A head's offset is the offset o (0 = the token itself, 1 = the previous token, …) with the most
mass in its offset profile (`attention`), and its share is that mass. The same tokens shuffled
(BOS kept first) keep every position but break the text: a head that attends by position keeps
its offset and share, a head that attends by content (a matching or related token) loses it.
A head is called positional when its share reaches the threshold on the real text and, when the
shuffled text was measured, at the same offset there too.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from longctx_eval.records import StoredFloat
from longctx_eval.usage.norms import top_pairs


class PositionalHead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: int = Field(description="layer index")
    head: int = Field(description="query head index")
    offset: int = Field(description="the offset holding most of the head's attention (0 = itself)")
    share: StoredFloat = Field(description="mean attention mass at that offset, real text")
    shuffled_share: float | None = Field(description="the same offset's mass on shuffled tokens")
    positional: bool = Field(description="share and shuffled share both reach the threshold")
    top_pairs: list[int] = Field(description="pairs whose q·k terms most favour that offset, strongest first")


def positional_heads(
    profile: np.ndarray,
    shuffled: np.ndarray | None,
    contrast: np.ndarray,
    threshold: float,
    pairs_shown: int = 3,
) -> list[PositionalHead]:
    """Every head, most positional first; `profile`/`shuffled` are [layers, heads, offsets], `contrast`
    [layers, heads, offsets, pairs] (see `attention`)."""
    heads = []
    for layer in range(profile.shape[0]):
        for head in range(profile.shape[1]):
            offset = int(np.argmax(profile[layer, head]))
            share = float(profile[layer, head, offset])
            again = None if shuffled is None else float(shuffled[layer, head, offset])
            positional = share >= threshold and (again is None or again >= threshold)
            heads.append(
                PositionalHead(
                    layer=layer,
                    head=head,
                    offset=offset,
                    share=share,
                    shuffled_share=again,
                    positional=positional,
                    top_pairs=top_pairs(contrast[layer, head, offset], pairs_shown),
                )
            )
    heads.sort(key=lambda h: -min(h.share, h.share if h.shuffled_share is None else h.shuffled_share))
    return heads


def at_offsets(profile: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """[layers, heads, pairs]: each head's band contrast at its own strongest offset."""
    best = profile.argmax(axis=-1)
    return np.take_along_axis(contrast, best[..., None, None], axis=2)[:, :, 0, :]
