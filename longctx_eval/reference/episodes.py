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
from longctx_eval_tasks.niah import NiahParams, niah_min_length, niah_parts
from longctx_eval_tasks.passkey import PasskeyParams, passkey_parts

from longctx_eval.haystack import Haystack, build_prompt, fixed_tokens
from longctx_eval.keys import ADJECTIVES, NOUNS, random_digits, word_key
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

    def min_length(self) -> int:
        """The shortest length at which every passkey and every NIAH key fits."""
        niah = niah_min_length(self.niah_params, self.fmt)
        passkey = passkey_parts(self.passkey_params, "9" * self.passkey_params.key_digits)
        return max(niah, fixed_tokens(self.fmt, passkey))

    def make(self, rng: np.random.Generator, kind: str, length: int) -> Episode:
        """One episode of `kind` ('passkey' or 'niah') whose prompt is exactly `length` tokens."""
        if kind == "passkey":
            digits = self.passkey_params.key_digits
            target = random_digits(rng, digits)
            parts = passkey_parts(self.passkey_params, target)
        else:
            key = word_key(rng)
            target = random_digits(rng, self.niah_params.value_digits)
            parts = niah_parts(self.niah_params, key, target)
        # The tasks' depths: NIAH's grid has exact 0 and 1 (needle first / right before the question).
        u = rng.random()
        depth = 0.0 if u < 0.1 else 1.0 if u < 0.2 else float(rng.random())
        prompt = build_prompt(self.fmt, self.noise, parts, length, depth)
        # The answer as greedy decoding should produce it after the answer prefix, then EOS to stop.
        answer = [*self.fmt.encode(" " + target + "."), self.eos]
        return Episode(prompt.ids + answer, len(prompt.ids))
