"""Paired comparisons: each method against a reference method on the very same samples.

Every method of a sweep sees the same samples (seeds depend on the sweep seed, task and length
only) and the same documents, so "is YaRN better than NTK here?" has a paired answer, much tighter
than two unpaired intervals side by side:
- accuracy with 0/1 scores: the mean per-sample difference, the exact McNemar p-value and the
  exact conditional interval that agrees with it (Clopper–Pearson on the discordant pairs);
- accuracy with part credit (RULER's string-match-part): a paired bootstrap interval (pairs
  resampled) and a paired sign-flip randomisation p-value;
- perplexity: the ratio of token-weighted perplexities over the documents both cells scored, with
  a paired bootstrap over documents and a sign-flip randomisation p-value (documents swapped
  between the two systems).
Each difference says which method gave its interval and its p-value. `*` marks a difference only
where its Holm-adjusted p-value (the family is stated by whoever adjusts: one table) is below
`LEVEL`'s α; the unadjusted p-value is kept beside it.
Samples are paired by `index` and only when both cells hold the same samples (same count, and the
same `target` or `doc_index` where recorded); otherwise the pair is left out, never guessed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from longctx_eval.reporting.cell_samples import CellSamples
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Point, Series
from longctx_eval.stats import (
    mcnemar_exact,
    paired_bootstrap_mean_difference,
    paired_bootstrap_ppl_ratio,
    paired_difference_exact,
    sign_flip_p_value,
)

ALPHA = 0.05  # the significance level of every mark (and 95% intervals)
EXACT_INTERVAL = "exact conditional (Clopper–Pearson on the discordant pairs)"
EXACT_TEST = "exact McNemar"
BOOTSTRAP_INTERVAL = "paired percentile bootstrap"
SIGN_FLIP_TEST = "paired sign-flip randomisation"


class PairedDiff(BaseModel):
    model: str
    task: str
    length: int
    method_label: str
    against: str
    kind: Literal["difference", "ratio"]  # accuracy: method − against; perplexity: method / against
    estimate: float
    low: float | None  # paired 95% interval (None with a single pair)
    high: float | None
    p_value: float | None  # unadjusted two-sided p-value (None: no test, e.g. a single pair)
    n_pairs: int
    interval_method: str | None = None  # which method gave [low, high]
    p_method: str | None = None  # which test gave p_value
    p_adjusted: float | None = None  # Holm-adjusted over `family`
    family: str | None = None  # the comparisons adjusted together (one table)
    discordant: tuple[int, int] | None = None  # 0/1 scores: (method only right, reference only right)

    @property
    def excludes_null(self) -> bool:
        """The interval leaves out "no difference" (0 for differences, 1 for ratios)."""
        null = 0.0 if self.kind == "difference" else 1.0
        return self.low is not None and self.high is not None and (self.low > null or self.high < null)

    @property
    def significant(self) -> bool:
        """Marked: the adjusted p-value (the unadjusted one when no family was set) is below α."""
        p = self.p_adjusted if self.family is not None else self.p_value
        return p is not None and p < ALPHA

    def text(self) -> str:
        mark = " *" if self.significant else ""
        if self.kind == "difference":
            value = f"{self.estimate:+.2f}"
            interval = f" [{self.low:+.2f}, {self.high:+.2f}]" if self.low is not None else ""
        else:
            value = f"×{self.estimate:.3g}"
            interval = f" [{self.low:.3g}, {self.high:.3g}]" if self.low is not None else " (n = 1)"
        return value + interval + mark


def paired_differences(results: Results, series: list[Series], against: str) -> list[PairedDiff]:
    """Every method of every model against `against` at every length both have an ok cell."""
    refs = {(s.model, s.backend): s for s in series if s.method_label == against}
    out = []
    for s in series:
        ref = refs.get((s.model, s.backend))
        if ref is None or s is ref:
            continue
        for p in s.points:
            q = ref.value_at(p.length)
            if q is None:
                continue
            diff = pair_cells(results, s, p, q, against)
            if diff is not None:
                out.append(diff)
    return out


def paired_across_models(results: Results, series: list[Series]) -> list[PairedDiff]:
    """`compare`'s question: the same method on the same samples, under another model or backend.
    Every (model, backend) is compared with the first one the results hold, method by method."""
    keys = list(dict.fromkeys((s.model, s.backend) for s in series))
    if len(keys) < 2:
        return []
    refs = {s.method_label: s for s in series if (s.model, s.backend) == keys[0]}
    out = []
    for s in series:
        ref = refs.get(s.method_label)
        if ref is None or (s.model, s.backend) == keys[0]:
            continue
        for p in s.points:
            q = ref.value_at(p.length)
            diff = None if q is None else pair_cells(results, s, p, q, f"{ref.model} {ref.method_label}")
            if diff is not None:
                out.append(diff)
    return out


def _seed(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def pair_cells(
    results: Results, s: Series, p: Point, q: Point, against: str, interval: bool = True
) -> PairedDiff | None:
    """Series `s`'s point `p` against point `q` (another row's, same task and length) on the same
    samples; None when they cannot be paired (not both ok, or not the same samples). Without
    `interval`, only the test (the sentences need no bootstrap)."""
    if p.record is None or q.record is None or p.status != "ok" or q.status != "ok":
        return None
    a, b = results.cell_samples(p.record), results.cell_samples(q.record)
    if not a.pairs_with(b):
        return None
    seed = _seed(s.model, s.task, p.length, s.method_label, against)
    common = {"model": s.model, "task": s.task, "length": p.length, "method_label": s.method_label}
    if s.metric == "ppl":
        return _ppl_ratio(a, b, common, against, seed, interval)
    if a.scores is None or b.scores is None:
        return None
    fx, fy = list(a.scores), list(b.scores)
    single = len(fx) < 2
    binary = all(v in (0.0, 1.0) for v in fx + fy)
    discordant = None
    if binary:
        mine = sum(1 for x, y in zip(fx, fy, strict=True) if x > y)
        theirs = sum(1 for x, y in zip(fx, fy, strict=True) if y > x)
        discordant = (mine, theirs)
        low, high = paired_difference_exact(mine, theirs, len(fx))
        p_value: float | None = mcnemar_exact(mine, theirs)
    else:
        low, high = paired_bootstrap_mean_difference(fx, fy, seed) if interval else (math.nan, math.nan)
        p_value = sign_flip_p_value([x - y for x, y in zip(fx, fy, strict=True)], seed)
    single = single or math.isnan(low)  # no interval asked for: none reported
    return PairedDiff(
        **common,
        against=against,
        kind="difference",
        estimate=sum(fx) / len(fx) - sum(fy) / len(fy),
        low=None if single else low,
        high=None if single else high,
        p_value=p_value,
        n_pairs=len(fx),
        interval_method=None if single else (EXACT_INTERVAL if binary else BOOTSTRAP_INTERVAL),
        p_method=EXACT_TEST if binary else SIGN_FLIP_TEST,
        discordant=discordant,
    )


def _ppl_ratio(
    a: CellSamples,
    b: CellSamples,
    common: dict[str, Any],
    against: str,
    seed: int,
    interval: bool = True,
) -> PairedDiff | None:
    if a.nll is None or a.tokens is None or b.nll is None or b.tokens is None:
        return None  # not perplexity samples, or a non-finite NLL among them
    nll_a, tok_a, nll_b, tok_b = list(a.nll), list(a.tokens), list(b.nll), list(b.tokens)
    estimate = math.exp(sum(nll_a) / sum(tok_a) - sum(nll_b) / sum(tok_b))
    single = a.n < 2
    low, high = (
        (None, None)
        if single or not interval
        else paired_bootstrap_ppl_ratio(nll_a, nll_b, [int(t) for t in tok_a], [int(t) for t in tok_b], seed)
    )
    return PairedDiff(
        **common,
        against=against,
        kind="ratio",
        estimate=estimate,
        low=low,
        high=high,
        p_value=None if single else _ppl_sign_flip(nll_a, nll_b, tok_a, tok_b, seed),
        n_pairs=a.n,
        interval_method=None if single else BOOTSTRAP_INTERVAL,
        p_method=None if single else SIGN_FLIP_TEST,
    )


def _ppl_sign_flip(
    nll_a: Sequence[float], nll_b: Sequence[float], tok_a: Sequence[float], tok_b: Sequence[float], seed: int
) -> float:
    """Documents swapped between the two systems at random: the log perplexity ratio's null
    distribution when neither system is better on any document."""
    import numpy as np

    na, nb = np.asarray(nll_a), np.asarray(nll_b)
    ta, tb = np.asarray(tok_a), np.asarray(tok_b)

    def log_ratio(signs: Any) -> Any:
        keep = signs > 0  # +1: as observed, −1: the document's two systems swapped
        sa = np.where(keep, na, nb).sum(axis=1) / np.where(keep, ta, tb).sum(axis=1)
        sb = np.where(keep, nb, na).sum(axis=1) / np.where(keep, tb, ta).sum(axis=1)
        return sa - sb

    return sign_flip_p_value([x - y for x, y in zip(nll_a, nll_b, strict=True)], seed, statistic=log_ratio)


def adjust(diffs: list[PairedDiff], family: str) -> None:
    """Holm-adjust one family of comparisons in place (every difference of one table)."""
    from longctx_eval.stats import holm

    for d, p in zip(diffs, holm([d.p_value for d in diffs]), strict=True):
        d.p_adjusted = p
        d.family = family
