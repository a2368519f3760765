"""The narrow interface tasks use to reach a model, whichever backend serves it.

Prompts are token ids (a task fits them to an exact length; nothing is re-tokenized on the way).
Generation is greedy. `token_nll` returns, per sequence, the negative log-likelihood of each token
t >= score_from given the tokens before it, in nats, as float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


class NonFiniteError(RuntimeError):
    """The model produced NaN or infinite logits (fp16 overflow at long context, broken weights): the
    cell fails with reason `non_finite` instead of scoring 0 as if the method had failed."""

    reason = "non_finite"


def check_finite(values: np.ndarray, what: str) -> np.ndarray:
    """`values` unchanged if all finite; otherwise NonFiniteError naming the first bad position."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise NonFiniteError(f"{what}: first non-finite value at position {int(bad[0])} of {values.size}")
    return values


@dataclass(frozen=True)
class Generation:
    text: str
    token_ids: list[int]


class LanguageModel(Protocol):
    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[Generation]:
        """Greedy continuation of each prompt, at most `max_new_tokens` tokens, stopping at EOS."""
        ...

    def token_nll(
        self, sequences: Sequence[Sequence[int]], score_from: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        """NLL of tokens score_from[i]…len-1 of each sequence (default score_from = 1)."""
        ...


@runtime_checkable
class Introspectable(Protocol):
    """A model whose internals a task may hook (the HF backend's; vLLM's engine offers none).

    `torch_model` is the loaded transformers model with the cell's rotary setting in place. A
    task that needs it (the frequency-usage analysis) checks `isinstance(ctx.lm, Introspectable)`
    and records a skip otherwise.
    """

    @property
    def torch_model(self) -> Any: ...
