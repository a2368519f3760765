"""RULER's common-words extraction (`ruler_cwe`): the most frequent words of a long numbered list.

Data (RULER's `common_words_extraction.py`): `num_cw` common words repeated `freq_cw` times and as
many uncommon words as fit repeated `freq_ucw` times, shuffled into "1. word 2. word 3. word …";
the question asks for the `num_cw` most common. Below 4,096 tokens RULER uses 6 and 1 repeats
instead of 30 and 3 (`short_freq_cw`, `short_freq_ucw`, `short_below`). As RULER, `num_fewshot`
worked examples come first (20 words with 3/1 repeats below 4,096 tokens, else 40 words with
10/3), each with its answer filled in. Words are drawn per sample from 8,192 English words
(`ruler_words.py`; RULER draws from the `wonderwords` lists), random six-letter strings beyond.

The length is exact: items are encoded as pieces (" 12." and " word"), so the list's token count
is known before it is built; after the most uncommon words that fit, the few tokens left go to
words that appear once (fewer times than any uncommon word, so the answer is unchanged), and
whatever a whole item cannot fill to newline tokens after the list (`padding_tokens`, a handful
at most).

Metric: RULER's string_match_all — the share of the common words found in the output; accuracy
is its mean, with a Wilson 95% interval.

Example (length 1024): "Below is a numbered list of words. In these words, some appear more often
than others. Memorize the ones that appear most often.\\n1. lantern 2. abbey 3. lantern …\\nQuestion:
What are the 10 most common words in the above list? Answer: The top 10 words that appear most
often in the list are:" → " 1. lantern 2. abbey …" (score = share of the 10 words named).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from longctx_eval.haystack import PromptTooShortError
from longctx_eval.prompts import PromptFormat
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, data_file_field, task

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
)
from .ruler_words import WORDS

_SINGLES_SCAN = 400  # words looked at for the once-only fill (it needs a few short ones)


class RulerCweParams(RulerParams):
    english_words: str | None = data_file_field(
        None,
        description="protocol ruler: the English words RULER draws from once the 8,192-word list is "
        "used up (RULER's scripts/data/synthetic/json/english_words.json, or a .txt file, one word a "
        "line); without protocol ruler, random six-letter strings are drawn there instead",
    )
    num_cw: PositiveInt = Field(10, description="common words (the answer)")
    freq_cw: PositiveInt = Field(30, description="repeats of each common word")
    freq_ucw: PositiveInt = Field(3, description="repeats of each uncommon word")
    short_freq_cw: PositiveInt = Field(6, description="repeats of each common word below `short_below`")
    short_freq_ucw: PositiveInt = Field(1, description="repeats of each uncommon word below `short_below`")
    short_below: PositiveInt = Field(4096, description="length under which RULER uses the short repeats")
    num_fewshot: NonNegativeInt = Field(1, description="worked examples before the task (RULER: 1)")
    max_new_tokens: PositiveInt = Field(120, description="generation budget (RULER: 120)")
    instruction: str = Field(
        "Below is a numbered list of words. In these words, some appear more often than others. "
        "Memorize the ones that appear most often.",
        description="first line",
    )
    question: str = Field(
        "Question: What are the {num_cw} most common words in the above list?",
        description="line after the list; {num_cw} filled",
    )
    answer_prefix: str = Field(
        "Answer: The top {num_cw} words that appear most often in the list are:",
        description="what the answer starts with; {num_cw} filled",
    )


class CweSample(RulerSample):
    list_token_offset: int  # the main list's first token
    n_items: int  # numbered items in the main list
    n_uncommon: int  # uncommon words (each freq_ucw times)
    n_once: int  # words that appear once, filling the last few tokens
    freq_cw: int  # repeats of each common word (RULER's short or long shape)
    freq_ucw: int
    example_tokens: int  # the worked examples' tokens
    padding_tokens: int  # newline tokens after the list


@dataclass(frozen=True)
class Shape:
    """How often the common and uncommon words appear, and how many words an example has."""

    freq_cw: int
    freq_ucw: int
    example_words: int
    example_freq_cw: int
    example_freq_ucw: int


class ItemCosts:
    """Token counts of list items under one format: " {i}." and " {word}" pieces add up exactly."""

    def __init__(self, fmt: PromptFormat) -> None:
        self.fmt = fmt
        self._num_prefix = [0]  # tokens of the numbers 1..n together

    def number(self, i: int) -> list[int]:
        return self.fmt.encode(f"\n{i}." if i == 1 else f" {i}.")  # the list opens its own line

    def numbers_total(self, n: int) -> int:
        while len(self._num_prefix) <= n:
            self._num_prefix.append(self._num_prefix[-1] + len(self.number(len(self._num_prefix))))
        return self._num_prefix[n]

    def word(self, w: str) -> list[int]:
        return self.fmt.encode(" " + w)


@task
class RulerCwe:
    name = "ruler_cwe"
    version = "1"
    Params = RulerCweParams
    Sample = CweSample
    Metrics = RulerMetrics

    def __init__(self, params: RulerCweParams, env: TaskEnv) -> None:
        self.params = params
        self.env = env
        self._english: list[str] | None = None
        # Per format (kept here, so its id is not reused) and shape: the shortest prompt.
        self._minimum: dict[tuple[int, Shape], tuple[PromptFormat, int]] = {}

    def shape(self, fmt: PromptFormat, length: int) -> Shape:
        """RULER's short shape below `short_below`, else its long one — once the long one fits (with
        a tokenizer that spends many tokens per item it may not at 4,096)."""
        p = self.params
        short = Shape(p.short_freq_cw, p.short_freq_ucw, 20, 3, 1)
        if length < p.short_below:
            return short
        long = Shape(p.freq_cw, p.freq_ucw, 40, 10, 3)
        return long if self._shape_min(fmt, long) <= length else short

    def _frame(self, fmt: PromptFormat, examples: list[int]) -> tuple[list[int], list[int]]:
        """(head, tail) of the prompt around the main list, after the worked examples."""
        p = self.params
        question, answer_prefix = p.question.format(num_cw=p.num_cw), p.answer_prefix.format(num_cw=p.num_cw)
        return frame(fmt, p.instruction, question, answer_prefix, examples=examples)

    def _example_pieces(self, fmt: PromptFormat) -> tuple[list[int], list[int], list[int]]:
        """(instruction, question, answer prefix) ids of a worked example, in context."""
        p = self.params
        return (
            fmt.encode(p.instruction),
            fmt.encode("\n" + p.question.format(num_cw=p.num_cw)),
            fmt.encode(" " + p.answer_prefix.format(num_cw=p.num_cw)),
        )

    def new_tokens(self) -> int:
        return self.params.max_new_tokens

    def min_length(self, prompts: PromptFormat) -> int:
        p = self.params
        shortest = self._shape_min(prompts, Shape(p.short_freq_cw, p.short_freq_ucw, 20, 3, 1))
        return shortest + budget_tokens(p.protocol, p.max_new_tokens)

    def _shape_min(self, fmt: PromptFormat, shape: Shape) -> int:
        """Tokens of a prompt of this shape with no uncommon word and the words longest in tokens: a
        bound for every draw."""
        key = (id(fmt), shape)
        if key not in self._minimum:
            costs = ItemCosts(fmt)
            longest = sorted(WORDS, key=lambda w: -len(costs.word(w)))
            words = longest[: shape.example_words]
            items = self._example_items(words, shape)
            example = self._example_ids(fmt, costs, words[: self.params.num_cw], items)
            main = self.params.num_cw * shape.freq_cw
            common = sum(len(costs.word(w)) for w in longest[: self.params.num_cw]) * shape.freq_cw
            head, tail = self._frame(fmt, example)
            self._minimum[key] = (fmt, len(head) + len(tail) + costs.numbers_total(main) + common)
        return self._minimum[key][1]

    def _list_ids(self, costs: ItemCosts, items: list[str]) -> list[int]:
        out: list[int] = []
        for i, w in enumerate(items, start=1):
            out += costs.number(i) + costs.word(w)
        return out

    def _example_items(self, words: list[str], shape: Shape) -> list[str]:
        common, uncommon = words[: self.params.num_cw], words[self.params.num_cw :]
        return common * shape.example_freq_cw + uncommon * shape.example_freq_ucw

    def _example_ids(
        self, fmt: PromptFormat, costs: ItemCosts, common: list[str], items: list[str]
    ) -> list[int]:
        """Worked examples as RULER writes them: the task with its answer, then a newline."""
        p = self.params
        instruction, question, answer = self._example_pieces(fmt)
        answer_list = " ".join(f"{i}. {w}" for i, w in enumerate(common, start=1))
        out: list[int] = []
        for _ in range(p.num_fewshot):
            first = fmt.encode_first(p.instruction) if not out else instruction
            out += first + self._list_ids(costs, items) + question + answer + fmt.encode(" " + answer_list)
            out += fmt.encode("\n")
        return out

    def episode(
        self, fmt: PromptFormat, rng: np.random.Generator, length: int, shape_length: int | None = None
    ) -> Episode:
        """One sample of `length` tokens; its draws from `rng` are the same for every model and method.
        The repeats are RULER's for `shape_length` (default: `length`)."""
        p = self.params
        shape = self.shape(fmt, shape_length or length)
        costs = ItemCosts(fmt)
        pool = [WORDS[int(i)] for i in rng.permutation(len(WORDS))]
        examples: list[int] = []
        if p.num_fewshot:
            ex_words = pool[-shape.example_words :]  # apart from the main list's words
            ex_items = self._example_items(ex_words, shape)
            ex_items = [ex_items[int(i)] for i in rng.permutation(len(ex_items))]
            examples = self._example_ids(fmt, costs, ex_words[: p.num_cw], ex_items)
        head, tail = self._frame(fmt, examples)
        fixed = len(head) + len(tail)
        common = pool[: p.num_cw]
        need = costs.numbers_total(p.num_cw * shape.freq_cw) + shape.freq_cw * sum(
            len(costs.word(w)) for w in common
        )
        if fixed + need > length:
            raise PromptTooShortError(length, fixed + need)
        rest = pool[p.num_cw : len(pool) - shape.example_words]
        items, n_uncommon, singles = self._fit(costs, common, rest, shape, length - fixed, rng)
        order = [items[int(i)] for i in rng.permutation(len(items))]
        listed = self._list_ids(costs, order)
        pad = length - fixed - len(listed)
        ids = head + listed + padding(fmt, pad) + tail
        record: dict[str, Any] = {
            "list_token_offset": len(head),
            "n_items": len(order),
            "n_uncommon": n_uncommon,
            "n_once": singles,
            "freq_cw": shape.freq_cw,
            "freq_ucw": shape.freq_ucw,
            "example_tokens": len(examples),
            "padding_tokens": pad,
        }
        return Episode(ids, common, record)

    def _fit(
        self,
        costs: ItemCosts,
        common: list[str],
        rest: list[str],
        shape: Shape,
        budget: int,
        rng: np.random.Generator,
    ) -> tuple[list[str], int, int]:
        """The list's words: common ones, then as many uncommon as fit, then once-only fillers."""
        items = common * shape.freq_cw
        words_cost = sum(len(costs.word(w)) for w in common) * shape.freq_cw
        rest = rest + self._beyond(rng, len(rest), set(rest) | set(common))
        k = 0
        while k < len(rest):
            extra = len(costs.word(rest[k])) * shape.freq_ucw
            n = len(items) + shape.freq_ucw
            if costs.numbers_total(n) + words_cost + extra > budget:
                break
            items += [rest[k]] * shape.freq_ucw
            words_cost += extra
            k += 1
        n_uncommon, singles = k, 0
        if k == len(rest) and self.params.protocol == "ruler":
            raise ValueError(
                "protocol ruler: this length needs more words than the 8,192-word list; RULER then draws "
                "English words: give english_words: (RULER's json/english_words.json or a word list)"
            )
        # The last few tokens: words that appear once, the shortest that still fit.
        for w in rest[k : k + _SINGLES_SCAN]:
            room = budget - costs.numbers_total(len(items) + 1) - words_cost
            if room <= 0:
                break
            if len(costs.word(w)) <= room:
                items.append(w)
                words_cost += len(costs.word(w))
                singles += 1
        return items, n_uncommon, singles

    def run(self, ctx: CellContext) -> CellOutcome:
        # RULER picks its short or long repeats from max_seq_length, the budget included.
        return run_ruler(
            ctx, self.params, self.Sample, lambda rng, n: self.episode(ctx.prompts, rng, n, ctx.length)
        )

    def _beyond(self, rng: np.random.Generator, n: int, used: set[str]) -> list[str]:
        """Words past the shipped list: random six-letter strings (this project), or under RULER's
        protocol real English words from `english_words`, as RULER switches to its english_words.json.
        Under the protocol without that file a list that needs them cannot be built as RULER's."""
        p = self.params
        if p.protocol != "ruler":
            return _coded(rng, n)
        if p.english_words is None:
            return []  # `_fit` says what is missing if the list runs out
        if self._english is None:
            self._english = read_word_list(self.env.resolve_path(p.english_words))
        extra = [w for w in self._english if w not in used]
        return [extra[int(i)] for i in rng.permutation(len(extra))]


def _coded(rng: np.random.Generator, n: int) -> list[str]:
    """n random six-letter words, for lists longer than the shipped word list can fill."""
    return [random_letters(rng, 6) for _ in range(n // 4 + 64)]


def read_word_list(path: Path) -> list[str]:
    """Words from a JSON file (a list, or an object whose values are the words: RULER's
    english_words.json) or a text file with one word a line; sorted, distinct, lowercase."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        words = list(data.values()) if isinstance(data, dict) else list(data)
    else:
        words = text.split()
    return sorted({str(w).strip().lower() for w in words if str(w).strip().isalpha()})
