"""What a report uses of one cell's samples, taken from a single read of its samples file.

The summary pairs each cell with others in several passes (paired differences against the
reference method, the same method across models, the headline's row-against-row tests, the
sentences, the leaderboard's simultaneous intervals) and the heatmaps bin its depths. Holding
every cell's samples as objects for that would take about 8 GB at 100k cells (4 kB a sample), and a
bounded cache re-reads files whenever two passes visit cells in different orders (about twice per
file at 10k cells and beyond). So each cell is read once and reduced to this: numbers in flat
arrays (8 bytes a sample) and one digest of what makes two cells' samples the same samples.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from longctx_eval.payloads import NeedleSample, PerplexitySample
from longctx_eval.records import AnsweredSample, Sample

# Wrong answers kept per cell for the page's table of examples: a few from each of several cells
# say more than a dozen from the first cell, and all of them would cost memory at 100k cells (so
# each text is cut to WRONG_CHARS as well: at most about 1 kB a cell).
WRONG_KEPT = 3
WRONG_CHARS = 160


@dataclass(frozen=True, slots=True)
class WrongAnswer:
    depth: float | None  # the needle's real depth, for needle tasks
    target: str
    output: str


@dataclass(frozen=True, slots=True)
class CellSamples:
    """One cell's samples, in index order, as the report's passes use them."""

    n: int
    # blake2b of every sample's `pairs_as()` (index, answer asked for, document read): two cells
    # pair, sample by sample, exactly when their digests are equal.
    identity: bytes
    scores: array[float] | None  # None when a sample has no score
    nll: array[float] | None  # perplexity samples: NLL sums; None unless every one is finite
    tokens: array[float] | None  # and their scored-token counts
    doc_index: tuple[int, ...] | None  # perplexity samples: the document each one read
    # Needle samples with a score (the heatmaps' cells): the depth asked for, where the needle
    # landed (the requested depth if unknown), and the score; empty for other tasks.
    depth_requested: array[float]
    landed: array[float]
    depth_scores: array[float]
    wrong: tuple[WrongAnswer, ...]  # the first WRONG_KEPT samples scored below 1, by index

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> CellSamples:
        ordered = sorted(samples, key=lambda x: x.index)
        digest = hashlib.blake2b(repr([x.pairs_as() for x in ordered]).encode(), digest_size=16)
        scores = [x.score for x in ordered]
        ppl = [x for x in ordered if isinstance(x, PerplexitySample)]
        ppl_whole = len(ppl) == len(ordered) and all(x.nll_sum is not None for x in ppl)
        docs = [x.doc_index for x in ppl] if ppl_whole else []
        needles = [
            (x.depth_requested, x.filler_depth, x.score)
            for x in ordered
            if isinstance(x, NeedleSample) and x.depth_requested is not None and x.score is not None
        ]
        return cls(
            n=len(ordered),
            identity=digest.digest(),
            scores=None if any(s is None for s in scores) else array("d", [float(s or 0.0) for s in scores]),
            nll=array("d", [x.nll_sum or 0.0 for x in ppl]) if ppl_whole else None,
            tokens=array("d", [float(x.n_scored_tokens) for x in ppl]) if ppl_whole else None,
            doc_index=tuple(d for d in docs if d is not None) if docs and None not in docs else None,
            depth_requested=array("d", [d for d, _, _ in needles]),
            landed=array("d", [d if real is None else real for d, real, _ in needles]),
            depth_scores=array("d", [s for _, _, s in needles]),
            wrong=tuple(_wrong(ordered)),
        )

    def pairs_with(self, other: CellSamples) -> bool:
        """The same samples (same indices, answers asked for, documents) as `other`'s cell."""
        return self.n > 0 and self.n == other.n and self.identity == other.identity

    def documents(self) -> dict[int, tuple[float, int]] | None:
        """doc_index -> (NLL sum, scored tokens) of a perplexity cell, if its samples say so."""
        if self.doc_index is None or self.nll is None or self.tokens is None:
            return None
        out = {d: (v, int(t)) for d, v, t in zip(self.doc_index, self.nll, self.tokens, strict=True)}
        return out or None


def _wrong(ordered: Sequence[Sample]) -> list[WrongAnswer]:
    out: list[WrongAnswer] = []
    for x in ordered:
        if not isinstance(x, AnsweredSample):
            break  # not a task scored on generated text: no answers to show
        if x.score is not None and x.score < 1:
            depth = x.depth if isinstance(x, NeedleSample) else None
            out.append(WrongAnswer(depth, _cut(x.target), _cut(x.output)))
            if len(out) == WRONG_KEPT:
                break
    return out


def _cut(text: str) -> str:
    return text if len(text) <= WRONG_CHARS else text[: WRONG_CHARS - 1] + "…"
