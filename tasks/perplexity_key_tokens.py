"""Perplexity on the tokens that need long context (LongPPL, Fang et al. 2024): the perplexity task's
`key_tokens` mode. Registers no task.

A token is a key token when an evaluator predicts it better from its long context than from the
last K tokens by more than `key_gain` nats, and predicts it well from the long context (NLL below
`key_max_nll`; LongPPL's α = 2, β = −2). The evaluator is by default the evaluated model under its
own, unscaled rope (`ctx.models.native()`: with the HF backend only the rotary module is swapped,
no second copy of the weights), or another model with the same tokenizer (`evaluator:`). Its masks
are cached per model, so every method of a model is scored on the same key tokens at a length.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from longctx_eval.stats import bootstrap_perplexity
from longctx_eval.task import CellContext, CellOutcome, TaskParamError

from .perplexity_data import (
    PerplexityTaskMetrics,
    PerplexityTaskSample,
    TokenizedDocuments,
    loss_by_position,
    sliding_windows,
)

if TYPE_CHECKING:
    from longctx_eval.lm import LanguageModel

    from .perplexity import PerplexityParams


def key_settings(params: PerplexityParams, context: int, length: int) -> tuple[int, int, int]:
    """(C, K, W) at this length: long context, short context and window stride. Under LongPPL's
    protocol the evaluator sees the whole sequence (C = the length) and K, W are LongPPL's."""
    from .perplexity import LONGPPL_SHORT_CONTEXT, LONGPPL_STRIDE

    if params.protocol == "longppl":
        c = min(params.evaluator_context or length, length)
        return c, params.key_short_context or LONGPPL_SHORT_CONTEXT, params.key_stride or LONGPPL_STRIDE
    c = min(context, length)
    k = params.key_short_context or max(1, c // 4)
    w = params.key_stride or max(1, k // 4)
    return c, k, w


def windowed_nll(lm: LanguageModel, seqs: list[list[int]], window: int, stride: int) -> list[np.ndarray]:
    """NLL of tokens 1… of each sequence, each scored once with at least window − stride tokens of
    context (all of it when the sequence fits in one window), in one batched call."""
    plan, windows, starts = [], [], []
    for seq in seqs:
        if len(seq) <= window:
            w, s = [seq], [1]
        else:
            w, s, _ = sliding_windows(seq, window, stride)
        plan.append(len(w))
        windows += w
        starts += s
    nlls = lm.token_nll(windows, starts)
    out, k = [], 0
    for n in plan:
        out.append(np.concatenate(nlls[k : k + n]))
        k += n
    return out


def key_token_masks(
    lm: LanguageModel, seqs: list[list[int]], c: int, k: int, w: int, gain: float, max_nll: float
) -> list[np.ndarray]:
    """Per sequence, which of tokens 1… are key tokens: NLL(short) − NLL(long) > gain and
    NLL(long) < max_nll; long: windows of C tokens moved by max(W, C/4) (3C/4 to C − 1 tokens of
    context, or all of them when the sequence fits in C), short: windows of K + W moved by W."""
    long_nll = windowed_nll(lm, seqs, c, max(w, c // 4))
    short_nll = windowed_nll(lm, seqs, k + w, w)
    return [(s - lo > gain) & (lo < max_nll) for s, lo in zip(short_nll, long_nll, strict=True)]


def evaluator_context(ctx: CellContext, params: PerplexityParams, source: str | None) -> int:
    """C: the longest context the evaluator is given (default: its trained context)."""
    if params.evaluator_context:
        return params.evaluator_context
    if source is None:
        return ctx.original_context
    from longctx_eval.models import resolve_model
    from longctx_eval.rope.base import read_rope_base

    return read_rope_base(resolve_model(source, tokenizer=False).config).original_context


def _masks(
    lm: LanguageModel, seqs: list[list[int]], params: PerplexityParams, ckw: tuple[int, int, int]
) -> list[np.ndarray]:
    c, k, w = ckw
    return key_token_masks(lm, seqs, c, k, w, params.key_gain, params.key_max_nll)


def evaluator_masks(
    ctx: CellContext,
    params: PerplexityParams,
    source: str | None,
    seqs: list[list[int]],
    ckw: tuple[int, int, int],
) -> list[np.ndarray]:
    """The key-token masks of `seqs`, from the evaluated model under its own rope or from `source`."""
    if ctx.models is None:
        raise RuntimeError("key_tokens needs the runner's model access (ctx.models)")
    if source is None:
        with ctx.models.native() as own:
            return _masks(own, seqs, params, ckw)
    from longctx_eval.models import resolve_model

    other = resolve_model(source)
    if other.tokenizer is None or other.tokenizer.get_vocab() != ctx.prompts.tokenizer.get_vocab():
        raise TaskParamError("evaluator", f"{source} has another tokenizer than the evaluated model")
    return _masks(ctx.models.load(source), seqs, params, ckw)


def key_token_outcome(
    ctx: CellContext,
    params: PerplexityParams,
    source: str | None,
    docs: TokenizedDocuments,
    bos: list[int],
    per_doc: list[dict[str, Any]],
) -> CellOutcome:
    c, k, w = key_settings(params, evaluator_context(ctx, params, source), ctx.length)
    name = source or "the model itself, unscaled"
    cache: dict[tuple[int, int], np.ndarray] = ctx.model_cache.setdefault("key_masks", {})
    todo = [d["doc_index"] for d in per_doc if (ctx.length, d["doc_index"]) not in cache]
    if todo:
        seqs = [bos + docs[i][: ctx.length - len(bos)] for i in todo]
        for i, mask in zip(todo, evaluator_masks(ctx, params, source, seqs, (c, k, w)), strict=True):
            cache[(ctx.length, i)] = mask
    rows = []
    for d in per_doc:
        mask = cache[(ctx.length, d["doc_index"])]
        nll = d["nll"]
        rows.append({**d, "mask": mask, "key_nll": nll[mask], "rest_nll": nll[~mask]})
    n_key = sum(int(r["mask"].sum()) for r in rows)
    if n_key == 0:
        reason = f"no key token in {len(rows)} documents (evaluator {name}, C={c}, K={k}, W={w})"
        return CellOutcome.skipped(reason)
    return CellOutcome(_key_metrics(ctx, params, rows, (c, k, w)), _key_samples(ctx, rows, name, (c, k, w)))


def _ppl_of(values: list[np.ndarray]) -> float | None:
    n = sum(v.size for v in values)
    return math.exp(float(sum(v.sum() for v in values)) / n) if n else None


def _key_metrics(
    ctx: CellContext, params: PerplexityParams, rows: list[dict[str, Any]], ckw: tuple[int, int, int]
) -> PerplexityTaskMetrics:
    key = [r["key_nll"] for r in rows]
    n_key = sum(v.size for v in key)
    n_all = sum(r["nll"].size for r in rows)
    with_keys = [r for r in rows if r["key_nll"].size]
    low, high = bootstrap_perplexity(
        [float(r["key_nll"].sum()) for r in with_keys],
        [int(r["key_nll"].size) for r in with_keys],
        seed=ctx.seed,
    )
    profile = [{**r, "nll": r["key_nll"], "positions": r["positions"][r["mask"]]} for r in rows]
    return PerplexityTaskMetrics(
        ppl=_ppl_of(key),
        nll=float(sum(v.sum() for v in key)) / n_key,
        n_tokens=n_key,
        n_key_tokens=n_key,
        key_fraction=n_key / n_all,
        ppl_rest=_ppl_of([r["rest_nll"] for r in rows]),
        ppl_all=_ppl_of([r["nll"] for r in rows]),
        n_tokens_all=n_all,
        n_documents=len(rows),
        ci_low=low,
        ci_high=high,
        loss_by_position=loss_by_position(profile, ctx.length, params.position_bins),
        evaluator_context=ckw[0],
        key_short_context=ckw[1],
        key_stride=ckw[2],
    )


def _key_samples(
    ctx: CellContext, rows: list[dict[str, Any]], evaluator: str, ckw: tuple[int, int, int]
) -> list[PerplexityTaskSample]:
    return [
        PerplexityTaskSample(
            index=j,
            doc_index=r["doc_index"],
            n_prompt_tokens=ctx.length,
            n_scored_tokens=int(r["key_nll"].size),  # the key tokens: what `ppl` is over
            nll_sum=float(r["key_nll"].sum()),
            ppl=_ppl_of([r["key_nll"]]),
            n_tokens_all=int(r["nll"].size),
            nll_sum_all=float(r["nll"].sum()),
            ppl_all=_ppl_of([r["nll"]]),
            key_positions=[int(p) for p in r["positions"][r["mask"]]],  # token index in the sequence
            evaluator=evaluator,
            evaluator_context=ckw[0],
            key_short_context=ckw[1],
            key_stride=ckw[2],
        )
        for j, r in enumerate(rows)
    ]
