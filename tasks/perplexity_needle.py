"""Perplexity on the answers of retrieval episodes (LongRoPE2's needle-driven perplexity, Shang et
al. 2025): the perplexity task's `needle` mode. Registers no task.

`documents` passkey or NIAH episodes (the tasks' own prompt builders, depth stratified as passkey's)
whose filler comes from `dataset` (or `noise`); each prompt is followed by its answer and only the
answer's tokens are scored. `ppl` is exp of their mean NLL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from longctx_eval.haystack import BuiltPrompt, Haystack, PromptParts, build_prompt, fixed_tokens
from longctx_eval.prompts import PromptFormat
from longctx_eval.stats import bootstrap_perplexity
from longctx_eval.task import CellContext, CellOutcome

from .perplexity_data import PerplexityTaskMetrics, PerplexityTaskSample

if TYPE_CHECKING:
    from .perplexity import PerplexityParams


def _episode_parts(params: PerplexityParams, rng: np.random.Generator) -> tuple[PromptParts, str]:
    """One episode's prompt parts and answer, drawn as the passkey or NIAH task draws them."""
    from longctx_eval.keys import random_digits, word_key

    if params.needle_task == "passkey":
        from .passkey import PasskeyParams, passkey_parts

        pk = PasskeyParams()
        key = random_digits(rng, pk.key_digits)
        return passkey_parts(pk, key), key
    from .niah import NiahParams, niah_parts

    nh = NiahParams()
    key, value = word_key(rng), random_digits(rng, nh.value_digits)
    return niah_parts(nh, key, value), value


def needle_min_length(params: PerplexityParams, prompts: PromptFormat) -> int:
    if params.needle_task == "passkey":
        from .passkey import PasskeyParams, passkey_parts

        pk = PasskeyParams()
        answer = "9" * pk.key_digits
        return fixed_tokens(prompts, passkey_parts(pk, answer)) + len(prompts.encode(" " + answer))
    from .niah import NiahParams, niah_min_length

    nh = NiahParams()
    return niah_min_length(nh, prompts) + len(prompts.encode(" " + "9" * nh.value_digits)) + 2


def run_needle(ctx: CellContext, params: PerplexityParams, haystack: Callable[[], Haystack]) -> CellOutcome:
    """NLL of the answer tokens of `documents` episodes, each exactly `length` tokens with its answer."""
    rng = np.random.default_rng(ctx.seed)
    hay = haystack()
    n = params.documents
    seqs: list[list[int]] = []
    starts: list[int] = []
    rows: list[tuple[str, float, BuiltPrompt]] = []
    for i in range(n):
        parts, answer = _episode_parts(params, rng)
        depth = float((i + rng.random()) / n)  # stratified, as the passkey task
        answer_ids = ctx.prompts.encode(" " + answer)  # the continuation of the answer prefix
        prompt = build_prompt(ctx.prompts, hay, parts, ctx.length - len(answer_ids), depth)
        seqs.append(prompt.ids + answer_ids)
        starts.append(len(prompt.ids))
        rows.append((answer, depth, prompt))
    nlls = ctx.lm.token_nll(seqs, starts)
    samples: list[PerplexityTaskSample] = []
    for j, ((answer, depth, prompt), nll) in enumerate(zip(rows, nlls, strict=True)):
        samples.append(
            PerplexityTaskSample(
                index=j,
                n_prompt_tokens=ctx.length,
                target=answer,
                needle_token_offset=prompt.needle_token_offset,
                depth=prompt.needle_token_offset / ctx.length,
                depth_requested=depth,
                n_scored_tokens=int(nll.size),
                nll_sum=float(nll.sum()),
                ppl=math.exp(float(nll.mean())),
                cut_mid_word=prompt.cut_mid_word,
            )
        )
    sums = [float(nll.sum()) for nll in nlls]
    counts = [int(nll.size) for nll in nlls]
    low, high = bootstrap_perplexity(sums, counts, seed=ctx.seed)
    metrics = PerplexityTaskMetrics(
        ppl=math.exp(sum(sums) / sum(counts)),
        nll=sum(sums) / sum(counts),
        n_tokens=sum(counts),
        n_documents=n,
        ci_low=low,
        ci_high=high,
    )
    return CellOutcome(metrics, samples)
