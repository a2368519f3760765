"""RULER's needle in a haystack: single, multi-key, multi-value and multi-query (`ruler_niah`).

Data (RULER's `niah.py`): needles "One of the special magic {type_needle_v} for {key} is: {value}."
hidden in a haystack at depths drawn from RULER's 40-point grid (without replacement, sorted), in a
random order; then the question for `num_needle_q` of the keys. Keys and values are `words`
(adjective-noun pairs, `longctx_eval.keys`), 7-digit `numbers` or `uuids`, all seeded.
- `num_needle_k` keys (at least `num_needle_q`), each with `num_needle_v` values: a needle per
  (key, value). Keys that are not asked about are distractor needles (multi-key).
- The haystack: `noise` (RULER's filler paragraph line after line), `needle` (a haystack made only
  of distractor needles with other random keys: RULER's multikey_2 and _3), or any text file /
  hub dataset (RULER's "essay" haystack, Paul Graham's essays, is not shipped: give a file).
- When one value is asked for (num_needle_q × num_needle_v = 1) the instruction, question and
  answer prefix are put in the singular as RULER does ("Some" → "A", "are all"/"are" → "is",
  "numbers" → "number").
The prompt is exactly the cell's length: filler is cut from the haystack around the needles (see
`longctx_eval.haystack.fit_needles`); each sample records every needle's token offset, size and
real depth, which needles hold answers, and the haystack used.

Metric: RULER's string_match_all — the share of the asked values found in the output
(case-insensitive); accuracy is its mean over samples, with a Wilson 95% interval.

Example (niah_single_1, noise, length 256): "A special magic number is hidden within the following
text. Make sure to memorize it. I will quiz you about the number afterwards.\\nThe grass is green.
… There and back again.\\nOne of the special magic numbers for quiet-harbor is: 4081273.\\nThe grass
is green. …\\nWhat is the special magic number for quiet-harbor mentioned in the provided text? The
special magic number for quiet-harbor mentioned in the provided text is" → " 4081273." (score 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt

from longctx_eval.haystack import Haystack, fit_needles
from longctx_eval.keys import all_word_keys, random_digits, random_uuid, word_key
from longctx_eval.payloads import NeedleSample
from longctx_eval.prompts import PromptFormat
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, data_file_field, task

from .ruler_common import (
    Episode,
    NeedlePosition,
    RulerHaystackParams,
    RulerHaystackSample,
    RulerMetrics,
    budget_tokens,
    distinct,
    draw_depths,
    frame,
    layout_record,
    longest_in_tokens,
    needle_records,
    oxford_join,
    ruler_haystack,
    run_ruler,
    worst_draws,
)

NeedleType = Literal["words", "numbers", "uuids"]


class RulerNiahParams(RulerHaystackParams):
    haystack: str = data_file_field(
        "noise",
        description="'noise' (RULER's filler paragraph, line after line), 'needle' (distractor needles "
        "only: RULER's multikey_2/3), or a local .txt/.jsonl/.parquet file or hub dataset id whose "
        "documents make the filler (RULER's 'essay' haystack: give any prose file)",
    )
    type_needle_k: NeedleType = Field("words", description="keys: words, numbers or uuids")
    type_needle_v: NeedleType = Field("numbers", description="values: numbers, words or uuids")
    num_needle_k: PositiveInt = Field(1, description="keys hidden (raised to num_needle_q if lower)")
    num_needle_v: PositiveInt = Field(1, description="values per key (a needle each)")
    num_needle_q: PositiveInt = Field(1, description="keys asked about; all their values are the answer")
    number_digits: int = Field(7, ge=1, le=12, description="digits of a `numbers` key or value")
    max_new_tokens: PositiveInt = Field(128, description="generation budget (RULER: 128)")
    instruction: str = Field(
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize "
        "it. I will quiz you about the {type_needle_v} afterwards.",
        description="first line; {type_needle_v} filled",
    )
    needle: str = Field(
        "One of the special magic {type_needle_v} for {key} is: {value}.",
        description="a hidden line; {type_needle_v}, {key}, {value} filled",
    )
    question: str = Field(
        "What are all the special magic {type_needle_v} for {query} mentioned in the provided text?",
        description="last line of the user text; {type_needle_v}, {query} filled",
    )
    answer_prefix: str = Field(
        "The special magic {type_needle_v} for {query} mentioned in the provided text are",
        description="what the answer starts with (prompt's end); {type_needle_v}, {query} filled",
    )


class NiahNeedle(NeedlePosition):
    key: str
    value: str
    answer: bool  # its key is asked about


class NiahSample(RulerHaystackSample, NeedleSample):
    needles: list[NiahNeedle]  # in prompt order
    queries: list[str]  # the keys asked about
    # Where the answer needle sits, when there is exactly one (the depth × length heatmap reads
    # these); None when several needles hold the answer.
    needle_token_offset: int | None = None
    depth: float | None = None
    depth_requested: float | None = None


def singular(text: str) -> str:
    """RULER's rewrite of its template when a single value is asked for."""
    for old, new in (("Some", "A"), ("are all", "is"), ("are", "is"), ("answers", "answer")):
        text = text.replace(old, new)
    return text


def drawer(kind: NeedleType, digits: int) -> Callable[[np.random.Generator], str]:
    if kind == "words":
        return word_key
    if kind == "numbers":
        return lambda rng: random_digits(rng, digits)
    return random_uuid


