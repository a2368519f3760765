"""Passkey retrieval.

Data: the passkey test of Landmark Attention as reused by the YaRN and LongLoRA eval scripts — an
instruction, filler ("The grass is green. The sky is blue. …") repeated, the line "The pass key is
{k}. Remember it. {k} is the pass key." hidden at some depth, then "What is the pass key? The pass
key is". Unlike the anchors, the prompt is fitted to the exact token length (template, BOS and
answer prefix counted), trials are seeded, and depths are stratified: sample i of n is placed at a
random depth inside the i-th of n equal depth bins, and its real token offset is recorded.

Metric: accuracy — by default strict, the passkey scripts' rule: the first integer in the greedy
output (up to `max_new_tokens`) must equal the key ("115252" for 11525 fails); `scoring: lenient`
counts the key anywhere in the output instead. Both are recorded per sample (`score_strict`,
`score_lenient`) and per cell (`accuracy_strict`, `accuracy_lenient`), with a Wilson 95% interval.

Example (length 256, key 52791): "…There and back again.\\nThe pass key is 52791. Remember it.
52791 is the pass key.\\nThe grass is green. …\\nWhat is the pass key? The pass key is" → " 52791."
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveInt, field_validator

from longctx_eval.haystack import PromptParts, fixed_tokens
from longctx_eval.keys import random_digits
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


class PasskeyParams(RetrievalParams):
    samples: int = Field(20, ge=1, le=100_000, description="trials per cell, spread over equal depth bins")
    key_digits: int = Field(5, ge=1, le=12, description="digits of the random pass key")
    max_new_tokens: PositiveInt = Field(10, description="generation budget (the anchors use 10)")
    instruction: str = Field(
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
        "I will quiz you about the important information there.",
        description="first line of the prompt",
    )
    needle: str = Field(
        "The pass key is {key}. Remember it. {key} is the pass key.",
        description="hidden line; {key} is filled",
    )
    question: str = Field("What is the pass key?", description="last line of the user text")
    answer_prefix: str = Field("The pass key is", description="what the answer starts with (prompt's end)")
    scoring: Scoring = scoring_field("strict")

    @field_validator("needle")
    @classmethod
    def _needle(cls, value: str) -> str:
        return template_fields(value, required={"key"}, allowed={"key"})

    @field_validator("instruction", "question", "answer_prefix")
    @classmethod
    def _fixed(cls, value: str) -> str:
        return template_fields(value, required=set(), allowed=set())


class PasskeySample(RetrievalSample):
    depth_bin: int  # which of the `samples` equal depth bins the trial was drawn in


def passkey_parts(params: PasskeyParams, key: str) -> PromptParts:
    """The prompt's fixed parts for one key (the reference model trains on these too)."""
    p = params
    return PromptParts(p.instruction, p.needle.format(key=key), p.question, p.answer_prefix)


@task
class Passkey:
    name = "passkey"
    version = "2"  # 2: both scores recorded per sample (the metric is unchanged)
    Params = PasskeyParams
    Sample = PasskeySample
    Metrics = RetrievalMetrics
    # The prompt's fixed parts for a key: the reference model's episodes train on them.
    parts = staticmethod(passkey_parts)

    def __init__(self, params: PasskeyParams, env: TaskEnv) -> None:
        self.params = params
        self._haystack = haystack_for(params, env)

    def min_length(self, prompts: PromptFormat) -> int:
        return fixed_tokens(prompts, passkey_parts(self.params, "9" * self.params.key_digits))

    def new_tokens(self) -> int:
        return self.params.max_new_tokens

    def run(self, ctx: CellContext) -> CellOutcome:
        rng = np.random.default_rng(ctx.seed)
        n, digits = self.params.samples, self.params.key_digits
        probes = []
        for i in range(n):
            key = random_digits(rng, digits)
            depth = float((i + rng.random()) / n)  # stratified: one trial per depth bin
            probes.append(Probe(passkey_parts(self.params, key), depth, key, {"depth_bin": i}))
        return run_retrieval(ctx, self.params, self._haystack(), probes, self.params.scoring, PasskeySample)
