"""RULER's frequent-words extraction (`ruler_fwe`): the three most frequent coded words of a text.

Data (RULER's `freq_words_extraction.py`): a vocabulary of `vocab_size` random `coded_wordlen`-letter
words (RULER: length / 50 of them), ranked at random; the word of rank k appears
⌊n · k^−alpha / ζ(alpha)⌋ times (a Zipf law, alpha = 2), with rank 1 replaced by "..." (noise the
prompt says to ignore), all shuffled into one line. n is the largest that fits the length. The
answer is the words of ranks 2, 3 and 4.

The length is exact: each word is its own piece (" word"), so the text's token count is known for
any n; the few tokens the largest n leaves go to more "..." (rank 1 only grows) and, when even
that does not fit, to newline tokens after the text (`padding_tokens`).

Metric: RULER's string_match_all — the share of the three words found in the output; accuracy is
its mean, with a Wilson 95% interval.

Example (length 1024): "Read the following coded text and track the frequency of each coded word.
Find the three most frequently appeared coded words. ... qzuvmh ... ... ejxkpa qzuvmh …\\nQuestion:
Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently
appeared words in the above coded text? Answer: According to the coded text above, the three most
frequently appeared words are:" → " qzuvmh ejxkpa lrtobw" (score 1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field, PositiveInt

from longctx_eval.haystack import PromptTooShortError
from longctx_eval.prompts import PromptFormat
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, task

from .ruler_common import (
    Episode,
    RulerMetrics,
    RulerParams,
    RulerSample,
    budget_tokens,
    frame,
    padding,
    random_letters,
    run_ruler,
    zeta,
)

NOISE_WORD = "..."


class RulerFweParams(RulerParams):
    alpha: float = Field(2.0, gt=1.0, description="Zipf exponent of the word counts")
    coded_wordlen: PositiveInt = Field(6, description="letters of each coded word")
    vocab_size: PositiveInt | None = Field(
        None, description="coded words in the vocabulary (default: length / 50, at least 5, as RULER)"
    )
    max_new_tokens: PositiveInt = Field(50, description="generation budget (RULER: 50)")
    instruction: str = Field(
        "Read the following coded text and track the frequency of each coded word. Find the three most "
        "frequently appeared coded words.",
        description="first line; the text follows on the same line",
    )
    question: str = Field(
        "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most "
        "frequently appeared words in the above coded text?",
        description="line after the text",
    )
    answer_prefix: str = Field(
        "Answer: According to the coded text above, the three most frequently appeared words are:",
        description="what the answer starts with",
    )


class FweSample(RulerSample):
    text_token_offset: int  # the coded text's first token
    n_words: int  # words in the text, "..." included
    vocab_size: int
    answer_counts: list[int]  # how often ranks 2, 3 and 4 (the answer) appear
    next_count: int  # how often rank 5 appears (0 without one): the margin below the answer
    noise_count: int  # how often "..." (rank 1) appears
    padding_tokens: int  # newline tokens after the text


def counts(n: int, vocab: int, alpha: float) -> list[int]:
    """RULER's counts: ⌊n · k^−alpha / ζ(alpha)⌋ for ranks k = 1…vocab."""
    k = np.arange(1, vocab + 1, dtype=np.float64)
    return [int(c) for c in n * k**-alpha / zeta(alpha)]


def least_n(alpha: float) -> int:
    """The least n for which rank 4 appears at least once (below it there is no answer)."""
    return math.ceil(zeta(alpha) * 4**alpha)


@task
class RulerFwe:
    name = "ruler_fwe"
    version = "1"
    Params = RulerFweParams
    Sample = FweSample
    Metrics = RulerMetrics

    def __init__(self, params: RulerFweParams, env: TaskEnv) -> None:
        self.params = params

    def _frame(self, fmt: PromptFormat) -> tuple[list[int], list[int]]:
        p = self.params
        return frame(fmt, p.instruction, p.question, p.answer_prefix)

    def new_tokens(self) -> int:
        return self.params.max_new_tokens

    def min_length(self, prompts: PromptFormat) -> int:
        # The shortest text in which rank 4 appears at all; coded words sized generously (+1 token).
        head, tail = self._frame(prompts)
        p = self.params
        word = len(prompts.encode(" " + "z" * p.coded_wordlen)) + 1
        c = counts(least_n(p.alpha), 5, p.alpha)
        text = c[0] * len(prompts.encode(" " + NOISE_WORD)) + sum(c[1:]) * word
        return len(head) + len(tail) + text + budget_tokens(p.protocol, p.max_new_tokens)

    def vocab_size(self, length: int) -> int:
        return self.params.vocab_size or max(5, length // 50)

    def episode(self, fmt: PromptFormat, rng: np.random.Generator, length: int) -> Episode:
        """One sample; its draws from `rng` are the same for every model and method."""
        p = self.params
        size = self.vocab_size(length)
        vocab: list[str] = []
        while len(vocab) < size:
            w = random_letters(rng, p.coded_wordlen)
            if w not in vocab:
                vocab.append(w)
        vocab = [vocab[int(i)] for i in rng.permutation(size)]
        vocab[0] = NOISE_WORD  # RULER: the top rank is noise
        head, tail = self._frame(fmt)
        budget = length - len(head) - len(tail)
        cost = [len(fmt.encode(" " + w)) for w in vocab]
        n = self._largest_n(cost, budget)
        if n is None:
            least = sum(ci * wi for ci, wi in zip(counts(least_n(p.alpha), size, p.alpha), cost, strict=True))
            raise PromptTooShortError(length, length - budget + least)
        c = counts(n, size, p.alpha)
        used = sum(ci * wi for ci, wi in zip(c, cost, strict=True))
        extra_noise = (budget - used) // cost[0]  # more "...": rank 1 only grows
        c[0] += extra_noise
        pad = budget - used - extra_noise * cost[0]
        words = [w for w, ci in zip(vocab, c, strict=True) for _ in range(ci)]
        words = [words[int(i)] for i in rng.permutation(len(words))]
        text: list[int] = []
        for w in words:
            text += fmt.encode(" " + w)
        ids = head + text + padding(fmt, pad) + tail
        answers = vocab[1:4]
        record: dict[str, Any] = {
            "text_token_offset": len(head),
            "n_words": len(words),
            "vocab_size": size,
            "answer_counts": c[1:4],
            "next_count": c[4] if size > 4 else 0,
            "noise_count": c[0],
            "padding_tokens": pad,
        }
        return Episode(ids, answers, record)

    def _largest_n(self, cost: list[int], budget: int) -> int | None:
        """The largest n whose words fit `budget` tokens with ranks 2-4 all present (None if none)."""
        alpha, size = self.params.alpha, len(cost)

        def tokens(n: int) -> int:
            return sum(ci * wi for ci, wi in zip(counts(n, size, alpha), cost, strict=True))

        lo = least_n(alpha)
        if tokens(lo) > budget:
            return None
        hi = lo
        while tokens(hi * 2) <= budget:
            hi *= 2
        hi *= 2  # tokens(hi) > budget >= tokens(lo): bisect
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if tokens(mid) <= budget else (lo, mid)
        return lo

    def run(self, ctx: CellContext) -> CellOutcome:
        return run_ruler(ctx, self.params, self.Sample, lambda rng, n: self.episode(ctx.prompts, rng, n))
