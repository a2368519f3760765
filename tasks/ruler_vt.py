"""RULER's variable tracking (`ruler_vt`): follow chains of assignments through a haystack.

Data (RULER's `variable_tracking.py`): `num_chains` chains of `num_hops` + 1 statements, "VAR
QKZTA = 40817" then "VAR MWJOE = VAR QKZTA", "VAR XBRNU = VAR MWJOE", …; variable names are five
random capital letters (all distinct), values five digits. The chains are interleaved at random
(each keeps its order) and hidden at depths drawn from RULER's 40-point grid, one statement per
line, in the noise haystack (RULER's default) or a text haystack (then, as RULER's essay variant,
each statement ends with a period). The question asks for every variable assigned the first
chain's value. As RULER, a one-shot example comes first: the same task with three-letter names,
value and answer filled in, `fewshot_length` tokens long (RULER: 500) — at most a quarter of the
prompt here, and left out when that cannot hold it (short lengths), which each sample records.

Metric: RULER's string_match_all — the share of the chain's variable names found in the output;
accuracy is its mean, with a Wilson 95% interval. Each sample records every statement's token
offset and depth.

Example (length 512, no example): "Memorize and track the chain(s) of variable assignment hidden in
the following text.\\n\\nThe grass is green. …\\nVAR QKZTA = 40817\\nThe grass … \\nVAR MWJOE = VAR
QKZTA\\n …\\nQuestion: Find all variables that are assigned the value 40817 in the text above.
Answer: According to the chain(s) of variable assignment in the text above, 5 variables are
assigned the value 40817, they are: " → "QKZTA MWJOE XBRNU …" (score = share of the 5 names).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveInt

from longctx_eval.haystack import Haystack, PromptTooShortError, fit_needles
from longctx_eval.keys import random_digits
from longctx_eval.prompts import PromptFormat
from longctx_eval.task import CellContext, CellOutcome, TaskEnv, task

from .ruler_common import (
    Episode,
    NeedlePosition,
    RulerHaystackParams,
    RulerHaystackSample,
    RulerMetrics,
    budget_tokens,
    draw_depths,
    frame,
    layout_record,
    longest_in_tokens,
    needle_records,
    random_letters,
    ruler_haystack,
    run_ruler,
    worst_draws,
)


class RulerVtParams(RulerHaystackParams):
    num_chains: PositiveInt = Field(1, description="chains of assignments hidden (the first is asked)")
    num_hops: PositiveInt = Field(4, description="assignments after the first in each chain")
    fewshot_length: NonNegativeInt = Field(
        500, description="tokens of the worked example put first (RULER: 500; 0: none); at most length/4"
    )
    max_new_tokens: PositiveInt = Field(30, description="generation budget (RULER: 30)")
    instruction: str = Field(
        "Memorize and track the chain(s) of variable assignment hidden in the following text.",
        description="first line (a blank line follows it)",
    )
    question: str = Field(
        "Question: Find all variables that are assigned the value {query} in the text above.",
        description="last line of the user text; {query} filled",
    )
    answer_prefix: str = Field(
        "Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are "
        "assigned the value {query}, they are: ",
        description="what the answer starts with; {num_v}, {query} filled",
    )


class VtStatement(NeedlePosition):
    statement: str  # "VAR X = 12345" or "VAR Y = VAR X" (a period after it in a text haystack)
    answer: bool  # it assigns a variable of the asked chain


class VtSample(RulerHaystackSample):
    needles: list[VtStatement]  # every chain's statements, in prompt order
    value: str  # the value the asked chain starts from
    example_tokens: int  # the one-shot example's tokens (0: left out)


def chains(
    rng: np.random.Generator, n_chains: int, n_hops: int, name_len: int
) -> tuple[list[list[str]], list[list[str]]]:
    """(variable names, statements) per chain; every name distinct."""
    names: list[str] = []
    while len(names) < n_chains * (n_hops + 1):
        name = random_letters(rng, name_len, upper=True)
        if name not in names:
            names.append(name)
    var_lists, statements = [], []
    for c in range(n_chains):
        vs = names[c * (n_hops + 1) : (c + 1) * (n_hops + 1)]
        var_lists.append(vs)
        statements.append(
            [f"VAR {vs[0]} = {random_digits(rng, 5)}"]
            + [f"VAR {b} = VAR {a}" for a, b in itertools.pairwise(vs)]
        )
    return var_lists, statements


def order_value(order: list[str], names: list[str]) -> str:
    """The value the first chain starts from."""
    first = next(s for s in order if s.startswith(f"VAR {names[0]} = "))
    return first.split("=")[-1].strip()


def interleave(rng: np.random.Generator, lists: list[list[str]]) -> list[str]:
    """A random merge of the lists that keeps each list's order (RULER's shuffle of sub-lists)."""
    left = [list(x) for x in lists]
    out = []
    while any(left):
        weights = np.array([len(x) for x in left], dtype=np.float64)
        k = int(rng.choice(len(left), p=weights / weights.sum()))
        out.append(left[k].pop(0))
    return out


@task
class RulerVt:
    name = "ruler_vt"
    version = "1"
    Params = RulerVtParams
    Sample = VtSample
    Metrics = RulerMetrics

    def __init__(self, params: RulerVtParams, env: TaskEnv) -> None:
        self.params = params
        self._haystack = ruler_haystack(params, env)
        self.with_period = params.haystack != "noise"  # RULER's essay variant ends statements with "."

    def _texts(self, value: str, n_vars: int) -> tuple[str, str, str]:
        p = self.params
        return (
            p.instruction + "\n",  # the filler's own newline makes RULER's blank line
            p.question.format(query=value),
            p.answer_prefix.format(num_v=n_vars, query=value),
        )

    def _statements(self, lines: list[str]) -> list[str]:
        return [s + "." for s in lines] if self.with_period else lines

    def new_tokens(self) -> int:
        return self.params.max_new_tokens

    def min_length(self, prompts: PromptFormat) -> int:
        p = self.params
        name = longest_in_tokens(prompts, worst_draws(lambda r: random_letters(r, 5, upper=True)))
        value = longest_in_tokens(prompts, worst_draws(lambda r: random_digits(r, 5)))
        lines = [f"VAR {name} = {value}"] + [f"VAR {name} = VAR {name}"] * p.num_hops
        n_lines = p.num_chains * len(lines)
        instruction, question, answer = self._texts(value, p.num_hops + 1)
        head, tail = frame(prompts, instruction, question, answer)
        per_line = max(len(prompts.encode("\n")) + len(prompts.encode(s)) for s in self._statements(lines))
        slack = n_lines * (per_line + 2)  # 2: slack for names that draw longer
        return len(head) + len(tail) + slack + budget_tokens(p.protocol, p.max_new_tokens)

    def _draw(self, rng: np.random.Generator, name_len: int) -> tuple[list[str], list[str], list[float]]:
        """(the first chain's names, the statements in prompt order, their depths)."""
        p = self.params
        var_lists, stmts = chains(rng, p.num_chains, p.num_hops, name_len)
        order = interleave(rng, stmts)
        return var_lists[0], order, draw_depths(rng, len(order))

    def _example(self, fmt: PromptFormat, hay: Haystack, rng: np.random.Generator, length: int) -> list[int]:
        """RULER's one-shot example (three-letter names, answer filled in), or [] when it cannot fit."""
        p = self.params
        if p.fewshot_length == 0:
            return []
        names, order, depths = self._draw(rng, 3)  # drawn whether or not it fits: later draws stay put
        instruction, question, answer = self._texts(order_value(order, names), len(names))
        head = fmt.encode_first(instruction)
        tail = fmt.encode("\n" + question) + fmt.encode(" " + answer + " ".join(names)) + fmt.encode("\n")
        try:
            built = fit_needles(
                fmt, hay, head, self._statements(order), depths, tail, min(p.fewshot_length, length // 4)
            )
        except PromptTooShortError:
            return []
        return built.ids

    def episode(self, fmt: PromptFormat, rng: np.random.Generator, length: int) -> Episode:
        """One sample; its draws from `rng` are the same for every model and method."""
        hay = self._haystack()
        example = self._example(fmt, hay, rng, length)
        names, order, depths = self._draw(rng, 5)
        value = order_value(order, names)
        instruction, question, answer = self._texts(value, len(names))
        head, tail = frame(fmt, instruction, question, answer, examples=example)
        built = fit_needles(fmt, hay, head, self._statements(order), depths, tail, length)
        rows = needle_records(
            built.needle_token_offsets,
            built.needle_tokens,
            length,
            depths,
            statement=order,
            answer=[s.split("=")[0].split()[-1] in names for s in order],
        )
        record: dict[str, Any] = {
            "needles": rows,
            "value": value,
            "example_tokens": len(example),
            **layout_record(built, hay),
        }
        return Episode(built.ids, names, record)

    def run(self, ctx: CellContext) -> CellOutcome:
        return run_ruler(ctx, self.params, self.Sample, lambda rng, n: self.episode(ctx.prompts, rng, n))