class NiahTexts:
    """The template pieces of one parameter set, filled for given keys and values."""

    def __init__(self, p: RulerNiahParams) -> None:
        self.p = p
        self.one_answer = p.num_needle_q * p.num_needle_v == 1
        kind = p.type_needle_v
        self.kind_in_template = kind[:-1] if self.one_answer else kind

    def _template(self, text: str) -> str:
        return singular(text) if self.one_answer else text

    def needle(self, key: str, value: str) -> str:
        return self.p.needle.format(type_needle_v=self.p.type_needle_v, key=key, value=value)

    def instruction(self) -> str:
        return self._template(self.p.instruction).format(type_needle_v=self.kind_in_template)

    def question(self, queries: list[str]) -> str:
        q = oxford_join(queries)
        return self._template(self.p.question).format(type_needle_v=self.kind_in_template, query=q)

    def answer_prefix(self, queries: list[str]) -> str:
        q = oxford_join(queries)
        return self._template(self.p.answer_prefix).format(type_needle_v=self.kind_in_template, query=q)


@task
class RulerNiah:
    name = "ruler_niah"
    version = "1"
    Params = RulerNiahParams
    Sample = NiahSample
    Metrics = RulerMetrics

    def __init__(self, params: RulerNiahParams, env: TaskEnv) -> None:
        self.params = params
        self.texts = NiahTexts(params)
        self.n_keys = max(params.num_needle_k, params.num_needle_q)  # as RULER: every asked key exists
        self._haystack = Haystack.noise_lines if params.haystack == "needle" else ruler_haystack(params, env)
        self._draw_key = drawer(params.type_needle_k, params.number_digits)
        self._draw_value = drawer(params.type_needle_v, params.number_digits)

    def _worst(self, fmt: PromptFormat, kind: NeedleType) -> str:
        if kind == "words":
            return longest_in_tokens(fmt, all_word_keys())
        return longest_in_tokens(fmt, worst_draws(drawer(kind, self.params.number_digits)))

    def new_tokens(self) -> int:
        return self.params.max_new_tokens

    def min_length(self, prompts: PromptFormat) -> int:
        p = self.params
        key, value = self._worst(prompts, p.type_needle_k), self._worst(prompts, p.type_needle_v)
        queries = [key] * p.num_needle_q
        t = self.texts
        head, tail = frame(prompts, t.instruction(), t.question(queries), t.answer_prefix(queries))
        needle = len(prompts.encode("\n")) + len(prompts.encode(self.texts.needle(key, value)))
        n_needles = self.n_keys * p.num_needle_v
        # Random numbers and UUIDs differ in tokens by draw: 2 tokens of slack per one placed.
        words_only = {p.type_needle_k, p.type_needle_v} == {"words"}
        slack = 0 if words_only else 2 * (2 * n_needles + 2 * len(queries))
        budget = budget_tokens(p.protocol, p.max_new_tokens)
        return len(head) + len(tail) + n_needles * needle + slack + budget

    def episode(self, fmt: PromptFormat, rng: np.random.Generator, length: int) -> Episode:
        """One sample; its draws from `rng` are the same for every model and method."""
        p = self.params
        keys = distinct(lambda: self._draw_key(rng), self.n_keys)
        values = [distinct(lambda: self._draw_value(rng), p.num_needle_v) for _ in keys]
        pairs = [(k, v) for k, vs in zip(keys, values, strict=True) for v in vs]
        order = [int(i) for i in rng.permutation(len(pairs))]  # RULER shuffles the needles
        pairs = [pairs[i] for i in order]
        asked = [int(i) for i in rng.choice(self.n_keys, size=p.num_needle_q, replace=False)]
        queries = [keys[i] for i in asked]
        answers = [v for i in asked for v in values[i]]
        depths = draw_depths(rng, len(pairs))
        if p.haystack == "needle":
            haystack = self._distractors(fmt, rng, length, set(keys))
        else:
            haystack = self._haystack()
        t = self.texts
        head, tail = frame(fmt, t.instruction(), t.question(queries), t.answer_prefix(queries))
        needles = [self.texts.needle(k, v) for k, v in pairs]
        prompt = fit_needles(fmt, haystack, head, needles, depths, tail, length)
        rows = needle_records(
            prompt.needle_token_offsets,
            prompt.needle_tokens,
            length,
            depths,
            key=[k for k, _ in pairs],
            value=[v for _, v in pairs],
            answer=[k in queries for k, _ in pairs],
        )
        record: dict[str, Any] = {"needles": rows, "queries": queries, **layout_record(prompt, haystack)}
        answer_rows = [r for r in rows if r["answer"]]
        if len(answer_rows) == 1:  # one needle asked for: the depth × length heatmap can place it
            record["needle_token_offset"] = answer_rows[0]["token_offset"]
            record["depth"] = answer_rows[0]["depth"]
            record["depth_requested"] = answer_rows[0]["depth_requested"]
        return Episode(prompt.ids, answers, record)

    def _distractors(
        self, fmt: PromptFormat, rng: np.random.Generator, length: int, keys: set[str]
    ) -> Haystack:
        """RULER's 'needle' haystack: needles with other random keys and values, one per line."""
        probe = self.texts.needle(self._draw_key(rng), self._draw_value(rng))
        per_line = max(1, len(fmt.encode("\n" + probe)) - 2)  # a little under, so the text rarely cycles
        lines = []
        for _ in range(length // per_line + 8):
            key = self._draw_key(rng)
            while key in keys:  # never an asked key; distractors may repeat one another, as in RULER
                key = self._draw_key(rng)
            lines.append(self.texts.needle(key, self._draw_value(rng)))
        return Haystack("\n" + "\n".join(lines), "needle")

    def run(self, ctx: CellContext) -> CellOutcome:
        return run_ruler(ctx, self.params, self.Sample, lambda rng, n: self.episode(ctx.prompts, rng, n))
