"""Needle in a haystack (NIAH), RULER style.

Data: a haystack — `noise` (the repeated filler sentences, RULER's "noise" haystack) or any text
file or dataset — cut to the exact token length; a needle "One of the special magic numbers for
{key} is: {value}." placed at the last sentence boundary at or before each depth of a grid (depth
0 = right after the instruction, depth 1 = after all filler); then the question "What is the
special magic number for {key} mentioned in the provided text?" and the answer prefix. Keys are
random adjective-noun pairs, values random 7-digit numbers, all seeded.

Depths: `depths: N` spreads N depths from 0 to 1, linearly or (`depth_spacing: sigmoid`, as in the
original NIAH test) crowded near both ends; or give the list of depth percents yourself.

Metric: accuracy — by default lenient, as RULER scores: 1 when the value appears anywhere in the
output (case-insensitive); `scoring: strict` asks for the answer's first number to be the value
("40812735" for 4081273 fails). Both are recorded per sample and per cell, with a Wilson 95%
interval; every sample records its real depth (token offset / length) for the heatmap.

The strings are RULER's single-needle ones made singular ("What is the special magic number for
{key} ...?" where RULER asks for "the special magic numbers"), because the shipped reference model
was trained on these; `ruler_niah` has RULER's exact strings.

Example (length 512, depth 0.5): "Some special magic numbers are hidden within the following text.
… The sky is blue.\\nOne of the special magic numbers for quiet-harbor is: 4081273.\\nThe sun is …
\\nWhat is the special magic number for quiet-harbor mentioned in the provided text? The special
magic number for quiet-harbor mentioned in the provided text is" → " 4081273."
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, PositiveInt, field_validator

from longctx_eval.haystack import PromptParts, fixed_tokens
from longctx_eval.identity import JsonCache
from longctx_eval.keys import all_word_keys, random_digits, word_key
from longctx_eval.payloads import RetrievalMetrics, RetrievalSample
from longctx_eval.prompts import PromptFormat
from longctx_eval.retrieval import (
    Probe,
    RetrievalParams,
    Scoring,
    haystack_for,
    run_retrieval,
    scoring_field,
    template_fields,
)
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, task


class NiahParams(RetrievalParams):
    depths: Annotated[int, Field(ge=1, le=1000)] | list[float] = Field(
        5, description="number of depths from 0 to 1, or a list of depth percents (0-100)"
    )
    depth_spacing: Literal["linear", "sigmoid"] = Field("linear", description="spacing of `depths: N`")
    samples_per_depth: int = Field(
        2, ge=1, le=10_000, description="needles (each a new key and value) per depth"
    )
    value_digits: int = Field(7, ge=1, le=12, description="digits of the magic number")
    max_new_tokens: PositiveInt = Field(32, description="generation budget per sample (greedy)")
    instruction: str = Field(
        "Some special magic numbers are hidden within the following text. Make sure to memorize it. "
        "I will quiz you about the numbers afterwards.",
        description="first line of the prompt",
    )
    needle: str = Field(
        "One of the special magic numbers for {key} is: {value}.",
        description="hidden line; {key}, {value} filled",
    )
    question: str = Field(
        "What is the special magic number for {key} mentioned in the provided text?",
        description="last line of the user text; {key} filled",
    )
    answer_prefix: str = Field(
        "The special magic number for {key} mentioned in the provided text is",
        description="what the answer starts with (prompt's end); {key} filled",
    )
    scoring: Scoring = scoring_field("lenient")

    @field_validator("needle")
    @classmethod
    def _needle(cls, value: str) -> str:
        return template_fields(value, required={"key", "value"}, allowed={"key", "value"})

    @field_validator("question", "answer_prefix")
    @classmethod
    def _asks_by_key(cls, value: str) -> str:
        return template_fields(value, required=set(), allowed={"key"})

    @field_validator("instruction")
    @classmethod
    def _fixed(cls, value: str) -> str:
        return template_fields(value, required=set(), allowed=set())

    @field_validator("depths")
    @classmethod
    def _percents(cls, value: int | list[float]) -> int | list[float]:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one depth")
            bad = [d for d in value if not 0 <= d <= 100]
            if bad:
                raise ValueError(f"depth percents must be within 0-100, got {bad}")
        return value


def depth_grid(depths: int | list[float], spacing: str) -> list[float]:
    """Depth fractions in [0, 1]."""
    if isinstance(depths, list):
        return [d / 100 for d in depths]
    percents = [100 * i / (depths - 1) for i in range(depths)] if depths > 1 else [50.0]
    if spacing == "sigmoid":
        # As the original NIAH test: a logistic curve through the linear grid, ends kept exact.
        percents = [
            p if p in (0.0, 100.0) else round(100 / (1 + math.exp(-0.1 * (p - 50))), 3) for p in percents
        ]
    return [p / 100 for p in percents]


def niah_parts(params: NiahParams, key: str, value: str) -> PromptParts:
    """The prompt's fixed parts for one key and value (the reference model trains on these too)."""
    return PromptParts(
        params.instruction,
        params.needle.format(key=key, value=value),
        params.question.format(key=key),
        params.answer_prefix.format(key=key),
    )


