"""Retrieval episodes in exactly the passkey and NIAH formats the harness's tasks build.

An episode is a prompt made by the harness's own builder (`build_prompt`, with the tasks' default
strings and the model's `PromptFormat`), fitted to a token length, followed by the answer the task
scores (" 52791." for passkey, " 4081273." for NIAH) and EOS. Training on the builder's own output
means the model sees at training time the very token sequences it is evaluated on, only with
other keys, depths and lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from longctx_eval.haystack import Haystack, PromptParts, build_prompt
from longctx_eval.keys import ADJECTIVES, NOUNS, random_digits, word_key
from longctx_eval.prompts import PromptFormat
from longctx_eval.task import TASKS, TaskEnv, load_task_plugins


class _EpisodeTask(Protocol):
    """What the episodes use of the passkey and NIAH task plugins: their default settings, the
    prompt's fixed parts for a key (`parts`), and the shortest length every key fits in."""

    Params: Any
    params: Any

    def __init__(self, params: Any, env: TaskEnv) -> None: ...

    @staticmethod
    def parts(params: Any, key: str, *value: str) -> PromptParts: ...

    def min_length(self, prompts: PromptFormat) -> int: ...


def _task(name: str) -> _EpisodeTask:
    """A built-in task, found like any plugin (the core never imports `tasks/`): training on
    the task's own prompt builder is what makes the episodes exactly what the harness evaluates."""
    load_task_plugins()
    task = cast(type[_EpisodeTask], TASKS.get(name))
    return task(task.Params(), TaskEnv(resolve_path=Path))


@dataclass(frozen=True)
class Episode:
    ids: list[int]
    answer_start: int  # index in `ids` of the first answer token (the answer runs to the end)


def prompt_strings() -> list[str]:
    """Every fixed string of both tasks, plus NIAH's key words: the tokenizer should know them well."""
    p, n = _task("passkey").params, _task("niah").params
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
        self.passkey, self.niah = _task("passkey"), _task("niah")
        self.passkey_params = self.passkey.params
        self.niah_params = self.niah.params
        self.noise = Haystack.noise()

    def min_length(self) -> int:
        """The shortest length at which every passkey and every NIAH key fits."""
        return max(self.niah.min_length(self.fmt), self.passkey.min_length(self.fmt))

    def make(self, rng: np.random.Generator, kind: str, length: int) -> Episode:
        """One episode of `kind` ('passkey' or 'niah') whose prompt is exactly `length` tokens."""
        if kind == "passkey":
            digits = self.passkey_params.key_digits
            target = random_digits(rng, digits)
            parts = self.passkey.parts(self.passkey_params, target)
        else:
            key = word_key(rng)
            target = random_digits(rng, self.niah_params.value_digits)
            parts = self.niah.parts(self.niah_params, key, target)
        # The tasks' depths: NIAH's grid has exact 0 and 1 (needle first / right before the question).
        u = rng.random()
        depth = 0.0 if u < 0.1 else 1.0 if u < 0.2 else float(rng.random())
        prompt = build_prompt(self.fmt, self.noise, parts, length, depth)
        # The answer as greedy decoding should produce it after the answer prefix, then EOS to stop.
        answer = [*self.fmt.encode(" " + target + "."), self.eos]
        return Episode(prompt.ids + answer, len(prompt.ids))
