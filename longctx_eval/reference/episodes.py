"""Retrieval episodes in exactly the passkey and NIAH formats the harness's tasks build.

An episode is a prompt made by the harness's own builder (`build_prompt`, with the tasks' default
strings and the model's `PromptFormat`), fitted to a token length, followed by the answer the task
scores (" 52791." for passkey, " 4081273." for NIAH) and EOS. Training on the builder's own output
means the model sees at training time the very token sequences it is evaluated on, only with
other keys, depths and lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from longctx_eval_tasks.niah import ADJECTIVES, NOUNS, NiahParams
from longctx_eval_tasks.passkey import PasskeyParams

from longctx_eval.haystack import Haystack, PromptParts, build_prompt, fixed_tokens
from longctx_eval.prompts import PromptFormat


@dataclass(frozen=True)
class Episode:
    ids: list[int]
    answer_start: int  # index in `ids` of the first answer token (the answer runs to the end)


def prompt_strings() -> list[str]:
    """Every fixed string of both tasks, plus NIAH's key words: the tokenizer should know them well."""
    p, n = PasskeyParams(), NiahParams()
    return [
        p.instruction,
        p.needle,
        p.question,
        p.answer_prefix,
        n.instruction,
        n.needle,
        n.question,
        n.answer_prefix,
        " ".join(ADJECTIVES),
        " ".join(NOUNS),
    ]


class EpisodeMaker:
    """Builds seeded passkey and NIAH episodes for one tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.fmt = PromptFormat(tokenizer)
        self.eos = int(tokenizer.eos_token_id)
        self.passkey_params, self.niah_params = PasskeyParams(), NiahParams()
        self.noise = Haystack.noise()

    def _passkey_parts(self, key: str) -> PromptParts:
        p = self.passkey_params
        return PromptParts(p.instruction, p.needle.format(key=key), p.question, p.answer_prefix)

    def _niah_parts(self, key: str, value: str) -> PromptParts:
        p = self.niah_params
        return PromptParts(
            p.instruction,
            p.needle.format(key=key, value=value),
            p.question.format(key=key),
            p.answer_prefix.format(key=key),
        )

    def min_length(self) -> int:
        """The shortest length at which every passkey and every NIAH key fits."""
        # Every key is tried: the longest key in characters is not always the longest in tokens.
        value = "9" * self.niah_params.value_digits
        niah = max(
            fixed_tokens(self.fmt, self._niah_parts(f"{a}-{n}", value)) for a in ADJECTIVES for n in NOUNS
        )
        return max(niah, fixed_tokens(self.fmt, self._passkey_parts("9" * self.passkey_params.key_digits)))

    def make(self, rng: np.random.Generator, kind: str, length: int) -> Episode:
        """One episode of `kind` ('passkey' or 'niah') whose prompt is exactly `length` tokens."""
        if kind == "passkey":
            digits = self.passkey_params.key_digits
            target = str(int(rng.integers(10 ** (digits - 1), 10**digits)))
            parts = self._passkey_parts(target)
        else:
            key = f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]}-{NOUNS[rng.integers(len(NOUNS))]}"
            digits = self.niah_params.value_digits
            target = str(int(rng.integers(10 ** (digits - 1), 10**digits)))
            parts = self._niah_parts(key, target)
        # The tasks' depths: NIAH's grid has exact 0 and 1 (needle first / right before the question).
        u = rng.random()
        depth = 0.0 if u < 0.1 else 1.0 if u < 0.2 else float(rng.random())
        prompt = build_prompt(self.fmt, self.noise, parts, length, depth)
        # The answer as greedy decoding should produce it after the answer prefix, then EOS to stop.
        answer = [*self.fmt.encode(" " + target + "."), self.eos]
        return Episode(prompt.ids + answer, len(prompt.ids))