def niah_min_length(params: NiahParams, prompts: PromptFormat) -> int:
    """Tokens of fixed text with the longest key, so every key drawn fits.

    Every key is tried (about 8,000 tokenizer calls, 0.5-1 s on 2 cores, most of a plan's time):
    the longest in characters is not always the longest in tokens (86 against 92 tokens with the
    reference model's tokenizer). So the answer is remembered per tokenizer, by content (see
    `_min_length_key`) in an `identity.JsonCache`: in the process, for every model sharing a
    tokenizer and every plan made again, and in the cache directory, for the next run.
    """
    key = _min_length_key(params, prompts)
    cache = JsonCache.named("niah-min-length.json")
    if key is not None and isinstance(cache.entries.get(key), int):
        return int(cache.entries[key])
    value = "9" * params.value_digits
    need = max(fixed_tokens(prompts, niah_parts(params, k, value)) for k in all_word_keys())
    if key is not None:
        cache.put(key, need)
    return need


def _min_length_key(params: NiahParams, prompts: PromptFormat) -> str | None:
    """A digest of everything the minimum length depends on: the tokenizer's full serialisation
    (vocabulary, merges, normalisation, added tokens) and settings, the framing (template, BOS,
    template tail), the fixed texts, the keys and the tokenizer libraries' versions. None for a
    tokenizer without a serialisable backend (then nothing is remembered)."""
    import hashlib
    import json

    import tokenizers
    import transformers

    tok = prompts.tokenizer
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        return None
    # Where the files came from is not what they hold: two models sharing a tokenizer share this.
    where = ("name_or_path", "is_local", "local_files_only")
    settings = {
        k: v for k, v in getattr(tok, "init_kwargs", {}).items() if k not in where and not k.endswith("_file")
    }
    parts = [
        f"{type(tok).__module__}.{type(tok).__qualname__}",  # a class may tokenize its own way
        backend.to_str(),
        json.dumps(settings, sort_keys=True, default=str),
        str(getattr(tok, "chat_template", None)),
        json.dumps([prompts.chat_template, prompts.prefix_ids, prompts.tail_ids, prompts.bos_ids]),
        json.dumps(params.model_dump(include=_TEXT_FIELDS), sort_keys=True),
        " ".join(all_word_keys()),
        f"tokenizers {tokenizers.__version__}, transformers {transformers.__version__}",
        _framing_code(),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


_TEXT_FIELDS = {"instruction", "needle", "question", "answer_prefix", "value_digits"}


@functools.cache
def _framing_code() -> str:
    """A digest of the code that frames the prompt (this file, `haystack`, `prompts`, the keys): a
    change there may change the minimum, and the cache directory outlives versions of it."""
    import hashlib

    from longctx_eval import haystack, keys, prompts

    digest = hashlib.sha256()
    for source in (__file__, haystack.__file__, keys.__file__, prompts.__file__):
        digest.update(Path(source or "").read_bytes())
    return digest.hexdigest()


class NiahSample(RetrievalSample):
    key: str  # the needle's key word; `target` is its value


@task
class Niah:
    name = "niah"
    version = "2"  # 2: both scores recorded per sample (the metric is unchanged)
    Params = NiahParams
    Sample = NiahSample
    Metrics = RetrievalMetrics
    # The prompt's fixed parts for a key: the reference model's episodes train on them.
    parts = staticmethod(niah_parts)

    def __init__(self, params: NiahParams, env: TaskEnv) -> None:
        self.params = params
        self._haystack = haystack_for(params, env)

    def min_length(self, prompts: PromptFormat) -> int:
        return niah_min_length(self.params, prompts)

    def new_tokens(self) -> int:
        return self.params.max_new_tokens

    def run(self, ctx: CellContext) -> CellOutcome:
        rng = np.random.default_rng(ctx.seed)
        digits = self.params.value_digits
        probes = []
        for depth in depth_grid(self.params.depths, self.params.depth_spacing):
            for _ in range(self.params.samples_per_depth):
                key = word_key(rng)
                value = random_digits(rng, digits)
                probes.append(Probe(niah_parts(self.params, key, value), depth, value, {"key": key}))
        return run_retrieval(ctx, self.params, self._haystack(), probes, self.params.scoring, NiahSample)
